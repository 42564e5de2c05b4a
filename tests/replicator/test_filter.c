/* test_filter.c — filtered replication by a design document's filter
 * function (filter "ddoc/name" + query_params) and by filter=_view, from a
 * local source (the replicator runs the function itself, in a query-server
 * pool) and from a remote one (the real `settee serve` runs it): only the
 * matching documents arrive, query_params reach the function as
 * req.query, the replication id covers the function's source and the
 * parameters, checkpoints resume, and a missing design document or
 * function fails the replication with 404 not_found.  The remote part is
 * skipped when the binary is not built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "repl_server.h"
#include "repl_testutil.h"
#include "st_qs.h"

static st_qs *qs;
static rs_server srv;
static bool have_srv;
static int counter;

#define FILTER_BY_TYPE "function(doc, req) { return doc.type === req.query.type; }"
#define DDOC                                                                                  \
    "{\"_id\":\"_design/app\",\"filters\":{\"by_type\":\"" FILTER_BY_TYPE "\","              \
    "\"throws\":\"function(doc) { throw new Error('no'); }\"},"                              \
    "\"views\":{\"big\":{\"map\":\"function(doc) { if (doc.n > 2) emit(doc.n); }\"}}}"

static int group_setup(void **state)
{
    (void)state;
    const char *js = getenv("SETTEE_JS");
    if (!js) {
        fprintf(stderr, "SETTEE_JS is not set\n");
        return -1;
    }
    st_qs_options o;
    st_qs_options_init(&o);
    o.max_procs = 2;
    st_error e;
    if (st_qs_new(&o, &qs, &e) != ST_OK || st_qs_set_language(qs, "javascript", js, &e) != ST_OK)
        return -1;
    /* The server (and a replication's own pool) find settee-js this way. */
    setenv("COUCHDB_QUERY_SERVER_JAVASCRIPT", js, 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    have_srv = rs_bin() != NULL && rs_start(&srv, "filter");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    bool clean = !have_srv || rs_stop(&srv);
    curl_global_cleanup();
    return st_qs_free(qs) == ST_OK && clean ? 0 : -1;
}

static st_db *fresh(char *path, size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "f%d.settee", counter++);
    rt_path(path, cap, name);
    return rt_open(path, true);
}

/* Six documents: n = 1..6, type a for odd n, b for even n. */
static void fill(st_db *db, int from, int to)
{
    for (int i = from; i <= to; i++)
        rt_put(db, NULL, "{\"_id\":\"d%02d\",\"n\":%d,\"type\":\"%s\"}", i, i, i % 2 ? "a" : "b");
}

/* The ids of db's documents, comma-separated, sorted. */
static char *ids_of(st_db *db)
{
    rt_rows rows = {0};
    st_changes_opts o;
    st_changes_opts_init(&o);
    st_error e;
    uint64_t last = 0, pending = 0;
    assert_int_equal(st_db_changes(db, &o, rt_row, &rows, &last, &pending, &e), ST_OK);
    if (rows.n)
        qsort(rows.ids, rows.n, sizeof *rows.ids, rt_cmpstr);
    size_t cap = 16;
    for (size_t i = 0; i < rows.n; i++)
        cap += strlen(rows.ids[i]) + 1;
    char *s = calloc(1, cap);
    for (size_t i = 0; i < rows.n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, rows.ids[i]);
        free(rows.ids[i]);
        free(rows.winners[i]);
    }
    free(rows.ids);
    free(rows.winners);
    return s;
}

static st_status run(const char *src, st_db *src_db, st_db *tgt_db, const char *filter,
                     const char *params, bool own_pool, st_repl_status *s)
{
    st_repl_config c;
    st_repl_config_init(&c);
    c.source = src;
    c.source_db = src_db;
    c.target_db = tgt_db;
    c.filter = filter;
    c.query_params = params;
    c.qs = own_pool ? NULL : qs;
    c.timeout_ms = 10000;
    c.max_retries = 2;
    c.retry_base_ms = 50;
    st_error e;
    return st_repl_run(&c, s, &e);
}

static void expect_ids(st_db *db, const char *want)
{
    char *got = ids_of(db);
    assert_string_equal(got, want);
    free(got);
}

/* ------------------------------------------------------------ local source */

