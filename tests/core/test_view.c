/* test_view.c — views against expected answers: every query parameter,
 * the built-in and JavaScript reduces, grouping, CouchDB's collation of
 * mixed keys (PROTOCOL-2.md C.4), include_docs; an incremental index
 * equals one built from nothing after random writes, deletes, conflicts
 * and replicated revisions; a changed design document rebuilds; hostile
 * map functions (a loop, a throw, a heap bomb, huge keys) fail cleanly.
 * SETTEE_JS names the settee-js binary under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "db_int.h"
#include "st_db.h"
#include "st_ddoc.h"
#include "view_store.h"
#include "st_jw.h"
#include "st_qs.h"
#include "st_view.h"
#include "support/tmp.h"

/* ---- fixture ------------------------------------------------------------ */

typedef struct fx {
    char path[4096];
    st_db *db;
    st_qs *qs;
    st_views *vs;
} fx;

static st_qs *make_pool(unsigned timeout_ms, const char *args)
{
    st_qs_options o;
    st_qs *qs = NULL;
    st_error e;
    const char *js = getenv("SETTEE_JS");
    if (!js)
        fail_msg("SETTEE_JS is not set");
    st_qs_options_init(&o);
    o.timeout_ms = timeout_ms;
    o.max_procs = 2;
    assert_int_equal(st_qs_new(&o, &qs, &e), ST_OK);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s %s", js, args ? args : "");
    assert_int_equal(st_qs_set_language(qs, "javascript", cmd, &e), ST_OK);
    return qs;
}

static void rm_views_dir(const char *path)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s-views'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s-views\n", path);
}

static int setup_with(void **state, unsigned timeout_ms, const char *args)
{
    static unsigned n;
    fx *f = calloc(1, sizeof *f);
    char name[64];
    snprintf(name, sizeof name, "view-%u.settee", n++);
    ts_db_path(f->path, sizeof f->path, name);
    rm_views_dir(f->path);
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    o.durability = ST_DURABLE_NORMAL;
    st_error e;
    if (st_db_open(f->path, "v", &o, &f->db, &e) != ST_OK)
        fail_msg("open: %s", e.reason);
    f->qs = make_pool(timeout_ms, args);
    st_views_options vo;
    st_views_options_init(&vo);
    vo.batch = 97; /* odd, so batches cut through everything */
    assert_int_equal(st_views_new(f->qs, &vo, &f->vs, &e), ST_OK);
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, 5000, NULL); }

static int teardown(void **state)
{
    fx *f = *state;
    st_views_free(f->vs);
    assert_int_equal(st_qs_free(f->qs), ST_OK);
    st_db_close(f->db);
    ts_db_unlink(f->path);
    rm_views_dir(f->path);
    free(f);
    return 0;
}

static void put(fx *f, const char *json)
{
    st_write_result r;
    st_error e;
    st_status st = st_db_put_json(f->db, json, strlen(json), 0, &r, &e);
    if (st != ST_OK || r.err.code != ST_OK)
        fail_msg("put %s: %s %s", json, e.reason, r.err.reason);
    st_write_results_free(&r, 1);
}

/* Put and return the new rev (malloc'd). */
static char *put_rev(fx *f, const char *json)
{
    st_write_result r;
    st_error e;
    st_status st = st_db_put_json(f->db, json, strlen(json), 0, &r, &e);
    if (st != ST_OK || r.err.code != ST_OK)
        fail_msg("put %s: %s %s", json, e.reason, r.err.reason);
    char *rev = strdup(r.rev);
    st_write_results_free(&r, 1);
    return rev;
}

static void putf(fx *f, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(f, buf);
}

/* ---- running queries ------------------------------------------------------ */

typedef struct render {
    st_buf b;
    bool any;
    bool pause_each;
    bool reduce;
} render;

static void head(void *ctx, uint64_t total, uint64_t offset)
{
    render *r = ctx;
    assert_int_equal(st_buf_printf(&r->b, "{\"total_rows\":%llu,\"offset\":%llu,\"rows\":[",
                                   (unsigned long long)total, (unsigned long long)offset),
                     ST_OK);
}

static int row(void *ctx, const st_view_row *v)
{
    render *r = ctx;
    st_jw w;
    if (r->any)
        assert_int_equal(st_buf_addc(&r->b, ','), ST_OK);
    r->any = true;
    assert_int_equal(st_jw_init(&w, &r->b), ST_OK);
    st_jw_obj_open(&w);
    if (v->id) {
        st_jw_key(&w, "id");
        st_jw_str(&w, v->id);
    }
    st_jw_key(&w, "key");
    st_jw_raw(&w, v->key, v->key_len);
    st_jw_key(&w, "value");
    st_jw_raw(&w, v->value, v->value_len);
    if (v->has_doc) {
        st_jw_key(&w, "doc");
        if (v->doc)
            st_jw_raw(&w, v->doc, v->doc_len);
        else
            st_jw_null(&w);
    }
    st_jw_obj_close(&w);
    assert_int_equal(st_jw_status(&w), ST_OK);
    st_jw_free(&w);
    return r->pause_each;
}

/* The query's answer as CouchDB shapes it; NULL and *st set on failure. */
static char *query_st(fx *f, const char *ddoc, const char *view, const st_view_params *p,
                      bool pause_each, bool update, st_status *out_st, st_error *e)
{
    st_view *v = NULL;
    st_status st = st_view_open(f->vs, f->db, ddoc, view, &v, e);
    render r = {ST_BUF_INIT, false, pause_each, false};
    if (st == ST_OK)
        st = st_view_params_check(v, p, e);
    if (st == ST_OK && update)
        st = st_view_update(v, e);
    if (st == ST_OK) {
        r.reduce = st_view_params_reducing(v, p);
        if (r.reduce)
            assert_int_equal(st_buf_adds(&r.b, "{\"rows\":["), ST_OK);
        st_view_cursor cur;
        st_view_cursor_init(&cur);
        st_view_sink s = {r.reduce ? NULL : head, row, &r};
        for (int i = 0; st == ST_OK && !cur.done && i < 1000000; i++)
            st = st_view_query(v, p, &cur, &s, e);
        st_view_cursor_free(&cur);
        assert_int_equal(st_buf_adds(&r.b, "]}"), ST_OK);
    }
    st_view_close(v);
    *out_st = st;
    if (st != ST_OK) {
        st_buf_free(&r.b);
        return NULL;
    }
    return st_buf_take(&r.b, NULL);
}

