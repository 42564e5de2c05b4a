/* changes.c — the changes feed and _all_docs: scans over the docs table.
 *
 * The docs table is keyed by each document's latest sequence, so a feed from
 * `since` is one range scan that yields every changed document once, at its
 * latest change, in order.  A doc_ids filter looks the ids up directly and
 * sorts them by sequence instead of scanning the whole range.
 */
#include "db_int.h"
#include "mango_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void st_changes_opts_init(st_changes_opts *o)
{
    memset(o, 0, sizeof *o);
    o->limit = UINT64_MAX;
}

void st_alldocs_opts_init(st_alldocs_opts *o)
{
    memset(o, 0, sizeof *o);
    o->inclusive_end = true;
    o->limit = UINT64_MAX;
}

void st_change_row_write(st_jw *w, const st_change_row *row, bool include_docs)
{
    st_jw_obj_open(w);
    st_jw_key(w, "seq");
    st_jw_uint(w, row->seq);
    st_jw_key(w, "id");
    st_jw_str(w, row->id);
    st_jw_key(w, "changes");
    st_jw_arr_open(w);
    for (size_t i = 0; i < row->n_revs; i++) {
        st_jw_obj_open(w);
        st_jw_key(w, "rev");
        st_jw_str(w, row->revs[i]);
        st_jw_obj_close(w);
    }
    st_jw_arr_close(w);
    if (row->deleted) {
        st_jw_key(w, "deleted");
        st_jw_bool(w, true);
    }
    if (row->removed) {
        st_jw_key(w, "removed");
        st_jw_bool(w, true);
    }
    if (include_docs) {
        st_jw_key(w, "doc");
        if (row->doc_json)
            st_jw_raw(w, row->doc_json, row->doc_len);
        else
            st_jw_null(w);
    }
    st_jw_obj_close(w);
}

typedef struct scan {
    st_db *db;
    st_conn *c;
    const st_changes_opts *o;
    st_change_fn fn;
    void *ctx;
    uint64_t limit;
    uint64_t emitted;
    uint64_t last_seq;
    st_status st;
    st_error *err;
    st_buf doc;             /* rendered doc for include_docs */
    st_revtree *tree;       /* decoded row tree, reused */
    size_t *leaves;
    size_t leaves_cap;
    char (*revs)[ST_REV_STR_MAX];
    const char **rev_ptrs;
} scan;

static st_status grow(scan *s, size_t n)
{
    if (n <= s->leaves_cap)
        return ST_OK;
    size_t cap = n < 8 ? 8 : n * 2;
    size_t *l = realloc(s->leaves, cap * sizeof *l);
    if (l)
        s->leaves = l;
    char(*r)[ST_REV_STR_MAX] = realloc(s->revs, cap * sizeof *r);
    if (r)
        s->revs = r;
    const char **p = realloc(s->rev_ptrs, cap * sizeof *p);
    if (p)
        s->rev_ptrs = p;
    if (!l || !r || !p)
        return ST_E_NOMEM;
    s->leaves_cap = cap;
    return ST_OK;
}

