/* test_rev.c — rev id parsing/formatting and CouchDB-exact rev hashing.
 *
 * Expected term bytes follow the Erlang external term format; the {"x":1}
 * vector was captured from CouchDB 3.5, the others are hand-derived from the
 * format and their md5s computed independently.  JSON trees are built with
 * compound literals so this test does not depend on the JSON parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "rev_int.h"
#include "st_buf.h"
#include "st_json.h"
#include "st_rev.h"

/* ---- JSON tree literals ------------------------------------------------ */

#define J_NUM(s) ((st_json){ST_JSON_NUMBER, sizeof(s) - 1, {.str = (s)}})
#define J_STR(s) ((st_json){ST_JSON_STRING, sizeof(s) - 1, {.str = (s)}})
#define J_NULL ((st_json){ST_JSON_NULL, 0, {.str = NULL}})
#define J_TRUE ((st_json){ST_JSON_TRUE, 0, {.str = NULL}})
#define J_FALSE ((st_json){ST_JSON_FALSE, 0, {.str = NULL}})
#define J_ARR(...)                                                                         \
    ((st_json){ST_JSON_ARRAY, sizeof((st_json[]){__VA_ARGS__}) / sizeof(st_json),          \
               {.items = (st_json[]){__VA_ARGS__}}})
#define J_EMPTY_ARR ((st_json){ST_JSON_ARRAY, 0, {.items = NULL}})
#define J_MEM(k, v) ((st_json_member){(k), sizeof(k) - 1, v})
#define J_OBJ(...)                                                                         \
    ((st_json){ST_JSON_OBJECT,                                                             \
               sizeof((st_json_member[]){__VA_ARGS__}) / sizeof(st_json_member),           \
               {.members = (st_json_member[]){__VA_ARGS__}}})
#define J_EMPTY_OBJ ((st_json){ST_JSON_OBJECT, 0, {.members = NULL}})

/* ---- helpers ------------------------------------------------------------ */

