/* js_map.h — the natives behind map_doc and emit (js_map.c).
 *
 * qs.js receives natives on its host object:
 *   host.mapSetup(funs, require, onError, stringify, failed)
 *                     what js_map_doc uses (qs.js calls it again whenever
 *                     funs or require change)
 *   host.emit         the emit() user code sees
 *   host.emitted()    whether emit ran outside js_map_doc since the last call
 * js_map_doc answers a map_doc line without going through qs.js's dispatch:
 * global.require is set, each of funs is called on the document in order; a
 * function that throws gets no rows and onError(thrown, doc) is called,
 * which may throw on to fail the request: failed(thrown) then gives the
 * answer.  An answer longer than the engine's max_output is not kept: the
 * answer is then "" and the engine's `oversize` its length.
 * Single-threaded, like the engine.
 */
#ifndef JS_MAP_H
#define JS_MAP_H

#include <duktape.h>

#include <stdbool.h>
#include <stddef.h>

/* The state of map_doc and emit, held by the engine (js_engine.h). */
typedef struct js_map {
    size_t max_output;   /* longest answer kept (the engine's) */
    size_t oversize;     /* the answer built in C was this long: too large */
    void *map_funs, *map_require, *map_on_error, *map_stringify, *map_failed;
                         /* from host.mapSetup, kept reachable in the stash */
    void *map_rows_array; /* the array emit fills, reused (in the stash) */
    void *map_rows;      /* the running map function's rows (key, value, ...), or NULL */
    duk_uarridx_t map_nrows; /* entries in map_rows */
    bool emitted;        /* emit() ran outside a map function */
    char *map_buf;       /* the answer being written, map_len bytes kept */
    size_t map_len, map_total, map_cap; /* kept, logical, allocated bytes */
} js_map;

/* How a native finds the js_map of the engine it runs for. */
typedef js_map *(*js_map_of_fn)(duk_context *ctx);

/* Put map, emit and emitted on the object at the top of ctx's stack; of
 * finds the state from inside them (one engine per process: kept in a
 * static, set by every call alike). */
void js_map_natives(duk_context *ctx, js_map_of_fn of);
/* Stack top: [doc], from a map_doc line (js_json_push).  Pushes the answer
 * string; throws only when the heap fails outside user code. */
void js_map_doc(js_map *m, duk_context *ctx);
/* Free the answer buffer. */
void js_map_free(js_map *m);

#endif
