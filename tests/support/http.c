/* http.c — see http.h. */
#include "support/http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t ts_bytes_write(char *p, size_t sz, size_t n, void *ud)
{
    ts_bytes *b = ud;
    size_t add = sz * n;
    char *g = realloc(b->buf, b->len + add + 1);
    if (!g)
        return 0; /* curl ends the transfer: the test sees no answer */
    memcpy(g + b->len, p, add);
    b->len += add;
    g[b->len] = '\0';
    b->buf = g;
    return add;
}

static char *or_empty(char *p)
{
    if (p)
        return p;
    p = calloc(1, 1);
    if (!p)
        abort();
    return p;
}

ts_resp ts_http(const ts_req *q)
{
    ts_resp r;
    memset(&r, 0, sizeof r);
    ts_bytes body = {NULL, 0}, hdrs = {NULL, 0};
    CURL *c = curl_easy_init();
    /* An empty Expect: sends a body at once instead of waiting for 100. */
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; h && q->headers && q->headers[i]; i++) {
        struct curl_slist *more = curl_slist_append(h, q->headers[i]);
        if (!more) {
            curl_slist_free_all(h);
            h = NULL;
        }
        h = more;
    }
    r.curl_code = CURLE_OUT_OF_MEMORY;
    if (c && h) {
        curl_easy_setopt(c, CURLOPT_URL, q->url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
        if (strcmp(q->method, "HEAD") == 0)
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        if (q->body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
        }
        if (q->user) {
            curl_easy_setopt(c, CURLOPT_USERNAME, q->user);
            curl_easy_setopt(c, CURLOPT_PASSWORD, q->pass ? q->pass : "");
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ts_bytes_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ts_bytes_write);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms > 0 ? q->timeout_ms : 30000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        r.curl_code = (int)curl_easy_perform(c);
        if (r.curl_code == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.body = or_empty(body.buf);
    r.len = body.len;
    r.headers = or_empty(hdrs.buf);
    r.hlen = hdrs.len;
    return r;
}

void ts_resp_free(ts_resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

bool ts_resp_header(const ts_resp *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    const char *p = r->headers;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(p + len - v);
            if (vl >= cap)
                vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
        p = eol ? eol + 2 : NULL;
    }
    return false;
}
