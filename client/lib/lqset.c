/* lqset.c — the live query's window (see lqset.h): a treap ordered by
 * position whose nodes count their subtree, and a hash table by id.
 *
 * Why a treap: ranks are the positions the app is told (old_pos/new_pos),
 * and a sorted array would make every insertion and removal move the whole
 * tail -- a cost that grows with the result, which a live query must not
 * have.  A treap with subtree sizes gives rank, insert, remove and "the
 * entry at rank r" in O(log n) expected with two short recursive helpers;
 * priorities come from a private xorshift generator, so no order of ids
 * can unbalance it.  Recursion depth is the tree's height (about 2.5 log2 n
 * expected: ~50 levels at a million entries).
 *
 * The hash table doubles once it holds as many entries as buckets; when
 * that allocation fails it keeps its size (chains get longer, nothing is
 * lost).
 */
#include "lqset.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_BUCKETS 64

static size_t size_of(const st_lq_entry *e) { return e ? e->size : 0; }

static void fix(st_lq_entry *e) { e->size = 1 + size_of(e->left) + size_of(e->right); }

static uint64_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return h;
}

static uint64_t next_prio(st_lq_set *s)
{
    uint64_t x = s->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rng = x;
    return x;
}

bool st_lq_set_init(st_lq_set *s, bool descending)
{
    memset(s, 0, sizeof *s);
    s->descending = descending;
    s->rng = 0x9e3779b97f4a7c15u;
    s->buckets = calloc(FIRST_BUCKETS, sizeof *s->buckets);
    if (!s->buckets)
        return false;
    s->n_buckets = FIRST_BUCKETS;
    return true;
}

void st_lq_set_free(st_lq_set *s)
{
    for (size_t i = 0; i < s->n_buckets; i++)
        for (st_lq_entry *e = s->buckets[i], *next; e; e = next) {
            next = e->hnext;
            st_lq_entry_free(e);
        }
    free(s->buckets);
    memset(s, 0, sizeof *s);
}

st_lq_entry *st_lq_entry_new(const void *key, size_t key_len, const char *id, uint64_t seq)
{
    size_t idn = strlen(id) + 1;
    st_lq_entry *e = malloc(sizeof *e + key_len + idn);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    if (key_len)
        memcpy(e->data, key, key_len);
    memcpy(e->data + key_len, id, idn);
    e->key_len = key_len;
    e->id = e->data + key_len;
    e->hash = hash_id(id);
    e->seq = seq;
    e->size = 1;
    return e;
}

void st_lq_entry_free(st_lq_entry *e)
{
    if (e)
        free(e->doc);
    free(e);
}

int st_lq_set_cmp(const st_lq_set *s, const void *key, size_t key_len, const char *id,
                  const st_lq_entry *e)
{
    size_t n = key_len < e->key_len ? key_len : e->key_len;
    int r = n ? memcmp(key, e->data, n) : 0;
    if (r == 0)
        r = (key_len > e->key_len) - (key_len < e->key_len);
    if (r == 0)
        r = strcmp(id, e->id);
    r = (r > 0) - (r < 0);
    return s->descending ? -r : r;
}

static int cmp(const st_lq_set *s, const st_lq_entry *a, const st_lq_entry *b)
{
    return st_lq_set_cmp(s, a->data, a->key_len, a->id, b);
}

/* ---- the treap ----------------------------------------------------------------- */

/* t split into the entries before e (*l) and after it (*r). */
static void split(const st_lq_set *s, st_lq_entry *t, const st_lq_entry *e, st_lq_entry **l,
                  st_lq_entry **r)
{
    if (!t) {
        *l = *r = NULL;
        return;
    }
    if (cmp(s, e, t) > 0) {
        split(s, t->right, e, &t->right, r);
        *l = t;
    } else {
        split(s, t->left, e, l, &t->left);
        *r = t;
    }
    fix(t);
}

/* a and b joined, every entry of a being before every entry of b. */
static st_lq_entry *merge(st_lq_entry *a, st_lq_entry *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (a->prio > b->prio) {
        a->right = merge(a->right, b);
        fix(a);
        return a;
    }
    b->left = merge(a, b->left);
    fix(b);
    return b;
}

static st_lq_entry *insert_into(const st_lq_set *s, st_lq_entry *t, st_lq_entry *e)
{
    if (!t)
        return e;
    if (e->prio > t->prio) {
        split(s, t, e, &e->left, &e->right);
        fix(e);
        return e;
    }
    if (cmp(s, e, t) < 0)
        t->left = insert_into(s, t->left, e);
    else
        t->right = insert_into(s, t->right, e);
    fix(t);
    return t;
}

static st_lq_entry *remove_from(const st_lq_set *s, st_lq_entry *t, st_lq_entry *e)
{
    if (t == e)
        return merge(e->left, e->right);
    if (cmp(s, e, t) < 0)
        t->left = remove_from(s, t->left, e);
    else
        t->right = remove_from(s, t->right, e);
    fix(t);
    return t;
}

/* The rank of e, which is in the tree. */
static size_t rank_of(const st_lq_set *s, const st_lq_entry *e)
{
    size_t r = 0;
    for (const st_lq_entry *t = s->root; t;) {
        int c = cmp(s, e, t);
        if (c == 0)
            return r + size_of(t->left);
        if (c < 0) {
            t = t->left;
        } else {
            r += size_of(t->left) + 1;
            t = t->right;
        }
    }
    return r; /* not reached for an entry of the tree */
}

/* ---- the table ------------------------------------------------------------------ */

static void table_grow(st_lq_set *s)
{
    size_t n = s->n_buckets * 2;
    st_lq_entry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->n_buckets; i++)
        for (st_lq_entry *e = s->buckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(s->buckets);
    s->buckets = b;
    s->n_buckets = n;
}

st_lq_entry *st_lq_set_find(const st_lq_set *s, const char *id)
{
    uint64_t h = hash_id(id);
    for (st_lq_entry *e = s->buckets[h & (s->n_buckets - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

size_t st_lq_set_insert(st_lq_set *s, st_lq_entry *e)
{
    if (s->n >= s->n_buckets)
        table_grow(s);
    st_lq_entry **b = &s->buckets[e->hash & (s->n_buckets - 1)];
    e->hnext = *b;
    *b = e;
    e->left = e->right = NULL;
    e->size = 1;
    e->prio = next_prio(s);
    s->root = insert_into(s, s->root, e);
    s->n++;
    return rank_of(s, e);
}

size_t st_lq_set_remove(st_lq_set *s, st_lq_entry *e)
{
    size_t r = rank_of(s, e);
    s->root = remove_from(s, s->root, e);
    for (st_lq_entry **p = &s->buckets[e->hash & (s->n_buckets - 1)]; *p; p = &(*p)->hnext)
        if (*p == e) {
            *p = e->hnext;
            break;
        }
    e->left = e->right = e->hnext = NULL;
    e->size = 1;
    s->n--;
    return r;
}

st_lq_entry *st_lq_set_at(const st_lq_set *s, size_t r)
{
    for (st_lq_entry *t = s->root; t;) {
        size_t l = size_of(t->left);
        if (r < l) {
            t = t->left;
        } else if (r == l) {
            return t;
        } else {
            r -= l + 1;
            t = t->right;
        }
    }
    return NULL;
}
