/* view_query.c — map and reduce queries with CouchDB's parameters
 * (couch_mrview's validate_args and key options), resumable: a sink may
 * pause after any row and the cursor says where to go on.
 *
 * total_rows is the view's row count and offset the rows before the
 * query's first key (in its direction) plus the rows skipped — both from
 * the tree's counts, not a scan.  With `keys`, each key is its own range,
 * in the order given.  include_docs loads each row's document (or the one
 * an emitted {"_id": ...} value names) from the database when the row is
 * handed out.
 */
#include "view_int.h"

#include <stdlib.h>
#include <string.h>

void st_view_params_init(st_view_params *p)
{
    memset(p, 0, sizeof *p);
    p->inclusive_end = true;
    p->limit = UINT64_MAX;
    p->reduce = -1;
    p->group = -1;
    p->group_level = -1;
    p->conflicts = -1;
    p->update = ST_VIEW_UPDATE_TRUE;
    p->sorted = true;
}

void st_view_cursor_init(st_view_cursor *c)
{
    memset(c, 0, sizeof *c);
    st_buf_init(&c->after, 0);
}

void st_view_cursor_free(st_view_cursor *c)
{
    st_buf_free(&c->after);
}

bool st_view_params_reducing(const st_view *v, const st_view_params *p)
{
    return st_view_has_reduce(v) && p->reduce != 0;
}

#define LEVEL_EXACT -1

/* CouchDB's determine_group_level: 0, LEVEL_EXACT or a level. */
static st_status group_level(const st_view_params *p, int *out, st_error *err)
{
    if (p->group == 0 && p->group_level > 0)
        return st_fail(err, ST_E_QUERY_PARSE,
                       "Can't specify group=false and group_level>0 at the same time");
    if (p->group_level >= 0)
        *out = p->group_level > 0x7FFF ? 0x7FFF : (int)p->group_level;
    else
        *out = p->group == 1 ? LEVEL_EXACT : 0;
    return ST_OK;
}

/* (key, docid) against (key, docid) in the view's order; a missing docid
 * is the lowest or highest, as CouchDB's defaults (<<>> and <<255>>). */
static int cmp_bound(const st_json *ka, const char *da, bool da_high, const st_json *kb,
                     const char *db, bool db_high, st_collate_mode m)
{
    int c = st_collate(ka, kb, m);
    if (c)
        return c;
    if (!da || !db) {
        if (!da && !db)
            return da_high == db_high ? 0 : da_high ? 1 : -1;
        return !da ? (da_high ? 1 : -1) : (db_high ? -1 : 1);
    }
    c = strcmp(da, db);
    return (c > 0) - (c < 0);
}

static bool same_json(const st_json *a, const st_json *b)
{
    return st_collate(a, b, ST_COLLATE_RAW) == 0 && a->type == b->type;
}

st_status st_view_params_check(const st_view *v, const st_view_params *p, st_error *err)
{
    int level = 0;
    st_status st = group_level(p, &level, err);
    if (st != ST_OK)
        return st;
    if (!st_view_has_reduce(v) && p->reduce == 1)
        return st_fail(err, ST_E_QUERY_PARSE, "Reduce is invalid for map-only views.");
    bool red = st_view_params_reducing(v, p);
    if (red && level != LEVEL_EXACT && p->keys)
        return st_fail(err, ST_E_QUERY_PARSE,
                       "Multi-key fetches for reduce views must use `group=true`");
    if (p->keys && p->keys->type != ST_JSON_ARRAY)
        return st_fail(err, ST_E_BAD_REQUEST, "`keys` member must be an array.");
    if (p->keys && p->keys->len && (p->start_key || p->end_key))
        return st_fail(err, ST_E_QUERY_PARSE,
                       "`keys` is incompatible with `key`, `start_key` and `end_key`");
    if (!red && level != 0)
        return st_fail(err, ST_E_QUERY_PARSE, "Invalid use of grouping on a map view.");
    if (red && p->include_docs)
        return st_fail(err, ST_E_QUERY_PARSE, "`include_docs` is invalid for reduce");
    if (red && p->conflicts >= 0)
        return st_fail(err, ST_E_QUERY_PARSE, "`conflicts` is invalid for reduce views.");
    if (p->start_key && p->end_key && !same_json(p->start_key, p->end_key)) {
        st_collate_mode m = st_view_def(v)->collation;
        int c = cmp_bound(p->start_key, p->start_docid, p->descending, p->end_key, p->end_docid,
                          !p->descending, m);
        if (!p->descending && c >= 0)
            return st_fail(err, ST_E_QUERY_PARSE,
                           "No rows can match your key range, reverse your start_key and end_key "
                           "or set descending=true");
        if (p->descending && c < 0)
            return st_fail(err, ST_E_QUERY_PARSE,
                           "No rows can match your key range, reverse your start_key and end_key "
                           "or set descending=false");
    }
    return ST_OK;
}

