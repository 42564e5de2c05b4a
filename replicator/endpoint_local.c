/* endpoint_local.c — a replication endpoint that is a database on this
 * machine, called straight through core: typed values in and out, no JSON
 * but the _local checkpoint documents (which are JSON by nature).
 *
 * Reads (changes, revs_diff, get_revs, checkpoints) run on the loop thread
 * (core reads are short and never wait for writers) and post their answer
 * as a deferred call, so callers see the same asynchronous contract as over
 * HTTP.  Writes go to core's own writer without waiting
 * (st_db_write_revs_async, st_db_write_async): while SQLite commits, the
 * loop keeps reading the next batches, and writes queued together share
 * one commit.  Core finishes a write on its writer thread; the completion
 * only queues the call under mu and wakes the loop, whose hook answers it.
 *
 * A longpoll with nothing new is parked on an st_follower: the follower's
 * wake (a core thread: a commit through this process, or the poller having
 * seen another process's commit) sets a flag and wakes the loop, and the
 * hook reads again.  Arming comes after a read that found nothing, and a
 * false arm (something committed meanwhile) means read again, so no commit
 * is slept through.  A timer answers with no rows after timeout_ms.
 */
#include "endpoint.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_filter.h"
#include "st_follow.h"
#include "st_selector.h"

typedef struct lop lop;

typedef struct local_ep {
    st_ep base;
    char *path;               /* NULL when the db was borrowed */
    st_db *db;                /* open database, NULL until first use */
    bool owned;               /* we opened db and must close it */
    bool hooked;              /* on_hook is on the loop */
    st_follower *fol;         /* opened by the first longpoll */
    atomic_bool woken;        /* set by the follower's wake, cleared by the hook */
    lop *ops;                 /* calls to answer on the loop (deferred or parked) */
    /* Writes in core, shared with core's writer thread under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* inflight went down */
    unsigned inflight;        /* writes queued in core, not finished */
    lop *done;                /* writes core finished, newest first */
} local_ep;

/* A changes query, kept while a longpoll is parked. */
typedef struct chg_query {
    uint64_t since;
    unsigned limit;
    char **doc_ids;           /* owned copies */
    size_t n_doc_ids;
    st_selector *sel;         /* filter=_selector, compiled (owned); NULL: none */
    st_filter *filt;          /* a filter by name (owned); NULL: none */
} chg_query;

/* One pending call. */
struct lop {
    lop *next;
    local_ep *ep;
    st_timer timer;           /* deferred answer, or the longpoll timeout */
    st_ep_cb cb;
    void *ctx;
    st_ep_reply reply;
    bool parked;              /* a longpoll waiting for a change */
    chg_query q;
    /* A write in core: what it points to lives here until it is answered. */
    st_json_doc *local_doc;   /* put_local */
    char *local_id;
    st_write_req wreq;
    st_write_result *results; /* n_results, always initialised by core */
    size_t n_results;
    bool revs;                /* write_revs (else put_local) */
    st_status core_st;        /* what core's completion said */
    st_error core_err;
};

static void on_hook(void *ctx);

/* ------------------------------------------------------------ pending calls */

static void lop_unlink(local_ep *e, lop *o)
{
    for (lop **pp = &e->ops; *pp; pp = &(*pp)->next) {
        if (*pp == o) {
            *pp = o->next;
            return;
        }
    }
}

static void lop_free(lop *o)
{
    st_ep_reply_clear(&o->reply);
    if (o->results)
        st_write_results_free(o->results, o->n_results);
    free(o->results);
    free(o->local_id);
    st_json_doc_free(o->local_doc);
    for (size_t i = 0; i < o->q.n_doc_ids; i++)
        free(o->q.doc_ids[i]);
    free(o->q.doc_ids);
    st_selector_free(o->q.sel);
    st_filter_free(o->q.filt);
    free(o);
}

static void lop_fire(void *arg)
{
    lop *o = arg;
    lop_unlink(o->ep, o);
    o->cb(o->ctx, &o->reply);
    lop_free(o);
}

