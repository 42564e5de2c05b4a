/* test_find.c — local Mango queries through settee.h: every _find parameter
 * of settee_find against answers worked out by hand (selector, fields, sort
 * with and without an index, limit and its default, skip, bookmark paging,
 * use_index in both forms, allow_fallback, conflicts, the accepted no-op
 * options, warnings), the request errors with CouchDB's names, and json
 * index management (create, exists, list, delete, partial indexes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client/client_testutil.h"

typedef struct fx {
    char dir[4096];
    char path[4200];
    settee_db *db;
} fx;

/* The people every test queries (ids in byte order p0 < p1 < ...). */
static const char *const people[] = {
    "{\"_id\":\"p0\",\"name\":\"alice\",\"age\":31,\"addr\":{\"city\":\"Berlin\"},\"tags\":[\"a\",\"b\"]}",
    "{\"_id\":\"p1\",\"name\":\"bob\",\"age\":25,\"addr\":{\"city\":\"Paris\"},\"tags\":[\"b\"]}",
    "{\"_id\":\"p2\",\"name\":\"carol\",\"age\":42,\"addr\":{\"city\":\"Berlin\"},\"tags\":[]}",
    "{\"_id\":\"p3\",\"name\":\"dave\",\"age\":25,\"addr\":{\"city\":\"Rome\"}}",
    "{\"_id\":\"p4\",\"name\":\"eve\",\"age\":\"thirty\"}",
    "{\"_id\":\"p5\",\"name\":\"Frank\",\"age\":19,\"addr\":{\"city\":\"Paris\"},\"tags\":[\"a\"]}",
    "{\"_id\":\"p6\",\"name\":\"gina\",\"age\":null}",
    "{\"_id\":\"p7\",\"name\":\"hank\",\"age\":64,\"addr\":{\"city\":\"Berlin\"},\"tags\":[\"c\",\"a\"]}",
};

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    ct_tmpdir(f->dir, sizeof f->dir, "find");
    snprintf(f->path, sizeof f->path, "%s/find.settee", f->dir);
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = false;
    settee_error e;
    assert_int_equal(settee_db_open(f->path, &o, &f->db, &e), SETTEE_OK);
    for (size_t i = 0; i < sizeof people / sizeof people[0]; i++)
        assert_int_equal(settee_doc_put(f->db, people[i], SETTEE_NUL_TERMINATED, NULL, &e),
                         SETTEE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    assert_int_equal(settee_db_close(f->db), SETTEE_OK);
    ct_rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- running a query ----------------------------------------------------------- */

typedef struct answer {
    char ids[512];        /* "p1 p3 p0" */
    char first[512];      /* the first document's JSON */
    size_t n;
    size_t stop_after;    /* fn stops after this many (0: never) */
    char *bookmark, *warning;
    settee_error e;
} answer;

static int on_doc(void *ctx, const char *json, size_t len)
{
    answer *a = ctx;
    assert_int_equal(strlen(json), len);
    if (a->n == 0)
        snprintf(a->first, sizeof a->first, "%s", json);
    const char *id = strstr(json, "\"_id\":\"");
    char one[64] = "?";
    if (id)
        sscanf(id + 7, "%63[^\"]", one);
    size_t at = strlen(a->ids);
    snprintf(a->ids + at, sizeof a->ids - at, "%s%s", at ? " " : "", one);
    a->n++;
    return a->stop_after && a->n >= a->stop_after;
}

static void answer_free(answer *a)
{
    settee_free(a->bookmark);
    settee_free(a->warning);
    memset(a, 0, sizeof *a);
}

/* Run query; the status, and the answer in *a. */
static settee_status find(settee_db *db, const char *query, answer *a)
{
    size_t stop = a->stop_after;
    memset(a, 0, sizeof *a);
    a->stop_after = stop;
    return settee_find(db, query, SETTEE_NUL_TERMINATED, on_doc, a, &a->bookmark, &a->warning,
                       &a->e);
}

/* query must succeed with exactly these ids, in this order. */
static void expect_ids(settee_db *db, const char *query, const char *ids)
{
    answer a = {0};
    settee_status rc = find(db, query, &a);
    if (rc != SETTEE_OK)
        fprintf(stderr, "%s: %s\n", query, a.e.message);
    assert_int_equal(rc, SETTEE_OK);
    if (strcmp(a.ids, ids) != 0)
        fprintf(stderr, "%s\n  got  [%s]\n  want [%s]\n", query, a.ids, ids);
    assert_string_equal(a.ids, ids);
    answer_free(&a);
}

/* query must fail with code and a message starting with prefix. */
static void expect_error(settee_db *db, const char *query, settee_status code,
                         const char *prefix)
{
    answer a = {0};
    settee_status rc = find(db, query, &a);
    if (rc != code || strncmp(a.e.message, prefix, strlen(prefix)) != 0)
        fprintf(stderr, "%s: %d %s\n", query, (int)rc, a.e.message);
    assert_int_equal(rc, code);
    assert_int_equal(a.e.code, code);
    assert_true(strncmp(a.e.message, prefix, strlen(prefix)) == 0);
    assert_null(a.bookmark);
    assert_null(a.warning);
    assert_int_equal(a.n, 0); /* a failed call never runs its callback */
    answer_free(&a);
}

static void index_create(settee_db *db, const char *json, char **ddoc, char **name,
                         bool *existed)
{
    settee_error e;
    settee_status rc = settee_index_create(db, json, SETTEE_NUL_TERMINATED, ddoc, name, existed,
                                           &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "index %s: %s\n", json, e.message);
    assert_int_equal(rc, SETTEE_OK);
}

#define AGE_INDEX "{\"index\":{\"fields\":[\"age\"]}}"

/* ---- the tests ------------------------------------------------------------------ */

/* A selector alone: every match in _id order (a full scan) with CouchDB's
 * warning, a bookmark, and no design documents ever. */
static void test_selector_full_scan(void **state)
{
    fx *f = *state;
    answer a = {0};
    assert_int_equal(find(f->db, "{\"selector\":{\"addr.city\":\"Berlin\"}}", &a), SETTEE_OK);
    assert_string_equal(a.ids, "p0 p2 p7");
    assert_non_null(a.warning);
    assert_string_equal(a.warning,
                        "No matching index found, create an index to optimize query time.");
    assert_non_null(a.bookmark);
    assert_string_not_equal(a.bookmark, "nil");
    assert_int_equal(a.e.code, SETTEE_OK);
    answer_free(&a);
    index_create(f->db, AGE_INDEX, NULL, NULL, NULL);
    expect_ids(f->db, "{\"selector\":{}}", "p0 p1 p2 p3 p4 p5 p6 p7");
    expect_ids(f->db, "{\"selector\":{\"_id\":{\"$gt\":\"p5\"}}}", "p6 p7");
    expect_ids(f->db, "{\"selector\":{\"tags\":{\"$all\":[\"a\"]}}}", "p0 p5 p7");
    expect_ids(f->db, "{\"selector\":{\"name\":{\"$lt\":\"b\"}}}", "p0"); /* ICU: not Frank */
    /* The out-values are optional. */
    settee_error e;
    answer b = {0};
    assert_int_equal(settee_find(f->db, "{\"selector\":{\"age\":25}}", SETTEE_NUL_TERMINATED,
                                 on_doc, &b, NULL, NULL, &e),
                     SETTEE_OK);
    assert_string_equal(b.ids, "p1 p3");
}

/* fields: missing ones left out, dotted paths nested, _id only if listed. */
static void test_fields(void **state)
{
    fx *f = *state;
    answer a = {0};
    assert_int_equal(find(f->db,
                          "{\"selector\":{\"_id\":\"p0\"},"
                          "\"fields\":[\"name\",\"addr.city\",\"nope\"]}",
                          &a),
                     SETTEE_OK);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.first, "{\"name\":\"alice\",\"addr\":{\"city\":\"Berlin\"}}");
    answer_free(&a);
    assert_int_equal(find(f->db, "{\"selector\":{\"_id\":\"p3\"},\"fields\":[\"_id\",\"age\"]}",
                          &a),
                     SETTEE_OK);
    assert_string_equal(a.first, "{\"_id\":\"p3\",\"age\":25}");
    answer_free(&a);
    /* Without fields: the whole document with _id and _rev. */
    assert_int_equal(find(f->db, "{\"selector\":{\"_id\":\"p6\"}}", &a), SETTEE_OK);
    assert_true(strncmp(a.first, "{\"_id\":\"p6\",\"_rev\":\"1-", 20) == 0);
    assert_non_null(strstr(a.first, "\"name\":\"gina\",\"age\":null}"));
    answer_free(&a);
}

