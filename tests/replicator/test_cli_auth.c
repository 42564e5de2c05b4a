/* test_cli_auth.c — the `settee` tool's certificate and credential options
 * against a real `settee serve` (HTTPS beside HTTP with the test CA in
 * tests/data/tls; a user alice and a database only its members may read;
 * JWT with an HS256 key; 2 s cookie sessions):
 *   - over HTTPS a replication and a document command succeed with
 *     --ca-file, fail without it (exit 1, a certificate message and the
 *     hint naming --ca-file), and succeed with --insecure;
 *   - a members-only database: without credentials exit 1 with the 401 and
 *     the hint naming --user; with --user and --password-file (a file,
 *     standard input) or SETTEE_PASSWORD it works; a wrong password says
 *     so; backup through the same options;
 *   - --session logs in (a refused login is named), and a continuous run
 *     goes on past its cookie's expiry;
 *   - --bearer-token-file with an HS256 token (a token signed with another
 *     key is refused);
 *   - no password shows in /proc/PID/cmdline, /proc/PID/environ or the
 *     output, whether it came from a file, SETTEE_PASSWORD or the URL;
 *   - contradicting or incomplete options are usage errors (exit 2).
 * Skipped when the binary is not built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <time.h>

#include "cli_testutil.h"
#include "jwt_testutil.h"
#include "repl_server.h"
#include "repl_testutil.h"

#define TLS_DIR ST_TEST_DATA_DIR "/tls"
#define CA TLS_DIR "/ca.pem"
#define ALICE_PW "alice-Pw:@/%+secret"
#define N_MEMBER_DOCS 10

static rs_server srv;
static char alice_pw_file[4096], admin_pw_file[4096], bad_pw_file[4096];
static char members_url[256]; /* http://127.0.0.1:PORT/members (no credentials) */

extern char **environ;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "r");
    st_buf b = ST_BUF_INIT;
    char buf[4096];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        assert_int_equal(st_buf_add(&b, buf, n), ST_OK);
    if (f)
        fclose(f);
    return st_buf_take(&b, out_len);
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[chttpd_auth]\niterations = 1000\ntimeout = 2\n"
             "[chttpd]\nauthentication_handlers = {chttpd_auth, cookie_authentication_handler}, "
             "{chttpd_auth, default_authentication_handler}, "
             "{chttpd_auth, jwt_authentication_handler}\n"
             "[jwt_keys]\nhmac:_default = %s\n"
             "[ssl]\nenable = true\ncert_file = %s/server.pem\nkey_file = %s/server.key\n"
             "port = 0\n",
             TJ_KEY_B64, TLS_DIR, TLS_DIR);
    if (!rs_start_cfg(&srv, "cliauth", ini))
        return -1;
    snprintf(members_url, sizeof members_url, "%s/members", srv.plain);
    rt_path(alice_pw_file, sizeof alice_pw_file, "alice.pw");
    rt_path(admin_pw_file, sizeof admin_pw_file, "admin.pw");
    rt_path(bad_pw_file, sizeof bad_pw_file, "bad.pw");
    FILE *f = fopen(alice_pw_file, "w");
    FILE *g = fopen(admin_pw_file, "w");
    FILE *h = fopen(bad_pw_file, "w");
    if (!f || !g || !h)
        return -1;
    fputs(ALICE_PW "\n", f);
    fputs(srv.pass, g); /* no newline: the whole file */
    fputs("not-the-password\n", h);
    fclose(f);
    fclose(g);
    fclose(h);
    /* alice, and a database for its members (alice, and jwtuser of the tokens). */
    const char *user = "{\"name\":\"alice\",\"password\":\"" ALICE_PW "\",\"roles\":[],"
                       "\"type\":\"user\"}";
    if (rs_http_status(&srv, "PUT", "/_users/org.couchdb.user:alice", user) != 201 ||
        rs_http_status(&srv, "PUT", "/members", NULL) != 201 ||
        rs_http_status(&srv, "PUT", "/members/_security",
                       "{\"members\":{\"names\":[\"alice\",\"jwtuser\"],\"roles\":[]}}") != 200)
        return -1;
    for (int i = 0; i < N_MEMBER_DOCS; i++) {
        char path[64];
        snprintf(path, sizeof path, "/members/m%02d", i);
        if (rs_http_status(&srv, "PUT", path, "{\"v\":1}") != 201)
            return -1;
    }
    /* The session test's own database, which it writes to. */
    if (rs_http_status(&srv, "PUT", "/sessions", NULL) != 201 ||
        rs_http_status(&srv, "PUT", "/sessions/_security",
                       "{\"members\":{\"names\":[\"alice\"],\"roles\":[]}}") != 200 ||
        rs_http_status(&srv, "PUT", "/sessions/first", "{}") != 201)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(alice_pw_file);
    unlink(admin_pw_file);
    unlink(bad_pw_file);
    bool clean = rs_stop(&srv);
    curl_global_cleanup();
    return clean ? 0 : -1;
}

