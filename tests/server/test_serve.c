/* test_serve.c — `settee serve` as a process: as systemd runs it (with
 * NOTIFY_SOCKET set it says READY=1 once it listens and STOPPING=1 on
 * SIGTERM, then exits 0; built with libsystemd, skipped otherwise), how it
 * takes admin passwords (a plain one in the config file is written back
 * hashed, --admin is blanked in the process's arguments, SETTEE_ADMIN and
 * --admin-file, an empty password refused) and SIGHUP reloading the
 * configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One datagram within ms, into buf; false on timeout. */
static bool recv_within(int fd, char *buf, size_t cap, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, buf, cap - 1, 0);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return true;
}

static void test_notify(void **state)
{
    (void)state;
#ifndef SETTEE_HAVE_SYSTEMD
    skip();
#else
    const char *tmp = getenv("SETTEE_TEST_TMP");
    char sock[108], dir[512];
    snprintf(sock, sizeof sock, "%s/notify-%ld", tmp ? tmp : "/tmp", (long)getpid());
    snprintf(dir, sizeof dir, "%s/serve-%ld", tmp ? tmp : "/tmp", (long)getpid());
    unlink(sock);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("NOTIFY_SOCKET", sock, 1);
        int devnull = open("/dev/null", 1);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execl(ST_TEST_SETTEE_BIN, "settee", "serve", "--data", dir, "--port", "0",
              "--admin", "admin:notify-pass", "--log-level", "warning", (char *)NULL);
        _exit(127);
    }
    char msg[256];
    assert_true(recv_within(fd, msg, sizeof msg, 20000));
    assert_non_null(strstr(msg, "READY=1"));
    kill(pid, SIGTERM);
    assert_true(recv_within(fd, msg, sizeof msg, 20000));
    assert_non_null(strstr(msg, "STOPPING=1"));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(fd);
    unlink(sock);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
#endif
}

/* ---- a settee serve child with its stdout on a pipe */

typedef struct child {
    pid_t pid;
    int out;        /* read end of its stdout */
    char base[64];  /* http://127.0.0.1:PORT */
} child;

static char *tmp_path(char *buf, size_t cap, const char *what)
{
    const char *tmp = getenv("SETTEE_TEST_TMP");
    snprintf(buf, cap, "%s/serve-%s-%ld", tmp ? tmp : "/tmp", what, (long)getpid());
    return buf;
}

static void rm_rf(const char *path)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* Start `settee serve ARGS...` (NULL-terminated) with env (NAME=VALUE or
 * NULL); waits for the listening line.  false if it exited instead. */
