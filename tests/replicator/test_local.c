/* test_local.c — local → local replication through core: documents,
 * deletions, conflicts (both sides end with the same leaves and winner),
 * attachments, stemmed histories, checkpoints and resuming, filters,
 * create_target, the conflict hook, and continuous mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>

#include <sqlite3.h>

#include "repl_testutil.h"
#include "st_base64.h"

typedef struct pair {
    char pa[4096], pb[4096];
    st_db *a, *b;
} pair;

static int setup(void **state)
{
    static int n;
    pair *p = calloc(1, sizeof *p);
    char na[64], nb[64];
    snprintf(na, sizeof na, "a%d.settee", n);
    snprintf(nb, sizeof nb, "b%d.settee", n++);
    ts_db_path(p->pa, sizeof p->pa, na);
    ts_db_path(p->pb, sizeof p->pb, nb);
    p->a = rt_open(p->pa, true);
    p->b = rt_open(p->pb, true);
    *state = p;
    return p->a && p->b ? 0 : -1;
}

static int teardown(void **state)
{
    pair *p = *state;
    st_db_close(p->a);
    st_db_close(p->b);
    ts_db_unlink(p->pa);
    ts_db_unlink(p->pb);
    free(p);
    return 0;
}

static void assert_same(st_db *a, st_db *b)
{
    char *da = rt_dump(a), *db = rt_dump(b);
    assert_non_null(da);
    assert_non_null(db);
    if (strcmp(da, db) != 0)
        fprintf(stderr, "--- a\n%s--- b\n%s", da, db);
    assert_string_equal(da, db);
    free(da);
    free(db);
}

static void test_docs_deletions_attachments(void **state)
{
    pair *p = *state;
    char rev[ST_REV_STR_MAX];
    for (int i = 0; i < 120; i++)
        rt_put(p->a, NULL, "{\"_id\":\"doc%03d\",\"n\":%d,\"s\":\"x\\u00e9\\\"y\"}", i, i);
    for (int i = 0; i < 10; i++) {
        rt_put(p->a, rev, "{\"_id\":\"edit%d\",\"v\":0}", i);
        rt_put(p->a, rev, "{\"_id\":\"edit%d\",\"_rev\":\"%s\",\"v\":1}", i, rev);
        if (i % 2)
            rt_put(p->a, NULL, "{\"_id\":\"edit%d\",\"_rev\":\"%s\",\"_deleted\":true}", i, rev);
    }
    rt_put(p->a, NULL,
           "{\"_id\":\"att\",\"_attachments\":{\"hello.txt\":{\"content_type\":\"text/plain\","
           "\"data\":\"aGVsbG8gd29ybGQ=\"},\"b.bin\":{\"content_type\":\"application/octet-stream\","
           "\"data\":\"AAECAwQFBgcICQ==\"}}}");
    rt_put(p->a, NULL, "{\"_id\":\"_design/x\",\"views\":{}}");
    st_status st;
    st_repl_status s = rt_replicate(p->a, p->b, &st);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s.state, ST_REPL_STOPPED);
    assert_int_equal(s.doc_write_failures, 0);
    assert_int_equal(s.docs_written, 120 + 10 + 2);
    assert_int_equal(s.docs_read, s.docs_written);
    assert_true(s.checkpoints >= 1);
    assert_string_equal(s.replication_id[0] ? "ok" : "", "ok");
    assert_same(p->a, p->b);

    /* An attachment edited on top of a replicated revision: only the new
     * body travels (atts_since), the stub of the old one must resolve. */
    st_buf b = ST_BUF_INIT;
    st_error e;
    assert_int_equal(st_db_get(p->a, "att", NULL, &b, &e), ST_OK);
    const char *r = strstr(b.data, "\"_rev\":\"") + 8;
    snprintf(rev, sizeof rev, "%.*s", (int)(strchr(r, '"') - r), r);
    st_buf_free(&b);
    rt_put(p->a, NULL,
           "{\"_id\":\"att\",\"_rev\":\"%s\",\"_attachments\":{\"hello.txt\":{\"stub\":true},"
           "\"new.txt\":{\"content_type\":\"text/plain\",\"data\":\"bmV3\"}}}",
           rev);
    s = rt_replicate(p->a, p->b, &st);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s.docs_written, 1);
    assert_same(p->a, p->b);
}

