/* bench_fanout.c — changes fan-out latency for the server benchmark.
 *
 *   bench_fanout PORT DB USER:PASS LISTENERS WRITES [SERVER_PID] [TIMEOUT_S]
 *
 * One process holds every socket (epoll, RLIMIT_NOFILE raised): it opens
 * LISTENERS connections (as USER: new databases are admin-only) GET
 * /DB/_changes?feed=continuous&since=now&
 * heartbeat=30000 to 127.0.0.1:PORT and waits until each has its headers
 * and first newline.  Then a writer thread PUTs WRITES documents one at a
 * time on its own keep-alive connection; after each 201 it waits until
 * every listener saw that document's row (or 5 s), then pauses 20 ms.
 *
 * Timestamps: the 201 and every row are stamped with the kernel's receive
 * time of the bytes (SO_TIMESTAMPNS, CLOCK_REALTIME), so what is measured
 * is the server's delay, not how fast this one thread gets round to 10,000
 * sockets; the user-space read time is reported too.  A row that arrives
 * before its 201 counts as 0 ms (reported as "early").  Latency = row
 * arrival − 201 arrival, over every (write, listener) pair; also reported
 * from the moment the PUT was sent (commit included), which no ordering
 * of the 201 against the rows can flatter.
 *
 * With SERVER_PID, VmRSS and VmHWM of that process are read from /proc
 * while all listeners are still connected.  Bounded: TIMEOUT_S (default
 * 120) for the whole run, 5 s per write.
 *
 * With BENCH_FANOUT_SELECTOR=1 in the environment, each listener follows
 * its own selector instead (POST _changes?filter=_selector with
 * {"selector":{"owner":"user<i>"}}), every write is for a random owner,
 * and only that owner's listener must be told: latencies are over the
 * (write, owner) pairs, and a row reaching anyone else counts as stray.
 *
 * Output: one line of key=value pairs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include "bench_http.h"

#define LINE_MAX_ 512
#define MAX_CONNECTING 256
#define WRITE_WAIT_S 5.0
#define WRITE_PAUSE_US 20000

enum { C_CONNECTING, C_HEADERS, C_BODY, C_DEAD };

typedef struct conn {
    int fd;
    int state;
    bool ready;               /* headers and the first newline seen */
    char hdr[1024];
    size_t hdr_len;
    /* chunked decoding */
    int ck;                   /* 0 = size line, 1 = data, 2 = CRLF after data */
    size_t ck_left;
    char ck_line[32];
    size_t ck_line_len;
    /* row assembly */
    char line[LINE_MAX_];
    size_t line_len;
} conn;

static int port;
static const char *db;
static char auth[256];
static unsigned n_listeners, n_writes;
static conn *conns;
static unsigned run_tag;
static uint64_t *arr_kernel, *arr_user; /* [write][listener] realtime ns, 0 = not seen */
static uint64_t *ack_ns;                /* [write] */
static uint64_t *sent_ns;               /* [write] when the PUT went out */
static atomic_uint *got;                /* [write] listeners that saw it */
static atomic_uint ready_count, dead_count;
static atomic_bool writer_done;
static atomic_uint write_errors;
static double deadline;
static bool sel_mode;                   /* BENCH_FANOUT_SELECTOR=1 */
static unsigned *owner_of;              /* [write] the listener it is for */
static atomic_uint stray;               /* rows told to a listener not the owner */

static uint64_t rt_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* recv with the kernel receive timestamp (0 when the kernel gave none). */
static ssize_t recv_ts(int fd, char *buf, size_t cap, uint64_t *kts)
{
    char cbuf[CMSG_SPACE(sizeof(struct timespec)) * 2];
    struct iovec iov = {buf, cap};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(fd, &m, 0);
    *kts = 0;
    if (n > 0) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(c), sizeof ts);
                *kts = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            }
        }
    }
    return n;
}

static void enable_ts(int fd)
{
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
}

/* ---- listeners */