/* ---- ranges -------------------------------------------------------------------- */

typedef struct qrange {
    st_buf lo, hi;            /* lo inclusive, hi exclusive */
    bool has_lo, has_hi;
} qrange;

static void qrange_free(qrange *r)
{
    st_buf_free(&r->lo);
    st_buf_free(&r->hi);
}

/* key K [with docid D]: sk(K) [esc(D) 00], then FF when `above` (every
 * position of K [and D] is below it). */
static st_status bound(st_buf *b, const st_json *k, const char *docid, st_collate_mode m,
                       bool above)
{
    st_buf_reset(b);
    st_status st = st_vkey_bound(b, k, m, docid);
    if (st == ST_OK && above)
        st = st_buf_addc(b, (char)0xFF);
    return st;
}

/* The positions range i of the query covers. */
static st_status make_range(const st_view_params *p, size_t i, st_collate_mode m, qrange *r,
                            st_error *err)
{
    st_status st = ST_OK;
    r->has_lo = r->has_hi = false;
    if (p->keys) {
        const st_json *k = &p->keys->u.items[i];
        r->has_lo = r->has_hi = true;
        if ((st = bound(&r->lo, k, NULL, m, false)) == ST_OK)
            st = bound(&r->hi, k, NULL, m, true);
    } else if (!p->descending) {
        if (p->start_key) {
            r->has_lo = true;
            st = bound(&r->lo, p->start_key, p->start_docid, m, false);
        }
        if (st == ST_OK && p->end_key) {
            r->has_hi = true;
            st = bound(&r->hi, p->end_key, p->end_docid, m, p->inclusive_end);
        }
    } else {
        if (p->start_key) {
            r->has_hi = true;
            st = bound(&r->hi, p->start_key, p->start_docid, m, true);
        }
        if (st == ST_OK && p->end_key) {
            r->has_lo = true;
            st = bound(&r->lo, p->end_key, p->end_docid, m, !p->inclusive_end);
        }
    }
    return st == ST_OK ? ST_OK : st_fail(err, st, "cannot build the key range");
}

/* Narrow r to what is left after the cursor. */
static void resume(qrange *r, const st_view_cursor *cur, bool descending)
{
    if (cur->after.len == 0)
        return;
    st_buf *b = descending ? &r->hi : &r->lo;
    st_buf_reset(b);
    if (st_buf_add(b, cur->after.data, cur->after.len) == ST_OK) {
        if (descending)
            r->has_hi = true;
        else
            r->has_lo = true;
    }
}

#define LO(r) ((r)->has_lo ? (const void *)((r)->lo.data ? (r)->lo.data : "") : NULL)
#define HI(r) ((r)->has_hi ? (const void *)((r)->hi.data ? (r)->hi.data : "") : NULL)

static size_t n_ranges(const st_view_params *p)
{
    return p->keys ? p->keys->len : 1;
}

/* ---- map queries --------------------------------------------------------------- */

typedef struct mq {
    const st_view *v;
    const st_view_params *p;
    st_view_cursor *cur;
    const st_view_sink *sink;
    st_error *err;
    st_status st;
    bool paused;
    st_buf doc, linked;
} mq;

/* The document a row shows with include_docs: the row's, or the one its
 * value names with {"_id": ..., "_rev": ...}.  *found false: null. */
