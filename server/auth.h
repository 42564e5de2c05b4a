/* auth.h — who is making a request: HTTP Basic and AuthSession cookies
 * checked against the server admins of the configuration.
 *
 * Until per-database security exists, the rule is CouchDB's for an
 * installation where only admins write: reads are open, every write needs a
 * server admin (router.h flags mark the POSTs that only read).
 * Thread-safe: the verified-credentials cache is under srv->auth_mu.
 */
#ifndef ST_SERVER_AUTH_H
#define ST_SERVER_AUTH_H

#include "http.h"

/* Resolve r->user / r->is_admin / r->auth_failed from the headers. */
void st_auth_identify(st_req *r);
/* True when the name/password pair is a server admin's. */
bool st_auth_check_password(st_server *srv, const char *name, const char *pw);
/* Set-Cookie value for a new session of admin `name`. false on failure. */
bool st_auth_session_cookie(st_server *srv, const char *name, char *out, size_t cap);
/* Called before dispatch: false when the request must be refused (an error
 * response is then set in r). */
bool st_auth_authorize(st_req *r);

#endif
