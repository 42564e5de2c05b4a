/* repl_status.c — what a replication reports (see repl_int.h): the status
 * snapshot st_repl_get_status returns, state changes and the on_status
 * callback, errors; and the end of a run, which every layer above may
 * call.  The bottom of the stack: it calls nothing above it.
 *
 * last_error: an error reported while retrying (OFFLINE, or STARTING while
 * the source is missing) is cleared when the replication is back to
 * RUNNING or IDLE; a final error and per-document failures stay until a
 * newer error replaces them.
 */
#include "repl_int.h"

#include <stdio.h>
#include <stdlib.h>
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

/* ------------------------------------------------------------ the end */

void st_repl_batches_free(st_repl *r)
{
    while (r->head) {
        batch *b = r->head;
        r->head = b->next;
        if (b->fetched)
            st_ep_answer_free(b->fetched->arena);
        free(b->last_seq);
        free(b);
    }
    r->tail = NULL;
    r->n_active = 0;
}

void st_repl_finish(st_repl *r, st_repl_state s, const st_error *e, int http_status)
{
    if (r->ph == PH_END)
        return;
    r->ph = PH_END;
    st_loop_timer_stop(r->loop, &r->src_retry);
    if (r->src)
        r->src->ops->cancel_all(r->src);
    if (r->tgt)
        r->tgt->ops->cancel_all(r->tgt);
    st_repl_batches_free(r);
    if (e)
        st_repl_set_error(r, e, http_status, false);
    st_repl_set_state(r, s);
}

void st_repl_fail_reply(st_repl *r, const char *role, const st_ep *ep, const char *what,
                        const st_ep_reply *rep)
{
    st_error e;
    st_fail(&e, rep->st, "%s %s: %s: %s", role, ep->display, what, rep->err.reason);
    st_repl_finish(r, ST_REPL_FAILED, &e, rep->http_status);
}

void st_repl_fail_msg(st_repl *r, st_status code, const char *msg)
{
    st_error e;
    st_fail(&e, code, "%s", msg);
    st_repl_finish(r, ST_REPL_FAILED, &e, 0);
}
