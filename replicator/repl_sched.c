/* repl_sched.c — the scheduler of a running replication (see repl_int.h).
 *
 *   changes(since, limit=batch_size, style=all_docs) — one read at a time,
 *   each answer a batch:  revs_diff(target) → get_revs(source) →
 *   write_revs(target); up to `concurrency` batches between read and
 *   written.  Batches finish in any order; the checkpoint only advances over
 *   a prefix of finished batches, so a recorded sequence never passes a
 *   change that was not written.  One checkpoint write (target and source
 *   _local docs) is in flight at a time; a newer sequence waits for it.
 *
 *   One-shot: the feed ran dry, every batch is written and the last
 *   checkpoint is stored → STOPPED.  Continuous: when caught up the changes
 *   read becomes a longpoll and the state IDLE.
 *
 * Failures: an answer that reaches us with an error is final (endpoints
 * retried what can be retried) and fails the replication with a message
 * that names the side and the peer, except where repl_setup.c and
 * repl_changes.c say otherwise (a continuous source that is missing).
 */
#include "repl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

batch *st_repl_batch_new(st_repl *r, char *last_seq)
{
    batch *b = calloc(1, sizeof *b);
    if (!b) {
        free(last_seq);
        return NULL;
    }
    b->r = r;
    b->last_seq = last_seq;
    if (r->tail)
        r->tail->next = b;
    else
        r->head = b;
    r->tail = b;
    return b;
}

void st_repl_batch_done(batch *b)
{
    st_repl *r = b->r;
    b->stage = B_DONE;
    if (b->fetched)
        st_ep_answer_free(b->fetched->arena);
    b->fetched = NULL;
    r->n_active--;
    st_repl_publish(r, false);
    st_repl_pump(r);
}

/* ------------------------------------------------------------ checkpoints */

static void write_checkpoint(st_repl *r);

static void on_ckpt_put(void *ctx, st_ep_reply *rep)
{
    side_ctx *c = ctx;
    st_repl *r = c->r;
    if (rep->st != ST_OK) {
        if (c->side == 0 && rep->http_status >= 400 && rep->http_status < 500) {
            /* A source we may read but not write (PouchDB does the same):
             * checkpoints then live on the target alone. */
            r->src_ckpt_off = true;
        } else {
            st_error e;
            st_fail(&e, rep->st, "%s %s: checkpoint not saved: %s", c->side ? "target" : "source",
                    c->side ? r->tgt->display : r->src->display, rep->err.reason);
            st_repl_set_error(r, &e, rep->http_status, false);
            if (c->side == 1)
                r->ckpt_target_ok = false;
        }
    }
    if (--r->ckpt_inflight)
        return;
    if (r->ckpt_target_ok) {
        st_repl_set_seq(r, r->ckpt_writing);
        pthread_mutex_lock(&r->mu);
        r->pub.checkpoints++;
        pthread_mutex_unlock(&r->mu);
        st_repl_publish(r, true);
    }
    free(r->ckpt_writing);
    r->ckpt_writing = NULL;
    write_checkpoint(r);
    st_repl_pump(r);
}

static void put_ckpt(st_repl *r, int side, const char *doc_id, st_ckpt_format fmt,
                     const st_json *history, const char *seq)
{
    st_ckpt_session s = {
        .doc_id = doc_id,
        .session_id = r->session_id,
        .start_time = r->start_time,
        .start_seq = r->start_seq,
        .old_history = history,
        .doc_ids_filter = r->cfg.n_doc_ids > 0,
    };
    st_buf body = ST_BUF_INIT;
    if (!st_ckpt_render(&s, &r->stats, seq, fmt, &body)) {
        st_buf_free(&body);
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    side_ctx *c = &r->ckpt_ctx[r->ckpt_inflight];
    c->r = r;
    c->side = side;
    c->cand = -1;
    r->ckpt_inflight++;
    st_ep *ep = side ? r->tgt : r->src;
    ep->ops->put_local(ep, doc_id, body.data, body.len, on_ckpt_put, c);
    st_buf_free(&body);
}

/* Record ckpt_next on both sides unless a write is already in flight. */
static void write_checkpoint(st_repl *r)
{
    if (r->ckpt_inflight || !r->ckpt_next || r->ph != PH_RUN)
        return;
    r->ckpt_writing = r->ckpt_next;
    r->ckpt_next = NULL;
    r->ckpt_target_ok = true;
    const char *seq = r->ckpt_writing;
    char couch_id[64];
    snprintf(couch_id, sizeof couch_id, "_local/%s", r->rep_id);
    /* Count every write before issuing any: answers come on later loop
     * iterations, but the count must be whole when the first one lands. */
    put_ckpt(r, 1, couch_id, ST_CKPT_COUCH, r->couch_history, seq);
    if (!r->src_ckpt_off)
        put_ckpt(r, 0, couch_id, ST_CKPT_COUCH, r->couch_history, seq);
    if (r->pouch_cand >= 0) {
        const char *pid = r->cands[r->pouch_cand].doc_id;
        put_ckpt(r, 1, pid, ST_CKPT_POUCH, r->pouch_history, seq);
        if (!r->src_ckpt_off)
            put_ckpt(r, 0, pid, ST_CKPT_POUCH, r->pouch_history, seq);
    }
}

/* Move the checkpoint over the finished prefix of batches. */
static void advance(st_repl *r)
{
    while (r->head && r->head->stage == B_DONE) {
        batch *b = r->head;
        r->head = b->next;
        if (!r->head)
            r->tail = NULL;
        free(r->ckpt_next);
        r->ckpt_next = b->last_seq;
        free(b);
    }
    write_checkpoint(r);
}

/* Keep the pipeline full and notice the end. */
void st_repl_pump(st_repl *r)
{
    if (r->ph != PH_RUN)
        return;
    advance(r);
    if (r->ph != PH_RUN)
        return;
    if (!r->reading && !r->feed_done && r->n_active < r->cfg.concurrency)
        st_repl_read_changes(r);
    if (r->feed_done && !r->reading && r->n_active == 0 && !r->head && !r->ckpt_inflight &&
        !r->ckpt_next) {
        st_repl_finish(r, ST_REPL_STOPPED, NULL, 0);
        return;
    }
    if (r->state == ST_REPL_RUNNING || r->state == ST_REPL_IDLE) {
        bool idle = r->reading && r->caught_up && r->cfg.continuous && r->n_active == 0;
        st_repl_set_state(r, idle ? ST_REPL_IDLE : ST_REPL_RUNNING);
    }
}

void st_repl_start_run(st_repl *r)
{
    if (!(r->since = strdup(r->start_seq))) {
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_repl_set_seq(r, r->start_seq);
    r->ph = PH_RUN;
    st_repl_set_state(r, ST_REPL_RUNNING);
    st_repl_pump(r);
}
