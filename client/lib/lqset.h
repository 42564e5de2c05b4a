/* lqset.h — a live query's window: the documents it holds, in the answer's
 * order, with their ranks, and found by id.
 *
 * Each entry is a position (key, id) -- core's (st_mango.h, "for live
 * queries"): byte order of key, then of id, reversed for a descending
 * plan -- plus what the live query remembers of the document.  Insert,
 * remove, rank and "the entry at rank r" cost O(log n) (a treap whose nodes
 * count their subtree); lookup by id is a hash table.  So an update costs
 * the same whatever the window's size, and positions (ranks) come with it.
 *
 * Memory: the set owns its entries (st_lq_set_free frees them, and their
 * doc); an entry taken out with st_lq_set_remove is the caller's again
 * (st_lq_entry_free).
 * Threads: one thread at a time (the live query's, on the db's callback
 * thread).
 */
#ifndef ST_CLIENT_LQSET_H
#define ST_CLIENT_LQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct st_lq_entry st_lq_entry;
struct st_lq_entry {
    /* the set's */
    st_lq_entry *left, *right;  /* treap children */
    st_lq_entry *hnext;         /* hash chain */
    uint64_t prio;              /* treap priority (random) */
    uint64_t hash;              /* of id */
    size_t size;                /* entries in this subtree, itself included */
    /* the live query's */
    uint64_t seq;               /* the document's row sequence when last read */
    bool shown;                 /* the app was told of it, at its rank */
    size_t json_off, json_len;  /* while loading: its JSON in the load's arena */
    char *doc;                  /* its JSON (malloc'd, the entry's), kept by
                                 * limited live queries; NULL when not kept */
    size_t doc_len;
    /* the position */
    size_t key_len;
    const char *id;             /* points into data, after the key */
    char data[];                /* key bytes, then id with its NUL */
};

typedef struct st_lq_set {
    st_lq_entry *root;
    st_lq_entry **buckets;      /* by hash of id; n_buckets is a power of two */
    size_t n_buckets;
    size_t n;                   /* entries */
    bool descending;
    uint64_t rng;               /* xorshift state for priorities */
} st_lq_set;

/* An empty set; false when out of memory (then s holds nothing). */
bool st_lq_set_init(st_lq_set *s, bool descending);
/* Free every entry and the table. */
void st_lq_set_free(st_lq_set *s);

/* A new entry for position (key, id), not in any set; NULL when out of
 * memory.  Free with st_lq_entry_free unless a set owns it. */
st_lq_entry *st_lq_entry_new(const void *key, size_t key_len, const char *id, uint64_t seq);
void st_lq_entry_free(st_lq_entry *e); /* NULL ok */

/* The entry of id, or NULL. */
st_lq_entry *st_lq_set_find(const st_lq_set *s, const char *id);
/* Add e (whose id is not in s yet); returns its rank (0-based). */
size_t st_lq_set_insert(st_lq_set *s, st_lq_entry *e);
/* Take e (which is in s) out; returns the rank it had. */
size_t st_lq_set_remove(st_lq_set *s, st_lq_entry *e);
/* The entry at rank r (< s->n), or NULL. */
st_lq_entry *st_lq_set_at(const st_lq_set *s, size_t r);
/* Position (key, id) compared with e's in the set's order: <0 before it,
 * 0 the same, >0 after it. */
int st_lq_set_cmp(const st_lq_set *s, const void *key, size_t key_len, const char *id,
                  const st_lq_entry *e);

#endif
