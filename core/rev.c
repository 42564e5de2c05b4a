/* rev.c — CouchDB's new_revid and the Erlang term writer it hashes
 * (parsing, formatting and comparing rev ids is rev_id.c's).
 *
 * Why hash exactly like CouchDB: a rev id names one edit.  If two replicas
 * (or settee and CouchDB) apply the same edit to the same parent, equal ids
 * mean the trees merge into one branch instead of growing a spurious
 * conflict.  CouchDB's id (couch_db.erl new_revid/1) is
 *
 *     md5(term_to_binary([Deleted, OldGen, OldRevId, Body, AttDigests],
 *                        [{minor_version,1}]))
 *
 * so we reproduce the Erlang external term format of the document as jiffy
 * decodes it (PROTOCOL.md 1.1):
 *   - integers: SMALL_INTEGER_EXT 0..255, INTEGER_EXT for int32, and
 *     SMALL_BIG_EXT / LARGE_BIG_EXT beyond, converted from the JSON text of
 *     any length (jiffy hands large integers to Erlang as bignums);
 *   - numbers with '.', 'e' or 'E': NEW_FLOAT_EXT of strtod's double;
 *   - true/false/null: ATOM_EXT (minor_version 1 keeps latin-1 atoms);
 *   - strings and keys: BINARY_EXT;
 *   - objects: {[{K,V},...]} (a 1-tuple around a list of pairs, input order,
 *     duplicates kept);
 *   - arrays: a list, except the Erlang trap that a list of integers 0..255
 *     IS a "string" and is encoded as STRING_EXT (up to 65535 of them).
 *
 * Bytes are streamed through a small staging buffer into the digest, so a
 * typical document is hashed without any heap allocation besides OpenSSL's
 * context.  The same writer can append to an st_buf, which is how the tests
 * compare the term bytes with CouchDB's (rev_int.h).
 */
#include "st_rev.h"
#include "rev_int.h"
#include "st_hex.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "md5.h"
#include <openssl/err.h>
#include <openssl/evp.h>

/* External term format tags (erts external.h). */
enum {
    ETF_VERSION = 131,
    ETF_NEW_FLOAT = 70,
    ETF_SMALL_INTEGER = 97,
    ETF_INTEGER = 98,
    ETF_ATOM = 100,
    ETF_SMALL_ATOM_UTF8 = 119,
    ETF_SMALL_TUPLE = 104,
    ETF_NIL = 106,
    ETF_STRING = 107,
    ETF_LIST = 108,
    ETF_BINARY = 109,
    ETF_SMALL_BIG = 110,
    ETF_LARGE_BIG = 111
};

/* ------------------------------------------------------------ term writer */

#define SINK_STAGE 512

typedef struct term_sink {
    unsigned char stage[SINK_STAGE]; /* encoded bytes not yet passed on */
    size_t n;                        /* bytes used in stage */
    EVP_MD_CTX *md;                  /* non-NULL: bytes feed this digest */
    st_buf *buf;                     /* else: bytes are appended here */
    st_status rc;                    /* first failure; later writes are no-ops */
    st_error *err;                   /* where that failure is described */
} term_sink;

static void sink_init(term_sink *s, EVP_MD_CTX *md, st_buf *buf, st_error *err)
{
    s->n = 0;
    s->md = md;
    s->buf = buf;
    s->rc = ST_OK;
    s->err = err;
}

/* Record the first failure only: its reason is the useful one. */
static void sink_fail(term_sink *s, st_status code, const char *reason)
{
    if (s->rc == ST_OK)
        s->rc = st_fail(s->err, code, "%s", reason);
}

static void sink_emit(term_sink *s, const void *p, size_t n)
{
    st_status rc;

    if (s->rc != ST_OK || n == 0)
        return;
    if (s->md != NULL) {
        if (EVP_DigestUpdate(s->md, p, n) != 1) {
            ERR_clear_error(); /* see st_rev_compute */
            sink_fail(s, ST_E_NOMEM, "out of memory");
        }
        return;
    }
    rc = st_buf_add(s->buf, p, n);
    if (rc != ST_OK)
        sink_fail(s, rc, "rev term buffer");
}

static void sink_flush(term_sink *s)
{
    sink_emit(s, s->stage, s->n);
    s->n = 0;
}

