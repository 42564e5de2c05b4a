/* repl_batch.c — one batch's pipeline (see repl_int.h):
 *
 *   revs_diff(target) with every leaf of every changed document
 *   → get_revs(source) for what the target lacks, with its possible
 *     ancestors as atts_since (attachments the target has come as stubs)
 *   → write_revs(target) with new_edits=false, then the conflict hook.
 *
 * Per-document write failures (a validation function's forbidden, a
 * revision too large for the target) are counted and reported in
 * last_error, not fatal; new_edits=false merges commute, so batches may
 * finish in any order.  The pipeline ends by handing the batch to the
 * scheduler's continuation (finished); a failure ends the run instead.
 */
#include "repl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* b's work is over: free what it fetched and hand it back. */
static void finished(batch *b)
{
    b->stage = B_DONE;
    if (b->fetched)
        st_ep_answer_free(b->fetched->arena);
    b->fetched = NULL;
    b->on_done(b); /* may free b */
}

/* Every revision is answered: tell the conflict hook, then b is done. */
static void batch_written(batch *b)
{
    st_repl *r = b->r;
    const st_ep_docs *d = b->fetched;
    if (r->cfg.on_conflict && r->tgt->ops->conflicted) {
        const char *prev = NULL;
        for (size_t i = 0; i < d->n; i++) {
            /* A document's revisions come together. */
            const char *id = d->docs[i].id;
            if (prev && strcmp(prev, id) == 0)
                continue;
            prev = id;
            if (r->tgt->ops->conflicted(r->tgt, id))
                r->cfg.on_conflict(r->cfg.conflict_ctx, r, id);
        }
    }
    finished(b);
}

/* One revision the target refused: the status's last_error says which. */
static void write_failure(st_repl *r, const st_rep_doc *d, const st_ep_write_fail *f)
{
    char rev[ST_REV_STR_MAX];
    st_rev_format(&d->path[0], rev, sizeof rev);
    st_error e;
    st_fail(&e, f->code, "target refused %s %s: %s: %s", d->id, rev, f->error, f->reason);
    st_repl_set_error(r, &e, 0, false);
}

static void on_written(void *ctx, st_ep_reply *rep)
{
    batch *b = ctx;
    st_repl *r = b->r;
    if (rep->st != ST_OK) {
        st_repl_fail_reply(r, "target", r->tgt, "writing revisions", rep);
        return;
    }
    const st_ep_written *w = rep->written;
    size_t n = b->fetched->n, failures = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->fails[i].index >= n)
            continue;
        failures++;
        write_failure(r, &b->fetched->docs[w->fails[i].index], &w->fails[i]);
    }
    r->stats.doc_write_failures += failures;
    r->stats.docs_written += n - failures;
    batch_written(b);
}

static void on_fetched(void *ctx, st_ep_reply *rep)
{
    batch *b = ctx;
    st_repl *r = b->r;
    if (rep->st != ST_OK) {
        st_repl_fail_reply(r, "source", r->src, "reading revisions", rep);
        return;
    }
    /* The revisions stay ours until written: write_revs borrows them. */
    b->fetched = rep->docs;
    rep->docs = NULL;
    r->stats.docs_read += b->fetched->n;
    r->stats.bulk_get_docs += b->fetched->n;
    if (b->fetched->n == 0) {
        finished(b);
        return;
    }
    b->stage = B_WRITE;
    r->tgt->ops->write_revs(r->tgt, b->fetched->docs, b->fetched->n, on_written, b);
}

static void on_diff(void *ctx, st_ep_reply *rep)
{
    batch *b = ctx;
    st_repl *r = b->r;
    if (rep->st != ST_OK) {
        st_repl_fail_reply(r, "target", r->tgt, "_revs_diff", rep);
        return;
    }
    const st_ep_missing *m = rep->missing;
    st_rep_want *wants = calloc(m->n ? m->n : 1, sizeof *wants);
    if (!wants) {
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    size_t revs = 0;
    for (size_t i = 0; i < m->n; i++) {
        const st_ep_missing_row *row = &m->rows[i];
        wants[i] = (st_rep_want){row->id, row->missing, row->n_missing, row->ancestors,
                                 row->n_ancestors};
        revs += row->n_missing;
    }
    r->stats.missing_found += revs;
    if (revs == 0) {
        free(wants);
        finished(b);
        return;
    }
    b->stage = B_GET;
    r->stats.bulk_get_attempts += revs;
    /* wants point into the diff answer: get_revs copies what it keeps. */
    r->src->ops->get_revs(r->src, wants, m->n, on_fetched, b);
    free(wants);
}

void st_repl_batch_diff(batch *b, const st_ep_changes *c, st_repl_batch_fn done)
{
    st_repl *r = b->r;
    b->on_done = done;
    st_rep_diff *diffs = calloc(c->n, sizeof *diffs);
    if (!diffs) {
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        diffs[i] = (st_rep_diff){c->rows[i].id, c->rows[i].revs, c->rows[i].n_revs};
        r->stats.missing_checked += c->rows[i].n_revs;
    }
    b->stage = B_DIFF;
    r->tgt->ops->revs_diff(r->tgt, diffs, c->n, on_diff, b);
    free(diffs);
}
