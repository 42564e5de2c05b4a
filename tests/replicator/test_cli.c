/* test_cli.c — the `settee` command-line tool as a user runs it: sync and
 * replicate (exit statuses, --json records, --help, --doc-ids,
 * --create-target, a clear message for a missing database, failing fast
 * against a peer that refuses or never answers, --timeout and --retry, the
 * progress line on a terminal of a given width and plain lines elsewhere,
 * summaries that say to/from, a continuous replication woken by another
 * process's commit); --filter with --query-params from a file and from a
 * URL; options in any order; the document commands
 * on a file and on a URL; backup and restore of files and URLs.  Skipped
 * when the binary is not built. */
#define _XOPEN_SOURCE 700 /* posix_openpt and friends, for the terminal test */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

#include "cli_testutil.h"
#include "repl_server.h"
#include "repl_testutil.h"

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

/* ---------------------------------------------------------------- helpers */

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* A port that refuses connections (nobody listens). */
static int refused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A peer that accepts connections (the kernel does) and never answers. */
static int silent_peer(int *out_port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *out_port = ntohs(a.sin_port);
    return fd;
}

/* ------------------------------------------------------ options anywhere */

static void test_options_anywhere(void **state)
{
    (void)state;
    char p[4096];
    rt_path(p, sizeof p, "cli-opts.settee");
    make_db(p, 3);
    char *out = NULL;
    /* An option before the file: the very line that failed before. */
    assert_int_equal(cli(&out, "all-docs --limit 2 '%s'", p), 0);
    assert_int_equal(count_of(out, "\"id\":"), 2);
    free(out);
    assert_int_equal(cli(&out, "all-docs '%s' --limit=1 --include-docs", p), 0);
    assert_int_equal(count_of(out, "\"id\":"), 1);
    assert_non_null(strstr(out, "\"doc\":"));
    free(out);
    assert_int_equal(cli(&out, "changes --since 2 '%s'", p), 0);
    assert_non_null(strstr(out, "\"seq\":3"));
    assert_null(strstr(out, "\"seq\":2,"));
    free(out);
    /* -- ends the options: an id that starts with a dash. */
    assert_int_equal(cli(&out, "put '%s' '{\"_id\":\"-dash\"}'", p), 0);
    free(out);
    assert_int_equal(cli(&out, "get '%s' -- -dash", p), 0);
    assert_non_null(strstr(out, "\"_id\":\"-dash\""));
    free(out);
    assert_int_equal(cli(&out, "get '%s' -dash", p), 2); /* an unknown option */
    assert_non_null(strstr(out, "unknown option"));
    free(out);
    assert_int_equal(cli(&out, "get '%s' --revs d001", p), 0);
    assert_non_null(strstr(out, "\"_revisions\""));
    free(out);
    assert_int_equal(cli(&out, "all-docs --limit lots '%s'", p), 2);
    free(out);
    assert_int_equal(cli(&out, "get '%s'", p), 2); /* no id */
    free(out);
    /* sync options go anywhere too. */
    char q[4096];
    rt_path(q, sizeof q, "cli-opts-copy.settee");
    assert_int_equal(cli(&out, "replicate '%s' --quiet '%s' --create-target", p, q), 0);
    assert_int_equal(doc_count(q), 4);
    free(out);
    rt_unlink(p);
    rt_unlink(q);
}

/* ------------------------------------------------- documents on a URL */

