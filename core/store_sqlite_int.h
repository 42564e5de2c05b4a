/* store_sqlite_int.h — what the parts of the SQLite backend share:
 * store_files.c (databases as files: create, open, delete, list, backup,
 * the directory of their view indexes), store_sqlite.c (connections,
 * transactions, rows, scans) and store_sqlite_view.c (view index files).
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

/* Unlink an SQLite file and its -wal and -shm (missing ones are fine). */
void st_store_unlink_files(const char *path);

/* The directory beside the database file at db_path that holds its view
 * index files (malloc'd; NULL without memory).  store_files.c removes it
 * with the database. */
#define VIEWS_DIR_SUFFIX "-views"
char *st_store_views_dir(const char *db_path);

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

/* For the other files of the backend (store_sqlite_index.c): a
 * connection's SQLite handle, and its statement in cache slot `slot`
 * (prepared from sql on first use, kept until the connection closes;
 * NULL when it cannot be prepared).  Each slot always gets the same sql. */
#define ST_SQLITE_EXT_SLOTS 16
sqlite3 *st_sqlite_db(st_conn *c);
sqlite3_stmt *st_sqlite_stmt(st_conn *c, int slot, const char *sql);

#endif
