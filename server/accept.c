/* accept.c — one thread accepts every connection and hands it to a
 * libmicrohttpd worker (MHD_add_connection).
 *
 * Why not let libmicrohttpd accept: in 0.9.75 every worker of a thread pool
 * watches the listening socket (level-triggered, not EPOLLEXCLUSIVE), so
 * each new connection wakes every idle worker, and all but one find
 * nothing to accept.  That made workers expensive (a new connection cost
 * 80 us of server CPU with 8 workers, 190 us with 64), while the server
 * needs many of them: resuming one suspended connection makes its worker
 * walk the list of all the connections it has suspended (0.9.75,
 * resume_suspended_connections), and parked change feeds are suspended
 * connections, so with 10,000 feeds on 8 workers each write's own resume
 * walked some 1,250 of them.  With one acceptor a connection wakes one
 * worker, whatever the pool's size (daemon.c sizes it to the connections
 * the server may hold).
 *
 * The connection limit is kept here: a listener at its limit is not polled,
 * so new clients wait in the listen backlog (costing nothing) until a
 * connection closes, as libmicrohttpd's own accept did.  When accept()
 * runs out of descriptors the listeners rest for REST_MS instead of
 * failing in a loop; the server logs the limit once (daemon.c).
 */
#define _GNU_SOURCE /* accept4 */
#include "accept.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

/* Clients beyond the connection limit wait here, so it is long (the
 * kernel caps it at net.core.somaxconn). */
#define BACKLOG 4096
#define REST_MS 50       /* at the limit or out of descriptors: look again after */
#define ACCEPT_BURST 64  /* connections taken per wake-up before polling again */

st_status st_accept_listen(const struct sockaddr *sa, socklen_t len, int *out_fd,
                           uint16_t *out_port, st_error *err)
{
    *out_fd = -1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return st_fail(err, ST_E_IO, "socket: %s", strerror(errno));
    int one = 1;
    bool ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0;
    if (ok && sa->sa_family == AF_INET6)
        ok = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0;
    ok = ok && bind(fd, sa, len) == 0 && listen(fd, BACKLOG) == 0;
    struct sockaddr_storage got;
    socklen_t got_len = sizeof got;
    ok = ok && getsockname(fd, (struct sockaddr *)&got, &got_len) == 0;
    if (!ok) {
        st_status st = st_fail(err, ST_E_IO, "%s", strerror(errno));
        close(fd);
        return st;
    }
    *out_port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                : ((struct sockaddr_in *)&got)->sin_port);
    *out_fd = fd;
    return ST_OK;
}

void st_accept_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    st_listener *l = cls;
    (void)c;
    (void)socket_context;
    if (code != MHD_CONNECTION_NOTIFY_CLOSED)
        return;
    /* At the limit the acceptor sleeps REST_MS at most; telling it saves
     * the wait. */
    if (atomic_fetch_sub(&l->open, 1) >= l->srv->max_connections) {
        uint64_t one = 1;
        ssize_t n = write(l->srv->accept_efd, &one, sizeof one);
        (void)n; /* a full counter already wakes it */
    }
}

/* At the connection limit the acceptor stops accepting (new clients wait
 * in the listen backlog until others close, costing nothing) and says
 * nothing; the request that fills the house says it (check_limit), or the
 * acceptor when accept() runs out of descriptors, once per server. */
void st_server_limit_reached(st_server *srv)
{
    if (!atomic_exchange(&srv->limit_logged, true))
        st_log(ST_LOG_WARN,
               "connection limit reached (%u connections): new clients wait until others "
               "close; see [settee] max_connections and fd_reserve",
               srv->max_connections);
}

static bool has_room(const st_listener *l)
{
    return atomic_load(&l->open) < l->srv->max_connections;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Take what the backlog holds, up to ACCEPT_BURST.  false: out of
 * descriptors (the caller rests). */
static bool accept_some(st_listener *l)
{
    for (int i = 0; i < ACCEPT_BURST && has_room(l); i++) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof sa;
        int c = accept4(l->fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                st_server_limit_reached(l->srv);
                return false;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED && errno != EPROTO)
                st_log(ST_LOG_DEBUG, "accept: %s", strerror(errno));
            return true;
        }
        atomic_fetch_add(&l->open, 1);
        /* On failure libmicrohttpd has closed the socket and told no one. */
        if (MHD_add_connection(l->mhd, c, (struct sockaddr *)&sa, len) != MHD_YES)
            atomic_fetch_sub(&l->open, 1);
    }
    return true;
}

static void *accept_main(void *arg)
{
    st_server *s = arg;
    st_listener *ls[2] = {&s->http, &s->https};
    uint64_t rest_until = 0;
    while (!atomic_load(&s->accept_stop)) {
        struct pollfd p[3] = {{.fd = s->accept_efd, .events = POLLIN}};
        st_listener *of[3] = {NULL};
        nfds_t n = 1;
        bool waiting = false; /* a listener skipped: look again soon */
        bool resting = now_ms() < rest_until;
        for (int i = 0; i < 2; i++) {
            if (ls[i]->fd < 0 || !ls[i]->mhd)
                continue;
            if (resting || !has_room(ls[i])) {
                waiting = true;
                continue;
            }
            of[n] = ls[i];
            p[n++] = (struct pollfd){.fd = ls[i]->fd, .events = POLLIN};
        }
        if (poll(p, n, waiting ? REST_MS : -1) < 0) {
            if (errno != EINTR)
                st_log(ST_LOG_ERROR, "accept: poll: %s", strerror(errno));
            continue;
        }
        if (p[0].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(s->accept_efd, &v, sizeof v);
            (void)r; /* non-blocking: nothing to read is fine */
        }
        for (nfds_t i = 1; i < n; i++)
            if ((p[i].revents & POLLIN) && !accept_some(of[i]))
                rest_until = now_ms() + REST_MS;
    }
    return NULL;
}

st_status st_acceptor_start(st_server *s, st_error *err)
{
    s->accept_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->accept_efd < 0)
        return st_fail(err, ST_E_IO, "eventfd: %s", strerror(errno));
    atomic_store(&s->accept_stop, false);
    if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0)
        return st_fail(err, ST_E_IO, "cannot start the accepting thread"); /* efd: server_free */
    s->acceptor_running = true;
    return ST_OK;
}

static void close_listener(st_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

void st_acceptor_stop(st_server *s)
{
    if (s->acceptor_running) {
        atomic_store(&s->accept_stop, true);
        uint64_t one = 1;
        ssize_t n = write(s->accept_efd, &one, sizeof one);
        (void)n;
        pthread_join(s->acceptor, NULL);
        s->acceptor_running = false;
    }
    close_listener(&s->http);
    close_listener(&s->https);
}
