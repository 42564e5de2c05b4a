/* repl.c — one replication, source → target, on a thread of its own.
 *
 * The algorithm is CouchDB's (shared/PROTOCOL.md §6), run as a pipeline on
 * the loop (loop.h) so that several batches are in flight at once:
 *
 *   setup:  info(source) ∥ info(target) [→ create(target) → info(target)]
 *           → replication ids → get_local(id) on both sides, for every
 *           candidate id → the resume sequence (checkpoint.h)
 *   run:    changes(since, limit=batch_size, style=all_docs)  — one at a time,
 *           each answer becomes a batch:
 *             revs_diff(target) → bulk_get(source) → bulk_docs(target)
 *           up to `concurrency` batches are between read and written.
 *           Batches finish in any order; the checkpoint only advances over a
 *           prefix of finished batches, so a recorded sequence never passes a
 *           change that was not written.  One checkpoint write (target and
 *           source _local docs) is in flight at a time; a newer sequence
 *           waits for it.
 *   end:    one-shot: the feed ran dry, every batch is written and the last
 *           checkpoint is stored → STOPPED.  Continuous: when caught up the
 *           changes read becomes a longpoll and the state IDLE.
 *
 * Failures: endpoints retry what can be retried (endpoint_http.c); an
 * answer that reaches us with an error is final, and fails the replication
 * with a message that names the side and the peer -- with two exceptions:
 *   - a continuous replication whose source database is missing (404, at
 *     setup or later from _changes) does not fail: it starts over from the
 *     peers' info after a backoff, for as long as it takes (a two-way sync's
 *     pull whose remote the push is about to create, or a database being
 *     re-created).  A one-shot one fails with "database does not exist";
 *   - a _bulk_docs answered 413 (request too large) is split in halves and
 *     each half sent again, down to single documents; a single document
 *     still refused is a per-document write failure.
 * Per-document write failures are counted and reported, not fatal.  Batch
 * order does not matter for correctness: new_edits=false merges commute.
 *
 * last_error: an error reported while retrying (OFFLINE, or STARTING while
 * the source is missing) is cleared when the replication is back to RUNNING
 * or IDLE; a final error and per-document failures stay until replaced.
 *
 * Locking: everything below runs on the replication's thread except the
 * public functions at the end; they share `pub` (status, ended) under mu.
 */
#include "st_repl.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "endpoint.h"
#include "loop.h"
#include "repl_id.h"

#define MAX_CANDIDATES 6

typedef enum { PH_SETUP, PH_CKPT_READ, PH_RUN, PH_END } phase;
typedef enum { B_DIFF, B_GET, B_WRITE, B_DONE } batch_stage;

typedef struct batch batch;

/* One _bulk_docs request of a batch: docs[off, off + n).  A batch is
 * written as one part; a part answered 413 becomes two halves. */
typedef struct wpart {
    batch *b;
    size_t off, n;
} wpart;

struct batch {
    batch *next;               /* in change order */
    struct st_repl *r;
    batch_stage stage;
    char *last_seq;            /* raw JSON: the source seq after this batch */
    st_json_doc *fetched;      /* bulk_get answer; owns docs[] */
    const st_json **docs;      /* revisions to write */
    size_t n_docs;
    wpart *parts;              /* 2 * n_docs slots: halving makes < 2n parts */
    size_t n_parts;            /* slots used */
    unsigned writes_pending;   /* parts sent and not answered */
};

/* A checkpoint id to look for at start, and what each side holds. */
typedef struct cand {
    struct st_repl *r;
    char doc_id[64];           /* "_local/<id>" */
    st_ckpt_format fmt;
    st_json_doc *doc[2];       /* [0] source, [1] target; NULL = missing */
} cand;

typedef struct side_ctx {
    struct st_repl *r;
    int cand;                  /* index into cands, or -1 */
    int side;                  /* 0 source, 1 target */
} side_ctx;

struct st_repl {
    /* ---- immutable after st_repl_start */
    st_repl_config cfg;        /* its strings point at the copies below */
    char *source, *target, *selector, *since_seq;
    char **doc_ids;
    st_loop *loop;             /* created before the thread, freed after it */
    pthread_t thread;

