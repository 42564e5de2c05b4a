/* test_remote.c — replication against the real `settee serve` binary:
 * local → remote and remote → local (docs, deletions, conflicts,
 * attachments, stemmed histories end identical), remote → remote,
 * checkpoints on both sides (a second run sends nothing), the _bulk_get
 * fallback, and clear failures for bad credentials and missing databases;
 * a continuous replication that waits for a missing source (and for one that
 * is deleted and re-created), its last_error cleared once it recovers; and
 * _bulk_docs answered 413 by a server with a small max_http_request_size:
 * batches halved down to single documents.  Skipped when the binary is not
 * built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "repl_server.h"
#include "repl_testutil.h"
#include "st_base64.h"

static rs_server srv;
static int counter;

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return rs_start(&srv, "remote") ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    bool clean = rs_stop(&srv);
    curl_global_cleanup();
    return clean ? 0 : -1; /* the server must exit 0 on SIGTERM */
}

/* A fresh local db (path in out) and a fresh remote db name. */
static st_db *fresh_local(char *out, size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "l%d.settee", counter++);
    rt_path(out, cap, name);
    return rt_open(out, true);
}

static void remote_url(char *out, size_t cap, const char *db)
{
    snprintf(out, cap, "%s/%s", srv.base, db);
}

static st_repl_status run(const char *src, st_db *src_db, const char *tgt, st_db *tgt_db,
                          bool create, st_status expect)
{
    st_repl_config c;
    st_repl_config_init(&c);
    c.source = src;
    c.source_db = src_db;
    c.target = tgt;
    c.target_db = tgt_db;
    c.create_target = create;
    c.timeout_ms = 10000;
    c.max_retries = 3;
    c.retry_base_ms = 50;
    st_repl_status s;
    st_error e;
    st_status st = st_repl_run(&c, &s, &e);
    if (st != expect)
        fprintf(stderr, "replication %s → %s: %s\n", src ? src : "db", tgt ? tgt : "db",
                s.last_error.reason);
    assert_int_equal(st, expect);
    return s;
}

static void fill(st_db *db, const char *prefix, int n)
{
    char rev[ST_REV_STR_MAX];
    for (int i = 0; i < n; i++)
        rt_put(db, NULL, "{\"_id\":\"%s%04d\",\"n\":%d,\"f\":1.50,\"big\":123456789012345678901}",
               prefix, i, i);
    rt_put(db, rev, "{\"_id\":\"%sdel\",\"v\":1}", prefix);
    rt_put(db, NULL, "{\"_id\":\"%sdel\",\"_rev\":\"%s\",\"_deleted\":true}", prefix, rev);
    rt_put(db, NULL,
           "{\"_id\":\"%satt\",\"_attachments\":{\"a.txt\":{\"content_type\":\"text/plain\","
           "\"data\":\"aGVsbG8gd29ybGQ=\"},\"z.bin\":{\"content_type\":\"application/octet-stream\","
           "\"data\":\"AAECAwQFBgcICQ==\"}}}",
           prefix);
    rt_put(db, NULL, "{\"_id\":\"_design/%sdd\",\"language\":\"javascript\"}", prefix);
    rt_put(db, NULL, "{\"_id\":\"%s weird/id?&=%%\",\"u\":\"\\u2603\"}", prefix);
}

static void assert_same(st_db *a, st_db *b)
{
    char *da = rt_dump(a), *db = rt_dump(b);
    if (strcmp(da, db) != 0)
        fprintf(stderr, "--- a\n%.4000s--- b\n%.4000s", da, db);
    assert_string_equal(da, db);
    free(da);
    free(db);
}

