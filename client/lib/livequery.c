/* livequery.c — live queries: a query's result told once, then kept
 * current from the changes that touch it (settee_live_query_start).
 *
 * A live query is a dispatcher task on a selector follower (st_follow.h):
 * the writer tests each written document against the query's selector and
 * wakes the follower only for documents that match, or matched before the
 * write (removals asked for), so a write that cannot touch the result costs
 * the live query nothing.  The run reads the follower's rows and judges
 * each document on its own, as the query would (st_mango_cursor_get: live,
 * not a design document, in the plan's index, matching), which also gives
 * its position in the answer's order (key, id) and its JSON.  The query is
 * planned once, at start, and never run again except at the start and to
 * read on past the end of a limited result.
 *
 * The window (lqset.h) holds positions (and, when limited, the documents'
 * JSON; never for an unlimited result, whose documents stay in the
 * database): the first
 * min(limit + SLACK, all) entries of the answer in order, each with the row
 * sequence it was read at, and "shown" for the first min(limit, held) --
 * what the app was told, at exactly those ranks.  Invariants between runs:
 *   - the window is a prefix of the answer (as last read: a document
 *     changed since is reported by the follower and read again);
 *   - shown entries are ranks 0 .. shown-1;
 *   - complete: the window is the whole answer (so a document that starts
 *     matching anywhere is inserted; otherwise one that lands after the
 *     last entry is left out, as the documents between are unknown).
 * A document leaving the shown part lets the next one in: from the hidden
 * SLACK entries (a limited window keeps its documents' JSON for that; an
 * unlimited one keeps none and never hides an entry),
 * and when those run out, by reading on from the last entry's position
 * (st_mango_cursor_seek: a bounded query), so a removal never costs a
 * re-run of the query.
 *
 * Events are the changes of the shown prefix, each in the positions of the
 * moment it happens, so that applying them in order reproduces the
 * window; one run's events go to the app in one call.
 *
 * Threads: the wake runs on a core thread and only sets a flag and
 * signals; everything else runs on the db's callback thread, which alone
 * uses the follower, the cursor and the window after start.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "lqset.h"
#include "st_follow.h"
#include "st_mango.h"

#define BATCH 256        /* follower rows per read */
#define MAX_BATCHES 8    /* per run: then other tasks get their turn */
#define SLACK_MIN 16     /* hidden entries kept past a limit, to refill from */
#define SLACK_MAX 256
#define LOAD_PIECE (64 * 1024) /* bytes of documents per st_mango_next */

/* An event of this run: id points into a window entry (alive until the
 * events are delivered: dropped entries wait in the graveyard), the JSON
 * is an offset into the arena. */
typedef struct lq_event {
    settee_live_op op;
    const char *id;
    size_t json_off, json_len;  /* json_len SIZE_MAX: none */
    size_t old_pos, new_pos;
} lq_event;

/* A document as the query judges it now (st_mango_cursor_get). */
typedef struct doc_state {
    bool in;                /* part of the answer */
    uint64_t seq;
    const char *key;        /* its position (borrowed from the live query) */
    size_t key_len;
    const char *json;       /* its JSON */
    size_t json_len;
} doc_state;

typedef struct live_query {
    st_client_task task;    /* first: settee_listener_remove hands back &task */
    settee_db *db;
    settee_live_fn fn;
    void *ctx;
    st_mango_query *q;      /* owns the selector the follower borrows */
    st_mango_cursor *cur;   /* the plan; judges single documents, reads on */
    st_follower *follower;  /* callback thread only after start */
    atomic_bool woken;      /* the follower's wake fired since the last run */
    bool loaded;            /* the initial result was told */
    uint64_t limit;         /* UINT64_MAX: none */
    uint64_t cap;           /* entries kept: limit + slack */
    bool keep_docs;         /* limited: entries keep their JSON, so one that
                             * moves up into the shown part needs no read */
    bool complete;          /* the window is the whole answer */
    size_t shown;           /* the first `shown` entries are the app's */
    st_lq_set set;
    /* this run's events */
    lq_event *ev;
    size_t n_ev, cap_ev;
    st_buf arena;           /* their JSON */
    st_lq_entry *grave;     /* entries out of the window, freed after delivery */
    /* the last single-document read */
    st_buf got_key, got_json;
    uint64_t got_seq;
    /* reading a range (load, refill) */
    uint64_t got_n;
    st_status range_st;
} live_query;

