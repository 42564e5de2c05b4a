/* fault_proxy.h — a TCP proxy on 127.0.0.1 that breaks things on purpose,
 * for replication tests: it relays to an upstream port and, by chance or on
 * command, cuts connections mid-response, stalls them, answers garbage,
 * pretends _bulk_get does not exist, turns Accept: multipart/mixed into
 * application/json (a peer that only answers JSON), answers every request
 * 401 or 403 as CouchDB words them (credentials gone bad), or refuses
 * everything ("down").  It counts the logins (POST /_session) it relays.
 *
 * One thread accepts; one thread per connection relays both ways with
 * poll() in 50 ms slices, so every fault and the shutdown are noticed
 * quickly.  Knobs are atomics and may be turned while traffic flows.
 * fp_stop closes everything and waits (bounded) for the threads.
 */
#ifndef ST_FAULT_PROXY_H
#define ST_FAULT_PROXY_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct fp_proxy {
    int listen_fd;
    int port;                      /* where clients connect */
    int upstream_port;             /* where we relay to (127.0.0.1) */
    pthread_t acceptor;
    atomic_bool stop;
    /* knobs, per mille */
    atomic_int cut_pm;             /* per server→client chunk: close both sides */
    atomic_int stall_pm;           /* per server→client chunk: go silent for stall_ms, then close */
    atomic_int garbage_pm;         /* per server→client chunk: send junk instead, then close */
    atomic_int stall_ms;
    atomic_bool down;              /* refuse new connections and drop open ones */
    atomic_bool no_bulk_get;       /* answer POST …/_bulk_get with 404 */
    atomic_bool json_only;         /* ask for JSON where multipart is asked (a
                                      PouchDB-like peer: attachments inline) */
    atomic_int answer_status;      /* 401 or 403: answer every request so; 0: relay */
    /* counters */
    atomic_ulong conns, cuts, stalls, garbage, rejected, rewritten;
    atomic_ulong logins;           /* POST /_session requests seen */
    atomic_int active;             /* connection threads alive */
} fp_proxy;

typedef struct fp_conn {
    fp_proxy *p;
    int cfd, sfd;
    unsigned seed;
} fp_conn;

static inline void fp_msleep(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline bool fp_write_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        b += w;
        n -= (size_t)w;
    }
    return true;
}

static inline bool fp_find(const char *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(h + i, needle, k) == 0)
            return true;
    return false;
}

/* Relay a request whose Accept asks for multipart/mixed as one asking for
 * application/json; false when buf has no such header (relay it as is). */
static inline bool fp_send_json_accept(int fd, const char *buf, size_t n)
{
    static const char from[] = "Accept: multipart/mixed", to[] = "Accept: application/json";
    size_t k = sizeof from - 1;
    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(buf + i, from, k) != 0)
            continue;
        return fp_write_all(fd, buf, i) && fp_write_all(fd, to, sizeof to - 1) &&
               fp_write_all(fd, buf + i + k, n - i - k);
    }
    return false;
}

static inline bool fp_roll(unsigned *seed, int pm) { return pm > 0 && (int)(rand_r(seed) % 1000) < pm; }

