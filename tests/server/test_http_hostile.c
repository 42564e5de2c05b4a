/* test_http_hostile.c — what an anonymous or careless client can send, each
 * test sending exactly that input (issue 10): many query parameters, broken
 * HTTP framing (a NUL in the request line, transfer codings, conflicting
 * lengths), invalid UTF-8 in names, deep nesting, oversized read-only
 * bodies, decompression bombs.  The server runs in this process under the
 * sanitizers, so a request record that is never freed fails the run as a
 * leak, and a request that never completes makes t_stop wait its grace
 * period (checked). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <zlib.h>

#include "http.h" /* ST_MAX_QUERY_PARAMS */
#include "httpc.h"
#include "st_utf8.h"

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Small caps so that each limit is reached with small inputs: read-only
     * bodies 64 KiB, requests 4 MiB (the total a request's gzip parts may
     * decode to), attachments 3 MiB. */
    return t_start_with("settee", "connection_timeout", "5", "settee", "max_read_body_size",
                        "65536", "chttpd", "max_http_request_size", "4194304", "couchdb",
                        "max_attachment_size", "3145728", NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    if (t_srv)
        t_stop();
    curl_global_cleanup();
    return 0;
}

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(t_loopback_connect(fd, st_server_port(t_srv)), 0);
    return fd;
}

/* Send req[0..n) on a fresh connection and read until the server closes it
 * or ms pass.  Returns the bytes read (malloc'd, NUL-terminated); *closed
 * says whether the server closed the connection in time. */
static char *raw_exchange(const char *req, size_t n, int ms, bool *closed)
{
    int fd = raw_connect();
    assert_int_equal(send(fd, req, n, MSG_NOSIGNAL), (ssize_t)n);
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    double end = t_now_ms() + ms;
    *closed = false;
    for (;;) {
        double left = end - t_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t k = recv(fd, buf + got, cap - 1 - got, 0);
        if (k <= 0) {
            *closed = true;
            break;
        }
        got += (size_t)k;
        if (got == cap - 1)
            break;
    }
    close(fd);
    buf[got] = '\0';
    return buf;
}

/* "/_up?p0=1&p1=1&..." with n parameters. */
static char *many_params(const char *path, unsigned n)
{
    size_t cap = strlen(path) + 2 + (size_t)n * 16;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t len = (size_t)snprintf(s, cap, "%s", path);
    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%sp%u=1", i ? "&" : "?", i);
    return s;
}

/* Issue 10 #2: GET /_up?p0=1&...&p599=1 hung (libmicrohttpd filled its
 * connection pool with parameter records and neither answered nor freed
 * the request).  Up to ST_MAX_QUERY_PARAMS are served, past it 414. */
static void test_many_query_params(void **state)
{
    (void)state;
    static const struct {
        unsigned n;
        long status;
    } cases[] = {{459, 200}, {460, 200}, {470, 200}, {600, 200}, {999, 200},
                 {ST_MAX_QUERY_PARAMS, 200}, {ST_MAX_QUERY_PARAMS + 1, 414}, {3000, 414}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = many_params("/_up", cases[i].n);
        double t0 = t_now_ms();
        tresp r = t_req("GET", path, NULL, false);
        if (r.status != cases[i].status)
            fprintf(stderr, "%u parameters: %ld\n", cases[i].n, r.status);
        T_EXPECT(r, (int)cases[i].status);
        assert_true(t_now_ms() - t0 < 3000);
        if (cases[i].status == 414)
            assert_string_equal(r.body,
                                "{\"error\":\"too_long\",\"reason\":\"the request uri is too long\"}\n");
        t_free(&r);
        free(path);
    }
    /* The parameters still reach the handler: the 600th is read. */
    char *path = many_params("/_uuids", 599); /* room to spare: 16 bytes a parameter */
    strcat(path, "&count=3");
    tresp r = t_req("GET", path, NULL, false);
    T_EXPECT(r, 200);
    size_t quotes = 0;
    for (const char *q = r.body; *q; q++)
        quotes += *q == '"';
    assert_int_equal(quotes, 2 + 3 * 2); /* "uuids" and three uuids */
    t_free(&r);
    free(path);
    /* A request line longer than the connection's memory: MHD's 414. */
    size_t n = 40000;
    char *lp = malloc(n + 16);
    assert_non_null(lp);
    memcpy(lp, "/_up?a=", 7);
    memset(lp + 7, 'x', n);
    lp[7 + n] = '\0';
    r = t_req("GET", lp, NULL, false);
    T_EXPECT(r, 414);
    t_free(&r);
    free(lp);
    /* Many parameters, anonymous, many times: every request completes and
     * is freed (a leak would fail this sanitizer build at exit). */
    path = many_params("/_up", 600);
    for (int i = 0; i < 200; i++) {
        r = t_req("GET", path, NULL, false);
        T_EXPECT(r, 200);
        t_free(&r);
    }
    free(path);
}

