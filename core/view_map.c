/* view_map.c — mapping batches of changed documents through query-server
 * processes, on the caller's thread or on a worker thread of its own.
 *
 * Why workers: mapping is most of a build's time and happens in another
 * process; while one batch is being mapped the updater can read the next
 * one and write the previous one, and two processes map on two cores.  A
 * worker holds its own process (with the view's functions loaded) for the
 * length of one update run, and maps its batches one at a time, in the
 * order they came; batches are written in the order they were read, so the
 * index's sequence only ever moves forward over mapped documents.
 *
 * Why a worker takes a second batch before the first is taken back: with
 * one, a process waits while the updater writes the batch it mapped, and
 * the updater waits whenever a map is slower than usual; two per worker
 * keep both busy.
 */
#include "view_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vbatch_reset(vbatch *b)
{
    for (size_t i = 0; i < b->nans; i++)
        st_qs_answer_free(&b->ans[i]);
    b->nans = 0;
    b->n = 0;
    st_buf_reset(&b->ids);
    st_buf_reset(&b->bodies);
    b->last_seq = 0;
    b->rows = 0;
    b->st = ST_OK;
    st_error_clear(&b->err);
}

void vbatch_free(vbatch *b)
{
    vbatch_reset(b);
    st_buf_free(&b->ids);
    st_buf_free(&b->bodies);
    free(b->id_off);
    free(b->body_off);
    free(b->body_len);
    free(b->mapped);
    free(b->seqs);
    free(b->ans);
    memset(b, 0, sizeof *b);
}

st_status vbatch_add(vbatch *b, const char *id, uint64_t seq, const char *json, size_t len,
                     bool map)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        size_t *x = realloc(b->id_off, nc * sizeof *x);
        if (x)
            b->id_off = x;
        size_t *y = realloc(b->body_off, nc * sizeof *y);
        if (y)
            b->body_off = y;
        size_t *z = realloc(b->body_len, nc * sizeof *z);
        if (z)
            b->body_len = z;
        bool *w = realloc(b->mapped, nc * sizeof *w);
        if (w)
            b->mapped = w;
        uint64_t *q = realloc(b->seqs, nc * sizeof *q);
        if (q)
            b->seqs = q;
        if (!x || !y || !z || !w || !q)
            return ST_E_NOMEM;
        b->cap = nc;
    }
    b->id_off[b->n] = b->ids.len;
    b->body_off[b->n] = b->bodies.len;
    b->body_len[b->n] = map ? len : 0;
    b->mapped[b->n] = map;
    b->seqs[b->n] = seq;
    if (st_buf_add(&b->ids, id, strlen(id) + 1) != ST_OK ||
        (map && st_buf_add(&b->bodies, json, len) != ST_OK))
        return ST_E_NOMEM;
    b->n++;
    return ST_OK;
}

/* Map every document of b that goes to the functions: b->ans[k] is the
 * k-th such document's answer. */
static st_status map_batch(st_qs_proc *p, vbatch *b, st_error *err)
{
    size_t nmap = 0;
    for (size_t i = 0; i < b->n; i++)
        nmap += b->mapped[i];
    if (nmap == 0)
        return ST_OK;
    const char **docs = malloc(nmap * sizeof *docs);
    size_t *lens = malloc(nmap * sizeof *lens);
    st_qs_answer *ans = realloc(b->ans, nmap * sizeof *ans);
    if (ans)
        b->ans = ans;
    st_status st = docs && lens && ans ? ST_OK : st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0, k = 0; st == ST_OK && i < b->n; i++) {
        if (!b->mapped[i])
            continue;
        docs[k] = b->bodies.data + b->body_off[i];
        lens[k++] = b->body_len[i];
    }
    if (st == ST_OK && (st = st_qs_map_docs(p, docs, lens, nmap, b->ans, err)) == ST_OK)
        b->nans = nmap;
    free(docs);
    free(lens);
    return st;
}

/* ---- mappers ---------------------------------------------------------------- */

struct vmapper {
    vindex *ix;
    st_qs_proc *proc;
    bool threaded;
    pthread_t t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vbatch *queue[VMAP_DEPTH]; /* submitted, not yet mapped: oldest at head */
    unsigned head, n;
    bool stop;
};