static void put(term_sink *s, const void *p, size_t n)
{
    if (s->rc != ST_OK)
        return;
    if (n > SINK_STAGE - s->n)
        sink_flush(s);
    if (n >= SINK_STAGE) {
        sink_emit(s, p, n); /* large strings bypass the stage */
        return;
    }
    memcpy(s->stage + s->n, p, n);
    s->n += n;
}

static void put_u8(term_sink *s, unsigned v)
{
    if (s->n == SINK_STAGE)
        sink_flush(s);
    s->stage[s->n++] = (unsigned char)v;
}

static void put_be16(term_sink *s, uint32_t v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};

    put(s, b, 2);
}

static void put_be32(term_sink *s, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};

    put(s, b, 4);
}

static void put_atom(term_sink *s, const char *name)
{
    size_t n = strlen(name);

    put_u8(s, ETF_ATOM);
    put_be16(s, (uint32_t)n);
    put(s, name, n);
}

static void put_binary(term_sink *s, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        sink_fail(s, ST_E_BAD_REQUEST, "string too long");
        return;
    }
    put_u8(s, ETF_BINARY);
    put_be32(s, (uint32_t)n);
    put(s, p, n);
}

/* An integer given as sign and magnitude, in the smallest Erlang form. */
static void put_integer(term_sink *s, bool neg, uint64_t mag)
{
    unsigned char le[8];
    unsigned nb = 0;

    if (mag == 0)
        neg = false;
    if (!neg && mag <= 255) {
        put_u8(s, ETF_SMALL_INTEGER);
        put_u8(s, (unsigned)mag);
        return;
    }
    if (neg ? mag <= 2147483648u : mag <= 2147483647u) {
        put_u8(s, ETF_INTEGER);
        put_be32(s, (uint32_t)(neg ? 0u - mag : mag)); /* two's complement */
        return;
    }
    while (mag != 0) {
        le[nb++] = (unsigned char)mag;
        mag >>= 8;
    }
    put_u8(s, ETF_SMALL_BIG);
    put_u8(s, nb);
    put_u8(s, neg ? 1 : 0);
    put(s, le, nb);
}

/* A bignum from nd decimal digits (no leading zeros): schoolbook base 10^9
 * into 32-bit limbs, then SMALL_BIG_EXT (<= 255 bytes) or LARGE_BIG_EXT. */
static void put_bigint(term_sink *s, bool neg, const char *d, size_t nd)
{
    uint32_t stack[64];
    uint32_t *limb = stack;
    size_t cap = nd / 9 + 2, nl = 0, i = 0, nbytes;

    if (nd > ST_REV_MAX_INT_DIGITS) {
        sink_fail(s, ST_E_BAD_REQUEST, "integer too large");
        return;
    }
    if (cap > sizeof stack / sizeof stack[0]) {
        limb = malloc(cap * sizeof *limb);
        if (limb == NULL) {
            sink_fail(s, ST_E_NOMEM, "out of memory");
            return;
        }
    }
    while (i < nd) {
        size_t k = i == 0 && nd % 9 != 0 ? nd % 9 : 9;
        uint32_t chunk = 0, mul = 1;
        uint64_t carry;

        for (size_t j = 0; j < k; j++) {
            chunk = chunk * 10 + (uint32_t)(d[i + j] - '0');
            mul *= 10;
        }
        i += k;
        carry = chunk;
        for (size_t l = 0; l < nl; l++) {
            uint64_t t = (uint64_t)limb[l] * mul + carry;

            limb[l] = (uint32_t)t;
            carry = t >> 32;
        }
        if (carry != 0)
            limb[nl++] = (uint32_t)carry;
    }
    nbytes = nl * 4;
    while (nbytes > 0 && ((limb[(nbytes - 1) / 4] >> (8 * ((nbytes - 1) % 4))) & 0xff) == 0)
        nbytes--;
    if (nbytes <= 255) {
        put_u8(s, ETF_SMALL_BIG);
        put_u8(s, (unsigned)nbytes);
    } else {
        put_u8(s, ETF_LARGE_BIG);
        put_be32(s, (uint32_t)nbytes);
    }
    put_u8(s, neg ? 1 : 0);
    for (size_t b = 0; b < nbytes; b++)
        put_u8(s, (limb[b / 4] >> (8 * (b % 4))) & 0xff);
    if (limb != stack)
        free(limb);
}

typedef enum { NUM_BAD, NUM_INT, NUM_FLOAT } num_kind;

