/* follow_sel.c — reading for selector followers (opened by follow.c's
 * st_follow_open_selector).
 *
 * A selector follower reads what its subscription's queue says matched
 * (mango_subs.c): each queued row from the ring when the ring still has it
 * (one formatted copy shared with every reader), else from storage by its
 * sequence; a row whose document changed again since is gone, as it is
 * from storage.  Its cursor then jumps to the last tested commit: nothing
 * in between matched.  Until the subscription is live (a new follower
 * catching up, a queue dropped for a slow reader, commits by another
 * process) it reads storage with its selector, like an unindexed feed.
 */
#include "follow_int.h"
#include "mango_int.h"
#include "ring.h"

#include <stdlib.h>
#include <string.h>

bool st_follow_is_selective(const st_follower *f) { return f->sub != NULL; }

/* A queued row on its way to the caller's fn. */
typedef struct deliver {
    st_follower *f;
    const sub_entry *e;
    st_change_fn fn;
    void *ctx;
    bool called;
    int stop;
    st_status st;
} deliver;

/* The ring's row, with "removed" spliced in when the entry says so. */
static int from_ring(void *ctx, const st_change_row *row)
{
    deliver *d = ctx;
    st_change_row r = *row;
    d->called = true;
    if (d->e->removed) {
        st_buf *b = &d->f->scratch;
        st_buf_reset(b);
        d->st = st_buf_add(b, row->json, row->json_len - 1); /* without its '}' */
        if (d->st == ST_OK)
            d->st = st_buf_adds(b, ",\"removed\":true}");
        if (d->st != ST_OK) {
            d->stop = 1;
            return 1;
        }
        r.json = b->data;
        r.json_len = b->len;
        r.removed = true;
    }
    d->stop = d->fn(d->ctx, &r);
    return d->stop;
}

static int from_store(void *ctx, const st_change_row *row)
{
    deliver *d = ctx;
    if (row->seq != d->e->seq)
        return 1; /* changed again since: that row is gone */
    st_change_row r = *row;
    r.removed = d->e->removed;
    d->called = true;
    d->stop = d->fn(d->ctx, &r);
    return 1;
}

static bool ring_serves(const st_changes_opts *o)
{
    return !o->include_docs && !o->all_docs && !o->conflicts;
}

/* One queued row through fn (or nothing when gone). */
static st_status deliver_one(deliver *d, const st_changes_opts *o, bool ring_only, st_error *err)
{
    st_db *db = d->f->db;
    st_ring *g = db->ring; /* stable while a follower is open */
    if (g && ring_serves(o)) {
        st_status st = st_ring_get(g, d->e->seq, from_ring, d);
        if (st == ST_OK)
            return d->st;
    }
    if (ring_only)
        return ST_E_NOT_FOUND;
    st_changes_opts q = *o;
    q.since = d->e->seq - 1;
    q.limit = 1;
    q.descending = false;
    q.doc_ids = NULL;
    q.n_doc_ids = 0;
    q.selector = NULL;
    q.filter = NULL;
    return st_db_changes(db, &q, from_store, d, NULL, NULL, err);
}

typedef struct counting {
    st_change_fn fn;
    void *ctx;
    size_t rows;
} counting;

static int count_row(void *ctx, const st_change_row *row)
{
    counting *c = ctx;
    c->rows++;
    return c->fn(c->ctx, row);
}

/* The queued rows after the cursor (or storage, while catching up). */
st_status st_follow_sel_read(st_follower *f, const st_changes_opts *o, st_change_fn fn,
                             void *ctx, st_follow_batch *out, st_error *err)
{
    uint64_t limit = o->limit == 0 ? 1 : o->limit;
    sub_take t;
    counting c = {fn, ctx, 0};
    if (st_subs_take(f, limit, &t) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (t.storage) {
        st_changes_opts q = *o;
        uint64_t last = 0, pending = 0;
        q.since = f->since;
        q.limit = limit;
        q.descending = false;
        q.selector = st_subs_selector(f);
        q.removed = st_subs_removals(f);
        st_status st = st_db_changes(f->db, &q, count_row, &c, &last, &pending, err);
        if (st != ST_OK)
            return st;
        if (last > f->since)
            f->since = last;
        out->rows = c.rows;
        out->last_seq = f->since;
        out->pending = pending;
        return ST_OK;
    }
    st_status st = ST_OK;
    uint64_t cursor = t.upto;
    size_t i = 0;
    for (; i < t.n && st == ST_OK; i++) {
        deliver d = {f, &t.v[i], count_row, &c, false, 0, ST_OK};
        st = deliver_one(&d, o, false, err);
        if (st == ST_OK && !d.called && t.v[i].removed) {
            /* The document stopped matching here and changed again before
             * this was read.  Its later change, not matching and not having
             * matched before, queued nothing: dropping this row would lose
             * the removal.  Storage knows the document as it is now; from
             * here the rows taken are read from it (with the selector,
             * every change that does not match is a removal). */
            cursor = t.v[i].seq - 1;
            st_subs_storage_until(f, t.upto);
            break;
        }
        if (st == ST_OK && d.stop) {
            cursor = t.v[i].seq; /* the caller took this one and no more */
            i++;
            break;
        }
    }
    free(t.v);
    if (st != ST_OK)
        return st;
    if (cursor > f->since)
        f->since = cursor;
    out->rows = c.rows;
    out->last_seq = f->since;
    out->pending = t.n - i;
    return ST_OK;
}

st_status st_follow_sel_cached(st_follower *f, st_change_fn fn, void *ctx, uint64_t *out_upto,
                               st_error *err)
{
    sub_take t;
    st_changes_opts o;
    (void)err;
    if (!f->sub || st_subs_take(f, SIZE_MAX, &t) != ST_OK)
        return ST_E_NOT_FOUND;
    if (t.storage || atomic_load(&f->db->deleted)) {
        free(t.v);
        return ST_E_NOT_FOUND;
    }
    st_changes_opts_init(&o);
    st_status st = ST_OK;
    for (size_t i = 0; i < t.n && st == ST_OK; i++) {
        deliver d = {f, &t.v[i], fn, ctx, false, 0, ST_OK};
        st = deliver_one(&d, &o, true, NULL);
        if (st == ST_OK && d.stop)
            st = ST_E_TOO_LARGE;
        if (st == ST_OK && !d.called && t.v[i].removed)
            st = ST_E_NOT_FOUND; /* a removal gone from the ring: see st_follow_sel_read */
    }
    if (st == ST_OK)
        *out_upto = t.upto;
    free(t.v);
    return st == ST_OK ? ST_OK : ST_E_NOT_FOUND;
}
