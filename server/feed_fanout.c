/* feed_fanout.c — telling thousands of parked feeds about a commit.
 *
 * Why the fan-out thread writes to parked sockets itself: resuming 10,000
 * MHD connections costs, per connection, an inter-thread wakeup, two epoll
 * changes and a trip through MHD's state machine, on top of the one send()
 * that matters; on two cores that alone takes longer than the latency
 * target.  A parked feed whose connection is idle (MHD only parks it from
 * our read callback, after its previous chunk went out completely, and
 * leaves a suspended connection's socket alone) can take a complete HTTP
 * chunk written straight to its socket: the fan-out thread builds the
 * chunk from the follower ring (st_follow_cached: the rows formatted once,
 * at commit) and sends it without blocking.  Anything that does not fit
 * that fast path goes the MHD way, from the feed's own position: a feed
 * behind the ring, a chunk over DIRECT_MAX, a socket whose buffer is full
 * (EAGAIN: nothing was written).  The one awkward case, a send that wrote
 * part of a chunk, keeps the rest of that one chunk (at most DIRECT_MAX
 * bytes) and finishes it when the socket drains, then hands the feed back
 * to MHD.  So a slow listener costs at most one chunk plus its socket
 * buffer, and never blocks anyone else.
 *
 * The direct writes rely on how libmicrohttpd treats a suspended
 * connection and when it calls a read callback; that was checked with the
 * 0.9 series up to 0.9.75.  With another version, or with
 * SETTEE_FEED_DIRECT=0 in the environment (the tests run both ways), feeds
 * are served the MHD way only: slower to fan out, equally correct.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include "auth.h"
#include "feed_int.h"
#include "log.h"

bool st_feed_fast_ok(const st_feed *f)
{
    /* A selector feed qualifies too: its chunk is its own (its follower's
     * queued rows), built per feed instead of shared. */
    return f->fd >= 0 && (f->type == ST_FEED_CONTINUOUS || f->type == ST_FEED_EVENTSOURCE) &&
           !f->opts.include_docs && !f->opts.all_docs && !f->opts.descending && !f->doc_ids &&
           !f->opts.filter && !f->limit_set;
}

enum { D_KEEP, D_RESUME, D_DRAIN };

/* Hand a feed the fan-out holds back to MHD. */
static void resume(st_feeds *reg, st_feed *f)
{
    pthread_mutex_lock(&reg->mu);
    f->parked = false;
    f->where = W_NONE;
    pthread_mutex_unlock(&reg->mu);
    MHD_resume_connection(f->conn);
    atomic_fetch_sub(&reg->srv->suspended, 1);
}

typedef struct chunk_ctx {
    fan_slice *sl;
    const st_feed *f;
    st_status s;
    size_t pad;
} chunk_ctx;

static int chunk_row(void *ctx, const st_change_row *row)
{
    chunk_ctx *c = ctx;
    st_buf *b = &c->sl->chunk;
    st_status s = st_feed_row_prefix(c->f, b);
    if (s == ST_OK)
        s = st_buf_add(b, row->json, row->json_len);
    if (s == ST_OK)
        s = st_feed_row_suffix(c->f, b, row->seq);
    if (s == ST_OK && b->len - c->pad > DIRECT_MAX)
        s = ST_E_TOO_LARGE; /* MHD sends it in bounded batches */
    c->s = s;
    return s != ST_OK;
}

/* Build into sl the chunk of the ring's rows after f's position, for a
 * feed of f's type. */
static void chunk_build(fan_slice *sl, const st_feed *f)
{
    static const char pad[] = "00000000\r\n"; /* room for the chunk-size line */
    st_buf *c = &sl->chunk;
    st_buf_reset(c);
    sl->valid = true;
    sl->since = f->since;
    sl->type = f->type;
    sl->resume = false;
    chunk_ctx cc = {sl, f, st_buf_add(c, pad, sizeof pad - 1), sizeof pad - 1};
    uint64_t upto = f->since;
    /* A selector feed's rows are its own: the chunk cannot be shared. */
    sl->valid = !f->selector;
    st_status src = ST_OK;
    if (cc.s == ST_OK && f->selector)
        src = st_follow_sel_cached(f->fol, chunk_row, &cc, &upto, NULL);
    else if (cc.s == ST_OK)
        src = st_follow_cached(f->db, f->since, UINT64_MAX, chunk_row, &cc, &upto, NULL);
    if (cc.s == ST_OK && src != ST_OK)
        cc.s = ST_E_NOT_FOUND; /* behind the ring (or gone): MHD reads storage */
    sl->upto = upto > f->since ? upto : f->since;
    sl->payload = c->len >= sizeof pad - 1 ? c->len - (sizeof pad - 1) : 0;
    if (cc.s == ST_OK && sl->payload) {
        char head[16];
        int hn = snprintf(head, sizeof head, "%zX\r\n", sl->payload);
        sl->start = sizeof pad - 1 - (size_t)hn;
        memcpy(c->data + sl->start, head, (size_t)hn);
        cc.s = st_buf_add(c, "\r\n", 2);
    }
    sl->resume = cc.s != ST_OK;
}

