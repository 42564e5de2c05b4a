/* doc_read.c — reading documents: one revision, open_revs, attachments.
 *
 * A document is one docs row: its revision tree plus the winner's body.
 * Rendering splices the stored body (minified JSON without special members)
 * between the special members the request asks for, so a plain GET costs
 * one row read and no JSON parse.
 */
#include "atts.h"
#include "db_int.h"
#include "st_gzip.h"

#include <stdlib.h>
#include <string.h>

bool st_db_id_is_local(const char *id) { return strncmp(id, "_local/", 7) == 0; }

void st_db_loaded_free(db_loaded *l)
{
    st_doc_rec_free(&l->rec);
    st_revtree_free(l->tree);
    l->tree = NULL;
}

st_status st_db_load(st_conn *c, const char *id, db_loaded *out, st_error *err)
{
    st_status st = st_store_doc_get(c, id, &out->rec, err);
    if (st != ST_OK)
        return st;
    st_revtree_free(out->tree);
    out->tree = NULL;
    return st_revtree_decode(out->rec.tree.data, out->rec.tree.len, &out->tree, err);
}

st_status st_db_rev_body(st_conn *c, const char *id, const db_loaded *l, size_t i,
                         st_buf *body, st_buf *atts, st_error *err)
{
    if ((int)i == st_revtree_winner(l->tree)) {
        st_buf_reset(body);
        st_buf_reset(atts);
        st_status st = st_buf_add(body, l->rec.body.data ? l->rec.body.data : "{}",
                                  l->rec.body.data ? l->rec.body.len : 2);
        if (st == ST_OK && l->rec.atts.len)
            st = st_buf_add(atts, l->rec.atts.data, l->rec.atts.len);
        return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
    }
    if (!(st_revtree_flags(l->tree, i) & ST_REVTREE_HAS_BODY))
        return ST_E_NOT_FOUND;
    st_rev r;
    char rs[ST_REV_STR_MAX];
    st_revtree_node(l->tree, i, &r, NULL, NULL);
    st_rev_format(&r, rs, sizeof rs);
    return st_store_rev_get(c, id, rs, body, atts, err);
}

/* Highest generation among atts_since revisions known in the path of i. */
static uint64_t atts_since_gen(const st_revtree *t, size_t i, const st_get_opts *o)
{
    uint64_t best = 0;
    if (!o || !o->atts_since)
        return 0;
    size_t *path = malloc(st_revtree_count(t) * sizeof *path);
    if (!path)
        return 0;
    size_t n = st_revtree_path(t, i, path);
    for (size_t k = 0; k < o->n_atts_since; k++) {
        st_rev r;
        if (st_rev_parse(o->atts_since[k], strlen(o->atts_since[k]), &r, NULL) != ST_OK)
            continue;
        for (size_t p = 0; p < n; p++) {
            if (st_revtree_gen(t, path[p]) == r.gen &&
                strcmp(st_revtree_hash(t, path[p]), r.hash) == 0 && r.gen > best)
                best = r.gen;
        }
        /* CouchDB also trusts a generation it does not know (stemmed). */
        if (r.gen > best && r.gen < st_revtree_gen(t, path[n - 1]))
            best = r.gen;
    }
    free(path);
    return best;
}

static void write_rev(st_jw *w, const st_revtree *t, size_t i)
{
    st_rev r;
    char rs[ST_REV_STR_MAX];
    st_revtree_node(t, i, &r, NULL, NULL);
    size_t n = st_rev_format(&r, rs, sizeof rs);
    st_jw_strn(w, rs, n);
}

