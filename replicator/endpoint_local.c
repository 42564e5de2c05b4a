/* endpoint_local.c — a replication endpoint that is a database on this
 * machine, called straight through core (no HTTP, no sockets).
 *
 * Reads run synchronously on the loop thread (core reads are short) and post
 * their answer as a deferred call, so callers see the same asynchronous
 * contract as over HTTP.  Writes (_bulk_docs, checkpoints) go to
 * LOCAL_WRITERS writer threads:
 * a durable commit waits for fsync, and meanwhile the loop keeps fetching
 * the next batches; two batches writing at once share one commit through
 * core's group commit.
 * Answers are rendered as CouchDB JSON with core's own helpers (the same
 * ones the server uses) and parsed back, which keeps one replication code
 * path for both kinds of peer; the cost is small next to SQLite's.
 *
 * A longpoll _changes with nothing new is parked: an st_db observer (called
 * on whichever thread commits) sets a flag and wakes the loop, and a loop
 * hook re-runs parked queries when the flag is up, or a timer answers with
 * no rows once timeout_ms passed.
 */
#include "endpoint.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lop lop;
typedef struct local_ep local_ep;

#define LOCAL_WRITERS 2

struct local_ep {
    st_ep base;
    char *path;               /* NULL when the db was borrowed */
    st_db *db;                /* open database, NULL until first use */
    bool owned;               /* we opened db and must close it */
    st_db_observer *obs;      /* feeds parked longpolls */
    atomic_bool changed;      /* set by the observer, cleared by the hook */
    bool hooked;              /* our hook is on the loop */
    lop *ops;                 /* every call not yet answered (loop thread) */
    /* Writers: _bulk_docs runs here so that the loop keeps fetching while
     * SQLite commits, and concurrent batches share a commit (core's group
     * commit).  Guarded by wmu. */
    pthread_t writers[LOCAL_WRITERS];
    unsigned n_writers;       /* threads started */
    pthread_mutex_t wmu;
    pthread_cond_t wcv;       /* work queued, work finished, or quit */
    lop *wq, *wq_tail;        /* writes waiting for a writer */
    lop *wdone;               /* writes done, to be answered on the loop */
    unsigned wbusy;           /* writes a writer is executing */
    bool wquit;
};

/* One pending call. */
struct lop {
    lop *next;
    local_ep *ep;
    st_timer timer;           /* deferred answer, or the longpoll timeout */
    st_ep_cb cb;
    void *ctx;
    st_ep_reply reply;
    bool parked;              /* a longpoll waiting for a change */
    /* The parked request (owned copies). */
    char *since;
    unsigned limit;
    char **doc_ids;
    size_t n_doc_ids;
    /* A queued _bulk_docs (borrowed docs: the caller keeps them until the
     * answer, or until cancel_all, which waits for running writes). */
    const st_json **docs;
    size_t n_docs;
    /* A queued put_local (owned copies). */
    char *local_id;
    st_json_doc *local_doc;
    void (*work)(local_ep *e, lop *o); /* run by a writer; fills reply */
};

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
    free(o->docs);
    free(o->local_id);
    st_json_doc_free(o->local_doc);
    free(o->since);
    for (size_t i = 0; i < o->n_doc_ids; i++)
        free(o->doc_ids[i]);
    free(o->doc_ids);
    free(o);
}

static void lop_fire(void *arg)
{
    lop *o = arg;
    local_ep *e = o->ep;
    lop_unlink(e, o);
    o->cb(o->ctx, &o->reply);
    lop_free(o);
}

/* A new pending call; NULL when out of memory (cb is then answered by a
 * static fallback would be impossible, so callers report it through
 * a reply-less path: see start()). */
static lop *lop_new(local_ep *e, st_ep_cb cb, void *ctx)
{
    lop *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->ep = e;
    o->cb = cb;
    o->ctx = ctx;
    o->next = e->ops;
    e->ops = o;
    return o;
}

/* Answer o on the next loop iteration. */
static void lop_post(lop *o) { st_loop_defer(o->ep->base.loop, &o->timer, lop_fire, o); }

