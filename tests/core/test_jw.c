/* test_jw.c — st_jw: commas and nesting, escaping, splicing, sticky errors,
 * parse/serialize round trips, st_json_quote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "st_jw.h"
#include "st_rev.h"
#include "st_utf8.h"

typedef struct fixture {
    st_buf b;
    st_jw w;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    st_buf_init(&f->b, 0);
    if (st_jw_init(&f->w, &f->b) != ST_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    st_jw_free(&f->w);
    st_buf_free(&f->b);
    free(f);
    return 0;
}

#define W (&((fixture *)*state)->w)
#define OUT (((fixture *)*state)->b.data)
#define OUTLEN (((fixture *)*state)->b.len)

static void test_nesting_and_commas(void **state)
{
    st_jw_obj_open(W);
    st_jw_key(W, "a");
    st_jw_int(W, 1);
    st_jw_key(W, "b");
    st_jw_arr_open(W);
    st_jw_int(W, 2);
    st_jw_arr_open(W);
    st_jw_arr_close(W);
    st_jw_obj_open(W);
    st_jw_obj_close(W);
    st_jw_str(W, "x");
    st_jw_null(W);
    st_jw_bool(W, true);
    st_jw_bool(W, false);
    st_jw_arr_close(W);
    st_jw_key(W, "c");
    st_jw_obj_open(W);
    st_jw_keyn(W, "dXX", 1);
    st_jw_uint(W, UINT64_MAX);
    st_jw_obj_close(W);
    st_jw_obj_close(W);
    assert_int_equal(st_jw_status(W), ST_OK);
    assert_string_equal(OUT, "{\"a\":1,\"b\":[2,[],{},\"x\",null,true,false],"
                             "\"c\":{\"d\":18446744073709551615}}");
}

static void test_integers(void **state)
{
    st_jw_arr_open(W);
    st_jw_int(W, 0);
    st_jw_int(W, -1);
    st_jw_int(W, INT64_MAX);
    st_jw_int(W, INT64_MIN);
    st_jw_uint(W, 0);
    st_jw_uint(W, 10);
    st_jw_arr_close(W);
    assert_string_equal(OUT, "[0,-1,9223372036854775807,-9223372036854775808,0,10]");
}

static void test_string_escaping(void **state)
{
    st_jw_arr_open(W);
    st_jw_str(W, "q\"b\\s/");
    st_jw_str(W, "\b\f\n\r\t");
    st_jw_str(W, "\x01\x1f\x7f");
    st_jw_strn(W, "a\0b", 3);
    st_jw_str(W, "\xc3\xa9\xf0\x9f\x98\x80");
    st_jw_str(W, "");
    st_jw_str(W, NULL);
    st_jw_arr_close(W);
    assert_int_equal(st_jw_status(W), ST_OK);
    /* No solidus escaping; UTF-8 and DEL pass through; controls as \u00XX. */
    assert_string_equal(OUT, "[\"q\\\"b\\\\s/\",\"\\b\\f\\n\\r\\t\",\"\\u0001\\u001F\x7f\","
                             "\"a\\u0000b\",\"\xc3\xa9\xf0\x9f\x98\x80\",\"\",null]");
}

static void test_escaped_keys(void **state)
{
    st_jw_obj_open(W);
    st_jw_key(W, "a\"b");
    st_jw_int(W, 1);
    st_jw_key(W, "line\n");
    st_jw_int(W, 2);
    st_jw_obj_close(W);
    assert_string_equal(OUT, "{\"a\\\"b\":1,\"line\\n\":2}");
}

static void test_raw_splice(void **state)
{
    st_jw_obj_open(W);
    st_jw_key(W, "doc");
    st_jw_raw(W, "{\"x\":[1,2]}", 11);
    st_jw_key(W, "n");
    st_jw_raw(W, "1.50", 4);
    st_jw_key(W, "l");
    st_jw_arr_open(W);
    st_jw_raw(W, "true", 4);
    st_jw_raw(W, "\"s\"", 3);
    st_jw_arr_close(W);
    st_jw_obj_close(W);
    assert_string_equal(OUT, "{\"doc\":{\"x\":[1,2]},\"n\":1.50,\"l\":[true,\"s\"]}");
}

