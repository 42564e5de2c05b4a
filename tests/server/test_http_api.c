/* test_http_api.c — every endpoint of the CouchDB API over real HTTP
 * against an in-process server (ephemeral 127.0.0.1 port). */
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
    t_stop();
    curl_global_cleanup();
    return 0;
}

static void mkdb(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/%s", name);
    tresp r = t_req("PUT", path, NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
}

/* PUT a doc, return its rev in rev_out. */
static void put_doc(const char *path, const char *json, char *rev_out, size_t cap)
{
    tresp r = t_req("PUT", path, json, true);
    T_EXPECT(r, 201);
    assert_true(t_json_str(r.body, "rev", rev_out, cap));
    t_free(&r);
}

static void test_server_endpoints(void **state)
{
    (void)state;
    tresp r = t_req("GET", "/", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"couchdb\":\"Welcome\""));
    assert_true(t_has(&r, "\"uuid\":\""));
    assert_true(t_has(&r, "\"vendor\""));
    char v[128];
    assert_true(t_header(&r, "Server", v, sizeof v));
    assert_true(t_header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "application/json");
    t_free(&r);

    r = t_req("GET", "/_up", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "{\"status\":\"ok\",\"seeds\":{}}"));
    t_free(&r);

    r = t_req("GET", "/_uuids?count=3", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_header(&r, "Cache-Control", v, sizeof v));
    assert_non_null(strstr(v, "no-cache"));
    int commas = 0;
    for (char *p = r.body; *p; p++)
        commas += *p == ',';
    assert_int_equal(commas, 2);
    t_free(&r);
    r = t_req("GET", "/_uuids?count=100000", NULL, false);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("GET", "/_uuids?count=x", NULL, false);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "query_parse_error"));
    t_free(&r);

    mkdb("alldbs-b");
    mkdb("alldbs-a");
    mkdb("alldbs-c");
    /* admin only, as CouchDB 3's admin_only_all_dbs */
    r = t_req("GET", "/_all_dbs", NULL, false);
    T_EXPECT(r, 401);
    assert_true(t_has(&r, "You are not a server admin."));
    t_free(&r);
    r = t_req("GET", "/_all_dbs?startkey=%22alldbs-a%22&endkey=%22alldbs-b%22", NULL, true);
    T_EXPECT(r, 200);
    assert_string_equal(r.body, "[\"alldbs-a\",\"alldbs-b\"]\n");
    t_free(&r);
    r = t_req("GET", "/_all_dbs?startkey=%22alldbs-c%22&descending=true&limit=2&skip=1", NULL,
              true);
    T_EXPECT(r, 200);
    assert_string_equal(r.body, "[\"alldbs-b\",\"alldbs-a\"]\n");
    t_free(&r);
}