static void test_doc_commands_on_url(void **state)
{
    (void)state;
    rs_server srv;
    assert_true(rs_start_cfg(&srv, "cli-docs", CT_FAST_HASH_INI));
    assert_int_equal(rs_http_status(&srv, "PUT", "/docs", NULL), 201);
    char u[256];
    snprintf(u, sizeof u, "%s/docs", srv.base);
    char *out = NULL;
    assert_int_equal(cli(&out, "put '%s' '{\"_id\":\"a\",\"v\":1}'", u), 0);
    assert_non_null(strstr(out, "\"ok\":true"));
    char rev[64] = "";
    const char *r = strstr(out, "\"rev\":\"");
    assert_non_null(r);
    sscanf(r + 7, "%63[^\"]", rev);
    free(out);
    assert_int_equal(cli(&out, "put '%s' '{\"v\":2}'", u), 0); /* no _id: POST */
    assert_non_null(strstr(out, "\"ok\":true"));
    free(out);
    char in[4096];
    rt_path(in, sizeof in, "cli-doc.json");
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs("{\"_id\":\"b\"}", f);
    fclose(f);
    assert_int_equal(cli(&out, "put '%s' < '%s'", u, in), 0); /* JSON from stdin */
    assert_non_null(strstr(out, "\"id\":\"b\""));
    free(out);
    unlink(in);
    assert_int_equal(cli(&out, "get '%s' a", u), 0);
    assert_non_null(strstr(out, "\"v\":1"));
    free(out);
    assert_int_equal(cli(&out, "get --rev %s '%s' a --revs", rev, u), 0);
    assert_non_null(strstr(out, "\"_revisions\""));
    free(out);
    assert_int_equal(cli(&out, "get '%s' nope", u), 1);
    assert_non_null(strstr(out, "not_found"));
    free(out);
    assert_int_equal(cli(&out, "all-docs --include-docs --limit 1 '%s'", u), 0);
    assert_int_equal(count_of(out, "\"doc\":"), 1);
    free(out);
    assert_int_equal(cli(&out, "all-docs '%s' --startkey a --endkey a", u), 0);
    assert_int_equal(count_of(out, "\"id\":"), 1);
    free(out);
    assert_int_equal(cli(&out, "changes '%s' --since 1", u), 0);
    assert_int_equal(count_of(out, "\"seq\":"), 2);
    free(out);
    assert_int_equal(cli(&out, "info '%s'", u), 0);
    assert_non_null(strstr(out, "\"doc_count\":3"));
    free(out);
    assert_int_equal(cli(&out, "compact '%s'", u), 0);
    assert_non_null(strstr(out, "\"ok\":true"));
    free(out);
    assert_int_equal(cli(&out, "delete '%s' a 1-0000", u), 1);
    assert_non_null(strstr(out, "conflict"));
    free(out);
    assert_int_equal(cli(&out, "delete '%s' a %s", u, rev), 0);
    free(out);
    /* A missing database: the error names it without the password. */
    assert_int_equal(cli(&out, "info '%s/missing'", srv.base), 1);
    assert_non_null(strstr(out, "not_found"));
    assert_null(strstr(out, RS_PASS));
    free(out);
    assert_true(rs_stop(&srv));
}

/* ---------------------------------------------------------- fail fast */

static void test_fails_fast(void **state)
{
    (void)state;
    char p[4096];
    rt_path(p, sizeof p, "cli-fast.settee");
    make_db(p, 5);
    char *out = NULL;
    int refused = refused_port();

    /* Refused: the bounded retries end it within a few seconds. */
    uint64_t t0 = rs_now_ms();
    assert_int_equal(cli(&out, "replicate '%s' http://127.0.0.1:%d/x", p, refused), 1);
    assert_true(rs_now_ms() - t0 < 8000);
    assert_non_null(strstr(out, "127.0.0.1"));
    free(out);
    /* --json: a record for each retry, and a final one. */
    assert_int_equal(cli(&out, "replicate --json '%s' http://127.0.0.1:%d/x", p, refused), 1);
    assert_true(count_of(out, "\"event\":\"retry\"") >= 2);
    assert_non_null(strstr(out, "\"event\":\"done\""));
    assert_non_null(strstr(out, "\"ok\":false"));
    free(out);
    /* --retry: patient until the give-up time. */
    t0 = rs_now_ms();
    assert_int_equal(cli(&out, "replicate --retry --timeout 3 '%s' http://127.0.0.1:%d/x", p,
                         refused), 1);
    assert_true(rs_now_ms() - t0 >= 2500);
    assert_non_null(strstr(out, "gave up after 3 s"));
    free(out);

    /* Never answers: --timeout 2 gives up after about 2 s, saying so. */
    int port;
    int fd = silent_peer(&port);
    t0 = rs_now_ms();
    assert_int_equal(cli(&out, "replicate --timeout 2 '%s' http://127.0.0.1:%d/x", p, port), 1);
    uint64_t took = rs_now_ms() - t0;
    assert_true(took >= 1500 && took < 8000);
    assert_non_null(strstr(out, "gave up after 2 s"));
    assert_non_null(strstr(out, "--retry"));
    free(out);
    /* And by default within the default give-up time (10 s), not minutes. */
    t0 = rs_now_ms();
    assert_int_equal(cli(&out, "sync --quiet '%s' http://127.0.0.1:%d/x", p, port), 1);
    took = rs_now_ms() - t0;
    assert_true(took >= 9000 && took < 20000);
    assert_non_null(strstr(out, "gave up after 10 s"));
    free(out);
    close(fd);
    rt_unlink(p);
}