/* sort needs an index; with one, numbers then strings (collation), ties by
 * _id, both directions. */
static void test_sort(void **state)
{
    fx *f = *state;
    expect_error(f->db, "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[\"age\"]}",
                 SETTEE_BAD_REQUEST, "no_usable_index: No index exists for this sort");
    expect_error(f->db, "{\"selector\":{},\"sort\":[\"_id\"]}", SETTEE_BAD_REQUEST,
                 "no_usable_index:");
    char *ddoc = NULL, *name = NULL;
    bool existed = true;
    index_create(f->db, AGE_INDEX, &ddoc, &name, &existed);
    assert_false(existed);
    const char *q = "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[\"age\"]}";
    expect_ids(f->db, q, "p1 p3 p0 p2 p7 p4");
    expect_ids(f->db, "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[{\"age\":\"asc\"}]}",
               "p1 p3 p0 p2 p7 p4");
    expect_ids(f->db, "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[{\"age\":\"desc\"}]}",
               "p4 p7 p2 p0 p3 p1");
    /* An index answers without the full-scan warning. */
    answer a = {0};
    assert_int_equal(find(f->db, q, &a), SETTEE_OK);
    assert_null(a.warning);
    answer_free(&a);
    /* The selector picks the index without a sort too (its order, not _id's). */
    expect_ids(f->db, "{\"selector\":{\"age\":{\"$lt\":30}}}", "p6 p5 p1 p3");
    expect_error(f->db,
                 "{\"selector\":{\"age\":{\"$gt\":1}},\"sort\":[{\"age\":\"asc\"},"
                 "{\"name\":\"desc\"}]}",
                 SETTEE_BAD_REQUEST, "unsupported_mixed_sort:");
    expect_error(f->db, "{\"selector\":{},\"sort\":{\"age\":\"asc\"}}", SETTEE_BAD_REQUEST,
                 "invalid_sort_json:");
    expect_error(f->db, "{\"selector\":{},\"sort\":[{\"age\":\"up\"}]}", SETTEE_BAD_REQUEST,
                 "invalid_sort_field:");
    settee_free(ddoc);
    settee_free(name);
}

