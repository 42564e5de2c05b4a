/* api_view.c — GET/POST /{db}/_design/{ddoc}/_view/{view}, POST
 * .../_view/{view}/queries, GET /{db}/_design/{ddoc}/_info, POST
 * /{db}/_view_cleanup and POST /{db}/_compact/{ddoc}.
 *
 * Answers are CouchDB's: {"total_rows","offset"[,"update_seq"],"rows"}
 * for map rows, {["update_seq",]"rows"} for reduce rows, {"results":[..]}
 * for several queries.  The index is brought up to date before the ETag
 * is made (update=true), so the ETag — an md5 of the index's signature and
 * sequence, the database's sequence when documents are included, and the
 * request's parameters — names exactly what the answer shows, and a
 * client revalidating with If-None-Match gets a 304 while nothing changed.
 *
 * Why the first piece is made before answering: an error in it (a reduce
 * that fails, _stats over strings) still gets its status; after the first
 * piece the answer streams (stream.h), a page at a time, and a later
 * error can only cut it short.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "api.h"
#include "log.h"
#include "st_hex.h"
#include "st_view.h"
#include "stream.h"
#include "view_jobs.h"
#include "view_params.h"

#define MAX_QUERIES 256

typedef struct vquery {
    st_view_params p;
    st_vp_store store;
    bool reducing;
} vquery;

typedef struct vstream {
    st_server *srv;
    st_db *db;                  /* the request's reference, taken */
    st_view *v;
    st_json_doc *body;          /* values the parameters point into */
    vquery *q;
    size_t nq, qi;
    bool multi;                 /* {"results":[...]} */
    bool begun;                 /* the envelope is open */
    bool q_open;                /* query qi's object is open */
    bool any_row;
    st_view_cursor cur;
    uint64_t seq;               /* the index's sequence for update_seq */
    st_buf *out;
    size_t want;
    st_status st;
    st_error err;               /* what a failed query said */
    st_buf first;               /* the piece made before answering */
    bool first_done;
    bool first_taken;
} vstream;

static void vs_free(void *ctx)
{
    vstream *s = ctx;
    st_view_close(s->v);
    st_catalog_put(s->srv->cat, s->db);
    for (size_t i = 0; i < s->nq; i++)
        st_view_params_store_free(&s->q[i].store);
    free(s->q);
    st_json_doc_free(s->body);
    st_view_cursor_free(&s->cur);
    st_buf_free(&s->first);
    free(s);
}

/* ---- rows ------------------------------------------------------------------ */

static void head(void *ctx, uint64_t total, uint64_t offset)
{
    vstream *s = ctx;
    st_status st = st_buf_printf(s->out, "{\"total_rows\":%" PRIu64 ",\"offset\":%" PRIu64 ",",
                                 total, offset);
    if (st == ST_OK && s->q[s->qi].p.update_seq)
        st = st_buf_printf(s->out, "\"update_seq\":%" PRIu64 ",", s->seq);
    if (st == ST_OK)
        st = st_buf_adds(s->out, "\"rows\":[\n");
    if (st != ST_OK)
        s->st = st;
}

static int row(void *ctx, const st_view_row *v)
{
    vstream *s = ctx;
    st_jw w;
    st_status st = s->any_row ? st_buf_adds(s->out, ",\n") : ST_OK;
    if (st == ST_OK)
        st = st_jw_init(&w, s->out);
    if (st != ST_OK) {
        s->st = st;
        return 1;
    }
    st_jw_obj_open(&w);
    if (v->id) {
        st_jw_key(&w, "id");
        st_jw_str(&w, v->id);
    }
    st_jw_key(&w, "key");
    st_jw_raw(&w, v->key, v->key_len);
    st_jw_key(&w, "value");
    st_jw_raw(&w, v->value, v->value_len);
    if (v->has_doc) {
        st_jw_key(&w, "doc");
        if (v->doc)
            st_jw_raw(&w, v->doc, v->doc_len);
        else
            st_jw_null(&w);
    }
    st_jw_obj_close(&w);
    s->st = st_jw_status(&w);
    st_jw_free(&w);
    s->any_row = true;
    return s->st != ST_OK || s->out->len >= s->want;
}

