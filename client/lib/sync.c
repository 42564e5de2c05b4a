/* sync.c — live sync of a local database with a remote one: two replicator
 * jobs (push: local → remote, pull: remote → local) under one handle, one
 * combined status, and the conflict resolver.
 *
 * Threads: each replicator job runs on its own thread (replicator/), where
 * local writes of pulled documents go straight into the same st_db the app
 * uses, so listeners hear of them through their ordinary followers.  The
 * jobs' hooks (status changed, a pulled document is conflicted) run on those
 * threads and only record and wake the dispatcher; the app's callbacks,
 * on_status and the resolver, run in the sync's dispatcher task, one at a
 * time with the db's listeners.  So the app never sees two of its callbacks
 * at once, and a slow resolver delays callbacks, never replication or local
 * writes.
 *
 * Credentials and certificates are the replicator's (st_repl.h): the
 * config's user/password go to it as username/password, which replace the
 * URL's, so a name or password needs no escaping; both jobs get the same.
 *
 * The end: a sync's last callback has state STOPPED.  When the jobs end by
 * themselves (one-shot, failure, settee_sync_stop) the task's run delivers
 * it.  settee_sync_free hands the sync to the dispatcher, whose free retires
 * the jobs and then delivers it (on the callback thread) unless it was
 * delivered already or the free was asked from the sync's own callback.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client_int.h"
#include "st_repl.h"

/* What a replicator hook was registered for: which job of which sync. */
typedef struct hook_ctx {
    settee_sync *s;
    int side;                      /* 0 push, 1 pull */
} hook_ctx;

struct settee_sync {
    st_client_task task;           /* first: the dispatcher hands back &task */
    settee_db *db;
    settee_sync_fn on_status;
    void *ctx;
    settee_resolver_fn resolver;
    void *resolver_ctx;
    hook_ctx hooks[2];
    st_repl_config pull_cfg;       /* the pull job (one-shot two-way: started once the
                                    * push made the remote) */
    char *url;                     /* copies of the config's strings (pull_cfg points */
    char *user, *password;         /* here); the secrets are wiped when freed */
    char *bearer_token, *ca_file;
    char *filter, *query_params;
    char **doc_ids;                /* packed copy (pull_cfg points here) */

    pthread_mutex_t mu;            /* lock 3: the fields down to own_error */
    st_repl *push;                 /* local → remote, or NULL; set once at start */
    st_repl *pull;                 /* remote → local, or NULL (maybe not yet started) */
    st_repl_status retired[2];     /* a job's last status once it was freed ... */
    bool is_retired[2];            /* ... (0 push, 1 pull) */
    bool pull_pending;             /* one-shot two-way: the pull waits for the push
                                    * to create the remote */
    bool stopping;                 /* settee_sync_stop was called */
    bool job_failed;               /* a job ended FAILED: the other one is stopped */
    bool status_dirty;             /* a job reported a status change */
    char **queue;                  /* conflicted doc ids waiting for the resolver */
    size_t qn, qcap;
    bool queue_nomem;              /* a conflict could not be queued */
    uint64_t conflicts_resolved;   /* written by dispatch, read by get_status */
    settee_error own_error;        /* the resolver's or the deferred pull start's */

    /* Callback-thread state (the task's runs and its free are serialized). */
    settee_sync_status sent;       /* the last status delivered */
    bool any_sent;
    bool final_sent;               /* STOPPED was delivered: no more callbacks */
};

const char *settee_sync_state_name(settee_sync_state st)
{
    switch (st) {
    case SETTEE_SYNC_STOPPED: return "stopped";
    case SETTEE_SYNC_OFFLINE: return "offline";
    case SETTEE_SYNC_CONNECTING: return "connecting";
    case SETTEE_SYNC_IDLE: return "idle";
    case SETTEE_SYNC_BUSY: return "busy";
    }
    return "unknown";
}

void settee_sync_config_init(settee_sync_config *c)
{
    if (!c)
        return;
    memset(c, 0, sizeof *c);
    c->direction = SETTEE_SYNC_PUSH_AND_PULL;
    c->continuous = true;
}