static void test_auth_and_session(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/authdb", NULL, false);
    T_EXPECT(r, 401);
    assert_true(t_has(&r, "\"error\":\"unauthorized\""));
    t_free(&r);
    const char *bad[] = {"Authorization: Basic YWRtaW46bm9wZQ==", NULL}; /* admin:nope */
    r = t_req_full("GET", "/", NULL, 0, NULL, false, bad);
    T_EXPECT(r, 401);
    assert_true(t_has(&r, "Name or password is incorrect."));
    t_free(&r);

    r = t_req("GET", "/_session", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"userCtx\":{\"name\":null,\"roles\":[]}"));
    t_free(&r);
    r = t_req("GET", "/_session", NULL, true);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"name\":\"admin\",\"roles\":[\"_admin\"]"));
    assert_true(t_has(&r, "\"authenticated\":\"default\""));
    t_free(&r);

    r = t_req("POST", "/_session", "{\"name\":\"admin\",\"password\":\"wrong\"}", false);
    T_EXPECT(r, 401);
    t_free(&r);
    const char *form = "name=admin&password=" T_PASS;
    r = t_req_full("POST", "/_session", form, strlen(form), "application/x-www-form-urlencoded",
                   false, NULL);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"ok\":true"));
    char cookie[512];
    assert_true(t_header(&r, "Set-Cookie", cookie, sizeof cookie));
    assert_memory_equal(cookie, "AuthSession=", 12);
    t_free(&r);
    *strchr(cookie, ';') = '\0';
    char hdr[600];
    snprintf(hdr, sizeof hdr, "Cookie: %s", cookie);
    const char *ch[] = {hdr, NULL};
    r = t_req_full("PUT", "/authdb", NULL, 0, NULL, false, ch);
    T_EXPECT(r, 201);
    t_free(&r);
    r = t_req_full("GET", "/_session", NULL, 0, NULL, false, ch);
    assert_true(t_has(&r, "\"authenticated\":\"cookie\""));
    t_free(&r);
    /* A tampered cookie is ignored: the request is anonymous. */
    size_t L = strlen(hdr);
    hdr[L - 2] = hdr[L - 2] == 'A' ? 'B' : 'A';
    r = t_req_full("DELETE", "/authdb", NULL, 0, NULL, false, ch);
    T_EXPECT(r, 401);
    t_free(&r);
    r = t_req("DELETE", "/_session", NULL, false);
    T_EXPECT(r, 200);
    t_free(&r);
    /* The database is public ([couchdb] default_security = everyone here):
     * anyone reads and writes documents, as in CouchDB. */
    r = t_req("GET", "/authdb/_all_docs", NULL, false);
    T_EXPECT(r, 200);
    t_free(&r);
    r = t_req("POST", "/authdb/_revs_diff", "{}", false);
    T_EXPECT(r, 200);
    t_free(&r);
    r = t_req("POST", "/authdb/_bulk_docs", "{\"docs\":[]}", false);
    T_EXPECT(r, 201);
    t_free(&r);
}

static void test_database_lifecycle(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/lifecycle", NULL, true);
    T_EXPECT(r, 201);
    assert_string_equal(r.body, "{\"ok\":true}\n");
    char v[256];
    assert_true(t_header(&r, "Location", v, sizeof v));
    assert_non_null(strstr(v, "/lifecycle"));
    t_free(&r);
    r = t_req("PUT", "/lifecycle", NULL, true);
    T_EXPECT(r, 412);
    assert_true(t_has(&r, "\"error\":\"file_exists\""));
    t_free(&r);
    r = t_req("PUT", "/Bad", NULL, true);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "illegal_database_name"));
    assert_true(t_has(&r, "Name: 'Bad'. Only lowercase characters"));
    t_free(&r);
    r = t_req("GET", "/lifecycle", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"db_name\":\"lifecycle\""));
    assert_true(t_has(&r, "\"update_seq\":0"));
    assert_true(t_has(&r, "\"doc_count\":0"));
    assert_true(t_has(&r, "\"instance_start_time\""));
    t_free(&r);
    r = t_req("HEAD", "/lifecycle", NULL, false);
    T_EXPECT(r, 200);
    assert_int_equal(r.len, 0);
    t_free(&r);
    /* a db name with a slash travels as %2F */
    r = t_req("PUT", "/with%2Fslash", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    r = t_req("GET", "/with%2Fslash", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"db_name\":\"with/slash\""));
    t_free(&r);
    r = t_req("DELETE", "/lifecycle?rev=1-x", NULL, true);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("DELETE", "/lifecycle", NULL, true);
    T_EXPECT(r, 200);
    t_free(&r);
    r = t_req("GET", "/lifecycle", NULL, false);
    T_EXPECT(r, 404);
    assert_string_equal(r.body,
                        "{\"error\":\"not_found\",\"reason\":\"Database does not exist.\"}\n");
    assert_true(t_header(&r, "Cache-Control", v, sizeof v));
    assert_string_equal(v, "must-revalidate");
    t_free(&r);
    r = t_req("DELETE", "/lifecycle", NULL, true);
    T_EXPECT(r, 404);
    t_free(&r);
    r = t_req("GET", "/nodb/doc", NULL, false);
    T_EXPECT(r, 404);
    assert_true(t_has(&r, "Database does not exist."));
    t_free(&r);
}

