/* maint.c — maintenance writes: compaction and purge.
 *
 * Compaction drops the bodies of revisions that are no longer leaves (CouchDB
 * keeps them until compaction so `GET ?rev=old` works meanwhile), then the
 * attachment bytes nothing refers to, then gives free pages back to the
 * file system and folds the WAL back.  It is one job that the database's
 * writer runs a slice at a time and queues again after each slice, so the
 * writes that arrive meanwhile go between two slices: a write waits for at
 * most one slice (a few milliseconds), never for the whole compaction, and
 * no second connection ever competes for the write lock.
 *
 * Attachment references: the reference scan walks every docs and revs row
 * in slices, collecting the digests they name; a row written while the
 * scan runs reports its digests too (st_compact_note_atts, from the write
 * path), so an attachment that a write refers to after the scan passed its
 * row is still kept.  Then the atts table is walked and every digest not
 * collected is deleted.  At most MAX_DIGESTS are collected; a database with
 * more keeps its unreferenced attachments (logged, nothing is lost).
 */
#include "db_int.h"
#include "mango_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPACT_SLICE 256      /* documents whose old bodies are dropped per slice */
#define REF_SLICE 1024         /* rows scanned for attachment references per slice */
#define VACUUM_SLICE 512       /* free pages given back per slice (2 MiB at 4 KiB pages) */
#define MAX_DIGESTS 1000000

typedef enum {
    C_BODIES,
    C_REFS_DOCS,
    C_REFS_REVS,
    C_ATTS,
    C_VACUUM,
    C_CHECKPOINT,
    C_DONE
} c_phase;

/* A set of digest strings (open addressing, linear probing). */
typedef struct digest_set {
    char **slot;
    size_t cap, n;
    bool overflow;          /* MAX_DIGESTS passed or out of memory: keep everything */
} digest_set;

struct db_compaction {
    db_job job;
    c_phase phase;
    char *after_id;         /* C_BODIES, C_REFS_REVS: resume after this id */
    char *after_rev;        /* C_REFS_REVS */
    uint64_t after_seq;     /* C_REFS_DOCS */
    char *after_digest;     /* C_ATTS */
    digest_set refs;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static bool set_has(const digest_set *d, const char *s)
{
    if (!d->cap)
        return false;
    for (size_t i = hash_str(s) & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
        if (!d->slot[i])
            return false;
        if (strcmp(d->slot[i], s) == 0)
            return true;
    }
}

static void set_add(digest_set *d, const char *s)
{
    if (d->overflow || set_has(d, s))
        return;
    if (d->n >= MAX_DIGESTS) {
        d->overflow = true;
        return;
    }
    if ((d->n + 1) * 2 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        char **slot = calloc(cap, sizeof *slot);
        if (!slot) {
            d->overflow = true;
            return;
        }
        for (size_t i = 0; i < d->cap; i++) {
            if (!d->slot[i])
                continue;
            size_t k = hash_str(d->slot[i]) & (cap - 1);
            while (slot[k])
                k = (k + 1) & (cap - 1);
            slot[k] = d->slot[i];
        }
        free(d->slot);
        d->slot = slot;
        d->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy) {
        d->overflow = true;
        return;
    }
    size_t k = hash_str(s) & (d->cap - 1);
    while (d->slot[k])
        k = (k + 1) & (d->cap - 1);
    d->slot[k] = copy;
    d->n++;
}

static void set_free(digest_set *d)
{
    for (size_t i = 0; i < d->cap; i++)
        free(d->slot[i]);
    free(d->slot);
    memset(d, 0, sizeof *d);
}

/* Every "digest" in stored attachment metadata {"name":{"digest":..},...}. */
static void collect_digests(digest_set *d, const char *json, size_t n)
{
    if (!json || !n || d->overflow)
        return;
    st_json_doc *doc = NULL;
    if (st_json_parse(json, n, NULL, &doc, NULL) != ST_OK) {
        d->overflow = true; /* unreadable: be safe, delete nothing */
        return;
    }
    const st_json *root = st_json_doc_root(doc);
    for (size_t i = 0; root->type == ST_JSON_OBJECT && i < root->len; i++) {
        const char *dg = st_json_get_str(&root->u.members[i].value, "digest");
        if (dg)
            set_add(d, dg);
    }
    st_json_doc_free(doc);
}

void st_compact_note_atts(db_compaction *c, const char *atts, size_t atts_len)
{
    if (c->phase >= C_REFS_DOCS && c->phase <= C_ATTS)
        collect_digests(&c->refs, atts, atts_len);
}

/* ---------------------------------------------------------------- slices */

static st_status set_str(char **dst, const char *s, st_error *err)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    free(*dst);
    *dst = copy;
    return ST_OK;
}

