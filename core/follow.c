/* follow.c — change followers (see st_follow.h), the ring they share, and
 * the poller that notices commits made by other processes.
 *
 * The commit path (writer.c): under seq_mu the writer commits, then
 * st_follow_committed publishes the new sequence and appends the batch's
 * rows to the ring; after the jobs' owners were told, st_follow_wake_all
 * takes every armed follower off the armed list and calls its wake.  One
 * wake round runs at a time (wake_mu: the writer and the poller may both
 * wake), so a follower is in at most one round; st_follow_close waits for
 * the round that holds it.
 *
 * The poller: one thread for the process, started with the first follower
 * and gone ST_FOLLOW_POLL_MS * 40 after the last.  Every ST_FOLLOW_POLL_MS
 * it asks the store, for each database with followers, whether another
 * connection committed; when the stored update_seq is past ours, the commit
 * came from elsewhere: the ring is forgotten (it cannot know those rows),
 * pooled readers renew their snapshots, and followers are woken.
 */
#include "follow_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ring.h"


static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------- the poller */

static pthread_mutex_t poll_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t poll_cv = PTHREAD_COND_INITIALIZER; /* a db's poll finished */
static st_db *watch_head;
static bool poller_running;
static st_db *poll_current;     /* the db being polled now (poll_mu) */

/* Whether another process committed to db; wakes followers if so. */
static void poll_one(st_db *db)
{
    st_error e;
    bool first = !db->watch_conn;
    if (first && st_store_conn_open(db->store, &db->watch_conn, &e) != ST_OK)
        return;
    bool changed = false;
    if (st_store_changed(db->watch_conn, &changed, &e) != ST_OK)
        return;
    /* The first look only takes data_version's baseline: compare the stored
     * sequence anyway, or a commit made elsewhere between a follower's arm
     * and this first look (up to ST_FOLLOW_POLL_MS) is never seen. */
    if (!changed && !first)
        return;
    st_counters k;
    if (st_store_read_begin(db->watch_conn, &e) != ST_OK)
        return;
    st_status st = st_store_counters_get(db->watch_conn, &k, &e);
    st_store_read_end(db->watch_conn);
    if (st != ST_OK)
        return;
    bool external = false;
    pthread_mutex_lock(&db->seq_mu);
    if (k.update_seq > atomic_load(&db->committed_seq)) {
        external = true;
        atomic_store(&db->committed_seq, k.update_seq);
        atomic_fetch_add(&db->commits, 1);
        st_ring *g = db->ring;
        if (g)
            st_ring_reset(g, k.update_seq);
        st_subs_external(db, k.update_seq); /* rows no subscription was tested on */
    }
    pthread_mutex_unlock(&db->seq_mu);
    if (external)
        st_follow_wake_all(db);
}

static void *poller_main(void *arg)
{
    (void)arg;
    unsigned idle_rounds = 0;
    pthread_mutex_lock(&poll_mu);
    for (;;) {
        pthread_mutex_unlock(&poll_mu);
        struct timespec ts = {0, ST_FOLLOW_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&poll_mu);
        if (!watch_head) {
            if (++idle_rounds >= 40)
                break;
            continue;
        }
        idle_rounds = 0;
        /* Each db is polled with poll_mu released; unwatching waits for it. */
        for (st_db *db = watch_head; db;) {
            poll_current = db;
            pthread_mutex_unlock(&poll_mu);
            poll_one(db);
            pthread_mutex_lock(&poll_mu);
            poll_current = NULL;
            pthread_cond_broadcast(&poll_cv);
            /* db may have left the list meanwhile: restart from one still on it. */
            st_db *next = NULL;
            for (st_db *x = watch_head; x; x = x->watch_next)
                if (x == db)
                    next = x->watch_next;
            db = next;
        }
    }
    poller_running = false;
    pthread_mutex_unlock(&poll_mu);
    return NULL;
}

/* A child of fork() has no poller thread and none of the parent's locks. */
static void poll_after_fork(void)
{
    pthread_mutex_init(&poll_mu, NULL);
    pthread_cond_init(&poll_cv, NULL);
    pthread_mutex_init(&wake_mu, NULL);
    watch_head = NULL;
    poll_current = NULL;
    poller_running = false;
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork(void) { pthread_atfork(NULL, NULL, poll_after_fork); }

static void watch(st_db *db)
{
    pthread_once(&fork_once, register_fork);
    pthread_mutex_lock(&poll_mu);
    if (!db->watched) {
        db->watched = true;
        db->watch_next = watch_head;
        watch_head = db;
    }
    if (!poller_running) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        /* Without the poller, only commits by other processes go unnoticed. */
        poller_running = pthread_create(&t, &a, poller_main, NULL) == 0;
        pthread_attr_destroy(&a);
    }
    pthread_mutex_unlock(&poll_mu);
}

