/* view_tree_int.h — what the reduction tree's files share (internal to
 * core): view_tree.c keeps the tree up to date, view_fold.c reads it
 * (counting, folding reductions over ranges and groups), view_items.c
 * holds one level's children in memory for both.
 */
#ifndef ST_VIEW_TREE_INT_H
#define ST_VIEW_TREE_INT_H

#include "view_int.h"

/* memcmp order, a prefix first: SQLite's BLOB order. */
int vt_bcmp(const void *a, size_t an, const void *b, size_t bn);

/* A byte string inside an items arena (set false: absent, not empty). */
typedef struct span {
    size_t off, len;
    bool set;
} span;

/* A child of a block: a row (level 1) or a block (above). */
typedef struct item {
    span lo, minp, maxp, mink, val, doc;
    uint64_t n;
} item;

typedef struct items {
    st_buf arena;
    item *v;
    size_t n, cap;
} items;

void vt_items_reset(items *it);
void vt_items_free(items *it);
/* Copy p into the arena as s; ST_E_NOMEM. */
st_status vt_put_span(items *it, span *s, const void *p, size_t n, bool set);
const unsigned char *vt_at(const items *it, span s);
item *vt_items_push(items *it); /* a zeroed new child, or NULL */

/* Scan callbacks (st_vrow_scan, st_vblock_scan) that push each row or
 * block onto it; st records a failure. */
typedef struct vt_load_ctx {
    items *it;
    st_status st;
} vt_load_ctx;

int vt_load_row(void *ctx, const st_vrow *r);
int vt_load_block(void *ctx, const st_vblock *b);

#endif
