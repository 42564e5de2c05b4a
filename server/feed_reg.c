/* feed_reg.c — the registry of waiting feeds (see feed_int.h).
 *
 * One entry per database with waiting feeds: it holds the database's
 * catalog reference and the feeds parked on it.  Plain feeds park on the
 * entry's group follower: one wake per commit for all of them, and the
 * fan-out takes the whole list (before, each feed armed its own follower,
 * and a commit walked and woke 10,000 followers one by one under two
 * locks, while the fan-out took them in the fragments that had arrived).
 * Selector feeds arm their own followers, split into those armed
 * (waiters) and those woken (woken, for the fan-out).
 *
 * Why freed feeds go through the timer thread: MHD destroys a response
 * (and calls our free callback) from inside its own connection clean-up,
 * possibly holding its internal locks, while the fan-out thread holds our
 * lock and calls MHD_resume_connection.  Taking our lock there could
 * deadlock, so the free callback only pushes the feed onto a lock-free
 * stack and pokes an eventfd; the timer thread does the releasing.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "feed_int.h"
#include "log.h"
#include "st_selector.h"

uint64_t st_feed_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void st_feed_poke_fd(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is already non-zero, the reader will wake */
}

void st_feed_timer_want(st_feeds *reg, uint64_t deadline)
{
    uint64_t w = atomic_load(&reg->timer_wake);
    while (deadline && deadline < w) {
        if (atomic_compare_exchange_weak(&reg->timer_wake, &w, deadline)) {
            st_feed_poke_fd(reg->efd);
            return;
        }
    }
}

/* ---- lists (reg->mu held) */

static void list_add(st_feed **head, st_feed *f)
{
    f->prev = NULL;
    f->next = *head;
    if (*head)
        (*head)->prev = f;
    *head = f;
}

static void list_del(st_feed **head, st_feed *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        *head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
}

bool st_feed_park(st_feed *f)
{
    st_feed_db *d = f->fdb;
    if (f->selector) {
        if (!st_follow_arm(f->fol))
            return false;
        f->where = W_WAITING;
        list_add(&d->waiters, f);
    } else {
        if (!st_follow_arm_at(d->group, f->since))
            return false;
        f->where = W_PLAIN;
        list_add(&d->plain, f);
    }
    f->parked = true;
    f->rewake = false;
    return true;
}

void st_feed_unpark(st_feed *f)
{
    if (f->where == W_PLAIN)
        list_del(&f->fdb->plain, f);
    else if (f->where == W_WAITING)
        list_del(&f->fdb->waiters, f);
    else if (f->where == W_WOKEN)
        list_del(&f->fdb->woken, f);
    f->where = W_NONE;
    f->parked = false;
    if (f->selector)
        st_follow_disarm(f->fol);
    MHD_resume_connection(f->conn);
    atomic_fetch_sub(&f->reg->srv->suspended, 1);
}

static void recheck_list(st_feed *list, const char *name, bool unpark)
{
    for (st_feed *f = list, *next; f; f = next) {
        next = f->next;
        if (!f->who.name || strcmp(f->who.name, name) != 0)
            continue;
        atomic_store(&f->recheck, true);
        if (unpark)
            st_feed_unpark(f);
    }
}

void st_feeds_user_changed(st_feeds *reg, const char *name)
{
    if (!reg || !name)
        return;
    pthread_mutex_lock(&reg->mu);
    for (st_feed_db *d = reg->dbs; d; d = d->next) {
        recheck_list(d->woken, name, false); /* the fan-out looks at them anyway */
        recheck_list(d->waiters, name, true);
        recheck_list(d->plain, name, true);
    }
    pthread_mutex_unlock(&reg->mu);
}

bool st_feed_queue_db(st_feeds *reg, st_feed_db *d)
{
    if (d->fan_queued || !(d->woken || (d->fired && d->plain)))
        return false;
    d->fan_queued = true;
    d->fan_next = NULL;
    if (reg->fan_q_tail)
        reg->fan_q_tail->fan_next = d;
    else
        reg->fan_q = d;
    reg->fan_q_tail = d;
    return true;
}

static void fan_unqueue(st_feeds *reg, st_feed_db *d)
{
    if (!d->fan_queued)
        return;
    st_feed_db *prev = NULL;
    for (st_feed_db *x = reg->fan_q; x; prev = x, x = x->fan_next) {
        if (x != d)
            continue;
        if (prev)
            prev->fan_next = x->fan_next;
        else
            reg->fan_q = x->fan_next;
        if (reg->fan_q_tail == x)
            reg->fan_q_tail = prev;
        break;
    }
    d->fan_queued = false;
}