/* Issue 10 #1: a database an older settee stored an id that is not UTF-8
 * in made a sync retry forever and copy nothing.  Opened now, the id is
 * repaired (U+FFFD for the bad byte) and the sync copies everything. */
static void test_repaired_ids_replicate(void **state)
{
    pair *p = *state;
    for (int i = 0; i < 5; i++)
        rt_put(p->a, NULL, "{\"_id\":\"ok%d\"}", i);
    rt_put(p->a, NULL, "{\"_id\":\"badX\",\"v\":1}");
    st_db_close(p->a);
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(p->pa, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw,
                                  "UPDATE docs SET id = CAST(X'626164FF' AS TEXT) WHERE id = 'badX';"
                                  "UPDATE revs SET id = CAST(X'626164FF' AS TEXT) WHERE id = 'badX';"
                                  "PRAGMA user_version = 2;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    p->a = rt_open(p->pa, false);
    assert_non_null(p->a);
    st_status st;
    st_repl_status s = rt_replicate(p->a, p->b, &st);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s.state, ST_REPL_STOPPED);
    assert_int_equal(s.doc_write_failures, 0);
    assert_int_equal(s.docs_written, 6);
    assert_same(p->a, p->b);
    st_buf b = ST_BUF_INIT;
    assert_int_equal(st_db_get(p->b, "bad\xef\xbf\xbd", NULL, &b, NULL), ST_OK);
    assert_non_null(strstr(b.data, "\"v\":1"));
    st_buf_free(&b);
}

static void test_conflicts_both_ways(void **state)
{
    pair *p = *state;
    char r1[ST_REV_STR_MAX], ra[ST_REV_STR_MAX], rb[ST_REV_STR_MAX];
    /* The same first edit on both sides gives the same rev (deterministic
     * hash), then each side edits on its own. */
    rt_put(p->a, r1, "{\"_id\":\"c\",\"v\":0}");
    rt_put(p->b, NULL, "{\"_id\":\"c\",\"v\":0}");
    rt_put(p->a, ra, "{\"_id\":\"c\",\"_rev\":\"%s\",\"v\":\"a\"}", r1);
    rt_put(p->b, rb, "{\"_id\":\"c\",\"_rev\":\"%s\",\"v\":\"b\",\"more\":[1,2]}", r1);
    assert_string_not_equal(ra, rb);
    /* A conflict where one branch is deleted. */
    rt_put(p->a, r1, "{\"_id\":\"d\",\"v\":0}");
    rt_put(p->b, NULL, "{\"_id\":\"d\",\"v\":0}");
    rt_put(p->a, NULL, "{\"_id\":\"d\",\"_rev\":\"%s\",\"_deleted\":true}", r1);
    rt_put(p->b, rb, "{\"_id\":\"d\",\"_rev\":\"%s\",\"v\":2}", r1);
    rt_put(p->b, NULL, "{\"_id\":\"d\",\"_rev\":\"%s\",\"v\":3}", rb);
    /* Documents only one side has. */
    rt_put(p->a, NULL, "{\"_id\":\"only-a\"}");
    rt_put(p->b, NULL, "{\"_id\":\"only-b\"}");
    st_status st;
    rt_replicate(p->a, p->b, &st);
    assert_int_equal(st, ST_OK);
    rt_replicate(p->b, p->a, &st);
    assert_int_equal(st, ST_OK);
    assert_same(p->a, p->b);
    /* Winner: both non-deleted at gen 2, higher hash wins on both sides. */
    st_buf b1 = ST_BUF_INIT, b2 = ST_BUF_INIT;
    st_get_opts go = {.conflicts = true};
    st_error e;
    assert_int_equal(st_db_get(p->a, "c", &go, &b1, &e), ST_OK);
    assert_int_equal(st_db_get(p->b, "c", &go, &b2, &e), ST_OK);
    assert_string_equal(b1.data, b2.data);
    assert_non_null(strstr(b1.data, "_conflicts"));
    st_buf_free(&b1);
    st_buf_free(&b2);
}

