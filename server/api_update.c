/* api_update.c — update handlers: POST/PUT
 * /{db}/_design/{ddoc}/_update/{name}[/{docid}] (couch_mrview_show's
 * handle_doc_update_req).
 *
 * updates.<name>(doc, req) runs in the query server with the document
 * (null when there is no docid or no such document) and the request
 * object (js_req.h).  It answers [doc, response]: a document object is
 * saved — as the requester, so validate_doc_update applies — and the
 * answer is 201 with X-Couch-Update-NewRev and X-Couch-Id; otherwise 200.
 * The response object gives code, headers and one of body (text, default
 * text/html; charset=utf-8), json (application/json) or base64 (bytes,
 * application/binary).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "js_req.h"
#include "st_base64.h"
#include "st_ddoc.h"
#include "st_pct.h"
#include "st_qs.h"

typedef struct upd {
    st_qs_answer ans;           /* ["up", doc, response]; owns them */
    const st_json *resp;
} upd;

static void upd_free(st_api_one *c)
{
    upd *u = c->extra;
    if (u) {
        st_qs_answer_free(&u->ans);
        free(u);
    }
    c->extra = NULL;
}

/* The handler's response object, with code unless it sets one. */
static void respond(st_req *r, const st_json *resp, unsigned code, const char *new_rev,
                    const char *new_id)
{
    const st_json *c = st_json_get(resp, "code");
    int64_t n = 0;
    if (c && st_json_int64(c, &n) && n >= 100 && n <= 599)
        code = (unsigned)n;
    st_buf b = ST_BUF_INIT;
    const char *ctype = "text/html; charset=utf-8";
    const st_json *body = st_json_get(resp, "body"), *json = st_json_get(resp, "json"),
                  *b64 = st_json_get(resp, "base64");
    st_status st = ST_OK;
    if (json) {
        st_jw w;
        if ((st = st_jw_init(&w, &b)) == ST_OK) {
            st_jw_value(&w, json);
            st = st_jw_status(&w);
            st_jw_free(&w);
        }
        ctype = "application/json";
    } else if (b64 && b64->type == ST_JSON_STRING) {
        st = st_base64_decode_to(&b, b64->u.str, b64->len);
        ctype = "application/binary";
    } else if (body && body->type == ST_JSON_STRING) {
        st = st_buf_add(&b, body->u.str, body->len);
    }
    if (st != ST_OK) {
        st_buf_free(&b);
        st_resp_fail(r, st == ST_E_BAD_REQUEST ? ST_E_BAD_REQUEST : ST_E_NOMEM,
                     st == ST_E_BAD_REQUEST ? "bad base64 in the update response" : "out of memory");
        return;
    }
    const st_json *hdrs = st_json_get(resp, "headers");
    const char *ct = st_json_get_str(hdrs, "Content-Type");
    st_resp_buf(r, code, ct ? ct : ctype, &b);
    st_buf_free(&b);
    for (size_t i = 0; hdrs && hdrs->type == ST_JSON_OBJECT && i < hdrs->len; i++) {
        const st_json_member *m = &hdrs->u.members[i];
        if (m->value.type == ST_JSON_STRING && strcasecmp(m->key, "Content-Type") != 0)
            st_resp_header(r, m->key, m->value.u.str);
    }
    if (new_rev) {
        st_resp_header(r, "X-Couch-Update-NewRev", new_rev);
        st_buf id = ST_BUF_INIT;
        if (st_pct_encode(&id, new_id, strlen(new_id), "-_.~") == ST_OK)
            st_resp_header(r, "X-Couch-Id", id.data ? id.data : "");
        st_buf_free(&id);
    }
}

static void update_finish(st_req *r)
{
    st_api_one *c = r->async_ctx;
    if (st_api_one_failed(r))
        return;
    upd *u = c->extra;
    respond(r, u->resp, 201, c->res.rev, c->res.id);
}

static bool load_doc(st_req *r, const char *docid, st_buf *out)
{
    st_get_opts o = {.conflicts = true};
    st_error e;
    st_status st = st_db_get(r->dbh, docid, &o, out, &e);
    if (st == ST_OK)
        return true;
    if (st == ST_E_NOT_FOUND) {
        st_buf_reset(out);
        return true;
    }
    st_resp_status(r, &e);
    return false;
}

void st_api_update(st_req *r)
{
    const char *att = r->att ? r->att : "";
    const char *slash = strchr(att, '/');
    char name[512];
    size_t nl = slash ? (size_t)(slash - att) : strlen(att);
    if (nl == 0 || nl >= sizeof name) {
        st_resp_fail(r, ST_E_NOT_FOUND, "Invalid path.");
        return;
    }
    memcpy(name, att, nl);
    name[nl] = '\0';
    const char *docid = slash && slash[1] ? slash + 1 : NULL;
    st_buf dd = ST_BUF_INIT, doc = ST_BUF_INIT, req = ST_BUF_INIT;
    st_ddoc *d = NULL;
    st_qs_proc *p = NULL;
    upd *u = NULL;
    st_error e;
    if (st_db_get(r->dbh, r->docid, NULL, &dd, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    if (st_ddoc_parse(dd.data, dd.len, &d, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    const char *path[] = {"updates", name};
    if (!st_ddoc_path(d, path, 2, NULL)) {
        char reason[ST_REASON_MAX];
        snprintf(reason, sizeof reason, "missing updates function %.80s on design doc %.120s",
                 name, r->docid);
        st_resp_fail(r, ST_E_NOT_FOUND, reason);
        goto out;
    }
    if ((docid && !load_doc(r, docid, &doc)) ||
        st_js_req(r, docid, false, &req, &e) != ST_OK) {
        if (!r->resp)
            st_resp_status(r, &e);
        goto out;
    }
    char key[600];
    snprintf(key, sizeof key, "%s@%s", st_ddoc_id(d), st_ddoc_rev(d));
    size_t jl = 0;
    const char *dj = st_ddoc_json(d, &jl);
    if (!(u = calloc(1, sizeof *u))) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        goto out;
    }
    if (st_qs_checkout(r->srv->qs, st_ddoc_language(d), key, &p, &e) != ST_OK ||
        st_qs_ddoc_prepare(p, st_ddoc_id(d), key, dj, jl, &e) != ST_OK ||
        st_qs_update(p, st_ddoc_id(d), name, doc.len ? doc.data : NULL, req.data, &u->ans, &e) !=
            ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    st_qs_checkin(p);
    p = NULL;
    const st_json *newdoc = &u->ans.value->u.items[1];
    u->resp = &u->ans.value->u.items[2];
    if (newdoc->type != ST_JSON_OBJECT) {
        respond(r, u->resp, 200, NULL, NULL);
        goto out;
    }
    st_api_one *c = calloc(1, sizeof *c);
    if (!c) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        goto out;
    }
    c->req.doc = newdoc;
    c->extra = u;
    c->free_extra = upd_free;
    u = NULL; /* the write owns it now */
    st_api_one_submit(r, c, update_finish);
out:
    st_qs_checkin(p);
    if (u) {
        st_qs_answer_free(&u->ans);
        free(u);
    }
    st_ddoc_release(d);
    st_buf_free(&dd);
    st_buf_free(&doc);
    st_buf_free(&req);
}
