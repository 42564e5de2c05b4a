/* test_http_errors.c — bad input must not crash, hang or leak: malformed
 * JSON, oversized bodies (declared and chunked), slow bodies, garbage on the
 * socket, bad names, bad revs; plus configuration (ini, hashed admins,
 * refusing to start without an admin) and CORS. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "config.h"
#include "httpc.h"

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return t_start_with("chttpd", "max_http_request_size", "65536", "couchdb",
                        "max_document_size", "2000", "settee", "connection_timeout", "2",
                        "httpd", "enable_cors", "true", "cors", "origins",
                        "http://app.example, http://other.example", "cors", "credentials", "true",
                        NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    if (t_srv)
        t_stop();
    curl_global_cleanup();
    return 0;
}

static void alive(void)
{
    tresp r = t_req("GET", "/_up", NULL, false);
    T_EXPECT(r, 200);
    t_free(&r);
}

static void test_bad_json(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/errs", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    const char *bad[] = {"{", "{\"a\":}", "nul", "{\"a\":1}}", "\"\xff\xfe\"", "[1,2", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = t_req_full("PUT", "/errs/doc", bad[i], strlen(bad[i]), "application/json", true,
                       NULL);
        T_EXPECT(r, 400);
        assert_string_equal(r.body, "{\"error\":\"bad_request\",\"reason\":\"invalid UTF-8 JSON\"}\n");
        t_free(&r);
        r = t_req_full("POST", "/errs/_bulk_docs", bad[i], strlen(bad[i]), "application/json",
                       true, NULL);
        T_EXPECT(r, 400);
        t_free(&r);
    }
    r = t_req("PUT", "/errs/doc", "[1,2]", true);
    T_EXPECT(r, 400);
    t_free(&r);
    /* deep nesting is refused, not recursed into */
    char deep[4000];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 1000; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    r = t_req("POST", "/errs/_revs_diff", deep, false);
    assert_true(r.status == 400 || r.status == 413);
    t_free(&r);
    alive();
}

static void test_bad_names_and_revs(void **state)
{
    (void)state;
    tresp r = t_req("GET", "/errs/%zz", NULL, false);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("GET", "/errs/a%00b", NULL, false);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("PUT", "/9db", NULL, true);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "illegal_database_name"));
    t_free(&r);
    r = t_req("GET", "/errs/doc?rev=notarev", NULL, false);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "Invalid rev format"));
    t_free(&r);
    r = t_req("PUT", "/errs/doc", "{\"_rev\":\"abc\"}", true);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("DELETE", "/errs/doc?rev=1-", NULL, true);
    assert_true(r.status == 400 || r.status == 404 || r.status == 409);
    t_free(&r);
    /* a very long path with many segments */
    char path[3000] = "/errs";
    for (int i = 0; i < 100; i++)
        strcat(path, "/x");
    r = t_req("GET", path, NULL, false);
    assert_true(r.status == 400 || r.status == 404);
    t_free(&r);
    alive();
}

static void test_too_large(void **state)
{
    (void)state;
    size_t n = 200000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[0] = '"';
    big[n - 1] = '"';
    big[n] = '\0';
    tresp r = t_req("PUT", "/errs/big", big, true);
    T_EXPECT(r, 413);
    assert_true(t_has(&r, "\"error\":\"too_large\""));
    t_free(&r);
    /* chunked (no Content-Length): read, discarded, 413 at the end */
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    r = t_req_full("PUT", "/errs/big", big, n, "application/json", true, chunked);
    T_EXPECT(r, 413);
    t_free(&r);
    /* document over max_document_size but under the request cap */
    char doc[5000];
    snprintf(doc, sizeof doc, "{\"s\":\"%0*d\"}", 4000, 0);
    r = t_req("PUT", "/errs/bigdoc", doc, true);
    T_EXPECT(r, 413);
    assert_true(t_has(&r, "document_too_large"));
    t_free(&r);
    free(big);
    alive();
}

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(t_loopback_connect(fd, st_server_port(t_srv)), 0);
    return fd;
}

/* Read until EOF or ms elapse; returns bytes read (into buf) or -1 on timeout. */
static long read_until_close(int fd, char *buf, size_t cap, int ms)
{
    size_t got = 0;
    double end = t_now_ms() + ms;
    for (;;) {
        double left = end - t_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0) {
            buf[got] = '\0';
            return (long)got;
        }
        got += (size_t)n;
        if (got >= cap - 1)
            got = 0; /* keep reading; only the close matters */
    }
}

