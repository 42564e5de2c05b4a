/* json.c — JSON text to an arena-allocated st_json tree, via yajl callbacks.
 *
 * Why callbacks rather than yajl_tree: yajl_tree converts numbers and
 * mallocs every node.  Duplicate keys keep the last value (where it stands),
 * as CouchDB stores and hashes them.  Here the callbacks
 * push finished values onto a temporary stack; when a container closes its
 * children are copied into the document's arena as one contiguous array, so a
 * document costs a handful of allocations whatever its size, and
 * st_json_doc_free() is a walk over a few chunks.
 *
 * Limits are enforced before and during the parse: the byte size before yajl
 * sees anything, the depth inside start_map/start_array (returning 0 cancels
 * the parse).  yajl's own UTF-8 check is structural only (it accepts overlong
 * forms, encoded surrogates and code points past U+10FFFF) and it turns a
 * lone "\uD800" into "?", so strings are re-checked strictly and \u escapes
 * are pre-scanned for unpaired surrogates, as CouchDB's jiffy does.
 */
#include "json_int.h"
#include "st_json.h"
#include "st_utf8.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "yajl_mem.h"

#define ARENA_FIRST_MIN 256
#define ARENA_FIRST_MAX (64 * 1024)
#define NODE_ALIGN _Alignof(st_json_member)
#define INVALID_JSON "invalid UTF-8 JSON"
#define TOO_DEEP "nesting too deep"

/* An extra arena chunk; the first chunk lives inside the doc allocation. */
typedef struct chunk {
    struct chunk *next;
} chunk;

struct st_json_doc {
    st_json root;
    chunk *extra;     /* chunks allocated after the first, newest first */
    char *lo;         /* free space [lo, hi): nodes from lo up (aligned), */
    char *hi;         /* strings from hi down (unaligned) */
    size_t next_size; /* size of the next chunk to allocate */
};

/* One open container: where its children start on the value stack, and the
 * key it will be stored under in its parent (NULL inside arrays). */
typedef struct frame {
    size_t start;
    const char *key;
    size_t key_len;
} frame;

#define VALS_INLINE 64
#define FRAMES_INLINE 16

typedef struct parse_ctx {
    st_json_doc *doc;
    st_json_member *vals; /* finished children of the open containers */
    size_t nvals, vals_cap;
    frame *frames;
    size_t depth, frames_cap;
    size_t max_depth;
    const char *key; /* pending key of the next value in an object */
    size_t key_len;
    st_status fail; /* why a callback cancelled the parse */
    const char *why;
    st_json_member vals_inline[VALS_INLINE];
    frame frames_inline[FRAMES_INLINE];
} parse_ctx;

/* ---- arena ------------------------------------------------------------ */

static size_t align_up(size_t n)
{
    return (n + NODE_ALIGN - 1) & ~(NODE_ALIGN - 1);
}

/* Start a new chunk able to hold at least `need` bytes (plus alignment). */
static int arena_grow(st_json_doc *doc, size_t need)
{
    size_t size = doc->next_size;
    size_t hdr = align_up(sizeof(chunk));
    chunk *c;

    if (need > SIZE_MAX / 2 - hdr)
        return 0;
    if (size < need)
        size = need;
    c = malloc(hdr + size);
    if (c == NULL)
        return 0;
    c->next = doc->extra;
    doc->extra = c;
    doc->lo = (char *)c + hdr;
    doc->hi = doc->lo + size;
    if (doc->next_size < SIZE_MAX / 4)
        doc->next_size *= 2;
    return 1;
}

static void *arena_nodes(st_json_doc *doc, size_t bytes)
{
    void *p;

    bytes = align_up(bytes);
    if ((size_t)(doc->hi - doc->lo) < bytes && !arena_grow(doc, bytes))
        return NULL;
    p = doc->lo;
    doc->lo += bytes;
    return p;
}

