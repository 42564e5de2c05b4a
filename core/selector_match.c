/* selector_match.c — evaluate a compiled selector on a document.
 *
 * Why nothing is parsed here: paths were split, numbers of array segments
 * read, $in lists sorted and regexes compiled when the selector was, so a
 * match is a walk of the node tree over the document's st_json tree, with
 * binary searches for $in/$nin/$all.
 *
 * Why a thread-specific PCRE2 match block: pcre2_match needs a writable
 * match-data block (and keeps its backtracking memory in it between calls),
 * while the compiled selector is shared read-only between threads.  Each
 * thread makes one block on its first $regex and reuses it for every
 * pattern; the key's destructor frees it when the thread exits.
 *
 * Why a step counter: PCRE2's match limit restarts at every start position,
 * so it alone bounds a match by limit x length.  Patterns are compiled with
 * auto-callouts, and the callout counts the items executed over the whole
 * string in a thread-local counter, failing the match past the budget.
 */
#include "selector_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- PCRE2 state ---------------------------------------------------------- */

static pthread_once_t pcre_once = PTHREAD_ONCE_INIT;
static pcre2_match_context *pcre_mctx; /* NULL when it could not be made */
static pthread_key_t md_key;
static bool md_key_ok;

static _Thread_local unsigned long regex_steps; /* of the current pcre2_match */

static void md_free(void *p)
{
    pcre2_match_data_free(p);
}

static int count_step(pcre2_callout_block *b, void *data)
{
    (void)b;
    (void)data;
    return ++regex_steps > ST_SELECTOR_REGEX_STEP_LIMIT ? PCRE2_ERROR_CALLOUT : 0;
}

static void pcre_setup(void)
{
    pcre2_match_context *m = pcre2_match_context_create(NULL);

    if (m != NULL) {
        pcre2_set_match_limit(m, ST_SELECTOR_REGEX_MATCH_LIMIT);
        pcre2_set_depth_limit(m, ST_SELECTOR_REGEX_DEPTH_LIMIT);
        pcre2_set_heap_limit(m, ST_SELECTOR_REGEX_HEAP_KB);
        pcre2_set_callout(m, count_step, NULL);
    }
    pcre_mctx = m;
    md_key_ok = pthread_key_create(&md_key, md_free) == 0;
}

pcre2_match_context *st_sel_match_context(void)
{
    pthread_once(&pcre_once, pcre_setup);
    return md_key_ok ? pcre_mctx : NULL;
}

static pcre2_match_data *thread_match_data(void)
{
    pcre2_match_data *md = pthread_getspecific(md_key);

    if (md != NULL)
        return md;
    /* One ovector pair: only "did it match" is asked. */
    md = pcre2_match_data_create(1, NULL);
    if (md != NULL && pthread_setspecific(md_key, md) != 0) {
        pcre2_match_data_free(md);
        md = NULL;
    }
    return md;
}

/* ---- evaluation ------------------------------------------------------------- */

typedef struct ev {
    const st_selector *s;
    st_status rc; /* ST_E_NOMEM once a regex could not get memory */
} ev;

static bool eval(ev *e, const sel_node *n, const st_json *v);

typedef enum { FOUND, MISSING, BAD_PATH } lookup;

/* Walk the path from v.  A missing object key is MISSING; a scalar in the
 * way, a non-index segment into an array or an index past its end is
 * BAD_PATH (CouchDB's bad_path: matches nothing, not even $exists:false). */
static lookup walk(const sel_node *f, const st_json *v, const st_json **out)
{
    for (size_t i = 0; i < f->u.field.nsegs; i++) {
        const sel_seg *sg = &f->u.field.segs[i];
        const st_json *next = NULL;

        if (v->type == ST_JSON_OBJECT) {
            /* Backwards: the last of duplicate keys wins, as in st_json_get. */
            for (size_t k = v->len; k > 0 && next == NULL; k--) {
                const st_json_member *m = &v->u.members[k - 1];

                if (m->key_len == sg->len && memcmp(m->key, sg->key, sg->len) == 0)
                    next = &m->value;
            }
            if (next == NULL)
                return MISSING;
        } else if (v->type == ST_JSON_ARRAY && sg->index < v->len) {
            next = &v->u.items[sg->index];
        } else {
            return BAD_PATH;
        }
        v = next;
    }
    *out = v;
    return FOUND;
}

