/* js_req.h — the request object design-document functions receive
 * (filters' and update handlers' `req`), as CouchDB's
 * chttpd_external:json_req_obj makes it:
 *   {"info": <the database's info>, "id": docid|null, "uuid",
 *    "method", "requested_path": [segments], "path": [segments],
 *    "raw_path", "query": {param: value}, "headers": {name: value},
 *    "body": <the raw body, or "undefined"; a filter on POST gets the
 *    parsed object>, "peer", "form": {urlencoded fields}, "cookie": {..},
 *    "userCtx": {"db","name","roles"}, "secObj": <the _security object>}
 * A query parameter given twice keeps its first value.  info, userCtx and
 * secObj are core's (st_ddoc_req.h), shared with the replicator.
 *
 * Threads: the request's.  out is the caller's.
 */
#ifndef ST_SERVER_JS_REQ_H
#define ST_SERVER_JS_REQ_H

#include "http.h"

/* docid NULL: "id": null.  body_parsed: a JSON body goes in as a value. */
st_status st_js_req(st_req *r, const char *docid, bool body_parsed, st_buf *out,
                    st_error *err);

/* The URL's query parameters as an object (req.query), for core's
 * filters; *out is the caller's (st_json_doc_free). */
st_status st_js_req_query(st_req *r, st_json_doc **out, st_error *err);

#endif
