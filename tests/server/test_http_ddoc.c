/* test_http_ddoc.c — design documents over HTTP besides views
 * (PROTOCOL-2.md C.1, C.6, C.7): the checks at save; validate_doc_update
 * on every write path with CouchDB's statuses (403, 401, 500; per
 * document in _bulk_docs; replicated writes; not on _local or _design;
 * server admins not exempt); only database admins write design
 * documents; _changes filters (ddoc/name with req.query, _view, _design)
 * and CouchDB's 400s and 404s; update handlers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>

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

/* A request as the admin, as bob (a plain user), or anonymous. */
enum who { ADMIN, BOB, ANON };

static tresp req_as(enum who w, const char *method, const char *path, const char *body)
{
    char auth[128];
    const char *hdrs[] = {auth, NULL};
    if (w == BOB) {
        unsigned char b64[64];
        EVP_EncodeBlock(b64, (const unsigned char *)"bob:bobpw", 9);
        snprintf(auth, sizeof auth, "Authorization: Basic %s", b64);
    }
    return t_req_full(method, path, body, body ? strlen(body) : 0, body ? "application/json" : NULL,
                      w == ADMIN, w == BOB ? hdrs : NULL);
}

static tresp req(const char *method, const char *path, const char *body)
{
    return req_as(ADMIN, method, path, body);
}

static void ok_as(enum who w, const char *method, const char *path, const char *body, int want)
{
    tresp r = req_as(w, method, path, body);
    T_EXPECT(r, want);
    t_free(&r);
}

static void ok(const char *method, const char *path, const char *body, int want)
{
    ok_as(ADMIN, method, path, body, want);
}

static void expect_error_as(enum who w, const char *method, const char *path, const char *body,
                            int status, const char *error, const char *reason)
{
    tresp r = req_as(w, method, path, body);
    T_EXPECT(r, status);
    char pat[1024];
    snprintf(pat, sizeof pat, "\"error\":\"%s\",\"reason\":\"%s", error, reason);
    if (!t_has(&r, pat))
        fail_msg("%s %s\n got: %s\nwant: %s", method, path, r.body, pat);
    t_free(&r);
}

static void expect_error(const char *method, const char *path, const char *body, int status,
                         const char *error, const char *reason)
{
    expect_error_as(ADMIN, method, path, body, status, error, reason);
}

static void make_bob(void)
{
    tresp r = req("PUT", "/_users/org.couchdb.user:bob",
                  "{\"name\":\"bob\",\"password\":\"bobpw\",\"roles\":[],\"type\":\"user\"}");
    assert_true(r.status == 201 || r.status == 409);
    t_free(&r);
}

/* ---- design documents at save ------------------------------------------- */

