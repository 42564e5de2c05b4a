/* test_collate.c — st_collate: CouchDB's view collation (PROTOCOL-2 C.4), raw
 * mode, exact numbers, byte order, and sort keys whose memcmp order is the
 * collation order (randomized), from several threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "st_buf.h"
#include "st_collate.h"
#include "st_json.h"
#include "st_jw.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct values {
    st_json_doc *doc;   /* one array holding every value */
    const st_json **v;  /* pointers to its items */
    size_t n;
} values;

/* Parse "[v1, v2, ...]" and expose the items. */
static values parse_values(const char *json_array)
{
    values vs = {NULL, NULL, 0};
    st_json_limits lim = {0, 200};
    st_error e;
    const st_json *root;

    if (st_json_parse(json_array, strlen(json_array), &lim, &vs.doc, &e) != ST_OK)
        fail_msg("parse: %s: %s", e.reason, json_array);
    root = st_json_doc_root(vs.doc);
    assert_int_equal(root->type, ST_JSON_ARRAY);
    vs.n = root->len;
    vs.v = calloc(vs.n ? vs.n : 1, sizeof *vs.v);
    assert_non_null(vs.v);
    for (size_t i = 0; i < vs.n; i++)
        vs.v[i] = &root->u.items[i];
    return vs;
}

static void free_values(values *vs)
{
    st_json_doc_free(vs->doc);
    free(vs->v);
}

static char *render(const st_json *v)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    char *s;

    assert_int_equal(st_jw_init(&w, &b), ST_OK);
    st_jw_value(&w, v);
    assert_int_equal(st_jw_status(&w), ST_OK);
    st_jw_free(&w);
    s = st_buf_take(&b, NULL);
    assert_non_null(s);
    return s;
}

static int cmp(const char *a, const char *b, st_collate_mode m)
{
    char text[512];
    values vs;
    int c;

    snprintf(text, sizeof text, "[%s,%s]", a, b);
    vs = parse_values(text);
    c = st_collate(vs.v[0], vs.v[1], m);
    free_values(&vs);
    return c;
}

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

static int key_cmp(const st_buf *a, const st_buf *b)
{
    return st_collate_bytes(a->data, a->len, b->data, b->len);
}

static void make_key(const st_json *v, st_collate_mode m, st_buf *out)
{
    st_buf_reset(out);
    assert_int_equal(st_collate_key(v, m, out), ST_OK);
}

/* Every adjacent pair of `ordered` is strictly increasing, in compare and in
 * keys, and compare is antisymmetric. */
static void assert_strictly_ordered(const char *ordered, st_collate_mode m)
{
    values vs = parse_values(ordered);
    st_buf ka = ST_BUF_INIT, kb = ST_BUF_INIT;

    for (size_t i = 0; i + 1 < vs.n; i++) {
        char *a = render(vs.v[i]), *b = render(vs.v[i + 1]);

        if (st_collate(vs.v[i], vs.v[i + 1], m) >= 0 || st_collate(vs.v[i + 1], vs.v[i], m) <= 0)
            fail_msg("expected %s < %s (mode %d)", a, b, m);
        make_key(vs.v[i], m, &ka);
        make_key(vs.v[i + 1], m, &kb);
        if (key_cmp(&ka, &kb) >= 0)
            fail_msg("expected key(%s) < key(%s) (mode %d)", a, b, m);
        free(a);
        free(b);
    }
    st_buf_free(&ka);
    st_buf_free(&kb);
    free_values(&vs);
}

static st_collate_mode sort_mode;

static int qsort_cmp(const void *a, const void *b)
{
    return st_collate(*(const st_json *const *)a, *(const st_json *const *)b, sort_mode);
}

