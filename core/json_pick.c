/* json_pick.c — a JSON object to the st_json tree of a few of its top-level
 * members (st_json_pick.h), by recursive descent over the text.
 *
 * Why recursion here when json.c is iterative: nesting is capped at
 * ST_JSON_PICK_DEPTH (deeper goes to json.c), so the stack stays small.
 * Why it declines rather than reports: every refusal is a case json.c
 * decides, so there is one answer for each input and one place it is made.
 *
 * Memory: values built are copied into an arena that is rewound, not freed,
 * at the start of each parse; a parse that outgrew it takes extra chunks,
 * and the next parse replaces both by one block of the combined size, so a
 * scan settles on one block.  Finished children wait on a value stack, as
 * in json.c, and are copied out when their container closes.
 */
#include "json_int.h"
#include "st_json_pick.h"
#include "st_utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_BLOCK 4096
#define FIRST_VALS 32
#define NODE_ALIGN _Alignof(st_json_member)

typedef struct chunk {
    struct chunk *next;
    max_align_t data[];
} chunk;

struct st_json_pick {
    char *block;          /* the arena's main block */
    size_t cap, used;
    chunk *extra;         /* taken when the block was full, newest first */
    size_t extra_bytes;
    st_json_member *vals; /* finished children of the open containers */
    size_t nvals, vals_cap;
};

/* The text being read. */
typedef struct cur {
    st_json_pick *p;
    const unsigned char *s, *end;
} cur;

st_json_pick *st_json_pick_new(void)
{
    st_json_pick *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->block = malloc(FIRST_BLOCK);
    p->vals = malloc(FIRST_VALS * sizeof *p->vals);
    if (!p->block || !p->vals) {
        st_json_pick_free(p);
        return NULL;
    }
    p->cap = FIRST_BLOCK;
    p->vals_cap = FIRST_VALS;
    return p;
}

