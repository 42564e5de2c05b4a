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
 *
 * The stages (repl_setup.c, repl_changes.c, repl_batch.c) are called from
 * here only, each with the continuation that brings its result back:
 * start_run after setup, on_rows after a changes read, batch_done after a
 * batch's pipeline.
 */
#include "repl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pump(st_repl *r);
static void on_rows(st_repl *r, const st_ep_reply *rep, char *last_seq);

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
    pump(r);
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
static void pump(st_repl *r)
{
    if (r->ph != PH_RUN)
        return;
    advance(r);
    if (r->ph != PH_RUN)
        return;
    if (!r->reading && !r->feed_done && r->n_active < r->cfg.concurrency)
        st_repl_read_changes(r, on_rows);
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

/* ------------------------------------------------------------ the run */

/* A new batch at the tail, taking last_seq; NULL (last_seq freed): out of
 * memory. */
static batch *batch_new(st_repl *r, char *last_seq)
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

/* A batch is written (or had nothing to write): its slot is free. */
static void batch_done(batch *b)
{
    st_repl *r = b->r;
    r->n_active--;
    st_repl_publish(r, false);
    pump(r);
}

/* Setup is done (st_repl_ready_fn): read from r->start_seq on. */
static void start_run(st_repl *r)
{
    if (!(r->since = strdup(r->start_seq))) {
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_repl_set_seq(r, r->start_seq);
    r->ph = PH_RUN;
    st_repl_set_state(r, ST_REPL_RUNNING);
    pump(r);
}

/* Continuous, and _changes answered 404: the source database went away
 * under us.  Drop everything in flight and start over from the source's
 * info once it exists again, as CouchDB's scheduler restarts a crashed job:
 * what was written stays written, and the checkpoints (a re-created source
 * has none) decide where the new run starts. */
static void restart(st_repl *r, const st_ep_reply *rep)
{
    r->src->ops->cancel_all(r->src);
    r->tgt->ops->cancel_all(r->tgt);
    st_repl_batches_free(r);
    free(r->since);
    free(r->ckpt_next);
    free(r->ckpt_writing);
    r->since = r->ckpt_next = r->ckpt_writing = NULL;
    r->ckpt_inflight = 0;
    r->reading = r->caught_up = r->feed_done = false;
    r->src_ckpt_off = false;
    st_uuid(r->session_id); /* a new session, as a restarted CouchDB job */
    st_ckpt_time(r->start_time);
    st_repl_setup_restart(r, rep, start_run);
}

/* A changes answer (st_repl_rows_fn): its rows become a batch, whose
 * pipeline starts at once, and the next read may follow while it runs. */
static void on_rows(st_repl *r, const st_ep_reply *rep, char *last_seq)
{
    if (rep->st != ST_OK) {
        restart(r, rep);
        return;
    }
    const st_ep_changes *c = rep->changes;
    if (c->n == 0) {
        /* Nothing to copy, but a filtered feed may still have moved on:
         * record that, so a restart does not rescan the skipped range. */
        batch *b = last_seq ? batch_new(r, last_seq) : NULL;
        if (b)
            b->stage = B_DONE;
        pump(r);
        return;
    }
    batch *b = batch_new(r, last_seq);
    if (!b) {
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    r->n_active++;
    st_repl_batch_diff(b, c, batch_done);
    pump(r);
}

void st_repl_begin(st_repl *r) { st_repl_setup_start(r, start_run); }

/* ------------------------------------------------- the endpoints' hooks */

/* OFFLINE while a peer is unreachable, back when it answers. */
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
        pump(r);
    }
}

const st_ep_hooks st_repl_hooks = {on_retrying, on_recovered, NULL};
