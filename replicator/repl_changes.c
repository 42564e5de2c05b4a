/* repl_changes.c — the changes reader (see repl_int.h): one changes read
 * at a time; each answer with rows becomes a batch, whose pipeline starts
 * at once (repl_batch.c), and the next read may follow while it runs.
 *
 * The feed is style=all_docs (every leaf of each changed document).  A
 * one-shot replication is done with the feed once an answer has fewer rows
 * than the limit; a continuous one then reads with longpoll.  A continuous
 * replication whose source answers 404 (the database went away) starts over
 * (repl_setup.c).
 */
#include "repl_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Raw JSON seq text → the endpoints' form: an unsigned integer is a
 * number, anything else the peer's own value. */
static st_ep_seq seq_of(const char *text)
{
    st_ep_seq s = {0, text};
    if (text && text[0] >= '0' && text[0] <= '9') {
        char *end = NULL;
        unsigned long long v = strtoull(text, &end, 10);
        if (*end == '\0') {
            s.n = v;
            s.json = NULL;
        }
    }
    return s;
}

static char *seq_text(const st_ep_seq *s)
{
    if (s->json)
        return strdup(s->json);
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, s->n);
    return strdup(num);
}

static void on_changes(void *ctx, st_ep_reply *rep)
{
    st_repl *r = ctx;
    r->reading = false;
    if (rep->st == ST_E_NOT_FOUND && r->cfg.continuous) {
        st_repl_restart(r, rep); /* the source database went away */
        return;
    }
    if (rep->st != ST_OK) {
        st_repl_fail_reply(r, "source", r->src, "_changes", rep);
        return;
    }
    const st_ep_changes *c = rep->changes;
    char *last = seq_text(&c->last_seq);
    if (!last) {
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->pub.changes_read += c->n;
    if (c->has_pending)
        r->pub.pending = c->pending;
    pthread_mutex_unlock(&r->mu);
    r->caught_up = c->n < r->cfg.batch_size;
    if (r->caught_up && !r->cfg.continuous)
        r->feed_done = true;
    bool moved = strcmp(last, r->since) != 0;
    free(r->since);
    if (!(r->since = strdup(last))) {
        free(last);
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    if (c->n == 0) {
        /* Nothing to copy, but a filtered feed may still have moved on:
         * record that, so a restart does not rescan the skipped range. */
        batch *b = moved ? st_repl_batch_new(r, last) : (free(last), NULL);
        if (b)
            b->stage = B_DONE;
        st_repl_pump(r);
        return;
    }
    batch *b = st_repl_batch_new(r, last);
    if (!b) {
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    r->n_active++;
    st_repl_batch_diff(b, c);
    st_repl_pump(r);
}

void st_repl_read_changes(st_repl *r)
{
    st_ep_changes_req q = {
        .since = seq_of(r->since),
        .limit = r->cfg.batch_size,
        .longpoll = r->caught_up && r->cfg.continuous,
        .timeout_ms = r->cfg.feed_timeout_ms,
        .doc_ids = r->cfg.doc_ids,
        .n_doc_ids = r->cfg.n_doc_ids,
        .selector = r->cfg.selector,
        .filter = r->cfg.filter,
        .query_params = r->cfg.query_params,
        .qs = r->cfg.qs,
    };
    r->reading = true;
    r->src->ops->changes(r->src, &q, on_changes, r);
}