/* ------------------------------------------------- replicator-thread hooks */

/* The push creates a missing remote database (as PouchDB does).  A
 * continuous pull whose remote does not exist yet waits for it by itself
 * (the replicator retries a missing source), so a continuous two-way sync
 * starts both jobs at once.  A one-shot pull of a missing database fails
 * for good, so a one-shot two-way sync starts its pull once the push got
 * past its start (the remote exists), or has finished. */
static bool push_made_remote(st_repl_state st)
{
    return st == ST_REPL_RUNNING || st == ST_REPL_IDLE || st == ST_REPL_STOPPED;
}

static void hook_status(void *ctx, st_repl *r, const st_repl_status *st)
{
    hook_ctx *h = ctx;
    settee_sync *s = h->s;
    pthread_mutex_lock(&s->mu);
    s->status_dirty = true;
    bool start_pull = h->side == 0 && s->pull_pending && !s->stopping &&
                      push_made_remote(st->state);
    if (start_pull)
        s->pull_pending = false;
    /* One direction failed for good: the sync ends, so stop the other one
     * (else a pull could wait forever for a remote the push cannot make). */
    if (st->state == ST_REPL_FAILED) {
        s->pull_pending = false;
        s->job_failed = true;
        /* Under s->mu, which retire() takes to unlink a job
         * before freeing it; st_repl_stop only flags and wakes. */
        st_repl *other = h->side == 0 ? s->pull : s->push;
        if (other)
            st_repl_stop(other);
    }
    pthread_mutex_unlock(&s->mu);
    if (start_pull) {
        st_repl *pull = NULL;
        st_error ce;
        st_status x = st_repl_start(&s->pull_cfg, &pull, &ce);
        pthread_mutex_lock(&s->mu);
        if (x == ST_OK)
            s->pull = pull;
        else
            st_client_from_core(&s->own_error, x, &ce);
        /* settee_sync_stop ran while the pull was starting: it saw no pull. */
        bool stop_now = x == ST_OK && s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stop_now)
            st_repl_stop(pull);
    }
    st_client_dispatch_wake(s->db->disp);
}

static void hook_conflict(void *ctx, st_repl *r, const char *doc_id)
{
    settee_sync *s = ((hook_ctx *)ctx)->s;
    pthread_mutex_lock(&s->mu);
    if (s->qn == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 16;
        char **q = realloc(s->queue, cap * sizeof *q);
        if (q) {
            s->queue = q;
            s->qcap = cap;
        }
    }
    char *id = s->qn < s->qcap ? strdup(doc_id) : NULL;
    if (id)
        s->queue[s->qn++] = id;
    else
        s->queue_nomem = true; /* reported; settee_conflicts_list still finds it */
    pthread_mutex_unlock(&s->mu);
    st_client_dispatch_wake(s->db->disp);
}

/* ------------------------------------------------------------ the status */

static bool ended(st_repl_state st) { return st == ST_REPL_STOPPED || st == ST_REPL_FAILED; }

static settee_sync_state public_state(st_repl_state st)
{
    switch (st) {
    case ST_REPL_STARTING: return SETTEE_SYNC_CONNECTING;
    case ST_REPL_RUNNING: return SETTEE_SYNC_BUSY;
    case ST_REPL_IDLE: return SETTEE_SYNC_IDLE;
    case ST_REPL_OFFLINE: return SETTEE_SYNC_OFFLINE;
    case ST_REPL_STOPPED:
    case ST_REPL_FAILED: return SETTEE_SYNC_STOPPED;
    }
    return SETTEE_SYNC_STOPPED;
}

/* How loud a live job's state is when two are combined: the sync shows the
 * loudest (offline beats busy beats connecting beats idle). */
static int loudness(settee_sync_state st)
{
    switch (st) {
    case SETTEE_SYNC_OFFLINE: return 4;
    case SETTEE_SYNC_BUSY: return 3;
    case SETTEE_SYNC_CONNECTING: return 2;
    case SETTEE_SYNC_IDLE: return 1;
    case SETTEE_SYNC_STOPPED: return 0;
    }
    return 0;
}

