/* test_auth.c — the replicator's credentials against a real `settee serve`
 * (config admins; [chttpd_auth] timeout = 2 s, require_valid_user) and
 * canned peers: URL credentials percent-decoded ('+' literal), username /
 * password options replacing the URL's, contradicting options refused, a
 * bearer token sent as Authorization: Bearer (and its 401 ending a
 * continuous run), cookie sessions (one login, the newest Set-Cookie kept,
 * no Basic header; a refused login is final; a 401 on a cookie logs in once
 * more and a second 401 gives up; a real session that expires while the
 * feed waits logs in again and goes on), and a continuous replication
 * refused 403 mid-run ending FAILED with ST_E_FORBIDDEN.  No password
 * appears in any message.  Skipped when the binary is not built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "canned_http.h"
#include "fault_proxy.h"
#include "repl_server.h"
#include "repl_testutil.h"

/* A second config admin whose name and password need escaping in a URL. */
#define ODD_USER "weird"
#define ODD_PASS "a+b@c:d/e%f"
#define ODD_URL_CREDS "we%69rd:a+b%40c%3Ad%2Fe%25f"

static rs_server srv;
static fp_proxy px;
static int counter;

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!rs_start_cfg(&srv, "auth",
                      "[admins]\n" ODD_USER " = " ODD_PASS "\n"
                      "[chttpd_auth]\ntimeout = 2\niterations = 1000\n"
                      "[chttpd]\nrequire_valid_user = true\n"))
        return -1;
    return fp_start(&px, srv.port) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    fp_stop(&px);
    bool clean = rs_stop(&srv);
    curl_global_cleanup();
    return clean ? 0 : -1;
}

static st_db *fresh_local(char *out, size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "a%d.settee", counter++);
    rt_path(out, cap, name);
    return rt_open(out, true);
}

static void config(st_repl_config *c, const char *src, st_db *src_db, const char *tgt,
                   st_db *tgt_db)
{
    st_repl_config_init(c);
    c->source = src;
    c->source_db = src_db;
    c->target = tgt;
    c->target_db = tgt_db;
    c->create_target = true;
    c->timeout_ms = 10000;
    c->max_retries = 3;
    c->retry_base_ms = 50;
    c->retry_max_ms = 200;
}

static st_status run(const st_repl_config *c, st_repl_status *s)
{
    st_error e;
    return st_repl_run(c, s, &e);
}

static void test_url_credentials_decoded(void **state)
{
    (void)state;
    char pa[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa);
    rt_put(a, NULL, "{\"_id\":\"x\"}");
    snprintf(url, sizeof url, "http://%s@127.0.0.1:%d/pct", ODD_URL_CREDS, srv.port);
    st_repl_config c;
    config(&c, NULL, a, url, NULL);
    st_repl_status s;
    st_status st = run(&c, &s);
    if (st != ST_OK)
        fprintf(stderr, "push: %s\n", s.last_error.reason);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s.docs_written, 1);
    /* A bad escape is refused, and the message keeps the password out. */
    snprintf(url, sizeof url, "http://weird:secret%%zz@127.0.0.1:%d/pct", srv.port);
    config(&c, NULL, a, url, NULL);
    assert_int_equal(run(&c, &s), ST_E_BAD_REQUEST);
    assert_null(strstr(s.last_error.reason, "secret"));
    /* A URL the parser refuses is quoted without its password. */
    snprintf(url, sizeof url, "http://weird:secret@127.0.0.1:99999/pct");
    config(&c, NULL, a, url, NULL);
    assert_int_equal(run(&c, &s), ST_E_BAD_REQUEST);
    assert_non_null(strstr(s.last_error.reason, "http://weird@127.0.0.1:99999/pct"));
    assert_null(strstr(s.last_error.reason, "secret"));
    st_db_close(a);
    rt_unlink(pa);
}

