/* mango_find.c — running a planned query: candidates from the index range
 * (or the _id range of a full scan), each matched against the whole
 * selector, skip and limit over the matches, the documents rendered as
 * CouchDB returns them.
 *
 * Why pages with their own snapshots: a reader connection held for a whole
 * answer would pin the WAL for as long as a slow client reads; a page
 * reads at most PAGE_KEYS candidates, remembers the last (key, id) it
 * examined and gives the connection back, and the next page starts
 * strictly after that position.  A bookmark is the same position, of the
 * last document returned, as base64url of ["hex key","id"].
 */
#include "mango_int.h"
#include "st_base64.h"
#include "st_hex.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE_KEYS 512           /* candidates examined per page */
#define SCAN_WARNING_RATIO 10   /* CouchDB's index_scan_warning_threshold */
#define PICK_KEYS 16            /* more top-level fields in a selector: full parses */

struct st_mango_cursor {
    st_db *db;
    const st_mango_query *q;
    mango_idx *idx;             /* every json index, as read at planning */
    size_t n_idx;
    mango_plan plan;
    bool done;
    st_buf pos_key;             /* the last candidate examined */
    char *pos_id;
    st_buf res_key;             /* the last document returned */
    char *res_id;
    uint64_t res_seq;           /* its row's sequence */
    uint64_t skip_left, limit_left;
    st_mango_stats stats;
    struct timespec t0;
    char *bookmark;
    char *warning;
    st_buf doc;                 /* a rendered document */
    st_buf proj;                /* its projection */
    st_json_pick *pick;         /* matching parses only keys (NULL: whole bodies) */
    st_json_key keys[PICK_KEYS];
    size_t nkeys;
};

static double since_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void free_set(mango_idx *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        st_mango_idx_clear(&v[i]);
    free(v);
}

/* ---- the index set, read from a snapshot --------------------------------------- */

typedef struct set_load {
    mango_idx *v;
    size_t n, cap;
    st_status st;
    st_error *err;
} set_load;

static int set_row(void *ctx, int64_t ix, const char *ddoc, const char *name, const char *def)
{
    set_load *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        mango_idx *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->st = st_fail(l->err, ST_E_NOMEM, "out of memory");
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->st = st_mango_idx_load(ix, ddoc, name, def, &l->v[l->n], l->err);
    if (l->st == ST_OK)
        l->n++;
    return l->st != ST_OK;
}

static st_status load_set(st_db *db, mango_idx **out, size_t *out_n, st_error *err)
{
    set_load l = {NULL, 0, 0, ST_OK, err};
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    st_status st = st_store_index_defs(c, set_row, &l, err);
    st_db_reader_put(db, c);
    if (st == ST_OK)
        st = l.st;
    if (st != ST_OK) {
        free_set(l.v, l.n);
        return st;
    }
    *out = l.v;
    *out_n = l.n;
    return ST_OK;
}

st_status st_db_indexes(st_db *db, st_mango_index **out, size_t *out_n, st_error *err)
{
    mango_idx *v = NULL;
    size_t n = 0;
    *out = NULL;
    *out_n = 0;
    st_status st = load_set(db, &v, &n, err);
    if (st != ST_OK)
        return st;
    st_mango_index *d = calloc(n ? n : 1, sizeof *d);
    if (!d) {
        free_set(v, n);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        d[i] = v[i].def;
        memset(&v[i].def, 0, sizeof v[i].def);
    }
    free_set(v, n);
    *out = d;
    *out_n = n;
    return ST_OK;
}

/* ---- bookmarks ------------------------------------------------------------------- */

static st_status bad_bookmark(const char *b, st_error *err)
{
    return st_fail_name(err, ST_E_BAD_REQUEST, "invalid_bookmark",
                        "Invalid bookmark value: \"%.200s\"", b);
}