static void set_error(settee_error *out, const st_repl_status *r)
{
    st_client_from_core(out, r->last_error.code, &r->last_error);
    if (r->last_http_status)
        out->http_status = r->last_http_status;
}

/* A snapshot of both jobs; *out_all_ended when neither is still running. */
static void snapshot(settee_sync *s, settee_sync_status *out, bool *out_all_ended)
{
    memset(out, 0, sizeof *out);
    st_client_ok(&out->last);
    bool all_ended = true;
    int loud = -1;
    pthread_mutex_lock(&s->mu);
    st_repl *jobs[2] = {s->push, s->pull};
    bool retired[2] = {s->is_retired[0], s->is_retired[1]};
    st_repl_status saved[2] = {s->retired[0], s->retired[1]};
    bool pull_pending = s->pull_pending && !s->stopping;
    pthread_mutex_unlock(&s->mu);
    for (int k = 0; k < 2; k++) {
        if (!jobs[k] && !retired[k])
            continue;
        st_repl_status r = saved[k];
        if (jobs[k])
            st_repl_get_status(jobs[k], &r);
        out->docs_read += r.docs_read;
        out->docs_written += r.docs_written;
        if (k == 0)
            out->docs_pushed += r.docs_written;
        else
            out->docs_pulled += r.docs_written;
        out->doc_write_failures += r.doc_write_failures;
        out->pending += r.pending;
        /* A failed job's error wins; otherwise any job's latest error. */
        if (r.last_error.code != ST_OK &&
            (r.state == ST_REPL_FAILED || out->last.code == SETTEE_OK))
            set_error(&out->last, &r);
        if (!ended(r.state)) {
            all_ended = false;
            settee_sync_state ps = public_state(r.state);
            if (loudness(ps) > loud) {
                loud = loudness(ps);
                out->state = ps;
            }
        }
    }
    /* A pull still waiting for its push counts as connecting while the
     * push lives; once the push ended without making the remote, never. */
    if (pull_pending && !all_ended && loud < loudness(SETTEE_SYNC_CONNECTING))
        out->state = SETTEE_SYNC_CONNECTING;
    if (all_ended)
        out->state = SETTEE_SYNC_STOPPED;
    pthread_mutex_lock(&s->mu);
    out->conflicts_resolved = s->conflicts_resolved;
    if (out->last.code == SETTEE_OK && s->own_error.code != SETTEE_OK)
        out->last = s->own_error;
    pthread_mutex_unlock(&s->mu);
    *out_all_ended = all_ended;
}

static bool same_status(const settee_sync_status *a, const settee_sync_status *b)
{
    return a->state == b->state && a->docs_read == b->docs_read &&
           a->docs_written == b->docs_written && a->doc_write_failures == b->doc_write_failures &&
           a->pending == b->pending && a->conflicts_resolved == b->conflicts_resolved &&
           a->last.code == b->last.code;
}

/* --------------------------------------------------------- dispatch's part */

static bool sync_due(st_client_task *t)
{
    settee_sync *s = (settee_sync *)t;
    if (s->final_sent)
        return false;
    pthread_mutex_lock(&s->mu);
    bool due = s->status_dirty || s->qn > 0;
    pthread_mutex_unlock(&s->mu);
    return due;
}

static bool was_removed(settee_sync *s) { return st_client_dispatch_removed(&s->task); }

