/* test_http_find.c — POST _find, _explain and _index over real HTTP, each
 * request checked against CouchDB 3.5's answer (shared/PROTOCOL-2.md B):
 * statuses, error names and reasons, the shapes of docs, bookmark,
 * warning and execution_stats, fields projections, index definitions as
 * GET _index shows them and as design documents store them, the planner's
 * choices; and hostile selectors (huge $in, deep nesting, catastrophic
 * regexes) answered 400 or quickly, never hanging.  Answers are compared as
 * parsed JSON, member order included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpc.h"
#include "st_json.h"
#include "st_jw.h"

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

/* ---- JSON helpers ----------------------------------------------------------- */

/* The value at a dotted path of keys and array indexes ("docs.0._id"). */
static const st_json *jat(const st_json *v, const char *path)
{
    char seg[256];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(seg, sizeof seg, "%.*s", (int)n, path);
        path += n + (path[n] == '.');
        if (v->type == ST_JSON_ARRAY) {
            size_t i = (size_t)strtoul(seg, NULL, 10);
            v = i < v->len ? &v->u.items[i] : NULL;
        } else {
            v = st_json_get(v, seg);
        }
    }
    return v;
}

static char *jtext(const st_json *v)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (!v)
        return strdup("(missing)");
    assert_int_equal(st_jw_init(&w, &b), ST_OK);
    st_jw_value(&w, v);
    st_jw_free(&w);
    return st_buf_take(&b, NULL);
}

/* The JSON at path in body equals want (both rendered canonically). */
#define JEQ(body, path, want) jeq(__FILE__, __LINE__, body, path, want)
static void jeq(const char *file, int line, const char *body, const char *path, const char *want)
{
    st_json_doc *d = NULL, *w = NULL;
    if (st_json_parse(body, strlen(body), NULL, &d, NULL) != ST_OK) {
        fprintf(stderr, "%s:%d: not JSON: %s\n", file, line, body);
        fail();
    }
    assert_int_equal(st_json_parse(want, strlen(want), NULL, &w, NULL), ST_OK);
    char *a = jtext(jat(st_json_doc_root(d), path)), *b = jtext(st_json_doc_root(w));
    if (strcmp(a, b) != 0)
        fprintf(stderr, "%s:%d: %s is %s, want %s\n", file, line, path, a, b);
    assert_string_equal(a, b);
    free(a);
    free(b);
    st_json_doc_free(d);
    st_json_doc_free(w);
}

static bool jhas(const char *body, const char *path)
{
    st_json_doc *d = NULL;
    if (st_json_parse(body, strlen(body), NULL, &d, NULL) != ST_OK)
        return false;
    bool has = jat(st_json_doc_root(d), path) != NULL;
    st_json_doc_free(d);
    return has;
}

/* The string at path, into out. */
static void jstr(const char *body, const char *path, char *out, size_t cap)
{
    st_json_doc *d = NULL;
    out[0] = '\0';
    assert_int_equal(st_json_parse(body, strlen(body), NULL, &d, NULL), ST_OK);
    const st_json *v = jat(st_json_doc_root(d), path);
    if (v && v->type == ST_JSON_STRING)
        snprintf(out, cap, "%s", v->u.str);
    st_json_doc_free(d);
}

static size_t jlen(const char *body, const char *path)
{
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse(body, strlen(body), NULL, &d, NULL), ST_OK);
    const st_json *v = jat(st_json_doc_root(d), path);
    size_t n = v ? v->len : 0;
    st_json_doc_free(d);
    return n;
}

static void expect_error(const char *method, const char *path, const char *body, int status,
                         const char *error, const char *reason)
{
    tresp r = t_req(method, path, body, true);
    if (r.status != status)
        fprintf(stderr, "%s %s %s: %ld %s\n", method, path, body ? body : "", r.status, r.body);
    T_EXPECT(r, status);
    JEQ(r.body, "error", error);
    if (reason)
        JEQ(r.body, "reason", reason);
    t_free(&r);
}

static void put_doc(const char *path, const char *json)
{
    tresp r = t_req("PUT", path, json, true);
    T_EXPECT(r, 201);
    t_free(&r);
}

static tresp post(const char *path, const char *json)
{
    return t_req("POST", path, json, true);
}

