/* view_fold.c — reading the reduction tree (view_tree.c describes it):
 * counting the rows of a range (a view's offset and total), and folding a
 * range's reductions, grouped or not, from stored blocks wherever a block
 * lies wholly inside the range and one group.
 */
#include "view_tree_int.h"

#include <stdlib.h>
#include <string.h>

#define ROWS_PIECE_MAX 1024 /* rows of one group reduced together before more come */

/* ---- counting ---------------------------------------------------------------- */

typedef struct range {
    const unsigned char *lo, *hi; /* NULL: open */
    size_t lo_n, hi_n;
} range;

/* Does [minp, maxp] lie inside the range / touch it? */
static bool inside(const range *q, const unsigned char *minp, size_t minp_n,
                   const unsigned char *maxp, size_t maxp_n)
{
    return (!q->lo || vt_bcmp(minp, minp_n, q->lo, q->lo_n) >= 0) &&
           (!q->hi || vt_bcmp(maxp, maxp_n, q->hi, q->hi_n) < 0);
}

static bool touches(const range *q, const unsigned char *minp, size_t minp_n,
                    const unsigned char *maxp, size_t maxp_n)
{
    return (!q->lo || vt_bcmp(maxp, maxp_n, q->lo, q->lo_n) >= 0) &&
           (!q->hi || vt_bcmp(minp, minp_n, q->hi, q->hi_n) < 0);
}

/* The tighter of a block bound and a query bound. */
static void clamp(const range *q, const unsigned char *from, size_t from_n, bool has_from,
                  const unsigned char *to, size_t to_n, bool has_to, range *out)
{
    *out = *q;
    if (has_from && (!q->lo || vt_bcmp(from, from_n, q->lo, q->lo_n) > 0)) {
        out->lo = from;
        out->lo_n = from_n;
    }
    if (has_to && (!q->hi || vt_bcmp(to, to_n, q->hi, q->hi_n) < 0)) {
        out->hi = to;
        out->hi_n = to_n;
    }
}

static st_status count_level(st_vconn *c, unsigned view, unsigned lvl, const range *q,
                             const unsigned char *from, size_t from_n, bool has_from,
                             const unsigned char *to, size_t to_n, bool has_to, uint64_t *acc,
                             st_error *err)
{
    if (lvl == 0) {
        range r;
        uint64_t n = 0;
        clamp(q, from, from_n, has_from, to, to_n, has_to, &r);
        if (r.lo && r.hi && vt_bcmp(r.lo, r.lo_n, r.hi, r.hi_n) >= 0)
            return ST_OK;
        st_status st = st_vrow_count(c, view, r.lo, r.lo_n, r.hi, r.hi_n, &n, err);
        *acc += n;
        return st;
    }
    items it = {0};
    vt_load_ctx l = {&it, ST_OK};
    st_status st = st_vblock_scan(c, view, lvl, has_from ? from : NULL, from_n, has_to ? to : NULL,
                                  to_n, false, vt_load_block, &l, err);
    if (st == ST_OK && l.st != ST_OK)
        st = st_fail(err, l.st, "out of memory");
    for (size_t i = 0; st == ST_OK && i < it.n; i++) {
        const item *x = &it.v[i];
        if (x->n == 0 || !touches(q, vt_at(&it, x->minp), x->minp.len, vt_at(&it, x->maxp), x->maxp.len))
            continue;
        if (inside(q, vt_at(&it, x->minp), x->minp.len, vt_at(&it, x->maxp), x->maxp.len)) {
            *acc += x->n;
            continue;
        }
        bool last = i + 1 == it.n;
        st = count_level(c, view, lvl - 1, q, vt_at(&it, x->lo), x->lo.len, true,
                         last ? to : vt_at(&it, it.v[i + 1].lo), last ? to_n : it.v[i + 1].lo.len,
                         last ? has_to : true, acc, err);
    }
    vt_items_free(&it);
    return st;
}

st_status vtree_count(st_vconn *c, unsigned view, const void *lo, size_t lo_n, const void *hi,
                      size_t hi_n, uint64_t *out, st_error *err)
{
    unsigned top = 0;
    range q = {lo, hi, lo_n, hi_n};
    *out = 0;
    st_status st = st_vblock_top(c, view, &top, err);
    if (st == ST_OK)
        st = count_level(c, view, top, &q, NULL, 0, false, NULL, 0, false, out, err);
    return st;
}

/* ---- folding ------------------------------------------------------------------ */