typedef struct id_list {
    char *ids[COMPACT_SLICE];
    size_t n;
    bool oom;
} id_list;

static void collect_id(void *ctx, const char *id)
{
    id_list *l = ctx;
    if (!(l->ids[l->n] = strdup(id ? id : "")))
        l->oom = true;
    else
        l->n++;
}

/* Drop the stored bodies of non-leaf, non-winning revisions of one doc. */
static st_status drop_old_bodies(st_db *db, const char *id, db_loaded *d, st_buf *tree,
                                 st_error *err)
{
    st_conn *c = db->writer;
    st_status st = st_db_load(c, id, d, err);
    if (st == ST_E_NOT_FOUND)
        return ST_OK; /* bodies of a purged doc: nothing refers to them */
    if (st != ST_OK)
        return st;
    bool changed = false;
    int winner = st_revtree_winner(d->tree);
    for (size_t k = 0; k < st_revtree_count(d->tree) && st == ST_OK; k++) {
        unsigned f = st_revtree_flags(d->tree, k);
        if ((int)k == winner || st_revtree_is_leaf(d->tree, k) || !(f & ST_REVTREE_HAS_BODY))
            continue;
        st_rev r;
        char rs[ST_REV_STR_MAX];
        st_revtree_node(d->tree, k, &r, NULL, NULL);
        st_rev_format(&r, rs, sizeof rs);
        st = st_store_rev_delete(c, id, rs, err);
        st_revtree_set_flags(d->tree, k, f & ~ST_REVTREE_HAS_BODY);
        changed = true;
    }
    if (st == ST_OK && changed) {
        st_buf_reset(tree);
        if ((st = st_revtree_encode(d->tree, tree)) != ST_OK)
            st_fail(err, st, "out of memory");
        else
            st = st_store_doc_update_tree(c, d->rec.seq, tree->data, tree->len, err);
    }
    return st;
}

static st_status slice_bodies(st_db *db, db_compaction *cp, st_error *err)
{
    id_list *l = calloc(1, sizeof *l);
    if (!l)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = st_store_scan_rev_ids(db->writer, cp->after_id ? cp->after_id : "",
                                         COMPACT_SLICE, collect_id, l, err);
    if (st == ST_OK && l->oom)
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    db_loaded d = {0};
    st_buf tree = ST_BUF_INIT;
    for (size_t i = 0; st == ST_OK && i < l->n; i++)
        st = drop_old_bodies(db, l->ids[i], &d, &tree, err);
    if (st == ST_OK && l->n)
        st = set_str(&cp->after_id, l->ids[l->n - 1], err);
    if (st == ST_OK && l->n < COMPACT_SLICE) {
        cp->phase = C_REFS_DOCS;
        free(cp->after_id);
        cp->after_id = NULL;
    }
    for (size_t i = 0; i < l->n; i++)
        free(l->ids[i]);
    free(l);
    st_buf_free(&tree);
    st_db_loaded_free(&d);
    return st;
}

typedef struct ref_scan {
    db_compaction *cp;
    size_t rows;
    uint64_t last_seq;
    char *last_id, *last_rev;
    bool oom;
} ref_scan;

static void doc_refs(void *ctx, uint64_t seq, const char *json, size_t n)
{
    ref_scan *r = ctx;
    r->rows++;
    r->last_seq = seq;
    collect_digests(&r->cp->refs, json, n);
}

static void rev_refs(void *ctx, const char *id, const char *rev, const char *json, size_t n)
{
    ref_scan *r = ctx;
    r->rows++;
    free(r->last_id);
    free(r->last_rev);
    r->last_id = strdup(id);
    r->last_rev = strdup(rev);
    r->oom = r->oom || !r->last_id || !r->last_rev;
    collect_digests(&r->cp->refs, json, n);
}