/* ---- events ---------------------------------------------------------------------- */

/* Room for the events of one step (a document applied: at most an ADDED or
 * CHANGED with its JSON and two REMOVED), so that recording them cannot
 * fail once the window changed: the app's view and the window never part.
 * A step that cannot get the room is not taken (it is retried). */
#define STEP_EVENTS 4

static st_status reserve(live_query *lq, size_t json_len)
{
    if (lq->cap_ev - lq->n_ev < STEP_EVENTS) {
        size_t cap = lq->cap_ev ? lq->cap_ev * 2 : 64;
        lq_event *v = realloc(lq->ev, cap * sizeof *v);
        if (!v)
            return ST_E_NOMEM;
        lq->ev = v;
        lq->cap_ev = cap;
    }
    return st_buf_reserve(&lq->arena, json_len + 1);
}

/* Record an event; the room was reserved. */
static void emit(live_query *lq, settee_live_op op, const char *id, const char *json,
                 size_t json_len, size_t old_pos, size_t new_pos)
{
    lq_event *x = &lq->ev[lq->n_ev++];
    *x = (lq_event){op, id, 0, SIZE_MAX, old_pos, new_pos};
    if (json) {
        x->json_off = lq->arena.len;
        x->json_len = json_len;
        /* Reserved: these cannot fail. */
        if (st_buf_add(&lq->arena, json, json_len) != ST_OK ||
            st_buf_addc(&lq->arena, '\0') != ST_OK)
            x->json_len = SIZE_MAX;
    }
}

static void bury(live_query *lq, st_lq_entry *e)
{
    e->hnext = lq->grave;
    lq->grave = e;
}

static void graves_free(live_query *lq)
{
    for (st_lq_entry *e = lq->grave, *next; e; e = next) {
        next = e->hnext;
        st_lq_entry_free(e);
    }
    lq->grave = NULL;
}

/* Tell the app this run's events (when there are any, or always), then
 * forget them.  A callback that removes the live query only marks it: the
 * dispatcher frees it after this run, so everything here stays valid. */
static st_status deliver(live_query *lq, bool always)
{
    size_t n = lq->n_ev;
    settee_live_change *v = n ? malloc(n * sizeof *v) : NULL;
    if (n && !v)
        return ST_E_NOMEM; /* kept for the next delivery */
    for (size_t i = 0; i < n; i++) {
        const lq_event *x = &lq->ev[i];
        v[i] = (settee_live_change){
            .op = x->op,
            .id = x->id,
            .json = x->json_len == SIZE_MAX ? NULL : lq->arena.data + x->json_off,
            .json_len = x->json_len == SIZE_MAX ? 0 : x->json_len,
            .old_pos = x->old_pos,
            .new_pos = x->new_pos,
        };
    }
    if (n || always)
        lq->fn(lq->ctx, lq->db, v, n);
    free(v);
    lq->n_ev = 0;
    st_buf_reset(&lq->arena);
    graves_free(lq);
    return ST_OK;
}

/* ---- the window -------------------------------------------------------------------- */

/* Take e out of the window (and out of the app's result when shown). */
static void drop(live_query *lq, st_lq_entry *e)
{
    bool was_shown = e->shown;
    size_t r = st_lq_set_remove(&lq->set, e);
    if (was_shown) {
        emit(lq, SETTEE_LIVE_REMOVED, e->id, NULL, 0, r, SETTEE_LIVE_NO_POS);
        lq->shown--;
    }
    bury(lq, e);
}

/* The entry at rank limit is no longer the app's (an insertion before it
 * pushed it out). */
static void hide_overflow(live_query *lq)
{
    if (lq->shown <= lq->limit)
        return;
    st_lq_entry *x = st_lq_set_at(&lq->set, (size_t)lq->limit);
    x->shown = false;
    lq->shown--;
    emit(lq, SETTEE_LIVE_REMOVED, x->id, NULL, 0, (size_t)lq->limit, SETTEE_LIVE_NO_POS);
}

/* A new entry for document id as st says, with its JSON when kept. */
static st_lq_entry *entry_for(live_query *lq, const char *id, const doc_state *st)
{
    st_lq_entry *e = st_lq_entry_new(st->key, st->key_len, id, st->seq);
    if (e && lq->keep_docs) {
        if (!(e->doc = malloc(st->json_len + 1))) {
            st_lq_entry_free(e);
            return NULL;
        }
        memcpy(e->doc, st->json, st->json_len);
        e->doc[st->json_len] = '\0';
        e->doc_len = st->json_len;
    }
    return e;
}

