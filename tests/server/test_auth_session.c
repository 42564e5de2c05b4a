/* test_auth_session.c — AuthSession cookies (known answer from openssl dgst,
 * expiry and refresh boundaries on an injected clock, forged vs expired vs
 * malformed, Set-Cookie text) and HTTP Basic decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "st_base64.h"
#include "basic.h"
#include "session.h"

#define SALT "8b6beb3531a75df71abe97a352a4507c"
#define T0 0x6B0FDDCE /* the HEXTIME of PROTOCOL-2 A.5's cookie */
/* base64url("alice:6B0FDDCE:" ++ mac), mac from
 * printf 'alice:6B0FDDCE' | openssl dgst -sha256 -mac HMAC -macopt key:s3cretfoo<SALT> */
#define COOKIE_SHA256 "YWxpY2U6NkIwRkREQ0U6kqjj2uEGycEM4THc-bgHpCFEA_QfDemK4tyE-dQCgps"
/* the same with -sha1 */
#define COOKIE_SHA1 "YWxpY2U6NkIwRkREQ0U6hKNzYEdesC3a6t4ejt2bTuenHB8"

static st_session_config config(void)
{
    st_session_config c;
    st_session_config_init(&c);
    c.secret = "s3cretfoo";
    c.secret_len = 9;
    return c;
}

static st_session_verdict check(const st_session_config *c, const char *cookie, const char *salt,
                                int64_t now)
{
    st_session_token t;
    assert_int_equal(st_session_decode(cookie, strlen(cookie), &t, NULL), ST_OK);
    st_session_verdict v = st_session_check(c, &t, salt, salt ? strlen(salt) : 0, now);
    st_session_token_free(&t);
    return v;
}

static void test_known_answer(void **state)
{
    (void)state;
    st_session_config c = config();
    char *v = NULL;
    assert_int_equal(st_session_make(&c, "alice", SALT, 32, T0, &v, NULL), ST_OK);
    assert_string_equal(v, COOKIE_SHA256);
    free(v);
    st_session_token t;
    assert_int_equal(st_session_decode(COOKIE_SHA256, strlen(COOKIE_SHA256), &t, NULL), ST_OK);
    assert_string_equal(t.name, "alice");
    assert_int_equal(t.msg_len, strlen("alice:6B0FDDCE"));
    st_session_token_free(&t);
    /* hash_algorithms = sha256, sha: a sha1 cookie still verifies. */
    assert_int_equal(check(&c, COOKIE_SHA1, SALT, T0), ST_SESSION_VALID);
    assert_int_equal(st_session_set_algorithms(&c, "sha256", NULL), ST_OK);
    assert_int_equal(check(&c, COOKIE_SHA1, SALT, T0), ST_SESSION_FORGED);
    assert_int_equal(st_session_set_algorithms(&c, " sha , sha256", NULL), ST_OK);
    assert_int_equal(c.algs[0], ST_DIGEST_SHA1);
    assert_int_equal(st_session_make(&c, "alice", SALT, 32, T0, &v, NULL), ST_OK);
    assert_string_equal(v, COOKIE_SHA1);
    free(v);
    assert_int_equal(st_session_set_algorithms(&c, "md5", NULL), ST_E_BAD_REQUEST);
    assert_int_equal(st_session_set_algorithms(&c, " , ", NULL), ST_E_BAD_REQUEST);
}

static void test_expiry_and_refresh(void **state)
{
    (void)state;
    st_session_config c = config();
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0), ST_SESSION_VALID);
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0 + 60), ST_SESSION_VALID);
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0 + 61), ST_SESSION_VALID_REFRESH);
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0 + 599), ST_SESSION_VALID_REFRESH);
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0 + 600), ST_SESSION_EXPIRED);
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0 - 5), ST_SESSION_VALID);
    /* PROTOCOL-2 A.5: timeout 3 refreshes after >= 1 s. */
    c.timeout_s = 3;
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0), ST_SESSION_VALID);
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0 + 1), ST_SESSION_VALID_REFRESH);
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0 + 3), ST_SESSION_EXPIRED);
}

