/* api_att.c — standalone attachments: GET/HEAD/PUT/DELETE
 * /{db}/{docid}/{name}, with single byte ranges (206/416) on GET. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* Parse "bytes=a-b" / "bytes=a-" / "bytes=-n" against len.
 * 1 = satisfiable range in [*lo,*hi], 0 = ignore the header, -1 = 416. */
static int parse_range(const char *h, uint64_t len, uint64_t *lo, uint64_t *hi)
{
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0; /* multiple ranges: answer the whole body, as is allowed */
    const char *p = h + 6;
    char *end = NULL;
    errno = 0;
    if (*p == '-') {
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (errno || !end || *end || !isdigit((unsigned char)p[1]))
            return 0;
        if (n == 0 || len == 0)
            return -1;
        *lo = n >= len ? 0 : len - n;
        *hi = len - 1;
        return 1;
    }
    if (!isdigit((unsigned char)*p))
        return 0;
    unsigned long long a = strtoull(p, &end, 10);
    if (errno || !end || *end != '-')
        return 0;
    p = end + 1;
    unsigned long long b = len ? len - 1 : 0;
    if (*p) {
        if (!isdigit((unsigned char)*p))
            return 0;
        b = strtoull(p, &end, 10);
        if (errno || !end || *end)
            return 0;
    }
    if (a >= len || b < a)
        return -1;
    if (b >= len)
        b = len - 1;
    *lo = a;
    *hi = b;
    return 1;
}

void st_api_att_get(st_req *r)
{
    st_buf data = ST_BUF_INIT;
    st_att_info meta;
    st_error e;
    char etag[128];
    st_db *db = r->dbh;
    if (st_db_get_attachment(db, r->docid, st_req_q(r, "rev"), r->att, &data, &meta, &e) !=
        ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    /* The digest is "md5-<base64>": the base64 part is CouchDB's ETag. */
    const char *dig = strncmp(meta.digest, "md5-", 4) == 0 ? meta.digest + 4 : meta.digest;
    snprintf(etag, sizeof etag, "\"%s\"", dig);
    const char *inm = st_req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && strcmp(inm, etag) == 0) {
        st_resp_text(r, 304, NULL, "");
        st_resp_header(r, MHD_HTTP_HEADER_ETAG, etag);
        goto out;
    }
    const char *range = st_req_header(r, MHD_HTTP_HEADER_RANGE);
    /* Stored gzip-encoded: sent as it is to a client that takes gzip (and
     * asks for no range, which counts in decoded bytes), else decoded. */
    bool send_encoded = false;
    if (meta.encoding[0]) {
        const char *ae = st_req_header(r, MHD_HTTP_HEADER_ACCEPT_ENCODING);
        if (!range && ae && strstr(ae, "gzip")) {
            send_encoded = true;
        } else if (st_att_decode(&meta, &data, r->srv->cfg->max_attachment_size, &e) != ST_OK) {
            st_resp_status(r, &e);
            goto out;
        }
    }
    uint64_t lo = 0, hi = 0;
    int rr = range ? parse_range(range, data.len, &lo, &hi) : 0;
    if (rr < 0) {
        char cr[64];
        snprintf(cr, sizeof cr, "bytes */%zu", data.len);
        st_resp_fail(r, ST_E_RANGE,
                      "Requested range not satisfiable");
        st_resp_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        goto out;
    }
    if (rr > 0) {
        st_buf part = ST_BUF_INIT;
        char cr[96];
        if (st_buf_add(&part, data.data + lo, (size_t)(hi - lo + 1)) != ST_OK) {
            st_buf_free(&part);
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
            goto out;
        }
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%zu", lo, hi, data.len);
        st_resp_buf(r, 206, meta.content_type, &part);
        st_resp_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    } else {
        st_resp_buf(r, 200, meta.content_type, &data);
        if (send_encoded)
            st_resp_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    }
    st_resp_header(r, MHD_HTTP_HEADER_ETAG, etag);
    st_resp_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    st_resp_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "must-revalidate");
    if (strncmp(meta.digest, "md5-", 4) == 0)
        st_resp_header(r, "Content-MD5", meta.digest + 4);
out:
    st_buf_free(&data);
}

static void att_free(st_api_one *c)
{
    free(c->extra);
    c->extra = NULL;
}

static void att_put_finish(st_req *r)
{
    st_api_one *c = r->async_ctx;
    if (!st_api_one_failed(r))
        st_api_write_ok(r, 201, c->res.id ? c->res.id : r->docid, c->res.rev, true);
}

static void att_delete_finish(st_req *r)
{
    st_api_one *c = r->async_ctx;
    if (!st_api_one_failed(r))
        st_api_write_ok(r, 200, c->res.id ? c->res.id : r->docid, c->res.rev, false);
}

/* The attachment edit is done inside core's writer (st_write_req.att_edit),
 * against the revision named, so it cannot race another edit. */
static void att_write(st_req *r, bool del)
{
    st_api_one *c = calloc(1, sizeof *c);
    st_att_data *att = calloc(1, sizeof *att);
    if (!c || !att) {
        free(c);
        free(att);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    c->extra = att;
    c->free_extra = att_free;
    att->name = r->att;
    if (!del) {
        const char *ct = st_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
        att->content_type = ct ? ct : "application/octet-stream";
        att->data = r->body.data ? r->body.data : "";
        att->len = r->body.len;
    }
    c->req.id = r->docid;
    c->req.rev = st_api_write_rev(r, c->revbuf, sizeof c->revbuf);
    c->req.att_edit = att;
    st_api_one_submit(r, c, del ? att_delete_finish : att_put_finish);
}

void st_api_att_put(st_req *r)
{
    att_write(r, false);
}

void st_api_att_delete(st_req *r)
{
    att_write(r, true);
}
