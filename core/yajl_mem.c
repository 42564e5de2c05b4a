/* yajl_mem.c — see yajl_mem.h.  Each block carries a header linking it
 * into its st_yajl_mem's list (doubly, so a free is O(1)). */
#include "yajl_mem.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef union block {
    struct {
        union block *prev, *next;
    } l;
    max_align_t align; /* what follows the header is aligned as malloc's */
} block;

static void link_in(st_yajl_mem *m, block *b)
{
    b->l.prev = NULL;
    b->l.next = m->blocks;
    if (b->l.next)
        b->l.next->l.prev = b;
    m->blocks = b;
}

static void unlink_out(st_yajl_mem *m, block *b)
{
    if (b->l.prev)
        b->l.prev->l.next = b->l.next;
    else
        m->blocks = b->l.next;
    if (b->l.next)
        b->l.next->l.prev = b->l.prev;
}

static void *failed(st_yajl_mem *m)
{
    if (m->armed) {
        m->armed = false;
        longjmp(m->escape, 1);
    }
    return NULL;
}

static void *mem_malloc(void *ctx, size_t n)
{
    st_yajl_mem *m = ctx;
    block *b = n <= SIZE_MAX - sizeof *b ? malloc(sizeof *b + n) : NULL;
    if (!b)
        return failed(m);
    link_in(m, b);
    return b + 1;
}

static void mem_free(void *ctx, void *p)
{
    if (!p)
        return;
    block *b = (block *)p - 1;
    unlink_out(ctx, b);
    free(b);
}

static void *mem_realloc(void *ctx, void *p, size_t n)
{
    st_yajl_mem *m = ctx;
    if (!p)
        return mem_malloc(ctx, n);
    block *old = (block *)p - 1;
    unlink_out(m, old);
    block *b = n <= SIZE_MAX - sizeof *b ? realloc(old, sizeof *b + n) : NULL;
    if (!b) {
        link_in(m, old); /* still yajl's, freed by release */
        return failed(m);
    }
    link_in(m, b);
    return b + 1;
}

void st_yajl_mem_init(st_yajl_mem *m)
{
    m->funcs.malloc = mem_malloc;
    m->funcs.realloc = mem_realloc;
    m->funcs.free = mem_free;
    m->funcs.ctx = m;
    m->armed = false;
    m->blocks = NULL;
}

void st_yajl_mem_release(st_yajl_mem *m)
{
    block *b = m->blocks;
    while (b) {
        block *next = b->l.next;
        free(b);
        b = next;
    }
    m->blocks = NULL;
}