static void run_resolver(settee_sync *s)
{
    /* Bounded: only what was queued when this round began. */
    pthread_mutex_lock(&s->mu);
    char **q = s->queue;
    size_t n = s->qn;
    bool nomem = s->queue_nomem;
    s->queue = NULL;
    s->qn = s->qcap = 0;
    s->queue_nomem = false;
    if (nomem)
        st_client_fail(&s->own_error, SETTEE_NOMEM,
                       "out of memory queueing a conflict; see settee_conflicts_list");
    pthread_mutex_unlock(&s->mu);
    size_t i = 0;
    for (; i < n && s->resolver; i++) {
        settee_error e;
        st_client_ok(&e);
        bool called = false;
        settee_status rc = st_client_resolve_one(s->db, q[i], s->resolver, s->resolver_ctx,
                                                 &called, &e);
        if (rc != SETTEE_OK && e.code == SETTEE_OK)
            st_client_fail(&e, rc, "resolver failed for %s", q[i]);
        pthread_mutex_lock(&s->mu);
        if (rc == SETTEE_OK && called)
            s->conflicts_resolved++;
        else if (rc != SETTEE_OK)
            s->own_error = e;
        pthread_mutex_unlock(&s->mu);
        free(q[i]);
        if (called && was_removed(s)) {
            i++;
            break;
        }
    }
    for (; i < n; i++)
        free(q[i]);
    free(q);
}

static st_client_next sync_run(st_client_task *t)
{
    settee_sync *s = (settee_sync *)t;
    run_resolver(s);
    if (was_removed(s))
        return ST_CLIENT_IDLE;
    /* Conflicts queued while the resolver ran keep the sync due (their hook
     * signalled), and so does the status, so the final STOPPED is not lost. */
    pthread_mutex_lock(&s->mu);
    bool queued = s->qn > 0;
    if (!queued)
        s->status_dirty = false;
    pthread_mutex_unlock(&s->mu);
    settee_sync_status st;
    bool all_ended;
    snapshot(s, &st, &all_ended);
    /* The final STOPPED waits until every queued conflict was handed over. */
    if (all_ended && queued)
        return ST_CLIENT_IDLE;
    if (!s->any_sent || !same_status(&st, &s->sent) || all_ended) {
        s->sent = st;
        s->any_sent = true;
        if (all_ended)
            s->final_sent = true;
        if (s->on_status)
            s->on_status(s->ctx, s, &st);
    }
    return ST_CLIENT_IDLE;
}

/* ------------------------------------------------------------ lifecycle */

/* ids[0..n) packed into one allocation (pointer array, then text). */
static char **pack_ids(const char *const *ids, size_t n)
{
    size_t bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(ids[i]) + 1;
    char **out = malloc(bytes);
    if (!out)
        return NULL;
    char *p = (char *)(out + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ids[i]) + 1;
        memcpy(p, ids[i], len);
        out[i] = p;
        p += len;
    }
    out[n] = NULL;
    return out;
}

/* Whether url carries user information (user[:password]@ before the path). */
static bool url_has_userinfo(const char *url)
{
    const char *host = strstr(url, "://");
    if (!host)
        return false;
    host += 3;
    const char *at = strchr(host, '@');
    return at && at < host + strcspn(host, "/?#");
}

/* The URL and the credentials (settee.h, above settee_sync_config): what
 * the replicator would refuse only once running is refused here, so a
 * contradiction fails the start instead of arriving as a status. */
static settee_status check_remote(const settee_sync_config *c, settee_error *e)
{
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
        return st_client_fail(e, SETTEE_BAD_REQUEST, "sync url must be http(s)://host[:port]/db");
    bool in_url = url_has_userinfo(c->url);
    if (c->password && !c->user)
        return st_client_fail(e, SETTEE_BAD_REQUEST, "a password needs a user");
    if (c->bearer_token && (c->user || in_url))
        return st_client_fail(e, SETTEE_BAD_REQUEST,
                              "a bearer token and a user/password are mutually exclusive");
    if (c->use_session && !c->user && !in_url)
        return st_client_fail(e, SETTEE_BAD_REQUEST,
                              "use_session needs a user and password (fields, or in the url)");
    return SETTEE_OK;
}

/* s's copies of c's strings; false when out of memory. */
static bool copy_config(settee_sync *s, const settee_sync_config *c)
{
    bool ok = (s->url = strdup(c->url)) != NULL;
    const char *src[6] = {c->user, c->password, c->bearer_token, c->ca_file, c->filter,
                          c->filter ? c->query_params : NULL};
    char **dst[6] = {&s->user, &s->password, &s->bearer_token, &s->ca_file, &s->filter,
                     &s->query_params};
    for (int i = 0; i < 6; i++)
        if (ok && src[i])
            ok = (*dst[i] = strdup(src[i])) != NULL;
    if (ok && c->doc_ids)
        ok = (s->doc_ids = pack_ids(c->doc_ids, c->n_doc_ids)) != NULL;
    return ok;
}