static void test_documents(void **state)
{
    (void)state;
    char rev1[80], rev2[80], v[100], path[300];
    mkdb("docs");
    tresp r = t_req("PUT", "/docs/a", "{\"x\":1}", true);
    T_EXPECT(r, 201);
    /* CouchDB-exact rev id for this body (PROTOCOL.md §1.1). */
    assert_true(t_has(&r, "\"rev\":\"1-0785e9eb543380151003dc452c3a001a\""));
    assert_true(t_header(&r, "ETag", v, sizeof v));
    assert_string_equal(v, "\"1-0785e9eb543380151003dc452c3a001a\"");
    assert_true(t_header(&r, "Location", v, sizeof v));
    assert_non_null(strstr(v, "/docs/a"));
    assert_true(t_json_str(r.body, "rev", rev1, sizeof rev1));
    t_free(&r);

    r = t_req("GET", "/docs/a", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"_id\":\"a\""));
    assert_true(t_header(&r, "ETag", v, sizeof v));
    char inm[128];
    snprintf(inm, sizeof inm, "If-None-Match: %s", v);
    t_free(&r);
    const char *h[] = {inm, NULL};
    r = t_req_full("GET", "/docs/a", NULL, 0, NULL, false, h);
    T_EXPECT(r, 304);
    t_free(&r);

    r = t_req("PUT", "/docs/a", "{\"x\":2}", true);
    T_EXPECT(r, 409);
    assert_string_equal(r.body,
                        "{\"error\":\"conflict\",\"reason\":\"Document update conflict.\"}\n");
    t_free(&r);
    char body[200];
    snprintf(body, sizeof body, "{\"_rev\":\"%s\",\"x\":2}", rev1);
    put_doc("/docs/a", body, rev2, sizeof rev2);
    assert_memory_equal(rev2, "2-", 2);

    snprintf(path, sizeof path, "/docs/a?rev=%s", rev1);
    r = t_req("GET", path, NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"x\":1"));
    t_free(&r);
    r = t_req("GET", "/docs/a?revs=true&revs_info=true", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"_revisions\":{\"start\":2,\"ids\":["));
    assert_true(t_has(&r, "\"_revs_info\":[{\"rev\":\""));
    t_free(&r);
    r = t_req("GET", "/docs/a?revs=maybe", NULL, false);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "query_parse_error"));
    t_free(&r);

    /* If-Match names the rev for a delete. */
    char im[128];
    snprintf(im, sizeof im, "If-Match: \"%s\"", rev2);
    const char *dh[] = {im, NULL};
    r = t_req_full("DELETE", "/docs/a", NULL, 0, NULL, true, dh);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"ok\":true"));
    assert_true(t_has(&r, "\"rev\":\"3-"));
    t_free(&r);
    r = t_req("GET", "/docs/a", NULL, false);
    T_EXPECT(r, 404);
    assert_string_equal(r.body, "{\"error\":\"not_found\",\"reason\":\"deleted\"}\n");
    t_free(&r);
    r = t_req("GET", "/docs/never", NULL, false);
    T_EXPECT(r, 404);
    assert_string_equal(r.body, "{\"error\":\"not_found\",\"reason\":\"missing\"}\n");
    t_free(&r);
    r = t_req("DELETE", "/docs/never?rev=1-abc", NULL, true);
    assert_true(r.status == 404 || r.status == 409);
    t_free(&r);

    /* POST /db generates an id. */
    r = t_req("POST", "/docs", "{\"y\":true}", true);
    T_EXPECT(r, 201);
    char id[64];
    assert_true(t_json_str(r.body, "id", id, sizeof id));
    assert_int_equal(strlen(id), 32);
    t_free(&r);
    r = t_req_full("POST", "/docs", "{}", 2, "text/plain", true, NULL);
    T_EXPECT(r, 415);
    assert_true(t_has(&r, "bad_content_type"));
    t_free(&r);

    /* design docs are documents */
    put_doc("/docs/_design/app", "{\"views\":{}}", rev1, sizeof rev1);
    r = t_req("GET", "/docs/_design/app", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"_id\":\"_design/app\""));
    t_free(&r);
    r = t_req("GET", "/docs/_design%2Fapp", NULL, false);
    T_EXPECT(r, 200);
    t_free(&r);
    r = t_req("PUT", "/docs/_bad", "{}", true);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "illegal_docid"));
    t_free(&r);
    r = t_req("PUT", "/docs/sp", "{\"_foo\":1}", true);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "doc_validation"));
    t_free(&r);
}