/* jiffy's split: integer text is -?digits; '.', 'e' or 'E' make a float. */
static num_kind classify_number(const char *p, size_t n)
{
    size_t i = (n > 0 && p[0] == '-') ? 1 : 0;
    bool is_float = false, digit = false;

    for (; i < n; i++) {
        char c = p[i];

        if (c >= '0' && c <= '9')
            digit = true;
        else if (c == '.' || c == 'e' || c == 'E')
            is_float = true;
        else if (!(is_float && (c == '+' || c == '-')))
            return NUM_BAD;
    }
    if (!digit)
        return NUM_BAD;
    return is_float ? NUM_FLOAT : NUM_INT;
}

static void put_int_text(term_sink *s, const char *p, size_t n)
{
    bool neg = n > 0 && p[0] == '-';
    size_t i = neg ? 1 : 0;
    uint64_t v = 0;

    while (i + 1 < n && p[i] == '0')
        i++; /* leading zeros (not JSON, but harmless) */
    if (n - i > 19) {
        put_bigint(s, neg, p + i, n - i);
        return;
    }
    for (; i < n; i++)
        v = v * 10 + (uint64_t)(p[i] - '0'); /* <= 19 digits: fits */
    put_integer(s, neg, v);
}

/* strtod in the "C" locale whatever the application set: a host that calls
 * setlocale(LC_NUMERIC, "de_DE") must not change rev ids. */
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale = (locale_t)0; /* "C" numeric locale, made once */

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static void put_float_text(term_sink *s, const char *p, size_t n)
{
    char stack[64];
    char *tmp = stack, *end = NULL;
    double v;
    uint64_t bits;
    unsigned char be[8];
    locale_t old = (locale_t)0;

    if (n >= sizeof stack) {
        tmp = malloc(n + 1);
        if (tmp == NULL) {
            sink_fail(s, ST_E_NOMEM, "out of memory");
            return;
        }
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    (void)pthread_once(&c_locale_once, c_locale_init);
    if (c_locale != (locale_t)0)
        old = uselocale(c_locale);
    v = strtod(tmp, &end);
    if (old != (locale_t)0)
        (void)uselocale(old);
    if (end != tmp + n) {
        sink_fail(s, ST_E_BAD_REQUEST, "invalid number");
    } else if (isinf(v) || isnan(v)) {
        /* 1e400: Erlang has no infinity, CouchDB refuses the document too. */
        sink_fail(s, ST_E_BAD_REQUEST, "number out of range");
    } else {
        memcpy(&bits, &v, sizeof bits);
        for (int k = 0; k < 8; k++)
            be[k] = (unsigned char)(bits >> (56 - 8 * k));
        put_u8(s, ETF_NEW_FLOAT);
        put(s, be, 8);
    }
    if (tmp != stack)
        free(tmp);
}

static void put_number(term_sink *s, const st_json *v)
{
    const char *p = v->u.str;

    if (p == NULL)
        p = "";
    switch (classify_number(p, v->len)) {
    case NUM_INT:
        put_int_text(s, p, v->len);
        break;
    case NUM_FLOAT:
        put_float_text(s, p, v->len);
        break;
    default:
        sink_fail(s, ST_E_BAD_REQUEST, "invalid number");
        break;
    }
}

/* True when v is an integer literal 0..255 ("-0" included): an element of
 * what Erlang considers a string. */
static bool byte_value(const st_json *v, unsigned *out)
{
    const char *p = v->u.str;
    size_t i = 0, n = v->len;
    bool neg = false;
    unsigned val = 0;

    if (v->type != ST_JSON_NUMBER || p == NULL || n == 0)
        return false;
    if (p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n)
        return false;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        val = val * 10 + (unsigned)(p[i] - '0');
        if (val > 255)
            return false;
    }
    if (neg && val != 0)
        return false;
    *out = val;
    return true;
}

/* Members of an object that are encoded (at the top level, strip, the
 * special ones are left out). */
static bool member_kept(const st_json_member *m, bool strip)
{
    return !strip || !st_rev_is_stripped_member(m->key, m->key_len);
}

/* A scalar, or a container's head: true when its elements follow (each,
 * then ETF_NIL).  [1,2,3] is the Erlang string "\1\2\3": the trap. */
