/* sync_run.c — start the replications of a `settee sync`-like command and
 * watch them to the end (see sync.h): signals, the give-up clock, and the
 * queue that carries the replicator's status hook to the main thread.
 *
 * Why a queue: the hook runs on the replication's thread on every state
 * change and checkpoint; polling alone would miss states that pass between
 * two polls (STARTING → RUNNING → STOPPED in a few milliseconds) and report
 * a last_seq that lags the checkpoint.  The hook copies the status into the
 * queue and signals; the main thread reports each, in order.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "report.h"
#include "sync.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------- the queue */

typedef struct event {
    size_t watch;
    double mono;
    struct timespec real;
    st_repl_status st;
} event;

typedef struct run run;

typedef struct hook_ctx {
    run *r;
    size_t watch;                 /* which replication the hook is of */
} hook_ctx;

struct run {
    const cli_sync_opts *o;
    cli_watch ws[2];
    size_t n;                     /* watches in use */
    hook_ctx hooks[2];
    double stuck_since[2];        /* since when each could not reach its peers */
    bool stopping;                /* every replication was asked to stop */
    char why[700];                /* why the run failed as a whole, or "" */
    pthread_mutex_t mu;           /* the queue */
    event *q;
    size_t qn, qcap;
};

static void on_status(void *ctx, st_repl *rep, const st_repl_status *st)
{
    (void)rep;
    hook_ctx *h = ctx;
    run *r = h->r;
    event ev = {.watch = h->watch, .mono = now_mono(), .st = *st};
    clock_gettime(CLOCK_REALTIME, &ev.real);
    pthread_mutex_lock(&r->mu);
    if (r->qn == r->qcap) {
        size_t cap = r->qcap ? r->qcap * 2 : 16;
        event *q = realloc(r->q, cap * sizeof *q);
        if (q) {
            r->q = q;
            r->qcap = cap;
        }
    }
    /* Out of memory drops the event; the polled status still shows where
     * the replication is. */
    if (r->qn < r->qcap)
        r->q[r->qn++] = ev;
    pthread_mutex_unlock(&r->mu);
}

/* Report every queued event, in order. */
static void drain(run *r, cli_report *rp)
{
    pthread_mutex_lock(&r->mu);
    event *q = r->q;
    size_t n = r->qn;
    r->q = NULL;
    r->qn = r->qcap = 0;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n; i++)
        cli_report_status(rp, &r->ws[q[i].watch], &q[i].st, q[i].mono, &q[i].real);
    free(q);
}

/* ------------------------------------------------------------ starting */

static void config_for(const cli_sync_opts *o, const char *src, const char *tgt, bool create,
                       st_repl_config *c)
{
    st_repl_config_init(c);
    c->source = src;
    c->target = tgt;
    c->continuous = o->continuous;
    c->create_target = create;
    c->doc_ids = o->doc_ids;
    c->n_doc_ids = o->n_doc_ids;
    c->selector = o->selector;
    c->filter = o->filter;
    c->query_params = o->query_params;
    c->since_seq = o->since_json;
    c->batch_size = o->batch_size;
    c->concurrency = o->concurrency;
    c->pouchdb_checkpoints = o->pouch;
    /* Fail fast unless asked for patience (sync.h). */
    bool patient = o->retry || o->continuous;
    if (o->timeout_s)
        c->timeout_ms = o->timeout_s * 1000u;
    else if (!patient)
        c->timeout_ms = CLI_TIMEOUT_S * 1000u;
    if (!o->retry) {
        c->max_retries = 2;
        c->retry_max_ms = 1000;
    }
    const cli_remote *rm = o->remote;
    c->ca_file = rm->ca_file;
    c->insecure = rm->insecure;
    c->username = rm->user;
    c->password = rm->password;
    c->bearer_token = rm->bearer_token;
    c->use_session = rm->session;
}

static bool start(run *r, size_t k, st_error *err)
{
    const cli_sync_opts *o = r->o;
    st_repl_config c;
    if (k == 0)
        config_for(o, o->source, o->target, o->create_target, &c);
    else
        config_for(o, o->target, o->source, false, &c);
    r->hooks[k] = (hook_ctx){r, k};
    c.on_status = on_status;
    c.status_ctx = &r->hooks[k];
    return st_repl_start(&c, &r->ws[k].r, err) == ST_OK;
}

/* ------------------------------------------------------------ watching */

static bool ended(st_repl_state s) { return s == ST_REPL_STOPPED || s == ST_REPL_FAILED; }

static bool stuck(st_repl_state s) { return s == ST_REPL_STARTING || s == ST_REPL_OFFLINE; }

static void stop_all(run *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->ws[i].r)
            st_repl_stop(r->ws[i].r);
}

/* What keeps w from its peers: its last error (without the replicator's
 * "(retrying)", since we stop), or which URL did not answer. */
static void describe_trouble(const cli_watch *w, const st_repl_status *s, char *out, size_t cap)
{
    if (s->last_error.code != ST_OK) {
        const char *r = s->last_error.reason;
        size_t n = strlen(r);
        const char *tail = " (retrying)";
        if (n >= strlen(tail) && strcmp(r + n - strlen(tail), tail) == 0)
            n -= strlen(tail);
        snprintf(out, cap, "%.*s", (int)n, r);
        return;
    }
    bool a = cli_is_url(w->from), b = cli_is_url(w->to);
    snprintf(out, cap, "no answer from %s%s%s", a ? w->from : "", a && b ? " or " : "",
             b ? w->to : "");
}

