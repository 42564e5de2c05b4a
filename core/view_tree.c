/* view_tree.c — the reduction tree and its upkeep (reading it is
 * view_fold.c's): what makes a ranged or grouped reduce,
 * and a view's offset, cost a few hundred stored values instead of every
 * row.
 *
 * CouchDB keeps a reduction in every node of its b-tree.  SQLite's b-trees
 * cannot carry one, so the tree lives beside the rows, in blocks: a level-1
 * block covers the rows from its `lo` position up to the next block's lo,
 * a level-2 block covers the level-1 blocks from its lo to the next one,
 * and so on.  Each block stores its row count, its first and last row
 * position, its first key and its reduction.  The first block of every
 * level starts at "" (covers everything before the second), and every
 * boundary of a level is also a boundary of the level below, so blocks
 * nest.  Membership is by position, so merging a block into the one
 * before it is deleting its record, and splitting one is adding records.
 *
 * Upkeep: after a batch of row changes, the level-1 blocks holding the
 * changed positions are recomputed from their rows (split above 2x the
 * target size, merged into the previous block below a quarter of it),
 * then their parents from their children, up to the top; the top level
 * grows a new root level when it holds too many blocks.  A large batch
 * (an index's first build) skips the upkeep and rebuilds the whole tree in
 * one pass at the end (vtree_rebuild).  Level-1 cuts prefer key changes,
 * so a key emitted by many documents gets blocks of its own and a grouped
 * reduce takes their reductions whole.
 *
 * Folding a range: from the top, a block wholly inside the range (and
 * inside one group) contributes its stored reduction; one that straddles
 * an edge is opened; rows are read only inside the blocks at the edges.
 */
#include "view_tree_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LEVELS 16

/* The children of block (lvl, [from, to)): rows for level 1, blocks of
 * the level below otherwise. */
static st_status load_children(st_vconn *c, unsigned view, unsigned lvl, const void *from,
                               size_t from_n, const void *to, size_t to_n, items *it,
                               st_error *err)
{
    vt_load_ctx l = {it, ST_OK};
    vt_items_reset(it);
    st_status st = lvl == 1 ? st_vrow_scan(c, view, from, from_n, to, to_n, false, 0, vt_load_row, &l,
                                           err)
                            : st_vblock_scan(c, view, lvl - 1, from, from_n, to, to_n, false,
                                             vt_load_block, &l, err);
    if (st == ST_OK && l.st != ST_OK)
        st = st_fail(err, l.st, "out of memory");
    return st;
}

/* ---- a sorted set of byte strings -------------------------------------- */

typedef struct bset {
    st_buf *v;
    size_t n, cap;
} bset;

static void bset_free(bset *s)
{
    for (size_t i = 0; i < s->cap; i++)
        st_buf_free(&s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static st_status bset_add(bset *s, const void *p, size_t n)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = vt_bcmp(s->v[mid].data ? s->v[mid].data : "", s->v[mid].len, p, n);
        if (c == 0)
            return ST_OK;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        st_buf *g = realloc(s->v, nc * sizeof *g);
        if (!g)
            return ST_E_NOMEM;
        for (size_t i = s->cap; i < nc; i++)
            st_buf_init(&g[i], 0);
        s->v = g;
        s->cap = nc;
    }
    st_buf spare = s->v[s->n]; /* reuse the buffer past the end */
    memmove(&s->v[lo + 1], &s->v[lo], (s->n - lo) * sizeof *s->v);
    s->v[lo] = spare;
    s->n++;
    st_buf_reset(&s->v[lo]);
    return n ? st_buf_add(&s->v[lo], p, n) : ST_OK;
}

/* Move the greatest element into out. */
static st_status bset_pop(bset *s, st_buf *out)
{
    st_buf *b = &s->v[--s->n];
    st_buf_reset(out);
    return b->len ? st_buf_add(out, b->data, b->len) : ST_OK;
}

/* ---- recomputing blocks -------------------------------------------------- */

typedef struct tctx {
    st_vconn *c;
    unsigned view;
    vred *r;
    st_error *err;
    unsigned top;
    bset dirty[MAX_LEVELS + 2];
    bset changed;
    items kids;
    st_buf red, tmp, lo, next;
} tctx;