    /* ---- shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    st_repl_status pub;        /* what st_repl_get_status reports */
    bool ended;                /* the thread finished its work */
    atomic_bool stop;          /* st_repl_stop was called */

    /* ---- replication thread only */
    phase ph;
    st_ep *src, *tgt;
    unsigned setup_pending;    /* setup calls not answered yet */
    bool target_created;
    st_repl_state state;       /* mirrors pub.state */
    st_repl_state before_offline;
    bool error_transient;      /* pub.last_error came from a retry (under mu) */
    st_timer src_retry;        /* continuous, source missing: ask its info again */
    unsigned src_attempt;      /* consecutive "source missing" answers */
    char rep_id[33];
    char session_id[33];
    char start_time[40];
    char *start_seq;           /* raw JSON */
    cand cands[MAX_CANDIDATES];
    unsigned n_cands;
    side_ctx reads[2 * MAX_CANDIDATES];
    const st_json *couch_history, *pouch_history; /* borrowed from cands */
    int pouch_cand;            /* index of the PouchDB candidate, -1 if none */
    /* reading */
    char *since;               /* raw JSON seq of the next changes read */
    bool reading, caught_up, feed_done;
    batch *head, *tail;        /* batches not yet covered by a checkpoint */
    unsigned n_active;         /* batches not yet done */
    /* checkpointing */
    char *ckpt_next;           /* newest seq all batches up to are written */
    char *ckpt_writing;        /* seq being recorded */
    unsigned ckpt_inflight;
    bool ckpt_target_ok;
    bool src_ckpt_off;         /* the source refused a checkpoint: read-only */
    side_ctx ckpt_ctx[4];
    st_ckpt_stats stats;
};

/* ------------------------------------------------------------ status */

static void publish(st_repl *r, bool notify)
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

static void set_state(st_repl *r, st_repl_state s)
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
    publish(r, true);
}

/* transient: an error being retried, cleared once the replication is back
 * to RUNNING/IDLE (see the top of the file). */
static void set_error(st_repl *r, const st_error *e, int http_status, bool transient)
{
    pthread_mutex_lock(&r->mu);
    r->pub.last_error = *e;
    r->pub.last_http_status = http_status;
    r->error_transient = transient;
    pthread_mutex_unlock(&r->mu);
}

static void set_seq(st_repl *r, const char *seq)
{
    pthread_mutex_lock(&r->mu);
    size_t n = strlen(seq);
    r->pub.last_seq_truncated = n >= sizeof r->pub.last_seq;
    snprintf(r->pub.last_seq, sizeof r->pub.last_seq, "%s", seq);
    pthread_mutex_unlock(&r->mu);
}

/* ------------------------------------------------------------ ending */

static void free_batches(st_repl *r)
{
    while (r->head) {
        batch *b = r->head;
        r->head = b->next;
        st_json_doc_free(b->fetched);
        free(b->docs);
        free(b->parts);
        free(b->last_seq);
        free(b);
    }
    r->tail = NULL;
    r->n_active = 0;
}

/* End the replication in state s (STOPPED or FAILED); e may be NULL. */
static void finish(st_repl *r, st_repl_state s, const st_error *e, int http_status)
{
    if (r->ph == PH_END)
        return;
    r->ph = PH_END;
    st_loop_timer_stop(r->loop, &r->src_retry);
    if (r->src)
        r->src->ops->cancel_all(r->src);
    if (r->tgt)
        r->tgt->ops->cancel_all(r->tgt);
    free_batches(r);
    if (e)
        set_error(r, e, http_status, false);
    set_state(r, s);
}

/* A final error answer from one side: fail with a message naming it. */
static void fail_reply(st_repl *r, const char *role, const st_ep *ep, const char *what,
                       const st_ep_reply *rep)
{
    st_error e;
    st_fail(&e, rep->st, "%s %s: %s: %s", role, ep->display, what, rep->err.reason);
    finish(r, ST_REPL_FAILED, &e, rep->http_status);
}

