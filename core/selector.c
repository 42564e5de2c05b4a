/* selector.c — compile a Mango selector into its normal form, render it.
 *
 * Why one pass instead of CouchDB's three (norm_ops, norm_fields,
 * norm_negations): carrying the field path and a "negated" flag down the
 * recursion does all three at once.  A field name extends the path; an
 * operator applies at the path; $not and $nor flip the flag, and $and/$or
 * swap under it (De Morgan); a condition reached with the flag set becomes
 * its twin ($eq/$ne, $lt/$gte, $in/$nin, $exists) or is wrapped in NOT.  So
 * {"$not":{"a":1,"b":2}} is {"$or":[{"a":{"$ne":1}},{"b":{"$ne":2}}]}, as in
 * CouchDB, and every condition carries its full path.
 *
 * Why a copy of the selector's JSON: callers parse a request, compile, and
 * free the request; the compiled selector renders its arguments and compares
 * against them for as long as it lives, so it owns them.
 */
#include "selector_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ------------------------------------------------------------- */

struct sel_chunk {
    sel_chunk *next;
    size_t used, cap;
    max_align_t data[]; /* cap bytes */
};

#define CHUNK_MIN 4096

void *st_sel_alloc(st_selector *s, size_t n)
{
    sel_chunk *c = s->chunks;
    size_t align = sizeof(max_align_t), cap;
    void *p;

    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + align - 1) / align * align;
    if (c == NULL || c->cap - c->used < n) {
        cap = n > CHUNK_MIN ? n : CHUNK_MIN;
        c = malloc(sizeof *c + cap);
        if (c == NULL)
            return NULL;
        c->next = s->chunks;
        c->used = 0;
        c->cap = cap;
        s->chunks = c;
    }
    p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void st_selector_free(st_selector *s)
{
    sel_chunk *c, *next;

    if (s == NULL)
        return;
    for (sel_regex *r = s->regexes; r != NULL; r = r->next)
        pcre2_code_free(r->code);
    for (c = s->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(s->fields);
    st_json_doc_free(s->copy);
    free(s);
}

/* ---- compile context ----------------------------------------------------- */

typedef struct comp {
    st_selector *s;
    st_error *err;
    st_status rc; /* the first failure (err may be NULL) */
    bool in_elem; /* inside $elemMatch & co.: an empty path is the element */
} comp;

static sel_node *failf(comp *c, st_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sel_node *failf(comp *c, st_status code, const char *fmt, ...)
{
    char msg[ST_REASON_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->rc = st_fail(c->err, code, "%s", msg);
    return NULL;
}

static sel_node *nomem(comp *c)
{
    return failf(c, ST_E_NOMEM, "out of memory");
}

static sel_node *new_node(comp *c, sel_op op)
{
    sel_node *n = st_sel_alloc(c->s, sizeof *n);

    if (n == NULL)
        return nomem(c);
    n->op = op;
    n->mode = ST_COLLATE_ICU;
    return n;
}

static sel_node *new_list(comp *c, sel_op op, size_t n)
{
    sel_node *node = new_node(c, op);

    if (node == NULL)
        return NULL;
    node->u.list.kids = st_sel_alloc(c->s, (n ? n : 1) * sizeof *node->u.list.kids);
    if (node->u.list.kids == NULL)
        return nomem(c);
    return node;
}

/* ---- operators ------------------------------------------------------------ */

typedef enum {
    K_AND, K_OR, K_NOR, K_NOT, /* combination */
    K_CMP, K_SET, K_EXISTS, K_TYPE, K_MOD, K_REGEX, K_SIZE, K_BEGINS, /* conditions */
    K_SUB,        /* $elemMatch, $allMatch, $keyMapMatch */
    K_UNSUPPORTED /* known to CouchDB, refused here */
} op_kind;

static const struct op_def {
    const char *name;
    op_kind kind;
    sel_op op;
} OPS[] = {
    {"$and", K_AND, SEL_AND},          {"$or", K_OR, SEL_OR},
    {"$nor", K_NOR, SEL_AND},          {"$not", K_NOT, SEL_NOT},
    {"$eq", K_CMP, SEL_EQ},            {"$ne", K_CMP, SEL_NE},
    {"$lt", K_CMP, SEL_LT},            {"$lte", K_CMP, SEL_LTE},
    {"$gt", K_CMP, SEL_GT},            {"$gte", K_CMP, SEL_GTE},
    {"$in", K_SET, SEL_IN},            {"$nin", K_SET, SEL_NIN},
    {"$all", K_SET, SEL_ALL},          {"$exists", K_EXISTS, SEL_EXISTS},
    {"$type", K_TYPE, SEL_TYPE},       {"$mod", K_MOD, SEL_MOD},
    {"$regex", K_REGEX, SEL_REGEX},    {"$size", K_SIZE, SEL_SIZE},
    {"$beginsWith", K_BEGINS, SEL_BEGINS},
    {"$elemMatch", K_SUB, SEL_ELEM},   {"$allMatch", K_SUB, SEL_ALLMATCH},
    {"$keyMapMatch", K_SUB, SEL_KEYMAP},
    {"$text", K_UNSUPPORTED, SEL_TRUE}, {"$default", K_UNSUPPORTED, SEL_TRUE},
    {"$where", K_UNSUPPORTED, SEL_TRUE}, {"$geoWithin", K_UNSUPPORTED, SEL_TRUE},
    {"$geoIntersects", K_UNSUPPORTED, SEL_TRUE}, {"$near", K_UNSUPPORTED, SEL_TRUE},
    {"$nearSphere", K_UNSUPPORTED, SEL_TRUE},
};

static const struct op_def *find_op(const char *key, size_t len)
{
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (strlen(OPS[i].name) == len && memcmp(OPS[i].name, key, len) == 0)
            return &OPS[i];
    return NULL;
}

/* The name of a condition's operator, for rendering. */
static const char *cond_name(sel_op op)
{
    if (op == SEL_NOT)
        return "$not";
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (OPS[i].op == op && OPS[i].kind >= K_CMP && OPS[i].kind <= K_SUB)
            return OPS[i].name;
    return "$invalid";
}

/* Under negation a condition becomes its twin, when it has one. */
static bool negate_in_place(sel_node *n)
{
    static const sel_op twin[][2] = {
        {SEL_EQ, SEL_NE}, {SEL_LT, SEL_GTE}, {SEL_LTE, SEL_GT}, {SEL_IN, SEL_NIN},
    };

    if (n->op == SEL_EXISTS) {
        n->u.exists = !n->u.exists;
        return true;
    }
    for (size_t i = 0; i < sizeof twin / sizeof twin[0]; i++) {
        if (n->op == twin[i][0] || n->op == twin[i][1]) {
            n->op = n->op == twin[i][0] ? twin[i][1] : twin[i][0];
            return true;
        }
    }
    return false;
}

/* ---- paths ---------------------------------------------------------------- */

static const char *join_path(comp *c, const char *prefix, const char *key, size_t klen)
{
    size_t plen = strlen(prefix), n = plen + (plen > 0) + klen;
    char *p = st_sel_alloc(c->s, n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, prefix, plen);
    if (plen > 0)
        p[plen] = '.';
    memcpy(p + n - klen, key, klen);
    p[n] = '\0';
    return p;
}

static size_t seg_index(const char *s, size_t n)
{
    size_t v = 0;

    if (n == 0)
        return SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SIZE_MAX;
        if (v > (SIZE_MAX / 2 - 9) / 10)
            return SIZE_MAX - 1; /* numeric, but past any array */
        v = v * 10 + (size_t)(s[i] - '0');
    }
    return v;
}

/* Split at '.' not preceded by '\', then drop every '\' (CouchDB's
 * mango_util:parse_field).  An empty segment is an error. */
static bool parse_path(comp *c, sel_node *field, const char *path)
{
    size_t len = strlen(path), nsegs = 1, k = 0;
    sel_seg *segs;
    char *buf;

    for (size_t i = 0; i < len; i++)
        nsegs += path[i] == '.' && (i == 0 || path[i - 1] != '\\');
    segs = st_sel_alloc(c->s, nsegs * sizeof *segs);
    buf = st_sel_alloc(c->s, len + 1);
    if (segs == NULL || buf == NULL) {
        nomem(c);
        return false;
    }
    segs[0].key = buf;
    for (size_t i = 0; i <= len; i++) {
        bool end = i == len || (path[i] == '.' && (i == 0 || path[i - 1] != '\\'));

        if (!end) {
            if (path[i] != '\\')
                *buf++ = path[i];
            continue;
        }
        segs[k].len = (size_t)(buf - segs[k].key);
        if (segs[k].len == 0) {
            failf(c, ST_E_BAD_FIELD, "Invalid field name: %s", path);
            return false;
        }
        segs[k].index = seg_index(segs[k].key, segs[k].len);
        *buf++ = '\0';
        if (++k < nsegs)
            segs[k].key = buf;
    }
    field->u.field.segs = segs;
    field->u.field.nsegs = nsegs;
    return true;
}

/* The FIELD node for a condition at path, its segments parsed.  The empty
 * path is the value itself, allowed only inside $elemMatch & co. */
static sel_node *new_field(comp *c, const char *path)
{
    sel_node *f;

    if (path[0] == '\0' && !c->in_elem)
        return failf(c, ST_E_INVALID_SELECTOR, "One or more conditions is missing a field name.");
    f = new_node(c, SEL_FIELD);
    if (f == NULL)
        return NULL;
    f->u.field.path = path;
    if (path[0] != '\0' && !parse_path(c, f, path))
        return NULL;
    return f;
}

static bool is_id(const sel_node *field)
{
    return field->u.field.nsegs == 1 && field->u.field.segs[0].len == 3 &&
           memcmp(field->u.field.segs[0].key, "_id", 3) == 0;
}

/* ---- conditions ----------------------------------------------------------- */

static int cmp_icu(const void *a, const void *b)
{
    return st_collate(*(const st_json *const *)a, *(const st_json *const *)b, ST_COLLATE_ICU);
}

static int cmp_raw(const void *a, const void *b)
{
    return st_collate(*(const st_json *const *)a, *(const st_json *const *)b, ST_COLLATE_RAW);
}

/* $in/$nin/$all: the values sorted and made distinct, for binary search. */
static sel_node *set_cond(comp *c, sel_node *n, const char *name)
{
    const st_json *a = n->arg;
    const st_json **v;
    size_t k = 0;

    if (a->type != ST_JSON_ARRAY)
        return failf(c, ST_E_BAD_ARG, "Bad argument for operator %s: expected an array", name);
    if (a->len > ST_SELECTOR_MAX_LIST)
        return failf(c, ST_E_BAD_ARG, "Bad argument for operator %s: %zu values, limit is %d",
                     name, a->len, ST_SELECTOR_MAX_LIST);
    v = st_sel_alloc(c->s, (a->len ? a->len : 1) * sizeof *v);
    if (v == NULL)
        return nomem(c);
    for (size_t i = 0; i < a->len; i++)
        v[i] = &a->u.items[i];
    qsort(v, a->len, sizeof *v, n->mode == ST_COLLATE_RAW ? cmp_raw : cmp_icu);
    for (size_t i = 0; i < a->len; i++)
        if (k == 0 || st_collate(v[k - 1], v[i], n->mode) != 0)
            v[k++] = v[i];
    n->u.set.v = v;
    n->u.set.n = k;
    return n;
}

static sel_type type_name(const st_json *a)
{
    static const char *const names[] = {
        [TYPE_NULL] = "null",     [TYPE_BOOLEAN] = "boolean", [TYPE_NUMBER] = "number",
        [TYPE_STRING] = "string", [TYPE_ARRAY] = "array",     [TYPE_OBJECT] = "object",
    };

    for (int t = TYPE_NULL; t <= TYPE_OBJECT; t++)
        if (strlen(names[t]) == a->len && memcmp(names[t], a->u.str, a->len) == 0)
            return (sel_type)t;
    return TYPE_NONE;
}

static sel_node *regex_cond(comp *c, sel_node *n)
{
    const st_json *a = n->arg;
    int code;
    PCRE2_SIZE off;
    sel_regex *r;
    PCRE2_UCHAR msg[128];

    if (a->type != ST_JSON_STRING)
        return failf(c, ST_E_INVALID_OPERATOR, "Invalid operator: $regex");
    if (a->len > ST_SELECTOR_MAX_REGEX)
        return failf(c, ST_E_BAD_ARG, "Bad argument for operator $regex: pattern of %zu bytes,"
                     " limit is %d", a->len, ST_SELECTOR_MAX_REGEX);
    r = st_sel_alloc(c->s, sizeof *r);
    if (r == NULL)
        return nomem(c);
    /* UTF: "." is a character; \C could split one, so it is refused.
     * Auto-callouts let the matcher count steps (selector_match.c). */
    r->code = pcre2_compile((PCRE2_SPTR)a->u.str, a->len,
                            PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | PCRE2_AUTO_CALLOUT, &code, &off,
                            NULL);
    if (r->code == NULL) {
        pcre2_get_error_message(code, msg, sizeof msg);
        return failf(c, ST_E_BAD_ARG, "Bad argument for operator $regex: %s at offset %zu",
                     (const char *)msg, (size_t)off);
    }
    r->next = c->s->regexes;
    c->s->regexes = r;
    n->u.re = r->code;
    return n;
}

static sel_node *mod_cond(comp *c, sel_node *n)
{
    const st_json *a = n->arg;

    if (a->type != ST_JSON_ARRAY || a->len != 2 || !st_json_int64(&a->u.items[0], &n->u.mod.div) ||
        !st_json_int64(&a->u.items[1], &n->u.mod.rem))
        return failf(c, ST_E_BAD_ARG, "Bad argument for operator $mod: expected [divisor, remainder],"
                     " both integers");
    if (n->u.mod.div == 0)
        return failf(c, ST_E_BAD_ARG, "Bad argument for operator $mod: the divisor is zero");
    return n;
}

static sel_node *compile_object(comp *c, const st_json *obj, const char *path, bool neg);

/* $elemMatch & co.: the argument is a selector over elements (or keys). */
static sel_node *sub_cond(comp *c, sel_node *n, const char *name)
{
    bool was = c->in_elem;

    if (n->arg->type != ST_JSON_OBJECT)
        return failf(c, ST_E_BAD_ARG, "Bad argument for operator %s: expected an object", name);
    c->in_elem = true;
    n->u.sub = compile_object(c, n->arg, "", false);
    c->in_elem = was;
    return n->u.sub != NULL ? n : NULL;
}

/* Build condition `def` with argument a, checked. */
static sel_node *make_cond(comp *c, const struct op_def *def, const st_json *a,
                           st_collate_mode mode)
{
    sel_node *n = new_node(c, def->op);

    if (n == NULL)
        return NULL;
    n->arg = a;
    n->mode = mode;
    switch (def->kind) {
    case K_CMP:
        return n;
    case K_SET:
        return set_cond(c, n, def->name);
    case K_EXISTS:
        if (a->type != ST_JSON_TRUE && a->type != ST_JSON_FALSE)
            return failf(c, ST_E_BAD_ARG, "Bad argument for operator $exists: expected a boolean");
        n->u.exists = a->type == ST_JSON_TRUE;
        return n;
    case K_TYPE:
        if (a->type != ST_JSON_STRING)
            return failf(c, ST_E_BAD_ARG, "Bad argument for operator $type: expected a string");
        n->u.type = type_name(a);
        return n;
    case K_MOD:
        return mod_cond(c, n);
    case K_REGEX:
        return regex_cond(c, n);
    case K_SIZE:
        if (!st_json_uint64(a, &n->u.size))
            return failf(c, ST_E_BAD_ARG, "Bad argument for operator $size: expected a"
                         " non-negative integer");
        return n;
    case K_BEGINS:
        if (a->type != ST_JSON_STRING)
            return failf(c, ST_E_INVALID_OPERATOR, "Invalid operator: $beginsWith");
        return n;
    case K_SUB:
        return sub_cond(c, n, def->name);
    default:
        return failf(c, ST_E_MISUSE, "not a condition: %s", def->name);
    }
}

/* A condition at path: FIELD(path, cond), negated if neg. */
static sel_node *condition(comp *c, const struct op_def *def, const st_json *a, const char *path,
                           bool neg)
{
    sel_node *f = new_field(c, path), *cond, *not;

    if (f == NULL)
        return NULL;
    cond = make_cond(c, def, a, is_id(f) ? ST_COLLATE_RAW : ST_COLLATE_ICU);
    if (cond == NULL)
        return NULL;
    if (neg && !negate_in_place(cond)) {
        if ((not = new_node(c, SEL_NOT)) == NULL)
            return NULL;
        not->u.sub = cond;
        cond = not;
    }
    f->u.field.cond = cond;
    return f;
}

/* ---- selectors ------------------------------------------------------------ */

static const struct op_def EQ_DEF = {"$eq", K_CMP, SEL_EQ};

static sel_node *compile_value(comp *c, const st_json *v, const char *path, bool neg);

/* $and, $or, $nor: each element at the same path. */
static sel_node *combination(comp *c, const struct op_def *def, const st_json *a,
                             const char *path, bool neg)
{
    bool kid_neg = def->kind == K_NOR ? !neg : neg;
    bool is_and = def->kind != K_OR; /* $nor is the $and of negations */
    sel_node *n;

    if (a->type != ST_JSON_ARRAY)
        return failf(c, ST_E_BAD_ARG, "Bad argument for operator %s: expected an array",
                     def->name);
    n = new_list(c, is_and != neg ? SEL_AND : SEL_OR, a->len);
    if (n == NULL)
        return NULL;
    for (size_t i = 0; i < a->len; i++) {
        sel_node *kid = compile_value(c, &a->u.items[i], path, kid_neg);

        if (kid == NULL)
            return NULL;
        n->u.list.kids[n->u.list.n++] = kid;
    }
    return n;
}

static sel_node *compile_operator(comp *c, const st_json_member *m, const char *path, bool neg)
{
    const struct op_def *def = find_op(m->key, m->key_len);

    if (def == NULL)
        return failf(c, ST_E_INVALID_OPERATOR, "Invalid operator: %.*s", (int)m->key_len, m->key);
    switch (def->kind) {
    case K_AND:
    case K_OR:
    case K_NOR:
        return combination(c, def, &m->value, path, neg);
    case K_NOT:
        if (m->value.type != ST_JSON_OBJECT)
            return failf(c, ST_E_BAD_ARG, "Bad argument for operator $not: expected an object");
        return compile_object(c, &m->value, path, !neg);
    case K_UNSUPPORTED:
        return failf(c, ST_E_NOT_SUPPORTED, "Unsupported operator: %s%s", def->name,
                     strcmp(def->name, "$text") == 0 ? " (there are no text indexes)" : "");
    default:
        return condition(c, def, &m->value, path, neg);
    }
}

static sel_node *compile_member(comp *c, const st_json_member *m, const char *path, bool neg)
{
    const char *sub;

    if (m->key_len > 0 && m->key[0] == '$')
        return compile_operator(c, m, path, neg);
    /* Paths are C strings; a NUL would silently cut one short. */
    if (memchr(m->key, '\0', m->key_len) != NULL)
        return failf(c, ST_E_BAD_FIELD, "Invalid field name: contains \\u0000");
    if ((sub = join_path(c, path, m->key, m->key_len)) == NULL)
        return nomem(c);
    return compile_value(c, &m->value, sub, neg);
}

static int member_cmp(const void *a, const void *b)
{
    const st_json_member *x = *(const st_json_member *const *)a;
    const st_json_member *y = *(const st_json_member *const *)b;
    int k = st_collate_bytes(x->key, x->key_len, y->key, y->key_len);

    return k != 0 ? k : (x > y) - (x < y);
}

/* live[i]: member i is not overridden by a later one with the same key
 * (duplicate keys: the last wins, as CouchDB's JSON decoder keeps it). */
static bool *live_members(comp *c, const st_json *obj, size_t *out_n)
{
    bool *live = st_sel_alloc(c->s, obj->len * sizeof *live);
    const st_json_member **by_key = st_sel_alloc(c->s, obj->len * sizeof *by_key);

    if (live == NULL || by_key == NULL)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        by_key[i] = &obj->u.members[i];
    qsort(by_key, obj->len, sizeof *by_key, member_cmp);
    *out_n = 0;
    for (size_t i = 0; i < obj->len; i++) {
        const st_json_member *m = by_key[i], *next = i + 1 < obj->len ? by_key[i + 1] : NULL;
        bool last = next == NULL ||
                    st_collate_bytes(m->key, m->key_len, next->key, next->key_len) != 0;

        live[m - obj->u.members] = last;
        *out_n += last;
    }
    return live;
}

/* An object in selector position: its members are an implicit $and. */
static sel_node *compile_object(comp *c, const st_json *obj, const char *path, bool neg)
{
    size_t nlive;
    bool *live;
    sel_node *n;

    if (obj->len == 0) {
        if (path[0] != '\0') /* {"f": {}}: f equals the empty object */
            return condition(c, &EQ_DEF, obj, path, neg);
        return neg ? new_list(c, SEL_OR, 0) : new_node(c, SEL_TRUE);
    }
    if ((live = live_members(c, obj, &nlive)) == NULL)
        return nomem(c);
    if (nlive == 1)
        for (size_t i = 0; i < obj->len; i++)
            if (live[i])
                return compile_member(c, &obj->u.members[i], path, neg);
    n = new_list(c, neg ? SEL_OR : SEL_AND, nlive);
    if (n == NULL)
        return NULL;
    for (size_t i = 0; i < obj->len; i++) {
        sel_node *kid;

        if (!live[i])
            continue;
        if ((kid = compile_member(c, &obj->u.members[i], path, neg)) == NULL)
            return NULL;
        n->u.list.kids[n->u.list.n++] = kid;
    }
    return n;
}

/* A value in condition position: an object is a selector, anything else
 * is equality (norm_ops' "bare value"). */
static sel_node *compile_value(comp *c, const st_json *v, const char *path, bool neg)
{
    if (v->type == ST_JSON_OBJECT)
        return compile_object(c, v, path, neg);
    return condition(c, &EQ_DEF, v, path, neg);
}

/* ---- entry points --------------------------------------------------------- */

/* Is v nested more than `budget` containers deep?  Recursion stops there. */
static bool deeper_than(const st_json *v, unsigned budget)
{
    if (v->type != ST_JSON_ARRAY && v->type != ST_JSON_OBJECT)
        return false;
    if (budget == 0)
        return true;
    for (size_t i = 0; i < v->len; i++)
        if (deeper_than(v->type == ST_JSON_ARRAY ? &v->u.items[i] : &v->u.members[i].value,
                        budget - 1))
            return true;
    return false;
}

/* The selector's own copy of sel: rendered and parsed again. */
static st_status copy_json(const st_json *sel, st_json_doc **out, st_error *err)
{
    st_buf b = ST_BUF_INIT;
    st_json_limits lim = {0, ST_SELECTOR_MAX_DEPTH};
    st_jw w;
    st_status rc;

    if ((rc = st_jw_init(&w, &b)) != ST_OK)
        return st_fail(err, rc, "out of memory");
    st_jw_value(&w, sel);
    rc = st_jw_status(&w);
    st_jw_free(&w);
    if (rc == ST_OK)
        rc = st_json_parse(b.data, b.len, &lim, out, err);
    else
        st_fail(err, rc, "cannot copy the selector");
    st_buf_free(&b);
    return rc;
}

st_status st_selector_compile(const st_json *sel, st_selector **out_sel, st_error *err)
{
    st_selector *s = NULL;
    comp c;
    st_status rc;

    if (sel == NULL || out_sel == NULL)
        return st_fail(err, ST_E_MISUSE, "st_selector_compile: NULL argument");
    *out_sel = NULL;
    if (sel->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_INVALID_SELECTOR_JSON, "Selector must be a JSON object");
    /* The root object is level 1. */
    if (deeper_than(sel, ST_SELECTOR_MAX_DEPTH))
        return st_fail(err, ST_E_INVALID_SELECTOR, "Selector is nested deeper than %d levels",
                       ST_SELECTOR_MAX_DEPTH);
    if ((s = calloc(1, sizeof *s)) == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if ((rc = st_collate_init(err)) != ST_OK || (rc = copy_json(sel, &s->copy, err)) != ST_OK)
        goto out;
    if ((s->mctx = st_sel_match_context()) == NULL) {
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    c = (comp){s, err, ST_OK, false};
    if ((s->root = compile_object(&c, st_json_doc_root(s->copy), "", false)) == NULL) {
        rc = c.rc;
        goto out;
    }
    if ((rc = st_sel_plan(s)) != ST_OK) {
        st_fail(err, rc, "out of memory");
        goto out;
    }
    *out_sel = s;
    s = NULL;
out:
    st_selector_free(s);
    return rc;
}

bool st_selector_matches_all(const st_selector *s)
{
    return s->root->op == SEL_TRUE;
}

/* ---- rendering ------------------------------------------------------------ */

static void write_node(st_jw *w, const sel_node *n);

static void write_cond(st_jw *w, const sel_node *n)
{
    st_jw_obj_open(w);
    st_jw_key(w, cond_name(n->op));
    switch (n->op) {
    case SEL_NOT:
        write_cond(w, n->u.sub);
        break;
    case SEL_EXISTS:
        st_jw_bool(w, n->u.exists);
        break;
    case SEL_ELEM:
    case SEL_ALLMATCH:
    case SEL_KEYMAP:
        write_node(w, n->u.sub);
        break;
    default:
        st_jw_value(w, n->arg);
        break;
    }
    st_jw_obj_close(w);
}

static void write_node(st_jw *w, const sel_node *n)
{
    st_jw_obj_open(w);
    switch (n->op) {
    case SEL_AND:
    case SEL_OR:
        st_jw_key(w, n->op == SEL_AND ? "$and" : "$or");
        st_jw_arr_open(w);
        for (size_t i = 0; i < n->u.list.n; i++)
            write_node(w, n->u.list.kids[i]);
        st_jw_arr_close(w);
        break;
    case SEL_FIELD:
        st_jw_key(w, n->u.field.path);
        write_cond(w, n->u.field.cond);
        break;
    default: /* SEL_TRUE: {} */
        break;
    }
    st_jw_obj_close(w);
}

void st_selector_write(const st_selector *s, st_jw *w)
{
    write_node(w, s->root);
}

st_status st_selector_to_json(const st_selector *s, st_buf *out)
{
    st_jw w;
    st_status rc = st_jw_init(&w, out);

    if (rc != ST_OK)
        return rc;
    st_selector_write(s, &w);
    rc = st_jw_status(&w);
    st_jw_free(&w);
    return rc;
}
