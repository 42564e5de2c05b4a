/* api_doc.c — documents: GET/HEAD/PUT/DELETE /{db}/{docid} (and
 * _design/ ids), the multipart forms replicators use, and _local docs.
 *
 * Why reads copy the view before answering: st_db_get_view hands us
 * borrowed data inside a callback, and multipart answers need a second
 * storage call per attachment; making that call from inside the callback
 * would hold one pooled reader while asking for another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "st_buf.h"
#include "api.h"
#include "st_gzip.h"
#include "log.h"
#include "multipart.h"

/* ---- query options */

bool st_api_get_opts(st_req *r, st_get_opts *o, st_get_store *store)
{
    bool meta = false, attachments = false;
    memset(o, 0, sizeof *o);
    memset(store, 0, sizeof *store);
    o->rev = st_req_q(r, "rev");
    if (!st_req_qbool(r, "revs", false, &o->revs) ||
        !st_req_qbool(r, "revs_info", false, &o->revs_info) ||
        !st_req_qbool(r, "conflicts", false, &o->conflicts) ||
        !st_req_qbool(r, "deleted_conflicts", false, &o->deleted_conflicts) ||
        !st_req_qbool(r, "local_seq", false, &o->local_seq) ||
        !st_req_qbool(r, "latest", false, &o->latest) ||
        !st_req_qbool(r, "attachments", false, &attachments) ||
        !st_req_qbool(r, "att_encoding_info", false, &o->att_encoding_info) ||
        !st_req_qbool(r, "meta", false, &meta))
        return false;
    if (meta)
        o->conflicts = o->deleted_conflicts = o->revs_info = true;
    o->atts = attachments ? ST_ATTS_INLINE : ST_ATTS_STUB;
    const char *since = st_req_q(r, "atts_since");
    if (since) {
        const st_json *a;
        if (st_json_parse(since, strlen(since), NULL, &store->atts_since_doc, NULL) != ST_OK ||
            (a = st_json_doc_root(store->atts_since_doc))->type != ST_JSON_ARRAY) {
            st_resp_fail(r, ST_E_QUERY_PARSE, "Invalid JSON value for atts_since");
            return false;
        }
        store->atts_since = calloc(a->len ? a->len : 1, sizeof *store->atts_since);
        if (!store->atts_since) {
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
            return false;
        }
        for (size_t i = 0; i < a->len; i++) {
            st_rev rev;
            if (a->u.items[i].type != ST_JSON_STRING ||
                st_rev_parse(a->u.items[i].u.str, a->u.items[i].len, &rev, NULL) != ST_OK) {
                st_resp_fail(r, ST_E_BAD_REQUEST, "Invalid rev format");
                return false;
            }
            store->atts_since[i] = a->u.items[i].u.str;
        }
        o->atts_since = store->atts_since;
        o->n_atts_since = a->len;
    }
    return true;
}

void st_api_get_opts_free(st_get_store *store)
{
    free(store->atts_since);
    st_json_doc_free(store->atts_since_doc);
    memset(store, 0, sizeof *store);
}

/* ---- copies of borrowed views */

typedef struct att_copy {
    char *name;
    char *ctype;
    uint64_t length;
    bool body_sent;
} att_copy;

typedef struct doc_copy {
    char *id, *rev;
    bool deleted, missing;
    char *json;
    size_t json_len;
    att_copy *atts;
    size_t n_atts;
} doc_copy;

typedef struct docs_ctx {
    doc_copy *v;
    size_t n, cap;
    bool oom;
} docs_ctx;

static int copy_view(void *ctx, const st_doc_view *v)
{
    docs_ctx *c = ctx;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 2;
        doc_copy *g = realloc(c->v, ncap * sizeof *g);
        if (!g) {
            c->oom = true;
            return 1;
        }
        c->v = g;
        c->cap = ncap;
    }
    doc_copy *d = &c->v[c->n++];
    memset(d, 0, sizeof *d);
    d->id = v->id ? strdup(v->id) : NULL;
    d->rev = v->rev ? strdup(v->rev) : NULL;
    d->deleted = v->deleted;
    d->missing = v->missing;
    if (v->json) {
        d->json = st_memdup0(v->json, v->json_len);
        d->json_len = v->json_len;
    }
    if (v->n_atts) {
        d->atts = calloc(v->n_atts, sizeof *d->atts);
        if (d->atts) {
            d->n_atts = v->n_atts;
            for (size_t i = 0; i < v->n_atts; i++) {
                d->atts[i].name = strdup(v->atts[i].name);
                d->atts[i].ctype = strdup(v->atts[i].content_type ? v->atts[i].content_type
                                                                  : "application/octet-stream");
                d->atts[i].length = v->atts[i].length;
                d->atts[i].body_sent = v->atts[i].body_sent;
                if (!d->atts[i].name || !d->atts[i].ctype)
                    c->oom = true;
            }
        }
    }
    if ((v->id && !d->id) || (v->rev && !d->rev) || (v->json && !d->json) ||
        (v->n_atts && !d->atts))
        c->oom = true;
    return c->oom;
}