static void on_line(unsigned ci, const char *line, size_t len, uint64_t kts, uint64_t uts)
{
    conn *c = &conns[ci];
    if (!c->ready) {
        c->ready = true;
        atomic_fetch_add(&ready_count, 1);
    }
    static const char key[] = "\"id\":\"fan-";
    const char *p = memmem(line, len, key, sizeof key - 1);
    if (!p)
        return;
    p += sizeof key - 1;
    unsigned tag = (unsigned)strtoul(p, (char **)&p, 16);
    if (tag != run_tag || *p != '-')
        return;
    unsigned k = (unsigned)strtoul(p + 1, NULL, 10);
    if (k >= n_writes)
        return;
    if (sel_mode && owner_of[k] != ci) {
        atomic_fetch_add(&stray, 1);
        return;
    }
    size_t at = (size_t)k * n_listeners + ci;
    if (arr_kernel[at])
        return;
    arr_kernel[at] = kts ? kts : uts;
    arr_user[at] = uts;
    atomic_fetch_add(&got[k], 1);
}

static void body_bytes(unsigned ci, const char *p, size_t n, uint64_t kts, uint64_t uts)
{
    conn *c = &conns[ci];
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            on_line(ci, c->line, c->line_len, kts, uts);
            c->line_len = 0;
        } else if (c->line_len < sizeof c->line) {
            c->line[c->line_len++] = p[i];
        }
    }
}

static void kill_conn(unsigned ci)
{
    conn *c = &conns[ci];
    if (c->state == C_DEAD)
        return;
    c->state = C_DEAD;
    close(c->fd);
    atomic_fetch_add(&dead_count, 1);
}

static void on_data(unsigned ci, const char *p, size_t n, uint64_t kts, uint64_t uts)
{
    conn *c = &conns[ci];
    size_t i = 0;
    if (c->state == C_HEADERS) {
        while (i < n && c->state == C_HEADERS) {
            if (c->hdr_len < sizeof c->hdr - 1)
                c->hdr[c->hdr_len++] = p[i];
            i++;
            c->hdr[c->hdr_len] = '\0';
            if (c->hdr_len >= 4 && memcmp(c->hdr + c->hdr_len - 4, "\r\n\r\n", 4) == 0) {
                int status = 0;
                if (sscanf(c->hdr, "HTTP/1.%*d %d", &status) != 1 || status != 200 ||
                    !strcasestr(c->hdr, "transfer-encoding: chunked")) {
                    fprintf(stderr, "bench_fanout: listener %u: unexpected response: %.200s\n",
                            ci, c->hdr);
                    kill_conn(ci);
                    return;
                }
                c->state = C_BODY;
            }
        }
    }
    while (i < n) {
        if (c->ck == 0) { /* chunk size line */
            char ch = p[i++];
            if (ch == '\n') {
                c->ck_line[c->ck_line_len] = '\0';
                c->ck_left = (size_t)strtoull(c->ck_line, NULL, 16);
                c->ck_line_len = 0;
                if (c->ck_left == 0) { /* end of the feed: the server closed it */
                    kill_conn(ci);
                    return;
                }
                c->ck = 1;
            } else if (ch != '\r' && c->ck_line_len < sizeof c->ck_line - 1) {
                c->ck_line[c->ck_line_len++] = ch;
            }
        } else if (c->ck == 1) {
            size_t take = n - i < c->ck_left ? n - i : c->ck_left;
            body_bytes(ci, p + i, take, kts, uts);
            i += take;
            c->ck_left -= take;
            if (c->ck_left == 0)
                c->ck = 2;
        } else { /* CRLF after the data */
            if (p[i++] == '\n')
                c->ck = 0;
        }
    }
}

