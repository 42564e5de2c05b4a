/* users.h — the principals a credential can name: the server admins of the
 * configuration ([admins]) and the users of the authentication database
 * (_users, [chttpd_auth] authentication_db), looked up by name.
 *
 * A configured admin wins over a _users document of the same name, as in
 * CouchDB.  Admins carry the role "_admin"; users carry their document's
 * roles.  Lookups of _users documents are cached, each entry tagged with the
 * database's update_seq when it was read: any write to _users makes every
 * entry stale at once, so no cached password, salt or role outlives a
 * change (user writes are rare; reads of them happen on every request).
 *
 * Ownership: principals are shared and immutable once published: the cache
 * holds one reference, and st_users_get lends the caller another, dropped
 * with st_principal_release (no copy: this runs on every authenticated
 * request).  A principal that left the cache (a _users write, eviction)
 * lives on only until its last borrower releases it; it is never answered
 * again.  Threads: any thread may call any function after st_users_new
 * returned; one mutex guards the cache and the handle; references are
 * atomic.
 */
#ifndef ST_SERVER_USERS_H
#define ST_SERVER_USERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include "config.h"
#include "password.h"
#include "roles.h"
#include "st_catalog.h"

#define ST_USER_PREFIX "org.couchdb.user:"

typedef struct st_principal {
    char *name;
    st_roles roles;
    bool admin;          /* a configured server admin */
    bool has_hash;       /* false: no password can log in (no hash fields) */
    st_pw_hash hash;     /* borrows from buf */
    const char *salt;    /* NUL-terminated (in buf), "" without a hash */
    const char *rev;     /* the credential's version: the doc's _rev, or "admin" */
    char *buf;           /* owns the strings above */
    atomic_uint refs;    /* the cache's and each borrower's */
} st_principal;

/* One more reference to p, for another holder (an identity copied). */
const st_principal *st_principal_ref(const st_principal *p);
/* Drop a reference (NULL ok); the last one wipes the hash and frees p. */
void st_principal_release(const st_principal *p);

typedef struct st_users st_users;

/* Hashes every plain [admins] password with the policy (the hashes are then
 * available through st_users_admin_hash, for writing back to the config
 * file).  Keeps cfg borrowed: it must outlive the st_users. */
st_status st_users_new(st_catalog *cat, const st_config *cfg, const st_pw_policy *policy,
                       st_users **out, st_error *err);
void st_users_free(st_users *u); /* NULL ok */

/* The hash made at start for cfg->admins[i] when it was plain, else NULL. */
const char *st_users_admin_hash(const st_users *u, size_t i);

/* *out = the principal of that name, a reference the caller releases;
 * ST_E_NOT_FOUND (err untouched, *out NULL) when no admin or user has it. */
st_status st_users_get(st_users *u, const char *name, const st_principal **out, st_error *err);

/* The authentication database (a catalog reference the caller puts back),
 * or NULL when it does not exist. */
st_db *st_users_db(st_users *u);
const char *st_users_db_name(const st_users *u);

/* The authentication database's committed update_seq (0 when it does not
 * exist): it moves with every user document written.  Cheap (one mutex). */
uint64_t st_users_seq(st_users *u);

/* "org.couchdb.user:<name>" → name (borrowed from id), or NULL. */
const char *st_users_name_of_id(const char *id);

#endif