/* An entry's group follower fired (the committing thread or core's
 * poller; quick): the fan-out takes every plain feed.  Plain feeds it
 * holds right now are seen by its repark (fired, or the group's arm). */
static void group_woken(void *ctx)
{
    st_feed_db *d = ctx;
    st_feeds *reg = d->reg;
    bool poke = false;
    pthread_mutex_lock(&reg->mu);
    if (!d->dying) {
        d->fired = true;
        poke = st_feed_queue_db(reg, d);
    }
    pthread_mutex_unlock(&reg->mu);
    if (poke)
        st_feed_poke_fd(reg->fan_efd);
}

/* A selector feed's follower fired: runs on the committing thread (or
 * core's poller), must be quick.  A feed the fan-out holds right now is
 * marked to go again. */
void st_feed_woken(void *ctx)
{
    st_feed *f = ctx;
    st_feeds *reg = f->reg;
    bool poke = false;
    pthread_mutex_lock(&reg->mu);
    if (f->parked && f->where == W_WAITING) {
        list_del(&f->fdb->waiters, f);
        list_add(&f->fdb->woken, f);
        f->where = W_WOKEN;
        poke = st_feed_queue_db(reg, f->fdb);
    } else if (f->parked && f->where == W_FANOUT) {
        f->rewake = true;
    }
    pthread_mutex_unlock(&reg->mu);
    if (poke)
        st_feed_poke_fd(reg->fan_efd);
}

/* ---- entries */

static st_feed_db *find_entry(st_feeds *reg, st_db *db)
{
    for (st_feed_db *d = reg->dbs; d; d = d->next)
        if (d->db == db)
            return d;
    return NULL;
}

/* An attached feed's entry, or NULL; reg->mu held. */
static st_feed_db *attach_existing(st_feeds *reg, st_db *db)
{
    st_feed_db *d = find_entry(reg, db);
    if (d)
        d->refs++;
    return d;
}

st_feed_db *st_feed_attach(st_feeds *reg, st_db *db, st_error *err)
{
    st_catalog *cat = reg->srv->cat;
    pthread_mutex_lock(&reg->mu);
    st_feed_db *d = attach_existing(reg, db);
    pthread_mutex_unlock(&reg->mu);
    if (d) {
        st_catalog_put(cat, db);
        return d;
    }
    /* A new entry; its group follower is opened without reg->mu (core's
     * locks come after ours, and opening takes several). */
    st_feed_db *n = calloc(1, sizeof *n);
    if (!n) {
        st_catalog_put(cat, db);
        st_fail(err, ST_E_NOMEM, "out of memory");
        return NULL;
    }
    n->reg = reg;
    n->db = db;
    n->refs = 1;
    if (st_follow_open(db, 0, group_woken, n, &n->group, err) != ST_OK) {
        free(n);
        st_catalog_put(cat, db);
        return NULL;
    }
    pthread_mutex_lock(&reg->mu);
    d = attach_existing(reg, db); /* another feed made one meanwhile */
    if (!d) {
        n->next = reg->dbs;
        if (reg->dbs)
            reg->dbs->prev = n;
        reg->dbs = n;
    }
    pthread_mutex_unlock(&reg->mu);
    if (!d)
        return n;
    n->dying = true;
    st_follow_close(n->group);
    free(n);
    st_catalog_put(cat, db);
    return d;
}

void st_feed_entry_destroy(st_feeds *reg, st_feed_db *d)
{
    pthread_mutex_lock(&reg->mu);
    d->dying = true; /* already, unless the registry is being freed */
    pthread_mutex_unlock(&reg->mu);
    st_follow_close(d->group); /* waits for a wake in progress (it sees dying) */
    st_catalog_put(reg->srv->cat, d->db);
    free(d);
}

bool st_feed_entry_unref_locked(st_feeds *reg, st_feed_db *d)
{
    if (--d->refs > 0)
        return false;
    d->dying = true;
    fan_unqueue(reg, d);
    if (d->prev)
        d->prev->next = d->next;
    else
        reg->dbs = d->next;
    if (d->next)
        d->next->prev = d->prev;
    return true;
}

/* ---- releasing feeds */

