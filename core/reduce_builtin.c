/* reduce_builtin.c — _sum, _count, _stats and _approx_count_distinct.
 *
 * The algorithms follow CouchDB's couch_query_servers.erl step for step,
 * because their odd corners are visible in results: _sum treats a number
 * next to an array as a one-element array, keeps the unchecked tail of the
 * longer array, takes a lone object as it is, and merges objects key by key
 * in sorted order; _stats takes stats objects (rereduce, or a map emitting
 * them) as partial results.  To follow Erlang's arithmetic, values are
 * first converted into a small term tree whose numbers remember whether
 * they are integers, and the result is written from that tree.
 * _approx_count_distinct's sketch is in reduce_hll.c.
 */
#include "st_reduce.h"
#include "reduce_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_jw.h"

#define SUM_ERROR                                                                           \
    "The _sum function requires that map values be numbers, arrays of numbers, or objects. " \
    "Objects cannot be mixed with other data structures. Objects can be arbitrarily nested, " \
    "provided that the values for all fields are themselves numbers, arrays of numbers, or "  \
    "objects."
#define STATS_ERROR "The _stats function requires that map values be numbers or arrays of numbers, not '%s'"

/* ---- numbers: Erlang's integers and floats ------------------------------ */

typedef struct num {
    bool is_int;
    int64_t i;
    double d;
} num;

static num num_int(int64_t i)
{
    num n = {true, i, (double)i};
    return n;
}

static num num_dbl(double d)
{
    num n = {false, 0, d};
    return n;
}

/* JSON number text to a number: plain integer text is an integer. */
static num num_parse(const st_json *v)
{
    int64_t i;

    if (st_json_int64(v, &i))
        return num_int(i);
    /* A float, or an integer past int64 (a bignum in Erlang): a double. */
    return num_dbl(strtod(v->u.str, NULL));
}

static num num_add(num a, num b)
{
    int64_t r;

    if (a.is_int && b.is_int && !__builtin_add_overflow(a.i, b.i, &r))
        return num_int(r);
    return num_dbl(a.d + b.d);
}

static num num_mul(num a, num b)
{
    int64_t r;

    if (a.is_int && b.is_int && !__builtin_mul_overflow(a.i, b.i, &r))
        return num_int(r);
    return num_dbl(a.d * b.d);
}

static bool num_less(num a, num b)
{
    if (a.is_int && b.is_int)
        return a.i < b.i;
    return a.d < b.d;
}

/* erlang:min/max: on a tie the first argument wins. */
static num num_min(num a, num b)
{
    return num_less(b, a) ? b : a;
}

static num num_max(num a, num b)
{
    return num_less(a, b) ? b : a;
}

/* A float the way jiffy writes it (double-conversion's ToShortest with
 * decimal notation for exponents -6..20, "1.0" for integral values). */
static void fmt_double(double d, char *out, size_t cap)
{
    char sci[40], digits[24];
    int exp10, nd = 0, k;
    size_t o = 0;

    if (d == 0) {
        snprintf(out, cap, "0.0");
        return;
    }
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    for (const char *p = sci; *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    exp10 = atoi(strchr(sci, 'e') + 1);
    if (d < 0)
        out[o++] = '-';
    if (exp10 >= -6 && exp10 < 21) {
        k = exp10 + 1; /* digits before the point */
        if (k <= 0) {
            o += (size_t)snprintf(out + o, cap - o, "0.%.*s%s", -k, "000000", digits);
        } else if (k >= nd) {
            o += (size_t)snprintf(out + o, cap - o, "%s%.*s.0", digits, k - nd,
                                  "000000000000000000000");
        } else {
            o += (size_t)snprintf(out + o, cap - o, "%.*s.%s", k, digits, digits + k);
        }
    } else if (nd == 1) {
        snprintf(out + o, cap - o, "%se%s%d", digits, exp10 > 0 ? "+" : "", exp10);
    } else {
        snprintf(out + o, cap - o, "%c.%se%s%d", digits[0], digits + 1, exp10 > 0 ? "+" : "",
                 exp10);
    }
}

static void write_num(st_jw *w, num n)
{
    char text[48];

    if (n.is_int)
        snprintf(text, sizeof text, "%lld", (long long)n.i);
    else
        fmt_double(n.d, text, sizeof text);
    st_jw_raw(w, text, strlen(text));
}

/* ---- a scratch arena, freed in one go ------------------------------------ */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} arena_chunk;

