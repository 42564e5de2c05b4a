/* test_http_creds.c — credentials as hostile input (hardening): long
 * passwords work the same through HTTP Basic and POST /_session, a failure
 * costs the same PBKDF2 work for an unknown name as for a wrong password
 * (counted, not timed), and nothing but the hash of a user's password
 * reaches the database file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpc.h"
#include "password.h"
#include "st_base64.h"

#define ITER "2000"

static int setup(void **state)
{
    (void)state;
    /* _users open for sign-up: users are created the way apps create them. */
    return t_start_with("chttpd_auth", "iterations", ITER, "couchdb",
                        "users_db_security_editable", "true", NULL);
}

static int teardown(void **state)
{
    (void)state;
    t_stop();
    return 0;
}

static void open_users(void)
{
    tresp r = t_req("PUT", "/_users/_security", "{}", true);
    T_EXPECT(r, 200);
    t_free(&r);
}

/* A user with password pw (JSON-safe), created anonymously. */
static void sign_up(const char *name, const char *pw)
{
    size_t n = strlen(pw) + 256;
    char *body = malloc(n);
    char path[128];
    assert_non_null(body);
    snprintf(body, n, "{\"name\":\"%s\",\"password\":\"%s\",\"roles\":[],\"type\":\"user\"}",
             name, pw);
    snprintf(path, sizeof path, "/_users/org.couchdb.user:%s", name);
    tresp r = t_req("PUT", path, body, false);
    T_EXPECT(r, 201);
    t_free(&r);
    free(body);
}

static long basic_get(const char *path, const char *name, const char *pw)
{
    size_t n = strlen(name) + strlen(pw) + 2;
    char *plain = malloc(n);
    assert_non_null(plain);
    snprintf(plain, n, "%s:%s", name, pw);
    st_buf b64 = ST_BUF_INIT;
    assert_int_equal(st_base64_encode(&b64, plain, strlen(plain)), ST_OK);
    free(plain);
    char *hdr = malloc(b64.len + 32);
    assert_non_null(hdr);
    snprintf(hdr, b64.len + 32, "Authorization: Basic %.*s", (int)b64.len, b64.data);
    st_buf_free(&b64);
    const char *hdrs[] = {hdr, NULL};
    tresp r = t_req_full("GET", path, NULL, 0, NULL, false, hdrs);
    long st = r.status;
    t_free(&r);
    free(hdr);
    return st;
}

static long session_post(const char *name, const char *pw)
{
    size_t n = strlen(pw) + 128;
    char *body = malloc(n);
    assert_non_null(body);
    snprintf(body, n, "{\"name\":\"%s\",\"password\":\"%s\"}", name, pw);
    tresp r = t_req("POST", "/_session", body, false);
    long st = r.status;
    t_free(&r);
    free(body);
    return st;
}

/* Passwords of 600 bytes (where Basic used to fail) and 8 KiB: the same
 * answer from Basic and from /_session. */
static void test_long_passwords(void **state)
{
    (void)state;
    open_users();
    static const size_t lens[] = {1, 590, 600, 8192};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        char *pw = malloc(lens[k] + 1);
        assert_non_null(pw);
        for (size_t i = 0; i < lens[k]; i++)
            pw[i] = (char)('a' + (i * 7 + k) % 26);
        pw[lens[k]] = '\0';
        char name[32];
        snprintf(name, sizeof name, "long%zu", lens[k]);
        sign_up(name, pw);
        assert_int_equal(basic_get("/_session", name, pw), 200);
        assert_int_equal(session_post(name, pw), 200);
        pw[0] = pw[0] == 'z' ? 'y' : 'z'; /* one byte off */
        assert_int_equal(basic_get("/_session", name, pw), 401);
        assert_int_equal(session_post(name, pw), 401);
        free(pw);
    }
}

/* An unknown name makes the server do exactly the PBKDF2 work a wrong
 * password for a real user does: nothing tells the two apart. */
static void test_unknown_name_costs_the_same(void **state)
{
    (void)state;
    open_users();
    sign_up("real", "right-password");
    /* A verified password is cached; a wrong one never is. */
    uint64_t before = st_pw_iterations_done();
    assert_int_equal(basic_get("/_session", "real", "wrong-password"), 401);
    uint64_t wrong = st_pw_iterations_done() - before;
    before = st_pw_iterations_done();
    assert_int_equal(basic_get("/_session", "nobody-by-this-name", "wrong-password"), 401);
    uint64_t unknown = st_pw_iterations_done() - before;
    assert_int_equal(wrong, strtoull(ITER, NULL, 10));
    assert_int_equal(unknown, wrong);
    before = st_pw_iterations_done();
    assert_int_equal(session_post("nobody-by-this-name", "x"), 401);
    assert_int_equal(st_pw_iterations_done() - before, wrong);
}

/* A signed-up user's password is nowhere in the data directory. */
static void test_password_not_stored(void **state)
{
    (void)state;
    open_users();
    const char *pw = "find-me-if-you-can-42";
    sign_up("hidden", pw);
    assert_int_equal(basic_get("/_session", "hidden", pw), 200);
    tresp r = t_req("GET", "/_users/org.couchdb.user:hidden", NULL, true);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"password_scheme\":\"pbkdf2\""));
    assert_true(t_has(&r, "\"derived_key\":\""));
    assert_false(t_has(&r, "\"password\""));
    t_free(&r);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "grep -r -a -q -F '%s' '%s'", pw, t_dir);
    assert_int_not_equal(system(cmd), 0); /* grep finds nothing */
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_long_passwords, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_name_costs_the_same, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_not_stored, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