/* ---------------------------------------------------------------- HTTPS */

static void test_https_needs_the_ca(void **state)
{
    (void)state;
    char p[4096], url[256], doc[300];
    rt_path(p, sizeof p, "cli-tls.settee");
    make_db(p, 5);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/tlsdb", srv.tls_port);
    char *out = NULL;
    /* The test CA is nobody's system CA: refused at once, saying why. */
    uint64_t t0 = rt_now_ms();
    assert_int_equal(cli(&out, "replicate --create-target '%s' '%s' --user admin "
                               "--password-file '%s'", p, url, admin_pw_file), 1);
    assert_true(rt_now_ms() - t0 < 8000);
    assert_non_null(strstr(out, "TLS: "));
    assert_non_null(strstr(out, "certificate"));
    assert_non_null(strstr(out, "--ca-file FILE"));
    assert_null(strstr(out, srv.pass));
    free(out);
    assert_int_equal(rs_http_status(&srv, "GET", "/tlsdb", NULL), 404);

    assert_int_equal(cli(&out, "replicate --create-target '%s' '%s' --user admin "
                               "--password-file '%s' --ca-file '%s'", p, url, admin_pw_file, CA),
                     0);
    assert_non_null(strstr(out, "copied 5 documents"));
    free(out);
    rs_resp r = rs_http(&srv, "GET", "/tlsdb", NULL);
    assert_non_null(strstr(r.body, "\"doc_count\":5"));
    free(r.body);
    /* --insecure: no check at all (sync: both ways). */
    assert_int_equal(cli(&out, "sync --quiet '%s' '%s' --insecure --user admin "
                               "--password-file '%s'", p, url, admin_pw_file), 0);
    free(out);

    /* A document command, the same way. */
    snprintf(doc, sizeof doc, "%s", url);
    assert_int_equal(cli(&out, "get '%s' d001 --user admin --password-file '%s'", doc,
                         admin_pw_file), 1);
    assert_non_null(strstr(out, "certificate"));
    assert_non_null(strstr(out, "--ca-file FILE"));
    free(out);
    assert_int_equal(cli(&out, "get '%s' d001 --user admin --password-file '%s' --ca-file '%s'",
                         doc, admin_pw_file, CA), 0);
    assert_non_null(strstr(out, "\"_id\":\"d001\""));
    free(out);
    assert_int_equal(cli(&out, "info '%s' --user admin --password-file '%s' --insecure", doc,
                         admin_pw_file), 0);
    assert_non_null(strstr(out, "\"doc_count\":5"));
    free(out);
    rt_unlink(p);
}

/* ----------------------------------------------------- user and password */

