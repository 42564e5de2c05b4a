/* test_json.c — st_json_parse: tree shape, raw numbers, unescaping, strict
 * UTF-8, limits, and the integer helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "st_buf.h"
#include "st_json.h"

static st_json_doc *parse_ok(const char *text, size_t n, const st_json_limits *lim)
{
    st_json_doc *doc = NULL;
    st_error e;

    st_error_clear(&e);
    if (st_json_parse(text, n, lim, &doc, &e) != ST_OK)
        fail_msg("parse failed (%s) for: %.*s", e.reason, (int)n, text);
    assert_non_null(doc);
    return doc;
}

static st_json_doc *parse_s(const char *text)
{
    return parse_ok(text, strlen(text), NULL);
}

/* Expect failure with code and reason; returns nothing, checks *out_doc. */
static void parse_bad(const char *text, size_t n, const st_json_limits *lim, st_status code,
                      const char *reason)
{
    st_json_doc *doc = (st_json_doc *)&doc; /* poison: must be reset */
    st_error e;

    st_error_clear(&e);
    if (st_json_parse(text, n, lim, &doc, &e) != code)
        fail_msg("expected %s for: %.*s (got %d %s)", st_status_name(code), (int)n, text,
                 e.code, e.reason);
    assert_null(doc);
    assert_int_equal(e.code, code);
    if (reason != NULL)
        assert_string_equal(e.reason, reason);
}

static void bad_json(const char *text)
{
    parse_bad(text, strlen(text), NULL, ST_E_BAD_REQUEST, "invalid UTF-8 JSON");
}

static void test_object_shape(void **state)
{
    st_json_doc *doc = parse_s(" {\"_id\" : \"a\", \"n\":1, \"t\":true, \"f\":false,"
                               "\"z\":null, \"arr\":[1,\"x\",[],{}], \"o\":{\"k\":\"v\"}}\n");
    const st_json *r = st_json_doc_root(doc), *v;

    assert_int_equal(r->type, ST_JSON_OBJECT);
    assert_int_equal(r->len, 7);
    assert_string_equal(r->u.members[0].key, "_id");
    assert_string_equal(r->u.members[6].key, "o");
    assert_string_equal(st_json_get_str(r, "_id"), "a");
    assert_null(st_json_get_str(r, "n")); /* not a string */
    assert_int_equal(st_json_get(r, "t")->type, ST_JSON_TRUE);
    assert_int_equal(st_json_get(r, "f")->type, ST_JSON_FALSE);
    assert_int_equal(st_json_get(r, "z")->type, ST_JSON_NULL);
    assert_null(st_json_get(r, "missing"));
    assert_null(st_json_get(r, "_i")); /* prefix is not a match */

    v = st_json_get(r, "arr");
    assert_int_equal(v->type, ST_JSON_ARRAY);
    assert_int_equal(v->len, 4);
    assert_int_equal(v->u.items[0].type, ST_JSON_NUMBER);
    assert_string_equal(v->u.items[1].u.str, "x");
    assert_int_equal(v->u.items[2].type, ST_JSON_ARRAY);
    assert_int_equal(v->u.items[2].len, 0);
    assert_int_equal(v->u.items[3].type, ST_JSON_OBJECT);
    assert_int_equal(v->u.items[3].len, 0);
    assert_null(st_json_get(&v->u.items[3], "k"));
    assert_null(st_json_get(v, "k")); /* array is not an object */

    v = st_json_get(r, "o");
    assert_string_equal(st_json_get_str(v, "k"), "v");
    assert_true(st_json_is_str(st_json_get(v, "k")));
    assert_false(st_json_is_str(v));
    assert_false(st_json_is_str(NULL));
    assert_null(st_json_get(NULL, "k"));
    st_json_doc_free(doc);
    st_json_doc_free(NULL);
}

/* CouchDB keeps the last value of a repeated key (issue: {"k":1,"k":2} is
 * stored, and hashed, as {"k":2}). */
static void test_duplicates_last_wins(void **state)
{
    st_json_doc *doc = parse_s("{\"a\":1,\"b\":2,\"a\":3,\"c\":{\"x\":1,\"x\":2}}");
    const st_json *r = st_json_doc_root(doc);

    assert_int_equal(r->len, 3);
    assert_string_equal(r->u.members[0].key, "b");
    assert_string_equal(r->u.members[1].key, "a");
    assert_string_equal(r->u.members[1].value.u.str, "3");
    assert_string_equal(r->u.members[2].key, "c");
    assert_int_equal(r->u.members[2].value.len, 1);
    assert_string_equal(st_json_get(st_json_get(r, "c"), "x")->u.str, "2");
    st_json_doc_free(doc);
    /* Many keys take the hashed path: same rule. */
    char big[8192];
    size_t o = (size_t)sprintf(big, "{");
    for (int i = 0; i < 200; i++)
        o += (size_t)sprintf(big + o, "%s\"k%d\":%d", i ? "," : "", i % 100, i);
    sprintf(big + o, "}");
    doc = parse_s(big);
    r = st_json_doc_root(doc);
    assert_int_equal(r->len, 100);
    assert_string_equal(r->u.members[0].key, "k0");
    assert_string_equal(r->u.members[0].value.u.str, "100");
    assert_string_equal(r->u.members[99].value.u.str, "199");
    st_json_doc_free(doc);
}

