/* views.c — settee_view_query: a view of a local design document, queried
 * with CouchDB's parameters (parsed by core's st_view_params.h, as the
 * server parses a POST body) on core's view indexes (st_view.h), so the
 * rows are the ones the server answers for the same design document and
 * documents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "st_jw.h"
#include "st_view_params.h"

typedef struct vq {
    settee_view_row_fn fn;
    void *ctx;
    settee_view_result *res;
    st_buf row;             /* the current row's JSON */
    bool stopped;           /* fn asked to stop */
    st_status st;           /* a row that could not be made */
} vq;

static void on_head(void *ctx, uint64_t total, uint64_t offset)
{
    vq *q = ctx;
    q->res->total_rows = total;
    q->res->offset = offset;
}

static int on_row(void *ctx, const st_view_row *r)
{
    vq *q = ctx;
    st_jw w;
    st_buf_reset(&q->row);
    if ((q->st = st_jw_init(&w, &q->row)) != ST_OK)
        return 1;
    st_jw_obj_open(&w);
    if (r->id) {
        st_jw_key(&w, "id");
        st_jw_str(&w, r->id);
    }
    st_jw_key(&w, "key");
    st_jw_raw(&w, r->key, r->key_len);
    st_jw_key(&w, "value");
    st_jw_raw(&w, r->value, r->value_len);
    if (r->has_doc) {
        st_jw_key(&w, "doc");
        if (r->doc)
            st_jw_raw(&w, r->doc, r->doc_len);
        else
            st_jw_null(&w);
    }
    st_jw_obj_close(&w);
    q->st = st_jw_status(&w);
    st_jw_free(&w);
    if (q->st != ST_OK)
        return 1;
    settee_view_row out = {
        .json = q->row.data, .json_len = q->row.len,
        .id = r->id,
        .key = r->key, .key_len = r->key_len,
        .value = r->value, .value_len = r->value_len,
        .doc = r->has_doc ? r->doc : NULL, .doc_len = r->has_doc && r->doc ? r->doc_len : 0,
    };
    if (q->fn(q->ctx, &out)) {
        q->stopped = true;
        return 1;
    }
    return 0;
}

/* A core failure into e; a missing query server says where it was sought. */
static settee_status view_fail(settee_db *db, const char *ddoc_id, const char *view,
                               st_status s, const st_error *ce, settee_error *e)
{
    settee_status rc = st_client_from_core(e, s, ce);
    if (s == ST_E_UNKNOWN_LANGUAGE && e) {
        const char *hint = st_client_js_hint(db->js);
        char lang[64];
        snprintf(lang, sizeof lang, "%.40s", ce && ce->code == s ? ce->reason : "?");
        snprintf(e->message, sizeof e->message,
                 "view '%s' of %s needs a query server for language '%s'%s%s", view, ddoc_id,
                 lang, hint[0] ? ": " : "", hint);
    }
    return rc;
}

static settee_status run(settee_db *db, const char *ddoc_id, const char *view,
                         const st_json *params, settee_view_row_fn fn, void *ctx,
                         settee_view_result *res, settee_error *e)
{
    st_error ce;
    st_view_params p;
    st_vp_store store = {0};
    st_view *v = NULL;
    st_view_cursor cur;
    vq q = {fn, ctx, res, ST_BUF_INIT, false, ST_OK};
    settee_status rc = SETTEE_OK;
    st_status s = ST_OK;
    st_view_params_init(&p);
    st_view_cursor_init(&cur);
    if (params && (s = st_view_params_object(params, &p, &store, &ce)) != ST_OK)
        goto fail;
    st_view_params_finish(&p, &store);
    if ((s = st_view_open(st_client_js_views(db->js), db->core, ddoc_id, view, &v, &ce)) != ST_OK)
        goto fail;
    if ((s = st_view_params_check(v, &p, &ce)) != ST_OK)
        goto fail;
    res->reduced = st_view_params_reducing(v, &p);
    if (p.update == ST_VIEW_UPDATE_TRUE && (s = st_view_update(v, &ce)) != ST_OK)
        goto fail;
    res->update_seq = st_view_seq(v);
    st_view_sink sink = {on_head, on_row, &q};
    while (!cur.done && !q.stopped) {
        if ((s = st_view_query(v, &p, &cur, &sink, &ce)) != ST_OK)
            goto fail;
        if (q.st != ST_OK) {
            rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
            goto out;
        }
    }
    /* lazy: the rows came from the index as it was; now bring it up to
     * date for the next query.  Its failure is the next query's to report. */
    if (p.update == ST_VIEW_UPDATE_LAZY)
        (void)st_view_update(v, &ce);
    st_client_ok(e);
    goto out;
fail:
    rc = view_fail(db, ddoc_id, view, s, &ce, e);
out:
    st_view_close(v);
    st_view_cursor_free(&cur);
    st_view_params_store_free(&store);
    st_buf_free(&q.row);
    return rc;
}

settee_status settee_view_query(settee_db *db, const char *ddoc, const char *view,
                                const char *params_json, size_t n, settee_view_row_fn fn,
                                void *ctx, settee_view_result *out_result, settee_error *e)
{
    settee_view_result res;
    memset(&res, 0, sizeof res);
    if (out_result)
        *out_result = res;
    if (!ddoc || !view || !fn)
        return st_client_fail(e, SETTEE_MISUSE, "NULL ddoc, view or fn");
    if (!ddoc[0] || !view[0])
        return st_client_fail(e, SETTEE_NOT_FOUND, "missing");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    char *id = NULL;
    st_json_doc *params = NULL;
    if (strncmp(ddoc, "_design/", 8) == 0)
        id = strdup(ddoc);
    else if ((id = malloc(strlen(ddoc) + 9)))
        sprintf(id, "_design/%s", ddoc);
    if (!id) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    if (params_json) {
        st_error ce;
        size_t len = n == SETTEE_NUL_TERMINATED ? strlen(params_json) : n;
        st_status s = st_json_parse(params_json, len, NULL, &params, &ce);
        if (s != ST_OK) {
            rc = st_client_from_core(e, s, &ce);
            goto out;
        }
        if (st_json_doc_root(params)->type != ST_JSON_OBJECT) {
            rc = st_client_fail(e, SETTEE_BAD_REQUEST, "view parameters must be a JSON object");
            goto out;
        }
    }
    rc = run(db, id, view, params ? st_json_doc_root(params) : NULL, fn, ctx, &res, e);
    if (rc == SETTEE_OK && out_result)
        *out_result = res;
out:
    st_json_doc_free(params);
    free(id);
    st_client_leave(db);
    return rc;
}

settee_status settee_view_cleanup(settee_db *db, settee_error *e)
{
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_error ce;
    st_status s = st_views_cleanup(st_client_js_views(db->js), db->core, &ce);
    rc = st_client_from_core(e, s, &ce);
    st_client_leave(db);
    return rc;
}
