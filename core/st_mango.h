/* st_mango.h — Mango queries on a database: json indexes, _find, _explain
 * (CouchDB's mango application; shared/PROTOCOL-2.md B).
 *
 * json indexes: an index is a view of a design document with
 * "language":"query" (CouchDB's own format, so indexes replicate and
 * `GET _index` shows what any CouchDB would).  Unlike CouchDB, which
 * builds an index lazily at the first query, the writer keeps every index
 * current inside each write's transaction: an index is created (built
 * over every document) by the write of its design document, changed or
 * dropped by the next write of that design document, and updated by every
 * document write after that.  A query therefore never waits for an index
 * and never sees a stale one.  An index holds each live, non-design
 * document that has every indexed field (and matches the partial filter,
 * if any), keyed by the fields' values in CouchDB's collation.
 *
 * _find: st_mango_query_parse validates a request body as CouchDB does
 * (same order, same error names); st_mango_find plans it (CouchDB's rules:
 * an index is usable when the selector requires each of its fields, the
 * best is the one whose columns cover most of the selector's indexable
 * fields, then the one with fewer columns, then by ddoc and name; partial
 * indexes only through use_index; a sort no index serves is
 * no_usable_index; without a usable json index, a full scan of _all_docs
 * with CouchDB's warning) and st_mango_next returns the documents a page
 * at a time, each page from its own snapshot, so an answer of any size is
 * streamed in bounded memory.  Every candidate is matched against the
 * whole selector: the index only narrows what is read.
 *
 * Errors carry CouchDB's mango error names (st_error.name) with status 400
 * unless said otherwise: missing_required_key, invalid_key,
 * invalid_selector_json (and the selector's own, st_selector.h),
 * invalid_index_name, invalid_bookmark, invalid_non_neg_integer,
 * invalid_pos_integer, invalid_boolean, invalid_sort_json,
 * invalid_sort_field, unsupported_mixed_sort, invalid_fields,
 * invalid_field, no_usable_index, invalid_index, invalid_string,
 * invalid_ddoc_lang; 503 for a text index (no search service here).
 *
 * Threads: queries and cursors belong to one thread at a time; any number
 * may run on one database at once.  Memory: every out-value is the
 * caller's, freed with the function named next to it.
 */
#ifndef ST_MANGO_H
#define ST_MANGO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_db.h"
#include "st_error.h"
#include "st_json.h"
#include "st_jw.h"
#include "st_selector.h"

/* ------------------------------------------------------------ indexes */

typedef struct st_mango_index {
    char *ddoc;             /* "_design/..." */
    char *name;
    char **fields;          /* field paths as written ("addr.city") */
    bool *desc;             /* per field: "desc" */
    size_t n_fields;
    char *partial;          /* partial_filter_selector (normalised JSON), NULL: none */
    char *def;              /* the definition as GET _index shows it (JSON) */
} st_mango_index;

void st_mango_index_clear(st_mango_index *ix);

/* The json indexes of db (a consistent snapshot), ordered by ddoc then
 * name; free with st_mango_indexes_free. */
st_status st_db_indexes(st_db *db, st_mango_index **out, size_t *out_n, st_error *err);
void st_mango_indexes_free(st_mango_index *v, size_t n);

/* One entry of GET _index: {"ddoc","name","type":"json","partitioned",
 * "def"}; and the special _all_docs entry. */
void st_mango_index_write(const st_mango_index *ix, st_jw *w);
void st_mango_all_docs_write(st_jw *w);

/* The indexes a design document body defines (views of a "language":
 * "query" document whose map is an object of fields); none for other
 * documents.  Views that are not valid index definitions are skipped, as
 * CouchDB skips them. */
st_status st_mango_ddoc_indexes(const char *ddoc_id, const st_json *body,
                                st_mango_index **out, size_t *out_n, st_error *err);

/* POST _index: the request body validated into what to create. */
typedef struct st_mango_index_req {
    char *ddoc;             /* "_design/..." (given or generated) */
    char *name;             /* given or generated */
    st_json_doc *view;      /* the view object to store under views[name] */
} st_mango_index_req;
st_status st_mango_index_req_parse(const st_json *body, st_mango_index_req *out, st_error *err);
void st_mango_index_req_clear(st_mango_index_req *rq);

/* The design document body (without _id/_rev) with rq's index added to
 * cur (NULL: a new design document), into out; *out_same when cur holds
 * that index already ("result":"exists").  cur with a language other than
 * "query" is invalid_ddoc_lang. */
st_status st_mango_ddoc_add(const st_mango_index_req *rq, const st_json *cur, st_buf *out,
                            bool *out_same, st_error *err);
