/* feed.c — _changes feeds over suspended connections (see feed.h).
 *
 * Why suspend/resume instead of a thread or a blocking wait per feed: the
 * target is 10,000 open listeners on two cores.  A waiting feed is a parked
 * MHD connection (a socket and its small memory pool) on a registry list;
 * nothing polls it.  A commit runs one observer per database, which only
 * queues the database for the fan-out thread.
 *
 * Why a row cache: when a commit wakes 10,000 feeds, each would otherwise
 * run the same SQLite query for the same few rows.  Each database entry
 * keeps the most recent change rows (a ring, keyed by seq, each row's JSON
 * formatted once); whoever needs rows past its top first fills it with one
 * query (feeds on MHD threads, or the fan-out thread).  The ring holds
 * exactly the rows st_db_changes would return for its range (a row whose
 * document changed again later is marked gone), so a feed reading from it
 * sees what it would have seen from storage.  Feeds with include_docs,
 * doc_ids, style=all_docs or descending read from storage as before.
 *
 * Why the fan-out thread writes to parked sockets itself: resuming 10,000
 * MHD connections costs, per connection, an inter-thread wakeup, two epoll
 * changes and a trip through MHD's state machine, on top of the one send()
 * that matters; on two cores that alone takes longer than the latency
 * target.  A parked feed whose connection is idle (MHD only parks it from
 * our read callback, after its previous chunk went out completely, and
 * leaves a suspended connection's socket alone) can take a complete HTTP
 * chunk written straight to its socket: the fan-out thread builds the
 * chunk from the ring and sends it without blocking.  Anything that does
 * not fit that fast path goes the MHD way, from the feed's own position:
 * a feed behind the ring, a chunk over DIRECT_MAX, a socket whose buffer
 * is full (EAGAIN: nothing was written).  The one awkward case, a send
 * that wrote part of a chunk, keeps the rest of that one chunk (at most
 * DIRECT_MAX bytes) and finishes it when the socket drains, then hands the
 * feed back to MHD.  So a slow listener costs at most one chunk plus its
 * socket buffer, and never blocks anyone else.
 *
 * The lost-wakeup race: a feed checks for rows, finds none, then parks.  A
 * commit between the check and the park must not be missed.  Each database
 * entry keeps the newest update_seq its observer saw; a feed snapshots it
 * before querying and, under the registry lock, parks only if it did not
 * move.  The observer updates it under the same lock before queueing the
 * fan-out, which takes every parked feed of the entry.
 *
 * Why freed feeds go through the timer thread: MHD destroys a response
 * (and calls our free callback) from inside its own connection clean-up,
 * possibly holding its internal locks, while the fan-out thread holds our
 * lock and calls MHD_resume_connection.  Taking our lock there could
 * deadlock, so the free callback only pushes the feed onto a lock-free
 * stack and pokes an eventfd; the timer thread does the releasing.
 *
 * Lock order: reg->mu, then a ring's mu is never taken while holding it
 * (they are used one at a time); MHD's locks come after ours.
 */
#include "feed.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

#define FEED_BATCH 200           /* rows per st_db_changes call */
#define FEED_BLOCK 16384         /* MHD read-callback block size */
#define TIMER_MAX_SLEEP_MS 200  /* also how late a buffered log line can be */
#define RING_CAP 1024            /* recent change rows cached per database */
#define RING_FILL 256            /* rows per st_db_changes call when filling the ring */
#define RING_FILL_ROUNDS 64      /* bound on fill queries per sync */
#define DIRECT_MAX 16384         /* largest chunk payload written by the fan-out thread */
#define DRAIN_TIMEOUT_MS 60000   /* a partial chunk not drained by then: the feed is dropped */
#define FAN_THREADS_MAX 4        /* fan-out writers: one per core, at most this many */
#define FAN_CLAIM 64             /* feeds a writer claims at a time */

typedef struct st_feed_db st_feed_db;

struct st_feed {
    /* Fields the fan-out threads touch for every parked feed come first
     * (two cache lines for 10,000 feeds per commit). */
    st_feed *prev, *next;       /* fdb->waiters, a fan-out list, or reg->draining links */
    int fd;                     /* the connection's socket (fast path), -1 if unknown */
    bool fast_path;             /* the fan-out thread may write rows to fd itself */
    bool parked;                /* on fdb->waiters, or held by the fan-out thread */
    bool broken;                /* the stream cannot continue: end it with an error */
    bool sent_any;              /* continuous/eventsource sent something */
    st_feed_type type;
    uint64_t since;             /* cursor: rows after this seq come next */
    uint64_t heartbeat_ms;
    uint64_t next_beat;         /* monotonic ms; heartbeat due */
    uint64_t end_at;            /* monotonic ms; timeout (0 = never) */
    uint64_t deadline;          /* while parked: when the timer resumes us */
    uint64_t direct_bytes;      /* body bytes the fan-out thread wrote (for the log) */
    struct MHD_Connection *conn;
    st_feed_db *fdb;            /* registry entry (waiting feeds); NULL for normal */
    st_feeds *reg;
    st_db *db;                  /* borrowed from fdb, or our own ref for normal */
    st_req *req;                /* valid only inside the read callback */
    st_changes_opts opts;
    char **doc_ids;
    size_t n_doc_ids;
    uint64_t remaining;         /* limit left (normal/longpoll) */
    bool limit_set;
    uint64_t timeout_ms;
    uint64_t last_seq, pending; /* from the latest batch */
    uint64_t row_seq;           /* seq of the last row written */
    size_t rows;                /* rows written by the current batch */
    st_buf out;                 /* bytes produced, not yet handed to MHD */
    size_t off;
    enum { PH_START, PH_RUN, PH_DONE } phase;
    bool need_sep;              /* envelope: the next row needs ",\n" */
    bool row_failed;
    /* A chunk the fan-out thread could only partly send (draining). */
    char *tail;
    size_t tail_len, tail_off;
    uint64_t drain_until;       /* monotonic ms */
    st_feed *dead_next;         /* reg->dead stack link */
    atomic_int refs;            /* MHD's response + the request: the feed is
                                   released when both are done with it, in
                                   whichever order MHD finishes them */
};

/* One cached change row. */
typedef struct ring_row {
    uint64_t seq;
    uint64_t hash;              /* of the doc id */
    bool gone;                  /* the doc has a later row: st_db_changes would skip this */
    char *json;                 /* the row object, NUL-terminated; the id follows its NUL */
    size_t len;
    const char *id;             /* inside json's allocation */
} ring_row;