/* Answer o on the next loop iteration. */
static void lop_post(lop *o) { st_loop_defer(o->ep->base.loop, &o->timer, lop_fire, o); }

static void lop_fail(lop *o, const st_error *err)
{
    st_ep_reply_clear(&o->reply);
    st_ep_reply_fail(&o->reply, err);
    lop_post(o);
}

static void lop_ok(lop *o, int http_status)
{
    o->reply.st = ST_OK;
    o->reply.http_status = http_status;
    lop_post(o);
}

static void lop_oom(lop *o)
{
    st_error err;
    st_fail(&err, ST_E_NOMEM, "out of memory");
    lop_fail(o, &err);
}

static st_status open_db(local_ep *e, bool create, st_error *err)
{
    if (e->db)
        return ST_OK;
    st_db_options o;
    st_db_options_init(&o);
    o.create = create;
    /* The database name is the file name without its directory or extension. */
    const char *base = strrchr(e->path, '/');
    base = base ? base + 1 : e->path;
    char name[256];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    st_status st = st_db_open(e->path, name, &o, &e->db, err);
    if (st == ST_E_NOT_FOUND)
        return st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
    if (st != ST_OK)
        return st;
    e->owned = true;
    return ST_OK;
}

/* A new call; NULL when it was answered already (out of memory, or the
 * database it needs cannot be opened). */
static lop *start(local_ep *e, st_ep_cb cb, void *ctx, bool need_db)
{
    st_error err;
    st_error_clear(&err);
    lop *o = calloc(1, sizeof *o);
    if (!o) {
        /* Nothing could be queued: answering on the spot is the only way
         * left, the contract's "never inside the call" bent for this case. */
        st_ep_reply r = {0};
        st_fail(&err, ST_E_NOMEM, "out of memory");
        st_ep_reply_fail(&r, &err);
        cb(ctx, &r);
        return NULL;
    }
    o->ep = e;
    o->cb = cb;
    o->ctx = ctx;
    o->next = e->ops;
    e->ops = o;
    if (!e->hooked) {
        if (st_loop_hook_add(e->base.loop, on_hook, e, &err) != ST_OK) {
            lop_fail(o, &err);
            return NULL;
        }
        e->hooked = true;
    }
    if (need_db && open_db(e, false, &err) != ST_OK) {
        lop_fail(o, &err);
        return NULL;
    }
    return o;
}

/* -------------------------------------------------------- writes in core */

/* Core's completion, on its writer thread: hand o back to the loop. */
static void on_core_done(void *ctx, st_status st, const st_error *err)
{
    lop *o = ctx;
    local_ep *e = o->ep;
    o->core_st = st;
    if (err)
        o->core_err = *err;
    pthread_mutex_lock(&e->mu);
    o->next = e->done;
    e->done = o;
    e->inflight--;
    /* Still under mu: once cancel_all sees inflight reach 0 the loop may
     * be freed, so the wakeup must come before it can look. */
    st_loop_wakeup(e->base.loop);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* Take o off the loop's list: core owns it until it is finished. */
static void to_core(local_ep *e, lop *o)
{
    lop_unlink(e, o);
    o->next = NULL;
    pthread_mutex_lock(&e->mu);
    e->inflight++;
    pthread_mutex_unlock(&e->mu);
}

/* A submission core refused (nothing queued, no completion will come). */
static void core_refused(local_ep *e, lop *o, const st_error *err)
{
    pthread_mutex_lock(&e->mu);
    e->inflight--;
    pthread_mutex_unlock(&e->mu);
    o->next = e->ops;
    e->ops = o;
    lop_fail(o, err);
}

/* The answer of a finished write_revs: the documents core refused. */
static void answer_revs(lop *o)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n_results; i++)
        n += o->results[i].err.code != ST_OK;
    st_ep_written *w = st_ep_answer_new(st_ep_written);
    if (w && n)
        w->fails = st_arena_alloc(w->arena, n * sizeof *w->fails);
    for (size_t i = 0; w && w->fails && i < o->n_results; i++) {
        const st_error *re = &o->results[i].err;
        if (re->code == ST_OK)
            continue;
        st_ep_write_fail *f = &w->fails[w->n++];
        f->index = i;
        f->code = re->code;
        f->error = st_status_name(re->code);
        if (!(f->reason = st_arena_strdup(w->arena, re->reason)))
            f->reason = "";
    }
    if (!w || (n && !w->fails)) {
        if (w)
            st_arena_free(w->arena);
        st_error err;
        st_fail(&err, ST_E_NOMEM, "out of memory");
        st_ep_reply_fail(&o->reply, &err);
        return;
    }
    o->reply.written = w;
    o->reply.st = ST_OK;
    o->reply.http_status = 201;
}

