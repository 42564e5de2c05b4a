/* yajl_mem.h — allocation functions for yajl's parser that may fail.
 *
 * yajl 2.1 does not check what its allocator returns: yajl_alloc, its lexer
 * and its buffers write through the pointer at once, so out of memory
 * inside yajl would crash the process.  These functions instead jump back
 * to the caller (longjmp to m->escape) when an allocation fails, and keep
 * every block yajl got through them in a list, so the caller then frees
 * them all with st_yajl_mem_release() (the yajl handle is gone with them).
 *
 * Use (the setjmp must be in the function that makes the yajl calls, and
 * locals that function changes after it must not be read on the way back):
 *
 *     st_yajl_mem m;
 *     st_yajl_mem_init(&m);
 *     if (setjmp(m.escape) != 0) { st_yajl_mem_release(&m); return ST_E_NOMEM; }
 *     m.armed = true;
 *     h = yajl_alloc(&callbacks, &m.funcs, ctx); ... yajl_parse(h, ...) ...
 *     m.armed = false;
 *     yajl_free(h);
 *
 * While not armed a failed allocation returns NULL, as malloc.  One
 * st_yajl_mem per handle; it must outlive the handle.  Not shared between
 * threads.
 */
#ifndef ST_YAJL_MEM_H
#define ST_YAJL_MEM_H

#include <setjmp.h>
#include <stdbool.h>
#include <yajl/yajl_common.h>

typedef struct st_yajl_mem {
    yajl_alloc_funcs funcs; /* give &funcs to yajl_alloc */
    jmp_buf escape;         /* where a failed allocation returns, while armed */
    bool armed;
    void *blocks;           /* what yajl holds now (a list) */
} st_yajl_mem;

void st_yajl_mem_init(st_yajl_mem *m);
/* Frees every block still held: after an escape, or to drop a handle. */
void st_yajl_mem_release(st_yajl_mem *m);

#endif