/* The most recent change rows of one database, oldest first. */
typedef struct ring {
    pthread_mutex_t mu;         /* guards everything below */
    ring_row *rows;             /* [RING_CAP], circular */
    size_t head, n;             /* oldest row, count */
    uint64_t base;              /* rows with seq <= base are not here */
    uint64_t top;               /* every change row with base < seq <= top is here */
    bool dead;                  /* storage refused (database deleted): never used again */
} ring;

struct st_feed_db {
    st_feeds *reg;
    st_feed_db *prev, *next;    /* reg->dbs links */
    st_db *db;                  /* one catalog reference, held by the entry */
    st_db_observer *obs;
    uint64_t seq;               /* newest update_seq the observer reported */
    unsigned refs;              /* feeds attached */
    st_feed *waiters;           /* parked feeds */
    bool fan_queued;            /* on reg->fan_q */
    bool wake_all;              /* a notice without new rows (e.g. the database was
                                   deleted): resume every feed, each asks storage */
    st_feed_db *fan_next;
    ring ring;
};

/* What one fan-out writer works on, and the chunk it built last: feeds at
 * the same position get the same bytes, so those are built once. */
typedef struct fan_slice {
    st_feed *keep, *keep_tail;  /* out: still waiting, linked both ways, parked */
    uint64_t keep_wake;         /* out: earliest deadline among them (0 = none) */
    st_feed *drain;             /* out: part of a chunk is still to go */
    uint64_t now;
    st_buf chunk;               /* "%X\r\n" payload "\r\n", from chunk.data + start */
    bool valid;                 /* the fields below describe chunk */
    uint64_t since;             /* built for feeds at this position... */
    st_feed_type type;          /* ...of this type */
    uint64_t upto;              /* the position after it */
    size_t start, payload;
    bool resume;                /* the rows cannot go this way: hand to MHD */
} fan_slice;

typedef struct fan_helper {
    st_feeds *reg;
    pthread_t t;
    fan_slice slice;
    bool busy;                  /* slice assigned, not finished (reg->fh_mu) */
} fan_helper;

struct st_feeds {
    st_server *srv;
    pthread_mutex_t mu;         /* guards dbs, every entry's fields but the ring, stopping, fan_q */
    st_feed_db *dbs;
    bool stopping;
    int efd;                    /* wakes the timer thread */
    pthread_t timer;
    bool timer_started;
    atomic_bool timer_stop;
    _Atomic uint64_t timer_wake;/* when the timer plans to wake (monotonic ms) */
    _Atomic(st_feed *) dead;    /* freed by MHD, released by the timer */
    /* fan-out thread */
    st_feed_db *fan_q, *fan_q_tail;
    int fan_efd;                /* wakes the fan-out thread */
    int fan_ep;                 /* its epoll: fan_efd and draining sockets */
    pthread_t fan;
    bool fan_started;
    atomic_bool fan_stop;
    st_feed *draining;          /* feeds finishing a partial chunk (fan-out thread only) */
    bool direct_ok;             /* this libmicrohttpd is one the direct writes were checked with */
    fan_slice main_slice;       /* the fan-out thread's own share */
    /* The feeds of one fan-out, claimed FAN_CLAIM at a time by the writers
     * (so a writer that gets no CPU holds nothing up). */
    st_feed **fan_arr;
    size_t fan_cap, fan_n;
    atomic_size_t fan_claim;
    /* helper writers (one fewer than the fan-out threads) */
    pthread_mutex_t fh_mu;
    pthread_cond_t fh_go, fh_done;
    bool fh_stop;
    unsigned n_helpers;
    fan_helper helpers[FAN_THREADS_MAX - 1];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void poke_fd(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is already non-zero, the reader will wake */
}

static void poke(st_feeds *reg)
{
    poke_fd(reg->efd);
}

static bool envelope(const st_feed *f)
{
    return f->type == ST_FEED_NORMAL || f->type == ST_FEED_LONGPOLL;
}

/* ---- row JSON (shared by storage reads and the ring) */


/* Bytes before and after a row object, per feed type. */
static st_status row_prefix(const st_feed *f, st_buf *b)
{
    if (envelope(f) && f->need_sep)
        return st_buf_adds(b, ",\n");
    if (f->type == ST_FEED_EVENTSOURCE)
        return st_buf_adds(b, "data: ");
    return ST_OK;
}

static st_status row_suffix(const st_feed *f, st_buf *b, uint64_t seq)
{
    if (f->type == ST_FEED_CONTINUOUS)
        return st_buf_addc(b, '\n');
    if (f->type == ST_FEED_EVENTSOURCE)
        return st_buf_printf(b, "\nid: %" PRIu64 "\n\n", seq);
    return ST_OK;
}

/* ---- the ring */

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void ring_clear(ring *g, uint64_t at)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->rows[(g->head + i) % RING_CAP].json);
    g->head = g->n = 0;
    g->base = g->top = at;
}

typedef struct fill_ctx {
    ring *g;
    bool failed;            /* a row could not be added (memory) */
} fill_ctx;

static int ring_append_cb(void *ctx, const st_change_row *row)
{
    fill_ctx *fc = ctx;
    ring *g = fc->g;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (st_jw_init(&w, &b) != ST_OK) {
        fc->failed = true;
        return 1;
    }
    st_change_row_write(&w, row, false);
    st_status s = st_jw_status(&w);
    st_jw_free(&w);
    size_t idlen = strlen(row->id);
    if (s == ST_OK)
        s = st_buf_reserve(&b, idlen + 1);
    if (s != ST_OK) {
        st_buf_free(&b);
        fc->failed = true;
        return 1;
    }
    /* the id after the JSON's NUL, in the same allocation */
    memcpy(b.data + b.len + 1, row->id, idlen + 1);
    uint64_t h = hash_id(row->id);
    for (size_t i = 0; i < g->n; i++) {
        ring_row *o = &g->rows[(g->head + i) % RING_CAP];
        if (!o->gone && o->hash == h && strcmp(o->id, row->id) == 0)
            o->gone = true;
    }
    if (g->n == RING_CAP) { /* evict the oldest */
        ring_row *o = &g->rows[g->head];
        g->base = o->seq;
        free(o->json);
        g->head = (g->head + 1) % RING_CAP;
        g->n--;
    }
    ring_row *r = &g->rows[(g->head + g->n) % RING_CAP];
    r->seq = row->seq;
    r->hash = h;
    r->gone = false;
    r->len = b.len;
    r->json = b.data; /* taken */
    r->id = b.data + b.len + 1;
    g->n++;
    g->top = row->seq;
    return 0;
}

/* Make the ring cover every row up to at least want (as far as storage
 * has them): the one query many waiting feeds share.  false when storage
 * failed (e.g. the database was deleted): readers then go to storage
 * themselves, which reports the error to each feed. */