static unsigned max_children(unsigned lvl) { return lvl == 1 ? 2 * VT_ROWS : 2 * VT_FAN; }
static unsigned min_children(unsigned lvl) { return lvl == 1 ? VT_ROWS / 4 : VT_FAN / 4; }
static unsigned target_children(unsigned lvl) { return lvl == 1 ? VT_ROWS : VT_FAN; }

/* The reduction of kids[a..b) into t->red (len 0 when none). */
static st_status reduce_range(tctx *t, unsigned lvl, size_t a, size_t b, bool *has)
{
    const items *k = &t->kids;
    *has = false;
    st_buf_reset(&t->red);
    if (!t->r->def || !t->r->def->reduce)
        return ST_OK;
    size_t n = 0;
    for (size_t i = a; i < b; i++)
        n += k->v[i].n > 0;
    if (n == 0)
        return ST_OK;
    st_status st;
    if (lvl == 1) {
        vred_row *rows = malloc(n * sizeof *rows);
        if (!rows)
            return st_fail(t->err, ST_E_NOMEM, "out of memory");
        for (size_t i = a, j = 0; i < b; i++, j++)
            rows[j] = (vred_row){(const char *)vt_at(k, k->v[i].mink), k->v[i].mink.len,
                                 (const char *)vt_at(k, k->v[i].doc), (const char *)vt_at(k, k->v[i].val),
                                 k->v[i].val.len};
        st = vred_rows(t->r, rows, n, &t->red, t->err);
        free(rows);
    } else {
        const char **reds = malloc(n * sizeof *reds);
        size_t *lens = malloc(n * sizeof *lens);
        size_t j = 0;
        st = reds && lens ? ST_OK : st_fail(t->err, ST_E_NOMEM, "out of memory");
        for (size_t i = a; st == ST_OK && i < b; i++) {
            if (k->v[i].n == 0)
                continue;
            if (!k->v[i].val.set) {
                st = st_fail(t->err, ST_E_IO, "a view index block has no reduction");
                break;
            }
            reds[j] = (const char *)vt_at(k, k->v[i].val);
            lens[j++] = k->v[i].val.len;
        }
        if (st == ST_OK)
            st = vred_rereduce(t->r, reds, lens, j, &t->red, t->err);
        free(reds);
        free(lens);
    }
    *has = st == ST_OK;
    return st;
}

/* Write the block made of kids[a..b), starting at lo. */
static st_status write_block(tctx *t, unsigned lvl, const void *lo, size_t lo_n, size_t a,
                             size_t b)
{
    const items *k = &t->kids;
    st_vblock blk = {.lo = lo, .lo_len = lo_n};
    size_t first = b, last = b;
    for (size_t i = a; i < b; i++) {
        if (k->v[i].n == 0)
            continue;
        if (first == b)
            first = i;
        last = i;
        blk.n += k->v[i].n;
    }
    if (first < b) {
        blk.minp = vt_at(k, k->v[first].minp);
        blk.minp_len = k->v[first].minp.len;
        blk.maxp = vt_at(k, k->v[last].maxp);
        blk.maxp_len = k->v[last].maxp.len;
        blk.mink = (const char *)vt_at(k, k->v[first].mink);
        blk.mink_len = k->v[first].mink.len;
    }
    bool has = false;
    st_status st = reduce_range(t, lvl, a, b, &has);
    if (st != ST_OK)
        return st;
    if (has) {
        blk.red = t->red.data ? t->red.data : "";
        blk.red_len = t->red.len;
    }
    return st_vblock_put(t->c, t->view, lvl, &blk, t->err);
}

/* Where kids[0..n) are cut into blocks of about `target`: at key changes
 * when the block so far holds one key (level 1), never leaving a tail
 * smaller than a quarter.  cuts[] gets the first index of every block but
 * the first; returns how many. */