static int start_connect(int ep, unsigned ci)
{
    conn *c = &conns[ci];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    enable_ts(c->fd);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        return -1;
    }
    c->state = C_CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = ci};
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void on_writable(int ep, unsigned ci)
{
    conn *c = &conns[ci];
    char req[768], body[96];
    int bn = snprintf(body, sizeof body, "{\"selector\":{\"owner\":\"user%u\"}}", ci);
    int n = sel_mode
                ? snprintf(req, sizeof req,
                           "POST /%s/_changes?feed=continuous&since=now&heartbeat=30000"
                           "&filter=_selector HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Authorization: Basic %s\r\n"
                           "Accept: application/json\r\nContent-Type: application/json\r\n"
                           "Content-Length: %d\r\n\r\n%s",
                           db, auth, bn, body)
                : snprintf(req, sizeof req,
                           "GET /%s/_changes?feed=continuous&since=now&heartbeat=30000 "
                           "HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
                           "Accept: application/json\r\n\r\n",
                           db, auth);
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err || send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        kill_conn(ci);
        return;
    }
    c->state = C_HEADERS;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = ci};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* ---- the writer */

static int put_doc(int fd, unsigned k, uint64_t *ack)
{
    char req[768], body[128];
    int bn = snprintf(body, sizeof body, "{\"k\":%u,\"type\":\"fanout\",\"owner\":\"user%u\"}",
                      k, sel_mode ? owner_of[k] : 0);
    int n = snprintf(req, sizeof req,
                     "PUT /%s/fan-%x-%u HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                     db, run_tag, k, auth, bn, body);
    sent_ns[k] = rt_ns();
    if (bh_send_all(fd, req, (size_t)n) != 0)
        return -1;
    char buf[4096];
    size_t len = 0;
    for (;;) {
        uint64_t kts;
        ssize_t r = recv_ts(fd, buf + len, sizeof buf - 1 - len, &kts);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        char *h = strstr(buf, "\r\n\r\n");
        const char *cl = h ? strcasestr(buf, "\r\ncontent-length:") : NULL;
        if (h && cl && len >= (size_t)(h + 4 - buf) + strtoull(cl + 17, NULL, 10)) {
            *ack = kts ? kts : rt_ns();
            int status = 0;
            sscanf(buf, "HTTP/1.%*d %d", &status);
            return status == 201 ? 0 : -1;
        }
        if (len >= sizeof buf - 1)
            return -1;
    }
}

static void *writer(void *arg)
{
    (void)arg;
    int fd = bh_connect("127.0.0.1", port, 10);
    if (fd < 0) {
        atomic_fetch_add(&write_errors, n_writes);
        atomic_store(&writer_done, true);
        return NULL;
    }
    enable_ts(fd);
    for (unsigned k = 0; k < n_writes && bh_now() < deadline; k++) {
        if (put_doc(fd, k, &ack_ns[k]) != 0) {
            atomic_fetch_add(&write_errors, 1);
            break;
        }
        unsigned alive = sel_mode ? 1 : n_listeners - atomic_load(&dead_count);
        double until = bh_now() + WRITE_WAIT_S;
        while (atomic_load(&got[k]) < alive && bh_now() < until)
            usleep(500);
        usleep(WRITE_PAUSE_US);
    }
    close(fd);
    atomic_store(&writer_done, true);
    return NULL;
}

/* ---- results */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
    if (!n)
        return -1;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6;
}