static void docs_free(docs_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        doc_copy *d = &c->v[i];
        free(d->id);
        free(d->rev);
        free(d->json);
        for (size_t k = 0; k < d->n_atts; k++) {
            free(d->atts[k].name);
            free(d->atts[k].ctype);
        }
        free(d->atts);
    }
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* {"missing":"<rev>"} and then tail: an open_revs answer for a rev not there. */
static st_status missing_json(st_buf *b, const char *rev, const char *tail)
{
    st_status s = st_buf_adds(b, "{\"missing\":");
    if (s == ST_OK)
        s = st_json_quote(b, rev, strlen(rev));
    return s == ST_OK ? st_buf_adds(b, tail) : s;
}

static bool has_follows(const doc_copy *d)
{
    for (size_t i = 0; i < d->n_atts; i++)
        if (d->atts[i].body_sent)
            return true;
    return false;
}

/* Write one doc as a multipart/related body (doc JSON, then each attachment
 * marked follows, in the order of the JSON) into b. */
static st_status write_related(st_db *db, const doc_copy *d, const char *boundary, st_buf *b,
                               st_error *err)
{
    st_buf data = ST_BUF_INIT;
    st_status s = st_mp_open_part(b, boundary);
    if (s == ST_OK)
        s = st_buf_adds(b, "Content-Type: application/json\r\n\r\n");
    if (s == ST_OK)
        s = st_buf_add(b, d->json, d->json_len);
    if (s == ST_OK)
        s = st_buf_adds(b, "\r\n");
    for (size_t i = 0; s == ST_OK && i < d->n_atts; i++) {
        const att_copy *a = &d->atts[i];
        st_att_info meta;
        if (!a->body_sent)
            continue;
        st_buf_reset(&data);
        s = st_db_get_attachment(db, d->id, d->rev, a->name, &data, &meta, err);
        if (s != ST_OK)
            break;
        s = st_mp_open_part(b, boundary);
        if (s == ST_OK)
            s = st_buf_adds(b, "Content-Disposition: attachment; filename=");
        if (s == ST_OK)
            s = st_json_quote(b, a->name, strlen(a->name));
        if (s == ST_OK && meta.encoding[0])
            s = st_buf_printf(b, "\r\nContent-Encoding: %s", meta.encoding);
        if (s == ST_OK)
            s = st_buf_printf(b, "\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                              meta.content_type, data.len);
        if (s == ST_OK && data.len)
            s = st_buf_add(b, data.data, data.len);
        if (s == ST_OK)
            s = st_buf_adds(b, "\r\n");
    }
    if (s == ST_OK)
        s = st_mp_close(b, boundary);
    st_buf_free(&data);
    if (s != ST_OK && err && err->code == ST_OK)
        st_fail(err, s, "cannot build the multipart body");
    return s;
}

/* Accept allows multipart: no Accept header, a wildcard, or the type. */
static bool wants_multipart(st_req *r, const char *mtype)
{
    if (!st_req_header(r, MHD_HTTP_HEADER_ACCEPT))
        return true;
    return st_req_accepts(r, mtype) || st_req_accepts(r, "multipart/*") ||
           st_req_accepts(r, "*/*");
}

static void open_revs_reply(st_req *r, st_db *db, const char *id, const char *spec,
                            st_get_opts *o)
{
    st_json_doc *list = NULL;
    const char **revs = NULL;
    size_t n = 0;
    docs_ctx c;
    st_error e;
    st_buf b = ST_BUF_INIT;
    memset(&c, 0, sizeof c);
    if (strcmp(spec, "all") != 0) {
        const st_json *a;
        if (st_json_parse(spec, strlen(spec), NULL, &list, NULL) != ST_OK ||
            (a = st_json_doc_root(list))->type != ST_JSON_ARRAY) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "Invalid open_revs format");
            goto out;
        }
        revs = calloc(a->len ? a->len : 1, sizeof *revs);
        if (!revs) {
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < a->len; i++) {
            if (a->u.items[i].type != ST_JSON_STRING) {
                st_resp_fail(r, ST_E_BAD_REQUEST, "Invalid open_revs format");
                goto out;
            }
            revs[i] = a->u.items[i].u.str;
        }
        n = a->len;
    }
    bool multipart = !(st_req_accepts(r, "application/json") &&
                       !st_req_accepts(r, "multipart/mixed")) &&
                     wants_multipart(r, "multipart/mixed");
    /* CouchDB always sends attachment bodies (those newer than atts_since)
     * in a multipart open_revs answer: its replicator asks without
     * attachments=true and fails with missing_stub on stubs. */
    if (multipart)
        o->atts = ST_ATTS_FOLLOWS;
    if (st_db_open_revs(db, id, revs, n, o, copy_view, &c, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    if (c.oom) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        goto out;
    }
    st_status s = ST_OK;
    if (!multipart) {
        s = st_buf_addc(&b, '[');
        for (size_t i = 0; s == ST_OK && i < c.n; i++) {
            const doc_copy *d = &c.v[i];
            if (i)
                s = st_buf_addc(&b, ',');
            if (s != ST_OK)
                break;
            if (d->missing) {
                s = missing_json(&b, d->rev, "}");
            } else {
                s = st_buf_adds(&b, "{\"ok\":");
                if (s == ST_OK)
                    s = st_buf_add(&b, d->json, d->json_len);
                if (s == ST_OK)
                    s = st_buf_addc(&b, '}');
            }
        }
        if (s == ST_OK)
            s = st_buf_addc(&b, ']');
        if (s != ST_OK) {
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
            goto out;
        }
        st_resp_json(r, 200, &b);
        goto out;
    }
    char outer[33], inner[33], ctype[80];
    st_mp_boundary(outer);
    st_error_clear(&e);
    for (size_t i = 0; s == ST_OK && i < c.n; i++) {
        const doc_copy *d = &c.v[i];
        s = st_mp_open_part(&b, outer);
        if (s != ST_OK)
            break;
        if (d->missing) {
            s = st_buf_adds(&b, "Content-Type: application/json; error=\"true\"\r\n\r\n");
            if (s == ST_OK)
                s = missing_json(&b, d->rev, "}\r\n");
        } else if (has_follows(d)) {
            st_mp_boundary(inner);
            s = st_buf_printf(&b, "Content-Type: multipart/related; boundary=\"%s\"\r\n\r\n",
                              inner);
            if (s == ST_OK)
                s = write_related(db, d, inner, &b, &e);
            if (s == ST_OK)
                s = st_buf_adds(&b, "\r\n");
        } else {
            s = st_buf_adds(&b, "Content-Type: application/json\r\n\r\n");
            if (s == ST_OK)
                s = st_buf_add(&b, d->json, d->json_len);
            if (s == ST_OK)
                s = st_buf_adds(&b, "\r\n");
        }
    }
    if (s == ST_OK)
        s = st_mp_close(&b, outer);
    if (s != ST_OK) {
        st_buf_free(&b);
        if (e.code == ST_OK)
            st_fail(&e, s, "cannot build the multipart body");
        st_resp_status(r, &e);
        goto out;
    }
    snprintf(ctype, sizeof ctype, "multipart/mixed; boundary=\"%s\"", outer);
    st_resp_buf(r, 200, ctype, &b);
out:
    st_buf_free(&b);
    docs_free(&c);
    free(revs);
    st_json_doc_free(list);
}