static void answer_write(lop *o)
{
    if (o->core_st != ST_OK) {
        st_ep_reply_fail(&o->reply, &o->core_err);
    } else if (o->revs) {
        answer_revs(o);
    } else if (o->results[0].err.code != ST_OK) {
        st_ep_reply_fail(&o->reply, &o->results[0].err);
    } else {
        o->reply.st = ST_OK;
        o->reply.http_status = 201;
    }
}

/* Loop thread: answer the writes core finished, in the order they did. */
static void drain_writes(local_ep *e)
{
    pthread_mutex_lock(&e->mu);
    lop *done = e->done;
    e->done = NULL;
    pthread_mutex_unlock(&e->mu);
    lop *fifo = NULL;
    while (done) {
        lop *o = done;
        done = o->next;
        o->next = fifo;
        fifo = o;
    }
    while (fifo) {
        lop *o = fifo;
        fifo = o->next;
        answer_write(o);
        o->cb(o->ctx, &o->reply);
        lop_free(o);
    }
}

/* -------------------------------------------------------------- info etc. */

static void l_info(st_ep *ep, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_error err;
    st_db_info info;
    if (st_db_info_get(e->db, &info, &err) != ST_OK) {
        lop_fail(o, &err);
        return;
    }
    snprintf(ep->uuid, sizeof ep->uuid, "%s", info.uuid);
    lop_ok(o, 200);
}

static void l_create(st_ep *ep, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, false);
    if (!o)
        return;
    st_error err;
    if (open_db(e, true, &err) != ST_OK)
        lop_fail(o, &err);
    else
        lop_ok(o, 201);
}

static void l_get_local(st_ep *ep, const char *id, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_error err;
    st_buf b = ST_BUF_INIT;
    st_status st = st_db_local_get(e->db, id, &b, &err);
    if (st == ST_OK)
        st = st_json_parse(b.data, b.len, NULL, &o->reply.json, &err);
    if (st == ST_OK)
        lop_ok(o, 200);
    else
        lop_fail(o, &err);
    st_buf_free(&b);
}

static void l_get_doc(st_ep *ep, const char *id, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_error err;
    st_buf b = ST_BUF_INIT;
    st_status st = st_db_get(e->db, id, NULL, &b, &err);
    if (st == ST_OK)
        st = st_json_parse(b.data, b.len, NULL, &o->reply.json, &err);
    if (st == ST_OK)
        lop_ok(o, 200);
    else
        lop_fail(o, &err);
    st_buf_free(&b);
}

static void l_put_local(st_ep *ep, const char *id, const char *json, size_t n, st_ep_cb cb,
                        void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_error err;
    if (st_json_parse(json, n, NULL, &o->local_doc, &err) != ST_OK) {
        lop_fail(o, &err);
        return;
    }
    o->local_id = strdup(id);
    o->results = calloc(1, sizeof *o->results);
    if (!o->local_id || !o->results) {
        lop_oom(o);
        return;
    }
    o->n_results = 1;
    /* No _rev: a checkpoint overwrites whatever is there, as CouchDB allows
     * for _local docs; the replication is the only writer of its id. */
    o->wreq.doc = st_json_doc_root(o->local_doc);
    o->wreq.id = o->local_id;
    to_core(e, o);
    if (st_db_write_async(e->db, &o->wreq, 1, 0, o->results, on_core_done, o, &err) != ST_OK)
        core_refused(e, o, &err);
}