/* Issue 10 #9: framing MHD accepted or hung on. */
static void test_framing(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        size_t len; /* 0: strlen */
        const char *status_line;
        const char *body;
    } cases[] = {
        /* A NUL in the request line was cut there: "GET /" was served. */
        {"GET /\0abc HTTP/1.1\r\nHost: x\r\n\r\n", 31, "HTTP/1.1 400",
         "{\"error\":\"bad_request\",\"reason\":\"Malformed request line\"}\n"},
        {"GET /_up?a=1\0b HTTP/1.1\r\nHost: x\r\n\r\n", 36, "HTTP/1.1 400",
         "{\"error\":\"bad_request\",\"reason\":\"Malformed request line\"}\n"},
        /* A transfer coding other than chunked: the body's end is unknown
         * (it was read until the connection's timeout). */
        {"PUT /framing/doc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
         "Content-Type: application/json\r\n\r\n{}",
         0, "HTTP/1.1 501",
         "{\"error\":\"not_implemented\",\"reason\":\"Only the chunked transfer coding is "
         "supported\"}\n"},
        {"POST /framing/_bulk_docs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
         "\r\n0\r\n\r\n",
         0, "HTTP/1.1 501", NULL},
        {"POST /framing/_bulk_docs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         0, "HTTP/1.1 400",
         "{\"error\":\"bad_request\",\"reason\":\"Transfer-Encoding is repeated\"}\n"},
        /* Two framings of one body. */
        {"POST /framing/_bulk_docs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
         "Content-Length: 3\r\n\r\n{}x",
         0, "HTTP/1.1 400",
         "{\"error\":\"bad_request\",\"reason\":\"Conflicting Content-Length headers\"}\n"},
        {"POST /framing/_bulk_docs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         0, "HTTP/1.1 400",
         "{\"error\":\"bad_request\",\"reason\":\"Transfer-Encoding and Content-Length are both "
         "given\"}\n"},
        /* The same length twice is one framing (RFC 9110 allows it). */
        {"GET /_up HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n"
         "Connection: close\r\n\r\n",
         0, "HTTP/1.1 200", "{\"status\":\"ok\",\"seeds\":{}}\n"},
        {"GET /_up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0, "HTTP/1.1 200",
         "{\"status\":\"ok\",\"seeds\":{}}\n"},
    };
    tresp r = t_req("PUT", "/framing", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].req);
        bool closed = false;
        double t0 = t_now_ms();
        char *got = raw_exchange(cases[i].req, len, 4000, &closed);
        if (strncmp(got, cases[i].status_line, strlen(cases[i].status_line)) != 0)
            fprintf(stderr, "case %zu: %s\n", i, got);
        assert_memory_equal(got, cases[i].status_line, strlen(cases[i].status_line));
        /* Answered and closed at once, not at the connection timeout. */
        assert_true(closed);
        assert_true(t_now_ms() - t0 < 2000);
        if (cases[i].body) {
            const char *b = strstr(got, "\r\n\r\n");
            assert_non_null(b);
            assert_string_equal(b + 4, cases[i].body);
        }
        free(got);
    }
    /* Nothing of the refused bodies was stored. */
    r = t_req("GET", "/framing", NULL, false);
    assert_true(t_has(&r, "\"doc_count\":0"));
    t_free(&r);
}

/* Issue 10 #1: PUT /db/%ff%fe answered 201 and made _all_docs and
 * _changes invalid JSON.  Ids, _local ids, design ids, attachment and
 * database names that are not UTF-8 are refused with CouchDB's words, and
 * every answer is UTF-8. */