static st_status render_impl(st_conn *c, const char *id, const st_revtree *t, size_t i,
                             const char *body, size_t body_len, const char *atts,
                             size_t atts_len, uint64_t seq, const st_get_opts *o, st_jw *w,
                             st_att **out_list, size_t *out_n, st_json_doc **arena,
                             st_error *err)
{
    static const st_get_opts none = {0};
    if (!o)
        o = &none;
    unsigned flags = st_revtree_flags(t, i);
    st_jw_obj_open(w);
    st_jw_key(w, "_id");
    st_jw_str(w, id);
    st_jw_key(w, "_rev");
    write_rev(w, t, i);
    if (flags & ST_REVTREE_DELETED) {
        st_jw_key(w, "_deleted");
        st_jw_bool(w, true);
    }
    st_jw_members(w, body ? body : "{}", body ? body_len : 2);
    if (atts_len > 0) {
        st_status st = st_atts_render(c, atts, atts_len, o->atts, o->att_encoding_info,
                                      atts_since_gen(t, i, o), w, out_list, out_n, arena, err);
        if (st != ST_OK)
            return st;
    }
    size_t count = st_revtree_count(t);
    size_t *idx = NULL;
    bool need_idx = o->conflicts || o->deleted_conflicts || o->revs || o->revs_info;
    if (need_idx && !(idx = malloc((count ? count : 1) * sizeof *idx)))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (o->conflicts || o->deleted_conflicts) {
        size_t nl = st_revtree_leaves(t, idx);
        for (int pass = 0; pass < 2; pass++) {
            bool want_deleted = pass == 1;
            if (want_deleted ? !o->deleted_conflicts : !o->conflicts)
                continue;
            bool opened = false;
            for (size_t k = 0; k < nl; k++) {
                bool del = (st_revtree_flags(t, idx[k]) & ST_REVTREE_DELETED) != 0;
                if (idx[k] == i || del != want_deleted)
                    continue;
                if (!opened) {
                    st_jw_key(w, want_deleted ? "_deleted_conflicts" : "_conflicts");
                    st_jw_arr_open(w);
                    opened = true;
                }
                write_rev(w, t, idx[k]);
            }
            if (opened)
                st_jw_arr_close(w);
        }
    }
    if (o->revs || o->revs_info) {
        size_t np = st_revtree_path(t, i, idx);
        if (o->revs) {
            st_jw_key(w, "_revisions");
            st_jw_obj_open(w);
            st_jw_key(w, "start");
            st_jw_uint(w, st_revtree_gen(t, i));
            st_jw_key(w, "ids");
            st_jw_arr_open(w);
            for (size_t k = 0; k < np; k++)
                st_jw_str(w, st_revtree_hash(t, idx[k]));
            st_jw_arr_close(w);
            st_jw_obj_close(w);
        }
        if (o->revs_info) {
            st_jw_key(w, "_revs_info");
            st_jw_arr_open(w);
            for (size_t k = 0; k < np; k++) {
                unsigned f = st_revtree_flags(t, idx[k]);
                st_jw_obj_open(w);
                st_jw_key(w, "rev");
                write_rev(w, t, idx[k]);
                st_jw_key(w, "status");
                st_jw_str(w, (f & ST_REVTREE_DELETED)    ? "deleted"
                             : (f & ST_REVTREE_HAS_BODY) ? "available"
                                                         : "missing");
                st_jw_obj_close(w);
            }
            st_jw_arr_close(w);
        }
    }
    free(idx);
    if (o->local_seq) {
        st_jw_key(w, "_local_seq");
        st_jw_uint(w, seq);
    }
    st_jw_obj_close(w);
    st_status st = st_jw_status(w);
    return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
}

st_status st_db_render(st_conn *c, const char *id, const st_revtree *t, size_t i,
                       const char *body, size_t body_len, const char *atts, size_t atts_len,
                       uint64_t seq, const st_get_opts *o, st_jw *w, st_error *err)
{
    return render_impl(c, id, t, i, body, body_len, atts, atts_len, seq, o, w, NULL, NULL,
                       NULL, err);
}

/* Render node i of l into out, then (fn non-NULL) hand it to fn as a view.
 * The winner's body is rendered straight from the row, without a copy. */