static void test_members_splice(void **state)
{
    const char *body = "{\"a\":1,\"b\":[2]}";

    st_jw_obj_open(W);
    st_jw_key(W, "_id");
    st_jw_str(W, "x");
    st_jw_key(W, "_rev");
    st_jw_str(W, "1-a");
    st_jw_members(W, body, strlen(body));
    st_jw_key(W, "z");
    st_jw_int(W, 9);
    st_jw_obj_close(W);
    assert_int_equal(st_jw_status(W), ST_OK);
    assert_string_equal(OUT, "{\"_id\":\"x\",\"_rev\":\"1-a\",\"a\":1,\"b\":[2],\"z\":9}");
}

static void test_members_edge_cases(void **state)
{
    /* Empty object: nothing added, and no stray comma afterwards. */
    st_jw_obj_open(W);
    st_jw_members(W, "{}", 2);
    st_jw_members(W, " { \n } ", 7);
    st_jw_key(W, "k");
    st_jw_int(W, 1);
    st_jw_members(W, "{}", 2);
    st_jw_obj_close(W);
    /* Members first, then a key: the comma comes from the splice. */
    st_jw_obj_open(W);
    st_jw_members(W, " {\"a\":1 }\n", 10);
    st_jw_members(W, "{\"b\":2}", 7);
    st_jw_key(W, "c");
    st_jw_int(W, 3);
    st_jw_obj_close(W);
    assert_int_equal(st_jw_status(W), ST_OK);
    /* Two top-level values: no comma between them. */
    assert_string_equal(OUT, "{\"k\":1}{\"a\":1,\"b\":2,\"c\":3}");
}

static void expect_misuse(void **state, void (*fn)(st_jw *w), const char *want_out)
{
    fixture *f = *state;

    fn(&f->w);
    assert_int_equal(st_jw_status(&f->w), ST_E_MISUSE);
    assert_string_equal(f->b.data != NULL ? f->b.data : "", want_out);
}

static void m_value_without_key(st_jw *w)
{
    st_jw_obj_open(w);
    st_jw_int(w, 1);
}
static void m_key_in_array(st_jw *w)
{
    st_jw_arr_open(w);
    st_jw_key(w, "a");
}
static void m_key_twice(st_jw *w)
{
    st_jw_obj_open(w);
    st_jw_key(w, "a");
    st_jw_key(w, "b");
}
static void m_mismatched_close(st_jw *w)
{
    st_jw_arr_open(w);
    st_jw_obj_close(w);
}
static void m_close_after_key(st_jw *w)
{
    st_jw_obj_open(w);
    st_jw_key(w, "a");
    st_jw_obj_close(w);
}
static void m_close_at_top(st_jw *w)
{
    st_jw_arr_close(w);
}
static void m_members_in_array(st_jw *w)
{
    st_jw_arr_open(w);
    st_jw_members(w, "{\"a\":1}", 7);
}
static void m_members_not_object(st_jw *w)
{
    st_jw_obj_open(w);
    st_jw_members(w, "[1]", 3);
}
static void m_members_after_key(st_jw *w)
{
    st_jw_obj_open(w);
    st_jw_key(w, "a");
    st_jw_members(w, "{\"b\":1}", 7);
}
static void m_empty_raw(st_jw *w)
{
    st_jw_arr_open(w);
    st_jw_raw(w, "", 0);
}

