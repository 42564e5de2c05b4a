/* api_find.c — Mango over HTTP: POST /{db}/_find (streamed), POST
 * /{db}/_explain, GET/POST /{db}/_index, DELETE
 * /{db}/_index/{ddoc}/json/{name} and POST /{db}/_index/_bulk_delete, as
 * CouchDB's mango_httpd answers them (PROTOCOL-2.md B).  The work is
 * core's (st_mango.h); this file reads requests and writes answers.
 *
 * Index writes are design-document writes through the one write path
 * (api_async.c), so a new index is built, and answered, in the transaction
 * that stores its design document.  A conflict with a concurrent writer of
 * the same design document is CouchDB's 500 error_saving_ddoc.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "st_mango.h"
#include "stream.h"

/* The request body as a JSON object (answer set and NULL otherwise). */
static st_json_doc *body_object(st_req *r)
{
    st_json_doc *d = NULL;
    if (!st_req_require_json_ctype(r, false) || !st_req_json(r, 0, &d))
        return NULL;
    if (st_json_doc_root(d)->type != ST_JSON_OBJECT) {
        st_json_doc_free(d);
        st_resp_fail(r, ST_E_BAD_REQUEST, "Request body must be a JSON object");
        return NULL;
    }
    return d;
}

static st_mango_query *query_of(st_req *r)
{
    st_json_doc *d = body_object(r);
    st_mango_query *q = NULL;
    st_error e;
    if (!d)
        return NULL;
    if (st_mango_query_parse(st_json_doc_root(d), &q, &e) != ST_OK)
        st_resp_status(r, &e);
    st_json_doc_free(d);
    return q;
}

/* ---- _find ------------------------------------------------------------------ */

typedef struct find_stream {
    st_server *srv;
    st_db *db;                  /* the request's reference, taken */
    st_mango_query *q;
    st_mango_cursor *cur;
    bool started, any;
    st_buf *out;
    size_t want;
    st_status st;
} find_stream;

static void find_free(void *p)
{
    find_stream *f = p;
    st_mango_cursor_free(f->cur);
    st_mango_query_free(f->q);
    st_catalog_put(f->srv->cat, f->db);
    free(f);
}

static int find_doc(void *ctx, const char *json, size_t len)
{
    find_stream *f = ctx;
    st_status s = f->any ? st_buf_adds(f->out, ",\r\n") : ST_OK;
    if (s == ST_OK)
        s = st_buf_add(f->out, json, len);
    f->any = true;
    f->st = s;
    return s != ST_OK || f->out->len >= f->want;
}

/* ],"bookmark":..,"execution_stats":..,"warning":..} (CouchDB's order). */
static st_status find_tail(find_stream *f)
{
    st_buf *b = f->out;
    const char *bm = st_mango_bookmark(f->cur), *warn = st_mango_warning(f->cur);
    st_status s = st_buf_adds(b, f->any ? "\r\n],\r\n\"bookmark\": " : "],\r\n\"bookmark\": ");
    if (s == ST_OK)
        s = st_json_quote(b, bm, strlen(bm));
    if (s == ST_OK && st_mango_query_stats(f->q)) {
        st_mango_stats x;
        st_mango_stats_get(f->cur, &x);
        s = st_buf_printf(b,
                          ",\r\n\"execution_stats\": {\"total_keys_examined\":%" PRIu64
                          ",\"total_docs_examined\":%" PRIu64
                          ",\"total_quorum_docs_examined\":0,\"results_returned\":%" PRIu64
                          ",\"execution_time_ms\":%.3f}",
                          x.keys_examined, x.docs_examined, x.results, x.time_ms);
    }
    if (s == ST_OK && warn) {
        s = st_buf_adds(b, ",\r\n\"warning\": ");
        if (s == ST_OK)
            s = st_json_quote(b, warn, strlen(warn));
    }
    return s == ST_OK ? st_buf_adds(b, "}\r\n") : s;
}

static st_status find_next(void *ctx, st_buf *out, size_t want, bool *done)
{
    find_stream *f = ctx;
    st_error e;
    f->out = out;
    f->want = want;
    f->st = ST_OK;
    if (!f->started) {
        f->started = true;
        st_status s = st_buf_adds(out, "{\"docs\":[\r\n");
        if (s != ST_OK)
            return s;
    }
    /* Pages until the piece has something (or the end): each page moves
     * the cursor, so this ends; a scan that finds nothing for a long
     * stretch keeps the worker as CouchDB's full scans do. */
    bool fin = false;
    size_t had = out->len;
    while (!fin && (out->len == had || out->len < want)) {
        if (st_mango_next(f->cur, want - out->len, find_doc, f, &fin, &e) != ST_OK)
            return e.code;
        if (f->st != ST_OK)
            return f->st;
    }
    if (!fin)
        return ST_OK;
    *done = true;
    return find_tail(f);
}