static st_status slice_refs(st_db *db, db_compaction *cp, st_error *err)
{
    ref_scan r = {.cp = cp};
    st_status st;
    if (cp->phase == C_REFS_DOCS) {
        st = st_store_scan_doc_atts(db->writer, cp->after_seq, REF_SLICE, doc_refs, &r, err);
        if (st == ST_OK) {
            cp->after_seq = r.last_seq > cp->after_seq ? r.last_seq : cp->after_seq;
            if (r.rows < REF_SLICE)
                cp->phase = C_REFS_REVS;
        }
        return st;
    }
    st = st_store_scan_rev_atts(db->writer, cp->after_id ? cp->after_id : "",
                                cp->after_rev ? cp->after_rev : "", REF_SLICE, rev_refs, &r, err);
    if (st == ST_OK && r.oom)
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    if (st == ST_OK && r.rows) {
        free(cp->after_id);
        free(cp->after_rev);
        cp->after_id = r.last_id;
        cp->after_rev = r.last_rev;
        r.last_id = r.last_rev = NULL;
    }
    if (st == ST_OK && r.rows < REF_SLICE)
        cp->phase = cp->refs.overflow ? C_VACUUM : C_ATTS;
    free(r.last_id);
    free(r.last_rev);
    return st;
}

typedef struct digest_list {
    char *d[REF_SLICE];
    size_t n;
    bool oom;
} digest_list;

static void collect_digest(void *ctx, const char *digest)
{
    digest_list *l = ctx;
    if (!(l->d[l->n] = strdup(digest)))
        l->oom = true;
    else
        l->n++;
}

static st_status slice_atts(st_db *db, db_compaction *cp, st_error *err)
{
    digest_list *l = calloc(1, sizeof *l);
    if (!l)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = st_store_scan_att_digests(db->writer, cp->after_digest ? cp->after_digest : "",
                                             REF_SLICE, collect_digest, l, err);
    if (st == ST_OK && l->oom)
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; st == ST_OK && i < l->n; i++)
        if (!cp->refs.overflow && !set_has(&cp->refs, l->d[i]))
            st = st_store_att_delete(db->writer, l->d[i], err);
    if (st == ST_OK && l->n)
        st = set_str(&cp->after_digest, l->d[l->n - 1], err);
    if (st == ST_OK && l->n < REF_SLICE)
        cp->phase = C_VACUUM;
    for (size_t i = 0; i < l->n; i++)
        free(l->d[i]);
    free(l);
    return st;
}

static st_status run_slice(st_db *db, void *arg, st_error *err)
{
    db_compaction *cp = arg;
    db->compact = cp;
    switch (cp->phase) {
    case C_BODIES:
        return slice_bodies(db, cp, err);
    case C_REFS_DOCS:
    case C_REFS_REVS:
        return slice_refs(db, cp, err);
    case C_ATTS:
        return slice_atts(db, cp, err);
    case C_VACUUM: {
        uint64_t left = 0;
        st_status st = st_store_vacuum_slice(db->writer, VACUUM_SLICE, &left, err);
        if (st == ST_OK && left == 0)
            cp->phase = C_CHECKPOINT;
        return st;
    }
    case C_CHECKPOINT:
        st_db_readers_release(db, true);
        cp->phase = C_DONE;
        return st_store_checkpoint(db->writer, err);
    default:
        return ST_OK;
    }
}

static void compaction_free(db_compaction *cp)
{
    free(cp->after_id);
    free(cp->after_rev);
    free(cp->after_digest);
    set_free(&cp->refs);
    free(cp);
}