static st_status emit(st_conn *c, const char *id, const db_loaded *l, size_t i,
                      const st_get_opts *o, st_buf *out, st_doc_fn fn, void *ctx, int *stop,
                      st_error *err)
{
    st_buf body = ST_BUF_INIT, atts = ST_BUF_INIT;
    st_json_doc *arena = NULL;
    st_att *list = NULL;
    size_t n_atts = 0;
    st_jw w;
    const char *bp, *ap;
    size_t bl, al;
    st_status st = ST_OK;
    if ((int)i == st_revtree_winner(l->tree)) {
        bp = l->rec.body.data;
        bl = l->rec.body.len;
        ap = l->rec.atts.data;
        al = l->rec.atts.len;
    } else {
        st = st_db_rev_body(c, id, l, i, &body, &atts, err);
        if (st == ST_E_NOT_FOUND) /* compacted away: CouchDB says missing too */
            st = st_fail(err, ST_E_NOT_FOUND, "missing");
        if (st != ST_OK)
            goto out;
        bp = body.data;
        bl = body.len;
        ap = atts.data;
        al = atts.len;
    }
    size_t mark = out->len;
    if ((st = st_jw_init(&w, out)) != ST_OK) {
        st_fail(err, st, "out of memory");
        goto out;
    }
    st = render_impl(c, id, l->tree, i, bp, bl, ap, al, l->rec.seq, o, &w,
                     fn ? &list : NULL, &n_atts, &arena, err);
    st_jw_free(&w);
    if (st != ST_OK || !fn)
        goto out;
    st_rev r;
    char rs[ST_REV_STR_MAX];
    st_revtree_node(l->tree, i, &r, NULL, NULL);
    st_rev_format(&r, rs, sizeof rs);
    st_doc_view v = {
        .id = id,
        .rev = rs,
        .deleted = (st_revtree_flags(l->tree, i) & ST_REVTREE_DELETED) != 0,
        .json = out->data + mark,
        .json_len = out->len - mark,
        .atts = list,
        .n_atts = n_atts,
    };
    *stop = fn(ctx, &v);
    out->len = mark;
out:
    free(list);
    st_json_doc_free(arena);
    st_buf_free(&body);
    st_buf_free(&atts);
    return st;
}

/* Whether node i lies on leaf's path (i itself included). */
static bool on_path(const st_revtree *t, size_t leaf, size_t i)
{
    for (int k = (int)leaf; k >= 0; k = st_revtree_parent(t, (size_t)k))
        if ((size_t)k == i)
            return true;
    return false;
}

/* latest=true for one revision: itself when a leaf, else the leaf of its
 * branch (the winning one when it branched again). */
static size_t latest_of(const st_revtree *t, size_t i, const size_t *leaves, size_t nl)
{
    if (st_revtree_is_leaf(t, i))
        return i;
    for (size_t q = 0; q < nl; q++) /* winner first */
        if (on_path(t, leaves[q], i))
            return leaves[q];
    return i;
}

static int cmp_rev_nodes(const st_revtree *t, size_t a, size_t b)
{
    uint64_t ga = st_revtree_gen(t, a), gb = st_revtree_gen(t, b);
    if (ga != gb)
        return ga < gb ? -1 : 1;
    return strcmp(st_revtree_hash(t, a), st_revtree_hash(t, b));
}

static st_status check_id(const char *id, st_error *err)
{
    if (!id || !*id)
        return st_fail(err, ST_E_NOT_FOUND, "missing");
    return ST_OK;
}

/* One revision of one document, rendered into out and, with fn, viewed.
 * A winner without inline attachments is one row read, so it runs without
 * an explicit transaction; anything reading more rows takes a snapshot. */