static void l_ensure_full_commit(st_ep *ep, st_ep_cb cb, void *ctx)
{
    /* Every core write is committed before it is answered: nothing to flush. */
    lop *o = start((local_ep *)ep, cb, ctx, true);
    if (o)
        lop_ok(o, 201);
}

/* --------------------------------------------------------------- changes */

typedef struct chg_ctx {
    st_ep_changes *c;
    size_t cap;
    bool oom;
} chg_ctx;

static int chg_row(void *ctx, const st_change_row *row)
{
    chg_ctx *k = ctx;
    st_ep_changes *c = k->c;
    if (c->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        st_ep_change *rows = st_arena_alloc(c->arena, cap * sizeof *rows);
        if (!rows)
            return k->oom = true;
        if (c->n)
            memcpy(rows, c->rows, c->n * sizeof *rows);
        c->rows = rows;
        k->cap = cap;
    }
    st_ep_change *ch = &c->rows[c->n];
    const char **revs = st_arena_alloc(c->arena, (row->n_revs ? row->n_revs : 1) * sizeof *revs);
    ch->id = st_arena_strdup(c->arena, row->id);
    if (!revs || !ch->id)
        return k->oom = true;
    for (size_t i = 0; i < row->n_revs; i++)
        if (!(revs[i] = st_arena_strdup(c->arena, row->revs[i])))
            return k->oom = true;
    ch->seq.n = row->seq;
    ch->revs = revs;
    ch->n_revs = row->n_revs;
    ch->deleted = row->deleted;
    c->n++;
    return 0;
}

/* Read the rows of q into o's reply (through the follower when follow). */
static st_status run_changes(local_ep *e, lop *o, bool follow, st_error *err)
{
    st_ep_reply_clear(&o->reply);
    st_ep_changes *c = st_ep_answer_new(st_ep_changes);
    if (!c)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_changes_opts co;
    st_changes_opts_init(&co);
    co.since = o->q.since;
    co.limit = o->q.limit ? o->q.limit : UINT64_MAX;
    co.all_docs = true;
    co.doc_ids = (const char *const *)o->q.doc_ids;
    co.n_doc_ids = o->q.n_doc_ids;
    co.selector = o->q.sel; /* core matches each winner, as filter=_selector does */
    if (o->q.filt) {
        co.filter = st_filter_match;
        co.filter_ctx = o->q.filt;
        co.filter_needs_doc = st_filter_needs_doc(o->q.filt);
    }
    chg_ctx k = {c, 0, false};
    uint64_t last = 0, pending = 0;
    st_status st;
    if (follow) {
        st_follow_batch fb;
        st_follow_seek(e->fol, o->q.since);
        st = st_follow_read(e->fol, &co, chg_row, &k, &fb, err);
        last = fb.last_seq;
        pending = fb.pending;
    } else {
        st = st_db_changes(e->db, &co, chg_row, &k, &last, &pending, err);
        /* No rows: the db's update_seq, unless we were asked from beyond it. */
        if (!c->n && last < co.since)
            last = co.since;
    }
    if (st == ST_OK && k.oom)
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    /* A function that threw (or its process failed) fails the read, as the
     * feed of a CouchDB source ends with the error. */
    if (st == ST_OK && o->q.filt && st_filter_failed(o->q.filt, err))
        st = err->code;
    if (st != ST_OK) {
        st_arena_free(c->arena);
        return st;
    }
    c->last_seq.n = last;
    c->pending = pending;
    c->has_pending = true;
    o->reply.changes = c;
    o->reply.st = ST_OK;
    o->reply.http_status = 200;
    return ST_OK;
}

static void wake(void *ctx)
{
    local_ep *e = ctx;
    atomic_store(&e->woken, true);
    st_loop_wakeup(e->base.loop);
}