static char *query(fx *f, const char *ddoc, const char *view, const st_view_params *p)
{
    st_status st;
    st_error e;
    char *a = query_st(f, ddoc, view, p, false, true, &st, &e);
    if (!a)
        fail_msg("query %s/%s: %s", ddoc, view, e.reason);
    /* The same answer when the sink pauses after every row. */
    char *b = query_st(f, ddoc, view, p, true, false, &st, &e);
    if (!b)
        fail_msg("paused query %s/%s: %s", ddoc, view, e.reason);
    assert_string_equal(a, b);
    free(b);
    return a;
}

static void expect(fx *f, const char *ddoc, const char *view, const st_view_params *p,
                   const char *want)
{
    char *got = query(f, ddoc, view, p);
    if (strcmp(got, want) != 0)
        fail_msg("%s/%s\n got: %s\nwant: %s", ddoc, view, got, want);
    free(got);
}

static void expect_error(fx *f, const char *ddoc, const char *view, const st_view_params *p,
                         st_status code, const char *reason)
{
    st_status st;
    st_error e;
    char *got = query_st(f, ddoc, view, p, false, true, &st, &e);
    if (got)
        fail_msg("%s/%s: expected an error, got %s", ddoc, view, got);
    assert_int_equal(st, code);
    if (reason && strstr(e.reason, reason) == NULL)
        fail_msg("reason '%s' does not contain '%s'", e.reason, reason);
}

/* Parsed JSON kept for the test's length. */
static st_json_doc *kept[256];
static size_t nkept;

static const st_json *J(const char *text)
{
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse(text, strlen(text), NULL, &d, NULL), ST_OK);
    assert_true(nkept < 256);
    kept[nkept++] = d;
    return st_json_doc_root(d);
}

static void free_kept(void)
{
    while (nkept)
        st_json_doc_free(kept[--nkept]);
}

static st_view_params P(void)
{
    st_view_params p;
    st_view_params_init(&p);
    return p;
}

/* ---- tests ----------------------------------------------------------------- */

static void basic_ddoc(fx *f)
{
    put(f, "{\"_id\":\"_design/t\",\"views\":{"
           "\"by_k\":{\"map\":\"function(doc){ if (doc.k !== undefined) emit(doc.k, doc.v); }\"},"
           "\"sum\":{\"map\":\"function(doc){ if (doc.k !== undefined) emit(doc.k, doc.v); }\","
           "\"reduce\":\"_sum\"},"
           "\"count\":{\"map\":\"function(doc){ if (doc.k !== undefined) emit(doc.k, doc.v); }\","
           "\"reduce\":\"_count\"},"
           "\"stats\":{\"map\":\"function(doc){ if (doc.k !== undefined) emit(doc.k, doc.v); }\","
           "\"reduce\":\"_stats\"},"
           "\"js\":{\"map\":\"function(doc){ if (doc.k !== undefined) emit(doc.k, doc.v); }\","
           "\"reduce\":\"function(k, v, re){ return sum(v); }\"}}}");
    static const char *const docs[] = {
        "{\"_id\":\"v01\",\"k\":\"a\",\"v\":1}", "{\"_id\":\"v02\",\"k\":\"b\",\"v\":2}",
        "{\"_id\":\"v03\",\"k\":\"a\",\"v\":3}", "{\"_id\":\"v04\",\"k\":\"b\",\"v\":4}",
        "{\"_id\":\"v05\",\"k\":\"c\",\"v\":5}", "{\"_id\":\"v06\",\"k\":\"b\",\"v\":6}",
        "{\"_id\":\"nokey\"}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        put(f, docs[i]);
}

#define R(id, k, v) "{\"id\":\"" id "\",\"key\":" k ",\"value\":" v "}"

static void test_map_params(void **state)
{
    fx *f = *state;
    basic_ddoc(f);
    const char *ddoc = "_design/t";
    st_view_params p = P();
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "\"a\"", "1") "," R("v03", "\"a\"", "3")
           "," R("v02", "\"b\"", "2") "," R("v04", "\"b\"", "4") "," R("v06", "\"b\"", "6") ","
           R("v05", "\"c\"", "5") "]}");
    p = P();
    p.start_key = p.end_key = J("\"b\"");
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":2,\"rows\":[" R("v02", "\"b\"", "2") "," R("v04", "\"b\"", "4")
           "," R("v06", "\"b\"", "6") "]}");
    p = P();
    p.descending = true;
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v05", "\"c\"", "5") "," R("v06", "\"b\"", "6")
           "," R("v04", "\"b\"", "4") "," R("v02", "\"b\"", "2") "," R("v03", "\"a\"", "3") ","
           R("v01", "\"a\"", "1") "]}");
    p = P();
    p.start_key = J("\"b\"");
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":2,\"rows\":[" R("v02", "\"b\"", "2") "," R("v04", "\"b\"", "4")
           "," R("v06", "\"b\"", "6") "," R("v05", "\"c\"", "5") "]}");
    p = P();
    p.end_key = J("\"b\"");
    p.inclusive_end = false;
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "\"a\"", "1") "," R("v03", "\"a\"", "3")
           "]}");
    p = P();
    p.start_key = J("\"b\"");
    p.start_docid = "v04";
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":3,\"rows\":[" R("v04", "\"b\"", "4") "," R("v06", "\"b\"", "6")
           "," R("v05", "\"c\"", "5") "]}");
    p = P();
    p.end_key = J("\"b\"");
    p.end_docid = "v04";
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "\"a\"", "1") "," R("v03", "\"a\"", "3")
           "," R("v02", "\"b\"", "2") "," R("v04", "\"b\"", "4") "]}");
    p.inclusive_end = false;
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "\"a\"", "1") "," R("v03", "\"a\"", "3")
           "," R("v02", "\"b\"", "2") "]}");
    p = P();
    p.descending = true;
    p.start_key = J("\"b\"");
    p.end_key = J("\"a\"");
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":1,\"rows\":[" R("v06", "\"b\"", "6") "," R("v04", "\"b\"", "4")
           "," R("v02", "\"b\"", "2") "," R("v03", "\"a\"", "3") "," R("v01", "\"a\"", "1") "]}");
    p.inclusive_end = false;
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":1,\"rows\":[" R("v06", "\"b\"", "6") "," R("v04", "\"b\"", "4")
           "," R("v02", "\"b\"", "2") "]}");
    p = P();
    p.descending = true;
    p.start_key = J("\"b\"");
    p.start_docid = "v04";
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":2,\"rows\":[" R("v04", "\"b\"", "4") "," R("v02", "\"b\"", "2")
           "," R("v03", "\"a\"", "3") "," R("v01", "\"a\"", "1") "]}");
    p = P();
    p.start_key = J("\"a\"");
    p.end_key = J("\"b\"");
    p.descending = true;
    expect_error(f, ddoc, "by_k", &p, ST_E_QUERY_PARSE,
                 "No rows can match your key range, reverse your start_key and end_key or set "
                 "descending=false");
    p.descending = false;
    p.start_key = J("\"b\"");
    p.end_key = J("\"a\"");
    expect_error(f, ddoc, "by_k", &p, ST_E_QUERY_PARSE, "or set descending=true");
    p = P();
    p.limit = 2;
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "\"a\"", "1") "," R("v03", "\"a\"", "3")
           "]}");
    p.skip = 2;
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":2,\"rows\":[" R("v02", "\"b\"", "2") "," R("v04", "\"b\"", "4")
           "]}");
    p = P();
    p.limit = 0;
    expect(f, ddoc, "by_k", &p, "{\"total_rows\":6,\"offset\":0,\"rows\":[]}");
    p = P();
    p.skip = 100;
    expect(f, ddoc, "by_k", &p, "{\"total_rows\":6,\"offset\":6,\"rows\":[]}");
    p = P();
    p.keys = J("[\"c\",\"a\",\"zz\"]");
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":5,\"rows\":[" R("v05", "\"c\"", "5") "," R("v01", "\"a\"", "1")
           "," R("v03", "\"a\"", "3") "]}");
    p.descending = true;
    expect(f, ddoc, "by_k", &p,
           "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v05", "\"c\"", "5") "," R("v03", "\"a\"", "3")
           "," R("v01", "\"a\"", "1") "]}");
    p = P();
    p.keys = J("[\"c\"]");
    p.start_key = J("\"a\"");
    expect_error(f, ddoc, "by_k", &p, ST_E_QUERY_PARSE,
                 "`keys` is incompatible with `key`, `start_key` and `end_key`");
    p = P();
    p.group = 1;
    expect_error(f, ddoc, "by_k", &p, ST_E_QUERY_PARSE, "Invalid use of grouping on a map view.");
    p = P();
    p.reduce = 1;
    expect_error(f, ddoc, "by_k", &p, ST_E_QUERY_PARSE, "Reduce is invalid for map-only views.");
    p = P();
    expect_error(f, ddoc, "nope", &p, ST_E_NOT_FOUND, "missing_named_view");
    expect_error(f, "_design/nope", "by_k", &p, ST_E_NOT_FOUND, "missing");
    free_kept();
}

