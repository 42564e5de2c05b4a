/* test_reduce.c — the built-in reduces against CouchDB's results: the cases
 * of PROTOCOL-2.md C.3 and of couch_query_servers.erl's own tests, jiffy's
 * float spelling, reduce_limit, and _approx_count_distinct's exactness
 * while small and accuracy past that. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "st_buf.h"
#include "st_json.h"
#include "st_reduce.h"

#define SUMERR                                                                              \
    "The _sum function requires that map values be numbers, arrays of numbers, or objects. " \
    "Objects cannot be mixed with other data structures. Objects can be arbitrarily nested, " \
    "provided that the values for all fields are themselves numbers, arrays of numbers, or "  \
    "objects."

/* Rows from JSON: keys_json and values_json are arrays of equal length
 * (keys_json NULL: rereduce). */
static st_status run(st_reduce_builtin fn, const char *keys_json, const char *values_json,
                     const st_reduce_limits *lim, char **out, st_error *err)
{
    st_json_limits jl = {0, 200};
    st_json_doc *kd = NULL, *vd = NULL;
    const st_json **keys = NULL, **values = NULL;
    const st_json *vr, *kr = NULL;
    st_buf b = ST_BUF_INIT;
    st_status rc;

    assert_int_equal(st_json_parse(values_json, strlen(values_json), &jl, &vd, err), ST_OK);
    vr = st_json_doc_root(vd);
    if (keys_json != NULL) {
        assert_int_equal(st_json_parse(keys_json, strlen(keys_json), &jl, &kd, err), ST_OK);
        kr = st_json_doc_root(kd);
        assert_int_equal(kr->len, vr->len);
    }
    keys = calloc(vr->len + 1, sizeof *keys);
    values = calloc(vr->len + 1, sizeof *values);
    for (size_t i = 0; i < vr->len; i++) {
        values[i] = &vr->u.items[i];
        keys[i] = kr ? &kr->u.items[i] : NULL;
    }
    rc = st_reduce_run(fn, keys_json == NULL, kr ? keys : NULL, values, vr->len, lim, &b, err);
    *out = rc == ST_OK ? st_buf_take(&b, NULL) : NULL;
    st_buf_free(&b);
    free(keys);
    free(values);
    st_json_doc_free(kd);
    st_json_doc_free(vd);
    return rc;
}

/* Keys are all null: most reduces ignore them. */
static char *nulls(size_t n)
{
    char *s = malloc(n * 5 + 3);
    size_t o = 0;

    s[o++] = '[';
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(s + o, "%snull", i ? "," : "");
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

static size_t count_items(const char *json)
{
    st_json_doc *d = NULL;
    size_t n;

    assert_int_equal(st_json_parse(json, strlen(json), NULL, &d, NULL), ST_OK);
    n = st_json_doc_root(d)->len;
    st_json_doc_free(d);
    return n;
}

static void reduces_to(st_reduce_builtin fn, const char *values, const char *want)
{
    char *keys = nulls(count_items(values));
    char *got = NULL;
    st_error e;

    if (run(fn, keys, values, NULL, &got, &e) != ST_OK)
        fail_msg("reduce of %s failed: %s", values, e.reason);
    if (strcmp(got, want) != 0)
        fail_msg("reduce of %s\n  gave     %s\n  expected %s", values, got, want);
    free(got);
    free(keys);
}

static void rereduces_to(st_reduce_builtin fn, const char *values, const char *want)
{
    char *got = NULL;
    st_error e;

    if (run(fn, NULL, values, NULL, &got, &e) != ST_OK)
        fail_msg("rereduce of %s failed: %s", values, e.reason);
    if (strcmp(got, want) != 0)
        fail_msg("rereduce of %s\n  gave     %s\n  expected %s", values, got, want);
    free(got);
}

static void test_lookup(void **state)
{
    st_reduce_builtin fn;

    assert_true(st_reduce_builtin_lookup("_sum", &fn) && fn == ST_REDUCE_SUM);
    assert_true(st_reduce_builtin_lookup("_count", &fn) && fn == ST_REDUCE_COUNT);
    assert_true(st_reduce_builtin_lookup("_stats", &fn) && fn == ST_REDUCE_STATS);
    assert_true(st_reduce_builtin_lookup("_approx_count_distinct", &fn) &&
                fn == ST_REDUCE_APPROX_COUNT_DISTINCT);
    assert_false(st_reduce_builtin_lookup("_bogus", &fn));
    assert_false(st_reduce_builtin_lookup("function(k,v){ return sum(v); }", &fn));
}

static void test_sum_numbers_arrays_objects(void **state)
{
    reduces_to(ST_REDUCE_SUM, "[]", "0");
    reduces_to(ST_REDUCE_SUM, "[1,2,3,4,5,6]", "21");
    /* C.3: [v,1] element-wise */
    reduces_to(ST_REDUCE_SUM, "[[1,1],[2,1],[3,1],[4,1],[5,1],[6,1]]", "[21,6]");
    /* couch_query_servers sum_values_test */
    reduces_to(ST_REDUCE_SUM, "[2,[1,4,6]]", "[3,4,6]");
    reduces_to(ST_REDUCE_SUM, "[[0,3,3],[3,2,4]]", "[3,5,7]");
    reduces_to(ST_REDUCE_SUM, "[[1,2],[1,2,3]]", "[2,4,3]");
    reduces_to(ST_REDUCE_SUM,
               "[{\"a\":2,\"b\":3,\"c\":{\"e\":5},\"f\":1,\"g\":1},"
               "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":3},\"g\":1}]",
               "{\"a\":3,\"b\":[4,2],\"c\":{\"d\":3,\"e\":5},\"f\":1,\"g\":2}");
    /* A lone object is taken as it is, unsorted and unchecked. */
    reduces_to(ST_REDUCE_SUM, "[{\"z\":1,\"a\":\"s\"}]", "{\"z\":1,\"a\":\"s\"}");
    /* rereduce sums the partial sums the same way */
    rereduces_to(ST_REDUCE_SUM, "[21,[1,2],3]", "[25,2]");
}