static st_status load_doc(mq *q, const st_vrow *row, bool *found)
{
    char *id = NULL, *rev = NULL;
    *found = false;
    if (row->value_len && row->value[0] == '{') {
        st_json_doc *d = NULL;
        if (st_json_parse(row->value, row->value_len, NULL, &d, NULL) == ST_OK) {
            const char *i = st_json_get_str(st_json_doc_root(d), "_id");
            const char *r = st_json_get_str(st_json_doc_root(d), "_rev");
            id = i ? strdup(i) : NULL;
            rev = r ? strdup(r) : NULL;
            st_json_doc_free(d);
        }
    }
    st_get_opts o = {.rev = rev, .conflicts = q->p->conflicts == 1, .atts = q->p->atts,
                     .att_encoding_info = q->p->att_encoding_info};
    st_buf_reset(&q->doc);
    st_error e;
    st_status st = st_db_get(st_view_db(q->v), id ? id : row->doc, &o, &q->doc, &e);
    free(id);
    free(rev);
    if (st == ST_OK) {
        *found = true;
        return ST_OK;
    }
    if (st == ST_E_NOT_FOUND || st == ST_E_BAD_REQUEST || st == ST_E_ILLEGAL_DOCID)
        return ST_OK;
    if (q->err)
        *q->err = e;
    return st;
}

static int map_row(void *ctx, const st_vrow *row)
{
    mq *q = ctx;
    st_view_cursor *cur = q->cur;
    if (cur->skip_left) {
        cur->skip_left--;
        return 0;
    }
    if (cur->left == 0) {
        cur->done = true;
        return 1;
    }
    st_view_row out = {row->doc, row->key, row->key_len, row->value, row->value_len, false,
                       NULL, 0};
    if (q->p->include_docs) {
        bool found = false;
        if ((q->st = load_doc(q, row, &found)) != ST_OK)
            return 1;
        out.has_doc = true;
        if (found) {
            out.doc = q->doc.data;
            out.doc_len = q->doc.len;
        }
    }
    cur->left--;
    /* Where to go on: just after this row's position (descending: below it). */
    st_buf_reset(&cur->after);
    if (st_buf_add(&cur->after, row->pos, row->pos_len) != ST_OK ||
        (!q->p->descending && st_buf_addc(&cur->after, 0x00) != ST_OK)) {
        q->st = st_fail(q->err, ST_E_NOMEM, "out of memory");
        return 1;
    }
    if (q->sink->row(q->sink->ctx, &out)) {
        q->paused = true;
        return 1;
    }
    return 0;
}

static st_status map_head(mq *q, st_vconn *c, unsigned view, st_collate_mode m)
{
    const st_view_params *p = q->p;
    uint64_t total = 0, before = 0;
    qrange r = {ST_BUF_INIT, ST_BUF_INIT, false, false};
    st_status st = vtree_count(c, view, NULL, 0, NULL, 0, &total, q->err);
    if (st == ST_OK && n_ranges(p) > 0)
        st = make_range(p, 0, m, &r, q->err);
    if (st == ST_OK && n_ranges(p) > 0) {
        if (!p->descending && r.has_lo)
            st = vtree_count(c, view, NULL, 0, LO(&r), r.lo.len, &before, q->err);
        else if (p->descending && r.has_hi)
            st = vtree_count(c, view, HI(&r), r.hi.len, NULL, 0, &before, q->err);
    }
    qrange_free(&r);
    if (st != ST_OK)
        return st;
    uint64_t offset = before + p->skip;
    if (offset > total || offset < before)
        offset = total;
    if (q->sink->head)
        q->sink->head(q->sink->ctx, total, offset);
    return ST_OK;
}

static st_status map_query(mq *q, st_vconn *c)
{
    const st_view_params *p = q->p;
    st_view_cursor *cur = q->cur;
    unsigned view = st_view_number(q->v);
    st_collate_mode m = st_view_def(q->v)->collation;
    st_status st = ST_OK;
    if (!cur->started) {
        if ((st = map_head(q, c, view, m)) != ST_OK)
            return st;
        cur->started = true;
        cur->left = p->limit;
        cur->skip_left = p->skip;
    }
    qrange r = {ST_BUF_INIT, ST_BUF_INIT, false, false};
    while (st == ST_OK && !cur->done && cur->range < n_ranges(p)) {
        if (cur->left == 0) {
            cur->done = true;
            break;
        }
        if ((st = make_range(p, cur->range, m, &r, q->err)) != ST_OK)
            break;
        resume(&r, cur, p->descending);
        st = st_vrow_scan(c, view, LO(&r), r.lo.len, HI(&r), r.hi.len, p->descending, 0,
                              map_row, q, q->err);
        if (st == ST_OK)
            st = q->st;
        if (st != ST_OK || q->paused || cur->done)
            break;
        cur->range++;
        st_buf_reset(&cur->after);
    }
    if (st == ST_OK && !q->paused)
        cur->done = true;
    qrange_free(&r);
    return st;
}