static void test_ddoc_save(void **state)
{
    (void)state;
    make_bob();
    ok("PUT", "/ds", NULL, 201);
    expect_error("PUT", "/ds/_design/a", "{\"views\":[]}", 400, "invalid_design_doc",
                 "`views` field must have object type");
    expect_error("PUT", "/ds/_design/a", "{\"views\":{\"x\":{\"reduce\":\"_sum\"}}}", 400,
                 "invalid_design_doc", "View `x` must contain map function");
    expect_error("PUT", "/ds/_design/a",
                 "{\"views\":{\"x\":{\"map\":\"function(doc){ emit(1, 1); }\",\"reduce\":\"_bogus\"}}}",
                 400, "invalid_design_doc", "`_bogus` is not a supported reduce function.");
    expect_error("PUT", "/ds/_design/a", "{\"views\":{\"x\":{\"map\":\"function(doc){ emit(\"}}}", 400,
                 "compilation_error",
                 "Compilation of the map function in the 'x' view failed: SyntaxError");
    expect_error("PUT", "/ds/_design/a", "{\"validate_doc_update\":\"function(a {\"}", 400,
                 "compilation_error", "Compilation of the validate_doc_update function failed");
    expect_error("PUT", "/ds/_design/a", "{\"validate_doc_update\":7}", 400, "invalid_design_doc",
                 "`validate_doc_update` field must have string type");
    /* An unknown language is stored, as CouchDB does. */
    ok("PUT", "/ds/_design/lisp", "{\"language\":\"lisp\",\"views\":{\"x\":{\"map\":\"(emit)\"}}}", 201);
    tresp r = req("GET", "/ds/_design/lisp/_view/x", NULL);
    T_EXPECT(r, 500);
    assert_true(t_has(&r, "\"error\":\"unknown_query_language\""));
    t_free(&r);
    /* Only database admins write design documents, on every path. */
    expect_error_as(BOB, "PUT", "/ds/_design/b", "{}", 403, "forbidden",
                    "You are not a db or server admin.");
    expect_error_as(BOB, "POST", "/ds", "{\"_id\":\"_design/b\"}", 403, "forbidden",
                    "You are not a db or server admin.");
    expect_error_as(ANON, "POST", "/ds", "{\"_id\":\"_design/b\"}", 401, "unauthorized",
                    "You are not a db or server admin.");
    r = req_as(BOB, "POST", "/ds/_bulk_docs", "{\"docs\":[{\"_id\":\"plain\"},{\"_id\":\"_design/b\"}]}");
    T_EXPECT(r, 201);
    assert_true(t_has(&r, "{\"id\":\"_design/b\",\"error\":\"forbidden\",\"reason\":"
                          "\"You are not a db or server admin.\"}"));
    assert_true(t_has(&r, "{\"ok\":true,\"id\":\"plain\""));
    t_free(&r);
    ok("DELETE", "/ds", NULL, 200);
}

/* ---- validate_doc_update --------------------------------------------------- */

static const char *VDU =
    "{\"validate_doc_update\":\"function(newDoc, oldDoc, userCtx, secObj){"
    " if (newDoc.bad) throw({forbidden: 'no bad docs'});"
    " if (newDoc.auth) throw({unauthorized: 'log in'});"
    " if (newDoc.str) throw('just a string');"
    " if (newDoc.who && newDoc.who != userCtx.name) throw({forbidden: 'not ' + userCtx.name});"
    " if (oldDoc && oldDoc.locked) throw({forbidden: 'locked'});"
    " if (newDoc._deleted && oldDoc && oldDoc.keep) throw({forbidden: 'keep ' + oldDoc._id});"
    " if (newDoc.sec && secObj.admins.names[0] != 'admin') throw({forbidden: 'no secobj'});"
    "}\"}";

static char *rev_of(const char *path)
{
    tresp r = req("GET", path, NULL);
    char rev[64];
    assert_true(t_json_str(r.body, "_rev", rev, sizeof rev));
    t_free(&r);
    return strdup(rev);
}