static void test_conflicts_and_open_revs(void **state)
{
    (void)state;
    mkdb("conf");
    const char *bulk =
        "{\"new_edits\":false,\"docs\":["
        "{\"_id\":\"c\",\"_rev\":\"2-cccc\",\"v\":\"c\",\"_revisions\":{\"start\":2,\"ids\":[\"cccc\",\"aaaa\"]}},"
        "{\"_id\":\"c\",\"_rev\":\"1-bbbb\",\"v\":\"b\"},"
        "{\"_id\":\"c\",\"_rev\":\"2-dddd\",\"_deleted\":true,\"_revisions\":{\"start\":2,\"ids\":[\"dddd\",\"aaaa\"]}}]}";
    tresp r = t_req("POST", "/conf/_bulk_docs", bulk, true);
    T_EXPECT(r, 201);
    assert_string_equal(r.body, "[]\n");
    t_free(&r);
    r = t_req("GET", "/conf/c?conflicts=true&deleted_conflicts=true", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"_rev\":\"2-cccc\""));
    assert_true(t_has(&r, "\"_conflicts\":[\"1-bbbb\"]"));
    assert_true(t_has(&r, "\"_deleted_conflicts\":[\"2-dddd\"]"));
    t_free(&r);
    const char *json[] = {"Accept: application/json", NULL};
    r = t_req_full("GET", "/conf/c?open_revs=all", NULL, 0, NULL, false, json);
    T_EXPECT(r, 200);
    assert_int_equal(r.body[0], '[');
    assert_true(t_has(&r, "{\"ok\":{"));
    assert_true(t_has(&r, "2-dddd"));
    t_free(&r);
    r = t_req_full("GET", "/conf/c?open_revs=%5B%221-aaaa%22,%229-zzzz%22%5D&latest=true", NULL,
                   0, NULL, false, json);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "{\"missing\":\"9-zzzz\"}"));
    assert_true(t_has(&r, "2-cccc"));
    t_free(&r);
    /* Without Accept: application/json the answer is multipart/mixed. */
    r = t_req("GET", "/conf/c?open_revs=all", NULL, false);
    T_EXPECT(r, 200);
    char ct[200];
    assert_true(t_header(&r, "Content-Type", ct, sizeof ct));
    assert_memory_equal(ct, "multipart/mixed; boundary=", 26);
    assert_true(t_has(&r, "Content-Type: application/json\r\n\r\n{"));
    t_free(&r);
    r = t_req("GET", "/conf/c?open_revs=nonsense", NULL, false);
    T_EXPECT(r, 400);
    t_free(&r);
    /* _changes style=all_docs: every leaf, winner first */
    r = t_req("GET", "/conf/_changes?style=all_docs", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"changes\":[{\"rev\":\"2-cccc\"},"));
    t_free(&r);
}