/* Shuffle, sort with st_collate, expect exactly the given order. */
static void assert_sorts_to(const char *ordered, st_collate_mode m)
{
    values want = parse_values(ordered), got = parse_values(ordered);

    srand(42);
    for (size_t i = got.n; i > 1; i--) {
        size_t j = (size_t)rand() % i;
        const st_json *t = got.v[i - 1];

        got.v[i - 1] = got.v[j];
        got.v[j] = t;
    }
    sort_mode = m;
    qsort(got.v, got.n, sizeof *got.v, qsort_cmp);
    for (size_t i = 0; i < want.n; i++) {
        char *a = render(want.v[i]), *b = render(got.v[i]);

        if (strcmp(a, b) != 0)
            fail_msg("position %zu: expected %s, got %s", i, a, b);
        free(a);
        free(b);
    }
    free_values(&want);
    free_values(&got);
}

/* ---- the documented orders ---------------------------------------------- */

/* PROTOCOL-2.md C.4, verbatim. */
static const char *const C4_ORDER =
    "[null, false, true, -1, 0, 1, 2, 3.5, 4, \"_\", \"~\", \"1\", \"a\", \"A\", \"aa\", \"b\","
    " \"B\", \"ba\", \"e\", \"\xc3\xa9\", \"f\", [\"a\"], [\"b\"], [\"b\",\"c\"], [\"b\",\"c\",\"a\"],"
    " [\"b\",\"d\"], {\"a\":1}, {\"a\":2}, {\"b\":1}, {\"b\":2,\"a\":1}]";

static void test_c4_order(void **state)
{
    assert_int_equal(st_collate_init(NULL), ST_OK);
    assert_sorts_to(C4_ORDER, ST_COLLATE_ICU);
    assert_strictly_ordered(C4_ORDER, ST_COLLATE_ICU);
}

/* CouchDB's documented ASCII order (docs/ddocs/views/collation.rst), as
 * current ICU (CLDR root) gives it: the docs list ` and ^ first, from an
 * older UCA; CouchDB linked against the same ICU orders them as here. */
static void test_ascii_order(void **state)
{
    assert_strictly_ordered(
        "[\"_\", \"-\", \",\", \";\", \":\", \"!\", \"?\", \".\", \"'\", \"\\\"\","
        " \"(\", \")\", \"[\", \"]\", \"{\", \"}\", \"@\", \"*\", \"/\", \"\\\\\", \"&\", \"#\","
        " \"%\", \"`\", \"^\", \"+\", \"<\", \"=\", \">\", \"|\", \"~\", \"$\", \"0\", \"1\","
        " \"9\", \"a\", \"A\", \"b\", \"B\", \"y\", \"Y\", \"z\", \"Z\"]",
        ST_COLLATE_ICU);
}

/* PROTOCOL-2.md C.4's raw order: Erlang term order, strings by bytes. */
static void test_raw_order(void **state)
{
    const char *raw = "[-1, 0, 1, 2, 3.5, 4, false, null, true, {\"a\":1}, {\"a\":2}, {\"b\":1},"
                      " {\"b\":2,\"a\":1}, [\"a\"], [\"b\"], [\"b\",\"c\"], [\"b\",\"c\",\"a\"],"
                      " [\"b\",\"d\"], \"1\", \"A\", \"B\", \"_\", \"a\", \"aa\", \"b\", \"ba\","
                      " \"e\", \"f\", \"~\", \"\xc3\xa9\"]";

    assert_sorts_to(raw, ST_COLLATE_RAW);
    assert_strictly_ordered(raw, ST_COLLATE_RAW);
}