/* Copy s[0..n) plus a NUL into the arena. */
static char *arena_str(st_json_doc *doc, const void *s, size_t n)
{
    char *p;

    if ((size_t)(doc->hi - doc->lo) < n + 1 && !arena_grow(doc, n + 1))
        return NULL;
    doc->hi -= n + 1;
    p = doc->hi;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static st_json_doc *doc_new(size_t text_len)
{
    size_t first = text_len * 2 + ARENA_FIRST_MIN;
    size_t hdr = align_up(sizeof(st_json_doc));
    st_json_doc *doc;

    if (first > ARENA_FIRST_MAX || text_len > ARENA_FIRST_MAX)
        first = ARENA_FIRST_MAX;
    first = align_up(first);
    doc = malloc(hdr + first);
    if (doc == NULL)
        return NULL;
    doc->root.type = ST_JSON_NULL;
    doc->root.len = 0;
    doc->root.u.str = NULL;
    doc->extra = NULL;
    doc->lo = (char *)doc + hdr;
    doc->hi = doc->lo + first;
    doc->next_size = first * 2;
    return doc;
}

void st_json_doc_free(st_json_doc *doc)
{
    chunk *c, *next;

    if (doc == NULL)
        return;
    for (c = doc->extra; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(doc);
}

const st_json *st_json_doc_root(const st_json_doc *doc)
{
    return doc != NULL ? &doc->root : NULL;
}

/* ---- validation -------------------------------------------------------- */

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* False when a \u escape is an unpaired surrogate.  Backslashes only occur
 * in valid JSON as escapes inside strings (no UTF-8 byte is 0x5C), so
 * stepping escape by escape stays in sync; malformed escapes are left for
 * yajl to reject. */
static int surrogates_paired(const char *text, size_t n)
{
    const char *p = text, *end = text + n;
    unsigned cp, lo;

    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (end - p < 2)
            return 1;
        if (p[1] != 'u') {
            p += 2;
            continue;
        }
        if (end - p < 6 || !hex4(p + 2, &cp))
            return 1;
        p += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return 0;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                return 0;
            p += 6;
        }
    }
    return 1;
}

/* ---- callbacks ---------------------------------------------------------- */

static int cancel(parse_ctx *c, st_status code, const char *why)
{
    c->fail = code;
    c->why = why;
    return 0;
}

/* Grow an array that starts in inline storage; 0 on allocation failure. */
static int grow(void **arr, size_t *cap, size_t elem, void *inline_arr)
{
    size_t ncap = *cap * 2;
    void *p;

    if (ncap > SIZE_MAX / elem)
        return 0;
    if (*arr == inline_arr) {
        p = malloc(ncap * elem);
        if (p != NULL)
            memcpy(p, *arr, *cap * elem);
    } else {
        p = realloc(*arr, ncap * elem);
    }
    if (p == NULL)
        return 0;
    *arr = p;
    *cap = ncap;
    return 1;
}

/* A finished value: the root, or the next child of the open container. */
static int push(parse_ctx *c, st_json v)
{
    st_json_member *m;

    if (c->depth == 0) {
        c->doc->root = v;
        return 1;
    }
    if (c->nvals == c->vals_cap) {
        void *arr = c->vals;

        if (!grow(&arr, &c->vals_cap, sizeof *c->vals, c->vals_inline))
            return cancel(c, ST_E_NOMEM, "out of memory");
        c->vals = arr;
    }
    m = &c->vals[c->nvals++];
    m->key = c->key;
    m->key_len = c->key_len;
    m->value = v;
    c->key = NULL;
    c->key_len = 0;
    return 1;
}

static int push_scalar(parse_ctx *c, st_json_type type)
{
    st_json v = {.type = type, .len = 0, .u.str = NULL};

    return push(c, v);
}

static int push_text(parse_ctx *c, st_json_type type, const void *s, size_t n)
{
    st_json v = {.type = type, .len = n};

    v.u.str = arena_str(c->doc, s, n);
    if (v.u.str == NULL)
        return cancel(c, ST_E_NOMEM, "out of memory");
    return push(c, v);
}