static void test_reduce(void **state)
{
    fx *f = *state;
    basic_ddoc(f);
    const char *ddoc = "_design/t";
    st_view_params p = P();
    expect(f, ddoc, "sum", &p, "{\"rows\":[{\"key\":null,\"value\":21}]}");
    expect(f, ddoc, "count", &p, "{\"rows\":[{\"key\":null,\"value\":6}]}");
    expect(f, ddoc, "js", &p, "{\"rows\":[{\"key\":null,\"value\":21}]}");
    expect(f, ddoc, "stats", &p,
           "{\"rows\":[{\"key\":null,\"value\":{\"sum\":21,\"count\":6,\"min\":1,\"max\":6,"
           "\"sumsqr\":91}}]}");
    p.group = 1;
    const char *grouped = "{\"rows\":[{\"key\":\"a\",\"value\":4},{\"key\":\"b\",\"value\":12},"
                          "{\"key\":\"c\",\"value\":5}]}";
    expect(f, ddoc, "sum", &p, grouped);
    expect(f, ddoc, "js", &p, grouped);
    expect(f, ddoc, "count", &p,
           "{\"rows\":[{\"key\":\"a\",\"value\":2},{\"key\":\"b\",\"value\":3},"
           "{\"key\":\"c\",\"value\":1}]}");
    p.descending = true;
    expect(f, ddoc, "sum", &p,
           "{\"rows\":[{\"key\":\"c\",\"value\":5},{\"key\":\"b\",\"value\":12},"
           "{\"key\":\"a\",\"value\":4}]}");
    p = P();
    p.group = 1;
    p.skip = 1;
    p.limit = 1;
    expect(f, ddoc, "sum", &p, "{\"rows\":[{\"key\":\"b\",\"value\":12}]}");
    p = P();
    p.start_key = p.end_key = J("\"b\"");
    expect(f, ddoc, "sum", &p, "{\"rows\":[{\"key\":null,\"value\":12}]}");
    p = P();
    p.start_key = J("\"b\"");
    expect(f, ddoc, "sum", &p, "{\"rows\":[{\"key\":null,\"value\":17}]}");
    p.start_docid = "v04";
    expect(f, ddoc, "sum", &p, "{\"rows\":[{\"key\":null,\"value\":15}]}");
    p = P();
    p.start_key = J("\"x\"");
    expect(f, ddoc, "sum", &p, "{\"rows\":[]}");
    p = P();
    p.keys = J("[\"c\",\"a\",\"nope\"]");
    p.group = 1;
    expect(f, ddoc, "sum", &p,
           "{\"rows\":[{\"key\":\"c\",\"value\":5},{\"key\":\"a\",\"value\":4}]}");
    p.group = -1;
    expect_error(f, ddoc, "sum", &p, ST_E_QUERY_PARSE,
                 "Multi-key fetches for reduce views must use `group=true`");
    p = P();
    p.reduce = 0;
    p.limit = 1;
    expect(f, ddoc, "sum", &p,
           "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "\"a\"", "1") "]}");
    p = P();
    p.include_docs = true;
    expect_error(f, ddoc, "sum", &p, ST_E_QUERY_PARSE, "`include_docs` is invalid for reduce");
    p = P();
    p.conflicts = 1;
    expect_error(f, ddoc, "sum", &p, ST_E_QUERY_PARSE, "`conflicts` is invalid for reduce views.");
    p = P();
    p.group = 0;
    p.group_level = 1;
    expect_error(f, ddoc, "sum", &p, ST_E_QUERY_PARSE,
                 "Can't specify group=false and group_level>0 at the same time");
    free_kept();
}