static void test_strings(void **state)
{
    assert_int_equal(st_collate_str("a", 1, "A", 1), -1);
    assert_int_equal(st_collate_str("A", 1, "aa", 2), -1);
    assert_int_equal(st_collate_str("abc", 3, "abc", 3), 0);
    assert_int_equal(st_collate_str("", 0, "a", 1), -1);
    /* Precomposed and decomposed e-acute: equal under ICU (it handles
     * canonically equivalent FCD text even with normalization off, CouchDB's
     * setting), different bytes in raw mode. */
    assert_int_equal(cmp("\"\xc3\xa9\"", "\"e\xcc\x81\"", ST_COLLATE_ICU), 0);
    assert_int_equal(cmp("\"\xc3\xa9\"", "\"e\xcc\x81\"", ST_COLLATE_RAW), 1);
    /* Embedded NUL and ignorable code points. */
    assert_int_equal(cmp("\"a\\u0000\"", "\"a\"", ST_COLLATE_RAW), 1);
    assert_int_equal(cmp("\"Z\"", "\"a\"", ST_COLLATE_ICU), 1);
    assert_int_equal(cmp("\"Z\"", "\"a\"", ST_COLLATE_RAW), -1);
    /* _id order: bytes, a prefix first. */
    assert_int_equal(st_collate_bytes("Zed", 3, "alpha", 5), -1);
    assert_int_equal(st_collate_bytes("_design/", 8, "_design0", 8), -1);
    assert_int_equal(st_collate_bytes("ab", 2, "abc", 3), -1);
    assert_int_equal(st_collate_bytes("abc", 3, "abc", 3), 0);
    assert_int_equal(st_collate_bytes("", 0, "", 0), 0);
}

static void test_numbers(void **state)
{
    const st_collate_mode m = ST_COLLATE_ICU;

    assert_int_equal(cmp("1", "1.0", m), 0);
    assert_int_equal(cmp("1", "1e0", m), 0);
    assert_int_equal(cmp("100", "1E+2", m), 0);
    assert_int_equal(cmp("10e-1", "1", m), 0);
    assert_int_equal(cmp("-0", "0", m), 0);
    assert_int_equal(cmp("-0.0", "0", m), 0);
    assert_int_equal(cmp("4", "4.0", m), 0);
    assert_int_equal(cmp("-1", "0", m), -1);
    assert_int_equal(cmp("-2", "-1.5", m), -1);
    assert_int_equal(cmp("1.5", "2", m), -1);
    assert_int_equal(cmp("0.1", "0.10000000000000001", m), 0); /* the same double */
    /* Integers stay exact past 2^53, also against doubles. */
    assert_int_equal(cmp("9007199254740993", "9007199254740992", m), 1);
    assert_int_equal(cmp("9007199254740993", "9007199254740992.0", m), 1);
    assert_int_equal(cmp("9007199254740993", "9007199254740993.0", m), 1); /* ...992.0 */
    assert_int_equal(cmp("9007199254740992", "9007199254740993.0", m), 0);
    assert_int_equal(cmp("-9007199254740993", "-9007199254740992.0", m), -1);
    assert_int_equal(cmp("123456789012345678901234567890", "123456789012345678901234567891", m), -1);
    /* The double 1.2345678901234568e29 is exactly 123456789012345677877719597056. */
    assert_int_equal(cmp("123456789012345678901234567890", "1.2345678901234568e29", m), 1);
    assert_int_equal(cmp("123456789012345677877719597056", "1.2345678901234568e29", m), 0);
    assert_int_equal(cmp("100000000000000000000000", "1e23", m), 1); /* 1e23 < 10^23 */
    assert_int_equal(cmp("99999999999999991611392", "1e23", m), 0);   /* its exact value */
    assert_int_equal(cmp("-123456789012345678901234567890", "-1e10", m), -1);
    assert_int_equal(cmp("12345678901234567890", "1.5", m), 1);
    /* Overflowing text is infinite, underflowing text is zero. */
    assert_int_equal(cmp("1e400", "123456789012345678901234567890123456789", m), 1);
    assert_int_equal(cmp("-1e400", "-123456789012345678901234567890", m), -1);
    assert_int_equal(cmp("1e400", "2e400", m), 0);
    assert_int_equal(cmp("1e-400", "0", m), 0);
    assert_int_equal(cmp("5e-324", "0", m), 1);
    /* Raw mode orders numbers the same way. */
    assert_int_equal(cmp("1", "1.0", ST_COLLATE_RAW), 0);
    assert_int_equal(cmp("9007199254740993", "9007199254740992.0", ST_COLLATE_RAW), 1);
    assert_strictly_ordered("[-1e400, -1e300, -12345678901234567890123, -1e22, -2.5, -2, -1.0000001,"
                            " -1, -0.5, -1e-300, 0, 5e-324, 1e-300, 0.1, 1, 1.0000001, 2, 10,"
                            " 9007199254740992, 9007199254740993, 1e22, 12345678901234567890123,"
                            " 1e300, 1e400]",
                            ST_COLLATE_ICU);
}