static void fill_fail(lop *o, const st_error *err)
{
    o->reply.st = err->code;
    o->reply.err = *err;
    o->reply.http_status = st_status_http(err->code);
}

/* Parse the rendered answer into the reply (any thread: o is ours). */
static void fill_answer(lop *o, const st_buf *b, int http_status)
{
    st_error err;
    st_error_clear(&err);
    st_status st = st_json_parse(b->data ? b->data : "null", b->data ? b->len : 4, NULL,
                                 &o->reply.json, &err);
    if (st != ST_OK) {
        fill_fail(o, &err);
        return;
    }
    o->reply.st = ST_OK;
    o->reply.http_status = http_status;
}

static void lop_fail(lop *o, const st_error *err)
{
    fill_fail(o, err);
    lop_post(o);
}

static void lop_answer(lop *o, const st_buf *b, int http_status)
{
    fill_answer(o, b, http_status);
    lop_post(o);
}

static void observer(void *ctx, uint64_t seq)
{
    (void)seq;
    local_ep *e = ctx;
    atomic_store(&e->changed, true);
    st_loop_wakeup(e->base.loop);
}

static void on_hook(void *ctx);

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

/* Observe the db once it is open, so parked longpolls wake up. */
static st_status watch(local_ep *e, st_error *err)
{
    if (e->obs)
        return ST_OK;
    st_status st = st_db_observe(e->db, observer, e, &e->obs, err);
    if (st == ST_OK && !e->hooked) {
        st = st_loop_hook_add(e->base.loop, on_hook, e, err);
        e->hooked = st == ST_OK;
    }
    return st;
}

/* A call that needs the database: NULL (answered with an error) if closed. */
static lop *start(local_ep *e, st_ep_cb cb, void *ctx, bool need_db)
{
    lop *o = lop_new(e, cb, ctx);
    if (!o) {
        /* Out of memory before anything could be queued: answer on the spot
         * is the only way left; the contract's "never inside the call" is
         * bent for this one case. */
        st_ep_reply r = {.st = ST_E_NOMEM, .http_status = 500};
        st_fail(&r.err, ST_E_NOMEM, "out of memory");
        cb(ctx, &r);
        return NULL;
    }
    if (need_db) {
        st_error err;
        st_error_clear(&err);
        if (open_db(e, false, &err) != ST_OK) {
            lop_fail(o, &err);
            return NULL;
        }
    }
    return o;
}

/* -------------------------------------------------------------- calls */

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
    st_buf b = ST_BUF_INIT;
    st_status st = st_buf_printf(&b,
                                 "{\"db_name\":\"\",\"update_seq\":%" PRIu64 ",\"doc_count\":%" PRIu64
                                 ",\"doc_del_count\":%" PRIu64 ",\"instance_start_time\":\"%s\","
                                 "\"uuid\":\"%s\"}",
                                 info.update_seq, info.doc_count, info.doc_del_count,
                                 info.instance_start_time, info.uuid);
    if (st != ST_OK) {
        st_fail(&err, st, "out of memory");
        lop_fail(o, &err);
    } else {
        lop_answer(o, &b, 200);
    }
    st_buf_free(&b);
}

static void l_create(st_ep *ep, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, false);
    if (!o)
        return;
    st_error err;
    st_error_clear(&err);
    if (!e->db && open_db(e, true, &err) != ST_OK) {
        lop_fail(o, &err);
        return;
    }
    st_buf b = ST_BUF_INIT;
    if (st_buf_adds(&b, "{\"ok\":true}") != ST_OK) {
        st_fail(&err, ST_E_NOMEM, "out of memory");
        lop_fail(o, &err);
    } else {
        lop_answer(o, &b, 201);
    }
    st_buf_free(&b);
}

static void l_get_local(st_ep *ep, const char *id, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_error err;
    st_buf b = ST_BUF_INIT;
    if (st_db_local_get(e->db, id, &b, &err) != ST_OK)
        lop_fail(o, &err);
    else
        lop_answer(o, &b, 200);
    st_buf_free(&b);
}

static void queue_write(local_ep *e, lop *o);

