/* js_map.c — map_doc's inner loop in C: each map function called on the
 * document, its emits collected, and the answer written as JSON text.
 *
 * Why in C: done in qs.js, a document's map cost more in the interpreter
 * around the user's function (closure variable lookups, a [key, value]
 * array per emit, JSON.stringify's number conversion) than in the function
 * itself.  What the user sees is unchanged: emit stores what it is given
 * and the rows are written after the function returns (so a value changed
 * after its emit is written as changed); a row whose key and value are not
 * plain primitives is written by the JSON.stringify qs.js captured at start,
 * on [key, value] as the JavaScript loop did; a function that throws, or
 * whose rows cannot be written, gets no rows and its error goes to qs.js's
 * handler (which logs it, or rethrows to fail the request).
 */
#include "js_map.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static js_map_of_fn map_of; /* set by js_map_natives */


#define BUF_KEEP (1u << 20)     /* answer buffer kept between documents */
#define ROWS_KEEP 4096u         /* rows array entries kept between calls */
#define EXACT_INT 9007199254740992.0 /* 2^53: integers below print exactly */

/* ---- the answer buffer (grows inside Duktape calls: throws on failure) ---
 * map_total is the answer's length so far; its bytes are kept while it fits
 * in max_output (map_len == map_total), past that only counted. */

static void buf_add(duk_context *ctx, js_map *e, const char *s, size_t n)
{
    bool keep = e->map_len == e->map_total && e->map_total + n <= e->max_output;

    e->map_total += n;
    if (!keep)
        return;
    if (e->map_len + n > e->map_cap) {
        size_t cap = e->map_cap ? e->map_cap : 4096;
        char *nb;
        while (cap < e->map_len + n)
            cap *= 2;
        nb = realloc(e->map_buf, cap);
        if (nb == NULL)
            (void)duk_error(ctx, DUK_ERR_RANGE_ERROR, "out of memory writing map rows");
        e->map_buf = nb;
        e->map_cap = cap;
    }
    memcpy(e->map_buf + e->map_len, s, n);
    e->map_len += n;
}

/* Forget what was added after the answer was `len` long. */
static void buf_cut(js_map *e, size_t len)
{
    e->map_total = len;
    if (e->map_len > len)
        e->map_len = len;
}

/* Append the JSON of the value at idx when it is one whose text is certain
 * without JSON.stringify (as an array element: undefined is null); false,
 * with nothing appended, for the rest. */
static bool add_plain(duk_context *ctx, js_map *e, duk_idx_t idx)
{
    switch (duk_get_type(ctx, idx)) {
    case DUK_TYPE_UNDEFINED:
    case DUK_TYPE_NULL:
        buf_add(ctx, e, "null", 4);
        return true;
    case DUK_TYPE_BOOLEAN:
        if (duk_get_boolean(ctx, idx))
            buf_add(ctx, e, "true", 4);
        else
            buf_add(ctx, e, "false", 5);
        return true;
    case DUK_TYPE_NUMBER: {
        double d = duk_get_number(ctx, idx);
        char tmp[24];
        int n;
        if (isnan(d) || isinf(d)) {
            buf_add(ctx, e, "null", 4);
            return true;
        }
        if (d != floor(d) || fabs(d) >= EXACT_INT)
            return false; /* shortest round-trip digits: Duktape's job */
        {
            /* Digits from the right; -0 prints as 0, as JSON.stringify does. */
            unsigned long long u = (unsigned long long)fabs(d);
            n = (int)sizeof tmp;
            do
                tmp[--n] = (char)('0' + u % 10);
            while ((u /= 10) != 0);
            if (d < 0)
                tmp[--n] = '-';
        }
        buf_add(ctx, e, tmp + n, sizeof tmp - (size_t)n);
        return true;
    }
    case DUK_TYPE_STRING: {
        duk_size_t n;
        const char *s = duk_get_lstring(ctx, idx, &n);
        /* Printable ASCII without quote or backslash is its own JSON. */
        for (duk_size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e || s[i] == '"' ||
                s[i] == '\\')
                return false;
        buf_add(ctx, e, "\"", 1);
        buf_add(ctx, e, s, n);
        buf_add(ctx, e, "\"", 1);
        return true;
    }
    default:
        return false;
    }
}