static void test_misuse_cases(void **state)
{
    fixture *f = *state;
    struct {
        void (*fn)(st_jw *w);
        const char *out;
    } cases[] = {
        {m_value_without_key, "{"},   {m_key_in_array, "["},
        {m_key_twice, "{\"a\":"},     {m_mismatched_close, "["},
        {m_close_after_key, "{\"a\":"}, {m_close_at_top, ""},
        {m_members_in_array, "["},    {m_members_not_object, "{"},
        {m_members_after_key, "{\"a\":"}, {m_empty_raw, "["},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_jw_free(&f->w);
        st_buf_reset(&f->b);
        assert_int_equal(st_jw_init(&f->w, &f->b), ST_OK);
        expect_misuse(state, cases[i].fn, cases[i].out);
    }
}

static void test_sticky_error(void **state)
{
    fixture *f = *state;

    st_jw_obj_open(W);
    st_jw_int(W, 1); /* no key: misuse */
    assert_int_equal(st_jw_status(W), ST_E_MISUSE);
    /* Everything afterwards is a no-op. */
    st_jw_key(W, "a");
    st_jw_str(W, "needs \"escaping\"");
    st_jw_raw(W, "1", 1);
    st_jw_members(W, "{\"a\":1}", 7);
    st_jw_obj_close(W);
    st_jw_arr_open(W);
    assert_string_equal(OUT, "{");
    assert_int_equal(f->b.len, 1);
    assert_int_equal(st_jw_status(W), ST_E_MISUSE);
}

static void test_buffer_cap_is_sticky(void **state)
{
    st_buf b;
    st_jw w;

    st_buf_init(&b, 8);
    assert_int_equal(st_jw_init(&w, &b), ST_OK);
    st_jw_arr_open(&w);
    st_jw_str(&w, "abcdefghij"); /* plain path */
    assert_int_equal(st_jw_status(&w), ST_E_TOO_LARGE);
    st_jw_int(&w, 1);
    st_jw_arr_close(&w);
    assert_string_equal(b.data, "[");
    st_jw_free(&w);

    /* Escaped path (through yajl's print callback) fails the same way. */
    st_buf_reset(&b);
    assert_int_equal(st_jw_init(&w, &b), ST_OK);
    st_jw_str(&w, "\n\n\n\n\n\n");
    assert_int_equal(st_jw_status(&w), ST_E_TOO_LARGE);
    assert_true(b.len <= 8);
    st_jw_free(&w);
    st_jw_free(&w); /* idempotent */
    st_buf_free(&b);
}

static void test_depth_cap(void **state)
{
    for (int i = 0; i < ST_JW_MAX_DEPTH; i++)
        st_jw_arr_open(W);
    assert_int_equal(st_jw_status(W), ST_OK);
    for (int i = 0; i < ST_JW_MAX_DEPTH; i++)
        st_jw_arr_close(W);
    assert_int_equal(st_jw_status(W), ST_OK);
    assert_int_equal(OUTLEN, 2 * ST_JW_MAX_DEPTH);
    for (int i = 0; i <= ST_JW_MAX_DEPTH; i++)
        st_jw_arr_open(W);
    assert_int_equal(st_jw_status(W), ST_E_MISUSE);
}

/* Minified JSON must survive parse + st_jw_value byte for byte. */
static void test_round_trip(void **state)
{
    static const char *docs[] = {
        "{\"_id\":\"a\",\"n\":1.50,\"big\":1e400,\"z\":-0,\"l\":[true,false,null,[],{}]}",
        "{\"b\":2,\"a\":3}",
        "[\"q\\\"b\\\\s/\",\"\\b\\f\\n\\r\\t\\u0001\\u001F\",\"\xc3\xa9\xf0\x9f\x98\x80\"]",
        "{\"deep\":{\"deeper\":[[[{\"x\":[1,[2,[3]]]}]]]}}",
        "\"top\"",
        "123456789012345678901234567890",
        "{\"\":\"\",\"k\\n\":\"\\u0000\"}",
    };
    fixture *f = *state;

    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        st_json_doc *doc = NULL;
        st_error e;

        assert_int_equal(st_json_parse(docs[i], strlen(docs[i]), NULL, &doc, &e), ST_OK);
        st_buf_reset(&f->b);
        st_jw_value(W, st_json_doc_root(doc));
        assert_int_equal(st_jw_status(W), ST_OK);
        assert_string_equal(OUT, docs[i]);
        st_json_doc_free(doc);
    }
}