static bool put_head(term_sink *s, const st_json *v, bool strip)
{
    unsigned b;
    size_t kept = 0;

    switch (v->type) {
    case ST_JSON_NULL:
        put_atom(s, "null");
        return false;
    case ST_JSON_FALSE:
        put_atom(s, "false");
        return false;
    case ST_JSON_TRUE:
        put_atom(s, "true");
        return false;
    case ST_JSON_NUMBER:
        put_number(s, v);
        return false;
    case ST_JSON_STRING:
        put_binary(s, v->u.str != NULL ? v->u.str : "", v->len);
        return false;
    case ST_JSON_ARRAY: {
        bool bytes = v->len <= 65535;
        if (v->len == 0) {
            put_u8(s, ETF_NIL);
            return false;
        }
        if (v->len > UINT32_MAX) {
            sink_fail(s, ST_E_BAD_REQUEST, "array too long");
            return false;
        }
        for (size_t i = 0; bytes && i < v->len; i++)
            bytes = byte_value(&v->u.items[i], &b);
        if (bytes) {
            put_u8(s, ETF_STRING);
            put_be16(s, (uint32_t)v->len);
            for (size_t i = 0; i < v->len; i++) {
                (void)byte_value(&v->u.items[i], &b);
                put_u8(s, b);
            }
            return false;
        }
        put_u8(s, ETF_LIST);
        put_be32(s, (uint32_t)v->len);
        return s->rc == ST_OK;
    }
    case ST_JSON_OBJECT: /* {[{K,V},...]} */
        for (size_t i = 0; i < v->len; i++)
            kept += member_kept(&v->u.members[i], strip);
        if (kept > UINT32_MAX) {
            sink_fail(s, ST_E_BAD_REQUEST, "object too large");
            return false;
        }
        put_u8(s, ETF_SMALL_TUPLE);
        put_u8(s, 1);
        if (kept == 0) {
            put_u8(s, ETF_NIL);
            return false;
        }
        put_u8(s, ETF_LIST);
        put_be32(s, (uint32_t)kept);
        return s->rc == ST_OK;
    default:
        sink_fail(s, ST_E_BAD_REQUEST, "invalid JSON value");
        return false;
    }
}

/* One open container: the node, its next element, whether it strips. */
typedef struct term_frame {
    const st_json *v;
    size_t next;
    bool strip;
} term_frame;

/* Iterative, with the open containers on the heap: a document may nest
 * ST_REV_MAX_DEPTH levels and rev ids are computed on whatever thread
 * writes, whose stack the embedding application sizes. */
static void put_value(term_sink *s, const st_json *v, bool strip)
{
    term_frame inline_frames[32], *frames = inline_frames;
    size_t n = 0, cap = sizeof inline_frames / sizeof inline_frames[0];

    if (s->rc != ST_OK || !put_head(s, v, strip))
        return;
    frames[n++] = (term_frame){v, 0, strip};
    while (n > 0 && s->rc == ST_OK) {
        term_frame *f = &frames[n - 1];
        const st_json *c = f->v, *child;
        if (c->type == ST_JSON_OBJECT)
            while (f->next < c->len && !member_kept(&c->u.members[f->next], f->strip))
                f->next++;
        if (f->next == c->len) {
            put_u8(s, ETF_NIL);
            n--;
            continue;
        }
        if (c->type == ST_JSON_OBJECT) {
            const st_json_member *m = &c->u.members[f->next++];
            put_u8(s, ETF_SMALL_TUPLE);
            put_u8(s, 2);
            put_binary(s, m->key != NULL ? m->key : "", m->key_len);
            child = &m->value;
        } else {
            child = &c->u.items[f->next++];
        }
        if (n > ST_REV_MAX_DEPTH) {
            sink_fail(s, ST_E_BAD_REQUEST, "nesting too deep");
            break;
        }
        if (!put_head(s, child, false))
            continue;
        if (n == cap) {
            term_frame *g = malloc(2 * cap * sizeof *g);
            if (g == NULL) {
                sink_fail(s, ST_E_NOMEM, "out of memory");
                break;
            }
            memcpy(g, frames, n * sizeof *g);
            if (frames != inline_frames)
                free(frames);
            frames = g;
            cap *= 2;
        }
        frames[n++] = (term_frame){child, 0, false};
    }
    if (frames != inline_frames)
        free(frames);
}

