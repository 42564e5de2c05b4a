/* test_mango.c — json indexes, the planner, _find and selector followers,
 * through core's API (st_mango.h, st_follow.h).
 *
 * The randomized tests write the same random history (new documents,
 * edits, deletions, conflicting replicated revisions, purges) to two
 * databases, one with indexes and one without, and check that every random
 * query answers the same on both, and the same as matching every document
 * by hand; and that selector followers see what a filtered scan sees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_db.h"
#include "st_follow.h"
#include "st_mango.h"
#include "st_selector.h"
#include "testutil.h"

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

static st_db *open_db(const char *name)
{
    char path[512];
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    o.durability = ST_DURABLE_NORMAL;
    test_path(path, sizeof path, name);
    st_db *db = NULL;
    st_error e;
    assert_int_equal(st_db_open(path, name, &o, &db, &e), ST_OK);
    return db;
}

static void close_db(st_db *db)
{
    char path[512];
    test_path(path, sizeof path, st_db_name(db));
    assert_int_equal(st_db_close(db), ST_OK);
    test_unlink(path);
}

static void put(st_db *db, const char *json)
{
    st_write_result r;
    st_error e;
    st_status st = st_db_put_json(db, json, strlen(json), 0, &r, &e);
    if (st == ST_OK && r.err.code != ST_OK)
        fprintf(stderr, "put %s: %s\n", json, r.err.reason);
    assert_int_equal(st, ST_OK);
    assert_int_equal(r.err.code, ST_OK);
    st_write_results_free(&r, 1);
}

static void put_f(st_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_f(st_db *db, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(db, buf);
}

/* The winner's rev of id, or "" when missing. */
static void rev_of(st_db *db, const char *id, char out[ST_REV_STR_MAX])
{
    st_buf b = ST_BUF_INIT;
    st_error e;
    out[0] = '\0';
    if (st_db_get(db, id, NULL, &b, &e) == ST_OK) {
        st_json_doc *d = NULL;
        assert_int_equal(st_json_parse(b.data, b.len, NULL, &d, NULL), ST_OK);
        snprintf(out, ST_REV_STR_MAX, "%s", st_json_get_str(st_json_doc_root(d), "_rev"));
        st_json_doc_free(d);
    }
    st_buf_free(&b);
}

/* Add an index as POST _index would; returns its name in name. */
static void add_index(st_db *db, const char *request, char *name, size_t cap)
{
    st_json_doc *body = NULL;
    st_mango_index_req rq;
    st_error e;
    assert_int_equal(st_json_parse(request, strlen(request), NULL, &body, NULL), ST_OK);
    assert_int_equal(st_mango_index_req_parse(st_json_doc_root(body), &rq, &e), ST_OK);
    st_json_doc_free(body);
    st_buf cur = ST_BUF_INIT, out = ST_BUF_INIT;
    st_json_doc *cd = NULL;
    if (st_db_get(db, rq.ddoc, NULL, &cur, &e) == ST_OK)
        assert_int_equal(st_json_parse(cur.data, cur.len, NULL, &cd, NULL), ST_OK);
    bool same = false;
    assert_int_equal(st_mango_ddoc_add(&rq, cd ? st_json_doc_root(cd) : NULL, &out, &same, &e),
                     ST_OK);
    if (!same) {
        st_json_doc *nd = NULL;
        assert_int_equal(st_json_parse(out.data, out.len, NULL, &nd, NULL), ST_OK);
        const char *rev = cd ? st_json_get_str(st_json_doc_root(cd), "_rev") : NULL;
        st_write_req wr = {.doc = st_json_doc_root(nd), .id = rq.ddoc, .rev = rev};
        st_write_result res;
        assert_int_equal(st_db_write(db, &wr, 1, 0, &res, &e), ST_OK);
        assert_int_equal(res.err.code, ST_OK);
        st_write_results_free(&res, 1);
        st_json_doc_free(nd);
    }
    if (name)
        snprintf(name, cap, "%s", rq.name);
    st_json_doc_free(cd);
    st_buf_free(&cur);
    st_buf_free(&out);
    st_mango_index_req_clear(&rq);
}

/* ---- running queries ---------------------------------------------------------- */

typedef struct result {
    char **ids;
    size_t n;
    char *bookmark;
    char *warning;
    st_status st;
    st_error err;
    char *first_doc;        /* the first document's JSON */
} result;

static int collect(void *ctx, const char *json, size_t len)
{
    result *r = ctx;
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse(json, len, NULL, &d, NULL), ST_OK);
    const char *id = st_json_get_str(st_json_doc_root(d), "_id");
    r->ids = realloc(r->ids, (r->n + 1) * sizeof *r->ids);
    r->ids[r->n++] = strdup(id ? id : "?");
    if (!r->first_doc)
        r->first_doc = strndup(json, len);
    st_json_doc_free(d);
    return 0;
}

static void result_free(result *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->ids[i]);
    free(r->ids);
    free(r->bookmark);
    free(r->warning);
    free(r->first_doc);
    memset(r, 0, sizeof *r);
}

static result find(st_db *db, const char *query)
{
    result r = {0};
    st_json_doc *body = NULL;
    st_mango_query *q = NULL;
    st_mango_cursor *c = NULL;
    assert_int_equal(st_json_parse(query, strlen(query), NULL, &body, NULL), ST_OK);
    r.st = st_mango_query_parse(st_json_doc_root(body), &q, &r.err);
    st_json_doc_free(body);
    if (r.st == ST_OK)
        r.st = st_mango_find(db, q, &c, &r.err);
    bool done = false;
    for (unsigned i = 0; r.st == ST_OK && !done && i < 100000; i++)
        r.st = st_mango_next(c, 1000, collect, &r, &done, &r.err);
    if (r.st == ST_OK) {
        assert_true(done);
        r.bookmark = strdup(st_mango_bookmark(c));
        if (st_mango_warning(c))
            r.warning = strdup(st_mango_warning(c));
    }
    st_mango_cursor_free(c);
    st_mango_query_free(q);
    return r;
}