/* cur without index name, into out; *out_delete when nothing but
 * "language" would remain (the design document is then deleted). */
st_status st_mango_ddoc_remove(const st_json *cur, const char *name, st_buf *out,
                               bool *out_delete, st_error *err);

/* -------------------------------------------------------------- _find */

typedef struct st_mango_query st_mango_query;

/* Validate a _find/_explain body.  Free with st_mango_query_free. */
st_status st_mango_query_parse(const st_json *body, st_mango_query **out, st_error *err);
void st_mango_query_free(st_mango_query *q); /* NULL ok */
/* The compiled selector (borrowed from q). */
const st_selector *st_mango_query_selector(const st_mango_query *q);
bool st_mango_query_stats(const st_mango_query *q); /* execution_stats asked */

typedef struct st_mango_cursor st_mango_cursor;

/* Plan q on db: the index (or the full scan), its range, the warnings
 * known now.  q must outlive the cursor. */
st_status st_mango_find(st_db *db, const st_mango_query *q, st_mango_cursor **out,
                        st_error *err);
void st_mango_cursor_free(st_mango_cursor *c); /* NULL ok */

/* The next documents, each as its JSON (fields applied), through fn
 * (borrowed for the call; nonzero stops after that document), until about
 * want bytes were handed over or a bounded amount of work was done;
 * *out_done once every result was given.  Each call reads its own
 * snapshot. */
typedef int (*st_mango_doc_fn)(void *ctx, const char *json, size_t len);
st_status st_mango_next(st_mango_cursor *c, size_t want, st_mango_doc_fn fn, void *ctx,
                        bool *out_done, st_error *err);

/* After the last st_mango_next: the bookmark to resume after the last
 * document ("nil" when there was none), the warning text (NULL: none;
 * several are joined by "\n") and the execution statistics. */
const char *st_mango_bookmark(const st_mango_cursor *c);
const char *st_mango_warning(const st_mango_cursor *c);
typedef struct st_mango_stats {
    uint64_t keys_examined;
    uint64_t docs_examined;
    uint64_t results;
    double time_ms;
} st_mango_stats;
void st_mango_stats_get(const st_mango_cursor *c, st_mango_stats *out);

/* _explain: CouchDB's answer for q on db (dbname, index, partitioned,
 * selector, opts, limit, skip, fields, index_candidates, selector_hints,
 * mrargs, covering) into w. */
st_status st_mango_explain(st_db *db, const st_mango_query *q, st_jw *w, st_error *err);

/* ---- for live queries (libsettee's settee_live_query_start) -----------------
 * A live query keeps the first entries of a query's answer current from
 * change rows instead of running the query again.  For that it needs what a
 * cursor knows: the position each document takes in the plan's order, one
 * document judged and rendered on its own, and reading on from a position.
 *
 * A position is (key, id): key is the document's entry in the plan's json
 * index (the indexed fields' sort keys, concatenated; empty for a full scan
 * of _all_docs), and the answer's order is the byte order of key (shorter
 * first on a common prefix), then of id, reversed when the plan is
 * descending.  The plan (and so the order) is fixed when the cursor is
 * made; an index deleted later leaves its cursor reading nothing more. */

/* Inside fn of st_mango_next or st_mango_cursor_get: the position and the
 * row sequence of the document being handed over (after the call: of the
 * last one).  Borrowed until the cursor's next call. */
void st_mango_cursor_pos(const st_mango_cursor *c, const char **key, size_t *key_len,
                         const char **id, uint64_t *seq);
bool st_mango_cursor_descending(const st_mango_cursor *c);

/* Read on strictly after position (key, id) (id NULL: from the plan's
 * start), for at most limit more documents (UINT64_MAX: no limit), skipping
 * none; the bookmark, warnings and statistics start over. */
st_status st_mango_cursor_seek(st_mango_cursor *c, const void *key, size_t key_len,
                               const char *id, uint64_t limit, st_error *err);

/* Document id as it is now (its own snapshot).  When it belongs to c's
 * answer -- live, not a design document, in the plan's index and range,
 * matching the selector -- fn gets it as st_mango_next would give it and
 * *out_in is true; otherwise (deleted, missing, not matching) fn is not
 * called.  Skip and limit do not apply and do not change. */
st_status st_mango_cursor_get(st_mango_cursor *c, const char *id, st_mango_doc_fn fn, void *ctx,
                              bool *out_in, st_error *err);

/* End c after the last document handed over (a caller that stopped
 * early): the next st_mango_next reads nothing and reports done, with the
 * bookmark to resume after that document. */
void st_mango_cursor_end(st_mango_cursor *c);

#endif
