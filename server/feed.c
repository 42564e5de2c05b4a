/* feed.c — _changes feeds over suspended connections (see feed.h).
 *
 * Why suspend/resume instead of a thread or a blocking wait per feed: the
 * target is 10,000 open listeners on two cores.  A waiting feed is a parked
 * MHD connection (a socket and its small memory pool) on a registry list;
 * nothing polls it.  A commit runs one observer per database, which resumes
 * the parked connections; each then pulls its own rows from its own `since`.
 *
 * The lost-wakeup race: a feed checks for rows, finds none, then parks.  A
 * commit between the check and the park must not be missed.  Each database
 * entry keeps the newest update_seq its observer saw; a feed snapshots it
 * before querying and, under the registry lock, parks only if it did not
 * move.  The observer updates it under the same lock before resuming.
 *
 * Why freed feeds go through the timer thread: MHD destroys a response
 * (and calls our free callback) from inside its own connection clean-up,
 * possibly holding its internal locks, while the observer holds our lock
 * and calls MHD_resume_connection.  Taking our lock there could deadlock, so
 * the free callback only pushes the feed onto a lock-free stack and pokes
 * an eventfd; the timer thread does the releasing.
 */
#include "feed.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

#define FEED_BATCH 200           /* rows per st_db_changes call */
#define FEED_BLOCK 16384         /* MHD read-callback block size */
#define TIMER_MAX_SLEEP_MS 1000

typedef struct st_feed_db st_feed_db;

struct st_feed {
    st_feeds *reg;
    st_feed_db *fdb;            /* registry entry (waiting feeds); NULL for normal */
    st_db *db;                  /* borrowed from fdb, or our own ref for normal */
    st_req *req;                /* valid only inside the read callback */
    struct MHD_Connection *conn;
    st_feed_type type;
    st_changes_opts opts;
    char **doc_ids;
    size_t n_doc_ids;
    uint64_t since;             /* cursor: rows after this seq come next */
    uint64_t remaining;         /* limit left (normal/longpoll) */
    bool limit_set;
    uint64_t heartbeat_ms, timeout_ms;
    uint64_t next_beat;         /* monotonic ms; heartbeat due */
    uint64_t end_at;            /* monotonic ms; timeout (0 = never) */
    uint64_t deadline;          /* while parked: when the timer resumes us */
    uint64_t last_seq, pending; /* from the latest st_db_changes */
    uint64_t row_seq;           /* seq of the last row written */
    size_t rows;                /* rows written by the current batch */
    st_buf out;                 /* bytes produced, not yet handed to MHD */
    size_t off;
    enum { PH_START, PH_RUN, PH_DONE } phase;
    bool need_sep;              /* envelope: the next row needs ",\n" */
    bool sent_any;              /* continuous/eventsource sent something */
    bool row_failed;
    bool parked;                /* on fdb->waiters */
    st_feed *prev, *next;       /* fdb->waiters links */
    st_feed *dead_next;         /* reg->dead stack link */
};

struct st_feed_db {
    st_feeds *reg;
    st_feed_db *prev, *next;    /* reg->dbs links */
    st_db *db;                  /* one catalog reference, held by the entry */
    st_db_observer *obs;
    uint64_t seq;               /* newest update_seq the observer reported */
    unsigned refs;              /* feeds attached */
    st_feed *waiters;           /* parked feeds */
};