static void unwatch(st_db *db)
{
    pthread_mutex_lock(&poll_mu);
    while (poll_current == db)
        pthread_cond_wait(&poll_cv, &poll_mu);
    if (db->watched) {
        for (st_db **p = &watch_head; *p; p = &(*p)->watch_next) {
            if (*p == db) {
                *p = db->watch_next;
                break;
            }
        }
        db->watched = false;
    }
    st_conn *c = db->watch_conn;
    db->watch_conn = NULL;
    pthread_mutex_unlock(&poll_mu);
    st_store_conn_close(c);
}

/* ------------------------------------------------------------ followers */

st_status st_follow_open(st_db *db, uint64_t since, st_follow_fn wake, void *ctx,
                         st_follower **out, st_error *err)
{
    *out = NULL;
    st_follower *f = calloc(1, sizeof *f);
    if (!f)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    f->db = db;
    f->since = since;
    f->wake = wake;
    f->ctx = ctx;
    pthread_mutex_lock(&db->seq_mu);
    if (!db->ring)
        db->ring = st_ring_new(atomic_load(&db->committed_seq)); /* NULL: storage only */
    pthread_mutex_unlock(&db->seq_mu);
    pthread_mutex_lock(&db->fol_mu);
    bool first = db->n_followers++ == 0;
    pthread_mutex_unlock(&db->fol_mu);
    if (first)
        watch(db);
    *out = f;
    return ST_OK;
}

/* A plain follower plus its subscription (mango_subs.c). */
st_status st_follow_open_selector(st_db *db, uint64_t since, const st_selector *sel,
                                  bool removed, st_follow_fn wake, void *ctx, st_follower **out,
                                  st_error *err)
{
    st_status st = st_follow_open(db, since, wake, ctx, out, err);
    if (st == ST_OK && (st = st_subs_add(*out, sel, removed, err)) != ST_OK) {
        st_follow_close(*out);
        *out = NULL;
    }
    return st;
}

static void unlink_armed(st_db *db, st_follower *f)
{
    if (f->sub) { /* never on db->armed: a flag and maybe the wake chain */
        st_subs_unarm(f);
        return;
    }
    if (!f->armed)
        return;
    if (f->prev)
        f->prev->next = f->next;
    else
        db->armed = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
    f->armed = false;
}

void st_follow_close(st_follower *f)
{
    if (!f)
        return;
    st_db *db = f->db;
    pthread_mutex_lock(&db->fol_mu);
    unlink_armed(db, f);
    while (f->waking)
        pthread_cond_wait(&db->fol_cond, &db->fol_mu);
    pthread_mutex_unlock(&db->fol_mu);
    /* Disarmed and out of any wake round: nothing can chain it again. */
    st_subs_remove(f);
    pthread_mutex_lock(&db->fol_mu);
    bool last = --db->n_followers == 0;
    pthread_mutex_unlock(&db->fol_mu);
    if (last) {
        unwatch(db);
        pthread_mutex_lock(&db->seq_mu);
        pthread_mutex_lock(&db->fol_mu);
        if (db->n_followers == 0) { /* nobody opened one meanwhile */
            st_ring_free(db->ring);
            db->ring = NULL;
        }
        pthread_mutex_unlock(&db->fol_mu);
        pthread_mutex_unlock(&db->seq_mu);
    }
    st_buf_free(&f->scratch);
    free(f);
}

uint64_t st_follow_since(const st_follower *f) { return f->since; }
void st_follow_seek(st_follower *f, uint64_t since)
{
    /* Back in time, a selector follower's queue does not reach: the rows
     * up to where it was come from storage. */
    if (f->sub && since < f->since)
        st_subs_rewind(f);
    f->since = since;
}
st_db *st_follow_db(const st_follower *f) { return f->db; }

/* Put f on the armed list (fol_mu held); true. */
static bool link_armed(st_db *db, st_follower *f)
{
    f->prev = NULL;
    f->next = db->armed;
    if (db->armed)
        db->armed->prev = f;
    db->armed = f;
    f->armed = true;
    return true;
}

bool st_follow_arm(st_follower *f)
{
    st_db *db = f->db;
    pthread_mutex_lock(&db->fol_mu);
    bool armed = f->armed;
    if (f->sub) {
        if (!armed && !st_subs_pending(f) && !atomic_load(&db->deleted))
            f->armed = armed = true;
        pthread_mutex_unlock(&db->fol_mu);
        return armed;
    }
    if (!armed && atomic_load(&db->committed_seq) <= f->since && !atomic_load(&db->deleted))
        armed = link_armed(db, f);
    pthread_mutex_unlock(&db->fol_mu);
    return armed;
}