static void wipe_free(char *p)
{
    if (p)
        OPENSSL_cleanse(p, strlen(p));
    free(p);
}

/* Free s's copies of the config's strings. */
static void free_config(settee_sync *s)
{
    free(s->url);
    free(s->user);
    wipe_free(s->password);
    wipe_free(s->bearer_token);
    free(s->ca_file);
    free(s->filter);
    free(s->query_params);
    free(s->doc_ids);
}

/* Stop job k (0 push, 1 pull), wait for its end, keep its last status and
 * free it.  The push first: once its thread is gone no hook can start the
 * pull, so s->pull is final; after both, no hook of s runs any more.  Each
 * is unlinked under s->mu before it is freed: the other job's hook may stop
 * it (hook_status). */
static void retire(settee_sync *s, int k)
{
    pthread_mutex_lock(&s->mu);
    st_repl *r = k == 0 ? s->push : s->pull;
    pthread_mutex_unlock(&s->mu);
    if (!r)
        return;
    st_repl_stop(r);
    st_repl_wait(r, -1);
    st_repl_status last;
    st_repl_get_status(r, &last);
    pthread_mutex_lock(&s->mu);
    s->retired[k] = last;
    s->is_retired[k] = true;
    if (k == 0)
        s->push = NULL;
    else
        s->pull = NULL;
    pthread_mutex_unlock(&s->mu);
    st_repl_free(r);
}