/* Escapes that have a shorter form are normalised: \u00e9 becomes UTF-8,
 * \/ becomes /, whitespace is dropped. */
static void test_normalising_round_trip(void **state)
{
    const char *in = " { \"a\\u00e9\" : [ \"\\/\\ud83d\\ude00\\u0041\" , 1E2 ] } ";
    st_json_doc *doc = NULL;

    assert_int_equal(st_json_parse(in, strlen(in), NULL, &doc, NULL), ST_OK);
    st_jw_value(W, st_json_doc_root(doc));
    assert_string_equal(OUT, "{\"a\xc3\xa9\":[\"/\xf0\x9f\x98\x80" "A\",1E2]}");
    st_json_doc_free(doc);
}

static void test_quote(void **state)
{
    st_buf b = ST_BUF_INIT;

    assert_int_equal(st_json_quote(&b, "doc-1", 5), ST_OK);
    assert_int_equal(st_buf_addc(&b, ','), ST_OK);
    assert_int_equal(st_json_quote(&b, "a\"b\\c\n\x01", 7), ST_OK);
    assert_int_equal(st_buf_addc(&b, ','), ST_OK);
    assert_int_equal(st_json_quote(&b, "", 0), ST_OK);
    assert_int_equal(st_buf_addc(&b, ','), ST_OK);
    assert_int_equal(st_json_quote(&b, "x\0y", 3), ST_OK);
    assert_string_equal(b.data, "\"doc-1\",\"a\\\"b\\\\c\\n\\u0001\",\"\",\"x\\u0000y\"");
    assert_int_equal(st_json_quote(NULL, "a", 1), ST_E_MISUSE);
    st_buf_free(&b);
}

static void test_quote_cap_all_or_nothing(void **state)
{
    st_buf b;

    st_buf_init(&b, 10);
    assert_int_equal(st_buf_adds(&b, "ab"), ST_OK);
    assert_int_equal(st_json_quote(&b, "abcdefgh", 8), ST_E_TOO_LARGE);
    assert_string_equal(b.data, "ab");
    /* The escaped path writes piecewise; a failure must not leave a part. */
    assert_int_equal(st_json_quote(&b, "a\nb\nc", 5), ST_E_TOO_LARGE);
    assert_string_equal(b.data, "ab");
    assert_int_equal(b.len, 2);
    assert_int_equal(st_json_quote(&b, "a\nb", 3), ST_OK);
    assert_string_equal(b.data, "ab\"a\\nb\"");
    st_buf_free(&b);
}

static void *quote_thread(void *arg)
{
    st_buf b = ST_BUF_INIT;
    intptr_t ok = 1;

    for (int i = 0; i < 2000 && ok; i++) {
        st_buf_reset(&b);
        ok = st_json_quote(&b, "t\"\t", 3) == ST_OK && strcmp(b.data, "\"t\\\"\\t\"") == 0;
    }
    st_buf_free(&b);
    return (void *)ok;
}

/* Each thread gets its own cached generator (freed at thread exit). */
static void test_quote_threads(void **state)
{
    pthread_t t[4];
    void *ok;

    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, quote_thread, NULL), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &ok), 0);
        assert_true(ok == (void *)1);
    }
}

/* Strings that are not UTF-8 (an id stored before ids were checked, a
 * name cut at a byte limit in a reason) come out with U+FFFD per bad byte:
 * JSON output is always UTF-8.  Valid multi-byte text is untouched. */
