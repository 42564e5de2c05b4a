/* notify.c — eventfd on Linux, a self-pipe elsewhere (see notify.h).
 *
 * Why not a condition variable: an app with its own run loop (GLib, libuv,
 * a game loop, Android's Looper, CFRunLoop via CFFileDescriptor) can only
 * wait on descriptors, and settee_db_notify_fd() hands it exactly this one.
 * The settee-owned dispatch thread waits on the same descriptor, so both
 * modes run the same code.
 */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__) && !defined(ST_NOTIFY_FORCE_PIPE)
#define ST_NOTIFY_EVENTFD 1
#include <sys/eventfd.h>
#endif

#ifdef ST_NOTIFY_EVENTFD

st_status st_notify_open(st_notify *n, st_error *err)
{
    n->rfd = n->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->rfd < 0)
        return st_fail(err, ST_E_IO, "eventfd: %s", strerror(errno));
    return ST_OK;
}

void st_notify_close(st_notify *n)
{
    if (n->rfd >= 0)
        close(n->rfd);
    n->rfd = n->wfd = -1;
}

void st_notify_signal(st_notify *n)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter would overflow: it is signalled anyway. */
    ssize_t r;
    do
        r = write(n->wfd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
}

void st_notify_drain(st_notify *n)
{
    uint64_t v;
    ssize_t r;
    do
        r = read(n->rfd, &v, sizeof v);
    while (r < 0 && errno == EINTR);
}

const char *st_notify_backend(void) { return "eventfd"; }

#else /* a non-blocking self-pipe */

static bool set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    int fd_fl = fcntl(fd, F_GETFD);
    return fl >= 0 && fd_fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 &&
           fcntl(fd, F_SETFD, fd_fl | FD_CLOEXEC) == 0;
}

st_status st_notify_open(st_notify *n, st_error *err)
{
    int p[2];
    n->rfd = n->wfd = -1;
    if (pipe(p) != 0)
        return st_fail(err, ST_E_IO, "pipe: %s", strerror(errno));
    if (!set_flags(p[0]) || !set_flags(p[1])) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return st_fail(err, ST_E_IO, "fcntl: %s", strerror(e));
    }
    n->rfd = p[0];
    n->wfd = p[1];
    return ST_OK;
}

void st_notify_close(st_notify *n)
{
    if (n->rfd >= 0)
        close(n->rfd);
    if (n->wfd >= 0)
        close(n->wfd);
    n->rfd = n->wfd = -1;
}

void st_notify_signal(st_notify *n)
{
    char c = 1;
    /* EAGAIN: the pipe is full, so the reader is signalled already. */
    ssize_t r;
    do
        r = write(n->wfd, &c, 1);
    while (r < 0 && errno == EINTR);
}

void st_notify_drain(st_notify *n)
{
    char buf[256];
    for (int i = 0; i < 1024; i++) { /* bounded: the pipe holds at most 64 KiB */
        ssize_t r = read(n->rfd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < (ssize_t)sizeof buf)
            break;
    }
}

const char *st_notify_backend(void) { return "pipe"; }

#endif

bool st_notify_wait(st_notify *n, int timeout_ms)
{
    struct pollfd p = {.fd = n->rfd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}
