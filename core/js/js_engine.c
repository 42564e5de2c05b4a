/* js_engine.c — Duktape heap setup, the natives qs.js uses, and the per-line
 * protected calls.
 *
 * Two protected calls per line: the JSON parse (a bad line gets an error
 * answer and the process goes on) and the dispatch into qs.js, which catches
 * everything user code throws (a map_doc line goes to js_map_doc instead,
 * which catches likewise).  A failure of the dispatch itself can only be the
 * heap running out while an answer is built, after which the heap's state is
 * suspect, so the process answers and exits and the pool starts a fresh one.
 */
#include "js_engine.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "js_json.h"
#include "js_map.h"
#include "js_utf8.h"

extern const char js_qs_source[];
extern const size_t js_qs_source_len;

typedef struct request {
    const char *line;
    size_t n;
    bool map_doc;        /* the line is a map_doc command */
} request;

js_engine *js_engine_of(duk_context *ctx)
{
    duk_memory_functions mf;

    duk_get_memory_functions(ctx, &mf);
    return (js_engine *)((char *)mf.udata - offsetof(js_engine, alloc));
}

/* For js_map.c's natives: the map state of the engine they run for. */
static js_map *map_of(duk_context *ctx)
{
    return &js_engine_of(ctx)->map;
}

/* Duktape calls this on errors it cannot throw (no protected call around
 * them); the process cannot go on, and the pool sees it exit. */
static void on_fatal(void *udata, const char *msg)
{
    (void)udata;
    fprintf(stderr, "settee-js: fatal: %s\n", msg ? msg : "unknown");
    _exit(70);
}

/* Write s as one output line, repaired to strict UTF-8 if needed. */
static bool put_line(js_engine *e, const char *s, size_t n)
{
    char *fixed;
    size_t fixed_n;
    bool ok;

    if (js_utf8_valid(s, n))
        return js_writer_line(e->out, s, n);
    fixed = js_utf8_repair(s, n, &fixed_n);
    if (fixed == NULL)
        return false;
    ok = js_writer_line(e->out, fixed, fixed_n);
    free(fixed);
    return ok;
}

/* ---- natives ---------------------------------------------------------- */

static duk_ret_t host_write(duk_context *ctx)
{
    js_engine *e = js_engine_of(ctx);
    duk_size_t n;
    const char *s = duk_require_lstring(ctx, 0, &n);

    if (n <= e->max_output)
        put_line(e, s, n);
    return 0;
}

/* compile(source, name): a function expression ("function(doc){...}") is
 * compiled as such; anything else runs as a program and its completion
 * value is returned ("(function(){...})"), for qs.js to check. */
static duk_ret_t host_compile(duk_context *ctx)
{
    duk_size_t n;
    const char *src = duk_require_lstring(ctx, 0, &n);

    duk_require_string(ctx, 1);
    duk_dup(ctx, 1);
    if (duk_pcompile_lstring_filename(ctx, DUK_COMPILE_FUNCTION, src, n) == 0)
        return 1;
    duk_dup(ctx, 1);
    if (duk_pcompile_lstring_filename(ctx, DUK_COMPILE_EVAL, src, n) != 0) {
        duk_pop(ctx);
        return duk_throw(ctx); /* the function-expression error reads better */
    }
    duk_call(ctx, 0);
    return 1;
}

static duk_ret_t host_gc(duk_context *ctx)
{
    /* Twice: the first pass may only run finalizers. */
    duk_gc(ctx, 0);
    duk_gc(ctx, 0);
    return 0;
}

static duk_ret_t host_fatal(duk_context *ctx)
{
    js_engine_of(ctx)->fatal = true;
    return 0;
}

static void put_native(duk_context *ctx, const char *name, duk_c_function fn, duk_idx_t nargs)
{
    duk_push_c_function(ctx, fn, nargs);
    duk_put_prop_string(ctx, -2, name);
}

/* Evaluate qs.js and call it with the host object: [] -> [dispatch]. */
static duk_ret_t boot(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_push_string(ctx, "qs.js");
    duk_compile_lstring_filename(ctx, DUK_COMPILE_EVAL, js_qs_source, js_qs_source_len);
    duk_call(ctx, 0);
    duk_push_object(ctx);
    put_native(ctx, "write", host_write, 1);
    put_native(ctx, "compile", host_compile, 2);
    put_native(ctx, "gc", host_gc, 0);
    put_native(ctx, "fatal", host_fatal, 0);
    js_map_natives(ctx, map_of);
    duk_push_global_object(ctx);
    duk_put_prop_string(ctx, -2, "global");
    /* Object.prototype (an intrinsic: reachable for the heap's life). */
    duk_push_object(ctx);
    duk_get_prototype(ctx, -1);
    js_engine_of(ctx)->object_proto = duk_get_heapptr(ctx, -1);
    duk_pop_2(ctx);
    duk_call(ctx, 1);
    if (!duk_is_function(ctx, -1))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "qs.js did not give a function");
    duk_push_heap_stash(ctx);
    duk_dup(ctx, -2);
    duk_put_prop_string(ctx, -2, "dispatch");
    duk_pop_2(ctx);
    return 0;
}