static void test_invalid_utf8_repaired(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"\xff\xfe", "\"\xef\xbf\xbd\xef\xbf\xbd\""},
        {"a\x80" "b", "\"a\xef\xbf\xbd" "b\""},
        {"\xc3\xa9\xe2\x82", "\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\""}, /* cut short */
        {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},  /* a surrogate */
        {"q\"\xff", "\"q\\\"\xef\xbf\xbd\""},                               /* and escaped */
        {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_buf_reset(&f->b);
        st_jw_str(W, cases[i].in);
        assert_int_equal(st_jw_status(W), ST_OK);
        assert_string_equal(f->b.data, cases[i].out);
        st_buf q = ST_BUF_INIT;
        assert_int_equal(st_json_quote(&q, cases[i].in, strlen(cases[i].in)), ST_OK);
        assert_string_equal(q.data, cases[i].out);
        assert_true(st_utf8_valid(q.data, q.len));
        st_buf_free(&q);
    }
    assert_true(st_utf8_valid("", 0));
    assert_true(st_utf8_valid("a\0b", 3));
    assert_false(st_utf8_valid("\xf5\x80\x80\x80", 4)); /* past U+10FFFF */
    assert_false(st_utf8_valid("\xe0\x80\x80", 3));      /* overlong */
}

/* A document as deep as the parser takes, {"a":[{"a":[...]}]}, is written
 * back byte for byte and gets a rev id on a thread with a 256 KiB stack:
 * the writer and the rev encoder keep their levels on the heap (recursing,
 * both needed more than 512 KiB under AddressSanitizer at this depth). */
static void *deep_thread(void *arg)
{
    (void)arg;
    unsigned levels = ST_JSON_DEFAULT_DEPTH;
    size_t cap = 8 * (size_t)levels + 16, n = 0;
    char *text = malloc(cap);
    if (!text)
        return NULL;
    for (unsigned i = 0; i < levels; i++)
        n += (size_t)snprintf(text + n, cap - n, i % 2 ? "[" : "{\"a\":");
    text[n++] = '1';
    for (unsigned i = levels; i-- > 0;)
        text[n++] = i % 2 ? ']' : '}';
    text[n] = '\0';
    st_json_doc *doc = NULL;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_rev rev;
    bool ok = st_json_parse(text, n, NULL, &doc, NULL) == ST_OK &&
              st_jw_init(&w, &b) == ST_OK;
    if (ok) {
        st_jw_value(&w, st_json_doc_root(doc));
        ok = st_jw_status(&w) == ST_OK && b.len == n && memcmp(b.data, text, n) == 0;
        st_jw_free(&w);
    }
    ok = ok && st_rev_compute(NULL, false, st_json_doc_root(doc), NULL, 0, &rev, NULL) == ST_OK &&
         rev.gen == 1;
    st_buf_free(&b);
    st_json_doc_free(doc);
    free(text);
    return ok ? (void *)1 : NULL;
}

static void test_deep_value_small_stack(void **state)
{
    (void)state;
    pthread_attr_t a;
    pthread_t t;
    void *ok = NULL;
    assert_int_equal(pthread_attr_init(&a), 0);
    assert_int_equal(pthread_attr_setstacksize(&a, 256 * 1024), 0);
    assert_int_equal(pthread_create(&t, &a, deep_thread, NULL), 0);
    assert_int_equal(pthread_join(t, &ok), 0);
    pthread_attr_destroy(&a);
    assert_true(ok == (void *)1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_nesting_and_commas),
        T(test_integers),
        T(test_string_escaping),
        T(test_escaped_keys),
        T(test_raw_splice),
        T(test_members_splice),
        T(test_members_edge_cases),
        T(test_misuse_cases),
        T(test_sticky_error),
        T(test_buffer_cap_is_sticky),
        T(test_depth_cap),
        T(test_round_trip),
        T(test_normalising_round_trip),
        T(test_invalid_utf8_repaired),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_quote_cap_all_or_nothing),
        cmocka_unit_test(test_quote_threads),
        cmocka_unit_test(test_deep_value_small_stack),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
