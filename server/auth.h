/* auth.h — who is making a request: HTTP Basic and AuthSession cookies
 * checked against the server admins of the configuration.
 *
 * Who may do what given who they are is access.c's.
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

#endif