static void test_containers(void **state)
{
    const st_collate_mode m = ST_COLLATE_ICU;

    assert_int_equal(cmp("[]", "[null]", m), -1);
    assert_int_equal(cmp("[1,2]", "[1.0,2.0]", m), 0);
    assert_int_equal(cmp("[[1]]", "[[1],1]", m), -1);
    assert_int_equal(cmp("{}", "{\"a\":null}", m), -1);
    assert_int_equal(cmp("{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}", m), -1); /* member order */
    assert_int_equal(cmp("{\"a\":1}", "{\"A\":1}", m), -1);                 /* keys by ICU */
    assert_int_equal(cmp("{\"a\":1}", "{\"A\":1}", ST_COLLATE_RAW), 1);     /* keys by bytes */
    assert_int_equal(cmp("[\"b\"]", "{}", m), -1);
    assert_int_equal(cmp("[\"b\"]", "{}", ST_COLLATE_RAW), 1);
    assert_int_equal(cmp("\"x\"", "[]", m), -1);
    assert_int_equal(cmp("\"x\"", "[]", ST_COLLATE_RAW), 1);
    /* Prefix range: ["b"] .. ["b",{}] holds every array starting with "b". */
    assert_int_equal(cmp("[\"b\",\"zzz\"]", "[\"b\",{}]", m), -1);
    assert_int_equal(cmp("[\"b\",[1]]", "[\"b\",{}]", m), -1);
}

/* ---- keys ----------------------------------------------------------------- */

static void test_key_cap(void **state)
{
    values vs = parse_values("[[\"a long string that will not fit\", 12345]]");
    st_buf b;

    st_buf_init(&b, 8);
    assert_int_equal(st_buf_add(&b, "xy", 2), ST_OK);
    assert_int_equal(st_collate_key(vs.v[0], ST_COLLATE_ICU, &b), ST_E_TOO_LARGE);
    assert_int_equal(b.len, 2); /* unchanged */
    assert_memory_equal(b.data, "xy", 3);
    assert_int_equal(st_collate_key(vs.v[0], ST_COLLATE_RAW, &b), ST_E_TOO_LARGE);
    assert_int_equal(b.len, 2);
    st_buf_free(&b);
    free_values(&vs);
}

/* Concatenated keys order like tuples (multi-field index keys). */
static void test_key_concat(void **state)
{
    values vs = parse_values("[\"a\", 2, \"a\", 10, \"b\", 1]");
    st_buf k1 = ST_BUF_INIT, k2 = ST_BUF_INIT, k3 = ST_BUF_INIT;

    assert_int_equal(st_collate_key(vs.v[0], ST_COLLATE_ICU, &k1), ST_OK);
    assert_int_equal(st_collate_key(vs.v[1], ST_COLLATE_ICU, &k1), ST_OK);
    assert_int_equal(st_collate_key(vs.v[2], ST_COLLATE_ICU, &k2), ST_OK);
    assert_int_equal(st_collate_key(vs.v[3], ST_COLLATE_ICU, &k2), ST_OK);
    assert_int_equal(st_collate_key(vs.v[4], ST_COLLATE_ICU, &k3), ST_OK);
    assert_int_equal(st_collate_key(vs.v[5], ST_COLLATE_ICU, &k3), ST_OK);
    assert_true(key_cmp(&k1, &k2) < 0);
    assert_true(key_cmp(&k2, &k3) < 0);
    st_buf_free(&k1);
    st_buf_free(&k2);
    st_buf_free(&k3);
    free_values(&vs);
}

