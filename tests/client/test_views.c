/* test_views.c — design documents in libsettee: views queried locally give
 * the rows `settee serve` gives for the same design document and documents
 * (every parameter family, map and reduce, built-in and JavaScript
 * reduces), kept up to date incrementally after local writes and after a
 * sync; validate_doc_update refuses local writes with the function's
 * message (and the server refuses the same document); a pulled revision the
 * local function refuses is a doc_write_failure of the sync; without a
 * query server plain writes work and design-document features answer a
 * clear error; a function that loops is cut off by the configured timeout.
 * SETTEE_JS names this build's settee-js (the server gets it in its ini).
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/client_testutil.h"
#include "client/ct_http.h"

typedef struct fx {
    ct_server srv;
    char dir[4096];
    char ini[4200];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    const char *js = getenv("SETTEE_JS");
    if (!f || !js)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(f->ini, sizeof f->ini, "[query_servers]\njavascript = %s\n", js);
    if (!ct_server_start_cfg(&f->srv, "views-srv", f->ini, false))
        return -1;
    ct_tmpdir(f->dir, sizeof f->dir, "views");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    bool clean = ct_server_stop(&f->srv);
    ct_rmdir(f->srv.data_dir);
    ct_rmdir(f->dir);
    curl_global_cleanup();
    free(f);
    return clean ? 0 : -1;
}

static settee_db *open_db(const fx *f, const char *name, const char *query_server,
                          unsigned timeout_ms)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = false;
    o.query_server = query_server;
    o.query_timeout_ms = timeout_ms;
    settee_db *db = NULL;
    settee_error e;
    settee_status rc = settee_db_open(path, &o, &db, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "open %s: %s\n", path, e.message);
    assert_int_equal(rc, SETTEE_OK);
    return db;
}

static void put(settee_db *db, const char *json)
{
    settee_error e;
    settee_status rc = settee_doc_put(db, json, SETTEE_NUL_TERMINATED, NULL, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "put %s: %s\n", json, e.message);
    assert_int_equal(rc, SETTEE_OK);
}

/* ------------------------------------------------------------------ rows */

/* A local answer in the server's layout, so the two compare as text. */
typedef struct answer {
    char *text;
    size_t len, cap;
    unsigned rows;
} answer;

static void add(answer *a, const char *s, size_t n)
{
    if (a->len + n + 1 > a->cap) {
        a->cap = (a->len + n + 1) * 2;
        a->text = realloc(a->text, a->cap);
        assert_non_null(a->text);
    }
    memcpy(a->text + a->len, s, n);
    a->len += n;
    a->text[a->len] = '\0';
}

static int collect(void *ctx, const settee_view_row *r)
{
    answer *a = ctx;
    if (a->rows++)
        add(a, ",", 1);
    add(a, r->json, r->json_len);
    /* The pieces are the row's own. */
    assert_non_null(memmem(r->json, r->json_len, r->key, r->key_len));
    return 0;
}

/* settee_view_query as the server's JSON text (without newlines). */
static char *local_view(settee_db *db, const char *view, const char *params)
{
    answer rows = {0};
    settee_view_result res;
    settee_error e;
    settee_status rc = settee_view_query(db, "app", view, params, SETTEE_NUL_TERMINATED,
                                         collect, &rows, &res, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "view %s %s: %s\n", view, params, e.message);
    assert_int_equal(rc, SETTEE_OK);
    answer out = {0};
    char head[128];
    if (res.reduced)
        snprintf(head, sizeof head, "{\"rows\":[");
    else
        snprintf(head, sizeof head, "{\"total_rows\":%llu,\"offset\":%llu,\"rows\":[",
                 (unsigned long long)res.total_rows, (unsigned long long)res.offset);
    add(&out, head, strlen(head));
    if (rows.text)
        add(&out, rows.text, rows.len);
    add(&out, "]}", 2);
    free(rows.text);
    return out.text;
}