/* Put e in the window; shown when it lands within (or right after) the
 * shown prefix and before the limit. */
static void put(live_query *lq, st_lq_entry *e, const doc_state *st)
{
    size_t r = st_lq_set_insert(&lq->set, e);
    if (r <= lq->shown && r < lq->limit) {
        e->shown = true;
        lq->shown++;
        emit(lq, SETTEE_LIVE_ADDED, e->id, st->json, st->json_len, SETTEE_LIVE_NO_POS, r);
        hide_overflow(lq);
    }
}

/* e (in the window) is now at st's position. */
static st_status move(live_query *lq, st_lq_entry *e, const doc_state *st)
{
    st_lq_entry *ne = entry_for(lq, e->id, st);
    if (!ne)
        return ST_E_NOMEM;
    bool was_shown = e->shown;
    size_t r1 = st_lq_set_remove(&lq->set, e);
    if (was_shown)
        lq->shown--;
    size_t r2 = st_lq_set_insert(&lq->set, ne);
    if (!was_shown) {
        /* Not the app's yet: as a new entry. */
        if (r2 <= lq->shown && r2 < lq->limit) {
            ne->shown = true;
            lq->shown++;
            emit(lq, SETTEE_LIVE_ADDED, ne->id, st->json, st->json_len, SETTEE_LIVE_NO_POS, r2);
            hide_overflow(lq);
        }
    } else if (r2 <= lq->shown && r2 < lq->limit) {
        ne->shown = true;
        lq->shown++;
        emit(lq, SETTEE_LIVE_CHANGED, ne->id, st->json, st->json_len, r1, r2);
    } else {
        /* Moved past the shown part: the next one comes in (fill). */
        emit(lq, SETTEE_LIVE_REMOVED, ne->id, NULL, 0, r1, SETTEE_LIVE_NO_POS);
    }
    bury(lq, e);
    return ST_OK;
}

/* Keep at most cap entries: the last ones go (never shown ones, since
 * shown <= limit <= cap). */
static void trim(live_query *lq)
{
    while (lq->set.n > lq->cap) {
        drop(lq, st_lq_set_at(&lq->set, lq->set.n - 1));
        lq->complete = false;
    }
}

/* Document id is now as st says.  known_next: st comes from reading on
 * after the window's last entry (so it belongs right after it even when
 * the window is not complete). */
static st_status apply(live_query *lq, const char *id, const doc_state *st, bool known_next)
{
    st_lq_entry *e = st_lq_set_find(&lq->set, id);
    if (e && st->in && st->seq == e->seq)
        return ST_OK; /* unchanged since it was read */
    if (reserve(lq, st->in ? st->json_len : 0) != ST_OK)
        return ST_E_NOMEM;
    if (!st->in) {
        if (e)
            drop(lq, e);
        return ST_OK;
    }
    if (!known_next && !lq->complete) {
        /* Past the window's last entry (itself aside) it cannot be placed:
         * the documents between are not known. */
        st_lq_entry *last = lq->set.n ? st_lq_set_at(&lq->set, lq->set.n - 1) : NULL;
        if (last == e)
            last = lq->set.n >= 2 ? st_lq_set_at(&lq->set, lq->set.n - 2) : NULL;
        if (!last || st_lq_set_cmp(&lq->set, st->key, st->key_len, id, last) > 0) {
            if (e)
                drop(lq, e);
            return ST_OK;
        }
    }
    st_status s = ST_OK;
    if (e) {
        s = move(lq, e, st);
    } else {
        st_lq_entry *ne = entry_for(lq, id, st);
        if (!ne)
            return ST_E_NOMEM;
        put(lq, ne, st);
    }
    trim(lq);
    return s;
}

/* ---- reading documents -------------------------------------------------------------- */

static int got_doc(void *ctx, const char *json, size_t len)
{
    live_query *lq = ctx;
    const char *key, *id;
    size_t kn;
    st_mango_cursor_pos(lq->cur, &key, &kn, &id, &lq->got_seq);
    st_buf_reset(&lq->got_key);
    st_buf_reset(&lq->got_json);
    st_status s = st_buf_reserve(&lq->got_key, kn + 1);
    if (s == ST_OK && kn)
        s = st_buf_add(&lq->got_key, key, kn);
    if (s == ST_OK)
        s = st_buf_add(&lq->got_json, json, len);
    lq->range_st = s;
    return 0;
}