/* ---- the data ----------------------------------------------------------------- */

static void people(const char *db)
{
    char path[128];
    snprintf(path, sizeof path, "/%s", db);
    tresp r = t_req("PUT", path, NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    static const char *const docs[][2] = {
        {"alice", "{\"name\":\"alice\",\"age\":31,\"addr\":{\"city\":\"Oslo\"},\"active\":true}"},
        {"bob", "{\"name\":\"bob\",\"age\":25,\"addr\":{\"city\":\"Berlin\"},\"active\":false}"},
        {"carol", "{\"name\":\"carol\",\"age\":\"thirty\",\"active\":true}"},
        {"dave", "{\"name\":\"dave\",\"age\":40,\"active\":true}"},
        {"Eve", "{\"name\":\"Eve\",\"age\":22}"},
        {"frank", "{\"name\":\"frank\"}"},
        {"_design/view", "{\"language\":\"javascript\",\"name\":\"alice\",\"age\":99}"},
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        snprintf(path, sizeof path, "/%s/%s", db, docs[i][0]);
        put_doc(path, docs[i][1]);
    }
}

/* ---- _find ---------------------------------------------------------------------- */

static void test_find_request_errors(void **state)
{
    (void)state;
    people("ferr");
    tresp r = t_req("GET", "/ferr/_find", NULL, true);
    T_EXPECT(r, 405);
    t_free(&r);
    r = t_req_full("POST", "/ferr/_find", "{}", 2, "text/plain", true, NULL);
    T_EXPECT(r, 415);
    JEQ(r.body, "error", "\"bad_content_type\"");
    t_free(&r);
    expect_error("POST", "/ferr/_find", "{\"limit\":1}", 400, "\"missing_required_key\"",
                 "\"Missing required key: selector\"");
    expect_error("POST", "/ferr/_find", "{\"selector\":[1]}", 400, "\"invalid_selector_json\"",
                 NULL);
    expect_error("POST", "/ferr/_find", "[]", 400, "\"bad_request\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"limit\":-1}", 400,
                 "\"invalid_non_neg_integer\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"skip\":\"2\"}", 400,
                 "\"invalid_non_neg_integer\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"sort\":\"name\"}", 400,
                 "\"invalid_sort_json\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"sort\":[{\"name\":\"up\"}]}", 400,
                 "\"invalid_sort_field\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"sort\":[\"a\",{\"b\":\"desc\"}]}",
                 400, "\"unsupported_mixed_sort\"",
                 "\"Sorts currently only support a single direction for all fields.\"");
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"fields\":{}}", 400,
                 "\"invalid_fields\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"fields\":[\"a\",2]}", 400,
                 "\"invalid_field\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"use_index\":{}}", 400,
                 "\"invalid_index_name\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"bookmark\":\"g1AAAA!!\"}", 400,
                 "\"invalid_bookmark\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"r\":0}", 400,
                 "\"invalid_pos_integer\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"bogus\":1}", 400, "\"invalid_key\"",
                 "\"Invalid key bogus for this request.\"");
    expect_error("POST", "/ferr/_find", "{\"selector\":{\"a\":{\"$where\":\"x\"}}}", 400,
                 "\"not_supported\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{\"a\":{\"$frob\":1}}}", 400,
                 "\"invalid_operator\"", "\"Invalid operator: $frob\"");
    expect_error("POST", "/ferr/_find", "{\"selector\":{\"a\":{\"$exists\":1}}}", 400,
                 "\"bad_arg\"", NULL);
    expect_error("POST", "/ferr/_find", "{\"selector\":{\"name\":\"x\"},\"allow_fallback\":false}",
                 400, "\"invalid_index\"",
                 "\"You must specify an index with the `use_index` parameter.\"");
    expect_error("POST", "/ferr/_find", "{\"selector\":{},\"sort\":[\"_id\"]}", 400,
                 "\"no_usable_index\"",
                 "\"No index exists for this sort, try indexing by the sort fields.\"");
    expect_error("POST", "/nosuchdb/_find", "{\"selector\":{}}", 404, "\"not_found\"", NULL);
}

