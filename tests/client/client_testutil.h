/* client_testutil.h — helpers for libsettee's tests, which use nothing of
 * settee but settee.h: scratch paths, bounded waits, and the real
 * `settee serve` binary started on a free 127.0.0.1 port (optionally with
 * more configuration, and HTTPS with the test certificate of
 * tests/data/tls on a second port) and stopped (or restarted on the same
 * ports) by its PID.
 */
#ifndef CLIENT_TESTUTIL_H
#define CLIENT_TESTUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "settee.h"

#define CT_ADMIN "admin"
#define CT_PASS "client-pw"

static inline uint64_t ct_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void ct_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A fresh scratch directory under $SETTEE_TEST_TMP (or /tmp). */
static inline void ct_tmpdir(char *out, size_t cap, const char *tag)
{
    const char *tmp = getenv("SETTEE_TEST_TMP");
    snprintf(out, cap, "%s/client-%s-XXXXXX", tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(out)) {
        fprintf(stderr, "mkdtemp %s: %s\n", out, strerror(errno));
        abort();
    }
}

/* Remove a scratch directory holding only plain files. */
static inline void ct_rmdir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* ------------------------------------------------------------ the server */

typedef struct ct_server {
    pid_t pid;
    int port;
    char data_dir[4096];
    char url[160];        /* http://127.0.0.1:PORT (no credentials) */
    const char *ini;      /* more --config text (static), or NULL */
    bool tls;             /* also HTTPS on tls_port */
    int tls_port;
    char tls_url[160];    /* https://127.0.0.1:TLS_PORT, or "" */
} ct_server;

static inline const char *ct_bin(void)
{
    const char *b = getenv("SETTEE_BIN");
#ifdef CT_SETTEE_BIN
    if (!b)
        b = CT_SETTEE_BIN;
#endif
    return b && access(b, X_OK) == 0 ? b : NULL;
}

/* A port nobody listens on now (bind 0, read it back, close). */
static inline int ct_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static inline bool ct_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* (Re)start the server on s->port with s->data_dir; wait (bounded) until
 * it accepts connections. */
static inline bool ct_server_spawn(ct_server *s)
{
    const char *bin = ct_bin();
    if (!bin) {
        fprintf(stderr, "settee binary not found (set SETTEE_BIN)\n");
        return false;
    }
    char port[16], ini[4200];
    snprintf(port, sizeof port, "%d", s->port);
    /* A cheap admin hash: these tests are about sync, not password cost. */
    snprintf(ini, sizeof ini, "%s.ini", s->data_dir);
    FILE *f = fopen(ini, "w");
    if (!f)
        return false;
    bool written = fputs("[chttpd_auth]\niterations = 1000\n", f) >= 0;
#ifdef ST_TEST_DATA_DIR
    if (s->tls)
        written = written &&
                  fprintf(f, "[ssl]\nenable = true\ncert_file = %s/tls/server.pem\n"
                             "key_file = %s/tls/server.key\nport = %d\n",
                          ST_TEST_DATA_DIR, ST_TEST_DATA_DIR, s->tls_port) > 0;
#endif
    if (s->ini)
        written = written && fputs(s->ini, f) >= 0;
    if (fclose(f) != 0 || !written)
        return false;
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        execl(bin, bin, "serve", "--data", s->data_dir, "--bind", "127.0.0.1", "--port", port,
              "--config", ini, "--admin", CT_ADMIN ":" CT_PASS, "--log-level", "error",
              (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    for (uint64_t t0 = ct_now_ms(); ct_now_ms() - t0 < 30000;) {
        if (ct_port_open(s->port) && (!s->tls || ct_port_open(s->tls_port)))
            return true;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) { /* died (port taken?) */
            s->pid = -1;
            return false;
        }
        ct_sleep_ms(10);
    }
    return false;
}

/* Start with ini (more configuration text, static; NULL for none) and,
 * when tls, HTTPS beside HTTP (needs ST_TEST_DATA_DIR). */
static inline bool ct_server_start_cfg(ct_server *s, const char *tag, const char *ini, bool tls)
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    s->ini = ini;
    s->tls = tls;
    ct_tmpdir(s->data_dir, sizeof s->data_dir, tag);
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = ct_free_port();
        s->tls_port = tls ? ct_free_port() : 0;
        if (s->port > 0 && s->tls_port != s->port && ct_server_spawn(s)) {
            snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
            if (tls)
                snprintf(s->tls_url, sizeof s->tls_url, "https://127.0.0.1:%d", s->tls_port);
            return true;
        }
    }
    return false;
}

static inline bool ct_server_start(ct_server *s, const char *tag)
{
    return ct_server_start_cfg(s, tag, NULL, false);
}

/* Stop by PID: SIGTERM, then SIGKILL after 5 s; reap.  Returns true when
 * the server exited by itself with status 0 (a sanitizer report in the
 * server makes it exit nonzero, so callers assert this). */
static inline bool ct_server_stop(ct_server *s)
{
    if (s->pid <= 0)
        return true;
    kill(s->pid, SIGTERM);
    for (uint64_t t0 = ct_now_ms(); ct_now_ms() - t0 < 5000;) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = -1;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fprintf(stderr, "settee serve ended badly (status %d)\n", st);
            return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        }
        ct_sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = -1;
    fprintf(stderr, "settee serve did not stop within 5 s of SIGTERM\n");
    return false;
}

/* Restart on the same port and data (the clients keep their URL). */
static inline bool ct_server_restart(ct_server *s)
{
    for (uint64_t t0 = ct_now_ms(); ct_now_ms() - t0 < 10000;) {
        if (ct_server_spawn(s))
            return true;
        ct_sleep_ms(100); /* the old socket may linger a moment */
    }
    return false;
}

/* ------------------------------------------------------------- settee */

/* Wait (bounded) until cond(arg) holds, dispatching db when non-NULL. */
static inline bool ct_wait(bool (*cond)(void *), void *arg, settee_db *manual_db,
                           unsigned timeout_ms)
{
    for (uint64_t t0 = ct_now_ms(); ct_now_ms() - t0 < timeout_ms;) {
        if (manual_db)
            (void)settee_db_dispatch(manual_db);
        if (cond(arg))
            return true;
        ct_sleep_ms(5);
    }
    return cond(arg);
}

#endif