static void test_stemmed_history(void **state)
{
    pair *p = *state;
    st_error e;
    assert_int_equal(st_db_revs_limit_set(p->a, 5, &e), ST_OK);
    char rev[ST_REV_STR_MAX];
    rt_put(p->a, rev, "{\"_id\":\"s\",\"v\":0}");
    for (int i = 1; i < 30; i++)
        rt_put(p->a, rev, "{\"_id\":\"s\",\"_rev\":\"%s\",\"v\":%d}", rev, i);
    assert_int_equal(st_db_revs_limit_set(p->b, 5, &e), ST_OK);
    st_status st;
    rt_replicate(p->a, p->b, &st);
    assert_int_equal(st, ST_OK);
    assert_same(p->a, p->b);
    st_buf b = ST_BUF_INIT;
    st_get_opts go = {.revs = true};
    assert_int_equal(st_db_get(p->b, "s", &go, &b, &e), ST_OK);
    assert_non_null(strstr(b.data, "\"start\":30"));
    st_buf_free(&b);
}

static void test_checkpoint_resume(void **state)
{
    pair *p = *state;
    for (int i = 0; i < 50; i++)
        rt_put(p->a, NULL, "{\"_id\":\"r%02d\"}", i);
    st_status st;
    st_repl_status s1 = rt_replicate(p->a, p->b, &st);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s1.docs_written, 50);
    assert_string_equal(s1.last_seq, "50");

    /* The checkpoint is in CouchDB's format on both sides. */
    char id[64];
    snprintf(id, sizeof id, "_local/%s", s1.replication_id);
    st_buf ca = ST_BUF_INIT, cb = ST_BUF_INIT;
    st_error e;
    assert_int_equal(st_db_local_get(p->a, id, &ca, &e), ST_OK);
    assert_int_equal(st_db_local_get(p->b, id, &cb, &e), ST_OK);
    assert_non_null(strstr(ca.data, "\"source_last_seq\":50"));
    assert_non_null(strstr(ca.data, "\"replication_id_version\":4"));
    assert_non_null(strstr(ca.data, "\"recorded_seq\":50"));
    assert_non_null(strstr(ca.data, "\"session_id\""));
    assert_non_null(strstr(cb.data, "\"source_last_seq\":50"));
    st_buf_free(&ca);
    st_buf_free(&cb);

    /* A second run sends nothing: it starts from the checkpoint. */
    st_repl_status s2 = rt_replicate(p->a, p->b, &st);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s2.changes_read, 0);
    assert_int_equal(s2.missing_checked, 0);
    assert_int_equal(s2.docs_read, 0);
    assert_string_equal(s2.replication_id, s1.replication_id);

    /* New writes: only they are read. */
    for (int i = 0; i < 7; i++)
        rt_put(p->a, NULL, "{\"_id\":\"n%02d\"}", i);
    st_repl_status s3 = rt_replicate(p->a, p->b, &st);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s3.changes_read, 7);
    assert_int_equal(s3.docs_written, 7);
    assert_same(p->a, p->b);
}

typedef struct stopper {
    st_repl *r;
    uint64_t stop_after;
} stopper;

static void stop_cb(void *ctx, st_repl *r, const st_repl_status *s)
{
    stopper *x = ctx;
    if (s->checkpoints >= x->stop_after)
        st_repl_stop(r);
}