static void test_sum_floats_like_jiffy(void **state)
{
    reduces_to(ST_REDUCE_SUM, "[1.5,2]", "3.5");
    reduces_to(ST_REDUCE_SUM, "[1.0,2]", "3.0");
    reduces_to(ST_REDUCE_SUM, "[0.1,0.2]", "0.30000000000000004");
    reduces_to(ST_REDUCE_SUM, "[1e21]", "1e+21");
    reduces_to(ST_REDUCE_SUM, "[1.5e22]", "1.5e+22");
    reduces_to(ST_REDUCE_SUM, "[1e20]", "100000000000000000000.0");
    reduces_to(ST_REDUCE_SUM, "[1e-7]", "1e-7");
    reduces_to(ST_REDUCE_SUM, "[0.000001]", "0.000001");
    reduces_to(ST_REDUCE_SUM, "[-0.0]", "0.0");
    reduces_to(ST_REDUCE_SUM, "[-2.5,1]", "-1.5");
    /* Past int64 Erlang keeps a bignum; here it becomes a double. */
    reduces_to(ST_REDUCE_SUM, "[9223372036854775807,1]", "9223372036854776000.0");
}

static void test_sum_errors_are_values(void **state)
{
    /* C.3: a non-number does not fail the request */
    reduces_to(ST_REDUCE_SUM, "[1,\"str\"]",
               "{\"error\":\"builtin_reduce_error\",\"reason\":\"" SUMERR "\",\"caused_by\":\"str\"}");
    reduces_to(ST_REDUCE_SUM, "[{\"a\":1},2]",
               "{\"error\":\"builtin_reduce_error\",\"reason\":\"" SUMERR "\",\"caused_by\":2}");
    /* The rest of the accumulator is what CouchDB names. */
    reduces_to(ST_REDUCE_SUM, "[[1,\"a\"],[2,3]]",
               "{\"error\":\"builtin_reduce_error\",\"reason\":\"" SUMERR "\",\"caused_by\":[\"a\"]}");
    reduces_to(ST_REDUCE_SUM, "[[{\"a\":1},{\"a\":2}]]",
               "{\"error\":\"builtin_reduce_error\",\"reason\":\"" SUMERR "\",\"caused_by\":[0]}");
    /* An earlier error passes through a rereduce unchanged. */
    rereduces_to(ST_REDUCE_SUM, "[5,{\"error\":\"builtin_reduce_error\",\"reason\":\"r\"},7]",
                 "{\"error\":\"builtin_reduce_error\",\"reason\":\"r\"}");
}