static void test_members_only_with_password(void **state)
{
    (void)state;
    char p[4096], q[4096], bak[4096];
    rt_path(p, sizeof p, "cli-members.settee");
    rt_path(q, sizeof q, "cli-members-env.settee");
    rt_path(bak, sizeof bak, "cli-members-bak.settee");
    char *out = NULL;
    /* No credentials: the server's 401, and what to do about it. */
    assert_int_equal(cli(&out, "replicate --create-target '%s' '%s'", members_url, p), 1);
    assert_non_null(strstr(out, "unauthorized"));
    assert_non_null(strstr(out, "(HTTP 401)"));
    assert_non_null(strstr(out, "--user NAME with --password-file FILE"));
    free(out);
    assert_int_equal(cli(&out, "all-docs '%s'", members_url), 1);
    assert_non_null(strstr(out, "(HTTP 401)"));
    assert_non_null(strstr(out, "--user NAME"));
    free(out);

    assert_int_equal(cli(&out, "replicate --create-target '%s' '%s' --user alice "
                               "--password-file '%s'", members_url, p, alice_pw_file), 0);
    assert_non_null(strstr(out, "copied 10 documents"));
    assert_null(strstr(out, ALICE_PW));
    free(out);
    assert_int_equal(doc_count(p), N_MEMBER_DOCS);
    /* The password on standard input, and from SETTEE_PASSWORD. */
    assert_int_equal(cli(&out, "get '%s' m01 --user alice --password-file - < '%s'", members_url,
                         alice_pw_file), 0);
    assert_non_null(strstr(out, "\"_id\":\"m01\""));
    free(out);
    assert_int_equal(setenv("SETTEE_PASSWORD", ALICE_PW, 1), 0);
    int rc = cli(&out, "replicate --quiet --create-target --user alice '%s' '%s'", members_url, q);
    unsetenv("SETTEE_PASSWORD");
    assert_int_equal(rc, 0);
    free(out);
    assert_int_equal(doc_count(q), N_MEMBER_DOCS);

    /* A wrong password: the server's words, no hint about logging in. */
    assert_int_equal(cli(&out, "get '%s' m01 --user alice --password-file '%s'", members_url,
                         bad_pw_file), 1);
    assert_non_null(strstr(out, "Name or password is incorrect."));
    assert_null(strstr(out, "not-the-password"));
    free(out);
    assert_int_equal(cli(&out, "replicate --create-target --user alice --password-file '%s' "
                               "'%s' '%s'", bad_pw_file, members_url, q), 1);
    assert_non_null(strstr(out, "Name or password is incorrect."));
    assert_null(strstr(out, "to log in"));
    free(out);

    /* backup takes the same options. */
    assert_int_equal(cli(&out, "backup '%s' '%s' --user alice --password-file '%s'",
                         members_url, bak, alice_pw_file), 0);
    assert_non_null(strstr(out, "backed up"));
    free(out);
    assert_int_equal(doc_count(bak), N_MEMBER_DOCS);
    rt_unlink(p);
    rt_unlink(q);
    rt_unlink(bak);
}

/* --------------------------------------------------------------- sessions */

/* `settee ARGV...` in the background, stdout and stderr into out_path,
 * with extra_env (one "NAME=VALUE", or NULL) added to the environment. */
static pid_t spawn(const char *out_path, const char *extra_env, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = rs_bin();
    while (*args && n < 31)
        argv[n++] = *args++;
    argv[n] = NULL;
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **env = calloc(ne + 2, sizeof *env);
    assert_non_null(env);
    memcpy(env, environ, ne * sizeof *env);
    if (extra_env)
        env[ne++] = (char *)extra_env;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(argv[0], (char *const *)argv, env);
        _exit(127);
    }
    free(env);
    return pid;
}