static void test_invalid_utf8_names(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/utf", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    static const char illegal_docid[] =
        "{\"error\":\"illegal_docid\",\"reason\":\"Document id must be valid UTF-8\"}\n";
    static const struct {
        const char *method, *path, *body;
        long status;
        const char *answer;
    } cases[] = {
        {"PUT", "/utf/%ff%fe", "{}", 400, illegal_docid},
        {"PUT", "/utf/a%80", "{}", 400, illegal_docid},
        {"PUT", "/utf/%c0%af", "{}", 400, illegal_docid},          /* overlong '/' */
        {"PUT", "/utf/%ed%a0%80", "{}", 400, illegal_docid},       /* a surrogate */
        {"PUT", "/utf/_local/%ff", "{}", 400, illegal_docid},
        {"PUT", "/utf/_design/%ff", "{}", 400, illegal_docid},
        {"DELETE", "/utf/%ff?rev=1-0785e9eb543380151003dc452c3a001a", NULL, 400, illegal_docid},
        {"POST", "/utf", "{\"_id\":\"\xff\"}", 400,
         "{\"error\":\"bad_request\",\"reason\":\"invalid UTF-8 JSON\"}\n"},
        {"PUT", "/utf/doc/%ff.txt", "hi", 400,
         "{\"error\":\"bad_request\",\"reason\":\"Attachment name is not UTF-8 encoded\"}\n"},
        {"PUT", "/utf/%c3%a9t%c3%a9", "{}", 201, NULL},             /* valid: stored */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *b = cases[i].body;
        bool att = strstr(cases[i].path, ".txt") != NULL;
        r = t_req_full(cases[i].method, cases[i].path, b, b ? strlen(b) : 0,
                       b ? (att ? "text/plain" : "application/json") : NULL, true, NULL);
        if (r.status != cases[i].status)
            fprintf(stderr, "%s %s: %ld %s\n", cases[i].method, cases[i].path, r.status, r.body);
        T_EXPECT(r, (int)cases[i].status);
        if (cases[i].answer)
            assert_string_equal(r.body, cases[i].answer);
        assert_true(st_utf8_valid(r.body, r.len));
        t_free(&r);
    }
    /* A database name is ASCII by CouchDB's rule; the reason quoting it is
     * still UTF-8 (each bad byte shown as U+FFFD). */
    r = t_req("PUT", "/%ff", NULL, true);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "\"error\":\"illegal_database_name\""));
    assert_true(t_has(&r, "Name: '\xef\xbf\xbd'."));
    assert_true(st_utf8_valid(r.body, r.len));
    t_free(&r);
    /* Only the valid id was stored; the listings are UTF-8 JSON. */
    static const char *const lists[] = {"/utf/_all_docs", "/utf/_changes", "/utf"};
    for (size_t i = 0; i < 3; i++) {
        r = t_req("GET", lists[i], NULL, true);
        T_EXPECT(r, 200);
        assert_true(st_utf8_valid(r.body, r.len));
        if (i == 0)
            assert_true(t_has(&r, "\"total_rows\":1"));
        t_free(&r);
    }
}

/* {"a":[{"a":[...1...]}]} nested n levels. */
static char *deep_json(unsigned n, const char *prefix, const char *suffix)
{
    size_t cap = strlen(prefix) + strlen(suffix) + 8 * (size_t)n + 16, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    len += (size_t)snprintf(s, cap, "%s", prefix);
    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, i % 2 ? "[" : "{\"a\":");
    s[len++] = '1';
    for (unsigned i = n; i-- > 0;)
        s[len++] = i % 2 ? ']' : '}';
    snprintf(s + len, cap - len, "%s", suffix);
    return s;
}

/* Issue 10 #7: documents nested over 64 levels were refused as "invalid
 * UTF-8 JSON"; CouchDB stores 65, 100 and 1,000.  Every path takes 4,000
 * levels; past the parser's limit the answer says why. */