static st_status bookmark_read(st_mango_cursor *c, const char *b, st_error *err)
{
    size_t n = strlen(b), len = 0;
    unsigned char *raw = malloc(ST_B64_DECODED_MAX(n) + 1);
    st_json_doc *j = NULL;
    if (!raw)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = ST_OK;
    if (!st_b64_decode(ST_B64_URL, b, n, raw, ST_B64_DECODED_MAX(n), &len) ||
        st_json_parse((const char *)raw, len, NULL, &j, NULL) != ST_OK)
        st = bad_bookmark(b, err);
    const st_json *a = j ? st_json_doc_root(j) : NULL;
    if (st == ST_OK && (a->type != ST_JSON_ARRAY || a->len != 2 ||
                        a->u.items[0].type != ST_JSON_STRING ||
                        a->u.items[1].type != ST_JSON_STRING || a->u.items[0].len % 2))
        st = bad_bookmark(b, err);
    if (st == ST_OK) {
        const st_json *k = &a->u.items[0];
        st_buf_reset(&c->pos_key);
        if (st_buf_reserve(&c->pos_key, k->len / 2 + 1) != ST_OK)
            st = st_fail(err, ST_E_NOMEM, "out of memory");
        else if (!st_hex_decode(k->u.str, k->len / 2, (unsigned char *)c->pos_key.data))
            st = bad_bookmark(b, err);
        else
            c->pos_key.len = k->len / 2;
    }
    if (st == ST_OK && !(c->pos_id = strdup(a->u.items[1].u.str)))
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    st_json_doc_free(j);
    free(raw);
    return st;
}

static st_status bookmark_make(st_mango_cursor *c)
{
    if (!c->res_id) { /* nothing returned: the one given (or nil) stands */
        c->bookmark = strdup(c->q->bookmark ? c->q->bookmark : "nil");
        return c->bookmark ? ST_OK : ST_E_NOMEM;
    }
    st_buf j = ST_BUF_INIT;
    char *hex = malloc(c->res_key.len * 2 + 1);
    st_status st = hex ? ST_OK : ST_E_NOMEM;
    if (st == ST_OK) {
        st_hex_encode((const unsigned char *)(c->res_key.data ? c->res_key.data : ""),
                      c->res_key.len, hex);
        st = st_buf_adds(&j, "[\"");
    }
    if (st == ST_OK)
        st = st_buf_adds(&j, hex);
    if (st == ST_OK)
        st = st_buf_adds(&j, "\",");
    if (st == ST_OK)
        st = st_json_quote(&j, c->res_id, strlen(c->res_id));
    if (st == ST_OK)
        st = st_buf_addc(&j, ']');
    free(hex);
    if (st == ST_OK && !(c->bookmark = malloc(ST_B64_ENCODED_SIZE(j.len))))
        st = ST_E_NOMEM;
    if (st == ST_OK)
        st_b64_encode(ST_B64_URL, (const unsigned char *)j.data, j.len, c->bookmark,
                      ST_B64_ENCODED_SIZE(j.len));
    st_buf_free(&j);
    return st;
}

/* ---- opening ------------------------------------------------------------------- */

void st_mango_cursor_free(st_mango_cursor *c)
{
    if (!c)
        return;
    st_mango_plan_clear(&c->plan);
    free_set(c->idx, c->n_idx);
    st_buf_free(&c->pos_key);
    st_buf_free(&c->res_key);
    free(c->pos_id);
    free(c->res_id);
    free(c->bookmark);
    free(c->warning);
    st_buf_free(&c->doc);
    st_buf_free(&c->proj);
    st_json_pick_free(c->pick);
    free(c);
}

st_status st_mango_find(st_db *db, const st_mango_query *q, st_mango_cursor **out, st_error *err)
{
    *out = NULL;
    st_mango_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    c->db = db;
    c->q = q;
    c->skip_left = q->skip;
    c->limit_left = q->limit;
    st_status st = load_set(db, &c->idx, &c->n_idx, err);
    if (st == ST_OK)
        st = st_mango_plan(q, c->idx, c->n_idx, &c->plan, err);
    if (st == ST_OK && q->bookmark)
        st = bookmark_read(c, q->bookmark, err);
    /* Out of memory here only costs speed: every body is then parsed whole. */
    if (st == ST_OK && st_selector_top_keys(q->sel, c->keys, PICK_KEYS, &c->nkeys))
        c->pick = st_json_pick_new();
    if (st != ST_OK) {
        st_mango_cursor_free(c);
        return st;
    }
    c->done = c->plan.empty || q->limit == 0;
    *out = c;
    return ST_OK;
}

