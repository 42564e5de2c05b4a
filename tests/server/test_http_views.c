/* test_http_views.c — views over HTTP as CouchDB 3.5 answers them
 * (PROTOCOL-2.md C.2–C.5): every query parameter in its URL form, POST
 * keys and parameters, queries, reduce answers, the 400s and 404s,
 * ETag/304 by index state, update=false/lazy, _info, _view_cleanup and
 * view compaction; and hostile map functions: the request fails cleanly
 * and the server goes on serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpc.h"

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return t_start_with("couchdb", "os_process_timeout", "3000", NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    t_stop();
    curl_global_cleanup();
    return 0;
}

static tresp req(const char *method, const char *path, const char *body)
{
    return t_req(method, path, body, true);
}

static void ok(const char *method, const char *path, const char *body, int want)
{
    tresp r = req(method, path, body);
    T_EXPECT(r, want);
    t_free(&r);
}

/* GET path; the body must equal want (white space between rows ignored). */
static void expect_body(const char *path, const char *want)
{
    tresp r = req("GET", path, NULL);
    T_EXPECT(r, 200);
    char *compact = malloc(r.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < r.len; i++)
        if (r.body[i] != '\n')
            compact[n++] = r.body[i];
    compact[n] = '\0';
    if (strcmp(compact, want) != 0)
        fail_msg("GET %s\n got: %s\nwant: %s", path, compact, want);
    free(compact);
    t_free(&r);
}

static void expect_error(const char *method, const char *path, const char *body, int status,
                         const char *error, const char *reason)
{
    tresp r = req(method, path, body);
    T_EXPECT(r, status);
    char pat[512];
    snprintf(pat, sizeof pat, "{\"error\":\"%s\",\"reason\":\"%s\"}", error, reason);
    if (!t_has(&r, pat))
        fail_msg("%s %s\n got: %s\nwant: %s", method, path, r.body, pat);
    t_free(&r);
}

static void fixture(const char *db)
{
    char path[256], body[512];
    snprintf(path, sizeof path, "/%s", db);
    ok("PUT", path, NULL, 201);
    snprintf(path, sizeof path, "/%s/_design/t", db);
    ok("PUT", path,
       "{\"views\":{\"by_k\":{\"map\":\"function(doc){ if (doc.k) emit(doc.k, doc.v); }\"},"
       "\"sum\":{\"map\":\"function(doc){ if (doc.k) emit(doc.k, doc.v); }\",\"reduce\":\"_sum\"},"
       "\"count\":{\"map\":\"function(doc){ if (doc.k) emit(doc.k, doc.v); }\",\"reduce\":\"_count\"}}}",
       201);
    static const char *const docs[] = {"v01\",\"k\":\"a\",\"v\":1", "v02\",\"k\":\"b\",\"v\":2",
                                       "v03\",\"k\":\"a\",\"v\":3", "v04\",\"k\":\"b\",\"v\":4",
                                       "v05\",\"k\":\"c\",\"v\":5", "v06\",\"k\":\"b\",\"v\":6"};
    for (size_t i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "/%s", db);
        snprintf(body, sizeof body, "{\"_id\":\"%s}", docs[i]);
        ok("POST", path, body, 201);
    }
}

#define R(id, k, v) "{\"id\":\"" id "\",\"key\":" k ",\"value\":" v "}"
#define ALL6 R("v01", "\"a\"", "1") "," R("v03", "\"a\"", "3") "," R("v02", "\"b\"", "2") "," \
    R("v04", "\"b\"", "4") "," R("v06", "\"b\"", "6") "," R("v05", "\"c\"", "5")