/* limit (and its default of 25), limit 0, skip, and paging by bookmark. */
static void test_limit_skip_bookmark(void **state)
{
    fx *f = *state;
    settee_error e;
    index_create(f->db, AGE_INDEX, NULL, NULL, NULL);
    expect_ids(f->db, "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[\"age\"],\"limit\":2}",
               "p1 p3");
    expect_ids(f->db, "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[\"age\"],\"skip\":4}",
               "p7 p4");
    expect_ids(f->db,
               "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[\"age\"],\"skip\":1,\"limit\":2}",
               "p3 p0");
    answer a = {0};
    assert_int_equal(find(f->db, "{\"selector\":{},\"limit\":0}", &a), SETTEE_OK);
    assert_int_equal(a.n, 0);
    assert_string_equal(a.bookmark, "nil");
    answer_free(&a);
    /* Pages of two, each resent with the previous bookmark. */
    const char *want[] = {"p1 p3", "p0 p2", "p7 p4", ""};
    char *bm = NULL;
    for (int page = 0; page < 4; page++) {
        char q[1024];
        snprintf(q, sizeof q,
                 "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[\"age\"],\"limit\":2%s%s%s}",
                 bm ? ",\"bookmark\":\"" : "", bm ? bm : "", bm ? "\"" : "");
        assert_int_equal(find(f->db, q, &a), SETTEE_OK);
        assert_string_equal(a.ids, want[page]);
        settee_free(bm);
        bm = a.bookmark;
        a.bookmark = NULL;
        answer_free(&a);
    }
    settee_free(bm);
    /* The default limit is 25. */
    for (int i = 0; i < 30; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\":\"q%02d\",\"kind\":\"filler\"}", i);
        assert_int_equal(settee_doc_put(f->db, j, SETTEE_NUL_TERMINATED, NULL, &e), SETTEE_OK);
    }
    assert_int_equal(find(f->db, "{\"selector\":{\"kind\":\"filler\"}}", &a), SETTEE_OK);
    assert_int_equal(a.n, 25);
    answer_free(&a);
    assert_int_equal(find(f->db, "{\"selector\":{\"kind\":\"filler\"},\"limit\":100}", &a),
                     SETTEE_OK);
    assert_int_equal(a.n, 30);
    answer_free(&a);
    expect_error(f->db, "{\"selector\":{},\"limit\":-1}", SETTEE_BAD_REQUEST,
                 "invalid_non_neg_integer:");
    expect_error(f->db, "{\"selector\":{},\"skip\":\"2\"}", SETTEE_BAD_REQUEST,
                 "invalid_non_neg_integer:");
    expect_error(f->db, "{\"selector\":{},\"bookmark\":\"not-a-bookmark\"}", SETTEE_BAD_REQUEST,
                 "invalid_bookmark:");
    expect_error(f->db, "{\"selector\":{},\"bookmark\":7}", SETTEE_BAD_REQUEST,
                 "invalid_bookmark:");
}