static void test_username_password_options(void **state)
{
    (void)state;
    char pa[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa);
    rt_put(a, NULL, "{\"_id\":\"x\"}");
    /* No credentials in the URL: the options are used. */
    snprintf(url, sizeof url, "%s/opts", srv.plain);
    st_repl_config c;
    config(&c, NULL, a, url, NULL);
    c.username = ODD_USER;
    c.password = ODD_PASS;
    st_repl_status s;
    assert_int_equal(run(&c, &s), ST_OK);
    /* The options replace wrong ones in the URL. */
    snprintf(url, sizeof url, "http://admin:wrong@127.0.0.1:%d/opts", srv.port);
    config(&c, NULL, a, url, NULL);
    c.username = RS_ADMIN;
    c.password = srv.pass;
    assert_int_equal(run(&c, &s), ST_OK);
    /* A wrong option password: 401, final, not shown. */
    snprintf(url, sizeof url, "%s/opts", srv.plain);
    config(&c, NULL, a, url, NULL);
    c.username = RS_ADMIN;
    c.password = "not-the-password";
    assert_int_equal(run(&c, &s), ST_E_UNAUTHORIZED);
    assert_int_equal(s.last_http_status, 401);
    assert_null(strstr(s.last_error.reason, "not-the-password"));
    /* Contradictions are refused before anything starts. */
    st_repl *r = NULL;
    st_error e;
    config(&c, NULL, a, url, NULL);
    c.username = RS_ADMIN;
    c.bearer_token = "tok";
    assert_int_equal(st_repl_start(&c, &r, &e), ST_E_BAD_REQUEST);
    config(&c, NULL, a, url, NULL);
    c.password = "pw";
    assert_int_equal(st_repl_start(&c, &r, &e), ST_E_BAD_REQUEST);
    assert_null(r);
    /* ... or when the endpoint is made: a token beside URL credentials,
     * a session without a username. */
    snprintf(url, sizeof url, "%s/opts", srv.base);
    config(&c, NULL, a, url, NULL);
    c.bearer_token = "tok";
    assert_int_equal(run(&c, &s), ST_E_BAD_REQUEST);
    assert_null(strstr(s.last_error.reason, srv.pass));
    snprintf(url, sizeof url, "%s/opts", srv.plain);
    config(&c, NULL, a, url, NULL);
    c.use_session = true;
    assert_int_equal(run(&c, &s), ST_E_BAD_REQUEST);
    assert_non_null(strstr(s.last_error.reason, "needs a username"));
    st_db_close(a);
    rt_unlink(pa);
}

/* ------------------------------------------------------------ canned */

#define UUID_BODY "{\"couchdb\":\"Welcome\",\"uuid\":\"c0ffee00c0ffee00c0ffee00c0ffee00\"}"
#define INFO_BODY "{\"db_name\":\"db\",\"update_seq\":0}"
#define EMPTY_CHANGES "{\"results\":[],\"last_seq\":0,\"pending\":0}"
#define MISSING "{\"error\":\"not_found\",\"reason\":\"missing\"}"
#define JSON "application/json"

static st_repl_status pull_canned(ch_route *routes, size_t n, const st_repl_config *extra,
                                  bool continuous, st_status expect)
{
    ch_server cs;
    assert_true(ch_start(&cs, routes, n));
    char pa[4096], url[128];
    st_db *a = fresh_local(pa, sizeof pa);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/db", cs.port);
    st_repl_config c = *extra;
    c.source = url;
    c.target_db = a;
    c.continuous = continuous;
    c.max_retries = 2;
    c.retry_base_ms = 20;
    c.timeout_ms = 5000;
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    st_repl_state end = st_repl_wait(r, 20000);
    st_repl_status s;
    st_repl_get_status(r, &s);
    if (s.last_error.code != expect)
        fprintf(stderr, "canned pull: %s\n", s.last_error.reason);
    assert_int_equal(end, expect == ST_OK ? ST_REPL_STOPPED : ST_REPL_FAILED);
    assert_int_equal(s.last_error.code, expect);
    st_repl_free(r);
    ch_stop(&cs);
    st_db_close(a);
    rt_unlink(pa);
    return s;
}

static void test_bearer_token(void **state)
{
    (void)state;
    ch_route ok[] = {
        {.method = "GET", .path = "/", .status = 200, .ctype = JSON, .body = UUID_BODY},
        {.method = "GET", .path = "/db", .status = 200, .ctype = JSON, .body = INFO_BODY},
        {.method = "GET", .path = "/db/_local/*", .status = 404, .ctype = JSON, .body = MISSING},
        {.method = "GET", .path = "/db/_changes*", .status = 200, .ctype = JSON,
         .body = EMPTY_CHANGES},
    };
    st_repl_config c;
    st_repl_config_init(&c);
    c.bearer_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2ln";
    pull_canned(ok, 4, &c, false, ST_OK);
    assert_non_null(strstr(ok[1].last_headers,
                           "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2ln"));
    assert_null(strstr(ok[1].last_headers, "Cookie:"));
    /* A continuous pull refused 401 (an expired token): FAILED, with the
     * server's reason, instead of retrying. */
    ch_route expired[] = {
        {.method = "GET", .path = "/", .status = 200, .ctype = JSON, .body = UUID_BODY},
        {.method = "GET", .path = "/db", .status = 200, .ctype = JSON, .body = INFO_BODY},
        {.method = "GET", .path = "/db/_local/*", .status = 404, .ctype = JSON, .body = MISSING},
        {.method = "GET", .path = "/db/_changes*", .status = 401, .ctype = JSON,
         .body = "{\"error\":\"unauthorized\",\"reason\":\"Token expired\"}"},
    };
    st_repl_status s = pull_canned(expired, 4, &c, true, ST_E_UNAUTHORIZED);
    assert_int_equal(s.last_http_status, 401);
    assert_non_null(strstr(s.last_error.reason, "Token expired"));
    assert_int_equal(atomic_load(&expired[3].hits), 1);
    assert_null(strstr(s.last_error.reason, "eyJ"));
}

