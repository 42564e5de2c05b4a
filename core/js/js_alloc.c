/* js_alloc.c — capped, pooled allocator for the Duktape heap.
 *
 * Every block carries a 16-byte header holding its usable size, so free and
 * realloc know what to give back to the count without asking libc.  Sizes up
 * to JS_ALLOC_CLASSES * JS_ALLOC_GRAIN are rounded up to their class and
 * recycled through singly linked free lists; larger ones go straight to libc.
 */
#include "js_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16u
#define POOLED_MAX (JS_ALLOC_CLASSES * JS_ALLOC_GRAIN)

static size_t *hdr_of(void *p)
{
    return (size_t *)((char *)p - HDR);
}

static size_t class_size(size_t n)
{
    return (n + JS_ALLOC_GRAIN - 1) / JS_ALLOC_GRAIN * JS_ALLOC_GRAIN;
}

void js_alloc_init(js_alloc *a, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->cap = cap;
}

void js_alloc_release(js_alloc *a)
{
    for (size_t c = 0; c <= JS_ALLOC_CLASSES; c++) {
        void *blk = a->free_list[c];
        while (blk != NULL) {
            void *next = *(void **)blk;
            free(blk);
            blk = next;
        }
        a->free_list[c] = NULL;
    }
    a->parked = 0;
}

/* Room for `size` more live bytes under the cap? */
static int fits(const js_alloc *a, size_t size)
{
    return size <= a->cap && a->used <= a->cap - size;
}

static void count(js_alloc *a, size_t size)
{
    a->used += size;
    if (a->used > a->peak)
        a->peak = a->used;
}

void *js_alloc_fn(void *udata, size_t n)
{
    js_alloc *a = udata;
    size_t size = n <= POOLED_MAX ? class_size(n ? n : 1) : n;
    size_t *blk;

    if (size > SIZE_MAX - HDR || !fits(a, size + HDR))
        return NULL;
    if (size <= POOLED_MAX && a->free_list[size / JS_ALLOC_GRAIN] != NULL) {
        blk = a->free_list[size / JS_ALLOC_GRAIN];
        a->free_list[size / JS_ALLOC_GRAIN] = *(void **)blk;
        a->parked -= size + HDR;
    } else {
        blk = malloc(size + HDR);
        if (blk == NULL)
            return NULL;
    }
    blk[0] = size;
    count(a, size + HDR);
    return (char *)blk + HDR;
}

void js_free_fn(void *udata, void *p)
{
    js_alloc *a = udata;
    size_t *blk;
    size_t size;

    if (p == NULL)
        return;
    blk = hdr_of(p);
    size = blk[0];
    a->used -= size + HDR;
    if (size <= POOLED_MAX && a->parked + size + HDR <= JS_ALLOC_PARKED_MAX) {
        *(void **)blk = a->free_list[size / JS_ALLOC_GRAIN];
        a->free_list[size / JS_ALLOC_GRAIN] = blk;
        a->parked += size + HDR;
        return;
    }
    free(blk);
}

void *js_realloc_fn(void *udata, void *p, size_t n)
{
    js_alloc *a = udata;
    size_t old, *blk;
    void *q;

    if (p == NULL)
        return js_alloc_fn(udata, n);
    if (n == 0) {
        js_free_fn(udata, p);
        return NULL;
    }
    old = hdr_of(p)[0];
    if (old <= POOLED_MAX || n <= POOLED_MAX) {
        /* Pooled on either side: stay put when the class already fits,
         * otherwise move (a shrink to a smaller class frees pooled memory). */
        if (n <= old && class_size(n) == old)
            return p;
        q = js_alloc_fn(udata, n);
        if (q == NULL)
            return NULL;
        memcpy(q, p, old < n ? old : n);
        js_free_fn(udata, p);
        return q;
    }
    if (n > old && !fits(a, n - old))
        return NULL;
    if (n > SIZE_MAX - HDR)
        return NULL;
    blk = realloc(hdr_of(p), n + HDR);
    if (blk == NULL)
        return NULL;
    a->used -= old;
    blk[0] = n;
    count(a, n);
    return (char *)blk + HDR;
}