static void test_nesting(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/nest", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    static const unsigned ok_levels[] = {65, 100, 1000, 4000};
    char path[64];
    for (size_t i = 0; i < sizeof ok_levels / sizeof ok_levels[0]; i++) {
        unsigned n = ok_levels[i];
        char *doc = deep_json(n, "", "");
        snprintf(path, sizeof path, "/nest/d%u", n);
        r = t_req("PUT", path, doc, false);
        T_EXPECT(r, 201);
        t_free(&r);
        /* read back: the stored body is the document, "a" first after the
         * _id and _rev members */
        r = t_req("GET", path, NULL, false);
        T_EXPECT(r, 200);
        const char *body = strstr(r.body, ",\"a\":");
        assert_non_null(body);
        assert_int_equal(strlen(body + 1), strlen(doc)); /* doc without '{', then '\n' */
        assert_memory_equal(body + 1, doc + 1, strlen(doc) - 1);
        t_free(&r);
        /* in the envelopes of _bulk_get and _all_docs */
        char req[128];
        snprintf(req, sizeof req, "{\"docs\":[{\"id\":\"d%u\"}]}", n);
        r = t_req("POST", "/nest/_bulk_get", req, false);
        T_EXPECT(r, 200);
        assert_true(t_has(&r, "\"ok\""));
        t_free(&r);
        snprintf(path, sizeof path, "/nest/_all_docs?include_docs=true&key=%%22d%u%%22", n);
        r = t_req("GET", path, NULL, false);
        T_EXPECT(r, 200);
        assert_true(t_has(&r, "\"doc\""));
        t_free(&r);
        free(doc);
        /* and through _bulk_docs, two levels deeper in the request */
        char prefix[64];
        snprintf(prefix, sizeof prefix, "{\"docs\":[{\"_id\":\"b%u\",\"x\":", n);
        doc = deep_json(n, prefix, "}]}");
        r = t_req("POST", "/nest/_bulk_docs", doc, false);
        T_EXPECT(r, 201);
        assert_true(t_has(&r, "\"ok\":true"));
        t_free(&r);
        free(doc);
    }
    /* One level past the parser's limit (ST_JSON_DEFAULT_DEPTH). */
    char *doc = deep_json(4097, "", "");
    r = t_req("PUT", "/nest/toodeep", doc, false);
    T_EXPECT(r, 400);
    assert_string_equal(r.body, "{\"error\":\"bad_request\",\"reason\":\"nesting too deep\"}\n");
    t_free(&r);
    free(doc);
    /* and bad JSON is still called that */
    r = t_req("PUT", "/nest/bad", "{\"a\":", false);
    T_EXPECT(r, 400);
    assert_string_equal(r.body, "{\"error\":\"bad_request\",\"reason\":\"invalid UTF-8 JSON\"}\n");
    t_free(&r);
}

/* Issue 10 #5: read-only POSTs buffered bodies up to max_http_request_size
 * (4 GiB).  They, and any request that writes no document, now have
 * max_read_body_size; a declared larger body is refused before it is read,
 * a chunked one when it passes the cap. */
static void test_read_body_cap(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/caps", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    static const char *const reads[] = {"/caps/_all_docs", "/caps/_bulk_get", "/caps/_revs_diff",
                                        "/caps/_changes"};
    /* Declared: 100 MB announced, nothing sent; the 413 comes at once. */
    for (size_t i = 0; i < 4; i++) {
        char req[256];
        int n = snprintf(req, sizeof req,
                         "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 100000000\r\n\r\n",
                         reads[i]);
        bool closed = false;
        double t0 = t_now_ms();
        char *got = raw_exchange(req, (size_t)n, 3000, &closed);
        if (strncmp(got, "HTTP/1.1 413", 12) != 0)
            fprintf(stderr, "%s: %s\n", reads[i], got);
        assert_memory_equal(got, "HTTP/1.1 413", 12);
        assert_non_null(strstr(got, "{\"error\":\"too_large\",\"reason\":\"the request entity is too large\"}"));
        assert_true(t_now_ms() - t0 < 2000);
        free(got);
    }
    /* Sent: 65,537 bytes of a keys list to each, and to GET /_up. */
    size_t n = 65537;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"keys\":[", 9);
    memcpy(big + n - 2, "]}", 2);
    big[n] = '\0';
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    for (size_t i = 0; i < 4; i++) {
        r = t_req("POST", reads[i], big, false);
        T_EXPECT(r, 413);
        t_free(&r);
        r = t_req_full("POST", reads[i], big, n, "application/json", false, chunked);
        T_EXPECT(r, 413);
        t_free(&r);
        /* one byte under the cap is read and answered */
        r = t_req_full("POST", reads[i], big + 1, n - 1, "application/json", false, NULL);
        assert_true(r.status != 413);
        t_free(&r);
    }
    r = t_req_full("GET", "/_up", big, n, "application/json", false, NULL);
    T_EXPECT(r, 413);
    t_free(&r);
    /* Document writes keep max_http_request_size (4 MiB here). */
    size_t dn = 200000;
    char *doc = malloc(dn + 64);
    assert_non_null(doc);
    int k = snprintf(doc, dn + 64, "{\"docs\":[{\"_id\":\"big\",\"s\":\"");
    memset(doc + k, 'x', dn);
    strcpy(doc + k + dn, "\"}]}");
    r = t_req("POST", "/caps/_bulk_docs", doc, false);
    T_EXPECT(r, 201);
    t_free(&r);
    free(doc);
    free(big);
}