static st_status get_one(st_db *db, const char *id, const st_get_opts *o, st_buf *out,
                         st_doc_fn fn, void *ctx, st_error *err)
{
    st_status st = check_id(id, err);
    if (st != ST_OK)
        return st;
    st_rev want;
    if (o && o->rev && (st = st_rev_parse(o->rev, strlen(o->rev), &want, err)) != ST_OK)
        return st;
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    db_loaded l = {0};
    int stop = 0;
    st = st_db_load(c, id, &l, err);
    if (st == ST_E_NOT_FOUND) {
        st = st_fail(err, ST_E_NOT_FOUND, "missing");
    } else if (st == ST_OK) {
        int i;
        if (o && o->rev) {
            i = st_revtree_find(l.tree, &want);
            if (i < 0)
                st = st_fail(err, ST_E_NOT_FOUND, "missing");
            size_t count = st_revtree_count(l.tree);
            size_t *leaves = i >= 0 && o->latest ? malloc(count * sizeof *leaves) : NULL;
            if (leaves) {
                size_t nl = st_revtree_leaves(l.tree, leaves);
                i = (int)latest_of(l.tree, (size_t)i, leaves, nl);
                free(leaves);
            }
        } else {
            i = st_revtree_winner(l.tree);
            if (l.rec.deleted)
                st = st_fail(err, ST_E_NOT_FOUND, "deleted");
        }
        if (st == ST_OK)
            st = emit(c, id, &l, (size_t)i, o, out, fn, ctx, &stop, err);
    }
    st_db_loaded_free(&l);
    st_db_reader_put(db, c);
    return st;
}

st_status st_db_get_view(st_db *db, const char *id, const st_get_opts *o, st_doc_fn fn,
                         void *ctx, st_error *err)
{
    st_buf out = ST_BUF_INIT;
    st_status st = get_one(db, id, o, &out, fn, ctx, err);
    st_buf_free(&out);
    return st;
}

st_status st_db_get(st_db *db, const char *id, const st_get_opts *o, st_buf *out,
                    st_error *err)
{
    return get_one(db, id, o, out, NULL, NULL, err);
}

st_status st_db_open_revs(st_db *db, const char *id, const char *const *revs, size_t n,
                          const st_get_opts *o, st_doc_fn fn, void *ctx, st_error *err)
{
    st_status st = check_id(id, err);
    if (st != ST_OK)
        return st;
    for (size_t k = 0; revs && k < n; k++) {
        st_rev r; /* CouchDB refuses the request for a rev it cannot parse */
        if ((st = st_rev_parse(revs[k], strlen(revs[k]), &r, err)) != ST_OK)
            return st;
    }
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    db_loaded l = {0};
    st_buf out = ST_BUF_INIT;
    size_t *idx = NULL, *leaves = NULL;
    st = st_db_load(c, id, &l, err);
    if (st == ST_E_NOT_FOUND && revs) {
        /* Every requested revision is missing. */
        st = ST_OK;
        for (size_t k = 0; k < n; k++) {
            st_doc_view v = {.id = id, .rev = revs[k], .missing = true};
            if (fn(ctx, &v))
                break;
        }
        goto end;
    }
    if (st == ST_E_NOT_FOUND) {
        st = st_fail(err, ST_E_NOT_FOUND, "missing");
        goto end;
    }
    if (st != ST_OK)
        goto end;
    size_t count = st_revtree_count(l.tree);
    idx = malloc(count * sizeof *idx);
    leaves = malloc(count * sizeof *leaves);
    if (!idx || !leaves) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto end;
    }
    size_t nl = st_revtree_leaves(l.tree, leaves);
    int stop = 0;
    if (!revs) {
        /* open_revs=all: every leaf, in ascending rev order as CouchDB lists them. */
        memcpy(idx, leaves, nl * sizeof *idx);
        for (size_t a = 1; a < nl; a++)
            for (size_t b = a; b > 0 && cmp_rev_nodes(l.tree, idx[b - 1], idx[b]) > 0; b--) {
                size_t tmp = idx[b];
                idx[b] = idx[b - 1];
                idx[b - 1] = tmp;
            }
        for (size_t k = 0; k < nl && !stop && st == ST_OK; k++)
            st = emit(c, id, &l, idx[k], o, &out, fn, ctx, &stop, err);
        goto end;
    }
    /* With latest=true each leaf is answered once, however many requested
     * revisions lead to it (idx marks those sent). */
    memset(idx, 0, count * sizeof *idx);
    for (size_t k = 0; k < n && !stop && st == ST_OK; k++) {
        st_rev r;
        int i = -1;
        if (st_rev_parse(revs[k], strlen(revs[k]), &r, NULL) == ST_OK)
            i = st_revtree_find(l.tree, &r);
        if (i < 0) {
            st_doc_view v = {.id = id, .rev = revs[k], .missing = true};
            stop = fn(ctx, &v);
            continue;
        }
        if (o && o->latest && !st_revtree_is_leaf(l.tree, (size_t)i)) {
            /* Every leaf it leads to (CouchDB's get_key_leafs), each once. */
            for (size_t q = 0; q < nl && !stop && st == ST_OK; q++) {
                if (idx[leaves[q]] || !on_path(l.tree, leaves[q], (size_t)i))
                    continue;
                idx[leaves[q]] = 1;
                st = emit(c, id, &l, leaves[q], o, &out, fn, ctx, &stop, err);
            }
            continue;
        }
        if (o && o->latest) {
            if (idx[i])
                continue;
            idx[i] = 1;
        }
        st = emit(c, id, &l, (size_t)i, o, &out, fn, ctx, &stop, err);
        if (st == ST_E_NOT_FOUND) {
            st_doc_view v = {.id = id, .rev = revs[k], .missing = true};
            st = ST_OK;
            stop = fn(ctx, &v);
        }
    }