/* Document id as the query judges it now, into *st (borrowing lq's buffers
 * until the next read). */
static st_status fetch(live_query *lq, const char *id, doc_state *st, st_error *ce)
{
    bool in = false;
    lq->range_st = ST_OK;
    st_status s = st_mango_cursor_get(lq->cur, id, got_doc, lq, &in, ce);
    if (s == ST_OK)
        s = lq->range_st;
    if (s != ST_OK)
        return s;
    *st = (doc_state){.in = in};
    if (in) {
        st->seq = lq->got_seq;
        st->key = lq->got_key.data;
        st->key_len = lq->got_key.len;
        st->json = lq->got_json.data;
        st->json_len = lq->got_json.len;
    }
    return ST_OK;
}

/* The state of the document being handed over by st_mango_next. */
static void range_state(live_query *lq, const char *json, size_t len, doc_state *st,
                        const char **id)
{
    const char *key;
    size_t kn;
    uint64_t seq;
    st_mango_cursor_pos(lq->cur, &key, &kn, id, &seq);
    *st = (doc_state){true, seq, key, kn, json, len};
}

/* Every page of the cursor through fn (each call moves it: this ends). */
static st_status read_range(live_query *lq, st_mango_doc_fn fn, st_error *ce)
{
    bool done = false;
    lq->range_st = ST_OK;
    while (!done) {
        st_status s = st_mango_next(lq->cur, LOAD_PIECE, fn, lq, &done, ce);
        if (s == ST_OK)
            s = lq->range_st;
        if (s != ST_OK)
            return s;
    }
    return ST_OK;
}

/* ---- the initial result ------------------------------------------------------------- */

/* A document of the first read: into the window, its JSON kept in the
 * arena until the initial call.  Pages have their own snapshots, so a
 * document moved meanwhile may come twice: the later one wins (the
 * follower reports the move, and it is read again). */
static int load_doc(void *ctx, const char *json, size_t len)
{
    live_query *lq = ctx;
    doc_state st;
    const char *id;
    range_state(lq, json, len, &st, &id);
    lq->got_n++;
    st_lq_entry *old = st_lq_set_find(&lq->set, id);
    if (old) {
        st_lq_set_remove(&lq->set, old);
        st_lq_entry_free(old);
    }
    st_lq_entry *e = entry_for(lq, id, &st);
    if (!e) {
        lq->range_st = ST_E_NOMEM;
        return 1;
    }
    e->json_off = lq->arena.len;
    e->json_len = len;
    st_status s = st_buf_add(&lq->arena, json, len);
    if (s == ST_OK)
        s = st_buf_addc(&lq->arena, '\0');
    if (s != ST_OK) {
        st_lq_entry_free(e);
        lq->range_st = s;
        return 1;
    }
    st_lq_set_insert(&lq->set, e);
    return 0;
}

static void set_clear(live_query *lq)
{
    st_lq_set_free(&lq->set);
    lq->shown = 0;
}

/* Read the first cap entries and tell the app the first limit of them. */
static st_status load(live_query *lq, st_error *ce)
{
    lq->got_n = 0;
    st_buf_reset(&lq->arena);
    if (!st_lq_set_init(&lq->set, st_mango_cursor_descending(lq->cur)))
        return ST_E_NOMEM;
    st_status s = st_mango_cursor_seek(lq->cur, NULL, 0, NULL, lq->cap, ce);
    if (s == ST_OK)
        s = read_range(lq, load_doc, ce);
    if (s != ST_OK) {
        set_clear(lq);
        return s;
    }
    lq->complete = lq->got_n < lq->cap;
    trim(lq); /* duplicates aside, the read stopped at cap */
    /* The arena holds the documents' JSON; the events point at it and at
     * the entries' ids. */
    size_t n = lq->set.n < lq->limit ? lq->set.n : (size_t)lq->limit;
    if (n > lq->cap_ev) {
        lq_event *v = realloc(lq->ev, n * sizeof *v);
        if (!v) {
            set_clear(lq);
            return ST_E_NOMEM;
        }
        lq->ev = v;
        lq->cap_ev = n;
    }
    for (size_t i = 0; i < n; i++) {
        st_lq_entry *e = st_lq_set_at(&lq->set, i);
        e->shown = true;
        lq->ev[i] = (lq_event){SETTEE_LIVE_ADDED, e->id, e->json_off, e->json_len,
                               SETTEE_LIVE_NO_POS, i};
    }
    lq->n_ev = n;
    lq->shown = n;
    lq->loaded = true;
    return ST_OK;
}