/* A callback that stops early: the bookmark resumes after its last document. */
static void test_stop_early(void **state)
{
    fx *f = *state;
    answer a = {.stop_after = 3};
    const char *q = "{\"selector\":{\"name\":{\"$gt\":\"\"}},\"limit\":100}";
    assert_int_equal(find(f->db, q, &a), SETTEE_OK);
    assert_string_equal(a.ids, "p0 p1 p2");
    assert_non_null(a.bookmark);
    char next[1024];
    snprintf(next, sizeof next,
             "{\"selector\":{\"name\":{\"$gt\":\"\"}},\"limit\":100,\"bookmark\":\"%s\"}",
             a.bookmark);
    answer_free(&a);
    expect_ids(f->db, next, "p3 p4 p5 p6 p7");
}

/* use_index as a string or [ddoc, name]; an unusable one warns (or fails
 * with allow_fallback false); a partial index answers only through it. */
static void test_use_index(void **state)
{
    fx *f = *state;
    index_create(f->db, AGE_INDEX, NULL, NULL, NULL);
    index_create(f->db, "{\"index\":{\"fields\":[\"name\"]},\"ddoc\":\"byname\",\"name\":\"name-idx\"}",
                 NULL, NULL, NULL);
    const char *sel = "\"selector\":{\"age\":{\"$gt\":20},\"name\":{\"$gt\":\"a\"}}";
    char q[512];
    snprintf(q, sizeof q, "{%s,\"use_index\":\"%s\"}", sel, "_design/byname");
    expect_ids(f->db, q, "p0 p1 p2 p3 p4 p7"); /* by name: alice bob carol dave eve hank */
    snprintf(q, sizeof q, "{%s,\"use_index\":[\"byname\",\"name-idx\"]}", sel);
    expect_ids(f->db, q, "p0 p1 p2 p3 p4 p7");
    snprintf(q, sizeof q, "{%s,\"use_index\":\"byname/name-idx\"}", sel);
    expect_ids(f->db, q, "p0 p1 p2 p3 p4 p7");
    snprintf(q, sizeof q, "{%s,\"sort\":[\"age\"]}", sel);
    expect_ids(f->db, q, "p1 p3 p0 p2 p7 p4");
    answer a = {0};
    snprintf(q, sizeof q, "{%s,\"sort\":[\"age\"],\"use_index\":\"nope\"}", sel);
    assert_int_equal(find(f->db, q, &a), SETTEE_OK);
    assert_string_equal(a.ids, "p1 p3 p0 p2 p7 p4");
    assert_non_null(a.warning);
    assert_string_equal(a.warning, "_design/nope was not used because it does not contain a "
                                   "valid index for this query.");
    answer_free(&a);
    snprintf(q, sizeof q, "{%s,\"use_index\":\"nope\",\"allow_fallback\":false}", sel);
    expect_error(f->db, q, SETTEE_BAD_REQUEST, "invalid_index:");
    expect_error(f->db, "{\"selector\":{},\"use_index\":42}", SETTEE_BAD_REQUEST,
                 "invalid_index_name:");
    expect_error(f->db, "{\"selector\":{},\"allow_fallback\":\"no\"}", SETTEE_BAD_REQUEST,
                 "invalid_boolean:");
    /* A partial index: never picked by itself; through use_index, only its
     * documents. */
    index_create(f->db,
                 "{\"index\":{\"fields\":[\"name\"],\"partial_filter_selector\":"
                 "{\"addr.city\":\"Berlin\"}},\"ddoc\":\"berlin\",\"name\":\"berlin-names\"}",
                 NULL, NULL, NULL);
    expect_ids(f->db, "{\"selector\":{\"name\":{\"$gt\":\"\"}},\"use_index\":\"berlin\"}",
               "p0 p2 p7");
    expect_ids(f->db, "{\"selector\":{\"name\":{\"$gt\":\"c\"}},\"use_index\":\"byname\"}",
               "p2 p3 p4 p5 p6 p7"); /* carol dave eve Frank gina hank */
}