static void test_group_level(void **state)
{
    fx *f = *state;
    put(f, "{\"_id\":\"_design/d\",\"views\":{\"date\":{\"map\":"
           "\"function(doc){ emit(doc.d, doc.n); }\",\"reduce\":\"_sum\"}}}");
    putf(f, "{\"_id\":\"a\",\"d\":[2020,1,1],\"n\":1}");
    putf(f, "{\"_id\":\"b\",\"d\":[2020,1,2],\"n\":2}");
    putf(f, "{\"_id\":\"c\",\"d\":[2020,2,1],\"n\":4}");
    putf(f, "{\"_id\":\"d\",\"d\":[2021,1,1],\"n\":8}");
    putf(f, "{\"_id\":\"e\",\"d\":[2021],\"n\":16}");
    putf(f, "{\"_id\":\"f\",\"d\":\"str\",\"n\":32}");
    putf(f, "{\"_id\":\"g\",\"d\":7,\"n\":64}");
    st_view_params p = P();
    p.group_level = 1;
    expect(f, "_design/d", "date", &p,
           "{\"rows\":[{\"key\":7,\"value\":64},{\"key\":\"str\",\"value\":32},"
           "{\"key\":[2020],\"value\":7},{\"key\":[2021],\"value\":24}]}");
    p.group_level = 2;
    expect(f, "_design/d", "date", &p,
           "{\"rows\":[{\"key\":7,\"value\":64},{\"key\":\"str\",\"value\":32},"
           "{\"key\":[2020,1],\"value\":3},{\"key\":[2020,2],\"value\":4},"
           "{\"key\":[2021],\"value\":16},{\"key\":[2021,1],\"value\":8}]}");
    p.group_level = 0;
    expect(f, "_design/d", "date", &p, "{\"rows\":[{\"key\":null,\"value\":127}]}");
    p = P();
    p.group_level = 1;
    p.start_key = J("[2020]");
    p.end_key = J("[2020,{}]");
    expect(f, "_design/d", "date", &p, "{\"rows\":[{\"key\":[2020],\"value\":7}]}");
    p.group_level = 3;
    p.descending = true;
    p.start_key = J("[2020,{}]");
    p.end_key = J("[2020]");
    expect(f, "_design/d", "date", &p,
           "{\"rows\":[{\"key\":[2020,2,1],\"value\":4},{\"key\":[2020,1,2],\"value\":2},"
           "{\"key\":[2020,1,1],\"value\":1}]}");
    free_kept();
}

