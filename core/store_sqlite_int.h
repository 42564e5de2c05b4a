/* store_sqlite_int.h — what the two halves of the SQLite backend share:
 * store_files.c (databases as files: create, open, delete, list, backup)
 * and store_sqlite.c (connections, transactions, rows, scans).
 * Internal to core.
 */
#ifndef ST_STORE_SQLITE_INT_H
#define ST_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include "store.h"

struct st_store {
    char *path;                /* database file */
    st_store_options opts;     /* applied to each connection */
};

/* Open path (creating the schema when create) and migrate older formats;
 * the file itself must exist unless create. */
st_status st_sqlite_init_file(const char *path, bool create, st_error *err);

/* Once per process, before the first connection: SQLite's settings for
 * the whole library.  Memory statistics are off: with them every
 * sqlite3_malloc and sqlite3_free takes one global mutex, which the writer
 * and the readers of all databases then fight over (a third of the time of
 * a two-thread replication went to it).  Nothing in settee reads them. */
void st_sqlite_global_init(void);

/* Whether the connection's last error means the disk (or quota) is full. */
bool st_sqlite_disk_full(sqlite3 *db);

/* Map the connection's last SQLite error to a status and reason. */
st_status st_sqlite_fail(sqlite3 *db, st_error *err, const char *what);

#endif