static bool ring_sync(st_feed_db *d, uint64_t want)
{
    ring *g = &d->ring;
    pthread_mutex_lock(&g->mu);
    bool ok = !g->dead;
    if (g->dead)
        want = 0;
    for (unsigned round = 0; round < RING_FILL_ROUNDS && g->top < want; round++) {
        st_changes_opts o;
        st_changes_opts_init(&o);
        o.since = g->top;
        o.limit = RING_FILL;
        uint64_t last = 0, pending = 0;
        st_error e;
        uint64_t top_before = g->top;
        fill_ctx fc = {g, false};
        st_status s = st_db_changes(d->db, &o, ring_append_cb, &fc, &last, &pending, &e);
        if (s != ST_OK || fc.failed) {
            /* The rows added so far are still every row up to g->top;
             * readers past it go to storage. */
            st_log(ST_LOG_WARN, "changes cache of %s: %s", st_db_name(d->db),
                   s != ST_OK ? e.reason : "out of memory");
            ok = false;
            break;
        }
        if (g->top == top_before) {
            /* No rows: storage is at last (its update_seq). */
            if (last > g->top)
                g->top = last;
            break;
        }
        if (pending == 0)
            break;
    }
    pthread_mutex_unlock(&g->mu);
    return ok;
}

/* Index (0 = oldest) of the first row with seq > since; g->mu held. */
static size_t ring_find(const ring *g, uint64_t since)
{
    size_t i = g->n;
    while (i > 0 && g->rows[(g->head + i - 1) % RING_CAP].seq > since)
        i--;
    return i;
}

/* ---- waiter list (reg->mu held) */

static void park(st_feed *f)
{
    st_feed_db *d = f->fdb;
    f->prev = NULL;
    f->next = d->waiters;
    if (d->waiters)
        d->waiters->prev = f;
    d->waiters = f;
    f->parked = true;
}

static void unpark(st_feed *f)
{
    st_feed_db *d = f->fdb;
    if (f->prev)
        f->prev->next = f->next;
    else
        d->waiters = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
    f->parked = false;
    MHD_resume_connection(f->conn);
}

static void resume_all(st_feed_db *d)
{
    while (d->waiters)
        unpark(d->waiters);
}