/* The server's answer to POST /db/_design/app/_view/<view> with params. */
static char *server_view(const fx *f, const char *db, const char *view, const char *params)
{
    char path[256];
    snprintf(path, sizeof path, "/%s/_design/app/_view/%s", db, view);
    ct_resp r = ct_http(&f->srv, "POST", path, params);
    assert_int_equal(r.status, 200);
    size_t w = 0;
    for (size_t i = 0; i < r.len; i++)
        if (r.body[i] != '\n')
            r.body[w++] = r.body[i];
    r.body[w] = '\0';
    return r.body;
}

static void same_answer(const fx *f, settee_db *db, const char *rdb, const char *view,
                        const char *params)
{
    char *mine = local_view(db, view, params);
    char *theirs = server_view(f, rdb, view, params);
    if (strcmp(mine, theirs) != 0)
        fprintf(stderr, "%s %s\n local:  %s\n server: %s\n", view, params, mine, theirs);
    assert_string_equal(mine, theirs);
    free(mine);
    free(theirs);
}

/* ------------------------------------------------------------------ sync */

/* One-shot sync of db with the server's database rdb; its final status. */
static settee_sync_status sync_once(const fx *f, settee_db *db, const char *rdb,
                                    settee_sync_direction dir)
{
    char url[256];
    snprintf(url, sizeof url, "%s/%s", f->srv.url, rdb);
    settee_sync_config c;
    settee_sync_config_init(&c);
    c.url = url;
    c.user = CT_ADMIN;
    c.password = CT_PASS;
    c.continuous = false;
    c.direction = dir;
    settee_sync *s = NULL;
    settee_error e;
    assert_int_equal(settee_sync_start(db, &c, &s, &e), SETTEE_OK);
    settee_sync_status st;
    memset(&st, 0, sizeof st);
    for (uint64_t t0 = ct_now_ms(); ct_now_ms() - t0 < 30000;) {
        assert_int_equal(settee_sync_get_status(s, &st), SETTEE_OK);
        if (st.state == SETTEE_SYNC_STOPPED)
            break;
        ct_sleep_ms(10);
    }
    assert_int_equal(st.state, SETTEE_SYNC_STOPPED);
    settee_sync_free(s);
    return st;
}

/* ------------------------------------------------------------------ views */

static const char DDOC[] =
    "{\"_id\":\"_design/app\",\"views\":{"
    "\"by_type\":{\"map\":\"function(doc){ if (doc.type) emit([doc.type, doc.n], doc.n); }\","
    "\"reduce\":\"_sum\"},"
    "\"count\":{\"map\":\"function(doc){ if (doc.type) emit(doc.type, 1); }\","
    "\"reduce\":\"function(keys, values, rereduce){ return sum(values); }\"},"
    "\"plain\":{\"map\":\"function(doc){ if (doc.type) emit(doc.n, doc.label || null); }\"},"
    "\"stats\":{\"map\":\"function(doc){ if (doc.type) emit(doc.type, doc.n); }\","
    "\"reduce\":\"_stats\"}}}";

static const char *const PARAMS[] = {
    "{}",
    "{\"reduce\":false}",
    "{\"group\":true}",
    "{\"group_level\":1}",
    "{\"startkey\":[\"b\"],\"endkey\":[\"b\",{}],\"reduce\":false}",
    "{\"startkey\":[\"b\"],\"endkey\":[\"c\"],\"inclusive_end\":false,\"reduce\":false}",
    "{\"keys\":[[\"a\",3],[\"c\",7],[\"z\",0]],\"reduce\":false}",
    "{\"descending\":true,\"limit\":4,\"skip\":2,\"reduce\":false}",
    "{\"key\":[\"a\",3],\"reduce\":false,\"include_docs\":true}",
    "{\"startkey\":[\"b\"],\"reduce\":false,\"limit\":3}",
    "{\"descending\":true,\"group_level\":1,\"endkey\":[\"b\"]}",
};

