/* st_view_params.h — a view query's parameters by CouchDB's names, from
 * text values (a URL's query string, once decoded) or JSON values (a POST
 * body, one of `queries`, an embedding application's object), with
 * couch_mrview_http's parse_params rules and messages:
 *   booleans "true"/"false" (any case), else 400 query_parse_error
 *   'Invalid boolean parameter: "x"'; limit, skip and group_level
 *   non-negative integers ('Invalid value for positive integer: "-1"');
 *   key parameters as JSON (bad JSON: 400 bad_request "invalid UTF-8
 *   JSON"); stale=ok|update_after, update=true|false|lazy, stable;
 *   unknown parameters ignored; a parameter given twice: the last counts.
 * PROTOCOL-2.md C.2: `keys` wins over `key` (st_view_params_finish).
 * The server and the embedded library both parse with this, so one set of
 * parameters means the same rows to both.
 *
 * Ownership: the st_view_params points into the JSON values given and
 * into the store (key parameters parsed from text), which the caller
 * frees with st_view_params_store_free after the query.
 * Threads: a store belongs to one thread at a time.
 */
#ifndef ST_VIEW_PARAMS_H
#define ST_VIEW_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include "st_error.h"
#include "st_json.h"
#include "st_view.h"

typedef struct st_vp_store {
    st_json_doc *docs[16];      /* key parameters parsed from text */
    size_t n;
    bool from_key;              /* start/end were last set by `key` */
} st_vp_store;

/* One parameter into p (already initialised): its value as text (text
 * non-NULL) or as JSON (json). */
st_status st_view_param_set(const char *key, const char *text, const st_json *json,
                            st_view_params *p, st_vp_store *s, st_error *err);
/* Every member of a JSON object into p; `queries` itself is skipped.
 * ST_E_BAD_REQUEST when obj is not an object. */
st_status st_view_params_object(const st_json *obj, st_view_params *p, st_vp_store *s,
                                st_error *err);
/* After all sources: `keys` wins over `key`. */
void st_view_params_finish(st_view_params *p, st_vp_store *s);
void st_view_params_store_free(st_vp_store *s); /* frees what the store holds */

#endif
