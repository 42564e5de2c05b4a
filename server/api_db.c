/* api_db.c — database endpoints: PUT/GET/HEAD/DELETE/POST /{db},
 * _ensure_full_commit, _compact, _purge, _revs_limit,
 * _security; plus the helpers every db-scoped handler uses. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "st_pct.h"
#include "log.h"
#include "users_db.h"

/* Percent-encode for a URL path segment. */
static st_status add_encoded(st_buf *b, const char *s)
{
    return st_pct_encode(b, s, strlen(s), "-_.~$()+");
}

void st_api_location(st_req *r, const char *docid)
{
    st_buf b = ST_BUF_INIT;
    const char *host = st_req_header(r, MHD_HTTP_HEADER_HOST);
    st_status s = st_buf_printf(&b, "http://%s/", host ? host : "127.0.0.1");
    if (s == ST_OK)
        s = add_encoded(&b, r->db);
    if (s == ST_OK && docid) {
        s = st_buf_addc(&b, '/');
        /* _design/x and _local/x keep their slash, as CouchDB writes them */
        if (s == ST_OK && (strncmp(docid, "_design/", 8) == 0 || strncmp(docid, "_local/", 7) == 0)) {
            const char *slash = strchr(docid, '/');
            s = st_buf_add(&b, docid, (size_t)(slash - docid) + 1);
            docid = slash + 1;
        }
        if (s == ST_OK)
            s = add_encoded(&b, docid);
    }
    if (s == ST_OK)
        st_resp_header(r, MHD_HTTP_HEADER_LOCATION, b.data);
    st_buf_free(&b);
}

void st_api_db_put(st_req *r)
{
    st_error e;
    const char *sec = r->srv->cfg->auth.default_admin_only ? ST_SECURITY_ADMIN_ONLY : NULL;
    if (st_catalog_create(r->srv->cat, r->db, sec, &e) != ST_OK) {
        st_resp_status(r, &e);
        return;
    }
    st_log(ST_LOG_NOTICE, "created database %s", r->db);
    st_resp_ok(r, 201);
    st_api_location(r, NULL);
}

void st_api_db_delete(st_req *r)
{
    st_error e;
    if (st_req_q(r, "rev")) {
        st_resp_fail(r, ST_E_BAD_REQUEST,
                      "You tried to DELETE a database with a ?=rev parameter. Did you mean to "
                      "DELETE a document instead?");
        return;
    }
    if (st_catalog_delete(r->srv->cat, r->db, &e) != ST_OK) {
        st_resp_status(r, &e);
        return;
    }
    st_log(ST_LOG_NOTICE, "deleted database %s", r->db);
    st_resp_ok(r, 200);
}