/* gzip of n zero bytes (the bomb: ~1,000 times smaller). */
static unsigned char *gz_zeros(size_t n, size_t *out_n)
{
    unsigned char *zeros = calloc(1, n);
    assert_non_null(zeros);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    z.next_in = zeros;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    free(zeros);
    return out;
}

/* A multipart/related PUT: the document, then parts gzip-encoded parts of
 * the same bytes z, named a0.bin, a1.bin, ... */
static char *bomb(unsigned parts, size_t plain, const unsigned char *z, size_t zn, size_t *out_n)
{
    size_t cap = 4096 + parts * (zn + 256);
    char *b = malloc(cap);
    assert_non_null(b);
    size_t len = (size_t)snprintf(b, cap, "--xyz\r\nContent-Type: application/json\r\n\r\n"
                                          "{\"_attachments\":{");
    for (unsigned i = 0; i < parts; i++)
        len += (size_t)snprintf(b + len, cap - len,
                                "%s\"a%u.bin\":{\"content_type\":\"application/octet-stream\","
                                "\"follows\":true,\"encoding\":\"gzip\",\"length\":%zu}",
                                i ? "," : "", i, plain);
    len += (size_t)snprintf(b + len, cap - len, "}}");
    for (unsigned i = 0; i < parts; i++) {
        len += (size_t)snprintf(b + len, cap - len,
                                "\r\n--xyz\r\nContent-Disposition: attachment; filename=\"a%u.bin\"\r\n"
                                "Content-Type: application/octet-stream\r\nContent-Encoding: gzip\r\n\r\n",
                                i);
        memcpy(b + len, z, zn);
        len += zn;
    }
    len += (size_t)snprintf(b + len, cap - len, "\r\n--xyz--");
    *out_n = len;
    return b;
}

/* Issue 10 #6: a 1 MB multipart PUT of four gzip parts decoded to 1 GB: each
 * part was capped, the request was not.  Here parts are capped at 3 MiB
 * (max_attachment_size) and a request's parts at 4 MiB in total
 * (max_http_request_size). */