typedef struct fold {
    st_vconn *c;
    unsigned view;
    vred *r;
    st_collate_mode m;
    range q;
    bool desc;
    int level;
    const vfold_out *out;
    st_error *err;
    st_status st;
    bool stop;
    bool have;              /* a group is open */
    st_buf gbytes, gkey;    /* its prefix and its key JSON */
    st_buf gend;            /* what every key of it starts with (st_vkey_group_end) */
    items rows;             /* its rows not yet reduced */
    st_buf reds;            /* its reductions, back to back */
    size_t *red_len;
    size_t nreds, reds_cap;
    st_buf tmp, bound;
} fold;

static st_status add_red(fold *f, const char *red, size_t n)
{
    if (f->nreds == f->reds_cap) {
        size_t nc = f->reds_cap ? f->reds_cap * 2 : 32;
        size_t *g = realloc(f->red_len, nc * sizeof *g);
        if (!g)
            return st_fail(f->err, ST_E_NOMEM, "out of memory");
        f->red_len = g;
        f->reds_cap = nc;
    }
    if (st_buf_add(&f->reds, red, n) != ST_OK)
        return st_fail(f->err, ST_E_NOMEM, "out of memory");
    f->red_len[f->nreds++] = n;
    return ST_OK;
}

/* The open group's rows, reduced into one more reduction. */
static st_status reduce_rows(fold *f)
{
    if (f->rows.n == 0)
        return ST_OK;
    vred_row *rows = malloc(f->rows.n * sizeof *rows);
    if (!rows)
        return st_fail(f->err, ST_E_NOMEM, "out of memory");
    const items *k = &f->rows;
    for (size_t i = 0; i < k->n; i++)
        rows[i] = (vred_row){(const char *)vt_at(k, k->v[i].mink), k->v[i].mink.len,
                             (const char *)vt_at(k, k->v[i].doc), (const char *)vt_at(k, k->v[i].val),
                             k->v[i].val.len};
    st_buf_reset(&f->tmp);
    st_status st = vred_rows(f->r, rows, k->n, &f->tmp, f->err);
    free(rows);
    vt_items_reset(&f->rows);
    return st == ST_OK ? add_red(f, f->tmp.data ? f->tmp.data : "", f->tmp.len) : st;
}

static st_status flush(fold *f)
{
    if (!f->have)
        return ST_OK;
    f->have = false;
    st_status st = reduce_rows(f);
    if (st != ST_OK || f->nreds == 0)
        return st;
    const char **v = malloc(f->nreds * sizeof *v);
    if (!v)
        return st_fail(f->err, ST_E_NOMEM, "out of memory");
    size_t off = 0;
    for (size_t i = 0; i < f->nreds; i++) {
        v[i] = f->reds.data + off;
        off += f->red_len[i];
    }
    st_buf_reset(&f->tmp);
    st = vred_rereduce(f->r, v, f->red_len, f->nreds, &f->tmp, f->err);
    free(v);
    f->nreds = 0;
    st_buf_reset(&f->reds);
    if (st != ST_OK)
        return st;
    /* Ascending, the next group starts above every key of this one;
     * descending, below its first. */
    st_buf_reset(&f->bound);
    const st_buf *g = f->desc ? &f->gbytes : &f->gend;
    if (f->level != 0 &&
        (st_buf_add(&f->bound, g->data ? g->data : "", g->len) != ST_OK ||
         (!f->desc && st_buf_addc(&f->bound, (char)0xFF) != ST_OK)))
        return st_fail(f->err, ST_E_NOMEM, "out of memory");
    if (f->out->emit(f->out->ctx, f->gkey.data ? f->gkey.data : "null", f->gkey.len,
                     f->tmp.data ? f->tmp.data : "null", f->tmp.len,
                     (const unsigned char *)f->bound.data, f->bound.len))
        f->stop = true;
    return ST_OK;
}

/* A row or a block of the group whose prefix is g[0..gl) (g: a position
 * or sort key of gfull bytes) and whose key JSON is key: flush the open
 * group when it is another. */
static st_status enter_group(fold *f, const unsigned char *g, size_t gl, size_t gfull,
                             const char *key, size_t key_len)
{
    if (f->have && vt_bcmp(f->gbytes.data ? f->gbytes.data : "", f->gbytes.len, g, gl) == 0)
        return ST_OK;
    st_status st = flush(f);
    if (st != ST_OK || f->stop)
        return st;
    st_buf_reset(&f->gbytes);
    st_buf_reset(&f->gkey);
    st_buf_reset(&f->gend);
    size_t ge = st_vkey_group_end(g, gfull, f->level, f->m);
    if ((gl && st_buf_add(&f->gbytes, g, gl) != ST_OK) || (ge && st_buf_add(&f->gend, g, ge) != ST_OK) ||
        st_vkey_group_json(&f->gkey, key, key_len, f->level) != ST_OK)
        return st_fail(f->err, ST_E_NOMEM, "out of memory");
    f->have = true;
    return ST_OK;
}