static void test_view_params(void **state)
{
    (void)state;
    fixture("vp");
    expect_body("/vp/_design/t/_view/by_k", "{\"total_rows\":6,\"offset\":0,\"rows\":[" ALL6 "]}");
    expect_body("/vp/_design/t/_view/by_k?key=%22b%22",
                "{\"total_rows\":6,\"offset\":2,\"rows\":[" R("v02", "\"b\"", "2") ","
                R("v04", "\"b\"", "4") "," R("v06", "\"b\"", "6") "]}");
    expect_body("/vp/_design/t/_view/by_k?startkey=%22b%22&startkey_docid=v04&limit=2",
                "{\"total_rows\":6,\"offset\":3,\"rows\":[" R("v04", "\"b\"", "4") ","
                R("v06", "\"b\"", "6") "]}");
    expect_body("/vp/_design/t/_view/by_k?start_key=%22b%22&end_key=%22b%22&inclusive_end=false",
                "{\"total_rows\":6,\"offset\":2,\"rows\":[]}");
    expect_body("/vp/_design/t/_view/by_k?descending=true&limit=1&skip=1",
                "{\"total_rows\":6,\"offset\":1,\"rows\":[" R("v06", "\"b\"", "6") "]}");
    expect_body("/vp/_design/t/_view/by_k?keys=%5B%22c%22%2C%22a%22%2C%22zz%22%5D",
                "{\"total_rows\":6,\"offset\":5,\"rows\":[" R("v05", "\"c\"", "5") ","
                R("v01", "\"a\"", "1") "," R("v03", "\"a\"", "3") "]}");
    expect_body("/vp/_design/t/_view/by_k?endkey=%22a%22&endkey_docid=v01&update_seq=true",
                "{\"total_rows\":6,\"offset\":0,\"update_seq\":7,\"rows\":[" R("v01", "\"a\"", "1") "]}");
    expect_body("/vp/_design/t/_view/by_k?limit=0", "{\"total_rows\":6,\"offset\":0,\"rows\":[]}");
    expect_body("/vp/_design/t/_view/by_k?unknown=1&sorted=false&stable=true&limit=1",
                "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "\"a\"", "1") "]}");
    /* include_docs with conflicts */
    tresp r = req("GET", "/vp/_design/t/_view/by_k?key=%22c%22&include_docs=true&conflicts=true", NULL);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"doc\":{\"_id\":\"v05\",\"_rev\":\"1-"));
    t_free(&r);
    /* POST: keys and parameters in the body, the query string too */
    r = req("POST", "/vp/_design/t/_view/by_k?limit=2", "{\"keys\":[\"b\"],\"descending\":true}");
    T_EXPECT(r, 200);
    assert_true(t_has(&r, R("v06", "\"b\"", "6") ",\n" R("v04", "\"b\"", "4") "\n]}"));
    t_free(&r);
    expect_error("POST", "/vp/_design/t/_view/by_k", "{\"keys\":\"b\"}", 400, "bad_request",
                 "`keys` member must be an array.");
    /* queries */
    r = req("POST", "/vp/_design/t/_view/sum/queries",
            "{\"queries\":[{\"group\":true,\"limit\":1},{\"reduce\":false,\"key\":\"c\"},{}]}");
    T_EXPECT(r, 200);
    if (!t_has(&r, "{\"results\":[\n{\"rows\":[\n{\"key\":\"a\",\"value\":4}\n]},\n"
                   "{\"total_rows\":6,\"offset\":5,\"rows\":[\n" R("v05", "\"c\"", "5") "\n]},\n"
                   "{\"rows\":[\n{\"key\":null,\"value\":21}\n]}\n]}"))
        fail_msg("queries: %s", r.body);
    t_free(&r);
    expect_error("POST", "/vp/_design/t/_view/sum/queries", "{}", 400, "bad_request",
                 "POST body must include `queries` parameter.");
    r = req("GET", "/vp/_design/t/_view/sum/queries", NULL);
    T_EXPECT(r, 405);
    t_free(&r);
    /* 400s and 404s as CouchDB words them */
    expect_error("GET", "/vp/_design/t/_view/by_k?key=notjson", NULL, 400, "bad_request",
                 "invalid UTF-8 JSON");
    expect_error("GET", "/vp/_design/t/_view/by_k?descending=maybe", NULL, 400,
                 "query_parse_error", "Invalid boolean parameter: \\\"maybe\\\"");
    expect_error("GET", "/vp/_design/t/_view/by_k?limit=-1", NULL, 400, "query_parse_error",
                 "Invalid value for positive integer: \\\"-1\\\"");
    expect_error("GET", "/vp/_design/t/_view/by_k?startkey=%22b%22&endkey=%22a%22", NULL, 400,
                 "query_parse_error",
                 "No rows can match your key range, reverse your start_key and end_key or set "
                 "descending=true");
    expect_error("GET", "/vp/_design/t/_view/by_k?reduce=true", NULL, 400, "query_parse_error",
                 "Reduce is invalid for map-only views.");
    expect_error("GET", "/vp/_design/t/_view/by_k?group=true", NULL, 400, "query_parse_error",
                 "Invalid use of grouping on a map view.");
    expect_error("GET", "/vp/_design/t/_view/sum?include_docs=true", NULL, 400,
                 "query_parse_error", "`include_docs` is invalid for reduce");
    expect_error("GET", "/vp/_design/t/_view/sum?keys=%5B%22a%22%5D", NULL, 400,
                 "query_parse_error", "Multi-key fetches for reduce views must use `group=true`");
    expect_error("GET", "/vp/_design/t/_view/sum?stale=never", NULL, 400, "query_parse_error",
                 "Invalid value for `stale`.");
    expect_error("GET", "/vp/_design/t/_view/sum?update=sometimes", NULL, 400,
                 "query_parse_error", "Invalid value for `update`.");
    expect_error("GET", "/vp/_design/t/_view/nope", NULL, 404, "not_found", "missing_named_view");
    expect_error("GET", "/vp/_design/nope/_view/x", NULL, 404, "not_found", "missing");
    ok("DELETE", "/vp", NULL, 200);
}

