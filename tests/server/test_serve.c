/* test_serve.c — `settee serve` as systemd runs it: with NOTIFY_SOCKET set
 * it says READY=1 once it listens and STOPPING=1 on SIGTERM, then exits 0.
 * (Built with libsystemd; skipped otherwise.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