static size_t cut_points(const items *k, size_t n, unsigned lvl, st_collate_mode m, size_t *cuts)
{
    size_t target = target_children(lvl), quarter = target / 4, nc = 0, start = 0;
    bool pure = true;
    for (size_t i = 1; i < n; i++) {
        bool same = true;
        if (lvl == 1) {
            const unsigned char *a = vt_at(k, k->v[i - 1].lo), *b = vt_at(k, k->v[i].lo);
            size_t al = st_vkey_len(a, k->v[i - 1].lo.len, m), bl = st_vkey_len(b, k->v[i].lo.len, m);
            same = al == bl && memcmp(a, b, al) == 0;
        }
        size_t count = i - start;
        bool cut = count >= target || (lvl == 1 && !same && pure && count >= quarter);
        if (cut && n - i < quarter)
            break; /* the rest joins this block */
        if (cut) {
            cuts[nc++] = i;
            start = i;
            pure = true;
        } else if (!same) {
            pure = false;
        }
    }
    return nc;
}

static st_status find_lo(tctx *t, unsigned lvl, const void *pos, size_t n, st_buf *out);

static int copy_lo(void *ctx, const st_vblock *b)
{
    st_buf *out = ctx;
    st_buf_reset(out);
    return b->lo_len && st_buf_add(out, b->lo, b->lo_len) != ST_OK;
}

/* The lo of the block of level lvl holding pos, into out. */
static st_status find_lo(tctx *t, unsigned lvl, const void *pos, size_t n, st_buf *out)
{
    st_buf_reset(out);
    return st_vblock_find(t->c, t->view, lvl, pos, n, copy_lo, out, t->err);
}

static bool block_exists(tctx *t, unsigned lvl, const void *lo, size_t n)
{
    st_buf_reset(&t->tmp);
    if (find_lo(t, lvl, lo, n, &t->tmp) != ST_OK)
        return false;
    return vt_bcmp(t->tmp.data ? t->tmp.data : "", t->tmp.len, lo, n) == 0;
}

/* Block (lvl, from) lost its first child: it now starts at `to` (the next
 * child below), or, when it has no child left, merges into the block
 * before it.  The same holds one level up. */
static st_status fix_parent(tctx *t, unsigned lvl, const void *from, size_t from_n,
                            const void *to, size_t to_n, bool has_to)
{
    if (lvl > t->top || !block_exists(t, lvl, from, from_n))
        return ST_OK;
    st_buf next = ST_BUF_INIT, from_copy = ST_BUF_INIT, to_copy = ST_BUF_INIT;
    st_status st = st_vblock_next(t->c, t->view, lvl, from, from_n, &next, t->err);
    bool has_next = st == ST_OK;
    if (st == ST_E_NOT_FOUND)
        st = ST_OK;
    if (st == ST_OK && (st_buf_add(&from_copy, from, from_n ? from_n : 0) != ST_OK ||
                        (has_to && to_n && st_buf_add(&to_copy, to, to_n) != ST_OK)))
        st = st_fail(t->err, ST_E_NOMEM, "out of memory");
    const char *fp = from_copy.data ? from_copy.data : "", *tp = to_copy.data ? to_copy.data : "";
    if (st == ST_OK)
        st = st_vblock_del(t->c, t->view, lvl, fp, from_copy.len, t->err);
    bool rename = has_to && (!has_next || vt_bcmp(tp, to_copy.len, next.data ? next.data : "",
                                                next.len) < 0);
    if (st == ST_OK && rename) {
        /* Its data is recomputed: only the record's place matters here. */
        st_vblock blk = {.lo = (const unsigned char *)tp, .lo_len = to_copy.len};
        st = st_vblock_put(t->c, t->view, lvl, &blk, t->err);
        if (st == ST_OK && bset_add(&t->dirty[lvl], tp, to_copy.len) != ST_OK)
            st = st_fail(t->err, ST_E_NOMEM, "out of memory");
        if (st == ST_OK)
            st = fix_parent(t, lvl + 1, fp, from_copy.len, tp, to_copy.len, true);
    } else if (st == ST_OK) {
        if ((st = find_lo(t, lvl, fp, from_copy.len, &t->tmp)) == ST_OK &&
            bset_add(&t->dirty[lvl], t->tmp.data ? t->tmp.data : "", t->tmp.len) != ST_OK)
            st = st_fail(t->err, ST_E_NOMEM, "out of memory");
        if (st == ST_OK)
            st = fix_parent(t, lvl + 1, fp, from_copy.len, next.data ? next.data : "", next.len,
                            has_next);
    }
    st_buf_free(&next);
    st_buf_free(&from_copy);
    st_buf_free(&to_copy);
    return st;
}