static void all_params_equal(const fx *f, settee_db *db, const char *rdb)
{
    for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++)
        same_answer(f, db, rdb, "by_type", PARAMS[i]);
    same_answer(f, db, rdb, "count", "{\"group\":true}");
    same_answer(f, db, rdb, "count", "{}");
    same_answer(f, db, rdb, "stats", "{\"group\":true}");
    same_answer(f, db, rdb, "plain", "{}");
    same_answer(f, db, rdb, "plain", "{\"startkey\":5,\"endkey\":9,\"descending\":false}");
    same_answer(f, db, rdb, "plain",
                "{\"startkey\":4,\"startkey_docid\":\"d04\",\"endkey\":6,\"limit\":5}");
}

/* The same design document and documents on both sides: the same answers,
 * before and after local writes (pushed) and server writes (pulled). */
static void test_view_equals_server(void **state)
{
    fx *f = *state;
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vq", NULL), 201);
    settee_db *db = open_db(f, "vq", NULL, 0);
    put(db, DDOC);
    const char *types = "abc";
    for (int i = 0; i < 30; i++) {
        char j[160];
        snprintf(j, sizeof j, "{\"_id\":\"d%02d\",\"type\":\"%c\",\"n\":%d,\"label\":\"l%d\"}", i,
                 types[i % 3], i % 10, i);
        put(db, j);
    }
    settee_sync_status st = sync_once(f, db, "vq", SETTEE_SYNC_PUSH);
    assert_int_equal(st.last.code, SETTEE_OK);
    assert_int_equal(st.docs_pushed, 31);
    all_params_equal(f, db, "vq");
    /* Not two empty answers: the rows are there. */
    char *text = local_view(db, "by_type", "{\"reduce\":false,\"limit\":1}");
    assert_string_equal(text, "{\"total_rows\":30,\"offset\":0,\"rows\":["
                              "{\"id\":\"d00\",\"key\":[\"a\",0],\"value\":0}]}");
    free(text);
    text = local_view(db, "by_type", NULL);
    assert_string_equal(text, "{\"rows\":[{\"key\":null,\"value\":135}]}");
    free(text);

    /* Local writes: an edit, a delete, new documents; the index follows. */
    char *doc = NULL;
    settee_error e;
    assert_int_equal(settee_doc_get(db, "d03", NULL, &doc, &e), SETTEE_OK);
    char *rev = strstr(doc, "\"_rev\":\"");
    assert_non_null(rev);
    char edit[256];
    snprintf(edit, sizeof edit, "{\"_id\":\"d03\",\"_rev\":\"%.*s\",\"type\":\"c\",\"n\":42}",
             (int)(strchr(rev + 8, '"') - (rev + 8)), rev + 8);
    settee_free(doc);
    put(db, edit);
    assert_int_equal(settee_doc_get(db, "d04", NULL, &doc, &e), SETTEE_OK);
    rev = strstr(doc, "\"_rev\":\"");
    char rv[64];
    snprintf(rv, sizeof rv, "%.*s", (int)(strchr(rev + 8, '"') - (rev + 8)), rev + 8);
    settee_free(doc);
    assert_int_equal(settee_doc_delete(db, "d04", rv, NULL, &e), SETTEE_OK);
    put(db, "{\"_id\":\"n1\",\"type\":\"b\",\"n\":5,\"label\":\"new\"}");
    char *after = local_view(db, "by_type", "{\"reduce\":false,\"key\":[\"c\",42]}");
    assert_non_null(strstr(after, "\"id\":\"d03\""));
    free(after);
    st = sync_once(f, db, "vq", SETTEE_SYNC_PUSH);
    assert_int_equal(st.last.code, SETTEE_OK);
    assert_int_equal(st.docs_pushed, 3);
    all_params_equal(f, db, "vq");

    /* Writes on the server, pulled: the next query maps only them. */
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vq/s1",
                                    "{\"type\":\"a\",\"n\":8,\"label\":\"srv\"}"),
                     201);
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vq/s2", "{\"type\":\"d\",\"n\":1}"), 201);
    st = sync_once(f, db, "vq", SETTEE_SYNC_PULL);
    assert_int_equal(st.last.code, SETTEE_OK);
    assert_int_equal(st.docs_pulled, 2);
    all_params_equal(f, db, "vq");
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