/* ------------------------------------------------------- --json records */

/* Each line of out parsed; fn sees every record. */
static void each_record(const char *out, void (*fn)(void *, const st_json *), void *ctx)
{
    const char *line = out;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n && line[0] == '{') {
            st_json_doc *doc = NULL;
            assert_int_equal(st_json_parse(line, n, NULL, &doc, NULL), ST_OK);
            fn(ctx, st_json_doc_root(doc));
            st_json_doc_free(doc);
        }
        line += n + (nl ? 1 : 0);
    }
}

typedef struct records {
    size_t n;
    char first[32], last[32];
    bool saw_running, stopped_after_running;
    char end_seq[32];
} records;

static void on_record(void *ctx, const st_json *r)
{
    records *rs = ctx;
    const st_json *ev = st_json_get(r, "event");
    const st_json *t = st_json_get(r, "time");
    assert_non_null(ev);
    assert_non_null(t);
    assert_non_null(st_json_get(r, "elapsed"));
    assert_int_equal(t->type, ST_JSON_STRING);
    assert_true(strlen(t->u.str) == 24 && t->u.str[23] == 'Z'); /* 2026-01-02T03:04:05.678Z */
    if (rs->n++ == 0)
        snprintf(rs->first, sizeof rs->first, "%s", ev->u.str);
    snprintf(rs->last, sizeof rs->last, "%s", ev->u.str);
    const st_json *state = st_json_get(r, "state");
    if (state && strcmp(state->u.str, "running") == 0)
        rs->saw_running = true;
    if (state && strcmp(state->u.str, "stopped") == 0 && rs->saw_running)
        rs->stopped_after_running = true;
    const st_json *seq = st_json_get(r, "last_seq");
    if (strcmp(ev->u.str, "end") == 0 && seq && seq->type == ST_JSON_NUMBER)
        snprintf(rs->end_seq, sizeof rs->end_seq, "%s", seq->u.str);
}

static void test_json_records(void **state)
{
    (void)state;
    char p[4096], q[4096];
    rt_path(p, sizeof p, "cli-json-a.settee");
    rt_path(q, sizeof q, "cli-json-b.settee");
    make_db(p, 30);
    char *out = NULL;
    assert_int_equal(cli(&out, "replicate --json --create-target '%s' '%s' 2>/dev/null", p, q),
                     0);
    records rs = {0};
    each_record(out, on_record, &rs);
    assert_true(rs.n >= 4);
    assert_string_equal(rs.first, "start");
    assert_string_equal(rs.last, "done");
    assert_true(rs.stopped_after_running); /* no state lost between two polls */
    assert_string_equal(rs.end_seq, "30");  /* the end does not lag what was read */
    assert_non_null(strstr(out, "\"ok\":true"));
    free(out);
    rt_unlink(p);
    rt_unlink(q);
}

/* ------------------------------------------------------ the display */

/* Run `settee ARGS` with stdout and stderr on a terminal of cols columns;
 * everything it wrote into *out. */