static st_status load_functions(vindex *ix, st_qs_proc *p, const char *key, st_error *err)
{
    const char *have = st_qs_proc_key(p);
    if (have && strcmp(have, key) == 0)
        return ST_OK;
    st_ddoc *d = ix->ddoc;
    const char *cfg = ix->opts->js_reduce_limit
                          ? "{\"reduce_limit\":true,\"timeout\":5000}"
                          : "{\"reduce_limit\":false,\"timeout\":5000}";
    st_status st = st_qs_reset(p, cfg, err);
    const char *lib = st_ddoc_lib(d);
    if (st == ST_OK && lib)
        st = st_qs_add_lib(p, lib, strlen(lib), err);
    for (size_t i = 0; st == ST_OK && i < st_ddoc_nviews(d); i++) {
        const char *map = st_ddoc_view_at(d, i)->map;
        st = st_qs_add_fun(p, map, strlen(map), err);
    }
    return st == ST_OK ? st_qs_proc_set_key(p, key, err) : st;
}

static void *worker(void *arg)
{
    vmapper *m = arg;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        while (m->n == 0 && !m->stop)
            pthread_cond_wait(&m->cv, &m->mu);
        if (m->n == 0)
            break;
        vbatch *b = m->queue[m->head];
        pthread_mutex_unlock(&m->mu);
        b->st = map_batch(m->proc, b, &b->err);
        pthread_mutex_lock(&m->mu);
        b->done = true;
        m->head = (m->head + 1) % VMAP_DEPTH;
        m->n--;
        pthread_cond_broadcast(&m->cv);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

st_status vmapper_start(vindex *ix, bool threaded, bool must, vmapper **out, st_error *err)
{
    *out = NULL;
    vmapper *m = calloc(1, sizeof *m);
    if (!m)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    m->ix = ix;
    char key[48];
    snprintf(key, sizeof key, "view:%s", ix->sig);
    st_qs *qs = ix->qs;
    const char *lang = st_ddoc_language(ix->ddoc);
    /* A helper is worth having only when a process is free now. */
    st_status st = must ? st_qs_checkout(qs, lang, key, &m->proc, err)
                        : st_qs_try_checkout(qs, lang, key, &m->proc, err);
    if (st == ST_OK)
        st = load_functions(ix, m->proc, key, err);
    if (st == ST_OK && threaded) {
        pthread_mutex_init(&m->mu, NULL);
        pthread_cond_init(&m->cv, NULL);
        if (pthread_create(&m->t, NULL, worker, m) != 0) {
            pthread_mutex_destroy(&m->mu);
            pthread_cond_destroy(&m->cv);
            st = st_fail(err, ST_E_NOMEM, "cannot start a map worker");
        } else {
            m->threaded = true;
        }
    }
    if (st != ST_OK) {
        st_qs_checkin(m->proc);
        free(m);
        return st;
    }
    *out = m;
    return ST_OK;
}

st_qs_proc *vmapper_proc(vmapper *m) { return m->proc; }

void vmapper_submit(vmapper *m, vbatch *b)
{
    b->done = false;
    if (!m->threaded) {
        b->st = map_batch(m->proc, b, &b->err);
        b->done = true;
        return;
    }
    pthread_mutex_lock(&m->mu);
    while (m->n == VMAP_DEPTH) /* a caller's slip: wait rather than drop a batch */
        pthread_cond_wait(&m->cv, &m->mu);
    m->queue[(m->head + m->n) % VMAP_DEPTH] = b;
    m->n++;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void vmapper_wait(vmapper *m, vbatch *b)
{
    if (!m->threaded)
        return;
    pthread_mutex_lock(&m->mu);
    while (!b->done)
        pthread_cond_wait(&m->cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
}

void vmapper_stop(vmapper *m)
{
    if (!m)
        return;
    if (m->threaded) {
        pthread_mutex_lock(&m->mu);
        m->stop = true; /* the worker maps what is queued, then ends */
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->t, NULL);
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
    }
    st_qs_checkin(m->proc);
    free(m);
}
