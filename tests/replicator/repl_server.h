/* repl_server.h — the real `settee serve` binary, started by a test on an
 * ephemeral 127.0.0.1 port with a scratch data directory, and stopped by its
 * PID; plus a tiny blocking HTTP helper (libcurl easy) for setting up and
 * inspecting remote databases.  A config with [ssl] enable makes it listen
 * on HTTPS too (tls_port); rs_restart starts it again on the same data
 * directory and port with another admin password.  Every wait here is
 * bounded in time.
 */
#ifndef ST_REPL_SERVER_H
#define ST_REPL_SERVER_H

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RS_ADMIN "admin"
#define RS_PASS "repl-pw"

typedef struct rs_server {
    pid_t pid;
    int port;
    int out_fd;            /* the child's stdout (kept open, drained at stop) */
    char data_dir[4096];
    char ini[4200];        /* --config file beside data_dir, or "" */
    char base[128];        /* http://admin:pw@127.0.0.1:PORT */
    char plain[128];       /* http://127.0.0.1:PORT (no credentials) */
    char pass[64];         /* the admin's password: RS_PASS, or rs_restart's */
    bool tls;              /* the config enables [ssl]: wait for its line too */
    int tls_port;          /* the HTTPS port, or 0 */
} rs_server;

static inline uint64_t rs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The binary path: $SETTEE_BIN, else the one CMake told us about. */
static inline const char *rs_bin(void)
{
    const char *b = getenv("SETTEE_BIN");
#ifdef ST_TEST_SETTEE_BIN
    if (!b)
        b = ST_TEST_SETTEE_BIN;
#endif
    return b && access(b, X_OK) == 0 ? b : NULL;
}

/* Run the binary on s's data directory and config, on port (0: any),
 * and read the port(s) it reports. */
