/* js_engine.h — one Duktape heap running qs.js, one request line at a time.
 *
 * js_engine_handle() parses a request line, runs its command and writes the
 * command's log lines and exactly one answer line (strict UTF-8, at most
 * max_output bytes) to the writer.  What user code can reach is decided
 * here and in qs.js: the standard built-ins and CouchDB's helpers, no file,
 * network or process access (Duktape has none built in and none is added).
 * Single-threaded; one engine per process.
 */
#ifndef JS_ENGINE_H
#define JS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <duktape.h>

#include "js_alloc.h"
#include "js_io.h"
#include "js_map.h"

typedef struct js_engine {
    js_alloc alloc;      /* first: natives find the engine from the heap's udata */
    duk_context *ctx;
    js_writer *out;
    size_t max_output;   /* longest answer line, newline excluded */
    bool fatal;          /* the command asked for the process to end */
    void *object_proto;  /* Object.prototype, for js_json_push */
    js_map map;          /* map_doc in C (js_map.c); its oversize: the answer
                            built in C was this long, too large */
} js_engine;

/* Heap capped at heap_max bytes; false (message on stderr) on failure. */
bool js_engine_open(js_engine *e, size_t heap_max, size_t max_output, js_writer *out);
void js_engine_close(js_engine *e);

/* Run one request line.  Returns false when the process must exit once the
 * answer is flushed (a fatal protocol error, or the heap failed outside user
 * code: its state can no longer be trusted). */
bool js_engine_handle(js_engine *e, const char *line, size_t n);

/* The engine a native of ctx runs for. */
js_engine *js_engine_of(duk_context *ctx);

/* Write a ["error", name, reason] answer built in C (reason is plain text). */
bool js_engine_error(js_engine *e, const char *name, const char *reason);

#endif