/* Hex text (spaces ignored) into bytes; returns the count. */
static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;

    for (; *hex; hex++) {
        int v = 0;

        if (*hex == ' ')
            continue;
        if (*hex >= '0' && *hex <= '9')
            v = *hex - '0';
        else if (*hex >= 'a' && *hex <= 'f')
            v = *hex - 'a' + 10;
        else
            fail_msg("bad hex digit %c", *hex);
        if (hi < 0) {
            hi = v;
        } else {
            assert_true(n < cap);
            out[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    assert_int_equal(hi, -1);
    return n;
}

static void assert_bytes(const void *got, size_t got_len, const char *hex)
{
    static unsigned char want[8192];
    size_t n = unhex(hex, want, sizeof want);

    if (got_len != n || memcmp(got, want, n) != 0) {
        const unsigned char *g = got;

        fprintf(stderr, "want %s\ngot  ", hex);
        for (size_t i = 0; i < got_len; i++)
            fprintf(stderr, "%02x", g[i]);
        fprintf(stderr, "\n");
        fail_msg("term bytes differ");
    }
}

/* The value's external term must be exactly `hex` (after the 83 byte). */
static void check_value(st_json v, const char *hex)
{
    st_buf b = ST_BUF_INIT;
    st_error err;

    assert_int_equal(st_rev_term_encode_value(&v, &b, &err), ST_OK);
    assert_true(b.len >= 1);
    assert_int_equal((unsigned char)b.data[0], 131);
    assert_bytes(b.data + 1, b.len - 1, hex);
    st_buf_free(&b);
}

static void check_value_fails(st_json v, st_status want)
{
    st_buf b = ST_BUF_INIT;
    st_error err;

    assert_int_equal(st_rev_term_encode_value(&v, &b, &err), want);
    assert_int_equal(err.code, want);
    st_buf_free(&b);
}

static void md5_hex(const void *p, size_t n, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;

    assert_int_equal(EVP_Digest(p, n, d, &dl, EVP_md5(), NULL), 1);
    assert_int_equal(dl, 16);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static st_rev rev(const char *s)
{
    st_rev r;
    st_error err;

    assert_int_equal(st_rev_parse(s, strlen(s), &r, &err), ST_OK);
    return r;
}

/* compute() must equal md5(term bytes) and the expected id; returns it. */
static void check_compute(const st_rev *parent, bool deleted, st_json doc,
                          const st_rev_att *atts, size_t n_atts, const char *want_term_hex,
                          const char *want_rev)
{
    st_buf b = ST_BUF_INIT;
    st_error err;
    st_rev out;
    char md[33], txt[ST_REV_STR_MAX];

    assert_int_equal(st_rev_term_encode(parent, deleted, &doc, atts, n_atts, &b, &err), ST_OK);
    if (want_term_hex != NULL)
        assert_bytes(b.data, b.len, want_term_hex);
    assert_int_equal(st_rev_compute(parent, deleted, &doc, atts, n_atts, &out, &err), ST_OK);
    md5_hex(b.data, b.len, md);
    assert_string_equal(out.hash, md);
    assert_int_equal(out.hash_len, 32);
    assert_int_equal(out.gen, parent != NULL ? parent->gen + 1 : 1);
    st_rev_format(&out, txt, sizeof txt);
    if (want_rev != NULL)
        assert_string_equal(txt, want_rev);
    st_buf_free(&b);
}

/* ---- parse / format / compare ------------------------------------------ */

static void test_parse_ok(void **state)
{
    st_rev r;
    st_error err;
    char h128[200];
    char txt[ST_REV_STR_MAX];

    (void)state;
    assert_int_equal(st_rev_parse("1-abc", 5, &r, &err), ST_OK);
    assert_int_equal(r.gen, 1);
    assert_int_equal(r.hash_len, 3);
    assert_string_equal(r.hash, "abc");

    r = rev("10-0785e9eb543380151003dc452c3a001a");
    assert_int_equal(r.gen, 10);
    assert_int_equal(r.hash_len, 32);

    r = rev("007-x"); /* leading zeros accepted, as CouchDB does */
    assert_int_equal(r.gen, 7);
    assert_int_equal(st_rev_format(&r, txt, sizeof txt), 3);
    assert_string_equal(txt, "7-x");

    r = rev("1-a-b"); /* split at the first dash */
    assert_string_equal(r.hash, "a-b");
    r = rev("1--");
    assert_string_equal(r.hash, "-");

    r = rev("9223372036854775807-z");
    assert_true(r.gen == INT64_MAX);
    assert_int_equal(st_rev_format(&r, txt, sizeof txt), 21);
    assert_string_equal(txt, "9223372036854775807-z");
    /* Past 2^63 a revision could never be edited: refused. */
    st_rev big;
    assert_int_equal(st_rev_parse("9223372036854775808-z", 21, &big, NULL), ST_E_BAD_REQUEST);
    assert_int_equal(st_rev_parse("18446744073709551615-z", 22, &big, NULL), ST_E_BAD_REQUEST);

    memcpy(h128, "3-", 2);
    memset(h128 + 2, 'f', ST_REV_HASH_MAX);
    h128[2 + ST_REV_HASH_MAX] = '\0';
    r = rev(h128);
    assert_int_equal(r.hash_len, ST_REV_HASH_MAX);

    /* only n bytes are looked at */
    assert_int_equal(st_rev_parse("2-abcdef", 4, &r, &err), ST_OK);
    assert_string_equal(r.hash, "ab");
}

static void test_parse_bad(void **state)
{
    static const char *bad[] = {
        "", "1", "a-b", "0-", "0-x", "-1-x", "1-", "-", "+1-x", " 1-x", "1 -x",
        "1- x", "1-x y", "1-x ", "1-\t", "18446744073709551616-x",
        "99999999999999999999999999-x", "1-\x7f", "1-\xc3\xa9", "x1-a", "0x1-a",
    };
    char h129[200];
    st_rev r;
    st_error err;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.code = ST_OK;
        if (st_rev_parse(bad[i], strlen(bad[i]), &r, &err) != ST_E_BAD_REQUEST)
            fail_msg("accepted bad rev \"%s\"", bad[i]);
        assert_int_equal(err.code, ST_E_BAD_REQUEST);
        assert_string_equal(err.reason, "Invalid rev format");
    }
    memcpy(h129, "1-", 2);
    memset(h129 + 2, 'a', ST_REV_HASH_MAX + 1);
    assert_int_equal(st_rev_parse(h129, 2 + ST_REV_HASH_MAX + 1, &r, &err), ST_E_BAD_REQUEST);
    /* an embedded NUL is not printable */
    assert_int_equal(st_rev_parse("1-a\0b", 5, &r, &err), ST_E_BAD_REQUEST);
    assert_int_equal(st_rev_parse(NULL, 0, &r, NULL), ST_E_BAD_REQUEST);
}

static void test_format(void **state)
{
    st_rev r = rev("123-abcdef");
    char small[6];
    char txt[ST_REV_STR_MAX];

    (void)state;
    assert_int_equal(st_rev_format(&r, txt, sizeof txt), 10);
    assert_string_equal(txt, "123-abcdef");
    assert_int_equal(st_rev_format(&r, small, sizeof small), 5); /* truncated */
    assert_string_equal(small, "123-a");
    assert_int_equal(st_rev_format(&r, small, 0), 0);
}

static void test_cmp(void **state)
{
    st_rev a = rev("2-b"), b = rev("10-a"), c = rev("2-ba"), d = rev("2-c"), e = rev("2-b");

    (void)state;
    assert_true(st_rev_cmp(&a, &b) < 0); /* generation is numeric */
    assert_true(st_rev_cmp(&b, &a) > 0);
    assert_true(st_rev_cmp(&a, &c) < 0); /* prefix sorts first */
    assert_true(st_rev_cmp(&c, &d) < 0);
    assert_int_equal(st_rev_cmp(&a, &e), 0);
    assert_true(st_rev_eq(&a, &e));
    assert_false(st_rev_eq(&a, &c));
    assert_false(st_rev_eq(&a, &b));
}

static void test_stripped_members(void **state)
{
    static const char *yes[] = {"_id", "_rev", "_attachments", "_deleted", "_revisions",
                                "_revs_info", "_conflicts", "_deleted_conflicts", "_local_seq"};
    static const char *no[] = {"_access", "_replication_state", "_idx", "id", "_", "",
                               "_Id", "_deleted_conflict", "_local_seqs"};

    (void)state;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(st_rev_is_stripped_member(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(st_rev_is_stripped_member(no[i], strlen(no[i])));
}

/* ---- term encoding ------------------------------------------------------ */

static void test_term_couchdb_vector(void **state)
{
    st_json doc = J_OBJ(J_MEM("x", J_NUM("1")));

    (void)state;
    check_compute(NULL, false, doc, NULL, 0,
                  "83 6c 00000005 64 0005 66616c7365 61 00 61 00 68 01 6c 00000001"
                  " 68 02 6d 00000001 78 61 01 6a 6a 6a",
                  "1-0785e9eb543380151003dc452c3a001a");
}

static void test_term_integers(void **state)
{
    (void)state;
    check_value(J_NUM("0"), "61 00");
    check_value(J_NUM("-0"), "61 00");
    check_value(J_NUM("255"), "61 ff");
    check_value(J_NUM("256"), "62 00000100");
    check_value(J_NUM("-1"), "62 ffffffff");
    check_value(J_NUM("-255"), "62 ffffff01");
    check_value(J_NUM("2147483647"), "62 7fffffff");
    check_value(J_NUM("-2147483648"), "62 80000000");
    check_value(J_NUM("2147483648"), "6e 04 00 00000080");
    check_value(J_NUM("-2147483649"), "6e 04 01 01000080");
    check_value(J_NUM("4294967296"), "6e 05 00 0000000001");
    check_value(J_NUM("18446744073709551615"), "6e 08 00 ffffffffffffffff");
    check_value(J_NUM("12345678901234567890"), "6e 08 00 d20a1feb8ca954ab");
    check_value(J_NUM("-12345678901234567890"), "6e 08 01 d20a1feb8ca954ab");
    check_value(J_NUM("18446744073709551616"), "6e 09 00 000000000000000001");
    check_value(J_NUM("340282366920938463463374607431768211456"),
                "6e 11 00 00000000000000000000000000000000 01");
    check_value(J_NUM("-340282366920938463463374607431768211455"),
                "6e 10 01 ffffffffffffffffffffffffffffffff");
    check_value(J_NUM("0000000000000000000000000000001"), "61 01"); /* zeros */
}

static void test_term_huge_integer(void **state)
{
    /* 10^700 needs 291 bytes: LARGE_BIG_EXT. md5 computed independently. */
    char *text = malloc(702);
    st_json v;
    st_buf b = ST_BUF_INIT;
    st_error err;
    char md[33];

    (void)state;
    assert_non_null(text);
    text[0] = '1';
    memset(text + 1, '0', 700);
    text[701] = '\0';
    v = (st_json){ST_JSON_NUMBER, 701, {.str = text}};
    assert_int_equal(st_rev_term_encode_value(&v, &b, &err), ST_OK);
    assert_bytes(b.data, 7, "83 6f 00000123 00");
    assert_int_equal(b.len, 1 + 1 + 4 + 1 + 291);
    md5_hex(b.data, b.len, md);
    assert_string_equal(md, "6140dbf6cbdaf1d48f65a6cd4069bdeb");
    st_buf_free(&b);
    free(text);

    /* beyond the digit cap: refused, not ground through */
    text = malloc(ST_REV_MAX_INT_DIGITS + 2);
    assert_non_null(text);
    memset(text, '7', ST_REV_MAX_INT_DIGITS + 1);
    v = (st_json){ST_JSON_NUMBER, ST_REV_MAX_INT_DIGITS + 1, {.str = text}};
    check_value_fails(v, ST_E_BAD_REQUEST);
    free(text);
}

static void test_term_floats(void **state)
{
    (void)state;
    check_value(J_NUM("1.5"), "46 3ff8000000000000");
    check_value(J_NUM("1.0"), "46 3ff0000000000000");
    check_value(J_NUM("-0.0"), "46 8000000000000000");
    check_value(J_NUM("1e2"), "46 4059000000000000");
    check_value(J_NUM("1E2"), "46 4059000000000000");
    check_value(J_NUM("1e-2"), "46 3f847ae147ae147b");
    check_value(J_NUM("3.14159"), "46 400921f9f01b866e");
    check_value(J_NUM("1e-300"), "46 01a56e1fc2f8f359");
    check_value(J_NUM("1e-400"), "46 0000000000000000"); /* underflow: 0.0 */
    check_value_fails(J_NUM("1e400"), ST_E_BAD_REQUEST);
    check_value_fails(J_NUM("-1e400"), ST_E_BAD_REQUEST);
    check_value_fails(J_NUM("1.5x"), ST_E_BAD_REQUEST);
    check_value_fails(J_NUM("nan"), ST_E_BAD_REQUEST);
    check_value_fails(J_NUM(""), ST_E_BAD_REQUEST);
    check_value_fails(J_NUM("-"), ST_E_BAD_REQUEST);
}

static void test_term_float_locale(void **state)
{
    /* A host locale with a decimal comma must not change the encoding. */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "de_DE"};
    bool set = false;

    (void)state;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !set; i++)
        set = setlocale(LC_NUMERIC, names[i]) != NULL;
    check_value(J_NUM("1.5"), "46 3ff8000000000000");
    if (set)
        (void)setlocale(LC_NUMERIC, "C");
}

static void test_term_atoms_strings(void **state)
{
    (void)state;
    check_value(J_TRUE, "64 0004 74727565");
    check_value(J_FALSE, "64 0005 66616c7365");
    check_value(J_NULL, "64 0004 6e756c6c");
    check_value(J_STR(""), "6d 00000000");
    check_value(J_STR("ab"), "6d 00000002 6162");
    check_value(J_STR("\xc3\xa9"), "6d 00000002 c3a9");               /* é */
    check_value(J_STR("\xf0\x9f\x98\x80"), "6d 00000004 f09f9880");   /* U+1F600 */
    check_value(J_STR("a\0b"), "6d 00000003 610062");                 /* \u0000 */
}

static void test_term_arrays(void **state)
{
    (void)state;
    check_value(J_EMPTY_ARR, "6a");
    /* the trap: all small integer literals make an Erlang string */
    check_value(J_ARR(J_NUM("1"), J_NUM("2"), J_NUM("3")), "6b 0003 010203");
    check_value(J_ARR(J_NUM("0"), J_NUM("255"), J_NUM("-0")), "6b 0003 00ff00");
    check_value(J_ARR(J_NUM("1"), J_NUM("256")), "6c 00000002 61 01 62 00000100 6a");
    check_value(J_ARR(J_NUM("1.0")), "6c 00000001 46 3ff0000000000000 6a");
    check_value(J_ARR(J_NUM("-1")), "6c 00000001 62 ffffffff 6a");
    check_value(J_ARR(J_NUM("1"), J_STR("a")), "6c 00000002 61 01 6d 00000001 61 6a");
    check_value(J_ARR(J_NUM("1"), J_TRUE), "6c 00000002 61 01 64 0004 74727565 6a");
    check_value(J_ARR(J_ARR(J_NUM("7")), J_EMPTY_ARR, J_ARR(J_ARR(J_NUM("300")))),
                "6c 00000003 6b 0001 07 6a 6c 00000001 6c 00000001 62 0000012c 6a 6a 6a");
    check_value(J_ARR(J_EMPTY_OBJ), "6c 00000001 68 01 6a 6a");
}

static void test_term_long_byte_arrays(void **state)
{
    /* STRING_EXT holds at most 65535 bytes; longer is a list of integers. */
    size_t sizes[] = {65535, 65536};

    (void)state;
    for (size_t k = 0; k < 2; k++) {
        size_t n = sizes[k];
        st_json *items = malloc(n * sizeof *items);
        st_json arr = {ST_JSON_ARRAY, n, {.items = items}};
        st_buf b = ST_BUF_INIT;
        st_error err;

        assert_non_null(items);
        for (size_t i = 0; i < n; i++)
            items[i] = J_NUM("9");
        assert_int_equal(st_rev_term_encode_value(&arr, &b, &err), ST_OK);
        if (n == 65535) {
            assert_int_equal(b.len, 1 + 3 + n);
            assert_bytes(b.data, 5, "83 6b ffff 09");
        } else {
            assert_int_equal(b.len, 1 + 5 + 2 * n + 1);
            assert_bytes(b.data, 8, "83 6c 00010000 61 09");
            assert_int_equal((unsigned char)b.data[b.len - 1], 0x6a);
        }
        st_buf_free(&b);
        free(items);
    }
}

static void test_term_objects(void **state)
{
    (void)state;
    check_value(J_EMPTY_OBJ, "68 01 6a");
    check_value(J_OBJ(J_MEM("a", J_NUM("1")), J_MEM("a", J_NUM("2"))), /* dups kept */
                "68 01 6c 00000002 68 02 6d 00000001 61 61 01 68 02 6d 00000001 61 61 02 6a");
    check_value(J_OBJ(J_MEM("b", J_NULL), J_MEM("a", J_EMPTY_OBJ)), /* input order */
                "68 01 6c 00000002 68 02 6d 00000001 62 64 0004 6e756c6c"
                " 68 02 6d 00000001 61 68 01 6a 6a");
    /* special members are not stripped below the top level */
    check_value(J_OBJ(J_MEM("_id", J_NUM("1"))),
                "68 01 6c 00000001 68 02 6d 00000003 5f6964 61 01 6a");
    check_value(J_OBJ(J_MEM("\xc3\xa9", J_STR("\xc3\xa9"))),
                "68 01 6c 00000001 68 02 6d 00000002 c3a9 6d 00000002 c3a9 6a");
}

/* ---- rev ids ------------------------------------------------------------ */

static void test_compute_strips_specials(void **state)
{
    st_json doc = J_OBJ(J_MEM("_id", J_STR("a")), J_MEM("_rev", J_STR("1-x")),
                        J_MEM("x", J_NUM("1")), J_MEM("_revisions", J_EMPTY_OBJ),
                        J_MEM("_attachments", J_EMPTY_OBJ), J_MEM("_deleted", J_FALSE),
                        J_MEM("_conflicts", J_EMPTY_ARR), J_MEM("_revs_info", J_EMPTY_ARR),
                        J_MEM("_deleted_conflicts", J_EMPTY_ARR), J_MEM("_local_seq", J_NUM("1")));
    st_json only_special = J_OBJ(J_MEM("_id", J_STR("a")));

    (void)state;
    check_compute(NULL, false, doc, NULL, 0, NULL, "1-0785e9eb543380151003dc452c3a001a");
    /* nothing left: the body is {[]} */
    check_compute(NULL, true, only_special, NULL, 0,
                  "836c00000005640004747275656100610068016a6a6a",
                  "1-de715bf126efc93d225d9e3f8e8eb81a");
}

static void test_compute_deleted(void **state)
{
    st_rev parent = rev("1-0785e9eb543380151003dc452c3a001a");

    (void)state;
    check_compute(NULL, true, J_EMPTY_OBJ, NULL, 0,
                  "836c00000005640004747275656100610068016a6a6a",
                  "1-de715bf126efc93d225d9e3f8e8eb81a");
    check_compute(&parent, true, J_OBJ(J_MEM("_deleted", J_TRUE)), NULL, 0, NULL,
                  "2-d0ae140c7f7cdb92dd85a3e31ae18f0c");
}

static void test_compute_with_parent(void **state)
{
    st_rev hexp = rev("1-0785e9eb543380151003dc452c3a001a");
    st_rev upper = rev("1-0785E9EB543380151003DC452C3A001A");
    st_rev nonhex = rev("3-abc");
    st_rev almost = rev("1-0785e9eb543380151003dc452c3a001g"); /* 32 chars, not hex */
    st_rev a, b;
    st_error err;
    st_json doc2 = J_OBJ(J_MEM("x", J_NUM("2")));
    st_json doc1 = J_OBJ(J_MEM("x", J_NUM("1")));

    (void)state;
    /* a 32-hex parent enters the hash as its 16 raw bytes */
    check_compute(&hexp, false, doc2, NULL, 0,
                  "836c0000000564000566616c736561016d000000100785e9eb543380151003dc452c3a001a"
                  "68016c0000000168026d000000017861026a6a6a",
                  "2-8c49edca19d786e747fb5bea32c4cb91");
    /* upper-case hex spells the same bytes (Erlang list_to_integer/2) */
    assert_int_equal(st_rev_compute(&hexp, false, &doc2, NULL, 0, &a, &err), ST_OK);
    assert_int_equal(st_rev_compute(&upper, false, &doc2, NULL, 0, &b, &err), ST_OK);
    assert_true(st_rev_eq(&a, &b));
    /* anything else enters as its bytes */
    check_compute(&nonhex, false, doc1, NULL, 0,
                  "836c0000000564000566616c736561036d0000000361626368016c0000000168026d0000"
                  "00017861016a6a6a",
                  "4-8ec1aa9cdf5f8573f83da9b4329c2587");
    check_compute(&almost, false, doc1, NULL, 0,
                  "836c0000000564000566616c736561016d00000020"
                  "30373835653965623534333338303135313030336463343532633361303031676801"
                  "6c0000000168026d000000017861016a6a6a",
                  NULL);
    /* a big parent generation is a bignum in the term */
    {
        st_rev big = rev("4294967296-abc");
        st_buf buf = ST_BUF_INIT;

        assert_int_equal(st_rev_term_encode(&big, false, &doc1, NULL, 0, &buf, &err), ST_OK);
        assert_bytes(buf.data + 14, 8, "6e 05 00 0000000001");
        st_buf_free(&buf);
        check_compute(&big, false, doc1, NULL, 0, NULL, NULL);
    }
}

static void test_compute_attachments(void **state)
{
    st_rev_att atts[2] = {
        {"a.txt", 5, "text/plain", 10, {0}},
        {"b.png", 5, "image/png", 9, {0}},
    };

    (void)state;
    memset(atts[0].md5, 0x11, 16);
    memset(atts[1].md5, 0x22, 16);
    /* digests enter in reverse order of _attachments */
    check_compute(NULL, false, J_OBJ(J_MEM("x", J_NUM("1"))), atts, 2,
                  "836c0000000564000566616c73656100610068016c0000000168026d000000017861016a"
                  "6c0000000268036d00000005622e706e676d00000009696d6167652f706e676d00000010"
                  "2222222222222222222222222222222268036d00000005612e7478746d0000000a746578"
                  "742f706c61696e6d00000010111111111111111111111111111111116a6a",
                  "1-0f401be68778f68caa63546be0b2a023");
}

static void test_compute_errors(void **state)
{
    st_rev max = rev("1-a");
    max.gen = UINT64_MAX; /* only reachable by hand: parse refuses it */
    st_rev out;
    st_error err;
    st_json arr = J_ARR(J_NUM("1"));
    st_json bad = J_OBJ(J_MEM("n", J_ARR(J_NUM("1"), J_NUM("1e400"))));

    (void)state;
    assert_int_equal(st_rev_compute(&max, false, NULL, NULL, 0, &out, &err), ST_E_BAD_REQUEST);
    assert_int_equal(st_rev_compute(NULL, false, &arr, NULL, 0, &out, &err), ST_E_BAD_REQUEST);
    assert_string_equal(err.reason, "Document must be a JSON object");
    assert_int_equal(st_rev_compute(NULL, false, &bad, NULL, 0, &out, &err), ST_E_BAD_REQUEST);
    assert_string_equal(err.reason, "number out of range");
    /* NULL doc hashes as {} */
    check_compute(NULL, true, J_EMPTY_OBJ, NULL, 0, NULL, "1-de715bf126efc93d225d9e3f8e8eb81a");
    assert_int_equal(st_rev_compute(NULL, true, NULL, NULL, 0, &out, &err), ST_OK);
    assert_string_equal(out.hash, "de715bf126efc93d225d9e3f8e8eb81a");
}

static void test_compute_large_doc(void **state)
{
    /* Strings longer than the staging buffer take the direct path; the
     * streamed digest must still equal md5 of the buffered term. */
    size_t sizes[] = {100, 505, 511, 512, 513, 3000};

    (void)state;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        char *s = malloc(sizes[k] + 1);
        st_json doc;

        assert_non_null(s);
        memset(s, 'q', sizes[k]);
        s[sizes[k]] = '\0';
        doc = J_OBJ(J_MEM("a", J_NUM("1")), J_MEM("long", ((st_json){ST_JSON_STRING, sizes[k],
                                                                      {.str = s}})),
                    J_MEM("b", J_ARR(J_NUM("1.25"), J_STR("xyz"), J_NUM("99999999999999999999"))));
        check_compute(NULL, false, doc, NULL, 0, NULL, NULL);
        free(s);
    }
}

/* The same documents through the real parser: escapes are unescaped before
 * hashing, and the tree matches the hand-built one byte for byte. */
static void test_compute_from_parsed_json(void **state)
{
    static const char text[] =
        "{\"_id\":\"a\",\"s\":\"\\u00e9\\ud83d\\ude00\",\"n\":[1,2,3],\"f\":1.0,"
        "\"big\":-12345678901234567890,\"o\":{\"k\":[true,null]}}";
    st_json want = J_OBJ(J_MEM("s", J_STR("\xc3\xa9\xf0\x9f\x98\x80")),
                         J_MEM("n", J_ARR(J_NUM("1"), J_NUM("2"), J_NUM("3"))),
                         J_MEM("f", J_NUM("1.0")), J_MEM("big", J_NUM("-12345678901234567890")),
                         J_MEM("o", J_OBJ(J_MEM("k", J_ARR(J_TRUE, J_NULL)))));
    st_json_doc *doc = NULL;
    st_buf a = ST_BUF_INIT, b = ST_BUF_INIT;
    st_error err;
    st_rev r;

    (void)state;
    assert_int_equal(st_json_parse(text, sizeof text - 1, NULL, &doc, &err), ST_OK);
    assert_int_equal(st_rev_term_encode(NULL, false, st_json_doc_root(doc), NULL, 0, &a, &err),
                     ST_OK);
    assert_int_equal(st_rev_term_encode(NULL, false, &want, NULL, 0, &b, &err), ST_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    st_json_doc_free(doc);
    doc = NULL;

    assert_int_equal(st_json_parse("{\"x\":1}", 7, NULL, &doc, &err), ST_OK);
    assert_int_equal(st_rev_compute(NULL, false, st_json_doc_root(doc), NULL, 0, &r, &err), ST_OK);
    assert_string_equal(r.hash, "0785e9eb543380151003dc452c3a001a");
    st_json_doc_free(doc);
    st_buf_free(&a);
    st_buf_free(&b);
}

static void test_compute_speed(void **state)
{
    /* A ~200-byte document; prints the rate so regressions are visible. */
    st_json doc = J_OBJ(
        J_MEM("type", J_STR("order")), J_MEM("customer", J_STR("Ada Lovelace")),
        J_MEM("email", J_STR("ada@example.com")), J_MEM("total", J_NUM("1234.50")),
        J_MEM("items", J_ARR(J_OBJ(J_MEM("sku", J_STR("A-100")), J_MEM("qty", J_NUM("2"))),
                             J_OBJ(J_MEM("sku", J_STR("B-220")), J_MEM("qty", J_NUM("1"))))),
        J_MEM("tags", J_ARR(J_STR("priority"), J_STR("gift"))), J_MEM("paid", J_TRUE),
        J_MEM("notes", J_STR("leave at the door, ring twice")), J_MEM("zip", J_NUM("90210")));
    st_rev parent = rev("3-0785e9eb543380151003dc452c3a001a"), out;
    st_error err;
    struct timespec t0, t1;
    int iters = 20000;
    double ns;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < iters; i++)
        assert_int_equal(st_rev_compute(&parent, false, &doc, NULL, 0, &out, &err), ST_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / iters;
    print_message("st_rev_compute, ~200-byte doc: %.0f ns\n", ns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_cmp),
        cmocka_unit_test(test_stripped_members),
        cmocka_unit_test(test_term_couchdb_vector),
        cmocka_unit_test(test_term_integers),
        cmocka_unit_test(test_term_huge_integer),
        cmocka_unit_test(test_term_floats),
        cmocka_unit_test(test_term_float_locale),
        cmocka_unit_test(test_term_atoms_strings),
        cmocka_unit_test(test_term_arrays),
        cmocka_unit_test(test_term_long_byte_arrays),
        cmocka_unit_test(test_term_objects),
        cmocka_unit_test(test_compute_strips_specials),
        cmocka_unit_test(test_compute_deleted),
        cmocka_unit_test(test_compute_with_parent),
        cmocka_unit_test(test_compute_attachments),
        cmocka_unit_test(test_compute_errors),
        cmocka_unit_test(test_compute_large_doc),
        cmocka_unit_test(test_compute_from_parsed_json),
        cmocka_unit_test(test_compute_speed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
