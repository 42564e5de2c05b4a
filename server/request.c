/* request.c — decoding the request target and reading request data.
 *
 * Why we decode the target ourselves: MHD unescapes the whole path before
 * the handler sees it, which would turn a database named "a/b" (sent as
 * "a%2Fb") into two segments.  The daemon therefore captures the raw URI
 * (MHD_OPTION_URI_LOG_CALLBACK) and we split on '/' first, then
 * percent-decode each segment.  In the query string '+' means space, as in
 * CouchDB (mochiweb); in the path it is literal.
 */
#include "http.h"
#include "st_pct.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* strcasestr is a GNU extension; this is the portable few lines. */
static const char *ci_strstr(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

bool st_req_parse_target(st_req *r)
{
    const char *u = r->uri;
    if (!u || u[0] != '/') {
        r->bad_path = true;
        return false;
    }
    const char *q = strchr(u, '?');
    const char *frag = strchr(u, '#');
    size_t path_len = q ? (size_t)(q - u) : (frag ? (size_t)(frag - u) : strlen(u));
    /* Segments: skip the leading '/', keep empty segments out (CouchDB
     * tolerates "//" and a trailing '/'). */
    size_t i = 1;
    while (i <= path_len) {
        size_t j = i;
        while (j < path_len && u[j] != '/')
            j++;
        if (j > i) {
            if (r->n_segs == ST_MAX_SEGS) {
                r->bad_path = true;
                return false;
            }
            /* In the database name '+' means a space, as CouchDB decodes it
             * (so "a+b" is not the database "a+b": that one is "a%2Bb"). */
            char *seg = st_pct_decode(u + i, j - i, r->n_segs == 0);
            if (!seg) {
                r->bad_path = true;
                return false;
            }
            r->segs[r->n_segs++] = seg;
        }
        i = j + 1;
    }
    if (!q)
        return true;
    const char *qs = q + 1;
    size_t qlen = frag && frag > q ? (size_t)(frag - qs) : strlen(qs);
    size_t count = 1;
    for (size_t k = 0; k < qlen; k++)
        count += qs[k] == '&';
    if (count > ST_MAX_QUERY_PARAMS) { /* empty ones ("a&&b") count too: cheap to refuse */
        r->too_many_params = true;
        r->bad_path = true;
        return false;
    }
    r->query = calloc(count, sizeof *r->query);
    if (!r->query) {
        r->bad_path = true;
        return false;
    }
    size_t k = 0;
    while (k <= qlen) {
        size_t e = k;
        while (e < qlen && qs[e] != '&')
            e++;
        if (e > k) {
            const char *eq = memchr(qs + k, '=', e - k);
            size_t klen = eq ? (size_t)(eq - (qs + k)) : e - k;
            st_qparam *p = &r->query[r->n_query];
            p->key = st_pct_decode(qs + k, klen, true);
            p->value = eq ? st_pct_decode(eq + 1, (size_t)(qs + e - eq - 1), true) : strdup("");
            if (!p->key || !p->value) {
                free(p->key);
                free(p->value);
                p->key = p->value = NULL;
                r->bad_path = true;
                return false;
            }
            r->n_query++;
        }
        k = e + 1;
    }
    return true;
}

/* What the framing check counts over the request's headers. */
typedef struct framing {
    unsigned n_length, n_coding;
    const char *length;  /* the first Content-Length */
    size_t length_len;
    bool lengths_differ;
    bool other_coding;   /* a Transfer-Encoding value other than "chunked" */
} framing;

/* v without the blanks MHD may leave at its end; *n its length. */
static const char *trimmed(const char *v, size_t *n)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t len = strlen(v);
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    *n = len;
    return v;
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    framing *f = cls;
    size_t n = 0;
    (void)kind;
    if (!key || !value)
        return MHD_YES;
    const char *v = trimmed(value, &n);
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->n_length++ == 0) {
            f->length = v;
            f->length_len = n;
        } else if (n != f->length_len || memcmp(v, f->length, n) != 0) {
            f->lengths_differ = true;
        }
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->n_coding++;
        if (n != 7 || strncasecmp(v, "chunked", 7) != 0)
            f->other_coding = true;
    }
    return MHD_YES;
}

static bool framing_fail(st_req *r, st_status code, const char *reason)
{
    st_resp_fail(r, code, reason);
    /* The body's end cannot be known: the connection cannot be reused. */
    st_resp_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    return false;
}