/* After each slice (writer thread): the next one, or the end. */
static void slice_done(db_job *j)
{
    db_compaction *cp = (db_compaction *)j;
    st_db *db = cp->job.done_ctx;
    bool stop = j->status != ST_OK || cp->phase == C_DONE || atomic_load(&db->deleted) ||
                atomic_load(&db->closing);
    if (j->status != ST_OK)
        fprintf(stderr, "settee: compaction of %s stopped: %s\n", db->name, j->err.reason);
    st_error end;
    st_error_clear(&end);
    if (j->status != ST_OK)
        end = j->err;
    if (!stop) {
        cp->job.outside_txn = cp->phase == C_CHECKPOINT;
        if (st_db_enqueue(db, &cp->job, &end) == ST_OK)
            return;
    }
    db->compact = NULL;
    compaction_free(cp);
    pthread_mutex_lock(&db->wq_mu);
    db->compact_err = end;
    atomic_store(&db->compact_running, false);
    pthread_cond_broadcast(&db->compact_cond);
    pthread_cond_broadcast(&db->wq_cond);
    pthread_mutex_unlock(&db->wq_mu);
}

st_status st_db_compact_start(st_db *db, st_error *err)
{
    if (atomic_load(&db->deleted))
        return st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
    pthread_mutex_lock(&db->wq_mu);
    bool running = atomic_load(&db->compact_running);
    if (!running)
        atomic_store(&db->compact_running, true);
    pthread_mutex_unlock(&db->wq_mu);
    if (running)
        return ST_OK;
    db_compaction *cp = calloc(1, sizeof *cp);
    st_status st = cp ? ST_OK : st_fail(err, ST_E_NOMEM, "out of memory");
    if (st == ST_OK) {
        cp->job.run = run_slice;
        cp->job.arg = cp;
        cp->job.done = slice_done;
        cp->job.done_ctx = db;
        cp->job.solo = true;
        st = st_db_enqueue(db, &cp->job, err);
    }
    if (st != ST_OK) {
        free(cp);
        pthread_mutex_lock(&db->wq_mu);
        atomic_store(&db->compact_running, false);
        pthread_cond_broadcast(&db->wq_cond);
        pthread_mutex_unlock(&db->wq_mu);
    }
    return st;
}

st_status st_db_compact(st_db *db, st_error *err)
{
    st_status st = st_db_compact_start(db, err);
    if (st != ST_OK)
        return st;
    pthread_mutex_lock(&db->wq_mu);
    while (atomic_load(&db->compact_running))
        pthread_cond_wait(&db->compact_cond, &db->wq_mu);
    st_error end = db->compact_err; /* a slice that failed (memory, disk) */
    pthread_mutex_unlock(&db->wq_mu);
    if (atomic_load(&db->deleted))
        return st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
    if (end.code != ST_OK && err)
        *err = end;
    return end.code;
}

/* ------------------------------------------------------------------ purge */

typedef struct purge_job {
    db_job job;
    const st_json *req;
    st_buf *out;            /* the response, rendered afresh on each run */
    st_done_fn done;
    void *ctx;
} purge_job;

/* The bodies of the revisions a purge removes.  A failed delete stops the
 * purge (the first failure is kept): SQLite may have rolled the whole
 * transaction back already (out of memory), and what the purge wrote after
 * would then commit piecemeal. */
typedef struct drop_ctx {
    st_db *db;
    const char *id;
    st_status st;
    st_error *err;
} drop_ctx;

static void drop_body(void *ctx, const st_rev *rev, unsigned flags)
{
    drop_ctx *a = ctx;
    if (!(flags & ST_REVTREE_HAS_BODY) || a->st != ST_OK)
        return;
    char rs[ST_REV_STR_MAX];
    st_rev_format(rev, rs, sizeof rs);
    a->st = st_store_rev_delete(a->db->writer, a->id, rs, a->err);
}

