/* test_http_accept.c — one thread accepts for all workers (server/accept.c):
 * clients past [settee] max_connections wait in the listen backlog (they
 * are neither answered nor closed) and are served as soon as others close;
 * with more workers than connections every connection is still served,
 * one closing at the limit lets the next client in at once, and a reload
 * does not change the limit the listeners started with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "httpc.h"

#define LIMIT 8
#define EXTRA 4

static int connect_and_ask(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    static const char req[] = "GET /_up HTTP/1.1\r\nHost: x\r\n\r\n";
    if (t_loopback_connect(fd, st_server_port(t_srv)) != 0 ||
        send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* 1: the answer's status line arrived within ms; 0: nothing came; -1: the
 * server closed the connection or sent something else. */
static int answered(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return 0;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 1 : -1;
}

/* A reload with a config that does not set max_connections (its default
 * is 20,000): the running listeners keep the limit they started with. */
static void reload_without_limit(void)
{
    st_config *c = st_config_new();
    st_error e;
    assert_non_null(c);
    assert_int_equal(st_config_set(c, "couchdb", "database_dir", t_dir, &e), ST_OK);
    assert_int_equal(st_config_set(c, "chttpd", "port", "0", &e), ST_OK);
    assert_int_equal(st_config_set(c, "admins", T_ADMIN, T_PASS, &e), ST_OK);
    assert_int_equal(st_config_set(c, "chttpd_auth", "iterations", "10", &e), ST_OK);
    assert_int_equal(st_server_reload(t_srv, c, &e), ST_OK);
    st_config_free(c);
}

static void run_limit(const char *threads, bool reload)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", LIMIT);
    assert_int_equal(t_start_with("settee", "max_connections", limit, "settee", "threads", threads,
                                  NULL),
                     0);
    if (reload)
        reload_without_limit();
    int fds[LIMIT + EXTRA];
    for (int i = 0; i < LIMIT; i++) {
        fds[i] = connect_and_ask();
        assert_true(fds[i] >= 0);
        assert_int_equal(answered(fds[i], 5000), 1); /* kept open: keep-alive */
    }
    for (int i = LIMIT; i < LIMIT + EXTRA; i++) {
        fds[i] = connect_and_ask(); /* the kernel completes the handshake */
        assert_true(fds[i] >= 0);
    }
    for (int i = LIMIT; i < LIMIT + EXTRA; i++)
        assert_int_equal(answered(fds[i], i == LIMIT ? 500 : 50), 0); /* waiting, not closed */
    double t0 = t_now_ms();
    for (int i = 0; i < EXTRA; i++)
        close(fds[i]);
    for (int i = LIMIT; i < LIMIT + EXTRA; i++)
        assert_int_equal(answered(fds[i], 5000), 1);
    /* Told by the closes, not by a poll timer (a generous bound for ASan). */
    double waited = t_now_ms() - t0;
    fprintf(stderr, "threads %s: the waiting clients were served %.0f ms after the closes\n",
            threads, waited);
    assert_true(waited < 2000);
    for (int i = EXTRA; i < LIMIT + EXTRA; i++)
        close(fds[i]);
    tresp r = t_req("GET", "/_up", NULL, false);
    T_EXPECT(r, 200);
    t_free(&r);
    t_stop();
}

static void test_limit_two_workers(void **state)
{
    (void)state;
    run_limit("2", false);
}

/* More workers than the limit: whichever worker takes a connection, the
 * acceptor's count is the one that holds. */
static void test_limit_many_workers(void **state)
{
    (void)state;
    run_limit("32", false);
}

static void test_limit_kept_across_reload(void **state)
{
    (void)state;
    run_limit("2", true);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_two_workers),
        cmocka_unit_test(test_limit_many_workers),
        cmocka_unit_test(test_limit_kept_across_reload),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