static void park_timeout(void *arg)
{
    lop *o = arg;
    o->parked = false;
    lop_fire(o); /* the reply holds the empty result */
}

/* A parked or parking longpoll: read; rows (or an error) answer it, none
 * arm the follower.  false: o was answered. */
static bool poll_again(local_ep *e, lop *o)
{
    st_error err;
    for (;;) {
        if (run_changes(e, o, true, &err) != ST_OK) {
            o->parked = false;
            st_loop_timer_stop(e->base.loop, &o->timer);
            lop_fail(o, &err);
            return false;
        }
        if (o->reply.changes->n) {
            o->parked = false;
            st_loop_timer_stop(e->base.loop, &o->timer);
            lop_post(o);
            return false;
        }
        o->q.since = st_follow_since(e->fol);
        if (st_follow_arm(e->fol))
            return true;
    }
}

static void on_hook(void *ctx)
{
    local_ep *e = ctx;
    drain_writes(e);
    if (!atomic_exchange(&e->woken, false))
        return;
    lop *next;
    for (lop *o = e->ops; o; o = next) {
        next = o->next;
        if (o->parked)
            poll_again(e, o);
    }
}

static bool copy_query(lop *o, const st_ep_changes_req *req)
{
    const char *s = req->since.json;
    if (s) {
        /* A seq that was not ours: count leading digits, as a string
         * "42" or CouchDB's "42-g1AA..." would name. */
        if (*s == '"')
            s++;
        o->q.since = strtoull(s, NULL, 10);
    } else {
        o->q.since = req->since.n;
    }
    o->q.limit = req->limit;
    if (!req->n_doc_ids)
        return true;
    if (!(o->q.doc_ids = calloc(req->n_doc_ids, sizeof *o->q.doc_ids)))
        return false;
    for (size_t i = 0; i < req->n_doc_ids; i++) {
        if (!(o->q.doc_ids[i] = strdup(req->doc_ids[i])))
            return false;
        o->q.n_doc_ids++;
    }
    return true;
}

static void l_changes(st_ep *ep, const st_ep_changes_req *req, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_error err;
    if (req->selector) {
        st_json_doc *d = NULL;
        st_status st = st_json_parse(req->selector, strlen(req->selector), NULL, &d, &err);
        if (st == ST_OK)
            st = st_selector_compile(st_json_doc_root(d), &o->q.sel, &err);
        st_json_doc_free(d);
        if (st != ST_OK) {
            lop_fail(o, &err);
            return;
        }
    }
    if (req->filter) {
        /* Read once per call: a design document changed meanwhile is the
         * one the next batch runs. */
        st_json_doc *qp = NULL;
        st_status st = ST_OK;
        if (req->query_params)
            st = st_json_parse(req->query_params, strlen(req->query_params), NULL, &qp, &err);
        if (st == ST_OK)
            st = st_filter_open(e->db, req->qs, req->filter, qp ? st_json_doc_root(qp) : NULL, NULL,
                                NULL, &o->q.filt, &err);
        st_json_doc_free(qp);
        if (st != ST_OK) {
            lop_fail(o, &err);
            return;
        }
    }
    if (!copy_query(o, req)) {
        lop_oom(o);
        return;
    }
    if (!req->longpoll) {
        if (run_changes(e, o, false, &err) != ST_OK)
            lop_fail(o, &err);
        else
            lop_post(o);
        return;
    }
    if (!e->fol && st_follow_open(e->db, o->q.since, wake, e, &e->fol, &err) != ST_OK) {
        lop_fail(o, &err);
        return;
    }
    if (poll_again(e, o)) {
        o->parked = true;
        st_loop_timer_start(ep->loop, &o->timer, req->timeout_ms, park_timeout, o);
    }
}

/* ------------------------------------------------------------- revs_diff */

typedef struct diff_ctx {
    st_ep_missing *m;
    const st_rep_diff *diffs;
    bool oom;
} diff_ctx;

