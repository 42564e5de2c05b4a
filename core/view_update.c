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

typedef struct run {
    vindex *ix;
    st_db *db;
    st_qs_proc *proc;
    st_error *err;
    size_t nviews;
    bool bulk;
    /* the batch read from the change feed */
    st_buf ids, bodies;       /* NUL-separated ids; bodies back to back */
    size_t *id_off, *body_off, *body_len;
    bool *mapped;             /* the document goes to the map functions */
    size_t n, cap;
    st_status st;
    /* scratch */
    st_buf pos, key, val, idsv, old;
    vtouch *touch;            /* per view */
} run;

static void noop_wake(void *ctx) { (void)ctx; }

static int take_change(void *ctx, const st_change_row *row)
{
    run *r = ctx;
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 256;
        size_t *a = realloc(r->id_off, nc * sizeof *a);
        if (a)
            r->id_off = a;
        size_t *b = realloc(r->body_off, nc * sizeof *b);
        if (b)
            r->body_off = b;
        size_t *c = realloc(r->body_len, nc * sizeof *c);
        if (c)
            r->body_len = c;
        bool *d = realloc(r->mapped, nc * sizeof *d);
        if (d)
            r->mapped = d;
        if (!a || !b || !c || !d) {
            r->st = ST_E_NOMEM;
            return 1;
        }
        r->cap = nc;
    }
    bool design = strncmp(row->id, "_design/", 8) == 0;
    bool map = !row->deleted && row->doc_json &&
               (!design || st_ddoc_include_design(r->ix->ddoc));
    r->id_off[r->n] = r->ids.len;
    r->body_off[r->n] = r->bodies.len;
    r->body_len[r->n] = map ? row->doc_len : 0;
    r->mapped[r->n] = map;
    if (st_buf_add(&r->ids, row->id, strlen(row->id) + 1) != ST_OK ||
        (map && st_buf_add(&r->bodies, row->doc_json, row->doc_len) != ST_OK)) {
        r->st = ST_E_NOMEM;
        return 1;
    }
    r->n++;
    return 0;
}

/* A process with the view's map functions loaded. */
static st_status prepare_proc(run *r)
{
    vindex *ix = r->ix;
    st_ddoc *d = ix->ddoc;
    char key[48];
    snprintf(key, sizeof key, "view:%s", ix->sig);
    st_status st = st_qs_checkout(st_views_qs(ix->vs), st_ddoc_language(d), key, &r->proc, r->err);
    if (st != ST_OK)
        return st;
    const char *have = st_qs_proc_key(r->proc);
    if (have && strcmp(have, key) == 0)
        return ST_OK;
    const char *cfg = st_views_opts(ix->vs)->js_reduce_limit
                          ? "{\"reduce_limit\":true,\"timeout\":5000}"
                          : "{\"reduce_limit\":false,\"timeout\":5000}";
    st = st_qs_reset(r->proc, cfg, r->err);
    const char *lib = st_ddoc_lib(d);
    if (st == ST_OK && lib)
        st = st_qs_add_lib(r->proc, lib, strlen(lib), r->err);
    for (size_t i = 0; st == ST_OK && i < st_ddoc_nviews(d); i++) {
        const char *map = st_ddoc_view_at(d, i)->map;
        st = st_qs_add_fun(r->proc, map, strlen(map), r->err);
    }
    if (st == ST_OK)
        st = st_qs_proc_set_key(r->proc, key, r->err);
    return st;
}

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
 * it has none: deleted, a design document, or refused by the server). */
static st_status apply_doc(run *r, const char *id, const st_json *ans)
{
    st_vconn *c = r->ix->writer;
    st_status st = st_vids_get(c, id, &r->old, r->err);
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
        return st_vids_put(c, id, r->idsv.data, r->idsv.len, r->err);
    return r->old.len ? st_vids_del(c, id, r->err) : ST_OK;
}

static st_status keep_trees(run *r)
{
    st_status st = ST_OK;
    for (size_t v = 0; st == ST_OK && v < r->nviews; v++) {
        if (r->touch[v].n == 0)
            continue;
        vred red;
        vred_init(&red, st_ddoc_view_at(r->ix->ddoc, v), st_views_qs(r->ix->vs),
                  st_ddoc_language(r->ix->ddoc), &st_views_opts(r->ix->vs)->limits, r->proc);
        st = vtree_update(r->ix->writer, (unsigned)v, &red, &r->touch[v], r->err);
        vred_done(&red);
        r->touch[v].n = 0;
    }
    return st;
}