/* ---- keeping the shown part full ---------------------------------------------------- */

/* Reading on after the window: each document comes right after it. */
static int refill_doc(void *ctx, const char *json, size_t len)
{
    live_query *lq = ctx;
    doc_state st;
    const char *id;
    range_state(lq, json, len, &st, &id);
    lq->got_n++;
    lq->range_st = apply(lq, id, &st, true);
    return lq->range_st != ST_OK;
}

/* Read up to cap entries past the window's last one. */
static st_status refill(live_query *lq, st_error *ce)
{
    uint64_t want = lq->cap - lq->set.n;
    st_lq_entry *last = lq->set.n ? st_lq_set_at(&lq->set, lq->set.n - 1) : NULL;
    st_status s = last ? st_mango_cursor_seek(lq->cur, last->data, last->key_len, last->id,
                                              want, ce)
                       : st_mango_cursor_seek(lq->cur, NULL, 0, NULL, want, ce);
    lq->got_n = 0;
    if (s == ST_OK)
        s = read_range(lq, refill_doc, ce);
    if (s == ST_OK && lq->got_n < want)
        lq->complete = true; /* read to the end of the answer */
    return s;
}

/* Bring the shown part up to min(limit, answer): hidden entries first
 * (each read again for its JSON; one that changed meanwhile is applied as
 * it is now), then reading on.  Bounded: a document rewritten faster than
 * it is read is left for the follower's next rows. */
static st_status fill(live_query *lq, st_error *ce)
{
    st_status s = ST_OK;
    for (size_t tries = 0; s == ST_OK && lq->shown < lq->limit && tries < 2 * BATCH + 16;
         tries++) {
        if (lq->shown == lq->set.n) {
            if (lq->complete)
                break;
            s = refill(lq, ce);
            if (s == ST_OK && lq->shown == lq->set.n && lq->complete)
                break;
            continue;
        }
        st_lq_entry *x = st_lq_set_at(&lq->set, lq->shown);
        if (x->doc) {
            /* As last read: a change since is in the follower's rows, which
             * tell it to the app when they come. */
            if ((s = reserve(lq, x->doc_len)) != ST_OK)
                break;
            x->shown = true;
            emit(lq, SETTEE_LIVE_ADDED, x->id, x->doc, x->doc_len, SETTEE_LIVE_NO_POS,
                 lq->shown);
            lq->shown++;
            continue;
        }
        doc_state st;
        if ((s = fetch(lq, x->id, &st, ce)) != ST_OK)
            break;
        if (st.in && st.seq == x->seq) {
            if ((s = reserve(lq, st.json_len)) != ST_OK)
                break;
            x->shown = true;
            emit(lq, SETTEE_LIVE_ADDED, x->id, st.json, st.json_len, SETTEE_LIVE_NO_POS,
                 lq->shown);
            lq->shown++;
        } else {
            s = apply(lq, x->id, &st, false);
        }
    }
    return s;
}

/* ---- the follower's rows ------------------------------------------------------------ */

/* One batch of rows: ids (in the arena `ids`), their sequences and flags. */
typedef struct row_batch {
    size_t n;
    size_t id_off[BATCH];
    uint64_t seq[BATCH];
    bool gone[BATCH];       /* deleted, or no longer matching */
    st_buf ids;
    st_status st;
} row_batch;

static int collect(void *ctx, const st_change_row *row)
{
    row_batch *b = ctx;
    if (b->n == BATCH)
        return 1;
    b->id_off[b->n] = b->ids.len;
    b->seq[b->n] = row->seq;
    b->gone[b->n] = row->deleted || row->removed;
    if ((b->st = st_buf_add(&b->ids, row->id, strlen(row->id) + 1)) != ST_OK)
        return 1;
    b->n++;
    return 0;
}