static void test_vdu(void **state)
{
    (void)state;
    make_bob();
    ok("PUT", "/vd", NULL, 201);
    ok("PUT", "/vd/keep", "{\"keep\":true}", 201);
    ok("PUT", "/vd/locked", "{\"locked\":true}", 201);
    ok("PUT", "/vd/_design/v", VDU, 201);
    /* Server admins are not exempt. */
    expect_error("PUT", "/vd/x", "{\"bad\":1}", 403, "forbidden", "no bad docs");
    expect_error("POST", "/vd", "{\"auth\":1}", 401, "unauthorized", "log in");
    expect_error("POST", "/vd", "{\"str\":1}", 500, "unknown_error", "just a string");
    ok("PUT", "/vd/good", "{\"n\":1}", 201);
    /* userCtx: the writer's name */
    ok("PUT", "/vd/mine", "{\"who\":\"admin\"}", 201);
    expect_error_as(BOB, "PUT", "/vd/mine2", "{\"who\":\"admin\"}", 403, "forbidden", "not bob");
    ok_as(BOB, "PUT", "/vd/mine3", "{\"who\":\"bob\"}", 201);
    /* secObj: the stored _security object */
    ok("PUT", "/vd/_security", "{\"admins\":{\"names\":[\"admin\"],\"roles\":[]},"
       "\"members\":{\"names\":[],\"roles\":[]}}", 200);
    ok("PUT", "/vd/secure", "{\"sec\":true}", 201);
    /* oldDoc on update and delete */
    char *rev = rev_of("/vd/keep");
    char path[256];
    snprintf(path, sizeof path, "/vd/keep?rev=%s", rev);
    expect_error("DELETE", path, NULL, 403, "forbidden", "keep keep");
    free(rev);
    rev = rev_of("/vd/locked");
    snprintf(path, sizeof path, "/vd/locked/att.txt?rev=%s", rev);
    tresp r = t_req_full("PUT", path, "data", 4, "text/plain", true, NULL);
    T_EXPECT(r, 403);
    assert_true(t_has(&r, "\"reason\":\"locked\""));
    t_free(&r);
    free(rev);
    /* _bulk_docs: per document */
    r = req("POST", "/vd/_bulk_docs",
            "{\"docs\":[{\"_id\":\"b1\"},{\"_id\":\"b2\",\"bad\":1},{\"_id\":\"b3\",\"auth\":1}]}");
    T_EXPECT(r, 201);
    assert_true(t_has(&r, "{\"ok\":true,\"id\":\"b1\""));
    assert_true(t_has(&r, "{\"id\":\"b2\",\"error\":\"forbidden\",\"reason\":\"no bad docs\"}"));
    assert_true(t_has(&r, "{\"id\":\"b3\",\"error\":\"unauthorized\",\"reason\":\"log in\"}"));
    t_free(&r);
    /* Replicated writes too. */
    r = req("POST", "/vd/_bulk_docs",
            "{\"new_edits\":false,\"docs\":[{\"_id\":\"r1\",\"_rev\":\"1-abc\",\"bad\":1},"
            "{\"_id\":\"r2\",\"_rev\":\"1-abd\"}]}");
    T_EXPECT(r, 201);
    assert_true(t_has(&r, "{\"id\":\"r1\",\"error\":\"forbidden\",\"reason\":\"no bad docs\"}"));
    t_free(&r);
    ok("GET", "/vd/r2", NULL, 200);
    expect_error("GET", "/vd/r1", NULL, 404, "not_found", "missing");
    /* Not on _local or _design documents. */
    ok("PUT", "/vd/_local/l", "{\"bad\":1}", 201);
    ok("PUT", "/vd/_design/other", "{\"bad\":1}", 201);
    /* A second validate_doc_update runs too; removing both lets all in. */
    ok("PUT", "/vd/_design/w",
       "{\"validate_doc_update\":\"function(d){ if (d.red) throw({forbidden: 'red'}); }\"}", 201);
    expect_error("PUT", "/vd/red", "{\"red\":1}", 403, "forbidden", "red");
    expect_error("PUT", "/vd/bad2", "{\"bad\":1}", 403, "forbidden", "no bad docs");
    rev = rev_of("/vd/_design/v");
    snprintf(path, sizeof path, "/vd/_design/v?rev=%s", rev);
    ok("DELETE", path, NULL, 200);
    free(rev);
    ok("PUT", "/vd/bad3", "{\"bad\":1}", 201);
    rev = rev_of("/vd/_design/w");
    snprintf(path, sizeof path, "/vd/_design/w?rev=%s", rev);
    ok("DELETE", path, NULL, 200);
    free(rev);
    ok("PUT", "/vd/red", "{\"red\":1}", 201);
    ok("DELETE", "/vd", NULL, 200);
}

/* ---- filters ---------------------------------------------------------------- */