static void test_interrupted_resume(void **state)
{
    pair *p = *state;
    for (int i = 0; i < 400; i++)
        rt_put(p->a, NULL, "{\"_id\":\"i%03d\",\"pad\":\"%0200d\"}", i, i);
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = p->a;
    c.target_db = p->b;
    c.batch_size = 20;
    c.concurrency = 2;
    stopper x = {NULL, 3};
    c.on_status = stop_cb;
    c.status_ctx = &x;
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    assert_int_equal(st_repl_wait(r, 20000), ST_REPL_STOPPED);
    st_repl_status s1;
    st_repl_get_status(r, &s1);
    st_repl_free(r);
    assert_true(s1.checkpoints >= 3);
    unsigned long long cut = strtoull(s1.last_seq, NULL, 10);
    assert_true(cut >= 60 && cut < 400);

    /* The next run starts at the checkpoint, not at zero. */
    c.on_status = NULL;
    st_repl_status s2;
    assert_int_equal(st_repl_run(&c, &s2, &e), ST_OK);
    /* A checkpoint that landed while the stop was under way may put the
     * resume point past what the status last showed, never before it. */
    assert_true(s2.changes_read <= 400 - cut);
    assert_same(p->a, p->b);
}

static void test_doc_ids_and_since(void **state)
{
    pair *p = *state;
    for (int i = 0; i < 20; i++)
        rt_put(p->a, NULL, "{\"_id\":\"f%02d\"}", i);
    const char *ids[] = {"f03", "f11", "nope"};
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = p->a;
    c.target_db = p->b;
    c.doc_ids = ids;
    c.n_doc_ids = 3;
    st_repl_status s;
    st_error e;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 2);
    st_db_info info;
    assert_int_equal(st_db_info_get(p->b, &info, &e), ST_OK);
    assert_int_equal(info.doc_count, 2);

    /* since_seq: start after the first 15 changes. */
    st_repl_config_init(&c);
    c.source_db = p->a;
    c.target_db = p->b;
    c.since_seq = "15";
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.changes_read, 5);
    assert_int_equal(st_db_info_get(p->b, &info, &e), ST_OK);
    assert_int_equal(info.doc_count, 2 + 5); /* f15..f19 */
}

/* A selector replication from a local source: core matches the source's
 * winners; each selector keeps its own checkpoint (it is part of the id). */
static void test_selector(void **state)
{
    pair *p = *state;
    for (int i = 0; i < 20; i++)
        rt_put(p->a, NULL, "{\"_id\":\"s%02d\",\"owner\":\"u%d\"}", i, i % 2);
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = p->a;
    c.target_db = p->b;
    c.selector = "{\"owner\":\"u1\"}";
    st_repl_status s;
    st_error e;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 10);
    for (int i = 20; i < 24; i++)
        rt_put(p->a, NULL, "{\"_id\":\"s%02d\",\"owner\":\"u%d\"}", i, i % 2);
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 2); /* resumed from its checkpoint */
    c.selector = "{\"owner\":{\"$eq\":\"u1\"}}"; /* the same selector, written otherwise */
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 0);
    c.selector = "{\"owner\":\"u0\"}"; /* another: from the start */
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 12);
    st_db_info info;
    assert_int_equal(st_db_info_get(p->b, &info, &e), ST_OK);
    assert_int_equal(info.doc_count, 24);
    c.selector = "{\"owner\":{\"$nope\":1}}";
    assert_int_not_equal(st_repl_run(&c, &s, &e), ST_OK);
}