void st_feed_release(st_feed *f)
{
    st_feeds *reg = f->reg;
    st_feed_db *d = f->fdb;
    if (d) {
        pthread_mutex_lock(&reg->mu);
        if (f->parked) /* cannot happen while MHD owns the connection; be safe */
            st_feed_unpark(f);
        pthread_mutex_unlock(&reg->mu);
        st_follow_close(f->fol); /* outside reg->mu: it waits for a wake in progress */
        pthread_mutex_lock(&reg->mu);
        bool last = st_feed_entry_unref_locked(reg, d);
        pthread_mutex_unlock(&reg->mu);
        if (last)
            st_feed_entry_destroy(reg, d);
    } else if (f->db) {
        st_catalog_put(reg->srv->cat, f->db);
    }
    for (size_t i = 0; i < f->n_doc_ids; i++)
        free(f->doc_ids[i]);
    free(f->doc_ids);
    st_selector_free(f->selector); /* after the follower that borrowed it */
    if (f->filter_free)
        f->filter_free(f->opts.filter_ctx);
    st_identity_clear(&f->who);
    free(f->tail);
    st_buf_free(&f->out);
    free(f);
}

static void reap(st_feeds *reg)
{
    st_feed *f = atomic_exchange(&reg->dead, NULL);
    while (f) {
        st_feed *next = f->dead_next;
        st_feed_release(f);
        f = next;
    }
}

void st_feed_unref(st_feed *f)
{
    if (atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    st_feeds *reg = f->reg;
    st_feed *head = atomic_load(&reg->dead);
    do
        f->dead_next = head;
    while (!atomic_compare_exchange_weak(&reg->dead, &head, f));
    st_feed_poke_fd(reg->efd);
}

/* ---- the timer thread: heartbeats, timeouts, releases, log ticks */

static void resume_due(st_feeds *reg, st_feed *w, uint64_t now, uint64_t *next)
{
    while (w) {
        st_feed *wn = w->next;
        if (w->deadline && w->deadline <= now)
            st_feed_unpark(w);
        else if (w->deadline && w->deadline < *next)
            *next = w->deadline;
        w = wn;
    }
}

static void *timer_main(void *arg)
{
    st_feeds *reg = arg;
    while (!atomic_load(&reg->timer_stop)) {
        uint64_t now = st_feed_now_ms();
        uint64_t wake = atomic_load(&reg->timer_wake);
        uint64_t left = wake > now ? wake - now : 0;
        int timeout = left > TIMER_MAX_SLEEP_MS ? TIMER_MAX_SLEEP_MS : (int)left;
        struct pollfd p = {reg->efd, POLLIN, 0};
        if (poll(&p, 1, timeout) > 0) {
            uint64_t v;
            ssize_t rd = read(reg->efd, &v, sizeof v);
            (void)rd;
        }
        reap(reg);
        st_log_tick();
        now = st_feed_now_ms();
        /* Walk the parked feeds only when a deadline is due: timer_wake is
         * the earliest deadline of any parked feed (every park lowers it
         * through st_feed_timer_want; a walk sets it to the earliest of
         * those it left parked).  With thousands parked, a walk per poke
         * was most of a write's fan-out cost, and a walk every
         * TIMER_MAX_SLEEP_MS a fifth of the server's CPU with 10,000
         * selector feeds. */
        if (now < atomic_load(&reg->timer_wake))
            continue;
        uint64_t next = UINT64_MAX; /* no deadline: until a park brings it forward */
        pthread_mutex_lock(&reg->mu);
        for (st_feed_db *d = reg->dbs; d; d = d->next) {
            resume_due(reg, d->plain, now, &next);
            resume_due(reg, d->waiters, now, &next);
            resume_due(reg, d->woken, now, &next);
        }
        atomic_store(&reg->timer_wake, next);
        pthread_mutex_unlock(&reg->mu);
    }
    reap(reg);
    return NULL;
}

st_status st_feed_timer_start(st_feeds *reg, st_error *err)
{
    if (pthread_create(&reg->timer, NULL, timer_main, reg) != 0)
        return st_fail(err, ST_E_IO, "cannot start the feed timer thread");
    reg->timer_started = true;
    return ST_OK;
}

void st_feed_timer_stop(st_feeds *reg)
{
    if (!reg->timer_started)
        return;
    atomic_store(&reg->timer_stop, true);
    st_feed_poke_fd(reg->efd);
    pthread_join(reg->timer, NULL);
    reg->timer_started = false;
}
