/* st_filter.h — change filters defined by design documents, as a
 * predicate over changes (st_changes_opts.filter), shared by the server's
 * _changes and the replicator reading a local database:
 *
 *   "ddoc/name"  filters.<name>(doc, req) in the query server; any truthy
 *                answer keeps the change
 *   "_view"      the change is kept when views.<v>.map emits for it; the
 *                query's "view" member names it, "ddoc/v"
 *   "_design"    design documents only (no JavaScript)
 *
 * with CouchDB's refusals (PROTOCOL-2.md C.7), all from st_filter_open:
 * a filter not of the form `designname/filtername` (400), an unknown
 * builtin (400), _view without view (400) or with a malformed one (400), a
 * missing or deleted design document (404 "missing"/"deleted"), filter or
 * view (404 "missing json key: <key>").  _doc_ids and _selector are not
 * filters of this module (st_changes_opts has them).
 *
 * A function that throws, or a query server that fails, makes this and
 * every later change fail to match, and st_filter_failed reports why: the
 * reader ends its feed with that error.  Each change costs one query-server
 * round trip, as in CouchDB; the design document is read once, at open.
 *
 * Ownership: st_filter_open copies what it keeps (the design document as
 * read, the request object); qs and db are borrowed and must outlive the
 * filter.  Threads: one thread at a time per filter (the one reading the
 * feed); the pool is thread-safe.
 */
#ifndef ST_FILTER_H
#define ST_FILTER_H

#include <stdbool.h>
#include "st_db.h"
#include "st_error.h"
#include "st_json.h"
#include "st_qs.h"
#include "st_security.h"

typedef struct st_filter st_filter;

/* filter is one of the forms above; query the request's query parameters
 * (an object, or NULL).  req_json is the object a function filter gets as
 * req (the server's, HTTP members included); NULL builds CouchDB's
 * replicator object (st_ddoc_req_changes) from db, filter, query and user
 * (NULL: the application, an admin).  qs may be NULL for _design only. */
st_status st_filter_open(st_db *db, st_qs *qs, const char *filter, const st_json *query,
                         const char *req_json, const st_user_ctx *user, st_filter **out,
                         st_error *err);

/* The predicate, for st_changes_opts.filter with filter_ctx = the filter.
 * The row's doc_json is needed when st_filter_needs_doc. */
bool st_filter_match(void *filter, const st_change_row *row);
bool st_filter_needs_doc(const st_filter *f);

/* Has a call failed?  Then *out (if non-NULL) says why. */
bool st_filter_failed(const st_filter *f, st_error *out);

void st_filter_free(st_filter *f); /* NULL ok */

/* Split "d/n" into "_design/d" and "n"; false when s is not of that form
 * (or a part does not fit). */
bool st_filter_split(const char *s, char *id, size_t idcap, char *name, size_t namecap);

#endif