/* Continuous with a selector: only matching documents follow. */
static void test_selector_continuous(void **state)
{
    pair *p = *state;
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = p->a;
    c.target_db = p->b;
    c.continuous = true;
    c.selector = "{\"keep\":true}";
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    for (int i = 0; i < 10; i++)
        rt_put(p->a, NULL, "{\"_id\":\"k%d\",\"keep\":%s}", i, i % 3 ? "false" : "true");
    st_repl_status s;
    uint64_t t0 = ts_now_ms();
    do {
        ts_sleep_ms(5);
        st_repl_get_status(r, &s);
    } while (s.docs_written < 4 && ts_now_ms() - t0 < 5000);
    assert_int_equal(s.docs_written, 4); /* k0 k3 k6 k9 */
    ts_sleep_ms(100);
    st_repl_get_status(r, &s);
    assert_int_equal(s.docs_written, 4);
    st_repl_stop(r);
    assert_int_equal(st_repl_wait(r, 10000), ST_REPL_STOPPED);
    st_repl_free(r);
    st_db_info info;
    assert_int_equal(st_db_info_get(p->b, &info, &e), ST_OK);
    assert_int_equal(info.doc_count, 4);
}

static void test_create_target(void **state)
{
    pair *p = *state;
    rt_put(p->a, NULL, "{\"_id\":\"x\"}");
    char path[4096];
    ts_db_path(path, sizeof path, "created.settee");
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = p->a;
    c.target = path;
    st_repl_status s;
    st_error e;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_E_NOT_FOUND);
    assert_int_equal(s.state, ST_REPL_FAILED);
    assert_non_null(strstr(s.last_error.reason, "does not exist"));
    assert_non_null(strstr(s.last_error.reason, path));
    c.create_target = true;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 1);
    /* And a local source given by path works the same. */
    st_repl_config_init(&c);
    c.source = path;
    c.target_db = p->b;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(s.docs_written, 1);
    ts_db_unlink(path);
}

typedef struct hook_log {
    char ids[8][32];
    int n;
} hook_log;

static void on_conflict(void *ctx, st_repl *r, const char *id)
{
    (void)r;
    hook_log *h = ctx;
    if (h->n < 8)
        snprintf(h->ids[h->n++], sizeof h->ids[0], "%s", id);
}

static void test_conflict_hook(void **state)
{
    pair *p = *state;
    char r1[ST_REV_STR_MAX];
    rt_put(p->a, r1, "{\"_id\":\"k\",\"v\":0}");
    rt_put(p->b, NULL, "{\"_id\":\"k\",\"v\":0}");
    rt_put(p->a, NULL, "{\"_id\":\"k\",\"_rev\":\"%s\",\"v\":1}", r1);
    rt_put(p->b, NULL, "{\"_id\":\"k\",\"_rev\":\"%s\",\"v\":2}", r1);
    rt_put(p->a, NULL, "{\"_id\":\"plain\"}");
    /* Edited on one side, deleted on the other: two leaves, one live --
     * not a conflict (CouchDB's _deleted_conflicts), so no hook call. */
    char r2[ST_REV_STR_MAX];
    rt_put(p->a, r2, "{\"_id\":\"gone\",\"v\":0}");
    rt_put(p->b, NULL, "{\"_id\":\"gone\",\"v\":0}");
    rt_put(p->a, NULL, "{\"_id\":\"gone\",\"_rev\":\"%s\",\"v\":1}", r2);
    rt_put(p->b, NULL, "{\"_id\":\"gone\",\"_rev\":\"%s\",\"_deleted\":true}", r2);
    hook_log h = {0};
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = p->a;
    c.target_db = p->b;
    c.on_conflict = on_conflict;
    c.conflict_ctx = &h;
    st_repl_status s;
    st_error e;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_OK);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.ids[0], "k");
}

