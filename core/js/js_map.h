/* js_map.h — the natives behind map_doc and emit (js_map.c).
 *
 * qs.js receives them on its host object:
 *   host.map(funs, doc, onError, stringify)  the map_doc answer line for
 *                     doc: each of funs called in order; a function that
 *                     throws gets no rows and onError(thrown, doc) is
 *                     called (it may throw on to fail the request)
 *   host.emit         the emit() user code sees
 *   host.emitted()    whether emit ran outside host.map since the last call
 * An answer longer than the engine's max_output is not kept: host.map then
 * returns "" and sets the engine's `oversize` to its length.
 * Single-threaded, like the engine.
 */
#ifndef JS_MAP_H
#define JS_MAP_H

#include <duktape.h>

struct js_engine;

/* Put map, emit and emitted on the object at the top of ctx's stack. */
void js_map_natives(duk_context *ctx);
/* Free the engine's answer buffer. */
void js_map_free(struct js_engine *e);

#endif