/* Queue d for the fan-out thread; true if the thread must be poked. */
static bool fan_queue(st_feeds *reg, st_feed_db *d)
{
    if (d->fan_queued || !d->waiters)
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

/* Observer: runs on the committing thread, must be quick. */
static void on_commit(void *ctx, uint64_t update_seq)
{
    st_feed_db *d = ctx;
    st_feeds *reg = d->reg;
    pthread_mutex_lock(&reg->mu);
    if (update_seq > d->seq)
        d->seq = update_seq;
    else
        d->wake_all = true;
    bool wake = fan_queue(reg, d);
    pthread_mutex_unlock(&reg->mu);
    if (wake)
        poke_fd(reg->fan_efd);
}

/* ---- registry entries */

static st_feed_db *find_entry(st_feeds *reg, st_db *db)
{
    for (st_feed_db *d = reg->dbs; d; d = d->next)
        if (d->db == db)
            return d;
    return NULL;
}

static void entry_free(st_feed_db *d)
{
    ring_clear(&d->ring, 0);
    free(d->ring.rows);
    pthread_mutex_destroy(&d->ring.mu);
    free(d);
}

/* Attach to db's entry, creating it.  Consumes the caller's db reference. */
static st_feed_db *attach(st_feeds *reg, st_db *db, st_error *err)
{
    st_catalog *cat = reg->srv->cat;
    pthread_mutex_lock(&reg->mu);
    st_feed_db *d = find_entry(reg, db);
    if (d)
        d->refs++;
    pthread_mutex_unlock(&reg->mu);
    if (d) {
        st_catalog_put(cat, db);
        return d;
    }
    st_db_info info;
    if (st_db_info_get(db, &info, err) != ST_OK) {
        st_catalog_put(cat, db);
        return NULL;
    }
    d = calloc(1, sizeof *d);
    ring_row *rows = calloc(RING_CAP, sizeof *rows);
    if (!d || !rows) {
        free(d);
        free(rows);
        st_catalog_put(cat, db);
        st_fail(err, ST_E_NOMEM, "out of memory");
        return NULL;
    }
    d->reg = reg;
    d->db = db;
    d->refs = 1;
    d->seq = info.update_seq;
    pthread_mutex_init(&d->ring.mu, NULL);
    d->ring.rows = rows;
    d->ring.base = d->ring.top = info.update_seq;
    if (st_db_observe(db, on_commit, d, &d->obs, err) != ST_OK) {
        st_catalog_put(cat, db);
        entry_free(d);
        return NULL;
    }
    pthread_mutex_lock(&reg->mu);
    st_feed_db *other = find_entry(reg, db);
    if (other) {
        other->refs++;
    } else {
        d->next = reg->dbs;
        if (reg->dbs)
            reg->dbs->prev = d;
        reg->dbs = d;
    }
    pthread_mutex_unlock(&reg->mu);
    if (other) { /* lost a race with another feed on the same db */
        st_db_unobserve(db, d->obs);
        st_catalog_put(cat, db);
        entry_free(d);
        return other;
    }
    return d;
}

static void entry_destroy(st_feeds *reg, st_feed_db *d)
{
    st_db_unobserve(d->db, d->obs);
    st_catalog_put(reg->srv->cat, d->db);
    entry_free(d);
}

/* Drop one reference to d (reg->mu held); true when it was the last: the
 * entry is off the registry and the caller destroys it after unlocking. */
static bool entry_unref_locked(st_feeds *reg, st_feed_db *d)
{
    if (--d->refs > 0)
        return false;
    fan_unqueue(reg, d);
    if (d->prev)
        d->prev->next = d->next;
    else
        reg->dbs = d->next;
    if (d->next)
        d->next->prev = d->prev;
    return true;
}

/* Timer thread (or teardown): drop one feed for good. */
static void release(st_feed *f)
{
    st_feeds *reg = f->reg;
    st_feed_db *d = f->fdb;
    if (d) {
        pthread_mutex_lock(&reg->mu);
        if (f->parked) /* cannot happen while MHD owns the connection; be safe */
            unpark(f);
        bool last = entry_unref_locked(reg, d);
        pthread_mutex_unlock(&reg->mu);
        if (last)
            entry_destroy(reg, d);
    } else if (f->db) {
        st_catalog_put(reg->srv->cat, f->db);
    }
    for (size_t i = 0; i < f->n_doc_ids; i++)
        free(f->doc_ids[i]);
    free(f->doc_ids);
    free(f->tail);
    st_buf_free(&f->out);
    free(f);
}

static void reap(st_feeds *reg)
{
    st_feed *f = atomic_exchange(&reg->dead, NULL);
    while (f) {
        st_feed *next = f->dead_next;
        release(f);
        f = next;
    }
}

/* Drop one reference; the last one defers the release to the timer thread
 * (see the file comment). */
static void feed_unref(st_feed *f)
{
    if (atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    st_feeds *reg = f->reg;
    st_feed *head = atomic_load(&reg->dead);
    do
        f->dead_next = head;
    while (!atomic_compare_exchange_weak(&reg->dead, &head, f));
    poke(reg);
}

/* MHD's free callback for the feed's response.  MHD may call it before or
 * after the request's completion callback, so each holds a reference. */
static void feed_free_cb(void *cls)
{
    feed_unref(cls);
}

static void *timer_main(void *arg)
{
    st_feeds *reg = arg;
    while (!atomic_load(&reg->timer_stop)) {
        uint64_t now = now_ms();
        uint64_t wake = atomic_load(&reg->timer_wake);
        int timeout = wake > now ? (int)(wake - now) : 0;
        if (timeout > TIMER_MAX_SLEEP_MS)
            timeout = TIMER_MAX_SLEEP_MS;
        struct pollfd p = {reg->efd, POLLIN, 0};
        if (poll(&p, 1, timeout) > 0) {
            uint64_t v;
            ssize_t rd = read(reg->efd, &v, sizeof v);
            (void)rd;
        }
        reap(reg);
        st_log_tick();
        now = now_ms();
        uint64_t next = now + TIMER_MAX_SLEEP_MS;
        pthread_mutex_lock(&reg->mu);
        for (st_feed_db *d = reg->dbs; d; d = d->next) {
            st_feed *w = d->waiters;
            while (w) {
                st_feed *wn = w->next;
                if (w->deadline && w->deadline <= now)
                    unpark(w);
                else if (w->deadline && w->deadline < next)
                    next = w->deadline;
                w = wn;
            }
        }
        atomic_store(&reg->timer_wake, next);
        pthread_mutex_unlock(&reg->mu);
    }
    return NULL;
}

/* ---- the fan-out thread */

/* Whether the fan-out thread may write rows to f's socket itself (decided
 * once; a parked feed has an empty buffer and is past its start). */
static bool fast_ok(const st_feed *f)
{
    return f->fd >= 0 && (f->type == ST_FEED_CONTINUOUS || f->type == ST_FEED_EVENTSOURCE) &&
           !f->opts.include_docs && !f->opts.all_docs && !f->opts.descending && !f->doc_ids &&
           !f->opts.filter && !f->limit_set;
}

enum { D_KEEP, D_RESUME, D_DRAIN };

/* Build into sl the chunk of the ring's rows after f's position, for a
 * feed of f's type. */
static void chunk_build(fan_slice *sl, const st_feed *f)
{
    ring *g = &f->fdb->ring;
    static const char pad[] = "00000000\r\n"; /* room for the chunk-size line */
    st_buf *c = &sl->chunk;
    st_buf_reset(c);
    sl->valid = true;
    sl->since = f->since;
    sl->type = f->type;
    sl->resume = false;
    st_status s = st_buf_add(c, pad, sizeof pad - 1);
    pthread_mutex_lock(&g->mu);
    if (f->since < g->base || g->dead)
        s = ST_E_NOT_FOUND; /* behind the ring: MHD reads storage */
    for (size_t i = ring_find(g, f->since); s == ST_OK && i < g->n; i++) {
        const ring_row *r = &g->rows[(g->head + i) % RING_CAP];
        if (r->gone)
            continue;
        s = row_prefix(f, c);
        if (s == ST_OK)
            s = st_buf_add(c, r->json, r->len);
        if (s == ST_OK)
            s = row_suffix(f, c, r->seq);
        if (s == ST_OK && c->len - (sizeof pad - 1) > DIRECT_MAX)
            s = ST_E_TOO_LARGE; /* MHD sends it in bounded batches */
    }
    sl->upto = g->top > f->since ? g->top : f->since;
    pthread_mutex_unlock(&g->mu);
    sl->payload = c->len >= sizeof pad - 1 ? c->len - (sizeof pad - 1) : 0;
    if (s == ST_OK && sl->payload) {
        char head[16];
        int hn = snprintf(head, sizeof head, "%zX\r\n", sl->payload);
        sl->start = sizeof pad - 1 - (size_t)hn;
        memcpy(c->data + sl->start, head, (size_t)hn);
        s = st_buf_add(c, "\r\n", 2);
    }
    sl->resume = s != ST_OK;
}

/* Write f's new rows from the ring as one chunk straight to its socket. */
static int direct_write(st_feed *f, fan_slice *sl)
{
    if (!f->fast_path || f->broken)
        return D_RESUME;
    if (!sl->valid || sl->since != f->since || sl->type != f->type)
        chunk_build(sl, f);
    if (sl->resume)
        return D_RESUME;
    if (sl->payload == 0) {
        f->since = sl->upto; /* only rows for docs that changed again later */
        return D_KEEP;
    }
    const char *p = sl->chunk.data + sl->start;
    size_t total = sl->chunk.len - sl->start;
    ssize_t n;
    do
        n = send(f->fd, p, total, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return D_RESUME; /* full (nothing written) or gone: MHD finds out */
    f->since = sl->upto;
    f->sent_any = true;
    f->direct_bytes += sl->payload;
    if (f->heartbeat_ms)
        f->next_beat = sl->now + f->heartbeat_ms;
    if ((size_t)n == total)
        return D_KEEP;
    /* Part of a chunk went out: the rest must follow before anything else. */
    f->tail_len = total - (size_t)n;
    f->tail = malloc(f->tail_len);
    if (!f->tail) {
        f->broken = true;
        return D_RESUME;
    }
    memcpy(f->tail, p + n, f->tail_len);
    f->tail_off = 0;
    f->drain_until = sl->now + DRAIN_TIMEOUT_MS;
    return D_DRAIN;
}

static void slice_one(fan_slice *sl, st_feed *f)
{
    f->prev = f->next = NULL;
    switch (direct_write(f, sl)) {
    case D_KEEP:
        f->deadline = f->heartbeat_ms ? f->next_beat : f->end_at;
        if (f->deadline && (!sl->keep_wake || f->deadline < sl->keep_wake))
            sl->keep_wake = f->deadline;
        f->next = sl->keep;
        if (sl->keep)
            sl->keep->prev = f;
        else
            sl->keep_tail = f;
        sl->keep = f;
        break;
    case D_DRAIN:
        f->parked = false;
        f->next = sl->drain;
        sl->drain = f;
        break;
    default:
        f->parked = false;
        MHD_resume_connection(f->conn);
        break;
    }
}

/* One writer's share, claimed from reg->fan_arr FAN_CLAIM feeds at a time:
 * written feeds stay parked (chained both ways, ready to splice back onto
 * the waiters), partial ones drain, the rest go to MHD. */
static void slice_run(st_feeds *reg, fan_slice *sl)
{
    sl->valid = false;
    sl->keep = sl->keep_tail = sl->drain = NULL;
    sl->keep_wake = 0;
    for (;;) {
        size_t from = atomic_fetch_add(&reg->fan_claim, FAN_CLAIM);
        if (from >= reg->fan_n)
            break;
        size_t to = from + FAN_CLAIM < reg->fan_n ? from + FAN_CLAIM : reg->fan_n;
        for (size_t i = from; i < to; i++)
            slice_one(sl, reg->fan_arr[i]);
    }
}

static void *helper_main(void *arg)
{
    fan_helper *h = arg;
    st_feeds *reg = h->reg;
    pthread_mutex_lock(&reg->fh_mu);
    for (;;) {
        while (!h->busy && !reg->fh_stop)
            pthread_cond_wait(&reg->fh_go, &reg->fh_mu);
        if (reg->fh_stop)
            break;
        pthread_mutex_unlock(&reg->fh_mu);
        slice_run(reg, &h->slice);
        pthread_mutex_lock(&reg->fh_mu);
        h->busy = false;
        pthread_cond_broadcast(&reg->fh_done);
    }
    pthread_mutex_unlock(&reg->fh_mu);
    return NULL;
}

static void drain_add(st_feeds *reg, st_feed *f)
{
    st_log(ST_LOG_DEBUG, "changes feed on %s: %zu bytes of a chunk wait for the socket",
           st_db_name(f->db), f->tail_len);
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.ptr = f};
    if (epoll_ctl(reg->fan_ep, EPOLL_CTL_ADD, f->fd, &ev) != 0) {
        f->broken = true;
        MHD_resume_connection(f->conn);
        return;
    }
    f->prev = NULL;
    f->next = reg->draining;
    if (reg->draining)
        reg->draining->prev = f;
    reg->draining = f;
}

/* The feed leaves the draining list; it goes back to MHD, which carries
 * on from the feed's own position (or ends a broken stream). */
static void drain_end(st_feeds *reg, st_feed *f, bool ok)
{
    epoll_ctl(reg->fan_ep, EPOLL_CTL_DEL, f->fd, NULL);
    if (f->prev)
        f->prev->next = f->next;
    else
        reg->draining = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
    free(f->tail);
    f->tail = NULL;
    if (!ok)
        f->broken = true;
    st_log(ST_LOG_DEBUG, "changes feed on %s: chunk %s; back to MHD", st_db_name(f->db),
           ok ? "drained" : "dropped");
    MHD_resume_connection(f->conn);
}

static void drain_ready(st_feeds *reg, st_feed *f)
{
    ssize_t n;
    do
        n = send(f->fd, f->tail + f->tail_off, f->tail_len - f->tail_off,
                 MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        drain_end(reg, f, false);
        return;
    }
    if (n > 0)
        f->tail_off += (size_t)n;
    if (f->tail_off == f->tail_len) {
        drain_end(reg, f, true);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.ptr = f};
    if (epoll_ctl(reg->fan_ep, EPOLL_CTL_MOD, f->fd, &ev) != 0)
        drain_end(reg, f, false);
}

/* Drop drains that took too long, or all of them when stopping. */
static void drain_expire(st_feeds *reg, bool all)
{
    uint64_t now = now_ms();
    st_feed *f = reg->draining;
    while (f) {
        st_feed *next = f->next;
        if (all || f->drain_until <= now)
            drain_end(reg, f, false);
        f = next;
    }
}

/* Tell d's parked feeds (taken off d->waiters as list) about rows up to
 * target, then park again those that are still waiting.  The writes are
 * shared among the fan-out thread and its helpers. */
static void fan_out(st_feeds *reg, st_feed_db *d, st_feed *list, uint64_t target,
                    bool wake_all)
{
    if (wake_all) { /* no new rows: is the database still there? */
        st_db_info info;
        st_error e;
        if (st_db_info_get(d->db, &info, &e) != ST_OK) {
            pthread_mutex_lock(&d->ring.mu);
            d->ring.dead = true;
            pthread_mutex_unlock(&d->ring.mu);
        }
    }
    if (wake_all || !ring_sync(d, target)) { /* every feed finds out through MHD */
        for (st_feed *f = list, *next; f; f = next) {
            next = f->next;
            f->prev = f->next = NULL;
            f->parked = false;
            MHD_resume_connection(f->conn);
        }
        pthread_mutex_lock(&reg->mu);
        bool last = entry_unref_locked(reg, d);
        pthread_mutex_unlock(&reg->mu);
        if (last)
            entry_destroy(reg, d);
        return;
    }
    uint64_t now = now_ms();
    unsigned writers = reg->n_helpers + 1;
    fan_slice *sl[FAN_THREADS_MAX];
    sl[0] = &reg->main_slice;
    for (unsigned i = 1; i < writers; i++)
        sl[i] = &reg->helpers[i - 1].slice;
    for (unsigned i = 0; i < writers; i++)
        sl[i]->now = now;
    /* Into the claim array (the writers resume the feeds that need MHD). */
    reg->fan_n = 0;
    for (st_feed *f = list, *next; f; f = next) {
        next = f->next;
        if (reg->fan_n == reg->fan_cap) {
            size_t ncap = reg->fan_cap ? reg->fan_cap * 2 : 1024;
            st_feed **g = realloc(reg->fan_arr, ncap * sizeof *g);
            if (!g) { /* no memory: these go the MHD way */
                f->prev = f->next = NULL;
                f->parked = false;
                MHD_resume_connection(f->conn);
                continue;
            }
            reg->fan_arr = g;
            reg->fan_cap = ncap;
        }
        reg->fan_arr[reg->fan_n++] = f;
    }
    atomic_store(&reg->fan_claim, 0);
    /* Helpers only pay off for many feeds. */
    bool helped = writers > 1 && reg->fan_n >= 2 * FAN_CLAIM;
    if (!helped) {
        writers = 1;
    } else {
        pthread_mutex_lock(&reg->fh_mu);
        for (unsigned i = 0; i < reg->n_helpers; i++)
            reg->helpers[i].busy = true;
        pthread_cond_broadcast(&reg->fh_go);
        pthread_mutex_unlock(&reg->fh_mu);
    }
    slice_run(reg, sl[0]);
    if (helped) {
        pthread_mutex_lock(&reg->fh_mu);
        for (unsigned i = 0; i < reg->n_helpers; i++)
            while (reg->helpers[i].busy)
                pthread_cond_wait(&reg->fh_done, &reg->fh_mu);
        pthread_mutex_unlock(&reg->fh_mu);
    }
    for (unsigned i = 0; i < writers; i++) {
        for (st_feed *f = sl[i]->drain, *next; f; f = next) {
            next = f->next;
            drain_add(reg, f);
        }
        sl[i]->drain = NULL;
    }
    bool poke_timer = false;
    pthread_mutex_lock(&reg->mu);
    for (unsigned i = 0; i < writers; i++) {
        if (!sl[i]->keep)
            continue;
        if (reg->stopping) {
            for (st_feed *f = sl[i]->keep, *next; f; f = next) {
                next = f->next;
                f->prev = f->next = NULL;
                f->parked = false;
                MHD_resume_connection(f->conn);
            }
        } else { /* splice the chain back in front of the waiters */
            sl[i]->keep_tail->next = d->waiters;
            if (d->waiters)
                d->waiters->prev = sl[i]->keep_tail;
            d->waiters = sl[i]->keep;
            if (sl[i]->keep_wake && sl[i]->keep_wake < atomic_load(&reg->timer_wake))
                poke_timer = true;
        }
        sl[i]->keep = sl[i]->keep_tail = NULL;
    }
    /* Commits while we wrote: go again. */
    if (d->seq > target)
        fan_queue(reg, d);
    bool last = entry_unref_locked(reg, d); /* fan_main's reference */
    pthread_mutex_unlock(&reg->mu);
    if (last)
        entry_destroy(reg, d);
    if (poke_timer)
        poke(reg);
}

static void *fan_main(void *arg)
{
    st_feeds *reg = arg;
    struct epoll_event evs[64];
    while (!atomic_load(&reg->fan_stop)) {
        bool stopping = false;
        int n = epoll_wait(reg->fan_ep, evs, 64, TIMER_MAX_SLEEP_MS);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                ssize_t rd = read(reg->fan_efd, &v, sizeof v);
                (void)rd;
            } else {
                drain_ready(reg, evs[i].data.ptr);
            }
        }
        for (unsigned round = 0; round < 1000; round++) {
            pthread_mutex_lock(&reg->mu);
            stopping = reg->stopping;
            st_feed_db *d = reg->fan_q;
            if (d) {
                reg->fan_q = d->fan_next;
                if (!reg->fan_q)
                    reg->fan_q_tail = NULL;
                d->fan_queued = false;
            }
            st_feed *list = NULL;
            uint64_t target = 0;
            bool wake_all = false;
            if (d && !stopping && d->waiters) {
                /* Take every parked feed (they stay marked parked while
                 * held), and a reference: once resumed, feeds may be
                 * released while fan_out still uses d. */
                list = d->waiters;
                d->waiters = NULL;
                target = d->seq;
                wake_all = d->wake_all;
                d->wake_all = false;
                d->refs++;
            }
            pthread_mutex_unlock(&reg->mu);
            if (!d)
                break;
            if (list)
                fan_out(reg, d, list, target, wake_all);
        }
        if (!stopping) {
            pthread_mutex_lock(&reg->mu);
            stopping = reg->stopping;
            pthread_mutex_unlock(&reg->mu);
        }
        drain_expire(reg, stopping);
    }
    drain_expire(reg, true);
    return NULL;
}

