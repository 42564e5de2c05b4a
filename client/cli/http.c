/* http.c — see http.h. */
#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_http_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    st_buf *b = ctx;
    return st_buf_add(b, p, size * n) == ST_OK ? size * n : 0;
}

int cli_http(const char *method, const char *url, const char *body, size_t len,
             unsigned timeout_s, cli_http_resp *out)
{
    memset(out, 0, sizeof *out);
    st_buf_init(&out->body, 0);
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    if (!c) {
        snprintf(out->error, sizeof out->error, "cannot start libcurl");
        return -1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    hdr = curl_slist_append(hdr, "Accept: application/json");
    if (body)
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(c);
    int ret = 0;
    if (rc != CURLE_OK) {
        snprintf(out->error, sizeof out->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        ret = -1;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    /* A body is always NUL-terminated text for the callers. */
    if (st_buf_addc(&out->body, '\0') != ST_OK) {
        snprintf(out->error, sizeof out->error, "out of memory");
        return -1;
    }
    out->body.len--;
    return ret;
}

void cli_http_resp_free(cli_http_resp *r) { st_buf_free(&r->body); }

bool cli_is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* RFC 3986 unreserved characters stay; everything else is %XX. */
static st_status add_escaped(st_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    st_status st = ST_OK;
    for (const unsigned char *p = (const unsigned char *)s; *p && st == ST_OK; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            st = st_buf_addc(b, (char)*p);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            st = st_buf_add(b, enc, 3);
        }
    }
    return st;
}

char *cli_url_join(const char *base, const char *path, bool literal)
{
    st_buf b = ST_BUF_INIT;
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    st_status st = st_buf_add(&b, base, n);
    if (st == ST_OK)
        st = st_buf_addc(&b, '/');
    if (st == ST_OK && literal) {
        st = st_buf_adds(&b, path);
    } else if (st == ST_OK) {
        const char *prefixes[] = {"_design/", "_local/"};
        for (size_t i = 0; i < 2 && st == ST_OK; i++) {
            size_t k = strlen(prefixes[i]);
            if (strncmp(path, prefixes[i], k) == 0 && path[k]) {
                st = st_buf_add(&b, path, k);
                path += k;
                break;
            }
        }
        if (st == ST_OK)
            st = add_escaped(&b, path);
    }
    if (st != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    return st_buf_take(&b, NULL);
}

char *cli_url_query(char *url, const char *name, const char *value)
{
    if (!url)
        return NULL;
    st_buf b = ST_BUF_INIT;
    st_status st = st_buf_adds(&b, url);
    if (st == ST_OK)
        st = st_buf_addc(&b, strchr(url, '?') ? '&' : '?');
    if (st == ST_OK)
        st = st_buf_adds(&b, name);
    if (st == ST_OK)
        st = st_buf_addc(&b, '=');
    if (st == ST_OK)
        st = add_escaped(&b, value);
    free(url);
    if (st != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    return st_buf_take(&b, NULL);
}

char *cli_url_display(const char *url)
{
    const char *sep = strstr(url, "://");
    const char *host = sep ? sep + 3 : url;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    if (!sep || !at || (slash && slash < at))
        return strdup(url);
    const char *colon = memchr(host, ':', (size_t)(at - host));
    size_t keep = (size_t)((colon ? colon : at) - url);
    size_t n = keep + strlen(at) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%.*s%s", (int)keep, url, at);
    return out;
}