static void do_put_local(local_ep *e, lop *o)
{
    st_error err;
    char rev[ST_REV_STR_MAX];
    st_buf b = ST_BUF_INIT;
    /* No _rev: a checkpoint overwrites whatever is there, as CouchDB allows
     * for _local docs; the replication is the only writer of its id. */
    if (st_db_local_put(e->db, o->local_id, st_json_doc_root(o->local_doc), NULL, rev, &err) !=
        ST_OK) {
        fill_fail(o, &err);
    } else if (st_buf_printf(&b, "{\"ok\":true,\"rev\":\"%s\"}", rev) != ST_OK) {
        st_fail(&err, ST_E_NOMEM, "out of memory");
        fill_fail(o, &err);
    } else {
        fill_answer(o, &b, 201);
    }
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
    st_error_clear(&err);
    if (st_json_parse(json, n, NULL, &o->local_doc, &err) != ST_OK) {
        lop_fail(o, &err);
        return;
    }
    if (!(o->local_id = strdup(id))) {
        st_fail(&err, ST_E_NOMEM, "out of memory");
        lop_fail(o, &err);
        return;
    }
    o->work = do_put_local;
    queue_write(e, o);
}

/* --------------------------------------------------------------- changes */

typedef struct chg_ctx {
    st_jw *w;
    uint64_t rows;
} chg_ctx;

static int chg_row(void *ctx, const st_change_row *row)
{
    chg_ctx *c = ctx;
    st_change_row_write(c->w, row, false);
    c->rows++;
    return 0;
}

/* A seq as the replicator carries it (raw JSON) → settee's integer.  Strings
 * count when they start with digits (e.g. "42" or a CouchDB "42-g1AA…"). */
static uint64_t parse_since(const char *s)
{
    if (!s)
        return 0;
    if (*s == '"')
        s++;
    return strtoull(s, NULL, 10);
}

/* Run the query of o into its reply; *out_rows says how many rows came. */
static st_status run_changes(local_ep *e, lop *o, uint64_t *out_rows, st_error *err)
{
    st_changes_opts co;
    st_changes_opts_init(&co);
    co.since = parse_since(o->since);
    co.limit = o->limit ? o->limit : UINT64_MAX;
    co.all_docs = true;
    co.doc_ids = (const char *const *)o->doc_ids;
    co.n_doc_ids = o->n_doc_ids;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status st = st_jw_init(&w, &b);
    if (st != ST_OK) {
        st_buf_free(&b);
        return st_fail(err, st, "out of memory");
    }
    chg_ctx c = {&w, 0};
    uint64_t last = 0, pending = 0;
    st_jw_obj_open(&w);
    st_jw_key(&w, "results");
    st_jw_arr_open(&w);
    st = st_db_changes(e->db, &co, chg_row, &c, &last, &pending, err);
    st_jw_arr_close(&w);
    st_jw_key(&w, "last_seq");
    st_jw_uint(&w, c.rows ? last : (last > co.since ? last : co.since));
    st_jw_key(&w, "pending");
    st_jw_uint(&w, pending);
    st_jw_obj_close(&w);
    if (st == ST_OK && (st = st_jw_status(&w)) != ST_OK)
        st_fail(err, st, "out of memory");
    st_jw_free(&w);
    if (st == ST_OK) {
        st_ep_reply_clear(&o->reply);
        st = st_json_parse(b.data, b.len, NULL, &o->reply.json, err);
    }
    st_buf_free(&b);
    if (st == ST_OK) {
        o->reply.st = ST_OK;
        o->reply.http_status = 200;
    }
    *out_rows = c.rows;
    return st;
}

static void park_timeout(void *arg)
{
    lop *o = arg;
    o->parked = false;
    lop_fire(o); /* the reply already holds the empty result */
}

static void drain_writes(local_ep *e);

static void on_hook(void *ctx)
{
    local_ep *e = ctx;
    drain_writes(e);
    if (!atomic_exchange(&e->changed, false))
        return;
    lop *next;
    for (lop *o = e->ops; o; o = next) {
        next = o->next;
        if (!o->parked)
            continue;
        st_error err;
        uint64_t rows = 0;
        if (run_changes(e, o, &rows, &err) != ST_OK) {
            o->parked = false;
            st_loop_timer_stop(e->base.loop, &o->timer);
            lop_fail(o, &err);
        } else if (rows) {
            o->parked = false;
            st_loop_timer_stop(e->base.loop, &o->timer);
            lop_post(o);
        }
    }
}

