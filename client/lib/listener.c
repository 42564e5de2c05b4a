/* listener.c — change listeners: a dispatcher task on a core change
 * follower (st_follow.h).
 *
 * A listener is a cursor, not a queue: its follower remembers the last
 * sequence it was told about.  When core commits past an armed follower --
 * a local write, a sync landing documents, or another process writing the
 * same file (core polls for those) -- the follower's wake marks the
 * listener woken and wakes the dispatcher; the listener's run reads the
 * rows after its cursor (optionally only its doc ids), hands them to the
 * app in batches, and arms the follower again once a read finds nothing
 * left.  Arming refuses when something committed after the cursor in the
 * meantime, so the run reads again instead of sleeping through it: no
 * wake-up is lost.  A document changed twice between two reads is reported
 * once, at its newest revision, as CouchDB's _changes does.
 *
 * Threads: the wake runs on a core thread and only sets a flag and signals;
 * everything else runs on the db's callback thread (the dispatcher's run and
 * free), which alone uses the follower.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "st_follow.h"

#define BATCH 256      /* changes per callback, at most */
#define MAX_BATCHES 8  /* per run: then other tasks get their turn */

struct settee_listener {
    st_client_task task;    /* first: the dispatcher hands back &task */
    settee_db *db;
    settee_change_fn fn;
    void *ctx;
    char **ids;             /* doc id filter (packed copy), or NULL */
    size_t n_ids;
    st_follower *follower;  /* the cursor; callback thread only after add */
    atomic_bool woken;      /* the follower's wake fired since the last run */
};

/* One batch of rows: strings live in arena, and the change structs point
 * into it once the read is over (the arena may move while it grows). */
typedef struct batch {
    settee_change rows[BATCH];
    size_t id_off[BATCH], rev_off[BATCH];
    size_t n;
    st_buf arena;
    st_status st;
} batch;

static int collect(void *ctx, const st_change_row *row)
{
    batch *b = ctx;
    if (b->n == BATCH)
        return 1;
    size_t i = b->n;
    b->rows[i].seq = row->seq;
    b->rows[i].deleted = row->deleted;
    b->id_off[i] = b->arena.len;
    st_status s = st_buf_add(&b->arena, row->id, strlen(row->id) + 1);
    b->rev_off[i] = b->arena.len;
    if (s == ST_OK) {
        const char *rev = row->n_revs ? row->revs[0] : "";
        s = st_buf_add(&b->arena, rev, strlen(rev) + 1);
    }
    if (s != ST_OK) {
        b->st = s;
        return 1;
    }
    b->n++;
    return 0;
}

/* The rows after the cursor into b.  On failure the cursor stays where it
 * was, so nothing is skipped. */
static st_status read_batch(settee_listener *l, batch *b)
{
    st_changes_opts o;
    st_changes_opts_init(&o);
    o.limit = BATCH;
    o.doc_ids = (const char *const *)l->ids;
    o.n_doc_ids = l->n_ids;
    b->n = 0;
    b->st = ST_OK;
    st_buf_reset(&b->arena);
    uint64_t before = st_follow_since(l->follower);
    st_follow_batch fb;
    st_status s = st_follow_read(l->follower, &o, collect, b, &fb, NULL);
    if (s == ST_OK)
        s = b->st;
    if (s != ST_OK) {
        st_follow_seek(l->follower, before);
        return s;
    }
    for (size_t i = 0; i < b->n; i++) {
        b->rows[i].id = b->arena.data + b->id_off[i];
        b->rows[i].rev = b->arena.data + b->rev_off[i];
    }
    return ST_OK;
}

static bool listener_due(st_client_task *t)
{
    settee_listener *l = (settee_listener *)t;
    return atomic_load(&l->woken);
}