static void test_reduce(void **state)
{
    (void)state;
    fixture("vr");
    expect_body("/vr/_design/t/_view/sum", "{\"rows\":[{\"key\":null,\"value\":21}]}");
    expect_body("/vr/_design/t/_view/sum?group=true",
                "{\"rows\":[{\"key\":\"a\",\"value\":4},{\"key\":\"b\",\"value\":12},"
                "{\"key\":\"c\",\"value\":5}]}");
    expect_body("/vr/_design/t/_view/count?group_level=1&descending=true",
                "{\"rows\":[{\"key\":\"c\",\"value\":1},{\"key\":\"b\",\"value\":3},"
                "{\"key\":\"a\",\"value\":2}]}");
    expect_body("/vr/_design/t/_view/sum?key=%22b%22", "{\"rows\":[{\"key\":null,\"value\":12}]}");
    expect_body("/vr/_design/t/_view/sum?startkey=%22x%22", "{\"rows\":[]}");
    expect_body("/vr/_design/t/_view/sum?update_seq=true",
                "{\"update_seq\":7,\"rows\":[{\"key\":null,\"value\":21}]}");
    expect_body("/vr/_design/t/_view/sum?reduce=false&limit=1",
                "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "\"a\"", "1") "]}");
    ok("DELETE", "/vr", NULL, 200);
}

/* ETag by index state: unchanged index, 304; a write, a new ETag. */
static void test_etag_update_modes(void **state)
{
    (void)state;
    fixture("ve");
    tresp r = req("GET", "/ve/_design/t/_view/by_k", NULL);
    T_EXPECT(r, 200);
    char etag[64], hdr[128];
    assert_true(t_header(&r, "ETag", etag, sizeof etag));
    t_free(&r);
    snprintf(hdr, sizeof hdr, "If-None-Match: %s", etag);
    const char *hdrs[] = {hdr, NULL};
    r = t_req_full("GET", "/ve/_design/t/_view/by_k", NULL, 0, NULL, true, hdrs);
    T_EXPECT(r, 304);
    assert_int_equal(r.len, 0);
    t_free(&r);
    /* Another query, another ETag. */
    r = t_req_full("GET", "/ve/_design/t/_view/by_k?limit=1", NULL, 0, NULL, true, hdrs);
    T_EXPECT(r, 200);
    t_free(&r);
    ok("POST", "/ve", "{\"_id\":\"v07\",\"k\":\"d\",\"v\":7}", 201);
    /* update=false: the index as it was (and its ETag still matches). */
    r = t_req_full("GET", "/ve/_design/t/_view/by_k?update=false", NULL, 0, NULL, true, NULL);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"total_rows\":6,"));
    t_free(&r);
    r = t_req_full("GET", "/ve/_design/t/_view/by_k?stale=ok", NULL, 0, NULL, true, NULL);
    assert_true(t_has(&r, "\"total_rows\":6,"));
    t_free(&r);
    /* update=lazy answers at once and updates afterwards. */
    r = req("GET", "/ve/_design/t/_view/by_k?update=lazy", NULL);
    T_EXPECT(r, 200);
    t_free(&r);
    bool seen = false;
    for (int i = 0; i < 200 && !seen; i++) {
        r = req("GET", "/ve/_design/t/_view/by_k?update=false", NULL);
        seen = t_has(&r, "\"total_rows\":7,");
        t_free(&r);
        if (!seen)
            usleep(20000);
    }
    assert_true(seen);
    r = t_req_full("GET", "/ve/_design/t/_view/by_k", NULL, 0, NULL, true, hdrs);
    T_EXPECT(r, 200); /* the index moved: the old ETag no longer matches */
    t_free(&r);
    ok("DELETE", "/ve", NULL, 200);
}

