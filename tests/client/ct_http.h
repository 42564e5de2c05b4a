/* ct_http.h — one blocking HTTP request to a test's `settee serve` as its
 * admin (libcurl's easy interface), for what libsettee does not do: making
 * users, databases and _security objects.  Call curl_global_init first.
 * Every request gives up after 30 s.
 */
#ifndef CLIENT_CT_HTTP_H
#define CLIENT_CT_HTTP_H

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_testutil.h"

typedef struct ct_resp {
    long status;   /* 0: no answer */
    char *body;    /* NUL-terminated, never NULL; free() it */
    size_t len;
} ct_resp;

static inline size_t ct_resp_write(char *p, size_t size, size_t n, void *ctx)
{
    ct_resp *r = ctx;
    char *b = realloc(r->body, r->len + size * n + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, size * n);
    r->len += size * n;
    b[r->len] = '\0';
    r->body = b;
    return size * n;
}

/* method s->url + path, with body as JSON when non-NULL. */
static inline ct_resp ct_http(const ct_server *s, const char *method, const char *path,
                              const char *body)
{
    ct_resp r = {0, NULL, 0};
    char url[4096];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    if (c && h) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_USERNAME, CT_ADMIN);
        curl_easy_setopt(c, CURLOPT_PASSWORD, CT_PASS);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ct_resp_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        }
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r.body)
        r.body = strdup("");
    return r;
}

static inline long ct_http_status(const ct_server *s, const char *method, const char *path,
                                  const char *body)
{
    ct_resp r = ct_http(s, method, path, body);
    free(r.body);
    return r.status;
}

#endif