static bool spawn(child *c, const char *env, const char *stdin_text, const char *const *args)
{
    int p[2], in[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(in), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        dup2(in[0], STDIN_FILENO);
        close(p[0]);
        close(in[1]);
        if (env)
            putenv((char *)env);
        const char *argv[32] = {"settee", "serve"};
        size_t n = 2;
        for (; args[n - 2] && n < 31; n++)
            argv[n] = args[n - 2];
        argv[n] = NULL;
        execv(ST_TEST_SETTEE_BIN, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    close(in[0]);
    if (stdin_text && write(in[1], stdin_text, strlen(stdin_text)) < 0)
        fail();
    close(in[1]);
    c->out = p[0];
    char line[256];
    size_t len = 0;
    for (int waited = 0; waited < 30000; waited += 10) {
        ssize_t r = read(c->out, line + len, sizeof line - 1 - len);
        if (r <= 0)
            return false; /* exited */
        len += (size_t)r;
        line[len] = '\0';
        const char *m = strstr(line, "listening on http://");
        if (m && strchr(m, '\n')) {
            m += strlen("listening on ");
            size_t k = strcspn(m, "/\n") ;
            k += strcspn(m + k + 2, "/\n") + 2; /* past "http://" */
            snprintf(c->base, sizeof c->base, "%.*s", (int)k, m);
            return true;
        }
    }
    return false;
}

static int stop(child *c)
{
    kill(c->pid, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
    close(c->out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

/* GET path with Basic name:pw; the HTTP status. */
static long get_as(const child *c, const char *path, const char *userpwd)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    if (userpwd)
        curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        buf[n++] = (char)ch;
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static bool file_has(const char *path, const char *needle)
{
    size_t n = 0;
    char *b = slurp(path, &n);
    bool found = false;
    for (size_t i = 0; b && !found && i + strlen(needle) <= n; i++)
        found = memcmp(b + i, needle, strlen(needle)) == 0;
    free(b);
    return found;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A plain [admins] password is hashed at start and the file rewritten (0600,
 * no plain text left); SIGHUP then picks up a new admin and a new setting. */
static void test_config_admins_and_reload(void **state)
{
    (void)state;
    char dir[512], ini[600];
    tmp_path(dir, sizeof dir, "cfg");
    snprintf(ini, sizeof ini, "%s.ini", dir);
    rm_rf(dir);
    write_file(ini, "; comment kept\n[chttpd_auth]\niterations = 1000\n"
                    "[admins]\nalice = plain-alice-pw\n[log]\nlevel = warning\n");
    chmod(ini, 0644);
    child c;
    const char *args[] = {"--data", dir, "--port", "0", "--config", ini, NULL};
    assert_true(spawn(&c, NULL, NULL, args));
    assert_false(file_has(ini, "plain-alice-pw"));
    assert_true(file_has(ini, "alice = -pbkdf2:sha256-"));
    assert_true(file_has(ini, "; comment kept"));
    struct stat sb;
    assert_int_equal(stat(ini, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(get_as(&c, "/_all_dbs", "alice:plain-alice-pw"), 200);
    assert_int_equal(get_as(&c, "/_all_dbs", "alice:wrong"), 401);
    assert_int_equal(get_as(&c, "/_all_dbs", "bob:bob-pw"), 401);
    /* Add an admin and require_valid_user, then SIGHUP. */
    FILE *f = fopen(ini, "a");
    assert_non_null(f);
    fputs("[admins]\nbob = bob-pw\n[chttpd]\nrequire_valid_user = true\n", f);
    fclose(f);
    assert_int_equal(get_as(&c, "/", NULL), 200);
    kill(c.pid, SIGHUP);
    long st = 0;
    for (int i = 0; i < 200 && st != 200; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        st = get_as(&c, "/_all_dbs", "bob:bob-pw");
    }
    assert_int_equal(st, 200);
    assert_int_equal(get_as(&c, "/", NULL), 401); /* require_valid_user now */
    assert_int_equal(get_as(&c, "/_all_dbs", "alice:plain-alice-pw"), 200);
    assert_false(file_has(ini, "bob-pw"));
    assert_int_equal(stop(&c), 0);
    unlink(ini);
    rm_rf(dir);
}

/* --admin is blanked in /proc/PID/cmdline; SETTEE_ADMIN and --admin-file
 * work; an empty password is refused. */
static void test_admin_sources(void **state)
{
    (void)state;
    char dir[512], list[600], ini[600], cmdline[64];
    tmp_path(dir, sizeof dir, "adm");
    snprintf(list, sizeof list, "%s.admins", dir);
    snprintf(ini, sizeof ini, "%s.ini", dir);
    rm_rf(dir);
    write_file(list, "# admins\ncarol:carol:pw\n");
    write_file(ini, "[chttpd_auth]\niterations = 1000\n[log]\nlevel = warning\n");
    child c;
    const char *args[] = {"--data", dir, "--port", "0", "--config", ini, "--admin",
                          "dave:dave-secret-pw", "--admin-file", list, NULL};
    assert_true(spawn(&c, "SETTEE_ADMIN=erin:erin-pw", NULL, args));
    snprintf(cmdline, sizeof cmdline, "/proc/%ld/cmdline", (long)c.pid);
    assert_false(file_has(cmdline, "dave-secret-pw"));
    snprintf(cmdline, sizeof cmdline, "/proc/%ld/environ", (long)c.pid);
    assert_false(file_has(cmdline, "erin-pw"));
    assert_int_equal(get_as(&c, "/_all_dbs", "dave:dave-secret-pw"), 200);
    assert_int_equal(get_as(&c, "/_all_dbs", "carol:carol:pw"), 200); /* ':' in a password */
    assert_int_equal(get_as(&c, "/_all_dbs", "erin:erin-pw"), 200);
    assert_int_equal(stop(&c), 0);
    rm_rf(dir);
    /* The admins may come from stdin too. */
    const char *args2[] = {"--data", dir, "--port", "0", "--config", ini, "--admin-file", "-",
                           NULL};
    assert_true(spawn(&c, NULL, "frank:frank-pw\n", args2));
    assert_int_equal(get_as(&c, "/_all_dbs", "frank:frank-pw"), 200);
    assert_int_equal(stop(&c), 0);
    rm_rf(dir);
    /* An empty password does not start a server. */
    const char *args3[] = {"--data", dir, "--port", "0", "--admin", "gina:", NULL};
    assert_false(spawn(&c, NULL, NULL, args3));
    int status = 0;
    assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    close(c.out);
    unlink(list);
    unlink(ini);
    rm_rf(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_admins_and_reload),
        cmocka_unit_test(test_admin_sources),
        cmocka_unit_test(test_notify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
