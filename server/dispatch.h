/* dispatch.h — from a parsed request to its handler, in one place: decode
 * the target, route it, answer CORS preflights and 405s, identify the
 * caller, open the route's database, authorize, bound the body; then, once
 * the body is in, run the handler.  (Internal to server/.)
 *
 * Threading: MHD workers, one request at a time (see http.h).
 */
#ifndef ST_SERVER_DISPATCH_H
#define ST_SERVER_DISPATCH_H

#include "http.h"

/* Headers are complete: everything before the body.  An early answer
 * (404, 401, 413, ...) is left in r->resp; then the body is never read. */
void st_dispatch_begin(st_req *r);
/* The body is complete: run the handler. */
void st_dispatch_run(st_req *r);

#endif
