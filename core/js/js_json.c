/* js_json.c — recursive-descent JSON decoder into Duktape values.
 *
 * Errors longjmp out through duk_error(); the decoder holds no memory of its
 * own across calls that may throw (scratch space for escaped strings is a
 * Duktape buffer on the value stack), so nothing leaks when they do.
 */
#include "js_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    duk_context *ctx;
    const unsigned char *start, *p, *end;
    bool freeze;            /* the line is a map_doc: freeze what lies below */
    void *object_proto;     /* Object.prototype, given to each object once filled */
} parser;

static void parse_value(parser *j, unsigned depth);

static void fail(parser *j, const char *what)
{
    (void)duk_error(j->ctx, DUK_ERR_SYNTAX_ERROR, "%s at offset %ld", what,
                    (long)(j->p - j->start));
}

static void skip_ws(parser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int peek(const parser *j)
{
    return j->p < j->end ? *j->p : -1;
}

static void expect_word(parser *j, const char *word, size_t len)
{
    if ((size_t)(j->end - j->p) < len || memcmp(j->p, word, len) != 0)
        fail(j, "invalid literal");
    j->p += len;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One UTF-16 code unit as Duktape stores it (surrogates encoded alone). */
static size_t put_unit(unsigned char *o, unsigned u)
{
    if (u < 0x80) {
        o[0] = (unsigned char)u;
        return 1;
    }
    if (u < 0x800) {
        o[0] = (unsigned char)(0xC0 | (u >> 6));
        o[1] = (unsigned char)(0x80 | (u & 0x3F));
        return 2;
    }
    o[0] = (unsigned char)(0xE0 | (u >> 12));
    o[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (u & 0x3F));
    return 3;
}

/* The string at s (after its opening quote) has escapes: unescape it into a
 * scratch buffer no longer than the raw text, then push it. */
static void push_escaped(parser *j, const unsigned char *s)
{
    const unsigned char *q = s;
    unsigned char *out;
    size_t o = 0;

    while (q < j->end && *q != '"')
        q += (*q == '\\' && q + 1 < j->end) ? 2 : 1;
    if (q >= j->end)
        fail(j, "unterminated string");
    out = duk_push_fixed_buffer(j->ctx, (duk_size_t)(q - s));
    while (j->p < q) {
        unsigned c = *j->p++;
        if (c < 0x20)
            fail(j, "control character in string");
        if (c != '\\') {
            out[o++] = (unsigned char)c;
            continue;
        }
        c = *j->p++;
        switch (c) {
        case '"': case '\\': case '/': out[o++] = (unsigned char)c; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            unsigned u = 0;
            if (q - j->p < 4)
                fail(j, "bad \\u escape");
            for (int k = 0; k < 4; k++) {
                int h = hexval(*j->p++);
                if (h < 0)
                    fail(j, "bad \\u escape");
                u = u * 16 + (unsigned)h;
            }
            o += put_unit(out + o, u);
            break;
        }
        default:
            fail(j, "bad escape");
        }
    }
    j->p = q + 1;
    duk_push_lstring(j->ctx, (const char *)out, o);
    duk_remove(j->ctx, -2);
}

/* Bytes that end a plain run of a string: the quote, a backslash, a
 * control character.  One load a byte instead of three compares: a
 * document is mostly strings. */
static const unsigned char string_stop[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0A] = 1, [0x0B] = 1, [0x0C] = 1, [0x0D] = 1,
    [0x0E] = 1, [0x0F] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1A] = 1, [0x1B] = 1,
    [0x1C] = 1, [0x1D] = 1, [0x1E] = 1, [0x1F] = 1, ['"'] = 1,   ['\\'] = 1,
};

/* At the opening quote; pushes the string. */
static void parse_string(parser *j)
{
    const unsigned char *s = ++j->p;

    while (j->p < j->end && !string_stop[*j->p])
        j->p++;
    if (j->p < j->end && *j->p == '"') {
        duk_push_lstring(j->ctx, (const char *)s, (duk_size_t)(j->p - s));
        j->p++;
        return;
    }
    if (j->p >= j->end)
        fail(j, "unterminated string");
    if (*j->p < 0x20)
        fail(j, "control character in string");
    j->p = s;
    push_escaped(j, s);
}

static void scan_digits(parser *j)
{
    const unsigned char *d = j->p;

    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    if (j->p == d)
        fail(j, "invalid number");
}

static void parse_number(parser *j)
{
    const unsigned char *s = j->p;
    bool integral = true;
    size_t len;
    char tmp[64];

    if (peek(j) == '-')
        j->p++;
    if (peek(j) == '0')
        j->p++;
    else
        scan_digits(j);
    if (peek(j) == '.') {
        j->p++;
        scan_digits(j);
        integral = false;
    }
    if (peek(j) == 'e' || peek(j) == 'E') {
        j->p++;
        if (peek(j) == '+' || peek(j) == '-')
            j->p++;
        scan_digits(j);
        integral = false;
    }
    len = (size_t)(j->p - s);
    if (integral && len <= 16) {
        /* At most 15 digits: exact in a double, no strtod needed. */
        const unsigned char *d = s + (*s == '-');
        int64_t v = 0;
        while (d < j->p)
            v = v * 10 + (*d++ - '0');
        duk_push_number(j->ctx, *s == '-' ? -(double)v : (double)v);
        return;
    }
    if (len < sizeof tmp) {
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        duk_push_number(j->ctx, strtod(tmp, NULL));
        return;
    }
    duk_push_lstring(j->ctx, (const char *)s, len); /* hundreds of digits: rare */
    duk_to_number(j->ctx, -1);
}

