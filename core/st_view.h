/* st_view.h — CouchDB views: map/reduce indexes of a database, defined by
 * its design documents, kept beside it and queried with CouchDB's
 * parameters and answers.
 *
 * Promises:
 * - Results are CouchDB's: rows in view collation (st_collate.h) then by
 *   doc id; total_rows and offset; reduce rows grouped by key or by a
 *   level of an array key; the built-in reduces in C (st_reduce.h), any
 *   other reduce in the view's language through the query-server pool
 *   (st_qs.h), which is also where map functions run.
 * - An index is updated incrementally: only documents changed since its
 *   update_seq are mapped again, read from the database's change feed
 *   (st_follow.h).  One updater runs per index at a time; queries waiting
 *   for it share its work.  A design document whose functions change gets
 *   a new index (see st_ddoc.h's signature); the old file stays until
 *   st_views_cleanup.
 * - Reductions are stored (view_tree.c), so a ranged or grouped reduce and
 *   a query's offset cost a few hundred stored values, not every row.
 * - User JavaScript cannot hang or crash the caller: it runs in query-server
 *   processes with deadlines (st_qs.h); a function that loops fails the
 *   update with ST_E_OS_PROCESS and the index stays where it was.
 *
 * Errors: ST_E_NOT_FOUND "missing"/"deleted" for the design document,
 * "missing_named_view" for the view; ST_E_QUERY_PARSE with CouchDB's
 * messages for parameters (st_view_params_check); the query server's
 * errors as st_qs.h gives them; ST_E_INVALID_VALUE from _stats.
 *
 * Memory: rows handed to a sink are borrowed for the call.  Parameters are
 * borrowed for the call that takes them.
 *
 * Threads: an st_views may be used from any number of threads at once; an
 * st_view belongs to one thread at a time.  The st_db a view was opened on
 * must stay open until st_view_close.
 */
#ifndef ST_VIEW_H
#define ST_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_db.h"
#include "st_error.h"
#include "st_json.h"
#include "st_qs.h"
#include "st_reduce.h"

typedef struct st_views st_views;
typedef struct st_view st_view;

typedef struct st_views_options {
    unsigned max_open;        /* indexes kept open; default 64 */
    unsigned batch;           /* documents mapped per batch; default 500 */
    st_reduce_limits limits;  /* for the built-in reduces */
    bool js_reduce_limit;     /* reduce_limit sent to query servers; default true */
} st_views_options;

void st_views_options_init(st_views_options *o);

/* qs is borrowed: it must outlive the registry. */
st_status st_views_new(st_qs *qs, const st_views_options *o, st_views **out, st_error *err);
void st_views_free(st_views *vs); /* no view may be open; NULL ok */

/* ---- one view ----------------------------------------------------------- */

/* View name of design document ddoc_id ("_design/x") in db. */
st_status st_view_open(st_views *vs, st_db *db, const char *ddoc_id, const char *name,
                       st_view **out, st_error *err);
void st_view_close(st_view *v); /* NULL ok */

bool st_view_has_reduce(const st_view *v);
const char *st_view_sig(const st_view *v);     /* the index's signature (32 hex) */
uint64_t st_view_seq(const st_view *v);        /* the index's update_seq now */
/* Bring the index up to the database's update_seq (as of this call). */
st_status st_view_update(st_view *v, st_error *err);

/* ---- queries ------------------------------------------------------------- */

typedef enum {
    ST_VIEW_UPDATE_TRUE = 0,  /* update before answering (the default) */
    ST_VIEW_UPDATE_FALSE,     /* answer from the index as it is */
    ST_VIEW_UPDATE_LAZY       /* answer as it is, update afterwards */
} st_view_update_mode;

typedef struct st_view_params {
    const st_json *start_key;   /* NULL: from the first row */
    const st_json *end_key;     /* NULL: to the last row */
    const char *start_docid;    /* tie-break inside start_key */
    const char *end_docid;
    const st_json *keys;        /* an array: these keys, in this order */
    bool inclusive_end;         /* default true */
    bool descending;
    uint64_t limit;             /* default UINT64_MAX */
    uint64_t skip;
    int reduce;                 /* -1: reduce when the view has a reduce; 0; 1 */
    int group;                  /* -1 unset, 0, 1 */
    int64_t group_level;        /* -1 unset */
    bool include_docs;
    int conflicts;              /* -1 unset, 0, 1 (with include_docs) */
    st_atts_mode atts;          /* with include_docs */
    bool att_encoding_info;
    bool update_seq;            /* the sink's head reports the index's seq */
    st_view_update_mode update;
    bool stable, sorted;        /* accepted (one node: nothing to do) */
} st_view_params;

void st_view_params_init(st_view_params *p);
/* CouchDB's checks of the parameters against the view (its
 * validate_args); ST_E_QUERY_PARSE with its message. */
st_status st_view_params_check(const st_view *v, const st_view_params *p, st_error *err);
/* Whether p asks v for reduce rows. */
bool st_view_params_reducing(const st_view *v, const st_view_params *p);

typedef struct st_view_row {
    const char *id;             /* map rows; NULL for reduce rows */
    const char *key;            /* JSON */
    size_t key_len;
    const char *value;          /* JSON */
    size_t value_len;
    bool has_doc;               /* include_docs */
    const char *doc;            /* JSON; NULL: null (missing or deleted) */
    size_t doc_len;
} st_view_row;

typedef struct st_view_sink {
    /* Map queries: before the first row (also when there is none). */
    void (*head)(void *ctx, uint64_t total_rows, uint64_t offset);
    /* Nonzero pauses the query: call st_view_query again with the same
     * cursor to go on. */
    int (*row)(void *ctx, const st_view_row *r);
    void *ctx;
} st_view_sink;

/* Where a paused query goes on. */
typedef struct st_view_cursor {
    bool started;               /* head reported */
    bool done;                  /* every row was handed out */
    size_t range;               /* which key of p->keys */
    st_buf after;               /* resume bound inside that range (empty: its start) */
    uint64_t left, skip_left;   /* limit and skip still to apply */
} st_view_cursor;

void st_view_cursor_init(st_view_cursor *c);
void st_view_cursor_free(st_view_cursor *c);

/* Run (or go on with) p on v's index as it is (updating is the caller's:
 * st_view_update).  Every call reads its own snapshot of the index. */
st_status st_view_query(st_view *v, const st_view_params *p, st_view_cursor *cur,
                        const st_view_sink *sink, st_error *err);

/* ---- whole indexes ------------------------------------------------------ */

typedef struct st_view_info {
    char sig[33];
    char language[64];
    uint64_t update_seq;
    uint64_t purge_seq;
    uint64_t pending;           /* database changes after update_seq */
    uint64_t size_file, size_active, size_external;
    bool updater_running, compact_running;
    unsigned waiting_clients;
    char collator[32];
} st_view_info;

/* GET /db/_design/x/_info's numbers. */
st_status st_view_info_get(st_views *vs, st_db *db, const char *ddoc_id, st_view_info *out,
                           st_error *err);
/* Remove every index file of db that no current design document names. */
st_status st_views_cleanup(st_views *vs, st_db *db, st_error *err);
/* Compact the index of design document ddoc_id (rewrites its file). */
st_status st_view_compact(st_views *vs, st_db *db, const char *ddoc_id, st_error *err);

#endif