static void test_bulk_and_replication_endpoints(void **state)
{
    (void)state;
    mkdb("bulk");
    tresp r = t_req("POST", "/bulk/_bulk_docs",
                    "{\"docs\":[{\"_id\":\"a\",\"n\":1},{\"_id\":\"b\",\"n\":2},{\"n\":3}]}", true);
    T_EXPECT(r, 201);
    assert_true(t_has(&r, "{\"ok\":true,\"id\":\"a\",\"rev\":\"1-"));
    t_free(&r);
    r = t_req("POST", "/bulk/_bulk_docs", "{\"docs\":[{\"_id\":\"a\",\"n\":9}]}", true);
    T_EXPECT(r, 201);
    assert_true(t_has(&r, "{\"id\":\"a\",\"error\":\"conflict\",\"reason\":\"Document update conflict.\"}"));
    t_free(&r);
    r = t_req("POST", "/bulk/_bulk_docs", "{\"nodocs\":1}", true);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "POST body must include `docs` parameter."));
    t_free(&r);
    r = t_req("POST", "/bulk/_bulk_docs", "{\"docs\":[1]}", true);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("POST", "/bulk/_bulk_docs", "{\"new_edits\":false,\"docs\":[{\"_id\":\"z\"}]}", true);
    assert_true(r.status == 400 || (r.status == 201 && t_has(&r, "error")));
    t_free(&r);

    r = t_req("POST", "/bulk/_revs_diff", "{\"a\":[\"1-zzzz\",\"9-abc\"],\"q\":[\"1-x\"]}", false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"a\":{\"missing\":[\"1-zzzz\",\"9-abc\"]"));
    assert_true(t_has(&r, "\"q\":{\"missing\":[\"1-x\"]}"));
    t_free(&r);
    r = t_req("POST", "/bulk/_bulk_get?revs=true",
              "{\"docs\":[{\"id\":\"a\"},{\"id\":\"nope\",\"rev\":\"1-x\"}]}", false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "{\"results\":[{\"id\":\"a\",\"docs\":[{\"ok\":{"));
    assert_true(t_has(&r, "\"_revisions\""));
    assert_true(t_has(&r, "\"error\":\"not_found\""));
    t_free(&r);

    r = t_req("GET", "/bulk/_all_docs", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"total_rows\":3,\"offset\":0,\"rows\":[\n{\"id\":\""));
    assert_true(t_has(&r, "{\"id\":\"a\",\"key\":\"a\",\"value\":{\"rev\":\"1-"));
    t_free(&r);
    r = t_req("GET", "/bulk/_all_docs?startkey=%22b%22&limit=1&include_docs=true", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"id\":\"b\""));
    assert_true(t_has(&r, "\"doc\":{\"_id\":\"b\""));
    assert_false(t_has(&r, "\"id\":\"a\""));
    t_free(&r);
    r = t_req("POST", "/bulk/_all_docs", "{\"keys\":[\"b\",\"zz\"]}", false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "{\"key\":\"zz\",\"error\":\"not_found\"}"));
    t_free(&r);
    r = t_req("GET", "/bulk/_all_docs?keys=%5B%22a%22%5D", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"id\":\"a\""));
    t_free(&r);
    r = t_req("POST", "/bulk/_all_docs", "{\"keys\":\"a\"}", false);
    T_EXPECT(r, 400);
    t_free(&r);

    /* _local docs: 0-N revs, not in _all_docs or _changes */
    r = t_req("PUT", "/bulk/_local/ck", "{\"seq\":1}", true);
    T_EXPECT(r, 201);
    assert_true(t_has(&r, "\"id\":\"_local/ck\",\"rev\":\"0-1\""));
    t_free(&r);
    r = t_req("GET", "/bulk/_local/ck", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"seq\":1"));
    t_free(&r);
    r = t_req("PUT", "/bulk/_local/ck", "{\"_rev\":\"0-1\",\"seq\":2}", true);
    T_EXPECT(r, 201);
    assert_true(t_has(&r, "\"rev\":\"0-2\""));
    t_free(&r);
    r = t_req("GET", "/bulk/_changes", NULL, false);
    assert_false(t_has(&r, "_local"));
    t_free(&r);
    r = t_req("DELETE", "/bulk/_local/ck?rev=0-2", NULL, true);
    T_EXPECT(r, 200);
    t_free(&r);
    r = t_req("GET", "/bulk/_local/ck", NULL, false);
    T_EXPECT(r, 404);
    t_free(&r);

    /* maintenance */
    r = t_req("GET", "/bulk/_revs_limit", NULL, false);
    T_EXPECT(r, 200);
    assert_string_equal(r.body, "1000\n");
    t_free(&r);
    r = t_req("PUT", "/bulk/_revs_limit", "7", true);
    T_EXPECT(r, 200);
    t_free(&r);
    r = t_req("GET", "/bulk/_revs_limit", NULL, false);
    assert_string_equal(r.body, "7\n");
    t_free(&r);
    r = t_req("PUT", "/bulk/_revs_limit", "\"x\"", true);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("POST", "/bulk/_ensure_full_commit", NULL, true);
    T_EXPECT(r, 201);
    assert_true(t_has(&r, "\"ok\":true,\"instance_start_time\":\""));
    t_free(&r);
    r = t_req("POST", "/bulk/_compact", "{}", true);
    T_EXPECT(r, 202);
    t_free(&r);
    r = t_req("POST", "/bulk/_compact", NULL, false);
    T_EXPECT(r, 401);
    t_free(&r);
    char rev[80];
    tresp g = t_req("GET", "/bulk/b", NULL, false);
    assert_true(t_json_str(g.body, "_rev", rev, sizeof rev));
    t_free(&g);
    char body[200];
    snprintf(body, sizeof body, "{\"b\":[\"%s\"]}", rev);
    r = t_req("POST", "/bulk/_purge", body, true);
    T_EXPECT(r, 201);
    assert_true(t_has(&r, "\"purged\":{\"b\":["));
    t_free(&r);
    r = t_req("GET", "/bulk/b", NULL, false);
    T_EXPECT(r, 404);
    t_free(&r);
    r = t_req("GET", "/bulk/_security", NULL, false);
    T_EXPECT(r, 200);
    t_free(&r);
}