/* One document's purge: its remaining tree (or its row) and counters. */
static st_status purge_doc(st_db *db, const char *id, const st_json *revs, db_loaded *d,
                           st_jw *w, st_buf *tree, st_buf *body, st_buf *atts, st_error *err)
{
    st_conn *c = db->writer;
    int old_win = st_revtree_winner(d->tree);
    st_rev ow;
    st_revtree_node(d->tree, (size_t)old_win, &ow, NULL, NULL);
    st_jw_key(w, id);
    st_jw_arr_open(w);
    drop_ctx ctx = {db, id, ST_OK, err};
    for (size_t k = 0; k < revs->len && ctx.st == ST_OK; k++) {
        st_rev r;
        if (revs->u.items[k].type != ST_JSON_STRING ||
            st_rev_parse(revs->u.items[k].u.str, revs->u.items[k].len, &r, NULL) != ST_OK)
            continue;
        if (st_revtree_purge_leaf(d->tree, &r, drop_body, &ctx) == ST_OK)
            st_jw_strn(w, revs->u.items[k].u.str, revs->u.items[k].len);
    }
    if (ctx.st != ST_OK)
        return ctx.st;
    st_jw_arr_close(w);
    db->ctr.purge_seq++;
    if (d->rec.deleted)
        db->ctr.del_count--;
    else
        db->ctr.doc_count--;
    db->ctr.external -= (int64_t)d->rec.body.len;
    char old_rev[ST_REV_STR_MAX];
    st_rev_format(&ow, old_rev, sizeof old_rev);
    mango_change mc = {
        .id = id,
        .old_exists = true,
        .old_deleted = d->rec.deleted,
        .old_rev = old_rev,
        .old_body = d->rec.body.data,
        .old_len = d->rec.body.len,
    };
    if (st_revtree_count(d->tree) == 0) {
        st_status st = st_store_doc_delete(c, d->rec.seq, err);
        if (st == ST_OK && st_mango_wants(db, id))
            st = st_mango_changed(db, &mc, err);
        return st;
    }
    /* The winner may have changed: load its body into the row. */
    int win = st_revtree_winner(d->tree);
    st_rev nw;
    st_revtree_node(d->tree, (size_t)win, &nw, NULL, NULL);
    st_doc_rec row = {0};
    st_status st = ST_OK;
    if (st_rev_eq(&nw, &ow)) {
        row.body = d->rec.body;
        row.atts = d->rec.atts;
    } else {
        char rs[ST_REV_STR_MAX];
        st_rev_format(&nw, rs, sizeof rs);
        st_buf_reset(body);
        st_buf_reset(atts);
        st = st_store_rev_get(c, id, rs, body, atts, err);
        if (st == ST_E_NOT_FOUND)
            st = st_buf_adds(body, "{}");
        if (st == ST_OK)
            st = st_store_rev_delete(c, id, rs, err);
        row.body = *body;
        row.atts = *atts;
    }
    row.deleted = (st_revtree_flags(d->tree, (size_t)win) & ST_REVTREE_DELETED) != 0;
    row.conflicted = st_revtree_live_leaves(d->tree) > 1;
    if (row.deleted)
        db->ctr.del_count++;
    else
        db->ctr.doc_count++;
    db->ctr.external += (int64_t)row.body.len;
    row.seq = ++db->ctr.update_seq;
    st_buf_reset(tree);
    if (st == ST_OK && (st = st_revtree_encode(d->tree, tree)) == ST_OK) {
        row.tree = *tree;
        st = st_store_doc_put(c, id, d->rec.seq, &row, err);
    }
    if (st == ST_OK && st_mango_wants(db, id)) {
        char new_rev[ST_REV_STR_MAX];
        st_rev_format(&nw, new_rev, sizeof new_rev);
        mc.new_exists = true;
        mc.new_deleted = row.deleted;
        mc.new_rev = new_rev;
        mc.new_body = row.body.data;
        mc.new_len = row.body.len;
        mc.seq = row.seq;
        st = st_mango_changed(db, &mc, err);
    }
    return st;
}