static void local_function_with_query_params(void **state)
{
    (void)state;
    char pa[4096], pb[4096];
    st_db *a = fresh(pa, sizeof pa), *b = fresh(pb, sizeof pb);
    rt_put(a, NULL, "%s", DDOC);
    fill(a, 1, 6);
    st_repl_status s;
    assert_int_equal(run(NULL, a, b, "app/by_type", "{\"type\":\"b\"}", false, &s), ST_OK);
    expect_ids(b, "d02,d04,d06");
    assert_int_equal(s.docs_written, 3);
    char id_b[33];
    strcpy(id_b, s.replication_id);

    /* Other parameters: another replication (its own checkpoint), and the
     * function sees them. */
    assert_int_equal(run(NULL, a, b, "app/by_type", "{\"type\":\"a\"}", false, &s), ST_OK);
    expect_ids(b, "d01,d02,d03,d04,d05,d06");
    assert_string_not_equal(s.replication_id, id_b);

    /* The same ones again: the same id, resumed from its checkpoint. */
    assert_int_equal(run(NULL, a, b, "app/by_type", "{\"type\":\"b\"}", false, &s), ST_OK);
    assert_string_equal(s.replication_id, id_b);
    assert_int_equal(s.changes_read, 0);
    assert_int_equal(s.docs_written, 0);

    /* New documents: only those are read, the matching ones written. */
    fill(a, 7, 10);
    assert_int_equal(run(NULL, a, b, "app/by_type", "{\"type\":\"b\"}", false, &s), ST_OK);
    assert_string_equal(s.replication_id, id_b);
    assert_int_equal(s.docs_written, 2); /* d08, d10 */
    expect_ids(b, "d01,d02,d03,d04,d05,d06,d08,d10");
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

static void local_id_follows_the_code(void **state)
{
    (void)state;
    char pa[4096], pb[4096];
    st_db *a = fresh(pa, sizeof pa), *b = fresh(pb, sizeof pb);
    char rev[ST_REV_STR_MAX];
    rt_put(a, rev, "%s", DDOC);
    fill(a, 1, 4);
    st_repl_status s;
    assert_int_equal(run(NULL, a, b, "app/by_type", "{\"type\":\"a\"}", false, &s), ST_OK);
    char id1[33];
    strcpy(id1, s.replication_id);
    /* No query_params: {} in the id, another one; req.query.type is
     * undefined, so only the design document (no type either) matches,
     * as in CouchDB. */
    assert_int_equal(run(NULL, a, b, "app/by_type", NULL, false, &s), ST_OK);
    assert_string_not_equal(s.replication_id, id1);
    assert_int_equal(s.docs_written, 1);
    /* A changed function is a new replication that starts from 0. */
    rt_put(a, NULL,
           "{\"_id\":\"_design/app\",\"_rev\":\"%s\",\"filters\":{\"by_type\":"
           "\"function(doc, req) { return doc.type === req.query.type || doc.n === 4; }\"}}",
           rev);
    assert_int_equal(run(NULL, a, b, "app/by_type", "{\"type\":\"a\"}", false, &s), ST_OK);
    assert_string_not_equal(s.replication_id, id1);
    assert_true(s.changes_read >= 3); /* read again from the start */
    expect_ids(b, "_design/app,d01,d03,d04");
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

static void local_view_filter_and_own_pool(void **state)
{
    (void)state;
    char pa[4096], pb[4096];
    st_db *a = fresh(pa, sizeof pa), *b = fresh(pb, sizeof pb);
    rt_put(a, NULL, "%s", DDOC);
    fill(a, 1, 5);
    st_repl_status s;
    /* No pool given: the replication makes one (COUCHDB_QUERY_SERVER_*). */
    assert_int_equal(run(NULL, a, b, "_view", "{\"view\":\"app/big\"}", true, &s), ST_OK);
    expect_ids(b, "d03,d04,d05");
    /* _view without a view: the source's 400. */
    assert_int_equal(run(NULL, a, b, "_view", "{}", false, &s), ST_E_BAD_REQUEST);
    assert_non_null(strstr(s.last_error.reason, "`view` filter parameter is not provided."));
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

static void local_missing_and_failing_filters(void **state)
{
    (void)state;
    char pa[4096], pb[4096];
    st_db *a = fresh(pa, sizeof pa), *b = fresh(pb, sizeof pb);
    fill(a, 1, 3);
    st_repl_status s;
    assert_int_equal(run(NULL, a, b, "app/by_type", NULL, false, &s), ST_E_NOT_FOUND);
    assert_int_equal(s.state, ST_REPL_FAILED);
    assert_int_equal(s.last_http_status, 404);
    assert_non_null(strstr(s.last_error.reason, "Couldn't open document `_design/app`"));
    rt_put(a, NULL, "%s", DDOC);
    assert_int_equal(run(NULL, a, b, "app/nope", NULL, false, &s), ST_E_NOT_FOUND);
    assert_int_equal(s.last_http_status, 404);
    assert_non_null(strstr(s.last_error.reason, "missing json key: nope"));
    /* A function that throws fails the replication; nothing was written. */
    assert_int_equal(run(NULL, a, b, "app/throws", NULL, false, &s), ST_E_QUERY_SERVER);
    assert_int_equal(s.state, ST_REPL_FAILED);
    expect_ids(b, "");
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

static void config_refusals(void **state)
{
    (void)state;
    st_repl_config c;
    st_repl_config_init(&c);
    c.source = "a.settee";
    c.target = "b.settee";
    st_repl *r = NULL;
    st_error e;
    c.filter = "nofilter";
    assert_int_equal(st_repl_start(&c, &r, &e), ST_E_BAD_REQUEST);
    assert_string_equal(e.reason, "Invalid filter. Must match `ddocname/filtername`.");
    c.filter = "app/by_type";
    c.query_params = "[1]";
    assert_int_equal(st_repl_start(&c, &r, &e), ST_E_BAD_REQUEST);
    c.query_params = NULL;
    c.selector = "{\"type\":\"a\"}";
    assert_int_equal(st_repl_start(&c, &r, &e), ST_E_BAD_REQUEST);
    assert_string_equal(e.reason, "`selector`, `filter` and `doc_ids` are mutually exclusive");
    assert_null(r);
}

/* ----------------------------------------------------------- remote source */

static void remote_function_with_query_params(void **state)
{
    (void)state;
    if (!have_srv)
        skip();
    char db[32], path[64], url[256], pb[4096];
    snprintf(db, sizeof db, "rf%d", counter++);
    snprintf(path, sizeof path, "/%s", db);
    assert_int_equal(rs_http_status(&srv, "PUT", path, NULL), 201);
    snprintf(path, sizeof path, "/%s/_design/app", db);
    assert_int_equal(rs_http_status(&srv, "PUT", path, DDOC), 201);
    for (int i = 1; i <= 6; i++) {
        char doc[128];
        snprintf(path, sizeof path, "/%s/d%02d", db, i);
        snprintf(doc, sizeof doc, "{\"n\":%d,\"type\":\"%s\"}", i, i % 2 ? "a" : "b");
        assert_int_equal(rs_http_status(&srv, "PUT", path, doc), 201);
    }
    snprintf(url, sizeof url, "%s/%s", srv.base, db);
    st_db *b = fresh(pb, sizeof pb);
    st_repl_status s;
    assert_int_equal(run(url, NULL, b, "app/by_type", "{\"type\":\"a\"}", false, &s), ST_OK);
    expect_ids(b, "d01,d03,d05");
    char id1[33];
    strcpy(id1, s.replication_id);
    assert_int_equal(run(url, NULL, b, "app/by_type", "{\"type\":\"a\"}", false, &s), ST_OK);
    assert_string_equal(s.replication_id, id1);
    assert_int_equal(s.docs_written, 0);
    /* The view filter, run by the server. */
    assert_int_equal(run(url, NULL, b, "_view", "{\"view\":\"app/big\"}", false, &s), ST_OK);
    assert_string_not_equal(s.replication_id, id1);
    expect_ids(b, "d01,d03,d04,d05,d06");
    /* Missing filters: CouchDB's 404 not_found. */
    assert_int_equal(run(url, NULL, b, "nope/by_type", NULL, false, &s), ST_E_NOT_FOUND);
    assert_int_equal(s.last_http_status, 404);
    assert_non_null(strstr(s.last_error.reason, "Couldn't open document `_design/nope`"));
    assert_null(strstr(s.last_error.reason, RS_PASS)); /* the URL is shown without it */
    assert_int_equal(run(url, NULL, b, "app/nope", NULL, false, &s), ST_E_NOT_FOUND);
    assert_non_null(strstr(s.last_error.reason, "missing json key: nope"));
    st_db_close(b);
    rt_unlink(pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(local_function_with_query_params),
        cmocka_unit_test(local_id_follows_the_code),
        cmocka_unit_test(local_view_filter_and_own_pool),
        cmocka_unit_test(local_missing_and_failing_filters),
        cmocka_unit_test(config_refusals),
        cmocka_unit_test(remote_function_with_query_params),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