static void test_numbers_raw_text(void **state)
{
    static const char *nums[] = {"1.50", "1e400", "-0", "0", "-1.5E-7", "1E+2",
                                 "123456789012345678901234567890", "0.0000", "-0.0e0"};
    char text[512] = "[";

    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        strcat(text, i ? "," : "");
        strcat(text, nums[i]);
    }
    strcat(text, "]");
    st_json_doc *doc = parse_s(text);
    const st_json *r = st_json_doc_root(doc);

    assert_int_equal(r->len, sizeof nums / sizeof nums[0]);
    for (size_t i = 0; i < r->len; i++) {
        assert_int_equal(r->u.items[i].type, ST_JSON_NUMBER);
        assert_int_equal(r->u.items[i].len, strlen(nums[i]));
        assert_string_equal(r->u.items[i].u.str, nums[i]);
    }
    st_json_doc_free(doc);

    /* A bare top-level number is complete only at end of input. */
    doc = parse_s("1.50");
    assert_int_equal(st_json_doc_root(doc)->type, ST_JSON_NUMBER);
    assert_string_equal(st_json_doc_root(doc)->u.str, "1.50");
    st_json_doc_free(doc);
}

static void test_top_level_scalars(void **state)
{
    st_json_doc *doc = parse_s("\"s\"");

    assert_int_equal(st_json_doc_root(doc)->type, ST_JSON_STRING);
    st_json_doc_free(doc);
    doc = parse_s(" null ");
    assert_int_equal(st_json_doc_root(doc)->type, ST_JSON_NULL);
    st_json_doc_free(doc);
    doc = parse_s("true");
    assert_int_equal(st_json_doc_root(doc)->type, ST_JSON_TRUE);
    st_json_doc_free(doc);
}