static void test_collation(void **state)
{
    fx *f = *state;
    /* PROTOCOL-2.md C.4's order, put in a scrambled order. */
    static const char *const order[] = {
        "null", "false", "true", "-1", "0", "1", "2", "3.5", "4", "\"_\"", "\"~\"", "\"1\"",
        "\"a\"", "\"A\"", "\"aa\"", "\"b\"", "\"B\"", "\"ba\"", "\"e\"", "\"\xc3\xa9\"", "\"f\"",
        "[\"a\"]", "[\"b\"]", "[\"b\",\"c\"]", "[\"b\",\"c\",\"a\"]", "[\"b\",\"d\"]",
        "{\"a\":1}", "{\"a\":2}", "{\"b\":1}", "{\"b\":2,\"a\":1}",
    };
    size_t n = sizeof order / sizeof order[0];
    put(f, "{\"_id\":\"_design/c\",\"views\":{\"k\":{\"map\":\"function(doc){ emit(doc.k, null); }\"},"
           "\"raw\":{\"map\":\"function(doc){ emit(doc.k, null); }\",\"options\":{\"collation\":\"raw\"}}}}");
    for (size_t i = 0; i < n; i++) {
        size_t j = (i * 7 + 3) % n; /* 7 is prime to 30: every index once */
        putf(f, "{\"_id\":\"d%02zu\",\"k\":%s}", j, order[j]);
    }
    st_view_params p = P();
    char *got = query(f, "_design/c", "k", &p);
    st_buf want = ST_BUF_INIT;
    assert_int_equal(st_buf_printf(&want, "{\"total_rows\":%zu,\"offset\":0,\"rows\":[", n), ST_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(st_buf_printf(&want, "%s{\"id\":\"d%02zu\",\"key\":%s,\"value\":null}",
                                       i ? "," : "", i, order[i]),
                         ST_OK);
    assert_int_equal(st_buf_adds(&want, "]}"), ST_OK);
    assert_string_equal(got, want.data);
    free(got);
    st_buf_free(&want);
    /* Numbers by value: 1.0 finds 1. */
    p.start_key = p.end_key = J("1.0");
    expect(f, "_design/c", "k", &p,
           "{\"total_rows\":30,\"offset\":5,\"rows\":[{\"id\":\"d05\",\"key\":1,\"value\":null}]}");
    /* A prefix range of arrays. */
    p = P();
    p.start_key = J("[\"b\"]");
    p.end_key = J("[\"b\",{}]");
    expect(f, "_design/c", "k", &p,
           "{\"total_rows\":30,\"offset\":22,\"rows\":["
           "{\"id\":\"d22\",\"key\":[\"b\"],\"value\":null},"
           "{\"id\":\"d23\",\"key\":[\"b\",\"c\"],\"value\":null},"
           "{\"id\":\"d24\",\"key\":[\"b\",\"c\",\"a\"],\"value\":null},"
           "{\"id\":\"d25\",\"key\":[\"b\",\"d\"],\"value\":null}]}");
    /* raw: Erlang term order, strings by bytes. */
    p = P();
    p.limit = 9;
    expect(f, "_design/c", "raw", &p,
           "{\"total_rows\":30,\"offset\":0,\"rows\":["
           "{\"id\":\"d03\",\"key\":-1,\"value\":null},{\"id\":\"d04\",\"key\":0,\"value\":null},"
           "{\"id\":\"d05\",\"key\":1,\"value\":null},{\"id\":\"d06\",\"key\":2,\"value\":null},"
           "{\"id\":\"d07\",\"key\":3.5,\"value\":null},{\"id\":\"d08\",\"key\":4,\"value\":null},"
           "{\"id\":\"d01\",\"key\":false,\"value\":null},{\"id\":\"d00\",\"key\":null,\"value\":null},"
           "{\"id\":\"d02\",\"key\":true,\"value\":null}]}");
    free_kept();
}

static void test_include_docs(void **state)
{
    fx *f = *state;
    put(f, "{\"_id\":\"_design/i\",\"views\":{"
           "\"self\":{\"map\":\"function(doc){ if (doc.t) emit(doc.t, null); }\"},"
           "\"link\":{\"map\":\"function(doc){ if (doc.t) emit(doc.t, {_id: doc.other}); }\"}}}");
    char *r1 = put_rev(f, "{\"_id\":\"p\",\"t\":1,\"other\":\"q\"}");
    char *r2 = put_rev(f, "{\"_id\":\"q\",\"t\":2,\"other\":\"gone\"}");
    st_view_params p = P();
    p.include_docs = true;
    char want[2048];
    snprintf(want, sizeof want,
             "{\"total_rows\":2,\"offset\":0,\"rows\":["
             "{\"id\":\"p\",\"key\":1,\"value\":null,\"doc\":{\"_id\":\"p\",\"_rev\":\"%s\",\"t\":1,"
             "\"other\":\"q\"}},"
             "{\"id\":\"q\",\"key\":2,\"value\":null,\"doc\":{\"_id\":\"q\",\"_rev\":\"%s\",\"t\":2,"
             "\"other\":\"gone\"}}]}",
             r1, r2);
    expect(f, "_design/i", "self", &p, want);
    snprintf(want, sizeof want,
             "{\"total_rows\":2,\"offset\":0,\"rows\":["
             "{\"id\":\"p\",\"key\":1,\"value\":{\"_id\":\"q\"},\"doc\":{\"_id\":\"q\",\"_rev\":\"%s\","
             "\"t\":2,\"other\":\"gone\"}},"
             "{\"id\":\"q\",\"key\":2,\"value\":{\"_id\":\"gone\"},\"doc\":null}]}",
             r2);
    expect(f, "_design/i", "link", &p, want);
    free(r1);
    free(r2);
}

static void test_emits(void **state)
{
    fx *f = *state;
    put(f, "{\"_id\":\"_design/e\",\"views\":{\"m\":{\"map\":"
           "\"function(doc){ emit(doc.a, 1); emit(doc.a, 2); if (doc.b) emit([doc.b], null); }\","
           "\"reduce\":\"_count\"}}}");
    put(f, "{\"_id\":\"x\",\"a\":1,\"b\":\"z\"}");
    put(f, "{\"_id\":\"_design/other\",\"a\":1}"); /* not mapped: a design document */
    st_view_params p = P();
    p.reduce = 0;
    expect(f, "_design/e", "m", &p,
           "{\"total_rows\":3,\"offset\":0,\"rows\":[{\"id\":\"x\",\"key\":1,\"value\":1},"
           "{\"id\":\"x\",\"key\":1,\"value\":2},{\"id\":\"x\",\"key\":[\"z\"],\"value\":null}]}");
    /* An edit replaces the document's rows; a delete drops them. */
    st_write_result r;
    st_error e;
    st_json_doc *d = NULL;
    char buf[256];
    st_buf got = ST_BUF_INIT;
    assert_int_equal(st_db_get(f->db, "x", NULL, &got, &e), ST_OK);
    const char *rev = strstr(got.data, "\"_rev\":\"") + 8;
    snprintf(buf, sizeof buf, "{\"_id\":\"x\",\"_rev\":\"%.*s\",\"a\":5}",
             (int)(strchr(rev, '"') - rev), rev);
    assert_int_equal(st_db_put_json(f->db, buf, strlen(buf), 0, &r, &e), ST_OK);
    assert_int_equal(r.err.code, ST_OK);
    expect(f, "_design/e", "m", &p,
           "{\"total_rows\":2,\"offset\":0,\"rows\":[{\"id\":\"x\",\"key\":5,\"value\":1},"
           "{\"id\":\"x\",\"key\":5,\"value\":2}]}");
    snprintf(buf, sizeof buf, "{\"_id\":\"x\",\"_rev\":\"%s\",\"_deleted\":true}", r.rev);
    st_write_results_free(&r, 1);
    assert_int_equal(st_db_put_json(f->db, buf, strlen(buf), 0, &r, &e), ST_OK);
    st_write_results_free(&r, 1);
    expect(f, "_design/e", "m", &p, "{\"total_rows\":0,\"offset\":0,\"rows\":[]}");
    p = P();
    expect(f, "_design/e", "m", &p, "{\"rows\":[]}");
    st_buf_free(&got);
    st_json_doc_free(d);
}

static void test_reduce_errors(void **state)
{
    fx *f = *state;
    put(f, "{\"_id\":\"_design/s\",\"views\":{"
           "\"sum\":{\"map\":\"function(doc){ emit(doc._id, doc.v); }\",\"reduce\":\"_sum\"}}}");
    put(f, "{\"_id\":\"_design/x\",\"views\":{"
           "\"stats\":{\"map\":\"function(doc){ emit(doc._id, doc.v); }\",\"reduce\":\"_stats\"}}}");
    put(f, "{\"_id\":\"a\",\"v\":1}");
    put(f, "{\"_id\":\"b\",\"v\":\"str\"}");
    st_view_params p = P();
    char *got = query(f, "_design/s", "sum", &p);
    assert_non_null(strstr(got, "\"error\":\"builtin_reduce_error\""));
    free(got);
    expect_error(f, "_design/x", "stats", &p, ST_E_INVALID_VALUE, "_stats");
}

/* ---- hostile map functions -------------------------------------------------- */

/* A short deadline for the loop, a small heap for the bomb. */
static int setup_fast(void **state) { return setup_with(state, 6000, "--heap-max=67108864"); }

static void set_map(fx *f, const char *id, const char *map, char **rev)
{
    char buf[4096];
    if (*rev)
        snprintf(buf, sizeof buf, "{\"_id\":\"%s\",\"_rev\":\"%s\",\"views\":{\"v\":{\"map\":\"%s\"}}}",
                 id, *rev, map);
    else
        snprintf(buf, sizeof buf, "{\"_id\":\"%s\",\"views\":{\"v\":{\"map\":\"%s\"}}}", id, map);
    free(*rev);
    *rev = put_rev(f, buf);
}

static void test_hostile(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 20; i++)
        putf(f, "{\"_id\":\"d%02d\",\"n\":%d}", i, i);
    char *rev = NULL;
    st_view_params p = P();
    st_status st;
    st_error e;
    /* A loop: the process is killed at its deadline; the index stays put. */
    set_map(f, "_design/h", "function(doc){ if (doc.n == 7) while(true){} emit(doc.n, null); }",
            &rev);
    time_t t0 = time(NULL);
    char *got = query_st(f, "_design/h", "v", &p, false, true, &st, &e);
    assert_null(got);
    assert_int_equal(st, ST_E_OS_PROCESS);
    assert_true(time(NULL) - t0 < 15);
    /* A throw skips the document. */
    set_map(f, "_design/h", "function(doc){ if (doc.n % 2) throw('odd'); emit(doc.n, null); }", &rev);
    got = query(f, "_design/h", "v", &p);
    assert_non_null(strstr(got, "\"total_rows\":10,"));
    free(got);
    /* A heap bomb fails in that document only. */
    set_map(f, "_design/h",
            "function(doc){ if (doc.n == 3) { var a = []; while (true)"
            " a.push('x'.repeat(100000) + a.length); } emit(doc.n, null); }",
            &rev);
    got = query(f, "_design/h", "v", &p);
    assert_non_null(strstr(got, "\"total_rows\":19,"));
    free(got);
    /* A 10 MB key is kept; a 20 MB one is refused for that document. */
    set_map(f, "_design/h",
            "function(doc){ if (doc.n == 1) emit('k'.repeat(10000000), 1);"
            " else if (doc.n == 2) emit('k'.repeat(20000000), 2); else emit(doc.n, 0); }",
            &rev);
    p.descending = true;
    p.limit = 1;
    got = query(f, "_design/h", "v", &p);
    if (!strstr(got, "\"total_rows\":19,"))
        fail_msg("got %.300s", got);
    assert_true(strlen(got) > 10000000);
    free(got);
    free(rev);
    rev = NULL;
    free_kept();
}