static int cb_null(void *ctx)
{
    return push_scalar(ctx, ST_JSON_NULL);
}

static int cb_boolean(void *ctx, int b)
{
    return push_scalar(ctx, b ? ST_JSON_TRUE : ST_JSON_FALSE);
}

static int cb_number(void *ctx, const char *s, size_t n)
{
    return push_text(ctx, ST_JSON_NUMBER, s, n);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    if (!st_utf8_valid(s, n))
        return cancel(ctx, ST_E_BAD_REQUEST, INVALID_JSON);
    return push_text(ctx, ST_JSON_STRING, s, n);
}

static int cb_map_key(void *ctx, const unsigned char *s, size_t n)
{
    parse_ctx *c = ctx;

    if (!st_utf8_valid(s, n))
        return cancel(c, ST_E_BAD_REQUEST, INVALID_JSON);
    c->key = arena_str(c->doc, s, n);
    if (c->key == NULL)
        return cancel(c, ST_E_NOMEM, "out of memory");
    c->key_len = n;
    return 1;
}

static int open_container(parse_ctx *c)
{
    frame *f;

    if (c->depth >= c->max_depth)
        return cancel(c, ST_E_BAD_REQUEST, TOO_DEEP);
    if (c->depth == c->frames_cap) {
        void *arr = c->frames;

        if (!grow(&arr, &c->frames_cap, sizeof *c->frames, c->frames_inline))
            return cancel(c, ST_E_NOMEM, "out of memory");
        c->frames = arr;
    }
    f = &c->frames[c->depth++];
    f->start = c->nvals;
    f->key = c->key;
    f->key_len = c->key_len;
    c->key = NULL;
    c->key_len = 0;
    return 1;
}

static uint64_t key_hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211u;
    return h;
}