static void test_push_pull_roundtrip(void **state)
{
    (void)state;
    char pa[4096], pb[4096], url[256], url2[256];
    st_db *a = fresh_local(pa, sizeof pa), *b = fresh_local(pb, sizeof pb);
    fill(a, "p", 300);
    remote_url(url, sizeof url, "roundtrip");
    st_repl_status s = run(NULL, a, url, NULL, true, ST_OK);
    assert_int_equal(s.docs_written, 300 + 4);
    assert_int_equal(s.doc_write_failures, 0);
    s = run(url, NULL, NULL, b, false, ST_OK);
    assert_int_equal(s.docs_written, 300 + 4);
    assert_same(a, b);

    /* remote → remote, then back down to a third local copy */
    remote_url(url2, sizeof url2, "roundtrip2");
    s = run(url, NULL, url2, NULL, true, ST_OK);
    assert_int_equal(s.docs_written, 300 + 4);
    char pc[4096];
    st_db *c = fresh_local(pc, sizeof pc);
    run(url2, NULL, NULL, c, false, ST_OK);
    assert_same(a, c);

    /* A second run of each sends nothing. */
    s = run(NULL, a, url, NULL, true, ST_OK);
    assert_int_equal(s.changes_read, 0);
    assert_int_equal(s.docs_read, 0);
    s = run(url, NULL, NULL, b, false, ST_OK);
    assert_int_equal(s.changes_read, 0);
    s = run(url, NULL, url2, NULL, false, ST_OK);
    assert_int_equal(s.changes_read, 0);

    /* The checkpoint sits on both sides, in CouchDB's format. */
    s = run(NULL, a, url, NULL, false, ST_OK);
    char path[256];
    snprintf(path, sizeof path, "/roundtrip/_local/%s", s.replication_id);
    rs_resp r = rs_http(&srv, "GET", path, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"replication_id_version\":4"));
    assert_non_null(strstr(r.body, "\"recorded_seq\""));
    free(r.body);
    snprintf(path, sizeof path, "_local/%s", s.replication_id);
    st_buf lb = ST_BUF_INIT;
    st_error e;
    assert_int_equal(st_db_local_get(a, path, &lb, &e), ST_OK);
    st_buf_free(&lb);

    st_db_close(a);
    st_db_close(b);
    st_db_close(c);
    rt_unlink(pa);
    rt_unlink(pb);
    rt_unlink(pc);
}

/* Selector replication through the server's _changes?filter=_selector
 * (pull) and from a local source (push). */
static void test_selector_both_ways(void **state)
{
    (void)state;
    char pa[4096], pb[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa), *b = fresh_local(pb, sizeof pb);
    for (int i = 0; i < 30; i++)
        rt_put(a, NULL, "{\"_id\":\"sel%02d\",\"team\":\"%s\"}", i, i % 3 ? "red" : "blue");
    remote_url(url, sizeof url, "selrepl");
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = a;
    c.target = url;
    c.create_target = true;
    c.selector = "{\"team\":\"blue\"}";
    c.timeout_ms = 10000;
    st_repl_status s;
    st_error e;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 10);
    /* Pull the whole remote back with another selector: none of it is red. */
    st_repl_config_init(&c);
    c.source = url;
    c.target_db = b;
    c.selector = "{\"team\":{\"$ne\":\"blue\"}}";
    c.timeout_ms = 10000;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 0);
    c.selector = "{\"_id\":{\"$gte\":\"sel15\"}}";
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 5); /* blue ones from sel15: 15 18 21 24 27 */
    st_db_info info;
    assert_int_equal(st_db_info_get(b, &info, &e), ST_OK);
    assert_int_equal(info.doc_count, 5);
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