/* Append the next part of the answer (about want bytes). */
static st_status produce(vstream *s, st_buf *out, size_t want, bool *done)
{
    s->out = out;
    s->want = want;
    s->st = ST_OK;
    st_error e;
    st_status st = ST_OK;
    if (!s->begun) {
        s->begun = true;
        if (s->multi && (st = st_buf_adds(out, "{\"results\":[\n")) != ST_OK)
            return st;
    }
    while (st == ST_OK && out->len < want) {
        if (s->qi == s->nq) {
            *done = true;
            return s->multi ? st_buf_adds(out, "\n]}\n") : ST_OK;
        }
        vquery *q = &s->q[s->qi];
        if (!s->q_open) {
            s->q_open = true;
            s->any_row = false;
            st_view_cursor_free(&s->cur);
            st_view_cursor_init(&s->cur);
            if (s->multi && s->qi > 0 && (st = st_buf_adds(out, ",\n")) != ST_OK)
                break;
            if (q->reducing && q->p.update_seq)
                st = st_buf_printf(out, "{\"update_seq\":%" PRIu64 ",\"rows\":[\n", s->seq);
            else if (q->reducing)
                st = st_buf_adds(out, "{\"rows\":[\n");
            if (st != ST_OK)
                break;
        }
        st_view_sink sink = {head, row, s};
        if ((st = st_view_query(s->v, &q->p, &s->cur, &sink, &e)) != ST_OK) {
            s->err = e;
            break;
        }
        if ((st = s->st) != ST_OK) {
            st_fail(&s->err, st, "out of memory");
            break;
        }
        if (s->cur.done) {
            st = st_buf_adds(out, s->any_row ? "\n]}" : "]}");
            if (st == ST_OK && !s->multi)
                st = st_buf_addc(out, '\n');
            s->q_open = false;
            s->qi++;
        }
    }
    return st;
}

static st_status vs_next(void *ctx, st_buf *out, size_t want, bool *done)
{
    vstream *s = ctx;
    if (!s->first_taken) {
        s->first_taken = true;
        st_status st = st_buf_add(out, s->first.data ? s->first.data : "", s->first.len);
        st_buf_free(&s->first);
        if (s->first_done || st != ST_OK) {
            *done = s->first_done;
            return st;
        }
        if (out->len >= want)
            return ST_OK;
    }
    return produce(s, out, want, done);
}

static const st_stream_ops vs_ops = {vs_next, vs_free};

/* ---- the request ------------------------------------------------------------ */

/* The view name and whether the path ends in /queries. */
static bool view_path(st_req *r, char *name, size_t cap, bool *queries)
{
    const char *att = r->att ? r->att : "";
    const char *slash = strchr(att, '/');
    *queries = false;
    if (slash) {
        if (strcmp(slash + 1, "queries") != 0)
            return false;
        *queries = true;
    }
    size_t n = slash ? (size_t)(slash - att) : strlen(att);
    if (n == 0 || n >= cap)
        return false;
    memcpy(name, att, n);
    name[n] = '\0';
    return true;
}

static void etag_of(vstream *s, st_req *r, char out[37])
{
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char num[64];
    bool docs = false;
    for (size_t i = 0; i < s->nq; i++)
        docs = docs || s->q[i].p.include_docs;
    snprintf(num, sizeof num, "%" PRIu64 "/%" PRIu64, s->seq, docs ? st_db_update_seq(s->db) : 0);
    if (md && EVP_DigestInit_ex(md, EVP_md5(), NULL) == 1) {
        const char *sig = st_view_sig(s->v);
        EVP_DigestUpdate(md, sig, strlen(sig));
        EVP_DigestUpdate(md, num, strlen(num) + 1);
        EVP_DigestUpdate(md, r->uri, strlen(r->uri) + 1);
        if (r->method == ST_M_POST && r->body.len)
            EVP_DigestUpdate(md, r->body.data, r->body.len);
        EVP_DigestFinal_ex(md, h, &hl);
    } else {
        memset(h, 0, 16);
    }
    EVP_MD_CTX_free(md);
    out[0] = '"';
    st_hex_encode(h, 16, out + 1);
    out[33] = '"';
    out[34] = '\0';
}

/* Parameters of every query: the query string, then the body's members
 * (one query) or each element of `queries`. */