static int on_row(void *ctx, const st_row_view *row)
{
    scan *s = ctx;
    const st_changes_opts *o = s->o;
    st_revtree_free(s->tree);
    s->tree = NULL;
    if ((s->st = st_revtree_decode(row->tree, row->tree_len, &s->tree, s->err)) != ST_OK)
        return 1;
    size_t count = st_revtree_count(s->tree);
    if ((s->st = grow(s, count)) != ST_OK) {
        st_fail(s->err, s->st, "out of memory");
        return 1;
    }
    size_t nl = st_revtree_leaves(s->tree, s->leaves);
    size_t nrevs = o->all_docs ? nl : 1;
    for (size_t k = 0; k < nrevs; k++) {
        st_rev r;
        st_revtree_node(s->tree, s->leaves[k], &r, NULL, NULL);
        st_rev_format(&r, s->revs[k], ST_REV_STR_MAX);
        s->rev_ptrs[k] = s->revs[k];
    }
    st_change_row cr = {
        .seq = row->seq,
        .id = row->id,
        .revs = s->rev_ptrs,
        .n_revs = nrevs,
        .deleted = row->deleted,
    };
    if (o->include_docs || (o->filter && o->filter_needs_doc)) {
        st_buf_reset(&s->doc);
        st_jw w;
        if ((s->st = st_jw_init(&w, &s->doc)) != ST_OK) {
            st_fail(s->err, s->st, "out of memory");
            return 1;
        }
        st_get_opts go = {.conflicts = o->conflicts, .atts = o->atts};
        s->st = st_db_render(s->c, row->id, s->tree, s->leaves[0], row->body, row->body_len,
                             row->atts, row->atts_len, row->seq, &go, &w, s->err);
        st_jw_free(&w);
        if (s->st != ST_OK)
            return 1;
        cr.doc_json = s->doc.data;
        cr.doc_len = s->doc.len;
    }
    s->last_seq = row->seq;
    if (o->selector) {
        bool m = false;
        mango_doc d;
        s->st = st_mango_doc_make(&d, row->id, s->revs[0], row->deleted, row->body,
                                  row->body_len, s->err);
        if (s->st == ST_OK)
            s->st = st_selector_match(o->selector, &d.root, &m);
        st_mango_doc_free(&d);
        if (s->st != ST_OK) {
            if (s->err && s->err->code == ST_OK)
                st_fail(s->err, s->st, "out of memory");
            return 1;
        }
        if (!m && !(o->removed && o->since > 0 && !o->descending))
            return 0;
        cr.removed = !m;
    }
    if (o->filter && !o->filter(o->filter_ctx, &cr))
        return 0;
    if (!o->include_docs) {
        cr.doc_json = NULL;
        cr.doc_len = 0;
    }
    s->emitted++;
    if (s->fn(s->ctx, &cr))
        return 1;
    return s->emitted >= s->limit;
}

typedef struct id_seq {
    uint64_t seq;
    const char *id;
} id_seq;