/* The give-up time in seconds, 0 for never (sync.h). */
static double give_up_after(const cli_sync_opts *o)
{
    if (o->timeout_s)
        return o->timeout_s;
    return o->continuous || o->retry ? 0 : CLI_TIMEOUT_S;
}

/* Stop everything, saying why (why NULL: an interrupt, not a failure). */
static void stop_because(run *r, const char *why)
{
    if (r->stopping)
        return;
    r->stopping = true;
    if (why)
        snprintf(r->why, sizeof r->why, "%s", why);
    stop_all(r);
}

/* Give up when a replication has not reached its peers for too long. */
static void check_give_up(run *r, double now)
{
    double limit = give_up_after(r->o);
    for (size_t i = 0; i < r->n; i++) {
        st_repl_status s;
        st_repl_get_status(r->ws[i].r, &s);
        if (!stuck(s.state))
            r->stuck_since[i] = now;
        else if (limit && now - r->stuck_since[i] >= limit) {
            char peer[600], why[sizeof r->why];
            describe_trouble(&r->ws[i], &s, peer, sizeof peer);
            snprintf(why, sizeof why,
                     "gave up after %.0f s: %s (--timeout N waits longer, --retry keeps "
                     "retrying)", limit, peer);
            stop_because(r, why);
        }
    }
}

/* sync: the pull reads TARGET, which the push may have to create first, so
 * it starts once the push got past its setup.  Returns whether the pull
 * still waits for that. */
static bool pull_waits(run *r, double now)
{
    if (!r->o->both || r->n == 2 || r->stopping)
        return false;
    st_repl_status s;
    st_repl_get_status(r->ws[0].r, &s);
    if (s.state == ST_REPL_FAILED)
        return false; /* the sync ends with the push's error */
    if (!ended(s.state) && s.state != ST_REPL_RUNNING && s.state != ST_REPL_IDLE)
        return true;
    st_error err;
    if (!start(r, 1, &err)) {
        stop_because(r, err.reason);
        return false;
    }
    r->n = 2;
    r->stuck_since[1] = now;
    return false;
}

static bool all_ended(run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        st_repl_status s;
        st_repl_get_status(r->ws[i].r, &s);
        if (!ended(s.state))
            return false;
    }
    return true;
}

/* Sleep until a replication ends or the next redraw is due. */
static void nap(run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        st_repl_status s;
        st_repl_get_status(r->ws[i].r, &s);
        if (!ended(s.state)) {
            st_repl_wait(r->ws[i].r, 200);
            return;
        }
    }
}

/* After the end: which options would help the first failed replication
 * (a certificate that did not verify, missing credentials). */
static void hint(const run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        st_repl_status s;
        st_repl_get_status(r->ws[i].r, &s);
        if (s.state != ST_REPL_FAILED)
            continue;
        /* "TLS: " starts the replicator's reason for a refused
         * certificate (docs/replication.md, "TLS and credentials"). */
        bool tls = s.last_error.code == ST_E_NETWORK &&
                   strstr(s.last_error.reason, "TLS: ") != NULL;
        const char *urls[2] = {r->o->source, r->o->target};
        cli_remote_hint(r->o->cmd, r->o->remote, tls, s.last_error.code == ST_E_UNAUTHORIZED,
                        urls, 2);
        return;
    }
}

/* Watch until everything ended; returns the exit status. */
static int supervise(run *r, cli_report *rp)
{
    r->stuck_since[0] = r->stuck_since[1] = rp->t0;
    for (;;) {
        drain(r, rp);
        double now = now_mono();
        check_give_up(r, now);
        bool waiting = pull_waits(r, now);
        if (interrupted)
            stop_because(r, NULL);
        cli_report_poll(rp, r->ws, r->n, now);
        if (!waiting && all_ended(r))
            break;
        nap(r);
    }
    drain(r, rp);
    int rc = r->why[0] ? 1 : 0;
    for (size_t i = 0; i < r->n; i++) {
        st_repl_status s;
        st_repl_get_status(r->ws[i].r, &s);
        if (s.state == ST_REPL_FAILED)
            rc = 1;
    }
    cli_report_end(rp, r->ws, r->n, now_mono(), rc, r->why[0] ? r->why : NULL);
    hint(r);
    return rc;
}

int cli_sync_run(const cli_sync_opts *o)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    pthread_mutex_init(&r.mu, NULL);
    int rc = 2;
    const char *first = o->both ? "push" : "copy";
    if (!cli_watch_init(&r.ws[0], first, o->source, o->target) ||
        (o->both && !cli_watch_init(&r.ws[1], "pull", o->target, o->source))) {
        fprintf(stderr, "settee %s: out of memory\n", o->cmd);
        goto out;
    }
    cli_report rp;
    cli_report_init(&rp, o->cmd, o->json, o->quiet, now_mono());
    st_error err;
    if (!start(&r, 0, &err)) {
        fprintf(stderr, "settee %s: %s\n", o->cmd, err.reason);
        goto out;
    }
    r.n = 1;
    rc = supervise(&r, &rp);
out:
    for (size_t i = 0; i < 2; i++) {
        st_repl_free(r.ws[i].r);
        cli_watch_free(&r.ws[i]);
    }
    free(r.q);
    pthread_mutex_destroy(&r.mu);
    return rc;
}