/* conflicts:true adds _conflicts; the options that change nothing here are
 * accepted; unknown ones are not. */
static void test_conflicts_and_options(void **state)
{
    fx *f = *state;
    settee_error e;
    char *res = NULL;
    assert_int_equal(settee_bulk_docs(f->db,
                                      "{\"new_edits\":false,\"docs\":["
                                      "{\"_id\":\"c1\",\"_rev\":\"1-aaaa\",\"v\":1},"
                                      "{\"_id\":\"c1\",\"_rev\":\"1-bbbb\",\"v\":2}]}",
                                      SETTEE_NUL_TERMINATED, &res, &e),
                     SETTEE_OK);
    settee_free(res);
    answer a = {0};
    assert_int_equal(find(f->db, "{\"selector\":{\"v\":{\"$gt\":0}},\"conflicts\":true}", &a),
                     SETTEE_OK);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.first,
                        "{\"_id\":\"c1\",\"_rev\":\"1-bbbb\",\"v\":2,\"_conflicts\":[\"1-aaaa\"]}");
    answer_free(&a);
    assert_int_equal(find(f->db, "{\"selector\":{\"v\":{\"$gt\":0}}}", &a), SETTEE_OK);
    assert_null(strstr(a.first, "_conflicts"));
    answer_free(&a);
    expect_ids(f->db,
               "{\"selector\":{\"age\":64},\"r\":1,\"update\":false,\"stable\":true,"
               "\"stale\":\"ok\",\"execution_stats\":true,\"conflicts\":false}",
               "p7");
    expect_error(f->db, "{\"selector\":{},\"bogus\":1}", SETTEE_BAD_REQUEST,
                 "invalid_key: Invalid key bogus for this request.");
    expect_error(f->db, "{\"selector\":{},\"r\":0}", SETTEE_BAD_REQUEST, "invalid_pos_integer:");
    expect_error(f->db, "{\"selector\":{},\"conflicts\":1}", SETTEE_BAD_REQUEST,
                 "invalid_boolean:");
    expect_error(f->db, "{\"selector\":{},\"fields\":\"name\"}", SETTEE_BAD_REQUEST,
                 "invalid_fields:");
    expect_error(f->db, "{\"selector\":{},\"fields\":[1]}", SETTEE_BAD_REQUEST,
                 "invalid_field:");
}