static void test_session_keeps_newest_cookie(void **state)
{
    (void)state;
    ch_route r[] = {
        {.method = "POST", .path = "/_session", .status = 200, .ctype = JSON,
         .body = "{\"ok\":true,\"name\":\"bob\",\"roles\":[]}",
         .headers = "Set-Cookie: AuthSession=Zmlyc3Q; Version=1; Path=/; HttpOnly\r\n"},
        /* CouchDB refreshes an aging cookie on any answer. */
        {.method = "GET", .path = "/", .status = 200, .ctype = JSON, .body = UUID_BODY,
         .headers = "Set-Cookie: AuthSession=c2Vjb25k; Version=1; Path=/; HttpOnly\r\n"},
        {.method = "GET", .path = "/db", .status = 200, .ctype = JSON, .body = INFO_BODY},
        {.method = "GET", .path = "/db/_local/*", .status = 404, .ctype = JSON, .body = MISSING},
        {.method = "GET", .path = "/db/_changes*", .status = 200, .ctype = JSON,
         .body = EMPTY_CHANGES},
    };
    st_repl_config c;
    st_repl_config_init(&c);
    c.username = "bob";
    c.password = "p\"w";
    c.use_session = true;
    pull_canned(r, 5, &c, false, ST_OK);
    assert_int_equal(atomic_load(&r[0].hits), 1);
    assert_non_null(strstr(r[0].last_headers, "{\"name\":\"bob\",\"password\":\"p\\\"w\"}"));
    assert_null(strstr(r[0].last_headers, "Cookie:"));
    assert_non_null(strstr(r[1].last_headers, "Cookie: AuthSession=Zmlyc3Q"));
    assert_non_null(strstr(r[2].last_headers, "Cookie: AuthSession=c2Vjb25k"));
    assert_non_null(strstr(r[4].last_headers, "Cookie: AuthSession=c2Vjb25k"));
    for (size_t i = 1; i < 5; i++)
        assert_null(strstr(r[i].last_headers, "Authorization:"));
}

/* A 401 on a cookie: one new login and one more try, then it is final. */
static void test_session_second_401_is_final(void **state)
{
    (void)state;
    ch_route r[] = {
        {.method = "POST", .path = "/_session", .status = 200, .ctype = JSON,
         .body = "{\"ok\":true,\"name\":\"bob\",\"roles\":[]}",
         .headers = "Set-Cookie: AuthSession=Zmlyc3Q; Version=1; Path=/; HttpOnly\r\n"},
        {.method = "GET", .path = "/db", .status = 401, .ctype = JSON,
         .body = "{\"error\":\"unauthorized\",\"reason\":\"You are not authorized to access "
                 "this db.\"}"},
    };
    st_repl_config c;
    st_repl_config_init(&c);
    c.username = "bob";
    c.password = "pw";
    c.use_session = true;
    st_repl_status s = pull_canned(r, 2, &c, true, ST_E_UNAUTHORIZED);
    assert_int_equal(atomic_load(&r[0].hits), 2);
    assert_int_equal(atomic_load(&r[1].hits), 2);
    assert_non_null(strstr(s.last_error.reason, "You are not authorized to access this db."));
}

/* ------------------------------------------------- sessions, for real */

static bool wait_doc(st_db *db, const char *id, unsigned timeout_ms)
{
    for (uint64_t t0 = rt_now_ms(); rt_now_ms() - t0 < timeout_ms; rt_sleep_ms(20)) {
        st_buf b = ST_BUF_INIT;
        st_error e;
        bool ok = st_db_get(db, id, NULL, &b, &e) == ST_OK;
        st_buf_free(&b);
        if (ok)
            return true;
    }
    return false;
}

static bool wait_state(st_repl *r, st_repl_status *s, st_repl_state want, unsigned timeout_ms)
{
    for (uint64_t t0 = rt_now_ms(); rt_now_ms() - t0 < timeout_ms; rt_sleep_ms(20)) {
        st_repl_get_status(r, s);
        if (s->state == want)
            return true;
    }
    return false;
}

