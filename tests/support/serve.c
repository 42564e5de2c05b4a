/* serve.c — see serve.h. */
#include "support/serve.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/clock.h"
#include "support/tmp.h"

const char *ts_settee_bin(void)
{
    const char *b = getenv("SETTEE_BIN");
#ifdef ST_TEST_SETTEE_BIN
    if (!b)
        b = ST_TEST_SETTEE_BIN;
#endif
    return b && access(b, X_OK) == 0 ? b : NULL;
}

/* Read the child's "listening on" lines until the port(s) are known. */
static bool read_ports(ts_server *s)
{
    static const char http_line[] = "listening on http://127.0.0.1:";
    static const char https_line[] = "listening on https://127.0.0.1:";
    char buf[4096];
    size_t len = 0;
    buf[0] = '\0';
    /* Generous: a sanitized build hashing admin passwords on a loaded machine. */
    for (uint64_t t0 = ts_now_ms(); ts_now_ms() - t0 < 30000 && len < sizeof buf - 1;) {
        struct pollfd p = {s->out_fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(s->out_fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break; /* it died (the port taken?) */
        len += (size_t)n;
        buf[len] = '\0';
        const char *m = strstr(buf, http_line);
        const char *t = strstr(buf, https_line);
        if (m && strchr(m, '\n'))
            s->port = atoi(m + sizeof http_line - 1);
        if (t && strchr(t, '\n'))
            s->tls_port = atoi(t + sizeof https_line - 1);
        if (s->port > 0 && (!s->tls || s->tls_port > 0))
            return true;
    }
    fprintf(stderr, "settee serve did not report its port(s): %s\n", buf);
    return false;
}

/* Run the binary on s's data directory and config, on port (0: any). */
static bool spawn(ts_server *s, int port)
{
    const char *bin = ts_settee_bin();
    if (!bin) {
        fprintf(stderr, "settee binary not found (set SETTEE_BIN)\n");
        return false;
    }
    char port_arg[16], admin[128];
    snprintf(port_arg, sizeof port_arg, "%d", port);
    snprintf(admin, sizeof admin, "%s:%s", TS_ADMIN, s->pass);
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (s->config_only) {
            for (int fd = 3; fd < 1024; fd++)
                close(fd);
            if (s->in_child)
                s->in_child();
            execl(bin, bin, "serve", "--config", s->ini, (char *)NULL);
            _exit(127);
        }
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
    if (!read_ports(s)) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        close(s->out_fd);
        s->pid = -1;
        return false;
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    snprintf(s->base, sizeof s->base, "http://%s:%s@127.0.0.1:%d", TS_ADMIN, s->pass, s->port);
    if (s->tls_port > 0)
        snprintf(s->tls_url, sizeof s->tls_url, "https://127.0.0.1:%d", s->tls_port);
    else
        s->tls_url[0] = '\0';
    return true;
}

/* (Re)write the --config file beside the data directory. */
static bool write_ini(ts_server *s, const char *ini)
{
    snprintf(s->ini, sizeof s->ini, "%s.ini", s->data_dir);
    FILE *f = fopen(s->ini, "w");
    if (!f)
        return false;
    bool ok = fputs(ini, f) >= 0;
    if (fclose(f) != 0 || !ok)
        return false;
    s->tls = strstr(ini, "[ssl]") != NULL;
    return true;
}

bool ts_server_start(ts_server *s, const char *tag, const char *pass, const char *ini)
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    snprintf(s->pass, sizeof s->pass, "%s", pass);
    ts_tmp_dir(s->data_dir, sizeof s->data_dir, tag);
    if (ini && !write_ini(s, ini))
        return false;
    return spawn(s, 0);
}

bool ts_server_start_config(ts_server *s, const char *ini_path, void (*in_child)(void))
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    s->config_only = true;
    s->in_child = in_child;
    snprintf(s->ini, sizeof s->ini, "%s", ini_path);
    return spawn(s, 0);
}

bool ts_server_halt(ts_server *s)
{
    if (s->pid <= 0)
        return true;
    kill(s->pid, SIGTERM);
    uint64_t t0 = ts_now_ms();
    int status = 0;
    while (waitpid(s->pid, &status, WNOHANG) == 0) {
        if (ts_now_ms() - t0 > 10000) {
            fprintf(stderr, "settee serve did not stop within 10 s of SIGTERM\n");
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            break;
        }
        ts_sleep_ms(10);
    }
    close(s->out_fd);
    s->pid = -1;
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!clean)
        fprintf(stderr, "settee serve ended badly (status %d)\n", status);
    return clean;
}

bool ts_server_restart(ts_server *s, const char *pass, const char *ini)
{
    int port = s->port;
    bool clean = ts_server_halt(s);
    if (pass)
        snprintf(s->pass, sizeof s->pass, "%s", pass);
    if (ini && !write_ini(s, ini))
        return false;
    for (uint64_t t0 = ts_now_ms(); ts_now_ms() - t0 < 10000; ts_sleep_ms(100))
        if (spawn(s, port))
            return clean;
    return false;
}

bool ts_server_stop(ts_server *s)
{
    bool clean = ts_server_halt(s);
    if (s->data_dir[0])
        ts_rm_rf(s->data_dir);
    if (s->ini[0])
        unlink(s->ini);
    s->data_dir[0] = s->ini[0] = '\0';
    return clean;
}

ts_resp ts_server_http(const ts_server *s, const char *method, const char *path,
                       const char *body)
{
    static const char *const json[] = {"Content-Type: application/json",
                                       "Accept: application/json", NULL};
    char url[8192];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    ts_req q = {.method = method,
                .url = url,
                .body = body,
                .len = body ? strlen(body) : 0,
                .user = TS_ADMIN,
                .pass = s->pass,
                .headers = json};
    ts_resp r = ts_http(&q);
    free(r.headers);
    r.headers = NULL;
    r.hlen = 0;
    return r;
}

long ts_server_http_status(const ts_server *s, const char *method, const char *path,
                           const char *body)
{
    ts_resp r = ts_server_http(s, method, path, body);
    free(r.body);
    return r.status;
}