static void test_string_unescaping(void **state)
{
    st_json_doc *doc = parse_s("[\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\","
                               "\"\\u00e9\\u20AC\\ud83d\\ude00\","
                               "\"x\\u0000y\","
                               "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
                               "\"\\uD7FF\\uE000\\uFFFF\\udbff\\udfff\"]");
    const st_json *r = st_json_doc_root(doc);

    assert_string_equal(r->u.items[0].u.str, "a\"b\\c/d\n\t\r\b\f");
    assert_int_equal(r->u.items[0].len, 12);
    /* é € U+1F600 from escapes, surrogate pair combined. */
    assert_string_equal(r->u.items[1].u.str, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    assert_int_equal(r->u.items[1].len, 9);
    /* Embedded NUL kept: len counts it. */
    assert_int_equal(r->u.items[2].len, 3);
    assert_memory_equal(r->u.items[2].u.str, "x\0y", 4);
    /* Raw UTF-8 passes through untouched. */
    assert_string_equal(r->u.items[3].u.str, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    assert_string_equal(r->u.items[4].u.str,
                        "\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf");
    st_json_doc_free(doc);

    /* Keys are unescaped too. */
    doc = parse_s("{\"k\\u00e9\\n\":1}");
    assert_string_equal(st_json_doc_root(doc)->u.members[0].key, "k\xc3\xa9\n");
    assert_int_equal(st_json_doc_root(doc)->u.members[0].key_len, 4);
    assert_non_null(st_json_get(st_json_doc_root(doc), "k\xc3\xa9\n"));
    st_json_doc_free(doc);
}

static void test_lone_surrogates_rejected(void **state)
{
    bad_json("[\"\\ud800\"]");
    bad_json("[\"\\uDBFF\"]");
    bad_json("[\"\\udc00\"]");
    bad_json("[\"a\\ude00b\"]");
    bad_json("[\"\\ud800x\"]");
    bad_json("[\"\\ud800\\u0041\"]");
    bad_json("[\"\\ud800\\ud800\"]");
    bad_json("[\"\\ude00\\ud83d\"]"); /* reversed pair */
    bad_json("{\"\\ud800\":1}");
    /* An escaped backslash before "u" is not an escape. */
    st_json_doc *doc = parse_s("[\"\\\\ud800\"]");
    assert_string_equal(st_json_doc_root(doc)->u.items[0].u.str, "\\ud800");
    st_json_doc_free(doc);
}

static void test_bad_utf8_rejected(void **state)
{
    bad_json("[\"\xff\"]");
    bad_json("[\"\x80\"]");                 /* lone continuation */
    bad_json("[\"\xc0\x80\"]");             /* overlong NUL */
    bad_json("[\"\xc1\xbf\"]");             /* overlong */
    bad_json("[\"\xe0\x9f\xbf\"]");         /* overlong 3-byte */
    bad_json("[\"\xf0\x8f\xbf\xbf\"]");     /* overlong 4-byte */
    bad_json("[\"\xed\xa0\x80\"]");         /* encoded surrogate */
    bad_json("[\"\xf4\x90\x80\x80\"]");     /* past U+10FFFF */
    bad_json("[\"\xf5\x80\x80\x80\"]");
    bad_json("[\"\xe2\x82\"]");             /* truncated sequence */
    bad_json("[\"\xe2\x82\"");
    bad_json("{\"\xc0\x80\":1}");           /* in a key */
    bad_json("[\"abcdefgh\xed" "abcdefgh\"]"); /* after the ASCII fast path */
}

static void test_invalid_json(void **state)
{
    static const char *cases[] = {
        "",         "   ",       "{",          "{\"a\":1",      "[1,2",      "{\"a\":1} x",
        "{} {}",    "[1,]",      "{\"a\":1,}", "{'a':1}",       "01",        "[01]",
        "NaN",      "[.5]",      "[1.]",       "[+1]",          "tru",       "\"abc",
        "/*c*/{}",  "{\"a\"}",   "{1:2}",      "[\"a\\x\"]",    "[\"\\u12\"]", "[\"\t\"]",
        "[-]",      "{\"a\" 1}", "]",          "[1 2]",         "nul",       "[\"\\u00zz\"]",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bad_json(cases[i]);
    /* Trailing NUL byte is garbage too. */
    parse_bad("{}\0", 3, NULL, ST_E_BAD_REQUEST, "invalid UTF-8 JSON");
    /* NULL text with n = 0 is empty input, not a crash. */
    parse_bad(NULL, 0, NULL, ST_E_BAD_REQUEST, "invalid UTF-8 JSON");
}

static void test_misuse(void **state)
{
    st_error e;

    assert_int_equal(st_json_parse("{}", 2, NULL, NULL, &e), ST_E_MISUSE);
    /* err may be NULL. */
    st_json_doc *doc = (st_json_doc *)&doc;
    assert_int_equal(st_json_parse("{", 1, NULL, &doc, NULL), ST_E_BAD_REQUEST);
    assert_null(doc);
}

/* n nested arrays: "[[[...]]]" */
static char *nested(unsigned n)
{
    char *s = malloc(2 * (size_t)n + 1);

    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    return s;
}

static void test_depth_limit_default(void **state)
{
    /* CouchDB stores documents 1,000 levels deep; the default passes them. */
    char *ok = nested(ST_JSON_DEFAULT_DEPTH), *deep = nested(ST_JSON_DEFAULT_DEPTH + 1);
    st_json_doc *doc = parse_s(ok);
    const st_json *v = st_json_doc_root(doc);

    for (int i = 0; i < ST_JSON_DEFAULT_DEPTH - 1; i++) {
        assert_int_equal(v->type, ST_JSON_ARRAY);
        assert_int_equal(v->len, 1);
        v = &v->u.items[0];
    }
    assert_int_equal(v->type, ST_JSON_ARRAY);
    assert_int_equal(v->len, 0);
    st_json_doc_free(doc);
    parse_bad(deep, strlen(deep), NULL, ST_E_BAD_REQUEST, "nesting too deep");
    free(ok);
    free(deep);
}

static void test_depth_limit_custom(void **state)
{
    st_json_limits lim = {0, 3};
    const char *three = "{\"a\":[{\"b\":1}]}";
    const char *four = "{\"a\":[{\"b\":[]}]}";

    st_json_doc_free(parse_ok(three, strlen(three), &lim));
    parse_bad(four, strlen(four), &lim, ST_E_BAD_REQUEST, "nesting too deep");
    /* Depth counts nesting, not siblings. */
    const char *wide = "[[[1]],[[2]],{\"x\":{\"y\":3}}]";
    st_json_doc_free(parse_ok(wide, strlen(wide), &lim));
    lim.max_depth = 1;
    parse_bad("[[]]", 4, &lim, ST_E_BAD_REQUEST, "nesting too deep");
    st_json_doc_free(parse_ok("[1]", 3, &lim));
    st_json_doc_free(parse_ok("7", 1, &lim));

    /* Deep trees beyond any inline stack storage. */
    char *big = nested(3000);
    lim.max_depth = 3000;
    st_json_doc_free(parse_ok(big, strlen(big), &lim));
    lim.max_depth = 2999;
    parse_bad(big, strlen(big), &lim, ST_E_BAD_REQUEST, "nesting too deep");
    free(big);
}

static void test_size_limit(void **state)
{
    const char *text = "{\"a\":\"bcdef\"}";
    size_t n = strlen(text);
    st_json_limits lim = {n, 0};

    st_json_doc_free(parse_ok(text, n, &lim));
    lim.max_bytes = n - 1;
    parse_bad(text, n, &lim, ST_E_DOC_TOO_LARGE, NULL);
    /* Checked before parsing: invalid JSON over the limit is "too large". */
    parse_bad("{{{{{{{{{{{{{{{{{{{{", 20, &lim, ST_E_DOC_TOO_LARGE, NULL);
    lim.max_bytes = 0; /* unlimited */
    st_json_doc_free(parse_ok(text, n, &lim));
}

static void test_large_document(void **state)
{
    st_buf b = ST_BUF_INIT;
    st_json_doc *doc;
    const st_json *r, *o;
    char key[32];

    /* 5000 objects in one array plus a 2000-member object: grows the value
     * stack and the arena many times over. */
    assert_int_equal(st_buf_adds(&b, "{\"rows\":["), ST_OK);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(st_buf_printf(&b, "%s{\"id\":\"doc-%d\",\"n\":%d}", i ? "," : "", i, i),
                         ST_OK);
    assert_int_equal(st_buf_adds(&b, "],\"wide\":{"), ST_OK);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(st_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i * 2), ST_OK);
    assert_int_equal(st_buf_adds(&b, "}}"), ST_OK);

    doc = parse_ok(b.data, b.len, NULL);
    r = st_json_doc_root(doc);
    o = st_json_get(r, "rows");
    assert_int_equal(o->len, 5000);
    assert_string_equal(st_json_get_str(&o->u.items[0], "id"), "doc-0");
    assert_string_equal(st_json_get_str(&o->u.items[4321], "id"), "doc-4321");
    assert_string_equal(st_json_get(&o->u.items[4999], "n")->u.str, "4999");
    o = st_json_get(r, "wide");
    assert_int_equal(o->len, 2000);
    for (int i = 0; i < 2000; i += 97) {
        int64_t v;

        snprintf(key, sizeof key, "k%d", i);
        assert_true(st_json_int64(st_json_get(o, key), &v));
        assert_int_equal(v, i * 2);
    }
    st_json_doc_free(doc);
    st_buf_free(&b);
}

static void test_int_helpers(void **state)
{
    st_json_doc *doc = parse_s("[9223372036854775807,9223372036854775808,-9223372036854775808,"
                               "-9223372036854775809,18446744073709551615,18446744073709551616,"
                               "1.0,1e2,-1,-0,0,\"5\",42]");
    const st_json *a = st_json_doc_root(doc)->u.items;
    int64_t i;
    uint64_t u;

    assert_true(st_json_int64(&a[0], &i));
    assert_true(i == INT64_MAX);
    assert_false(st_json_int64(&a[1], &i));
    assert_true(st_json_uint64(&a[1], &u));
    assert_true(u == (uint64_t)INT64_MAX + 1);
    assert_true(st_json_int64(&a[2], &i));
    assert_true(i == INT64_MIN);
    assert_false(st_json_int64(&a[3], &i));
    assert_false(st_json_uint64(&a[3], &u));
    assert_true(st_json_uint64(&a[4], &u));
    assert_true(u == UINT64_MAX);
    assert_false(st_json_uint64(&a[5], &u));
    assert_false(st_json_int64(&a[6], &i)); /* fraction syntax */
    assert_false(st_json_int64(&a[7], &i)); /* exponent syntax */
    assert_true(st_json_int64(&a[8], &i));
    assert_int_equal(i, -1);
    assert_false(st_json_uint64(&a[8], &u));
    assert_true(st_json_uint64(&a[9], &u));
    assert_int_equal(u, 0);
    assert_true(st_json_int64(&a[10], &i));
    assert_int_equal(i, 0);
    assert_false(st_json_int64(&a[11], &i)); /* a string, not a number */
    assert_true(st_json_uint64(&a[12], &u));
    assert_int_equal(u, 42);
    assert_false(st_json_int64(NULL, &i));
    st_json_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_shape),
        cmocka_unit_test(test_duplicates_last_wins),
        cmocka_unit_test(test_numbers_raw_text),
        cmocka_unit_test(test_top_level_scalars),
        cmocka_unit_test(test_string_unescaping),
        cmocka_unit_test(test_lone_surrogates_rejected),
        cmocka_unit_test(test_bad_utf8_rejected),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_depth_limit_default),
        cmocka_unit_test(test_depth_limit_custom),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_large_document),
        cmocka_unit_test(test_int_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
