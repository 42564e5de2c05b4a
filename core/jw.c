/* jw.c — a streaming JSON writer over st_buf.
 *
 * Why not a generator library: stored bodies are kept minified and are
 * copied into responses as is, which a generator cannot splice, so this
 * writer tracks commas and nesting itself.  It escapes strings itself too,
 * with the bytes yajl's generator would write ('"', '\\' and bytes below
 * 0x20; \b \f \n \r \t by name, the rest as \u00XX; solidus and
 * DEL as they are), because yajl's generator does not check what its
 * allocator returns (yajl 2.1 writes through a failed buffer allocation in
 * yajl_gen_alloc), and out of memory must be an error, not a crash.
 */
#include "st_jw.h"
#include "st_utf8.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* need_comma[] holds two flags per nesting level (level 0 is top level). */
#define JW_COMMA 1u  /* a value was written at this level */
#define JW_OBJECT 2u /* this level is an object: values need keys */

static void jw_fail(st_jw *w, st_status rc)
{
    if (w->status == ST_OK)
        w->status = rc;
}

static void jw_emit(st_jw *w, const char *s, size_t n)
{
    st_status rc;

    if (w->status != ST_OK)
        return;
    rc = st_buf_add(w->out, s, n);
    if (rc != ST_OK)
        jw_fail(w, rc);
}

static void jw_emitc(st_jw *w, char c)
{
    st_status rc;

    if (w->status != ST_OK)
        return;
    rc = st_buf_addc(w->out, c);
    if (rc != ST_OK)
        jw_fail(w, rc);
}

/* Index of the first byte JSON requires escaped, or n. */
static size_t plain_prefix(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == '"' || c == '\\')
            break;
    }
    return i;
}

/* Append "s" (quoted) straight into b: only when nothing needs escaping. */
static st_status quote_plain(st_buf *b, const char *s, size_t n)
{
    st_status rc;

    if (n > SIZE_MAX - 2)
        return ST_E_TOO_LARGE;
    rc = st_buf_reserve(b, n + 2);
    if (rc != ST_OK)
        return rc;
    b->data[b->len] = '"';
    if (n > 0)
        memcpy(b->data + b->len + 1, s, n);
    b->data[b->len + 1 + n] = '"';
    b->len += n + 2;
    b->data[b->len] = '\0';
    return ST_OK;
}

/* Append "s" (quoted, escaped) to b: all or nothing. */
static st_status quote_escaped(st_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t old_len = b->len;
    st_status rc = st_buf_addc(b, '"');

    for (size_t i = 0; i < n && rc == ST_OK;) {
        size_t run = plain_prefix(s + i, n - i);
        if (run > 0) {
            rc = st_buf_add(b, s + i, run);
            i += run;
            continue;
        }
        unsigned char c = (unsigned char)s[i++];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        rc = st_buf_add(b, esc, len);
    }
    if (rc == ST_OK)
        rc = st_buf_addc(b, '"');
    if (rc != ST_OK && b->data != NULL) { /* drop a partial string */
        b->len = old_len;
        b->data[old_len] = '\0';
    }
    return rc;
}

static void jw_string(st_jw *w, const char *s, size_t n);

/* A string that is not UTF-8 is written with U+FFFD for each bad byte: JSON
 * text must be UTF-8, and one such string (an id stored before ids were
 * checked, a name cut at a byte limit inside an error reason) must not make
 * a whole answer unreadable. */
static void jw_string_repaired(st_jw *w, const char *s, size_t n)
{
    st_buf fixed = ST_BUF_INIT;
    st_status rc = st_utf8_repair(&fixed, s, n);
    if (rc != ST_OK)
        jw_fail(w, rc);
    else
        jw_string(w, fixed.data ? fixed.data : "", fixed.len);
    st_buf_free(&fixed);
}

static void jw_string(st_jw *w, const char *s, size_t n)
{
    st_status rc;

    if (w->status != ST_OK)
        return;
    if (!st_utf8_valid(s, n)) {
        jw_string_repaired(w, s, n);
        return;
    }
    if (plain_prefix(s, n) == n) {
        rc = quote_plain(w->out, s, n);
        if (rc != ST_OK)
            jw_fail(w, rc);
        return;
    }
    rc = quote_escaped(w->out, s, n);
    if (rc != ST_OK)
        jw_fail(w, rc);
}

st_status st_jw_init(st_jw *w, st_buf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    if (out == NULL) {
        w->status = ST_E_MISUSE;
        return w->status;
    }
    return ST_OK;
}

void st_jw_free(st_jw *w)
{
    if (w == NULL)
        return;
    free(w->deep);
    w->deep = NULL;
    w->deep_cap = 0;
}

