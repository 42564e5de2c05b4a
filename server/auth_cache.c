/* auth_cache.c — a bounded LRU of verified credentials behind one mutex.
 *
 * Why keyed digests: entries hold HMAC(key, name ++ NUL ++ password), so a
 * memory dump reveals no password (nor a fast unsalted hash of one) without
 * the per-cache key.  The key is prepared once (auth_mac.h): the digest is
 * computed on every Basic request.  The bucket is a hash of the name seeded from that key
 * (FNV-1a, not an HMAC: the lookup runs on every Basic request, and only
 * names whose password just verified are ever put, at most max_entries of
 * them, so a chain cannot be made longer than the cache).
 */
#include "auth_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "auth_mac.h"
#include "digest.h"

#define DIGEST 32

typedef struct entry {
    struct entry *chain;          /* next in the bucket */
    struct entry *prev, *next;    /* LRU list, most recent first */
    char *name;
    unsigned char pw_digest[DIGEST];
    char *salt;
    char *rev;
    st_roles roles;
    int64_t created;
    size_t bucket;
} entry;

struct st_auth_cache {
    pthread_mutex_t mu;
    unsigned char key[DIGEST];    /* per-cache HMAC key */
    st_auth_mac mac;              /* that key, prepared (read-only after new) */
    entry **buckets;
    size_t n_buckets;             /* power of two */
    entry *head, *tail;
    size_t count, max;
    unsigned ttl_s;
};

st_auth_cache *st_auth_cache_new(size_t max_entries, unsigned ttl_s)
{
    st_auth_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max = max_entries ? max_entries : ST_AUTH_CACHE_DEFAULT_MAX;
    c->ttl_s = ttl_s;
    c->n_buckets = 16;
    while (c->n_buckets < 2 * c->max)
        c->n_buckets *= 2;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    if (!c->buckets || !st_random_bytes(c->key, sizeof c->key) ||
        !st_auth_mac_init(&c->mac, ST_DIGEST_SHA256, c->key, sizeof c->key) ||
        pthread_mutex_init(&c->mu, NULL) != 0) {
        st_auth_mac_wipe(&c->mac);
        free(c->buckets);
        free(c);
        return NULL;
    }
    return c;
}

static void entry_free(entry *e)
{
    OPENSSL_cleanse(e->pw_digest, sizeof e->pw_digest);
    free(e->name);
    free(e->salt);
    free(e->rev);
    st_roles_free(&e->roles);
    free(e);
}

/* Unlink e from its bucket and the LRU list and free it.  Lock held. */
static void drop(st_auth_cache *c, entry *e)
{
    entry **p = &c->buckets[e->bucket];
    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    c->count--;
    entry_free(e);
}

static void to_front(st_auth_cache *c, entry *e)
{
    if (c->head == e)
        return;
    e->prev->next = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = NULL;
    e->next = c->head;
    c->head->prev = e;
    c->head = e;
}

static entry *find(const st_auth_cache *c, size_t bucket, const char *name)
{
    for (entry *e = c->buckets[bucket]; e; e = e->chain) {
        if (strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

static size_t bucket_of(const st_auth_cache *c, const char *name)
{
    uint64_t h;
    memcpy(&h, c->key, sizeof h);
    h ^= 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)((h ^ (h >> 29)) & (c->n_buckets - 1));
}

/* Bucket of name and digest of (name, pw), computed without the lock. */
static bool digests(const st_auth_cache *c, const char *name, const void *pw, size_t pw_len,
                    size_t *bucket, unsigned char pw_digest[DIGEST])
{
    size_t name_len = strlen(name);
    size_t n = name_len + 1 + pw_len;
    unsigned char small[256];
    unsigned char *msg = n <= sizeof small ? small : malloc(n);
    if (!msg)
        return false;
    memcpy(msg, name, name_len + 1);
    if (pw_len)
        memcpy(msg + name_len + 1, pw, pw_len);
    st_auth_mac_run(&c->mac, msg, n, pw_digest);
    OPENSSL_cleanse(msg, n);
    if (msg != small)
        free(msg);
    *bucket = bucket_of(c, name);
    return true;
}

static bool same(const char *stored, const char *given)
{
    return strcmp(stored, given ? given : "") == 0;
}

st_status st_auth_cache_get(st_auth_cache *c, const char *name, const void *pw, size_t pw_len,
                            const char *salt, const char *rev, int64_t now, st_roles *out_roles)
{
    unsigned char d[DIGEST];
    size_t bucket;
    st_status rc = ST_E_NOT_FOUND;
    if (!digests(c, name, pw, pw_len, &bucket, d))
        return ST_E_NOT_FOUND;
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, bucket, name);
    if (e) {
        bool fresh = now >= e->created && now - e->created < (int64_t)c->ttl_s;
        bool match = st_ct_equal(e->pw_digest, DIGEST, d, DIGEST) && same(e->salt, salt) &&
                     same(e->rev, rev);
        if (fresh && match) {
            to_front(c, e);
            rc = out_roles ? st_roles_copy(out_roles, &e->roles) : ST_OK;
        } else if (!fresh || !same(e->salt, salt) || !same(e->rev, rev)) {
            drop(c, e); /* stale for everyone, not just this password */
        }
    }
    pthread_mutex_unlock(&c->mu);
    OPENSSL_cleanse(d, sizeof d);
    return rc;
}

static entry *entry_new(const char *name, const unsigned char d[DIGEST], const char *salt,
                        const char *rev, const st_roles *roles, int64_t now)
{
    entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->name = strdup(name);
    e->salt = strdup(salt ? salt : "");
    e->rev = strdup(rev ? rev : "");
    memcpy(e->pw_digest, d, DIGEST);
    e->created = now;
    if (!e->name || !e->salt || !e->rev || (roles && st_roles_copy(&e->roles, roles) != ST_OK)) {
        entry_free(e);
        return NULL;
    }
    return e;
}

st_status st_auth_cache_put(st_auth_cache *c, const char *name, const void *pw, size_t pw_len,
                            const char *salt, const char *rev, const st_roles *roles,
                            int64_t now)
{
    unsigned char d[DIGEST];
    size_t bucket;
    if (!digests(c, name, pw, pw_len, &bucket, d))
        return ST_E_NOMEM;
    entry *e = entry_new(name, d, salt, rev, roles, now);
    OPENSSL_cleanse(d, sizeof d);
    if (!e)
        return ST_E_NOMEM;
    e->bucket = bucket;
    pthread_mutex_lock(&c->mu);
    entry *old = find(c, bucket, name);
    if (old)
        drop(c, old);
    if (c->count >= c->max)
        drop(c, c->tail);
    e->chain = c->buckets[bucket];
    c->buckets[bucket] = e;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
    c->count++;
    pthread_mutex_unlock(&c->mu);
    return ST_OK;
}

void st_auth_cache_invalidate(st_auth_cache *c, const char *name)
{
    size_t bucket = bucket_of(c, name);
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, bucket, name);
    if (e)
        drop(c, e);
    pthread_mutex_unlock(&c->mu);
}

void st_auth_cache_clear(st_auth_cache *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->head)
        drop(c, c->head);
    pthread_mutex_unlock(&c->mu);
}

size_t st_auth_cache_count(st_auth_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void st_auth_cache_free(st_auth_cache *c)
{
    if (!c)
        return;
    st_auth_cache_clear(c);
    pthread_mutex_destroy(&c->mu);
    OPENSSL_cleanse(c->key, sizeof c->key);
    st_auth_mac_wipe(&c->mac);
    free(c->buckets);
    free(c);
}