static bool parse_queries(st_req *r, vstream *s, bool queries_path)
{
    const st_json *body = s->body ? st_json_doc_root(s->body) : NULL;
    const st_json *queries = body ? st_json_get(body, "queries") : NULL;
    if (queries_path && !queries) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "POST body must include `queries` parameter.");
        return false;
    }
    if (!queries_path && queries) {
        st_resp_fail(r, ST_E_BAD_REQUEST,
                     "`queries` is only supported on POST .../_view/{view}/queries");
        return false;
    }
    if (queries && (queries->type != ST_JSON_ARRAY || queries->len > MAX_QUERIES)) {
        st_resp_fail(r, ST_E_BAD_REQUEST, queries->type != ST_JSON_ARRAY
                                              ? "`queries` member must be an array."
                                              : "Too many queries.");
        return false;
    }
    s->multi = queries != NULL;
    s->nq = queries ? queries->len : 1;
    if (!(s->q = calloc(s->nq ? s->nq : 1, sizeof *s->q))) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return false;
    }
    for (size_t i = 0; i < s->nq; i++) {
        vquery *q = &s->q[i];
        st_view_params_init(&q->p);
        if (!st_view_params_query(r, &q->p, &q->store))
            return false;
        const st_json *obj = queries ? &queries->u.items[i] : body;
        if (queries && obj->type != ST_JSON_OBJECT) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "Each query must be a JSON object.");
            return false;
        }
        if (obj && !st_view_params_json(r, obj, &q->p, &q->store))
            return false;
        st_view_params_finish(&q->p, &q->store);
    }
    return true;
}

void st_api_view(st_req *r)
{
    char name[512];
    bool queries = false;
    st_error e;
    if (!view_path(r, name, sizeof name, &queries)) {
        st_resp_fail(r, ST_E_NOT_FOUND, "missing");
        return;
    }
    if (queries && r->method != ST_M_POST) {
        st_resp_method_not_allowed(r, ST_M_POST);
        return;
    }
    if (r->method == ST_M_POST && !st_req_require_json_ctype(r, false))
        return;
    vstream *s = calloc(1, sizeof *s);
    if (!s) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    s->srv = r->srv;
    st_buf_init(&s->first, 0);
    st_view_cursor_init(&s->cur);
    if (r->method == ST_M_POST) {
        if (!st_req_json(r, 0, &s->body))
            goto fail;
        if (st_json_doc_root(s->body)->type != ST_JSON_OBJECT) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "Request body must be a JSON object");
            goto fail;
        }
    }
    if (!parse_queries(r, s, queries))
        goto fail;
    if (st_view_open(r->srv->views, r->dbh, r->docid, name, &s->v, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto fail;
    }
    bool update = false, lazy = false;
    for (size_t i = 0; i < s->nq; i++) {
        vquery *q = &s->q[i];
        if (st_view_params_check(s->v, &q->p, &e) != ST_OK) {
            st_resp_status(r, &e);
            goto fail;
        }
        q->reducing = st_view_params_reducing(s->v, &q->p);
        update = update || q->p.update == ST_VIEW_UPDATE_TRUE;
        lazy = lazy || q->p.update == ST_VIEW_UPDATE_LAZY;
    }
    if (update && st_view_update(s->v, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto fail;
    }
    if (lazy && !st_vjobs_add(r->srv->vjobs, ST_VJOB_UPDATE, r->db, r->docid, name))
        st_log(ST_LOG_WARN, "cannot queue the lazy update of %s/%s", r->db, r->docid);
    s->db = r->dbh;
    r->dbh = NULL; /* the stream holds the reference until MHD is done */
    s->seq = st_view_seq(s->v);
    char etag[37];
    etag_of(s, r, etag);
    const char *inm = st_req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && strcmp(inm, etag) == 0) {
        st_resp_text(r, 304, NULL, "");
        st_resp_header(r, MHD_HTTP_HEADER_ETAG, etag);
        vs_free(s);
        return;
    }
    bool done = false;
    if (produce(s, &s->first, ST_STREAM_PIECE, &done) != ST_OK) {
        st_resp_status(r, &s->err);
        vs_free(s);
        return;
    }
    s->first_done = done;
    if (done) {
        st_buf b = s->first;
        st_buf_init(&s->first, 0);
        st_resp_json(r, 200, &b);
        st_buf_free(&b);
        st_resp_header(r, MHD_HTTP_HEADER_ETAG, etag);
        vs_free(s);
        return;
    }
    if (st_resp_stream(r, 200, "application/json", &vs_ops, s))
        st_resp_header(r, MHD_HTTP_HEADER_ETAG, etag);
    return;
fail:
    vs_free(s); /* s->db is NULL: the request still holds its database */
}

