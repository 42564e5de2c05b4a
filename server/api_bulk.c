/* api_bulk.c — the endpoints that take a batch of documents: _bulk_docs,
 * _bulk_get, _revs_diff (PROTOCOL.md §6 steps 5–7) and _purge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "stream.h"
#include "users_db.h"

/* Parse a JSON object body for a bulk endpoint; sets the error response. */
static bool object_body(st_req *r, st_json_doc **d)
{
    if (!st_req_require_json_ctype(r, false))
        return false;
    if (!st_req_json(r, 0, d))
        return false;
    if (st_json_doc_root(*d)->type != ST_JSON_OBJECT) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "Request body must be a JSON object");
        return false;
    }
    return true;
}

/* A _bulk_docs in flight. */
typedef struct bulk_ctx {
    st_json_doc *d;
    st_write_req *reqs;
    st_write_result *res;
    st_json_doc **hashed;  /* the users database: documents with hashed passwords */
    size_t n;
    bool new_edits;
} bulk_ctx;

static void bulk_free(void *p)
{
    bulk_ctx *c = p;
    for (size_t i = 0; c->hashed && i < c->n; i++)
        st_json_doc_free(c->hashed[i]);
    free(c->hashed);
    st_write_results_free(c->res, c->n);
    free(c->res);
    free(c->reqs);
    st_json_doc_free(c->d);
    free(c);
}

/* 201 with one row per document (new_edits=false: only the failures, as
 * CouchDB 3.x answers). */
static void bulk_finish(st_req *r)
{
    bulk_ctx *c = r->async_ctx;
    if (r->async_st != ST_OK) {
        st_resp_status(r, &r->async_err);
        return;
    }
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (!st_resp_jw_open(r, &w, &b))
        return;
    st_jw_arr_open(&w);
    for (size_t i = 0; i < c->n; i++) {
        const st_write_result *x = &c->res[i];
        if (!c->new_edits && x->err.code == ST_OK)
            continue;
        st_jw_obj_open(&w);
        if (x->err.code == ST_OK) {
            st_jw_key(&w, "ok");
            st_jw_bool(&w, true);
        }
        st_jw_key(&w, "id");
        st_jw_str(&w, x->id ? x->id : "");
        if (x->err.code == ST_OK) {
            st_jw_key(&w, "rev");
            st_jw_str(&w, x->rev);
        } else {
            st_status code = x->err.code;
            bool internal = code == ST_E_IO || code == ST_E_NOMEM || code == ST_E_MISUSE;
            if (internal)
                st_log(ST_LOG_ERROR, "_bulk_docs %s: %s", x->id ? x->id : "", x->err.reason);
            st_jw_key(&w, "error");
            st_jw_str(&w, internal ? "internal_server_error" : st_error_name(&x->err));
            st_jw_key(&w, "reason");
            st_jw_str(&w, internal ? "The server encountered an error." : x->err.reason);
        }
        st_jw_obj_close(&w);
    }
    st_jw_arr_close(&w);
    st_resp_jw_close(r, &w, &b, 201);
}

void st_api_bulk_docs(st_req *r)
{
    st_error e;
    bulk_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    if (!object_body(r, &c->d))
        goto fail;
    const st_json *root = st_json_doc_root(c->d);
    const st_json *docs = st_json_get(root, "docs");
    if (!docs || docs->type != ST_JSON_ARRAY) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "POST body must include `docs` parameter.");
        goto fail;
    }
    c->new_edits = true;
    const st_json *ne = st_json_get(root, "new_edits");
    if (ne) {
        if (ne->type != ST_JSON_TRUE && ne->type != ST_JSON_FALSE) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "`new_edits` parameter must be a boolean.");
            goto fail;
        }
        c->new_edits = ne->type == ST_JSON_TRUE;
    }
    c->n = docs->len;
    for (size_t i = 0; i < c->n; i++) {
        if (docs->u.items[i].type != ST_JSON_OBJECT) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "Document must be a JSON object");
            goto fail;
        }
    }
    c->reqs = calloc(c->n ? c->n : 1, sizeof *c->reqs);
    c->res = calloc(c->n ? c->n : 1, sizeof *c->res);
    if (!c->reqs || !c->res) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        goto fail;
    }
    /* CouchDB checks every document first and refuses the whole request
     * on the first bad one, saving nothing. */
    bool users_db = st_usersdb_is(r->srv, r->db);
    if (users_db && !(c->hashed = calloc(c->n ? c->n : 1, sizeof *c->hashed))) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < c->n; i++) {
        c->reqs[i].doc = &docs->u.items[i];
        c->reqs[i].user = &r->user;
        if (st_db_write_check(&c->reqs[i], c->new_edits ? 0 : ST_WRITE_REPLICATED, &e) != ST_OK) {
            st_resp_status(r, &e);
            goto fail;
        }
        if (users_db) {
            if (!st_usersdb_may_write(r, st_json_get_str(c->reqs[i].doc, "_id")))
                goto fail;
            if (st_usersdb_hash(r->srv, c->reqs[i].doc, &c->hashed[i], &e) != ST_OK) {
                st_resp_status(r, &e);
                goto fail;
            }
            if (c->hashed[i])
                c->reqs[i].doc = st_json_doc_root(c->hashed[i]);
        }
    }
    st_api_async_begin(r, c, bulk_free, bulk_finish);
    if (st_db_write_async(r->dbh, c->reqs, c->n, c->new_edits ? 0 : ST_WRITE_REPLICATED, c->res,
                          st_api_async_done, r, &e) != ST_OK)
        st_api_async_failed(r, &e);
    return;