/* ---- the registry */

/* The direct writes rely on how libmicrohttpd treats a suspended
 * connection and when it calls a read callback (feed.h); that was checked
 * with the 0.9 series up to 0.9.75.  With another version feeds are served
 * the MHD way only: slower to fan out, equally correct. */
static bool mhd_direct_ok(void)
{
    const char *v = MHD_get_version();
    unsigned a = 0, b = 0, c = 0;
    if (!v || sscanf(v, "%u.%u.%u", &a, &b, &c) != 3)
        return false;
    return a == 0 && b == 9 && c >= 50 && c <= 75;
}

st_status st_feeds_new(st_server *srv, st_feeds **out, st_error *err)
{
    st_feeds *reg = calloc(1, sizeof *reg);
    if (!reg)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    reg->srv = srv;
    reg->direct_ok = mhd_direct_ok();
    if (!reg->direct_ok)
        st_log(ST_LOG_NOTICE, "libmicrohttpd %s: change feeds are resumed one by one "
               "(direct writes are checked with 0.9.50 to 0.9.75)", MHD_get_version());
    reg->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    reg->fan_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    reg->fan_ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (reg->efd < 0 || reg->fan_efd < 0 || reg->fan_ep < 0 ||
        epoll_ctl(reg->fan_ep, EPOLL_CTL_ADD, reg->fan_efd, &ev) != 0) {
        int e = errno;
        if (reg->efd >= 0)
            close(reg->efd);
        if (reg->fan_efd >= 0)
            close(reg->fan_efd);
        if (reg->fan_ep >= 0)
            close(reg->fan_ep);
        free(reg);
        return st_fail(err, ST_E_IO, "eventfd/epoll: %s", strerror(e));
    }
    pthread_mutex_init(&reg->mu, NULL);
    pthread_mutex_init(&reg->fh_mu, NULL);
    pthread_cond_init(&reg->fh_go, NULL);
    pthread_cond_init(&reg->fh_done, NULL);
    atomic_init(&reg->timer_stop, false);
    atomic_init(&reg->fan_stop, false);
    atomic_init(&reg->timer_wake, now_ms() + TIMER_MAX_SLEEP_MS);
    atomic_init(&reg->dead, NULL);
    if (pthread_create(&reg->timer, NULL, timer_main, reg) != 0) {
        st_feeds_free(reg);
        return st_fail(err, ST_E_IO, "cannot start the feed timer thread");
    }
    reg->timer_started = true;
    if (pthread_create(&reg->fan, NULL, fan_main, reg) != 0) {
        st_feeds_free(reg);
        return st_fail(err, ST_E_IO, "cannot start the feed fan-out thread");
    }
    reg->fan_started = true;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned want = cores < 1 ? 1 : cores > FAN_THREADS_MAX ? FAN_THREADS_MAX : (unsigned)cores;
    for (unsigned i = 0; i + 1 < want; i++) {
        fan_helper *h = &reg->helpers[i];
        h->reg = reg;
        if (pthread_create(&h->t, NULL, helper_main, h) != 0)
            break; /* fewer writers: slower, not wrong */
        reg->n_helpers++;
    }
    *out = reg;
    return ST_OK;
}