/* ---- _info, _view_cleanup, _compact/{ddoc} ----------------------------------- */

void st_api_view_info(st_req *r)
{
    st_view_info info;
    st_error e;
    if (st_view_info_get(r->srv->views, r->dbh, r->docid, &info, &e) != ST_OK) {
        st_resp_status(r, &e);
        return;
    }
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (st_jw_init(&w, &b) != ST_OK) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_jw_obj_open(&w);
    st_jw_key(&w, "name");
    st_jw_str(&w, r->docid + 8); /* after "_design/" */
    st_jw_key(&w, "view_index");
    st_jw_obj_open(&w);
    st_jw_key(&w, "updates_pending");
    st_jw_obj_open(&w);
    st_jw_key(&w, "minimum");
    st_jw_uint(&w, info.pending);
    st_jw_key(&w, "preferred");
    st_jw_uint(&w, info.pending);
    st_jw_key(&w, "total");
    st_jw_uint(&w, info.pending);
    st_jw_obj_close(&w);
    st_jw_key(&w, "waiting_commit");
    st_jw_bool(&w, false);
    st_jw_key(&w, "waiting_clients");
    st_jw_uint(&w, info.waiting_clients);
    st_jw_key(&w, "updater_running");
    st_jw_bool(&w, info.updater_running);
    st_jw_key(&w, "update_seq");
    st_jw_uint(&w, info.update_seq);
    st_jw_key(&w, "sizes");
    st_jw_obj_open(&w);
    st_jw_key(&w, "file");
    st_jw_uint(&w, info.size_file);
    st_jw_key(&w, "external");
    st_jw_uint(&w, info.size_external ? info.size_external : info.size_active);
    st_jw_key(&w, "active");
    st_jw_uint(&w, info.size_active);
    st_jw_obj_close(&w);
    st_jw_key(&w, "signature");
    st_jw_str(&w, info.sig);
    st_jw_key(&w, "purge_seq");
    st_jw_uint(&w, info.purge_seq);
    st_jw_key(&w, "language");
    st_jw_str(&w, info.language);
    st_jw_key(&w, "compact_running");
    st_jw_bool(&w, info.compact_running);
    st_jw_key(&w, "collator_versions");
    st_jw_arr_open(&w);
    st_jw_str(&w, info.collator);
    st_jw_arr_close(&w);
    st_jw_obj_close(&w);
    st_jw_obj_close(&w);
    if (st_jw_status(&w) != ST_OK) {
        st_resp_jw_failed(r, &w);
    } else {
        st_resp_json(r, 200, &b);
    }
    st_jw_free(&w);
    st_buf_free(&b);
}

void st_api_view_cleanup(st_req *r)
{
    if (!st_req_require_json_ctype(r, false))
        return;
    if (!st_vjobs_add(r->srv->vjobs, ST_VJOB_CLEANUP, r->db, NULL, NULL)) {
        st_resp_fail(r, ST_E_BUSY, "Too many view jobs are waiting; try again later.");
        return;
    }
    st_resp_ok(r, 202);
}

void st_api_view_compact(st_req *r)
{
    if (!st_req_require_json_ctype(r, false))
        return;
    char id[600];
    if (!r->att || strchr(r->att, '/') || snprintf(id, sizeof id, "_design/%s", r->att) >=
                                               (int)sizeof id) {
        st_resp_fail(r, ST_E_NOT_FOUND, "missing");
        return;
    }
    st_buf b = ST_BUF_INIT;
    st_error e;
    st_status st = st_db_get(r->dbh, id, NULL, &b, &e);
    st_buf_free(&b);
    if (st != ST_OK) {
        st_resp_status(r, &e);
        return;
    }
    if (!st_vjobs_add(r->srv->vjobs, ST_VJOB_COMPACT, r->db, id, NULL)) {
        st_resp_fail(r, ST_E_BUSY, "Too many view jobs are waiting; try again later.");
        return;
    }
    st_resp_ok(r, 202);
}