/* Stack top: [fun, doc, stringify] (a safe call sees its caller's frame).
 * Calls fun(doc) and writes its rows; throws what the function (or the
 * writing) throws. */
static duk_ret_t map_one(duk_context *ctx, void *udata)
{
    js_map *e = udata;
    duk_idx_t fun = duk_get_top(ctx) - 3;
    duk_idx_t rows = duk_push_heapptr(ctx, e->map_rows_array);
    duk_uarridx_t n;

    duk_set_length(ctx, rows, 0);
    e->map_rows = e->map_rows_array;
    e->map_nrows = 0;
    duk_dup(ctx, fun);
    duk_dup(ctx, fun + 1);
    duk_call(ctx, 1);
    duk_pop(ctx);
    n = e->map_nrows;
    e->map_rows = NULL;
    buf_add(ctx, e, "[", 1);
    for (duk_uarridx_t j = 0; j < n; j += 2) {
        size_t start = e->map_total;
        duk_get_prop_index(ctx, rows, j);
        duk_get_prop_index(ctx, rows, j + 1);
        if (j > 0)
            buf_add(ctx, e, ",", 1);
        buf_add(ctx, e, "[", 1);
        if (add_plain(ctx, e, -2)) {
            buf_add(ctx, e, ",", 1);
            if (add_plain(ctx, e, -1)) {
                buf_add(ctx, e, "]", 1);
                duk_pop_2(ctx);
                continue;
            }
        }
        /* Not plain: JSON.stringify([key, value]), as the loop in qs.js. */
        buf_cut(e, start);
        if (j > 0)
            buf_add(ctx, e, ",", 1);
        duk_dup(ctx, fun + 2);
        duk_push_array(ctx);
        duk_dup(ctx, -4);
        duk_put_prop_index(ctx, -2, 0);
        duk_dup(ctx, -3);
        duk_put_prop_index(ctx, -2, 1);
        duk_call(ctx, 1);
        {
            duk_size_t len;
            const char *s = duk_require_lstring(ctx, -1, &len);
            buf_add(ctx, e, s, len);
        }
        duk_pop_3(ctx);
    }
    buf_add(ctx, e, "]", 1);
    duk_set_length(ctx, rows, 0);
    return 0;
}

/* A new, empty rows array: the old one's storage (grown by a function that
 * emitted a lot, perhaps until the heap was full) goes with it. */
static void rows_renew(duk_context *ctx, js_map *e)
{
    duk_push_heap_stash(ctx);
    duk_push_array(ctx);
    e->map_rows_array = duk_get_heapptr(ctx, -1);
    duk_put_prop_string(ctx, -2, "rows");
    duk_pop(ctx);
}

/* Stack top: [funs, doc, onError, stringify].  Pushes the answer. */
static duk_ret_t map_all(duk_context *ctx, void *udata)
{
    js_map *e = udata;
    duk_idx_t funs = duk_get_top(ctx) - 4;
    duk_uarridx_t nfuns = (duk_uarridx_t)duk_get_length(ctx, funs);

    if (e->map_cap > BUF_KEEP) {
        free(e->map_buf);
        e->map_buf = NULL;
        e->map_cap = 0;
    }
    e->map_len = e->map_total = 0;
    buf_add(ctx, e, "[", 1);
    for (duk_uarridx_t i = 0; i < nfuns; i++) {
        size_t start;
        duk_int_t rc;
        if (i > 0)
            buf_add(ctx, e, ",", 1);
        start = e->map_total;
        duk_get_prop_index(ctx, funs, i);
        duk_dup(ctx, funs + 1);
        duk_dup(ctx, funs + 3);
        rc = duk_safe_call(ctx, map_one, e, 3, 1);
        e->map_rows = NULL;
        if (rc != DUK_EXEC_SUCCESS || e->map_nrows > ROWS_KEEP)
            rows_renew(ctx, e);
        if (rc != DUK_EXEC_SUCCESS) {
            /* No rows for this function; onError(e, doc) may throw on. */
            buf_cut(e, start);
            duk_dup(ctx, funs + 2);
            duk_swap_top(ctx, -2);
            duk_dup(ctx, funs + 1);
            duk_call(ctx, 2);
            buf_add(ctx, e, "[]", 2);
        }
        duk_pop(ctx);
    }
    buf_add(ctx, e, "]", 1);
    if (e->map_total > e->max_output) {
        e->oversize = e->map_total;
        duk_push_string(ctx, "");
        return 1;
    }
    duk_push_lstring(ctx, e->map_buf, e->map_len);
    return 1;
}