bool st_follow_arm_at(st_follower *f, uint64_t since)
{
    st_db *db = f->db;
    pthread_mutex_lock(&db->fol_mu);
    bool ok = !f->sub && atomic_load(&db->committed_seq) <= since && !atomic_load(&db->deleted);
    if (ok && !f->armed) {
        f->since = since;
        link_armed(db, f);
    }
    pthread_mutex_unlock(&db->fol_mu);
    return ok;
}

void st_follow_disarm(st_follower *f)
{
    pthread_mutex_lock(&f->db->fol_mu);
    unlink_armed(f->db, f);
    pthread_mutex_unlock(&f->db->fol_mu);
}

void st_follow_wake_all(st_db *db)
{
    pthread_mutex_lock(&wake_mu);
    pthread_mutex_lock(&db->fol_mu);
    st_follower *chain = NULL;
    while (db->armed) {
        st_follower *f = db->armed;
        unlink_armed(db, f);
        f->waking = true;
        f->wnext = chain;
        chain = f;
    }
    chain = st_subs_wake_chain(db, chain, atomic_load(&db->deleted));
    pthread_mutex_unlock(&db->fol_mu);
    for (st_follower *f = chain; f; f = f->wnext)
        f->wake(f->ctx);
    if (chain) {
        pthread_mutex_lock(&db->fol_mu);
        for (st_follower *f = chain; f; f = f->wnext)
            f->waking = false;
        pthread_cond_broadcast(&db->fol_cond);
        pthread_mutex_unlock(&db->fol_mu);
    }
    pthread_mutex_unlock(&wake_mu);
}

/* Writer, seq_mu held, right after a successful commit. */
void st_follow_committed(st_db *db, uint64_t seq)
{
    st_ring *g = db->ring;
    if (g) {
        if (!db->noting || db->begin_seq != st_ring_top(g)) {
            /* Rows the ring cannot know (it was made during the batch, or
             * another process committed before our BEGIN). */
            st_ring_reset(g, seq);
        } else {
            for (size_t i = 0; i < db->n_notes; i++) {
                const db_note *n = &db->notes[i];
                st_ring_append(g, n->seq, db->notes_arena.data + n->id_off,
                               db->notes_arena.data + n->rev_off, n->deleted);
            }
            if (st_ring_top(g) < seq)
                st_ring_reset(g, seq); /* a row nobody noted: be safe */
        }
    }
    atomic_store(&db->committed_seq, seq);
    st_subs_publish(db, seq);
}

/* --------------------------------------------------------------- reading */

typedef struct counting {
    st_change_fn fn;
    void *ctx;
    size_t rows;
} counting;

static int count_row(void *ctx, const st_change_row *row)
{
    counting *c = ctx;
    c->rows++;
    return c->fn(c->ctx, row);
}

static bool ring_serves(const st_changes_opts *o)
{
    return !o->include_docs && !o->all_docs && !o->doc_ids && !o->filter && !o->conflicts &&
           !o->selector;
}

st_status st_follow_read(st_follower *f, const st_changes_opts *o, st_change_fn fn, void *ctx,
                         st_follow_batch *out, st_error *err)
{
    st_changes_opts def;
    if (!o) {
        st_changes_opts_init(&def);
        o = &def;
    }
    memset(out, 0, sizeof *out);
    st_db *db = f->db;
    if (f->sub)
        return atomic_load(&db->deleted) ? st_fail(err, ST_E_NOT_FOUND, "Database does not exist.")
                                         : st_follow_sel_read(f, o, fn, ctx, out, err);
    counting c = {fn, ctx, 0};
    uint64_t limit = o->limit == 0 ? 1 : o->limit;
    uint64_t last = 0, pending = 0;
    if (atomic_load(&db->deleted))
        return st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
    st_ring *g = db->ring; /* stable while f is open */
    if (g && ring_serves(o) &&
        st_ring_read(g, f->since, limit, count_row, &c, &last, &pending) == ST_OK) {
        f->since = last;
    } else {
        st_changes_opts q = *o;
        q.since = f->since;
        q.limit = limit;
        q.descending = false;
        c.rows = 0;
        st_status st =
            st_db_changes(db, &q, count_row, &c, &last, o->no_pending ? NULL : &pending, err);
        if (st != ST_OK)
            return st;
        if (last > f->since)
            f->since = last;
    }
    out->rows = c.rows;
    out->last_seq = f->since;
    out->pending = pending;
    return ST_OK;
}

st_status st_follow_cached(st_db *db, uint64_t since, uint64_t limit, st_change_fn fn,
                           void *ctx, uint64_t *out_upto, st_error *err)
{
    (void)err;
    uint64_t pending = 0;
    st_ring *g = db->ring;
    if (!g || atomic_load(&db->deleted))
        return ST_E_NOT_FOUND;
    return st_ring_read(g, since, limit, fn, ctx, out_upto, &pending);
}
