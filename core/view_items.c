/* view_items.c — one level of the reduction tree in memory: its children
 * (rows at level 1, blocks above) as spans of one arena (see
 * view_tree_int.h).
 */
#include "view_tree_int.h"

#include <stdlib.h>
#include <string.h>

/* memcmp order, a prefix first: SQLite's BLOB order. */
int vt_bcmp(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

void vt_items_reset(items *it)
{
    st_buf_reset(&it->arena);
    it->n = 0;
}

void vt_items_free(items *it)
{
    st_buf_free(&it->arena);
    free(it->v);
    memset(it, 0, sizeof *it);
}

st_status vt_put_span(items *it, span *s, const void *p, size_t n, bool set)
{
    s->off = it->arena.len;
    s->len = n;
    s->set = set;
    return n ? st_buf_add(&it->arena, p, n) : ST_OK;
}

const unsigned char *vt_at(const items *it, span s)
{
    return (const unsigned char *)(it->arena.data ? it->arena.data + s.off : "");
}

item *vt_items_push(items *it)
{
    if (it->n == it->cap) {
        size_t nc = it->cap ? it->cap * 2 : 64;
        item *g = realloc(it->v, nc * sizeof *g);
        if (!g)
            return NULL;
        it->v = g;
        it->cap = nc;
    }
    item *x = &it->v[it->n++];
    memset(x, 0, sizeof *x);
    return x;
}

int vt_load_row(void *ctx, const st_vrow *r)
{
    vt_load_ctx *l = ctx;
    item *x = vt_items_push(l->it);
    if (!x || vt_put_span(l->it, &x->lo, r->pos, r->pos_len, true) != ST_OK ||
        vt_put_span(l->it, &x->mink, r->key, r->key_len, true) != ST_OK ||
        vt_put_span(l->it, &x->val, r->value, r->value_len, true) != ST_OK ||
        vt_put_span(l->it, &x->doc, r->doc, strlen(r->doc) + 1, true) != ST_OK) {
        l->st = ST_E_NOMEM;
        return 1;
    }
    x->minp = x->maxp = x->lo;
    x->n = 1;
    return 0;
}

int vt_load_block(void *ctx, const st_vblock *b)
{
    vt_load_ctx *l = ctx;
    item *x = vt_items_push(l->it);
    if (!x || vt_put_span(l->it, &x->lo, b->lo, b->lo_len, true) != ST_OK ||
        vt_put_span(l->it, &x->minp, b->minp, b->minp_len, b->minp != NULL) != ST_OK ||
        vt_put_span(l->it, &x->maxp, b->maxp, b->maxp_len, b->maxp != NULL) != ST_OK ||
        vt_put_span(l->it, &x->mink, b->mink, b->mink_len, b->mink != NULL) != ST_OK ||
        vt_put_span(l->it, &x->val, b->red, b->red_len, b->red != NULL) != ST_OK) {
        l->st = ST_E_NOMEM;
        return 1;
    }
    x->n = b->n;
    return 0;
}

