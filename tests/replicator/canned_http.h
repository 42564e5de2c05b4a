/* canned_http.h — an HTTP/1.1 server on 127.0.0.1 that answers from a
 * table of fixed responses, for replaying byte strings a real peer sent
 * (CouchDB's multipart open_revs answer, its opaque sequences).  One thread
 * serves connections one at a time, each request answered and the
 * connection closed.  A route matches on method and path (a path ending in
 * '*' matches as a prefix); the first match wins; unmatched requests get
 * 404.  Each route counts its hits and keeps the last request's headers.
 * Every wait is bounded.
 */
#ifndef ST_CANNED_HTTP_H
#define ST_CANNED_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct ch_route {
    const char *method;
    const char *path;
    int status;
    const char *ctype;
    const char *body;
    size_t len;               /* 0: strlen(body) */
    size_t chunk;             /* > 0: Transfer-Encoding: chunked in pieces of this size */
    const char *headers;      /* extra response header lines, each ending "\r\n"; or NULL */
    atomic_int hits;
    char last_headers[2048];
} ch_route;

typedef struct ch_server {
    int fd, port;
    pthread_t thread;
    atomic_bool stop;
    ch_route *routes;
    size_t n_routes;
} ch_server;

static inline bool ch_send(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static inline bool ch_matches(const ch_route *r, const char *method, const char *path)
{
    if (strcmp(r->method, method) != 0)
        return false;
    size_t n = strlen(r->path);
    if (n && r->path[n - 1] == '*')
        return strncmp(r->path, path, n - 1) == 0;
    return strcmp(r->path, path) == 0;
}

static inline void ch_answer(ch_server *s, int fd, const char *req)
{
    char method[16] = "", path[2048] = "";
    if (sscanf(req, "%15s %2047s", method, path) != 2)
        return;
    ch_route *r = NULL;
    for (size_t i = 0; i < s->n_routes && !r; i++)
        if (ch_matches(&s->routes[i], method, path))
            r = &s->routes[i];
    static const char nf[] = "{\"error\":\"not_found\",\"reason\":\"missing\"}";
    const char *body = r ? r->body : nf;
    size_t len = r ? (r->len ? r->len : strlen(r->body)) : sizeof nf - 1;
    char head[512];
    if (r) {
        atomic_fetch_add(&r->hits, 1);
        snprintf(r->last_headers, sizeof r->last_headers, "%s", req);
    }
    bool chunked = r && r->chunk;
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d X\r\nContent-Type: %s\r\nConnection: close\r\n%s%s\r\n",
                      r ? r->status : 404, r ? r->ctype : "application/json",
                      chunked ? "Transfer-Encoding: chunked\r\n" : "",
                      r && r->headers ? r->headers : "");
    if (!chunked) {
        char cl[64];
        snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", len);
        head[hn - 2] = '\0'; /* drop the blank line, add the length */
        if (!ch_send(fd, head, strlen(head)) || !ch_send(fd, cl, strlen(cl)))
            return;
        ch_send(fd, body, len);
        return;
    }
    if (!ch_send(fd, head, (size_t)hn))
        return;
    for (size_t off = 0; off < len; off += r->chunk) {
        size_t n = len - off < r->chunk ? len - off : r->chunk;
        char sz[32];
        snprintf(sz, sizeof sz, "%zx\r\n", n);
        if (!ch_send(fd, sz, strlen(sz)) || !ch_send(fd, body + off, n) || !ch_send(fd, "\r\n", 2))
            return;
    }
    ch_send(fd, "0\r\n\r\n", 5);
}

/* Read one request (headers and a Content-Length body) from fd. */
static inline void ch_serve(ch_server *s, int fd)
{
    char buf[65536];
    size_t len = 0;
    for (int rounds = 0; rounds < 200 && len < sizeof buf - 1; rounds++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = NULL;
        for (const char *q = buf; q < end && !cl; q++)
            if (strncasecmp(q, "\r\nContent-Length:", 17) == 0)
                cl = q;
        size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        if (len >= (size_t)(end + 4 - buf) + want) {
            ch_answer(s, fd, buf);
            return;
        }
    }
}

static inline void *ch_main(void *arg)
{
    ch_server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        ch_serve(s, c);
        close(c);
    }
    return NULL;
}

static inline bool ch_start(ch_server *s, ch_route *routes, size_t n)
{
    memset(s, 0, sizeof *s);
    s->routes = routes;
    s->n_routes = n;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 64) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0)
        return false;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->thread, NULL, ch_main, s) == 0;
}

static inline void ch_stop(ch_server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

#endif