static void l_changes(st_ep *ep, const st_ep_changes_req *req, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_error err;
    st_error_clear(&err);
    if (req->selector) {
        st_fail(&err, ST_E_BAD_REQUEST,
                "a selector filter on a local source needs Mango, which core lacks yet");
        lop_fail(o, &err);
        return;
    }
    o->since = strdup(req->since ? req->since : "0");
    o->limit = req->limit;
    if (req->n_doc_ids) {
        o->doc_ids = calloc(req->n_doc_ids, sizeof *o->doc_ids);
        for (size_t i = 0; o->doc_ids && i < req->n_doc_ids; i++) {
            if (!(o->doc_ids[i] = strdup(req->doc_ids[i])))
                break;
            o->n_doc_ids++;
        }
    }
    if (!o->since || o->n_doc_ids != req->n_doc_ids) {
        st_fail(&err, ST_E_NOMEM, "out of memory");
        lop_fail(o, &err);
        return;
    }
    uint64_t rows = 0;
    if (run_changes(e, o, &rows, &err) != ST_OK) {
        lop_fail(o, &err);
        return;
    }
    if (rows || !req->longpoll) {
        lop_post(o);
        return;
    }
    if (watch(e, &err) != ST_OK) {
        lop_fail(o, &err);
        return;
    }
    o->parked = true;
    st_loop_timer_start(ep->loop, &o->timer, req->timeout_ms, park_timeout, o);
    /* A commit between the query and the observer registration would have
     * been missed: look once more on the next hook pass. */
    atomic_store(&e->changed, true);
    st_loop_wakeup(ep->loop);
}

/* ------------------------------------------------- revs_diff, bulk_get */

static void l_revs_diff(st_ep *ep, const char *body, size_t n, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_error err;
    st_json_doc *req = NULL;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    bool w_ok = false;
    st_status st = st_json_parse(body, n, NULL, &req, &err);
    if (st == ST_OK) {
        if ((st = st_jw_init(&w, &b)) != ST_OK)
            st_fail(&err, st, "out of memory");
        else
            w_ok = true;
    }
    if (st == ST_OK)
        st = st_db_revs_diff(e->db, st_json_doc_root(req), &w, &err);
    if (st == ST_OK)
        lop_answer(o, &b, 200);
    else
        lop_fail(o, &err);
    if (w_ok)
        st_jw_free(&w);
    st_json_doc_free(req);
    st_buf_free(&b);
}

static void l_bulk_get(st_ep *ep, const char *body, size_t n, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    st_error err;
    st_json_doc *req = NULL;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    bool w_ok = false;
    st_status st = st_json_parse(body, n, NULL, &req, &err);
    if (st == ST_OK) {
        if ((st = st_jw_init(&w, &b)) != ST_OK)
            st_fail(&err, st, "out of memory");
        else
            w_ok = true;
    }
    if (st == ST_OK) {
        st_get_opts go = {0};
        go.revs = true;
        go.latest = true;
        go.atts = ST_ATTS_INLINE;
        st = st_db_bulk_get(e->db, st_json_doc_root(req), &go, &w, &err);
    }
    if (st == ST_OK)
        lop_answer(o, &b, 200);
    else
        lop_fail(o, &err);
    if (w_ok)
        st_jw_free(&w);
    st_json_doc_free(req);
    st_buf_free(&b);
}

/* ------------------------------------------------------------ bulk_docs */

