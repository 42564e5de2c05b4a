/* test_auth_password.c — password.h against vectors computed independently
 * (openssl kdf / openssl dgst on the command line), CouchDB's formats, the
 * _users rewrite, iteration bounds and the unknown-user work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "password.h"
#include "st_json.h"

/* The CouchDB 3.5 user "alice"/"apass" of PROTOCOL-2 A.3; the key is
 * `openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:apass
 *  -kdfopt salt:8b6beb3531a75df71abe97a352a4507c -kdfopt iter:600000 PBKDF2`. */
#define ALICE_SALT "8b6beb3531a75df71abe97a352a4507c"
#define ALICE_DK "263933d58cfa7aa028992adf4556462eadcb148f89b2c9001ae21b58d97434e1"
/* Same password and salt, SHA-1, 10000 iterations (-keylen 20 digest:SHA1 iter:10000). */
#define ALICE_DK_SHA1_10K "ce6b31fd5f3abf6e019a1f21b0a127d1c476ab2b"
/* printf 'apass<salt>' | openssl dgst -sha1 */
#define ALICE_SHA "6dbdc744dd1fa36f1b1e16297c7abb46a6ef1405"
/* pass "p:w", salt "abc", SHA-512, 1000 iterations, 64 bytes. */
#define PW_SHA512_1000                                                                    \
    "a57631c8a72006f0c5068fca761f46e98cf17272ceaa6b896f2292446a9f032fbfe995069aa0ab0894f2" \
    "2bc0ce1b85d9efbc7bc95de8bb3f65c5b1e0b73e7644"

static st_pw_policy policy(void)
{
    st_pw_policy p;
    st_pw_policy_init(&p);
    return p;
}

static bool verify(const st_pw_hash *h, const char *pw)
{
    st_pw_policy p = policy();
    bool ok = true;
    assert_int_equal(st_pw_verify(h, &p, pw, strlen(pw), &ok, NULL), ST_OK);
    return ok;
}

static bool verify_admin(const char *value, const char *pw)
{
    st_pw_hash h;
    assert_int_equal(st_pw_parse_admin(value, strlen(value), &h, NULL), ST_OK);
    return verify(&h, pw);
}

static void test_admin_formats(void **state)
{
    (void)state;
    assert_true(verify_admin("-pbkdf2:sha256-" ALICE_DK "," ALICE_SALT ",600000", "apass"));
    assert_false(verify_admin("-pbkdf2:sha256-" ALICE_DK "," ALICE_SALT ",600000", "apasS"));
    assert_true(verify_admin("-pbkdf2-" ALICE_DK_SHA1_10K "," ALICE_SALT ",10000", "apass"));
    assert_true(verify_admin("-pbkdf2:sha-" ALICE_DK_SHA1_10K "," ALICE_SALT ",10000", "apass"));
    assert_true(verify_admin("-hashed-" ALICE_SHA "," ALICE_SALT, "apass"));
    assert_false(verify_admin("-hashed-" ALICE_SHA "," ALICE_SALT, ""));
    assert_true(verify_admin("-pbkdf2:sha512-" PW_SHA512_1000 ",abc,1000", "p:w"));
    /* Wrong iteration count or PRF: a different key, so no. */
    assert_false(verify_admin("-pbkdf2-" ALICE_DK_SHA1_10K "," ALICE_SALT ",10001", "apass"));
    assert_false(verify_admin("-pbkdf2:sha256-" ALICE_DK_SHA1_10K "," ALICE_SALT ",10000", "apass"));
    /* The key is compared as lowercase hex text, as CouchDB does. */
    assert_false(verify_admin("-hashed-6DBDC744DD1FA36F1B1E16297C7ABB46A6EF1405," ALICE_SALT,
                              "apass"));
}