void st_feeds_shutdown(st_feeds *reg)
{
    if (!reg)
        return;
    pthread_mutex_lock(&reg->mu);
    reg->stopping = true;
    for (st_feed_db *d = reg->dbs; d; d = d->next)
        resume_all(d);
    pthread_mutex_unlock(&reg->mu);
    poke_fd(reg->fan_efd); /* it hands back what it holds */
}

void st_feeds_free(st_feeds *reg)
{
    if (!reg)
        return;
    if (reg->fan_started) {
        atomic_store(&reg->fan_stop, true);
        poke_fd(reg->fan_efd);
        pthread_join(reg->fan, NULL);
    }
    pthread_mutex_lock(&reg->fh_mu);
    reg->fh_stop = true;
    pthread_cond_broadcast(&reg->fh_go);
    pthread_mutex_unlock(&reg->fh_mu);
    for (unsigned i = 0; i < reg->n_helpers; i++) {
        pthread_join(reg->helpers[i].t, NULL);
        st_buf_free(&reg->helpers[i].slice.chunk);
    }
    st_buf_free(&reg->main_slice.chunk);
    free(reg->fan_arr);
    if (reg->timer_started) {
        atomic_store(&reg->timer_stop, true);
        poke(reg);
        pthread_join(reg->timer, NULL);
    }
    reap(reg);
    /* Entries whose feeds MHD never released (should be none). */
    while (reg->dbs) {
        st_feed_db *d = reg->dbs;
        reg->dbs = d->next;
        entry_destroy(reg, d);
    }
    close(reg->efd);
    close(reg->fan_efd);
    close(reg->fan_ep);
    pthread_mutex_destroy(&reg->mu);
    pthread_mutex_destroy(&reg->fh_mu);
    pthread_cond_destroy(&reg->fh_go);
    pthread_cond_destroy(&reg->fh_done);
    free(reg);
}