fail:
    bulk_free(c);
}

/* _bulk_get, streamed (stream.h) an entry at a time: memory per request
 * is the parsed request (bounded by max_read_body_size) plus one piece,
 * whatever the documents weigh or however slowly the client reads. */
typedef struct bg_stream {
    st_server *srv;
    st_db *db;              /* the request's reference, taken */
    st_json_doc *d;         /* the request body */
    const st_json *docs;    /* its "docs" */
    st_get_opts o;          /* points into store and the request */
    st_get_store store;
    size_t next;            /* the next entry to answer */
    bool started;
} bg_stream;

static void bg_free(void *p)
{
    bg_stream *b = p;
    st_catalog_put(b->srv->cat, b->db);
    st_api_get_opts_free(&b->store);
    st_json_doc_free(b->d);
    free(b);
}

static st_status bg_next(void *ctx, st_buf *out, size_t want, bool *done)
{
    bg_stream *b = ctx;
    st_status st = ST_OK;
    if (!b->started) {
        b->started = true;
        st = st_buf_adds(out, "{\"results\":[");
    }
    while (st == ST_OK && b->next < b->docs->len && out->len < want) {
        st_jw w;
        st_error e;
        if (b->next > 0 && (st = st_buf_addc(out, ',')) != ST_OK)
            break;
        if ((st = st_jw_init(&w, out)) != ST_OK)
            break;
        st = st_db_bulk_get_entry(b->db, &b->docs->u.items[b->next], &b->o, &w, &e);
        st_jw_free(&w);
        if (st != ST_OK)
            st_log(ST_LOG_ERROR, "_bulk_get: %s", e.reason);
        b->next++;
    }
    if (st == ST_OK && b->next == b->docs->len) {
        *done = true;
        st = st_buf_adds(out, "]}\n");
    }
    return st;
}

static const st_stream_ops bg_ops = {bg_next, bg_free};

void st_api_bulk_get(st_req *r)
{
    bg_stream *b = calloc(1, sizeof *b);
    if (!b) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    b->srv = r->srv;
    if (!object_body(r, &b->d) || !st_api_get_opts(r, &b->o, &b->store)) {
        bg_free(b);
        return;
    }
    /* CouchDB's replicator repeats revs/latest/attachments in the body. */
    const st_json *root = st_json_doc_root(b->d);
    const st_json *v;
    if ((v = st_json_get(root, "revs")) && v->type == ST_JSON_TRUE)
        b->o.revs = true;
    if ((v = st_json_get(root, "latest")) && v->type == ST_JSON_TRUE)
        b->o.latest = true;
    if ((v = st_json_get(root, "attachments")) && v->type == ST_JSON_TRUE)
        b->o.atts = ST_ATTS_INLINE;
    b->docs = st_json_get(root, "docs");
    if (!b->docs || b->docs->type != ST_JSON_ARRAY) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "Missing JSON list of 'docs'.");
        bg_free(b);
        return;
    }
    b->db = r->dbh;
    r->dbh = NULL; /* the stream holds the reference until MHD is done */
    st_resp_stream(r, 200, "application/json", &bg_ops, b);
}

/* A JSON object in, a core call that answers in JSON, the answer out: the
 * shape of _revs_diff and _purge. */
typedef st_status (*json_op)(st_db *db, const st_json *req, st_jw *w, st_error *err);

static void json_call(st_req *r, json_op op, unsigned status)
{
    st_json_doc *d = NULL;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    bool w_ok = false;
    st_error e;
    st_db *db = NULL;
    if (!object_body(r, &d))
        goto out;
    db = r->dbh;
    if (st_jw_init(&w, &b) != ST_OK) {
        st_resp_jw_failed(r, &w);
        goto out;
    }
    w_ok = true;
    if (op(db, st_json_doc_root(d), &w, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    if (st_jw_status(&w) != ST_OK) {
        st_resp_jw_failed(r, &w);
        goto out;
    }
    st_resp_json(r, status, &b);
out:
    if (w_ok)
        st_jw_free(&w);
    st_buf_free(&b);
    st_json_doc_free(d);
}

void st_api_revs_diff(st_req *r) { json_call(r, st_db_revs_diff, 200); }

/* A _purge in flight: the request body and the answer core fills. */
typedef struct purge_ctx {
    st_json_doc *d;
    st_buf out;
} purge_ctx;

static void purge_free(void *p)
{
    purge_ctx *c = p;
    st_json_doc_free(c->d);
    st_buf_free(&c->out);
    free(c);
}

static void purge_finish(st_req *r)
{
    purge_ctx *c = r->async_ctx;
    if (r->async_st != ST_OK)
        st_resp_status(r, &r->async_err);
    else
        st_resp_json(r, 201, &c->out);
}

void st_api_purge(st_req *r)
{
    st_error e;
    purge_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    if (!object_body(r, &c->d)) {
        purge_free(c);
        return;
    }
    st_api_async_begin(r, c, purge_free, purge_finish);
    if (st_db_purge_async(r->dbh, st_json_doc_root(c->d), &c->out, st_api_async_done, r, &e) !=
        ST_OK)
        st_api_async_failed(r, &e);
}