typedef struct arena {
    arena_chunk *head;
    bool failed;
} arena;

static void *arena_alloc(arena *a, size_t n)
{
    arena_chunk *c = a->head;

    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = malloc(sizeof *c + cap);
        if (c == NULL) {
            a->failed = true;
            return NULL;
        }
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    c->used += n;
    return (char *)c->data + c->used - n;
}

static void arena_free(arena *a)
{
    while (a->head != NULL) {
        arena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* ---- terms ---------------------------------------------------------------- */

typedef enum { T_NUM, T_LIST, T_OBJ, T_OTHER } term_kind;

typedef struct term term;
struct term {
    term_kind kind;
    num n;               /* T_NUM */
    size_t len;          /* T_LIST / T_OBJ */
    term *items;         /* their elements / member values */
    const char **keys;   /* T_OBJ member names (borrowed from the input) */
    size_t *key_lens;
    const st_json *json; /* T_OTHER: a string, true, false or null */
};

static bool term_from_json(arena *a, const st_json *v, term *t)
{
    memset(t, 0, sizeof *t);
    switch (v->type) {
    case ST_JSON_NUMBER:
        t->kind = T_NUM;
        t->n = num_parse(v);
        return true;
    case ST_JSON_ARRAY:
    case ST_JSON_OBJECT:
        t->kind = v->type == ST_JSON_ARRAY ? T_LIST : T_OBJ;
        t->len = v->len;
        if (v->len == 0)
            return true;
        t->items = arena_alloc(a, v->len * sizeof *t->items);
        if (t->kind == T_OBJ) {
            t->keys = arena_alloc(a, v->len * sizeof *t->keys);
            t->key_lens = arena_alloc(a, v->len * sizeof *t->key_lens);
        }
        if (a->failed)
            return false;
        for (size_t i = 0; i < v->len; i++) {
            const st_json *item = v->type == ST_JSON_ARRAY ? &v->u.items[i] : &v->u.members[i].value;
            if (t->kind == T_OBJ) {
                t->keys[i] = v->u.members[i].key;
                t->key_lens[i] = v->u.members[i].key_len;
            }
            if (!term_from_json(a, item, &t->items[i]))
                return false;
        }
        return true;
    default:
        t->kind = T_OTHER;
        t->json = v;
        return true;
    }
}

static void write_term(st_jw *w, const term *t)
{
    switch (t->kind) {
    case T_NUM:
        write_num(w, t->n);
        break;
    case T_LIST:
        st_jw_arr_open(w);
        for (size_t i = 0; i < t->len; i++)
            write_term(w, &t->items[i]);
        st_jw_arr_close(w);
        break;
    case T_OBJ:
        st_jw_obj_open(w);
        for (size_t i = 0; i < t->len; i++) {
            st_jw_keyn(w, t->keys[i], t->key_lens[i]);
            write_term(w, &t->items[i]);
        }
        st_jw_obj_close(w);
        break;
    case T_OTHER:
        st_jw_value(w, t->json);
        break;
    }
}

/* JSON text of a term for an error message, cut to fit. */
static void term_text(const term *t, char *out, size_t cap)
{
    st_buf b;
    st_jw w;

    st_buf_init(&b, 0);
    snprintf(out, cap, "?");
    if (st_jw_init(&w, &b) == ST_OK) {
        write_term(&w, t);
        if (st_jw_status(&w) == ST_OK && b.data != NULL)
            snprintf(out, cap, "%s", b.data);
        st_jw_free(&w);
    }
    st_buf_free(&b);
}

static int key_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);

    return c != 0 ? c : (an > bn) - (an < bn);
}