static void test_sum_reduce_limit(void **state)
{
    enum { N = 1000 };
    char *values = malloc(N * 16 + 3), *keys = nulls(N), *got = NULL;
    st_reduce_limits lim;
    st_error e;
    size_t o = 0;

    values[o++] = '[';
    for (int i = 0; i < N; i++)
        o += (size_t)sprintf(values + o, "%s{\"k%d\":1}", i ? "," : "", i);
    values[o++] = ']';
    values[o] = '\0';
    assert_int_equal(run(ST_REDUCE_SUM, keys, values, NULL, &got, &e), ST_OK);
    assert_non_null(strstr(got, "\"error\":\"builtin_reduce_error\""));
    assert_non_null(strstr(got, "Reduce output must shrink more rapidly: input size: "));
    free(got);
    st_reduce_limits_init(&lim);
    lim.reduce_limit = false;
    assert_int_equal(run(ST_REDUCE_SUM, keys, values, &lim, &got, &e), ST_OK);
    assert_non_null(strstr(got, "\"k999\":1"));
    free(got);
    /* Rereduce is never checked. */
    assert_int_equal(run(ST_REDUCE_SUM, NULL, values, NULL, &got, &e), ST_OK);
    assert_null(strstr(got, "builtin_reduce_error"));
    free(got);
    free(values);
    free(keys);
}

static void test_count(void **state)
{
    reduces_to(ST_REDUCE_COUNT, "[]", "0");
    reduces_to(ST_REDUCE_COUNT, "[\"a\",null,{},3]", "4");
    rereduces_to(ST_REDUCE_COUNT, "[4,6,11]", "21");
}

static void test_stats(void **state)
{
    char *got = NULL, *keys = nulls(2);
    st_error e;

    reduces_to(ST_REDUCE_STATS, "[]", "{\"sum\":0,\"count\":0,\"min\":0,\"max\":0,\"sumsqr\":0}");
    /* couch_query_servers reduce_stats_test */
    reduces_to(ST_REDUCE_STATS, "[2]", "{\"sum\":2,\"count\":1,\"min\":2,\"max\":2,\"sumsqr\":4}");
    reduces_to(ST_REDUCE_STATS, "[[1,2]]",
               "[{\"sum\":1,\"count\":1,\"min\":1,\"max\":1,\"sumsqr\":1},"
               "{\"sum\":2,\"count\":1,\"min\":2,\"max\":2,\"sumsqr\":4}]");
    /* stat_values_test: [2,3,5] with [7,11,13] */
    reduces_to(ST_REDUCE_STATS, "[[7,11,13],[2,3,5]]",
               "[{\"sum\":9,\"count\":2,\"min\":2,\"max\":7,\"sumsqr\":53},"
               "{\"sum\":14,\"count\":2,\"min\":3,\"max\":11,\"sumsqr\":130},"
               "{\"sum\":18,\"count\":2,\"min\":5,\"max\":13,\"sumsqr\":194}]");
    reduces_to(ST_REDUCE_STATS, "[1,2,3,4,5,6]",
               "{\"sum\":21,\"count\":6,\"min\":1,\"max\":6,\"sumsqr\":91}");
    reduces_to(ST_REDUCE_STATS, "[1.5,-2]",
               "{\"sum\":-0.5,\"count\":2,\"min\":-2,\"max\":1.5,\"sumsqr\":6.25}");
    /* rereduce: stats objects are partial results */
    rereduces_to(ST_REDUCE_STATS,
                 "[{\"sum\":21,\"count\":6,\"min\":1,\"max\":6,\"sumsqr\":91},"
                 "{\"sum\":4,\"count\":1,\"min\":4,\"max\":4,\"sumsqr\":16}]",
                 "{\"sum\":25,\"count\":7,\"min\":1,\"max\":6,\"sumsqr\":107}");
    /* C.3: a non-number fails (500 invalid_value) */
    assert_int_equal(run(ST_REDUCE_STATS, keys, "[\"x\",1]", NULL, &got, &e), ST_E_INVALID_VALUE);
    assert_string_equal(e.reason, "non-numeric _stats input: \"x\"");
    assert_int_equal(run(ST_REDUCE_STATS, keys, "[1,\"x\"]", NULL, &got, &e), ST_E_INVALID_VALUE);
    assert_string_equal(e.reason, "The _stats function requires that map values be numbers or "
                                  "arrays of numbers, not '\"x\"'");
    assert_int_equal(run(ST_REDUCE_STATS, keys, "[{\"sum\":1},1]", NULL, &got, &e),
                     ST_E_INVALID_VALUE);
    assert_string_equal(e.reason, "user _stats input missing required field count ({\"sum\":1})");
    free(keys);
}

