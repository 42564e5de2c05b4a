/* bench_http.h — the few lines of blocking HTTP/1.1 the server benchmark
 * tools share (bench_bulk.c, bench_fanout.c's writer): connect to
 * 127.0.0.1:port, send a request, read one response (Content-Length or
 * chunked) on a keep-alive connection.  Not a general client: it trusts
 * the server under test and bounds everything it reads.
 */
#ifndef BENCH_HTTP_H
#define BENCH_HTTP_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BH_MAX_RESPONSE (64u * 1024 * 1024)

static inline double bh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A blocking connection to 127.0.0.1:port with a receive timeout. */
static inline int bh_connect(const char *host, int port, int timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static inline int bh_send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

typedef struct bh_resp {
    int status;
    char *buf;      /* raw bytes read (headers + body, chunked framing kept) */
    size_t len, cap;
    size_t body_off;
    size_t body_len;/* de-chunked body is at buf + body_off, body_len bytes */
} bh_resp;

static inline int bh_fill(int fd, bh_resp *r)
{
    if (r->cap - r->len < 65536) {
        size_t ncap = r->cap ? r->cap * 2 : 131072;
        if (ncap > BH_MAX_RESPONSE)
            return -1;
        char *g = realloc(r->buf, ncap);
        if (!g)
            return -1;
        r->buf = g;
        r->cap = ncap;
    }
    ssize_t n;
    do
        n = recv(fd, r->buf + r->len, r->cap - r->len - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    r->len += (size_t)n;
    r->buf[r->len] = '\0';
    return 0;
}

/* Read one response; 0 on success.  The body is de-chunked in place. */
static inline int bh_read_response(int fd, bh_resp *r)
{
    char *hend;
    r->len = 0;
    r->status = 0;
    while (!(r->buf && (hend = strstr(r->buf, "\r\n\r\n"))))
        if (bh_fill(fd, r) != 0)
            return -1;
    if (sscanf(r->buf, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    size_t hlen = (size_t)(hend - r->buf) + 4;
    r->body_off = hlen;
    char saved = r->buf[hlen];
    r->buf[hlen] = '\0';
    const char *cl = strcasestr(r->buf, "\r\ncontent-length:");
    bool chunked = strcasestr(r->buf, "\r\ntransfer-encoding: chunked") != NULL;
    r->buf[hlen] = saved;
    if (cl && !chunked) {
        size_t want = (size_t)strtoull(cl + 17, NULL, 10);
        while (r->len < hlen + want)
            if (bh_fill(fd, r) != 0)
                return -1;
        r->body_len = want;
        return 0;
    }
    if (!chunked)
        return -1; /* settee and the ceiling always frame their bodies */
    /* De-chunk into the same buffer (output never overtakes input). */
    size_t in = hlen, out = hlen;
    for (;;) {
        char *crlf;
        while (!(crlf = memmem(r->buf + in, r->len - in, "\r\n", 2)))
            if (bh_fill(fd, r) != 0)
                return -1;
        size_t size = (size_t)strtoull(r->buf + in, NULL, 16);
        size_t data = (size_t)(crlf - r->buf) + 2;
        while (r->len < data + size + 2)
            if (bh_fill(fd, r) != 0)
                return -1;
        memmove(r->buf + out, r->buf + data, size);
        out += size;
        in = data + size + 2;
        if (size == 0)
            break;
    }
    r->body_len = out - hlen;
    return 0;
}

/* Base64 for the Authorization header. */
static inline void bh_base64(const char *in, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

#endif
