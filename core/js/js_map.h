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

struct js_engine;

/* Put map, emit and emitted on the object at the top of ctx's stack. */
void js_map_natives(duk_context *ctx);
/* Stack top: [doc], from a map_doc line (js_json_push).  Pushes the answer
 * string; throws only when the heap fails outside user code. */
void js_map_doc(struct js_engine *e, duk_context *ctx);
/* Free the engine's answer buffer. */
void js_map_free(struct js_engine *e);

#endif