/* The flags of level d (d <= w->depth, or d == w->depth + 1 once grown). */
static unsigned char *level(st_jw *w, unsigned d)
{
    return d < ST_JW_INLINE_LEVELS ? &w->need_comma[d] : &w->deep[d - ST_JW_INLINE_LEVELS];
}

/* Room for level d; false (status set) on memory. */
static bool level_room(st_jw *w, unsigned d)
{
    if (d < ST_JW_INLINE_LEVELS || d - ST_JW_INLINE_LEVELS < w->deep_cap)
        return true;
    unsigned cap = w->deep_cap ? w->deep_cap * 2 : 64;
    unsigned char *p = realloc(w->deep, cap);
    if (p == NULL) {
        jw_fail(w, ST_E_NOMEM);
        return false;
    }
    w->deep = p;
    w->deep_cap = cap;
    return true;
}

st_status st_jw_status(const st_jw *w)
{
    return w->status;
}

/* Before any value: the comma, and in an object the check that a key came
 * first.  Top-level values are independent (no commas between them), so a
 * caller may render several documents in a row with one writer. */
static bool begin_value(st_jw *w)
{
    unsigned char *f;

    if (w->status != ST_OK)
        return false;
    f = level(w, w->depth);
    if (*f & JW_OBJECT) {
        if (!w->after_key) {
            jw_fail(w, ST_E_MISUSE);
            return false;
        }
        w->after_key = false;
    } else if (w->depth > 0 && (*f & JW_COMMA)) {
        jw_emitc(w, ',');
    }
    *f |= JW_COMMA;
    return w->status == ST_OK;
}

static void jw_open(st_jw *w, char c, unsigned flags)
{
    if (!begin_value(w))
        return;
    if (w->depth >= ST_JW_MAX_DEPTH) {
        jw_fail(w, ST_E_MISUSE);
        return;
    }
    if (!level_room(w, w->depth + 1))
        return;
    jw_emitc(w, c);
    w->depth++;
    *level(w, w->depth) = (unsigned char)flags;
}

static void jw_close(st_jw *w, char c, unsigned flags)
{
    if (w->status != ST_OK)
        return;
    if (w->depth == 0 || (*level(w, w->depth) & JW_OBJECT) != flags || w->after_key) {
        jw_fail(w, ST_E_MISUSE);
        return;
    }
    jw_emitc(w, c);
    w->depth--;
}

void st_jw_obj_open(st_jw *w)
{
    jw_open(w, '{', JW_OBJECT);
}

void st_jw_obj_close(st_jw *w)
{
    jw_close(w, '}', JW_OBJECT);
}

void st_jw_arr_open(st_jw *w)
{
    jw_open(w, '[', 0);
}

void st_jw_arr_close(st_jw *w)
{
    jw_close(w, ']', 0);
}

void st_jw_keyn(st_jw *w, const char *key, size_t n)
{
    unsigned char *f;

    if (w->status != ST_OK)
        return;
    f = level(w, w->depth);
    if (!(*f & JW_OBJECT) || w->after_key || key == NULL) {
        jw_fail(w, ST_E_MISUSE);
        return;
    }
    if (*f & JW_COMMA)
        jw_emitc(w, ',');
    *f |= JW_COMMA;
    jw_string(w, key, n);
    jw_emitc(w, ':');
    w->after_key = true;
}

void st_jw_key(st_jw *w, const char *key)
{
    if (key == NULL) {
        jw_fail(w, ST_E_MISUSE);
        return;
    }
    st_jw_keyn(w, key, strlen(key));
}

void st_jw_strn(st_jw *w, const char *s, size_t n)
{
    if (s == NULL) {
        st_jw_null(w);
        return;
    }
    if (begin_value(w))
        jw_string(w, s, n);
}

void st_jw_str(st_jw *w, const char *s)
{
    st_jw_strn(w, s, s != NULL ? strlen(s) : 0);
}

