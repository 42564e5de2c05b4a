/* test_faults.c — replication through a fault-injecting proxy (connections
 * cut mid-response, stalls, garbage answers, a peer without _bulk_get, a
 * peer that goes away) in front of the real `settee serve`.
 *
 *  - 10,000 documents, then edits on both sides (conflicts, deletions, new
 *    documents), synced both ways through a proxy that breaks ~2% of
 *    transfers: both sides converge, nothing lost, nothing duplicated;
 *  - a replication whose peer disappears part-way resumes from its last
 *    checkpoint, not from zero;
 *  - a continuous replication rides out an outage and catches up, and the
 *    error it was retrying is cleared once it runs again;
 *  - _bulk_get missing on the peer: the open_revs fallback gives the same
 *    result.
 * Every loop is bounded in count and time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fault_proxy.h"
#include "repl_server.h"
#include "repl_testutil.h"
#include "st_base64.h"

static rs_server srv;
static fp_proxy px;
static int counter;

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!rs_start(&srv, "faults"))
        return -1;
    return fp_start(&px, srv.port) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    fp_stop(&px);
    bool clean = rs_stop(&srv);
    curl_global_cleanup();
    return clean ? 0 : -1; /* the server must exit 0 on SIGTERM */
}

static st_db *fresh_local(char *out, size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "f%d.settee", counter++);
    ts_db_path(out, cap, name);
    return rt_open(out, true);
}

/* The URL of db through the proxy, or directly. */
static void url_of(char *out, size_t cap, const char *db, bool proxied)
{
    snprintf(out, cap, "http://%s:%s@127.0.0.1:%d/%s", RS_ADMIN, RS_PASS,
             proxied ? px.port : srv.port, db);
}

static void cfg_faulty(st_repl_config *c)
{
    st_repl_config_init(c);
    c->timeout_ms = 1500;      /* stalls are noticed fast */
    c->max_retries = 60;
    c->retry_base_ms = 20;
    c->retry_max_ms = 400;
    c->batch_size = 250;
}

static void assert_same(st_db *a, st_db *b)
{
    char *da = rt_dump(a), *db = rt_dump(b);
    if (strcmp(da, db) != 0)
        fprintf(stderr, "dumps differ (%zu vs %zu bytes)\n", strlen(da), strlen(db));
    assert_string_equal(da, db);
    free(da);
    free(db);
}

typedef struct counts {
    uint64_t docs, conflicted, deleted;
} counts;

static int count_row(void *ctx, const st_change_row *row)
{
    counts *c = ctx;
    c->docs++;
    if (row->n_revs > 1)
        c->conflicted++;
    if (row->deleted)
        c->deleted++;
    return 0;
}

static counts count(st_db *db)
{
    counts c = {0, 0, 0};
    st_changes_opts o;
    st_changes_opts_init(&o);
    o.all_docs = true;
    st_error e;
    assert_int_equal(st_db_changes(db, &o, count_row, &c, NULL, NULL, &e), ST_OK);
    return c;
}

static char revs[10000][ST_REV_STR_MAX];

static void post_bulk(const char *db, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "/%s/_bulk_docs", db);
    rs_resp r = rs_http(&srv, "POST", path, body);
    if (r.status != 201)
        fprintf(stderr, "_bulk_docs %ld: %.300s\n", r.status, r.body);
    assert_int_equal(r.status, 201);
    free(r.body);
}