static st_status changed(tctx *t, const void *p, size_t n)
{
    return bset_add(&t->changed, p, n) == ST_OK ? ST_OK
                                                : st_fail(t->err, ST_E_NOMEM, "out of memory");
}

/* Recompute the dirty blocks of one level, greatest first. */
static st_status process_level(tctx *t, unsigned lvl, st_collate_mode m)
{
    st_status st = ST_OK;
    bset *dirty = &t->dirty[lvl];
    size_t *cuts = NULL;
    while (st == ST_OK && dirty->n) {
        if ((st = bset_pop(dirty, &t->lo)) != ST_OK)
            break;
        const char *lo = t->lo.data ? t->lo.data : "";
        size_t lo_n = t->lo.len;
        if (!block_exists(t, lvl, lo, lo_n))
            continue;
        st = st_vblock_next(t->c, t->view, lvl, lo, lo_n, &t->next, t->err);
        bool has_next = st == ST_OK;
        if (st == ST_E_NOT_FOUND)
            st = ST_OK;
        if (st == ST_OK)
            st = load_children(t->c, t->view, lvl, lo, lo_n, has_next ? t->next.data : NULL,
                               t->next.len, &t->kids, t->err);
        if (st == ST_OK)
            st = changed(t, lo, lo_n);
        if (st != ST_OK)
            break;
        size_t nc = t->kids.n;
        if (lo_n && nc < min_children(lvl)) {
            /* Merge into the block before: its rows are now that block's. */
            if ((st = st_vblock_del(t->c, t->view, lvl, lo, lo_n, t->err)) == ST_OK &&
                (st = find_lo(t, lvl, lo, lo_n, &t->tmp)) == ST_OK &&
                bset_add(dirty, t->tmp.data ? t->tmp.data : "", t->tmp.len) != ST_OK)
                st = st_fail(t->err, ST_E_NOMEM, "out of memory");
            if (st == ST_OK)
                st = fix_parent(t, lvl + 1, lo, lo_n, has_next ? t->next.data : "", t->next.len,
                                has_next);
            continue;
        }
        if (nc <= max_children(lvl)) {
            st = write_block(t, lvl, lo, lo_n, 0, nc);
            continue;
        }
        size_t *g = realloc(cuts, nc * sizeof *cuts);
        if (!g) {
            st = st_fail(t->err, ST_E_NOMEM, "out of memory");
            break;
        }
        cuts = g;
        size_t ncut = cut_points(&t->kids, nc, lvl, m, cuts);
        size_t start = 0;
        for (size_t i = 0; st == ST_OK && i <= ncut; i++) {
            size_t end = i < ncut ? cuts[i] : nc;
            const void *blo = i == 0 ? (const void *)lo : vt_at(&t->kids, t->kids.v[start].lo);
            size_t blo_n = i == 0 ? lo_n : t->kids.v[start].lo.len;
            st = write_block(t, lvl, blo, blo_n, start, end);
            if (st == ST_OK && i > 0)
                st = changed(t, blo, blo_n);
            start = end;
        }
    }
    free(cuts);
    return st;
}

/* The changed positions of a level mark their parents dirty. */
static st_status mark_parents(tctx *t, unsigned lvl)
{
    st_status st = ST_OK;
    for (size_t i = 0; st == ST_OK && i < t->changed.n; i++) {
        const st_buf *p = &t->changed.v[i];
        st = find_lo(t, lvl, p->data ? p->data : "", p->len, &t->tmp);
        if (st == ST_E_NOT_FOUND) {
            st = ST_OK;
            continue;
        }
        if (st == ST_OK && bset_add(&t->dirty[lvl], t->tmp.data ? t->tmp.data : "", t->tmp.len) !=
                               ST_OK)
            st = st_fail(t->err, ST_E_NOMEM, "out of memory");
    }
    t->changed.n = 0;
    return st;
}