static int count_rows(void *ctx, const settee_view_row *r)
{
    (void)r;
    ++*(unsigned *)ctx;
    return 0;
}

static int stop_after_two(void *ctx, const settee_view_row *r)
{
    (void)r;
    return ++*(unsigned *)ctx == 2;
}

static unsigned rows_of(settee_db *db, const char *params, settee_view_result *res)
{
    unsigned n = 0;
    settee_error e;
    assert_int_equal(settee_view_query(db, "_design/app", "plain", params,
                                       SETTEE_NUL_TERMINATED, count_rows, &n, res, &e),
                     SETTEE_OK);
    return n;
}

/* Index files (*.view) in dir. */
static int view_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        n += len > 5 && strcmp(de->d_name + len - 5, ".view") == 0;
    }
    closedir(d);
    return n;
}

/* update=false/lazy, result numbers, stopping early, and the errors. */
static void test_view_modes_and_errors(void **state)
{
    fx *f = *state;
    settee_db *db = open_db(f, "modes", NULL, 0);
    put(db, DDOC);
    put(db, "{\"_id\":\"x1\",\"type\":\"a\",\"n\":1}");
    put(db, "{\"_id\":\"x2\",\"type\":\"a\",\"n\":2}");
    settee_view_result res;
    assert_int_equal(rows_of(db, NULL, &res), 2);
    assert_false(res.reduced);
    assert_int_equal(res.total_rows, 2);
    uint64_t seq = res.update_seq;
    assert_true(seq >= 3);

    put(db, "{\"_id\":\"x3\",\"type\":\"a\",\"n\":3}");
    assert_int_equal(rows_of(db, "{\"update\":false}", &res), 2); /* as it was */
    assert_int_equal(res.update_seq, seq);
    assert_int_equal(rows_of(db, "{\"update\":\"lazy\"}", &res), 2); /* then updated */
    assert_int_equal(rows_of(db, "{\"update\":false}", &res), 3);
    assert_true(res.update_seq > seq);
    assert_int_equal(rows_of(db, "{\"stale\":\"ok\",\"skip\":1}", &res), 2);
    assert_int_equal(res.offset, 1);

    unsigned n = 0;
    settee_error e;
    assert_int_equal(settee_view_query(db, "app", "plain", NULL, 0, stop_after_two, &n, NULL, &e),
                     SETTEE_OK);
    assert_int_equal(n, 2);

    /* Reduce rows. */
    assert_int_equal(settee_view_query(db, "app", "count", "{\"group\":true}",
                                       SETTEE_NUL_TERMINATED, count_rows, &n, &res, &e),
                     SETTEE_OK);
    assert_true(res.reduced);

    /* CouchDB's errors, before any row. */
    n = 0;
    assert_int_equal(settee_view_query(db, "app", "plain", "{\"limit\":-1}",
                                       SETTEE_NUL_TERMINATED, count_rows, &n, NULL, &e),
                     SETTEE_QUERY_PARSE_ERROR);
    assert_string_equal(e.message, "Invalid value for positive integer: -1");
    assert_int_equal(e.http_status, 400);
    assert_int_equal(settee_view_query(db, "app", "plain", "{\"group\":true}",
                                       SETTEE_NUL_TERMINATED, count_rows, &n, NULL, &e),
                     SETTEE_QUERY_PARSE_ERROR);
    assert_int_equal(settee_view_query(db, "app", "plain", "[1]", SETTEE_NUL_TERMINATED,
                                       count_rows, &n, NULL, &e),
                     SETTEE_BAD_REQUEST);
    assert_int_equal(settee_view_query(db, "app", "plain", "{\"key\":", SETTEE_NUL_TERMINATED,
                                       count_rows, &n, NULL, &e),
                     SETTEE_BAD_REQUEST);
    assert_int_equal(settee_view_query(db, "app", "nope", NULL, 0, count_rows, &n, NULL, &e),
                     SETTEE_NOT_FOUND);
    assert_string_equal(e.message, "missing_named_view");
    assert_int_equal(settee_view_query(db, "other", "plain", NULL, 0, count_rows, &n, NULL, &e),
                     SETTEE_NOT_FOUND);
    assert_int_equal(n, 0);
    assert_int_equal(settee_view_query(NULL, "app", "plain", NULL, 0, count_rows, &n, NULL, &e),
                     SETTEE_MISUSE);
    assert_int_equal(settee_view_query(db, "app", "plain", NULL, 0, NULL, NULL, NULL, &e),
                     SETTEE_MISUSE);

    /* A design document that does not compile, or has the wrong shape. */
    settee_status rc = settee_doc_put(
        db, "{\"_id\":\"_design/bad\",\"views\":{\"v\":{\"map\":\"function(doc){ emit(\"}}}",
        SETTEE_NUL_TERMINATED, NULL, &e);
    assert_int_equal(rc, SETTEE_COMPILATION_ERROR);
    assert_non_null(strstr(e.message, "Compilation of the map function in the 'v' view failed"));
    rc = settee_doc_put(db, "{\"_id\":\"_design/bad\",\"views\":[]}", SETTEE_NUL_TERMINATED,
                        NULL, &e);
    assert_int_equal(rc, SETTEE_BAD_REQUEST);

    /* New functions, a new index; cleanup leaves only the current one. */
    char *doc = NULL;
    assert_int_equal(settee_doc_get(db, "_design/app", NULL, &doc, &e), SETTEE_OK);
    char *r = strstr(doc, "\"_rev\":\"");
    char changed[256];
    snprintf(changed, sizeof changed,
             "{\"_id\":\"_design/app\",\"_rev\":\"%.*s\",\"views\":{\"plain\":{\"map\":"
             "\"function(doc){ emit(doc._id, 2); }\"}}}",
             (int)(strchr(r + 8, '"') - (r + 8)), r + 8);
    settee_free(doc);
    put(db, changed);
    assert_int_equal(rows_of(db, NULL, &res), 3); /* design documents are not mapped */
    char vdir[4200];
    snprintf(vdir, sizeof vdir, "%s/modes-views", f->dir);
    assert_int_equal(view_files(vdir), 2);
    assert_int_equal(settee_view_cleanup(db, &e), SETTEE_OK);
    assert_int_equal(view_files(vdir), 1);
    assert_int_equal(settee_view_cleanup(NULL, &e), SETTEE_MISUSE);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

/* ------------------------------------------------------------- validation */

static const char VDU[] =
    "{\"_id\":\"_design/rules\",\"validate_doc_update\":\"function(newDoc, oldDoc, userCtx, "
    "secObj) {"
    " if (newDoc.bad) throw({forbidden: 'no bad documents'});"
    " if (newDoc.needs_user && !userCtx.name) throw({unauthorized: 'log in first'});"
    " if (newDoc.admin_only && userCtx.roles.indexOf('_admin') < 0)"
    "   throw({forbidden: 'admins only, not ' + userCtx.name + ' ' + userCtx.roles.join()});"
    " if (newDoc._deleted && oldDoc && oldDoc.keep) throw({forbidden: 'keep me'});"
    " if (newDoc._id.indexOf('locked') === 0) throw({forbidden: 'locked'});"
    "}\"}";

static void refused(settee_db *db, const char *json, settee_status code, const char *msg)
{
    settee_error e;
    char *rev = (char *)"untouched";
    assert_int_equal(settee_doc_put(db, json, SETTEE_NUL_TERMINATED, &rev, &e), code);
    assert_null(rev);
    assert_int_equal(e.code, code);
    assert_string_equal(e.message, msg);
}

static void test_validation_local_and_server(void **state)
{
    fx *f = *state;
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vv", NULL), 201);
    settee_db *db = open_db(f, "vv", NULL, 0);
    put(db, VDU);
    put(db, "{\"_id\":\"ok1\",\"fine\":true}");
    refused(db, "{\"_id\":\"b1\",\"bad\":true}", SETTEE_FORBIDDEN, "no bad documents");
    settee_error e;
    assert_int_equal(settee_doc_put(db, "{\"_id\":\"b1\",\"bad\":true}", SETTEE_NUL_TERMINATED,
                                    NULL, &e),
                     SETTEE_FORBIDDEN);
    assert_int_equal(e.http_status, 403);
    refused(db, "{\"_id\":\"u1\",\"needs_user\":true}", SETTEE_UNAUTHORIZED, "log in first");
    assert_int_equal(settee_doc_put(db, "{\"_id\":\"u1\",\"needs_user\":true}",
                                    SETTEE_NUL_TERMINATED, NULL, &e),
                     SETTEE_UNAUTHORIZED);
    assert_int_equal(e.http_status, 401);
    assert_int_equal(settee_doc_get(db, "b1", NULL, &(char *){NULL}, &e), SETTEE_NOT_FOUND);

    /* The server refuses the same documents with the same words (pushed
     * design document, then the same PUTs over HTTP). */
    settee_sync_status st = sync_once(f, db, "vv", SETTEE_SYNC_PUSH);
    assert_int_equal(st.last.code, SETTEE_OK);
    ct_resp r = ct_http(&f->srv, "PUT", "/vv/b1", "{\"bad\":true}");
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "\"reason\":\"no bad documents\""));
    free(r.body);
    r = ct_http(&f->srv, "PUT", "/vv/locked2", "{}");
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "\"reason\":\"locked\""));
    free(r.body);

    /* Every write path. */
    char *res = NULL;
    assert_int_equal(settee_bulk_docs(db, "{\"docs\":[{\"_id\":\"k1\"},{\"_id\":\"k2\",\"bad\":1}]}",
                                      SETTEE_NUL_TERMINATED, &res, &e),
                     SETTEE_OK);
    assert_non_null(strstr(res, "\"id\":\"k1\""));
    assert_non_null(strstr(res, "\"error\":\"forbidden\",\"reason\":\"no bad documents\""));
    settee_free(res);
    char *id = NULL;
    assert_int_equal(settee_doc_post(db, "{\"bad\":true}", SETTEE_NUL_TERMINATED, &id, NULL, &e),
                     SETTEE_FORBIDDEN);
    assert_null(id);
    char *rev = NULL;
    assert_int_equal(settee_att_put(db, "locked1", NULL, "a.txt", "text/plain", "hi", 2, &rev,
                                    &e),
                     SETTEE_FORBIDDEN);
    assert_string_equal(e.message, "locked");
    assert_int_equal(settee_doc_put(db, "{\"_id\":\"keep1\",\"keep\":true}", SETTEE_NUL_TERMINATED,
                                    &rev, &e),
                     SETTEE_OK);
    assert_int_equal(settee_doc_delete(db, "keep1", rev, NULL, &e), SETTEE_FORBIDDEN);
    assert_string_equal(e.message, "keep me");
    settee_free(rev);
    /* _local documents are never validated. */
    put(db, "{\"_id\":\"_local/b\",\"bad\":true}");

    /* userCtx: the local admin by default, then the app's user. */
    put(db, "{\"_id\":\"a1\",\"admin_only\":true}");
    const char *roles[] = {"editor", "viewer"};
    assert_int_equal(settee_db_set_user(db, "bob", roles, 2, &e), SETTEE_OK);
    put(db, "{\"_id\":\"u2\",\"needs_user\":true}");
    refused(db, "{\"_id\":\"a2\",\"admin_only\":true}", SETTEE_FORBIDDEN,
            "admins only, not bob editor,viewer");
    assert_int_equal(settee_db_set_user(db, NULL, NULL, 0, &e), SETTEE_OK);
    refused(db, "{\"_id\":\"u3\",\"needs_user\":true}", SETTEE_UNAUTHORIZED, "log in first");
    assert_int_equal(settee_db_set_user(db, "x", NULL, 1, &e), SETTEE_MISUSE);
    assert_int_equal(settee_db_set_user(NULL, "x", NULL, 0, &e), SETTEE_MISUSE);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

