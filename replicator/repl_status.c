/* repl_status.c — what a replication reports (see repl_int.h): the status
 * snapshot st_repl_get_status returns, state changes and the on_status
 * callback, errors, and the endpoints' retry hooks (OFFLINE while a peer is
 * unreachable, back when it answers).
 *
 * last_error: an error reported while retrying (OFFLINE, or STARTING while
 * the source is missing) is cleared when the replication is back to
 * RUNNING or IDLE; a final error and per-document failures stay until a
 * newer error replaces them.
 */
#include "repl_int.h"

#include <stdio.h>
#include <string.h>

void st_repl_publish(st_repl *r, bool notify)
{
    st_repl_status snap;
    pthread_mutex_lock(&r->mu);
    r->pub.state = r->state;
    r->pub.docs_read = r->stats.docs_read;
    r->pub.docs_written = r->stats.docs_written;
    r->pub.doc_write_failures = r->stats.doc_write_failures;
    r->pub.missing_checked = r->stats.missing_checked;
    r->pub.missing_found = r->stats.missing_found;
    snap = r->pub;
    pthread_mutex_unlock(&r->mu);
    if (notify && r->cfg.on_status)
        r->cfg.on_status(r->cfg.status_ctx, r, &snap);
}

void st_repl_set_state(st_repl *r, st_repl_state s)
{
    if (r->state == s)
        return;
    r->state = s;
    if (s == ST_REPL_RUNNING || s == ST_REPL_IDLE) {
        /* Recovered: the trouble we were retrying is over. */
        pthread_mutex_lock(&r->mu);
        if (r->error_transient) {
            st_error_clear(&r->pub.last_error);
            r->pub.last_http_status = 0;
            r->error_transient = false;
        }
        pthread_mutex_unlock(&r->mu);
    }
    st_repl_publish(r, true);
}

void st_repl_set_error(st_repl *r, const st_error *e, int http_status, bool transient)
{
    pthread_mutex_lock(&r->mu);
    r->pub.last_error = *e;
    r->pub.last_http_status = http_status;
    r->error_transient = transient;
    pthread_mutex_unlock(&r->mu);
}

void st_repl_set_seq(st_repl *r, const char *seq)
{
    pthread_mutex_lock(&r->mu);
    size_t n = strlen(seq);
    r->pub.last_seq_truncated = n >= sizeof r->pub.last_seq;
    snprintf(r->pub.last_seq, sizeof r->pub.last_seq, "%s", seq);
    pthread_mutex_unlock(&r->mu);
}

void st_repl_count_retry(st_repl *r)
{
    pthread_mutex_lock(&r->mu);
    r->pub.retries++;
    pthread_mutex_unlock(&r->mu);
}

static void on_retrying(void *ctx, st_ep *ep, const st_error *e, int http_status,
                        unsigned attempt, unsigned delay_ms)
{
    (void)attempt;
    (void)delay_ms;
    st_repl *r = ctx;
    st_error m;
    st_fail(&m, e->code, "%s %s: %s (retrying)", ep == r->src ? "source" : "target", ep->display,
            e->reason);
    st_repl_set_error(r, &m, http_status, true);
    st_repl_count_retry(r);
    if (r->state != ST_REPL_OFFLINE && r->ph != PH_END) {
        r->before_offline = r->state;
        st_repl_set_state(r, ST_REPL_OFFLINE);
    }
}

static void on_recovered(void *ctx, st_ep *ep)
{
    (void)ep;
    st_repl *r = ctx;
    if (r->state == ST_REPL_OFFLINE && r->ph != PH_END) {
        st_repl_set_state(r, r->before_offline == ST_REPL_STARTING ? ST_REPL_STARTING
                                                                    : ST_REPL_RUNNING);
        st_repl_pump(r);
    }
}

const st_ep_hooks st_repl_hooks = {on_retrying, on_recovered, NULL};