static void test_info_cleanup_compact(void **state)
{
    (void)state;
    fixture("vi");
    ok("GET", "/vi/_design/t/_view/by_k", NULL, 200);
    tresp r = req("GET", "/vi/_design/t/_info", NULL);
    T_EXPECT(r, 200);
    char sig[64];
    assert_true(t_has(&r, "{\"name\":\"t\",\"view_index\":{\"updates_pending\":{\"minimum\":0,"
                          "\"preferred\":0,\"total\":0},\"waiting_commit\":false,"
                          "\"waiting_clients\":0,\"updater_running\":false,\"update_seq\":7,"));
    assert_true(t_has(&r, "\"language\":\"javascript\",\"compact_running\":false,"));
    assert_true(t_json_str(r.body, "signature", sig, sizeof sig));
    t_free(&r);
    expect_error("GET", "/vi/_design/nope/_info", NULL, 404, "not_found", "missing");
    /* A changed view function: a new index; the old file goes at cleanup. */
    r = req("GET", "/vi/_design/t", NULL);
    char rev[64], body[1024], path[1024];
    assert_true(t_json_str(r.body, "_rev", rev, sizeof rev));
    t_free(&r);
    snprintf(body, sizeof body,
             "{\"_rev\":\"%s\",\"views\":{\"by_k\":{\"map\":\"function(doc){ emit(doc.v, 1); }\"}}}",
             rev);
    ok("PUT", "/vi/_design/t", body, 201);
    expect_body("/vi/_design/t/_view/by_k?limit=1",
                "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "1", "1") "]}");
    snprintf(path, sizeof path, "%s/vi.settee-views/%s.view", t_dir, sig);
    assert_int_equal(access(path, F_OK), 0);
    r = t_req_full("POST", "/vi/_view_cleanup", "{}", 2, "text/plain", true, NULL);
    T_EXPECT(r, 415);
    t_free(&r);
    ok("POST", "/vi/_view_cleanup", "{}", 202);
    for (int i = 0; i < 200 && access(path, F_OK) == 0; i++)
        usleep(20000);
    assert_int_not_equal(access(path, F_OK), 0);
    ok("POST", "/vi/_compact/t", "{}", 202);
    expect_error("POST", "/vi/_compact/nope", "{}", 404, "not_found", "missing");
    expect_body("/vi/_design/t/_view/by_k?limit=1",
                "{\"total_rows\":6,\"offset\":0,\"rows\":[" R("v01", "1", "1") "]}");
    /* Deleting the database takes its indexes with it. */
    ok("DELETE", "/vi", NULL, 200);
    snprintf(path, sizeof path, "%s/vi.settee-views", t_dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* A loop, a throw, a heap bomb: the query fails or skips, and the server
 * keeps answering other requests meanwhile. */
static void test_hostile(void **state)
{
    (void)state;
    ok("PUT", "/vh", NULL, 201);
    ok("PUT", "/vh/a", "{\"n\":1}", 201);
    ok("PUT", "/vh/_design/loop",
       "{\"views\":{\"v\":{\"map\":\"function(doc){ while(true){} }\"}}}", 201);
    ok("PUT", "/vh/_design/throw",
       "{\"views\":{\"v\":{\"map\":\"function(doc){ throw({bad: doc._id}); }\"}}}", 201);
    double t0 = t_now_ms();
    tresp r = req("GET", "/vh/_design/loop/_view/v", NULL);
    T_EXPECT(r, 500);
    assert_true(t_has(&r, "\"error\":\"os_process_error\""));
    t_free(&r);
    assert_true(t_now_ms() - t0 < 9000);
    ok("GET", "/vh/a", NULL, 200);
    expect_body("/vh/_design/throw/_view/v", "{\"total_rows\":0,\"offset\":0,\"rows\":[]}");
    ok("GET", "/", NULL, 200);
    ok("DELETE", "/vh", NULL, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_params),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_etag_update_modes),
        cmocka_unit_test(test_info_cleanup_compact),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