static int cmp_seq(const void *a, const void *b)
{
    const id_seq *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* doc_ids: look each id up, order by seq, feed the rows through on_row. */
static st_status scan_ids(scan *s, st_error *err)
{
    const st_changes_opts *o = s->o;
    id_seq *v = calloc(o->n_doc_ids ? o->n_doc_ids : 1, sizeof *v);
    if (!v)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_doc_rec rec = {0};
    size_t n = 0;
    st_status st = ST_OK;
    for (size_t i = 0; i < o->n_doc_ids; i++) {
        st = st_store_doc_get(s->c, o->doc_ids[i], &rec, err);
        if (st == ST_E_NOT_FOUND) {
            st = ST_OK;
            continue;
        }
        if (st != ST_OK)
            goto out;
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup = dup || v[k].seq == rec.seq;
        if (!dup && (o->descending || rec.seq > o->since))
            v[n++] = (id_seq){rec.seq, o->doc_ids[i]};
    }
    qsort(v, n, sizeof *v, cmp_seq);
    for (size_t i = 0; i < n; i++) {
        size_t k = o->descending ? n - 1 - i : i;
        st = st_store_doc_get(s->c, v[k].id, &rec, err);
        if (st != ST_OK)
            goto out;
        st_row_view row = {
            .seq = rec.seq,
            .id = v[k].id,
            .deleted = rec.deleted,
            .tree = rec.tree.data,
            .tree_len = rec.tree.len,
            .body = rec.body.data,
            .body_len = rec.body.len,
            .atts = rec.atts.len ? rec.atts.data : NULL,
            .atts_len = rec.atts.len,
        };
        if (on_row(s, &row))
            break;
    }
    st = s->st;
out:
    st_doc_rec_free(&rec);
    free(v);
    return st;
}

/* Changes after `last`.  Exact up to PENDING_EXACT rows; beyond that the
 * sequence gap, an upper bound (a document changed twice in the gap counts
 * twice), because counting is a scan and feeds ask after every batch:
 * exact counts made a full pull quadratic. */
#define PENDING_EXACT 1000

static st_status pending_after(st_conn *c, uint64_t last, uint64_t update_seq, uint64_t *out,
                               st_error *err)
{
    st_status st = st_store_count_after_seq(c, last, PENDING_EXACT, out, err);
    if (st == ST_OK && *out >= PENDING_EXACT && update_seq > last)
        *out = update_seq - last;
    return st;
}

st_status st_db_changes(st_db *db, const st_changes_opts *o, st_change_fn fn, void *ctx,
                        uint64_t *out_last_seq, uint64_t *out_pending, st_error *err)
{
    st_changes_opts def;
    if (!o) {
        st_changes_opts_init(&def);
        o = &def;
    }
    scan s = {.db = db, .o = o, .fn = fn, .ctx = ctx, .err = err, .st = ST_OK};
    s.limit = o->limit == 0 ? 1 : o->limit;
    st_buf_init(&s.doc, 0);
    s.c = st_db_reader(db, err);
    if (!s.c)
        return err ? err->code : ST_E_IO;
    st_counters ctr;
    st_status st = ST_OK;
    st = st_store_counters_get(s.c, &ctr, err);
    uint64_t update_seq = ctr.update_seq;
    if (st == ST_OK) {
        bool need_body = o->include_docs || (o->filter && o->filter_needs_doc) || o->selector;
        if (o->doc_ids)
            st = scan_ids(&s, err);
        else
            st = st_store_scan_seq(s.c, o->descending ? 0 : o->since, o->descending, need_body,
                                   on_row, &s, err);
        if (st == ST_OK)
            st = s.st;
    }
    uint64_t last = s.last_seq;
    /* The whole range was read: last_seq is where the db stands. */
    if (s.emitted < s.limit && !o->descending)
        last = update_seq > o->since ? update_seq : o->since;
    if (s.emitted == 0 && o->descending)
        last = update_seq;
    uint64_t pending = 0;
    if (st == ST_OK && out_pending && !o->descending)
        st = pending_after(s.c, last, update_seq, &pending, err);
    if (st == ST_OK) {
        if (out_last_seq)
            *out_last_seq = last;
        if (out_pending)
            *out_pending = pending;
    }
    st_db_reader_put(db, s.c);
    st_revtree_free(s.tree);
    free(s.leaves);
    free(s.revs);
    free(s.rev_ptrs);
    st_buf_free(&s.doc);
    return st;
}

/* ---------------------------------------------------------------- all_docs */

typedef struct ad {
    st_conn *c;
    const st_alldocs_opts *o;
    st_alldocs_fn fn;
    void *ctx;
    uint64_t left;
    st_status st;
    st_error *err;
    st_buf doc;
    st_revtree *tree;
    bool skip_first;        /* startkey_exclusive: drop a row equal to startkey */
    size_t key_index;
} ad;

static int ad_emit(ad *a, const char *key, const st_row_view *row)
{
    st_revtree_free(a->tree);
    a->tree = NULL;
    if ((a->st = st_revtree_decode(row->tree, row->tree_len, &a->tree, a->err)) != ST_OK)
        return 1;
    int win = st_revtree_winner(a->tree);
    st_rev r;
    char rs[ST_REV_STR_MAX];
    st_revtree_node(a->tree, (size_t)win, &r, NULL, NULL);
    st_rev_format(&r, rs, sizeof rs);
    st_alldocs_row out = {.id = row->id, .key = key, .rev = rs, .deleted = row->deleted,
                          .key_index = a->key_index};
    if (a->o->include_docs && !row->deleted) {
        st_buf_reset(&a->doc);
        st_jw w;
        if ((a->st = st_jw_init(&w, &a->doc)) != ST_OK) {
            st_fail(a->err, a->st, "out of memory");
            return 1;
        }
        st_get_opts go = {.conflicts = a->o->conflicts, .atts = a->o->atts};
        a->st = st_db_render(a->c, row->id, a->tree, (size_t)win, row->body, row->body_len,
                             row->atts, row->atts_len, row->seq, &go, &w, a->err);
        st_jw_free(&w);
        if (a->st != ST_OK)
            return 1;
        out.doc_json = a->doc.data;
        out.doc_len = a->doc.len;
    }
    if (a->fn(a->ctx, &out))
        return 1;
    return --a->left == 0;
}

static int ad_row(void *ctx, const st_row_view *row)
{
    ad *a = ctx;
    if (a->skip_first) {
        a->skip_first = false;
        if (strcmp(row->id, a->o->startkey) == 0)
            return 0;
    }
    return ad_emit(a, row->id, row);
}

st_status st_db_all_docs(st_db *db, const st_alldocs_opts *o,
                         void (*head)(void *ctx, uint64_t total_rows, uint64_t offset),
                         st_alldocs_fn fn, void *ctx, st_error *err)
{
    st_alldocs_opts def;
    if (!o) {
        st_alldocs_opts_init(&def);
        o = &def;
    }
    ad a = {.o = o, .fn = fn, .ctx = ctx, .left = o->limit, .err = err};
    st_buf_init(&a.doc, 0);
    a.c = st_db_reader(db, err);
    if (!a.c)
        return err ? err->code : ST_E_IO;
    st_doc_rec rec = {0};
    st_counters ctr;
    uint64_t offset = 0;
    st_status st = ST_OK;
    st = st_store_counters_get(a.c, &ctr, err);
    uint64_t total = ctr.doc_count;
    if (st == ST_OK && !o->keys && head) { /* counting is a scan: only when asked */
        st = st_store_count_before(a.c, o->startkey, o->descending, &offset, err);
        offset += o->skip;
    }
    if (st != ST_OK)
        goto end;
    if (head)
        head(ctx, total, offset > total ? total : offset);
    if (o->limit == 0)
        goto end;
    if (!o->keys) {
        a.skip_first = o->startkey && o->startkey_exclusive;
        st = st_store_scan_ids(a.c, o->startkey, o->endkey, o->inclusive_end, o->descending,
                               o->skip, true, ad_row, &a, err);
        if (st == ST_OK)
            st = a.st;
        goto end;
    }
    uint64_t skip = o->skip;
    for (size_t i = 0; i < o->n_keys; i++) {
        size_t k = o->descending ? o->n_keys - 1 - i : i;
        const char *key = o->keys[k];
        a.key_index = k;
        st = key ? st_store_doc_get(a.c, key, &rec, err) : ST_E_NOT_FOUND;
        if (st != ST_OK && st != ST_E_NOT_FOUND)
            break;
        if (skip > 0) {
            skip--;
            st = ST_OK;
            continue;
        }
        if (st == ST_E_NOT_FOUND) {
            st = ST_OK;
            st_alldocs_row row = {.key = key, .not_found = true, .key_index = k};
            if (fn(ctx, &row) || --a.left == 0)
                break;
            continue;
        }
        st_row_view row = {
            .seq = rec.seq, .id = key, .deleted = rec.deleted,
            .tree = rec.tree.data, .tree_len = rec.tree.len,
            .body = rec.body.data, .body_len = rec.body.len,
            .atts = rec.atts.len ? rec.atts.data : NULL, .atts_len = rec.atts.len,
        };
        if (ad_emit(&a, key, &row))
            break;
    }
    if (st == ST_OK)
        st = a.st;
end:
    st_doc_rec_free(&rec);
    st_db_reader_put(db, a.c);
    st_revtree_free(a.tree);
    st_buf_free(&a.doc);
    return st;
}
