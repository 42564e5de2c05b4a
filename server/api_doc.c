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

#include "api.h"
#include "st_gzip.h"
#include "log.h"
#include "multipart.h"
#include "writeq.h"

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
            st_resp_error(r, 400, "query_parse_error", "Invalid JSON value for atts_since");
            return false;
        }
        store->atts_since = calloc(a->len ? a->len : 1, sizeof *store->atts_since);
        if (!store->atts_since) {
            st_resp_error(r, 500, "internal_server_error", "out of memory");
            return false;
        }
        for (size_t i = 0; i < a->len; i++) {
            if (a->u.items[i].type != ST_JSON_STRING) {
                st_resp_error(r, 400, "query_parse_error", "atts_since must list revisions");
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

/* The rev a write names: ?rev= wins, else If-Match (quotes stripped). */
static const char *write_rev(st_req *r, char *buf, size_t cap)
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

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

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
        d->json = dupn(v->json, v->json_len);
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
                            st_get_opts *o, bool attachments)
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
            st_resp_error(r, 400, "bad_request", "Invalid open_revs format");
            goto out;
        }
        revs = calloc(a->len ? a->len : 1, sizeof *revs);
        if (!revs) {
            st_resp_error(r, 500, "internal_server_error", "out of memory");
            goto out;
        }
        for (size_t i = 0; i < a->len; i++) {
            if (a->u.items[i].type != ST_JSON_STRING) {
                st_resp_error(r, 400, "bad_request", "Invalid open_revs format");
                goto out;
            }
            revs[i] = a->u.items[i].u.str;
        }
        n = a->len;
    }
    bool multipart = !(st_req_accepts(r, "application/json") &&
                       !st_req_accepts(r, "multipart/mixed")) &&
                     wants_multipart(r, "multipart/mixed");
    if (multipart && attachments)
        o->atts = ST_ATTS_FOLLOWS;
    if (st_db_open_revs(db, id, revs, n, o, copy_view, &c, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    if (c.oom) {
        st_resp_error(r, 500, "internal_server_error", "out of memory");
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
                s = st_buf_adds(&b, "{\"missing\":");
                if (s == ST_OK)
                    s = st_json_quote(&b, d->rev, strlen(d->rev));
                if (s == ST_OK)
                    s = st_buf_addc(&b, '}');
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
            st_resp_error(r, 500, "internal_server_error", "out of memory");
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
            s = st_buf_adds(&b, "Content-Type: application/json; error=\"true\"\r\n\r\n"
                                "{\"missing\":");
            if (s == ST_OK)
                s = st_json_quote(&b, d->rev, strlen(d->rev));
            if (s == ST_OK)
                s = st_buf_adds(&b, "}\r\n");
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
    st_db *db = st_api_db_open(r);
    if (!db)
        return;
    if (!st_api_get_opts(r, &o, &store))
        goto out;
    attachments = o.atts == ST_ATTS_INLINE;
    const char *open_revs = st_req_q(r, "open_revs");
    if (open_revs) {
        open_revs_reply(r, db, r->docid, open_revs, &o, attachments);
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
        st_resp_error(r, 500, "internal_server_error", "out of memory");
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
            st_resp_error(r, 500, "internal_server_error", "out of memory");
            goto out;
        }
        st_resp_json(r, 200, &b);
    }
    st_resp_header(r, MHD_HTTP_HEADER_ETAG, etag);
out:
    st_buf_free(&b);
    docs_free(&c);
    st_api_get_opts_free(&store);
    st_api_db_put_ref(r, db);
}

/* multipart/related PUT: the first part is the doc, then one part per
 * attachment stub marked "follows", matched by filename when the part
 * names one, else in the order of _attachments.  A part that is gzip
 * (its Content-Encoding, or the stub's "encoding", as CouchDB's
 * replicator sends compressed attachments) is handed to core as encoded
 * bytes: core keeps them (and their digest) and bounds their decoded size. */
static bool parse_related(st_req *r, st_json_doc **doc, st_mp_part **parts, size_t *n_parts,
                          st_att_data **atts, size_t *n_atts, st_buf **decoded)
{
    st_error e;
    if (st_mp_parse(st_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE), r->body.data ? r->body.data : "",
                    r->body.len, parts, n_parts, &e) != ST_OK) {
        st_resp_status(r, &e);
        return false;
    }
    if (*n_parts == 0) {
        st_resp_error(r, 400, "bad_request", "multipart body without a document part");
        return false;
    }
    st_json_limits lim = {r->srv->cfg->max_document_size, 0};
    if (st_json_parse((*parts)[0].data, (*parts)[0].len, &lim, doc, &e) != ST_OK) {
        if (e.code == ST_E_BAD_REQUEST)
            st_resp_error(r, 400, "bad_request", "invalid UTF-8 JSON");
        else
            st_resp_status(r, &e);
        return false;
    }
    const st_json *root = st_json_doc_root(*doc);
    const st_json *stubs = root->type == ST_JSON_OBJECT ? st_json_get(root, "_attachments") : NULL;
    size_t nf = 0;
    if (stubs && stubs->type == ST_JSON_OBJECT)
        nf = stubs->len;
    *atts = calloc(nf ? nf : 1, sizeof **atts);
    *decoded = calloc(nf ? nf : 1, sizeof **decoded);
    if (!*atts || !*decoded) {
        st_resp_error(r, 500, "internal_server_error", "out of memory");
        return false;
    }
    bool *used = calloc(*n_parts, sizeof *used);
    if (!used) {
        st_resp_error(r, 500, "internal_server_error", "out of memory");
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
        for (size_t k = 1; !p && k < *n_parts; k++)
            if (!used[k] && (*parts)[k].filename && strcmp((*parts)[k].filename, m->key) == 0)
                p = &(*parts)[k];
        for (size_t k = 1; !p && k < *n_parts; k++)
            if (!used[k] && !(*parts)[k].filename)
                p = &(*parts)[k];
        if (!p) {
            st_resp_error(r, 400, "bad_request", "attachment marked follows has no part");
            goto done;
        }
        used[p - *parts] = true;
        /* The part's own header wins; else the stub says how the bytes are. */
        const char *enc = p->encoding;
        if (!enc || !*enc)
            enc = st_json_get_str(&m->value, "encoding");
        st_att_data *a = &(*atts)[(*n_atts)++];
        a->name = m->key;
        a->content_type = NULL;
        a->data = p->data;
        a->len = p->len;
        if (!enc || !*enc || strcasecmp(enc, "identity") == 0)
            continue;
        if (!st_gzip_is(enc)) {
            st_resp_error(r, 415, "bad_content_type",
                          "unsupported attachment encoding; send gzip or identity bytes");
            goto done;
        }
        a->encoding = "gzip"; /* core keeps the encoded bytes, as CouchDB does */
    }
    ok = true;
done:
    free(used);
    return ok;
}