static void test_admin_parse_errors(void **state)
{
    (void)state;
    const char *bad[] = {"-pbkdf2-abc,salt", "-pbkdf2-abc,salt,0", "-pbkdf2-abc,salt,x1",
                         "-pbkdf2-,salt,10", "-pbkdf2-abc,,10", "-pbkdf2-abc,salt,10,",
                         "-pbkdf2:md5-abc,salt,10", "-pbkdf2:sha256abc,salt,10", "-hashed-abc",
                         "-hashed-abc,salt,3", "-pbkdf2-a,b,99999999999999999999"};
    st_pw_hash h;
    st_error e;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(st_pw_parse_admin(bad[i], strlen(bad[i]), &h, &e), ST_E_BAD_REQUEST);
    assert_int_equal(st_pw_parse_admin("plaintext", 9, &h, &e), ST_E_NOT_FOUND);
    assert_int_equal(st_pw_parse_admin("", 0, &h, &e), ST_E_NOT_FOUND);
}

static st_json_doc *parse(const char *json)
{
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse(json, strlen(json), NULL, &d, NULL), ST_OK);
    return d;
}

static bool verify_doc(const char *json, const char *pw)
{
    st_json_doc *d = parse(json);
    st_pw_hash h;
    assert_int_equal(st_pw_from_user_doc(st_json_doc_root(d), &h, NULL), ST_OK);
    bool ok = verify(&h, pw);
    st_json_doc_free(d);
    return ok;
}

static void test_user_doc_schemes(void **state)
{
    (void)state;
    assert_true(verify_doc("{\"password_scheme\":\"pbkdf2\",\"pbkdf2_prf\":\"sha256\",\"salt\":\""
                           ALICE_SALT "\",\"iterations\":600000,\"derived_key\":\"" ALICE_DK "\"}",
                           "apass"));
    /* No pbkdf2_prf: SHA-1. No iterations: 10000. */
    assert_true(verify_doc("{\"password_scheme\":\"pbkdf2\",\"salt\":\"" ALICE_SALT
                           "\",\"derived_key\":\"" ALICE_DK_SHA1_10K "\"}",
                           "apass"));
    assert_false(verify_doc("{\"password_scheme\":\"pbkdf2\",\"salt\":\"" ALICE_SALT
                            "\",\"iterations\":600000,\"derived_key\":\"" ALICE_DK "\"}",
                            "apass"));
    /* simple, explicit and implied. */
    assert_true(verify_doc("{\"password_scheme\":\"simple\",\"salt\":\"" ALICE_SALT
                           "\",\"password_sha\":\"" ALICE_SHA "\"}",
                           "apass"));
    assert_true(verify_doc("{\"salt\":\"" ALICE_SALT "\",\"password_sha\":\"" ALICE_SHA "\"}",
                           "apass"));
    assert_false(verify_doc("{\"salt\":\"" ALICE_SALT "\",\"password_sha\":\"" ALICE_SHA "\"}",
                            "apass "));
}