/* ---- reduce queries -------------------------------------------------------------- */

typedef struct rq {
    const st_view_params *p;
    st_view_cursor *cur;
    const st_view_sink *sink;
    vred *red;
    st_error *err;
    st_status st;
    bool paused;
    bool range_over;          /* the last group emitted ends the range */
    st_buf val;
} rq;

static int reduce_emit(void *ctx, const char *key, size_t key_len, const char *red, size_t red_len,
                       const unsigned char *bnd, size_t bnd_len)
{
    rq *q = ctx;
    st_view_cursor *cur = q->cur;
    if (cur->skip_left) {
        cur->skip_left--;
        goto moved;
    }
    if (cur->left == 0) {
        cur->done = true;
        return 1;
    }
    st_buf_reset(&q->val);
    if ((q->st = vred_finalize(q->red, red, red_len, &q->val, q->err)) != ST_OK)
        return 1;
    cur->left--;
    st_view_row out = {NULL, key, key_len, q->val.data, q->val.len, false, NULL, 0};
    if (q->sink->row(q->sink->ctx, &out))
        q->paused = true;
moved:
    st_buf_reset(&cur->after);
    q->range_over = bnd_len == 0;
    if (bnd_len && st_buf_add(&cur->after, bnd, bnd_len) != ST_OK) {
        q->st = st_fail(q->err, ST_E_NOMEM, "out of memory");
        return 1;
    }
    return q->paused;
}

static st_status reduce_query(const st_view *v, rq *q, st_vconn *c)
{
    const st_view_params *p = q->p;
    st_view_cursor *cur = q->cur;
    unsigned view = st_view_number(v);
    const st_ddoc_view *def = st_view_def(v);
    int level = 0;
    st_status st = group_level(p, &level, q->err);
    if (st != ST_OK)
        return st;
    if (!cur->started) {
        cur->started = true;
        cur->left = p->limit;
        cur->skip_left = p->skip;
    }
    vfold_out out = {reduce_emit, q};
    qrange r = {ST_BUF_INIT, ST_BUF_INIT, false, false};
    while (st == ST_OK && !cur->done && cur->range < n_ranges(p)) {
        if (cur->left == 0) {
            cur->done = true;
            break;
        }
        if ((st = make_range(p, cur->range, def->collation, &r, q->err)) != ST_OK)
            break;
        resume(&r, cur, p->descending);
        st = vtree_fold(c, view, q->red, def->collation, LO(&r), r.lo.len, HI(&r), r.hi.len,
                        p->descending, level, &out, q->err);
        if (st == ST_OK)
            st = q->st;
        if (st == ST_OK && q->paused && q->range_over) {
            cur->range++; /* its one group went out: go on with the next range */
            st_buf_reset(&cur->after);
            cur->done = cur->range >= n_ranges(p);
        }
        if (st != ST_OK || q->paused || cur->done)
            break;
        cur->range++;
        st_buf_reset(&cur->after);
    }
    if (st == ST_OK && !q->paused)
        cur->done = true;
    qrange_free(&r);
    return st;
}

st_status st_view_query(st_view *v, const st_view_params *p, st_view_cursor *cur,
                        const st_view_sink *sink, st_error *err)
{
    if (cur->done)
        return ST_OK;
    vindex *ix = st_view_index(v);
    st_vconn *c = vindex_reader(ix, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    st_status st;
    if (!st_view_params_reducing(v, p)) {
        mq q = {v, p, cur, sink, err, ST_OK, false, ST_BUF_INIT, ST_BUF_INIT};
        st = map_query(&q, c);
        st_buf_free(&q.doc);
        st_buf_free(&q.linked);
    } else {
        vred red;
        st_ddoc *d = st_view_ddoc(v);
        vred_init(&red, st_view_def(v), ix->qs, st_ddoc_language(d),
                  &ix->opts->limits, NULL);
        rq q = {p, cur, sink, &red, err, ST_OK, false, false, ST_BUF_INIT};
        st = reduce_query(v, &q, c);
        vred_done(&red);
        st_buf_free(&q.val);
    }
    vindex_reader_put(ix, c);
    return st;
}