static void test_find_answers(void **state)
{
    (void)state;
    people("fans");
    /* A full scan: every document matched, design documents never. */
    tresp r = post("/fans/_find", "{\"selector\":{\"name\":{\"$gt\":\"b\"}},\"fields\":[\"_id\"]}");
    T_EXPECT(r, 200);
    JEQ(r.body, "docs", "[{\"_id\":\"Eve\"},{\"_id\":\"bob\"},{\"_id\":\"carol\"},"
                        "{\"_id\":\"dave\"},{\"_id\":\"frank\"}]");
    JEQ(r.body, "warning", "\"No matching index found, create an index to optimize query time.\"");
    assert_true(jhas(r.body, "bookmark"));
    assert_false(jhas(r.body, "execution_stats"));
    t_free(&r);
    /* Whole documents carry _rev; fields rebuild nesting, missing ones left out. */
    r = post("/fans/_find", "{\"selector\":{\"_id\":\"bob\"}}");
    JEQ(r.body, "docs.0._id", "\"bob\"");
    assert_true(jhas(r.body, "docs.0._rev"));
    t_free(&r);
    r = post("/fans/_find", "{\"selector\":{\"_id\":\"bob\"},\"fields\":[\"name\",\"addr.city\","
                            "\"nope\"]}");
    JEQ(r.body, "docs", "[{\"name\":\"bob\",\"addr\":{\"city\":\"Berlin\"}}]");
    t_free(&r);
    /* Collation: $lt "b" matches alice, not Eve (ICU order: e before E before f). */
    r = post("/fans/_find", "{\"selector\":{\"name\":{\"$lt\":\"b\"}},\"fields\":[\"_id\"]}");
    JEQ(r.body, "docs", "[{\"_id\":\"alice\"}]");
    t_free(&r);
    /* _id compares by bytes. */
    r = post("/fans/_find", "{\"selector\":{\"_id\":{\"$gt\":\"Zed\"}},\"fields\":[\"_id\"],"
                            "\"limit\":2}");
    JEQ(r.body, "docs", "[{\"_id\":\"alice\"},{\"_id\":\"bob\"}]");
    t_free(&r);
    /* $not skips documents lacking the field. */
    r = post("/fans/_find", "{\"selector\":{\"$not\":{\"age\":31}},\"fields\":[\"_id\"]}");
    JEQ(r.body, "docs", "[{\"_id\":\"Eve\"},{\"_id\":\"bob\"},{\"_id\":\"carol\"},"
                        "{\"_id\":\"dave\"}]");
    t_free(&r);
    /* limit 0, and execution statistics. */
    r = post("/fans/_find", "{\"selector\":{},\"limit\":0}");
    JEQ(r.body, "docs", "[]");
    JEQ(r.body, "bookmark", "\"nil\"");
    t_free(&r);
    r = post("/fans/_find", "{\"selector\":{\"active\":true},\"execution_stats\":true,"
                            "\"fields\":[\"_id\"]}");
    JEQ(r.body, "execution_stats.total_docs_examined", "6");
    JEQ(r.body, "execution_stats.total_quorum_docs_examined", "0");
    JEQ(r.body, "execution_stats.results_returned", "3");
    assert_true(jhas(r.body, "execution_stats.total_keys_examined"));
    assert_true(jhas(r.body, "execution_stats.execution_time_ms"));
    t_free(&r);
    /* Paging with the bookmark until past the end. */
    char bm[512] = "";
    size_t seen = 0;
    for (int page = 0; page < 10; page++) {
        char q[768];
        snprintf(q, sizeof q, "{\"selector\":{},\"limit\":2%s%s%s}", bm[0] ? ",\"bookmark\":\"" : "",
                 bm, bm[0] ? "\"" : "");
        r = post("/fans/_find", q);
        T_EXPECT(r, 200);
        size_t n = jlen(r.body, "docs");
        seen += n;
        jstr(r.body, "bookmark", bm, sizeof bm);
        assert_true(bm[0]);
        t_free(&r);
        if (n == 0)
            break;
    }
    assert_int_equal(seen, 6);
    /* A use_index that cannot serve the query: both warnings, in CouchDB's order. */
    r = post("/fans/_find", "{\"selector\":{\"name\":\"bob\"},\"use_index\":\"nope\"}");
    T_EXPECT(r, 200);
    JEQ(r.body, "warning", "\"_design/nope was not used because it does not contain a valid index "
                           "for this query.\\nNo matching index found, create an index to optimize "
                           "query time.\"");
    t_free(&r);
    r = post("/fans/_find", "{\"selector\":{\"name\":\"bob\"},\"use_index\":[\"nope\",\"x\"]}");
    JEQ(r.body, "warning", "\"_design/nope, x was not used because it is not a valid index for "
                           "this query.\\nNo matching index found, create an index to optimize "
                           "query time.\"");
    t_free(&r);
    /* Conflicts on request. */
    r = t_req("POST", "/fans/_bulk_docs",
              "{\"new_edits\":false,\"docs\":[{\"_id\":\"bob\",\"_rev\":\"1-ffffffffffffffffffffffffffffffff\",\"name\":\"bob2\"}]}",
              true);
    T_EXPECT(r, 201);
    t_free(&r);
    r = post("/fans/_find", "{\"selector\":{\"_id\":\"bob\"},\"conflicts\":true,"
                            "\"fields\":[\"_conflicts\"]}");
    assert_true(jhas(r.body, "docs.0._conflicts.0"));
    t_free(&r);
}

