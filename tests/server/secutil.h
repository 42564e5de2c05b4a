/* secutil.h — helpers shared by the security tests (test_http_security.c,
 * test_http_users.c, test_http_auth.c): requests as a named user, users
 * made by the server admin, and a streaming reader on a thread of its own
 * for feeds that must end.  Header-only, on top of httpc.h.  Every wait
 * is bounded in time. */
#ifndef ST_TEST_SECUTIL_H
#define ST_TEST_SECUTIL_H

#include <pthread.h>
#include "httpc.h"
#include "st_base64.h"

#define S_JSON "application/json"

/* "Authorization: Basic <base64(name:pw)>" into out. */
static inline void s_basic_header(const char *name, const char *pw, char *out, size_t cap)
{
    char creds[512], b64[800];
    snprintf(creds, sizeof creds, "%s:%s", name, pw);
    st_b64_encode(ST_B64_STD, (const unsigned char *)creds, strlen(creds), b64, sizeof b64);
    snprintf(out, cap, "Authorization: Basic %s", b64);
}

/* One request with extra header lines (hdr1, hdr2 may be NULL). */
static inline tresp s_req_h(const char *method, const char *path, const char *body,
                            const char *ctype, const char *hdr1, const char *hdr2)
{
    const char *h[3];
    size_t k = 0;
    if (hdr1)
        h[k++] = hdr1;
    if (hdr2)
        h[k++] = hdr2;
    h[k] = NULL;
    return t_req_full(method, path, body, body ? strlen(body) : 0,
                      body && !ctype ? S_JSON : ctype, false, h);
}

/* One request as name/pw (name NULL: anonymous). */
static inline tresp s_req_as(const char *name, const char *pw, const char *method,
                             const char *path, const char *body)
{
    char auth[1024];
    if (name)
        s_basic_header(name, pw, auth, sizeof auth);
    return s_req_h(method, path, body, NULL, name ? auth : NULL, NULL);
}

static inline tresp s_admin(const char *method, const char *path, const char *body)
{
    return t_req_full(method, path, body, body ? strlen(body) : 0, body ? S_JSON : NULL, true,
                      NULL);
}

/* The admin does it and it must succeed with `want`. */
static inline void s_admin_ok(const char *method, const char *path, const char *body, long want)
{
    tresp r = s_admin(method, path, body);
    if (r.status != want)
        fprintf(stderr, "admin %s %s: %ld (want %ld): %s\n", method, path, r.status, want,
                r.body);
    assert_int_equal(r.status, want);
    t_free(&r);
}

/* Current _rev of a document, read by the admin ("" when missing). */
static inline void s_rev_of(const char *path, char *rev, size_t cap)
{
    tresp r = s_admin("GET", path, NULL);
    if (r.status != 200 || !t_json_str(r.body, "_rev", rev, cap))
        rev[0] = '\0';
    t_free(&r);
}

/* Create or replace the user document of name (roles: a JSON array). */
static inline void s_user_put(const char *name, const char *pw, const char *roles)
{
    char path[256], body[1024], rev[128];
    snprintf(path, sizeof path, "/_users/org.couchdb.user:%s", name);
    s_rev_of(path, rev, sizeof rev);
    snprintf(body, sizeof body,
             "{%s%s%s\"name\":\"%s\",\"password\":\"%s\",\"roles\":%s,\"type\":\"user\"}",
             rev[0] ? "\"_rev\":\"" : "", rev, rev[0] ? "\"," : "", name, pw, roles);
    tresp r = s_admin("PUT", path, body);
    if (r.status != 201)
        fprintf(stderr, "user %s: %ld %s\n", name, r.status, r.body);
    assert_int_equal(r.status, 201);
    t_free(&r);
}