/* couch_doc:parse_revid: 32 hex digits become the 16 bytes they spell. */
static void put_old_rev(term_sink *s, const st_rev *parent)
{
    unsigned char raw[16];
    bool hex = parent->hash_len == 32;

    for (unsigned i = 0; hex && i < 16; i++) {
        int hi = st_hex_digit(parent->hash[2 * i]), lo = st_hex_digit(parent->hash[2 * i + 1]);

        if (hi < 0 || lo < 0)
            hex = false;
        else
            raw[i] = (unsigned char)(hi << 4 | lo);
    }
    if (hex)
        put_binary(s, raw, 16);
    else
        put_binary(s, parent->hash, parent->hash_len);
}

static void put_term(term_sink *s, const st_rev *parent, bool deleted, const st_json *doc,
                     const st_rev_att *atts, size_t n_atts)
{
    static const st_json empty = {ST_JSON_OBJECT, 0, {NULL}};

    if (doc == NULL)
        doc = &empty;
    if (doc->type != ST_JSON_OBJECT) {
        sink_fail(s, ST_E_BAD_REQUEST, "Document must be a JSON object");
        return;
    }
    if (n_atts > 0 && atts == NULL) {
        sink_fail(s, ST_E_MISUSE, "attachments missing");
        return;
    }
    if (n_atts > UINT32_MAX) {
        sink_fail(s, ST_E_BAD_REQUEST, "too many attachments");
        return;
    }
    put_u8(s, ETF_VERSION);
    put_u8(s, ETF_LIST);
    put_be32(s, 5);
    put_atom(s, deleted ? "true" : "false");
    put_integer(s, false, parent != NULL ? parent->gen : 0);
    if (parent != NULL)
        put_old_rev(s, parent);
    else
        put_integer(s, false, 0);
    put_value(s, doc, true);
    if (n_atts == 0) {
        put_u8(s, ETF_NIL);
    } else {
        put_u8(s, ETF_LIST);
        put_be32(s, (uint32_t)n_atts);
        for (size_t i = n_atts; i-- > 0;) { /* reversed, as new_revid's foldl */
            const st_rev_att *a = &atts[i];

            put_u8(s, ETF_SMALL_TUPLE);
            put_u8(s, 3);
            put_binary(s, a->name != NULL ? a->name : "", a->name_len);
            put_binary(s, a->content_type != NULL ? a->content_type : "", a->content_type_len);
            put_binary(s, a->md5, 16);
        }
        put_u8(s, ETF_NIL);
    }
    put_u8(s, ETF_NIL);
}

st_status st_rev_term_encode(const st_rev *parent, bool deleted, const st_json *doc,
                             const st_rev_att *atts, size_t n_atts, st_buf *out,
                             st_error *err)
{
    term_sink s;

    if (out == NULL)
        return st_fail(err, ST_E_MISUSE, "no output buffer");
    sink_init(&s, NULL, out, err);
    put_term(&s, parent, deleted, doc, atts, n_atts);
    sink_flush(&s);
    return s.rc;
}

st_status st_rev_term_encode_value(const st_json *v, st_buf *out, st_error *err)
{
    term_sink s;

    if (out == NULL || v == NULL)
        return st_fail(err, ST_E_MISUSE, "no value or output buffer");
    sink_init(&s, NULL, out, err);
    put_u8(&s, ETF_VERSION);
    put_value(&s, v, false);
    sink_flush(&s);
    return s.rc;
}

/* ---------------------------------------------------------------- digest */