static void test_10k_both_sides_converge(void **state)
{
    (void)state;
    char pa[4096], pc[4096], direct[256], prox[256];
    st_db *a = fresh_local(pa, sizeof pa);
    for (int i = 0; i < 10000; i++) {
        if (i % 1000 == 7)
            rt_put(a, revs[i],
                   "{\"_id\":\"d%05d\",\"n\":%d,\"_attachments\":{\"f.txt\":{\"content_type\":"
                   "\"text/plain\",\"data\":\"c2V0dGVlIGF0dGFjaG1lbnQ=\"}}}",
                   i, i);
        else
            rt_put(a, revs[i], "{\"_id\":\"d%05d\",\"n\":%d,\"pad\":\"%064d\"}", i, i, i);
    }
    url_of(direct, sizeof direct, "big", false);
    url_of(prox, sizeof prox, "big", true);

    /* 1. Initial push through the broken line. */
    atomic_store(&px.cut_pm, 40);
    atomic_store(&px.stall_pm, 5);
    atomic_store(&px.garbage_pm, 10);
    atomic_store(&px.stall_ms, 2500);
    st_repl_config c;
    cfg_faulty(&c);
    c.source_db = a;
    c.target = prox;
    c.create_target = true;
    st_repl_status s;
    st_error e;
    uint64_t t0 = ts_now_ms();
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    fprintf(stderr, "push 10k through faults: %llu ms, %llu retries, cuts %lu stalls %lu garbage %lu\n",
            (unsigned long long)(ts_now_ms() - t0), (unsigned long long)s.retries,
            atomic_load(&px.cuts), atomic_load(&px.stalls), atomic_load(&px.garbage));
    assert_int_equal(s.docs_written, 10000);
    assert_int_equal(s.doc_write_failures, 0);

    /* 2. Both sides change: local edits 0..999; remote edits 500..1499
     *    (500 conflicts), deletes 1500..1599, adds 2000 new docs. */
    for (int i = 0; i < 1000; i++)
        rt_put(a, NULL, "{\"_id\":\"d%05d\",\"_rev\":\"%s\",\"side\":\"local\"}", i, revs[i]);
    st_buf body = ST_BUF_INIT;
    assert_int_equal(st_buf_adds(&body, "{\"docs\":["), ST_OK);
    for (int i = 500; i < 1600; i++)
        assert_int_equal(st_buf_printf(&body, "%s{\"_id\":\"d%05d\",\"_rev\":\"%s\",%s}",
                                       i > 500 ? "," : "", i, revs[i],
                                       i < 1500 ? "\"side\":\"remote\"" : "\"_deleted\":true"),
                         ST_OK);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(st_buf_printf(&body, ",{\"_id\":\"r%05d\",\"v\":%d}", i, i), ST_OK);
    assert_int_equal(st_buf_adds(&body, "]}"), ST_OK);
    post_bulk("big", body.data);
    st_buf_free(&body);

    /* 3. Sync both ways at once through the broken line. */
    st_repl_config push, pull;
    cfg_faulty(&push);
    push.source_db = a;
    push.target = prox;
    cfg_faulty(&pull);
    pull.source = prox;
    pull.target_db = a;
    st_repl *rp = NULL, *rl = NULL;
    t0 = ts_now_ms();
    assert_int_equal(st_repl_start(&push, &rp, &e), ST_OK);
    assert_int_equal(st_repl_start(&pull, &rl, &e), ST_OK);
    assert_int_equal(st_repl_wait(rp, 240000), ST_REPL_STOPPED);
    assert_int_equal(st_repl_wait(rl, 240000), ST_REPL_STOPPED);
    st_repl_status sp, sl;
    st_repl_get_status(rp, &sp);
    st_repl_get_status(rl, &sl);
    st_repl_free(rp);
    st_repl_free(rl);
    fprintf(stderr, "sync through faults: %llu ms; push %llu docs, pull %llu docs, %llu+%llu retries\n",
            (unsigned long long)(ts_now_ms() - t0), (unsigned long long)sp.docs_written,
            (unsigned long long)sl.docs_written, (unsigned long long)sp.retries,
            (unsigned long long)sl.retries);
    assert_int_equal(sp.doc_write_failures + sl.doc_write_failures, 0);

    /* A pull racing the push may see part of it; one more quiet pull
     * brings the local side up to what the remote now holds. */
    fp_calm(&px);
    cfg_faulty(&pull);
    pull.source = direct;
    pull.target_db = a;
    assert_int_equal(st_repl_run(&pull, &s, &e), ST_OK);

    /* 4. Converged: a fresh copy of the remote equals the local side. */
    st_db *cdb = fresh_local(pc, sizeof pc);
    cfg_faulty(&pull);
    pull.source = direct;
    pull.target_db = cdb;
    pull.batch_size = 1000;
    assert_int_equal(st_repl_run(&pull, &s, &e), ST_OK);
    counts ca = count(a), cc = count(cdb);
    assert_int_equal(ca.docs, 12000);          /* nothing lost, nothing duplicated */
    assert_int_equal(ca.conflicted, 500);
    assert_int_equal(ca.deleted, 100);
    assert_int_equal(cc.docs, ca.docs);
    assert_same(a, cdb);
    st_db_info ia;
    assert_int_equal(st_db_info_get(a, &ia, &e), ST_OK);
    assert_int_equal(ia.doc_count, 11900);

    st_db_close(a);
    st_db_close(cdb);
    ts_db_unlink(pa);
    ts_db_unlink(pc);
}