/* Keys 0..n-1, each emitted `dup` times. */
static char *int_keys(int from, int n, int dup)
{
    char *s = malloc((size_t)(n * dup) * 12 + 3);
    size_t o = 0;

    s[o++] = '[';
    for (int i = 0; i < n * dup; i++)
        o += (size_t)sprintf(s + o, "%s%d", i ? "," : "", from + i / dup);
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

static uint64_t distinct(const char *keys_json, char **sketch)
{
    st_json_doc *d = NULL;
    st_buf b = ST_BUF_INIT;
    st_error e;
    char *red = NULL;
    int64_t n = -1;

    assert_int_equal(run(ST_REDUCE_APPROX_COUNT_DISTINCT, keys_json, keys_json, NULL, &red, &e),
                     ST_OK);
    assert_int_equal(st_json_parse(red, strlen(red), NULL, &d, &e), ST_OK);
    assert_int_equal(st_reduce_finalize(ST_REDUCE_APPROX_COUNT_DISTINCT, st_json_doc_root(d), &b,
                                        &e),
                     ST_OK);
    assert_true(sscanf(b.data, "%" SCNd64, &n) == 1);
    st_json_doc_free(d);
    st_buf_free(&b);
    if (sketch != NULL)
        *sketch = red;
    else
        free(red);
    return (uint64_t)n;
}

static uint64_t union_count(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 4;
    char *values = malloc(n), *red = NULL;
    st_json_doc *d = NULL;
    st_buf out = ST_BUF_INIT;
    st_error e;
    int64_t c = -1;

    snprintf(values, n, "[%s,%s]", a, b);
    assert_int_equal(run(ST_REDUCE_APPROX_COUNT_DISTINCT, NULL, values, NULL, &red, &e), ST_OK);
    assert_int_equal(st_json_parse(red, strlen(red), NULL, &d, &e), ST_OK);
    assert_int_equal(st_reduce_finalize(ST_REDUCE_APPROX_COUNT_DISTINCT, st_json_doc_root(d), &out,
                                        &e),
                     ST_OK);
    assert_true(sscanf(out.data, "%" SCNd64, &c) == 1);
    st_json_doc_free(d);
    st_buf_free(&out);
    free(red);
    free(values);
    return (uint64_t)c;
}

static void test_approx_count_distinct(void **state)
{
    char *k1 = int_keys(0, 100, 3), *k2 = int_keys(50, 100, 1);
    char *k3 = int_keys(0, 20000, 1), *k4 = int_keys(10000, 20000, 1);
    char *s1, *s2, *s3, *s4;
    uint64_t n;
    st_error e;
    char *got = NULL;

    /* Exact while small, duplicates counted once; 1 and 1.0 differ (as the
     * Erlang terms CouchDB hashes do), "a" twice is one. */
    assert_int_equal(distinct(k1, &s1), 100);
    assert_int_equal(distinct(k2, &s2), 100);
    assert_int_equal(distinct("[1,1.0,\"a\",\"a\",[1,\"a\"],{\"x\":null}]", NULL), 5);
    assert_int_equal(distinct("[]", NULL), 0);
    assert_int_equal(union_count(s1, s2), 150);
    /* Past the exact range: HyperLogLog, 2^11 registers (~2.3% error). */
    n = distinct(k3, &s3);
    assert_true(n > 19000 && n < 21000);
    n = distinct(k4, &s4);
    assert_true(n > 19000 && n < 21000);
    n = union_count(s3, s4);
    assert_true(n > 28500 && n < 31500);
    n = union_count(s1, s3); /* exact merged into registers */
    assert_true(n > 19000 && n < 21000);
    /* A rereduce over something that is not a sketch fails. */
    assert_int_equal(run(ST_REDUCE_APPROX_COUNT_DISTINCT, NULL, "[3]", NULL, &got, &e),
                     ST_E_INVALID_VALUE);
    free(s1);
    free(s2);
    free(s3);
    free(s4);
    free(k1);
    free(k2);
    free(k3);
    free(k4);
}

static void test_finalize_passes_others(void **state)
{
    st_json_doc *d = NULL;
    st_buf b = ST_BUF_INIT;
    const char *v = "{\"sum\":1,\"count\":1,\"min\":1,\"max\":1,\"sumsqr\":1}";

    assert_int_equal(st_json_parse(v, strlen(v), NULL, &d, NULL), ST_OK);
    assert_int_equal(st_reduce_finalize(ST_REDUCE_STATS, st_json_doc_root(d), &b, NULL), ST_OK);
    assert_string_equal(b.data, v);
    st_buf_free(&b);
    st_json_doc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_sum_numbers_arrays_objects),
        cmocka_unit_test(test_sum_floats_like_jiffy),
        cmocka_unit_test(test_sum_errors_are_values),
        cmocka_unit_test(test_sum_reduce_limit),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_approx_count_distinct),
        cmocka_unit_test(test_finalize_passes_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
