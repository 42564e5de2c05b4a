/* test_http_fdlimit.c — file-descriptor exhaustion (issue 10 #3): with an
 * open-file limit of 256, 300 long-poll feeds and 1,000 idle connections
 * made the server burn 100% CPU retrying accept() and answer some feeds
 * 500 "unable to open database".  Now it fits its connections into the
 * limit with a reserve for databases, stops accepting at that limit (the
 * rest wait in the listen backlog, costing no CPU), says so once in the
 * log, and serves every feed as the earlier ones end.
 *
 * The limit is lowered in a child process (setrlimit, soft and hard, so
 * the server cannot raise it) that then runs `settee serve`; this process
 * keeps its own, higher limit for the 1,300 client sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "httpc.h"
#include "support/serve.h"

#define CHILD_NOFILE 256
#define FEEDS 300
#define IDLE 1000

static pid_t child = -1;
static ts_server srv;
static int port;
static char dir[512], ini[600], logpath[600];

/* utime + stime of pid, in seconds. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* In the child: the limit under test. */
static void lower_nofile(void)
{
    struct rlimit rl = {CHILD_NOFILE, CHILD_NOFILE};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        _exit(126);
}

static int start_child(void)
{
    const char *tmp = getenv("SETTEE_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/settee-srv-fd-%ld", tmp ? tmp : "/tmp", (long)getpid());
    snprintf(ini, sizeof ini, "%s.ini", dir);
    snprintf(logpath, sizeof logpath, "%s.log", dir);
    ts_rm_rf(dir);
    FILE *f = fopen(ini, "w");
    if (!f)
        return -1;
    fprintf(f, "[chttpd]\nport = 0\nbind_address = 127.0.0.1\n[couchdb]\ndatabase_dir = %s\n"
               "default_security = everyone\n[admins]\n" T_ADMIN " = " T_PASS "\n[chttpd_auth]\n"
               "iterations = 10\n[settee]\nthreads = 16\ndurability = normal\n"
               "connection_timeout = 20\n[log]\nlevel = notice\nfile = %s\n",
            dir, logpath);
    fclose(f);
    if (!ts_server_start_config(&srv, ini, lower_nofile))
        return -1;
    child = srv.pid;
    port = srv.port;
    snprintf(t_base, sizeof t_base, "http://127.0.0.1:%d", srv.port);
    return 0;
}

/* SIGTERM our child, by its pid, and wait (bounded) for it: 0 when it
 * exited cleanly. */
static int stop_child(void)
{
    bool clean = ts_server_halt(&srv);
    child = -1;
    return clean ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* this process needs room for the client sockets */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return start_child();
}

static int group_teardown(void **state)
{
    (void)state;
    stop_child();
    ts_rm_rf(dir);
    unlink(ini);
    if (!getenv("SETTEE_KEEP_LOG"))
        unlink(logpath);
    curl_global_cleanup();
    return 0;
}

static int connect_to_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (t_loopback_connect(fd, (unsigned)port) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Count of occurrences of needle in the file at path. */
static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void test_feeds_and_idle_connections(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/fd", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    static int feeds[FEEDS], idle[IDLE];
    double started = t_now_ms();
    const char req[] = "GET /fd/_changes?feed=longpoll&since=now&timeout=3000 HTTP/1.1\r\n"
                       "Host: x\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < FEEDS; i++) {
        feeds[i] = connect_to_server();
        assert_true(feeds[i] >= 0);
        assert_int_equal(send(feeds[i], req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    }
    for (int i = 0; i < IDLE; i++) {
        idle[i] = connect_to_server();
        assert_true(idle[i] >= 0);
    }
    /* The server is at its limit with everything waiting: it must idle. */
    usleep(1000000);
    double c0 = cpu_seconds(child), w0 = t_now_ms();
    usleep(2000000);
    double busy = cpu_seconds(child) - c0, wall = (t_now_ms() - w0) / 1000;
    fprintf(stderr, "at the limit: %.2f s CPU in %.2f s\n", busy, wall);
    assert_true(c0 >= 0);
    assert_true(busy < 0.25 * wall);
    for (int i = 0; i < IDLE; i++)
        close(idle[i]);
    /* Every feed is answered 200 as earlier ones end; none fails. */
    static char bufs[FEEDS][1024];
    static size_t lens[FEEDS];
    static bool done[FEEDS];
    int open = FEEDS;
    double t0 = t_now_ms();
    while (open > 0 && t_now_ms() - t0 < 90000) {
        struct pollfd p[FEEDS];
        int map[FEEDS], n = 0;
        for (int i = 0; i < FEEDS; i++)
            if (!done[i]) {
                p[n] = (struct pollfd){feeds[i], POLLIN, 0};
                map[n++] = i;
            }
        if (poll(p, (nfds_t)n, 500) <= 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int i = map[k];
            ssize_t got = recv(feeds[i], bufs[i] + lens[i], sizeof bufs[i] - 1 - lens[i], 0);
            if (got > 0 && lens[i] + (size_t)got < sizeof bufs[i] - 1) {
                lens[i] += (size_t)got;
                bufs[i][lens[i]] = '\0';
                continue;
            }
            done[i] = true;
            open--;
            close(feeds[i]);
        }
    }
    fprintf(stderr, "all %d feeds answered %.1f s after they were sent (3 s each)\n", FEEDS,
            (t_now_ms() - started) / 1000);
    assert_int_equal(open, 0);
    for (int i = 0; i < FEEDS; i++) {
        if (strncmp(bufs[i], "HTTP/1.1 200", 12) != 0)
            fprintf(stderr, "feed %d: %s\n", i, bufs[i]);
        assert_memory_equal(bufs[i], "HTTP/1.1 200", 12);
        assert_non_null(strstr(bufs[i], "\"last_seq\""));
    }
    /* New clients are served again, and the server is idle again. */
    r = t_req("GET", "/_up", NULL, false);
    T_EXPECT(r, 200);
    t_free(&r);
    r = t_req("PUT", "/fd/after", "{\"ok\":1}", false);
    T_EXPECT(r, 201);
    t_free(&r);
    c0 = cpu_seconds(child);
    usleep(1000000);
    busy = cpu_seconds(child) - c0;
    fprintf(stderr, "afterwards: %.2f s CPU in 1 s\n", busy);
    assert_true(busy < 0.2);
    /* Said once; no database open failed. */
    assert_int_equal(stop_child(), 0);
    assert_int_equal(count_in_file(logpath, "connection limit reached"), 1);
    assert_int_equal(count_in_file(logpath, "open-file limit 256: at most"), 1);
    assert_int_equal(count_in_file(logpath, "unable to open"), 0);
    assert_int_equal(count_in_file(logpath, "internal error"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feeds_and_idle_connections),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
