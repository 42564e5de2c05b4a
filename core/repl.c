/* repl.c — _revs_diff and _bulk_get in CouchDB's JSON shapes, for the
 * server.  _revs_diff is written on the typed form (repl_typed.c), which
 * the replicator uses directly.
 */
#include "db_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct diff_json {
    st_jw *w;
    const st_rep_diff *diffs;
} diff_json;

static int diff_row(void *ctx, size_t index, const char *const *missing, size_t n_missing,
                    const char *const *ancestors, size_t n_ancestors)
{
    diff_json *d = ctx;
    st_jw_key(d->w, d->diffs[index].id);
    st_jw_obj_open(d->w);
    st_jw_key(d->w, "missing");
    st_jw_arr_open(d->w);
    for (size_t k = 0; k < n_missing; k++)
        st_jw_str(d->w, missing[k]);
    st_jw_arr_close(d->w);
    if (n_ancestors) {
        st_jw_key(d->w, "possible_ancestors");
        st_jw_arr_open(d->w);
        for (size_t k = 0; k < n_ancestors; k++)
            st_jw_str(d->w, ancestors[k]);
        st_jw_arr_close(d->w);
    }
    st_jw_obj_close(d->w);
    return 0;
}

st_status st_db_revs_diff(st_db *db, const st_json *req, st_jw *w, st_error *err)
{
    if (!req || req->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "Request body must be a JSON object");
    size_t total = 0;
    for (size_t i = 0; i < req->len; i++) {
        const st_json *revs = &req->u.members[i].value;
        if (revs->type != ST_JSON_ARRAY)
            return st_fail(err, ST_E_BAD_REQUEST, "Revisions for %s must be an array",
                           req->u.members[i].key);
        for (size_t k = 0; k < revs->len; k++)
            if (revs->u.items[k].type != ST_JSON_STRING)
                return st_fail(err, ST_E_BAD_REQUEST, "Invalid rev format");
        total += revs->len;
    }
    st_rep_diff *diffs = calloc(req->len ? req->len : 1, sizeof *diffs);
    const char **strs = calloc(total ? total : 1, sizeof *strs);
    if (!diffs || !strs) {
        free(diffs);
        free(strs);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    const char **p = strs;
    for (size_t i = 0; i < req->len; i++) {
        const st_json *revs = &req->u.members[i].value;
        diffs[i] = (st_rep_diff){req->u.members[i].key, p, revs->len};
        for (size_t k = 0; k < revs->len; k++)
            *p++ = revs->u.items[k].u.str;
    }
    diff_json d = {w, diffs};
    st_jw_obj_open(w);
    st_status st = st_db_revs_missing(db, diffs, req->len, diff_row, &d, err);
    st_jw_obj_close(w);
    if (st == ST_OK && (st = st_jw_status(w)) != ST_OK)
        st_fail(err, st, "out of memory");
    free(diffs);
    free(strs);
    return st;
}

typedef struct bg {
    st_jw *w;
    const char *id;
} bg;

static int bg_doc(void *ctx, const st_doc_view *v)
{
    bg *b = ctx;
    st_jw_obj_open(b->w);
    if (v->missing) {
        st_jw_key(b->w, "error");
        st_jw_obj_open(b->w);
        st_jw_key(b->w, "id");
        st_jw_str(b->w, b->id);
        st_jw_key(b->w, "rev");
        st_jw_str(b->w, v->rev);
        st_jw_key(b->w, "error");
        st_jw_str(b->w, "not_found");
        st_jw_key(b->w, "reason");
        st_jw_str(b->w, "missing");
        st_jw_obj_close(b->w);
    } else {
        st_jw_key(b->w, "ok");
        st_jw_raw(b->w, v->json, v->json_len);
    }
    st_jw_obj_close(b->w);
    return 0;
}

static void bg_error(st_jw *w, const char *id, const char *rev, const st_error *e)
{
    st_jw_obj_open(w);
    st_jw_key(w, "error");
    st_jw_obj_open(w);
    st_jw_key(w, "id");
    st_jw_str(w, id);
    st_jw_key(w, "rev");
    st_jw_str(w, rev ? rev : "undefined");
    st_jw_key(w, "error");
    st_jw_str(w, st_status_name(e->code));
    st_jw_key(w, "reason");
    st_jw_str(w, e->reason[0] ? e->reason : "missing");
    st_jw_obj_close(w);
    st_jw_obj_close(w);
}

st_status st_db_bulk_get_entry(st_db *db, const st_json *d, const st_get_opts *o, st_jw *w,
                               st_error *err)
{
    const char *id = d->type == ST_JSON_OBJECT ? st_json_get_str(d, "id") : NULL;
    const char *rev = d->type == ST_JSON_OBJECT ? st_json_get_str(d, "rev") : NULL;
    st_status st = ST_OK;
    st_jw_obj_open(w);
    st_jw_key(w, "id");
    st_jw_str(w, id);
    st_jw_key(w, "docs");
    st_jw_arr_open(w);
    st_error e;
    st_error_clear(&e);
    if (!id) {
        st_fail(&e, ST_E_BAD_REQUEST, "document id missing");
        bg_error(w, "null", rev, &e);
    } else {
        st_get_opts go = o ? *o : (st_get_opts){0};
        const st_json *since = st_json_get(d, "atts_since");
        const char **list = NULL;
        if (since && since->type == ST_JSON_ARRAY && since->len) {
            list = calloc(since->len, sizeof *list);
            if (!list)
                return st_fail(err, ST_E_NOMEM, "out of memory");
            size_t n = 0;
            for (size_t k = 0; k < since->len; k++)
                if (since->u.items[k].type == ST_JSON_STRING)
                    list[n++] = since->u.items[k].u.str;
            go.atts_since = list;
            go.n_atts_since = n;
        }
        bg b = {w, id};
        const char *one[1] = {rev};
        st_status s = st_db_open_revs(db, id, rev ? one : NULL, rev ? 1 : 0, &go, bg_doc, &b, &e);
        free(list);
        if (s == ST_E_IO || s == ST_E_NOMEM) {
            st = s;
            if (err)
                *err = e;
        } else if (s != ST_OK) {
            bg_error(w, id, rev, &e);
        }
    }
    st_jw_arr_close(w);
    st_jw_obj_close(w);
    if (st == ST_OK && (st = st_jw_status(w)) != ST_OK)
        st_fail(err, st, "out of memory");
    return st;
}

st_status st_db_bulk_get(st_db *db, const st_json *req, const st_get_opts *o, st_jw *w,
                         st_error *err)
{
    const st_json *docs = req && req->type == ST_JSON_OBJECT ? st_json_get(req, "docs") : NULL;
    if (!docs || docs->type != ST_JSON_ARRAY)
        return st_fail(err, ST_E_BAD_REQUEST, "Missing JSON list of 'docs'.");
    st_jw_obj_open(w);
    st_jw_key(w, "results");
    st_jw_arr_open(w);
    st_status st = ST_OK;
    for (size_t i = 0; i < docs->len && st == ST_OK; i++)
        st = st_db_bulk_get_entry(db, &docs->u.items[i], o, w, err);
    st_jw_arr_close(w);
    st_jw_obj_close(w);
    if (st == ST_OK && (st = st_jw_status(w)) != ST_OK)
        st_fail(err, st, "out of memory");
    return st;
}