static int fold_row(void *ctx, const st_vrow *r)
{
    fold *f = ctx;
    size_t gl = st_vkey_group_len(r->pos, r->pos_len, f->level, f->m);
    if ((f->st = enter_group(f, r->pos, gl, r->pos_len, r->key, r->key_len)) != ST_OK || f->stop)
        return 1;
    vt_load_ctx l = {&f->rows, ST_OK};
    vt_load_row(&l, r);
    if (l.st != ST_OK) {
        f->st = st_fail(f->err, l.st, "out of memory");
        return 1;
    }
    if (f->rows.n >= ROWS_PIECE_MAX && (f->st = reduce_rows(f)) != ST_OK)
        return 1;
    return 0;
}

/* One block lies in one group: the same prefix at both ends. */
static bool one_group(const fold *f, const items *it, const item *x, size_t *gl)
{
    const unsigned char *a = vt_at(it, x->minp), *b = vt_at(it, x->maxp);
    size_t al = st_vkey_group_len(a, x->minp.len, f->level, f->m);
    size_t bl = st_vkey_group_len(b, x->maxp.len, f->level, f->m);
    *gl = al;
    return al == bl && memcmp(a, b, al) == 0;
}

static st_status fold_level(fold *f, unsigned lvl, const unsigned char *from, size_t from_n,
                            bool has_from, const unsigned char *to, size_t to_n, bool has_to)
{
    if (lvl == 0) {
        range r;
        clamp(&f->q, from, from_n, has_from, to, to_n, has_to, &r);
        if (r.lo && r.hi && vt_bcmp(r.lo, r.lo_n, r.hi, r.hi_n) >= 0)
            return ST_OK;
        st_status st = st_vrow_scan(f->c, f->view, r.lo, r.lo_n, r.hi, r.hi_n, f->desc, 0, fold_row,
                                    f, f->err);
        return st != ST_OK ? st : f->st;
    }
    items it = {0};
    vt_load_ctx l = {&it, ST_OK};
    st_status st = st_vblock_scan(f->c, f->view, lvl, has_from ? from : NULL, from_n,
                                  has_to ? to : NULL, to_n, false, vt_load_block, &l, f->err);
    if (st == ST_OK && l.st != ST_OK)
        st = st_fail(f->err, l.st, "out of memory");
    for (size_t k = 0; st == ST_OK && !f->stop && k < it.n; k++) {
        size_t i = f->desc ? it.n - 1 - k : k;
        const item *x = &it.v[i];
        if (x->n == 0 || !touches(&f->q, vt_at(&it, x->minp), x->minp.len, vt_at(&it, x->maxp),
                                  x->maxp.len))
            continue;
        size_t gl = 0;
        if (x->val.set && one_group(f, &it, x, &gl) &&
            inside(&f->q, vt_at(&it, x->minp), x->minp.len, vt_at(&it, x->maxp), x->maxp.len)) {
            if ((st = enter_group(f, vt_at(&it, x->minp), gl, x->minp.len,
                                  (const char *)vt_at(&it, x->mink), x->mink.len)) == ST_OK &&
                !f->stop)
                st = add_red(f, (const char *)vt_at(&it, x->val), x->val.len);
            continue;
        }
        bool last = i + 1 == it.n;
        st = fold_level(f, lvl - 1, vt_at(&it, x->lo), x->lo.len, true,
                        last ? to : vt_at(&it, it.v[i + 1].lo), last ? to_n : it.v[i + 1].lo.len,
                        last ? has_to : true);
    }
    vt_items_free(&it);
    return st;
}

st_status vtree_fold(st_vconn *c, unsigned view, vred *r, st_collate_mode m, const void *lo,
                     size_t lo_n, const void *hi, size_t hi_n, bool descending, int level,
                     const vfold_out *out, st_error *err)
{
    fold f;
    memset(&f, 0, sizeof f);
    f.c = c;
    f.view = view;
    f.r = r;
    f.m = m;
    f.q = (range){lo, hi, lo_n, hi_n};
    f.desc = descending;
    f.level = level;
    f.out = out;
    f.err = err;
    unsigned top = 0;
    st_status st = st_vblock_top(c, view, &top, err);
    if (st == ST_OK)
        st = fold_level(&f, top, NULL, 0, false, NULL, 0, false);
    if (st == ST_OK && !f.stop)
        st = flush(&f);
    st_buf_free(&f.gbytes);
    st_buf_free(&f.gkey);
    st_buf_free(&f.gend);
    vt_items_free(&f.rows);
    st_buf_free(&f.reds);
    free(f.red_len);
    st_buf_free(&f.tmp);
    st_buf_free(&f.bound);
    return st;
}