static int missing_row(void *ctx, size_t index, const char *const *missing, size_t n_missing,
                       const char *const *ancestors, size_t n_ancestors)
{
    diff_ctx *k = ctx;
    st_arena *a = k->m->arena;
    st_ep_missing_row *row = &k->m->rows[k->m->n];
    const char **v = st_arena_alloc(a, (n_missing + n_ancestors + 1) * sizeof *v);
    if (!v || !(row->id = st_arena_strdup(a, k->diffs[index].id)))
        return k->oom = true;
    for (size_t i = 0; i < n_missing + n_ancestors; i++) {
        const char *s = i < n_missing ? missing[i] : ancestors[i - n_missing];
        if (!(v[i] = st_arena_strdup(a, s)))
            return k->oom = true;
    }
    row->missing = v;
    row->n_missing = n_missing;
    row->ancestors = v + n_missing;
    row->n_ancestors = n_ancestors;
    k->m->n++;
    return 0;
}

static void l_revs_diff(st_ep *ep, const st_rep_diff *diffs, size_t n, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_ep_missing *m = st_ep_answer_new(st_ep_missing);
    if (m && n && !(m->rows = st_arena_alloc(m->arena, n * sizeof *m->rows))) {
        st_arena_free(m->arena);
        m = NULL;
    }
    if (!m) {
        lop_oom(o);
        return;
    }
    o->reply.missing = m;
    st_error err;
    diff_ctx k = {m, diffs, false};
    if (st_db_revs_missing(e->db, diffs, n, missing_row, &k, &err) != ST_OK)
        lop_fail(o, &err);
    else if (k.oom)
        lop_oom(o);
    else
        lop_ok(o, 200);
}

/* -------------------------------------------------------------- get_revs */

typedef struct read_ctx {
    st_ep_docs *d;
    size_t cap;
    bool oom;
} read_ctx;

/* Copy one attachment (bytes too, when it has them) into the answer. */
static bool copy_att(st_arena *a, const st_rep_att *in, st_rep_att *out)
{
    *out = *in;
    out->name = st_arena_strdup(a, in->name);
    out->content_type = st_arena_strdup(a, in->content_type);
    out->digest = st_arena_strdup(a, in->digest);
    out->encoding = st_arena_strdup(a, in->encoding);
    out->data = in->data ? st_arena_memdup(a, in->data, in->len) : NULL;
    return out->name && (out->content_type || !in->content_type) &&
           (out->digest || !in->digest) && (out->encoding || !in->encoding) &&
           (out->data || !in->data);
}

/* core's revision is borrowed for the call: everything is copied. */
static int read_rev(void *ctx, const st_rep_want *want, const st_rep_doc *doc,
                    const char *missing_rev)
{
    (void)want;
    (void)missing_rev;
    read_ctx *k = ctx;
    if (!doc)
        return 0; /* gone meanwhile (compacted or purged): nothing to copy */
    st_ep_docs *d = k->d;
    st_arena *a = d->arena;
    if (d->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 16;
        st_rep_doc *docs = st_arena_alloc(a, cap * sizeof *docs);
        if (!docs)
            return k->oom = true;
        if (d->n)
            memcpy(docs, d->docs, d->n * sizeof *docs);
        d->docs = docs;
        k->cap = cap;
    }
    st_rep_doc *out = &d->docs[d->n];
    *out = *doc;
    out->id = st_arena_strdup(a, doc->id);
    out->path = (const st_rev *)st_arena_memdup(a, doc->path, doc->n_path * sizeof *doc->path);
    out->body = st_arena_memdup(a, doc->body, doc->body_len);
    st_rep_att *atts = doc->n_atts ? st_arena_alloc(a, doc->n_atts * sizeof *atts) : NULL;
    if (!out->id || !out->path || !out->body || (doc->n_atts && !atts))
        return k->oom = true;
    for (size_t i = 0; i < doc->n_atts; i++)
        if (!copy_att(a, &doc->atts[i], &atts[i]))
            return k->oom = true;
    out->atts = atts;
    d->n++;
    return 0;
}

