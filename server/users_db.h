/* users_db.h — CouchDB's rules for the authentication database (_users):
 * what couch_users_db and its _design/_auth validate_doc_update do.
 *
 *   writes   a "password" member is replaced by its PBKDF2 hash before the
 *            document is written (st_usersdb_hash, called by the server's
 *            write paths); then, inside core's write, the validator checks
 *            the document: type "user", name, roles, the id's form, that a
 *            non-admin touches only their own document and never roles,
 *            no system roles or names — CouchDB's reasons word for word.
 *            Another user's document is a 404 to a non-admin (anonymous
 *            included), as CouchDB answers.
 *   reads    a non-admin reads only their own document (others: 404);
 *            _design/ documents are for admins (403).
 *
 * Threads: any.  The validator runs on the database's writer thread.
 */
#ifndef ST_SERVER_USERS_DB_H
#define ST_SERVER_USERS_DB_H

#include "http.h"

/* Is name the authentication database? */
bool st_usersdb_is(const st_server *srv, const char *name);

/* The validator of the authentication database (an st_validate_fn; ctx
 * unused).  validate.c runs it first on that database's writes. */
st_status st_usersdb_validate(void *ctx, const st_update *u, st_error *err);

/* doc with its "password" hashed: *out is a new document (NULL when doc has
 * no string password and needs no change).  A non-string password is
 * ST_E_FORBIDDEN as CouchDB words it. */
st_status st_usersdb_hash(st_server *srv, const st_json *doc, st_json_doc **out, st_error *err);

/* r writes document id (true when r's database is not the authentication
 * database): a user other than its owner, not an admin, gets CouchDB's 404
 * (couch_users_db's before_doc_update), before any conflict is looked for,
 * so a write cannot tell which names exist. */
bool st_usersdb_may_write(st_req *r, const char *id);

/* r reads document id of the authentication database: true when allowed,
 * else the 404/403 answer is set. */
bool st_usersdb_may_read(st_req *r, const char *id);

#endif