/* ---- producing output (MHD's read callback) */

static int row_cb(void *ctx, const st_change_row *row)
{
    st_feed *f = ctx;
    st_buf *b = &f->out;
    st_jw w;
    st_status s = row_prefix(f, b);
    if (s == ST_OK)
        s = st_jw_init(&w, b);
    if (s != ST_OK) {
        f->row_failed = true;
        return 1;
    }
    st_change_row_write(&w, row, f->opts.include_docs);
    s = st_jw_status(&w);
    st_jw_free(&w);
    if (s == ST_OK)
        s = row_suffix(f, b, row->seq);
    if (s != ST_OK) {
        f->row_failed = true;
        return 1;
    }
    f->need_sep = true;
    f->row_seq = row->seq;
    f->rows++;
    return 0;
}

/* Whether f may read its rows from the ring (what it asks for is what the
 * ring holds: winners only, no bodies, no filter, ascending, no limit). */
static bool cacheable(const st_feed *f)
{
    return f->fdb && !f->opts.include_docs && !f->opts.all_docs && !f->opts.descending &&
           !f->doc_ids && !f->opts.filter && !(f->limit_set && envelope(f));
}

/* Up to limit rows after f->since from the ring.  false: the ring does
 * not reach back to f->since (read storage instead). */
static bool fetch_ring(st_feed *f, uint64_t want, uint64_t limit, uint64_t *last,
                       uint64_t *pending)
{
    st_feed_db *d = f->fdb;
    ring *g = &d->ring;
    if (!ring_sync(d, want > f->since ? want : f->since))
        return false;
    pthread_mutex_lock(&g->mu);
    if (f->since < g->base || g->dead) {
        pthread_mutex_unlock(&g->mu);
        return false;
    }
    size_t i = ring_find(g, f->since);
    for (; i < g->n && f->rows < limit && !f->row_failed; i++) {
        const ring_row *r = &g->rows[(g->head + i) % RING_CAP];
        if (r->gone)
            continue;
        st_status s = row_prefix(f, &f->out);
        if (s == ST_OK)
            s = st_buf_add(&f->out, r->json, r->len);
        if (s == ST_OK)
            s = row_suffix(f, &f->out, r->seq);
        if (s != ST_OK) {
            f->row_failed = true;
            break;
        }
        f->need_sep = true;
        f->row_seq = r->seq;
        f->rows++;
    }
    uint64_t left = 0;
    for (; i < g->n; i++)
        left += !g->rows[(g->head + i) % RING_CAP].gone;
    *pending = left;
    *last = f->rows ? f->row_seq : g->top;
    pthread_mutex_unlock(&g->mu);
    return true;
}

static st_status finish(st_feed *f)
{
    st_status s = ST_OK;
    if (envelope(f))
        s = st_buf_printf(&f->out, "\n],\n\"last_seq\":%" PRIu64 ",\"pending\":%" PRIu64 "}\n",
                          f->last_seq, f->pending);
    else if (f->type == ST_FEED_CONTINUOUS)
        s = st_buf_printf(&f->out, "{\"last_seq\":%" PRIu64 ",\"pending\":%" PRIu64 "}\n",
                          f->last_seq, f->pending);
    f->phase = PH_DONE;
    return s;
}

static st_status heartbeat(st_feed *f)
{
    f->sent_any = true;
    if (f->type == ST_FEED_EVENTSOURCE)
        return st_buf_adds(&f->out, "event: heartbeat\ndata: \n\n");
    return st_buf_addc(&f->out, '\n');
}

enum { P_MORE, P_WAIT, P_ERROR };

