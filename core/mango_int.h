/* mango_int.h — what the mango_*.c files of core share (not for use
 * outside core):
 *   mango_doc.c    field paths, a document as selectors see it, fields
 *                  projection, index keys;
 *   mango_def.c    index definitions: design documents, POST _index;
 *   mango_index.c  the writer's side: the index set, entries kept current
 *                  with each write, builds;
 *   mango_query.c  _find request bodies;
 *   mango_plan.c   choosing the index and its range, _explain;
 *   mango_find.c   running a plan, a page at a time;
 *   mango_subs.c   selector subscriptions (follow_sel.c reads them).
 */
#ifndef ST_MANGO_INT_H
#define ST_MANGO_INT_H

#include "db_int.h"
#include "st_collate.h"
#include "st_mango.h"

/* ---- field paths (mango_doc.c) ------------------------------------------
 * CouchDB's parse_field: split at '.' not preceded by '\', every '\'
 * dropped; a segment of digits also indexes arrays. */
typedef struct mango_seg {
    const char *key;
    size_t len;
    size_t index;           /* SIZE_MAX: not an array index */
} mango_seg;

typedef struct mango_path {
    mango_seg *segs;
    size_t n;
    char *buf;              /* the segments' bytes */
    bool raw;               /* the top-level "_id": compared by bytes */
} mango_path;

/* ST_E_BAD_FIELD for an empty segment. */
st_status st_mango_path_parse(const char *path, mango_path *out, st_error *err);
void st_mango_path_free(mango_path *p);
/* The value at p in v, or NULL (missing, or a scalar in the way). */
const st_json *st_mango_path_get(const mango_path *p, const st_json *v);

/* ---- documents as selectors see them ------------------------------------
 * {"_id","_rev","_deleted"?, body members...}: CouchDB matches selectors
 * against the document's JSON with its special members.  The body is
 * parsed once; the object's members point into it. */
typedef struct mango_doc {
    st_json_doc *body;      /* the parsed body (NULL when picked) */
    st_json root;           /* the object */
    st_json_member *members;
} mango_doc;

st_status st_mango_doc_make(mango_doc *d, const char *id, const char *rev, bool deleted,
                            const char *body, size_t len, st_error *err);
/* The same object with only the body members named in keys (the others
 * unread: st_json_pick.h), for a selector that reads no others
 * (st_selector_top_keys); it lives in p until p's next parse.  Falls back
 * to st_mango_doc_make when p declines the body or is NULL. */
st_status st_mango_doc_pick(mango_doc *d, st_json_pick *p, const st_json_key *keys,
                            size_t nkeys, const char *id, const char *rev, bool deleted,
                            const char *body, size_t len, st_error *err);
void st_mango_doc_free(mango_doc *d);

/* Whether a selector looks at _rev (else matching needs no revision tree:
 * a document can be matched without _rev). */
bool st_mango_uses_rev(const st_selector *s);

/* The winning revision of an encoded revision tree, as "N-hash". */
st_status st_mango_winner_rev(const void *tree, size_t len, char out[ST_REV_STR_MAX],
                              st_error *err);

/* Write the projection of doc on fields (CouchDB's mango_fields:extract:
 * missing fields left out, dotted paths rebuilt as nested objects, in the
 * order the fields are first named). */
st_status st_mango_project(const st_json *doc, const mango_path *fields, size_t n, st_jw *w);

/* An index key: each field's sort key (RAW for _id, ICU otherwise)
 * appended to out; *out_has false when a field is missing (no entry). */
st_status st_mango_key(const st_json *doc, const mango_path *fields, size_t n, st_buf *out,
                       bool *out_has);

/* ---- index definitions, compiled (mango_def.c) ---------------------------- */
typedef struct mango_idx {
    int64_t ix;             /* the store's number (0: not stored) */
    st_mango_index def;
    mango_path *paths;      /* n_paths (def.n_fields when compiled) */
    size_t n_paths;
    bool needs_rev;         /* a field or the partial filter is _rev */
    st_selector *partial;   /* NULL: every document */
} mango_idx;

/* Compile a definition read from the store (def: the GET _index JSON). */
st_status st_mango_idx_load(int64_t ix, const char *ddoc, const char *name, const char *def,
                            mango_idx *out, st_error *err);
/* Compile d (taken: cleared from the caller's hands on every path). */
st_status st_mango_idx_from(st_mango_index *d, mango_idx *out, st_error *err);
void st_mango_idx_clear(mango_idx *x);
/* Does doc belong in x, and with which key (into key)? */
st_status st_mango_idx_entry(const mango_idx *x, const st_json *doc, st_buf *key, bool *out_has);