/* ---- _sum ------------------------------------------------------------------ */

typedef enum { SUM_OK, SUM_INVALID, SUM_PASS_ERROR, SUM_NOMEM } sum_outcome;

typedef struct sum_ctx {
    arena *a;
    sum_outcome outcome;
    term cause;          /* SUM_INVALID: the value CouchDB names in caused_by */
    term passed;         /* SUM_PASS_ERROR: an earlier builtin_reduce_error object */
} sum_ctx;

static bool sum_values(sum_ctx *c, const term *v, const term *acc, term *out);

static bool sum_invalid(sum_ctx *c, const term *cause)
{
    c->outcome = SUM_INVALID;
    c->cause = *cause;
    return false;
}

/* sum_arrays(Xs, Ys), Xs = acc: element-wise, the longer tail kept as is. */
static bool sum_arrays(sum_ctx *c, const term *xs, const term *ys, term *out)
{
    size_t n = xs->len > ys->len ? xs->len : ys->len;

    memset(out, 0, sizeof *out);
    out->kind = T_LIST;
    out->len = n;
    if (n == 0)
        return true;
    out->items = arena_alloc(c->a, n * sizeof *out->items);
    if (out->items == NULL) {
        c->outcome = SUM_NOMEM;
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (i >= ys->len) {
            out->items[i] = xs->items[i];
        } else if (i >= xs->len) {
            out->items[i] = ys->items[i];
        } else if (xs->items[i].kind == T_NUM && ys->items[i].kind == T_NUM) {
            out->items[i] = xs->items[i];
            out->items[i].n = num_add(xs->items[i].n, ys->items[i].n);
        } else {
            term rest = *xs; /* CouchDB reports the rest of the accumulator */
            rest.items += i;
            rest.len -= i;
            return sum_invalid(c, &rest);
        }
    }
    return true;
}

/* A one-element list around t. */
static bool wrap_list(sum_ctx *c, const term *t, term *out)
{
    memset(out, 0, sizeof *out);
    out->kind = T_LIST;
    out->len = 1;
    out->items = arena_alloc(c->a, sizeof *out->items);
    if (out->items == NULL) {
        c->outcome = SUM_NOMEM;
        return false;
    }
    out->items[0] = *t;
    return true;
}

static bool is_reduce_error(const term *t)
{
    for (size_t i = 0; i < t->len; i++) {
        if (key_cmp(t->keys[i], t->key_lens[i], "error", 5) != 0)
            continue;
        /* lists:keyfind: only the first "error" member counts. */
        const term *v = &t->items[i];
        return v->kind == T_OTHER && v->json->type == ST_JSON_STRING &&
               strcmp(v->json->u.str, "builtin_reduce_error") == 0;
    }
    return false;
}