static void test_forged(void **state)
{
    (void)state;
    st_session_config c = config();
    /* A changed salt (password change) or secret kills the cookie. */
    assert_int_equal(check(&c, COOKIE_SHA256, "othersalt", T0), ST_SESSION_FORGED);
    assert_int_equal(check(&c, COOKIE_SHA256, NULL, T0), ST_SESSION_FORGED);
    c.secret = "s3cretfox";
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0), ST_SESSION_FORGED);
    c.secret = NULL;
    c.secret_len = 0;
    assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0), ST_SESSION_FORGED);
    /* Forged and expired: forged wins (the MAC is what makes it ours). */
    c = config();
    assert_int_equal(check(&c, COOKIE_SHA256, "x", T0 + 10000), ST_SESSION_FORGED);
    /* Another name with alice's MAC; a truncated MAC; a bad time. */
    unsigned char raw[128];
    char enc[256];
    size_t n = 0;
    assert_true(st_b64_decode(ST_B64_URL, COOKIE_SHA256, strlen(COOKIE_SHA256), raw, sizeof raw,
                              &n));
    raw[0] = 'A';
    st_b64_encode(ST_B64_URL, raw, n, enc, sizeof enc);
    assert_int_equal(check(&c, enc, SALT, T0), ST_SESSION_FORGED);
    raw[0] = 'a';
    st_b64_encode(ST_B64_URL, raw, n - 1, enc, sizeof enc);
    assert_int_equal(check(&c, enc, SALT, T0), ST_SESSION_FORGED);
    st_b64_encode(ST_B64_URL, (const unsigned char *)"alice:zz:mac", 12, enc, sizeof enc);
    assert_int_equal(check(&c, enc, SALT, T0), ST_SESSION_BAD_TIME);
    st_b64_encode(ST_B64_URL, (const unsigned char *)"alice::mac", 10, enc, sizeof enc);
    assert_int_equal(check(&c, enc, SALT, T0), ST_SESSION_BAD_TIME);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"!!!", "YWJj=", "YQ", /* "a": no colons */
                         "YTpi" /* "a:b": two parts only */, "Y"};
    st_session_token t;
    st_error e;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(st_session_decode(bad[i], strlen(bad[i]), &t, &e), ST_E_BAD_REQUEST);
        assert_string_equal(e.reason, ST_SESSION_MALFORMED);
    }
    assert_int_equal(st_session_decode("", 0, &t, &e), ST_E_NOT_FOUND);
    /* "a\0b:1:x" — a name no user can have: ignored, not malformed. */
    char enc[64];
    st_b64_encode(ST_B64_URL, (const unsigned char *)"a\0b:1:x", 7, enc, sizeof enc);
    assert_int_equal(st_session_decode(enc, strlen(enc), &t, &e), ST_E_NOT_FOUND);
    /* The MAC may contain ':' — only the first two split. */
    st_b64_encode(ST_B64_URL, (const unsigned char *)"a:1:x:y", 7, enc, sizeof enc);
    assert_int_equal(st_session_decode(enc, strlen(enc), &t, &e), ST_OK);
    assert_int_equal(t.msg_len, 3);
    st_session_token_free(&t);
    char *big = malloc(ST_SESSION_MAX_VALUE + 2);
    memset(big, 'A', ST_SESSION_MAX_VALUE + 1);
    big[ST_SESSION_MAX_VALUE + 1] = '\0';
    assert_int_equal(st_session_decode(big, ST_SESSION_MAX_VALUE + 1, &t, &e), ST_E_BAD_REQUEST);
    free(big);
}

static void test_make_refusals(void **state)
{
    (void)state;
    st_session_config c = config();
    char *v = NULL;
    assert_int_equal(st_session_make(&c, "a:b", "", 0, T0, &v, NULL), ST_E_BAD_REQUEST);
    c.secret = NULL;
    assert_int_equal(st_session_make(&c, "a", "", 0, T0, &v, NULL), ST_E_MISUSE);
    assert_null(v);
}

static void test_set_cookie(void **state)
{
    (void)state;
    st_session_config c = config();
    char *h = NULL;
    assert_int_equal(st_session_set_cookie(&c, "abc", false, T0, &h, NULL), ST_OK);
    assert_string_equal(h, "AuthSession=abc; Version=1; Expires=Wed, 02-Dec-2026 09:08:54 GMT; "
                           "Max-Age=600; Path=/; HttpOnly");
    free(h);
    c.domain = "example.com";
    c.same_site = ST_SAME_SITE_STRICT;
    assert_int_equal(st_session_set_cookie(&c, "", true, T0, &h, NULL), ST_OK);
    assert_string_equal(h, "AuthSession=; Version=1; Expires=Wed, 02-Dec-2026 09:08:54 GMT; "
                           "Max-Age=600; Secure; Domain=example.com; Path=/; HttpOnly; "
                           "SameSite=Strict");
    free(h);
    c.persistent = false;
    c.domain = NULL;
    c.same_site = ST_SAME_SITE_LAX;
    assert_int_equal(st_session_set_cookie(&c, "abc", false, T0, &h, NULL), ST_OK);
    assert_string_equal(h, "AuthSession=abc; Version=1; Path=/; HttpOnly; SameSite=Lax");
    free(h);
    c.domain = "evil.com\r\nX-Injected: 1";
    assert_int_equal(st_session_set_cookie(&c, "abc", false, T0, &h, NULL), ST_E_BAD_REQUEST);
    c.domain = NULL;
    assert_int_equal(st_session_set_cookie(&c, "a;b", false, T0, &h, NULL), ST_E_BAD_REQUEST);
    st_same_site ss;
    assert_true(st_session_parse_same_site("None", &ss));
    assert_int_equal(ss, ST_SAME_SITE_NONE);
    assert_true(st_session_parse_same_site("", &ss));
    assert_int_equal(ss, ST_SAME_SITE_UNSET);
    assert_false(st_session_parse_same_site("sometimes", &ss));
}