void st_api_doc_get(st_req *r)
{
    st_get_opts o;
    st_get_store store;
    docs_ctx c;
    st_error e;
    st_buf b = ST_BUF_INIT;
    bool attachments = false;
    memset(&c, 0, sizeof c);
    memset(&store, 0, sizeof store);
    st_db *db = r->dbh;
    if (!st_api_get_opts(r, &o, &store))
        goto out;
    attachments = o.atts == ST_ATTS_INLINE;
    const char *open_revs = st_req_q(r, "open_revs");
    if (open_revs) {
        open_revs_reply(r, db, r->docid, open_revs, &o);
        goto out;
    }
    bool multipart = attachments && !st_req_accepts(r, "application/json") &&
                     wants_multipart(r, "multipart/related");
    if (multipart)
        o.atts = ST_ATTS_FOLLOWS;
    if (st_db_get_view(db, r->docid, &o, copy_view, &c, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    if (c.oom || c.n != 1 || !c.v[0].json) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        goto out;
    }
    const doc_copy *d = &c.v[0];
    char etag[ST_REV_STR_MAX + 3];
    snprintf(etag, sizeof etag, "\"%s\"", d->rev ? d->rev : "");
    const char *inm = st_req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && strcmp(inm, etag) == 0) {
        st_resp_text(r, 304, NULL, "");
        st_resp_header(r, MHD_HTTP_HEADER_ETAG, etag);
        goto out;
    }
    if (multipart && has_follows(d)) {
        char boundary[33], ctype[80];
        st_mp_boundary(boundary);
        st_error_clear(&e);
        if (write_related(db, d, boundary, &b, &e) != ST_OK) {
            st_resp_status(r, &e);
            goto out;
        }
        snprintf(ctype, sizeof ctype, "multipart/related; boundary=\"%s\"", boundary);
        st_resp_buf(r, 200, ctype, &b);
    } else {
        if (st_buf_add(&b, d->json, d->json_len) != ST_OK) {
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
            goto out;
        }
        st_resp_json(r, 200, &b);
    }
    st_resp_header(r, MHD_HTTP_HEADER_ETAG, etag);
out:
    st_buf_free(&b);
    docs_free(&c);
    st_api_get_opts_free(&store);
}