static st_status run_purge(st_db *db, void *arg, st_error *err)
{
    purge_job *job = arg;
    st_jw jw;
    st_jw *w = &jw;
    /* A purged document leaves the changes feed without a new row: the
     * ring cannot express that, so it is rebuilt from storage. */
    db->noting = false;
    st_buf_reset(job->out);
    if (st_jw_init(w, job->out) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    db_loaded d = {0};
    st_buf tree = ST_BUF_INIT, body = ST_BUF_INIT, atts = ST_BUF_INIT;
    st_status st = ST_OK;
    st_jw_obj_open(w);
    st_jw_key(w, "purge_seq");
    st_jw_null(w);
    st_jw_key(w, "purged");
    st_jw_obj_open(w);
    for (size_t i = 0; i < job->req->len && st == ST_OK; i++) {
        const char *id = job->req->u.members[i].key;
        st = st_db_load(db->writer, id, &d, err);
        if (st == ST_E_NOT_FOUND) {
            st = ST_OK;
            st_jw_key(w, id);
            st_jw_arr_open(w);
            st_jw_arr_close(w);
            continue;
        }
        if (st == ST_OK)
            st = purge_doc(db, id, &job->req->u.members[i].value, &d, w, &tree, &body, &atts,
                           err);
    }
    st_jw_obj_close(w);
    st_jw_obj_close(w);
    if (st == ST_OK && (st = st_jw_status(w)) != ST_OK)
        st_fail(err, st, "out of memory");
    st_jw_free(w);
    st_buf_free(&tree);
    st_buf_free(&body);
    st_buf_free(&atts);
    st_db_loaded_free(&d);
    return st;
}

static st_status check_purge(const st_json *req, st_error *err)
{
    if (!req || req->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "Request body must be a JSON object");
    for (size_t i = 0; i < req->len; i++)
        if (req->u.members[i].value.type != ST_JSON_ARRAY)
            return st_fail(err, ST_E_BAD_REQUEST, "Revisions for %s must be an array",
                           req->u.members[i].key);
    return ST_OK;
}

st_status st_db_purge(st_db *db, const st_json *req, st_jw *w, st_error *err)
{
    st_status st = check_purge(req, err);
    if (st != ST_OK)
        return st;
    st_buf out = ST_BUF_INIT;
    purge_job job = {.req = req, .out = &out};
    job.job.run = run_purge;
    job.job.arg = &job;
    st = st_db_run_job(db, &job.job, err);
    if (st == ST_OK) {
        st_jw_raw(w, out.data, out.len);
        if ((st = st_jw_status(w)) != ST_OK)
            st_fail(err, st, "out of memory");
    }
    st_buf_free(&out);
    return st;
}

static void purge_done(db_job *j)
{
    purge_job *job = (purge_job *)j;
    job->done(job->ctx, j->status, &j->err);
    free(job);
}

st_status st_db_purge_async(st_db *db, const st_json *req, st_buf *out, st_done_fn done,
                            void *ctx, st_error *err)
{
    st_status st = check_purge(req, err);
    if (st != ST_OK)
        return st;
    purge_job *job = calloc(1, sizeof *job);
    if (!job)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    *job = (purge_job){.req = req, .out = out, .done = done, .ctx = ctx};
    job->job.run = run_purge;
    job->job.arg = job;
    job->job.done = purge_done;
    if ((st = st_db_enqueue(db, &job->job, err)) != ST_OK)
        free(job);
    return st;
}

/* ------------------------------------------------------------ revs_limit */

static st_status run_revs_limit(st_db *db, void *arg, st_error *err)
{
    db->ctr.revs_limit = *(unsigned *)arg;
    return ST_OK;
}

typedef struct limit_job {
    db_job job;
    unsigned limit;
    st_done_fn done;
    void *ctx;
} limit_job;

static void limit_done(db_job *j)
{
    limit_job *lj = (limit_job *)j;
    lj->done(lj->ctx, j->status, &j->err);
    free(lj);
}

st_status st_db_revs_limit_set_async(st_db *db, unsigned limit, st_done_fn done, void *ctx,
                                     st_error *err)
{
    if (limit < 1)
        return st_fail(err, ST_E_BAD_REQUEST, "revs_limit must be a positive integer");
    limit_job *lj = calloc(1, sizeof *lj);
    if (!lj)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    lj->limit = limit;
    lj->done = done;
    lj->ctx = ctx;
    lj->job.run = run_revs_limit;
    lj->job.arg = &lj->limit;
    lj->job.done = limit_done;
    st_status st = st_db_enqueue(db, &lj->job, err);
    if (st != ST_OK)
        free(lj);
    return st;
}

st_status st_db_revs_limit_set(st_db *db, unsigned limit, st_error *err)
{
    if (limit < 1)
        return st_fail(err, ST_E_BAD_REQUEST, "revs_limit must be a positive integer");
    db_job job = {.run = run_revs_limit, .arg = &limit};
    return st_db_run_job(db, &job, err);
}

st_status st_db_revs_limit_get(st_db *db, unsigned *out, st_error *err)
{
    st_db_info info;
    st_status st = st_db_info_get(db, &info, err);
    if (st == ST_OK)
        *out = info.revs_limit;
    return st;
}