/* Random JSON text from pools chosen to collide: case, accents, symbols,
 * equal numbers written differently, big and tiny numbers, nesting. */
static const char *const STRINGS[] = {
    "\"\"", "\"a\"", "\"A\"", "\"aa\"", "\"aA\"", "\"b\"", "\"B\"", "\"e\"", "\"E\"",
    "\"\xc3\xa9\"", "\"e\xcc\x81\"", "\"\xc3\x89\"", "\"\xc3\xa8\"", "\"f\"", "\"_\"", "\"~\"",
    "\"$\"", "\"1\"", "\"10\"", "\"9\"", "\"\xc3\x9f\"", "\"ss\"", "\"\xe6\x97\xa5\"",
    "\"\xf0\x9f\x98\x80\"", "\"a\\u0000\"", "\"a b\"", "\"ab\"", "\"-\"", "\"\xc3\xb1\"",
    "\"n\"", "\"\xce\xb1\"", "\"z\"", "\"Zebra\"", "\"zebra\"", "\"\xef\xbf\xbd\"",
};
static const char *const NUMBERS[] = {
    "0", "-0", "0.0", "1", "1.0", "1e0", "10e-1", "-1", "-1.0", "2", "3.5", "35e-1", "100",
    "1e2", "1E+2", "0.1", "0.10000000000000001", "-0.5", "1e-300", "-1e-300", "5e-324",
    "9007199254740992", "9007199254740993", "9007199254740992.0", "9007199254740993.0",
    "-9007199254740993", "12345678901234567890123", "-12345678901234567890123",
    "1.2345678901234568e22", "1e22", "10000000000000000000000", "1e23",
    "99999999999999991611392", "1e300", "-1e300", "1e400", "-1e400", "123456789",
    "123456789.5", "-123456789.25", "18446744073709551615", "18446744073709551616",
};

static unsigned rnd(unsigned n)
{
    return (unsigned)rand() % n;
}

static void gen(st_buf *b, int depth)
{
    unsigned k = rnd(depth > 2 ? 6 : 8);
    st_status rc = ST_OK;

    switch (k) {
    case 0:
        rc = st_buf_adds(b, rnd(3) == 0 ? "null" : rnd(2) ? "true" : "false");
        break;
    case 1:
    case 2:
        rc = st_buf_adds(b, NUMBERS[rnd(sizeof NUMBERS / sizeof *NUMBERS)]);
        break;
    case 3:
    case 4:
    case 5:
        rc = st_buf_adds(b, STRINGS[rnd(sizeof STRINGS / sizeof *STRINGS)]);
        break;
    case 6: {
        unsigned n = rnd(4);

        rc = st_buf_addc(b, '[');
        for (unsigned i = 0; i < n && rc == ST_OK; i++) {
            if (i > 0)
                rc = st_buf_addc(b, ',');
            gen(b, depth + 1);
        }
        if (rc == ST_OK)
            rc = st_buf_addc(b, ']');
        break;
    }
    default: {
        unsigned n = rnd(3);

        rc = st_buf_addc(b, '{');
        for (unsigned i = 0; i < n && rc == ST_OK; i++) {
            if (i > 0)
                rc = st_buf_addc(b, ',');
            rc = st_buf_adds(b, STRINGS[rnd(8)]);
            if (rc == ST_OK)
                rc = st_buf_addc(b, ':');
            gen(b, depth + 1);
        }
        if (rc == ST_OK)
            rc = st_buf_addc(b, '}');
        break;
    }
    }
    assert_int_equal(rc, ST_OK);
}

#define RANDOM_VALUES 1500