/* ---- _index ------------------------------------------------------------------------ */

static void test_index_crud(void **state)
{
    (void)state;
    people("fidx");
    tresp r = post("/fidx/_index", "{\"index\":{\"fields\":[\"age\"]}}");
    T_EXPECT(r, 200);
    JEQ(r.body, "result", "\"created\"");
    char id[128], name[64];
    assert_true(t_json_str(r.body, "id", id, sizeof id));
    assert_true(t_json_str(r.body, "name", name, sizeof name));
    assert_int_equal(strlen(name), 40);
    char want_id[128];
    snprintf(want_id, sizeof want_id, "_design/%s", name);
    assert_string_equal(id, want_id);
    t_free(&r);
    r = post("/fidx/_index", "{\"index\":{\"fields\":[\"age\"]}}");
    JEQ(r.body, "result", "\"exists\"");
    t_free(&r);
    r = post("/fidx/_index", "{\"index\":{\"fields\":[\"name\",\"age\"]},\"ddoc\":\"byname\","
                             "\"name\":\"name-age\",\"type\":\"json\"}");
    T_EXPECT(r, 200);
    JEQ(r.body, "", "{\"result\":\"created\",\"id\":\"_design/byname\",\"name\":\"name-age\"}");
    t_free(&r);
    r = post("/fidx/_index", "{\"index\":{\"fields\":[\"active\"],\"partial_filter_selector\":"
                             "{\"active\":true}},\"ddoc\":\"_design/byname\",\"name\":\"act\"}");
    JEQ(r.body, "id", "\"_design/byname\"");
    t_free(&r);
    /* Stored as CouchDB stores it; one design document, two indexes. */
    r = t_req("GET", "/fidx/_design/byname", NULL, true);
    JEQ(r.body, "language", "\"query\"");
    JEQ(r.body, "views.name-age", "{\"map\":{\"fields\":{\"name\":\"asc\",\"age\":\"asc\"},"
                                  "\"partial_filter_selector\":{}},\"reduce\":\"_count\","
                                  "\"options\":{\"def\":{\"fields\":[\"name\",\"age\"]}}}");
    JEQ(r.body, "views.act.map.partial_filter_selector", "{\"active\":{\"$eq\":true}}");
    t_free(&r);
    r = t_req("GET", "/fidx/_index", NULL, true);
    T_EXPECT(r, 200);
    JEQ(r.body, "total_rows", "4");
    JEQ(r.body, "indexes.0", "{\"ddoc\":null,\"name\":\"_all_docs\",\"type\":\"special\","
                             "\"def\":{\"fields\":[{\"_id\":\"asc\"}]}}");
    char row[512];
    snprintf(row, sizeof row, "{\"ddoc\":\"%s\",\"name\":\"%s\",\"type\":\"json\","
                              "\"partitioned\":false,\"def\":{\"fields\":[{\"age\":\"asc\"}]}}",
             id, name);
    JEQ(r.body, "indexes.1", "{\"ddoc\":\"_design/byname\",\"name\":\"act\",\"type\":\"json\","
                             "\"partitioned\":false,\"def\":{\"fields\":[{\"active\":\"asc\"}],"
                             "\"partial_filter_selector\":{\"active\":{\"$eq\":true}}}}");
    JEQ(r.body, "indexes.2.name", "\"name-age\"");
    JEQ(r.body, "indexes.3", row); /* "_design/cb46..." sorts after "_design/byname" */
    t_free(&r);
    r = t_req("GET", "/fidx/_index?limit=1&skip=1", NULL, true);
    JEQ(r.body, "total_rows", "4");
    JEQ(r.body, "indexes.0.name", "\"act\"");
    assert_int_equal(jlen(r.body, "indexes"), 1);
    t_free(&r);
    /* The age index: numbers in order, then "thirty"; no warning. */
    r = post("/fidx/_find", "{\"selector\":{\"age\":{\"$gt\":20}},\"fields\":[\"_id\",\"age\"]}");
    JEQ(r.body, "docs", "[{\"_id\":\"Eve\",\"age\":22},{\"_id\":\"bob\",\"age\":25},"
                        "{\"_id\":\"alice\",\"age\":31},{\"_id\":\"dave\",\"age\":40},"
                        "{\"_id\":\"carol\",\"age\":\"thirty\"}]");
    assert_false(jhas(r.body, "warning"));
    t_free(&r);
    r = post("/fidx/_find", "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[{\"age\":\"desc\"}],"
                            "\"fields\":[\"_id\"],\"limit\":2}");
    JEQ(r.body, "docs", "[{\"_id\":\"carol\"},{\"_id\":\"dave\"}]");
    t_free(&r);
    /* [name, age] cannot sort on name for a selector on name alone. */
    expect_error("POST", "/fidx/_find", "{\"selector\":{\"name\":{\"$gt\":\"a\"}},\"sort\":[\"name\"]}",
                 400, "\"no_usable_index\"", NULL);
    r = post("/fidx/_find", "{\"selector\":{\"name\":{\"$gt\":\"a\"},\"age\":{\"$gt\":0}},"
                            "\"sort\":[\"name\"],\"fields\":[\"_id\"]}");
    T_EXPECT(r, 200);
    JEQ(r.body, "docs", "[{\"_id\":\"alice\"},{\"_id\":\"bob\"},{\"_id\":\"carol\"},"
                        "{\"_id\":\"dave\"},{\"_id\":\"Eve\"}]");
    t_free(&r);
    /* The partial index: never picked by itself, answers from its documents
     * when named. */
    r = post("/fidx/_find", "{\"selector\":{\"active\":{\"$exists\":true}},\"fields\":[\"_id\"]}");
    assert_true(t_has(&r, "No matching index found"));
    JEQ(r.body, "docs", "[{\"_id\":\"alice\"},{\"_id\":\"bob\"},{\"_id\":\"carol\"},"
                        "{\"_id\":\"dave\"}]");
    t_free(&r);
    r = post("/fidx/_find", "{\"selector\":{\"active\":{\"$exists\":true}},\"fields\":[\"_id\"],"
                            "\"use_index\":[\"byname\",\"act\"]}");
    JEQ(r.body, "docs", "[{\"_id\":\"alice\"},{\"_id\":\"carol\"},{\"_id\":\"dave\"}]");
    assert_false(jhas(r.body, "warning"));
    t_free(&r);
    /* Writes keep the index current: a new document is found at once. */
    put_doc("/fidx/gina", "{\"name\":\"gina\",\"age\":21}");
    r = post("/fidx/_find", "{\"selector\":{\"age\":{\"$lt\":22}},\"fields\":[\"_id\"]}");
    JEQ(r.body, "docs", "[{\"_id\":\"gina\"}]");
    t_free(&r);
    /* _explain: the index, the normalised selector, the options. */
    r = post("/fidx/_explain", "{\"selector\":{\"age\":{\"$gt\":20}},\"limit\":3}");
    T_EXPECT(r, 200);
    JEQ(r.body, "dbname", "\"fidx\"");
    JEQ(r.body, "index", row);
    JEQ(r.body, "selector", "{\"age\":{\"$gt\":20}}");
    JEQ(r.body, "opts", "{\"use_index\":[],\"bookmark\":\"nil\",\"limit\":3,\"skip\":0,"
                        "\"sort\":{},\"fields\":[],\"partition\":\"\",\"r\":1,\"conflicts\":false,"
                        "\"stale\":false,\"update\":true,\"stable\":false,"
                        "\"execution_stats\":false,\"allow_fallback\":true}");
    JEQ(r.body, "limit", "3");
    JEQ(r.body, "mrargs.start_key", "[20]");
    JEQ(r.body, "mrargs.end_key", "[\"<MAX>\"]");
    JEQ(r.body, "mrargs.direction", "\"fwd\"");
    t_free(&r);
    r = post("/fidx/_explain", "{\"selector\":{\"name\":\"x\"}}");
    JEQ(r.body, "selector", "{\"name\":{\"$eq\":\"x\"}}");
    JEQ(r.body, "index.name", "\"_all_docs\"");
    t_free(&r);
    expect_error("GET", "/fidx/_explain", NULL, 405, "\"method_not_allowed\"", NULL);

    /* Deleting: unknown is 404; the last index takes its design document. */
    expect_error("DELETE", "/fidx/_index/byname/json/nope", NULL, 404, "\"not_found\"",
                 "\"missing\"");
    r = t_req("DELETE", "/fidx/_index/_design/byname/json/act", NULL, true);
    T_EXPECT(r, 200);
    JEQ(r.body, "", "{\"ok\":true}");
    t_free(&r);
    r = t_req("GET", "/fidx/_design/byname", NULL, true);
    T_EXPECT(r, 200);
    assert_false(jhas(r.body, "views.act"));
    t_free(&r);
    r = t_req("DELETE", "/fidx/_index/byname/json/name-age", NULL, true);
    T_EXPECT(r, 200);
    t_free(&r);
    r = t_req("GET", "/fidx/_design/byname", NULL, true);
    T_EXPECT(r, 404);
    t_free(&r);
    /* _bulk_delete: what was done and what was not. */
    char body[256];
    snprintf(body, sizeof body, "{\"docids\":[\"%s\",\"nonexistent-index\"]}", name);
    r = post("/fidx/_index/_bulk_delete", body);
    T_EXPECT(r, 200);
    snprintf(row, sizeof row, "{\"success\":[{\"id\":\"%s\",\"ok\":true}],"
                              "\"fail\":[{\"id\":\"_design/nonexistent-index\","
                              "\"error\":\"not_found\"}]}",
             id);
    JEQ(r.body, "", row);
    t_free(&r);
    r = t_req("GET", "/fidx/_index", NULL, true);
    JEQ(r.body, "total_rows", "1");
    t_free(&r);
    /* Only database admins write indexes. */
    r = t_req("POST", "/fidx/_index", "{\"index\":{\"fields\":[\"x\"]}}", false);
    assert_true(r.status == 401 || r.status == 403);
    t_free(&r);
}