static void fail_msg(st_repl *r, st_status code, const char *msg)
{
    st_error e;
    st_fail(&e, code, "%s", msg);
    finish(r, ST_REPL_FAILED, &e, 0);
}

/* ------------------------------------------------------------ helpers */

static bool seq_is_uint(const char *s, unsigned long long *out)
{
    if (!s || !*s)
        return false;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

static bool seq_is_zero(const char *s) { return !s || strcmp(s, "0") == 0; }

/* ------------------------------------------------------------ pipeline */

static void pump(st_repl *r);
static void restart_setup(st_repl *r, const st_ep_reply *rep);

static void batch_done(batch *b)
{
    st_repl *r = b->r;
    b->stage = B_DONE;
    st_json_doc_free(b->fetched);
    b->fetched = NULL;
    free(b->docs);
    b->docs = NULL;
    free(b->parts);
    b->parts = NULL;
    r->n_active--;
    publish(r, false);
    pump(r);
}

static void on_written(void *ctx, st_ep_reply *rep);

/* Send docs[off, off + n) of b to the target as one _bulk_docs. */
static void write_part(batch *b, size_t off, size_t n)
{
    wpart *p = &b->parts[b->n_parts++];
    p->b = b;
    p->off = off;
    p->n = n;
    b->writes_pending++;
    b->r->tgt->ops->bulk_docs(b->r->tgt, b->docs + off, n, on_written, p);
}

/* Every part of b is answered: tell the conflict hook, then b is done. */
static void batch_written(batch *b)
{
    st_repl *r = b->r;
    if (r->cfg.on_conflict && r->tgt->ops->conflicted) {
        const char *prev = NULL;
        for (size_t i = 0; i < b->n_docs; i++) {
            /* bulk_get answers group a document's revisions together. */
            const char *id = st_json_get_str(b->docs[i], "_id");
            if (!id || (prev && strcmp(prev, id) == 0))
                continue;
            prev = id;
            if (r->tgt->ops->conflicted(r->tgt, id))
                r->cfg.on_conflict(r->cfg.conflict_ctx, r, id);
        }
    }
    batch_done(b);
}

/* One revision the target refused: the status's last_error says which. */
static void write_failure(st_repl *r, st_status code, const st_json *doc_or_row,
                          const char *error, const char *reason)
{
    const char *id = st_json_get_str(doc_or_row, "id");
    const char *rev = st_json_get_str(doc_or_row, "rev");
    if (!id)
        id = st_json_get_str(doc_or_row, "_id");
    if (!rev)
        rev = st_json_get_str(doc_or_row, "_rev");
    st_error e;
    st_fail(&e, code, "target refused %s %s: %s: %s", id ? id : "?", rev ? rev : "", error,
            reason ? reason : "");
    set_error(r, &e, 0, false);
}

static void on_written(void *ctx, st_ep_reply *rep)
{
    wpart *p = ctx;
    batch *b = p->b;
    st_repl *r = b->r;
    if (rep->st != ST_OK && rep->http_status == 413) {
        /* The request was too large for the target (its max request size):
         * halve it, down to single documents; one document alone that is
         * still too large is that document's write failure. */
        b->writes_pending--;
        if (p->n > 1) {
            size_t half = p->n / 2;
            write_part(b, p->off, half);
            write_part(b, p->off + half, p->n - half);
            return;
        }
        r->stats.doc_write_failures++;
        write_failure(r, ST_E_TOO_LARGE, b->docs[p->off], "too_large",
                      "a _bulk_docs of this revision alone was answered 413");
        if (b->writes_pending == 0)
            batch_written(b);
        return;
    }
    if (rep->st != ST_OK) {
        fail_reply(r, "target", r->tgt, "_bulk_docs", rep);
        return;
    }
    const st_json *rows = st_json_doc_root(rep->json);
    uint64_t failures = 0;
    for (size_t i = 0; rows && rows->type == ST_JSON_ARRAY && i < rows->len; i++) {
        const st_json *row = &rows->u.items[i];
        const st_json *err = st_json_get(row, "error");
        if (!err)
            continue;
        failures++;
        write_failure(r, ST_E_FORBIDDEN, row, err->type == ST_JSON_STRING ? err->u.str : "error",
                      st_json_get_str(row, "reason"));
    }
    if (failures > p->n)
        failures = p->n;
    r->stats.doc_write_failures += failures;
    r->stats.docs_written += p->n - failures;
    if (--b->writes_pending == 0)
        batch_written(b);
}

static void on_fetched(void *ctx, st_ep_reply *rep)
{
    batch *b = ctx;
    st_repl *r = b->r;
    if (rep->st != ST_OK) {
        fail_reply(r, "source", r->src, "_bulk_get", rep);
        return;
    }
    const st_json *results = st_json_get(st_json_doc_root(rep->json), "results");
    if (!results || results->type != ST_JSON_ARRAY) {
        fail_msg(r, ST_E_BAD_REQUEST, "source answered _bulk_get without \"results\"");
        return;
    }
    size_t cap = 0;
    for (size_t i = 0; i < results->len; i++) {
        const st_json *docs = st_json_get(&results->u.items[i], "docs");
        cap += docs && docs->type == ST_JSON_ARRAY ? docs->len : 0;
    }
    b->docs = calloc(cap ? cap : 1, sizeof *b->docs);
    if (!b->docs) {
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    b->fetched = rep->json;
    rep->json = NULL;
    for (size_t i = 0; i < results->len; i++) {
        const st_json *docs = st_json_get(&results->u.items[i], "docs");
        for (size_t k = 0; docs && docs->type == ST_JSON_ARRAY && k < docs->len; k++) {
            const st_json *ok = st_json_get(&docs->u.items[k], "ok");
            /* An "error" entry is a revision the source no longer has (it
             * was compacted or purged meanwhile): nothing to copy. */
            if (ok && ok->type == ST_JSON_OBJECT && st_json_get_str(ok, "_id"))
                b->docs[b->n_docs++] = ok;
        }
    }
    r->stats.docs_read += b->n_docs;
    r->stats.bulk_get_docs += b->n_docs;
    if (b->n_docs == 0) {
        batch_done(b);
        return;
    }
    if (!(b->parts = calloc(2 * b->n_docs, sizeof *b->parts))) {
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    b->stage = B_WRITE;
    write_part(b, 0, b->n_docs);
}

static void on_diff(void *ctx, st_ep_reply *rep)
{
    batch *b = ctx;
    st_repl *r = b->r;
    if (rep->st != ST_OK) {
        fail_reply(r, "target", r->tgt, "_revs_diff", rep);
        return;
    }
    const st_json *root = st_json_doc_root(rep->json);
    st_buf body = ST_BUF_INIT;
    st_jw w;
    if (st_jw_init(&w, &body) != ST_OK) {
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    size_t n = 0;
    st_jw_obj_open(&w);
    st_jw_key(&w, "docs");
    st_jw_arr_open(&w);
    for (size_t i = 0; root && root->type == ST_JSON_OBJECT && i < root->len; i++) {
        const st_json_member *m = &root->u.members[i];
        const st_json *missing = st_json_get(&m->value, "missing");
        const st_json *anc = st_json_get(&m->value, "possible_ancestors");
        for (size_t k = 0; missing && missing->type == ST_JSON_ARRAY && k < missing->len; k++) {
            if (missing->u.items[k].type != ST_JSON_STRING)
                continue;
            st_jw_obj_open(&w);
            st_jw_key(&w, "id");
            st_jw_strn(&w, m->key, m->key_len);
            st_jw_key(&w, "rev");
            st_jw_strn(&w, missing->u.items[k].u.str, missing->u.items[k].len);
            if (anc && anc->type == ST_JSON_ARRAY && anc->len) {
                /* atts_since: attachments the target already has come as stubs */
                st_jw_key(&w, "atts_since");
                st_jw_value(&w, anc);
            }
            st_jw_obj_close(&w);
            n++;
        }
    }
    st_jw_arr_close(&w);
    st_jw_obj_close(&w);
    st_status st = st_jw_status(&w);
    st_jw_free(&w);
    if (st != ST_OK) {
        st_buf_free(&body);
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    r->stats.missing_found += n;
    if (n == 0) {
        st_buf_free(&body);
        batch_done(b);
        return;
    }
    b->stage = B_GET;
    r->stats.bulk_get_attempts += n;
    r->src->ops->bulk_get(r->src, body.data, body.len, on_fetched, b);
    st_buf_free(&body);
}

/* Append a batch covering changes up to last_seq (taken). */
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

static void on_changes(void *ctx, st_ep_reply *rep)
{
    st_repl *r = ctx;
    r->reading = false;
    if (rep->st == ST_E_NOT_FOUND && r->cfg.continuous) {
        restart_setup(r, rep); /* the source database went away */
        return;
    }
    if (rep->st != ST_OK) {
        fail_reply(r, "source", r->src, "_changes", rep);
        return;
    }
    const st_json *root = st_json_doc_root(rep->json);
    const st_json *results = st_json_get(root, "results");
    if (!results || results->type != ST_JSON_ARRAY) {
        fail_msg(r, ST_E_BAD_REQUEST, "source answered _changes without \"results\"");
        return;
    }
    const st_json *ls = st_json_get(root, "last_seq");
    if ((!ls || ls->type == ST_JSON_NULL) && results->len)
        ls = st_json_get(&results->u.items[results->len - 1], "seq");
    char *last = ls && ls->type != ST_JSON_NULL ? st_ckpt_json_text(ls) : strdup(r->since);
    if (!last) {
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    uint64_t pending = 0;
    const st_json *pj = st_json_get(root, "pending");
    bool has_pending = pj && st_json_uint64(pj, &pending);
    pthread_mutex_lock(&r->mu);
    r->pub.changes_read += results->len;
    if (has_pending)
        r->pub.pending = pending;
    pthread_mutex_unlock(&r->mu);

    unsigned limit = r->cfg.batch_size;
    r->caught_up = results->len < limit;
    if (r->caught_up && !r->cfg.continuous)
        r->feed_done = true;
    bool moved = strcmp(last, r->since) != 0;
    free(r->since);
    r->since = strdup(last);
    if (!r->since) {
        free(last);
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    if (results->len == 0) {
        /* Nothing to copy, but a filtered feed may still have moved on:
         * record that, so a restart does not rescan the skipped range. */
        batch *b = moved ? batch_new(r, last) : (free(last), NULL);
        if (b)
            b->stage = B_DONE;
        pump(r);
        return;
    }
    /* {"docid":["rev",...],...}: every leaf the source has for each doc. */
    st_buf body = ST_BUF_INIT;
    st_jw w;
    if (st_jw_init(&w, &body) != ST_OK) {
        free(last);
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_jw_obj_open(&w);
    for (size_t i = 0; i < results->len; i++) {
        const st_json *row = &results->u.items[i];
        const st_json *id = st_json_get(row, "id");
        const st_json *changes = st_json_get(row, "changes");
        if (!id || id->type != ST_JSON_STRING || !changes || changes->type != ST_JSON_ARRAY)
            continue;
        st_jw_keyn(&w, id->u.str, id->len);
        st_jw_arr_open(&w);
        for (size_t k = 0; k < changes->len; k++) {
            const st_json *rev = st_json_get(&changes->u.items[k], "rev");
            if (rev && rev->type == ST_JSON_STRING) {
                st_jw_strn(&w, rev->u.str, rev->len);
                r->stats.missing_checked++;
            }
        }
        st_jw_arr_close(&w);
    }
    st_jw_obj_close(&w);
    st_status st = st_jw_status(&w);
    st_jw_free(&w);
    batch *b = st == ST_OK ? batch_new(r, last) : (free(last), NULL);
    if (!b) {
        st_buf_free(&body);
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    r->n_active++;
    b->stage = B_DIFF;
    r->tgt->ops->revs_diff(r->tgt, body.data, body.len, on_diff, b);
    st_buf_free(&body);
    pump(r);
}

static void read_changes(st_repl *r)
{
    st_ep_changes_req q = {
        .since = r->since,
        .limit = r->cfg.batch_size,
        .longpoll = r->caught_up && r->cfg.continuous,
        .timeout_ms = r->cfg.feed_timeout_ms,
        .doc_ids = r->cfg.doc_ids,
        .n_doc_ids = r->cfg.n_doc_ids,
        .selector = r->cfg.selector,
    };
    r->reading = true;
    r->src->ops->changes(r->src, &q, on_changes, r);
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
            set_error(r, &e, rep->http_status, false);
            if (c->side == 1)
                r->ckpt_target_ok = false;
        }
    }
    if (--r->ckpt_inflight)
        return;
    if (r->ckpt_target_ok) {
        set_seq(r, r->ckpt_writing);
        pthread_mutex_lock(&r->mu);
        r->pub.checkpoints++;
        pthread_mutex_unlock(&r->mu);
        publish(r, true);
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
        fail_msg(r, ST_E_NOMEM, "out of memory");
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
        read_changes(r);
    if (r->feed_done && !r->reading && r->n_active == 0 && !r->head && !r->ckpt_inflight &&
        !r->ckpt_next) {
        finish(r, ST_REPL_STOPPED, NULL, 0);
        return;
    }
    if (r->state == ST_REPL_RUNNING || r->state == ST_REPL_IDLE) {
        bool idle = r->reading && r->caught_up && r->cfg.continuous && r->n_active == 0;
        set_state(r, idle ? ST_REPL_IDLE : ST_REPL_RUNNING);
    }
}

/* ------------------------------------------------------------ setup */

static void start_run(st_repl *r)
{
    if (!(r->since = strdup(r->start_seq))) {
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    set_seq(r, r->start_seq);
    r->ph = PH_RUN;
    set_state(r, ST_REPL_RUNNING);
    pump(r);
}

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
        fail_msg(r, ST_E_NOMEM, "out of memory");
        return;
    }
    r->start_seq = best;
    start_run(r);
}

static void on_ckpt_read(void *ctx, st_ep_reply *rep)
{
    side_ctx *c = ctx;
    st_repl *r = c->r;
    if (rep->st == ST_OK) {
        r->cands[c->cand].doc[c->side] = rep->json;
        rep->json = NULL;
    } else if (rep->st != ST_E_NOT_FOUND) {
        fail_reply(r, c->side ? "target" : "source", c->side ? r->tgt : r->src,
                   "reading the checkpoint", rep);
        return;
    }
    if (--r->setup_pending == 0)
        choose_start(r);
}

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

static void after_info(st_repl *r)
{
    st_error e;
    st_error_clear(&e);
    /* CouchDB hashes the replicating server's uuid; see repl_id.h. */
    const char *uuid = r->src->remote ? r->src->uuid : r->tgt->remote ? r->tgt->uuid : r->src->uuid;
    const char *alt = r->src->remote && r->tgt->remote ? r->tgt->uuid : NULL;
    char id[33];
    const char *const *ids = r->cfg.doc_ids;
    size_t n_ids = r->cfg.n_doc_ids;
    const char *sel = r->cfg.selector;
    if (st_repl_id_couch(uuid, r->src, r->tgt, ids, n_ids, sel, ST_TERM_ATOM_LATIN1, r->rep_id, &e) !=
        ST_OK) {
        finish(r, ST_REPL_FAILED, &e, 0);
        return;
    }
    pthread_mutex_lock(&r->mu);
    memcpy(r->pub.replication_id, r->rep_id, sizeof r->rep_id);
    pthread_mutex_unlock(&r->mu);
    add_cand(r, r->rep_id, ST_CKPT_COUCH);
    if (st_repl_id_couch(uuid, r->src, r->tgt, ids, n_ids, sel, ST_TERM_ATOM_UTF8, id, &e) == ST_OK)
        add_cand(r, id, ST_CKPT_COUCH);
    for (int a = 0; alt && a < 2; a++)
        if (st_repl_id_couch(alt, r->src, r->tgt, ids, n_ids, sel, (st_term_atoms)a, id, &e) == ST_OK)
            add_cand(r, id, ST_CKPT_COUCH);
    r->pouch_cand = -1;
    if (r->cfg.pouchdb_checkpoints) {
        char pid[25];
        if (st_repl_id_pouch(r->src, r->tgt, ids, n_ids, sel, pid, &e) != ST_OK) {
            finish(r, ST_REPL_FAILED, &e, 0);
            return;
        }
        add_cand(r, pid, ST_CKPT_POUCH);
        if (strcmp(r->cands[r->n_cands - 1].doc_id + 7, pid) == 0)
            r->pouch_cand = (int)r->n_cands - 1;
    }
    if (r->cfg.since_seq) {
        /* An explicit start: checkpoints are written, not read. */
        if (!(r->start_seq = strdup(r->cfg.since_seq))) {
            fail_msg(r, ST_E_NOMEM, "out of memory");
            return;
        }
        start_run(r);
        return;
    }
    r->ph = PH_CKPT_READ;
    r->setup_pending = 2 * r->n_cands;
    for (unsigned i = 0; i < r->n_cands; i++) {
        for (int side = 0; side < 2; side++) {
            side_ctx *c = &r->reads[2 * i + side];
            c->r = r;
            c->cand = (int)i;
            c->side = side;
            st_ep *ep = side ? r->tgt : r->src;
            ep->ops->get_local(ep, r->cands[i].doc_id, on_ckpt_read, c);
        }
    }
}

static void on_info(void *ctx, st_ep_reply *rep);
static void source_missing(st_repl *r, const st_ep_reply *rep);

static void on_created(void *ctx, st_ep_reply *rep)
{
    st_repl *r = ctx;
    if (rep->st != ST_OK) {
        fail_reply(r, "target", r->tgt, "creating the database", rep);
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
        finish(r, ST_REPL_FAILED, &e, rep->http_status);
        return;
    }
    if (rep->st != ST_OK) {
        fail_reply(r, c->side ? "target" : "source", ep, "reading database info", rep);
        return;
    }
    if (c->side == 0)
        r->src_attempt = 0;
    if (--r->setup_pending == 0)
        after_info(r);
}

/* ------------------------------------------------------------ a missing source */

/* base·2^(n-1) capped, then jittered into [d/2, d), as the HTTP endpoint's
 * retries (endpoint_http.c). */
static unsigned backoff_ms(const st_repl *r, unsigned attempt)
{
    uint64_t d = r->cfg.retry_base_ms;
    for (unsigned i = 1; i < attempt && d < r->cfg.retry_max_ms; i++)
        d *= 2;
    if (d > r->cfg.retry_max_ms)
        d = r->cfg.retry_max_ms;
    uint64_t half = d / 2;
    return (unsigned)(half + (half ? (uint64_t)rand() % half : 0));
}

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
    set_error(r, &e, rep->http_status ? rep->http_status : 404, true);
    pthread_mutex_lock(&r->mu);
    r->pub.retries++;
    pthread_mutex_unlock(&r->mu);
    publish(r, true);
    r->src_attempt++;
    st_loop_timer_start(r->loop, &r->src_retry, backoff_ms(r, r->src_attempt), src_info_again, r);
}

/* Continuous, and _changes answered 404: the source database went away
 * under us.  Drop everything in flight and start over from the source's
 * info once it exists again, as CouchDB's scheduler restarts a crashed job:
 * what was written stays written, and the checkpoints (a re-created source
 * has none) decide where the new run starts. */
static void restart_setup(st_repl *r, const st_ep_reply *rep)
{
    r->src->ops->cancel_all(r->src);
    r->tgt->ops->cancel_all(r->tgt);
    free_batches(r);
    for (unsigned i = 0; i < r->n_cands; i++) {
        st_json_doc_free(r->cands[i].doc[0]);
        st_json_doc_free(r->cands[i].doc[1]);
        r->cands[i].doc[0] = r->cands[i].doc[1] = NULL;
    }
    r->n_cands = 0;
    r->couch_history = r->pouch_history = NULL;
    r->pouch_cand = -1;
    free(r->since);
    free(r->start_seq);
    free(r->ckpt_next);
    free(r->ckpt_writing);
    r->since = r->start_seq = r->ckpt_next = r->ckpt_writing = NULL;
    r->ckpt_inflight = 0;
    r->reading = r->caught_up = r->feed_done = false;
    r->src_ckpt_off = false;
    st_uuid(r->session_id); /* a new session, as a restarted CouchDB job */
    st_ckpt_time(r->start_time);
    r->ph = PH_SETUP;
    r->setup_pending = 1;  /* the source's info; the target's is known */
    r->reads[0] = (side_ctx){r, -1, 0};
    set_state(r, ST_REPL_STARTING);
    source_missing(r, rep);
}

/* ------------------------------------------------------------ hooks */

static void on_retrying(void *ctx, st_ep *ep, const st_error *e, int http_status, unsigned attempt,
                        unsigned delay_ms)
{
    (void)attempt;
    (void)delay_ms;
    st_repl *r = ctx;
    st_error m;
    st_fail(&m, e->code, "%s %s: %s (retrying)", ep == r->src ? "source" : "target", ep->display,
            e->reason);
    set_error(r, &m, http_status, true);
    pthread_mutex_lock(&r->mu);
    r->pub.retries++;
    pthread_mutex_unlock(&r->mu);
    if (r->state != ST_REPL_OFFLINE && r->ph != PH_END) {
        r->before_offline = r->state;
        set_state(r, ST_REPL_OFFLINE);
    }
}

static void on_recovered(void *ctx, st_ep *ep)
{
    (void)ep;
    st_repl *r = ctx;
    if (r->state == ST_REPL_OFFLINE && r->ph != PH_END) {
        set_state(r, r->before_offline == ST_REPL_STARTING ? ST_REPL_STARTING : ST_REPL_RUNNING);
        pump(r);
    }
}

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
        };
        st = st_ep_http_new(r->loop, spec, &o, out, err);
    }
    if (st == ST_OK)
        (*out)->hooks = (st_ep_hooks){on_retrying, on_recovered, r};
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
    publish(r, true);
    if (open_side(r, r->cfg.source, r->cfg.source_db, &r->src, &e) != ST_OK ||
        open_side(r, r->cfg.target, r->cfg.target_db, &r->tgt, &e) != ST_OK) {
        finish(r, ST_REPL_FAILED, &e, 0);
    } else {
        r->ph = PH_SETUP;
        r->setup_pending = 2;
        r->reads[0] = (side_ctx){r, -1, 0};
        r->reads[1] = (side_ctx){r, -1, 1};
        r->src->ops->info(r->src, on_info, &r->reads[0]);
        r->tgt->ops->info(r->tgt, on_info, &r->reads[1]);
    }
    while (r->ph != PH_END) {
        if (atomic_load(&r->stop)) {
            finish(r, ST_REPL_STOPPED, NULL, 0);
            break;
        }
        st_loop_run_once(r->loop, 1000);
    }
    st_ep_free(r->src);
    st_ep_free(r->tgt);
    r->src = r->tgt = NULL;
    for (unsigned i = 0; i < r->n_cands; i++) {
        st_json_doc_free(r->cands[i].doc[0]);
        st_json_doc_free(r->cands[i].doc[1]);
    }
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

static void repl_destroy(st_repl *r)
{
    st_loop_free(r->loop);
    free(r->source);
    free(r->target);
    free(r->selector);
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
    if (c->since_seq) {
        st_json_doc *d = NULL;
        st_status st = st_json_parse(c->since_seq, strlen(c->since_seq), NULL, &d, err);
        st_json_doc_free(d);
        if (st != ST_OK)
            return st_fail(err, ST_E_BAD_REQUEST, "since_seq must be JSON (a number or a string)");
    }
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
    r->cfg.since_seq = r->since_seq = dup_opt(c->since_seq, &oom);
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