/* Request errors: CouchDB's names at the start of the message; misuse. */
static void test_request_errors(void **state)
{
    fx *f = *state;
    expect_error(f->db, "{\"limit\":1}", SETTEE_BAD_REQUEST,
                 "missing_required_key: Missing required key: selector");
    expect_error(f->db, "{\"selector\":[]}", SETTEE_BAD_REQUEST, "invalid_selector_json:");
    expect_error(f->db, "{\"selector\":{\"a\":{\"$foo\":1}}}", SETTEE_BAD_REQUEST,
                 "invalid_operator:");
    expect_error(f->db, "{\"selector\":{\"a\":{\"$where\":1}}}", SETTEE_BAD_REQUEST,
                 "not_supported:");
    expect_error(f->db, "{\"selector\":{\"a\":{\"$size\":-1}}}", SETTEE_BAD_REQUEST,
                 "bad_arg:");
    expect_error(f->db, "{\"selector\":{\"a\":{\"$regex\":\"(\"}}}", SETTEE_BAD_REQUEST,
                 "bad_arg:");
    expect_error(f->db, "[1]", SETTEE_BAD_REQUEST, "Request body must be a JSON object");
    expect_error(f->db, "{\"selector\":", SETTEE_BAD_REQUEST, "");
    answer a = {0};
    settee_error e;
    assert_int_equal(settee_find(f->db, NULL, 0, on_doc, &a, NULL, NULL, &e), SETTEE_MISUSE);
    assert_int_equal(settee_find(f->db, "{\"selector\":{}}", SETTEE_NUL_TERMINATED, NULL, NULL,
                                 NULL, NULL, &e),
                     SETTEE_MISUSE);
    assert_int_equal(settee_find(NULL, "{\"selector\":{}}", SETTEE_NUL_TERMINATED, on_doc, &a,
                                 NULL, NULL, &e),
                     SETTEE_MISUSE);
    /* A counted body: only n bytes are read. */
    const char *q = "{\"selector\":{\"age\":64}}trailing garbage";
    assert_int_equal(settee_find(f->db, q, strlen("{\"selector\":{\"age\":64}}"), on_doc, &a,
                                 NULL, NULL, &e),
                     SETTEE_OK);
    assert_string_equal(a.ids, "p7");
}

/* Index management: generated and given names, "exists", several indexes
 * in one design document, list, delete (the last takes its ddoc along). */