/* SIGTERM our child (by PID) and its exit status (-1: killed, after 20 s). */
static int stop_child(pid_t pid)
{
    kill(pid, SIGTERM);
    int st = 0;
    for (uint64_t t0 = rt_now_ms(); rt_now_ms() - t0 < 20000; rt_sleep_ms(20))
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static bool has_doc(const char *path, const char *id)
{
    st_db *db = rt_open(path, false);
    if (!db)
        return false;
    st_buf b = ST_BUF_INIT;
    st_error e;
    bool ok = st_db_get(db, id, NULL, &b, &e) == ST_OK;
    st_buf_free(&b);
    st_db_close(db);
    return ok;
}

static bool wait_doc(const char *path, const char *id, unsigned timeout_ms)
{
    for (uint64_t t0 = rt_now_ms(); rt_now_ms() - t0 < timeout_ms; rt_sleep_ms(50))
        if (access(path, F_OK) == 0 && has_doc(path, id))
            return true;
    return false;
}

static void test_session(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(cli(&out, "get '%s' m02 --session --user alice --password-file '%s'",
                         members_url, alice_pw_file), 0);
    assert_non_null(strstr(out, "\"_id\":\"m02\""));
    free(out);
    assert_int_equal(cli(&out, "get '%s' m02 --session --user alice --password-file '%s'",
                         members_url, bad_pw_file), 1);
    assert_non_null(strstr(out, "logging in (POST /_session)"));
    assert_non_null(strstr(out, "Name or password is incorrect."));
    free(out);

    /* A continuous run outlives its 2 s cookie: the request refused 401
     * logs in again, and the document written after the expiry arrives. */
    char p[4096], log[4096], url[256];
    rt_path(p, sizeof p, "cli-session.settee");
    rt_path(log, sizeof log, "cli-session.log");
    snprintf(url, sizeof url, "%s/sessions", srv.plain);
    const char *args[] = {"replicate", "--continuous", "--create-target", "--session",
                          "--user", "alice", "--password-file", alice_pw_file, url, p, NULL};
    pid_t pid = spawn(log, NULL, args);
    assert_true(wait_doc(p, "first", 30000));
    rt_sleep_ms(3000); /* past [chttpd_auth] timeout = 2 */
    assert_int_equal(rs_http_status(&srv, "PUT", "/sessions/after-expiry", "{}"), 201);
    bool arrived = wait_doc(p, "after-expiry", 20000);
    int rc = stop_child(pid);
    char *text = read_file(log, NULL);
    if (!arrived || rc != 0)
        fprintf(stderr, "settee said:\n%s\n", text);
    assert_true(arrived);
    assert_int_equal(rc, 0);
    assert_null(strstr(text, "failed"));
    assert_null(strstr(text, ALICE_PW));
    assert_null(strstr(text, "AuthSession"));
    free(text);
    unlink(log);
    rt_unlink(p);
}

/* ------------------------------------------------------------------- JWT */

static void test_bearer_token(void **state)
{
    (void)state;
    char claims[128], token[1024], other[1024], tok_file[4096], other_file[4096];
    snprintf(claims, sizeof claims, "{\"sub\":\"jwtuser\",\"exp\":%lld}",
             (long long)time(NULL) + 3600);
    assert_true(tj_hs256(TJ_KEY, claims, token, sizeof token));
    assert_true(tj_hs256("some-other-key", claims, other, sizeof other));
    rt_path(tok_file, sizeof tok_file, "cli.jwt");
    rt_path(other_file, sizeof other_file, "cli-other.jwt");
    write_file(tok_file, token);
    write_file(other_file, other);
    char p[4096];
    rt_path(p, sizeof p, "cli-jwt.settee");
    char *out = NULL;
    assert_int_equal(cli(&out, "replicate --create-target '%s' '%s' --bearer-token-file '%s'",
                         members_url, p, tok_file), 0);
    assert_non_null(strstr(out, "copied 10 documents"));
    assert_null(strstr(out, token));
    free(out);
    assert_int_equal(doc_count(p), N_MEMBER_DOCS);
    assert_int_equal(cli(&out, "get '%s' m03 --bearer-token-file '%s'", members_url, tok_file),
                     0);
    assert_non_null(strstr(out, "\"_id\":\"m03\""));
    free(out);
    /* Signed with another key: refused, and the token is not repeated. */
    assert_int_equal(cli(&out, "get '%s' m03 --bearer-token-file '%s'", members_url, other_file),
                     1);
    assert_null(strstr(out, "\"_id\":\"m03\""));
    assert_null(strstr(out, other));
    free(out);
    assert_int_equal(cli(&out, "replicate --json --create-target '%s' '%s' --bearer-token-file "
                               "'%s'", members_url, p, other_file), 1);
    assert_null(strstr(out, other));
    free(out);
    unlink(tok_file);
    unlink(other_file);
    rt_unlink(p);
}

/* ------------------------------------------------------- secrets unseen */

/* /proc/PID/FILE with its NULs as spaces. */
static char *proc_text(pid_t pid, const char *file)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    size_t n = 0;
    char *t = read_file(path, &n);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++)
        if (t[i] == '\0')
            t[i] = ' ';
    return t;
}

/* A continuous sync of a new database file with members_url, started as
 * `settee sync --continuous ARGS... FILE URL` (with extra_env), runs; its
 * arguments, environment and output never show ALICE_PW, nor also. */