static void parse_object(parser *j, unsigned depth)
{
    duk_context *ctx = j->ctx;
    duk_idx_t obj;

    /* Filled while it has no prototype: a put then looks no further than
     * the object (no setter to find, "__proto__" is a plain key). */
    duk_require_stack(ctx, 4);
    obj = duk_push_bare_object(ctx);
    j->p++;
    skip_ws(j);
    if (peek(j) == '}') {
        j->p++;
    } else {
        for (;;) {
            skip_ws(j);
            if (peek(j) != '"')
                fail(j, "expected a key");
            parse_string(j);
            skip_ws(j);
            if (peek(j) != ':')
                fail(j, "expected ':'");
            j->p++;
            parse_value(j, depth + 1);
            duk_put_prop(ctx, obj);
            skip_ws(j);
            if (peek(j) == ',') {
                j->p++;
                continue;
            }
            if (peek(j) != '}')
                fail(j, "expected ',' or '}'");
            j->p++;
            break;
        }
    }
    duk_push_heapptr(ctx, j->object_proto);
    duk_set_prototype(ctx, obj);
    if (j->freeze && depth > 0)
        duk_freeze(ctx, obj);
}

/* Is the value on top the string "map_doc"? */
static bool is_map_doc(duk_context *ctx)
{
    duk_size_t n;
    const char *s = duk_is_string(ctx, -1) ? duk_get_lstring(ctx, -1, &n) : NULL;

    return s != NULL && n == 7 && memcmp(s, "map_doc", 7) == 0;
}

static void parse_array(parser *j, unsigned depth)
{
    duk_context *ctx = j->ctx;
    duk_uarridx_t i = 0;
    duk_idx_t arr;

    duk_require_stack(ctx, 4);
    arr = duk_push_array(ctx);
    j->p++;
    skip_ws(j);
    if (peek(j) == ']') {
        j->p++;
    } else {
        for (;;) {
            parse_value(j, depth + 1);
            if (depth == 0 && i == 0)
                j->freeze = is_map_doc(ctx);
            duk_put_prop_index(ctx, arr, i++);
            skip_ws(j);
            if (peek(j) == ',') {
                j->p++;
                continue;
            }
            if (peek(j) != ']')
                fail(j, "expected ',' or ']'");
            j->p++;
            break;
        }
    }
    if (j->freeze && depth > 0)
        duk_freeze(ctx, arr);
}

static void parse_value(parser *j, unsigned depth)
{
    if (depth > JS_JSON_MAX_DEPTH)
        fail(j, "nested too deep");
    skip_ws(j);
    switch (peek(j)) {
    case '{': parse_object(j, depth); break;
    case '[': parse_array(j, depth); break;
    case '"': parse_string(j); break;
    case 't': expect_word(j, "true", 4); duk_push_true(j->ctx); break;
    case 'f': expect_word(j, "false", 5); duk_push_false(j->ctx); break;
    case 'n': expect_word(j, "null", 4); duk_push_null(j->ctx); break;
    default:
        if (peek(j) == '-' || (peek(j) >= '0' && peek(j) <= '9'))
            parse_number(j);
        else
            fail(j, "unexpected character");
    }
}

/* The line as the pool writes map_doc, ["map_doc",DOC]: DOC alone, frozen,
 * true; false (nothing pushed) when the line is anything else. */
static bool push_map_doc(parser *j)
{
    static const char head[] = "[\"map_doc\",";
    size_t len = sizeof head - 1;

    if ((size_t)(j->end - j->p) < len || memcmp(j->p, head, len) != 0)
        return false;
    j->p += len;
    j->freeze = true;
    parse_value(j, 1);
    skip_ws(j);
    if (peek(j) == ']') {
        j->p++;
        skip_ws(j);
        if (j->p == j->end)
            return true;
    }
    duk_pop(j->ctx); /* more than a document: parse it as any line */
    j->p = j->start;
    j->freeze = false;
    return false;
}

bool js_json_push(duk_context *ctx, const char *s, size_t n, void *object_proto)
{
    parser j = {ctx, (const unsigned char *)s, (const unsigned char *)s,
                (const unsigned char *)s + n, false, object_proto};

    if (push_map_doc(&j))
        return true;
    parse_value(&j, 0);
    skip_ws(&j);
    if (j.p != j.end)
        fail(&j, "trailing characters");
    if (j.freeze) {
        duk_get_prop_index(ctx, -1, 1); /* the document (undefined if none) */
        duk_remove(ctx, -2);
    }
    return j.freeze;
}
