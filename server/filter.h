/* filter.h — _changes filters defined by design documents, and _design,
 * read from the request (the filters are core's, st_filter.h):
 *   filter=ddoc/name       filters.<name>(doc, req) in the query server;
 *                          any truthy answer keeps the change; req is
 *                          js_req.h's object, built once per feed (its
 *                          query holds every URL parameter)
 *   filter=_view&view=d/v  the change is kept when views.<v>.map emits
 *   filter=_design         design documents only
 * with CouchDB's refusals (PROTOCOL-2.md C.7): a filter not of the form
 * `designname/filtername` (400), a missing design document (404
 * "missing"), filter or view (404 "missing json key: <key>"), _view
 * without view (400), an unknown builtin (400).  _doc_ids and _selector
 * are not handled here.
 *
 * A function that throws, or a query server that fails, ends the feed
 * with an error (its rows so far were sent).  Each change costs one
 * query-server round trip, as in CouchDB.
 *
 * Ownership: st_filter_setup gives the feed parameters a filter context
 * with its destructor (filter_free); the feed frees it.  Threads: the
 * filter runs on whichever thread reads the feed, one at a time.
 */
#ifndef ST_SERVER_FILTER_H
#define ST_SERVER_FILTER_H

#include <stdbool.h>
#include "feed.h"
#include "http.h"

/* Is filter one of the names this module answers for (anything but
 * _doc_ids and _selector)? */
bool st_filter_is_ours(const char *filter);

/* Set p's filter for r's `filter` parameter; false with the answer set. */
bool st_filter_setup(st_req *r, const char *filter, st_feed_params *p);

#endif