static void test_secret(void **state)
{
    (void)state;
    char a[ST_SESSION_SECRET_HEX + 1], b[ST_SESSION_SECRET_HEX + 1];
    assert_int_equal(st_session_new_secret(a, NULL), ST_OK);
    assert_int_equal(st_session_new_secret(b, NULL), ST_OK);
    assert_int_equal(strlen(a), ST_SESSION_SECRET_HEX);
    assert_int_equal(strspn(a, "0123456789abcdef"), ST_SESSION_SECRET_HEX);
    assert_string_not_equal(a, b);
}

static void test_round_trip(void **state)
{
    (void)state;
    st_session_config c = config();
    char *v = NULL;
    assert_int_equal(st_session_make(&c, "bob@example.org", "salty", 5, 1000, &v, NULL), ST_OK);
    assert_int_equal(check(&c, v, "salty", 1000), ST_SESSION_VALID);
    free(v);
}

/* ---- Basic ---- */

static st_status basic(const char *hdr, st_basic_creds *c, st_error *e)
{
    return st_basic_decode(hdr, strlen(hdr), c, e);
}

static void test_basic_split(void **state)
{
    (void)state;
    st_basic_creds c;
    /* "alice:pa:ss": split at the first ':' */
    assert_int_equal(basic("Basic YWxpY2U6cGE6c3M=", &c, NULL), ST_OK);
    assert_int_equal(c.kind, ST_BASIC_CREDS);
    assert_string_equal(c.name, "alice");
    assert_string_equal(c.password, "pa:ss");
    assert_int_equal(c.password_len, 5);
    st_basic_creds_wipe(&c);
    assert_null(c.buf);
    /* unpadded, lowercase scheme, extra spaces */
    assert_int_equal(basic("  basic   YWxpY2U6cGE6c3M  ", &c, NULL), ST_OK);
    assert_int_equal(c.kind, ST_BASIC_CREDS);
    assert_string_equal(c.password, "pa:ss");
    st_basic_creds_wipe(&c);
    /* ":" → empty name and password (an unknown user, later) */
    assert_int_equal(basic("Basic Og==", &c, NULL), ST_OK);
    assert_int_equal(c.kind, ST_BASIC_CREDS);
    assert_string_equal(c.name, "");
    st_basic_creds_wipe(&c);
    /* "_:_" and no colon: no credentials */
    assert_int_equal(basic("Basic Xzpf", &c, NULL), ST_OK);
    assert_int_equal(c.kind, ST_BASIC_NO_CREDS);
    assert_int_equal(basic("Basic YWxpY2U=", &c, NULL), ST_OK);
    assert_int_equal(c.kind, ST_BASIC_NO_CREDS);
}

static void test_basic_other_and_bad(void **state)
{
    (void)state;
    st_basic_creds c;
    st_error e;
    const char *other[] = {"Bearer abc.def.ghi", "Digest x", "Basicx YWJj", "Basic", ""};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        assert_int_equal(basic(other[i], &c, NULL), ST_OK);
        assert_int_equal(c.kind, ST_BASIC_NOT_BASIC);
    }
    const char *bad[] = {"Basic !!!!", "Basic YWJjZ", "Basic Y", "Basic YW=j", "Basic YWxp Y2U=",
                         "Basic YWxpY2U6cGE6c3M-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(basic(bad[i], &c, &e), ST_E_BAD_REQUEST);
        assert_string_equal(e.reason, ST_BASIC_BAD_BASE64);
        assert_null(c.buf);
    }
    /* "a\0b:pw" */
    char hdr[64] = "Basic ";
    st_b64_encode(ST_B64_STD, (const unsigned char *)"a\0b:pw", 6, hdr + 6, sizeof hdr - 6);
    assert_int_equal(basic(hdr, &c, &e), ST_E_UNAUTHORIZED);
}

