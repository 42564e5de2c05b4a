/* st_jw.h — JSON writer into an st_buf.
 *
 * Commas, nesting and string escaping are done here.  st_jw_raw() splices an already
 * rendered JSON value, and st_jw_members() splices the members of an already
 * rendered object into the object currently open: that is how a stored body
 * becomes `{"_id":..,"_rev":..,<body members>}` without being parsed again.
 *
 * Errors are sticky: after the first failure every call is a no-op and
 * st_jw_status() reports it, so callers check once at the end.
 * Ownership: the writer appends to the caller's buffer and owns nothing else
 * the caller sees.  Not thread-safe; one writer per thread.
 */
#ifndef ST_JW_H
#define ST_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_json.h"

/* Deepest nesting a writer opens: a document at the parser's default
 * depth (st_json.h) inside the few levels of an answer around it.  Levels
 * past ST_JW_INLINE_LEVELS live on the heap, so a writer is small on the
 * stack; st_jw_value() is iterative, so depth never costs stack. */
#define ST_JW_MAX_DEPTH (ST_JSON_DEFAULT_DEPTH + 64)
#define ST_JW_INLINE_LEVELS 64

typedef struct st_jw {
    st_buf *out;
    st_status status;                  /* first failure, sticky */
    unsigned depth;
    unsigned char need_comma[ST_JW_INLINE_LEVELS]; /* flags of levels 0..63 */
    unsigned char *deep;               /* flags of levels 64.., malloc'd on need */
    unsigned deep_cap;
    bool after_key;                    /* a key was written, value comes next */
} st_jw;

st_status st_jw_init(st_jw *w, st_buf *out);  /* ST_E_MISUSE without a buffer */
void st_jw_free(st_jw *w);                    /* frees the deep levels */
st_status st_jw_status(const st_jw *w);

void st_jw_obj_open(st_jw *w);
void st_jw_obj_close(st_jw *w);
void st_jw_arr_open(st_jw *w);
void st_jw_arr_close(st_jw *w);
void st_jw_key(st_jw *w, const char *key);                 /* NUL-terminated */
void st_jw_keyn(st_jw *w, const char *key, size_t n);
void st_jw_str(st_jw *w, const char *s);                   /* NULL writes null */
void st_jw_strn(st_jw *w, const char *s, size_t n);
void st_jw_int(st_jw *w, int64_t v);
void st_jw_uint(st_jw *w, uint64_t v);
void st_jw_bool(st_jw *w, bool v);
void st_jw_null(st_jw *w);
void st_jw_raw(st_jw *w, const char *json, size_t n);     /* one complete value */
void st_jw_members(st_jw *w, const char *obj_json, size_t n); /* "{...}" members */
void st_jw_value(st_jw *w, const st_json *v);              /* serialize a tree (iteratively) */

/* Append s escaped as a JSON string literal (with quotes) to b. */
st_status st_json_quote(st_buf *b, const char *s, size_t n);

#endif
