/* repl.c — one replication, source → target, on a thread of its own: the
 * public API of st_repl.h (config, start, stop, wait, status) and the
 * thread's loop.  What the thread does is in the files repl_int.h lists.
 */
#include "repl_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

/* ------------------------------------------------------------ thread */

static st_status open_side(st_repl *r, const char *spec, st_db *db, st_ep **out, st_error *err)
{
    st_status st;
    if (db || !st_ep_is_url(spec)) {
        st = st_ep_local_new(r->loop, spec, db, out, err);
    } else {
        st_ep_http_opts o = {
            .timeout_ms = r->cfg.timeout_ms,
            .max_retries = r->cfg.continuous ? UINT_MAX : r->cfg.max_retries,
            .retry_base_ms = r->cfg.retry_base_ms,
            .retry_max_ms = r->cfg.retry_max_ms,
            .ca_file = r->cfg.ca_file,
            .insecure = r->cfg.insecure,
            .username = r->cfg.username,
            .password = r->cfg.password,
            .bearer_token = r->cfg.bearer_token,
            .use_session = r->cfg.use_session,
        };
        st = st_ep_http_new(r->loop, spec, &o, out, err);
    }
    if (st == ST_OK) {
        (*out)->hooks = st_repl_hooks;
        (*out)->hooks.ctx = r;
    }
    return st;
}

/* A local source runs a filter itself: it needs a query-server pool. */
static st_status need_qs(st_repl *r, st_error *err)
{
    const char *f = r->cfg.filter;
    bool local = r->cfg.source_db || !st_ep_is_url(r->cfg.source);
    if (!f || strcmp(f, "_design") == 0 || !local || r->cfg.qs)
        return ST_OK;
    st_status st = st_qs_new(NULL, &r->own_qs, err);
    if (st == ST_OK)
        st = st_qs_languages_from_env(r->own_qs, err);
    r->cfg.qs = r->own_qs;
    return st;
}