/* A map that fails while later batches are already queued on both
 * mappers: the build stops with the error, nothing after the failure is
 * claimed, and the build with a mended function maps every document. */
static void test_fail_mid_build(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 1200; i++)
        putf(f, "{\"_id\":\"d%04d\",\"n\":%d}", i, i);
    char *rev = NULL;
    st_view_params p = P();
    p.limit = 1;
    st_status st;
    st_error e;
    set_map(f, "_design/m", "function(doc){ if (doc.n == 700) while(true){} emit(doc.n, null); }",
            &rev);
    char *got = query_st(f, "_design/m", "v", &p, false, true, &st, &e);
    assert_null(got);
    assert_int_equal(st, ST_E_OS_PROCESS);
    set_map(f, "_design/m", "function(doc){ emit(doc.n, null); }", &rev);
    got = query(f, "_design/m", "v", &p);
    if (!strstr(got, "\"total_rows\":1200,"))
        fail_msg("got %.300s", got);
    free(got);
    free(rev);
    free_kept();
}

/* ---- incremental == full ------------------------------------------------------ */

#define NDOCS 3000

static const char *rand_views(unsigned salt, char *buf, size_t cap)
{
    /* The salt is a comment: same functions, another signature. */
    snprintf(buf, cap,
             "\"views\":{"
             "\"m\":{\"map\":\"function(doc){ /*%u*/ if (doc.k === undefined) return;"
             " emit(doc.k, doc.n); emit([doc.k %% 5, doc.k], doc.n); emit(doc.k, 1); emit('s' + doc.k, null);"
             " if (doc.k %% 3 == 0) emit(doc.k, 2); }\"},"
             "\"s\":{\"map\":\"function(doc){ /*%u*/ if (doc.k !== undefined) { emit(doc.k, doc.n);"
             " emit([doc.k %% 5, doc.k], doc.n); } }\",\"reduce\":\"_sum\"},"
             "\"c\":{\"map\":\"function(doc){ /*%u*/ if (doc.k !== undefined) emit([doc.k %% 7, doc._id], 1); }\","
             "\"reduce\":\"_count\"},"
             "\"j\":{\"map\":\"function(doc){ /*%u*/ if (doc.k !== undefined) emit(doc.k %% 11, doc.n); }\","
             "\"reduce\":\"function(k, v, r){ var s = 0; for (var i = 0; i < v.length; i++) s += v[i]; return s; }\"},"
             "\"st\":{\"map\":\"function(doc){ /*%u*/ if (doc.k !== undefined) emit(doc.k, doc.n); }\","
             "\"reduce\":\"_stats\"}}",
             salt, salt, salt, salt, salt);
    return buf;
}

static unsigned rnd_state = 12345;
static unsigned rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) & 0xFFFFFF;
}

typedef struct qcase {
    const char *view;
    int group;
    int level;
    bool reduce;
} qcase;