static void test_filters(void **state)
{
    (void)state;
    ok("PUT", "/fl", NULL, 201);
    ok("PUT", "/fl/_design/f",
       "{\"filters\":{\"even\":\"function(doc, req){ return doc.n % 2 == 0; }\","
       "\"q\":\"function(doc, req){ return doc.t == req.query.t; }\","
       "\"del\":\"function(doc, req){ return doc._deleted; }\","
       "\"boom\":\"function(doc){ throw 'boom'; }\"},"
       "\"views\":{\"v\":{\"map\":\"function(doc){ if (doc.t == 'x') emit(doc._id, null); }\"}}}",
       201);
    ok("PUT", "/fl/_design/nofilters", "{}", 201);
    ok("PUT", "/fl/d1", "{\"n\":1,\"t\":\"x\"}", 201);
    ok("PUT", "/fl/d2", "{\"n\":2,\"t\":\"y\"}", 201);
    ok("PUT", "/fl/d3", "{\"n\":3,\"t\":\"x\"}", 201);
    ok("PUT", "/fl/d4", "{\"n\":4}", 201);
    char *rev = rev_of("/fl/d4");
    char path[256];
    snprintf(path, sizeof path, "/fl/d4?rev=%s", rev);
    ok("DELETE", path, NULL, 200);
    free(rev);
    tresp r = req("GET", "/fl/_changes?filter=f/even", NULL);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"id\":\"d2\"") && !t_has(&r, "\"id\":\"d1\"") &&
                !t_has(&r, "\"id\":\"d3\"") && !t_has(&r, "\"id\":\"d4\""));
    assert_true(t_has(&r, "\"last_seq\":"));
    t_free(&r);
    r = req("GET", "/fl/_changes?filter=f/q&t=x", NULL);
    assert_true(t_has(&r, "\"id\":\"d1\"") && t_has(&r, "\"id\":\"d3\"") &&
                !t_has(&r, "\"id\":\"d2\""));
    t_free(&r);
    r = req("GET", "/fl/_changes?filter=f/del", NULL);
    assert_true(t_has(&r, "\"id\":\"d4\"") && t_has(&r, "\"deleted\":true") &&
                !t_has(&r, "\"id\":\"d1\""));
    t_free(&r);
    r = req("POST", "/fl/_changes?filter=f/q&t=y", "{}");
    assert_true(t_has(&r, "\"id\":\"d2\"") && !t_has(&r, "\"id\":\"d1\""));
    t_free(&r);
    r = req("GET", "/fl/_changes?filter=_view&view=f/v", NULL);
    assert_true(t_has(&r, "\"id\":\"d1\"") && t_has(&r, "\"id\":\"d3\"") &&
                !t_has(&r, "\"id\":\"d2\""));
    t_free(&r);
    r = req("GET", "/fl/_changes?filter=_design", NULL);
    assert_true(t_has(&r, "\"id\":\"_design/f\"") && t_has(&r, "\"id\":\"_design/nofilters\"") &&
                !t_has(&r, "\"id\":\"d1\""));
    t_free(&r);
    /* A longpoll feed waits for a change that passes. */
    r = req("GET", "/fl/_changes?filter=f/even&feed=longpoll&since=now&timeout=200", NULL);
    assert_true(t_has(&r, "\"results\":[\n\n]") || t_has(&r, "\"results\":[]"));
    t_free(&r);
    /* CouchDB's refusals */
    expect_error("GET", "/fl/_changes?filter=bad", NULL, 400, "bad_request",
                 "`filter` must be of the form `designname/filtername`");
    expect_error("GET", "/fl/_changes?filter=f/nope", NULL, 404, "not_found",
                 "missing json key: nope");
    expect_error("GET", "/fl/_changes?filter=nofilters/x", NULL, 404, "not_found",
                 "missing json key: filters");
    expect_error("GET", "/fl/_changes?filter=gone/x", NULL, 404, "not_found", "missing");
    expect_error("GET", "/fl/_changes?filter=_view", NULL, 400, "bad_request",
                 "`view` filter parameter is not provided.");
    expect_error("GET", "/fl/_changes?filter=_view&view=f/nope", NULL, 404, "not_found",
                 "missing json key: nope");
    expect_error("GET", "/fl/_changes?filter=_bogus", NULL, 400, "bad_request",
                 "unknown builtin filter name");
    /* A filter that throws ends the answer cut short. */
    r = req("GET", "/fl/_changes?filter=f/boom", NULL);
    assert_false(t_has(&r, "\"last_seq\""));
    t_free(&r);
    ok("GET", "/fl", NULL, 200);
    ok("DELETE", "/fl", NULL, 200);
}

