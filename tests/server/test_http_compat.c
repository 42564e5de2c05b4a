/* test_http_compat.c — requests real clients sent to settee and CouchDB
 * 3.5 side by side, each asserting CouchDB's answer: inline attachments,
 * _bulk_docs validation, new_edits=false trusting _revisions, latest=true,
 * open_revs, _all_docs parameters, _local attachments, Authorization
 * headers, duplicate keys, the small document cases, and the exact
 * request CouchDB's replicator sends for a document with attachments. */
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
    return t_start_with(NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    if (t_srv)
        t_stop();
    curl_global_cleanup();
    return 0;
}

static void mkdb(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/%s", name);
    tresp r = t_req("PUT", path, NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
}

static void put_rev(const char *path, const char *json, char *rev, size_t cap)
{
    tresp r = t_req("PUT", path, json, true);
    T_EXPECT(r, 201);
    if (rev)
        assert_true(t_json_str(r.body, "rev", rev, cap));
    t_free(&r);
}

static void expect(const char *method, const char *path, const char *body, int status,
                   const char *needle)
{
    tresp r = t_req(method, path, body, true);
    if (r.status != status || (needle && !t_has(&r, needle)))
        fprintf(stderr, "%s %s: %ld %s\n", method, path, r.status, r.body ? r.body : "");
    T_EXPECT(r, status);
    if (needle)
        assert_true(t_has(&r, needle));
    t_free(&r);
}

/* 1: inline attachments are content_type, revpos, digest, data. */
static void test_inline_attachments(void **state)
{
    (void)state;
    mkdb("c1");
    put_rev("/c1/d", "{\"_attachments\":{\"a.txt\":{\"content_type\":\"text/plain\","
                     "\"data\":\"aGVsbG8gd29ybGQ=\"}}}", NULL, 0);
    const char *json[] = {"Accept: application/json", NULL};
    tresp r = t_req_full("GET", "/c1/d?attachments=true", NULL, 0, NULL, true, json);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"a.txt\":{\"content_type\":\"text/plain\",\"revpos\":1,\"digest\":"
                          "\"md5-7mkg+nM0HN26sZkLN8KVSA==\",\"data\":\"aGVsbG8gd29ybGQ=\"}"));
    t_free(&r);
    r = t_req_full("GET", "/c1/d?attachments=true&att_encoding_info=true", NULL, 0, NULL, true,
                   json);
    assert_true(t_has(&r, "\"encoding\":\"gzip\",\"encoded_length\":31,\"data\""));
    t_free(&r);
    expect("GET", "/c1/d", NULL, 200, "\"length\":11,\"stub\":true");
    expect("GET", "/c1/_all_docs?include_docs=true&attachments=true", NULL, 200,
           "\"digest\":\"md5-7mkg+nM0HN26sZkLN8KVSA==\",\"data\"");
}

/* 2: _bulk_docs refuses the whole request on the first bad document. */
static void test_bulk_docs_checks_first(void **state)
{
    (void)state;
    mkdb("c2");
    static const struct {
        const char *docs;
        int status;
        const char *needle;
    } cases[] = {
        {"[{\"_id\":\"ok1\"},{\"_id\":\"_bad\"}]", 400,
         "Only reserved document ids may start with underscore."},
        {"[{\"_id\":\"ok1\"},{\"_id\":5}]", 400, "Document id must be a string"},
        {"[{\"_id\":\"ok1\"},{\"_id\":\"_design/\"}]", 400, "Illegal document id `_design/`"},
        {"[{\"_id\":\"ok1\"},{\"_id\":\"x\",\"_zing\":1}]", 400,
         "Bad special document member: _zing"},
        {"[{\"_id\":\"ok1\"},{\"_id\":\"x\",\"_rev\":\"xyz\"}]", 400, "Invalid rev format"},
        {"[{\"_id\":\"ok1\"},{\"_id\":\"x\",\"_rev\":5}]", 400, "Invalid rev format"},
        {"[{\"_id\":\"ok1\"},{\"_id\":\"x\",\"_attachments\":{\"_a\":{\"data\":\"\"}}}]", 400,
         "starts with prohibited character"},
        {"[{\"_id\":\"ok1\"},{\"_id\":\"x\",\"_attachments\":{\"a\":{\"data\":\"!!\"}}}]", 400,
         "Invalid attachment data"},
        {"[{\"_id\":\"ok1\"},{\"_id\":\"x\",\"_deleted\":null}]", 400, "doc_validation"},
    };
    char body[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(body, sizeof body, "{\"docs\":%s}", cases[i].docs);
        expect("POST", "/c2/_bulk_docs", body, cases[i].status, cases[i].needle);
    }
    expect("POST", "/c2/_bulk_docs", "{\"new_edits\":false,\"docs\":[{\"_id\":\"y\"}]}", 400,
           "When `new_edits: false`, the document needs `_rev` or `_revisions` specified");
    /* Nothing was saved by any of them. */
    expect("GET", "/c2/ok1", NULL, 404, "missing");
    /* A stub for an attachment the parent lacks: 412 for the request. */
    char rev[80], body2[512];
    put_rev("/c2/a4", "{}", rev, sizeof rev);
    snprintf(body2, sizeof body2, "{\"docs\":[{\"_id\":\"ok2\"},{\"_id\":\"a4\",\"_rev\":\"%s\","
             "\"_attachments\":{\"x\":{\"stub\":true}}}]}", rev);
    expect("POST", "/c2/_bulk_docs", body2, 412, "Invalid attachment stub in a4 for x");
    expect("GET", "/c2/ok2", NULL, 404, "missing");
}