bool js_engine_open(js_engine *e, size_t heap_max, size_t max_output, js_writer *out)
{
    memset(e, 0, sizeof *e);
    js_alloc_init(&e->alloc, heap_max);
    e->out = out;
    e->max_output = max_output;
    e->map.max_output = max_output;
    e->ctx = duk_create_heap(js_alloc_fn, js_realloc_fn, js_free_fn, &e->alloc, on_fatal);
    if (e->ctx == NULL) {
        fprintf(stderr, "settee-js: cannot create the JavaScript heap\n");
        return false;
    }
    if (duk_safe_call(e->ctx, boot, NULL, 0, 1) != DUK_EXEC_SUCCESS) {
        fprintf(stderr, "settee-js: qs.js failed: %s\n", duk_safe_to_string(e->ctx, -1));
        js_engine_close(e);
        return false;
    }
    duk_pop(e->ctx);
    return true;
}

void js_engine_close(js_engine *e)
{
    if (e->ctx != NULL)
        duk_destroy_heap(e->ctx);
    e->ctx = NULL;
    js_map_free(&e->map);
    js_alloc_release(&e->alloc);
}

/* ---- one line ---------------------------------------------------------- */

/* qs.js freezes nothing itself: js_json_push freezes map documents. */

#define KEEP_DOC_MAX 65536 /* bytes of a map_doc line kept alive for the next */

static duk_ret_t parse_line(duk_context *ctx, void *udata)
{
    request *r = udata;

    r->map_doc = js_json_push(ctx, r->line, r->n, js_engine_of(ctx)->object_proto);
    return 1;
}

/* [] -> [answer string]: parse, then dispatch(cmd, length), or for the
 * commands that make a view (one per document) js_map_doc. */
static duk_ret_t run_line(duk_context *ctx, void *udata)
{
    request *r = udata;

    duk_push_heap_stash(ctx);
    duk_get_prop_string(ctx, -1, "dispatch");
    duk_remove(ctx, -2);
    if (duk_safe_call(ctx, parse_line, r, 0, 1) != DUK_EXEC_SUCCESS) {
        duk_push_array(ctx);
        duk_push_string(ctx, "error");
        duk_put_prop_index(ctx, -2, 0);
        duk_push_string(ctx, "bad_request");
        duk_put_prop_index(ctx, -2, 1);
        duk_push_sprintf(ctx, "invalid JSON request: %s", duk_safe_to_string(ctx, -2));
        duk_put_prop_index(ctx, -2, 2);
        duk_json_encode(ctx, -1);
        return 1;
    }
    if (r->map_doc) {
        /* The document is kept until the next one is parsed: the next
         * one's keys (mostly the same) are then found interned instead of
         * being made again, as they would be once this one was freed.  Not
         * a large one: two of those could pass the heap's limit. */
        duk_push_heap_stash(ctx);
        if (r->n <= KEEP_DOC_MAX)
            duk_dup(ctx, -2);
        else
            duk_push_undefined(ctx);
        duk_put_prop_string(ctx, -2, "lastDoc");
        duk_pop(ctx);
        js_map_doc(&js_engine_of(ctx)->map, ctx);
        return 1;
    }
    duk_push_number(ctx, (double)r->n);
    duk_call(ctx, 2);
    if (!duk_is_string(ctx, -1))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "dispatch gave no answer");
    return 1;
}

bool js_engine_error(js_engine *e, const char *name, const char *reason)
{
    char line[512];
    int n = snprintf(line, sizeof line, "[\"error\",\"%s\",\"", name);
    size_t len = n > 0 ? (size_t)n : 0;

    /* Reasons built in C are plain ASCII text without quotes or controls. */
    for (const char *p = reason; *p != '\0' && len + 3 < sizeof line; p++)
        line[len++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? ' ' : *p;
    line[len++] = '"';
    line[len++] = ']';
    return js_writer_line(e->out, line, len);
}

bool js_engine_handle(js_engine *e, const char *line, size_t n)
{
    request r = {line, n, false};
    duk_context *ctx = e->ctx;
    duk_size_t alen;
    const char *answer;
    bool ok;

    e->fatal = false;
    e->map.oversize = 0;
    if (duk_safe_call(ctx, run_line, &r, 0, 1) != DUK_EXEC_SUCCESS) {
        char reason[256];
        snprintf(reason, sizeof reason, "the query server failed: %s",
                 duk_safe_to_string(ctx, -1));
        duk_pop(ctx);
        js_engine_error(e, "os_process_error", reason);
        return false;
    }
    answer = duk_get_lstring(ctx, -1, &alen);
    if (e->map.oversize > alen)
        alen = e->map.oversize; /* built in C and not kept */
    if (alen > e->max_output) {
        char reason[160];
        snprintf(reason, sizeof reason, "the answer of %zu bytes is over the %zu-byte limit",
                 (size_t)alen, e->max_output);
        ok = js_engine_error(e, "too_large", reason);
    } else {
        ok = put_line(e, answer, alen);
    }
    duk_pop(ctx);
    return ok && !e->fatal;
}