static void test_index_management(void **state)
{
    fx *f = *state;
    settee_error e;
    char *ddoc = NULL, *name = NULL, *ddoc2 = NULL, *name2 = NULL;
    bool existed = true;
    index_create(f->db, AGE_INDEX, &ddoc, &name, &existed);
    assert_false(existed);
    assert_true(strncmp(ddoc, "_design/", 8) == 0);
    assert_true(strlen(name) > 0);
    index_create(f->db, AGE_INDEX, &ddoc2, &name2, &existed);
    assert_true(existed);
    assert_string_equal(ddoc, ddoc2);
    assert_string_equal(name, name2);
    settee_free(ddoc2);
    settee_free(name2);
    index_create(f->db,
                 "{\"index\":{\"fields\":[\"name\"]},\"ddoc\":\"byname\",\"name\":\"name-idx\","
                 "\"type\":\"json\"}",
                 &ddoc2, &name2, &existed);
    assert_false(existed);
    assert_string_equal(ddoc2, "_design/byname");
    assert_string_equal(name2, "name-idx");
    index_create(f->db,
                 "{\"index\":{\"fields\":[\"age\",{\"name\":\"asc\"}]},\"ddoc\":\"_design/byname\","
                 "\"name\":\"age-name\"}",
                 NULL, NULL, NULL);
    char *list = NULL;
    assert_int_equal(settee_index_list(f->db, &list, &e), SETTEE_OK);
    const char *head = "{\"total_rows\":4,\"indexes\":[{\"ddoc\":null,\"name\":\"_all_docs\"";
    assert_true(strncmp(list, head, strlen(head)) == 0);
    assert_non_null(strstr(list, "\"ddoc\":\"_design/byname\",\"name\":\"age-name\",\"type\":"
                                 "\"json\",\"partitioned\":false,\"def\":{\"fields\":[{\"age\":"
                                 "\"asc\"},{\"name\":\"asc\"}]}}"));
    assert_non_null(strstr(list, "\"name\":\"name-idx\""));
    assert_non_null(strstr(list, name));
    settee_free(list);
    /* The design document is an ordinary (replicating) document. */
    char *json = NULL;
    assert_int_equal(settee_doc_get(f->db, "_design/byname", NULL, &json, &e), SETTEE_OK);
    assert_non_null(strstr(json, "\"language\":\"query\""));
    settee_free(json);
    /* ... and never part of an answer. */
    expect_ids(f->db, "{\"selector\":{},\"limit\":100}", "p0 p1 p2 p3 p4 p5 p6 p7");
    assert_int_equal(settee_index_delete(f->db, "byname", "name-idx", &e), SETTEE_OK);
    assert_int_equal(settee_index_delete(f->db, "byname", "name-idx", &e), SETTEE_NOT_FOUND);
    assert_string_equal(e.message, "missing");
    assert_int_equal(settee_doc_get(f->db, "_design/byname", NULL, &json, &e), SETTEE_OK);
    settee_free(json);
    assert_int_equal(settee_index_delete(f->db, "_design/byname", "age-name", &e), SETTEE_OK);
    assert_int_equal(settee_doc_get(f->db, "_design/byname", NULL, &json, &e), SETTEE_NOT_FOUND);
    assert_int_equal(settee_index_delete(f->db, ddoc, name, &e), SETTEE_OK);
    assert_int_equal(settee_index_list(f->db, &list, &e), SETTEE_OK);
    assert_true(strncmp(list, "{\"total_rows\":1,", 16) == 0);
    settee_free(list);
    /* With the index gone, its sort is refused again. */
    expect_error(f->db, "{\"selector\":{\"age\":{\"$gt\":20}},\"sort\":[\"age\"]}",
                 SETTEE_BAD_REQUEST, "no_usable_index:");
    settee_free(ddoc);
    settee_free(name);
    settee_free(ddoc2);
    settee_free(name2);
}

static void expect_index_error(settee_db *db, const char *json, settee_status code, int http,
                               const char *prefix)
{
    settee_error e;
    char *ddoc = (char *)"x", *name = (char *)"x";
    assert_int_equal(settee_index_create(db, json, SETTEE_NUL_TERMINATED, &ddoc, &name, NULL,
                                         &e),
                     code);
    assert_null(ddoc);
    assert_null(name);
    if (strncmp(e.message, prefix, strlen(prefix)) != 0)
        fprintf(stderr, "%s: %s\n", json, e.message);
    assert_true(strncmp(e.message, prefix, strlen(prefix)) == 0);
    assert_int_equal(e.http_status, http);
}