static inline void s_user_delete(const char *name)
{
    char path[256], rev[128], del[400];
    snprintf(path, sizeof path, "/_users/org.couchdb.user:%s", name);
    s_rev_of(path, rev, sizeof rev);
    assert_true(rev[0] != '\0');
    snprintf(del, sizeof del, "%s?rev=%s", path, rev);
    s_admin_ok("DELETE", del, NULL, 200);
}

/* Wait (bounded) until the admin sees pred hold for GET path. */
static inline bool s_wait_status(const char *path, long want, double ms)
{
    double end = t_now_ms() + ms;
    for (;;) {
        tresp r = s_admin("GET", path, NULL);
        long st = r.status;
        t_free(&r);
        if (st == want)
            return true;
        if (t_now_ms() > end)
            return false;
        usleep(20 * 1000);
    }
}

static inline void s_sleep_ms(unsigned ms)
{
    usleep(ms * 1000u);
}

/* ---- a streaming GET on its own thread (a feed that must end) */

typedef struct s_stream {
    pthread_t t;
    char url[1024];
    char auth[1024];
    char *body; /* NULL: GET, else POST of this JSON */
    pthread_mutex_t mu;
    char *buf;
    size_t len;
    bool done;
    long status;
    double ended_ms;
} s_stream;

static inline size_t s_stream_write(char *p, size_t sz, size_t n, void *ud)
{
    s_stream *s = ud;
    pthread_mutex_lock(&s->mu);
    tbuf b = {s->buf, s->len};
    size_t r = t_write(p, sz, n, &b);
    s->buf = b.buf;
    s->len = b.len;
    pthread_mutex_unlock(&s->mu);
    return r;
}

static inline void *s_stream_main(void *arg)
{
    s_stream *s = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (s->auth[0])
        h = curl_slist_append(h, s->auth);
    if (s->body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, s->body);
    }
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_stream_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    CURLcode cc = curl_easy_perform(c);
    long st = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    else
        st = -(long)cc;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    pthread_mutex_lock(&s->mu);
    s->status = st;
    s->done = true;
    s->ended_ms = t_now_ms();
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Start GET path (POST of body when not NULL) as name/pw (name NULL:
 * anonymous).  On the heap, so that a failed assertion (which leaves the
 * thread running) corrupts nothing. */
static inline s_stream *s_stream_open_post(const char *name, const char *pw, const char *path,
                                           const char *body)
{
    s_stream *s = calloc(1, sizeof *s);
    assert_non_null(s);
    if (body)
        assert_non_null(s->body = strdup(body));
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->url, sizeof s->url, "%s%s", t_base, path);
    if (name)
        s_basic_header(name, pw, s->auth, sizeof s->auth);
    assert_int_equal(pthread_create(&s->t, NULL, s_stream_main, s), 0);
    return s;
}

static inline s_stream *s_stream_open(const char *name, const char *pw, const char *path)
{
    return s_stream_open_post(name, pw, path, NULL);
}

static inline bool s_stream_has(s_stream *s, const char *needle)
{
    pthread_mutex_lock(&s->mu);
    bool has = s->buf && strstr(s->buf, needle);
    pthread_mutex_unlock(&s->mu);
    return has;
}

static inline bool s_stream_done(s_stream *s)
{
    pthread_mutex_lock(&s->mu);
    bool d = s->done;
    pthread_mutex_unlock(&s->mu);
    return d;
}

/* Wait up to ms for needle (NULL: for the end). */
static inline bool s_stream_wait(s_stream *s, const char *needle, double ms)
{
    double end = t_now_ms() + ms;
    while (t_now_ms() < end) {
        if (needle ? s_stream_has(s, needle) : s_stream_done(s))
            return true;
        if (needle && s_stream_done(s))
            return s_stream_has(s, needle);
        usleep(10 * 1000);
    }
    return needle ? s_stream_has(s, needle) : s_stream_done(s);
}

/* Join (the transfer has a 30 s cap) and free. */
static inline void s_stream_close(s_stream *s)
{
    pthread_join(s->t, NULL);
    free(s->buf);
    free(s->body);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

#endif