st_status st_rev_compute(const st_rev *parent, bool deleted, const st_json *doc,
                         const st_rev_att *atts, size_t n_atts, st_rev *out,
                         st_error *err)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = NULL;
    term_sink s;
    st_status rc;

    if (out == NULL)
        return st_fail(err, ST_E_MISUSE, "no output rev");
    if (parent != NULL && parent->gen == UINT64_MAX)
        return st_fail(err, ST_E_BAD_REQUEST, "Invalid rev format");
    const EVP_MD *md5 = st_md5();
    if (md5 == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory (md5)");
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    /* With the digest fetched and a context made, what can still fail is
     * memory; libcrypto's error queue is cleared so that the thread's next
     * use of libcrypto (TLS, say) does not find this failure. */
    if (EVP_DigestInit_ex(ctx, md5, NULL) != 1) {
        ERR_clear_error();
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    sink_init(&s, ctx, NULL, err);
    put_term(&s, parent, deleted, doc, atts, n_atts);
    sink_flush(&s);
    rc = s.rc;
    if (rc != ST_OK)
        goto out;
    if (EVP_DigestFinal_ex(ctx, digest, &dlen) != 1 || dlen != 16) {
        ERR_clear_error();
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    st_hex_encode(digest, 16, out->hash);
    out->hash_len = 32;
    out->gen = parent != NULL ? parent->gen + 1 : 1;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

st_status st_json_term(const st_json *v, st_buf *out, st_error *err)
{
    return st_rev_term_encode_value(v, out, err);
}

/* ------------------------------------------------------------ terms by hand */

/* Each st_term call streams through a sink of its own straight into the
 * caller's buffer; the staging buffer is flushed before the call returns. */
static bool term_open(st_term *t, term_sink *s)
{
    if (t->status != ST_OK)
        return false;
    sink_init(s, NULL, t->out, &t->err);
    return true;
}

static void term_close(st_term *t, term_sink *s)
{
    sink_flush(s);
    t->status = s->rc;
}

void st_term_begin(st_term *t, st_buf *out, st_term_atoms atoms)
{
    term_sink s;
    t->out = out;
    t->atoms = atoms;
    t->status = ST_OK;
    st_error_clear(&t->err);
    if (!out) {
        t->status = st_fail(&t->err, ST_E_MISUSE, "no output buffer");
        return;
    }
    if (term_open(t, &s)) {
        put_u8(&s, ETF_VERSION);
        term_close(t, &s);
    }
}

void st_term_tuple(st_term *t, unsigned arity)
{
    term_sink s;
    if (!term_open(t, &s))
        return;
    if (arity > 255)
        sink_fail(&s, ST_E_MISUSE, "tuple too large");
    put_u8(&s, ETF_SMALL_TUPLE);
    put_u8(&s, arity);
    term_close(t, &s);
}

void st_term_list(st_term *t, size_t n)
{
    term_sink s;
    if (!term_open(t, &s))
        return;
    if (n == 0 || n > UINT32_MAX)
        sink_fail(&s, ST_E_MISUSE, "bad list length");
    put_u8(&s, ETF_LIST);
    put_be32(&s, (uint32_t)n);
    term_close(t, &s);
}

void st_term_nil(st_term *t)
{
    term_sink s;
    if (!term_open(t, &s))
        return;
    put_u8(&s, ETF_NIL);
    term_close(t, &s);
}

void st_term_atom(st_term *t, const char *name)
{
    term_sink s;
    if (!term_open(t, &s))
        return;
    size_t n = strlen(name);
    if (n > 255)
        sink_fail(&s, ST_E_MISUSE, "atom too long");
    if (t->atoms == ST_TERM_ATOM_UTF8) {
        put_u8(&s, ETF_SMALL_ATOM_UTF8);
        put_u8(&s, (unsigned)n);
        put(&s, name, n);
    } else {
        put_atom(&s, name);
    }
    term_close(t, &s);
}

void st_term_binary(st_term *t, const char *p, size_t n)
{
    term_sink s;
    if (!term_open(t, &s))
        return;
    put_binary(&s, p ? p : "", n);
    term_close(t, &s);
}

void st_term_string(st_term *t, const char *p, size_t n)
{
    term_sink s;
    if (!term_open(t, &s))
        return;
    if (n == 0) {
        put_u8(&s, ETF_NIL);
    } else if (n <= 65535) {
        put_u8(&s, ETF_STRING);
        put_be16(&s, (uint32_t)n);
        put(&s, p, n);
    } else if (n > UINT32_MAX) {
        sink_fail(&s, ST_E_BAD_REQUEST, "string too long");
    } else {
        /* Too long for STRING_EXT: a proper list of small integers. */
        put_u8(&s, ETF_LIST);
        put_be32(&s, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            put_u8(&s, ETF_SMALL_INTEGER);
            put_u8(&s, (unsigned char)p[i]);
        }
        put_u8(&s, ETF_NIL);
    }
    term_close(t, &s);
}

void st_term_int(st_term *t, int64_t v)
{
    term_sink s;
    if (!term_open(t, &s))
        return;
    put_integer(&s, v < 0, v < 0 ? 0u - (uint64_t)v : (uint64_t)v);
    term_close(t, &s);
}

void st_term_json(st_term *t, const st_json *v)
{
    term_sink s;
    if (!term_open(t, &s))
        return;
    put_value(&s, v, false);
    term_close(t, &s);
}

st_status st_term_status(const st_term *t) { return t->status; }