static void tctx_free(tctx *t)
{
    for (size_t i = 0; i < MAX_LEVELS + 2; i++)
        bset_free(&t->dirty[i]);
    bset_free(&t->changed);
    vt_items_free(&t->kids);
    st_buf_free(&t->red);
    st_buf_free(&t->tmp);
    st_buf_free(&t->lo);
    st_buf_free(&t->next);
}

static st_status put_root(tctx *t, unsigned lvl)
{
    st_vblock blk = {.lo = (const unsigned char *)"", .lo_len = 0};
    st_status st = st_vblock_put(t->c, t->view, lvl, &blk, t->err);
    if (st == ST_OK && bset_add(&t->dirty[lvl], "", 0) != ST_OK)
        st = st_fail(t->err, ST_E_NOMEM, "out of memory");
    return st;
}

st_status vtree_update(st_vconn *c, unsigned view, vred *r, vtouch *touched, st_error *err)
{
    tctx t;
    memset(&t, 0, sizeof t);
    t.c = c;
    t.view = view;
    t.r = r;
    t.err = err;
    st_collate_mode m = r->def ? r->def->collation : ST_COLLATE_ICU;
    st_status st = st_vblock_top(c, view, &t.top, err);
    if (st == ST_OK && t.top == 0) {
        t.top = 1;
        st = put_root(&t, 1);
    }
    for (size_t i = 0; st == ST_OK && i < touched->n; i++) {
        const st_buf *p = &touched->pos[i];
        if ((st = changed(&t, p->data ? p->data : "", p->len)) != ST_OK)
            break;
    }
    if (st == ST_OK)
        st = mark_parents(&t, 1);
    for (unsigned lvl = 1; st == ST_OK && lvl <= t.top && lvl <= MAX_LEVELS; lvl++) {
        if ((st = process_level(&t, lvl, m)) != ST_OK)
            break;
        if (lvl == t.top) {
            uint64_t count = 0;
            st = st_vblock_count(c, view, lvl, &count, err);
            if (st == ST_OK && count > 2 * VT_FAN && lvl < MAX_LEVELS) {
                t.top = lvl + 1;
                st = put_root(&t, lvl + 1);
            }
        }
        if (st == ST_OK && lvl < t.top)
            st = mark_parents(&t, lvl + 1);
    }
    tctx_free(&t);
    return st;
}

/* ---- building from nothing ------------------------------------------------ */

typedef struct build {
    tctx *t;
    st_collate_mode m;
    items *lvl1;            /* the level-1 blocks made so far */
    size_t start;           /* first kid of the block being filled */
    bool pure;
    st_status st;
} build;

/* Append a finished block of kids[a..b) at level lvl to out (and store it). */
static st_status emit_block(tctx *t, unsigned lvl, size_t a, size_t b, items *out)
{
    const items *k = &t->kids;
    const void *lo = a == 0 && out->n == 0 ? (const void *)"" : vt_at(k, k->v[a].lo);
    size_t lo_n = a == 0 && out->n == 0 ? 0 : k->v[a].lo.len;
    st_status st = write_block(t, lvl, lo, lo_n, a, b);
    if (st != ST_OK)
        return st;
    /* Keep what the next level needs. */
    item *x = vt_items_push(out);
    size_t first = a, last = a;
    uint64_t n = 0;
    for (size_t i = a; i < b; i++) {
        n += k->v[i].n;
        if (k->v[i].n && n == k->v[i].n)
            first = i;
        if (k->v[i].n)
            last = i;
    }
    bool some = n > 0;
    if (!x || vt_put_span(out, &x->lo, lo, lo_n, true) != ST_OK ||
        vt_put_span(out, &x->minp, some ? vt_at(k, k->v[first].minp) : NULL,
                 some ? k->v[first].minp.len : 0, some) != ST_OK ||
        vt_put_span(out, &x->maxp, some ? vt_at(k, k->v[last].maxp) : NULL,
                 some ? k->v[last].maxp.len : 0, some) != ST_OK ||
        vt_put_span(out, &x->mink, some ? vt_at(k, k->v[first].mink) : NULL,
                 some ? k->v[first].mink.len : 0, some) != ST_OK ||
        vt_put_span(out, &x->val, t->red.data, t->red.len, t->red.len > 0) != ST_OK)
        return st_fail(t->err, ST_E_NOMEM, "out of memory");
    x->n = n;
    return ST_OK;
}

