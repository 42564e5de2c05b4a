/* test_cli.c — `settee replicate` and `settee sync` as a user runs them:
 * exit statuses, --json status lines, --help, --doc-ids, --create-target,
 * a clear message for a missing database, and a continuous replication
 * woken by another process's commit.  Skipped when the binary is
 * not built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "repl_server.h"
#include "repl_testutil.h"

/* Run `settee ARGS` (a shell fragment); stdout+stderr into *out. */
static int cli(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli(char **out, const char *fmt, ...)
{
    char args[8192], line[8400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "timeout 60 '%s' %s 2>&1", rs_bin(), args);
    FILE *f = popen(line, "r");
    assert_non_null(f);
    st_buf b = ST_BUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        assert_int_equal(st_buf_add(&b, buf, n), ST_OK);
    int rc = pclose(f);
    *out = b.data ? st_buf_take(&b, NULL) : strdup("");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_replicate_and_sync(void **state)
{
    (void)state;
    char pa[4096], pb[4096];
    rt_path(pa, sizeof pa, "cli-a.settee");
    rt_path(pb, sizeof pb, "cli-b.settee");
    st_db *a = rt_open(pa, true);
    for (int i = 0; i < 30; i++)
        rt_put(a, NULL, "{\"_id\":\"d%02d\"}", i);
    st_db_close(a);
    char *out = NULL;

    /* A missing target without --create-target: exit 1 and a clear reason. */
    assert_int_equal(cli(&out, "replicate '%s' '%s'", pa, pb), 1);
    assert_non_null(strstr(out, "does not exist"));
    free(out);

    assert_int_equal(cli(&out, "replicate --json --create-target '%s' '%s'", pa, pb), 0);
    assert_non_null(strstr(out, "\"state\":\"stopped\""));
    assert_non_null(strstr(out, "\"docs_written\":30"));
    free(out);

    /* Edits on the target come back with sync; --doc-ids narrows it. */
    st_db *b = rt_open(pb, false);
    rt_put(b, NULL, "{\"_id\":\"from-b\"}");
    rt_put(b, NULL, "{\"_id\":\"also-b\"}");
    st_db_close(b);
    assert_int_equal(cli(&out, "sync --json --doc-ids from-b '%s' '%s'", pa, pb), 0);
    assert_non_null(strstr(out, "\"replication\":\"pull\""));
    assert_non_null(strstr(out, "\"replication\":\"push\""));
    free(out);
    a = rt_open(pa, false);
    st_db_info info;
    st_error e;
    assert_int_equal(st_db_info_get(a, &info, &e), ST_OK);
    assert_int_equal(info.doc_count, 31);
    st_db_close(a);
    assert_int_equal(cli(&out, "sync --quiet '%s' '%s'", pa, pb), 0);
    free(out);
    a = rt_open(pa, false);
    assert_int_equal(st_db_info_get(a, &info, &e), ST_OK);
    assert_int_equal(info.doc_count, 32);
    st_db_close(a);

    assert_int_equal(cli(&out, "sync --help"), 0);
    assert_non_null(strstr(out, "--continuous"));
    free(out);
    assert_int_equal(cli(&out, "replicate --bogus a b"), 2);
    free(out);
    assert_int_equal(cli(&out, "replicate only-one"), 2);
    free(out);
    rt_unlink(pa);
    rt_unlink(pb);
}

/* A continuous replication from a local file wakes up when another process
 * (`settee put` on the same file) commits: the follower's poller notices,
 * long before the longpoll's own timeout would. */
static void test_continuous_wakes_on_other_process(void **state)
{
    (void)state;
    char pa[4096], pb[4096];
    rt_path(pa, sizeof pa, "proc-src.settee");
    rt_path(pb, sizeof pb, "proc-tgt.settee");
    st_db *a = rt_open(pa, true), *b = rt_open(pb, true);
    rt_put(a, NULL, "{\"_id\":\"first\"}");
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = a;
    c.target_db = b;
    c.continuous = true;
    c.feed_timeout_ms = 60000;
    st_repl *r = NULL;
    st_error e;
    assert_int_equal(st_repl_start(&c, &r, &e), ST_OK);
    st_repl_status s;
    uint64_t t0 = rt_now_ms();
    do {
        rt_sleep_ms(10);
        st_repl_get_status(r, &s);
    } while ((s.state != ST_REPL_IDLE || s.docs_written < 1) && rt_now_ms() - t0 < 10000);
    assert_int_equal(s.state, ST_REPL_IDLE);
    /* At once: the commit lands before the poller's first look at the
     * file, which once made it go unseen. */
    char *out = NULL;
    assert_int_equal(cli(&out, "put '%s' '{\"_id\":\"from-another-process\"}'", pa), 0);

    free(out);
    t0 = rt_now_ms();
    do {
        rt_sleep_ms(5);
        st_repl_get_status(r, &s);
    } while (s.docs_written < 2 && rt_now_ms() - t0 < 5000);
    assert_int_equal(s.docs_written, 2);
    st_repl_stop(r);
    assert_int_equal(st_repl_wait(r, 10000), ST_REPL_STOPPED);
    st_repl_free(r);
    st_buf doc = ST_BUF_INIT;
    assert_int_equal(st_db_get(b, "from-another-process", NULL, &doc, &e), ST_OK);
    st_buf_free(&doc);
    st_db_close(a);
    st_db_close(b);
    rt_unlink(pa);
    rt_unlink(pb);
}

int main(void)
{
    if (!rs_bin()) {
        printf("settee binary not built: skipping CLI tests\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replicate_and_sync),
        cmocka_unit_test(test_continuous_wakes_on_other_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
