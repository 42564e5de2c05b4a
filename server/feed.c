/* feed.c — _changes feeds over suspended connections: the libmicrohttpd
 * glue (see feed.h and feed_int.h for the parts).
 *
 * Why suspend/resume instead of a thread or a blocking wait per feed: the
 * target is 10,000 open listeners on two cores.  A waiting feed is a parked
 * MHD connection (a socket and its small memory pool) on an armed change
 * follower (its database's group follower, or its own for a selector
 * feed); nothing polls it.  A commit calls the follower's wake, which only
 * queues the feeds for the fan-out.
 *
 * A feed reads from its own position, one bounded batch per read callback
 * (st_follow_read: the ring when it covers the position and the feed asks
 * only for what the ring holds, storage otherwise), so a slow listener
 * costs its socket buffer and one batch.
 *
 * The lost-wakeup race: a feed reads, finds nothing, then parks.  It arms
 * the follower (st_follow_arm_at its position, for the group) and parks
 * under the registry lock; the wake takes the same lock, and arming fails
 * (read again) when something committed after the read.  Nothing is
 * missed in between.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "access.h"
#include "auth.h"
#include "feed_int.h"
#include "log.h"
#include "st_selector.h"
#include "users_db.h"

st_status st_feeds_new(st_server *srv, st_feeds **out, st_error *err)
{
    st_feeds *reg = calloc(1, sizeof *reg);
    if (!reg)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    reg->srv = srv;
    reg->fan_efd = reg->fan_ep = -1;
    pthread_mutex_init(&reg->mu, NULL);
    atomic_init(&reg->timer_stop, false);
    atomic_init(&reg->timer_wake, st_feed_now_ms() + TIMER_MAX_SLEEP_MS);
    atomic_init(&reg->dead, NULL);
    reg->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    st_status st = reg->efd < 0 ? st_fail(err, ST_E_IO, "eventfd failed") : ST_OK;
    if (st == ST_OK)
        st = st_feed_timer_start(reg, err);
    if (st == ST_OK)
        st = st_feed_fanout_start(reg, err);
    if (st != ST_OK) {
        st_feeds_free(reg);
        return st;
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
    for (st_feed_db *d = reg->dbs; d; d = d->next) {
        while (d->plain)
            st_feed_unpark(d->plain);
        while (d->waiters)
            st_feed_unpark(d->waiters);
        while (d->woken)
            st_feed_unpark(d->woken);
    }
    pthread_mutex_unlock(&reg->mu);
    if (reg->fan_efd >= 0)
        st_feed_poke_fd(reg->fan_efd); /* it hands back what it holds */
}