static int on_terminal(char **out, unsigned cols, const char *a1, const char *a2, const char *a3,
                       const char *a4)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    char slave[256];
    snprintf(slave, sizeof slave, "%s", ptsname(m));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setsid();
        int s = open(slave, O_RDWR);
        struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)cols};
        ioctl(s, TIOCSWINSZ, &ws);
        struct termios tio;
        if (tcgetattr(s, &tio) == 0) {
            tio.c_oflag &= ~(tcflag_t)OPOST; /* bytes as written: no \n → \r\n */
            tcsetattr(s, TCSANOW, &tio);
        }
        dup2(s, 1);
        dup2(s, 2);
        close(m);
        execl(rs_bin(), rs_bin(), a1, a2, a3, a4, (char *)NULL);
        _exit(127);
    }
    st_buf b = ST_BUF_INIT;
    char buf[4096];
    for (uint64_t t0 = rs_now_ms(); rs_now_ms() - t0 < 60000;) {
        struct pollfd pf = {m, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        ssize_t n = read(m, buf, sizeof buf);
        if (n <= 0)
            break; /* EIO: the child closed the terminal */
        assert_int_equal(st_buf_add(&b, buf, (size_t)n), ST_OK);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    close(m);
    *out = b.data ? st_buf_take(&b, NULL) : strdup("");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_progress_display(void **state)
{
    (void)state;
    char p[4096], q[4096], q2[4096];
    rt_path(p, sizeof p, "cli-tty-a.settee");
    rt_path(q, sizeof q, "cli-tty-b.settee");
    rt_path(q2, sizeof q2, "cli-tty-c.settee");
    make_db(p, 200);
    char *out = NULL;
    assert_int_equal(on_terminal(&out, 50, "replicate", "--create-target", p, q), 0);
    /* Redrawn in place: each redraw starts with \r and clears the rest of
     * the line; no drawn line passes 49 columns, so nothing wraps. */
    assert_non_null(strstr(out, "\r"));
    assert_non_null(strstr(out, "\033[K"));
    assert_non_null(strstr(out, "docs"));
    assert_non_null(strstr(out, "copied 200 documents from "));
    assert_null(strstr(out, "M/s")); /* no absurd first rate */
    char *save = NULL;
    for (char *seg = strtok_r(out, "\r\n", &save); seg; seg = strtok_r(NULL, "\r\n", &save)) {
        char *k = strstr(seg, "\033[K");
        if (k)
            *k = '\0';
        if (strstr(seg, "copied ") == seg)
            continue; /* the summary is an ordinary line */
        assert_true(strlen(seg) <= 49);
    }
    free(out);
    /* Not a terminal: plain lines, no redraws. */
    assert_int_equal(cli(&out, "replicate --create-target '%s' '%s'", p, q2), 0);
    assert_null(strchr(out, '\r'));
    assert_null(strstr(out, "\033["));
    assert_non_null(strstr(out, "copy: stopped"));
    assert_non_null(strstr(out, "copied 200 documents from "));
    free(out);
    rt_unlink(p);
    rt_unlink(q);
    rt_unlink(q2);
}

static void test_summary_to_from(void **state)
{
    (void)state;
    rs_server srv;
    assert_true(rs_start_cfg(&srv, "cli-sum", CT_FAST_HASH_INI));
    char p[4096], u[256];
    rt_path(p, sizeof p, "cli-sum.settee");
    make_db(p, 4);
    snprintf(u, sizeof u, "%s/sum", srv.base);
    assert_int_equal(rs_http_status(&srv, "PUT", "/sum", NULL), 201);
    assert_int_equal(rs_http_status(&srv, "PUT", "/sum/remote1", "{}"), 201);
    char *out = NULL;
    assert_int_equal(cli(&out, "sync '%s' '%s'", p, u), 0);
    assert_non_null(strstr(out, "sent 4 documents to http://admin@127.0.0.1:"));
    assert_non_null(strstr(out, "received 1 document from http://admin@127.0.0.1:"));
    assert_null(strstr(out, RS_PASS));
    assert_null(strstr(out, "push:  ")); /* no push/pull jargon in the summary */
    free(out);
    rt_unlink(p);
    assert_true(rs_stop(&srv));
}

/* ------------------------------------------------------ backup, restore */

typedef struct writer {
    const char *path;
    atomic_bool stop;
    int written;
} writer;

static void *keep_writing(void *arg)
{
    writer *w = arg;
    st_db *db = rt_open(w->path, false);
    while (!atomic_load(&w->stop)) {
        rt_put(db, NULL, "{\"_id\":\"live%06d\",\"pad\":\"%0100d\"}", w->written, w->written);
        w->written++;
    }
    st_db_close(db);
    return NULL;
}

/* Every document all_docs lists is counted in info: a consistent file. */
static int count_row(void *ctx, const st_alldocs_row *row)
{
    (void)row;
    (*(uint64_t *)ctx)++;
    return 0;
}

static void assert_consistent(const char *path, uint64_t at_least)
{
    st_db *db = rt_open(path, false);
    assert_non_null(db);
    st_db_info info;
    st_error e;
    assert_int_equal(st_db_info_get(db, &info, &e), ST_OK);
    uint64_t rows = 0;
    st_alldocs_opts o;
    st_alldocs_opts_init(&o);
    assert_int_equal(st_db_all_docs(db, &o, NULL, count_row, &rows, &e), ST_OK);
    assert_int_equal(rows, info.doc_count);
    assert_true(info.doc_count >= at_least);
    st_db_close(db);
}

static void test_backup_restore_file(void **state)
{
    (void)state;
    char src[4096], bak[4096], dst[4096];
    rt_path(src, sizeof src, "cli-bk-src.settee");
    rt_path(bak, sizeof bak, "cli-bk.settee");
    rt_path(dst, sizeof dst, "cli-bk-restored.settee");
    make_db(src, 300);
    writer w = {.path = src};
    atomic_init(&w.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, keep_writing, &w), 0);
    rt_sleep_ms(50);
    char *out = NULL;
    /* A consistent copy while another handle keeps writing. */
    assert_int_equal(cli(&out, "backup '%s' '%s'", src, bak), 0);
    assert_non_null(strstr(out, "backed up"));
    free(out);
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    assert_consistent(bak, 300);
    assert_true(doc_count(bak) <= 300 + (uint64_t)w.written);
    /* Never over an existing file. */
    assert_int_equal(cli(&out, "backup '%s' '%s'", src, bak), 1);
    assert_non_null(strstr(out, "exists"));
    free(out);

    uint64_t n = doc_count(bak);
    assert_int_equal(cli(&out, "restore '%s' '%s'", bak, dst), 0);
    free(out);
    assert_int_equal(doc_count(dst), n);
    assert_consistent(dst, n);
    assert_int_equal(cli(&out, "restore '%s' '%s'", bak, dst), 1);
    assert_non_null(strstr(out, "--replace"));
    free(out);
    /* A database someone has open is not replaced under them. */
    st_db *open_db = rt_open(dst, false);
    rt_put(open_db, NULL, "{\"_id\":\"after-restore\"}");
    assert_int_equal(cli(&out, "restore --replace '%s' '%s'", bak, dst), 1);
    assert_non_null(strstr(out, "open in another process"));
    free(out);
    st_db_close(open_db);
    /* Closed: replaced, and the newer document is gone with the old file. */
    assert_int_equal(doc_count(dst), n + 1);
    assert_int_equal(cli(&out, "restore '%s' --replace '%s'", bak, dst), 0);
    free(out);
    assert_int_equal(doc_count(dst), n);
    assert_int_equal(cli(&out, "restore '%s/nothing-here' '%s'", bak, dst), 1);
    free(out);
    rt_unlink(src);
    rt_unlink(bak);
    rt_unlink(dst);
}

static void test_backup_restore_url(void **state)
{
    (void)state;
    rs_server srv;
    assert_true(rs_start_cfg(&srv, "cli-bk", CT_FAST_HASH_INI));
    assert_int_equal(rs_http_status(&srv, "PUT", "/bk", NULL), 201);
    st_buf body = ST_BUF_INIT;
    assert_int_equal(st_buf_adds(&body, "{\"docs\":["), ST_OK);
    for (int i = 0; i < 50; i++)
        assert_int_equal(st_buf_printf(&body, "%s{\"_id\":\"r%02d\"}", i ? "," : "", i), ST_OK);
    assert_int_equal(st_buf_adds(&body, "]}"), ST_OK);
    assert_int_equal(rs_http_status(&srv, "POST", "/bk/_bulk_docs", body.data), 201);
    st_buf_free(&body);
    char bak[4096], bak2[4096];
    rt_path(bak, sizeof bak, "cli-bk-url.settee");
    rt_path(bak2, sizeof bak2, "cli-bk-url2.settee");
    char *out = NULL;
    assert_int_equal(cli(&out, "backup --quiet '%s/bk' '%s'", srv.base, bak), 0);
    free(out);
    assert_int_equal(doc_count(bak), 50);
    /* A failed backup leaves no file that looks like one. */
    assert_int_equal(cli(&out, "backup '%s/missing' '%s'", srv.base, bak2), 1);
    free(out);
    assert_int_equal(access(bak2, F_OK), -1);
    /* Into a new database: restored; into one with documents: refused. */
    assert_int_equal(cli(&out, "restore --quiet '%s' '%s/again'", bak, srv.base), 0);
    free(out);
    rs_resp r = rs_http(&srv, "GET", "/again", NULL);
    assert_non_null(strstr(r.body, "\"doc_count\":50"));
    free(r.body);
    assert_int_equal(cli(&out, "restore '%s' '%s/bk'", bak, srv.base), 1);
    assert_non_null(strstr(out, "already holds 50 documents"));
    free(out);
    rt_unlink(bak);
    assert_true(rs_stop(&srv));
}

/* --filter and --query-params: from a file (the tool runs the function,
 * with the settee-js COUCHDB_QUERY_SERVER_JAVASCRIPT names) and from a
 * URL (the server runs it); --help lists them; a missing filter, a bad
 * one and parameters without a filter are clear errors. */
static void test_filtered(void **state)
{
    (void)state;
    const char *js = getenv("SETTEE_JS");
    assert_non_null(js);
    setenv("COUCHDB_QUERY_SERVER_JAVASCRIPT", js, 1);
    static const char ddoc[] =
        "{\"_id\":\"_design/app\",\"filters\":{\"by_t\":"
        "\"function(doc, req) { return doc.t === req.query.t; }\"}}";
    char pa[4096], pb[4096], pc[4096];
    rt_path(pa, sizeof pa, "cli-fa.settee");
    rt_path(pb, sizeof pb, "cli-fb.settee");
    rt_path(pc, sizeof pc, "cli-fc.settee");
    st_db *a = rt_open(pa, true);
    rt_put(a, NULL, "%s", ddoc);
    for (int i = 0; i < 10; i++)
        rt_put(a, NULL, "{\"_id\":\"d%02d\",\"t\":\"%s\"}", i, i < 3 ? "x" : "y");
    st_db_close(a);
    char *out = NULL;
    assert_int_equal(cli(&out, "sync --help"), 0);
    assert_non_null(strstr(out, "--filter DDOC/NAME"));
    assert_non_null(strstr(out, "--query-params JSON"));
    free(out);
    assert_int_equal(cli(&out, "replicate --json --create-target --filter app/by_t "
                               "--query-params '{\"t\":\"x\"}' '%s' '%s'", pa, pb), 0);
    assert_non_null(strstr(out, "\"docs_written\":3"));
    free(out);
    assert_int_equal(doc_count(pb), 3);
    /* A missing filter: exit 1, CouchDB's words. */
    assert_int_equal(cli(&out, "replicate --filter app/nope '%s' '%s'", pa, pb), 1);
    assert_non_null(strstr(out, "missing json key: nope"));
    free(out);
    assert_int_equal(cli(&out, "replicate --filter other/by_t '%s' '%s'", pa, pb), 1);
    assert_non_null(strstr(out, "Couldn't open document `_design/other`"));
    free(out);
    /* Bad usage: 2. */
    assert_int_equal(cli(&out, "replicate --filter by_t '%s' '%s'", pa, pb), 2);
    assert_non_null(strstr(out, "Must match `ddocname/filtername`"));
    free(out);
    assert_int_equal(cli(&out, "replicate --query-params '{}' '%s' '%s'", pa, pb), 2);
    assert_non_null(strstr(out, "--query-params goes with --filter"));
    free(out);
    assert_int_equal(cli(&out, "replicate --filter app/by_t --query-params '[]' '%s' '%s'", pa, pb),
                     2);
    assert_non_null(strstr(out, "query_params must be a JSON object"));
    free(out);

    /* From a URL: the server runs the function with the parameters. */
    rs_server srv;
    assert_true(rs_start_cfg(&srv, "cli-filter", CT_FAST_HASH_INI));
    assert_int_equal(cli(&out, "replicate --quiet --create-target '%s' '%s/fsrc'", pa, srv.base), 0);
    free(out);
    assert_int_equal(cli(&out, "replicate --json --create-target --filter app/by_t "
                               "--query-params '{\"t\":\"y\"}' '%s/fsrc' '%s'", srv.base, pc), 0);
    assert_non_null(strstr(out, "\"docs_written\":7"));
    free(out);
    assert_int_equal(doc_count(pc), 7);
    assert_true(rs_stop(&srv));
    rt_unlink(pa);
    rt_unlink(pb);
    rt_unlink(pc);
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
        cmocka_unit_test(test_options_anywhere),
        cmocka_unit_test(test_doc_commands_on_url),
        cmocka_unit_test(test_fails_fast),
        cmocka_unit_test(test_json_records),
        cmocka_unit_test(test_progress_display),
        cmocka_unit_test(test_summary_to_from),
        cmocka_unit_test(test_backup_restore_file),
        cmocka_unit_test(test_backup_restore_url),
        cmocka_unit_test(test_filtered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