/* A pulled revision the local validate_doc_update refuses: not written,
 * counted in doc_write_failures, reported in last; the others arrive. */
static void test_sync_refused_by_local_vdu(void **state)
{
    fx *f = *state;
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vs", NULL), 201);
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vs/good1", "{\"n\":1}"), 201);
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vs/bad1", "{\"bad\":true}"), 201);
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vs/good2", "{\"n\":2}"), 201);
    settee_db *db = open_db(f, "vs", NULL, 0);
    put(db, VDU); /* local only: the pull does not take it up */
    settee_sync_status st = sync_once(f, db, "vs", SETTEE_SYNC_PULL);
    assert_int_equal(st.doc_write_failures, 1);
    assert_int_equal(st.docs_pulled, 2);
    assert_int_equal(st.last.code, SETTEE_FORBIDDEN);
    assert_non_null(strstr(st.last.message, "bad1"));
    assert_non_null(strstr(st.last.message, "no bad documents"));
    char *doc = NULL;
    settee_error e;
    assert_int_equal(settee_doc_get(db, "bad1", NULL, &doc, &e), SETTEE_NOT_FOUND);
    assert_int_equal(settee_doc_get(db, "good2", NULL, &doc, &e), SETTEE_OK);
    settee_free(doc);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

/* doc (whose first member is "_id") without its _id, for a PUT. */
static char *without_id(const char *doc)
{
    const char *comma = strchr(doc, ',');
    assert_non_null(comma);
    char *out = malloc(strlen(comma) + 1);
    assert_non_null(out);
    out[0] = '{';
    strcpy(out + 1, comma + 1);
    return out;
}