/* Decimal digits of v, written backwards ending at end; returns the start. */
static char *fmt_u64(char *end, uint64_t v)
{
    char *p = end;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

void st_jw_uint(st_jw *w, uint64_t v)
{
    char tmp[24], *p;

    if (!begin_value(w))
        return;
    p = fmt_u64(tmp + sizeof tmp, v);
    jw_emit(w, p, (size_t)(tmp + sizeof tmp - p));
}

void st_jw_int(st_jw *w, int64_t v)
{
    char tmp[24], *p;
    /* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    if (!begin_value(w))
        return;
    p = fmt_u64(tmp + sizeof tmp, mag);
    if (v < 0)
        *--p = '-';
    jw_emit(w, p, (size_t)(tmp + sizeof tmp - p));
}

void st_jw_bool(st_jw *w, bool v)
{
    if (begin_value(w))
        jw_emit(w, v ? "true" : "false", v ? 4 : 5);
}

void st_jw_null(st_jw *w)
{
    if (begin_value(w))
        jw_emit(w, "null", 4);
}

void st_jw_raw(st_jw *w, const char *json, size_t n)
{
    if (w->status == ST_OK && (json == NULL || n == 0)) {
        jw_fail(w, ST_E_MISUSE);
        return;
    }
    if (begin_value(w))
        jw_emit(w, json, n);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void st_jw_members(st_jw *w, const char *obj_json, size_t n)
{
    const char *p = obj_json, *e = obj_json + n;
    unsigned char *f;

    if (w->status != ST_OK)
        return;
    f = level(w, w->depth);
    if (!(*f & JW_OBJECT) || w->after_key || obj_json == NULL) {
        jw_fail(w, ST_E_MISUSE);
        return;
    }
    while (p < e && is_ws(*p))
        p++;
    while (e > p && is_ws(e[-1]))
        e--;
    if (e - p < 2 || *p != '{' || e[-1] != '}') {
        jw_fail(w, ST_E_MISUSE);
        return;
    }
    p++;
    e--;
    while (p < e && is_ws(*p))
        p++;
    while (e > p && is_ws(e[-1]))
        e--;
    if (p == e)
        return; /* "{}": no members to add */
    if (*f & JW_COMMA)
        jw_emitc(w, ',');
    *f |= JW_COMMA;
    jw_emit(w, p, (size_t)(e - p));
}

/* One open container of st_jw_value: the node and its next child. */
typedef struct value_frame {
    const st_json *v;
    size_t next;
} value_frame;

/* A scalar, or the opening of a container (true: its children follow). */
static bool value_head(st_jw *w, const st_json *v)
{
    switch (v->type) {
    case ST_JSON_NULL:
        st_jw_null(w);
        return false;
    case ST_JSON_FALSE:
        st_jw_bool(w, false);
        return false;
    case ST_JSON_TRUE:
        st_jw_bool(w, true);
        return false;
    case ST_JSON_NUMBER:
        st_jw_raw(w, v->u.str, v->len);
        return false;
    case ST_JSON_STRING:
        st_jw_strn(w, v->u.str, v->len);
        return false;
    case ST_JSON_ARRAY:
        st_jw_arr_open(w);
        return w->status == ST_OK;
    case ST_JSON_OBJECT:
        st_jw_obj_open(w);
        return w->status == ST_OK;
    default:
        jw_fail(w, ST_E_MISUSE);
        return false;
    }
}

/* Iterative, with an explicit stack on the heap: documents may nest
 * thousands of levels (CouchDB stores them) and this runs on threads whose
 * stacks the embedding application sizes. */
void st_jw_value(st_jw *w, const st_json *v)
{
    value_frame inline_frames[32], *frames = inline_frames;
    size_t n = 0, cap = sizeof inline_frames / sizeof inline_frames[0];

    if (w->status != ST_OK)
        return;
    if (v == NULL) {
        jw_fail(w, ST_E_MISUSE);
        return;
    }
    if (!value_head(w, v))
        return;
    frames[n++] = (value_frame){v, 0};
    while (n > 0 && w->status == ST_OK) {
        value_frame *f = &frames[n - 1];
        const st_json *c = f->v;
        if (f->next == c->len) {
            if (c->type == ST_JSON_ARRAY)
                st_jw_arr_close(w);
            else
                st_jw_obj_close(w);
            n--;
            continue;
        }
        const st_json *child;
        if (c->type == ST_JSON_OBJECT) {
            const st_json_member *m = &c->u.members[f->next++];
            st_jw_keyn(w, m->key, m->key_len);
            child = &m->value;
        } else {
            child = &c->u.items[f->next++];
        }
        if (!value_head(w, child))
            continue;
        if (n == cap) {
            value_frame *g = malloc(2 * cap * sizeof *g);
            if (g == NULL) {
                jw_fail(w, ST_E_NOMEM);
                break;
            }
            memcpy(g, frames, n * sizeof *g);
            if (frames != inline_frames)
                free(frames);
            frames = g;
            cap *= 2;
        }
        frames[n++] = (value_frame){child, 0};
    }
    if (frames != inline_frames)
        free(frames);
}

/* ---- st_json_quote ------------------------------------------------------ */

st_status st_json_quote(st_buf *b, const char *s, size_t n)
{
    st_status rc;

    if (b == NULL || (s == NULL && n > 0))
        return ST_E_MISUSE;
    if (!st_utf8_valid(s, n)) { /* as jw_string: U+FFFD for each bad byte */
        st_buf fixed = ST_BUF_INIT;
        rc = st_utf8_repair(&fixed, s, n);
        if (rc == ST_OK)
            rc = st_json_quote(b, fixed.data ? fixed.data : "", fixed.len);
        st_buf_free(&fixed);
        return rc;
    }
    if (plain_prefix(s, n) == n)
        return quote_plain(b, s, n);
    return quote_escaped(b, s, n);
}
