/* auth.h — who is making a request: CouchDB's authentication handlers, run
 * in [chttpd] authentication_handlers order.
 *
 *   cookie   an AuthSession cookie (session.c), refreshed past 10 % of
 *            its life; a stale, forged or unknown-user cookie is ignored,
 *            an undecodable one is a 400.
 *   default  HTTP Basic (basic.c): the password checked against the admin
 *            or _users hash, through the verified-credentials cache, with
 *            the lockout; wrong credentials are a 401 on every route.
 *   proxy    X-Auth-CouchDB-UserName/-Roles, with X-Auth-CouchDB-Token =
 *            hex HMAC(secret, name) when [chttpd_auth] proxy_use_secret.
 *   jwt      Authorization: Bearer (jwt.c) with the [jwt_keys].
 * The first handler that names a user wins; none: anonymous.  What the
 * identity may do is access.c's.
 *
 * Secrets: passwords are wiped after use and never logged.
 * Threads: st_auth_new/free once (the server's start and stop); every other
 * call from any MHD worker at once.
 */
#ifndef ST_SERVER_AUTH_H
#define ST_SERVER_AUTH_H

#include "http.h"
#include "users.h"

typedef struct st_auth st_auth;

/* Builds everything from cfg (hashes plain admin passwords; a bad setting
 * fails with its reason).  cfg is borrowed: it must outlive the st_auth. */
st_status st_auth_new(st_server *srv, const st_config *cfg, st_auth **out, st_error *err);
void st_auth_free(st_auth *a); /* NULL ok */

st_users *st_auth_users(st_auth *a);
/* [chttpd_auth] iterations / pbkdf2_prf: what new password hashes use. */
const st_pw_policy *st_auth_policy(const st_auth *a);

/* Fill r->who (and r->auth_err / r->auth_fail, r->set_cookie). */
void st_auth_identify(st_req *r);

/* A name and password (HTTP Basic, POST /_session) from the client at peer.
 * ST_OK fills *who (how = NULL: the caller says which handler);
 * ST_E_UNAUTHORIZED "Name or password is incorrect."; ST_E_FORBIDDEN for a
 * lockout or an iteration count outside the policy. */
st_status st_auth_password(st_auth *a, const char *peer, const char *name, const void *pw,
                           size_t pw_len, st_identity *who, st_error *err);

/* The Set-Cookie value starting a session for name, or (name NULL)
 * clearing it.  *out is malloc'd. */
st_status st_auth_cookie(st_auth *a, const char *name, bool secure, char **out, st_error *err);

/* The handlers' names in order ("cookie", "default", ...), for GET /_session. */
size_t st_auth_handler_names(const st_auth *a, const char **out, size_t cap);

/* Re-read who's roles (a live feed re-checking): ST_E_NOT_FOUND when the
 * user is gone.  Identities from a proxy or a JWT keep their roles. */
st_status st_auth_refresh(st_auth *a, st_identity *who, st_error *err);

#endif