static void test_session_refused_login(void **state)
{
    (void)state;
    char pa[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa);
    snprintf(url, sizeof url, "%s/nosuch", srv.plain);
    st_repl_config c;
    config(&c, url, NULL, NULL, a);
    c.username = RS_ADMIN;
    c.password = "wrong-password";
    c.use_session = true;
    st_repl_status s;
    assert_int_equal(run(&c, &s), ST_E_UNAUTHORIZED);
    assert_int_equal(s.last_http_status, 401);
    assert_non_null(strstr(s.last_error.reason, "logging in (POST /_session)"));
    assert_non_null(strstr(s.last_error.reason, "Name or password is incorrect."));
    assert_null(strstr(s.last_error.reason, "wrong-password"));
    assert_int_equal(s.retries, 0);
    st_db_close(a);
    rt_unlink(pa);
}

/* The cookie lives 2 s and the feed waits 5 s between requests, so every
 * request after a wait finds its cookie expired (CouchDB only refreshes a
 * cookie on a request that carries a live one): 401, a new login, and the
 * replication goes on. */
static void test_session_logs_in_again(void **state)
{
    (void)state;
    char pa[4096], url[256];
    assert_int_equal(rs_http_status(&srv, "PUT", "/sess", NULL), 201);
    assert_int_equal(rs_http_status(&srv, "PUT", "/sess/one", "{\"v\":1}"), 201);
    st_db *a = fresh_local(pa, sizeof pa);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/sess", px.port);
    unsigned long logins0 = atomic_load(&px.logins);
    st_repl_config c;
    config(&c, url, NULL, NULL, a);
    c.continuous = true;
    c.username = RS_ADMIN;
    c.password = srv.pass;
    c.use_session = true;
    c.feed_timeout_ms = 5000;
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    assert_true(wait_doc(a, "one", 15000));
    st_repl_status s;
    assert_true(wait_state(r, &s, ST_REPL_IDLE, 15000));
    assert_int_equal(atomic_load(&px.logins) - logins0, 1);
    /* The feed's answer comes after 5 s; the next request meets a dead cookie. */
    rt_sleep_ms(5500);
    assert_int_equal(rs_http_status(&srv, "PUT", "/sess/two", "{\"v\":2}"), 201);
    assert_true(wait_doc(a, "two", 20000));
    st_repl_get_status(r, &s);
    assert_true(s.state == ST_REPL_IDLE || s.state == ST_REPL_RUNNING);
    assert_true(atomic_load(&px.logins) - logins0 >= 2);
    st_repl_stop(r);
    assert_int_equal(st_repl_wait(r, 10000), ST_REPL_STOPPED);
    st_repl_free(r);
    st_db_close(a);
    rt_unlink(pa);
}

/* Refused 403 in the middle of a continuous run: FAILED, not retried. */
static void test_continuous_403_fails(void **state)
{
    (void)state;
    char pa[4096], url[256];
    assert_int_equal(rs_http_status(&srv, "PUT", "/forbid", NULL), 201);
    assert_int_equal(rs_http_status(&srv, "PUT", "/forbid/one", "{\"v\":1}"), 201);
    st_db *a = fresh_local(pa, sizeof pa);
    snprintf(url, sizeof url, "http://%s:%s@127.0.0.1:%d/forbid", RS_ADMIN, srv.pass, px.port);
    st_repl_config c;
    config(&c, url, NULL, NULL, a);
    c.continuous = true;
    c.feed_timeout_ms = 1000;
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    assert_true(wait_doc(a, "one", 15000));
    st_repl_status s;
    assert_true(wait_state(r, &s, ST_REPL_IDLE, 15000));
    atomic_store(&px.answer_status, 403);
    assert_true(wait_state(r, &s, ST_REPL_FAILED, 15000));
    fp_calm(&px);
    assert_int_equal(s.last_error.code, ST_E_FORBIDDEN);
    assert_int_equal(s.last_http_status, 403);
    assert_non_null(strstr(s.last_error.reason, "You are not allowed to access this db."));
    assert_null(strstr(s.last_error.reason, srv.pass));
    st_repl_free(r);
    st_db_close(a);
    rt_unlink(pa);
}

int main(void)
{
    if (!rs_bin()) {
        fprintf(stderr, "skipped: settee binary not built\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_credentials_decoded),
        cmocka_unit_test(test_username_password_options),
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_session_keeps_newest_cookie),
        cmocka_unit_test(test_session_second_401_is_final),
        cmocka_unit_test(test_session_refused_login),
        cmocka_unit_test(test_session_logs_in_again),
        cmocka_unit_test(test_continuous_403_fails),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