typedef struct cutter {
    fp_proxy *p;
    uint64_t after;
} cutter;

static void cut_after(void *ctx, st_repl *r, const st_repl_status *s)
{
    (void)r;
    cutter *c = ctx;
    if (s->checkpoints >= c->after)
        atomic_store(&c->p->down, true);
}

static void test_resume_after_cut(void **state)
{
    (void)state;
    char pa[4096], prox[256];
    st_db *a = fresh_local(pa, sizeof pa);
    for (int i = 0; i < 3000; i++)
        rt_put(a, NULL, "{\"_id\":\"c%05d\",\"pad\":\"%0100d\"}", i, i);
    url_of(prox, sizeof prox, "cut", true);
    fp_calm(&px);
    cutter ct = {&px, 4};
    st_repl_config c;
    cfg_faulty(&c);
    c.source_db = a;
    c.target = prox;
    c.create_target = true;
    c.batch_size = 100;
    c.concurrency = 2;
    c.max_retries = 3;
    c.on_status = cut_after;
    c.status_ctx = &ct;
    st_repl_status s1, s2;
    st_error e;
    /* The peer vanishes after a few checkpoints: the run fails... */
    assert_int_not_equal(st_repl_run(&c, &s1, &e), ST_OK);
    assert_int_equal(s1.state, ST_REPL_FAILED);
    unsigned long long cut = strtoull(s1.last_seq, NULL, 10);
    assert_true(cut >= 400);
    assert_true(cut < 3000);
    /* ...and the next run starts at its last checkpoint, not at zero. */
    fp_calm(&px);
    c.on_status = NULL;
    assert_int_equal(st_repl_run(&c, &s2, &e), ST_OK);
    /* It may start later than the status said: checkpoints only follow
     * confirmed writes, and one may land on a side (here the local source)
     * after the status last moved; CouchDB's rules then trust it. */
    assert_true(s2.changes_read <= 3000 - cut);
    rs_resp r = rs_http(&srv, "GET", "/cut", NULL);
    assert_non_null(strstr(r.body, "\"doc_count\":3000"));
    free(r.body);
    st_db_close(a);
    ts_db_unlink(pa);
}