/* utime + stime of a process, in seconds; -1 if unreadable. */
static double cpu_seconds(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void read_status(long pid, long *rss, long *hwm)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    *rss = *hwm = -1;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_fanout PORT DB USER:PASS LISTENERS WRITES [SERVER_PID] "
                        "[TIMEOUT_S]\n");
        return 2;
    }
    port = atoi(argv[1]);
    db = argv[2];
    bh_base64(argv[3], auth);
    n_listeners = (unsigned)strtoul(argv[4], NULL, 10);
    n_writes = (unsigned)strtoul(argv[5], NULL, 10);
    long server_pid = argc > 6 ? atol(argv[6]) : 0;
    double timeout = argc > 7 ? atof(argv[7]) : 120;
    if (!n_listeners || n_listeners > 100000 || !n_writes || n_writes > 10000 || strlen(db) > 100) {
        fprintf(stderr, "bench_fanout: bad arguments\n");
        return 2;
    }
    deadline = bh_now() + timeout;
    run_tag = (unsigned)(rt_ns() / 1000) & 0xffffffu;
    const char *sm = getenv("BENCH_FANOUT_SELECTOR");
    sel_mode = sm && strcmp(sm, "1") == 0;
    owner_of = calloc(n_writes, sizeof *owner_of);
    if (!owner_of)
        return 1;
    unsigned seed = run_tag | 1;
    for (unsigned k = 0; k < n_writes; k++) {
        seed = seed * 1103515245u + 12345u;
        owner_of[k] = (seed >> 8) % n_listeners;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < n_listeners + 64) {
            fprintf(stderr, "bench_fanout: open-file limit %llu is too low for %u listeners\n",
                    (unsigned long long)rl.rlim_cur, n_listeners);
            return 1;
        }
    }
    /* The database (PUT: 201, or 412 when it exists). */
    int fd = bh_connect("127.0.0.1", port, 30);
    bh_resp r = {0};
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "PUT /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
                      "Content-Length: 0\r\n\r\n", db, auth);
    if (fd < 0 || bh_send_all(fd, head, (size_t)hn) != 0 || bh_read_response(fd, &r) != 0 ||
        (r.status != 201 && r.status != 412)) {
        fprintf(stderr, "bench_fanout: cannot create %s\n", db);
        return 1;
    }
    close(fd);
    free(r.buf);

    conns = calloc(n_listeners, sizeof *conns);
    arr_kernel = calloc((size_t)n_writes * n_listeners, sizeof *arr_kernel);
    arr_user = calloc((size_t)n_writes * n_listeners, sizeof *arr_user);
    ack_ns = calloc(n_writes, sizeof *ack_ns);
    sent_ns = calloc(n_writes, sizeof *sent_ns);
    got = calloc(n_writes, sizeof *got);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !arr_kernel || !arr_user || !ack_ns || !sent_ns || !got || ep < 0)
        return 1;
    double t_connect = bh_now();
    unsigned started = 0;
    bool writer_started = false;
    pthread_t wt;
    struct epoll_event evs[1024];
    static char buf[65536];
    double connect_s = 0, cpu0 = -1, cpu1 = -1;
    while (bh_now() < deadline) {
        /* Keep a bounded number of connections in the handshake. */
        while (started < n_listeners &&
               started - atomic_load(&ready_count) - atomic_load(&dead_count) < MAX_CONNECTING) {
            if (start_connect(ep, started) != 0) {
                conns[started].state = C_DEAD;
                atomic_fetch_add(&dead_count, 1);
            }
            started++;
        }
        if (!writer_started && atomic_load(&ready_count) + atomic_load(&dead_count) == n_listeners) {
            connect_s = bh_now() - t_connect;
            if (atomic_load(&dead_count)) {
                fprintf(stderr, "bench_fanout: %u listeners failed to connect\n",
                        atomic_load(&dead_count));
                break;
            }
            cpu0 = server_pid ? cpu_seconds(server_pid) : -1;
            pthread_create(&wt, NULL, writer, NULL);
            writer_started = true;
        }
        if (writer_started && atomic_load(&writer_done))
            break;
        int n = epoll_wait(ep, evs, 1024, 50);
        for (int i = 0; i < n; i++) {
            unsigned ci = evs[i].data.u32;
            conn *c = &conns[ci];
            if (c->state == C_DEAD)
                continue;
            if (c->state == C_CONNECTING) {
                if (evs[i].events & (EPOLLERR | EPOLLHUP))
                    kill_conn(ci);
                else if (evs[i].events & EPOLLOUT)
                    on_writable(ep, ci);
                continue;
            }
            for (int rounds = 0; rounds < 64; rounds++) {
                uint64_t kts;
                ssize_t got_n = recv_ts(c->fd, buf, sizeof buf, &kts);
                if (got_n > 0) {
                    on_data(ci, buf, (size_t)got_n, kts, rt_ns());
                    if (c->state == C_DEAD)
                        break;
                    continue;
                }
                if (got_n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                    break;
                kill_conn(ci);
                break;
            }
        }
    }
    long rss = -1, hwm = -1;
    if (server_pid) {
        read_status(server_pid, &rss, &hwm);
        cpu1 = cpu_seconds(server_pid);
    }
    if (writer_started)
        pthread_join(wt, NULL);
    unsigned dead = atomic_load(&dead_count);
    for (unsigned i = 0; i < n_listeners; i++)
        if (conns[i].state != C_DEAD)
            close(conns[i].fd);
    close(ep);

    /* Latencies over every (acknowledged write, listener) pair. */
    size_t cap = (size_t)n_writes * n_listeners, n = 0, nu = 0, missing = 0, early = 0;
    uint64_t *lat = malloc(cap * sizeof *lat), *lat_u = malloc(cap * sizeof *lat_u);
    uint64_t *lat_s = malloc(cap * sizeof *lat_s);
    uint64_t *last = calloc(n_writes, sizeof *last);
    unsigned acked = 0;
    if (!lat || !lat_u || !lat_s || !last)
        return 1;
    for (unsigned k = 0; k < n_writes; k++) {
        if (!ack_ns[k])
            continue;
        acked++;
        for (unsigned c = 0; c < n_listeners; c++) {
            if (sel_mode && c != owner_of[k])
                continue; /* only the owner is told */
            size_t at = (size_t)k * n_listeners + c;
            if (!arr_kernel[at]) {
                missing++;
                continue;
            }
            uint64_t d = arr_kernel[at] > ack_ns[k] ? arr_kernel[at] - ack_ns[k] : 0;
            early += arr_kernel[at] <= ack_ns[k];
            lat[n++] = d;
            if (d > last[k])
                last[k] = d;
            lat_u[nu++] = arr_user[at] > ack_ns[k] ? arr_user[at] - ack_ns[k] : 0;
            lat_s[n - 1] = arr_kernel[at] > sent_ns[k] ? arr_kernel[at] - sent_ns[k] : 0;
        }
    }
    qsort(lat, n, sizeof *lat, cmp_u64);
    qsort(lat_u, nu, sizeof *lat_u, cmp_u64);
    qsort(lat_s, n, sizeof *lat_s, cmp_u64);
    qsort(last, n_writes, sizeof *last, cmp_u64);
    /* last[] is sorted with the unacknowledged (0) first. */
    uint64_t *last_acked = last + (n_writes - acked);
    printf("listeners=%u writes=%u acked=%u samples=%zu missing=%zu early=%zu dead=%u "
           "connect_s=%.2f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f all_p50_ms=%.2f all_max_ms=%.2f "
           "user_p50_ms=%.2f user_p99_ms=%.2f rss_kb=%ld hwm_kb=%ld write_errors=%u "
           "server_cpu_ms_per_write=%.3f from_put_p50_ms=%.2f from_put_p99_ms=%.2f "
           "selector=%d stray=%u\n",
           n_listeners, n_writes, acked, n, missing, early, dead, connect_s, pct(lat, n, 0.50),
           pct(lat, n, 0.99), pct(lat, n, 1.0), pct(last_acked, acked, 0.50),
           pct(last_acked, acked, 1.0), pct(lat_u, nu, 0.50), pct(lat_u, nu, 0.99), rss, hwm,
           atomic_load(&write_errors),
           cpu0 >= 0 && cpu1 >= 0 && acked ? (cpu1 - cpu0) * 1e3 / acked : -1.0,
           pct(lat_s, n, 0.50), pct(lat_s, n, 0.99), sel_mode, atomic_load(&stray));
    bool ok = acked == n_writes && missing == 0 && dead == 0 && !atomic_load(&write_errors) &&
              !atomic_load(&stray);
    free(lat);
    free(lat_u);
    free(lat_s);
    free(last);
    free(owner_of);
    return ok ? 0 : 1;
}