/* The write itself, on a writer thread; fills o->reply. */
static void do_bulk_docs(local_ep *e, lop *o)
{
    const st_json **docs = o->docs;
    size_t n = o->n_docs;
    st_error err;
    st_error_clear(&err);
    st_write_req *reqs = calloc(n ? n : 1, sizeof *reqs);
    st_write_result *res = calloc(n ? n : 1, sizeof *res);
    st_buf b = ST_BUF_INIT;
    st_jw w;
    bool w_ok = false, wrote = false;
    st_status st = reqs && res ? ST_OK : st_fail(&err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; st == ST_OK && i < n; i++)
        reqs[i].doc = docs[i];
    if (st == ST_OK && (st = st_db_write(e->db, reqs, n, ST_WRITE_REPLICATED, res, &err)) == ST_OK)
        wrote = true;
    if (st == ST_OK) {
        if ((st = st_jw_init(&w, &b)) != ST_OK)
            st_fail(&err, st, "out of memory");
        else
            w_ok = true;
    }
    if (st == ST_OK) {
        /* CouchDB lists only the failures of a new_edits=false write. */
        st_jw_arr_open(&w);
        for (size_t i = 0; i < n; i++) {
            if (res[i].err.code == ST_OK)
                continue;
            st_jw_obj_open(&w);
            st_jw_key(&w, "id");
            st_jw_str(&w, res[i].id ? res[i].id : st_json_get_str(docs[i], "_id"));
            st_jw_key(&w, "rev");
            st_jw_str(&w, st_json_get_str(docs[i], "_rev"));
            st_jw_key(&w, "error");
            st_jw_str(&w, st_status_name(res[i].err.code));
            st_jw_key(&w, "reason");
            st_jw_str(&w, res[i].err.reason);
            st_jw_obj_close(&w);
        }
        st_jw_arr_close(&w);
        if ((st = st_jw_status(&w)) != ST_OK)
            st_fail(&err, st, "out of memory");
    }
    if (st == ST_OK)
        fill_answer(o, &b, 201);
    else
        fill_fail(o, &err);
    if (w_ok)
        st_jw_free(&w);
    if (wrote)
        st_write_results_free(res, n);
    free(res);
    free(reqs);
    st_buf_free(&b);
}

static void *writer_main(void *arg)
{
    local_ep *e = arg;
    pthread_mutex_lock(&e->wmu);
    for (;;) {
        while (!e->wq && !e->wquit)
            pthread_cond_wait(&e->wcv, &e->wmu);
        if (e->wquit)
            break;
        lop *o = e->wq;
        e->wq = o->next;
        if (!e->wq)
            e->wq_tail = NULL;
        e->wbusy++;
        pthread_mutex_unlock(&e->wmu);
        o->work(e, o);
        pthread_mutex_lock(&e->wmu);
        e->wbusy--;
        o->next = e->wdone;
        e->wdone = o;
        pthread_cond_broadcast(&e->wcv);
        /* The loop answers it: see drain_writes. */
        st_loop_wakeup(e->base.loop);
    }
    pthread_mutex_unlock(&e->wmu);
    return NULL;
}

/* Loop thread: answer the writes the writers finished. */
static void drain_writes(local_ep *e)
{
    pthread_mutex_lock(&e->wmu);
    lop *done = e->wdone;
    e->wdone = NULL;
    pthread_mutex_unlock(&e->wmu);
    while (done) {
        lop *o = done;
        done = o->next;
        o->cb(o->ctx, &o->reply);
        lop_free(o);
    }
}

/* Hand o (a started call) to the writers. */
static void queue_write(local_ep *e, lop *o)
{
    st_error err;
    st_error_clear(&err);
    if (!e->hooked) {
        if (st_loop_hook_add(e->base.loop, on_hook, e, &err) != ST_OK) {
            lop_fail(o, &err);
            return;
        }
        e->hooked = true;
    }
    while (e->n_writers < LOCAL_WRITERS &&
           pthread_create(&e->writers[e->n_writers], NULL, writer_main, e) == 0)
        e->n_writers++;
    if (!e->n_writers) {
        st_fail(&err, ST_E_NOMEM, "cannot start a writer thread");
        lop_fail(o, &err);
        return;
    }
    /* Off the loop's list: the writers own it until it is answered. */
    lop_unlink(e, o);
    o->next = NULL;
    pthread_mutex_lock(&e->wmu);
    if (e->wq_tail)
        e->wq_tail->next = o;
    else
        e->wq = o;
    e->wq_tail = o;
    pthread_cond_signal(&e->wcv);
    pthread_mutex_unlock(&e->wmu);
}