static void test_continuous_survives_outage(void **state)
{
    (void)state;
    char pa[4096], prox[256];
    st_db *a = fresh_local(pa, sizeof pa);
    assert_int_equal(rs_http_status(&srv, "PUT", "/live", NULL), 201);
    post_bulk("live", "{\"docs\":[{\"_id\":\"first\"}]}");
    url_of(prox, sizeof prox, "live", true);
    fp_calm(&px);
    st_repl_config c;
    cfg_faulty(&c);
    c.source = prox;
    c.target_db = a;
    c.continuous = true;
    c.feed_timeout_ms = 1000;
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    st_repl_status s;
    uint64_t t0 = ts_now_ms();
    do {
        ts_sleep_ms(20);
        st_repl_get_status(r, &s);
    } while ((s.state != ST_REPL_IDLE || s.docs_written < 1) && ts_now_ms() - t0 < 10000);
    assert_int_equal(s.state, ST_REPL_IDLE);

    /* The peer goes away; writes happen there meanwhile. */
    atomic_store(&px.down, true);
    bool saw_offline = false;
    t0 = ts_now_ms();
    while (ts_now_ms() - t0 < 3000) {
        ts_sleep_ms(20);
        st_repl_get_status(r, &s);
        saw_offline = saw_offline || s.state == ST_REPL_OFFLINE;
    }
    st_buf body = ST_BUF_INIT;
    assert_int_equal(st_buf_adds(&body, "{\"docs\":["), ST_OK);
    for (int i = 0; i < 50; i++)
        assert_int_equal(st_buf_printf(&body, "%s{\"_id\":\"while-down-%02d\"}", i ? "," : "", i),
                         ST_OK);
    assert_int_equal(st_buf_adds(&body, "]}"), ST_OK);
    post_bulk("live", body.data);
    st_buf_free(&body);
    assert_true(saw_offline);
    st_repl_get_status(r, &s);
    assert_int_equal(s.state, ST_REPL_OFFLINE);
    assert_int_not_equal(s.last_error.code, ST_OK);
    assert_non_null(strstr(s.last_error.reason, "(retrying)"));

    /* Back: it catches up by itself. */
    atomic_store(&px.down, false);
    t0 = ts_now_ms();
    do {
        ts_sleep_ms(20);
        st_repl_get_status(r, &s);
    } while (s.docs_written < 51 && ts_now_ms() - t0 < 20000);
    assert_int_equal(s.docs_written, 51);
    /* Recovered: back to IDLE, the outage's error is gone, the count stays. */
    t0 = ts_now_ms();
    do {
        ts_sleep_ms(20);
        st_repl_get_status(r, &s);
    } while (s.state != ST_REPL_IDLE && ts_now_ms() - t0 < 10000);
    assert_int_equal(s.state, ST_REPL_IDLE);
    assert_int_equal(s.last_error.code, ST_OK);
    assert_int_equal(s.last_http_status, 0);
    assert_true(s.retries > 0);
    st_repl_stop(r);
    assert_int_equal(st_repl_wait(r, 10000), ST_REPL_STOPPED);
    st_repl_free(r);
    st_db_close(a);
    ts_db_unlink(pa);
}

static void test_bulk_get_fallback(void **state)
{
    (void)state;
    char pa[4096], pb[4096], pc[4096], direct[256], prox[256];
    st_db *a = fresh_local(pa, sizeof pa);
    char r1[ST_REV_STR_MAX];
    for (int i = 0; i < 120; i++)
        rt_put(a, NULL, "{\"_id\":\"g%03d\",\"v\":%d}", i, i);
    rt_put(a, r1, "{\"_id\":\"att\",\"_attachments\":{\"x.bin\":{\"content_type\":"
                  "\"application/octet-stream\",\"data\":\"AAEC\"}}}");
    rt_put(a, NULL, "{\"_id\":\"_design/dd\",\"x\":1}");
    rt_put(a, NULL, "{\"_id\":\"a/b c\",\"x\":1}");
    url_of(direct, sizeof direct, "nobulk", false);
    url_of(prox, sizeof prox, "nobulk", true);
    fp_calm(&px);
    st_repl_config c;
    cfg_faulty(&c);
    c.source_db = a;
    c.target = direct;
    c.create_target = true;
    st_repl_status s;
    st_error e;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    /* A conflict on the remote, so open_revs returns two leaves. */
    char body[256];
    snprintf(body, sizeof body,
             "{\"docs\":[{\"_id\":\"g001\",\"_rev\":\"2-aaaa\",\"v\":\"x\",\"_revisions\":"
             "{\"start\":2,\"ids\":[\"aaaa\",\"%s\"]}}],\"new_edits\":false}",
             "0000");
    post_bulk("nobulk", body);
    /* Pull directly (with _bulk_get) and through a proxy that hides it. */
    st_db *b = fresh_local(pb, sizeof pb), *cdb = fresh_local(pc, sizeof pc);
    cfg_faulty(&c);
    c.source = direct;
    c.target_db = b;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    atomic_store(&px.no_bulk_get, true);
    unsigned long rejected = atomic_load(&px.rejected);
    cfg_faulty(&c);
    c.source = prox;
    c.target_db = cdb;
    if (st_repl_run(&c, &s, &e) != ST_OK)
        fprintf(stderr, "fallback pull: %s\n", s.last_error.reason);
    assert_int_equal(s.state, ST_REPL_STOPPED);
    assert_true(atomic_load(&px.rejected) > rejected);
    assert_same(b, cdb);
    counts cb = count(b);
    assert_int_equal(cb.docs, 123);
    assert_int_equal(cb.conflicted, 1);
    assert_int_equal(s.docs_written, 124); /* 123 docs, g001 with two leaves */
    fp_calm(&px);
    st_db_close(a);
    st_db_close(b);
    st_db_close(cdb);
    ts_db_unlink(pa);
    ts_db_unlink(pb);
    ts_db_unlink(pc);
}