/* Same answers from both design documents for a spread of queries. */
static void compare(fx *f, const char *a, const char *b)
{
    static const qcase cases[] = {
        {"m", -1, -1, false}, {"s", -1, -1, true},  {"s", 1, -1, true}, {"s", -1, 1, true},
        {"c", -1, 1, true},   {"c", -1, -1, true},  {"j", 1, -1, true}, {"st", 1, -1, true},
        {"st", -1, -1, true}, {"s", -1, -1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int r = 0; r < 4; r++) {
            st_view_params p = P();
            p.group = cases[i].group;
            p.group_level = cases[i].level;
            if (!cases[i].reduce)
                p.reduce = 0;
            if (r == 1) {
                char k[64];
                snprintf(k, sizeof k, "%u", rnd() % 200);
                p.start_key = J(k);
                snprintf(k, sizeof k, "[%u]", rnd() % 5);
                p.end_key = J(k);
            } else if (r == 2) {
                char k[64];
                unsigned g = rnd() % 5;
                snprintf(k, sizeof k, "[%u]", g);
                p.start_key = J(k);
                snprintf(k, sizeof k, "[%u,{}]", g);
                p.end_key = J(k);
                if (strcmp(cases[i].view, "c") == 0 || strcmp(cases[i].view, "j") == 0)
                    p.start_key = p.end_key = NULL;
                p.descending = rnd() % 2;
                if (p.descending) {
                    const st_json *t = p.start_key;
                    p.start_key = p.end_key;
                    p.end_key = t;
                }
            } else if (r == 3) {
                p.skip = rnd() % 50;
                p.limit = 1 + rnd() % 40;
                p.descending = true;
            }
            char *x = query(f, a, cases[i].view, &p);
            char *y = query(f, b, cases[i].view, &p);
            if (strcmp(x, y) != 0)
                fail_msg("%s r=%d differs:\n inc: %.300s\nfull: %.300s", cases[i].view, r, x, y);
            free(x);
            free(y);
        }
    }
    free_kept();
}

static char *revs[NDOCS];

/* The live winner's rev, or NULL when the document is deleted or missing. */
static char *current_rev(fx *f, const char *id)
{
    st_buf g = ST_BUF_INIT;
    st_error e;
    char *rev = NULL;
    if (st_db_get(f->db, id, NULL, &g, &e) == ST_OK) {
        const char *rv = strstr(g.data, "\"_rev\":\"") + 8;
        rev = strndup(rv, (size_t)(strchr(rv, '"') - rv));
    }
    st_buf_free(&g);
    return rev;
}

static void rand_round(fx *f, unsigned round)
{
    /* Round 4 deletes most documents (blocks merge), round 5 brings them
     * back (blocks split); the others mix edits, deletes and conflicts. */
    int ops = round == 4 ? 4000 : round == 5 ? 3000 : 600;
    for (int op = 0; op < ops; op++) {
        unsigned i = round == 5 ? (unsigned)op : rnd() % NDOCS;
        char id[16], buf[512];
        snprintf(id, sizeof id, "doc%05u", i);
        unsigned what = round == 4 ? 7 : round == 5 ? 0 : rnd() % 10;
        /* Keys cluster (many documents per key) in even rounds, spread in odd ones. */
        unsigned k = round % 2 ? rnd() % 200 : rnd() % 6;
        if (what < 6 || !revs[i]) {
            if (revs[i])
                snprintf(buf, sizeof buf, "{\"_id\":\"%s\",\"_rev\":\"%s\",\"k\":%u,\"n\":%u}", id,
                         revs[i], k, rnd() % 1000);
            else
                snprintf(buf, sizeof buf, "{\"_id\":\"%s\",\"k\":%u,\"n\":%u}", id, k, rnd() % 1000);
            st_write_result r;
            st_error e;
            st_status st = st_db_put_json(f->db, buf, strlen(buf), 0, &r, &e);
            assert_true(st == ST_OK || st == ST_E_CONFLICT);
            free(revs[i]);
            revs[i] = st == ST_OK ? strdup(r.rev) : current_rev(f, id);
            st_write_results_free(&r, 1);
        } else if (what < 8) {
            snprintf(buf, sizeof buf, "{\"_id\":\"%s\",\"_rev\":\"%s\",\"_deleted\":true}", id, revs[i]);
            st_write_result r;
            st_error e;
            st_status st = st_db_put_json(f->db, buf, strlen(buf), 0, &r, &e);
            assert_true(st == ST_OK || st == ST_E_CONFLICT);
            st_write_results_free(&r, 1);
            free(revs[i]);
            revs[i] = current_rev(f, id);
        } else {
            /* A replicated branch: a conflict whose winner may take over. */
            snprintf(buf, sizeof buf,
                     "{\"_id\":\"%s\",\"_rev\":\"9-%08x%08x%08x%08x\",\"k\":%u,\"n\":%u}", id, rnd(),
                     rnd(), rnd(), rnd(), k, rnd() % 1000);
            st_write_result r;
            st_error e;
            assert_int_equal(st_db_put_json(f->db, buf, strlen(buf), ST_WRITE_REPLICATED, &r, &e),
                             ST_OK);
            st_write_results_free(&r, 1);
            free(revs[i]);
            revs[i] = current_rev(f, id); /* the branch may have become the winner */
        }
    }
}

static void test_incremental_equals_full(void **state)
{
    fx *f = *state;
    char views[4096];
    rnd_state = 4242;
    memset(revs, 0, sizeof revs);
    for (unsigned i = 0; i < NDOCS; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "{\"_id\":\"doc%05u\",\"k\":%u,\"n\":%u}", i, rnd() % 6, rnd() % 1000);
        revs[i] = put_rev(f, buf);
    }
    char buf[5000];
    snprintf(buf, sizeof buf, "{\"_id\":\"_design/inc\",%s}", rand_views(0, views, sizeof views));
    put(f, buf);
    for (unsigned round = 1; round <= 7; round++) {
        rand_round(f, round);
        snprintf(buf, sizeof buf, "{\"_id\":\"_design/full%u\",%s}", round,
                 rand_views(round, views, sizeof views));
        put(f, buf);
        char full[32];
        snprintf(full, sizeof full, "_design/full%u", round);
        compare(f, "_design/inc", full);
    }
    for (unsigned i = 0; i < NDOCS; i++)
        free(revs[i]);
    /* The incremental index did grow a tree of more than one level. */
    st_view_info info;
    st_error e;
    st_vfile *vf = NULL;
    st_vconn *vc = NULL;
    unsigned top = 0;
    assert_int_equal(st_view_info_get(f->vs, f->db, "_design/inc", &info, &e), ST_OK);
    assert_int_equal(st_vfile_open(f->db->store, info.sig, &vf, &e), ST_OK);
    assert_int_equal(st_vconn_open(vf, &vc, &e), ST_OK);
    assert_int_equal(st_vblock_top(vc, 2, &top, &e), ST_OK); /* "m" */
    assert_true(top >= 2);
    st_vconn_close(vc);
    st_vfile_close(vf);
}