static void free_extra(st_json_pick *p)
{
    for (chunk *c = p->extra, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    p->extra = NULL;
    p->extra_bytes = 0;
}

void st_json_pick_free(st_json_pick *p)
{
    if (!p)
        return;
    free_extra(p);
    free(p->block);
    free(p->vals);
    free(p);
}

/* Rewind the arena; false when out of memory. */
static bool reset(st_json_pick *p)
{
    p->used = 0;
    p->nvals = 0;
    if (!p->extra)
        return true;
    size_t cap = p->cap + p->extra_bytes;
    free_extra(p);
    free(p->block);
    p->cap = 0;
    if (!(p->block = malloc(cap)))
        return false;
    p->cap = cap;
    return true;
}

static void *arena(st_json_pick *p, size_t n)
{
    size_t at = (p->used + NODE_ALIGN - 1) & ~(NODE_ALIGN - 1);
    if (p->block && at <= p->cap && p->cap - at >= n) {
        p->used = at + n;
        return p->block + at;
    }
    if (n > SIZE_MAX / 2)
        return NULL;
    chunk *c = malloc(sizeof *c + n);
    if (!c)
        return NULL;
    c->next = p->extra;
    p->extra = c;
    p->extra_bytes += n + NODE_ALIGN;
    return c->data;
}

static bool push(st_json_pick *p, const char *key, size_t key_len, st_json v)
{
    if (p->nvals == p->vals_cap) {
        size_t cap = p->vals_cap * 2;
        st_json_member *nv = cap < SIZE_MAX / sizeof *nv ? realloc(p->vals, cap * sizeof *nv)
                                                        : NULL;
        if (!nv)
            return false;
        p->vals = nv;
        p->vals_cap = cap;
    }
    p->vals[p->nvals++] = (st_json_member){.key = key, .key_len = key_len, .value = v};
    return true;
}

/* ---- lexing ----------------------------------------------------------------- */

static void ws(cur *c)
{
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\n' || *c->s == '\r' || *c->s == '\t'))
        c->s++;
}

/* Bytes a string's fast loop stops at: '"', '\\', controls, non-ASCII. */
#define ALL16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
#define NONE16 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
static const unsigned char stop[256] = {
    ALL16, ALL16,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x22 '"' */
    NONE16, NONE16,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x5C '\\' */
    NONE16, NONE16,
    ALL16, ALL16, ALL16, ALL16, ALL16, ALL16, ALL16, ALL16,
};

/* A string at c->s (its opening quote): raw[0..*raw_len) is what lies
 * between the quotes, *esc whether it holds escapes.  Declines \u, control
 * characters, unknown escapes and invalid UTF-8. */
static bool scan_string_slow(cur *c, const unsigned char **raw, size_t *raw_len, bool *esc)
{
    const unsigned char *s = c->s + 1, *end = c->end;
    bool high = false;
    *esc = false;
    for (;;) {
        while (s < end && !stop[*s])
            s++;
        if (s == end)
            return false;
        unsigned char b = *s;
        if (b == '"')
            break;
        if (b == '\\') {
            if (end - s < 2 || !memchr("\"\\/bfnrt", s[1], 8))
                return false;
            *esc = true;
            s += 2;
            continue;
        }
        if (b < 0x20)
            return false;
        high |= b >= 0x80;
        s++;
    }
    *raw = c->s + 1;
    *raw_len = (size_t)(s - *raw);
    c->s = s + 1;
    /* Escapes are ASCII and never join or split a multi-byte sequence, so
     * the raw text is valid exactly when the unescaped string is. */
    return !high || st_utf8_valid(*raw, *raw_len);
}

/* The same; most strings are plain ASCII, read here without the call. */
static inline bool scan_string(cur *c, const unsigned char **raw, size_t *raw_len, bool *esc)
{
    const unsigned char *s = c->s + 1;
    while (s < c->end && !stop[*s])
        s++;
    if (s == c->end || *s != '"')
        return scan_string_slow(c, raw, raw_len, esc);
    *raw = c->s + 1;
    *raw_len = (size_t)(s - *raw);
    *esc = false;
    c->s = s + 1;
    return true;
}

/* The unescaped string of raw[0..n), NUL-terminated, in the arena. */
static char *unescape(st_json_pick *p, const unsigned char *raw, size_t n, bool esc,
                      size_t *out_len)
{
    char *d = arena(p, n + 1);
    if (!d)
        return NULL;
    if (!esc) {
        memcpy(d, raw, n);
        d[n] = '\0';
        *out_len = n;
        return d;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = (char)raw[i];
        if (ch == '\\') {
            switch (raw[++i]) {
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            default: ch = (char)raw[i]; break; /* " \ / */
            }
        }
        d[k++] = ch;
    }
    d[k] = '\0';
    *out_len = k;
    return d;
}

static bool digit(const cur *c)
{
    return c->s < c->end && *c->s >= '0' && *c->s <= '9';
}

/* A number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool scan_number(cur *c)
{
    if (c->s < c->end && *c->s == '-')
        c->s++;
    if (!digit(c))
        return false;
    if (*c->s++ != '0')
        while (digit(c))
            c->s++;
    if (c->s < c->end && *c->s == '.') {
        c->s++;
        if (!digit(c))
            return false;
        while (digit(c))
            c->s++;
    }
    if (c->s < c->end && (*c->s == 'e' || *c->s == 'E')) {
        c->s++;
        if (c->s < c->end && (*c->s == '+' || *c->s == '-'))
            c->s++;
        if (!digit(c))
            return false;
        while (digit(c))
            c->s++;
    }
    return true;
}

static bool literal(cur *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->s) < n || memcmp(c->s, word, n) != 0)
        return false;
    c->s += n;
    return true;
}

/* ---- values ------------------------------------------------------------------ */

static bool value(cur *c, unsigned depth, bool build, st_json *out);

/* An object or array at c->s; built into *out when build. */
static bool container(cur *c, unsigned depth, bool build, st_json *out)
{
    bool obj = *c->s == '{';
    unsigned char close = obj ? '}' : ']';
    size_t start = c->p->nvals;
    if (depth >= ST_JSON_PICK_DEPTH)
        return false;
    c->s++;
    ws(c);
    if (c->s < c->end && *c->s == close) {
        c->s++;
    } else {
        for (;;) {
            const char *key = NULL;
            size_t key_len = 0;
            st_json v;
            if (obj) {
                const unsigned char *raw;
                bool esc;
                if (c->s == c->end || *c->s != '"' || !scan_string(c, &raw, &key_len, &esc))
                    return false;
                if (build && !(key = unescape(c->p, raw, key_len, esc, &key_len)))
                    return false;
                ws(c);
                if (c->s == c->end || *c->s++ != ':')
                    return false;
                ws(c);
            }
            if (!value(c, depth + 1, build, &v) || (build && !push(c->p, key, key_len, v)))
                return false;
            ws(c);
            if (c->s == c->end)
                return false;
            if (*c->s == close) {
                c->s++;
                break;
            }
            if (*c->s++ != ',')
                return false;
            ws(c);
        }
    }
    if (!build)
        return true;
    size_t count = c->p->nvals - start;
    const st_json_member *kids = c->p->vals + start;
    *out = (st_json){.type = obj ? ST_JSON_OBJECT : ST_JSON_ARRAY, .len = count};
    if (count && obj) {
        if (!(out->u.members = arena(c->p, count * sizeof *out->u.members)) ||
            !st_json_dedupe_members(kids, count, out->u.members, &out->len))
            return false;
    } else if (count) {
        if (!(out->u.items = arena(c->p, count * sizeof *out->u.items)))
            return false;
        for (size_t i = 0; i < count; i++)
            out->u.items[i] = kids[i].value;
    }
    c->p->nvals = start;
    return true;
}

/* One value at c->s (no leading whitespace); built into *out when build. */
static bool value(cur *c, unsigned depth, bool build, st_json *out)
{
    if (c->s == c->end)
        return false;
    const unsigned char *at = c->s;
    switch (*c->s) {
    case '{':
    case '[':
        return container(c, depth, build, out);
    case '"': {
        const unsigned char *raw;
        size_t n;
        bool esc;
        if (!scan_string(c, &raw, &n, &esc))
            return false;
        if (build) {
            *out = (st_json){.type = ST_JSON_STRING};
            if (!(out->u.str = unescape(c->p, raw, n, esc, &out->len)))
                return false;
        }
        return true;
    }
    case 't':
        *out = (st_json){.type = ST_JSON_TRUE};
        return literal(c, "true", 4);
    case 'f':
        *out = (st_json){.type = ST_JSON_FALSE};
        return literal(c, "false", 5);
    case 'n':
        *out = (st_json){.type = ST_JSON_NULL};
        return literal(c, "null", 4);
    default:
        if (!scan_number(c))
            return false;
        if (build) {
            *out = (st_json){.type = ST_JSON_NUMBER};
            if (!(out->u.str = unescape(c->p, at, (size_t)(c->s - at), false, &out->len)))
                return false;
        }
        return true;
    }
}

static bool wanted(const st_json_key *keys, size_t nkeys, const char *k, size_t n)
{
    for (size_t i = 0; i < nkeys; i++)
        if (keys[i].len == n && (n == 0 || (keys[i].key[0] == k[0] &&
                                            memcmp(keys[i].key, k, n) == 0)))
            return true;
    return false;
}

bool st_json_pick_parse(st_json_pick *p, const char *text, size_t n, const st_json_key *keys,
                        size_t nkeys, size_t lead, st_json *out)
{
    cur c = {p, (const unsigned char *)text, (const unsigned char *)text + n};
    if (!text || !reset(p))
        return false;
    ws(&c);
    if (c.s == c.end || *c.s != '{')
        return false;
    c.s++;
    ws(&c);
    bool empty = c.s < c.end && *c.s == '}';
    if (empty)
        c.s++;
    while (!empty) {
        const unsigned char *raw;
        size_t len;
        bool esc;
        if (c.s == c.end || *c.s != '"' || !scan_string(&c, &raw, &len, &esc))
            return false;
        const char *key = (const char *)raw;
        if (esc && !(key = unescape(p, raw, len, esc, &len)))
            return false;
        bool keep = wanted(keys, nkeys, key, len);
        ws(&c);
        if (c.s == c.end || *c.s++ != ':')
            return false;
        ws(&c);
        st_json v;
        if (!value(&c, 1, keep, &v))
            return false;
        /* A kept key is copied so that it is NUL-terminated like json.c's. */
        if (keep && (!(key = unescape(p, (const unsigned char *)key, len, false, &len)) ||
                     !push(p, key, len, v)))
            return false;
        ws(&c);
        if (c.s == c.end)
            return false;
        if (*c.s == '}') {
            c.s++;
            break;
        }
        if (*c.s++ != ',')
            return false;
        ws(&c);
    }
    ws(&c);
    if (c.s != c.end)
        return false;
    st_json o = {.type = ST_JSON_OBJECT};
    if (lead > SIZE_MAX / sizeof *o.u.members - p->nvals ||
        !(o.u.members = arena(p, (lead + p->nvals) * sizeof *o.u.members)))
        return false;
    memset(o.u.members, 0, lead * sizeof *o.u.members);
    if (!st_json_dedupe_members(p->vals, p->nvals, o.u.members + lead, &o.len))
        return false;
    o.len += lead;
    *out = o;
    return true;
}

bool st_json_pick_value(st_json_pick *p, const char *text, size_t n, st_json *out)
{
    cur c = {p, (const unsigned char *)text, (const unsigned char *)text + n};
    st_json v;
    if (!text || !reset(p))
        return false;
    ws(&c);
    if (!value(&c, 0, true, &v))
        return false;
    ws(&c);
    if (c.s != c.end)
        return false;
    *out = v;
    return true;
}
