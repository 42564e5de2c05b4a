/* cors.h — Cross-Origin Resource Sharing as CouchDB configures it
 * ([httpd]/[chttpd] enable_cors, [cors] origins, credentials, headers,
 * methods, max_age), so PouchDB in a browser page can sync.
 * Pure functions of the (read-only) config: any thread.
 */
#ifndef ST_SERVER_CORS_H
#define ST_SERVER_CORS_H

#include "http.h"

/* A preflight (OPTIONS with Origin and Access-Control-Request-Method):
 * answers it and returns true.  With CORS off, OPTIONS gets 405. */
bool st_cors_preflight(st_req *r);
/* Marks r so that st_cors_decorate adds the headers, if the Origin is allowed. */
void st_cors_check_origin(st_req *r);
/* Add Access-Control-* headers to an actual response. */
void st_cors_decorate(st_req *r, struct MHD_Response *resp);

#endif
