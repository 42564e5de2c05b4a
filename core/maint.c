/* maint.c — maintenance writes: compaction and purge.
 *
 * Compaction drops the bodies of revisions that are no longer leaves (CouchDB
 * keeps them until compaction so `GET ?rev=old` works meanwhile), then the
 * attachment bytes nothing refers to, then hands free pages back to the file
 * system.  It runs in slices of documents, each one short write job, so
 * writers are never held up for long.
 */
#include "db_int.h"

#include <stdlib.h>
#include <string.h>

#define COMPACT_SLICE 256

typedef struct id_list {
    char **ids;
    size_t n;
    bool oom;
} id_list;

static void collect(void *ctx, const char *id)
{
    id_list *l = ctx;
    char *dup = strdup(id ? id : "");
    if (!dup) {
        l->oom = true;
        return;
    }
    l->ids[l->n++] = dup;
}

typedef struct compact_job {
    char *after;       /* resume point: last id handled */
    bool finished;
} compact_job;

static st_status run_compact_slice(st_db *db, void *arg, st_error *err)
{
    compact_job *job = arg;
    st_conn *c = db->writer;
    char *ids[COMPACT_SLICE];
    id_list l = {ids, 0, false};
    st_status st = st_store_scan_rev_ids(c, job->after, COMPACT_SLICE, collect, &l, err);
    if (st == ST_OK && l.oom)
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    db_loaded d = {0};
    st_buf tree = ST_BUF_INIT;
    for (size_t i = 0; st == ST_OK && i < l.n; i++) {
        st = st_db_load(c, ids[i], &d, err);
        if (st == ST_E_NOT_FOUND) {
            st = ST_OK; /* bodies of a purged doc: nothing refers to them */
            continue;
        }
        if (st != ST_OK)
            break;
        bool changed = false;
        int winner = st_revtree_winner(d.tree);
        for (size_t k = 0; k < st_revtree_count(d.tree) && st == ST_OK; k++) {
            unsigned f = st_revtree_flags(d.tree, k);
            if ((int)k == winner || st_revtree_is_leaf(d.tree, k) || !(f & ST_REVTREE_HAS_BODY))
                continue;
            st_rev r;
            char rs[ST_REV_STR_MAX];
            st_revtree_node(d.tree, k, &r, NULL, NULL);
            st_rev_format(&r, rs, sizeof rs);
            st = st_store_rev_delete(c, ids[i], rs, err);
            st_revtree_set_flags(d.tree, k, f & ~ST_REVTREE_HAS_BODY);
            changed = true;
        }
        if (st == ST_OK && changed) {
            st_buf_reset(&tree);
            if ((st = st_revtree_encode(d.tree, &tree)) != ST_OK)
                st_fail(err, st, "out of memory");
            else
                st = st_store_doc_update_tree(c, d.rec.seq, tree.data, tree.len, err);
        }
    }
    if (st == ST_OK) {
        job->finished = l.n < COMPACT_SLICE;
        if (l.n) {
            free(job->after);
            job->after = strdup(ids[l.n - 1]);
            if (!job->after)
                st = st_fail(err, ST_E_NOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < l.n; i++)
        free(ids[i]);
    st_buf_free(&tree);
    st_db_loaded_free(&d);
    return st;
}

static st_status run_att_gc(st_db *db, void *arg, st_error *err)
{
    return st_store_att_gc(db->writer, NULL, err);
}

st_status st_db_compact(st_db *db, st_error *err)
{
    compact_job job = {NULL, false};
    st_status st = ST_OK;
    while (st == ST_OK && !job.finished) {
        db_job j = {.run = run_compact_slice, .arg = &job, .err = err};
        st = st_db_submit(db, &j);
    }
    free(job.after);
    if (st == ST_OK) {
        db_job j = {.run = run_att_gc, .err = err};
        st = st_db_submit(db, &j);
    }
    if (st == ST_OK) {
        /* VACUUM-like work must run outside a transaction: take the writer
         * by running an empty job first would not help, so use a dedicated
         * connection; WAL lets it proceed alongside readers. */
        st_conn *c = NULL;
        st = st_store_conn_open(db->store, &c, err);
        if (st == ST_OK)
            st = st_store_vacuum(c, err);
        st_store_conn_close(c);
    }
    return st;
}

/* ------------------------------------------------------------------ purge */

typedef struct purge_job {
    const st_json *req;
    st_buf out;             /* the response, rendered afresh on each run */
} purge_job;

static void drop_body(void *ctx, const st_rev *rev, unsigned flags)
{
    void **a = ctx;
    st_db *db = a[0];
    const char *id = a[1];
    if (!(flags & ST_REVTREE_HAS_BODY))
        return;
    char rs[ST_REV_STR_MAX];
    st_rev_format(rev, rs, sizeof rs);
    (void)st_store_rev_delete(db->writer, id, rs, NULL);
}

static st_status run_purge(st_db *db, void *arg, st_error *err)
{
    purge_job *job = arg;
    st_conn *c = db->writer;
    st_jw jw;
    st_jw *w = &jw;
    st_buf_reset(&job->out);
    if (st_jw_init(w, &job->out) != ST_OK)
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
        const st_json *revs = &job->req->u.members[i].value;
        st = st_db_load(c, id, &d, err);
        if (st == ST_E_NOT_FOUND) {
            st = ST_OK;
            st_jw_key(w, id);
            st_jw_arr_open(w);
            st_jw_arr_close(w);
            continue;
        }
        if (st != ST_OK)
            break;
        int old_win = st_revtree_winner(d.tree);
        st_rev ow;
        st_revtree_node(d.tree, (size_t)old_win, &ow, NULL, NULL);
        st_jw_key(w, id);
        st_jw_arr_open(w);
        void *ctx[2] = {db, (void *)id};
        for (size_t k = 0; k < revs->len; k++) {
            st_rev r;
            if (revs->u.items[k].type != ST_JSON_STRING ||
                st_rev_parse(revs->u.items[k].u.str, revs->u.items[k].len, &r, NULL) != ST_OK)
                continue;
            if (st_revtree_purge_leaf(d.tree, &r, drop_body, ctx) == ST_OK)
                st_jw_strn(w, revs->u.items[k].u.str, revs->u.items[k].len);
        }
        st_jw_arr_close(w);
        db->ctr.purge_seq++;
        if (d.rec.deleted)
            db->ctr.del_count--;
        else
            db->ctr.doc_count--;
        db->ctr.external -= (int64_t)d.rec.body.len;
        if (st_revtree_count(d.tree) == 0) {
            st = st_store_doc_delete(c, d.rec.seq, err);
            continue;
        }
        /* The winner may have changed: load its body into the row. */
        int win = st_revtree_winner(d.tree);
        st_rev nw;
        st_revtree_node(d.tree, (size_t)win, &nw, NULL, NULL);
        st_doc_rec row = {0};
        if (st_rev_eq(&nw, &ow)) {
            row.body = d.rec.body;
            row.atts = d.rec.atts;
        } else {
            char rs[ST_REV_STR_MAX];
            st_rev_format(&nw, rs, sizeof rs);
            st_buf_reset(&body);
            st_buf_reset(&atts);
            st = st_store_rev_get(c, id, rs, &body, &atts, err);
            if (st == ST_E_NOT_FOUND)
                st = st_buf_adds(&body, "{}");
            if (st == ST_OK)
                st = st_store_rev_delete(c, id, rs, err);
            row.body = body;
            row.atts = atts;
        }
        row.deleted = (st_revtree_flags(d.tree, (size_t)win) & ST_REVTREE_DELETED) != 0;
        row.conflicted = st_revtree_live_leaves(d.tree) > 1;
        if (row.deleted)
            db->ctr.del_count++;
        else
            db->ctr.doc_count++;
        db->ctr.external += (int64_t)row.body.len;
        row.seq = ++db->ctr.update_seq;
        st_buf_reset(&tree);
        if (st == ST_OK && (st = st_revtree_encode(d.tree, &tree)) == ST_OK) {
            row.tree = tree;
            st = st_store_doc_put(c, id, d.rec.seq, &row, err);
        }
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

st_status st_db_purge(st_db *db, const st_json *req, st_jw *w, st_error *err)
{
    if (!req || req->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "Request body must be a JSON object");
    for (size_t i = 0; i < req->len; i++)
        if (req->u.members[i].value.type != ST_JSON_ARRAY)
            return st_fail(err, ST_E_BAD_REQUEST, "Revisions for %s must be an array",
                           req->u.members[i].key);
    purge_job job = {req, ST_BUF_INIT};
    db_job j = {.run = run_purge, .arg = &job, .err = err};
    st_status st = st_db_submit(db, &j);
    if (st == ST_OK) {
        st_jw_raw(w, job.out.data, job.out.len);
        if ((st = st_jw_status(w)) != ST_OK)
            st_fail(err, st, "out of memory");
    }
    st_buf_free(&job.out);
    return st;
}