static void test_conflicts_with_remote(void **state)
{
    (void)state;
    char pa[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa);
    remote_url(url, sizeof url, "conflicts");
    assert_int_equal(rs_http_status(&srv, "PUT", "/conflicts", NULL), 201);
    /* Same base revision on both sides, then divergent edits. */
    char r1[ST_REV_STR_MAX], rev[ST_REV_STR_MAX];
    rt_put(a, r1, "{\"_id\":\"c1\",\"v\":0}");
    run(NULL, a, url, NULL, false, ST_OK);
    rt_put(a, NULL, "{\"_id\":\"c1\",\"_rev\":\"%s\",\"side\":\"local\"}", r1);
    char body[512];
    snprintf(body, sizeof body, "{\"_rev\":\"%s\",\"side\":\"remote\"}", r1);
    assert_int_equal(rs_http_status(&srv, "PUT", "/conflicts/c1", body), 201);
    /* Deleted on one side, edited on the other. */
    rt_put(a, rev, "{\"_id\":\"c2\",\"v\":0}");
    run(NULL, a, url, NULL, false, ST_OK);
    rt_put(a, NULL, "{\"_id\":\"c2\",\"_rev\":\"%s\",\"_deleted\":true}", rev);
    snprintf(body, sizeof body, "{\"_rev\":\"%s\",\"v\":9}", rev);
    assert_int_equal(rs_http_status(&srv, "PUT", "/conflicts/c2", body), 201);
    /* Sync both ways. */
    run(NULL, a, url, NULL, false, ST_OK);
    run(url, NULL, NULL, a, false, ST_OK);
    /* A fresh pull of the remote equals the local copy: same leaves, same winner. */
    char pb[4096];
    st_db *b = fresh_local(pb, sizeof pb);
    run(url, NULL, NULL, b, false, ST_OK);
    assert_same(a, b);
    rs_resp r = rs_http(&srv, "GET", "/conflicts/c1?conflicts=true", NULL);
    assert_non_null(strstr(r.body, "_conflicts"));
    st_buf lb = ST_BUF_INIT;
    st_get_opts go = {.conflicts = true};
    st_error e;
    assert_int_equal(st_db_get(a, "c1", &go, &lb, &e), ST_OK);
    /* Remote JSON may order members differently; compare the winner rev. */
    const char *rr = strstr(r.body, "\"_rev\":\"");
    const char *lr = strstr(lb.data, "\"_rev\":\"");
    assert_non_null(rr);
    assert_non_null(lr);
    assert_memory_equal(rr, lr, 8 + 34);
    free(r.body);
    st_buf_free(&lb);
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

static void test_errors_are_clear(void **state)
{
    (void)state;
    char pa[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa);
    rt_put(a, NULL, "{\"_id\":\"x\"}");
    /* Wrong password: 401, no retries, a message naming the peer. */
    snprintf(url, sizeof url, "http://admin:wrong@127.0.0.1:%d/errs", srv.port);
    st_repl_status s = run(NULL, a, url, NULL, true, ST_E_UNAUTHORIZED);
    assert_int_equal(s.state, ST_REPL_FAILED);
    assert_int_equal(s.last_http_status, 401);
    assert_non_null(strstr(s.last_error.reason, "target http://admin@127.0.0.1"));
    assert_null(strstr(s.last_error.reason, "wrong"));
    /* Missing source database: a one-shot fails at once, saying so. */
    remote_url(url, sizeof url, "no_such_db");
    s = run(url, NULL, NULL, a, false, ST_E_NOT_FOUND);
    assert_non_null(strstr(s.last_error.reason, "source http://admin@127.0.0.1"));
    assert_non_null(strstr(s.last_error.reason, "does not exist"));
    assert_int_equal(s.retries, 0);
    /* Nobody listening: network errors, retried, then a failure. */
    snprintf(url, sizeof url, "http://127.0.0.1:1/nothing");
    s = run(url, NULL, NULL, a, false, ST_E_NETWORK);
    assert_true(s.retries >= 3);
    st_db_close(a);
    rt_unlink(pa);
}

/* Poll (bounded) until pred(status) holds; the last status in *s. */
static bool wait_status(st_repl *r, st_repl_status *s, bool (*pred)(const st_repl_status *),
                        unsigned timeout_ms)
{
    for (uint64_t t0 = rt_now_ms();; rt_sleep_ms(20)) {
        st_repl_get_status(r, s);
        if (pred(s))
            return true;
        if (rt_now_ms() - t0 > timeout_ms)
            return false;
    }
}

static bool waiting_for_source(const st_repl_status *s)
{
    return s->state == ST_REPL_STARTING && s->retries >= 2 &&
           s->last_error.code == ST_E_NOT_FOUND;
}

static bool caught_up_clean(const st_repl_status *s)
{
    return s->state == ST_REPL_IDLE && s->last_error.code == ST_OK;
}

static bool has_doc(st_db *db, const char *id)
{
    st_buf b = ST_BUF_INIT;
    st_error e;
    bool ok = st_db_get(db, id, NULL, &b, &e) == ST_OK;
    st_buf_free(&b);
    return ok;
}

static bool wait_doc(st_db *db, const char *id, unsigned timeout_ms)
{
    for (uint64_t t0 = rt_now_ms(); rt_now_ms() - t0 < timeout_ms; rt_sleep_ms(20))
        if (has_doc(db, id))
            return true;
    return false;
}

/* A continuous pull of a database that does not exist yet keeps asking
 * (state STARTING, last_error "does not exist (retrying)"), starts once it
 * is created, and clears the error; when the database is deleted and
 * created again under it, it starts over and copies the new one. */
static void test_continuous_waits_for_source(void **state)
{
    (void)state;
    char pa[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa);
    remote_url(url, sizeof url, "later");
    st_repl_config c;
    st_repl_config_init(&c);
    c.source = url;
    c.target_db = a;
    c.continuous = true;
    c.retry_base_ms = 50;
    c.retry_max_ms = 200;
    c.feed_timeout_ms = 1000;
    c.timeout_ms = 10000;
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    st_repl_status s;
    assert_true(wait_status(r, &s, waiting_for_source, 10000));
    assert_non_null(strstr(s.last_error.reason, "does not exist (retrying)"));
    assert_int_equal(s.last_http_status, 404);

    assert_int_equal(rs_http_status(&srv, "PUT", "/later", NULL), 201);
    assert_int_equal(rs_http_status(&srv, "PUT", "/later/one", "{\"v\":1}"), 201);
    assert_true(wait_doc(a, "one", 15000));
    assert_true(wait_status(r, &s, caught_up_clean, 15000));
    assert_int_equal(s.last_http_status, 0);

    /* Deleted and created again: the feed 404s, the run starts over. */
    assert_int_equal(rs_http_status(&srv, "DELETE", "/later", NULL), 200);
    rt_sleep_ms(300);
    assert_int_equal(rs_http_status(&srv, "PUT", "/later", NULL), 201);
    assert_int_equal(rs_http_status(&srv, "PUT", "/later/two", "{\"v\":2}"), 201);
    assert_true(wait_doc(a, "two", 15000));
    assert_true(wait_status(r, &s, caught_up_clean, 15000));
    assert_true(has_doc(a, "one"));
    st_repl_stop(r);
    assert_int_equal(st_repl_wait(r, 10000), ST_REPL_STOPPED);
    st_repl_free(r);
    st_db_close(a);
    rt_unlink(pa);
}

/* A server that refuses request bodies over 32 KiB with 413: the push's
 * _bulk_docs batches are halved until they fit; the one document that is
 * too large on its own is a write failure, not the end of the run. */
static void test_bulk_docs_413_splits(void **state)
{
    (void)state;
    rs_server small;
    assert_true(rs_start_cfg(&small, "small", "[chttpd]\nmax_http_request_size = 32768\n"));
    char pa[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa);
    char pad[401];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < 300; i++)
        rt_put(a, NULL, "{\"_id\":\"s%04d\",\"pad\":\"%s\"}", i, pad);
    static char huge[40001];
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    rt_put(a, NULL, "{\"_id\":\"s0150-huge\",\"pad\":\"%s\"}", huge);
    snprintf(url, sizeof url, "%s/split", small.base);
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = a;
    c.target = url;
    c.create_target = true;
    c.timeout_ms = 10000;
    c.max_retries = 3;
    c.retry_base_ms = 50;
    st_repl_status s;
    st_error e;
    st_status st = st_repl_run(&c, &s, &e);
    if (st != ST_OK)
        fprintf(stderr, "413 push: %s\n", s.last_error.reason);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s.docs_written, 300);
    assert_int_equal(s.doc_write_failures, 1);
    assert_non_null(strstr(s.last_error.reason, "s0150-huge"));
    assert_non_null(strstr(s.last_error.reason, "too_large"));
    rs_resp r = rs_http(&small, "GET", "/split", NULL);
    assert_non_null(strstr(r.body, "\"doc_count\":300"));
    free(r.body);
    /* The checkpoint covers it all: a second run reads nothing new. */
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.changes_read, 0);
    st_db_close(a);
    rt_unlink(pa);
    assert_true(rs_stop(&small));
}