static st_client_next listener_run(st_client_task *t)
{
    settee_listener *l = (settee_listener *)t;
    /* Cleared before reading: a commit from now on wakes it again. */
    atomic_store(&l->woken, false);
    batch *b = malloc(sizeof *b);
    if (!b)
        return ST_CLIENT_RETRY;
    st_buf_init(&b->arena, 0);
    st_client_next next = ST_CLIENT_MORE; /* unless caught up below */
    for (int i = 0; i < MAX_BATCHES; i++) {
        if (st_client_dispatch_removed(t)) {
            next = ST_CLIENT_IDLE;
            break;
        }
        if (read_batch(l, b) != ST_OK) {
            next = ST_CLIENT_RETRY;
            break;
        }
        if (b->n)
            l->fn(l->ctx, l->db, b->rows, b->n);
        if (b->n < BATCH && st_follow_arm(l->follower)) {
            next = ST_CLIENT_IDLE;
            break;
        }
    }
    st_buf_free(&b->arena);
    free(b);
    return next;
}

static void listener_destroy(settee_listener *l)
{
    st_follow_close(l->follower);
    free(l->ids);
    free(l);
}

static void listener_free(st_client_task *t, bool deferred)
{
    settee_listener *l = (settee_listener *)t;
    settee_db *db = l->db;
    listener_destroy(l);
    st_client_child_done(db);
}

static const st_client_task_ops listener_ops = {listener_due, listener_run, listener_free};

/* The follower's wake: on a core thread, quick, no settee lock. */
static void on_wake(void *ctx)
{
    settee_listener *l = ctx;
    atomic_store(&l->woken, true);
    st_client_dispatch_wake(l->db->disp);
}

/* ids[0..n) packed into one allocation (pointer array, then text); an empty
 * set still filters (to nothing), so it is non-NULL too. */
static char **pack_ids(const char *const *ids, size_t n)
{
    size_t bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(ids[i]) + 1;
    char **out = malloc(bytes);
    if (!out)
        return NULL;
    char *p = (char *)(out + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ids[i]) + 1;
        memcpy(p, ids[i], len);
        out[i] = p;
        p += len;
    }
    out[n] = NULL;
    return out;
}

static settee_status add(settee_db *db, const char *const *ids, size_t n, bool filtered,
                         settee_change_fn fn, void *ctx, settee_listener **out_tok,
                         settee_error *e)
{
    if (out_tok)
        *out_tok = NULL;
    if (!fn || !out_tok || (filtered && n && !ids))
        return st_client_fail(e, SETTEE_MISUSE, "NULL fn, ids or out_tok");
    for (size_t i = 0; filtered && i < n; i++)
        if (!ids[i])
            return st_client_fail(e, SETTEE_MISUSE, "NULL document id in ids");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_db_info info;
    st_error ce;
    st_status s;
    settee_listener *l = calloc(1, sizeof *l);
    if (!l || (filtered && !(l->ids = pack_ids(ids, n)))) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    l->db = db;
    l->fn = fn;
    l->ctx = ctx;
    l->n_ids = n;
    atomic_init(&l->woken, false);
    if ((s = st_db_info_get(db->core, &info, &ce)) != ST_OK ||
        (s = st_follow_open(db->core, info.update_seq, on_wake, l, &l->follower, &ce)) !=
            ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    /* A commit since the info (arm refuses), or one right after the arm
     * (its wake may have come before the task was registered): the first
     * round reads it. */
    if (!st_follow_arm(l->follower))
        atomic_store(&l->woken, true);
    st_client_child_add(db);
    st_client_dispatch_add(db->disp, &l->task, &listener_ops);
    if (atomic_load(&l->woken))
        st_client_dispatch_wake(db->disp);
    *out_tok = l;
    l = NULL;
    st_client_ok(e);
out:
    if (l)
        listener_destroy(l);
    st_client_leave(db);
    return rc;
}

settee_status settee_listener_add(settee_db *db, settee_change_fn fn, void *ctx,
                                  settee_listener **out_tok, settee_error *e)
{
    return add(db, NULL, 0, false, fn, ctx, out_tok, e);
}

settee_status settee_listener_add_docs(settee_db *db, const char *const *ids, size_t n,
                                       settee_change_fn fn, void *ctx,
                                       settee_listener **out_tok, settee_error *e)
{
    return add(db, ids, n, true, fn, ctx, out_tok, e);
}

/* Any kind of listener: a change listener (above) or a live query
 * (livequery.c).  Each begins with its dispatcher task, so the token is a
 * pointer to that task, and the task's ops free the right kind. */
void settee_listener_remove(settee_listener *tok)
{
    if (tok)
        st_client_dispatch_remove((st_client_task *)(void *)tok);
}
