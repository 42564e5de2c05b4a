/* st_catalog.h — the set of databases under one data directory.
 *
 * Each database is one file "<encoded name>.settee" in the directory; the
 * name is validated by CouchDB's rule ^[a-z][a-z0-9_$()+/-]*$ and encoded
 * for the file system (bytes outside [a-z0-9_-] become %XX).  Open handles
 * are shared and reference-counted: st_catalog_get() returns a reference
 * that the caller gives back with st_catalog_put().  Deleting a database
 * unlinks its file at once; calls on handles still held then fail with
 * ST_E_NOT_FOUND "Database does not exist." (their followers are woken so
 * live feeds can end), and the handle is closed when its last reference is
 * put.
 *
 * Threading: every function may be called from any thread.
 */
#ifndef ST_CATALOG_H
#define ST_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include "st_db.h"
#include "st_error.h"

typedef struct st_catalog st_catalog;

/* dir is created if missing.  opts (NULL = defaults) applies to every db. */
st_status st_catalog_open(const char *dir, const st_db_options *opts, st_catalog **out,
                          st_error *err);
void st_catalog_close(st_catalog *cat); /* NULL ok; all references must be put */

bool st_dbname_valid(const char *name);

/* ST_E_ILLEGAL_DBNAME, ST_E_FILE_EXISTS.  security: the new database's
 * _security object, stored with its creation (NULL: none, public);
 * ST_E_BAD_REQUEST if it is not a valid one (nothing is created). */
st_status st_catalog_create(st_catalog *cat, const char *name, const char *security,
                            st_error *err);
/* ST_E_NOT_FOUND "Database does not exist." */
st_status st_catalog_delete(st_catalog *cat, const char *name, st_error *err);
/* A referenced handle; ST_E_NOT_FOUND when the database does not exist. */
st_status st_catalog_get(st_catalog *cat, const char *name, st_db **out, st_error *err);
void st_catalog_put(st_catalog *cat, st_db *db); /* NULL ok */
bool st_catalog_exists(st_catalog *cat, const char *name);

/* Called for every handle the catalog opens (created or reopened), before
 * anyone else can use it: the place to attach a validator
 * (st_db_set_validator).  It runs with the catalog's lock held, so it must
 * be quick and must not call the catalog.  Set it before any database is
 * opened; NULL removes it. */
typedef void (*st_catalog_open_fn)(void *ctx, st_db *db);
void st_catalog_on_open(st_catalog *cat, st_catalog_open_fn fn, void *ctx);

/* At most max handles stay open (0: no bound, the default): opening one
 * more first closes handles nobody holds, least recently used first.  Each
 * open database costs file descriptors (two per pooled connection and one
 * for the shared WAL index), so a server bounds them to stay within the
 * descriptors it keeps for databases.  Handles in use are never closed:
 * with all of them in use, the open goes ahead over the bound. */
void st_catalog_set_max_open(st_catalog *cat, size_t max);

/* Names in sorted order; *out is a malloc'd array of malloc'd strings,
 * freed with st_catalog_names_free. */
st_status st_catalog_list(st_catalog *cat, char ***out, size_t *out_n, st_error *err);
void st_catalog_names_free(char **names, size_t n);


#endif