static void test_continuous(void **state)
{
    pair *p = *state;
    rt_put(p->a, NULL, "{\"_id\":\"before\"}");
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = p->a;
    c.target_db = p->b;
    c.continuous = true;
    c.feed_timeout_ms = 500;
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    st_repl_status s;
    uint64_t t0 = ts_now_ms();
    do {
        ts_sleep_ms(10);
        st_repl_get_status(r, &s);
    } while (s.state != ST_REPL_IDLE && ts_now_ms() - t0 < 10000);
    assert_int_equal(s.state, ST_REPL_IDLE);
    assert_int_equal(s.docs_written, 1);
    /* New writes wake the feed at once (observer), well before the
     * longpoll's own timeout would. */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 5; i++)
            rt_put(p->a, NULL, "{\"_id\":\"live%d-%d\"}", round, i);
        t0 = ts_now_ms();
        do {
            ts_sleep_ms(5);
            st_repl_get_status(r, &s);
        } while (s.docs_written < 1 + 5 * (uint64_t)(round + 1) && ts_now_ms() - t0 < 10000);
        assert_int_equal(s.docs_written, 1 + 5 * (round + 1));
    }
    st_repl_stop(r);
    assert_int_equal(st_repl_wait(r, 10000), ST_REPL_STOPPED);
    st_repl_free(r);
    assert_same(p->a, p->b);
}

/* Continuous from a database file that does not exist yet: it waits
 * (STARTING, retrying) instead of failing, and starts once the file is
 * there; a one-shot fails at once. */
static void test_continuous_missing_source(void **state)
{
    pair *p = *state;
    char pc[4096];
    ts_db_path(pc, sizeof pc, "not-yet.settee");
    st_repl_config c;
    st_repl_config_init(&c);
    c.source = pc;
    c.target_db = p->b;
    c.retry_base_ms = 20;
    c.retry_max_ms = 100;
    c.feed_timeout_ms = 500;
    st_repl_status s;
    st_error e;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_E_NOT_FOUND);
    assert_non_null(strstr(e.reason, "does not exist"));
    c.continuous = true;
    st_repl *r = NULL;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    uint64_t t0 = ts_now_ms();
    do {
        ts_sleep_ms(10);
        st_repl_get_status(r, &s);
    } while (s.retries < 3 && ts_now_ms() - t0 < 10000);
    assert_int_equal(s.state, ST_REPL_STARTING);
    assert_int_equal(s.last_error.code, ST_E_NOT_FOUND);
    st_db *src = rt_open(pc, true);
    assert_non_null(src);
    rt_put(src, NULL, "{\"_id\":\"arrived\"}");
    t0 = ts_now_ms();
    do {
        ts_sleep_ms(10);
        st_repl_get_status(r, &s);
    } while ((s.state != ST_REPL_IDLE || s.docs_written < 1) && ts_now_ms() - t0 < 10000);
    assert_int_equal(s.state, ST_REPL_IDLE);
    assert_int_equal(s.docs_written, 1);
    assert_int_equal(s.last_error.code, ST_OK);
    st_repl_stop(r);
    assert_int_equal(st_repl_wait(r, 10000), ST_REPL_STOPPED);
    st_repl_free(r);
    st_db_close(src);
    ts_db_unlink(pc);
}

/* A gzip-encoded text attachment and a binary one keep digest, revpos,
 * length and encoding on the replica: the stored bytes travel as they are. */