static bool same_key(const st_json_member *a, const st_json_member *b)
{
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Copy an object's members into out, keeping only the last of duplicate
 * keys (where it stands), as CouchDB does with what it stores and hashes:
 * {"k":1,"k":2} is {"k":2}.  Returns the count kept; false on memory.
 * (Shared with json_pick.c through json_int.h.) */
bool st_json_dedupe_members(const st_json_member *kids, size_t count, st_json_member *out,
                           size_t *out_n)
{
    bool *drop = NULL;
    size_t n = 0;
    if (count <= 32) {
        for (size_t i = 0; i < count; i++) {
            bool later = false;
            for (size_t j = i + 1; j < count && !later; j++)
                later = same_key(&kids[i], &kids[j]);
            if (!later)
                out[n++] = kids[i];
        }
        *out_n = n;
        return true;
    }
    /* Larger objects: a hash set of indexes, filled from the end. */
    size_t cap = 64;
    while (cap < count * 2)
        cap *= 2;
    size_t *slot = malloc(cap * sizeof *slot);
    drop = calloc(count, sizeof *drop);
    if (!slot || !drop) {
        free(slot);
        free(drop);
        return false;
    }
    for (size_t i = 0; i < cap; i++)
        slot[i] = SIZE_MAX;
    for (size_t i = count; i-- > 0;) {
        size_t k = key_hash(kids[i].key, kids[i].key_len) & (cap - 1);
        while (slot[k] != SIZE_MAX && !same_key(&kids[slot[k]], &kids[i]))
            k = (k + 1) & (cap - 1);
        if (slot[k] != SIZE_MAX)
            drop[i] = true;
        else
            slot[k] = i;
    }
    for (size_t i = 0; i < count; i++)
        if (!drop[i])
            out[n++] = kids[i];
    free(slot);
    free(drop);
    *out_n = n;
    return true;
}

static int close_container(parse_ctx *c, st_json_type type)
{
    frame *f = &c->frames[c->depth - 1];
    size_t count = c->nvals - f->start;
    const st_json_member *kids = c->vals + f->start;
    st_json v = {.type = type, .len = count, .u.str = NULL};

    if (count > 0 && type == ST_JSON_OBJECT) {
        v.u.members = arena_nodes(c->doc, count * sizeof(st_json_member));
        if (v.u.members == NULL || !st_json_dedupe_members(kids, count, v.u.members, &v.len))
            return cancel(c, ST_E_NOMEM, "out of memory");
    } else if (count > 0) {
        v.u.items = arena_nodes(c->doc, count * sizeof(st_json));
        if (v.u.items == NULL)
            return cancel(c, ST_E_NOMEM, "out of memory");
        for (size_t i = 0; i < count; i++)
            v.u.items[i] = kids[i].value;
    }
    c->nvals = f->start;
    c->key = f->key;
    c->key_len = f->key_len;
    c->depth--;
    return push(c, v);
}

static int cb_start_map(void *ctx)
{
    return open_container(ctx);
}

static int cb_end_map(void *ctx)
{
    return close_container(ctx, ST_JSON_OBJECT);
}

static int cb_start_array(void *ctx)
{
    return open_container(ctx);
}

static int cb_end_array(void *ctx)
{
    return close_container(ctx, ST_JSON_ARRAY);
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

/* ---- parse -------------------------------------------------------------- */

/* The yajl part of a parse.  Out of memory inside yajl comes back here
 * through m->escape (yajl_mem.h); m is the caller's, so nothing this
 * function changes after setjmp is read on that way back. */
static st_status run_yajl(st_yajl_mem *m, parse_ctx *c, const char *text, size_t n,
                          st_error *err)
{
    yajl_handle h;
    yajl_status ys;

    st_yajl_mem_init(m);
    if (setjmp(m->escape) != 0) {
        st_yajl_mem_release(m);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    m->armed = true;
    h = yajl_alloc(&callbacks, &m->funcs, c);
    if (h == NULL) {
        m->armed = false;
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    ys = yajl_parse(h, (const unsigned char *)text, n);
    if (ys == yajl_status_ok)
        ys = yajl_complete_parse(h);
    m->armed = false;
    yajl_free(h);
    if (ys == yajl_status_client_canceled)
        return st_fail(err, c->fail, "%s", c->why);
    if (ys != yajl_status_ok)
        return st_fail(err, ST_E_BAD_REQUEST, INVALID_JSON);
    return ST_OK;
}

st_status st_json_parse(const char *text, size_t n, const st_json_limits *lim,
                        st_json_doc **out_doc, st_error *err)
{
    parse_ctx c;
    st_yajl_mem mem;
    st_status rc;

    if (out_doc == NULL || (text == NULL && n > 0))
        return st_fail(err, ST_E_MISUSE, "st_json_parse: NULL argument");
    *out_doc = NULL;
    if (text == NULL)
        text = "";
    if (lim != NULL && lim->max_bytes != 0 && n > lim->max_bytes)
        return st_fail(err, ST_E_DOC_TOO_LARGE, "document is %zu bytes, limit is %zu", n,
                       lim->max_bytes);
    if (!surrogates_paired(text, n))
        return st_fail(err, ST_E_BAD_REQUEST, INVALID_JSON);

    c.doc = doc_new(n);
    c.vals = c.vals_inline;
    c.nvals = 0;
    c.vals_cap = VALS_INLINE;
    c.frames = c.frames_inline;
    c.depth = 0;
    c.frames_cap = FRAMES_INLINE;
    c.max_depth = lim != NULL && lim->max_depth != 0 ? lim->max_depth : ST_JSON_DEFAULT_DEPTH;
    c.key = NULL;
    c.key_len = 0;
    c.fail = ST_OK;
    c.why = NULL;
    if (c.doc == NULL)
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
    else
        rc = run_yajl(&mem, &c, text, n, err);
    if (rc == ST_OK) {
        *out_doc = c.doc;
        c.doc = NULL;
    }
    if (c.vals != c.vals_inline)
        free(c.vals);
    if (c.frames != c.frames_inline)
        free(c.frames);
    st_json_doc_free(c.doc);
    return rc;
}

/* ---- copies ------------------------------------------------------------- */

static bool copy_into(st_json_doc *d, const st_json *v, st_json *out, unsigned depth)
{
    *out = *v;
    if (depth > ST_JSON_DEFAULT_DEPTH)
        return false;
    switch (v->type) {
    case ST_JSON_STRING:
    case ST_JSON_NUMBER:
        return (out->u.str = arena_str(d, v->u.str, v->len)) != NULL;
    case ST_JSON_ARRAY:
        if (v->len == 0)
            return true;
        if (!(out->u.items = arena_nodes(d, v->len * sizeof *out->u.items)))
            return false;
        for (size_t i = 0; i < v->len; i++)
            if (!copy_into(d, &v->u.items[i], &out->u.items[i], depth + 1))
                return false;
        return true;
    case ST_JSON_OBJECT:
        if (v->len == 0)
            return true;
        if (!(out->u.members = arena_nodes(d, v->len * sizeof *out->u.members)))
            return false;
        for (size_t i = 0; i < v->len; i++) {
            st_json_member *m = &out->u.members[i];
            m->key_len = v->u.members[i].key_len;
            if (!(m->key = arena_str(d, v->u.members[i].key, m->key_len)) ||
                !copy_into(d, &v->u.members[i].value, &m->value, depth + 1))
                return false;
        }
        return true;
    default:
        return true;
    }
}

st_json_doc *st_json_doc_copy(const st_json *v, size_t size_hint)
{
    st_json_doc *d = doc_new(size_hint);
    if (d && !copy_into(d, v, &d->root, 0)) {
        st_json_doc_free(d);
        d = NULL;
    }
    return d;
}

/* ---- lookups ------------------------------------------------------------ */

const st_json *st_json_get(const st_json *obj, const char *key)
{
    size_t klen;

    if (obj == NULL || obj->type != ST_JSON_OBJECT || key == NULL)
        return NULL;
    klen = strlen(key);
    /* Backwards, so the last of duplicate keys wins (jiffy's behaviour). */
    for (size_t i = obj->len; i > 0; i--) {
        const st_json_member *m = &obj->u.members[i - 1];

        if (m->key_len == klen && memcmp(m->key, key, klen) == 0)
            return &m->value;
    }
    return NULL;
}

bool st_json_is_str(const st_json *v)
{
    return v != NULL && v->type == ST_JSON_STRING;
}

const char *st_json_get_str(const st_json *obj, const char *key)
{
    const st_json *v = st_json_get(obj, key);

    return st_json_is_str(v) ? v->u.str : NULL;
}

/* Magnitude and sign of a plain integer literal ("-12", "0"); fractions and
 * exponents are refused even when their value is whole ("1.0", "1e2"), as
 * callers use these for counts and sequence numbers. */
static bool int_text(const st_json *v, bool *neg, uint64_t *mag)
{
    const char *s, *end;
    uint64_t m = 0;

    if (v == NULL || v->type != ST_JSON_NUMBER || v->len == 0)
        return false;
    s = v->u.str;
    end = s + v->len;
    *neg = *s == '-';
    if (*neg)
        s++;
    if (s == end)
        return false;
    for (; s < end; s++) {
        unsigned d;

        if (*s < '0' || *s > '9')
            return false;
        d = (unsigned)(*s - '0');
        if (m > (UINT64_MAX - d) / 10)
            return false;
        m = m * 10 + d;
    }
    *mag = m;
    return true;
}

bool st_json_int64(const st_json *v, int64_t *out)
{
    bool neg;
    uint64_t m;

    if (!int_text(v, &neg, &m))
        return false;
    if (neg) {
        if (m > (uint64_t)INT64_MAX + 1)
            return false;
        *out = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    } else {
        if (m > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)m;
    }
    return true;
}

bool st_json_uint64(const st_json *v, uint64_t *out)
{
    bool neg;
    uint64_t m;

    if (!int_text(v, &neg, &m))
        return false;
    if (neg && m != 0)
        return false;
    *out = m;
    return true;
}
