/* view_params.h — a view query's parameters from a URL's query string
 * (text values, already percent-decoded by the request); the rules, and
 * the JSON form of POST bodies and `queries`, are core's
 * (st_view_params.h), shared with the embedded library.
 *
 * Ownership and threads: as st_view_params.h; the st_view_params may
 * point into the request.
 */
#ifndef ST_SERVER_VIEW_PARAMS_H
#define ST_SERVER_VIEW_PARAMS_H

#include "http.h"
#include "st_view_params.h"

/* Parameters of the query string into p (already initialised); false with
 * the 400 answer set in r on a bad one. */
bool st_view_params_query(st_req *r, st_view_params *p, st_vp_store *s);
/* Members of a JSON object (a POST body, or one of `queries`) into p;
 * `queries` itself is skipped.  false with the answer set. */
bool st_view_params_json(st_req *r, const st_json *obj, st_view_params *p, st_vp_store *s);

#endif