static int produce(st_feed *f)
{
    st_feeds *reg = f->reg;
    if (f->phase == PH_START) {
        f->phase = PH_RUN;
        if (envelope(f))
            return st_buf_adds(&f->out, "{\"results\":[\n") == ST_OK ? P_MORE : P_ERROR;
    }
    uint64_t snap = 0;
    if (f->fdb) {
        pthread_mutex_lock(&reg->mu);
        snap = f->fdb->seq;
        pthread_mutex_unlock(&reg->mu);
    }
    st_changes_opts o = f->opts;
    o.since = f->since;
    o.limit = FEED_BATCH;
    if (f->limit_set && envelope(f) && f->remaining < o.limit)
        o.limit = f->remaining;
    if (o.descending)
        o.limit = f->limit_set ? f->remaining : UINT64_MAX;
    f->rows = 0;
    f->row_failed = false;
    uint64_t last = 0, pending = 0;
    if (!cacheable(f) || !fetch_ring(f, snap, o.limit, &last, &pending)) {
        st_error e;
        st_status s = st_db_changes(f->db, &o, row_cb, f, &last, &pending, &e);
        if (s != ST_OK) {
            st_log(ST_LOG_ERROR, "changes feed on %s: %s", st_db_name(f->db), e.reason);
            return P_ERROR;
        }
    }
    if (f->row_failed) {
        st_log(ST_LOG_ERROR, "changes feed on %s: out of memory", st_db_name(f->db));
        return P_ERROR;
    }
    f->last_seq = last;
    f->pending = pending;
    if (f->rows > 0) {
        if (!o.descending)
            f->since = f->row_seq;
        if (f->limit_set && envelope(f))
            f->remaining = f->remaining > f->rows ? f->remaining - f->rows : 0;
        f->sent_any = true;
        if (f->heartbeat_ms)
            f->next_beat = now_ms() + f->heartbeat_ms;
        if (envelope(f) &&
            (o.descending || f->rows < o.limit || (f->limit_set && f->remaining == 0)))
            return finish(f) == ST_OK ? P_MORE : P_ERROR;
        return P_MORE;
    }
    if (!o.descending && last > f->since)
        f->since = last; /* the range held only rows the filter dropped */
    if (f->type == ST_FEED_NORMAL || o.descending || (f->limit_set && f->remaining == 0 &&
                                                      envelope(f)))
        return finish(f) == ST_OK ? P_MORE : P_ERROR;
    uint64_t now = now_ms();
    if (atomic_load(&reg->timer_stop))
        return finish(f) == ST_OK ? P_MORE : P_ERROR;
    if (f->heartbeat_ms && now >= f->next_beat) {
        f->next_beat = now + f->heartbeat_ms;
        return heartbeat(f) == ST_OK ? P_MORE : P_ERROR;
    }
    if (!f->heartbeat_ms && f->end_at && now >= f->end_at)
        return finish(f) == ST_OK ? P_MORE : P_ERROR;
    if (!envelope(f) && !f->sent_any && f->type == ST_FEED_CONTINUOUS) {
        /* One early newline so the client sees the headers (CouchDB #2240). */
        f->sent_any = true;
        return st_buf_addc(&f->out, '\n') == ST_OK ? P_MORE : P_ERROR;
    }
    pthread_mutex_lock(&reg->mu);
    if (reg->stopping) {
        pthread_mutex_unlock(&reg->mu);
        return finish(f) == ST_OK ? P_MORE : P_ERROR;
    }
    /* A commit or a deletion that raced with the query: look again (core
     * marks a database deleted before it sends the notice). */
    if (f->fdb->seq > snap || st_db_is_deleted(f->fdb->db)) {
        pthread_mutex_unlock(&reg->mu);
        return P_MORE;
    }
    uint64_t deadline = f->heartbeat_ms ? f->next_beat : f->end_at;
    f->deadline = deadline;
    MHD_suspend_connection(f->conn);
    park(f);
    pthread_mutex_unlock(&reg->mu);
    /* f now belongs to the registry (the fan-out thread may write to it):
     * touch nothing of it from here on. */
    if (deadline && deadline < atomic_load(&reg->timer_wake))
        poke(reg);
    return P_WAIT;
}

static ssize_t feed_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    st_feed *f = cls;
    (void)pos;
    if (f->broken)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (f->req && f->direct_bytes) {
        f->req->resp_bytes += f->direct_bytes;
        f->direct_bytes = 0;
    }
    /* Bounded: each round either hands bytes over, parks, or moves the
     * cursor; the bound only guards against a storage layer that would
     * report progress without rows forever. */
    for (unsigned round = 0; round < 100000; round++) {
        if (f->off < f->out.len) {
            size_t n = f->out.len - f->off;
            if (n > max)
                n = max;
            memcpy(buf, f->out.data + f->off, n);
            f->off += n;
            if (f->req)
                f->req->resp_bytes += n;
            return (ssize_t)n;
        }
        st_buf_reset(&f->out);
        f->off = 0;
        if (f->phase == PH_DONE)
            return MHD_CONTENT_READER_END_OF_STREAM;
        switch (produce(f)) {
        case P_WAIT:
            return 0;
        case P_ERROR:
            return MHD_CONTENT_READER_END_WITH_ERROR;
        default:
            break;
        }
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

void st_feed_start(st_req *r, st_db *db, st_feed_params *p)
{
    st_feeds *reg = r->srv->feeds;
    st_error e;
    st_error_clear(&e);
    st_feed *f = calloc(1, sizeof *f);
    if (!f) {
        st_catalog_put(r->srv->cat, db);
        for (size_t i = 0; i < p->n_doc_ids; i++)
            free(p->doc_ids[i]);
        free(p->doc_ids);
        st_fail(&e, ST_E_NOMEM, "out of memory");
        st_resp_status(r, &e);
        return;
    }
    f->reg = reg;
    f->conn = r->conn;
    f->req = r;
    f->fd = -1;
    /* The fast path writes HTTP/1.1 chunks: only where MHD chunks too. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (reg->direct_ok && ci && ci->connect_fd != MHD_INVALID_SOCKET && st_req_chunked_reply(r))
        f->fd = ci->connect_fd;
    f->type = p->type;
    f->opts = p->opts;
    f->doc_ids = p->doc_ids;
    f->n_doc_ids = p->n_doc_ids;
    p->doc_ids = NULL;
    p->n_doc_ids = 0;
    if (f->doc_ids) {
        f->opts.doc_ids = (const char *const *)f->doc_ids;
        f->opts.n_doc_ids = f->n_doc_ids;
    }
    f->limit_set = p->limit_set;
    f->remaining = p->opts.limit == 0 ? 1 : p->opts.limit;
    f->fast_path = fast_ok(f);
    f->heartbeat_ms = p->heartbeat_ms;
    f->timeout_ms = p->timeout_ms;
    st_buf_init(&f->out, 0);
    uint64_t now = now_ms();
    f->next_beat = f->heartbeat_ms ? now + f->heartbeat_ms : 0;
    f->end_at = f->timeout_ms ? now + f->timeout_ms : 0;
    f->since = p->opts.since;
    f->db = db;
    if (p->since_now) {
        st_db_info info;
        if (st_db_info_get(db, &info, &e) != ST_OK) {
            release(f);
            st_resp_status(r, &e);
            return;
        }
        f->since = info.update_seq;
    }
    if (f->type != ST_FEED_NORMAL) {
        f->db = NULL; /* attach consumed the reference */
        f->fdb = attach(reg, db, &e);
        if (!f->fdb) {
            release(f);
            st_resp_status(r, &e);
            return;
        }
        f->db = f->fdb->db;
    }
    atomic_init(&f->refs, 2); /* the response's and the request's */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, FEED_BLOCK,
                                                                  feed_read, f, feed_free_cb);
    if (!resp) {
        release(f);
        st_fail(&e, ST_E_NOMEM, "out of memory");
        st_resp_status(r, &e);
        return;
    }
    if (f->type == ST_FEED_EVENTSOURCE) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    } else {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "must-revalidate");
    }
    if (r->resp)
        MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = 200;
    r->feed = f;
}

void st_feed_detach_req(st_feed *f)
{
    if (!f)
        return;
    f->req = NULL;
    feed_unref(f);
}