static void test_attachments(void **state)
{
    (void)state;
    char rev[80], rev2[80], path[300], v[300];
    mkdb("atts");
    const char *data = "hello world";
    tresp r = t_req_full("PUT", "/atts/d/hello.txt", data, strlen(data), "text/plain", true, NULL);
    T_EXPECT(r, 201);
    assert_true(t_json_str(r.body, "rev", rev, sizeof rev));
    t_free(&r);
    r = t_req("GET", "/atts/d/hello.txt", NULL, false);
    T_EXPECT(r, 200);
    assert_string_equal(r.body, "hello world");
    assert_true(t_header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/plain");
    assert_true(t_header(&r, "Content-Length", v, sizeof v));
    assert_string_equal(v, "11");
    assert_true(t_header(&r, "ETag", v, sizeof v));
    t_free(&r);
    const char *range[] = {"Range: bytes=6-", NULL};
    r = t_req_full("GET", "/atts/d/hello.txt", NULL, 0, NULL, false, range);
    T_EXPECT(r, 206);
    assert_string_equal(r.body, "world");
    assert_true(t_header(&r, "Content-Range", v, sizeof v));
    assert_string_equal(v, "bytes 6-10/11");
    t_free(&r);
    const char *bad_range[] = {"Range: bytes=50-60", NULL};
    r = t_req_full("GET", "/atts/d/hello.txt", NULL, 0, NULL, false, bad_range);
    T_EXPECT(r, 416);
    t_free(&r);
    r = t_req("GET", "/atts/d", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"hello.txt\":{\"content_type\":\"text/plain\""));
    assert_true(t_has(&r, "\"stub\":true"));
    t_free(&r);
    const char *jh[] = {"Accept: application/json", NULL};
    r = t_req_full("GET", "/atts/d?attachments=true", NULL, 0, NULL, false, jh);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"data\":\"aGVsbG8gd29ybGQ=\""));
    t_free(&r);
    /* multipart/related out */
    const char *mh[] = {"Accept: multipart/related", NULL};
    r = t_req_full("GET", "/atts/d?attachments=true", NULL, 0, NULL, false, mh);
    T_EXPECT(r, 200);
    assert_true(t_header(&r, "Content-Type", v, sizeof v));
    assert_memory_equal(v, "multipart/related; boundary=", 28);
    assert_true(t_has(&r, "\"follows\":true"));
    /* text is stored gzip-encoded and goes out as stored, as CouchDB's does */
    assert_true(t_has(&r, "\"encoding\":\"gzip\""));
    assert_true(t_has(&r, "Content-Encoding: gzip"));
    t_free(&r);
    /* slash in attachment name */
    snprintf(path, sizeof path, "/atts/d/dir/file.bin?rev=%s", rev);
    r = t_req_full("PUT", path, "\x01\x02", 2, "application/octet-stream", true, NULL);
    T_EXPECT(r, 201);
    assert_true(t_json_str(r.body, "rev", rev2, sizeof rev2));
    t_free(&r);
    r = t_req("GET", "/atts/d/dir/file.bin", NULL, false);
    T_EXPECT(r, 200);
    assert_int_equal(r.len, 2);
    t_free(&r);
    /* stale rev → conflict */
    r = t_req_full("PUT", path, "x", 1, "text/plain", true, NULL);
    T_EXPECT(r, 409);
    t_free(&r);
    snprintf(path, sizeof path, "/atts/d/hello.txt?rev=%s", rev2);
    r = t_req("DELETE", path, NULL, true);
    T_EXPECT(r, 200);
    t_free(&r);
    r = t_req("GET", "/atts/d/hello.txt", NULL, false);
    T_EXPECT(r, 404);
    t_free(&r);

    /* multipart/related in (what CouchDB's replicator sends) */
    const char *mp =
        "--abc\r\nContent-Type: application/json\r\n\r\n"
        "{\"_id\":\"m\",\"_attachments\":{\"a.txt\":{\"content_type\":\"application/octet-stream\",\"follows\":true,\"length\":5},"
        "\"b.txt\":{\"content_type\":\"application/octet-stream\",\"follows\":true,\"length\":3}}}\r\n"
        "--abc\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n\r\nAAAAA\r\n"
        "--abc\r\n\r\nBBB\r\n--abc--";
    r = t_req_full("PUT", "/atts/m", mp, strlen(mp), "multipart/related; boundary=\"abc\"", true,
                   NULL);
    T_EXPECT(r, 201);
    t_free(&r);
    r = t_req("GET", "/atts/m/a.txt", NULL, false);
    T_EXPECT(r, 200);
    assert_string_equal(r.body, "AAAAA");
    t_free(&r);
    r = t_req("GET", "/atts/m/b.txt", NULL, false);
    assert_string_equal(r.body, "BBB");
    t_free(&r);
    const char *broken = "--abc\r\nContent-Type: application/json\r\n\r\n{}";
    r = t_req_full("PUT", "/atts/m2", broken, strlen(broken), "multipart/related; boundary=abc",
                   true, NULL);
    T_EXPECT(r, 400);
    t_free(&r);
    /* open_revs multipart with attachments: nested multipart/related */
    r = t_req("GET", "/atts/m?open_revs=all&attachments=true", NULL, false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "Content-Type: multipart/related; boundary="));
    assert_true(t_has(&r, "AAAAA"));
    t_free(&r);
}