void st_api_db_get(st_req *r)
{
    st_db_info info;
    st_error e;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_db *db = r->dbh;
    if (st_db_info_get(db, &info, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    if (st_jw_init(&w, &b) != ST_OK) {
        st_resp_jw_failed(r, &w);
        goto out;
    }
    st_jw_obj_open(&w);
    st_jw_key(&w, "db_name");
    st_jw_str(&w, st_db_name(db));
    st_jw_key(&w, "purge_seq");
    st_jw_uint(&w, info.purge_seq);
    st_jw_key(&w, "update_seq");
    st_jw_uint(&w, info.update_seq);
    st_jw_key(&w, "sizes");
    st_jw_obj_open(&w);
    st_jw_key(&w, "file");
    st_jw_uint(&w, info.size_file);
    st_jw_key(&w, "external");
    st_jw_uint(&w, info.size_external);
    st_jw_key(&w, "active");
    st_jw_uint(&w, info.size_active);
    st_jw_obj_close(&w);
    st_jw_key(&w, "props");
    st_jw_obj_open(&w);
    st_jw_obj_close(&w);
    st_jw_key(&w, "doc_del_count");
    st_jw_uint(&w, info.doc_del_count);
    st_jw_key(&w, "doc_count");
    st_jw_uint(&w, info.doc_count);
    st_jw_key(&w, "disk_format_version");
    st_jw_int(&w, 8);
    st_jw_key(&w, "compact_running");
    st_jw_bool(&w, info.compact_running);
    st_jw_key(&w, "cluster");
    st_jw_obj_open(&w);
    st_jw_key(&w, "q");
    st_jw_int(&w, 1);
    st_jw_key(&w, "n");
    st_jw_int(&w, 1);
    st_jw_key(&w, "w");
    st_jw_int(&w, 1);
    st_jw_key(&w, "r");
    st_jw_int(&w, 1);
    st_jw_obj_close(&w);
    st_jw_key(&w, "instance_start_time");
    st_jw_str(&w, info.instance_start_time);
    st_jw_obj_close(&w);
    if (st_jw_status(&w) != ST_OK)
        st_resp_jw_failed(r, &w);
    else
        st_resp_json(r, 200, &b);
    st_jw_free(&w);
out:
    st_buf_free(&b);
}

/* {"ok":true,"id":..,"rev":..} + ETag (+ Location on create). */
void st_api_write_ok(st_req *r, unsigned status, const char *id, const char *rev, bool location)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (!st_resp_jw_open(r, &w, &b))
        return;
    st_jw_obj_open(&w);
    st_jw_key(&w, "ok");
    st_jw_bool(&w, true);
    st_jw_key(&w, "id");
    st_jw_str(&w, id);
    st_jw_key(&w, "rev");
    st_jw_str(&w, rev);
    st_jw_obj_close(&w);
    bool ok = st_jw_status(&w) == ST_OK;
    st_resp_jw_close(r, &w, &b, status);
    if (!ok)
        return;
    char etag[ST_REV_STR_MAX + 3];
    snprintf(etag, sizeof etag, "\"%s\"", rev);
    st_resp_header(r, MHD_HTTP_HEADER_ETAG, etag);
    if (location)
        st_api_location(r, id);
}

const char *st_api_write_rev(st_req *r, char *buf, size_t cap)
{
    const char *rev = st_req_q(r, "rev");
    if (rev)
        return rev;
    const char *im = st_req_header(r, MHD_HTTP_HEADER_IF_MATCH);
    if (!im)
        return NULL;
    size_t n = strlen(im);
    if (n >= 2 && im[0] == '"' && im[n - 1] == '"') {
        im++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, im, n);
    buf[n] = '\0';
    return buf;
}

/* A single-document write in flight (POST /db, PUT/DELETE /db/doc, the
 * attachment and _local forms): what the request points into lives here
 * until the answer is built. */
void st_api_one_free(void *p)
{
    st_api_one *c = p;
    if (!c)
        return;
    st_write_results_free(&c->res, 1);
    if (c->free_extra)
        c->free_extra(c);
    st_json_doc_free(c->doc);
    st_json_doc_free(c->hashed);
    free(c);
}

bool st_api_one_submit(st_req *r, st_api_one *c, void (*finish)(st_req *r))
{
    st_error e;
    c->req.user = &r->user;
    const char *id = c->req.id ? c->req.id : c->req.doc ? st_json_get_str(c->req.doc, "_id") : NULL;
    if (!st_usersdb_may_write(r, id)) {
        st_api_one_free(c);
        return false;
    }
    if (st_usersdb_is(r->srv, r->db) && c->req.doc) {
        if (st_usersdb_hash(r->srv, c->req.doc, &c->hashed, &e) != ST_OK) {
            st_resp_status(r, &e);
            st_api_one_free(c);
            return false;
        }
        if (c->hashed)
            c->req.doc = st_json_doc_root(c->hashed);
    }
    st_api_async_begin(r, c, st_api_one_free, finish);
    if (st_db_write_async(r->dbh, &c->req, 1, c->flags, &c->res, st_api_async_done, r, &e) !=
        ST_OK)
        st_api_async_failed(r, &e);
    return true;
}

bool st_api_one_failed(st_req *r)
{
    st_api_one *c = r->async_ctx;
    if (r->async_st != ST_OK) {
        st_resp_status(r, &r->async_err);
        return true;
    }
    if (c->res.err.code != ST_OK) {
        st_resp_status(r, &c->res.err);
        return true;
    }
    return false;
}

static void post_finish(st_req *r)
{
    st_api_one *c = r->async_ctx;
    if (st_api_one_failed(r))
        return;
    bool batch = st_req_q(r, "batch") && strcmp(st_req_q(r, "batch"), "ok") == 0;
    st_api_write_ok(r, batch ? 202 : 201, c->res.id, c->res.rev, true);
}

void st_api_db_post(st_req *r)
{
    if (!st_req_require_json_ctype(r, false))
        return;
    st_api_one *c = calloc(1, sizeof *c);
    if (!c) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    if (!st_req_json(r, r->srv->cfg->max_document_size, &c->doc)) {
        st_api_one_free(c);
        return;
    }
    if (st_json_doc_root(c->doc)->type != ST_JSON_OBJECT) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "Document must be a JSON object");
        st_api_one_free(c);
        return;
    }
    c->req.doc = st_json_doc_root(c->doc);
    st_api_one_submit(r, c, post_finish);
}