long st_sel_set_find(const sel_node *n, const st_json *v)
{
    size_t lo = 0, hi = n->u.set.n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = st_collate(v, n->u.set.v[mid], n->mode);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* $in: an array field matches when one of its elements is in the set. */
static bool in_set(const sel_node *n, const st_json *v)
{
    if (v->type != ST_JSON_ARRAY)
        return st_sel_set_find(n, v) >= 0;
    for (size_t i = 0; i < v->len; i++)
        if (st_sel_set_find(n, &v->u.items[i]) >= 0)
            return true;
    return false;
}

/* $all: every (distinct) argument among the elements, counted with a bit
 * per argument; or a single array argument equal to the whole field. */
static bool all_of(const sel_node *n, const st_json *v)
{
    unsigned char seen[ST_SELECTOR_MAX_LIST / 8 + 1];
    size_t found = 0;
    const st_json *a = n->arg;

    if (v->type != ST_JSON_ARRAY || n->u.set.n == 0)
        return false;
    if (a->len == 1 && a->u.items[0].type == ST_JSON_ARRAY &&
        st_collate(v, &a->u.items[0], n->mode) == 0)
        return true;
    memset(seen, 0, n->u.set.n / 8 + 1);
    for (size_t i = 0; i < v->len && found < n->u.set.n; i++) {
        long k = st_sel_set_find(n, &v->u.items[i]);

        if (k >= 0 && !(seen[k / 8] & (1u << (k % 8)))) {
            seen[k / 8] |= (unsigned char)(1u << (k % 8));
            found++;
        }
    }
    return found == n->u.set.n;
}

/* (a + b) mod d for a, b < d, without overflow. */
static uint64_t add_mod(uint64_t a, uint64_t b, uint64_t d)
{
    return a >= d - b ? a - (d - b) : a + b;
}

/* $mod on integer text of any length: the remainder has the dividend's
 * sign (Erlang's rem, C's %).  Past int64 the digits are reduced one by
 * one: r = (10 r + digit) mod d. */
static bool mod_of(const sel_node *n, const st_json *v)
{
    const char *s;
    size_t len;
    bool neg;
    uint64_t d, r = 0;
    int64_t i;

    if (v->type != ST_JSON_NUMBER || memchr(v->u.str, '.', v->len) != NULL ||
        memchr(v->u.str, 'e', v->len) != NULL || memchr(v->u.str, 'E', v->len) != NULL)
        return false;
    if (st_json_int64(v, &i))
        return (n->u.mod.div == -1 ? 0 : i % n->u.mod.div) == n->u.mod.rem;
    s = v->u.str;
    len = v->len;
    neg = len > 0 && s[0] == '-';
    d = n->u.mod.div < 0 ? (uint64_t)0 - (uint64_t)n->u.mod.div : (uint64_t)n->u.mod.div;
    for (size_t k = neg; k < len; k++) {
        uint64_t r10 = 0;

        for (int t = 0; t < 10; t++)
            r10 = add_mod(r10, r, d);
        r = add_mod(r10, (uint64_t)(s[k] - '0') % d, d);
    }
    /* r < d <= 2^63, so -r fits. */
    return (neg ? -(int64_t)r : (int64_t)r) == n->u.mod.rem;
}

static bool regex_of(ev *e, const sel_node *n, const st_json *v)
{
    pcre2_match_data *md;
    int rc;

    if (v->type != ST_JSON_STRING)
        return false;
    if ((md = thread_match_data()) == NULL) {
        e->rc = ST_E_NOMEM;
        return false;
    }
    regex_steps = 0;
    rc = pcre2_match(n->u.re, (PCRE2_SPTR)v->u.str, v->len, 0, 0, md, e->s->mctx);
    if (rc == PCRE2_ERROR_NOMEMORY)
        e->rc = ST_E_NOMEM;
    /* Any other error, every limit included (PCRE2_ERROR_CALLOUT is the step
     * budget): no match. */
    return rc >= 0;
}

static bool type_of(const sel_node *n, const st_json *v)
{
    static const sel_type types[] = {
        [ST_JSON_NULL] = TYPE_NULL,     [ST_JSON_FALSE] = TYPE_BOOLEAN,
        [ST_JSON_TRUE] = TYPE_BOOLEAN,  [ST_JSON_NUMBER] = TYPE_NUMBER,
        [ST_JSON_STRING] = TYPE_STRING, [ST_JSON_ARRAY] = TYPE_ARRAY,
        [ST_JSON_OBJECT] = TYPE_OBJECT,
    };

    return (unsigned)v->type <= ST_JSON_OBJECT && types[v->type] == n->u.type;
}

/* $elemMatch (some element), $allMatch (every element, at least one),
 * $keyMapMatch (some key, as a string). */
static bool sub_of(ev *e, const sel_node *n, const st_json *v)
{
    if (n->op == SEL_KEYMAP) {
        if (v->type != ST_JSON_OBJECT)
            return false;
        for (size_t i = 0; i < v->len; i++) {
            st_json key = {.type = ST_JSON_STRING, .len = v->u.members[i].key_len,
                           .u.str = v->u.members[i].key};

            if (eval(e, n->u.sub, &key))
                return true;
        }
        return false;
    }
    if (v->type != ST_JSON_ARRAY || v->len == 0)
        return false;
    /* $elemMatch stops at the first match, $allMatch at the first miss. */
    for (size_t i = 0; i < v->len; i++) {
        bool m = eval(e, n->u.sub, &v->u.items[i]);

        if (m != (n->op == SEL_ALLMATCH))
            return m;
    }
    return n->op == SEL_ALLMATCH;
}

static bool field_of(ev *e, const sel_node *n, const st_json *v)
{
    const sel_node *cond = n->u.field.cond;
    const st_json *at;

    switch (walk(n, v, &at)) {
    case FOUND:
        return eval(e, cond, at);
    case MISSING:
        return cond->op == SEL_EXISTS && !cond->u.exists;
    default:
        return false;
    }
}

static bool list_of(ev *e, const sel_node *n, const st_json *v)
{
    bool want = n->op == SEL_OR; /* OR stops at a match, AND at a miss */

    for (size_t i = 0; i < n->u.list.n; i++)
        if (eval(e, n->u.list.kids[i], v) == want)
            return want;
    return !want;
}

static bool eval(ev *e, const sel_node *n, const st_json *v)
{
    switch (n->op) {
    case SEL_TRUE:
        return true;
    case SEL_AND:
    case SEL_OR:
        return list_of(e, n, v);
    case SEL_FIELD:
        return field_of(e, n, v);
    case SEL_NOT:
        return !eval(e, n->u.sub, v);
    case SEL_EQ:
        return st_collate(v, n->arg, n->mode) == 0;
    case SEL_NE:
        return st_collate(v, n->arg, n->mode) != 0;
    case SEL_LT:
        return st_collate(v, n->arg, n->mode) < 0;
    case SEL_LTE:
        return st_collate(v, n->arg, n->mode) <= 0;
    case SEL_GT:
        return st_collate(v, n->arg, n->mode) > 0;
    case SEL_GTE:
        return st_collate(v, n->arg, n->mode) >= 0;
    case SEL_IN:
        return in_set(n, v);
    case SEL_NIN:
        return !in_set(n, v);
    case SEL_ALL:
        return all_of(n, v);
    case SEL_EXISTS:
        return n->u.exists; /* reached only for a present value */
    case SEL_TYPE:
        return type_of(n, v);
    case SEL_MOD:
        return mod_of(n, v);
    case SEL_REGEX:
        return regex_of(e, n, v);
    case SEL_SIZE:
        return v->type == ST_JSON_ARRAY && v->len == n->u.size;
    case SEL_BEGINS:
        return v->type == ST_JSON_STRING && v->len >= n->arg->len &&
               memcmp(v->u.str, n->arg->u.str, n->arg->len) == 0;
    case SEL_ELEM:
    case SEL_ALLMATCH:
    case SEL_KEYMAP:
        return sub_of(e, n, v);
    }
    return false;
}

st_status st_selector_match(const st_selector *s, const st_json *doc, bool *out_match)
{
    ev e = {s, ST_OK};
    bool m;

    if (s == NULL || doc == NULL || out_match == NULL)
        return ST_E_MISUSE;
    m = eval(&e, s->root, doc);
    *out_match = e.rc == ST_OK && m;
    return e.rc;
}