/* A PUT's state while its write is queued (writeq.c): everything the
 * write request points into lives here until the response is built. */
typedef struct put_ctx {
    st_db *db;
    st_json_doc *d;
    st_mp_part *parts;
    size_t n_parts;
    st_att_data *atts;
    size_t n_atts;
    st_buf *decoded; /* [stubs in _attachments]: gunzipped bodies */
    size_t n_decoded;
    char revbuf[ST_REV_STR_MAX];
    st_write_req wr;
    st_write_job job;
    st_server *srv;  /* for the catalog reference */
} put_ctx;

static void put_ctx_free(void *p)
{
    put_ctx *c = p;
    if (!c)
        return;
    if (atomic_load(&c->job.done))
        st_write_results_free(&c->job.res, 1);
    free(c->atts);
    for (size_t i = 0; i < c->n_decoded; i++)
        st_buf_free(&c->decoded[i]);
    free(c->decoded);
    st_mp_parts_free(c->parts, c->n_parts);
    st_json_doc_free(c->d);
    if (c->db)
        st_catalog_put(c->srv->cat, c->db);
    free(c);
}

/* Resumed after the queued write: answer from its result. */
static void put_finish(st_req *r)
{
    put_ctx *c = r->async_ctx;
    const st_write_job *j = &c->job;
    if (j->status != ST_OK) {
        st_resp_status(r, &j->err);
    } else if (j->res.err.code != ST_OK) {
        st_resp_status(r, &j->res.err);
    } else {
        bool batch = st_req_q(r, "batch") && strcmp(st_req_q(r, "batch"), "ok") == 0;
        st_api_write_ok(r, batch ? 202 : 201, j->res.id ? j->res.id : r->docid, j->res.rev,
                        true);
    }
    put_ctx_free(c);
    r->async_ctx = NULL;
}