static const st_stream_ops find_ops = {find_next, find_free};

void st_api_find(st_req *r)
{
    st_mango_query *q = query_of(r);
    if (!q)
        return;
    st_mango_cursor *cur = NULL;
    st_error e;
    if (st_mango_find(r->dbh, q, &cur, &e) != ST_OK) {
        st_mango_query_free(q);
        st_resp_status(r, &e);
        return;
    }
    find_stream *f = calloc(1, sizeof *f);
    if (!f) {
        st_mango_cursor_free(cur);
        st_mango_query_free(q);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    f->srv = r->srv;
    f->q = q;
    f->cur = cur;
    f->db = r->dbh;
    r->dbh = NULL; /* the stream holds the reference until MHD is done */
    st_resp_stream(r, 200, "application/json", &find_ops, f);
}

void st_api_explain(st_req *r)
{
    st_mango_query *q = query_of(r);
    if (!q)
        return;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_error e;
    if (st_jw_init(&w, &b) != ST_OK) {
        st_mango_query_free(q);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_status st = st_mango_explain(r->dbh, q, &w, &e);
    if (st != ST_OK)
        st_resp_status(r, &e);
    else if (st_jw_status(&w) != ST_OK)
        st_resp_jw_failed(r, &w);
    else
        st_resp_json(r, 200, &b);
    st_jw_free(&w);
    st_buf_free(&b);
    st_mango_query_free(q);
}

/* ---- GET _index ------------------------------------------------------------- */

void st_api_index_get(st_req *r)
{
    st_mango_index *v = NULL;
    size_t n = 0;
    uint64_t limit, skip;
    st_error e;
    if (st_db_indexes(r->dbh, &v, &n, &e) != ST_OK) {
        st_resp_status(r, &e);
        return;
    }
    uint64_t total = n + 1; /* with _all_docs */
    if (!st_req_qu64(r, "limit", total, &limit) || !st_req_qu64(r, "skip", 0, &skip)) {
        st_mango_indexes_free(v, n);
        return;
    }
    if (limit < 1) {
        st_mango_indexes_free(v, n);
        st_error le;
        st_fail_name(&le, ST_E_BAD_REQUEST, "invalid_list_index_params",
                     "Index parameter ranges: limit > 1, skip > 0");
        st_resp_status(r, &le);
        return;
    }
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (st_jw_init(&w, &b) != ST_OK) {
        st_mango_indexes_free(v, n);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_jw_obj_open(&w);
    st_jw_key(&w, "total_rows");
    st_jw_uint(&w, total);
    st_jw_key(&w, "indexes");
    st_jw_arr_open(&w);
    for (uint64_t i = skip; i < total && i - skip < limit; i++) {
        if (i == 0)
            st_mango_all_docs_write(&w);
        else
            st_mango_index_write(&v[i - 1], &w);
    }
    st_jw_arr_close(&w);
    st_jw_obj_close(&w);
    if (st_jw_status(&w) != ST_OK)
        st_resp_jw_failed(r, &w);
    else
        st_resp_json(r, 200, &b);
    st_jw_free(&w);
    st_buf_free(&b);
    st_mango_indexes_free(v, n);
}

/* ---- design document edits ------------------------------------------------------ */

/* What an index write answers once committed. */
typedef struct index_write {
    char *ddoc, *name;
    bool remove;
} index_write;

static void index_write_free(st_api_one *c)
{
    index_write *x = c->extra;
    if (!x)
        return;
    free(x->ddoc);
    free(x->name);
    free(x);
}

/* The design document id (winner) as JSON, or NULL when it has none;
 * false (answer set) on a failure. */
static bool ddoc_load(st_req *r, const char *id, st_json_doc **out, char rev[ST_REV_STR_MAX])
{
    st_buf b = ST_BUF_INIT;
    st_error e;
    *out = NULL;
    rev[0] = '\0';
    st_status st = st_db_get(r->dbh, id, NULL, &b, &e);
    if (st == ST_E_NOT_FOUND) {
        st_buf_free(&b);
        return true;
    }
    if (st == ST_OK)
        st = st_json_parse(b.data, b.len, NULL, out, &e);
    st_buf_free(&b);
    if (st != ST_OK) {
        st_resp_status(r, &e);
        return false;
    }
    const char *rv = st_json_get_str(st_json_doc_root(*out), "_rev");
    snprintf(rev, ST_REV_STR_MAX, "%s", rv ? rv : "");
    return true;
}

static void saving_failed(st_req *r, const st_error *e)
{
    st_error x;
    if (e->code == ST_E_CONFLICT)
        st_fail_name(&x, ST_E_UNKNOWN_ERROR, "error_saving_ddoc",
                     "Encountered a conflict while saving the design document.");
    else if (e->code == ST_E_UNAUTHORIZED || e->code == ST_E_FORBIDDEN ||
             e->code == ST_E_NOMEM || e->code == ST_E_IO || e->code == ST_E_BUSY ||
             e->code == ST_E_DISK_FULL)
        x = *e;
    else
        st_fail_name(&x, ST_E_UNKNOWN_ERROR, "error_saving_ddoc",
                     "Unknown error while saving the design document: %s", e->reason);
    st_resp_status(r, &x);
}

static void index_finish(st_req *r)
{
    st_api_one *c = r->async_ctx;
    index_write *x = c->extra;
    if (r->async_st != ST_OK) {
        saving_failed(r, &r->async_err);
        return;
    }
    if (c->res.err.code != ST_OK) {
        saving_failed(r, &c->res.err);
        return;
    }
    if (x->remove) {
        st_resp_ok(r, 200);
        return;
    }
    st_buf b = ST_BUF_INIT;
    st_status s = st_buf_adds(&b, "{\"result\":\"created\",\"id\":");
    if (s == ST_OK)
        s = st_json_quote(&b, x->ddoc, strlen(x->ddoc));
    if (s == ST_OK)
        s = st_buf_adds(&b, ",\"name\":");
    if (s == ST_OK)
        s = st_json_quote(&b, x->name, strlen(x->name));
    if (s == ST_OK)
        s = st_buf_addc(&b, '}');
    if (s != ST_OK) {
        st_buf_free(&b);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_resp_json(r, 200, &b);
}

/* Queue the write of design document id: body (JSON text, NULL: delete). */
static void ddoc_write(st_req *r, const char *id, const char *rev, const st_buf *body,
                       index_write *x)
{
    st_api_one *c = calloc(1, sizeof *c);
    st_error e;
    if (!c) {
        free(x->ddoc);
        free(x->name);
        free(x);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    c->extra = x;
    c->free_extra = index_write_free;
    if (body && st_json_parse(body->data, body->len, NULL, &c->doc, &e) != ST_OK) {
        st_resp_status(r, &e);
        st_api_one_free(c);
        return;
    }
    if (rev[0])
        snprintf(c->revbuf, sizeof c->revbuf, "%s", rev);
    c->req.doc = c->doc ? st_json_doc_root(c->doc) : NULL;
    c->req.id = x->ddoc;
    c->req.rev = rev[0] ? c->revbuf : NULL;
    c->req.delete_doc = body == NULL;
    (void)id;
    st_api_one_submit(r, c, index_finish);
}

static index_write *index_write_new(const char *ddoc, const char *name, bool remove)
{
    index_write *x = calloc(1, sizeof *x);
    if (x && (!(x->ddoc = strdup(ddoc)) || !(x->name = strdup(name)))) {
        free(x->ddoc);
        free(x);
        return NULL;
    }
    if (x)
        x->remove = remove;
    return x;
}

void st_api_index_post(st_req *r)
{
    st_json_doc *d = body_object(r);
    if (!d)
        return;
    st_mango_index_req rq;
    st_error e;
    st_status st = st_mango_index_req_parse(st_json_doc_root(d), &rq, &e);
    st_json_doc_free(d);
    if (st != ST_OK) {
        st_resp_status(r, &e);
        return;
    }
    st_json_doc *cur = NULL;
    char rev[ST_REV_STR_MAX];
    st_buf body = ST_BUF_INIT;
    bool same = false;
    if (!ddoc_load(r, rq.ddoc, &cur, rev))
        goto out;
    if (st_mango_ddoc_add(&rq, cur ? st_json_doc_root(cur) : NULL, &body, &same, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    if (same) {
        st_buf b = ST_BUF_INIT;
        st_status s = st_buf_adds(&b, "{\"result\":\"exists\",\"id\":");
        if (s == ST_OK)
            s = st_json_quote(&b, rq.ddoc, strlen(rq.ddoc));
        if (s == ST_OK)
            s = st_buf_adds(&b, ",\"name\":");
        if (s == ST_OK)
            s = st_json_quote(&b, rq.name, strlen(rq.name));
        if (s == ST_OK)
            s = st_buf_addc(&b, '}');
        if (s == ST_OK)
            st_resp_json(r, 200, &b);
        else
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
        st_buf_free(&b);
        goto out;
    }
    index_write *x = index_write_new(rq.ddoc, rq.name, false);
    if (!x) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        goto out;
    }
    ddoc_write(r, rq.ddoc, rev, &body, x);
out:
    st_buf_free(&body);
    st_json_doc_free(cur);
    st_mango_index_req_clear(&rq);
}

/* Remove index name of design document ddoc (answer set either way). */
static void index_remove(st_req *r, const char *ddoc, const char *name)
{
    st_mango_index *v = NULL;
    size_t n = 0;
    st_error e;
    if (st_db_indexes(r->dbh, &v, &n, &e) != ST_OK) {
        st_resp_status(r, &e);
        return;
    }
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = strcmp(v[i].ddoc, ddoc) == 0 && strcmp(v[i].name, name) == 0;
    st_mango_indexes_free(v, n);
    st_json_doc *cur = NULL;
    char rev[ST_REV_STR_MAX];
    st_buf body = ST_BUF_INIT;
    bool del = false;
    if (!found) {
        st_resp_fail(r, ST_E_NOT_FOUND, "missing");
        return;
    }
    if (!ddoc_load(r, ddoc, &cur, rev))
        return;
    if (!cur) {
        st_resp_fail(r, ST_E_NOT_FOUND, "missing");
        return;
    }
    if (st_mango_ddoc_remove(st_json_doc_root(cur), name, &body, &del, &e) != ST_OK) {
        st_resp_status(r, &e);
    } else {
        index_write *x = index_write_new(ddoc, name, true);
        if (!x)
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
        else
            ddoc_write(r, ddoc, rev, del ? NULL : &body, x);
    }
    st_buf_free(&body);
    st_json_doc_free(cur);
}

/* DELETE /{db}/_index/[_design/]{ddoc}/json/{name}: the router captures
 * "_design/x" as the document, or "_index/x" without the prefix. */
void st_api_index_delete(st_req *r)
{
    const char *d = r->docid;
    char *ddoc = NULL;
    if (strncmp(d, "_index/", 7) == 0)
        d += 7;
    size_t n = strlen(d) + 9;
    if (!(ddoc = malloc(n))) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    snprintf(ddoc, n, "%s%s", strncmp(d, "_design/", 8) == 0 ? "" : "_design/", d);
    index_remove(r, ddoc, r->att);
    free(ddoc);
}

/* POST _index/_bulk_delete: every index of each design document named
 * goes with its design document; all of them in one write (one result
 * each), answered with what succeeded and what failed. */
typedef struct bulk_del {
    size_t n;
    char **ddocs;           /* "_design/..." per requested id */
    char **revs;            /* the winner to delete; NULL: no such index */
    st_write_req *reqs;     /* for the found ones */
    st_write_result *res;
    size_t n_reqs;
} bulk_del;

static void bulk_free(void *p)
{
    bulk_del *b = p;
    for (size_t i = 0; i < b->n; i++) {
        free(b->ddocs[i]);
        free(b->revs[i]);
    }
    if (b->res)
        st_write_results_free(b->res, b->n_reqs);
    free(b->ddocs);
    free(b->revs);
    free(b->reqs);
    free(b->res);
    free(b);
}

static st_status bulk_entry(st_buf *b, const char *id, bool ok)
{
    bool first = b->data[b->len - 1] == '[';
    st_status s = st_buf_adds(b, first ? "{\"id\":" : ",{\"id\":");
    if (s == ST_OK)
        s = st_json_quote(b, id, strlen(id));
    return s == ST_OK ? st_buf_adds(b, ok ? ",\"ok\":true}" : ",\"error\":\"not_found\"}") : s;
}

static void bulk_finish(st_req *r)
{
    bulk_del *b = r->async_ctx;
    if (r->async_st != ST_OK) {
        st_resp_status(r, &r->async_err);
        return;
    }
    st_buf ok = ST_BUF_INIT, bad = ST_BUF_INIT;
    st_status s = st_buf_adds(&ok, "{\"success\":[");
    if (s == ST_OK)
        s = st_buf_adds(&bad, "\"fail\":[");
    for (size_t i = 0, k = 0; s == ST_OK && i < b->n; i++) {
        bool done = b->revs[i] && b->res[k++].err.code == ST_OK;
        s = bulk_entry(done ? &ok : &bad, b->ddocs[i], done);
    }
    if (s == ST_OK)
        s = st_buf_adds(&ok, "],");
    if (s == ST_OK)
        s = st_buf_add(&ok, bad.data, bad.len);
    if (s == ST_OK)
        s = st_buf_adds(&ok, "]}");
    st_buf_free(&bad);
    if (s != ST_OK) {
        st_buf_free(&ok);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_resp_json(r, 200, &ok);
}

/* Fill b from the requested ids; false (answer set) on a failure. */
static bool bulk_prepare(st_req *r, const st_json *ids, bulk_del *b)
{
    st_mango_index *v = NULL;
    size_t n = 0;
    st_error e;
    if (st_db_indexes(r->dbh, &v, &n, &e) != ST_OK) {
        st_resp_status(r, &e);
        return false;
    }
    bool ok = true;
    b->n = ids->len;
    b->ddocs = calloc(b->n + 1, sizeof *b->ddocs);
    b->revs = calloc(b->n + 1, sizeof *b->revs);
    b->reqs = calloc(b->n + 1, sizeof *b->reqs);
    b->res = calloc(b->n + 1, sizeof *b->res);
    if (!b->ddocs || !b->revs || !b->reqs || !b->res)
        ok = false;
    for (size_t i = 0; ok && i < b->n; i++) {
        const char *id = ids->u.items[i].u.str;
        size_t len = strlen(id) + 9;
        if (!(b->ddocs[i] = malloc(len))) {
            ok = false;
            break;
        }
        snprintf(b->ddocs[i], len, "%s%s", strncmp(id, "_design/", 8) == 0 ? "" : "_design/", id);
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = strcmp(v[k].ddoc, b->ddocs[i]) == 0;
        for (size_t k = 0; k < i && found; k++)
            found = !b->revs[k] || strcmp(b->ddocs[k], b->ddocs[i]) != 0; /* once each */
        st_json_doc *cur = NULL;
        char rev[ST_REV_STR_MAX];
        if (found && !ddoc_load(r, b->ddocs[i], &cur, rev)) {
            st_mango_indexes_free(v, n);
            return false;
        }
        st_json_doc_free(cur);
        if (!found || !cur || !rev[0])
            continue;
        if (!(b->revs[i] = strdup(rev))) {
            ok = false;
            break;
        }
        b->reqs[b->n_reqs++] = (st_write_req){
            .id = b->ddocs[i], .rev = b->revs[i], .delete_doc = true, .user = &r->user};
    }
    st_mango_indexes_free(v, n);
    if (!ok)
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
    return ok;
}

void st_api_index_bulk_delete(st_req *r)
{
    st_json_doc *d = body_object(r);
    if (!d)
        return;
    const st_json *ids = st_json_get(st_json_doc_root(d), "docids");
    st_error e;
    bool ok = ids && ids->type == ST_JSON_ARRAY;
    for (size_t i = 0; ok && i < ids->len; i++)
        ok = ids->u.items[i].type == ST_JSON_STRING;
    if (!ids)
        st_fail_name(&e, ST_E_BAD_REQUEST, "missing_required_key",
                     "Missing required key: docids");
    else if (!ok)
        st_fail_name(&e, ST_E_BAD_REQUEST, "invalid_bulk_docs",
                     "Bulk Delete requires an array of non-null docids.");
    bulk_del *b = ok ? calloc(1, sizeof *b) : NULL;
    if (!ok) {
        st_resp_status(r, &e);
    } else if (!b) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
    } else if (!bulk_prepare(r, ids, b)) {
        bulk_free(b);
    } else {
        st_api_async_begin(r, b, bulk_free, bulk_finish);
        if (b->n_reqs == 0)
            st_api_async_done(r, ST_OK, NULL);
        else if (st_db_write_async(r->dbh, b->reqs, b->n_reqs, 0, b->res, st_api_async_done, r,
                                   &e) != ST_OK)
            st_api_async_failed(r, &e);
    }
    st_json_doc_free(d);
}