/* A peer that answers open_revs with JSON only (attachments inline, base64
 * of the decoded bytes, as PouchDB-like servers do): the pull still works,
 * and core re-encodes the text attachment so the replica shows the source's
 * gzip digest, the same as a multipart pull gives. */
static void test_inline_only_peer(void **state)
{
    (void)state;
    char pa[4096], pb[4096], pc[4096], direct[256], prox[256];
    st_db *a = fresh_local(pa, sizeof pa);
    char text[4096];
    size_t n = 0;
    for (int i = 0; n + 40 < sizeof text; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "line %d of some text\n", i);
    st_buf b64 = ST_BUF_INIT;
    assert_int_equal(st_base64_encode(&b64, text, n), ST_OK);
    for (int d = 0; d < 3; d++)
        rt_put(a, NULL,
               "{\"_id\":\"in%d\",\"_attachments\":{\"t.txt\":{\"content_type\":\"text/plain\","
               "\"data\":\"%s\"},\"b.bin\":{\"content_type\":\"application/octet-stream\","
               "\"data\":\"AAECAwQFBgcICQ==\"}}}",
               d, b64.data);
    st_buf_free(&b64);
    url_of(direct, sizeof direct, "inline", false);
    url_of(prox, sizeof prox, "inline", true);
    fp_calm(&px);
    st_repl_config c;
    cfg_faulty(&c);
    c.source_db = a;
    c.target = direct;
    c.create_target = true;
    st_repl_status s;
    st_error e;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    st_db *b = fresh_local(pb, sizeof pb), *cdb = fresh_local(pc, sizeof pc);
    cfg_faulty(&c);
    c.source = direct;
    c.target_db = b;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    atomic_store(&px.json_only, true);
    cfg_faulty(&c);
    c.source = prox;
    c.target_db = cdb;
    if (st_repl_run(&c, &s, &e) != ST_OK)
        fprintf(stderr, "inline pull: %s\n", s.last_error.reason);
    assert_int_equal(s.docs_written, 3);
    assert_true(atomic_load(&px.rewritten) >= 3); /* every open_revs GET went as JSON */
    fp_calm(&px);
    for (int d = 0; d < 3; d++) {
        char id[8];
        snprintf(id, sizeof id, "in%d", d);
        char *ma = rt_att_meta(a, id), *mb = rt_att_meta(b, id), *mc = rt_att_meta(cdb, id);
        assert_non_null(strstr(ma, " gzip "));
        assert_string_equal(mb, ma);
        assert_string_equal(mc, ma);
        free(ma);
        free(mb);
        free(mc);
    }
    assert_same(b, cdb);
    st_db_close(a);
    st_db_close(b);
    st_db_close(cdb);
    ts_db_unlink(pa);
    ts_db_unlink(pb);
    ts_db_unlink(pc);
}

int main(void)
{
    if (!ts_settee_bin()) {
        printf("settee binary not built: skipping fault-injection tests\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_get_fallback),
        cmocka_unit_test(test_inline_only_peer),
        cmocka_unit_test(test_resume_after_cut),
        cmocka_unit_test(test_continuous_survives_outage),
        cmocka_unit_test(test_10k_both_sides_converge),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