static void test_stemmed_and_many_revs(void **state)
{
    (void)state;
    char pa[4096], pb[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa), *b = fresh_local(pb, sizeof pb);
    st_error e;
    assert_int_equal(st_db_revs_limit_set(a, 3, &e), ST_OK);
    assert_int_equal(st_db_revs_limit_set(b, 3, &e), ST_OK);
    char rev[ST_REV_STR_MAX];
    rt_put(a, rev, "{\"_id\":\"s\",\"v\":0}");
    for (int i = 1; i < 12; i++)
        rt_put(a, rev, "{\"_id\":\"s\",\"_rev\":\"%s\",\"v\":%d}", rev, i);
    remote_url(url, sizeof url, "stemmed");
    assert_int_equal(rs_http_status(&srv, "PUT", "/stemmed", NULL), 201);
    assert_int_equal(rs_http_status(&srv, "PUT", "/stemmed/_revs_limit", "3"), 200);
    run(NULL, a, url, NULL, false, ST_OK);
    run(url, NULL, NULL, b, false, ST_OK);
    assert_same(a, b);
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

/* Documents with a gzip-encoded text attachment and a binary one, through
 * local → remote → local: every replica shows the same digest, revpos,
 * length and encoding (the remote's own GET ?att_encoding_info=true too),
 * because the stored bytes travel as they are: multipart PUT with
 * Content-Encoding on the push, multipart open_revs on the pull. */
static void test_attachments_round_trip(void **state)
{
    (void)state;
    char pa[4096], pb[4096], url[256];
    st_db *a = fresh_local(pa, sizeof pa), *b = fresh_local(pb, sizeof pb);
    char text[8192];
    size_t n = 0;
    for (int i = 0; n + 40 < sizeof text; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "row %d, compressible\n", i);
    st_buf b64 = ST_BUF_INIT;
    assert_int_equal(st_base64_encode(&b64, text, n), ST_OK);
    unsigned char bin[3000];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7919u >> 3);
    st_buf bb64 = ST_BUF_INIT;
    assert_int_equal(st_base64_encode(&bb64, bin, sizeof bin), ST_OK);
    char rev[ST_REV_STR_MAX];
    for (int d = 0; d < 5; d++) {
        rt_put(a, rev,
               "{\"_id\":\"att%d\",\"_attachments\":{\"notes.txt\":{\"content_type\":\"text/plain\","
               "\"data\":\"%s\"},\"blob.bin\":{\"content_type\":\"application/octet-stream\","
               "\"data\":\"%s\"}}}",
               d, b64.data, bb64.data);
        /* A later revision with the text as a stub and a new small body. */
        rt_put(a, NULL,
               "{\"_id\":\"att%d\",\"_rev\":\"%s\",\"v\":2,\"_attachments\":{\"notes.txt\":"
               "{\"stub\":true},\"more.json\":{\"content_type\":\"application/json\","
               "\"data\":\"eyJrIjpbMSwyLDNdfQ==\"}}}",
               d, rev);
    }
    st_buf_free(&b64);
    st_buf_free(&bb64);
    remote_url(url, sizeof url, "atts");
    st_repl_status s = run(NULL, a, url, NULL, true, ST_OK);
    assert_int_equal(s.docs_written, 5);
    s = run(url, NULL, NULL, b, false, ST_OK);
    assert_int_equal(s.docs_written, 5);
    for (int d = 0; d < 5; d++) {
        char id[16], path[64];
        snprintf(id, sizeof id, "att%d", d);
        char *ma = rt_att_meta(a, id), *mb = rt_att_meta(b, id);
        snprintf(path, sizeof path, "/atts/%s?att_encoding_info=true", id);
        rs_resp r = rs_http(&srv, "GET", path, NULL);
        char *mr = rt_att_meta_json(r.body, r.len);
        assert_non_null(ma);
        assert_non_null(strstr(ma, "notes.txt md5-"));
        assert_non_null(strstr(ma, " gzip "));  /* the text is stored encoded */
        assert_non_null(strstr(ma, "more.json md5-"));
        assert_string_equal(mr, ma);
        assert_string_equal(mb, ma);
        free(ma);
        free(mb);
        free(mr);
        free(r.body);
    }
    assert_same(a, b);
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

int main(void)
{
    if (!rs_bin()) {
        printf("settee binary not built: skipping remote replication tests\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_pull_roundtrip),
        cmocka_unit_test(test_conflicts_with_remote),
        cmocka_unit_test(test_selector_both_ways),
        cmocka_unit_test(test_errors_are_clear),
        cmocka_unit_test(test_stemmed_and_many_revs),
        cmocka_unit_test(test_attachments_round_trip),
        cmocka_unit_test(test_continuous_waits_for_source),
        cmocka_unit_test(test_bulk_docs_413_splits),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
