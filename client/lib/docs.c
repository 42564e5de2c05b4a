/* docs.c — documents as JSON text: put, post, get, get_field, delete and
 * bulk writes.  Thin on purpose: core does the work (MVCC, rev ids, limits);
 * this file parses the caller's text with the database's limits, names the
 * special cases CouchDB's HTTP API would (PUT needs an _id, POST makes one),
 * and hands results back as settee_free-able strings.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static size_t text_len(const char *s, size_t n) { return n == SETTEE_NUL_TERMINATED ? strlen(s) : n; }

static settee_status parse(settee_db *db, const char *json, size_t n, st_json_doc **out,
                           settee_error *e)
{
    st_json_limits lim = {db->max_doc_size, 0};
    st_error ce;
    st_status s = st_json_parse(json, text_len(json, n), &lim, out, &ce);
    return st_client_from_core(e, s, &ce);
}

/* Write one request; hand back id and rev on success. */
static settee_status write_one(settee_db *db, const st_write_req *req, char **out_id,
                               char **out_rev, settee_error *e)
{
    st_write_result res;
    st_error ce;
    st_status s = st_db_write(db->core, req, 1, 0, &res, &ce);
    settee_status rc;
    if (s != ST_OK)
        rc = st_client_from_core(e, s, &ce);
    else if (res.err.code != ST_OK)
        rc = st_client_from_core(e, res.err.code, &res.err);
    else
        rc = SETTEE_OK;
    if (rc == SETTEE_OK && out_id && res.id)
        rc = st_client_dup(out_id, res.id, strlen(res.id), e);
    if (rc == SETTEE_OK && out_rev)
        rc = st_client_dup(out_rev, res.rev, strlen(res.rev), e);
    if (rc == SETTEE_OK)
        st_client_ok(e);
    st_write_results_free(&res, 1);
    return rc;
}

static settee_status put_or_post(settee_db *db, const char *json, size_t n, bool need_id,
                                 char **out_id, char **out_rev, settee_error *e)
{
    if (out_id)
        *out_id = NULL;
    if (out_rev)
        *out_rev = NULL;
    if (!json)
        return st_client_fail(e, SETTEE_MISUSE, "NULL json");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_json_doc *doc = NULL;
    if ((rc = parse(db, json, n, &doc, e)) != SETTEE_OK)
        goto out;
    const st_json *root = st_json_doc_root(doc);
    if (root->type != ST_JSON_OBJECT) {
        rc = st_client_fail(e, SETTEE_BAD_REQUEST, "Document must be a JSON object");
        goto out;
    }
    if (need_id && !st_json_get(root, "_id")) {
        rc = st_client_fail(e, SETTEE_BAD_REQUEST,
                            "Document id is missing (settee_doc_post generates one)");
        goto out;
    }
    st_write_req req = {.doc = root};
    char *id = NULL;
    rc = write_one(db, &req, out_id ? &id : NULL, out_rev, e);
    if (out_id)
        *out_id = id;
out:
    st_json_doc_free(doc);
    st_client_leave(db);
    return rc;
}

settee_status settee_doc_put(settee_db *db, const char *json, size_t n, char **out_rev,
                             settee_error *e)
{
    return put_or_post(db, json, n, true, NULL, out_rev, e);
}

settee_status settee_doc_post(settee_db *db, const char *json, size_t n, char **out_id,
                              char **out_rev, settee_error *e)
{
    return put_or_post(db, json, n, false, out_id, out_rev, e);
}

/* The document as JSON into b (the caller entered db). */
static settee_status get_into(settee_db *db, const char *id, const char *rev, st_buf *b,
                              settee_error *e)
{
    st_get_opts o = {.rev = rev};
    st_error ce;
    st_status s = st_db_get(db->core, id, &o, b, &ce);
    return st_client_from_core(e, s, &ce);
}

settee_status settee_doc_get(settee_db *db, const char *id, const char *rev, char **out_json,
                             settee_error *e)
{
    if (out_json)
        *out_json = NULL;
    if (!id || !out_json)
        return st_client_fail(e, SETTEE_MISUSE, "NULL id or out_json");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_buf b = ST_BUF_INIT;
    if ((rc = get_into(db, id, rev, &b, e)) == SETTEE_OK &&
        !(*out_json = st_buf_take(&b, NULL)))
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
    st_buf_free(&b);
    st_client_leave(db);
    return rc;
}