/* ---- update handlers ---------------------------------------------------------- */

static void test_updates(void **state)
{
    (void)state;
    ok("PUT", "/up", NULL, 201);
    ok("PUT", "/up/_design/u",
       "{\"updates\":{"
       "\"inc\":\"function(doc, req){ if (!doc) return [null, {code: 404, body: 'no doc'}];"
       " doc.n = (doc.n || 0) + 1; return [doc, {json: {n: doc.n}}]; }\","
       "\"make\":\"function(doc, req){ return [{_id: 'made-' + req.query.x, body: req.body,"
       " id: req.id}, 'created']; }\","
       "\"plain\":\"function(doc, req){ return [null, {body: 'hello ' + req.method,"
       " headers: {'X-Extra': 'yes'}}]; }\","
       "\"bad\":\"function(doc, req){ return [{_id: 'b', bad: true}, 'x']; }\"},"
       "\"validate_doc_update\":\"function(d){ if (d.bad) throw({forbidden: 'no'}); }\"}",
       201);
    ok("PUT", "/up/doc1", "{\"n\":1}", 201);
    tresp r = req("POST", "/up/_design/u/_update/inc/doc1", "");
    T_EXPECT(r, 201);
    assert_string_equal(r.body, "{\"n\":2}");
    char v[128];
    assert_true(t_header(&r, "X-Couch-Update-NewRev", v, sizeof v) && strncmp(v, "2-", 2) == 0);
    assert_true(t_header(&r, "X-Couch-Id", v, sizeof v) && strcmp(v, "doc1") == 0);
    assert_true(t_header(&r, "Content-Type", v, sizeof v) && strcmp(v, "application/json") == 0);
    t_free(&r);
    r = req("GET", "/up/doc1", NULL);
    assert_true(t_has(&r, "\"n\":2"));
    t_free(&r);
    r = req("PUT", "/up/_design/u/_update/inc/nope", "");
    T_EXPECT(r, 404);
    assert_string_equal(r.body, "no doc");
    t_free(&r);
    r = t_req_full("POST", "/up/_design/u/_update/make?x=1", "abc", 3, "text/plain", true, NULL);
    T_EXPECT(r, 201);
    assert_string_equal(r.body, "created");
    assert_true(t_header(&r, "Content-Type", v, sizeof v) &&
                strcmp(v, "text/html; charset=utf-8") == 0);
    t_free(&r);
    r = req("GET", "/up/made-1", NULL);
    assert_true(t_has(&r, "\"body\":\"abc\"") && t_has(&r, "\"id\":null"));
    t_free(&r);
    r = req("POST", "/up/_design/u/_update/plain", "");
    T_EXPECT(r, 200);
    assert_string_equal(r.body, "hello POST");
    assert_true(t_header(&r, "X-Extra", v, sizeof v) && strcmp(v, "yes") == 0);
    t_free(&r);
    expect_error("POST", "/up/_design/u/_update/bad", "", 403, "forbidden", "no");
    expect_error("POST", "/up/_design/u/_update/nope", "", 404, "not_found",
                 "missing updates function nope on design doc _design/u");
    expect_error("POST", "/up/_design/gone/_update/x", "", 404, "not_found", "missing");
    r = req("GET", "/up/_design/u/_update/inc/doc1", NULL);
    T_EXPECT(r, 405);
    t_free(&r);
    ok("DELETE", "/up", NULL, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ddoc_save),
        cmocka_unit_test(test_vdu),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_updates),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
