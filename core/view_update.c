/* view_update.c — the index updater: follow the database from the index's
 * update_seq, map every changed document, replace its rows, keep the
 * reduction tree, and commit each batch with its sequence.
 *
 * Why batches commit on their own: an interrupted build (a map function
 * that times out at document 60,000, a server stop) keeps what it did, and
 * the next update goes on from the last committed sequence.  The index's
 * sequence only moves in the transaction that wrote the rows up to it, so
 * the index never claims a document it has not mapped.
 *
 * Why a large batch skips the tree: keeping the tree per batch costs a
 * read of every changed block; when most of the index changes (the first
 * build) that is a read of the index per batch.  Instead the tree is
 * dropped (meta "tree" = 0, no blocks: queries then read rows) and built
 * in one pass when the run is done.
 */
#include "view_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_follow.h"
#include "st_jw.h"

#define BULK_MIN_CHANGES 5000

static st_status meta_u64(st_vconn *c, const char *key, uint64_t *out, bool *found,
                          st_error *err)
{
    st_buf b = ST_BUF_INIT;
    st_status st = st_vmeta_get(c, key, &b, err);
    *found = st == ST_OK;
    if (st == ST_OK)
        *out = b.data ? strtoull(b.data, NULL, 10) : 0;
    st_buf_free(&b);
    return st == ST_E_NOT_FOUND ? ST_OK : st;
}

static st_status meta_put_u64(st_vconn *c, const char *key, uint64_t v, st_error *err)
{
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    return st_vmeta_set(c, key, s, err);
}

/* ---- opening ------------------------------------------------------------- */

static st_status meta_matches(st_vconn *c, const char *key, const char *want, bool *fresh,
                              bool *same, st_error *err)
{
    st_buf b = ST_BUF_INIT;
    st_status st = st_vmeta_get(c, key, &b, err);
    if (st == ST_E_NOT_FOUND) {
        *fresh = true;
        st = ST_OK;
    } else if (st == ST_OK) {
        *same = *same && b.data && strcmp(b.data, want) == 0;
    }
    st_buf_free(&b);
    return st;
}

static st_status stamp(st_vconn *c, const char *uuid, const char *coll, st_error *err)
{
    st_status st = st_vconn_write_begin(c, err);
    if (st != ST_OK)
        return st;
    if ((st = st_vmeta_set(c, "db", uuid, err)) == ST_OK &&
        (st = st_vmeta_set(c, "collator", coll, err)) == ST_OK &&
        (st = st_vmeta_set(c, "seq", "0", err)) == ST_OK &&
        (st = st_vmeta_set(c, "tree", "1", err)) == ST_OK)
        st = st_vconn_commit(c, err);
    if (st != ST_OK)
        st_vconn_rollback(c);
    return st;
}

st_status vindex_load(vindex *ix, st_db *db, st_error *err)
{
    char coll[32];
    st_collate_version(coll, sizeof coll);
    st_status st = st_vconn_open(ix->file, &ix->writer, err);
    bool fresh = false, same = true;
    if (st == ST_OK)
        st = meta_matches(ix->writer, "db", db->uuid, &fresh, &same, err);
    if (st == ST_OK)
        st = meta_matches(ix->writer, "collator", coll, &fresh, &same, err);
    if (st == ST_OK && !fresh && !same) {
        /* Another database's index, or keys sorted by another ICU: start over. */
        st_vconn_close(ix->writer);
        ix->writer = NULL;
        st_vfile_close(ix->file);
        ix->file = NULL;
        if ((st = st_vfile_remove(db->store, ix->sig, err)) == ST_OK &&
            (st = st_vfile_open(db->store, ix->sig, &ix->file, err)) == ST_OK)
            st = st_vconn_open(ix->file, &ix->writer, err);
        fresh = true;
    }
    if (st == ST_OK && fresh)
        st = stamp(ix->writer, db->uuid, coll, err);
    uint64_t seq = 0;
    bool found = false;
    if (st == ST_OK)
        st = meta_u64(ix->writer, "seq", &seq, &found, err);
    atomic_store(&ix->seq, seq);
    return st;
}