static void explain(st_db *db, const char *query, st_buf *out)
{
    st_json_doc *body = NULL;
    st_mango_query *q = NULL;
    st_error e;
    st_jw w;
    assert_int_equal(st_json_parse(query, strlen(query), NULL, &body, NULL), ST_OK);
    assert_int_equal(st_mango_query_parse(st_json_doc_root(body), &q, &e), ST_OK);
    st_json_doc_free(body);
    st_buf_reset(out);
    assert_int_equal(st_jw_init(&w, out), ST_OK);
    assert_int_equal(st_mango_explain(db, q, &w, &e), ST_OK);
    assert_int_equal(st_jw_status(&w), ST_OK);
    st_jw_free(&w);
    st_mango_query_free(q);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void assert_ids(result *r, const char *const *want, size_t n)
{
    if (r->n != n) {
        fprintf(stderr, "got %zu ids, want %zu:", r->n, n);
        for (size_t i = 0; i < r->n; i++)
            fprintf(stderr, " %s", r->ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(r->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(r->ids[i], want[i]);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_index_basics(void **state)
{
    (void)state;
    st_db *db = open_db("mango-basics");
    for (int i = 0; i < 20; i++)
        put_f(db, "{\"_id\":\"d%02d\",\"age\":%d,\"name\":\"n%d\"}", i, (i * 7) % 20, i % 5);
    put(db, "{\"_id\":\"thirty\",\"age\":\"thirty\"}");
    put(db, "{\"_id\":\"noage\",\"name\":\"x\"}");
    char name[64];
    add_index(db, "{\"index\":{\"fields\":[\"age\"]}}", name, sizeof name);
    assert_int_equal(strlen(name), 40);

    st_mango_index *v = NULL;
    size_t n = 0;
    st_error e;
    assert_int_equal(st_db_indexes(db, &v, &n, &e), ST_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].def, "{\"fields\":[{\"age\":\"asc\"}]}");
    assert_string_equal(v[0].name, name);
    assert_int_equal(strncmp(v[0].ddoc, "_design/", 8), 0);
    st_mango_indexes_free(v, n);

    /* Collation across types: numbers, then the string "thirty". */
    result r = find(db, "{\"selector\":{\"age\":{\"$gt\":17}},\"sort\":[\"age\"],"
                        "\"fields\":[\"_id\"]}");
    assert_int_equal(r.st, ST_OK);
    const char *want[] = {"d14", "d17", "thirty"}; /* ages 18, 19 then "thirty" */
    assert_ids(&r, want, 3);
    assert_null(r.warning);
    result_free(&r);

    /* Editing the indexed field moves the entry; deleting drops it. */
    char rev[ST_REV_STR_MAX];
    rev_of(db, "d14", rev);
    put_f(db, "{\"_id\":\"d14\",\"_rev\":\"%s\",\"age\":1}", rev);
    rev_of(db, "d17", rev);
    put_f(db, "{\"_id\":\"d17\",\"_rev\":\"%s\",\"_deleted\":true}", rev);
    r = find(db, "{\"selector\":{\"age\":{\"$gt\":17}},\"fields\":[\"_id\"]}");
    const char *want2[] = {"thirty"};
    assert_ids(&r, want2, 1);
    result_free(&r);
    r = find(db, "{\"selector\":{\"age\":{\"$lte\":1}},\"sort\":[{\"age\":\"desc\"}]}");
    const char *want3[] = {"d14", "d03", "d00"}; /* 1, 1 then 0: descending, ties by id */
    assert_ids(&r, want3, 3);
    assert_non_null(strstr(r.first_doc, "\"_rev\":\"2-"));
    result_free(&r);

    /* No sort index: CouchDB's error; an unindexed field: the full scan. */
    r = find(db, "{\"selector\":{\"name\":\"n1\"},\"sort\":[\"name\"]}");
    assert_int_equal(r.st, ST_E_BAD_REQUEST);
    assert_string_equal(st_error_name(&r.err), "no_usable_index");
    result_free(&r);
    r = find(db, "{\"selector\":{\"name\":\"n1\"}}");
    assert_int_equal(r.st, ST_OK);
    assert_int_equal(r.n, 4);
    assert_string_equal(r.warning, "No matching index found, create an index to optimize "
                                   "query time.");
    result_free(&r);
    /* The same index again is "exists"; dropping its ddoc drops it. */
    add_index(db, "{\"index\":{\"fields\":[\"age\"]}}", NULL, 0);
    char ddoc[128];
    snprintf(ddoc, sizeof ddoc, "_design/%s", name);
    rev_of(db, ddoc, rev);
    assert_int_equal(rev[0], '1');
    put_f(db, "{\"_id\":\"%s\",\"_rev\":\"%s\",\"_deleted\":true}", ddoc, rev);
    assert_int_equal(st_db_indexes(db, &v, &n, &e), ST_OK);
    assert_int_equal(n, 0);
    st_mango_indexes_free(v, n);
    close_db(db);
}

static void test_planner(void **state)
{
    (void)state;
    st_db *db = open_db("mango-plan");
    for (int i = 0; i < 10; i++)
        put_f(db, "{\"_id\":\"p%d\",\"a\":%d,\"b\":%d,\"c\":%d}", i, i % 3, i, i % 2);
    add_index(db, "{\"index\":{\"fields\":[\"a\"]},\"ddoc\":\"ia\",\"name\":\"a\"}", NULL, 0);
    add_index(db, "{\"index\":{\"fields\":[\"a\",\"b\"]},\"ddoc\":\"iab\",\"name\":\"ab\"}", NULL,
              0);
    add_index(db, "{\"index\":{\"fields\":[\"c\"],\"partial_filter_selector\":{\"c\":1}},"
                  "\"ddoc\":\"ic\",\"name\":\"c\"}",
              NULL, 0);
    st_buf x = ST_BUF_INIT;
    /* Both fields ranged: [a,b] covers more of them. */
    explain(db, "{\"selector\":{\"a\":1,\"b\":{\"$gt\":2}}}", &x);
    assert_non_null(strstr(x.data, "\"index\":{\"ddoc\":\"_design/iab\""));
    assert_non_null(strstr(x.data, "\"less_overlap\""));
    /* Only a: [a,b] is not usable (b is not required). */
    explain(db, "{\"selector\":{\"a\":1}}", &x);
    assert_non_null(strstr(x.data, "\"index\":{\"ddoc\":\"_design/ia\""));
    assert_non_null(strstr(x.data, "\"field_mismatch\""));
    /* A partial index only when named; it then answers from its own docs. */
    explain(db, "{\"selector\":{\"c\":{\"$gte\":0}}}", &x);
    assert_non_null(strstr(x.data, "\"index\":{\"ddoc\":null,\"name\":\"_all_docs\""));
    assert_non_null(strstr(x.data, "\"is_partial\""));
    result r = find(db, "{\"selector\":{\"c\":{\"$gte\":0}},\"use_index\":\"ic\"}");
    assert_int_equal(r.n, 5);
    assert_null(r.warning);
    result_free(&r);
    r = find(db, "{\"selector\":{\"c\":{\"$gte\":0}}}");
    assert_int_equal(r.n, 10);
    result_free(&r);
    /* A use_index that cannot serve: ignored with CouchDB's warning, or
     * refused when falling back is not allowed. */
    r = find(db, "{\"selector\":{\"b\":3},\"use_index\":\"ia\"}");
    assert_int_equal(r.st, ST_OK);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.warning, "_design/ia was not used because it does not contain a "
                                      "valid index for this query."));
    assert_non_null(strstr(r.warning, "\nNo matching index found"));
    result_free(&r);
    r = find(db, "{\"selector\":{\"b\":3},\"use_index\":[\"ia\",\"a\"],\"allow_fallback\":false}");
    assert_int_equal(r.st, ST_E_BAD_REQUEST);
    assert_string_equal(st_error_name(&r.err), "invalid_index");
    result_free(&r);
    r = find(db, "{\"selector\":{\"b\":3},\"allow_fallback\":false}");
    assert_string_equal(st_error_name(&r.err), "invalid_index");
    assert_string_equal(r.err.reason, "You must specify an index with the `use_index` parameter.");
    result_free(&r);
    /* Sort: a prefix of the columns after the pinned ones. */
    r = find(db, "{\"selector\":{\"a\":1,\"b\":{\"$gt\":0}},\"sort\":[\"b\"],\"fields\":[\"_id\"]}");
    assert_int_equal(r.st, ST_OK);
    const char *want[] = {"p1", "p4", "p7"};
    assert_ids(&r, want, 3);
    result_free(&r);
    r = find(db, "{\"selector\":{\"a\":{\"$gt\":0},\"b\":{\"$gt\":0}},\"sort\":[\"b\"]}");
    assert_string_equal(st_error_name(&r.err), "no_usable_index");
    result_free(&r);
    /* _id sorts need the selector to range over _id (then _all_docs does). */
    r = find(db, "{\"selector\":{},\"sort\":[\"_id\"]}");
    assert_string_equal(st_error_name(&r.err), "no_usable_index");
    result_free(&r);
    r = find(db, "{\"selector\":{\"_id\":{\"$gt\":\"p6\"}},\"sort\":[{\"_id\":\"desc\"}]}");
    const char *want2[] = {"p9", "p8", "p7"};
    assert_ids(&r, want2, 3);
    result_free(&r);
    /* Contradictions read nothing. */
    r = find(db, "{\"selector\":{\"a\":{\"$gt\":2,\"$lt\":1}},\"execution_stats\":true}");
    assert_int_equal(r.n, 0);
    assert_string_equal(r.bookmark, "nil");
    result_free(&r);
    st_buf_free(&x);
    close_db(db);
}

static void test_paging_and_fields(void **state)
{
    (void)state;
    st_db *db = open_db("mango-page");
    for (int i = 0; i < 57; i++)
        put_f(db, "{\"_id\":\"q%02d\",\"k\":%d,\"addr\":{\"city\":\"c%d\",\"zip\":%d}}", i,
              i % 7, i % 3, i);
    add_index(db, "{\"index\":{\"fields\":[\"k\"]}}", NULL, 0);
    const char *queries[] = {"{\"selector\":{\"k\":{\"$gte\":2}}", "{\"selector\":{\"k\":{\"$gte\":2}},\"sort\":[{\"k\":\"desc\"}]",
                             "{\"selector\":{\"addr.zip\":{\"$gt\":3}}"};
    for (size_t qi = 0; qi < 3; qi++) {
        char q[512];
        snprintf(q, sizeof q, "%s,\"limit\":100}", queries[qi]);
        result all = find(db, q);
        size_t got = 0;
        char *bm = NULL;
        for (int page = 0; page < 30; page++) {
            if (bm)
                snprintf(q, sizeof q, "%s,\"limit\":4,\"bookmark\":\"%s\"}", queries[qi], bm);
            else
                snprintf(q, sizeof q, "%s,\"limit\":4}", queries[qi]);
            result r = find(db, q);
            assert_int_equal(r.st, ST_OK);
            for (size_t i = 0; i < r.n; i++)
                assert_string_equal(r.ids[i], all.ids[got + i]);
            got += r.n;
            free(bm);
            bm = strdup(r.bookmark);
            size_t n = r.n;
            result_free(&r);
            if (n < 4)
                break;
        }
        assert_int_equal(got, all.n);
        free(bm);
        result_free(&all);
    }
    result r = find(db, "{\"selector\":{\"_id\":\"q05\"},\"fields\":[\"addr.city\",\"_id\","
                        "\"nope\",\"addr.zip\"]}");
    assert_int_equal(r.n, 1);
    assert_string_equal(r.first_doc, "{\"addr\":{\"city\":\"c2\",\"zip\":5},\"_id\":\"q05\"}");
    result_free(&r);
    r = find(db, "{\"selector\":{},\"limit\":0}");
    assert_int_equal(r.n, 0);
    assert_string_equal(r.bookmark, "nil");
    result_free(&r);
    r = find(db, "{\"selector\":{},\"bookmark\":\"garbage!\"}");
    assert_string_equal(st_error_name(&r.err), "invalid_bookmark");
    result_free(&r);
    r = find(db, "{\"selector\":{},\"skip\":55,\"limit\":10}");
    assert_int_equal(r.n, 2);
    result_free(&r);
    close_db(db);
}

static void test_request_errors(void **state)
{
    (void)state;
    st_db *db = open_db("mango-errs");
    static const struct {
        const char *q, *name;
    } cases[] = {
        {"{\"limit\":-1}", "missing_required_key"},
        {"{\"selector\":[]}", "invalid_selector_json"},
        {"{\"selector\":{},\"limit\":-1}", "invalid_non_neg_integer"},
        {"{\"selector\":{},\"skip\":1.5}", "invalid_non_neg_integer"},
        {"{\"selector\":{},\"sort\":{}}", "invalid_sort_json"},
        {"{\"selector\":{},\"sort\":[{\"a\":\"up\"}]}", "invalid_sort_field"},
        {"{\"selector\":{},\"sort\":[\"a\",{\"b\":\"desc\"}]}", "unsupported_mixed_sort"},
        {"{\"selector\":{},\"fields\":\"a\"}", "invalid_fields"},
        {"{\"selector\":{},\"fields\":[1]}", "invalid_field"},
        {"{\"selector\":{},\"use_index\":7}", "invalid_index_name"},
        {"{\"selector\":{},\"bookmark\":7}", "invalid_bookmark"},
        {"{\"selector\":{},\"r\":0}", "invalid_pos_integer"},
        {"{\"selector\":{},\"conflicts\":\"yes\"}", "invalid_boolean"},
        {"{\"selector\":{},\"bogus\":1}", "invalid_key"},
        {"{\"selector\":{\"a\":{\"$where\":1}}}", "not_supported"},
        {"{\"selector\":{\"a\":{\"$bogus\":1}}}", "invalid_operator"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result r = find(db, cases[i].q);
        if (r.st == ST_OK || strcmp(st_error_name(&r.err), cases[i].name) != 0)
            fprintf(stderr, "%s: %s (%s)\n", cases[i].q, st_error_name(&r.err), r.err.reason);
        assert_int_not_equal(r.st, ST_OK);
        assert_string_equal(st_error_name(&r.err), cases[i].name);
        assert_int_equal(st_status_http(r.err.code), 400);
        result_free(&r);
    }
    static const struct {
        const char *q, *name;
    } icases[] = {
        {"{}", "missing_required_key"},
        {"{\"index\":{}}", "missing_required_key"},
        {"{\"index\":{\"fields\":\"a\"}}", "invalid_sort_json"},
        {"{\"index\":{\"fields\":[{\"a\":\"up\"}]}}", "invalid_sort_field"},
        {"{\"index\":{\"fields\":[\"a\"]},\"type\":\"bogus\"}", "invalid_index"},
        {"{\"index\":[],\"type\":\"json\"}", "invalid_index"},
        {"{\"index\":{\"fields\":[\"a\"]},\"ddoc\":5}", "invalid_string"},
        {"{\"index\":{\"fields\":[\"a\"]},\"x\":5}", "invalid_key"},
        {"{\"index\":{\"fields\":[\"a\"],\"x\":1}}", "invalid_key"},
        {"{\"index\":{\"fields\":[\"a\"],\"partial_filter_selector\":{\"a\":{\"$x\":1}}}}",
         "invalid_operator"},
    };
    for (size_t i = 0; i < sizeof icases / sizeof icases[0]; i++) {
        st_json_doc *b = NULL;
        st_mango_index_req rq;
        st_error e;
        assert_int_equal(st_json_parse(icases[i].q, strlen(icases[i].q), NULL, &b, NULL), ST_OK);
        st_status st = st_mango_index_req_parse(st_json_doc_root(b), &rq, &e);
        if (st == ST_OK || strcmp(st_error_name(&e), icases[i].name) != 0)
            fprintf(stderr, "%s: %s (%s)\n", icases[i].q, st_error_name(&e), e.reason);
        assert_int_not_equal(st, ST_OK);
        assert_string_equal(st_error_name(&e), icases[i].name);
        st_json_doc_free(b);
    }
    /* A text index needs a search service: 503. */
    st_json_doc *b = NULL;
    st_mango_index_req rq;
    st_error e;
    const char *t = "{\"index\":{\"fields\":[\"a\"]},\"type\":\"text\"}";
    assert_int_equal(st_json_parse(t, strlen(t), NULL, &b, NULL), ST_OK);
    assert_int_not_equal(st_mango_index_req_parse(st_json_doc_root(b), &rq, &e), ST_OK);
    assert_int_equal(st_status_http(e.code), 503);
    st_json_doc_free(b);
    close_db(db);
}

/* ---- randomized: index vs full scan vs matching by hand ------------------------- */

#define R_DOCS 60

static void random_value(char *out, size_t cap)
{
    switch (rnd(9)) {
    case 0: snprintf(out, cap, "null"); break;
    case 1: snprintf(out, cap, "%s", rnd(2) ? "true" : "false"); break;
    case 2: case 3: snprintf(out, cap, "%d", (int)rnd(10) - 3); break;
    case 4: snprintf(out, cap, "%d.5", (int)rnd(5)); break;
    case 5: case 6: snprintf(out, cap, "\"%c%c\"", "aAbBé"[rnd(4)], 'a' + rnd(3)); break;
    case 7: snprintf(out, cap, "[%d,%d]", (int)rnd(3), (int)rnd(3)); break;
    default: snprintf(out, cap, "{\"x\":%d}", (int)rnd(3)); break;
    }
}

static void random_doc(char *out, size_t cap, int i, const char *rev)
{
    char a[64], b[64], c[64];
    random_value(a, sizeof a);
    random_value(b, sizeof b);
    random_value(c, sizeof c);
    int n = snprintf(out, cap, "{\"_id\":\"r%02d\"", i);
    if (rev)
        n += snprintf(out + n, cap - (size_t)n, ",\"_rev\":\"%s\"", rev);
    if (rnd(6))
        n += snprintf(out + n, cap - (size_t)n, ",\"a\":%s", a);
    if (rnd(5))
        n += snprintf(out + n, cap - (size_t)n, ",\"b\":%s", b);
    if (rnd(3))
        n += snprintf(out + n, cap - (size_t)n, ",\"s\":{\"c\":%s}", c);
    snprintf(out + n, cap - (size_t)n, "}");
}

/* One random step of history, the same on every database given. */
static void random_step(st_db **dbs, size_t n)
{
    int i = (int)rnd(R_DOCS);
    char id[16], rev[ST_REV_STR_MAX], doc[512];
    snprintf(id, sizeof id, "r%02d", i);
    rev_of(dbs[0], id, rev);
    unsigned kind = rnd(10);
    if (kind < 6 || !rev[0]) {
        random_doc(doc, sizeof doc, i, rev[0] ? rev : NULL);
        for (size_t k = 0; k < n; k++)
            put(dbs[k], doc);
    } else if (kind < 8) {
        snprintf(doc, sizeof doc, "{\"_id\":\"%s\",\"_rev\":\"%s\",\"_deleted\":true}", id, rev);
        for (size_t k = 0; k < n; k++)
            put(dbs[k], doc);
    } else {
        /* A conflicting branch from elsewhere: the winner may change. */
        char body[512], json[1024];
        random_doc(body, sizeof body, i, NULL);
        unsigned h = rnd(1u << 30);
        snprintf(json, sizeof json, "{\"_rev\":\"1-%08x%024x\",%s", h, h, body + 1);
        for (size_t k = 0; k < n; k++) {
            st_write_result r;
            st_error e;
            assert_int_equal(st_db_put_json(dbs[k], json, strlen(json), ST_WRITE_REPLICATED, &r,
                                            &e),
                             ST_OK);
            st_write_results_free(&r, 1);
        }
    }
}

typedef struct brute {
    const st_selector *sel;
    char **ids;
    size_t n;
} brute;

static int brute_row(void *ctx, const st_alldocs_row *row)
{
    brute *b = ctx;
    if (!row->doc_json || strncmp(row->id, "_design/", 8) == 0)
        return 0;
    st_json_doc *d = NULL;
    bool m = false;
    assert_int_equal(st_json_parse(row->doc_json, row->doc_len, NULL, &d, NULL), ST_OK);
    assert_int_equal(st_selector_match(b->sel, st_json_doc_root(d), &m), ST_OK);
    if (m) {
        b->ids = realloc(b->ids, (b->n + 1) * sizeof *b->ids);
        b->ids[b->n++] = strdup(row->id);
    }
    st_json_doc_free(d);
    return 0;
}

static void random_selector(char *out, size_t cap)
{
    static const char *const fields[] = {"a", "b", "s.c"};
    static const char *const ops[] = {"$eq", "$gt", "$gte", "$lt", "$lte", "$ne", "$exists"};
    char v1[64], v2[64];
    random_value(v1, sizeof v1);
    random_value(v2, sizeof v2);
    const char *f1 = fields[rnd(3)], *f2 = fields[rnd(3)];
    const char *o1 = ops[rnd(7)], *o2 = ops[rnd(5)];
    if (strcmp(o1, "$exists") == 0)
        snprintf(v1, sizeof v1, "%s", rnd(2) ? "true" : "false");
    switch (rnd(4)) {
    case 0: snprintf(out, cap, "{\"%s\":{\"%s\":%s}}", f1, o1, v1); break;
    case 1: snprintf(out, cap, "{\"%s\":{\"%s\":%s},\"%s\":{\"%s\":%s}}", f1, o1, v1, f2, o2, v2); break;
    case 2: snprintf(out, cap, "{\"%s\":{\"%s\":%s,\"%s\":%s}}", f1, o2, v1, ops[rnd(5)], v2); break;
    default: snprintf(out, cap, "{\"$or\":[{\"%s\":{\"%s\":%s}},{\"%s\":%s}]}", f1, o1, v1, f2, v2); break;
    }
}

static void test_random_equivalence(void **state)
{
    (void)state;
    st_db *dbs[2] = {open_db("mango-rnd-ix"), open_db("mango-rnd-plain")};
    add_index(dbs[0], "{\"index\":{\"fields\":[\"a\"]}}", NULL, 0);
    add_index(dbs[0], "{\"index\":{\"fields\":[\"a\",\"b\"]}}", NULL, 0);
    add_index(dbs[0], "{\"index\":{\"fields\":[\"s.c\"]}}", NULL, 0);
    add_index(dbs[0], "{\"index\":{\"fields\":[{\"b\":\"desc\"}]}}", NULL, 0);
    for (unsigned round = 0; round < 12; round++) {
        for (int k = 0; k < 40; k++)
            random_step(dbs, 2);
        for (int qn = 0; qn < 25; qn++) {
            char sel[512], q[700];
            random_selector(sel, sizeof sel);
            snprintf(q, sizeof q, "{\"selector\":%s,\"limit\":1000}", sel);
            result a = find(dbs[0], q), b = find(dbs[1], q);
            assert_int_equal(a.st, ST_OK);
            assert_int_equal(b.st, ST_OK);
            /* By hand: every live document matched. */
            st_json_doc *sd = NULL;
            st_selector *s = NULL;
            assert_int_equal(st_json_parse(sel, strlen(sel), NULL, &sd, NULL), ST_OK);
            assert_int_equal(st_selector_compile(st_json_doc_root(sd), &s, NULL), ST_OK);
            brute br = {s, NULL, 0};
            st_alldocs_opts o;
            st_alldocs_opts_init(&o);
            o.include_docs = true;
            assert_int_equal(st_db_all_docs(dbs[1], &o, NULL, brute_row, &br, NULL), ST_OK);
            if (a.n)
                qsort(a.ids, a.n, sizeof *a.ids, cmp_str);
            if (b.n)
                qsort(b.ids, b.n, sizeof *b.ids, cmp_str);
            if (a.n != br.n || b.n != br.n)
                fprintf(stderr, "%s: index %zu, scan %zu, by hand %zu\n", sel, a.n, b.n, br.n);
            assert_int_equal(a.n, br.n);
            assert_int_equal(b.n, br.n);
            for (size_t i = 0; i < br.n; i++) {
                assert_string_equal(a.ids[i], br.ids[i]);
                assert_string_equal(b.ids[i], br.ids[i]);
                free(br.ids[i]);
            }
            free(br.ids);
            st_selector_free(s);
            st_json_doc_free(sd);
            result_free(&a);
            result_free(&b);
        }
        /* Sorted through an index: in collation order. */
        result r = find(dbs[0], "{\"selector\":{\"a\":{\"$gt\":null}},\"sort\":[\"a\"],"
                                "\"fields\":[\"a\"],\"limit\":1000}");
        assert_int_equal(r.st, ST_OK);
        result_free(&r);
    }
    /* Purge one document with an index entry: the entry goes too. */
    char rev[ST_REV_STR_MAX], req[256];
    for (int i = 0; i < R_DOCS; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%02d", i);
        rev_of(dbs[0], id, rev);
        if (!rev[0])
            continue;
        snprintf(req, sizeof req, "{\"%s\":[\"%s\"]}", id, rev);
        for (int k = 0; k < 2; k++) {
            st_json_doc *pd = NULL;
            st_buf out = ST_BUF_INIT;
            st_jw w;
            assert_int_equal(st_json_parse(req, strlen(req), NULL, &pd, NULL), ST_OK);
            assert_int_equal(st_jw_init(&w, &out), ST_OK);
            assert_int_equal(st_db_purge(dbs[k], st_json_doc_root(pd), &w, NULL), ST_OK);
            st_jw_free(&w);
            st_buf_free(&out);
            st_json_doc_free(pd);
        }
        break;
    }
    result a = find(dbs[0], "{\"selector\":{\"a\":{\"$gt\":null}},\"limit\":1000}");
    result b = find(dbs[1], "{\"selector\":{\"a\":{\"$gt\":null}},\"limit\":1000}");
    assert_int_equal(a.n, b.n);
    result_free(&a);
    result_free(&b);
    close_db(dbs[0]);
    close_db(dbs[1]);
}

/* ---- selector followers --------------------------------------------------------- */

typedef struct seen {
    char id[16];
    uint64_t seq;
    bool removed;
} seen;

typedef struct follower_log {
    seen *v;
    size_t n;
} follower_log;

static int log_row(void *ctx, const st_change_row *row)
{
    follower_log *l = ctx;
    l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
    snprintf(l->v[l->n].id, sizeof l->v[l->n].id, "%s", row->id);
    l->v[l->n].seq = row->seq;
    l->v[l->n].removed = row->removed;
    if (row->json)
        assert_true((strstr(row->json, "\"removed\":true") != NULL) == row->removed);
    l->n++;
    return 0;
}

static void nothing(void *ctx) { (void)ctx; }

static void drain(st_follower *f, follower_log *l)
{
    for (int i = 0; i < 1000; i++) {
        st_follow_batch b;
        st_changes_opts o;
        st_changes_opts_init(&o);
        o.limit = 7; /* small batches: the cursor moves in steps */
        assert_int_equal(st_follow_read(f, &o, log_row, l, &b, NULL), ST_OK);
        if (b.rows == 0 && st_follow_arm(f)) {
            st_follow_disarm(f);
            return;
        }
    }
    fail();
}

static void test_selector_followers(void **state)
{
    (void)state;
    st_db *db = open_db("mango-subs");
    put(db, "{\"_id\":\"early\",\"owner\":\"u1\"}");
    const char *sels[] = {"{\"owner\":\"u1\"}", "{\"owner\":\"u2\",\"n\":{\"$gt\":1}}",
                          "{\"n\":{\"$gt\":5}}", "{\"owner\":{\"$in\":[\"u1\",\"u3\"]}}"};
    st_selector *s[4];
    st_follower *f[4], *rm = NULL;
    follower_log logs[5] = {{0}};
    for (int i = 0; i < 4; i++) {
        st_json_doc *d = NULL;
        assert_int_equal(st_json_parse(sels[i], strlen(sels[i]), NULL, &d, NULL), ST_OK);
        assert_int_equal(st_selector_compile(st_json_doc_root(d), &s[i], NULL), ST_OK);
        st_json_doc_free(d);
        assert_int_equal(st_follow_open_selector(db, 0, s[i], false, nothing, NULL, &f[i], NULL),
                         ST_OK);
        assert_true(st_follow_is_selective(f[i]));
    }
    assert_int_equal(st_follow_open_selector(db, st_db_update_seq(db), s[0], true, nothing, NULL,
                                             &rm, NULL),
                     ST_OK);
    drain(f[0], &logs[0]); /* catches up from storage: "early" */
    assert_int_equal(logs[0].n, 1);
    assert_string_equal(logs[0].v[0].id, "early");
    put(db, "{\"_id\":\"x1\",\"owner\":\"u1\",\"n\":2}");
    put(db, "{\"_id\":\"x2\",\"owner\":\"u2\",\"n\":2}");
    put(db, "{\"_id\":\"x3\",\"owner\":\"u3\",\"n\":9}");
    char rev[ST_REV_STR_MAX];
    rev_of(db, "x1", rev);
    put_f(db, "{\"_id\":\"x1\",\"_rev\":\"%s\",\"owner\":\"u2\",\"n\":7}", rev);
    for (int i = 0; i < 4; i++)
        drain(f[i], &logs[i]);
    drain(rm, &logs[4]);
    /* u1: early, then x1 at seq 2 is gone (x1 changed again): nothing more. */
    assert_int_equal(logs[0].n, 1);
    /* u2 with n > 1: x2, x1 (now u2, n 7). */
    assert_int_equal(logs[1].n, 2);
    assert_string_equal(logs[1].v[0].id, "x2");
    assert_string_equal(logs[1].v[1].id, "x1");
    /* n > 5: x3, x1. */
    assert_int_equal(logs[2].n, 2);
    /* $in (not indexable, tested every time): early, x3. */
    assert_int_equal(logs[3].n, 2);
    /* Removals: x1 matched u1 then stopped. */
    assert_int_equal(logs[4].n, 1);
    assert_string_equal(logs[4].v[0].id, "x1");
    assert_true(logs[4].v[0].removed);
    /* A reader that does not read for longer than its queue holds still
     * gets every match (from storage). */
    for (int i = 0; i < 1500; i++)
        put_f(db, "{\"_id\":\"bulk%04d\",\"owner\":\"u1\"}", i);
    drain(f[0], &logs[0]);
    assert_int_equal(logs[0].n, 1501);
    /* Deleting a matching document: a removal for the removal follower. */
    rev_of(db, "bulk0007", rev);
    put_f(db, "{\"_id\":\"bulk0007\",\"_rev\":\"%s\",\"_deleted\":true}", rev);
    size_t before = logs[4].n;
    drain(rm, &logs[4]);
    /* It also matched the bulk documents (the first row of bulk0007 is
     * gone: that document changed again). */
    assert_int_equal(logs[4].n, before + 1500);
    assert_string_equal(logs[4].v[logs[4].n - 1].id, "bulk0007");
    assert_true(logs[4].v[logs[4].n - 1].removed);
    for (size_t i = before; i + 1 < logs[4].n; i++)
        assert_false(logs[4].v[i].removed);
    /* A document that stops matching and changes again (still not
     * matching) before the follower reads: its second change queues
     * nothing, and the removal must not be lost with the first one's row. */
    rev_of(db, "bulk0008", rev);
    put_f(db, "{\"_id\":\"bulk0008\",\"_rev\":\"%s\",\"owner\":\"u9\"}", rev);
    rev_of(db, "bulk0008", rev);
    put_f(db, "{\"_id\":\"bulk0008\",\"_rev\":\"%s\",\"owner\":\"u8\"}", rev);
    before = logs[4].n;
    drain(rm, &logs[4]);
    assert_true(logs[4].n > before);
    bool told = false;
    for (size_t i = before; i < logs[4].n; i++)
        told = told || (strcmp(logs[4].v[i].id, "bulk0008") == 0 && logs[4].v[i].removed);
    assert_true(told);
    for (int i = 0; i < 4; i++) {
        st_follow_close(f[i]);
        st_selector_free(s[i]);
        free(logs[i].v);
    }
    st_follow_close(rm);
    free(logs[4].v);
    close_db(db);
}

/* Random writes with selector followers reading now and then: what each
 * has seen is what a filtered scan says (the latest matching row of every
 * matching document; with removals, the last word on every document it
 * ever saw). */
static void test_random_followers(void **state)
{
    (void)state;
    st_db *db = open_db("mango-subs-rnd");
    enum { NF = 6 };
    const char *sels[NF] = {"{\"a\":1}", "{\"a\":\"aa\"}", "{\"b\":{\"$gt\":0}}",
                            "{\"a\":2,\"b\":{\"$lt\":3}}", "{\"s.c\":{\"$exists\":true}}",
                            "{\"a\":{\"$in\":[1,2]}}"};
    st_selector *s[NF];
    st_follower *f[NF];
    follower_log logs[NF] = {{0}};
    for (int i = 0; i < NF; i++) {
        st_json_doc *d = NULL;
        assert_int_equal(st_json_parse(sels[i], strlen(sels[i]), NULL, &d, NULL), ST_OK);
        assert_int_equal(st_selector_compile(st_json_doc_root(d), &s[i], NULL), ST_OK);
        st_json_doc_free(d);
        assert_int_equal(st_follow_open_selector(db, 0, s[i], i % 2 == 0, nothing, NULL, &f[i],
                                                 NULL),
                         ST_OK);
    }
    st_db *one[1] = {db};
    for (int step = 0; step < 600; step++) {
        random_step(one, 1);
        if (rnd(20) == 0) {
            follower_log tmp = {0};
            drain(f[rnd(NF)], &tmp);
            free(tmp.v);
        }
    }
    for (int i = 0; i < NF; i++) {
        memset(&logs[i], 0, sizeof logs[i]);
        st_follow_seek(f[i], 0); /* read the whole history again: storage */
    }
    for (int i = 0; i < NF; i++)
        drain(f[i], &logs[i]);
    for (int i = 0; i < NF; i++) {
        /* Compare with a filtered scan. */
        follower_log want = {0};
        st_changes_opts o;
        st_changes_opts_init(&o);
        o.selector = s[i];
        assert_int_equal(st_db_changes(db, &o, log_row, &want, NULL, NULL, NULL), ST_OK);
        for (size_t k = 0; k < want.n; k++) {
            bool found = false;
            for (size_t j = 0; j < logs[i].n && !found; j++)
                found = logs[i].v[j].seq == want.v[k].seq && !logs[i].v[j].removed;
            assert_true(found);
        }
        free(want.v);
        free(logs[i].v);
    }
    /* Live now: every further write is seen exactly when it matches. */
    for (int i = 0; i < NF; i++)
        memset(&logs[i], 0, sizeof logs[i]);
    uint64_t from = st_db_update_seq(db);
    for (int step = 0; step < 300; step++) {
        random_step(one, 1);
        if (rnd(7) == 0) {
            int k = (int)rnd(NF);
            drain(f[k], &logs[k]);
        }
    }
    for (int i = 0; i < NF; i++) {
        drain(f[i], &logs[i]);
        follower_log want = {0};
        st_changes_opts o;
        st_changes_opts_init(&o);
        o.selector = s[i];
        o.since = from;
        assert_int_equal(st_db_changes(db, &o, log_row, &want, NULL, NULL, NULL), ST_OK);
        for (size_t k = 0; k < want.n; k++) {
            bool found = false;
            for (size_t j = 0; j < logs[i].n && !found; j++)
                found = logs[i].v[j].seq == want.v[k].seq && !logs[i].v[j].removed;
            if (!found)
                fprintf(stderr, "follower %d missed %s at %llu\n", i, want.v[k].id,
                        (unsigned long long)want.v[k].seq);
            assert_true(found);
        }
        free(want.v);
        free(logs[i].v);
    }
    for (int i = 0; i < NF; i++) {
        st_follow_close(f[i]);
        st_selector_free(s[i]);
    }
    close_db(db);
}

/* Two handles on one file (two processes, as far as the store is
 * concerned): an index made through one is kept current by the other's
 * writes. */
static void test_two_writers(void **state)
{
    (void)state;
    st_db *a = open_db("mango-two");
    char path[512];
    st_db_options o;
    st_db_options_init(&o);
    o.durability = ST_DURABLE_NORMAL;
    const char *base = getenv("SETTEE_TEST_TMP");
    snprintf(path, sizeof path, "%s/st-%d-mango-two", base ? base : "/tmp", (int)getpid());
    st_db *b = NULL;
    assert_int_equal(st_db_open(path, "mango-two", &o, &b, NULL), ST_OK);
    put(b, "{\"_id\":\"before\",\"v\":1}");
    add_index(a, "{\"index\":{\"fields\":[\"v\"]}}", NULL, 0);
    put(b, "{\"_id\":\"after\",\"v\":2}");
    char rev[ST_REV_STR_MAX];
    rev_of(b, "before", rev);
    put_f(b, "{\"_id\":\"before\",\"_rev\":\"%s\",\"v\":3}", rev);
    result r = find(a, "{\"selector\":{\"v\":{\"$gt\":0}},\"sort\":[\"v\"],\"fields\":[\"_id\"]}");
    const char *want[] = {"after", "before"};
    assert_ids(&r, want, 2);
    assert_null(r.warning);
    result_free(&r);
    assert_int_equal(st_db_close(b), ST_OK);
    close_db(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_basics),
        cmocka_unit_test(test_planner),
        cmocka_unit_test(test_paging_and_fields),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_random_equivalence),
        cmocka_unit_test(test_selector_followers),
        cmocka_unit_test(test_random_followers),
        cmocka_unit_test(test_two_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