/* The server's design documents, pulled: its views answer offline and its
 * validate_doc_update refuses offline what the server refuses. */
static void test_pulled_design_documents(void **state)
{
    fx *f = *state;
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vp", NULL), 201);
    char *body = without_id(DDOC);
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vp/_design/app", body), 201);
    free(body);
    body = without_id(VDU);
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vp/_design/rules", body), 201);
    free(body);
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/vp/s1", "{\"type\":\"a\",\"n\":4}"), 201);
    settee_db *db = open_db(f, "vp", NULL, 0);
    settee_sync_status st = sync_once(f, db, "vp", SETTEE_SYNC_PULL);
    assert_int_equal(st.last.code, SETTEE_OK);
    assert_int_equal(st.docs_pulled, 3);
    put(db, "{\"_id\":\"l1\",\"type\":\"b\",\"n\":2}"); /* offline */
    refused(db, "{\"_id\":\"l2\",\"bad\":true}", SETTEE_FORBIDDEN, "no bad documents");
    char *rows = local_view(db, "by_type", "{\"reduce\":false}");
    assert_string_equal(rows, "{\"total_rows\":2,\"offset\":0,\"rows\":["
                              "{\"id\":\"s1\",\"key\":[\"a\",4],\"value\":4},"
                              "{\"id\":\"l1\",\"key\":[\"b\",2],\"value\":2}]}");
    free(rows);
    st = sync_once(f, db, "vp", SETTEE_SYNC_PUSH);
    assert_int_equal(st.last.code, SETTEE_OK);
    same_answer(f, db, "vp", "by_type", "{\"reduce\":false}");
    same_answer(f, db, "vp", "by_type", "{\"group_level\":1}");
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