settee_status settee_doc_get_field(settee_db *db, const char *id, const char *field,
                                   char **out_json, settee_error *e)
{
    if (out_json)
        *out_json = NULL;
    if (!id || !field || !out_json)
        return st_client_fail(e, SETTEE_MISUSE, "NULL id, field or out_json");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_buf b = ST_BUF_INIT, v = ST_BUF_INIT;
    st_json_doc *doc = NULL;
    st_error ce;
    st_status s;
    if ((rc = get_into(db, id, NULL, &b, e)) != SETTEE_OK)
        goto out;
    if ((s = st_json_parse(b.data, b.len, NULL, &doc, &ce)) != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    const st_json *m = st_json_get(st_json_doc_root(doc), field);
    if (!m) {
        rc = st_client_fail(e, SETTEE_NOT_FOUND, "document %s has no member %s", id, field);
        goto out;
    }
    st_jw w;
    if ((s = st_jw_init(&w, &v)) == ST_OK) {
        st_jw_value(&w, m);
        s = st_jw_status(&w);
        st_jw_free(&w);
    }
    if (s != ST_OK || !(*out_json = st_buf_take(&v, NULL)))
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
    else
        st_client_ok(e);
out:
    st_json_doc_free(doc);
    st_buf_free(&b);
    st_buf_free(&v);
    st_client_leave(db);
    return rc;
}

settee_status settee_doc_delete(settee_db *db, const char *id, const char *rev, char **out_rev,
                                settee_error *e)
{
    if (out_rev)
        *out_rev = NULL;
    if (!id)
        return st_client_fail(e, SETTEE_MISUSE, "NULL id");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_write_req req = {.id = id, .rev = rev, .delete_doc = true};
    rc = write_one(db, &req, NULL, out_rev, e);
    st_client_leave(db);
    return rc;
}

/* CouchDB's _bulk_docs answer for n results into w. */
static void bulk_results(st_jw *w, const st_write_result *res, size_t n)
{
    st_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        st_jw_obj_open(w);
        if (res[i].err.code == ST_OK) {
            st_jw_key(w, "ok");
            st_jw_bool(w, true);
        }
        st_jw_key(w, "id");
        st_jw_str(w, res[i].id);
        if (res[i].err.code == ST_OK) {
            st_jw_key(w, "rev");
            st_jw_str(w, res[i].rev);
        } else {
            st_jw_key(w, "error");
            st_jw_str(w, st_status_name(res[i].err.code));
            st_jw_key(w, "reason");
            st_jw_str(w, res[i].err.reason);
        }
        st_jw_obj_close(w);
    }
    st_jw_arr_close(w);
}

settee_status settee_bulk_docs(settee_db *db, const char *json, size_t n, char **out_results,
                               settee_error *e)
{
    if (out_results)
        *out_results = NULL;
    if (!json)
        return st_client_fail(e, SETTEE_MISUSE, "NULL json");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_json_doc *doc = NULL;
    st_write_req *reqs = NULL;
    st_write_result *res = NULL;
    size_t count = 0;
    st_buf out = ST_BUF_INIT;
    st_error ce;
    st_status s;
    /* A whole batch may be as large as its documents together. */
    st_json_limits lim = {0, 0};
    if ((s = st_json_parse(json, text_len(json, n), &lim, &doc, &ce)) != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    const st_json *root = st_json_doc_root(doc);
    const st_json *docs = root->type == ST_JSON_ARRAY ? root : st_json_get(root, "docs");
    unsigned flags = 0;
    if (root->type == ST_JSON_OBJECT) {
        const st_json *ne = st_json_get(root, "new_edits");
        if (ne && ne->type == ST_JSON_FALSE)
            flags = ST_WRITE_REPLICATED;
    }
    if (!docs || docs->type != ST_JSON_ARRAY) {
        rc = st_client_fail(e, SETTEE_BAD_REQUEST, "POST body must include `docs` parameter.");
        goto out;
    }
    count = docs->len;
    reqs = calloc(count ? count : 1, sizeof *reqs);
    res = calloc(count ? count : 1, sizeof *res);
    if (!reqs || !res) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        reqs[i].doc = &docs->u.items[i];
    if ((s = st_db_write(db->core, reqs, count, flags, res, &ce)) != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    if (out_results) {
        st_jw w;
        if ((s = st_jw_init(&w, &out)) == ST_OK) {
            bulk_results(&w, res, count);
            s = st_jw_status(&w);
            st_jw_free(&w);
        }
        if (s != ST_OK || !(*out_results = st_buf_take(&out, NULL))) {
            rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
            goto out;
        }
    }
    st_client_ok(e);
out:
    st_write_results_free(res, res ? count : 0);
    free(res);
    free(reqs);
    st_buf_free(&out);
    st_json_doc_free(doc);
    st_client_leave(db);
    return rc;
}