/* Free what s holds besides its jobs (retired, or never started). */
static void sync_destroy(settee_sync *s)
{
    for (size_t i = 0; i < s->qn; i++)
        free(s->queue[i]);
    free(s->queue);
    free_config(s);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The dispatcher's free: on the callback thread, after settee_sync_free.
 * Conflicts still queued are left to settee_conflicts_list: the app asked
 * for the end. */
static void sync_free(st_client_task *t, bool deferred)
{
    settee_sync *s = (settee_sync *)t;
    settee_db *db = s->db;
    retire(s, 0);
    retire(s, 1);
    if (!deferred && !s->final_sent && s->on_status) {
        settee_sync_status st;
        bool all_ended;
        snapshot(s, &st, &all_ended); /* every job retired: STOPPED */
        s->final_sent = true;
        s->on_status(s->ctx, s, &st);
    }
    sync_destroy(s);
    st_client_child_done(db);
}

static const st_client_task_ops sync_ops = {sync_due, sync_run, sync_free};

settee_status settee_sync_start(settee_db *db, const settee_sync_config *c,
                                settee_sync **out_sync, settee_error *e)
{
    if (out_sync)
        *out_sync = NULL;
    if (!c || !out_sync || !c->url)
        return st_client_fail(e, SETTEE_MISUSE, "NULL config, url or out_sync");
    if (c->direction < SETTEE_SYNC_PUSH || c->direction > SETTEE_SYNC_PUSH_AND_PULL)
        return st_client_fail(e, SETTEE_MISUSE, "unknown sync direction %d", (int)c->direction);
    if (c->n_doc_ids && !c->doc_ids)
        return st_client_fail(e, SETTEE_MISUSE, "NULL doc_ids with n_doc_ids > 0");
    for (size_t i = 0; c->doc_ids && i < c->n_doc_ids; i++)
        if (!c->doc_ids[i])
            return st_client_fail(e, SETTEE_MISUSE, "NULL id in doc_ids");
    settee_status rc = check_remote(c, e);
    if (rc != SETTEE_OK)
        return rc;
    if ((rc = st_client_enter(db, e)) != SETTEE_OK)
        return rc;
    st_error ce;
    st_status s_st;
    settee_sync *s = calloc(1, sizeof *s);
    if (!s) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    s->db = db;
    s->on_status = c->on_status;
    s->ctx = c->ctx;
    s->resolver = c->resolver;
    s->resolver_ctx = c->resolver_ctx;
    s->hooks[0] = (hook_ctx){s, 0};
    s->hooks[1] = (hook_ctx){s, 1};
    st_client_ok(&s->own_error);
    pthread_mutex_init(&s->mu, NULL);
    if (!copy_config(s, c)) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }

    st_repl_config base;
    st_repl_config_init(&base);
    base.continuous = c->continuous;
    base.doc_ids = (const char *const *)s->doc_ids;
    base.n_doc_ids = s->doc_ids ? c->n_doc_ids : 0;
    base.retry_max_ms = c->retry_max_ms;
    base.ca_file = s->ca_file;
    base.insecure = c->insecure;
    base.username = s->user;
    base.password = s->password;
    base.bearer_token = s->bearer_token;
    base.use_session = c->use_session;
    base.filter = s->filter;
    base.query_params = s->query_params;
    base.on_status = hook_status;

    s->pull_cfg = base;
    s->pull_cfg.source = s->url;
    s->pull_cfg.target_db = db->core;
    s->pull_cfg.status_ctx = &s->hooks[1];
    if (c->resolver) {
        s->pull_cfg.on_conflict = hook_conflict;
        s->pull_cfg.conflict_ctx = &s->hooks[1];
    }
    bool two_way = (c->direction & SETTEE_SYNC_PULL) && (c->direction & SETTEE_SYNC_PUSH);
    s->pull_pending = two_way && !c->continuous;
    if (c->direction & SETTEE_SYNC_PUSH) {
        st_repl_config p = base;
        p.source_db = db->core;
        p.target = s->url;
        p.create_target = true; /* PouchDB does the same for a missing remote */
        p.status_ctx = &s->hooks[0];
        st_repl *push = NULL;
        if ((s_st = st_repl_start(&p, &push, &ce)) != ST_OK) {
            rc = st_client_from_core(e, s_st, &ce);
            goto out;
        }
        pthread_mutex_lock(&s->mu);
        s->push = push;
        pthread_mutex_unlock(&s->mu);
    }
    if ((c->direction & SETTEE_SYNC_PULL) && !s->pull_pending) {
        st_repl *pull = NULL;
        if ((s_st = st_repl_start(&s->pull_cfg, &pull, &ce)) != ST_OK) {
            rc = st_client_from_core(e, s_st, &ce);
            goto out;
        }
        pthread_mutex_lock(&s->mu);
        s->pull = pull;
        /* The push may have failed already, before the pull existed. */
        bool stop_now = s->job_failed;
        pthread_mutex_unlock(&s->mu);
        if (stop_now)
            st_repl_stop(pull);
    }
    st_client_child_add(db);
    st_client_dispatch_add(db->disp, &s->task, &sync_ops);
    /* The hooks may have fired before s was registered. */
    st_client_dispatch_wake(db->disp);
    *out_sync = s;
    s = NULL;
    st_client_ok(e);
out:
    if (s) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true; /* a push hook must not start the pull now */
        pthread_mutex_unlock(&s->mu);
        st_repl_free(s->push);
        st_repl_free(s->pull);
        free_config(s);
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
    st_client_leave(db);
    return rc;
}

void settee_sync_stop(settee_sync *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    st_repl *push = s->push, *pull = s->pull;
    pthread_mutex_unlock(&s->mu);
    if (push)
        st_repl_stop(push);
    if (pull)
        st_repl_stop(pull);
    st_client_dispatch_wake(s->db->disp);
}

settee_status settee_sync_get_status(settee_sync *s, settee_sync_status *out_status)
{
    if (!s || !out_status)
        return SETTEE_MISUSE;
    bool all_ended;
    snapshot(s, out_status, &all_ended);
    return SETTEE_OK;
}

void settee_sync_free(settee_sync *s)
{
    if (!s)
        return;
    settee_sync_stop(s);
    st_client_dispatch_remove(&s->task);
}