/* ------------------------------------------------------ no query server */

static void test_no_query_server(void **state)
{
    fx *f = *state;
    settee_db *db = open_db(f, "nojs", "/nonexistent/settee-js", 0);
    put(db, "{\"_id\":\"p1\",\"type\":\"a\",\"n\":1}");
    put(db, DDOC); /* stored; its functions cannot be compiled here */
    char *doc = NULL;
    settee_error e;
    assert_int_equal(settee_doc_get(db, "p1", NULL, &doc, &e), SETTEE_OK);
    settee_free(doc);
    unsigned n = 0;
    assert_int_equal(settee_view_query(db, "app", "plain", NULL, 0, count_rows, &n, NULL, &e),
                     SETTEE_UNKNOWN_QUERY_LANGUAGE);
    assert_int_equal(n, 0);
    assert_non_null(strstr(e.message, "settee-js not found at '/nonexistent/settee-js'"));
    assert_non_null(strstr(e.message, "view 'plain' of _design/app"));
    put(db, "{\"_id\":\"p2\"}"); /* no validate_doc_update: writes go on */

    /* A validate_doc_update that cannot run refuses what it would check. */
    put(db, VDU);
    settee_status rc = settee_doc_put(db, "{\"_id\":\"p3\"}", SETTEE_NUL_TERMINATED, NULL, &e);
    assert_int_equal(rc, SETTEE_UNKNOWN_QUERY_LANGUAGE);
    assert_non_null(strstr(e.message, "validate_doc_update of _design/rules cannot run"));
    assert_non_null(strstr(e.message, "settee-js not found"));
    put(db, "{\"_id\":\"_local/p3\"}");
    assert_int_equal(settee_db_close(db), SETTEE_OK);

    /* "" switches JavaScript off, whatever SETTEE_JS says. */
    db = open_db(f, "nojs2", "", 0);
    put(db, DDOC);
    assert_int_equal(settee_view_query(db, "app", "plain", NULL, 0, count_rows, &n, NULL, &e),
                     SETTEE_UNKNOWN_QUERY_LANGUAGE);
    assert_non_null(strstr(e.message, "switched off"));
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

/* A map function that never returns is killed at query_timeout_ms; the
 * database, and its other views, go on. */
static void test_function_timeout(void **state)
{
    fx *f = *state;
    settee_db *db = open_db(f, "loop", NULL, 300);
    put(db, "{\"_id\":\"_design/app\",\"views\":{"
            "\"loop\":{\"map\":\"function(doc){ while (true) {} }\"}}}");
    put(db, "{\"_id\":\"_design/other\",\"views\":{"
            "\"plain\":{\"map\":\"function(doc){ if (doc.type) emit(doc.n, null); }\"}}}");
    put(db, "{\"_id\":\"q1\",\"type\":\"a\",\"n\":1}");
    unsigned n = 0;
    settee_error e;
    uint64_t t0 = ct_now_ms();
    assert_int_equal(settee_view_query(db, "app", "loop", NULL, 0, count_rows, &n, NULL, &e),
                     SETTEE_OS_PROCESS_ERROR);
    assert_true(ct_now_ms() - t0 < 10000);
    put(db, "{\"_id\":\"q2\"}");
    assert_int_equal(settee_view_query(db, "other", "plain", NULL, 0, count_rows, &n, NULL, &e),
                     SETTEE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_equals_server),
        cmocka_unit_test(test_view_modes_and_errors),
        cmocka_unit_test(test_validation_local_and_server),
        cmocka_unit_test(test_sync_refused_by_local_vdu),
        cmocka_unit_test(test_pulled_design_documents),
        cmocka_unit_test(test_no_query_server),
        cmocka_unit_test(test_function_timeout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