void js_map_doc(js_map *e, duk_context *ctx)
{
    duk_idx_t doc = duk_get_top(ctx) - 1;

    duk_push_global_object(ctx);
    duk_push_heapptr(ctx, e->map_require);
    duk_put_prop_string(ctx, -2, "require");
    duk_pop(ctx);
    duk_push_heapptr(ctx, e->map_funs);
    duk_dup(ctx, doc);
    duk_push_heapptr(ctx, e->map_on_error);
    duk_push_heapptr(ctx, e->map_stringify);
    if (duk_safe_call(ctx, map_all, e, 4, 1) != DUK_EXEC_SUCCESS) {
        e->map_rows = NULL;
        duk_push_heapptr(ctx, e->map_failed);
        duk_swap_top(ctx, -2);
        duk_call(ctx, 1);
    }
}

/* host.mapSetup(funs, require, onError, stringify, failed): what map_doc
 * uses, kept reachable in the heap stash. */
static duk_ret_t host_map_setup(duk_context *ctx)
{
    js_map *e = map_of(ctx);

    for (duk_idx_t i = 0; i < 5; i++)
        if (i != 1 && !duk_is_object(ctx, i))
            return duk_error(ctx, DUK_ERR_TYPE_ERROR, "mapSetup: argument %d", (int)i);
    e->map_funs = duk_get_heapptr(ctx, 0);
    e->map_require = duk_get_heapptr(ctx, 1);
    e->map_on_error = duk_get_heapptr(ctx, 2);
    e->map_stringify = duk_get_heapptr(ctx, 3);
    e->map_failed = duk_get_heapptr(ctx, 4);
    duk_push_heap_stash(ctx);
    duk_push_array(ctx);
    for (duk_idx_t i = 0; i < 5; i++) {
        duk_dup(ctx, i);
        duk_put_prop_index(ctx, -2, (duk_uarridx_t)i);
    }
    duk_put_prop_string(ctx, -2, "map");
    return 0;
}

/* emit(key, value): a row of the running map function; outside one (the
 * _view changes filter), a note that something was emitted. */
static duk_ret_t host_emit(duk_context *ctx)
{
    js_map *e = map_of(ctx);

    if (e->map_rows == NULL) {
        e->emitted = true;
        return 0;
    }
    duk_push_heapptr(ctx, e->map_rows);
    duk_dup(ctx, 0);
    duk_put_prop_index(ctx, -2, e->map_nrows);
    duk_dup(ctx, 1);
    duk_put_prop_index(ctx, -2, e->map_nrows + 1);
    e->map_nrows += 2;
    return 0;
}

/* host.emitted(): whether emit ran outside a map since the last call. */
static duk_ret_t host_emitted(duk_context *ctx)
{
    js_map *e = map_of(ctx);

    duk_push_boolean(ctx, e->emitted);
    e->emitted = false;
    return 1;
}

void js_map_natives(duk_context *ctx, js_map_of_fn of)
{
    map_of = of;
    /* One rows array for every call: its storage stays allocated. */
    rows_renew(ctx, map_of(ctx));
    duk_push_c_function(ctx, host_map_setup, 5);
    duk_put_prop_string(ctx, -2, "mapSetup");
    duk_push_c_function(ctx, host_emit, 2);
    duk_put_prop_string(ctx, -2, "emit");
    duk_push_c_function(ctx, host_emitted, 0);
    duk_put_prop_string(ctx, -2, "emitted");
}

void js_map_free(js_map *e)
{
    free(e->map_buf);
    e->map_buf = NULL;
    e->map_len = e->map_total = e->map_cap = 0;
}