static void *thread_main(void *arg)
{
    st_repl *r = arg;
    st_error e;
    st_error_clear(&e);
    st_uuid(r->session_id);
    st_ckpt_time(r->start_time);
    r->state = ST_REPL_STARTING;
    st_repl_publish(r, true);
    if (need_qs(r, &e) != ST_OK ||
        open_side(r, r->cfg.source, r->cfg.source_db, &r->src, &e) != ST_OK ||
        open_side(r, r->cfg.target, r->cfg.target_db, &r->tgt, &e) != ST_OK)
        st_repl_finish(r, ST_REPL_FAILED, &e, 0);
    else
        st_repl_setup_start(r);
    while (r->ph != PH_END) {
        if (atomic_load(&r->stop)) {
            st_repl_finish(r, ST_REPL_STOPPED, NULL, 0);
            break;
        }
        st_loop_run_once(r->loop, 1000);
    }
    st_ep_free(r->src);
    st_ep_free(r->tgt);
    r->src = r->tgt = NULL;
    /* Nothing is checked out once the endpoints are gone. */
    st_qs_free(r->own_qs);
    r->own_qs = NULL;
    free(r->filter_code);
    r->filter_code = NULL;
    st_repl_cands_free(r);
    free(r->since);
    free(r->start_seq);
    free(r->ckpt_next);
    free(r->ckpt_writing);
    pthread_mutex_lock(&r->mu);
    r->ended = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ------------------------------------------------------------ public */

void st_repl_config_init(st_repl_config *c) { memset(c, 0, sizeof *c); }

const char *st_repl_state_name(st_repl_state s)
{
    switch (s) {
    case ST_REPL_STARTING: return "starting";
    case ST_REPL_RUNNING: return "running";
    case ST_REPL_IDLE: return "idle";
    case ST_REPL_OFFLINE: return "offline";
    case ST_REPL_STOPPED: return "stopped";
    case ST_REPL_FAILED: return "failed";
    }
    return "unknown";
}

static void wipe_free(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static void repl_destroy(st_repl *r)
{
    st_loop_free(r->loop);
    wipe_free(r->source); /* URLs may hold a password */
    wipe_free(r->target);
    free(r->ca_file);
    free(r->username);
    wipe_free(r->password);
    wipe_free(r->bearer_token);
    free(r->selector);
    free(r->filter);
    free(r->query_params);
    free(r->since_seq);
    for (size_t i = 0; r->doc_ids && i < r->cfg.n_doc_ids; i++)
        free(r->doc_ids[i]);
    free(r->doc_ids);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

static char *dup_opt(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

st_status st_repl_start(const st_repl_config *c, st_repl **out, st_error *err)
{
    *out = NULL;
    if (!c || (!c->source && !c->source_db) || (!c->target && !c->target_db))
        return st_fail(err, ST_E_BAD_REQUEST, "a replication needs a source and a target");
    if (c->selector) {
        st_json_doc *d = NULL;
        st_status st = st_json_parse(c->selector, strlen(c->selector), NULL, &d, err);
        bool obj = st == ST_OK && st_json_doc_root(d)->type == ST_JSON_OBJECT;
        st_json_doc_free(d);
        if (!obj)
            return st_fail(err, ST_E_BAD_REQUEST, "the selector must be a JSON object");
    }
    if ((c->n_doc_ids > 0) + (c->selector != NULL) + (c->filter != NULL) > 1)
        return st_fail(err, ST_E_BAD_REQUEST,
                       "`selector`, `filter` and `doc_ids` are mutually exclusive");
    if (c->filter && (!c->filter[0] || (c->filter[0] != '_' && !strchr(c->filter, '/'))))
        return st_fail(err, ST_E_BAD_REQUEST, "Invalid filter. Must match `ddocname/filtername`.");
    if (c->filter && c->query_params) {
        st_json_doc *d = NULL;
        st_status st = st_json_parse(c->query_params, strlen(c->query_params), NULL, &d, err);
        bool obj = st == ST_OK && st_json_doc_root(d)->type == ST_JSON_OBJECT;
        st_json_doc_free(d);
        if (!obj)
            return st_fail(err, ST_E_BAD_REQUEST, "query_params must be a JSON object");
    }
    if (c->since_seq) {
        st_json_doc *d = NULL;
        st_status st = st_json_parse(c->since_seq, strlen(c->since_seq), NULL, &d, err);
        st_json_doc_free(d);
        if (st != ST_OK)
            return st_fail(err, ST_E_BAD_REQUEST, "since_seq must be JSON (a number or a string)");
    }
    if (c->bearer_token && c->username)
        return st_fail(err, ST_E_BAD_REQUEST,
                       "bearer_token and username/password are mutually exclusive");
    if (c->password && !c->username)
        return st_fail(err, ST_E_BAD_REQUEST, "a password needs a username");
    st_repl *r = calloc(1, sizeof *r);
    if (!r)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    atomic_init(&r->stop, false);
    r->cfg = *c;
    bool oom = false;
    r->cfg.source = r->source = dup_opt(c->source, &oom);
    r->cfg.target = r->target = dup_opt(c->target, &oom);
    r->cfg.selector = r->selector = dup_opt(c->selector, &oom);
    r->cfg.filter = r->filter = dup_opt(c->filter, &oom);
    /* query_params mean nothing without a filter (as in CouchDB). */
    r->cfg.query_params = r->query_params = c->filter ? dup_opt(c->query_params, &oom) : NULL;
    r->cfg.since_seq = r->since_seq = dup_opt(c->since_seq, &oom);
    r->cfg.ca_file = r->ca_file = dup_opt(c->ca_file, &oom);
    r->cfg.username = r->username = dup_opt(c->username, &oom);
    r->cfg.password = r->password = dup_opt(c->password, &oom);
    r->cfg.bearer_token = r->bearer_token = dup_opt(c->bearer_token, &oom);
    if (c->n_doc_ids) {
        if (!(r->doc_ids = calloc(c->n_doc_ids, sizeof *r->doc_ids)))
            oom = true;
        for (size_t i = 0; !oom && i < c->n_doc_ids; i++)
            r->doc_ids[i] = dup_opt(c->doc_ids[i], &oom);
        r->cfg.doc_ids = (const char *const *)r->doc_ids;
    }
    if (!r->cfg.batch_size)
        r->cfg.batch_size = 500;
    if (!r->cfg.concurrency)
        r->cfg.concurrency = 4;
    if (!r->cfg.timeout_ms)
        r->cfg.timeout_ms = 30000;
    if (!r->cfg.feed_timeout_ms)
        r->cfg.feed_timeout_ms = 25000;
    if (!r->cfg.max_retries)
        r->cfg.max_retries = 10;
    if (!r->cfg.retry_base_ms)
        r->cfg.retry_base_ms = 250;
    if (!r->cfg.retry_max_ms)
        r->cfg.retry_max_ms = 30000;
    snprintf(r->pub.last_seq, sizeof r->pub.last_seq, "0");
    r->pouch_cand = -1;
    st_status st = oom ? st_fail(err, ST_E_NOMEM, "out of memory") : st_loop_new(&r->loop, err);
    if (st == ST_OK && pthread_create(&r->thread, NULL, thread_main, r) != 0)
        st = st_fail(err, ST_E_NOMEM, "cannot start the replication thread");
    if (st != ST_OK) {
        repl_destroy(r);
        return st;
    }
    *out = r;
    return ST_OK;
}

void st_repl_stop(st_repl *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, true);
    st_loop_wakeup(r->loop);
}

st_repl_state st_repl_wait(st_repl *r, int timeout_ms)
{
    pthread_mutex_lock(&r->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    while (!r->ended) {
        if (timeout_ms < 0)
            pthread_cond_wait(&r->cv, &r->mu);
        else if (pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0)
            break;
    }
    st_repl_state s = r->pub.state;
    pthread_mutex_unlock(&r->mu);
    return s;
}

void st_repl_get_status(st_repl *r, st_repl_status *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->pub;
    pthread_mutex_unlock(&r->mu);
}

void st_repl_free(st_repl *r)
{
    if (!r)
        return;
    st_repl_stop(r);
    pthread_join(r->thread, NULL);
    repl_destroy(r);
}

st_status st_repl_run(const st_repl_config *c, st_repl_status *out, st_error *err)
{
    st_repl_config one = *c;
    one.continuous = false;
    st_repl *r = NULL;
    st_status st = st_repl_start(&one, &r, err);
    if (st != ST_OK)
        return st;
    st_repl_wait(r, -1);
    st_repl_status s;
    st_repl_get_status(r, &s);
    st_repl_free(r);
    if (out)
        *out = s;
    if (s.state != ST_REPL_STOPPED) {
        if (err)
            *err = s.last_error;
        return s.last_error.code != ST_OK ? s.last_error.code : ST_E_IO;
    }
    return ST_OK;
}