void st_api_doc_put(st_req *r)
{
    bool new_edits = true;
    if (!st_req_qbool(r, "new_edits", true, &new_edits))
        return;
    put_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        st_resp_error(r, 500, "internal_server_error", "out of memory");
        return;
    }
    c->srv = r->srv;
    c->db = st_api_db_open(r);
    if (!c->db)
        goto fail;
    if (st_req_ctype_is(r, "multipart/related")) {
        bool parsed = parse_related(r, &c->d, &c->parts, &c->n_parts, &c->atts, &c->n_atts,
                                    &c->decoded);
        if (c->decoded) {
            const st_json *root = st_json_doc_root(c->d);
            const st_json *stubs =
                root->type == ST_JSON_OBJECT ? st_json_get(root, "_attachments") : NULL;
            c->n_decoded = stubs && stubs->type == ST_JSON_OBJECT ? stubs->len : 0;
        }
        if (!parsed)
            goto fail;
    } else if (!st_req_json(r, r->srv->cfg->max_document_size, &c->d)) {
        goto fail;
    }
    if (st_json_doc_root(c->d)->type != ST_JSON_OBJECT) {
        st_resp_error(r, 400, "bad_request", "Document must be a JSON object");
        goto fail;
    }
    c->wr.doc = st_json_doc_root(c->d);
    c->wr.id = r->docid;
    c->wr.rev = write_rev(r, c->revbuf, sizeof c->revbuf);
    c->wr.atts = c->atts;
    c->wr.n_atts = c->n_atts;
    c->job.db = c->db;
    c->job.req = &c->wr;
    c->job.flags = new_edits ? 0 : ST_WRITE_REPLICATED;
    c->job.conn = r->conn;
    /* Suspend first: the writer may finish (and resume) before we return. */
    r->async = true;
    r->async_ctx = c;
    r->async_finish = put_finish;
    r->async_free = put_ctx_free;
    MHD_suspend_connection(r->conn);
    st_writeq_submit(r->srv->wq, &c->job);
    return;
fail:
    put_ctx_free(c);
}

void st_api_doc_delete(st_req *r)
{
    st_write_result res;
    st_error e;
    char revbuf[ST_REV_STR_MAX];
    memset(&res, 0, sizeof res);
    st_db *db = st_api_db_open(r);
    if (!db)
        return;
    st_write_req wr;
    memset(&wr, 0, sizeof wr);
    wr.id = r->docid;
    wr.rev = write_rev(r, revbuf, sizeof revbuf);
    wr.delete_doc = true;
    if (st_writeq_write(r->srv->wq, db, &wr, 0, &res, &e) != ST_OK) {
        st_resp_status(r, &e);
    } else {
        if (res.err.code != ST_OK)
            st_resp_status(r, &res.err);
        else
            st_api_write_ok(r, 200, res.id ? res.id : r->docid, res.rev, false);
        st_write_results_free(&res, 1);
    }
    st_api_db_put_ref(r, db);
}

/* ---- _local documents */

void st_api_local_get(st_req *r)
{
    st_buf b = ST_BUF_INIT;
    st_error e;
    st_db *db = st_api_db_open(r);
    if (!db)
        return;
    if (st_db_local_get(db, r->docid, &b, &e) != ST_OK) {
        st_buf_free(&b);
        st_resp_status(r, &e);
    } else {
        st_resp_json(r, 200, &b);
    }
    st_api_db_put_ref(r, db);
}

void st_api_local_put(st_req *r)
{
    st_json_doc *d = NULL;
    st_error e;
    char rev[ST_REV_STR_MAX];
    char revbuf[ST_REV_STR_MAX];
    st_db *db = st_api_db_open(r);
    if (!db)
        return;
    if (!st_req_json(r, r->srv->cfg->max_document_size, &d))
        goto out;
    if (st_json_doc_root(d)->type != ST_JSON_OBJECT) {
        st_resp_error(r, 400, "bad_request", "Document must be a JSON object");
        goto out;
    }
    const char *qrev = write_rev(r, revbuf, sizeof revbuf);
    if (st_db_local_put(db, r->docid, st_json_doc_root(d), qrev, rev, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    st_api_write_ok(r, 201, r->docid, rev, false);
out:
    st_json_doc_free(d);
    st_api_db_put_ref(r, db);
}

void st_api_local_delete(st_req *r)
{
    st_error e;
    char revbuf[ST_REV_STR_MAX];
    st_db *db = st_api_db_open(r);
    if (!db)
        return;
    if (st_db_local_delete(db, r->docid, write_rev(r, revbuf, sizeof revbuf), &e) != ST_OK)
        st_resp_status(r, &e);
    else
        st_api_write_ok(r, 200, r->docid, "0-0", false);
    st_api_db_put_ref(r, db);
}