/* 3: new_edits=false stores the path _revisions gives. */
static void test_revisions_trusted(void **state)
{
    (void)state;
    mkdb("c3");
    tresp r = t_req("POST", "/c3/_bulk_docs",
                    "{\"new_edits\":false,\"docs\":[{\"_id\":\"p\",\"_rev\":\"3-c\","
                    "\"_revisions\":{\"start\":2,\"ids\":[\"c\",\"a\"]}}]}", true);
    T_EXPECT(r, 201);
    assert_string_equal(r.body, "[]\n");
    t_free(&r);
    expect("GET", "/c3/p", NULL, 200, "\"_rev\":\"2-c\"");
    /* A start past 2^63 could never be edited: refused. */
    expect("POST", "/c3/_bulk_docs",
           "{\"new_edits\":false,\"docs\":[{\"_id\":\"q\",\"_revisions\":"
           "{\"start\":18446744073709551615,\"ids\":[\"z\"]}}]}", 400, "bad_request");
}

/* 4, 5, 10: latest, open_revs. */
static void test_latest_and_open_revs(void **state)
{
    (void)state;
    mkdb("c4");
    tresp r = t_req("POST", "/c4/_bulk_docs",
                    "{\"new_edits\":false,\"docs\":["
                    "{\"_id\":\"o\",\"v\":2,\"_revisions\":{\"start\":2,\"ids\":[\"cccc\",\"aaaa\"]}},"
                    "{\"_id\":\"o\",\"_deleted\":true,\"_revisions\":{\"start\":3,\"ids\":"
                    "[\"eeee\",\"dddd\",\"aaaa\"]}}]}", true);
    T_EXPECT(r, 201);
    t_free(&r);
    /* rev=2-dddd is not a leaf: its branch's leaf is the deleted 3-eeee. */
    expect("GET", "/c4/o?rev=2-dddd&latest=true", NULL, 200,
           "{\"_id\":\"o\",\"_rev\":\"3-eeee\",\"_deleted\":true}");
    /* Without latest it is itself, and replicated ancestors have no body. */
    expect("GET", "/c4/o?rev=2-dddd", NULL, 404, "missing");
    /* Several requested revisions leading to one leaf: that leaf once. */
    const char *json[] = {"Accept: application/json", NULL};
    r = t_req_full("GET", "/c4/o?open_revs=%5B%222-dddd%22,%223-eeee%22%5D&latest=true", NULL, 0,
                   NULL, true, json);
    T_EXPECT(r, 200);
    const char *first = strstr(r.body, "3-eeee");
    assert_non_null(first);
    assert_null(strstr(first + 6, "3-eeee"));
    t_free(&r);
    /* open_revs=all in ascending rev order. */
    r = t_req_full("GET", "/c4/o?open_revs=all", NULL, 0, NULL, true, json);
    T_EXPECT(r, 200);
    const char *c = strstr(r.body, "2-cccc"), *e = strstr(r.body, "3-eeee");
    assert_true(c && e && c < e);
    t_free(&r);
    expect("GET", "/c4/o?open_revs=%5B%22garbage%22%5D", NULL, 400, "Invalid rev format");
    expect("GET", "/c4/o?open_revs=%5B%222-cccc%22%5D&atts_since=%5B%22zz%22%5D", NULL, 400,
           "Invalid rev format");
}