static void check_random_keys(st_collate_mode m)
{
    st_buf text = ST_BUF_INIT;
    st_buf *keys = calloc(RANDOM_VALUES, sizeof *keys);
    values vs;
    size_t equal = 0, pairs = 0;

    assert_non_null(keys);
    srand(20240601 + (unsigned)m);
    assert_int_equal(st_buf_addc(&text, '['), ST_OK);
    for (int i = 0; i < RANDOM_VALUES; i++) {
        if (i > 0)
            assert_int_equal(st_buf_addc(&text, ','), ST_OK);
        gen(&text, 0);
    }
    assert_int_equal(st_buf_addc(&text, ']'), ST_OK);
    vs = parse_values(text.data);
    for (size_t i = 0; i < vs.n; i++)
        assert_int_equal(st_collate_key(vs.v[i], m, &keys[i]), ST_OK);
    for (size_t i = 0; i < vs.n; i++) {
        for (size_t j = i; j < vs.n; j++) {
            int c = st_collate(vs.v[i], vs.v[j], m), r = st_collate(vs.v[j], vs.v[i], m);
            int k = key_cmp(&keys[i], &keys[j]);

            if (c != -r || sign(c) != sign(k)) {
                char *a = render(vs.v[i]), *b = render(vs.v[j]);

                fail_msg("mode %d: %s vs %s: compare %d/%d, keys %d", m, a, b, c, r, k);
            }
            equal += c == 0 && i != j;
            pairs++;
        }
    }
    /* The pools are small on purpose: plenty of distinct values collate equal. */
    assert_true(equal > 100);
    print_message("mode %d: %zu pairs, %zu equal\n", m, pairs, equal);
    for (size_t i = 0; i < vs.n; i++)
        st_buf_free(&keys[i]);
    free(keys);
    st_buf_free(&text);
    free_values(&vs);
}

static void test_random_keys_icu(void **state)
{
    check_random_keys(ST_COLLATE_ICU);
}

static void test_random_keys_raw(void **state)
{
    check_random_keys(ST_COLLATE_RAW);
}

/* ---- threads ------------------------------------------------------------- */

typedef struct worker {
    const values *vs;
    const int *expect; /* expect[i] = sign of compare(v[i], v[i+1]) */
    int failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    st_buf k1 = ST_BUF_INIT, k2 = ST_BUF_INIT;

    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i + 1 < w->vs->n; i++) {
            st_buf_reset(&k1);
            st_buf_reset(&k2);
            if (st_collate(w->vs->v[i], w->vs->v[i + 1], ST_COLLATE_ICU) != w->expect[i] ||
                st_collate_key(w->vs->v[i], ST_COLLATE_ICU, &k1) != ST_OK ||
                st_collate_key(w->vs->v[i + 1], ST_COLLATE_ICU, &k2) != ST_OK ||
                sign(key_cmp(&k1, &k2)) != w->expect[i])
                w->failures++;
        }
    }
    st_buf_free(&k1);
    st_buf_free(&k2);
    return NULL;
}

static void test_threads(void **state)
{
    values vs = parse_values(C4_ORDER);
    int *expect = calloc(vs.n, sizeof *expect);
    pthread_t t[8];
    worker w[8];

    assert_non_null(expect);
    for (size_t i = 0; i + 1 < vs.n; i++)
        expect[i] = st_collate(vs.v[i], vs.v[i + 1], ST_COLLATE_ICU);
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){&vs, expect, 0};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    free(expect);
    free_values(&vs);
}

static void test_version(void **state)
{
    char v[32];

    st_collate_version(v, sizeof v);
    assert_true(strlen(v) >= 7); /* "a.b.c.d" */
    assert_non_null(strchr(v, '.'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c4_order),
        cmocka_unit_test(test_ascii_order),
        cmocka_unit_test(test_raw_order),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_key_cap),
        cmocka_unit_test(test_key_concat),
        cmocka_unit_test(test_random_keys_icu),
        cmocka_unit_test(test_random_keys_raw),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_version),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