/* Member indices of an object sorted by key (stable: duplicates keep order). */
static size_t *sorted_members(sum_ctx *c, const term *t)
{
    size_t *idx = arena_alloc(c->a, (t->len ? t->len : 1) * sizeof *idx);

    if (idx == NULL)
        return NULL;
    for (size_t i = 0; i < t->len; i++) {
        size_t j = i;
        idx[i] = i;
        while (j > 0 && key_cmp(t->keys[idx[j - 1]], t->key_lens[idx[j - 1]], t->keys[i],
                                t->key_lens[i]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return idx;
}

/* sum_objects over both objects' members in key order. */
static bool sum_objects(sum_ctx *c, const term *v, const term *acc, term *out)
{
    size_t *iv = sorted_members(c, v), *ia = sorted_members(c, acc);
    size_t a = 0, b = 0, n = 0, cap = v->len + acc->len;

    memset(out, 0, sizeof *out);
    out->kind = T_OBJ;
    out->items = arena_alloc(c->a, (cap ? cap : 1) * sizeof *out->items);
    out->keys = arena_alloc(c->a, (cap ? cap : 1) * sizeof *out->keys);
    out->key_lens = arena_alloc(c->a, (cap ? cap : 1) * sizeof *out->key_lens);
    if (iv == NULL || ia == NULL || c->a->failed) {
        c->outcome = SUM_NOMEM;
        return false;
    }
    while (a < v->len || b < acc->len) {
        const term *src;
        size_t k;
        int cmp = a >= v->len ? 1 : b >= acc->len ? -1
                  : key_cmp(v->keys[iv[a]], v->key_lens[iv[a]], acc->keys[ia[b]],
                            acc->key_lens[ia[b]]);
        if (cmp == 0) {
            out->keys[n] = v->keys[iv[a]];
            out->key_lens[n] = v->key_lens[iv[a]];
            if (!sum_values(c, &v->items[iv[a]], &acc->items[ia[b]], &out->items[n]))
                return false;
            a++, b++, n++;
            continue;
        }
        src = cmp < 0 ? v : acc;
        k = cmp < 0 ? iv[a++] : ia[b++];
        out->keys[n] = src->keys[k];
        out->key_lens[n] = src->key_lens[k];
        out->items[n++] = src->items[k];
    }
    out->len = n;
    return true;
}

static bool sum_values(sum_ctx *c, const term *v, const term *acc, term *out)
{
    term wrapped;

    if (v->kind == T_NUM && acc->kind == T_NUM) {
        *out = *v;
        out->n = num_add(acc->n, v->n);
        return true;
    }
    if (v->kind == T_LIST && acc->kind == T_LIST)
        return sum_arrays(c, acc, v, out);
    if (v->kind == T_NUM && acc->kind == T_LIST)
        return wrap_list(c, v, &wrapped) && sum_arrays(c, acc, &wrapped, out);
    if (v->kind == T_LIST && acc->kind == T_NUM)
        return wrap_list(c, acc, &wrapped) && sum_arrays(c, &wrapped, v, out);
    if (v->kind == T_OBJ) {
        if (is_reduce_error(v)) {
            c->outcome = SUM_PASS_ERROR;
            c->passed = *v;
            return false;
        }
        if (acc->kind == T_NUM && acc->n.is_int && acc->n.i == 0) {
            *out = *v; /* Erlang matches the integer 0 only */
            return true;
        }
        if (acc->kind == T_OBJ)
            return sum_objects(c, v, acc, out);
    }
    return sum_invalid(c, v);
}

/* JSON text size of a value (escapes not counted), for reduce_limit. */
static size_t json_size(const st_json *v)
{
    size_t n = 2;

    switch (v->type) {
    case ST_JSON_STRING:
        return v->len + 2;
    case ST_JSON_NUMBER:
        return v->len;
    case ST_JSON_ARRAY:
        for (size_t i = 0; i < v->len; i++)
            n += json_size(&v->u.items[i]) + (i > 0);
        return n;
    case ST_JSON_OBJECT:
        for (size_t i = 0; i < v->len; i++)
            n += v->u.members[i].key_len + 3 + json_size(&v->u.members[i].value) + (i > 0);
        return n;
    case ST_JSON_FALSE:
        return 5;
    default:
        return 4;
    }
}

static bool all_finite(const term *t)
{
    if (t->kind == T_NUM)
        return t->n.is_int || isfinite(t->n.d);
    for (size_t i = 0; (t->kind == T_LIST || t->kind == T_OBJ) && i < t->len; i++)
        if (!all_finite(&t->items[i]))
            return false;
    return true;
}

/* A term as JSON text in its own buffer (to measure it before writing). */
static st_status render_term(const term *t, st_buf *b)
{
    st_jw w;
    st_status rc = st_jw_init(&w, b);

    if (rc != ST_OK)
        return rc;
    write_term(&w, t);
    rc = st_jw_status(&w);
    st_jw_free(&w);
    return rc;
}

static void write_reduce_error(st_jw *w, const char *reason, const term *cause)
{
    st_jw_obj_open(w);
    st_jw_key(w, "error");
    st_jw_str(w, "builtin_reduce_error");
    st_jw_key(w, "reason");
    st_jw_str(w, reason);
    if (cause != NULL) {
        st_jw_key(w, "caused_by");
        write_term(w, cause);
    }
    st_jw_obj_close(w);
}

/* check_sum_overflow: is a sum of `outsz` bytes too big for its input? */
static bool sum_overflows(const st_json *const keys[], const st_json *const values[], size_t n,
                          size_t outsz, const st_reduce_limits *lim, size_t *in)
{
    *in = 0;
    if (keys == NULL || !lim->reduce_limit || outsz <= lim->threshold)
        return false;
    for (size_t i = 0; i < n; i++)
        *in += json_size(keys[i]) + json_size(values[i]);
    return (double)outsz * lim->ratio > (double)*in;
}

/* builtin_sum_rows, then check_sum_overflow (keys NULL: rereduce, no check). */
static st_status run_sum(const st_json *const keys[], const st_json *const values[], size_t n,
                         const st_reduce_limits *lim, st_jw *w, st_error *err)
{
    arena a = {NULL, false};
    sum_ctx c = {&a, SUM_OK, {0}, {0}};
    term acc = {0}, v, next;
    st_buf text = ST_BUF_INIT;
    st_status rc = ST_OK;
    size_t in;

    acc.kind = T_NUM;
    acc.n = num_int(0);
    for (size_t i = 0; i < n && c.outcome == SUM_OK; i++) {
        if (!term_from_json(&a, values[i], &v)) {
            c.outcome = SUM_NOMEM;
            break;
        }
        if (sum_values(&c, &v, &acc, &next))
            acc = next;
    }
    if (c.outcome == SUM_NOMEM) {
        rc = st_fail(err, ST_E_NOMEM, "out of memory in _sum");
    } else if (c.outcome == SUM_INVALID) {
        write_reduce_error(w, SUM_ERROR, &c.cause);
    } else if (c.outcome == SUM_PASS_ERROR) {
        write_term(w, &c.passed);
    } else if (!all_finite(&acc)) {
        rc = st_fail(err, ST_E_INVALID_VALUE, "_sum overflowed the range of a double");
    } else if ((rc = render_term(&acc, &text)) != ST_OK) {
        rc = st_fail(err, rc, "out of memory in _sum");
    } else if (sum_overflows(keys, values, n, text.len, lim, &in)) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "Reduce output must shrink more rapidly: input size: %zu output size: %zu", in,
                 text.len);
        write_reduce_error(w, msg, NULL);
    } else {
        st_jw_raw(w, text.data, text.len);
    }
    st_buf_free(&text);
    arena_free(&a);
    return rc;
}

/* ---- _stats ------------------------------------------------------------------ */

typedef struct stats {
    num sum, count, min, max, sqr;
} stats;

/* A stats accumulator: one stats, or a list of them for array values. */
typedef struct sacc {
    bool is_list;
    stats s;
    struct sacc *items;
    size_t len;
} sacc;

static stats stats_of(num v)
{
    stats s = {v, num_int(1), v, v, num_mul(v, v)};
    return s;
}

static st_status stats_fail(st_error *err, const char *fmt, const term *t)
{
    char text[160];

    term_text(t, text, sizeof text);
    return st_fail(err, ST_E_INVALID_VALUE, fmt, text);
}

static const term *member(const term *obj, const char *key)
{
    for (size_t i = 0; i < obj->len; i++)
        if (key_cmp(obj->keys[i], obj->key_lens[i], key, strlen(key)) == 0)
            return &obj->items[i];
    return NULL;
}

/* unpack_stats: {"sum","count","min","max","sumsqr"} to a stats. */
static st_status unpack_stats(const term *obj, stats *s, st_error *err)
{
    static const char *const names[5] = {"sum", "count", "min", "max", "sumsqr"};
    num *fields[5] = {&s->sum, &s->count, &s->min, &s->max, &s->sqr};
    char text[160], msg[224];

    for (int i = 0; i < 5; i++) {
        const term *v = member(obj, names[i]);
        if (v == NULL) {
            term_text(obj, text, sizeof text);
            snprintf(msg, sizeof msg, "user _stats input missing required field %s (%s)",
                     names[i], text);
            return st_fail(err, ST_E_INVALID_VALUE, "%s", msg);
        }
        if (v->kind != T_NUM) {
            term_text(v, text, sizeof text);
            snprintf(msg, sizeof msg, "non-numeric _stats input received for %s: %s", names[i],
                     text);
            return st_fail(err, ST_E_INVALID_VALUE, "%s", msg);
        }
        *fields[i] = v->n;
    }
    return ST_OK;
}

/* build_initial_accumulator for the first value. */
static st_status stats_first(arena *a, const term *v, sacc *acc, st_error *err)
{
    memset(acc, 0, sizeof *acc);
    if (v->kind == T_NUM) {
        acc->s = stats_of(v->n);
        return ST_OK;
    }
    if (v->kind == T_OBJ)
        return unpack_stats(v, &acc->s, err);
    if (v->kind != T_LIST)
        return stats_fail(err, "non-numeric _stats input: %s", v);
    acc->is_list = true;
    acc->len = v->len;
    if (v->len > 0 && (acc->items = arena_alloc(a, v->len * sizeof *acc->items)) == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory in _stats");
    for (size_t i = 0; i < v->len; i++) {
        st_status rc = stats_first(a, &v->items[i], &acc->items[i], err);
        if (rc != ST_OK)
            return rc;
    }
    return ST_OK;
}

/* stat_values: fold one more value into acc. */
static st_status stats_add(const term *v, sacc *acc, st_error *err)
{
    stats s;
    st_status rc;

    if (v->kind == T_LIST && acc->is_list) {
        if (v->len != acc->len)
            return stats_fail(err, STATS_ERROR, v);
        for (size_t i = 0; i < v->len; i++)
            if ((rc = stats_add(&v->items[i], &acc->items[i], err)) != ST_OK)
                return rc;
        return ST_OK;
    }
    if (v->kind == T_NUM)
        s = stats_of(v->n);
    else if (v->kind == T_OBJ) {
        if ((rc = unpack_stats(v, &s, err)) != ST_OK)
            return rc;
    } else
        return stats_fail(err, STATS_ERROR, v);
    if (acc->is_list)
        return stats_fail(err, STATS_ERROR, v);
    acc->s.sum = num_add(s.sum, acc->s.sum);
    acc->s.count = num_add(s.count, acc->s.count);
    acc->s.min = num_min(s.min, acc->s.min);
    acc->s.max = num_max(s.max, acc->s.max);
    acc->s.sqr = num_add(s.sqr, acc->s.sqr);
    return ST_OK;
}

static bool stats_finite(const sacc *acc)
{
    if (acc->is_list) {
        for (size_t i = 0; i < acc->len; i++)
            if (!stats_finite(&acc->items[i]))
                return false;
        return true;
    }
    const num *f[5] = {&acc->s.sum, &acc->s.count, &acc->s.min, &acc->s.max, &acc->s.sqr};
    for (int i = 0; i < 5; i++)
        if (!f[i]->is_int && !isfinite(f[i]->d))
            return false;
    return true;
}

/* pack_stats */
static void write_stats(st_jw *w, const sacc *acc)
{
    if (acc->is_list) {
        st_jw_arr_open(w);
        for (size_t i = 0; i < acc->len; i++)
            write_stats(w, &acc->items[i]);
        st_jw_arr_close(w);
        return;
    }
    st_jw_obj_open(w);
    st_jw_key(w, "sum");
    write_num(w, acc->s.sum);
    st_jw_key(w, "count");
    write_num(w, acc->s.count);
    st_jw_key(w, "min");
    write_num(w, acc->s.min);
    st_jw_key(w, "max");
    write_num(w, acc->s.max);
    st_jw_key(w, "sumsqr");
    write_num(w, acc->s.sqr);
    st_jw_obj_close(w);
}

static st_status run_stats(const st_json *const values[], size_t n, st_jw *w, st_error *err)
{
    arena a = {NULL, false};
    sacc acc;
    term v;
    st_status rc = ST_OK;

    memset(&acc, 0, sizeof acc);
    acc.s.sum = acc.s.count = acc.s.min = acc.s.max = acc.s.sqr = num_int(0);
    for (size_t i = 0; i < n && rc == ST_OK; i++) {
        if (!term_from_json(&a, values[i], &v))
            rc = st_fail(err, ST_E_NOMEM, "out of memory in _stats");
        else if (i == 0)
            rc = stats_first(&a, &v, &acc, err);
        else
            rc = stats_add(&v, &acc, err);
    }
    if (rc == ST_OK && !stats_finite(&acc))
        rc = st_fail(err, ST_E_INVALID_VALUE, "_stats overflowed the range of a double");
    if (rc == ST_OK)
        write_stats(w, &acc);
    arena_free(&a);
    return rc;
}

/* ---- entry points ------------------------------------------------------------ */

void st_reduce_limits_init(st_reduce_limits *l)
{
    l->reduce_limit = true;
    l->threshold = 4906;
    l->ratio = 2.0;
}

bool st_reduce_builtin_lookup(const char *src, st_reduce_builtin *out)
{
    static const struct {
        const char *name;
        st_reduce_builtin fn;
    } names[] = {
        {"_sum", ST_REDUCE_SUM},
        {"_count", ST_REDUCE_COUNT},
        {"_stats", ST_REDUCE_STATS},
        {"_approx_count_distinct", ST_REDUCE_APPROX_COUNT_DISTINCT},
    };

    for (size_t i = 0; src != NULL && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(src, names[i].name) == 0) {
            *out = names[i].fn;
            return true;
        }
    }
    return false;
}

st_status st_reduce_run(st_reduce_builtin fn, bool rereduce, const st_json *const keys[],
                        const st_json *const values[], size_t n, const st_reduce_limits *lim,
                        st_buf *out, st_error *err)
{
    st_reduce_limits defaults;
    st_jw w;
    st_status rc;

    if (lim == NULL) {
        st_reduce_limits_init(&defaults);
        lim = &defaults;
    }
    if ((values == NULL && n > 0) || (!rereduce && keys == NULL && n > 0 && fn != ST_REDUCE_COUNT))
        return st_fail(err, ST_E_MISUSE, "reduce without rows");
    if ((rc = st_jw_init(&w, out)) != ST_OK)
        return st_fail(err, rc, "out of memory");
    switch (fn) {
    case ST_REDUCE_SUM:
        rc = run_sum(rereduce ? NULL : keys, values, n, lim, &w, err);
        break;
    case ST_REDUCE_COUNT:
        if (rereduce)
            rc = run_sum(NULL, values, n, lim, &w, err); /* CouchDB sums the counts */
        else
            st_jw_uint(&w, n);
        break;
    case ST_REDUCE_STATS:
        rc = run_stats(values, n, &w, err);
        break;
    case ST_REDUCE_APPROX_COUNT_DISTINCT:
        rc = st_reduce_hll(rereduce, keys, values, n, &w, err);
        break;
    default:
        rc = st_fail(err, ST_E_MISUSE, "unknown built-in reduce %d", (int)fn);
    }
    if (rc == ST_OK && (rc = st_jw_status(&w)) != ST_OK)
        st_fail(err, rc, "cannot write the reduction");
    st_jw_free(&w);
    return rc;
}

st_status st_reduce_finalize(st_reduce_builtin fn, const st_json *reduction, st_buf *out,
                             st_error *err)
{
    st_jw w;
    st_status rc;

    if ((rc = st_jw_init(&w, out)) != ST_OK)
        return st_fail(err, rc, "out of memory");
    if (fn == ST_REDUCE_APPROX_COUNT_DISTINCT) {
        uint64_t count = 0;
        if ((rc = st_reduce_hll_count(reduction, &count, err)) == ST_OK)
            st_jw_uint(&w, count);
    } else {
        st_jw_value(&w, reduction);
    }
    if (rc == ST_OK && (rc = st_jw_status(&w)) != ST_OK)
        st_fail(err, rc, "cannot write the reduction");
    st_jw_free(&w);
    return rc;
}