st_status st_mango_explain(st_db *db, const st_mango_query *q, st_jw *w, st_error *err)
{
    mango_idx *v = NULL;
    size_t n = 0;
    mango_plan p;
    st_status st = load_set(db, &v, &n, err);
    if (st == ST_OK && (st = st_mango_plan(q, v, n, &p, err)) == ST_OK) {
        st_mango_plan_explain(&p, q, st_db_name(db), w);
        st_mango_plan_clear(&p);
    }
    free_set(v, n);
    return st;
}

/* ---- pages ------------------------------------------------------------------ */

typedef struct page {
    st_mango_cursor *c;
    st_conn *conn;
    st_mango_doc_fn fn;
    void *ctx;
    size_t want, given;
    size_t examined;
    bool stop;              /* stopped before the range's end */
    st_status st;
    st_error *err;
} page;

/* Render a match as the answer has it. */
static st_status render(st_mango_cursor *c, st_conn *conn, const st_row_view *row,
                        const st_revtree *t, size_t win, const char **out, size_t *out_len,
                        st_error *err)
{
    st_jw w;
    st_buf_reset(&c->doc);
    if (st_jw_init(&w, &c->doc) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_get_opts go = {.conflicts = c->q->conflicts};
    st_status st = st_db_render(conn, row->id, t, win, row->body, row->body_len, row->atts,
                                row->atts_len, row->seq, &go, &w, err);
    st_jw_free(&w);
    if (st != ST_OK || c->q->n_fields == 0) {
        *out = c->doc.data;
        *out_len = c->doc.len;
        return st;
    }
    st_json_doc *full = NULL;
    if ((st = st_json_parse(c->doc.data, c->doc.len, NULL, &full, err)) != ST_OK)
        return st;
    st_buf_reset(&c->proj);
    if (st_jw_init(&w, &c->proj) != ST_OK) {
        st_json_doc_free(full);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    st = st_mango_project(st_json_doc_root(full), c->q->field_paths, c->q->n_fields, &w);
    if (st == ST_OK)
        st = st_jw_status(&w);
    st_jw_free(&w);
    st_json_doc_free(full);
    *out = c->proj.data;
    *out_len = c->proj.len;
    return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
}

static st_status remember(st_buf *key, char **id, const void *k, size_t kn, const char *docid)
{
    /* Every candidate moves the position: an id no longer than the last
     * one reuses its allocation. */
    size_t n = strlen(docid);
    if (*id && strlen(*id) >= n) {
        memmove(*id, docid, n + 1);
    } else {
        char *d = strdup(docid);
        if (!d)
            return ST_E_NOMEM;
        free(*id);
        *id = d;
    }
    st_buf_reset(key);
    return kn ? st_buf_add(key, k, kn) : st_buf_reserve(key, 1);
}

/* Does row match the selector?  *out_t: its revision tree, decoded when
 * the selector asks for _rev or the row matched (a match needs it to be
 * rendered), with the winner's index in *out_win; the caller frees it. */
static st_status match_row(st_mango_cursor *c, const st_row_view *row, st_revtree **out_t,
                           size_t *out_win, bool *out_m, st_error *err)
{
    st_revtree *t = NULL;
    mango_doc d = {0};
    bool m = false;
    size_t win = 0;
    char rev[ST_REV_STR_MAX];
    st_status st = ST_OK;
    *out_t = NULL;
    *out_m = false;
    /* The tree is read for matching only when the selector asks for _rev. */
    if (c->q->needs_rev) {
        if ((st = st_revtree_decode(row->tree, row->tree_len, &t, err)) != ST_OK)
            return st;
        win = (size_t)st_revtree_winner(t);
        st_rev r;
        st_revtree_node(t, win, &r, NULL, NULL);
        st_rev_format(&r, rev, sizeof rev);
    }
    c->stats.docs_examined++;
    st = st_mango_doc_pick(&d, c->pick, c->keys, c->nkeys, row->id, t ? rev : NULL, false,
                           row->body, row->body_len, err);
    if (st == ST_OK)
        st = st_selector_match(c->q->sel, &d.root, &m);
    st_mango_doc_free(&d);
    if (st == ST_OK && m && !t && (st = st_revtree_decode(row->tree, row->tree_len, &t, err)) ==
                                      ST_OK)
        win = (size_t)st_revtree_winner(t);
    if (st != ST_OK) {
        st_revtree_free(t);
        return st;
    }
    *out_t = t;
    *out_win = win;
    *out_m = m;
    return ST_OK;
}

/* Render a match, remember it as the last document returned, hand it to fn;
 * *out_stop is fn's answer. */
static st_status give(st_mango_cursor *c, st_conn *conn, const void *key, size_t kn,
                      const st_row_view *row, const st_revtree *t, size_t win,
                      st_mango_doc_fn fn, void *ctx, size_t *given, int *out_stop,
                      st_error *err)
{
    const char *json = NULL;
    size_t len = 0;
    st_status st = render(c, conn, row, t, win, &json, &len, err);
    if (st == ST_OK)
        st = remember(&c->res_key, &c->res_id, key, kn, row->id);
    if (st != ST_OK)
        return st;
    c->res_seq = row->seq;
    c->stats.results++;
    *given += len;
    *out_stop = fn(ctx, json, len);
    return ST_OK;
}

/* One candidate; nonzero stops the page. */
static int candidate(page *pg, const void *key, size_t kn, const st_row_view *row)
{
    st_mango_cursor *c = pg->c;
    st_revtree *t = NULL;
    bool m = false;
    size_t win = 0;
    pg->examined++;
    c->stats.keys_examined++;
    if ((pg->st = remember(&c->pos_key, &c->pos_id, key, kn, row->id)) != ST_OK) {
        st_fail(pg->err, pg->st, "out of memory");
        return 1;
    }
    pg->st = match_row(c, row, &t, &win, &m, pg->err);
    if (pg->st == ST_OK && m && c->skip_left > 0) {
        c->skip_left--;
        m = false;
    }
    int stop = 0;
    if (pg->st == ST_OK && m) {
        pg->st = give(c, pg->conn, key, kn, row, t, win, pg->fn, pg->ctx, &pg->given, &stop,
                      pg->err);
        if (pg->st == ST_OK)
            c->limit_left--;
    }
    st_revtree_free(t);
    if (pg->st != ST_OK) {
        if (pg->err && pg->err->code == ST_OK)
            st_fail(pg->err, pg->st, "out of memory");
        return 1;
    }
    if (stop || c->limit_left == 0 || pg->given >= pg->want || pg->examined >= PAGE_KEYS) {
        pg->stop = true;
        return 1;
    }
    return 0;
}

static int json_row(void *ctx, const void *key, size_t kn, const st_row_view *row)
{
    return candidate(ctx, key, kn, row);
}

static int id_row(void *ctx, const st_row_view *row)
{
    page *pg = ctx;
    st_mango_cursor *c = pg->c;
    /* Strictly after the position (the store's bound is inclusive), and
     * never a design document (CouchDB's _find leaves them out). */
    if (c->pos_id && strcmp(row->id, c->pos_id) == 0)
        return 0;
    if (strncmp(row->id, "_design/", 8) == 0)
        return 0;
    return candidate(pg, "", 0, row);
}

static st_status scan(page *pg)
{
    st_mango_cursor *c = pg->c;
    const mango_plan *p = &c->plan;
    /* The scan's start is the position, which each candidate moves: a copy
     * is what the store reads. */
    char *at_id = c->pos_id ? strdup(c->pos_id) : NULL;
    char *at_key = c->pos_id ? malloc(c->pos_key.len + 1) : NULL;
    if (c->pos_id && (!at_id || !at_key)) {
        free(at_id);
        free(at_key);
        return st_fail(pg->err, ST_E_NOMEM, "out of memory");
    }
    if (at_key && c->pos_key.len)
        memcpy(at_key, c->pos_key.data, c->pos_key.len);
    st_status st;
    if (p->idx) {
        st_index_range r = {
            .lo = p->has_lo ? p->lo.data : NULL,
            .lo_len = p->lo.len,
            .hi = p->has_hi ? p->hi.data : NULL,
            .hi_len = p->hi.len,
            .descending = p->descending,
            .after_key = at_key,
            .after_len = c->pos_key.len,
            .after_id = at_id,
            .limit = PAGE_KEYS,
        };
        st = st_store_index_scan(pg->conn, p->idx->ix, &r, json_row, pg, pg->err);
    } else {
        /* Ascending: from max(start, position) to end; descending the other
         * way round (the store's start is then the upper bound). */
        const char *from = p->descending ? p->end_id : p->start_id;
        const char *to = p->descending ? p->start_id : p->end_id;
        if (at_id)
            from = at_id;
        st = st_store_scan_ids(pg->conn, from, to, true, p->descending, 0, true, id_row, pg,
                               pg->err);
    }
    free(at_id);
    free(at_key);
    return st;
}

static st_status warnings(st_mango_cursor *c)
{
    st_buf b = ST_BUF_INIT;
    st_status st = ST_OK;
    if (c->plan.use_warning)
        st = st_buf_adds(&b, c->plan.use_warning);
    if (st == ST_OK && !c->plan.idx)
        st = st_buf_printf(&b, "%sNo matching index found, create an index to optimize query "
                               "time.", b.len ? "\n" : "");
    uint64_t docs = c->stats.docs_examined, res = c->stats.results;
    double ratio = res ? (double)docs / (double)res : (double)docs;
    if (st == ST_OK && ratio > SCAN_WARNING_RATIO)
        st = st_buf_printf(&b, "%sThe number of documents examined is high in proportion to "
                               "the number of results returned. Consider adding a more "
                               "specific index to improve this.", b.len ? "\n" : "");
    if (st == ST_OK && b.len)
        c->warning = st_buf_take(&b, NULL);
    st_buf_free(&b);
    return st;
}

st_status st_mango_next(st_mango_cursor *c, size_t want, st_mango_doc_fn fn, void *ctx,
                        bool *out_done, st_error *err)
{
    st_status st = ST_OK;
    if (!c->done) {
        page pg = {.c = c, .fn = fn, .ctx = ctx, .want = want ? want : 1, .err = err};
        pg.conn = st_db_reader(c->db, err);
        if (!pg.conn)
            return err ? err->code : ST_E_IO;
        st = scan(&pg);
        st_db_reader_put(c->db, pg.conn);
        if (st == ST_OK)
            st = pg.st;
        if (st != ST_OK)
            return st;
        c->done = !pg.stop || c->limit_left == 0;
    }
    *out_done = c->done;
    if (c->done && !c->bookmark) {
        c->stats.time_ms = since_ms(&c->t0);
        if ((st = bookmark_make(c)) == ST_OK)
            st = warnings(c);
        if (st != ST_OK)
            return st_fail(err, st, "out of memory");
    }
    return ST_OK;
}

const char *st_mango_bookmark(const st_mango_cursor *c) { return c->bookmark ? c->bookmark : "nil"; }
const char *st_mango_warning(const st_mango_cursor *c) { return c->warning; }

void st_mango_stats_get(const st_mango_cursor *c, st_mango_stats *out)
{
    *out = c->stats;
    if (!c->done)
        out->time_ms = since_ms(&c->t0);
}

/* ---- live queries ---------------------------------------------------------------- */

void st_mango_cursor_pos(const st_mango_cursor *c, const char **key, size_t *key_len,
                         const char **id, uint64_t *seq)
{
    *key = c->res_key.data ? c->res_key.data : "";
    *key_len = c->res_key.len;
    *id = c->res_id;
    *seq = c->res_seq;
}

bool st_mango_cursor_descending(const st_mango_cursor *c) { return c->plan.descending; }

st_status st_mango_cursor_seek(st_mango_cursor *c, const void *key, size_t key_len,
                               const char *id, uint64_t limit, st_error *err)
{
    char *pid = id ? strdup(id) : NULL;
    if (id && !pid)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_buf_reset(&c->pos_key);
    if (id && key_len && st_buf_add(&c->pos_key, key, key_len) != ST_OK) {
        free(pid);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    free(c->pos_id);
    c->pos_id = pid;
    free(c->res_id);
    c->res_id = NULL;
    st_buf_reset(&c->res_key);
    free(c->bookmark);
    c->bookmark = NULL;
    free(c->warning);
    c->warning = NULL;
    memset(&c->stats, 0, sizeof c->stats);
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    c->skip_left = 0;
    c->limit_left = limit;
    c->done = c->plan.empty || limit == 0;
    return ST_OK;
}

void st_mango_cursor_end(st_mango_cursor *c) { c->done = true; }

/* Byte strings in SQLite's BLOB order (memcmp, then the shorter first). */
static int blob_cmp(const void *a, size_t an, const void *b, size_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);
    return r ? r : (an > bn) - (an < bn);
}

/* Whether a document of key (or id) lies in the plan's range.  The range
 * follows from the selector, so a match always does; checked anyway so
 * that a document read on its own is judged exactly as a scan would. */
static bool in_range(const mango_plan *p, const st_buf *key, const char *id)
{
    if (p->idx) {
        const char *k = key->data ? key->data : "";
        if (p->has_lo && blob_cmp(k, key->len, p->lo.data, p->lo.len) < 0)
            return false;
        return !p->has_hi || blob_cmp(k, key->len, p->hi.data, p->hi.len) < 0;
    }
    return (!p->start_id || strcmp(id, p->start_id) >= 0) &&
           (!p->end_id || strcmp(id, p->end_id) <= 0);
}

/* The index key of a row (into key), and whether the plan's index holds it. */
static st_status row_key(st_mango_cursor *c, const st_row_view *row, st_buf *key, bool *out_has,
                         st_error *err)
{
    const mango_idx *x = c->plan.idx;
    *out_has = true;
    st_buf_reset(key);
    if (!x)
        return ST_OK;
    char rev[ST_REV_STR_MAX];
    mango_doc d = {0};
    st_status st = x->needs_rev ? st_mango_winner_rev(row->tree, row->tree_len, rev, err) : ST_OK;
    if (st == ST_OK)
        st = st_mango_doc_make(&d, row->id, x->needs_rev ? rev : NULL, false, row->body,
                               row->body_len, err);
    if (st == ST_OK)
        st = st_mango_idx_entry(x, &d.root, key, out_has);
    st_mango_doc_free(&d);
    return st;
}

st_status st_mango_cursor_get(st_mango_cursor *c, const char *id, st_mango_doc_fn fn, void *ctx,
                              bool *out_in, st_error *err)
{
    *out_in = false;
    if (err)
        st_error_clear(err); /* so that a bare status below still gets a reason */
    if (c->plan.empty || strncmp(id, "_design/", 8) == 0)
        return ST_OK;
    st_conn *conn = st_db_reader(c->db, err);
    if (!conn)
        return err ? err->code : ST_E_IO;
    st_doc_rec rec = {0};
    st_buf key = ST_BUF_INIT;
    st_revtree *t = NULL;
    bool has = false, m = false;
    size_t win = 0, given = 0;
    int stop = 0;
    st_status st = st_store_doc_get(conn, id, &rec, err);
    st_row_view row = {
        .seq = rec.seq,
        .id = id,
        .deleted = rec.deleted,
        .tree = rec.tree.data,
        .tree_len = rec.tree.len,
        .body = rec.body.data,
        .body_len = rec.body.len,
        .atts = rec.atts.len ? rec.atts.data : NULL,
        .atts_len = rec.atts.len,
    };
    if (st == ST_E_NOT_FOUND) {
        st = ST_OK; /* purged, or never there */
        goto out;
    }
    if (st != ST_OK || rec.deleted)
        goto out;
    if ((st = row_key(c, &row, &key, &has, err)) != ST_OK || !has || !in_range(&c->plan, &key, id))
        goto out;
    if ((st = match_row(c, &row, &t, &win, &m, err)) != ST_OK || !m)
        goto out;
    *out_in = true;
    st = give(c, conn, key.data ? key.data : "", key.len, &row, t, win, fn, ctx, &given, &stop,
              err);
    if (st != ST_OK)
        *out_in = false;
out:
    st_db_reader_put(c->db, conn);
    st_revtree_free(t);
    st_buf_free(&key);
    st_doc_rec_free(&rec);
    if (st != ST_OK && err && err->code == ST_OK)
        st_fail(err, st, "out of memory");
    return st;
}
