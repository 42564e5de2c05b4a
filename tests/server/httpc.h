/* httpc.h — the server tests' helpers: an in-process settee server on an
 * ephemeral 127.0.0.1 port and requests to it (support/http.h) as its
 * admin or anonymously.  Header-only because every tests/server/test_*.c
 * is its own program with one server at a time.  Every request has a hard
 * timeout, so a server bug fails a test instead of hanging it.
 */
#ifndef ST_TEST_HTTPC_H
#define ST_TEST_HTTPC_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st_serve.h"
#include "support/clock.h"
#include "support/http.h"
#include "support/json.h"
#include "support/tmp.h"

#define T_TIMEOUT_MS 10000L
#define T_ADMIN "admin"
#define T_PASS "s3cret"

/* Connect fd (a TCP socket the caller made, options set) to 127.0.0.1:port,
 * for the tests that speak raw bytes; connect()'s result. */
static inline int t_loopback_connect(int fd, unsigned port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(fd, (struct sockaddr *)&a, sizeof a);
}

/* status: the HTTP status, or -CURLcode when there was no answer. */
typedef ts_resp tresp;

/* What a test's own curl handle collects (a streamed feed): t_write fills it. */
typedef ts_bytes tbuf;
static inline size_t t_write(char *p, size_t sz, size_t n, void *ud)
{
    return ts_bytes_write(p, sz, n, ud);
}

static st_server *t_srv;
static char t_base[64];
static char t_dir[512];
/* Set before t_start_with to restart on a directory kept by t_stop_keep. */
static bool t_reuse_dir;

/* Start a server; extra settings as (section, key, value) triples, NULL-ended. */
static inline int t_start_with(const char *first_section, ...)
{
    if (!t_reuse_dir)
        ts_tmp_dir(t_dir, sizeof t_dir, "settee-srv");
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
    ts_rm_rf(t_dir);
}

/* Stop but keep the data directory (then t_reuse_dir = true; t_start_with). */
static inline void t_stop_keep(void)
{
    st_server_stop(t_srv);
    t_srv = NULL;
}

static inline void t_free(tresp *r) { ts_resp_free(r); }

/* One request.  auth: use the admin's Basic credentials.  hdrs: extra
 * header lines, NULL-terminated array or NULL. */
static inline tresp t_req_full(const char *method, const char *path, const char *body, size_t blen,
                               const char *ctype, bool auth, const char *const *hdrs)
{
    /* paths may be long (tests of limits) */
    size_t url_cap = strlen(t_base) + strlen(path) + 1;
    char *url = malloc(url_cap), ct[256];
    if (!url) {
        tresp r;
        memset(&r, 0, sizeof r);
        r.status = -1;
        return r;
    }
    snprintf(url, url_cap, "%s%s", t_base, path);
    const char *lines[64];
    size_t n = 0;
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        lines[n++] = ct;
    }
    for (size_t i = 0; hdrs && hdrs[i] && n < 63; i++)
        lines[n++] = hdrs[i];
    lines[n] = NULL;
    ts_req q = {.method = method,
                .url = url,
                .body = body,
                .len = blen,
                .user = auth ? T_ADMIN : NULL,
                .pass = auth ? T_PASS : NULL,
                .headers = lines,
                .timeout_ms = T_TIMEOUT_MS};
    tresp r = ts_http(&q);
    if (r.curl_code != CURLE_OK)
        r.status = -(long)r.curl_code;
    free(url);
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
    return ts_resp_header(r, name, out, cap);
}

static inline bool t_has(const tresp *r, const char *needle)
{
    return r->body && strstr(r->body, needle) != NULL;
}

/* Copy the value of "key":"value" from JSON text (first occurrence). */
static inline bool t_json_str(const char *json, const char *key, char *out, size_t cap)
{
    return ts_json_str(json, key, out, cap);
}

static inline double t_now_ms(void) { return (double)ts_now_ms(); }

#define T_EXPECT(resp, code)                                                                   \
    do {                                                                                       \
        if ((resp).status != (code))                                                           \
            fprintf(stderr, "%s:%d: status %ld (want %d): %s\n", __FILE__, __LINE__,          \
                    (resp).status, (code), (resp).body ? (resp).body : "");                    \
        assert_int_equal((resp).status, (code));                                               \
    } while (0)

#endif
