/* httpc.h — test helpers: an in-process settee server on an ephemeral
 * 127.0.0.1 port and a tiny libcurl client.  Header-only because every
 * tests/server/test_*.c is its own program.  Every request has a hard
 * timeout, so a server bug fails a test instead of hanging it.
 */
#ifndef ST_TEST_HTTPC_H
#define ST_TEST_HTTPC_H

#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st_serve.h"

#define T_TIMEOUT_MS 10000L
#define T_ADMIN "admin"
#define T_PASS "s3cret"

typedef struct tresp {
    long status;
    char *body;
    size_t len;
    char *headers;
    size_t hlen;
} tresp;

static st_server *t_srv;
static char t_base[64];
static char t_dir[512];
/* Set before t_start_with to restart on a directory kept by t_stop_keep. */
static bool t_reuse_dir;

typedef struct tbuf {
    char *buf;
    size_t len;
} tbuf;

static inline size_t t_write(char *p, size_t sz, size_t n, void *ud)
{
    tbuf *b = ud;
    size_t add = sz * n;
    char *g = realloc(b->buf, b->len + add + 1);
    if (!g)
        return 0;
    memcpy(g + b->len, p, add);
    b->len += add;
    g[b->len] = '\0';
    b->buf = g;
    return add;
}

static inline void t_rm_rf(const char *dir)
{
    char cmd[700];
    if (!dir[0] || strstr(dir, "settee-srv-") == NULL)
        return; /* only our own scratch directories */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* Start a server; extra settings as (section, key, value) triples, NULL-ended. */
static inline int t_start_with(const char *first_section, ...)
{
    const char *tmp = getenv("SETTEE_TEST_TMP");
    static unsigned counter;
    if (!t_reuse_dir) {
        snprintf(t_dir, sizeof t_dir, "%s/settee-srv-%ld-%u", tmp ? tmp : "/tmp",
                 (long)getpid(), counter++);
        t_rm_rf(t_dir);
    }
    t_reuse_dir = false;
    st_config *c = st_config_new();
    st_error e;
    if (!c)
        return -1;
    if (st_config_set(c, "couchdb", "database_dir", t_dir, &e) != ST_OK ||
        st_config_set(c, "chttpd", "port", "0", &e) != ST_OK ||
        st_config_set(c, "admins", T_ADMIN, T_PASS, &e) != ST_OK ||
        st_config_set(c, "settee", "durability", "normal", &e) != ST_OK ||
        /* These tests exercise the API, not access control (test_http_security.c
         * does): new databases are public here, and the admin's hash cheap. */
        st_config_set(c, "couchdb", "default_security", "everyone", &e) != ST_OK ||
        st_config_set(c, "chttpd_auth", "iterations", "10", &e) != ST_OK ||
        st_config_set(c, "log", "level", getenv("SETTEE_TEST_LOG") ? "debug" : "warning", &e) !=
            ST_OK) {
        st_config_free(c);
        return -1;
    }
    /* Design-document JavaScript: this build's settee-js. */
    const char *js = getenv("SETTEE_JS");
    if (js && st_config_set(c, "query_servers", "javascript", js, &e) != ST_OK) {
        st_config_free(c);
        return -1;
    }
    va_list ap;
    va_start(ap, first_section);
    const char *sec = first_section;
    while (sec) {
        const char *key = va_arg(ap, const char *);
        const char *val = va_arg(ap, const char *);
        if (st_config_set(c, sec, key, val, &e) != ST_OK) {
            fprintf(stderr, "config: %s\n", e.reason);
            va_end(ap);
            st_config_free(c);
            return -1;
        }
        sec = va_arg(ap, const char *);
    }
    va_end(ap);
    st_status s = st_server_start(c, &t_srv, &e);
    st_config_free(c);
    if (s != ST_OK) {
        fprintf(stderr, "server start: %s\n", e.reason);
        return -1;
    }
    snprintf(t_base, sizeof t_base, "http://127.0.0.1:%u", st_server_port(t_srv));
    return 0;
}

static inline void t_stop(void)
{
    st_server_stop(t_srv);
    t_srv = NULL;
    t_rm_rf(t_dir);
}

/* Stop but keep the data directory (then t_reuse_dir = true; t_start_with). */
static inline void t_stop_keep(void)
{
    st_server_stop(t_srv);
    t_srv = NULL;
}

static inline void t_free(tresp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

/* One request.  auth: use the admin's Basic credentials.  hdrs: extra
 * header lines, NULL-terminated array or NULL. */
static inline tresp t_req_full(const char *method, const char *path, const char *body, size_t blen,
                        const char *ctype, bool auth, const char *const *hdrs)
{
    tresp r;
    memset(&r, 0, sizeof r);
    tbuf bb = {NULL, 0}, hb = {NULL, 0};
    size_t url_cap = strlen(t_base) + strlen(path) + 1; /* paths may be long (tests of limits) */
    char *url = malloc(url_cap);
    CURL *c = url ? curl_easy_init() : NULL;
    if (!c) {
        free(url);
        r.status = -1;
        return r;
    }
    snprintf(url, url_cap, "%s%s", t_base, path);
    struct curl_slist *h = NULL;
    char ct[256];
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        h = curl_slist_append(h, ct);
    }
    h = curl_slist_append(h, "Expect:");
    for (size_t i = 0; hdrs && hdrs[i]; i++)
        h = curl_slist_append(h, hdrs[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    if (auth) {
        curl_easy_setopt(c, CURLOPT_USERNAME, T_ADMIN);
        curl_easy_setopt(c, CURLOPT_PASSWORD, T_PASS);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, t_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, t_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, T_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else
        r.status = -(long)cc;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
    r.body = bb.buf ? bb.buf : calloc(1, 1);
    r.len = bb.len;
    r.headers = hb.buf ? hb.buf : calloc(1, 1);
    r.hlen = hb.len;
    return r;
}

static inline tresp t_req(const char *method, const char *path, const char *body, bool auth)
{
    return t_req_full(method, path, body, body ? strlen(body) : 0,
                      body ? "application/json" : NULL, auth, NULL);
}

/* Case-insensitive header lookup in a response; copies the value. */
static inline bool t_header(const tresp *r, const char *name, char *out, size_t cap)
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

static inline bool t_has(const tresp *r, const char *needle)
{
    return r->body && strstr(r->body, needle) != NULL;
}

/* Copy the value of "key":"value" from JSON text (first occurrence). */
static inline bool t_json_str(const char *json, const char *key, char *out, size_t cap)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return false;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

static inline double t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define T_EXPECT(resp, code)                                                                   \
    do {                                                                                       \
        if ((resp).status != (code))                                                           \
            fprintf(stderr, "%s:%d: status %ld (want %d): %s\n", __FILE__, __LINE__,          \
                    (resp).status, (code), (resp).body ? (resp).body : "");                    \
        assert_int_equal((resp).status, (code));                                               \
    } while (0)

#endif