static void test_slow_and_garbage_clients(void **state)
{
    (void)state;
    char buf[4096];
    /* slow body: declared 100 bytes, sends 10, stalls; the server's
     * connection timeout (2 s here) must drop it */
    int fd = raw_connect();
    const char *req = "PUT /errs/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Authorization: Basic YWRtaW46czNjcmV0\r\nContent-Length: 100\r\n\r\n{\"a\":1234";
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    double t0 = t_now_ms();
    long n = read_until_close(fd, buf, sizeof buf, 8000);
    close(fd);
    assert_true(n >= 0);
    fprintf(stderr, "slow body dropped after %.0f ms\n", t_now_ms() - t0);
    /* an idle connection that never sends a request is dropped too */
    fd = raw_connect();
    n = read_until_close(fd, buf, sizeof buf, 8000);
    close(fd);
    assert_true(n >= 0);
    /* garbage request line */
    fd = raw_connect();
    const char *junk = "\x01\x02 GARBAGE nonsense\r\n\r\n";
    assert_true(send(fd, junk, strlen(junk), 0) > 0);
    n = read_until_close(fd, buf, sizeof buf, 8000);
    close(fd);
    assert_true(n >= 0);
    /* oversized headers */
    size_t hl = 100000;
    char *huge = malloc(hl + 100);
    assert_non_null(huge);
    int w = snprintf(huge, 100, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(huge + w, 'h', hl);
    memcpy(huge + w + hl, "\r\n\r\n", 5);
    fd = raw_connect();
    send(fd, huge, strlen(huge), MSG_NOSIGNAL);
    n = read_until_close(fd, buf, sizeof buf, 8000);
    close(fd);
    free(huge);
    assert_true(n >= 0);
    if (n > 12)
        assert_null(strstr(buf, "HTTP/1.1 200"));
    alive();
}

static void test_cors(void **state)
{
    (void)state;
    char v[300];
    const char *pre[] = {"Origin: http://app.example", "Access-Control-Request-Method: PUT",
                         "Access-Control-Request-Headers: content-type", NULL};
    tresp r = t_req_full("OPTIONS", "/errs/doc", NULL, 0, NULL, false, pre);
    T_EXPECT(r, 200);
    assert_true(t_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    assert_string_equal(v, "http://app.example");
    assert_true(t_header(&r, "Access-Control-Allow-Credentials", v, sizeof v));
    assert_true(t_header(&r, "Access-Control-Allow-Methods", v, sizeof v));
    assert_non_null(strstr(v, "PUT"));
    assert_true(t_header(&r, "Access-Control-Allow-Headers", v, sizeof v));
    assert_non_null(strstr(v, "content-type"));
    t_free(&r);
    const char *o[] = {"Origin: http://other.example", NULL};
    r = t_req_full("GET", "/", NULL, 0, NULL, false, o);
    T_EXPECT(r, 200);
    assert_true(t_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    assert_string_equal(v, "http://other.example");
    assert_true(t_header(&r, "Access-Control-Expose-Headers", v, sizeof v));
    assert_non_null(strstr(v, "etag"));
    t_free(&r);
    const char *evil[] = {"Origin: http://evil.example", NULL};
    r = t_req_full("GET", "/", NULL, 0, NULL, false, evil);
    T_EXPECT(r, 200);
    assert_false(t_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    t_free(&r);
    const char *evil_pre[] = {"Origin: http://evil.example", "Access-Control-Request-Method: GET",
                              NULL};
    r = t_req_full("OPTIONS", "/", NULL, 0, NULL, false, evil_pre);
    assert_false(t_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    t_free(&r);
}

static void test_config(void **state)
{
    (void)state;
    st_error e;
    st_config *c = st_config_new();
    assert_non_null(c);
    /* no admin: refuse to start */
    st_server *s = NULL;
    assert_int_equal(st_server_start(c, &s, &e), ST_E_MISUSE);
    assert_null(s);
    assert_non_null(strstr(e.reason, "admin"));
    char path[600];
    snprintf(path, sizeof path, "%s.ini", t_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "; settee test config\n[chttpd]\nport = 0\nbind_address = 127.0.0.1\n"
               "[couchdb]\nmax_document_size = 1234 ; bytes\n"
               "[admins]\nold = -pbkdf2-2edaca58083d77546ef5bd549de9d310a4f414b2,somesalt,10\n"
               "new = -pbkdf2:sha256-dccbebc42be81169e7098b0e80bf4e4983c9c56cb09d4545c8fc038d8d18c2d3,salt2,10\n"
               "plain = pw\n[log]\nlevel = warning\n[unknown]\nwhatever = 1\n");
    fclose(f);
    assert_int_equal(st_config_load(c, path, &e), ST_OK);
    assert_int_equal(c->max_document_size, 1234);
    assert_int_equal(c->n_admins, 3);
    /* hashes are kept as given; a plain password waits for the server's start */
    assert_false(c->admins[0].plain);
    assert_false(c->admins[1].plain);
    assert_true(c->admins[2].plain);
    assert_true(c->admins[2].from_file);
    assert_int_equal(st_config_set(c, "admins", "empty", "", &e), ST_E_BAD_REQUEST);
    /* bad values are refused with a reason */
    assert_int_equal(st_config_set(c, "chttpd", "port", "99999", &e), ST_E_BAD_REQUEST);
    assert_int_equal(st_config_set(c, "admins", "x", "-pbkdf2-abcd", &e), ST_E_BAD_REQUEST);
    assert_int_equal(st_config_set(c, "log", "level", "loud", &e), ST_E_BAD_REQUEST);
    assert_int_equal(st_config_load(c, "/nonexistent/settee.ini", &e), ST_E_NOT_FOUND);
    unlink(path);
    st_config_free(c);

    /* a server with hashed admins authenticates each of them */
    t_stop();
    assert_int_equal(t_start_with("admins", "old", "-pbkdf2-2edaca58083d77546ef5bd549de9d310a4f414b2,somesalt,10", NULL), 0);
    const char *old_ok[] = {"Authorization: Basic b2xkOm9sZHB3", NULL}; /* old:oldpw */
    tresp r = t_req_full("PUT", "/hashed", NULL, 0, NULL, false, old_ok);
    T_EXPECT(r, 201);
    t_free(&r);
    const char *old_bad[] = {"Authorization: Basic b2xkOm5vcGU=", NULL}; /* old:nope */
    r = t_req_full("PUT", "/hashed2", NULL, 0, NULL, false, old_bad);
    T_EXPECT(r, 401);
    t_free(&r);
    /* repeated requests hit the verification cache and stay correct */
    for (int i = 0; i < 3; i++) {
        r = t_req_full("GET", "/_session", NULL, 0, NULL, false, old_ok);
        assert_true(t_has(&r, "\"name\":\"old\""));
        t_free(&r);
        r = t_req_full("GET", "/_session", NULL, 0, NULL, false, old_bad);
        T_EXPECT(r, 401);
        t_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_names_and_revs),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_slow_and_garbage_clients),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
