/* ring.c — see ring.h.
 *
 * Why formatted at commit: when a commit wakes 10,000 followers, each would
 * otherwise run the same query for the same few rows and format the same
 * JSON.  The writer knows exactly which rows it wrote, so it appends them
 * here (only while the database has followers) and every reader copies
 * bytes.  Finding the older row of a document that changed again is a scan
 * of 64-bit id hashes kept in their own array: 1,024 of them fit in a few
 * cache lines, cheaper than keeping a hash table in step with eviction.
 */
#include "ring.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "st_jw.h"

typedef struct ring_row {
    uint64_t seq;
    bool gone;
    bool deleted;
    char *json;         /* the row object, NUL, then the id, NUL, then the rev, NUL */
    size_t len;         /* of the JSON */
    const char *id;
    const char *rev;
} ring_row;

struct st_ring {
    pthread_mutex_t mu;
    ring_row rows[ST_RING_CAP];  /* circular, oldest at head */
    uint64_t hash[ST_RING_CAP];  /* of rows[i].id, same slots */
    size_t head, n;
    uint64_t base, top;
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

st_ring *st_ring_new(uint64_t at)
{
    st_ring *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    pthread_mutex_init(&g->mu, NULL);
    g->base = g->top = at;
    return g;
}

static void clear_locked(st_ring *g, uint64_t at)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->rows[(g->head + i) % ST_RING_CAP].json);
    g->head = g->n = 0;
    g->base = g->top = at;
}

void st_ring_free(st_ring *g)
{
    if (!g)
        return;
    clear_locked(g, 0);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void st_ring_reset(st_ring *g, uint64_t at)
{
    pthread_mutex_lock(&g->mu);
    clear_locked(g, at);
    pthread_mutex_unlock(&g->mu);
}

uint64_t st_ring_top(st_ring *g)
{
    pthread_mutex_lock(&g->mu);
    uint64_t t = g->top;
    pthread_mutex_unlock(&g->mu);
    return t;
}

/* {"seq":N,"id":"..","changes":[{"rev":".."}],"deleted":true}, then the
 * id and rev, in one allocation. */
static char *format_row(uint64_t seq, const char *id, const char *rev, bool deleted,
                        size_t *out_len)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (st_jw_init(&w, &b) != ST_OK)
        return NULL;
    const char *revs[1] = {rev};
    st_change_row row = {.seq = seq, .id = id, .revs = revs, .n_revs = 1, .deleted = deleted};
    st_change_row_write(&w, &row, false);
    st_status s = st_jw_status(&w);
    st_jw_free(&w);
    size_t len = b.len;
    if (s == ST_OK)
        s = st_buf_add(&b, "", 1);
    if (s == ST_OK)
        s = st_buf_add(&b, id, strlen(id) + 1);
    if (s == ST_OK)
        s = st_buf_add(&b, rev, strlen(rev) + 1);
    if (s != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    *out_len = len;
    return b.data;
}

void st_ring_append(st_ring *g, uint64_t seq, const char *id, const char *rev, bool deleted)
{
    size_t len = 0;
    char *json = format_row(seq, id, rev, deleted, &len);
    uint64_t h = hash_id(id);
    pthread_mutex_lock(&g->mu);
    if (!json || seq <= g->top) {
        /* Out of memory (or out of order, which the writer never does):
         * forget the ring; readers go to storage. */
        clear_locked(g, seq > g->top ? seq : g->top);
        pthread_mutex_unlock(&g->mu);
        free(json);
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        size_t k = (g->head + i) % ST_RING_CAP;
        if (g->hash[k] == h && !g->rows[k].gone && strcmp(g->rows[k].id, id) == 0)
            g->rows[k].gone = true;
    }
    if (g->n == ST_RING_CAP) { /* evict the oldest */
        ring_row *o = &g->rows[g->head];
        g->base = o->seq;
        free(o->json);
        g->head = (g->head + 1) % ST_RING_CAP;
        g->n--;
    }
    size_t k = (g->head + g->n) % ST_RING_CAP;
    ring_row *r = &g->rows[k];
    r->seq = seq;
    r->gone = false;
    r->deleted = deleted;
    r->json = json;
    r->len = len;
    r->id = json + len + 1;
    r->rev = r->id + strlen(r->id) + 1;
    g->hash[k] = h;
    g->n++;
    g->top = seq;
    pthread_mutex_unlock(&g->mu);
}

st_status st_ring_read(st_ring *g, uint64_t since, uint64_t limit, st_change_fn fn, void *ctx,
                       uint64_t *out_last, uint64_t *out_pending)
{
    pthread_mutex_lock(&g->mu);
    if (since < g->base) {
        pthread_mutex_unlock(&g->mu);
        return ST_E_NOT_FOUND;
    }
    size_t i = g->n;
    while (i > 0 && g->rows[(g->head + i - 1) % ST_RING_CAP].seq > since)
        i--;
    uint64_t taken = 0, last = 0;
    bool stopped = false;
    for (; i < g->n && taken < limit && !stopped; i++) {
        const ring_row *r = &g->rows[(g->head + i) % ST_RING_CAP];
        if (r->gone)
            continue;
        const char *revs[1] = {r->rev};
        st_change_row row = {.seq = r->seq, .id = r->id, .revs = revs, .n_revs = 1,
                             .deleted = r->deleted, .json = r->json, .json_len = r->len};
        taken++;
        last = r->seq;
        stopped = fn(ctx, &row) != 0;
    }
    uint64_t left = 0;
    for (; i < g->n; i++)
        left += !g->rows[(g->head + i) % ST_RING_CAP].gone;
    *out_pending = left;
    if (!stopped && left == 0)
        *out_last = g->top > since ? g->top : since;
    else
        *out_last = taken ? last : since;
    pthread_mutex_unlock(&g->mu);
    return ST_OK;
}

st_status st_ring_get(st_ring *g, uint64_t seq, st_change_fn fn, void *ctx)
{
    pthread_mutex_lock(&g->mu);
    if (seq <= g->base || seq > g->top) {
        pthread_mutex_unlock(&g->mu);
        return ST_E_NOT_FOUND;
    }
    /* Rows are in sequence order: a binary search over the circle. */
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->rows[(g->head + mid) % ST_RING_CAP].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    const ring_row *r = lo < g->n ? &g->rows[(g->head + lo) % ST_RING_CAP] : NULL;
    if (r && r->seq == seq && !r->gone) {
        const char *revs[1] = {r->rev};
        st_change_row row = {.seq = r->seq, .id = r->id, .revs = revs, .n_revs = 1,
                             .deleted = r->deleted, .json = r->json, .json_len = r->len};
        fn(ctx, &row);
    }
    pthread_mutex_unlock(&g->mu);
    return ST_OK;
}