/* Map the batch and write it with its sequence, in one transaction. */
static st_status write_batch(run *r, uint64_t last_seq, bool first)
{
    size_t nmap = 0;
    for (size_t i = 0; i < r->n; i++)
        nmap += r->mapped[i];
    const char **docs = malloc((nmap ? nmap : 1) * sizeof *docs);
    size_t *lens = malloc((nmap ? nmap : 1) * sizeof *lens);
    st_qs_answer *ans = calloc(nmap ? nmap : 1, sizeof *ans);
    st_status st = docs && lens && ans ? ST_OK : st_fail(r->err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0, k = 0; st == ST_OK && i < r->n; i++) {
        if (!r->mapped[i])
            continue;
        docs[k] = r->bodies.data + r->body_off[i];
        lens[k++] = r->body_len[i];
    }
    if (st == ST_OK && nmap)
        st = st_qs_map_docs(r->proc, docs, lens, nmap, ans, r->err);
    bool txn = false;
    if (st == ST_OK && (st = st_vconn_write_begin(r->ix->writer, r->err)) == ST_OK)
        txn = true;
    if (st == ST_OK && first && r->bulk) {
        st = st_vmeta_set(r->ix->writer, "tree", "0", r->err);
        for (size_t v = 0; st == ST_OK && v < r->nviews; v++)
            st = st_vblock_clear(r->ix->writer, (unsigned)v, r->err);
    }
    for (size_t i = 0, k = 0; st == ST_OK && i < r->n; i++) {
        const st_json *a = NULL;
        if (r->mapped[i]) {
            /* A document the server refused (too_large): it has no rows. */
            a = ans[k].error ? NULL : ans[k].value;
            k++;
        }
        st = apply_doc(r, r->ids.data + r->id_off[i], a);
    }
    if (st == ST_OK && !r->bulk)
        st = keep_trees(r);
    if (st == ST_OK)
        st = meta_put_u64(r->ix->writer, "seq", last_seq, r->err);
    if (st == ST_OK)
        st = st_vconn_commit(r->ix->writer, r->err);
    if (st != ST_OK && txn)
        st_vconn_rollback(r->ix->writer);
    if (st == ST_OK)
        atomic_store(&r->ix->seq, last_seq);
    for (size_t i = 0; ans && i < nmap; i++)
        st_qs_answer_free(&ans[i]);
    free(docs);
    free(lens);
    free(ans);
    return st;
}

/* The whole tree of every view, from its rows, after a bulk run. */
static st_status rebuild_trees(run *r)
{
    st_vconn *c = r->ix->writer;
    st_status st = st_vconn_write_begin(c, r->err);
    for (size_t v = 0; st == ST_OK && v < r->nviews; v++) {
        vred red;
        vred_init(&red, st_ddoc_view_at(r->ix->ddoc, v), st_views_qs(r->ix->vs),
                  st_ddoc_language(r->ix->ddoc), &st_views_opts(r->ix->vs)->limits, r->proc);
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
    st_buf_free(&r->ids);
    st_buf_free(&r->bodies);
    free(r->id_off);
    free(r->body_off);
    free(r->body_len);
    free(r->mapped);
    st_buf_free(&r->pos);
    st_buf_free(&r->key);
    st_buf_free(&r->val);
    st_buf_free(&r->idsv);
    st_buf_free(&r->old);
    for (size_t v = 0; r->touch && v < r->nviews; v++)
        vtouch_free(&r->touch[v]);
    free(r->touch);
    st_qs_checkin(r->proc);
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
    r.touch = calloc(r.nviews ? r.nviews : 1, sizeof *r.touch);
    st_follower *f = NULL;
    st_status st = r.touch ? ST_OK : st_fail(err, ST_E_NOMEM, "out of memory");
    if (st == ST_OK && !ix->writer)
        st = st_vconn_open(ix->file, &ix->writer, err);
    if (st == ST_OK)
        st = decide_bulk(&r, seq, target);
    if (st == ST_OK)
        st = prepare_proc(&r);
    if (st == ST_OK)
        st = st_follow_open(db, seq, noop_wake, NULL, &f, err);
    st_changes_opts o;
    st_changes_opts_init(&o);
    o.include_docs = true;
    o.conflicts = true;
    o.limit = st_views_opts(ix->vs)->batch;
    bool first = true;
    /* Bounded: every round either moves the cursor or ends. */
    for (uint64_t round = 0; st == ST_OK && round < UINT32_MAX; round++) {
        st_follow_batch b;
        r.n = 0;
        st_buf_reset(&r.ids);
        st_buf_reset(&r.bodies);
        r.st = ST_OK;
        if ((st = st_follow_read(f, &o, take_change, &r, &b, err)) != ST_OK)
            break;
        if (r.st != ST_OK) {
            st = st_fail(err, r.st, "out of memory");
            break;
        }
        if (b.rows == 0 && b.last_seq <= atomic_load(&ix->seq))
            break;
        if ((st = write_batch(&r, b.last_seq, first)) != ST_OK)
            break;
        first = false;
        if (b.rows == 0 || b.last_seq >= target)
            break;
    }
    st_follow_close(f);
    if (st == ST_OK && r.bulk)
        st = rebuild_trees(&r);
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