static void run_unseen(const char *tag, const char *extra_env, const char *const *args,
                       const char *url, const char *also)
{
    char log[4096], local[4096], name[64];
    snprintf(name, sizeof name, "%s.log", tag);
    rt_path(log, sizeof log, name);
    snprintf(name, sizeof name, "%s.settee", tag);
    rt_path(local, sizeof local, name);
    make_db(local, 0);
    const char *argv[24] = {"sync", "--continuous"};
    size_t n = 2;
    while (*args && n < 21)
        argv[n++] = *args++;
    argv[n++] = local;
    argv[n++] = url;
    argv[n] = NULL;
    pid_t pid = spawn(log, extra_env, argv);
    bool synced = wait_doc(local, "m09", 30000);
    char *cmdline = proc_text(pid, "cmdline"), *env = proc_text(pid, "environ");
    int rc = stop_child(pid);
    char *text = read_file(log, NULL);
    if (!synced || rc != 0)
        fprintf(stderr, "%s: settee said:\n%s\n", tag, text);
    assert_true(synced);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(cmdline, "--continuous"));
    const char *secrets[2] = {ALICE_PW, also ? also : ALICE_PW};
    for (int i = 0; i < 2; i++) {
        assert_null(strstr(cmdline, secrets[i]));
        assert_null(strstr(env, secrets[i]));
        assert_null(strstr(text, secrets[i]));
    }
    assert_null(strstr(text, "AuthSession"));
    free(cmdline);
    free(env);
    free(text);
    unlink(log);
    rt_unlink(local);
}

static void test_password_never_shown(void **state)
{
    (void)state;
    /* From a file, with --json records and a session. */
    const char *a1[] = {"--json", "--session", "--user", "alice", "--password-file",
                        alice_pw_file, NULL};
    run_unseen("unseen-file", NULL, a1, members_url, NULL);
    /* From SETTEE_PASSWORD, with the progress lines. */
    const char *a2[] = {"--user", "alice", NULL};
    run_unseen("unseen-env", "SETTEE_PASSWORD=" ALICE_PW, a2, members_url, NULL);
    /* In the URL itself, percent-encoded: blanked in the arguments. */
    char url[512];
#define ALICE_PW_PCT "alice-Pw%3A%40%2F%25%2Bsecret"
    snprintf(url, sizeof url, "http://alice:%s@127.0.0.1:%d/members", ALICE_PW_PCT, srv.port);
    const char *a3[] = {NULL};
    run_unseen("unseen-url", NULL, a3, url, ALICE_PW_PCT);
}

/* --------------------------------------------------------------- usage */

static void test_usage_errors(void **state)
{
    (void)state;
    char empty[4096], doc[4096];
    rt_path(empty, sizeof empty, "empty.pw");
    rt_path(doc, sizeof doc, "doc.json");
    write_file(empty, "\n");
    write_file(doc, "{\"_id\":\"x\"}");
    const char *u = "http://127.0.0.1:9/db"; /* never reached */
    char *out = NULL;
    assert_int_equal(cli(&out, "get %s x --user alice", u), 2);
    assert_non_null(strstr(out, "--user needs a password"));
    free(out);
    assert_int_equal(cli(&out, "get %s x --password-file '%s'", u, alice_pw_file), 2);
    free(out);
    assert_int_equal(cli(&out, "get %s x --user a --password-file '%s' --bearer-token-file '%s'",
                         u, alice_pw_file, alice_pw_file), 2);
    assert_non_null(strstr(out, "mutually exclusive"));
    free(out);
    assert_int_equal(cli(&out, "sync a.settee %s --insecure --ca-file '%s'", u, CA), 2);
    free(out);
    assert_int_equal(cli(&out, "get %s x --session --bearer-token-file '%s'", u, alice_pw_file),
                     2);
    free(out);
    assert_int_equal(cli(&out, "put %s --user a --password-file - < '%s'", u, doc), 2);
    assert_non_null(strstr(out, "standard input"));
    free(out);
    assert_int_equal(cli(&out, "get %s x --user a --password-file '%s'", u, empty), 1);
    assert_non_null(strstr(out, "empty"));
    free(out);
    assert_int_equal(cli(&out, "get %s x --user a --password-file /nonexistent/pw", u), 1);
    assert_non_null(strstr(out, "No such file"));
    free(out);
    assert_int_equal(cli(&out, "backup %s b.settee --ca-file /nonexistent/ca.pem", u), 1);
    free(out);
    const char *helps[] = {"sync", "replicate", "get", "backup", "restore"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(cli(&out, "%s --help", helps[i]), 0);
        assert_non_null(strstr(out, "--ca-file FILE"));
        assert_non_null(strstr(out, "--password-file FILE"));
        assert_non_null(strstr(out, "--bearer-token-file FILE"));
        assert_non_null(strstr(out, "--session"));
        free(out);
    }
    unlink(empty);
    unlink(doc);
}

int main(void)
{
    if (!rs_bin()) {
        printf("settee binary not built: skipping CLI credential tests\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_https_needs_the_ca),
        cmocka_unit_test(test_members_only_with_password),
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_password_never_shown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