/* ----------------------------------------------------------- maintenance */

void st_api_ensure_full_commit(st_req *r)
{
    st_db_info info;
    st_error e;
    char body[128];
    if (!st_req_require_json_ctype(r, true))
        return;
    st_db *db = r->dbh;
    /* Every acknowledged write is already committed; this only reports the
     * instance start time, which tells a replicator whether we restarted. */
    if (st_db_info_get(db, &info, &e) != ST_OK) {
        st_resp_status(r, &e);
    } else {
        snprintf(body, sizeof body, "{\"ok\":true,\"instance_start_time\":\"%s\"}\n",
                 info.instance_start_time);
        st_resp_text(r, 201, "application/json", body);
        st_resp_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "must-revalidate");
    }
}

void st_api_compact(st_req *r)
{
    st_error e;
    if (!st_req_require_json_ctype(r, true))
        return;
    if (r->n_segs > 2) { /* _compact/ddoc: views do not exist here */
        st_resp_fail(r, ST_E_NOT_FOUND, "missing");
        return;
    }
    /* Background, in slices on the database's writer (core/maint.c); a
     * second request while one runs is a no-op, as CouchDB's. */
    if (st_db_compact_start(r->dbh, &e) != ST_OK)
        st_resp_status(r, &e);
    else
        st_resp_ok(r, 202);
}

void st_api_revs_limit_get(st_req *r)
{
    unsigned limit = 0;
    st_error e;
    char body[32];
    st_db *db = r->dbh;
    if (st_db_revs_limit_get(db, &limit, &e) != ST_OK) {
        st_resp_status(r, &e);
    } else {
        snprintf(body, sizeof body, "%u\n", limit);
        st_resp_text(r, 200, "application/json", body);
        st_resp_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "must-revalidate");
    }
}

static void revs_limit_finish(st_req *r)
{
    if (r->async_st != ST_OK)
        st_resp_status(r, &r->async_err);
    else
        st_resp_ok(r, 200);
}

void st_api_revs_limit_put(st_req *r)
{
    st_json_doc *d = NULL;
    st_error e;
    uint64_t v = 0;
    if (!st_req_json(r, 64, &d))
        return;
    if (!st_json_uint64(st_json_doc_root(d), &v) || v == 0 || v > 1000000) {
        st_json_doc_free(d);
        st_resp_fail(r, ST_E_BAD_REQUEST, "Rev limit has to be an integer");
        return;
    }
    st_json_doc_free(d);
    st_api_async_begin(r, NULL, NULL, revs_limit_finish);
    if (st_db_revs_limit_set_async(r->dbh, (unsigned)v, st_api_async_done, r, &e) != ST_OK)
        st_api_async_failed(r, &e);
}

void st_api_security_get(st_req *r)
{
    st_security *sec = st_db_security(r->dbh);
    size_t len = 0;
    const char *j = st_security_json(sec, &len);
    st_buf b = ST_BUF_INIT;
    st_status s = st_buf_add(&b, j, len);
    if (s == ST_OK)
        s = st_buf_addc(&b, '\n');
    st_security_release(sec);
    if (s != ST_OK) {
        st_buf_free(&b);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_resp_json(r, 200, &b);
}

static void security_finish(st_req *r)
{
    if (r->async_st != ST_OK)
        st_resp_status(r, &r->async_err);
    else
        st_resp_ok(r, 200);
}

void st_api_security_put(st_req *r)
{
    st_error e;
    if (st_usersdb_is(r->srv, r->db) && !r->srv->cfg->auth.users_db_security_editable) {
        st_resp_fail(r, ST_E_FORBIDDEN,
                     "You can't edit the security object of the user database.");
        return;
    }
    if (!st_req_require_json_ctype(r, true))
        return;
    if (r->body.len > ST_SECURITY_MAX_BYTES) {
        st_resp_fail(r, ST_E_TOO_LARGE, "the security object is too large");
        return;
    }
    st_api_async_begin(r, NULL, NULL, security_finish);
    if (st_db_security_set_async(r->dbh, r->body.data ? r->body.data : "", r->body.len,
                                 st_api_async_done, r, &e) != ST_OK)
        st_api_async_failed(r, &e);
}