static void test_index_errors(void **state)
{
    fx *f = *state;
    settee_error e;
    expect_index_error(f->db, "{}", SETTEE_BAD_REQUEST, 400, "missing_required_key:");
    expect_index_error(f->db, "{\"index\":{}}", SETTEE_BAD_REQUEST, 400, "missing_required_key:");
    expect_index_error(f->db, "{\"index\":{\"fields\":[\"a\"]},\"type\":\"bogus\"}",
                       SETTEE_BAD_REQUEST, 400, "invalid_index: Invalid type for index: bogus");
    expect_index_error(f->db, "{\"index\":{\"fields\":\"a\"}}", SETTEE_BAD_REQUEST, 400,
                       "invalid_sort_json:");
    expect_index_error(f->db, "{\"index\":{\"fields\":[{\"a\":\"up\"}]}}", SETTEE_BAD_REQUEST,
                       400, "invalid_sort_field:");
    /* No search service here: CouchDB's 503. */
    settee_error e2;
    settee_status rc = settee_index_create(f->db, "{\"index\":{\"fields\":[\"a\"]},\"type\":\"text\"}",
                                           SETTEE_NUL_TERMINATED, NULL, NULL, NULL, &e2);
    assert_int_not_equal(rc, SETTEE_OK);
    assert_int_equal(e2.http_status, 503);
    expect_index_error(f->db, "not json", SETTEE_BAD_REQUEST, 400, "");
    assert_int_equal(settee_index_create(f->db, NULL, 0, NULL, NULL, NULL, &e), SETTEE_MISUSE);
    assert_int_equal(settee_index_delete(f->db, NULL, "x", &e), SETTEE_MISUSE);
    assert_int_equal(settee_index_delete(f->db, "x", NULL, &e), SETTEE_MISUSE);
    assert_int_equal(settee_index_list(f->db, NULL, &e), SETTEE_MISUSE);
    char *list = NULL;
    assert_int_equal(settee_index_list(NULL, &list, &e), SETTEE_MISUSE);
    assert_null(list);
    assert_int_equal(settee_index_delete(f->db, "nope", "nope", &e), SETTEE_NOT_FOUND);
}

/* An index kept current by every write: a document changed, added or
 * deleted is found (or not) through it right after the write. */
static void test_index_stays_current(void **state)
{
    fx *f = *state;
    settee_error e;
    index_create(f->db, AGE_INDEX, NULL, NULL, NULL);
    const char *q = "{\"selector\":{\"age\":{\"$gte\":40}},\"sort\":[\"age\"]}";
    expect_ids(f->db, q, "p2 p7 p4");
    char *json = NULL;
    assert_int_equal(settee_doc_get(f->db, "p1", NULL, &json, &e), SETTEE_OK);
    char rev[64];
    sscanf(strstr(json, "\"_rev\":\"") + 8, "%63[^\"]", rev);
    settee_free(json);
    char j[256];
    snprintf(j, sizeof j, "{\"_id\":\"p1\",\"_rev\":\"%s\",\"name\":\"bob\",\"age\":50}", rev);
    assert_int_equal(settee_doc_put(f->db, j, SETTEE_NUL_TERMINATED, NULL, &e), SETTEE_OK);
    assert_int_equal(settee_doc_put(f->db, "{\"_id\":\"p8\",\"age\":41}", SETTEE_NUL_TERMINATED,
                                    NULL, &e),
                     SETTEE_OK);
    expect_ids(f->db, q, "p8 p2 p1 p7 p4");
    assert_int_equal(settee_doc_get(f->db, "p7", NULL, &json, &e), SETTEE_OK);
    sscanf(strstr(json, "\"_rev\":\"") + 8, "%63[^\"]", rev);
    settee_free(json);
    assert_int_equal(settee_doc_delete(f->db, "p7", rev, NULL, &e), SETTEE_OK);
    expect_ids(f->db, q, "p8 p2 p1 p4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_selector_full_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_skip_bookmark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_use_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_and_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_management, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_stays_current, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