static inline void *fp_conn_main(void *arg)
{
    fp_conn *c = arg;
    fp_proxy *p = c->p;
    char buf[16384];
    bool open = true;
    while (open && !atomic_load(&p->stop) && !atomic_load(&p->down)) {
        struct pollfd fds[2] = {{c->cfd, POLLIN, 0}, {c->sfd, POLLIN, 0}};
        int n = poll(fds, 2, 50);
        if (n <= 0)
            continue;
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(c->cfd, buf, sizeof buf, 0);
            if (r <= 0)
                break;
            if (fp_find(buf, (size_t)r, "POST /_session "))
                atomic_fetch_add(&p->logins, 1);
            int refuse = atomic_load(&p->answer_status);
            if (refuse == 401 || refuse == 403) {
                static const char u[] =
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                    "Connection: close\r\nContent-Length: 66\r\n\r\n"
                    "{\"error\":\"unauthorized\",\"reason\":\"Name or password is incorrect.\"}";
                static const char f[] =
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                    "Connection: close\r\nContent-Length: 71\r\n\r\n"
                    "{\"error\":\"forbidden\",\"reason\":\"You are not allowed to access this db.\"}";
                fp_write_all(c->cfd, refuse == 401 ? u : f, refuse == 401 ? sizeof u - 1 : sizeof f - 1);
                atomic_fetch_add(&p->rejected, 1);
                break;
            }
            if (atomic_load(&p->no_bulk_get) && fp_find(buf, (size_t)r, "/_bulk_get")) {
                static const char nf[] =
                    "HTTP/1.1 404 Object Not Found\r\nContent-Type: application/json\r\n"
                    "Connection: close\r\nContent-Length: 40\r\n\r\n"
                    "{\"error\":\"not_found\",\"reason\":\"missing\"}";
                fp_write_all(c->cfd, nf, sizeof nf - 1);
                atomic_fetch_add(&p->rejected, 1);
                break;
            }
            if (atomic_load(&p->json_only) && fp_send_json_accept(c->sfd, buf, (size_t)r)) {
                atomic_fetch_add(&p->rewritten, 1);
                continue;
            }
            if (!fp_write_all(c->sfd, buf, (size_t)r))
                break;
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(c->sfd, buf, sizeof buf, 0);
            if (r <= 0)
                break;
            if (fp_roll(&c->seed, atomic_load(&p->cut_pm))) {
                /* Part of the chunk goes through, then the line dies. */
                fp_write_all(c->cfd, buf, (size_t)r / 2);
                atomic_fetch_add(&p->cuts, 1);
                break;
            }
            if (fp_roll(&c->seed, atomic_load(&p->stall_pm))) {
                atomic_fetch_add(&p->stalls, 1);
                unsigned ms = (unsigned)atomic_load(&p->stall_ms);
                for (unsigned t = 0; t < ms && !atomic_load(&p->stop); t += 50)
                    fp_msleep(50);
                break;
            }
            if (fp_roll(&c->seed, atomic_load(&p->garbage_pm))) {
                static const char junk[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                           "Content-Length: 12\r\n\r\n{\"results\":[";
                fp_write_all(c->cfd, junk, sizeof junk - 1);
                atomic_fetch_add(&p->garbage, 1);
                break;
            }
            if (!fp_write_all(c->cfd, buf, (size_t)r))
                break;
        }
    }
    close(c->cfd);
    close(c->sfd);
    free(c);
    atomic_fetch_sub(&p->active, 1);
    return NULL;
}

static inline void *fp_accept_main(void *arg)
{
    fp_proxy *p = arg;
    unsigned seed = 12345;
    while (!atomic_load(&p->stop)) {
        struct pollfd pf = {p->listen_fd, POLLIN, 0};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        int cfd = accept(p->listen_fd, NULL, NULL);
        if (cfd < 0)
            continue;
        if (atomic_load(&p->down)) {
            close(cfd);
            continue;
        }
        int sfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in up = {0};
        up.sin_family = AF_INET;
        up.sin_port = htons((uint16_t)p->upstream_port);
        up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (sfd < 0 || connect(sfd, (struct sockaddr *)&up, sizeof up) != 0) {
            if (sfd >= 0)
                close(sfd);
            close(cfd);
            continue;
        }
        int one = 1;
        setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fp_conn *c = malloc(sizeof *c);
        if (!c) {
            close(cfd);
            close(sfd);
            continue;
        }
        c->p = p;
        c->cfd = cfd;
        c->sfd = sfd;
        c->seed = seed = seed * 1103515245u + 12345u;
        atomic_fetch_add(&p->conns, 1);
        atomic_fetch_add(&p->active, 1);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, fp_conn_main, c) != 0) {
            atomic_fetch_sub(&p->active, 1);
            close(cfd);
            close(sfd);
            free(c);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

/* Listen on an ephemeral 127.0.0.1 port relaying to upstream_port. */
static inline bool fp_start(fp_proxy *p, int upstream_port)
{
    memset(p, 0, sizeof *p);
    p->upstream_port = upstream_port;
    atomic_init(&p->stall_ms, 2000);
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (p->listen_fd < 0)
        return false;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(p->listen_fd, 128) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0) {
        close(p->listen_fd);
        return false;
    }
    p->port = ntohs(a.sin_port);
    return pthread_create(&p->acceptor, NULL, fp_accept_main, p) == 0;
}

static inline void fp_calm(fp_proxy *p)
{
    atomic_store(&p->cut_pm, 0);
    atomic_store(&p->stall_pm, 0);
    atomic_store(&p->garbage_pm, 0);
    atomic_store(&p->down, false);
    atomic_store(&p->no_bulk_get, false);
    atomic_store(&p->json_only, false);
    atomic_store(&p->answer_status, 0);
}

static inline void fp_stop(fp_proxy *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->acceptor, NULL);
    close(p->listen_fd);
    for (int i = 0; i < 400 && atomic_load(&p->active) > 0; i++)
        fp_msleep(25);
}

#endif