void st_feeds_free(st_feeds *reg)
{
    if (!reg)
        return;
    st_feed_fanout_stop(reg);
    st_feed_timer_stop(reg); /* releases what MHD freed */
    /* Entries whose feeds MHD never released (should be none). */
    while (reg->dbs) {
        st_feed_db *d = reg->dbs;
        reg->dbs = d->next;
        st_feed_entry_destroy(reg, d);
    }
    if (reg->efd >= 0)
        close(reg->efd);
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

/* ---- producing output (MHD's read callback) */

static int row_cb(void *ctx, const st_change_row *row)
{
    st_feed *f = ctx;
    if (!st_feed_put_row(f, row)) {
        f->row_failed = true;
        return 1;
    }
    return 0;
}

/* Read the next batch into f->out. */
static st_status read_batch(st_feed *f, st_changes_opts *o, uint64_t *last, uint64_t *pending,
                            st_error *e)
{
    if (!f->fol || o->descending) {
        o->since = f->since;
        return st_db_changes(f->db, o, row_cb, f, last, pending, e);
    }
    if (st_follow_since(f->fol) != f->since) /* the fan-out moved the feed */
        st_follow_seek(f->fol, f->since);
    st_follow_batch b;
    st_status s = st_follow_read(f->fol, o, row_cb, f, &b, e);
    if (s == ST_OK) {
        *last = b.last_seq;
        *pending = b.pending;
        f->since = st_follow_since(f->fol);
    }
    return s;
}

enum { P_MORE, P_WAIT, P_ERROR };

/* Nothing new: end, beat, or park (see the file comment). */
static int idle(st_feed *f, uint64_t last)
{
    st_feeds *reg = f->reg;
    bool envelope = st_feed_envelope(f);
    if (f->type == ST_FEED_NORMAL || f->opts.descending ||
        (f->limit_set && f->remaining == 0 && envelope))
        return st_feed_finish(f) == ST_OK ? P_MORE : P_ERROR;
    (void)last;
    uint64_t now = st_feed_now_ms();
    if (atomic_load(&reg->timer_stop))
        return st_feed_finish(f) == ST_OK ? P_MORE : P_ERROR;
    if (f->heartbeat_ms && now >= f->next_beat) {
        f->next_beat = now + f->heartbeat_ms;
        return st_feed_heartbeat(f) == ST_OK ? P_MORE : P_ERROR;
    }
    if (!f->heartbeat_ms && f->end_at && now >= f->end_at)
        return st_feed_finish(f) == ST_OK ? P_MORE : P_ERROR;
    if (!envelope && !f->sent_any && f->type == ST_FEED_CONTINUOUS) {
        /* One early newline so the client sees the headers (CouchDB #2240). */
        f->sent_any = true;
        return st_buf_addc(&f->out, '\n') == ST_OK ? P_MORE : P_ERROR;
    }
    pthread_mutex_lock(&reg->mu);
    if (reg->stopping) {
        pthread_mutex_unlock(&reg->mu);
        return st_feed_finish(f) == ST_OK ? P_MORE : P_ERROR;
    }
    uint64_t deadline = f->heartbeat_ms ? f->next_beat : f->end_at;
    f->deadline = deadline;
    if (!st_feed_park(f)) { /* a commit (or the deletion) raced the read */
        pthread_mutex_unlock(&reg->mu);
        return P_MORE;
    }
    atomic_fetch_add(&reg->srv->suspended, 1);
    MHD_suspend_connection(f->conn);
    pthread_mutex_unlock(&reg->mu);
    /* f now belongs to the registry (the fan-out thread may write to it):
     * touch nothing of it from here on. */
    st_feed_timer_want(reg, deadline);
    return P_WAIT;
}

static uint64_t current_users_seq(const st_feed *f)
{
    return st_users_seq(st_auth_users(f->reg->srv->auth));
}

bool st_feed_allowed(st_feed *f)
{
    if (!st_feed_stale_at(f, f->users_tracked ? current_users_seq(f) : 0))
        return true;
    st_error e;
    bool refresh = atomic_exchange(&f->recheck, false);
    if (f->users_tracked) {
        uint64_t seq = current_users_seq(f);
        refresh = refresh || seq != f->users_seq;
        f->users_seq = seq; /* read before the refresh: a later change is seen next time */
    }
    if (refresh && st_auth_refresh(f->reg->srv->auth, &f->who, &e) == ST_E_NOT_FOUND) {
        st_identity_clear(&f->who); /* the user is gone: anonymous from now on */
        f->users_tracked = false;
    }
    f->sec_gen = st_db_security_gen(f->db);
    st_security *sec = st_db_security(f->db);
    st_user_ctx u = st_identity_ctx(&f->who);
    bool ok = st_access_is_member(sec, &u) && (!f->lister || st_user_is_server_admin(&u));
    st_security_release(sec);
    return ok;
}

static int produce(st_feed *f)
{
    bool envelope = st_feed_envelope(f);
    if (!st_feed_allowed(f)) {
        st_log(ST_LOG_INFO, "changes feed on %s: its reader lost access; ending it",
               st_db_name(f->db));
        if (f->phase == PH_START && envelope && st_buf_adds(&f->out, "{\"results\":[\n") != ST_OK)
            return P_ERROR;
        f->phase = PH_RUN;
        return st_feed_finish(f) == ST_OK ? P_MORE : P_ERROR;
    }
    if (f->phase == PH_START) {
        f->phase = PH_RUN;
        if (envelope)
            return st_buf_adds(&f->out, "{\"results\":[\n") == ST_OK ? P_MORE : P_ERROR;
    }
    st_changes_opts o = f->opts;
    o.limit = FEED_BATCH;
    if (f->limit_set && envelope && f->remaining < o.limit)
        o.limit = f->remaining;
    if (o.descending)
        o.limit = f->limit_set ? f->remaining : UINT64_MAX;
    f->rows = 0;
    f->row_failed = false;
    uint64_t last = 0, pending = 0;
    st_error e;
    if (read_batch(f, &o, &last, &pending, &e) != ST_OK) {
        st_log(e.code == ST_E_NOT_FOUND ? ST_LOG_INFO : ST_LOG_ERROR, "changes feed on %s: %s",
               st_db_name(f->db), e.reason);
        return P_ERROR;
    }
    if (f->row_failed) {
        st_log(ST_LOG_ERROR, "changes feed on %s: out of memory", st_db_name(f->db));
        return P_ERROR;
    }
    if (f->filter_failed && f->filter_failed(f->opts.filter_ctx))
        return P_ERROR; /* the filter function threw: the stream ends cut */
    f->last_seq = last;
    f->pending = pending;
    if (f->rows > 0) {
        if (!o.descending && !f->fol)
            f->since = f->row_seq;
        if (f->limit_set && envelope)
            f->remaining = f->remaining > f->rows ? f->remaining - f->rows : 0;
        f->sent_any = true;
        if (f->heartbeat_ms)
            f->next_beat = st_feed_now_ms() + f->heartbeat_ms;
        if (envelope && (o.descending || f->rows < o.limit || (f->limit_set && f->remaining == 0)))
            return st_feed_finish(f) == ST_OK ? P_MORE : P_ERROR;
        return P_MORE;
    }
    if (!o.descending && !f->fol && last > f->since)
        f->since = last; /* the range held only rows the filter dropped */
    return idle(f, last);
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

/* MHD's free callback for the feed's response.  MHD may call it before or
 * after the request's completion callback, so each holds a reference. */
static void feed_free_cb(void *cls)
{
    st_feed_unref(cls);
}

/* A waiting feed: an entry in the registry and a follower at its cursor. */
static bool attach(st_req *r, st_feed *f, st_db *db, st_error *e)
{
    f->db = NULL; /* the entry takes the reference */
    f->fdb = st_feed_attach(f->reg, db, e);
    if (!f->fdb)
        return false;
    f->db = f->fdb->db;
    (void)r;
    if (f->selector)
        return st_follow_open_selector(f->db, f->since, f->selector, f->opts.removed,
                                       st_feed_woken, f, &f->fol, e) == ST_OK;
    return st_follow_open(f->db, f->since, st_feed_woken, f, &f->fol, e) == ST_OK;
}

static bool respond(st_req *r, st_feed *f)
{
    atomic_init(&f->refs, 2); /* the response's and the request's */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, FEED_BLOCK,
                                                                  feed_read, f, feed_free_cb);
    if (!resp)
        return false;
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
    return true;
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
        st_selector_free(p->selector);
        p->selector = NULL;
        if (p->filter_free)
            p->filter_free(p->opts.filter_ctx);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    f->reg = reg;
    f->conn = r->conn;
    f->req = r;
    f->fd = -1;
    /* The fast path writes HTTP/1.1 chunks: only where MHD chunks too, and
     * never on TLS, where the socket carries records only GnuTLS may write. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (reg->direct_ok && !r->tls && ci && ci->connect_fd != MHD_INVALID_SOCKET &&
        st_req_chunked_reply(r))
        f->fd = ci->connect_fd;
    f->type = p->type;
    f->opts = p->opts;
    f->filter_free = p->filter_free;
    f->filter_failed = p->filter_failed;
    f->doc_ids = p->doc_ids;
    f->n_doc_ids = p->n_doc_ids;
    p->doc_ids = NULL;
    p->n_doc_ids = 0;
    if (f->doc_ids) {
        f->opts.doc_ids = (const char *const *)f->doc_ids;
        f->opts.n_doc_ids = f->n_doc_ids;
    }
    f->selector = p->selector;
    p->selector = NULL;
    f->opts.selector = f->selector;
    f->opts.removed = f->selector && p->removed;
    f->limit_set = p->limit_set;
    f->remaining = p->opts.limit == 0 ? 1 : p->opts.limit;
    f->fast_path = st_feed_fast_ok(f);
    f->heartbeat_ms = p->heartbeat_ms;
    f->timeout_ms = p->timeout_ms;
    st_buf_init(&f->out, 0);
    uint64_t now = st_feed_now_ms();
    f->next_beat = f->heartbeat_ms ? now + f->heartbeat_ms : 0;
    f->end_at = f->timeout_ms ? now + f->timeout_ms : 0;
    f->since = p->opts.since;
    f->db = db;
    f->sec_gen = st_db_security_gen(db);
    atomic_init(&f->recheck, false);
    f->lister = st_usersdb_is(r->srv, st_db_name(db));
    if (st_identity_copy(&f->who, &r->who) != ST_OK) {
        st_feed_release(f);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    /* users_seq 0: the first batch refreshes the roles, which closes the
     * window between the request's authentication and this point. */
    f->users_tracked = f->who.name && f->who.how && strcmp(f->who.how, "proxy") != 0 &&
                       strcmp(f->who.how, "jwt") != 0;
    f->users_seq = 0;
    if (p->since_now) {
        st_db_info info;
        if (st_db_info_get(db, &info, &e) != ST_OK) {
            st_feed_release(f);
            st_resp_status(r, &e);
            return;
        }
        f->since = info.update_seq;
    }
    bool waits = f->type != ST_FEED_NORMAL && !f->opts.descending;
    if ((waits && !attach(r, f, db, &e)) || !respond(r, f)) {
        st_feed_release(f);
        if (e.code == ST_OK)
            st_fail(&e, ST_E_NOMEM, "out of memory");
        st_resp_status(r, &e);
    }
}

void st_feed_detach_req(st_feed *f)
{
    if (!f)
        return;
    f->req = NULL;
    st_feed_unref(f);
}