/* A multipart PUT's parts, kept while its write is in flight. */
typedef struct related {
    st_mp_part *parts;
    size_t n_parts;
    st_att_data *atts;
    size_t n_atts;
} related;

static void related_free(st_api_one *c)
{
    related *rel = c->extra;
    if (!rel)
        return;
    free(rel->atts);
    st_mp_parts_free(rel->parts, rel->n_parts);
    free(rel);
    c->extra = NULL;
}

/* multipart/related PUT: the first part is the doc, then one part per
 * attachment stub marked "follows", matched by filename when the part
 * names one, else in the order of _attachments.  A part that is gzip
 * (its Content-Encoding, or the stub's "encoding", as CouchDB's
 * replicator sends compressed attachments) is handed to core as encoded
 * bytes: core keeps them (and their digest) and bounds their decoded size. */
static bool parse_related(st_req *r, st_api_one *c)
{
    st_error e;
    related *rel = calloc(1, sizeof *rel);
    if (!rel) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return false;
    }
    c->extra = rel;
    c->free_extra = related_free;
    if (st_mp_parse(st_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE), r->body.data ? r->body.data : "",
                    r->body.len, &rel->parts, &rel->n_parts, &e) != ST_OK) {
        st_resp_status(r, &e);
        return false;
    }
    if (rel->n_parts == 0) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "multipart body without a document part");
        return false;
    }
    st_json_limits lim = {r->srv->cfg->max_document_size, 0};
    if (st_json_parse(rel->parts[0].data, rel->parts[0].len, &lim, &c->doc, &e) != ST_OK) {
        if (e.code == ST_E_BAD_REQUEST)
            st_resp_fail(r, ST_E_BAD_REQUEST, "invalid UTF-8 JSON");
        else
            st_resp_status(r, &e);
        return false;
    }
    const st_json *root = st_json_doc_root(c->doc);
    const st_json *stubs = root->type == ST_JSON_OBJECT ? st_json_get(root, "_attachments") : NULL;
    size_t nf = stubs && stubs->type == ST_JSON_OBJECT ? stubs->len : 0;
    rel->atts = calloc(nf ? nf : 1, sizeof *rel->atts);
    bool *used = calloc(rel->n_parts, sizeof *used);
    if (!rel->atts || !used) {
        free(used);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return false;
    }
    used[0] = true;
    bool ok = false;
    for (size_t i = 0; i < nf; i++) {
        const st_json_member *m = &stubs->u.members[i];
        const st_json *follows = st_json_get(&m->value, "follows");
        if (!follows || follows->type != ST_JSON_TRUE)
            continue;
        st_mp_part *p = NULL;
        for (size_t k = 1; !p && k < rel->n_parts; k++)
            if (!used[k] && rel->parts[k].filename && strcmp(rel->parts[k].filename, m->key) == 0)
                p = &rel->parts[k];
        for (size_t k = 1; !p && k < rel->n_parts; k++)
            if (!used[k] && !rel->parts[k].filename)
                p = &rel->parts[k];
        if (!p) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "attachment marked follows has no part");
            goto done;
        }
        used[p - rel->parts] = true;
        /* The part's own header wins; else the stub says how the bytes are. */
        const char *enc = p->encoding;
        if (!enc || !*enc)
            enc = st_json_get_str(&m->value, "encoding");
        st_att_data *a = &rel->atts[rel->n_atts++];
        a->name = m->key;
        a->data = p->data;
        a->len = p->len;
        if (!enc || !*enc || strcasecmp(enc, "identity") == 0)
            continue;
        if (!st_gzip_is(enc)) {
            st_resp_fail(r, ST_E_BAD_CONTENT_TYPE,
                         "unsupported attachment encoding; send gzip or identity bytes");
            goto done;
        }
        a->encoding = "gzip"; /* core keeps the encoded bytes, as CouchDB does */
    }
    c->req.atts = rel->atts;
    c->req.n_atts = rel->n_atts;
    ok = true;
