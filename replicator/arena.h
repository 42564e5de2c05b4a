/* arena.h — one allocation region per typed endpoint answer.
 *
 * Why: an answer (a batch of change rows, a _revs_diff result, fetched
 * revisions with their attachment bytes) is made of many small strings and
 * arrays that live and die together.  Allocating them from one arena makes
 * building the answer cheap and freeing it a single call, so every error
 * path frees everything by freeing the arena.
 *
 * Memory is zeroed.  Blocks allocated elsewhere (a parsed JSON tree, a
 * buffer taken from an st_buf) can be handed over with st_arena_own and are
 * freed with the arena.  An arena is used by one thread at a time.
 */
#ifndef ST_ARENA_H
#define ST_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct st_arena st_arena;

st_arena *st_arena_new(void);               /* NULL when out of memory */
void st_arena_free(st_arena *a);            /* NULL ok; also frees what it owns */

/* n zeroed bytes, aligned for any type; NULL when out of memory. */
void *st_arena_alloc(st_arena *a, size_t n);
/* A copy of p[0..n) followed by a NUL byte. */
char *st_arena_memdup(st_arena *a, const void *p, size_t n);
char *st_arena_strdup(st_arena *a, const char *s); /* NULL s gives NULL */

/* The arena frees p with fn when it is freed.  On failure (out of memory)
 * fn(p) runs at once and false is returned, so p is never leaked. */
bool st_arena_own(st_arena *a, void *p, void (*fn)(void *));

#endif
