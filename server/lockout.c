/* lockout.c — failure counts in a fixed set-associative table.
 *
 * Why digests of the key rather than the key: the table is a fixed array of
 * fixed-size slots, so its memory is set once; a keyed HMAC also spreads
 * attacker-chosen names over the sets.  A digest collision (2^-128) could at
 * worst merge two counters.
 */
#include "lockout.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "digest.h"

#define WAYS 8
#define TAG 16

typedef struct {
    unsigned char tag[TAG]; /* digest of (addr, name, salt) */
    int64_t first;          /* time of the first failure */
    uint32_t count;         /* 0 = empty slot */
} slot;

struct st_lockout {
    pthread_mutex_t mu;
    st_lockout_config cfg;
    unsigned char key[32];
    slot *slots;            /* n_sets * WAYS */
    size_t n_sets;          /* power of two */
    /* No slot can be locked at or after this time (the latest first + lift_s
     * of any slot that reached the threshold): until someone is locked out,
     * a check costs no digest at all. */
    _Atomic int64_t locked_until;
};

void st_lockout_config_init(st_lockout_config *c)
{
    c->mode = ST_LOCKOUT_ENFORCE;
    c->threshold = 5;
    c->lift_s = 300;
    c->max_entries = 10000;
}

bool st_lockout_parse_mode(const char *s, st_lockout_mode *out)
{
    static const char *const names[] = {"off", "warn", "enforce"};
    for (unsigned i = 0; i < 3; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (st_lockout_mode)i;
            return true;
        }
    }
    return false;
}

st_lockout *st_lockout_new(const st_lockout_config *c)
{
    st_lockout *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->cfg = *c;
    if (l->cfg.threshold == 0)
        l->cfg.threshold = 1;
    size_t want = (c->max_entries ? c->max_entries : 1) + WAYS - 1;
    l->n_sets = 1;
    while (l->n_sets * WAYS < want)
        l->n_sets *= 2;
    l->slots = calloc(l->n_sets * WAYS, sizeof *l->slots);
    if (!l->slots || !st_random_bytes(l->key, sizeof l->key) ||
        pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l->slots);
        free(l);
        return NULL;
    }
    return l;
}

void st_lockout_free(st_lockout *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    OPENSSL_cleanse(l->key, sizeof l->key);
    free(l->slots);
    free(l);
}

size_t st_lockout_capacity(const st_lockout *l)
{
    return l->n_sets * WAYS;
}

/* HMAC(key, addr NUL name NUL salt) → tag and set.  false on failure. */
static bool locate(const st_lockout *l, const char *addr, const char *name, const char *salt,
                   unsigned char tag[TAG], slot **set)
{
    unsigned char h[32];
    const char *parts[3] = {addr ? addr : "", name ? name : "", salt ? salt : ""};
    size_t len[3], n = 0;
    for (int i = 0; i < 3; i++) {
        len[i] = strlen(parts[i]);
        n += len[i] + 1;
    }
    char *msg = malloc(n);
    if (!msg)
        return false;
    for (int i = 0, o = 0; i < 3; i++) {
        memcpy(msg + o, parts[i], len[i] + 1); /* the NUL separates */
        o += (int)len[i] + 1;
    }
    bool ok = st_hmac(ST_DIGEST_SHA256, l->key, sizeof l->key, msg, n, h);
    free(msg);
    if (!ok)
        return false;
    memcpy(tag, h, TAG);
    uint64_t v;
    memcpy(&v, h + TAG, sizeof v);
    *set = l->slots + (v & (l->n_sets - 1)) * WAYS;
    return true;
}

static bool live(const st_lockout *l, const slot *s, int64_t now)
{
    return s->count > 0 && now >= s->first && now - s->first < (int64_t)l->cfg.lift_s;
}

static slot *find(const st_lockout *l, slot *set, const unsigned char tag[TAG], int64_t now)
{
    for (int i = 0; i < WAYS; i++) {
        if (live(l, &set[i], now) && memcmp(set[i].tag, tag, TAG) == 0)
            return &set[i];
    }
    return NULL;
}

/* Where a new key goes: a dead slot, else the oldest unlocked, else the oldest. */
static slot *victim(const st_lockout *l, slot *set, int64_t now)
{
    slot *unlocked = NULL, *oldest = NULL;
    for (int i = 0; i < WAYS; i++) {
        slot *s = &set[i];
        if (!live(l, s, now))
            return s;
        if (s->count < l->cfg.threshold && (!unlocked || s->first < unlocked->first))
            unlocked = s;
        if (!oldest || s->first < oldest->first)
            oldest = s;
    }
    return unlocked ? unlocked : oldest;
}

st_lockout_verdict st_lockout_check(st_lockout *l, const char *addr, const char *name,
                                    const char *salt, int64_t now)
{
    unsigned char tag[TAG];
    slot *set;
    if (l->cfg.mode == ST_LOCKOUT_OFF || now >= atomic_load(&l->locked_until) ||
        !locate(l, addr, name, salt, tag, &set))
        return ST_LOCKOUT_PASS;
    pthread_mutex_lock(&l->mu);
    slot *s = find(l, set, tag, now);
    bool locked = s && s->count >= l->cfg.threshold;
    pthread_mutex_unlock(&l->mu);
    if (!locked)
        return ST_LOCKOUT_PASS;
    return l->cfg.mode == ST_LOCKOUT_ENFORCE ? ST_LOCKOUT_LOCKED : ST_LOCKOUT_WARNED;
}

void st_lockout_failed(st_lockout *l, const char *addr, const char *name, const char *salt,
                       int64_t now)
{
    unsigned char tag[TAG];
    slot *set;
    if (l->cfg.mode == ST_LOCKOUT_OFF || !locate(l, addr, name, salt, tag, &set))
        return;
    pthread_mutex_lock(&l->mu);
    slot *s = find(l, set, tag, now);
    if (s) {
        if (s->count < UINT32_MAX)
            s->count++;
    } else {
        s = victim(l, set, now);
        memcpy(s->tag, tag, TAG);
        s->first = now;
        s->count = 1;
    }
    if (s->count >= l->cfg.threshold && s->first + (int64_t)l->cfg.lift_s > l->locked_until)
        atomic_store(&l->locked_until, s->first + (int64_t)l->cfg.lift_s);
    pthread_mutex_unlock(&l->mu);
}

size_t st_lockout_count(st_lockout *l, int64_t now)
{
    size_t n = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n_sets * WAYS; i++)
        n += live(l, &l->slots[i], now);
    pthread_mutex_unlock(&l->mu);
    return n;
}