end:
    st_buf_free(&out);
    free(idx);
    free(leaves);
    st_db_loaded_free(&l);
    st_db_reader_put(db, c);
    return st;
}

st_status st_db_get_attachment(st_db *db, const char *id, const char *rev, const char *name,
                               st_buf *data, st_att_info *meta, st_error *err)
{
    st_status st = check_id(id, err);
    if (st != ST_OK)
        return st;
    st_rev want;
    if (rev && (st = st_rev_parse(rev, strlen(rev), &want, err)) != ST_OK)
        return st;
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    db_loaded l = {0};
    st_buf body = ST_BUF_INIT, atts = ST_BUF_INIT;
    st = st_db_load(c, id, &l, err);
    if (st == ST_OK) {
        int i = rev ? st_revtree_find(l.tree, &want) : st_revtree_winner(l.tree);
        if (i < 0 || (!rev && l.rec.deleted))
            st = ST_E_NOT_FOUND;
        else
            st = st_db_rev_body(c, id, &l, (size_t)i, &body, &atts, err);
    }
    if (st == ST_OK)
        st = st_atts_find(atts.data, atts.len, name, meta, err);
    if (st == ST_OK)
        st = st_store_att_get(c, meta->digest, data, err);
    if (st == ST_E_NOT_FOUND)
        st_fail(err, ST_E_NOT_FOUND, "Document is missing attachment");
    st_buf_free(&body);
    st_buf_free(&atts);
    st_db_loaded_free(&l);
    st_db_reader_put(db, c);
    return st;
}

st_status st_att_decode(st_att_info *meta, st_buf *data, size_t max, st_error *err)
{
    if (!meta->encoding[0])
        return ST_OK;
    st_buf plain = ST_BUF_INIT;
    st_status st = st_gunzip(data->data ? data->data : "", data->len, max, &plain, err);
    if (st != ST_OK) {
        st_buf_free(&plain);
        return st;
    }
    st_buf_free(data);
    *data = plain;
    meta->encoding[0] = '\0';
    return ST_OK;
}

st_status st_db_conflicted(st_db *db, const char *after, st_id_fn fn, void *ctx,
                           st_error *err)
{
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    st_status st = st_store_scan_conflicted(c, after, fn, ctx, err);
    st_db_reader_put(db, c);
    return st;
}

st_status st_db_live_leaves(st_db *db, const char *id, size_t *out, st_error *err)
{
    *out = 0;
    st_status st = check_id(id, err);
    if (st != ST_OK)
        return st;
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    db_loaded l = {0};
    st = st_db_load(c, id, &l, err);
    if (st == ST_OK)
        *out = st_revtree_live_leaves(l.tree);
    else if (st == ST_E_NOT_FOUND)
        st = ST_OK;
    st_db_loaded_free(&l);
    st_db_reader_put(db, c);
    return st;
}
