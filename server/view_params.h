/* view_params.h — a view query's parameters from HTTP: the query string
 * (text values) and a POST body or one of `queries` (JSON values), with
 * couch_mrview_http's parse_params rules and messages:
 *   booleans "true"/"false" (any case), else 400 query_parse_error
 *   'Invalid boolean parameter: "x"'; limit, skip and group_level
 *   non-negative integers ('Invalid value for positive integer: "-1"');
 *   keys as JSON (bad JSON: 400 bad_request "invalid UTF-8 JSON");
 *   stale=ok|update_after, update=true|false|lazy, stable; unknown
 *   parameters ignored; a parameter given twice: the last counts.
 * PROTOCOL-2.md C.2: `keys` wins over `key`.
 *
 * Ownership: the st_view_params points into the request and into the
 * store, which the caller frees with st_view_params_store_free.
 * Threads: the request's.
 */
#ifndef ST_SERVER_VIEW_PARAMS_H
#define ST_SERVER_VIEW_PARAMS_H

#include "http.h"
#include "st_view.h"

typedef struct st_vp_store {
    st_json_doc *docs[16];      /* parsed key parameters */
    size_t n;
    bool from_key;              /* start/end were last set by `key` */
} st_vp_store;

/* Parameters of the query string into p (already initialised); false with
 * the 400 answer set in r on a bad one. */
bool st_view_params_query(st_req *r, st_view_params *p, st_vp_store *s);
/* Members of a JSON object (a POST body, or one of `queries`) into p;
 * `queries` itself is skipped.  false with the answer set. */
bool st_view_params_json(st_req *r, const st_json *obj, st_view_params *p, st_vp_store *s);
/* After all sources: `keys` wins over `key`. */
void st_view_params_finish(st_view_params *p, st_vp_store *s);
void st_view_params_store_free(st_vp_store *s);

#endif
