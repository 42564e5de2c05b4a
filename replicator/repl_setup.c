/* repl_setup.c — a replication's start (see repl_int.h):
 *
 *   info(source) ∥ info(target) [→ create(target) → info(target)]
 *   → replication ids → get_local(id) on both sides, for every candidate
 *   id → the resume sequence (checkpoint.h) → the run (repl_sched.c)
 *
 * A continuous replication whose source database is missing (404, at setup
 * or later from _changes) does not fail: it starts over from the peers'
 * info after a backoff, for as long as it takes (a two-way sync's pull
 * whose remote the push is about to create, or a database being
 * re-created).  A one-shot one fails with "database does not exist".
 */
#include "repl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "repl_id.h"

void st_repl_cands_free(st_repl *r)
{
    for (unsigned i = 0; i < r->n_cands; i++) {
        st_json_doc_free(r->cands[i].doc[0]);
        st_json_doc_free(r->cands[i].doc[1]);
        r->cands[i].doc[0] = r->cands[i].doc[1] = NULL;
    }
    r->n_cands = 0;
    r->couch_history = r->pouch_history = NULL;
}

/* ------------------------------------------------------ the resume point */

static bool seq_is_uint(const char *s, unsigned long long *out)
{
    if (!s || !*s || s[0] == '-')
        return false;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

static bool seq_is_zero(const char *s) { return !s || strcmp(s, "0") == 0; }

/* Prefer the later of two integer seqs; otherwise keep the first found. */
static bool seq_better(const char *cand_seq, const char *cur)
{
    if (seq_is_zero(cur))
        return !seq_is_zero(cand_seq);
    unsigned long long a, b;
    return seq_is_uint(cand_seq, &a) && seq_is_uint(cur, &b) && a > b;
}

static void choose_start(st_repl *r)
{
    char *best = strdup("0");
    for (unsigned i = 0; best && i < r->n_cands; i++) {
        cand *c = &r->cands[i];
        char *seq = NULL;
        const st_json *hist = NULL;
        if (!st_ckpt_compare(c->doc[0] ? st_json_doc_root(c->doc[0]) : NULL,
                             c->doc[1] ? st_json_doc_root(c->doc[1]) : NULL, c->fmt, &seq, &hist)) {
            free(best);
            best = NULL;
            break;
        }
        if (i == 0)
            r->couch_history = hist;
        if ((int)i == r->pouch_cand)
            r->pouch_history = hist;
        if (seq_better(seq, best)) {
            free(best);
            best = seq;
        } else {
            free(seq);
        }
    }
    if (!best) {
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    r->start_seq = best;
    st_repl_start_run(r);
}

static void on_ckpt_read(void *ctx, st_ep_reply *rep)
{
    side_ctx *c = ctx;
    st_repl *r = c->r;
    if (rep->st == ST_OK) {
        r->cands[c->cand].doc[c->side] = rep->json;
        rep->json = NULL;
    } else if (rep->st != ST_E_NOT_FOUND) {
        st_repl_fail_reply(r, c->side ? "target" : "source", c->side ? r->tgt : r->src,
                           "reading the checkpoint", rep);
        return;
    }
    if (--r->setup_pending == 0)
        choose_start(r);
}

/* ------------------------------------------------------ replication ids */

static void add_cand(st_repl *r, const char *id, st_ckpt_format fmt)
{
    for (unsigned i = 0; i < r->n_cands; i++)
        if (strcmp(r->cands[i].doc_id + 7, id) == 0)
            return;
    if (r->n_cands == MAX_CANDIDATES)
        return;
    cand *c = &r->cands[r->n_cands++];
    c->r = r;
    c->fmt = fmt;
    snprintf(c->doc_id, sizeof c->doc_id, "_local/%s", id);
}

/* Every checkpoint id worth reading: ours, and those a CouchDB job for the
 * same pair would use (see repl_id.h). */
static bool add_cands(st_repl *r, st_error *e)
{
    /* CouchDB hashes the replicating server's uuid; see repl_id.h. */
    const char *uuid = r->src->remote ? r->src->uuid : r->tgt->remote ? r->tgt->uuid : r->src->uuid;
    const char *alt = r->src->remote && r->tgt->remote ? r->tgt->uuid : NULL;
    const char *const *ids = r->cfg.doc_ids;
    size_t n_ids = r->cfg.n_doc_ids;
    const char *sel = r->cfg.selector;
    st_repl_id_filter fv = {r->cfg.filter, r->filter_code, r->cfg.query_params};
    const st_repl_id_filter *f = r->cfg.filter ? &fv : NULL;
    char id[33];
    if (st_repl_id_couch(uuid, r->src, r->tgt, ids, n_ids, sel, f, ST_TERM_ATOM_LATIN1, r->rep_id,
                         e) != ST_OK)
        return false;
    pthread_mutex_lock(&r->mu);
    memcpy(r->pub.replication_id, r->rep_id, sizeof r->rep_id);
    pthread_mutex_unlock(&r->mu);
    add_cand(r, r->rep_id, ST_CKPT_COUCH);
    if (st_repl_id_couch(uuid, r->src, r->tgt, ids, n_ids, sel, f, ST_TERM_ATOM_UTF8, id, e) ==
        ST_OK)
        add_cand(r, id, ST_CKPT_COUCH);
    for (int a = 0; alt && a < 2; a++)
        if (st_repl_id_couch(alt, r->src, r->tgt, ids, n_ids, sel, f, (st_term_atoms)a, id, e) ==
            ST_OK)
            add_cand(r, id, ST_CKPT_COUCH);
    r->pouch_cand = -1;
    if (r->cfg.pouchdb_checkpoints) {
        char pid[25];
        if (st_repl_id_pouch(r->src, r->tgt, ids, n_ids, sel, f, pid, e) != ST_OK)
            return false;
        add_cand(r, pid, ST_CKPT_POUCH);
        if (strcmp(r->cands[r->n_cands - 1].doc_id + 7, pid) == 0)
            r->pouch_cand = (int)r->n_cands - 1;
    }
    return true;
}

/* ------------------------------------------------------ the filter's code */

static void after_filter(st_repl *r);

/* The design document of a "ddoc/name" filter, read from the source: its
 * function's source goes into the replication id, as CouchDB's replicator
 * fetches it (couch_replicator_filters:fetch), and a missing one fails the
 * replication with CouchDB's 404 not_found. */
static void on_filter_ddoc(void *ctx, st_ep_reply *rep)
{
    st_repl *r = ctx;
    const char *slash = strchr(r->cfg.filter, '/');
    int dn = (int)(slash - r->cfg.filter);
    st_error e;
    if (rep->st != ST_OK) {
        st_fail(&e, rep->st == ST_E_NOT_FOUND ? ST_E_NOT_FOUND : rep->st,
                "Couldn't open document `_design/%.*s` from source database `%s`: %s", dn,
                r->cfg.filter, r->src->display, rep->err.reason);
        st_repl_finish(r, ST_REPL_FAILED, &e, rep->st == ST_E_NOT_FOUND ? 404 : rep->http_status);
        return;
    }
    const st_json *filters = st_json_get(st_json_doc_root(rep->json), "filters");
    const char *src = filters && filters->type == ST_JSON_OBJECT ? st_json_get_str(filters, slash + 1)
                                                                 : NULL;
    if (!src) {
        st_fail(&e, ST_E_NOT_FOUND,
                "Couldn't parse filter code from document %.*s on `%s`: missing json key: %s", dn,
                r->cfg.filter, r->src->display, filters ? slash + 1 : "filters");
        st_repl_finish(r, ST_REPL_FAILED, &e, 404);
        return;
    }
    if (!(r->filter_code = st_repl_id_filter_code(src))) {
        st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    after_filter(r);
}

static void after_info(st_repl *r)
{
    const char *f = r->cfg.filter;
    if (!f || f[0] == '_' || r->filter_code) {
        after_filter(r);
        return;
    }
    const char *slash = strchr(f, '/');
    char id[600];
    snprintf(id, sizeof id, "_design/%.*s", (int)(slash - f), f);
    r->src->ops->get_doc(r->src, id, on_filter_ddoc, r);
}

static void after_filter(st_repl *r)
{
    st_error e;
    st_error_clear(&e);
    if (!add_cands(r, &e)) {
        st_repl_finish(r, ST_REPL_FAILED, &e, 0);
        return;
    }
    if (r->cfg.since_seq) {
        /* An explicit start: checkpoints are written, not read. */
        if (!(r->start_seq = strdup(r->cfg.since_seq))) {
            st_repl_fail_msg(r, ST_E_NOMEM, "out of memory");
            return;
        }
        st_repl_start_run(r);
        return;
    }
    r->ph = PH_CKPT_READ;
    r->setup_pending = 2 * r->n_cands;
    for (unsigned i = 0; i < r->n_cands; i++) {
        for (int side = 0; side < 2; side++) {
            side_ctx *c = &r->reads[2 * i + side];
            *c = (side_ctx){r, (int)i, side};
            st_ep *ep = side ? r->tgt : r->src;
            ep->ops->get_local(ep, r->cands[i].doc_id, on_ckpt_read, c);
        }
    }
}

/* ---------------------------------------------------------------- info */

static void on_info(void *ctx, st_ep_reply *rep);
static void source_missing(st_repl *r, const st_ep_reply *rep);

static void on_created(void *ctx, st_ep_reply *rep)
{
    st_repl *r = ctx;
    if (rep->st != ST_OK) {
        st_repl_fail_reply(r, "target", r->tgt, "creating the database", rep);
        return;
    }
    r->tgt->ops->info(r->tgt, on_info, &r->reads[1]);
}

static void on_info(void *ctx, st_ep_reply *rep)
{
    side_ctx *c = ctx;
    st_repl *r = c->r;
    st_ep *ep = c->side ? r->tgt : r->src;
    if (rep->st == ST_E_NOT_FOUND && c->side == 1 && r->cfg.create_target && !r->target_created) {
        r->target_created = true;
        r->tgt->ops->create(r->tgt, on_created, r);
        return;
    }
    if (rep->st == ST_E_NOT_FOUND && c->side == 0 && r->cfg.continuous) {
        source_missing(r, rep);
        return;
    }
    if (rep->st == ST_E_NOT_FOUND) {
        st_error e;
        st_fail(&e, ST_E_NOT_FOUND, "%s %s: database does not exist%s", c->side ? "target" : "source",
                ep->display,
                c->side ? " (create it, or use --create-target)"
                        : " (a one-shot replication does not wait for it; a continuous one does)");
        st_repl_finish(r, ST_REPL_FAILED, &e, rep->http_status);
        return;
    }
    if (rep->st != ST_OK) {
        st_repl_fail_reply(r, c->side ? "target" : "source", ep, "reading database info", rep);
        return;
    }
    if (c->side == 0)
        r->src_attempt = 0;
    if (--r->setup_pending == 0)
        after_info(r);
}

void st_repl_setup_start(st_repl *r)
{
    r->ph = PH_SETUP;
    r->setup_pending = 2;
    r->reads[0] = (side_ctx){r, -1, 0};
    r->reads[1] = (side_ctx){r, -1, 1};
    r->src->ops->info(r->src, on_info, &r->reads[0]);
    r->tgt->ops->info(r->tgt, on_info, &r->reads[1]);
}

/* ------------------------------------------------------ a missing source */

static void src_info_again(void *ctx)
{
    st_repl *r = ctx;
    if (r->ph == PH_SETUP)
        r->src->ops->info(r->src, on_info, &r->reads[0]);
}

/* Continuous, and the source database does not exist (yet, or any more):
 * say so, and ask for its info again after a backoff.  setup_pending still
 * counts the source's answer, so the run starts once it exists. */
static void source_missing(st_repl *r, const st_ep_reply *rep)
{
    st_error e;
    st_fail(&e, ST_E_NOT_FOUND, "source %s: database does not exist (retrying)", r->src->display);
    st_repl_set_error(r, &e, rep->http_status ? rep->http_status : 404, true);
    st_repl_count_retry(r);
    st_repl_publish(r, true);
    r->src_attempt++;
    st_loop_timer_start(r->loop, &r->src_retry,
                        st_backoff_ms(r->cfg.retry_base_ms, r->cfg.retry_max_ms, r->src_attempt),
                        src_info_again, r);
}

/* Continuous, and _changes answered 404: the source database went away
 * under us.  Drop everything in flight and start over from the source's
 * info once it exists again, as CouchDB's scheduler restarts a crashed job:
 * what was written stays written, and the checkpoints (a re-created source
 * has none) decide where the new run starts. */
void st_repl_restart(st_repl *r, const st_ep_reply *rep)
{
    r->src->ops->cancel_all(r->src);
    r->tgt->ops->cancel_all(r->tgt);
    st_repl_batches_free(r);
    st_repl_cands_free(r);
    r->pouch_cand = -1;
    free(r->since);
    free(r->start_seq);
    free(r->ckpt_next);
    free(r->ckpt_writing);
    free(r->filter_code); /* a re-created source may hold another function */
    r->filter_code = NULL;
    r->since = r->start_seq = r->ckpt_next = r->ckpt_writing = NULL;
    r->ckpt_inflight = 0;
    r->reading = r->caught_up = r->feed_done = false;
    r->src_ckpt_off = false;
    st_uuid(r->session_id); /* a new session, as a restarted CouchDB job */
    st_ckpt_time(r->start_time);
    r->ph = PH_SETUP;
    r->setup_pending = 1;  /* the source's info; the target's is known */
    r->reads[0] = (side_ctx){r, -1, 0};
    st_repl_set_state(r, ST_REPL_STARTING);
    source_missing(r, rep);
}