/* ---- a _find request (mango_query.c) ------------------------------------- */
struct st_mango_query {
    st_selector *sel;
    char *use[2];           /* use_index: ddoc (as given), name; NULL when absent */
    size_t n_use;
    char *bookmark;         /* NULL: nil */
    uint64_t limit, skip, r;
    char **sort;            /* sort fields */
    size_t n_sort;
    bool sort_desc;
    mango_path *sort_paths;
    char **fields;          /* NULL (n_fields 0): every field */
    size_t n_fields;
    mango_path *field_paths;
    bool conflicts, update, stable, stats, allow_fallback;
    bool stale_ok;          /* stale:"ok" */
    bool needs_rev;         /* the selector looks at _rev */
};

/* ---- plans (mango_plan.c) ---------------------------------------------------- */

/* Why an index was not the one (CouchDB's reason codes, for _explain). */
typedef enum {
    WHY_CHOSEN, WHY_IS_PARTIAL, WHY_FIELD_MISMATCH, WHY_SORT_ORDER_MISMATCH,
    WHY_EXCLUDED_BY_USER, WHY_UNFAVORED_TYPE, WHY_LESS_OVERLAP, WHY_TOO_MANY_FIELDS,
    WHY_ALPHABETICALLY_COMES_AFTER
} mango_why;

typedef struct mango_cand {
    const mango_idx *idx;   /* NULL: _all_docs */
    bool usable;
    mango_why why;
    unsigned ranking;
} mango_cand;

typedef struct mango_plan {
    const mango_idx *idx;   /* the json index used; NULL: _all_docs */
    bool empty;             /* the selector cannot match: read nothing */
    bool descending;
    /* json: entries with lo <= key < hi (has_*: bounded on that side) */
    st_buf lo, hi;
    bool has_lo, has_hi;
    /* _all_docs: ids from start_id to end_id (inclusive; NULL: open) */
    char *start_id, *end_id;
    char *use_warning;      /* use_index named an index that was not used */
    mango_cand *cands;      /* every other index, for _explain */
    size_t n_cands;
} mango_plan;

/* Plan q over the json indexes v[0..n) (borrowed for the plan's life). */
st_status st_mango_plan(const st_mango_query *q, const mango_idx *v, size_t n, mango_plan *out,
                        st_error *err);
void st_mango_plan_clear(mango_plan *p);
/* _explain's body from a plan. */
void st_mango_plan_explain(const mango_plan *p, const st_mango_query *q, const char *dbname,
                           st_jw *w);

/* ---- the writer's side (mango_index.c) ---------------------------------- */

/* A change of one document row, as the writer made it (inside the batch's
 * transaction, on the writer thread).  old: the row before (exists false:
 * none); new: the row after (exists false: purged away). */
typedef struct mango_change {
    const char *id;
    bool old_exists, old_deleted;
    const char *old_rev, *old_body;
    size_t old_len;
    bool new_exists, new_deleted;
    const char *new_rev, *new_body;
    size_t new_len;
    uint64_t seq;           /* the new row's sequence */
} mango_change;

/* mango_doc.c: the old and new documents of a change as selectors see them, parsed
 * on first use (NULL: that side has no row).  st_mango_lazy_free after. */
typedef struct mango_lazy {
    const mango_change *ch;
    mango_doc old, neu;
    bool old_tried, new_tried;
    st_status st;           /* the first parse failure */
} mango_lazy;
const st_json *st_mango_lazy_old(mango_lazy *l, st_error *err);
const st_json *st_mango_lazy_new(mango_lazy *l, st_error *err);
void st_mango_lazy_free(mango_lazy *l);

/* Whether the writer must call st_mango_changed for a write of id: the
 * database has indexes or subscriptions, or id is a design document.
 * Cheap enough for every write. */
bool st_mango_wants(st_db *db, const char *id);
/* Keep indexes current (and build or drop indexes when a design document
 * changed), and test the change against subscriptions. */
st_status st_mango_changed(st_db *db, const mango_change *ch, st_error *err);
/* At each batch's BEGIN (writer.c): reload the index set when the stored
 * generation is not the cached one. */
st_status st_mango_batch_begin(st_db *db, st_error *err);
/* st_db_close. */
void st_mango_db_free(st_db *db);

/* ---- subscriptions (mango_subs.c) ---------------------------------------- */

/* Writer: test one change against the subscriptions; what matched is
 * published when the batch commits (st_subs_publish). */
st_status st_subs_test(st_db *db, mango_lazy *l, st_error *err);
/* Writer, batch begin: remember which subscriptions this batch tests. */
void st_subs_batch_begin(st_db *db);
bool st_subs_active(st_db *db);

#endif