/* Today's server fails past ~590 bytes; any length up to the bound works. */
static void test_basic_long(void **state)
{
    (void)state;
    size_t pw_len = 64 * 1024;
    unsigned char *plain = malloc(pw_len + 3);
    memcpy(plain, "u:", 2);
    for (size_t i = 0; i < pw_len; i++)
        plain[2 + i] = (unsigned char)(i * 7 + 1); /* binary, includes ':' and NUL */
    size_t enc_cap = ST_B64_ENCODED_SIZE(pw_len + 2) + 6;
    char *hdr = malloc(enc_cap);
    memcpy(hdr, "Basic ", 6);
    st_b64_encode(ST_B64_STD, plain, pw_len + 2, hdr + 6, enc_cap - 6);
    st_basic_creds c;
    assert_int_equal(basic(hdr, &c, NULL), ST_OK);
    assert_int_equal(c.kind, ST_BASIC_CREDS);
    assert_string_equal(c.name, "u");
    assert_int_equal(c.password_len, pw_len);
    assert_memory_equal(c.password, plain + 2, pw_len);
    st_basic_creds_wipe(&c);
    char *huge = malloc(ST_BASIC_MAX_HEADER + 2);
    memcpy(huge, "Basic ", 6);
    memset(huge + 6, 'A', ST_BASIC_MAX_HEADER - 4);
    huge[ST_BASIC_MAX_HEADER + 2 - 1] = '\0';
    memset(huge + 6, 'A', ST_BASIC_MAX_HEADER + 2 - 1 - 6);
    assert_int_equal(basic(huge, &c, NULL), ST_E_BAD_REQUEST);
    free(huge);
    free(hdr);
    free(plain);
}

/* Prepared keys (st_session_keys) give the same verdicts as preparing per
 * check: known answers, both algorithms, a wrong salt, more salts than
 * slots (collisions replace), a long salt that is never kept. */
static void test_prepared_keys(void **state)
{
    (void)state;
    st_session_config c = config();
    assert_non_null(c.keys = st_session_keys_new());
    for (int pass = 0; pass < 2; pass++) { /* a miss that fills, then a hit */
        assert_int_equal(check(&c, COOKIE_SHA256, SALT, T0), ST_SESSION_VALID);
        assert_int_equal(check(&c, COOKIE_SHA1, SALT, T0), ST_SESSION_VALID);
        assert_int_equal(check(&c, COOKIE_SHA256, "other-salt", T0), ST_SESSION_FORGED);
        assert_int_equal(check(&c, COOKIE_SHA256, "", T0), ST_SESSION_FORGED);
    }
    char *v = NULL;
    assert_int_equal(st_session_make(&c, "alice", SALT, 32, T0, &v, NULL), ST_OK);
    assert_string_equal(v, COOKIE_SHA256);
    free(v);
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < 3 * ST_SESSION_KEYS; i++) {
            char salt[40], other[40];
            snprintf(salt, sizeof salt, "salt-%u", i);
            snprintf(other, sizeof other, "salt-%u", i + 1);
            assert_int_equal(st_session_make(&c, "bob", salt, strlen(salt), T0, &v, NULL), ST_OK);
            assert_int_equal(check(&c, v, salt, T0), ST_SESSION_VALID);
            assert_int_equal(check(&c, v, other, T0), ST_SESSION_FORGED);
            free(v);
        }
    }
    char long_salt[200];
    memset(long_salt, 'x', sizeof long_salt - 1);
    long_salt[sizeof long_salt - 1] = '\0';
    assert_int_equal(st_session_make(&c, "carol", long_salt, strlen(long_salt), T0, &v, NULL),
                     ST_OK);
    assert_int_equal(check(&c, v, long_salt, T0), ST_SESSION_VALID);
    long_salt[0] = 'y';
    assert_int_equal(check(&c, v, long_salt, T0), ST_SESSION_FORGED);
    free(v);
    st_session_keys_free(c.keys);
    st_session_keys_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),  cmocka_unit_test(test_expiry_and_refresh),
        cmocka_unit_test(test_forged),        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_make_refusals), cmocka_unit_test(test_set_cookie),
        cmocka_unit_test(test_secret),        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_basic_split),   cmocka_unit_test(test_basic_other_and_bad),
        cmocka_unit_test(test_basic_long),    cmocka_unit_test(test_prepared_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