/* One row: the document changed at seq. */
static st_status row_apply(live_query *lq, const char *id, uint64_t seq, bool gone,
                           st_error *ce)
{
    if (strncmp(id, "_design/", 8) == 0)
        return ST_OK; /* never part of an answer */
    st_lq_entry *e = st_lq_set_find(&lq->set, id);
    if (e && seq <= e->seq)
        return ST_OK; /* read since (fill, reading on): already current */
    if (gone) {
        if (e && reserve(lq, 0) != ST_OK)
            return ST_E_NOMEM;
        if (e)
            drop(lq, e);
        return ST_OK;
    }
    doc_state st;
    st_status s = fetch(lq, id, &st, ce);
    return s == ST_OK ? apply(lq, id, &st, false) : s;
}

/* Read and apply one batch; *out_rows: how many rows it had.  On failure
 * the follower goes back to where it was: applying a row twice changes
 * nothing (sequences tell what is current). */
static st_status read_rows(live_query *lq, row_batch *b, size_t *out_rows, st_error *ce)
{
    st_changes_opts o;
    st_changes_opts_init(&o);
    o.limit = BATCH;
    b->n = 0;
    b->st = ST_OK;
    st_buf_reset(&b->ids);
    uint64_t before = st_follow_since(lq->follower);
    st_follow_batch fb;
    st_status s = st_follow_read(lq->follower, &o, collect, b, &fb, ce);
    if (s == ST_OK)
        s = b->st;
    for (size_t i = 0; s == ST_OK && i < b->n; i++)
        s = row_apply(lq, b->ids.data + b->id_off[i], b->seq[i], b->gone[i], ce);
    if (s != ST_OK)
        st_follow_seek(lq->follower, before);
    *out_rows = b->n;
    return s;
}

/* ---- the task ----------------------------------------------------------------------- */

static bool lq_due(st_client_task *t)
{
    live_query *lq = (live_query *)t;
    return atomic_load(&lq->woken);
}

static st_client_next lq_run(st_client_task *t)
{
    live_query *lq = (live_query *)t;
    st_error ce;
    /* Cleared before reading: a commit from now on wakes it again. */
    atomic_store(&lq->woken, false);
    if (lq->n_ev && deliver(lq, false) != ST_OK) /* left over from a failed run */
        return ST_CLIENT_RETRY;
    if (!lq->loaded) {
        if (load(lq, &ce) != ST_OK)
            return ST_CLIENT_RETRY;
        if (deliver(lq, true) != ST_OK) {
            lq->n_ev = 0; /* told nothing: read it again */
            lq->loaded = false;
            set_clear(lq);
            return ST_CLIENT_RETRY;
        }
        return ST_CLIENT_MORE; /* what committed meanwhile, next round */
    }
    row_batch *b = malloc(sizeof *b);
    if (!b)
        return ST_CLIENT_RETRY;
    st_buf_init(&b->ids, 0);
    st_client_next next = ST_CLIENT_MORE; /* unless caught up below */
    for (int i = 0; i < MAX_BATCHES; i++) {
        size_t rows = 0;
        if (st_client_dispatch_removed(t)) {
            next = ST_CLIENT_IDLE;
            break;
        }
        st_status s = read_rows(lq, b, &rows, &ce);
        if (s == ST_OK)
            s = fill(lq, &ce);
        /* What was applied is told even when a later step failed. */
        if (deliver(lq, false) != ST_OK || s != ST_OK) {
            next = ST_CLIENT_RETRY;
            break;
        }
        if (rows < BATCH && st_follow_arm(lq->follower)) {
            next = ST_CLIENT_IDLE;
            break;
        }
    }
    st_buf_free(&b->ids);
    free(b);
    return next;
}

static void lq_destroy(live_query *lq)
{
    st_follow_close(lq->follower);
    st_mango_cursor_free(lq->cur);
    st_mango_query_free(lq->q);
    graves_free(lq);
    st_lq_set_free(&lq->set);
    st_buf_free(&lq->arena);
    st_buf_free(&lq->got_key);
    st_buf_free(&lq->got_json);
    free(lq->ev);
    free(lq);
}

static void lq_free(st_client_task *t, bool deferred)
{
    live_query *lq = (live_query *)t;
    settee_db *db = lq->db;
    (void)deferred;
    lq_destroy(lq);
    st_client_child_done(db);
}

static const st_client_task_ops lq_ops = {lq_due, lq_run, lq_free};

/* The follower's wake: on a core thread, quick, no settee lock. */
static void on_wake(void *ctx)
{
    live_query *lq = ctx;
    atomic_store(&lq->woken, true);
    st_client_dispatch_wake(lq->db->disp);
}

/* ---- start -------------------------------------------------------------------------- */