static void l_get_revs(st_ep *ep, const st_rep_want *wants, size_t n, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_ep_docs *d = st_ep_answer_new(st_ep_docs);
    if (!d) {
        lop_oom(o);
        return;
    }
    o->reply.docs = d;
    st_error err;
    read_ctx k = {d, 0, false};
    /* Bytes as stored: gzip-encoded attachments keep their encoding and
     * digest on the way to the target. */
    if (st_db_read_revs(e->db, wants, n, true, read_rev, &k, &err) != ST_OK)
        lop_fail(o, &err);
    else if (k.oom)
        lop_oom(o);
    else
        lop_ok(o, 200);
}

/* ------------------------------------------------------------ write_revs */

static void l_write_revs(st_ep *ep, const st_rep_doc *docs, size_t n, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    if (!(o->results = calloc(n ? n : 1, sizeof *o->results))) {
        lop_oom(o);
        return;
    }
    o->n_results = n;
    o->revs = true;
    st_error err;
    to_core(e, o);
    if (st_db_write_revs_async(e->db, docs, n, o->results, on_core_done, o, &err) != ST_OK)
        core_refused(e, o, &err);
}

/* ------------------------------------------------------------ conflicts */

/* Reads the revision tree only (no bodies): cheap enough to ask for every
 * document of every written batch. */
static bool l_conflicted(st_ep *ep, const char *id)
{
    local_ep *e = (local_ep *)ep;
    size_t live = 0;
    return e->db && st_db_live_leaves(e->db, id, &live, NULL) == ST_OK && live > 1;
}

/* ------------------------------------------------------------ lifecycle */

static void l_cancel_all(st_ep *ep)
{
    local_ep *e = (local_ep *)ep;
    /* A write in core uses the caller's documents: wait for it (one commit
     * at most) before the caller may free them. */
    pthread_mutex_lock(&e->mu);
    while (e->inflight)
        pthread_cond_wait(&e->cv, &e->mu);
    lop *done = e->done;
    e->done = NULL;
    pthread_mutex_unlock(&e->mu);
    while (done) {
        lop *o = done;
        done = o->next;
        lop_free(o);
    }
    if (e->fol)
        st_follow_disarm(e->fol);
    while (e->ops) {
        lop *o = e->ops;
        e->ops = o->next;
        st_loop_timer_stop(ep->loop, &o->timer);
        lop_free(o);
    }
}

static void l_free(st_ep *ep)
{
    local_ep *e = (local_ep *)ep;
    st_follow_close(e->fol); /* waits for a wake in progress */
    if (e->hooked)
        st_loop_hook_remove(ep->loop, on_hook, e);
    if (e->owned)
        st_db_close(e->db);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e->path);
    free(ep->display);
    free(ep->pouch_id);
    free(e);
}

static const st_ep_ops local_ops = {
    .info = l_info,
    .create = l_create,
    .get_local = l_get_local,
    .get_doc = l_get_doc,
    .put_local = l_put_local,
    .changes = l_changes,
    .revs_diff = l_revs_diff,
    .get_revs = l_get_revs,
    .write_revs = l_write_revs,
    .ensure_full_commit = l_ensure_full_commit,
    .conflicted = l_conflicted,
    .cancel_all = l_cancel_all,
    .free = l_free,
};

st_status st_ep_local_new(st_loop *loop, const char *path, st_db *db, st_ep **out,
                          st_error *err)
{
    *out = NULL;
    if (!db && !path)
        return st_fail(err, ST_E_BAD_REQUEST, "a local endpoint needs a path or a database");
    local_ep *e = calloc(1, sizeof *e);
    if (!e)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    e->base.ops = &local_ops;
    e->base.loop = loop;
    e->db = db;
    atomic_init(&e->woken, false);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    const char *shown = path ? path : st_db_name(db);
    if ((path && !(e->path = strdup(path))) || !(e->base.display = strdup(shown ? shown : "db"))) {
        l_free(&e->base);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    *out = &e->base;
    return ST_OK;
}