done:
    free(used);
    return ok;
}

static void put_finish(st_req *r)
{
    st_api_one *c = r->async_ctx;
    if (st_api_one_failed(r))
        return;
    bool batch = st_req_q(r, "batch") && strcmp(st_req_q(r, "batch"), "ok") == 0;
    st_api_write_ok(r, batch ? 202 : 201, c->res.id ? c->res.id : r->docid, c->res.rev, true);
}

void st_api_doc_put(st_req *r)
{
    bool new_edits = true;
    if (!st_req_qbool(r, "new_edits", true, &new_edits))
        return;
    st_api_one *c = calloc(1, sizeof *c);
    if (!c) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    if (st_req_ctype_is(r, "multipart/related")) {
        if (!parse_related(r, c))
            goto fail;
    } else if (!st_req_json(r, r->srv->cfg->max_document_size, &c->doc)) {
        goto fail;
    }
    if (st_json_doc_root(c->doc)->type != ST_JSON_OBJECT) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "Document must be a JSON object");
        goto fail;
    }
    c->req.doc = st_json_doc_root(c->doc);
    c->req.id = r->docid;
    c->req.rev = st_api_write_rev(r, c->revbuf, sizeof c->revbuf);
    const char *body_rev = st_json_get_str(c->req.doc, "_rev");
    if (c->req.rev && body_rev && strcmp(c->req.rev, body_rev) != 0) {
        st_resp_fail(r, ST_E_BAD_REQUEST,
                     "Document rev from request body and query string have different values");
        goto fail;
    }
    c->flags = new_edits ? 0 : ST_WRITE_REPLICATED;
    st_api_one_submit(r, c, put_finish);
    return;
fail:
    st_api_one_free(c);
}

static void delete_finish(st_req *r)
{
    st_api_one *c = r->async_ctx;
    if (!st_api_one_failed(r))
        st_api_write_ok(r, 200, c->res.id ? c->res.id : r->docid, c->res.rev, false);
}

void st_api_doc_delete(st_req *r)
{
    st_api_one *c = calloc(1, sizeof *c);
    if (!c) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    c->req.id = r->docid;
    c->req.rev = st_api_write_rev(r, c->revbuf, sizeof c->revbuf);
    c->req.delete_doc = true;
    st_api_one_submit(r, c, delete_finish);
}

/* ---- _local documents */

void st_api_local_att(st_req *r)
{
    st_resp_fail(r, ST_E_BAD_REQUEST, "_local documents do not accept attachments.");
}

void st_api_local_get(st_req *r)
{
    st_buf b = ST_BUF_INIT;
    st_error e;
    if (st_db_local_get(r->dbh, r->docid, &b, &e) != ST_OK) {
        st_buf_free(&b);
        st_resp_status(r, &e);
    } else {
        st_resp_json(r, 200, &b);
    }
}

static void local_put_finish(st_req *r)
{
    st_api_one *c = r->async_ctx;
    if (!st_api_one_failed(r))
        st_api_write_ok(r, 201, r->docid, c->res.rev, false);
}

void st_api_local_put(st_req *r)
{
    st_api_one *c = calloc(1, sizeof *c);
    if (!c) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    if (!st_req_json(r, r->srv->cfg->max_document_size, &c->doc))
        goto fail;
    if (st_json_doc_root(c->doc)->type != ST_JSON_OBJECT) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "Document must be a JSON object");
        goto fail;
    }
    c->req.doc = st_json_doc_root(c->doc);
    c->req.id = r->docid;
    c->req.rev = st_api_write_rev(r, c->revbuf, sizeof c->revbuf);
    st_api_one_submit(r, c, local_put_finish);
    return;
fail:
    st_api_one_free(c);
}

static void local_delete_finish(st_req *r)
{
    if (!st_api_one_failed(r))
        st_api_write_ok(r, 200, r->docid, "0-0", false);
}

void st_api_local_delete(st_req *r)
{
    st_api_one *c = calloc(1, sizeof *c);
    if (!c) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    c->req.id = r->docid;
    c->req.rev = st_api_write_rev(r, c->revbuf, sizeof c->revbuf);
    c->req.delete_doc = true;
    st_api_one_submit(r, c, local_delete_finish);
}
