/* arena.c — chunked bump allocation (see arena.h).  Requests larger than a
 * quarter chunk get a chunk of their own, so big attachment copies do not
 * waste the tail of a shared one. */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (64 * 1024)

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
} chunk;

typedef struct owned {
    struct owned *next;
    void *p;
    void (*fn)(void *);
} owned;

struct st_arena {
    chunk *head;      /* the chunk being filled first */
    owned *owned;
};

st_arena *st_arena_new(void) { return calloc(1, sizeof(st_arena)); }

void st_arena_free(st_arena *a)
{
    if (!a)
        return;
    while (a->owned) {
        owned *o = a->owned;
        a->owned = o->next;
        o->fn(o->p);
        free(o);
    }
    while (a->head) {
        chunk *c = a->head;
        a->head = c->next;
        free(c);
    }
    free(a);
}

static chunk *chunk_new(size_t cap)
{
    chunk *c = calloc(1, sizeof *c + cap);
    if (c)
        c->cap = cap;
    return c;
}

void *st_arena_alloc(st_arena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    if (n > SIZE_MAX - align)
        return NULL;
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    chunk *c = a->head;
    if (n > CHUNK / 4) {
        /* A chunk of its own, kept behind the one being filled. */
        chunk *big = chunk_new(n);
        if (!big)
            return NULL;
        big->used = n;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            a->head = big;
        }
        return big->data;
    }
    if (!c || c->cap - c->used < n) {
        if (!(c = chunk_new(CHUNK)))
            return NULL;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *st_arena_memdup(st_arena *a, const void *p, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *d = st_arena_alloc(a, n + 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

char *st_arena_strdup(st_arena *a, const char *s)
{
    return s ? st_arena_memdup(a, s, strlen(s)) : NULL;
}

bool st_arena_own(st_arena *a, void *p, void (*fn)(void *))
{
    owned *o = malloc(sizeof *o);
    if (!o) {
        fn(p);
        return false;
    }
    o->p = p;
    o->fn = fn;
    o->next = a->owned;
    a->owned = o;
    return true;
}