static inline bool rs_spawn(rs_server *s, int port)
{
    const char *bin = rs_bin();
    if (!bin) {
        fprintf(stderr, "settee binary not found (set SETTEE_BIN)\n");
        return false;
    }
    char port_arg[16], admin[128];
    snprintf(port_arg, sizeof port_arg, "%d", port);
    snprintf(admin, sizeof admin, "%s:%s", RS_ADMIN, s->pass);
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (s->ini[0])
            execl(bin, bin, "serve", "--data", s->data_dir, "--bind", "127.0.0.1", "--port",
                  port_arg, "--admin", admin, "--log-level", "error", "--config", s->ini,
                  (char *)NULL);
        else
            execl(bin, bin, "serve", "--data", s->data_dir, "--bind", "127.0.0.1", "--port",
                  port_arg, "--admin", admin, "--log-level", "error", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    s->pid = pid;
    s->out_fd = fds[0];
    s->port = s->tls_port = 0;
    char buf[4096];
    size_t len = 0;
    static const char http_line[] = "listening on http://127.0.0.1:";
    static const char https_line[] = "listening on https://127.0.0.1:";
    buf[0] = '\0';
    uint64_t t0 = rs_now_ms();
    /* Generous: a sanitized build hashing admin passwords on a loaded machine. */
    while (rs_now_ms() - t0 < 30000 && len < sizeof buf - 1) {
        struct pollfd p = {s->out_fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(s->out_fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        const char *m = strstr(buf, http_line);
        const char *t = strstr(buf, https_line);
        if (m && strchr(m, '\n'))
            s->port = atoi(m + sizeof http_line - 1);
        if (t && strchr(t, '\n'))
            s->tls_port = atoi(t + sizeof https_line - 1);
        if (s->port > 0 && (!s->tls || s->tls_port > 0))
            break;
    }
    if (s->port <= 0 || (s->tls && s->tls_port <= 0)) {
        fprintf(stderr, "settee serve did not report its port(s): %s\n", buf);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        close(s->out_fd);
        s->pid = -1;
        return false;
    }
    snprintf(s->base, sizeof s->base, "http://%s:%s@127.0.0.1:%d", RS_ADMIN, s->pass, s->port);
    snprintf(s->plain, sizeof s->plain, "http://127.0.0.1:%d", s->port);
    return true;
}

/* (Re)write the --config file beside the data directory. */
static inline bool rs_write_ini(rs_server *s, const char *ini)
{
    snprintf(s->ini, sizeof s->ini, "%s.ini", s->data_dir);
    FILE *f = fopen(s->ini, "w");
    if (!f || fputs(ini, f) < 0) {
        if (f)
            fclose(f);
        return false;
    }
    fclose(f);
    s->tls = strstr(ini, "[ssl]") != NULL;
    return true;
}

/* Start the server; false (with a message) if it cannot be started.
 * ini, when not NULL, is the text of a --config file (e.g. a small
 * "[chttpd]\nmax_http_request_size = 32768\n"). */
static inline bool rs_start_cfg(rs_server *s, const char *tag, const char *ini)
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    snprintf(s->pass, sizeof s->pass, "%s", RS_PASS);
    const char *tmp = getenv("SETTEE_TEST_TMP");
    snprintf(s->data_dir, sizeof s->data_dir, "%s/rs-%d-%s", tmp ? tmp : "/tmp", (int)getpid(), tag);
    mkdir(s->data_dir, 0700);
    if (ini && !rs_write_ini(s, ini))
        return false;
    return rs_spawn(s, 0);
}

static inline bool rs_start(rs_server *s, const char *tag) { return rs_start_cfg(s, tag, NULL); }

/* SIGTERM our child (by PID), wait up to 10 s, then SIGKILL.  True when it
 * exited by itself with status 0. */
static inline bool rs_halt(rs_server *s)
{
    if (s->pid <= 0)
        return true;
    kill(s->pid, SIGTERM);
    uint64_t t0 = rs_now_ms();
    int status = 0;
    while (waitpid(s->pid, &status, WNOHANG) == 0) {
        if (rs_now_ms() - t0 > 10000) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    close(s->out_fd);
    s->pid = -1;
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!clean)
        fprintf(stderr, "settee serve ended badly (status %d)\n", status);
    return clean;
}

/* Stop the server and start it again on the same data directory and HTTP
 * port, with admin password pass, and with config ini if not NULL (give
 * the HTTPS port in it to keep that too).  False if it did not stop
 * cleanly or did not start again. */
static inline bool rs_restart(rs_server *s, const char *pass, const char *ini)
{
    int port = s->port;
    bool clean = rs_halt(s);
    snprintf(s->pass, sizeof s->pass, "%s", pass);
    if (ini && !rs_write_ini(s, ini))
        return false;
    return rs_spawn(s, port) && clean;
}

/* Stop (rs_halt) and remove the data directory.  Returns true when the
 * server exited by itself with status 0 (a sanitizer report in the server
 * makes it exit nonzero, so callers assert this). */
static inline bool rs_stop(rs_server *s)
{
    if (s->pid <= 0)
        return true;
    bool clean = rs_halt(s);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->data_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s->data_dir);
    if (s->ini[0])
        unlink(s->ini);
    return clean;
}

typedef struct rs_resp {
    long status;
    char *body;
    size_t len;
} rs_resp;

static inline size_t rs_write(char *p, size_t size, size_t n, void *ctx)
{
    rs_resp *r = ctx;
    char *b = realloc(r->body, r->len + size * n + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, size * n);
    r->len += size * n;
    b[r->len] = '\0';
    r->body = b;
    return size * n;
}

/* One blocking request as the admin; path is appended to s->plain. */
static inline rs_resp rs_http(const rs_server *s, const char *method, const char *path,
                              const char *body)
{
    rs_resp r = {0, NULL, 0};
    char url[8192];
    snprintf(url, sizeof url, "%s%s", s->plain, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERNAME, RS_ADMIN);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s->pass);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rs_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r.body)
        r.body = strdup("");
    return r;
}

static inline long rs_http_status(const rs_server *s, const char *method, const char *path,
                                  const char *body)
{
    rs_resp r = rs_http(s, method, path, body);
    free(r.body);
    return r.status;
}

#endif