static void test_user_doc_refusals(void **state)
{
    (void)state;
    struct {
        const char *json;
        st_status rc;
        const char *reason;
    } cases[] = {
        {"{\"password_scheme\":\"bcrypt\",\"salt\":\"s\"}", ST_E_FORBIDDEN,
         "Password scheme `bcrypt` not supported."},
        {"{\"password_scheme\":\"pbkdf2\",\"salt\":\"s\",\"iterations\":\"10\","
         "\"derived_key\":\"ab\"}",
         ST_E_FORBIDDEN, "iterations must be a number."},
        {"{\"password_scheme\":\"pbkdf2\",\"pbkdf2_prf\":\"md5\",\"salt\":\"s\","
         "\"derived_key\":\"ab\"}",
         ST_E_FORBIDDEN, NULL},
        {"{\"password_scheme\":\"pbkdf2\",\"salt\":\"s\"}", ST_E_NOT_FOUND, NULL},
        {"{\"name\":\"x\"}", ST_E_NOT_FOUND, NULL},
        {"[1]", ST_E_BAD_REQUEST, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_json_doc *d = parse(cases[i].json);
        st_pw_hash h;
        st_error e;
        assert_int_equal(st_pw_from_user_doc(st_json_doc_root(d), &h, &e), cases[i].rc);
        if (cases[i].reason)
            assert_string_equal(e.reason, cases[i].reason);
        st_json_doc_free(d);
    }
}

static void test_iteration_bounds(void **state)
{
    (void)state;
    st_pw_policy p = policy();
    st_pw_hash h;
    st_error e;
    bool ok = true;
    const char *v = "-pbkdf2-" ALICE_DK_SHA1_10K "," ALICE_SALT ",10000";
    assert_int_equal(st_pw_parse_admin(v, strlen(v), &h, NULL), ST_OK);
    p.min_iterations = 10001;
    uint64_t before = st_pw_iterations_done();
    assert_int_equal(st_pw_verify(&h, &p, "apass", 5, &ok, &e), ST_E_FORBIDDEN);
    assert_string_equal(e.reason, "Iteration count is too low for this server");
    assert_false(ok);
    p.min_iterations = 1;
    p.max_iterations = 9999;
    assert_int_equal(st_pw_verify(&h, &p, "apass", 5, &ok, &e), ST_E_FORBIDDEN);
    assert_string_equal(e.reason, "Iteration count is too high for this server");
    assert_int_equal(st_pw_iterations_done(), before); /* refused before any hashing */
}

static void test_admin_round_trip(void **state)
{
    (void)state;
    st_pw_policy p = policy();
    p.iterations = 1000; /* the format, not the cost, is under test */
    char *v = NULL;
    assert_int_equal(st_pw_hash_admin(&p, "s3cr:et", 7, &v, NULL), ST_OK);
    assert_int_equal(strncmp(v, "-pbkdf2:sha256-", 15), 0);
    assert_int_equal(strlen(v), 15 + 64 + 1 + 32 + 1 + 4);
    assert_string_equal(v + strlen(v) - 5, ",1000");
    assert_true(verify_admin(v, "s3cr:et"));
    assert_false(verify_admin(v, "s3cr:eT"));
    char *w = NULL;
    assert_int_equal(st_pw_hash_admin(&p, "s3cr:et", 7, &w, NULL), ST_OK);
    assert_string_not_equal(v, w); /* fresh salt every time */
    free(v);
    free(w);
    p.prf = ST_DIGEST_SHA1;
    assert_int_equal(st_pw_hash_admin(&p, "x", 1, &v, NULL), ST_OK);
    assert_int_equal(strncmp(v, "-pbkdf2:sha-", 12), 0);
    assert_true(verify_admin(v, "x"));
    free(v);
}

static void test_user_doc_rewrite(void **state)
{
    (void)state;
    st_pw_policy p = policy();
    p.iterations = 1000;
    st_json_doc *d = parse("{\"_id\":\"org.couchdb.user:alice\",\"name\":\"alice\","
                           "\"password\":\"apass\",\"roles\":[],\"type\":\"user\","
                           "\"password_sha\":\"old\",\"salt\":\"old\"}");
    st_buf out = ST_BUF_INIT;
    bool changed = false;
    assert_int_equal(st_pw_hash_user_doc(&p, st_json_doc_root(d), &out, &changed, NULL), ST_OK);
    assert_true(changed);
    st_json_doc_free(d);
    /* _id first, then the hash fields in CouchDB's order, then the rest. */
    assert_int_equal(strncmp(out.data, "{\"_id\":\"org.couchdb.user:alice\",\"password_scheme\":"
                                       "\"pbkdf2\",\"pbkdf2_prf\":\"sha256\",\"salt\":\"", 89), 0);
    assert_null(strstr(out.data, "apass"));
    assert_null(strstr(out.data, "password_sha"));
    assert_null(strstr(out.data, "\"password\""));
    assert_non_null(strstr(out.data, "\"iterations\":1000,\"derived_key\":\""));
    assert_non_null(strstr(out.data, "\"name\":\"alice\",\"roles\":[],\"type\":\"user\"}"));
    d = parse(out.data);
    st_pw_hash h;
    assert_int_equal(st_pw_from_user_doc(st_json_doc_root(d), &h, NULL), ST_OK);
    assert_int_equal(h.salt_len, 32);
    assert_int_equal(h.key_len, 64);
    bool ok = false;
    assert_int_equal(st_pw_verify(&h, &p, "apass", 5, &ok, NULL), ST_OK);
    assert_true(ok);
    assert_false(st_pw_needs_upgrade(&h, &p));
    p.iterations = 2000;
    assert_true(st_pw_needs_upgrade(&h, &p));
    st_json_doc_free(d);
    st_buf_free(&out);
}

static void test_user_doc_rewrite_noops_and_refusal(void **state)
{
    (void)state;
    st_pw_policy p = policy();
    st_buf out = ST_BUF_INIT;
    bool changed = true;
    st_json_doc *d = parse("{\"name\":\"a\",\"password\":null}");
    assert_int_equal(st_pw_hash_user_doc(&p, st_json_doc_root(d), &out, &changed, NULL), ST_OK);
    assert_false(changed);
    assert_int_equal(out.len, 0);
    st_json_doc_free(d);
    d = parse("{\"name\":\"a\"}");
    assert_int_equal(st_pw_hash_user_doc(&p, st_json_doc_root(d), &out, &changed, NULL), ST_OK);
    assert_false(changed);
    st_json_doc_free(d);
    d = parse("{\"name\":\"a\",\"password\":123}");
    st_error e;
    assert_int_equal(st_pw_hash_user_doc(&p, st_json_doc_root(d), &out, &changed, &e),
                     ST_E_FORBIDDEN);
    assert_string_equal(e.reason, "Password value of '123' is invalid.");
    st_json_doc_free(d);
    st_buf_free(&out);
}

/* The unknown-user path runs exactly the PBKDF2 work a fresh user costs. */
static void test_unknown_user_same_work(void **state)
{
    (void)state;
    st_pw_policy p = policy();
    p.iterations = 4321;
    char *v = NULL;
    assert_int_equal(st_pw_hash_admin(&p, "pw", 2, &v, NULL), ST_OK);
    st_pw_hash h;
    assert_int_equal(st_pw_parse_admin(v, strlen(v), &h, NULL), ST_OK);
    uint64_t t0 = st_pw_iterations_done();
    bool ok = true;
    assert_int_equal(st_pw_verify(&h, &p, "wrong", 5, &ok, NULL), ST_OK);
    assert_false(ok);
    uint64_t known = st_pw_iterations_done() - t0;
    t0 = st_pw_iterations_done();
    st_pw_verify_unknown(&p, "wrong", 5);
    uint64_t unknown = st_pw_iterations_done() - t0;
    assert_int_equal(known, 4321);
    assert_int_equal(unknown, known);
    free(v);
}

static void test_long_passwords(void **state)
{
    (void)state;
    st_pw_policy p = policy();
    p.iterations = 100;
    size_t n = ST_PW_MAX_LEN;
    char *pw = malloc(n + 1);
    assert_non_null(pw);
    memset(pw, 'x', n + 1);
    pw[7] = '\0'; /* embedded NULs are part of the password */
    char *v = NULL;
    assert_int_equal(st_pw_hash_admin(&p, pw, n, &v, NULL), ST_OK);
    st_pw_hash h;
    assert_int_equal(st_pw_parse_admin(v, strlen(v), &h, NULL), ST_OK);
    bool ok = false;
    assert_int_equal(st_pw_verify(&h, &p, pw, n, &ok, NULL), ST_OK);
    assert_true(ok);
    assert_int_equal(st_pw_verify(&h, &p, pw, 7, &ok, NULL), ST_OK);
    assert_false(ok);
    uint64_t t0 = st_pw_iterations_done();
    assert_int_equal(st_pw_verify(&h, &p, pw, n + 1, &ok, NULL), ST_OK);
    assert_false(ok);
    assert_int_equal(st_pw_iterations_done(), t0);
    char *w = NULL;
    assert_int_equal(st_pw_hash_admin(&p, pw, n + 1, &w, NULL), ST_E_BAD_REQUEST);
    assert_null(w);
    free(v);
    free(pw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_formats),
        cmocka_unit_test(test_admin_parse_errors),
        cmocka_unit_test(test_user_doc_schemes),
        cmocka_unit_test(test_user_doc_refusals),
        cmocka_unit_test(test_iteration_bounds),
        cmocka_unit_test(test_admin_round_trip),
        cmocka_unit_test(test_user_doc_rewrite),
        cmocka_unit_test(test_user_doc_rewrite_noops_and_refusal),
        cmocka_unit_test(test_unknown_user_same_work),
        cmocka_unit_test(test_long_passwords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