static void test_attachment_encodings_kept(void **state)
{
    pair *p = *state;
    char text[4096];
    size_t n = 0;
    for (int i = 0; n + 40 < sizeof text && i < 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "line %d of a compressible text\n", i);
    st_buf b64 = ST_BUF_INIT;
    assert_int_equal(st_base64_encode(&b64, text, n), ST_OK);
    char rev[ST_REV_STR_MAX];
    rt_put(p->a, rev,
           "{\"_id\":\"a\",\"_attachments\":{\"t.txt\":{\"content_type\":\"text/plain\",\"data\":\"%s\"},"
           "\"b.bin\":{\"content_type\":\"application/octet-stream\",\"data\":\"AAECAwQFBgcICQ==\"}}}",
           b64.data);
    st_buf_free(&b64);
    /* A second revision that keeps t.txt as a stub: revpos stays 1. */
    rt_put(p->a, NULL,
           "{\"_id\":\"a\",\"_rev\":\"%s\",\"v\":2,\"_attachments\":{\"t.txt\":{\"stub\":true},"
           "\"b.bin\":{\"content_type\":\"application/octet-stream\",\"data\":\"AAEC\"}}}",
           rev);
    char *src = rt_att_meta(p->a, "a");
    assert_non_null(strstr(src, "t.txt md5-"));
    char want[64];
    snprintf(want, sizeof want, " 1 %zu gzip ", n); /* stored gzip-encoded at revpos 1 */
    assert_non_null(strstr(src, want));
    assert_non_null(strstr(src, "b.bin md5-"));
    assert_non_null(strstr(src, " 2 3 - 0"));
    st_status st;
    st_repl_status s = rt_replicate(p->a, p->b, &st);
    assert_int_equal(st, ST_OK);
    assert_int_equal(s.docs_written, 1);
    char *dst = rt_att_meta(p->b, "a");
    assert_string_equal(dst, src);
    free(src);
    free(dst);
    assert_same(p->a, p->b);
}

typedef struct writer_arg {
    const char *path;
    int round, n;
} writer_arg;

/* Commits made through a second st_db handle on the source's file: the
 * first handle's writer never sees them, only the follower's poller does. */
static void *other_handle_writer(void *arg)
{
    writer_arg *w = arg;
    st_db *db = rt_open(w->path, false);
    for (int i = 0; db && i < w->n; i++)
        rt_put(db, NULL, "{\"_id\":\"other%d-%d\"}", w->round, i);
    st_db_close(db);
    return NULL;
}

static void test_continuous_wakes_on_other_handle(void **state)
{
    pair *p = *state;
    rt_put(p->a, NULL, "{\"_id\":\"first\"}");
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = p->a;
    c.target_db = p->b;
    c.continuous = true;
    c.feed_timeout_ms = 60000; /* far beyond the waits below: only a wake can deliver */
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    st_repl_status s;
    uint64_t t0 = ts_now_ms();
    do {
        ts_sleep_ms(10);
        st_repl_get_status(r, &s);
    } while ((s.state != ST_REPL_IDLE || s.docs_written < 1) && ts_now_ms() - t0 < 10000);
    assert_int_equal(s.state, ST_REPL_IDLE);
    ts_sleep_ms(100); /* parked on the longpoll */
    for (int round = 1; round <= 2; round++) {
        writer_arg w = {p->pa, round, 3};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, other_handle_writer, &w), 0);
        pthread_join(t, NULL);
        t0 = ts_now_ms();
        do {
            ts_sleep_ms(5);
            st_repl_get_status(r, &s);
        } while (s.docs_written < 1 + 3 * (uint64_t)round && ts_now_ms() - t0 < 5000);
        assert_int_equal(s.docs_written, 1 + 3 * round);
        assert_true(ts_now_ms() - t0 < 5000);
    }
    st_repl_stop(r);
    assert_int_equal(st_repl_wait(r, 10000), ST_REPL_STOPPED);
    st_repl_free(r);
}

static void test_bad_config(void **state)
{
    (void)state;
    st_repl_config c;
    st_repl_config_init(&c);
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_E_BAD_REQUEST);
    c.source = "/nonexistent/a";
    c.target = "/nonexistent/b";
    c.selector = "[1]";
    assert_int_equal(st_repl_start(&c, &r, &e), ST_E_BAD_REQUEST);
    c.selector = NULL;
    st_repl_status s;
    assert_int_equal(st_repl_run(&c, &s, &e), ST_E_NOT_FOUND);
    assert_non_null(strstr(s.last_error.reason, "source /nonexistent/a"));
    st_repl_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_docs_deletions_attachments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repaired_ids_replicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stemmed_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doc_ids_and_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selector_continuous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continuous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continuous_missing_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attachment_encodings_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continuous_wakes_on_other_handle, setup, teardown),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