/* 6, 11: _all_docs parameters. */
static void test_all_docs_params(void **state)
{
    (void)state;
    mkdb("c6");
    put_rev("/c6/a", "{}", NULL, 0);
    put_rev("/c6/b", "{}", NULL, 0);
    expect("GET", "/c6/_all_docs?keys=%5B%22a%22%5D&key=%22a%22", NULL, 400,
           "`keys` is incompatible with `key`, `start_key` and `end_key`");
    expect("GET", "/c6/_all_docs?keys=%5B%22a%22%5D&start_key=%22a%22", NULL, 400,
           "query_parse_error");
    expect("POST", "/c6/_all_docs?endkey=%22b%22", "{\"keys\":[\"a\"]}", 400,
           "`keys` is incompatible");
    expect("POST", "/c6/_all_docs", "{\"keys\":[\"a\"],\"startkey\":\"a\"}", 400,
           "`keys` is incompatible");
    expect("POST", "/c6/_all_docs", "{\"keys\":[\"a\"]}", 200, "\"offset\":null");
    /* Not strings: nothing matches, keys answer not_found. */
    expect("GET", "/c6/_all_docs?startkey=5", NULL, 200, "\"rows\":[\n]}");
    expect("POST", "/c6/_all_docs", "{\"keys\":[5,\"b\"]}", 200,
           "{\"key\":5,\"error\":\"not_found\"}");
    expect("GET", "/c6/_all_docs?startkey=%7Bbad", NULL, 400, "invalid UTF-8 JSON");
    /* Paged: every document once, in order, across pages. */
    for (int i = 0; i < 450; i++) {
        char path[64];
        snprintf(path, sizeof path, "/c6/p%03d", i);
        put_rev(path, "{}", NULL, 0);
    }
    tresp r = t_req("GET", "/c6/_all_docs?startkey=%22p%22&limit=420&skip=3", NULL, true);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"total_rows\":452,\"offset\":5"));
    assert_true(t_has(&r, "\"id\":\"p003\""));
    assert_false(t_has(&r, "\"id\":\"p002\""));
    assert_true(t_has(&r, "\"id\":\"p422\""));
    assert_false(t_has(&r, "\"id\":\"p423\""));
    size_t rows = 0;
    for (const char *p = r.body; (p = strstr(p, "\"id\":")); p++)
        rows++;
    assert_int_equal(rows, 420);
    t_free(&r);
}

/* 7, 8, 9, 10: the small ones. */
static void test_small_cases(void **state)
{
    (void)state;
    mkdb("c7");
    expect("GET", "/c7/_local/x/att", NULL, 400, "_local documents do not accept attachments.");
    expect("PUT", "/c7/_local/x/att", "x", 400, "_local documents do not accept attachments.");
    /* An Authorization header of another scheme is ignored; bad base64 is 400. */
    const char *odd[] = {"Authorization: Basic: xyz", NULL};
    tresp r = t_req_full("GET", "/", NULL, 0, NULL, false, odd);
    T_EXPECT(r, 200);
    t_free(&r);
    const char *bad[] = {"Authorization: Basic !!!!", NULL};
    r = t_req_full("GET", "/", NULL, 0, NULL, false, bad);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "Authorization header has invalid base64 value"));
    t_free(&r);
    /* Duplicate keys: the last value is stored and hashed. */
    char r1[80], r2[80];
    put_rev("/c7/dup", "{\"k\":1,\"k\":2}", r1, sizeof r1);
    put_rev("/c7/nodup", "{\"k\":2}", r2, sizeof r2);
    assert_string_equal(r1, r2);
    expect("GET", "/c7/dup", NULL, 200, "\"k\":2}");
    /* DELETE of a document that never existed. */
    expect("DELETE", "/c7/missing", NULL, 404, "\"reason\":\"missing\"");
    /* ?rev= against the body's _rev. */
    char rv[80], path[160], body[160];
    put_rev("/c7/d", "{}", rv, sizeof rv);
    snprintf(path, sizeof path, "/c7/d?rev=%s", rv);
    expect("PUT", path, "{\"_rev\":\"1-ffff\"}", 400,
           "Document rev from request body and query string have different values");
    /* A repeated rev= means the first. */
    snprintf(path, sizeof path, "/c7/d?rev=%s&rev=1-bogus", rv);
    expect("PUT", path, "{\"x\":1}", 201, NULL);
    expect("PUT", "/c7/_local/l", "{\"_rev\":\"abc\"}", 400, "Invalid rev format");
    /* A rev on a missing document creates it. */
    expect("PUT", "/c7/fresh", "{\"_rev\":\"1-abc\"}", 201, "\"rev\":\"2-");
    /* Ids far past 4,096 bytes are accepted. */
    char *id = malloc(5100);
    memset(id, 'i', 5000);
    id[5000] = '\0';
    snprintf(body, sizeof body, "/c7/");
    char *long_path = malloc(5200);
    snprintf(long_path, 5200, "/c7/%s", id);
    expect("PUT", long_path, "{}", 201, NULL);
    free(long_path);
    free(id);
    /* '+' in a database name in the path means a space. */
    expect("PUT", "/a+b", NULL, 400, "illegal_database_name");
    /* System databases: _users is made at the first start (admin-only, as a
     * set-up CouchDB node has it), others on request. */
    expect("PUT", "/_users", NULL, 412, "file_exists");
    expect("GET", "/_users/_security", NULL, 200, "{\"members\":{\"roles\":[\"_admin\"]}");
    expect("PUT", "/_replicator", NULL, 201, NULL);
    expect("PUT", "/_replicator", NULL, 412, "file_exists");
    /* New database files are private (0600). */
    char file[700];
    snprintf(file, sizeof file, "%s/c7.settee", t_dir);
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