struct st_feeds {
    st_server *srv;
    pthread_mutex_t mu;         /* guards dbs, every entry's fields, stopping */
    st_feed_db *dbs;
    bool stopping;
    int efd;                    /* wakes the timer thread */
    pthread_t timer;
    bool timer_started;
    atomic_bool timer_stop;
    _Atomic uint64_t timer_wake;/* when the timer plans to wake (monotonic ms) */
    _Atomic(st_feed *) dead;    /* freed by MHD, released by the timer */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void poke(st_feeds *reg)
{
    uint64_t one = 1;
    ssize_t w = write(reg->efd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is already non-zero, the timer will wake */
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

/* Observer: runs on the committing thread, must be quick. */
static void on_commit(void *ctx, uint64_t update_seq)
{
    st_feed_db *d = ctx;
    pthread_mutex_lock(&d->reg->mu);
    if (update_seq > d->seq)
        d->seq = update_seq;
    resume_all(d);
    pthread_mutex_unlock(&d->reg->mu);
}

/* ---- registry entries */

static st_feed_db *find_entry(st_feeds *reg, st_db *db)
{
    for (st_feed_db *d = reg->dbs; d; d = d->next)
        if (d->db == db)
            return d;
    return NULL;
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
    d = calloc(1, sizeof *d);
    if (!d) {
        st_catalog_put(cat, db);
        st_fail(err, ST_E_NOMEM, "out of memory");
        return NULL;
    }
    d->reg = reg;
    d->db = db;
    d->refs = 1;
    if (st_db_observe(db, on_commit, d, &d->obs, err) != ST_OK) {
        st_catalog_put(cat, db);
        free(d);
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
        free(d);
        return other;
    }
    return d;
}

static void entry_destroy(st_feeds *reg, st_feed_db *d)
{
    st_db_unobserve(d->db, d->obs);
    st_catalog_put(reg->srv->cat, d->db);
    free(d);
}

/* Timer thread (or teardown): drop one feed for good. */
static void release(st_feed *f)
{
    st_feeds *reg = f->reg;
    st_feed_db *d = f->fdb;
    if (d) {
        bool last = false;
        pthread_mutex_lock(&reg->mu);
        if (f->parked) /* cannot happen while MHD owns the connection; be safe */
            unpark(f);
        if (--d->refs == 0) {
            last = true;
            if (d->prev)
                d->prev->next = d->next;
            else
                reg->dbs = d->next;
            if (d->next)
                d->next->prev = d->prev;
        }
        pthread_mutex_unlock(&reg->mu);
        if (last)
            entry_destroy(reg, d);
    } else if (f->db) {
        st_catalog_put(reg->srv->cat, f->db);
    }
    for (size_t i = 0; i < f->n_doc_ids; i++)
        free(f->doc_ids[i]);
    free(f->doc_ids);
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

/* MHD's free callback: defer to the timer thread (see the file comment). */
static void feed_free_cb(void *cls)
{
    st_feed *f = cls;
    st_feeds *reg = f->reg;
    st_feed *head = atomic_load(&reg->dead);
    do
        f->dead_next = head;
    while (!atomic_compare_exchange_weak(&reg->dead, &head, f));
    poke(reg);
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

st_status st_feeds_new(st_server *srv, st_feeds **out, st_error *err)
{
    st_feeds *reg = calloc(1, sizeof *reg);
    if (!reg)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    reg->srv = srv;
    reg->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (reg->efd < 0) {
        free(reg);
        return st_fail(err, ST_E_IO, "eventfd: %s", strerror(errno));
    }
    pthread_mutex_init(&reg->mu, NULL);
    atomic_init(&reg->timer_stop, false);
    atomic_init(&reg->timer_wake, now_ms() + TIMER_MAX_SLEEP_MS);
    atomic_init(&reg->dead, NULL);
    if (pthread_create(&reg->timer, NULL, timer_main, reg) != 0) {
        close(reg->efd);
        pthread_mutex_destroy(&reg->mu);
        free(reg);
        return st_fail(err, ST_E_IO, "cannot start the feed timer thread");
    }
    reg->timer_started = true;
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
}

void st_feeds_free(st_feeds *reg)
{
    if (!reg)
        return;
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
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

/* ---- producing output */

static bool envelope(const st_feed *f)
{
    return f->type == ST_FEED_NORMAL || f->type == ST_FEED_LONGPOLL;
}

static int row_cb(void *ctx, const st_change_row *row)
{
    st_feed *f = ctx;
    st_buf *b = &f->out;
    st_jw w;
    st_status s = ST_OK;
    if (envelope(f) && f->need_sep)
        s = st_buf_adds(b, ",\n");
    if (s == ST_OK && f->type == ST_FEED_EVENTSOURCE)
        s = st_buf_adds(b, "data: ");
    if (s == ST_OK)
        s = st_jw_init(&w, b);
    if (s != ST_OK) {
        f->row_failed = true;
        return 1;
    }
    st_jw_obj_open(&w);
    st_jw_key(&w, "seq");
    st_jw_uint(&w, row->seq);
    st_jw_key(&w, "id");
    st_jw_str(&w, row->id);
    st_jw_key(&w, "changes");
    st_jw_arr_open(&w);
    for (size_t i = 0; i < row->n_revs; i++) {
        st_jw_obj_open(&w);
        st_jw_key(&w, "rev");
        st_jw_str(&w, row->revs[i]);
        st_jw_obj_close(&w);
    }
    st_jw_arr_close(&w);
    if (row->deleted) {
        st_jw_key(&w, "deleted");
        st_jw_bool(&w, true);
    }
    if (f->opts.include_docs) {
        st_jw_key(&w, "doc");
        if (row->doc_json)
            st_jw_raw(&w, row->doc_json, row->doc_len);
        else
            st_jw_null(&w);
    }
    st_jw_obj_close(&w);
    s = st_jw_status(&w);
    st_jw_free(&w);
    if (s == ST_OK) {
        if (f->type == ST_FEED_CONTINUOUS)
            s = st_buf_addc(b, '\n');
        else if (f->type == ST_FEED_EVENTSOURCE)
            s = st_buf_printf(b, "\nid: %" PRIu64 "\n\n", row->seq);
    }
    if (s != ST_OK) {
        f->row_failed = true;
        return 1;
    }
    f->need_sep = true;
    f->row_seq = row->seq;
    f->rows++;
    return 0;
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
    st_error e;
    uint64_t last = 0, pending = 0;
    st_status s = st_db_changes(f->db, &o, row_cb, f, &last, &pending, &e);
    if (s != ST_OK || f->row_failed) {
        st_log(ST_LOG_ERROR, "changes feed on %s: %s", st_db_name(f->db),
               s != ST_OK ? e.reason : "out of memory");
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
    if (f->fdb->seq > snap) {
        pthread_mutex_unlock(&reg->mu);
        return P_MORE; /* a commit raced with the query: look again */
    }
    f->deadline = f->heartbeat_ms ? f->next_beat : f->end_at;
    MHD_suspend_connection(f->conn);
    park(f);
    pthread_mutex_unlock(&reg->mu);
    if (f->deadline && f->deadline < atomic_load(&reg->timer_wake))
        poke(reg);
    return P_WAIT;
}

static ssize_t feed_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    st_feed *f = cls;
    (void)pos;
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
    if (f)
        f->req = NULL;
}