static void test_index_errors(void **state)
{
    (void)state;
    people("fixe");
    expect_error("POST", "/fixe/_index", "{}", 400, "\"missing_required_key\"",
                 "\"Missing required key: index\"");
    expect_error("POST", "/fixe/_index", "{\"index\":{}}", 400, "\"missing_required_key\"",
                 "\"Missing required key: fields\"");
    expect_error("POST", "/fixe/_index", "{\"index\":{\"fields\":[\"a\"]},\"type\":\"bogus\"}", 400,
                 "\"invalid_index\"", "\"Invalid type for index: bogus\"");
    expect_error("POST", "/fixe/_index", "{\"index\":{\"fields\":\"a\"}}", 400,
                 "\"invalid_sort_json\"", NULL);
    expect_error("POST", "/fixe/_index", "{\"index\":{\"fields\":[{\"a\":\"up\"}]}}", 400,
                 "\"invalid_sort_field\"", NULL);
    expect_error("POST", "/fixe/_index", "{\"index\":{\"fields\":[\"a\"]},\"oops\":1}", 400,
                 "\"invalid_key\"", NULL);
    tresp r = post("/fixe/_index", "{\"index\":{\"fields\":[\"a\"]},\"type\":\"text\"}");
    T_EXPECT(r, 503);
    t_free(&r);
    r = post("/fixe/_index", "{\"index\":{\"fields\":[]}}");
    T_EXPECT(r, 200);
    t_free(&r);
    /* A design document of another language is not touched. */
    expect_error("POST", "/fixe/_index", "{\"index\":{\"fields\":[\"a\"]},\"ddoc\":\"view\"}", 400,
                 "\"invalid_ddoc_lang\"", NULL);
    r = t_req_full("POST", "/fixe/_index", "{}", 2, "text/plain", true, NULL);
    T_EXPECT(r, 415);
    t_free(&r);
    expect_error("PUT", "/fixe/_index", "{}", 405, "\"method_not_allowed\"", NULL);
}

