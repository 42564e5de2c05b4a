/* js_alloc.h — the Duktape heap's allocator: a hard cap on live bytes.
 *
 * Promise: js_alloc_fn/js_realloc_fn return NULL instead of letting the live
 * bytes of the heap pass `cap`; Duktape turns that NULL into a RangeError in
 * the script that asked (after one emergency collection), so a function that
 * allocates without bound fails its own call and the process lives on.
 *
 * Small blocks come from per-size free lists (Duktape allocates and frees
 * many small objects per document and glibc's malloc was a third of the map
 * time); at most JS_ALLOC_PARKED_MAX bytes stay parked in those lists, the
 * rest goes back to libc.  Single-threaded: one allocator per heap.
 */
#ifndef JS_ALLOC_H
#define JS_ALLOC_H

#include <stddef.h>

#define JS_ALLOC_GRAIN 16u               /* size classes are multiples of this */
#define JS_ALLOC_CLASSES 32u             /* blocks up to 512 bytes are pooled */
#define JS_ALLOC_PARKED_MAX (32u << 20)  /* bytes kept in free lists at most */

typedef struct js_alloc {
    size_t cap;                          /* live bytes allowed (headers included) */
    size_t used;                         /* live bytes now */
    size_t parked;                       /* bytes sitting in free lists */
    size_t peak;                         /* highest `used` seen */
    void *free_list[JS_ALLOC_CLASSES + 1]; /* index = size / JS_ALLOC_GRAIN */
} js_alloc;

void js_alloc_init(js_alloc *a, size_t cap);
void js_alloc_release(js_alloc *a);      /* gives parked blocks back to libc */

/* Duktape's duk_alloc_function / duk_realloc_function / duk_free_function;
 * udata is the js_alloc. */
void *js_alloc_fn(void *udata, size_t n);
void *js_realloc_fn(void *udata, void *p, size_t n);
void js_free_fn(void *udata, void *p);

#endif