/* ---- design documents ---------------------------------------------------------- */

static void test_ddoc_change_and_cleanup(void **state)
{
    fx *f = *state;
    put(f, "{\"_id\":\"a\",\"n\":1}");
    put(f, "{\"_id\":\"b\",\"n\":2}");
    char *rev = NULL;
    set_map(f, "_design/x", "function(doc){ emit(doc.n, null); }", &rev);
    st_view_params p = P();
    expect(f, "_design/x", "v", &p,
           "{\"total_rows\":2,\"offset\":0,\"rows\":[{\"id\":\"a\",\"key\":1,\"value\":null},"
           "{\"id\":\"b\",\"key\":2,\"value\":null}]}");
    st_view_info info1, info2;
    st_error e;
    assert_int_equal(st_view_info_get(f->vs, f->db, "_design/x", &info1, &e), ST_OK);
    assert_int_equal(info1.update_seq, 3);
    set_map(f, "_design/x", "function(doc){ emit(-doc.n, null); }", &rev);
    expect(f, "_design/x", "v", &p,
           "{\"total_rows\":2,\"offset\":0,\"rows\":[{\"id\":\"b\",\"key\":-2,\"value\":null},"
           "{\"id\":\"a\",\"key\":-1,\"value\":null}]}");
    assert_int_equal(st_view_info_get(f->vs, f->db, "_design/x", &info2, &e), ST_OK);
    assert_string_not_equal(info1.sig, info2.sig);
    char old_file[4300], new_file[4300];
    snprintf(old_file, sizeof old_file, "%s-views/%s.view", f->path, info1.sig);
    snprintf(new_file, sizeof new_file, "%s-views/%s.view", f->path, info2.sig);
    assert_int_equal(access(old_file, F_OK), 0);
    assert_int_equal(st_views_cleanup(f->vs, f->db, &e), ST_OK);
    assert_int_not_equal(access(old_file, F_OK), 0);
    assert_int_equal(access(new_file, F_OK), 0);
    assert_int_equal(st_view_compact(f->vs, f->db, "_design/x", &e), ST_OK);
    expect(f, "_design/x", "v", &p,
           "{\"total_rows\":2,\"offset\":0,\"rows\":[{\"id\":\"b\",\"key\":-2,\"value\":null},"
           "{\"id\":\"a\",\"key\":-1,\"value\":null}]}");
    free(rev);
}

static void test_ddoc_check(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        const char *reason;
    } cases[] = {
        {"{\"views\":[]}", "`views` field must have object type"},
        {"{\"views\":{\"x\":1}}", "`views.x` field must have object type"},
        {"{\"views\":{\"x\":{\"map\":1}}}", "`views.x.map` field must have string type"},
        {"{\"views\":{\"x\":{}}}", "View `x` must contain map function"},
        {"{\"views\":{\"x\":{\"map\":\"f\",\"reduce\":\"_bogus\"}}}",
         "`_bogus` is not a supported reduce function."},
        {"{\"validate_doc_update\":1}", "`validate_doc_update` field must have string type"},
        {"{\"language\":null}", "`language` field must have string type"},
        {"{\"filters\":{\"f\":1}}", "`filters.f` field must have object or string type"},
        {"{\"options\":{\"local_seq\":1}}", "`options.local_seq` field must have boolean type"},
        {"{\"views\":{\"lib\":\"x\"}}", "`views.lib` field must have object type"},
        /* Mango's design documents hold an object map, and only they may */
        {"{\"views\":{\"x\":{\"map\":{\"fields\":{}}}}}",
         "`views.x.map` field must have string type"},
        {"{\"language\":\"query\",\"views\":{\"x\":{\"map\":\"f\"}}}",
         "`views.x.map` field must have object type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_json_doc *d = NULL;
        st_error e;
        assert_int_equal(st_json_parse(cases[i].doc, strlen(cases[i].doc), NULL, &d, NULL), ST_OK);
        assert_int_equal(st_ddoc_check(st_json_doc_root(d), &e), ST_E_BAD_REQUEST);
        assert_string_equal(st_error_name(&e), "invalid_design_doc");
        assert_string_equal(e.reason, cases[i].reason);
        st_json_doc_free(d);
    }
    const char *ok = "{\"views\":{\"lib\":{\"u\":\"x\"},\"x\":{\"map\":\"f\",\"reduce\":\"_sum\"}},"
                     "\"filters\":{\"f\":\"g\"}}";
    st_json_doc *d = NULL;
    st_error e;
    assert_int_equal(st_json_parse(ok, strlen(ok), NULL, &d, NULL), ST_OK);
    assert_int_equal(st_ddoc_check(st_json_doc_root(d), &e), ST_OK);
    st_json_doc_free(d);
    const char *mango = "{\"language\":\"query\",\"views\":{\"i\":{\"map\":{\"fields\":"
                        "{\"a\":\"asc\"}},\"reduce\":\"_count\"}}}";
    assert_int_equal(st_json_parse(mango, strlen(mango), NULL, &d, NULL), ST_OK);
    assert_int_equal(st_ddoc_check(st_json_doc_root(d), &e), ST_OK);
    st_json_doc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_map_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reduce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_docs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reduce_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup_fast, teardown),
        cmocka_unit_test_setup_teardown(test_fail_mid_build, setup_fast, teardown),
        cmocka_unit_test_setup_teardown(test_ddoc_change_and_cleanup, setup, teardown),
        cmocka_unit_test(test_ddoc_check),
        cmocka_unit_test_setup_teardown(test_incremental_equals_full, setup, teardown),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