/* ---- hostile selectors --------------------------------------------------------------- */

static void test_hostile_selectors(void **state)
{
    (void)state;
    people("fbad");
    /* Huge $in: over the limit is a 400, under it an answer. */
    size_t n = 70000, cap = n * 8 + 64, len = 0;
    char *q = malloc(cap);
    len += (size_t)snprintf(q + len, cap - len, "{\"selector\":{\"age\":{\"$in\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(q + len, cap - len, "%s%zu", i ? "," : "", i);
    snprintf(q + len, cap - len, "]}}}");
    double t0 = t_now_ms();
    tresp r = post("/fbad/_find", q);
    T_EXPECT(r, 400);
    JEQ(r.body, "error", "\"bad_arg\"");
    t_free(&r);
    char *cut = strstr(q, ",60000,");
    snprintf(cut, cap - (size_t)(cut - q), "]}}}");
    r = post("/fbad/_find", q);
    T_EXPECT(r, 200);
    t_free(&r);
    free(q);
    /* Nesting far past the limits: 400, not a crash. */
    char deep[8192];
    len = 0;
    len += (size_t)snprintf(deep + len, sizeof deep - len, "{\"selector\":");
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(deep + len, sizeof deep - len, "{\"a\":");
    len += (size_t)snprintf(deep + len, sizeof deep - len, "1");
    for (int i = 0; i < 201; i++)
        len += (size_t)snprintf(deep + len, sizeof deep - len, "}");
    r = post("/fbad/_find", deep);
    T_EXPECT(r, 400);
    t_free(&r);
    len = (size_t)snprintf(deep, sizeof deep, "{\"selector\":");
    /* 20 levels of $and are 40 of JSON: inside what the body may nest, past
     * what a selector may. */
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(deep + len, sizeof deep - len, "{\"$and\":[");
    len += (size_t)snprintf(deep + len, sizeof deep - len, "{}");
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(deep + len, sizeof deep - len, "]}");
    snprintf(deep + len, sizeof deep - len, "}");
    r = post("/fbad/_find", deep);
    T_EXPECT(r, 400);
    JEQ(r.body, "error", "\"invalid_selector\"");
    t_free(&r);
    /* A catastrophic regex over a long string: bounded, no match. */
    char big[9000] = "{\"s\":\"";
    size_t bl = strlen(big);
    for (int i = 0; i < 8000; i++)
        big[bl++] = 'a';
    snprintf(big + bl, sizeof big - bl, "!\"}");
    for (int i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof path, "/fbad/evil%d", i);
        put_doc(path, big);
    }
    double t1 = t_now_ms();
    r = post("/fbad/_find", "{\"selector\":{\"s\":{\"$regex\":\"(a+)+$\"}}}");
    T_EXPECT(r, 200);
    JEQ(r.body, "docs", "[]");
    t_free(&r);
    fprintf(stderr, "catastrophic regex over 5 docs of 8 KB: %.0f ms\n", t_now_ms() - t1);
    assert_true(t_now_ms() - t1 < 5000);
    expect_error("POST", "/fbad/_find", "{\"selector\":{\"s\":{\"$regex\":\"(\"}}}", 400,
                 "\"bad_arg\"", NULL);
    expect_error("POST", "/fbad/_find", "{\"selector\":{\"s\":{\"$mod\":[0,1]}}}", 400,
                 "\"bad_arg\"", NULL);
    /* Bodies that are not JSON at all. */
    expect_error("POST", "/fbad/_find", "{\"selector\":", 400, "\"bad_request\"", NULL);
    (void)t0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_request_errors),
        cmocka_unit_test(test_find_answers),
        cmocka_unit_test(test_index_crud),
        cmocka_unit_test(test_index_errors),
        cmocka_unit_test(test_hostile_selectors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
