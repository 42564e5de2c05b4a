/* test_tls.c — replication with a `settee serve` that listens on HTTPS
 * beside HTTP (the test-only CA and certificate in tests/data/tls): a push
 * to https://127.0.0.1:port/db succeeds with ca_file, fails at once with a
 * certificate error without it (not retried, no password in the message),
 * succeeds with insecure; the same database pulled back over plain HTTP is
 * identical; and a continuous pull over HTTPS whose server comes back with
 * another admin password ends FAILED with ST_E_UNAUTHORIZED and the
 * server's reason, after retrying only while the server was away.
 * Skipped when the binary is not built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "repl_server.h"
#include "repl_testutil.h"

#define TLS_DIR ST_TEST_DATA_DIR "/tls"
#define CA TLS_DIR "/ca.pem"

static rs_server srv;
static int counter;

static void tls_ini(char *out, size_t cap, int tls_port)
{
    snprintf(out, cap,
             "[ssl]\nenable = true\ncert_file = %s/server.pem\nkey_file = %s/server.key\n"
             "port = %d\n"
             /* admins hashed quickly at start: the test restarts the server */
             "[chttpd_auth]\niterations = 1000\n",
             TLS_DIR, TLS_DIR, tls_port);
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char ini[1024];
    tls_ini(ini, sizeof ini, 0);
    return rs_start_cfg(&srv, "tls", ini) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    bool clean = rs_stop(&srv);
    curl_global_cleanup();
    return clean ? 0 : -1;
}

static st_db *fresh_local(char *out, size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "t%d.settee", counter++);
    rt_path(out, cap, name);
    return rt_open(out, true);
}

static void https_url(char *out, size_t cap, const char *db)
{
    snprintf(out, cap, "https://%s:%s@127.0.0.1:%d/%s", RS_ADMIN, srv.pass, srv.tls_port, db);
}

static void base_config(st_repl_config *c)
{
    st_repl_config_init(c);
    c->timeout_ms = 10000;
    c->max_retries = 3;
    c->retry_base_ms = 50;
    c->retry_max_ms = 200;
}

static st_status push(st_db *src, const char *url, const char *ca, bool insecure,
                      st_repl_status *s)
{
    st_repl_config c;
    base_config(&c);
    c.source_db = src;
    c.target = url;
    c.create_target = true;
    c.ca_file = ca;
    c.insecure = insecure;
    st_error e;
    return st_repl_run(&c, s, &e);
}

static void fill(st_db *db, int n)
{
    for (int i = 0; i < n; i++)
        rt_put(db, NULL, "{\"_id\":\"d%03d\",\"n\":%d}", i, i);
    rt_put(db, NULL,
           "{\"_id\":\"att\",\"_attachments\":{\"a.txt\":{\"content_type\":\"text/plain\","
           "\"data\":\"aGVsbG8gd29ybGQ=\"}}}");
}

static void test_push_verifies_with_ca_file(void **state)
{
    (void)state;
    assert_true(srv.tls_port > 0);
    char pa[4096], pb[4096], url[256], plain[256];
    st_db *a = fresh_local(pa, sizeof pa);
    fill(a, 30);
    https_url(url, sizeof url, "tlsdb");
    st_repl_status s;
    st_status st = push(a, url, CA, false, &s);
    if (st != ST_OK)
        fprintf(stderr, "push: %s\n", s.last_error.reason);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s.state, ST_REPL_STOPPED);
    assert_int_equal(s.docs_written, 31);

    /* The same database over plain HTTP, beside HTTPS: identical. */
    st_db *b = fresh_local(pb, sizeof pb);
    snprintf(plain, sizeof plain, "%s/tlsdb", srv.base);
    st_repl_config c;
    base_config(&c);
    c.source = plain;
    c.target_db = b;
    st_error e;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    char *da = rt_dump(a), *db = rt_dump(b);
    assert_string_equal(da, db);
    free(da);
    free(db);
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

static void test_certificate_refused_without_ca(void **state)
{
    (void)state;
    char pa[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa);
    fill(a, 3);
    https_url(url, sizeof url, "nocadb");
    st_repl_status s;
    uint64_t t0 = rt_now_ms();
    assert_int_equal(push(a, url, NULL, false, &s), ST_E_NETWORK);
    assert_int_equal(s.state, ST_REPL_FAILED);
    assert_int_equal(s.retries, 0); /* final at the first answer, not retried */
    assert_true(rt_now_ms() - t0 < 5000);
    assert_non_null(strstr(s.last_error.reason, "TLS: "));
    assert_non_null(strstr(s.last_error.reason, "certificate"));
    assert_non_null(strstr(s.last_error.reason, "https://admin@127.0.0.1:"));
    assert_null(strstr(s.last_error.reason, srv.pass));
    /* Nothing was written there. */
    assert_int_equal(rs_http_status(&srv, "GET", "/nocadb", NULL), 404);
    st_db_close(a);
    rt_unlink(pa);
}

static void test_insecure_skips_the_check(void **state)
{
    (void)state;
    char pa[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa);
    fill(a, 3);
    https_url(url, sizeof url, "insecuredb");
    st_repl_status s;
    assert_int_equal(push(a, url, NULL, true, &s), ST_OK);
    assert_int_equal(s.docs_written, 4);
    st_db_close(a);
    rt_unlink(pa);
}

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

/* The server goes away and comes back with a new admin password: the
 * replication retries while nobody answers, then the 401 ends it. */
static void test_continuous_fails_when_password_changes(void **state)
{
    (void)state;
    char pa[4096], url[256], ini[1024];
    assert_int_equal(rs_http_status(&srv, "PUT", "/pwdb", NULL), 201);
    assert_int_equal(rs_http_status(&srv, "PUT", "/pwdb/one", "{\"v\":1}"), 201);
    st_db *a = fresh_local(pa, sizeof pa);
    https_url(url, sizeof url, "pwdb");
    st_repl_config c;
    base_config(&c);
    c.source = url;
    c.target_db = a;
    c.continuous = true;
    c.ca_file = CA;
    c.feed_timeout_ms = 1000;
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    assert_true(wait_doc(a, "one", 15000));
    st_repl_status s;
    assert_true(wait_state(r, &s, ST_REPL_IDLE, 15000));

    char old_pass[64];
    snprintf(old_pass, sizeof old_pass, "%s", srv.pass);
    tls_ini(ini, sizeof ini, srv.tls_port); /* the same HTTPS port */
    assert_true(rs_restart(&srv, "changed-pw", ini));
    assert_true(wait_state(r, &s, ST_REPL_FAILED, 20000));
    assert_int_equal(s.last_error.code, ST_E_UNAUTHORIZED);
    assert_int_equal(s.last_http_status, 401);
    assert_non_null(strstr(s.last_error.reason, "Name or password is incorrect."));
    assert_null(strstr(s.last_error.reason, old_pass));
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
        cmocka_unit_test(test_push_verifies_with_ca_file),
        cmocka_unit_test(test_certificate_refused_without_ca),
        cmocka_unit_test(test_insecure_skips_the_check),
        cmocka_unit_test(test_continuous_fails_when_password_changes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
