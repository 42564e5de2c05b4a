/* tmp.h — scratch files and directories for tests, under $SETTEE_TEST_TMP
 * (the build's test tmp directory; /tmp when unset).  Names carry the
 * test program's PID, so programs running side by side never share one.
 * Paths are written into the caller's buffer; nothing is allocated.  Any
 * thread.
 */
#ifndef TS_TMP_H
#define TS_TMP_H

#include <stddef.h>

/* The scratch directory: $SETTEE_TEST_TMP, or /tmp. */
const char *ts_tmp_base(void);

/* A database file path "<base>/db-<pid>-<name>", with whatever a previous
 * run left there (the file and SQLite's -wal and -shm) removed. */
void ts_db_path(char *out, size_t cap, const char *name);

/* The same path, removing nothing: to open a second handle on a file a
 * test made with ts_db_path. */
void ts_db_name(char *out, size_t cap, const char *name);

/* Remove a database file and its -wal and -shm files (missing ones are
 * fine). */
void ts_db_unlink(const char *path);

/* A new empty directory "<base>/<tag>-XXXXXX" (mkdtemp); aborts the test
 * program when it cannot be made. */
void ts_tmp_dir(char *out, size_t cap, const char *tag);

/* Remove dir and everything in it; only a path under the scratch
 * directory is removed (anything else is refused with a message). */
void ts_rm_rf(const char *dir);

#endif