/* ---- one run ------------------------------------------------------------- */

#define BULK_COMMIT_DOCS 5000 /* a bulk run commits about this often */

typedef struct run {
    vindex *ix;
    st_db *db;
    st_error *err;
    size_t nviews;
    bool bulk;
    bool fresh;               /* the index was empty when the run began */
    uint64_t target;          /* the database's sequence when it began */
    st_qs_proc *proc;         /* for JavaScript reduces of the tree */
    /* scratch */
    st_buf pos, key, val, idsv, old;
    vput put;                 /* the batch's id lists, written at its end */
    vtouch *touch;            /* per view */
} run;

static void noop_wake(void *ctx) { (void)ctx; }

static st_status to_text(st_buf *out, const st_json *v, st_error *err)
{
    st_jw w;
    st_buf_reset(out);
    st_status st = st_jw_init(&w, out);
    if (st == ST_OK) {
        st_jw_value(&w, v);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    return st == ST_OK ? ST_OK : st_fail(err, st, "cannot write a view row");
}

static st_status touch(run *r, unsigned view, const void *pos, size_t n)
{
    if (r->bulk || view >= r->nviews)
        return ST_OK;
    return vtouch_add(&r->touch[view], pos, n) == ST_OK ? ST_OK
                                                        : st_fail(r->err, ST_E_NOMEM, "out of memory");
}

/* Replace document id's rows by the ones its map answer gives (ans NULL:
 * it has none: deleted, a design document, or refused by the server).
 * Why no lookup in a first build: a document met at a sequence up to the
 * run's target is met for the first time in the run (its next change can
 * only come after the target), and an empty index holds nothing of it. */
static st_status apply_doc(run *r, const char *id, uint64_t seq, const st_json *ans)
{
    st_vconn *c = r->ix->writer;
    st_status st = ST_E_NOT_FOUND;
    st_buf_reset(&r->old);
    if (!r->fresh || seq > r->target)
        st = st_vids_get(c, id, &r->old, r->err);
    if (st == ST_OK) {
        vid_iter it = {(const unsigned char *)r->old.data,
                       (const unsigned char *)r->old.data + r->old.len};
        unsigned view;
        const unsigned char *pos;
        size_t n;
        while (st == ST_OK && st_vkey_ids_next(&it, &view, &pos, &n))
            if ((st = st_vrow_del(c, view, pos, n, r->err)) == ST_OK)
                st = touch(r, view, pos, n);
    } else if (st == ST_E_NOT_FOUND) {
        st = ST_OK;
    }
    st_buf_reset(&r->idsv);
    for (size_t v = 0; st == ST_OK && ans && v < ans->len && v < r->nviews; v++) {
        const st_json *rows = &ans->u.items[v];
        st_collate_mode m = st_ddoc_view_at(r->ix->ddoc, v)->collation;
        for (size_t j = 0; st == ST_OK && j < rows->len; j++) {
            const st_json *kv = &rows->u.items[j];
            st_buf_reset(&r->pos);
            if (st_vkey_pos(&r->pos, &kv->u.items[0], m, id, (uint32_t)j) != ST_OK) {
                st = st_fail(r->err, ST_E_NOMEM, "out of memory");
                break;
            }
            if ((st = to_text(&r->key, &kv->u.items[0], r->err)) != ST_OK ||
                (st = to_text(&r->val, &kv->u.items[1], r->err)) != ST_OK)
                break;
            st_vrow row = {(const unsigned char *)r->pos.data, r->pos.len, id, r->key.data,
                           r->key.len, r->val.data, r->val.len};
            if ((st = st_vrow_put(c, (unsigned)v, &row, r->err)) != ST_OK ||
                (st = touch(r, (unsigned)v, r->pos.data, r->pos.len)) != ST_OK)
                break;
            if (st_vkey_ids_add(&r->idsv, (unsigned)v, r->pos.data, r->pos.len) != ST_OK)
                st = st_fail(r->err, ST_E_NOMEM, "out of memory");
        }
    }
    if (st != ST_OK)
        return st;
    if (r->idsv.len)
        return vput_ids(&r->put, c, id, r->idsv.data, r->idsv.len, r->err);
    return r->old.len ? st_vids_del(c, id, r->err) : ST_OK;
}

static st_status keep_trees(run *r)
{
    st_status st = ST_OK;
    for (size_t v = 0; st == ST_OK && v < r->nviews; v++) {
        if (r->touch[v].n == 0)
            continue;
        vred red;
        vred_init(&red, st_ddoc_view_at(r->ix->ddoc, v), r->ix->qs,
                  st_ddoc_language(r->ix->ddoc), &r->ix->opts->limits, r->proc);
        st = vtree_update(r->ix->writer, (unsigned)v, &red, &r->touch[v], r->err);
        vred_done(&red);
        r->touch[v].n = 0;
    }
    return st;
}

/* The rows of a mapped batch, and its sequence, inside the open transaction. */
static st_status write_batch(run *r, vbatch *b)
{
    st_status st = ST_OK;
    for (size_t i = 0, k = 0; st == ST_OK && i < b->n; i++) {
        const st_json *a = NULL;
        if (b->mapped[i]) {
            /* A document the server refused (too_large): it has no rows. */
            a = k < b->nans && !b->ans[k].error ? b->ans[k].value : NULL;
            k++;
        }
        st = apply_doc(r, b->ids.data + b->id_off[i], b->seqs[i], a);
    }
    if (st == ST_OK)
        st = vput_flush(&r->put, r->ix->writer, r->err);
    if (st == ST_OK && !r->bulk)
        st = keep_trees(r);
    if (st == ST_OK)
        st = meta_put_u64(r->ix->writer, "seq", b->last_seq, r->err);
    return st;
}

/* The whole tree of every view, from its rows, after a bulk run. */
static st_status rebuild_trees(run *r)
{
    st_vconn *c = r->ix->writer;
    st_status st = st_vconn_write_begin(c, r->err);
    for (size_t v = 0; st == ST_OK && v < r->nviews; v++) {
        vred red;
        vred_init(&red, st_ddoc_view_at(r->ix->ddoc, v), r->ix->qs,
                  st_ddoc_language(r->ix->ddoc), &r->ix->opts->limits, r->proc);
        st = vtree_rebuild(c, (unsigned)v, &red, r->err);
        vred_done(&red);
    }
    if (st == ST_OK)
        st = st_vmeta_set(c, "tree", "1", r->err);
    if (st == ST_OK)
        st = st_vconn_commit(c, r->err);
    else
        st_vconn_rollback(c);
    return st;
}

/* Whether this run skips the tree upkeep and rebuilds it at the end. */
static st_status decide_bulk(run *r, uint64_t seq, uint64_t target)
{
    st_vconn *c = r->ix->writer;
    uint64_t tree = 1, rows = 0;
    bool found = false;
    st_status st = st_vconn_read_begin(c, r->err);
    if (st != ST_OK)
        return st;
    st = meta_u64(c, "tree", &tree, &found, r->err);
    for (size_t v = 0; st == ST_OK && tree && v < r->nviews; v++) {
        uint64_t n = 0;
        st = vtree_count(c, (unsigned)v, NULL, 0, NULL, 0, &n, r->err);
        rows += n;
    }
    st_vconn_read_end(c);
    uint64_t pending = target - seq;
    r->bulk = !tree || seq == 0 || (pending > BULK_MIN_CHANGES && pending > rows / 4);
    return st;
}

static void run_free(run *r)
{
    st_buf_free(&r->pos);
    st_buf_free(&r->key);
    st_buf_free(&r->val);
    st_buf_free(&r->idsv);
    st_buf_free(&r->old);
    vput_free(&r->put);
    for (size_t v = 0; r->touch && v < r->nviews; v++)
        vtouch_free(&r->touch[v]);
    free(r->touch);
}

/* The run: the feed is read ahead (view_feed.c) and mapped by up to two
 * mappers while the batches they finished are written here, in the order
 * they were read. */
static st_status pipeline(run *r, st_follower *f, vmapper **m, unsigned k, uint64_t target)
{
    vfeed *fd = NULL;
    st_status st = vfeed_start(r->ix, f, target, m, k, r->bulk, &fd, r->err);
    bool txn = false, first = true;
    size_t in_txn = 0;
    st_vconn *c = r->ix->writer;
    uint64_t done_seq = 0;
    vbatch *got;
    vmapper *from;
    while (st == ST_OK && (got = vfeed_next(fd, &from)) != NULL) {
        vmapper_wait(from, got);
        if (got->st != ST_OK) {
            st = got->st;
            if (r->err)
                *r->err = got->err;
            break;
        }
        if (!txn && (st = st_vconn_write_begin(c, r->err)) == ST_OK)
            txn = true;
        if (st == ST_OK && first && r->bulk) {
            st = st_vmeta_set(c, "tree", "0", r->err);
            for (size_t v = 0; st == ST_OK && v < r->nviews; v++)
                st = st_vblock_clear(c, (unsigned)v, r->err);
        }
        first = false;
        if (st == ST_OK)
            st = write_batch(r, got);
        in_txn += got->n;
        done_seq = got->last_seq;
        vfeed_release(fd);
        if (st == ST_OK && (!r->bulk || in_txn >= BULK_COMMIT_DOCS)) {
            if ((st = st_vconn_commit(c, r->err)) == ST_OK)
                atomic_store(&r->ix->seq, done_seq);
            txn = false;
            in_txn = 0;
        }
    }
    st_error ferr;
    st_status fst = vfeed_stop(fd, &ferr);
    if (st == ST_OK && fst != ST_OK) {
        st = fst;
        if (r->err)
            *r->err = ferr;
    }
    if (txn && st == ST_OK) {
        if ((st = st_vconn_commit(c, r->err)) == ST_OK)
            atomic_store(&r->ix->seq, done_seq);
        txn = false;
    }
    if (txn)
        st_vconn_rollback(c);
    return st;
}

static st_status update_locked(vindex *ix, st_db *db, uint64_t target, st_error *err)
{
    uint64_t seq = atomic_load(&ix->seq);
    if (seq >= target)
        return ST_OK;
    run r;
    memset(&r, 0, sizeof r);
    r.ix = ix;
    r.db = db;
    r.err = err;
    r.nviews = st_ddoc_nviews(ix->ddoc);
    r.fresh = seq == 0;
    r.target = target;
    r.touch = calloc(r.nviews ? r.nviews : 1, sizeof *r.touch);
    st_follower *f = NULL;
    vmapper *m[2] = {NULL, NULL};
    st_status st = r.touch ? ST_OK : st_fail(err, ST_E_NOMEM, "out of memory");
    if (st == ST_OK && !ix->writer)
        st = st_vconn_open(ix->file, &ix->writer, err);
    if (st == ST_OK)
        st = decide_bulk(&r, seq, target);
    /* A small update maps on this thread; a build uses two processes when
     * two are free. */
    if (st == ST_OK)
        st = vmapper_start(ix, r.bulk, true, &m[0], err);
    if (st == ST_OK && r.bulk && vmapper_start(ix, true, false, &m[1], NULL) != ST_OK)
        m[1] = NULL;
    if (st == ST_OK) {
        r.proc = vmapper_proc(m[0]);
        st = st_follow_open(db, seq, noop_wake, NULL, &f, err);
    }
    if (st == ST_OK)
        st = pipeline(&r, f, m, m[1] ? 2 : 1, target);
    st_follow_close(f);
    if (st == ST_OK && r.bulk)
        st = rebuild_trees(&r);
    vmapper_stop(m[0]);
    vmapper_stop(m[1]);
    run_free(&r);
    return st;
}

st_status vindex_update(vindex *ix, st_db *db, uint64_t target, st_error *err)
{
    if (atomic_load(&ix->seq) >= target)
        return ST_OK;
    atomic_fetch_add(&ix->waiting, 1);
    pthread_mutex_lock(&ix->upd_mu);
    atomic_fetch_sub(&ix->waiting, 1);
    atomic_store(&ix->updating, true);
    st_status st = update_locked(ix, db, target, err);
    atomic_store(&ix->updating, false);
    pthread_mutex_unlock(&ix->upd_mu);
    return st;
}