/* Write f's new rows from the ring as one chunk straight to its socket. */
static int direct_write(st_feed *f, fan_slice *sl)
{
    if (!f->fast_path || f->broken || st_feed_stale_at(f, sl->users_seq))
        return D_RESUME; /* a stale reader is checked on its own thread */
    if (!sl->valid || f->selector || sl->since != f->since || sl->type != f->type)
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

/* The fan-out wrote f's rows (or found none): a selector follower's
 * cursor moves with them now (its queue is trimmed by it); a plain feed's
 * follower is only a cursor, moved when the feed reads again (read_batch),
 * which spares the fan-out a cache miss per feed. */
static void sync_cursor(st_feed *f)
{
    if (f->fol && f->selector)
        st_follow_seek(f->fol, f->since);
}

static void slice_one(fan_slice *sl, st_feed *f)
{
    f->prev = f->next = NULL;
    int d = direct_write(f, sl);
    sync_cursor(f);
    switch (d) {
    case D_KEEP:
        f->deadline = f->heartbeat_ms ? f->next_beat : f->end_at;
        if (f->deadline && (!sl->keep_wake || f->deadline < sl->keep_wake))
            sl->keep_wake = f->deadline;
        if (f->selector) {
            f->next = sl->keep;
            sl->keep = f;
            break;
        }
        /* A plain feed goes back on its entry's list as part of this chain,
         * spliced in whole (the fan-out owns a feed it holds: its list
         * state is ours to set until the splice). */
        if (f->since < sl->keep_min)
            sl->keep_min = f->since;
        f->where = W_PLAIN;
        f->next = sl->keep_plain;
        if (sl->keep_plain)
            sl->keep_plain->prev = f;
        else
            sl->keep_plain_tail = f;
        sl->keep_plain = f;
        break;
    case D_DRAIN:
        f->next = sl->drain;
        sl->drain = f;
        break;
    default:
        resume(f->reg, f);
        break;
    }
}

/* One writer's share, claimed from reg->fan_arr FAN_CLAIM feeds at a time. */
static void slice_run(st_feeds *reg, fan_slice *sl)
{
    sl->valid = false;
    sl->keep = sl->keep_plain = sl->keep_plain_tail = sl->drain = NULL;
    sl->keep_wake = 0;
    sl->keep_min = UINT64_MAX;
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

/* ---- draining partial chunks (fan-out thread only) */

static void drain_add(st_feeds *reg, st_feed *f)
{
    st_log(ST_LOG_DEBUG, "changes feed on %s: %zu bytes of a chunk wait for the socket",
           st_db_name(f->db), f->tail_len);
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.ptr = f};
    if (epoll_ctl(reg->fan_ep, EPOLL_CTL_ADD, f->fd, &ev) != 0) {
        f->broken = true;
        resume(reg, f);
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
    resume(reg, f);
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
    uint64_t now = st_feed_now_ms();
    st_feed *f = reg->draining;
    while (f) {
        st_feed *next = f->next;
        if (all || f->drain_until <= now)
            drain_end(reg, f, false);
        f = next;
    }
}

/* ---- one fan-out */

/* Hand a chain of feeds back to MHD (stopping; reg->mu held). */
static void resume_chain(st_feeds *reg, st_feed *f)
{
    for (st_feed *next; f; f = next) {
        next = f->next;
        f->prev = f->next = NULL;
        f->where = W_NONE;
        f->parked = false;
        MHD_resume_connection(f->conn);
        atomic_fetch_sub(&reg->srv->suspended, 1);
    }
}

/* Park again what a writer kept (reg->mu held): the plain feeds' chain
 * back on the entry's list at once (the caller arms the group once for
 * them); a selector feed armed again at its new position, or straight
 * back to woken when something committed meanwhile. */
static bool repark(st_feeds *reg, st_feed_db *d, fan_slice *sl)
{
    bool again = false;
    if (reg->stopping) {
        resume_chain(reg, sl->keep);
        resume_chain(reg, sl->keep_plain);
        sl->keep = sl->keep_plain = sl->keep_plain_tail = NULL;
        return false;
    }
    if (sl->keep_plain) {
        sl->keep_plain_tail->next = d->plain;
        if (d->plain)
            d->plain->prev = sl->keep_plain_tail;
        d->plain = sl->keep_plain;
    }
    for (st_feed *f = sl->keep, *next; f; f = next) {
        next = f->next;
        f->prev = f->next = NULL;
        bool armed = !f->rewake && st_follow_arm(f->fol);
        f->rewake = false;
        if (armed) {
            f->where = W_WAITING;
            f->next = d->waiters;
            if (d->waiters)
                d->waiters->prev = f;
            d->waiters = f;
        } else {
            f->where = W_WOKEN;
            f->next = d->woken;
            if (d->woken)
                d->woken->prev = f;
            d->woken = f;
            again = true;
        }
    }
    sl->keep = sl->keep_plain = sl->keep_plain_tail = NULL;
    return again;
}

/* Tell the feeds take_next claimed about their rows, then park again
 * those that are still waiting (leftover: feeds the claim array had no
 * room for, handed to MHD).  The writes are shared among the fan-out
 * thread and its helpers. */
static void fan_out(st_feeds *reg, st_feed_db *d, st_feed *leftover)
{
    uint64_t now = st_feed_now_ms();
    uint64_t users_seq = st_users_seq(st_auth_users(reg->srv->auth));
    unsigned writers = reg->n_helpers + 1;
    fan_slice *sl[FAN_THREADS_MAX];
    sl[0] = &reg->main_slice;
    for (unsigned i = 1; i < writers; i++)
        sl[i] = &reg->helpers[i - 1].slice;
    for (unsigned i = 0; i < writers; i++) {
        sl[i]->now = now;
        sl[i]->users_seq = users_seq;
    }
    for (st_feed *f = leftover, *next; f; f = next) {
        next = f->next;
        f->prev = f->next = NULL;
        resume(reg, f);
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
    bool again = false;
    uint64_t want = 0; /* the earliest deadline among the feeds parked again */
    uint64_t lowest = UINT64_MAX; /* the lowest position of a plain feed kept */
    pthread_mutex_lock(&reg->mu);
    for (unsigned i = 0; i < writers; i++) {
        if (sl[i]->keep_wake && (!want || sl[i]->keep_wake < want))
            want = sl[i]->keep_wake;
        if (sl[i]->keep_min < lowest)
            lowest = sl[i]->keep_min;
        again = repark(reg, d, sl[i]) || again;
    }
    /* The group answers for the lowest kept position: a commit after it
     * (during this fan-out) or a wake meanwhile means another round. */
    if (lowest != UINT64_MAX && !reg->stopping && !st_follow_arm_at(d->group, lowest))
        d->fired = true;
    if (d->fired && d->plain)
        again = true;
    if (again)
        st_feed_queue_db(reg, d);
    bool last = st_feed_entry_unref_locked(reg, d); /* fan_main's reference */
    pthread_mutex_unlock(&reg->mu);
    if (last)
        st_feed_entry_destroy(reg, d);
    st_feed_timer_want(reg, want);
}

/* Claim a chain of feeds into reg->fan_arr, marked W_FANOUT (they stay
 * parked); what does not fit (no memory) is returned.  reg->mu held. */
static st_feed *claim(st_feeds *reg, st_feed *f)
{
    for (; f; f = f->next) {
        if (reg->fan_n == reg->fan_cap) {
            size_t ncap = reg->fan_cap ? reg->fan_cap * 2 : 1024;
            st_feed **g = realloc(reg->fan_arr, ncap * sizeof *g);
            if (!g)
                break;
            reg->fan_arr = g;
            reg->fan_cap = ncap;
        }
        f->where = W_FANOUT;
        reg->fan_arr[reg->fan_n++] = f;
    }
    for (st_feed *x = f; x; x = x->next)
        x->where = W_FANOUT;
    return f;
}

/* Take the next queued database's woken feeds into reg->fan_arr, and a
 * reference to its entry; NULL when none is queued.  *found: some were
 * taken; *leftover: those that did not fit. */
static st_feed_db *take_next(st_feeds *reg, bool *found, st_feed **leftover, bool *stopping)
{
    pthread_mutex_lock(&reg->mu);
    *stopping = reg->stopping;
    st_feed_db *d = reg->fan_q;
    *found = false;
    *leftover = NULL;
    reg->fan_n = 0;
    if (d) {
        reg->fan_q = d->fan_next;
        if (!reg->fan_q)
            reg->fan_q_tail = NULL;
        d->fan_queued = false;
        if (!*stopping && (d->woken || (d->fired && d->plain))) {
            /* The woken selector feeds, and (the group fired) every plain one:
             * one walk, which is the claim. */
            st_feed *sel = d->woken, *plain = NULL;
            d->woken = NULL;
            if (d->fired) {
                plain = d->plain;
                d->plain = NULL;
                d->fired = false;
            }
            st_feed *rest = claim(reg, sel), *more = claim(reg, plain);
            if (rest) { /* no memory for the array: rare, a walk is fine */
                st_feed *t = rest;
                while (t->next)
                    t = t->next;
                t->next = more;
            } else {
                rest = more;
            }
            *leftover = rest;
            *found = true;
            d->refs++;
        }
    }
    pthread_mutex_unlock(&reg->mu);
    return d;
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
            bool found;
            st_feed *leftover;
            st_feed_db *d = take_next(reg, &found, &leftover, &stopping);
            if (!d)
                break;
            if (found)
                fan_out(reg, d, leftover);
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

/* ---- start and stop */

static bool mhd_direct_ok(void)
{
    const char *env = getenv("SETTEE_FEED_DIRECT");
    if (env && strcmp(env, "0") == 0)
        return false;
    const char *v = MHD_get_version();
    unsigned a = 0, b = 0, c = 0;
    if (!v || sscanf(v, "%u.%u.%u", &a, &b, &c) != 3)
        return false;
    return a == 0 && b == 9 && c >= 50 && c <= 75;
}

st_status st_feed_fanout_start(st_feeds *reg, st_error *err)
{
    reg->direct_ok = mhd_direct_ok();
    if (!reg->direct_ok)
        st_log(ST_LOG_NOTICE, "libmicrohttpd %s: change feeds are resumed one by one "
               "(direct writes are checked with 0.9.50 to 0.9.75, and SETTEE_FEED_DIRECT=0 "
               "turns them off)", MHD_get_version());
    reg->fan_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    reg->fan_ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (reg->fan_efd < 0 || reg->fan_ep < 0 ||
        epoll_ctl(reg->fan_ep, EPOLL_CTL_ADD, reg->fan_efd, &ev) != 0)
        return st_fail(err, ST_E_IO, "eventfd/epoll: %s", strerror(errno));
    pthread_mutex_init(&reg->fh_mu, NULL);
    pthread_cond_init(&reg->fh_go, NULL);
    pthread_cond_init(&reg->fh_done, NULL);
    atomic_init(&reg->fan_stop, false);
    if (pthread_create(&reg->fan, NULL, fan_main, reg) != 0)
        return st_fail(err, ST_E_IO, "cannot start the feed fan-out thread");
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
    return ST_OK;
}

void st_feed_fanout_stop(st_feeds *reg)
{
    if (reg->fan_started) {
        atomic_store(&reg->fan_stop, true);
        st_feed_poke_fd(reg->fan_efd);
        pthread_join(reg->fan, NULL);
        reg->fan_started = false;
    }
    pthread_mutex_lock(&reg->fh_mu);
    reg->fh_stop = true;
    pthread_cond_broadcast(&reg->fh_go);
    pthread_mutex_unlock(&reg->fh_mu);
    for (unsigned i = 0; i < reg->n_helpers; i++) {
        pthread_join(reg->helpers[i].t, NULL);
        st_buf_free(&reg->helpers[i].slice.chunk);
    }
    reg->n_helpers = 0;
    st_buf_free(&reg->main_slice.chunk);
    free(reg->fan_arr);
    reg->fan_arr = NULL;
    if (reg->fan_efd >= 0)
        close(reg->fan_efd);
    if (reg->fan_ep >= 0)
        close(reg->fan_ep);
    pthread_mutex_destroy(&reg->fh_mu);
    pthread_cond_destroy(&reg->fh_go);
    pthread_cond_destroy(&reg->fh_done);
}