static void l_bulk_docs(st_ep *ep, const st_json *const *docs, size_t n, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    if (!(o->docs = malloc((n ? n : 1) * sizeof *o->docs))) {
        st_error err;
        st_fail(&err, ST_E_NOMEM, "out of memory");
        lop_fail(o, &err);
        return;
    }
    memcpy(o->docs, docs, n * sizeof *docs);
    o->n_docs = n;
    o->work = do_bulk_docs;
    queue_write(e, o);
}

static void l_ensure_full_commit(st_ep *ep, st_ep_cb cb, void *ctx)
{
    local_ep *e = (local_ep *)ep;
    lop *o = start(e, cb, ctx, true);
    if (!o)
        return;
    /* Every core write is committed before it returns: nothing to flush. */
    st_error err;
    st_db_info info;
    st_buf b = ST_BUF_INIT;
    if (st_db_info_get(e->db, &info, &err) != ST_OK) {
        lop_fail(o, &err);
    } else if (st_buf_printf(&b, "{\"ok\":true,\"instance_start_time\":\"%s\"}",
                             info.instance_start_time) != ST_OK) {
        st_fail(&err, ST_E_NOMEM, "out of memory");
        lop_fail(o, &err);
    } else {
        lop_answer(o, &b, 201);
    }
    st_buf_free(&b);
}

/* ------------------------------------------------------------ conflicts */

/* Reads the revision tree only (no bodies): cheap enough to ask for every
 * document of every written batch. */
static bool l_conflicted(st_ep *ep, const char *id)
{
    local_ep *e = (local_ep *)ep;
    if (!e->db)
        return false;
    size_t live = 0;
    if (st_db_live_leaves(e->db, id, &live, NULL) != ST_OK)
        return false;
    return live > 1;
}

/* ------------------------------------------------------------ lifecycle */

static void free_chain(lop *o)
{
    while (o) {
        lop *next = o->next;
        lop_free(o);
        o = next;
    }
}

static void l_cancel_all(st_ep *ep)
{
    local_ep *e = (local_ep *)ep;
    /* A running write uses the caller's documents: wait for it (one
     * commit at most) before the caller may free them. */
    pthread_mutex_lock(&e->wmu);
    lop *drop = e->wq;
    e->wq = e->wq_tail = NULL;
    while (e->wbusy)
        pthread_cond_wait(&e->wcv, &e->wmu);
    lop *done = e->wdone;
    e->wdone = NULL;
    pthread_mutex_unlock(&e->wmu);
    free_chain(drop);
    free_chain(done);
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
    pthread_mutex_lock(&e->wmu);
    e->wquit = true;
    pthread_cond_broadcast(&e->wcv);
    pthread_mutex_unlock(&e->wmu);
    for (unsigned i = 0; i < e->n_writers; i++)
        pthread_join(e->writers[i], NULL);
    pthread_mutex_destroy(&e->wmu);
    pthread_cond_destroy(&e->wcv);
    if (e->hooked)
        st_loop_hook_remove(ep->loop, on_hook, e);
    if (e->obs)
        st_db_unobserve(e->db, e->obs);
    if (e->owned)
        st_db_close(e->db);
    free(e->path);
    free(ep->display);
    free(ep->pouch_id);
    free(e);
}

static const st_ep_ops local_ops = {
    .info = l_info,
    .create = l_create,
    .get_local = l_get_local,
    .put_local = l_put_local,
    .changes = l_changes,
    .revs_diff = l_revs_diff,
    .bulk_get = l_bulk_get,
    .bulk_docs = l_bulk_docs,
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
    atomic_init(&e->changed, false);
    pthread_mutex_init(&e->wmu, NULL);
    pthread_cond_init(&e->wcv, NULL);
    const char *shown = path ? path : st_db_name(db);
    if ((path && !(e->path = strdup(path))) || !(e->base.display = strdup(shown ? shown : "db"))) {
        free(e->path);
        pthread_mutex_destroy(&e->wmu);
        pthread_cond_destroy(&e->wcv);
        free(e);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    *out = &e->base;
    return ST_OK;
}