static void test_decompression_bomb(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/bomb", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    size_t zn = 0, n = 0;
    unsigned char *z = gz_zeros(3u << 20, &zn); /* 3 MiB of zeros, ~3 KB */
    static const struct {
        unsigned parts;
        long status;
        const char *answer;
    } cases[] = {
        {1, 201, NULL},
        {2, 413, "{\"error\":\"too_large\",\"reason\":\"The attachments of this request decode "
                 "to more than the request size limit\"}\n"},
        {4, 413, NULL},
        {64, 413, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = bomb(cases[i].parts, 3u << 20, z, zn, &n);
        char path[64];
        snprintf(path, sizeof path, "/bomb/d%u", cases[i].parts);
        r = t_req_full("PUT", path, body, n, "multipart/related; boundary=\"xyz\"", false, NULL);
        T_EXPECT(r, (int)cases[i].status);
        if (cases[i].answer)
            assert_string_equal(r.body, cases[i].answer);
        t_free(&r);
        free(body);
    }
    free(z);
    /* One part past the attachment cap is that cap's error. */
    z = gz_zeros((3u << 20) + 1, &zn);
    char *body = bomb(1, (3u << 20) + 1, z, zn, &n);
    r = t_req_full("PUT", "/bomb/over", body, n, "multipart/related; boundary=\"xyz\"", false, NULL);
    T_EXPECT(r, 413);
    assert_true(t_has(&r, "\"error\":\"attachment_too_large\""));
    t_free(&r);
    free(body);
    free(z);
    r = t_req("GET", "/bomb", NULL, false);
    assert_true(t_has(&r, "\"doc_count\":1"));
    t_free(&r);
}

/* Issue 10 #4 (_bulk_get): the answer is streamed; it is the same answer. */
static void test_bulk_get_streamed(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/bg", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    /* 300 documents of 1 KB: the answer passes several 64 KiB pieces. */
    char pad[1001];
    memset(pad, 'p', 1000);
    pad[1000] = '\0';
    size_t cap = 300 * 1100 + 64, len = 0;
    char *docs = malloc(cap);
    assert_non_null(docs);
    len += (size_t)snprintf(docs + len, cap - len, "{\"docs\":[");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(docs + len, cap - len, "%s{\"_id\":\"d%03d\",\"pad\":\"%s\"}",
                                i ? "," : "", i, pad);
    snprintf(docs + len, cap - len, "]}");
    r = t_req("POST", "/bg/_bulk_docs", docs, false);
    T_EXPECT(r, 201);
    t_free(&r);
    free(docs);
    len = 0;
    char *req = malloc(300 * 40 + 64);
    assert_non_null(req);
    len += (size_t)sprintf(req, "{\"docs\":[");
    for (int i = 0; i < 300; i++)
        len += (size_t)sprintf(req + len, "%s{\"id\":\"d%03d\"}", i ? "," : "", i);
    len += (size_t)sprintf(req + len, ",{\"id\":\"nope\"},{\"rev\":\"1-x\"}]}");
    r = t_req("POST", "/bg/_bulk_get?revs=true", req, false);
    T_EXPECT(r, 200);
    char v[64];
    assert_true(t_header(&r, "Transfer-Encoding", v, sizeof v)); /* streamed */
    assert_true(r.len > 300 * 1000);
    assert_memory_equal(r.body, "{\"results\":[{\"id\":\"d000\",\"docs\":[{\"ok\":{", 40);
    assert_true(t_has(&r, "{\"id\":\"d299\",\"docs\":[{\"ok\":{\"_id\":\"d299\""));
    assert_true(t_has(&r, "{\"id\":\"nope\",\"docs\":[{\"error\":{\"id\":\"nope\",\"rev\":"
                          "\"undefined\",\"error\":\"not_found\",\"reason\":\"missing\"}}]}"));
    assert_true(t_has(&r, "{\"id\":null,\"docs\":[{\"error\":{\"id\":\"null\""));
    assert_string_equal(r.body + r.len - 7, "}}]}]}\n");
    size_t oks = 0;
    for (const char *p = r.body; (p = strstr(p, "{\"ok\":")); p++)
        oks++;
    assert_int_equal(oks, 300);
    t_free(&r);
    /* bad requests are still answered before anything is streamed */
    r = t_req("POST", "/bg/_bulk_get", "{\"docs\":5}", false);
    T_EXPECT(r, 400);
    assert_string_equal(r.body, "{\"error\":\"bad_request\",\"reason\":\"Missing JSON list of 'docs'.\"}\n");
    t_free(&r);
    free(req);
}

/* Runs last: no request may be left in flight (a leaked request record
 * made stopping wait the whole 10 s grace period). */
static void test_stop_is_prompt(void **state)
{
    (void)state;
    double t0 = t_now_ms();
    t_stop();
    assert_true(t_now_ms() - t0 < 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_query_params),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_invalid_utf8_names),
        cmocka_unit_test(test_read_body_cap),
        cmocka_unit_test(test_decompression_bomb),
        cmocka_unit_test(test_bulk_get_streamed),
        cmocka_unit_test(test_stop_is_prompt),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