/* The live query's own rules on top of _find's: no paging, and limit
 * absent means none.  body was validated by st_mango_query_parse. */
static settee_status live_options(live_query *lq, const st_json *body, settee_error *e)
{
    const st_json *skip = st_json_get(body, "skip");
    uint64_t n = 0;
    if (skip && !(st_json_uint64(skip, &n) && n == 0))
        return st_client_fail(e, SETTEE_BAD_REQUEST,
                              "invalid_key: skip is not supported by a live query");
    const st_json *bm = st_json_get(body, "bookmark");
    if (bm && bm->type == ST_JSON_STRING && bm->len > 0)
        return st_client_fail(e, SETTEE_BAD_REQUEST,
                              "invalid_key: bookmark is not supported by a live query");
    const st_json *lim = st_json_get(body, "limit");
    lq->limit = UINT64_MAX;
    if (lim && !st_json_uint64(lim, &lq->limit))
        lq->limit = UINT64_MAX; /* past 64 bits: no limit either */
    uint64_t slack = lq->limit / 8;
    if (slack < SLACK_MIN)
        slack = SLACK_MIN;
    if (slack > SLACK_MAX)
        slack = SLACK_MAX;
    lq->cap = lq->limit > UINT64_MAX - slack ? UINT64_MAX : lq->limit + slack;
    /* A limited window is small (limit + slack documents): keeping their
     * JSON saves a read each time one moves up.  Without a limit nothing is
     * ever hidden, and the result's documents stay in the database. */
    lq->keep_docs = lq->limit != UINT64_MAX;
    return SETTEE_OK;
}

/* Parse and plan the query: its errors are the caller's, before anything
 * runs. */
static settee_status plan(settee_db *db, live_query *lq, const char *json, size_t n,
                          settee_error *e)
{
    st_json_limits lim = {db->max_doc_size, 0};
    st_json_doc *body = NULL;
    st_error ce;
    st_status s = st_json_parse(json, n == SETTEE_NUL_TERMINATED ? strlen(json) : n, &lim, &body,
                                &ce);
    settee_status rc = SETTEE_OK;
    if (s == ST_OK && st_json_doc_root(body)->type != ST_JSON_OBJECT)
        rc = st_client_fail(e, SETTEE_BAD_REQUEST, "Request body must be a JSON object");
    else if (s == ST_OK && (s = st_mango_query_parse(st_json_doc_root(body), &lq->q, &ce)) ==
                               ST_OK)
        rc = live_options(lq, st_json_doc_root(body), e);
    if (s == ST_OK && rc == SETTEE_OK)
        s = st_mango_find(db->core, lq->q, &lq->cur, &ce);
    if (s != ST_OK)
        rc = st_client_from_core(e, s, &ce);
    st_json_doc_free(body);
    return rc;
}

settee_status settee_live_query_start(settee_db *db, const char *query_json, size_t n,
                                      settee_live_fn fn, void *ctx, settee_listener **out_tok,
                                      settee_error *e)
{
    if (out_tok)
        *out_tok = NULL;
    if (!query_json || !fn || !out_tok)
        return st_client_fail(e, SETTEE_MISUSE, "NULL query_json, fn or out_tok");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_db_info info;
    st_error ce;
    st_status s;
    live_query *lq = calloc(1, sizeof *lq);
    if (!lq) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    lq->db = db;
    lq->fn = fn;
    lq->ctx = ctx;
    atomic_init(&lq->woken, true); /* the first round reads the initial result */
    st_buf_init(&lq->arena, 0);
    st_buf_init(&lq->got_key, 0);
    st_buf_init(&lq->got_json, 0);
    if ((rc = plan(db, lq, query_json, n, e)) != SETTEE_OK)
        goto out;
    /* The follower starts before the first read: whatever commits from
     * here on is reported, and read again if that read saw it already. */
    if ((s = st_db_info_get(db->core, &info, &ce)) != ST_OK ||
        (s = st_follow_open_selector(db->core, info.update_seq, st_mango_query_selector(lq->q),
                                     true, on_wake, lq, &lq->follower, &ce)) != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    st_client_child_add(db);
    st_client_dispatch_add(db->disp, &lq->task, &lq_ops);
    st_client_dispatch_wake(db->disp);
    *out_tok = (settee_listener *)(void *)lq;
    lq = NULL;
    st_client_ok(e);
out:
    if (lq)
        lq_destroy(lq);
    st_client_leave(db);
    return rc;
}
