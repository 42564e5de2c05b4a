/* st_security.h — who a request is (st_user_ctx) and a database's _security
 * object: who administers it and who may use it, with CouchDB's rules.
 *
 * The _security object is {"admins":{"names":[..],"roles":[..]},
 * "members":{"names":[..],"roles":[..]}} ("readers" is the legacy name of
 * "members"); other members are kept verbatim.  Matching (couch_db.erl):
 *   - a user holding the role "_admin" is a server admin: admin and member
 *     of every database;
 *   - a database admin is named in admins.names or holds one of
 *     admins.roles; database admins are members;
 *   - a member is named in members.names or holds one of members.roles;
 *     when members lists neither names nor roles the database is public:
 *     everyone, anonymous included, is a member.
 *
 * Core keeps a database's object (st_db_security_*) so every write can see
 * it (validation hooks); deciding what an HTTP request may do is the
 * server's (server/access.c).
 *
 * Ownership: an st_security is immutable once parsed and reference-counted:
 * st_security_parse returns one reference, st_security_ref adds one,
 * st_security_release drops one (the last frees it).  Any thread may hold,
 * read and release references concurrently.  st_user_ctx is always
 * borrowed.
 */
#ifndef ST_SECURITY_H
#define ST_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include "st_error.h"

/* A request's identity.  name NULL = anonymous.  Borrowed everywhere. */
typedef struct st_user_ctx {
    const char *name;
    const char *const *roles;
    size_t n_roles;
} st_user_ctx;

#define ST_ROLE_ADMIN "_admin"

bool st_user_has_role(const st_user_ctx *u, const char *role);
/* The user holds "_admin". */
bool st_user_is_server_admin(const st_user_ctx *u);

typedef struct st_security st_security;

/* Limits of a _security object (memory bounds, far above real use). */
#define ST_SECURITY_MAX_BYTES (1024u * 1024)
#define ST_SECURITY_MAX_ENTRIES 10000u

/* Parse and validate an object.  ST_E_BAD_REQUEST with CouchDB's reasons:
 * "Request body must be a JSON object", "admins or members must be a JSON
 * list of strings", "names must be a JSON list of strings", "roles must be
 * a JSON list of strings".  *out holds one reference. */
st_status st_security_parse(const char *json, size_t len, st_security **out, st_error *err);

/* The object with nothing in it ({}): a public database. */
st_status st_security_empty(st_security **out, st_error *err);

st_security *st_security_ref(st_security *s); /* returns s; NULL ok */
void st_security_release(st_security *s);     /* NULL ok */

/* The object's JSON text as stored (NUL-terminated). */
const char *st_security_json(const st_security *s, size_t *len);

/* Neither members.names nor members.roles lists anyone. */
bool st_security_is_public(const st_security *s);
bool st_security_is_admin(const st_security *s, const st_user_ctx *u);
bool st_security_is_member(const st_security *s, const st_user_ctx *u);

/* The default object of a new database with CouchDB 3's
 * [couchdb] default_security = admin_only. */
#define ST_SECURITY_ADMIN_ONLY "{\"members\":{\"roles\":[\"_admin\"]},\"admins\":{\"roles\":[\"_admin\"]}}"

#endif