static void test_cors_off_and_methods(void **state)
{
    (void)state;
    const char *pre[] = {"Origin: http://example.com", "Access-Control-Request-Method: GET", NULL};
    tresp r = t_req_full("OPTIONS", "/", NULL, 0, NULL, false, pre);
    T_EXPECT(r, 405);
    t_free(&r);
    r = t_req("DELETE", "/_all_dbs", NULL, true);
    T_EXPECT(r, 405);
    char v[100];
    assert_true(t_header(&r, "Allow", v, sizeof v));
    assert_string_equal(v, "GET,HEAD");
    assert_true(t_has(&r, "method_not_allowed"));
    t_free(&r);
    mkdb("meth");
    r = t_req("GET", "/meth/_bulk_docs", NULL, false);
    T_EXPECT(r, 405);
    assert_true(t_header(&r, "Allow", v, sizeof v));
    assert_string_equal(v, "POST");
    t_free(&r);
    r = t_req("PATCH", "/meth/doc", "{}", true);
    T_EXPECT(r, 405);
    t_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_endpoints),
        cmocka_unit_test(test_auth_and_session),
        cmocka_unit_test(test_database_lifecycle),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_conflicts_and_open_revs),
        cmocka_unit_test(test_bulk_and_replication_endpoints),
        cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_cors_off_and_methods),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