/* 12: exactly what CouchDB 3.5's replicator sends for a document with
 * attachments (no attachments=true): the multipart answer carries the
 * bytes of every attachment newer than atts_since. */
static void test_couchdb_replicator_pull(void **state)
{
    (void)state;
    mkdb("c12");
    char r1[80], r2[80], path[400];
    put_rev("/c12/doc", "{\"_attachments\":{\"old.bin\":{\"content_type\":"
                        "\"application/octet-stream\",\"data\":\"T0xE\"}}}", r1, sizeof r1);
    snprintf(path, sizeof path, "/c12/doc/new.txt?rev=%s", r1);
    tresp r = t_req_full("PUT", path, "new text", 8, "text/plain", true, NULL);
    T_EXPECT(r, 201);
    assert_true(t_json_str(r.body, "rev", r2, sizeof r2));
    t_free(&r);
    const char *hdrs[] = {"Accept: multipart/mixed", "User-Agent: CouchDB-Replicator/3.5.0",
                          NULL};
    /* No atts_since: both attachments' bytes follow. */
    snprintf(path, sizeof path, "/c12/doc?revs=true&open_revs=%%5B%%22%s%%22%%5D&latest=true", r2);
    r = t_req_full("GET", path, NULL, 0, NULL, true, hdrs);
    T_EXPECT(r, 200);
    char v[200];
    assert_true(t_header(&r, "Content-Type", v, sizeof v));
    assert_memory_equal(v, "multipart/mixed", 15);
    assert_true(t_has(&r, "Content-Type: multipart/related"));
    assert_false(t_has(&r, "\"stub\":true"));
    assert_true(t_has(&r, "OLD"));
    assert_true(t_has(&r, "Content-Encoding: gzip")); /* text is stored gzipped, sent so */
    assert_true(t_has(&r, "\"encoding\":\"gzip\""));
    t_free(&r);
    /* atts_since the first revision: old.bin is a stub, new.txt follows. */
    snprintf(path, sizeof path,
             "/c12/doc?revs=true&open_revs=%%5B%%22%s%%22%%5D&latest=true"
             "&atts_since=%%5B%%22%s%%22%%5D", r2, r1);
    r = t_req_full("GET", path, NULL, 0, NULL, true, hdrs);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"old.bin\":{\"content_type\":\"application/octet-stream\",\"revpos\":1"));
    assert_true(t_has(&r, "\"stub\":true"));
    assert_false(t_has(&r, "OLD"));
    assert_true(t_has(&r, "\"new.txt\""));
    assert_true(t_has(&r, "\"follows\":true"));
    t_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_attachments),
        cmocka_unit_test(test_bulk_docs_checks_first),
        cmocka_unit_test(test_revisions_trusted),
        cmocka_unit_test(test_latest_and_open_revs),
        cmocka_unit_test(test_all_docs_params),
        cmocka_unit_test(test_small_cases),
        cmocka_unit_test(test_couchdb_replicator_pull),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