bool st_req_framing_ok(st_req *r, const char *version)
{
    /* MHD cuts the target at its first NUL ("GET /\0abc" would be served as
     * "GET /"); without one, the HTTP version starts right after MHD's copy
     * of the target (the NUL there replaced the space). */
    if (r->mhd_uri_end && version && (uintptr_t)version != r->mhd_uri_end + 1)
        return framing_fail(r, ST_E_BAD_REQUEST, "Malformed request line");
    framing f;
    memset(&f, 0, sizeof f);
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.other_coding)
        return framing_fail(r, ST_E_NOT_IMPLEMENTED,
                            "Only the chunked transfer coding is supported");
    if (f.n_coding > 1)
        return framing_fail(r, ST_E_BAD_REQUEST, "Transfer-Encoding is repeated");
    if (f.n_coding && f.n_length)
        return framing_fail(r, ST_E_BAD_REQUEST,
                            "Transfer-Encoding and Content-Length are both given");
    if (f.lengths_differ)
        return framing_fail(r, ST_E_BAD_REQUEST, "Conflicting Content-Length headers");
    return true;
}

void st_req_free(st_req *r)
{
    if (!r)
        return;
    free(r->uri);
    for (size_t i = 0; i < r->n_segs; i++)
        free(r->segs[i]);
    for (size_t i = 0; i < r->n_query; i++) {
        free(r->query[i].key);
        free(r->query[i].value);
    }
    free(r->query);
    free(r->docid);
    free(r->att);
    st_catalog_put(r->srv->cat, r->dbh);
    st_identity_clear(&r->who);
    free(r->set_cookie);
    st_buf_free(&r->body);
    if (r->resp)
        MHD_destroy_response(r->resp);
    if (r->async_ctx && r->async_free)
        r->async_free(r->async_ctx);
    free(r);
}

const char *st_req_header(st_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *st_req_q(const st_req *r, const char *key)
{
    for (size_t i = 0; i < r->n_query; i++) { /* the first, as CouchDB reads it */
        if (strcmp(r->query[i].key, key) == 0)
            return r->query[i].value;
    }
    return NULL;
}

bool st_req_qbool(st_req *r, const char *key, bool def, bool *out)
{
    const char *v = st_req_q(r, key);
    if (!v) {
        *out = def;
        return true;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(v, "false") == 0) {
        *out = false;
        return true;
    }
    char reason[200];
    snprintf(reason, sizeof reason, "Invalid boolean parameter: \"%.100s\"", v);
    st_resp_fail(r, ST_E_QUERY_PARSE, reason);
    return false;
}

bool st_req_qu64(st_req *r, const char *key, uint64_t def, uint64_t *out)
{
    const char *v = st_req_q(r, key);
    if (!v) {
        *out = def;
        return true;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long n = isdigit((unsigned char)v[0]) ? strtoull(v, &end, 10) : 0;
    if (!isdigit((unsigned char)v[0]) || errno || !end || *end) {
        char reason[200];
        snprintf(reason, sizeof reason, "Invalid value for integer: \"%.100s\"", v);
        st_resp_fail(r, ST_E_QUERY_PARSE, reason);
        return false;
    }
    *out = n;
    return true;
}

bool st_req_json(st_req *r, size_t max_bytes, st_json_doc **out)
{
    st_error e;
    st_json_limits lim = {max_bytes, 0};
    *out = NULL;
    if (r->body.len == 0) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "invalid UTF-8 JSON");
        return false;
    }
    if (st_json_parse(r->body.data, r->body.len, &lim, out, &e) != ST_OK) {
        /* The parser's reason: "invalid UTF-8 JSON" or "nesting too deep". */
        st_resp_status(r, &e);
        return false;
    }
    st_buf_free(&r->body);
    return true;
}

bool st_req_ctype_is(st_req *r, const char *ctype)
{
    const char *ct = st_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen(ctype);
    return strncasecmp(ct, ctype, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

bool st_req_require_json_ctype(st_req *r, bool allow_absent)
{
    if (st_req_ctype_is(r, "application/json"))
        return true;
    if (allow_absent && !st_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))
        return true;
    st_resp_fail(r, ST_E_BAD_CONTENT_TYPE, "Content-Type must be application/json");
    return false;
}

bool st_req_accepts(st_req *r, const char *mtype)
{
    const char *acc = st_req_header(r, MHD_HTTP_HEADER_ACCEPT);
    size_t n = strlen(mtype);
    if (!acc)
        return false;
    for (const char *p = acc; (p = ci_strstr(p, mtype)) != NULL; p += n) {
        bool start_ok = p == acc || p[-1] == ',' || p[-1] == ' ';
        bool end_ok = p[n] == '\0' || p[n] == ',' || p[n] == ';' || p[n] == ' ';
        if (start_ok && end_ok)
            return true;
    }
    return false;
}

/* A comma-separated header value holds token (case-insensitive). */
static bool has_token(const char *v, const char *token)
{
    size_t n = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t len = strcspn(v, ",");
        size_t t = len;
        while (t && (v[t - 1] == ' ' || v[t - 1] == '\t'))
            t--;
        if (t == n && strncasecmp(v, token, n) == 0)
            return true;
        v += len;
    }
    return false;
}

bool st_req_chunked_reply(st_req *r)
{
    const char *c = st_req_header(r, MHD_HTTP_HEADER_CONNECTION);
    return r->http11 && !has_token(c, "close") && !has_token(c, "upgrade");
}