/* Level 1 from a stream of rows, kept at most one block's worth at a time. */
static int build_row(void *ctx, const st_vrow *r)
{
    build *b = ctx;
    tctx *t = b->t;
    items *k = &t->kids;
    size_t n = k->n;
    if (n > 0) {
        const unsigned char *a = vt_at(k, k->v[n - 1].lo);
        size_t al = st_vkey_len(a, k->v[n - 1].lo.len, b->m), bl = st_vkey_len(r->pos, r->pos_len, b->m);
        bool same = al == bl && memcmp(a, r->pos, al) == 0;
        if (n >= VT_ROWS || (!same && b->pure && n >= VT_ROWS / 4)) {
            if ((b->st = emit_block(t, 1, 0, n, b->lvl1)) != ST_OK)
                return 1;
            vt_items_reset(k);
            b->pure = true;
        } else if (!same) {
            b->pure = false;
        }
    }
    vt_load_ctx l = {k, ST_OK};
    vt_load_row(&l, r);
    if (l.st != ST_OK) {
        b->st = st_fail(t->err, l.st, "out of memory");
        return 1;
    }
    return 0;
}

st_status vtree_rebuild(st_vconn *c, unsigned view, vred *r, st_error *err)
{
    tctx t;
    memset(&t, 0, sizeof t);
    t.c = c;
    t.view = view;
    t.r = r;
    t.err = err;
    items cur = {0};
    build b = {&t, r->def ? r->def->collation : ST_COLLATE_ICU, &cur, 0, true, ST_OK};
    st_status st = st_vblock_clear(c, view, err);
    if (st == ST_OK)
        st = st_vrow_scan(c, view, NULL, 0, NULL, 0, false, 0, build_row, &b, err);
    if (st == ST_OK)
        st = b.st;
    if (st == ST_OK && (t.kids.n > 0 || cur.n == 0))
        st = emit_block(&t, 1, 0, t.kids.n, &cur);
    /* Each level from the one below until one is small enough to be the top. */
    for (unsigned lvl = 2; st == ST_OK && cur.n > 2 * VT_FAN && lvl <= MAX_LEVELS; lvl++) {
        items tmp = t.kids;
        t.kids = cur;       /* the finished level is the children now */
        cur = tmp;
        vt_items_reset(&cur);
        for (size_t a = 0; st == ST_OK && a < t.kids.n; a += VT_FAN) {
            size_t e = a + VT_FAN < t.kids.n ? a + VT_FAN : t.kids.n;
            if (t.kids.n - e < VT_FAN / 4)
                e = t.kids.n; /* no small tail */
            st = emit_block(&t, lvl, a, e, &cur);
            if (e == t.kids.n)
                break;
        }
    }
    vt_items_free(&cur);
    tctx_free(&t);
    return st;
}

/* ---- touched positions ---------------------------------------------------------- */

st_status vtouch_add(vtouch *t, const void *pos, size_t n)
{
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        st_buf *g = realloc(t->pos, nc * sizeof *g);
        if (!g)
            return ST_E_NOMEM;
        for (size_t i = t->cap; i < nc; i++)
            st_buf_init(&g[i], 0);
        t->pos = g;
        t->cap = nc;
    }
    st_buf *b = &t->pos[t->n++];
    st_buf_reset(b);
    return st_buf_add(b, pos, n);
}

void vtouch_free(vtouch *t)
{
    for (size_t i = 0; i < t->cap; i++)
        st_buf_free(&t->pos[i]);
    free(t->pos);
    memset(t, 0, sizeof *t);
}
