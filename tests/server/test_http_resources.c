/* test_http_resources.c — what an anonymous client's worst requests cost
 * the server (issue 10): `settee serve` runs in a child (a public database,
 * the default limits), and its memory (RssAnon in /proc/PID/status, sampled
 * every 10 ms) and CPU time (utime + stime in /proc/PID/stat) are read
 * before, during and after each of:
 *
 *  1. parameters: 16 clients at once, each sending 10 requests with 1,000
 *     query parameters (the limit: 200) and one with 1,001 (414);
 *  2. bodies: 4 clients at once each posting a 15 MiB body to _all_docs
 *     (under max_read_body_size, 16 MiB: 200), 4 writing a 7.5 MB document
 *     (under max_document_size, 8 MB: 201), and 4 declaring a 1 GiB body
 *     (413 before any of it is read);
 *  3. slow readers: 8 clients asking for _all_docs?include_docs=true of
 *     2,000 documents (an 8 MB answer each) with a 4 KiB receive buffer,
 *     reading nothing for 3 s, then everything;
 *  4. connections: 1,000 clients that connect and send nothing, for 2 s.
 *
 * (In the order 1, 3, 4, 2: the documents of 2 would be in 3's answers.)
 *
 * The bounds, asserted (RSS growth over the phase's starting point):
 * parameters 2 MiB a request, bodies twice the body a request plus
 * 32 MiB, slow readers 2 MiB a reader (an answer is streamed: the server
 * holds a piece, not the 8 MB), connections 64 KiB each; once they all
 * stop, the server holds at most 64 MiB more than before the first and
 * uses under 0.2 s of CPU a second.  Each phase prints its memory per
 * request.  Bounded: about 40 s, each client's wait capped at 60 s.
 *
 * The sanitizer build's allocator keeps freed blocks in quarantine (256 MB
 * by default, and 1 MB per thread), which would read as memory held: the
 * child runs with small ones.  Measured there (sanitizer build, 2 CPUs):
 * about 450 kB a request with 1,000 parameters, 13 MiB a request with a
 * body at the limits (the body once and a little), 0.6 MiB a slow reader,
 * 13 kB an idle connection, 28 MiB kept afterwards, no CPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "httpc.h"
#include "support/serve.h"

#define MIB (1024.0 * 1024.0)

static pid_t child = -1;
static ts_server srv;
static int port;
static char dir[512], ini[600], logpath[600];

/* ------------------------------------------------------------ the child */

/* utime + stime of pid, in seconds. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The anonymous part of pid's resident memory (RssAnon: the heap, stacks),
 * in bytes, or -1.  Not VmRSS: that counts the database file's pages too,
 * mapped by SQLite (mmap_size) and shared with the page cache. */
static double rss_bytes(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "RssAnon:", 8) == 0)
            kb = atof(line + 8);
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* The peak of RssAnon while a phase runs, from a sampling thread. */
static atomic_bool sampling;
static _Atomic double peak;
static pthread_t sampler;

static void *sample(void *arg)
{
    (void)arg;
    while (atomic_load(&sampling)) {
        double r = rss_bytes(child);
        if (r > atomic_load(&peak))
            atomic_store(&peak, r);
        usleep(10000);
    }
    return NULL;
}

static double phase_start(void)
{
    double base = rss_bytes(child);
    atomic_store(&peak, base);
    atomic_store(&sampling, true);
    assert_int_equal(pthread_create(&sampler, NULL, sample, NULL), 0);
    return base;
}

/* Ends sampling; the peak growth over base, in bytes. */
static double phase_end(double base)
{
    atomic_store(&sampling, false);
    pthread_join(sampler, NULL);
    double r = rss_bytes(child);
    if (r > atomic_load(&peak))
        atomic_store(&peak, r);
    return atomic_load(&peak) - base;
}

/* In the child: the sanitizer's small quarantine (see the file comment). */
static void small_quarantine(void)
{
    char asan[512];
    const char *was = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "%s%squarantine_size_mb=4:thread_local_quarantine_size_kb=64",
             was ? was : "", was && *was ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
}

static int start_child(void)
{
    const char *tmp = getenv("SETTEE_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/settee-srv-res-%ld", tmp ? tmp : "/tmp", (long)getpid());
    snprintf(ini, sizeof ini, "%s.ini", dir);
    snprintf(logpath, sizeof logpath, "%s.log", dir);
    ts_rm_rf(dir);
    FILE *f = fopen(ini, "w");
    if (!f)
        return -1;
    fprintf(f, "[chttpd]\nport = 0\nbind_address = 127.0.0.1\n[couchdb]\ndatabase_dir = %s\n"
               "default_security = everyone\n[admins]\n" T_ADMIN " = " T_PASS "\n[chttpd_auth]\n"
               "iterations = 10\n[settee]\nthreads = 16\ndurability = normal\n"
               "connection_timeout = 30\n[log]\nlevel = notice\nfile = %s\n",
            dir, logpath);
    fclose(f);
    if (!ts_server_start_config(&srv, ini, small_quarantine))
        return -1;
    child = srv.pid;
    port = srv.port;
    snprintf(t_base, sizeof t_base, "http://127.0.0.1:%d", srv.port);
    return 0;
}

/* SIGTERM our child, by its pid, and wait (bounded) for it: 0 when it
 * exited cleanly. */
static int stop_child(void)
{
    bool clean = ts_server_halt(&srv);
    child = -1;
    return clean ? 0 : -1;
}

/* ---------------------------------------------------------- the clients */

static int connect_to_server(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {60, 0}; /* no client waits longer */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (t_loopback_connect(fd, (unsigned)port) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* One client: a request (head, then body_len bytes of body), then read
 * the answer to the end (Connection: close).  Keeps the status, the
 * answer's size and its last bytes. */
typedef struct client {
    const char *head;
    const char *body;
    size_t body_len;
    int rcvbuf;          /* > 0: the socket's receive buffer */
    unsigned stall_ms;   /* read nothing for this long first */
    int status;          /* the answer's, or -1 */
    size_t got;          /* bytes of answer */
    char tail[16];       /* its last bytes */
} client;

static void *run_client(void *arg)
{
    client *c = arg;
    c->status = -1;
    int fd = connect_to_server(c->rcvbuf);
    if (fd < 0)
        return NULL;
    if (send_all(fd, c->head, strlen(c->head)) && (!c->body_len || send_all(fd, c->body, c->body_len))) {
        if (c->stall_ms)
            usleep(c->stall_ms * 1000u);
        char buf[65536], first[16] = "";
        ssize_t k;
        while ((k = recv(fd, buf, sizeof buf, 0)) > 0) {
            if (c->got < 12)
                memcpy(first + c->got, buf, (size_t)k < 12 - c->got ? (size_t)k : 12 - c->got);
            c->got += (size_t)k;
            size_t keep = (size_t)k < sizeof c->tail - 1 ? (size_t)k : sizeof c->tail - 1;
            memmove(c->tail, c->tail + keep, sizeof c->tail - 1 - keep);
            memcpy(c->tail + sizeof c->tail - 1 - keep, buf + k - keep, keep);
        }
        if (c->got >= 12 && strncmp(first, "HTTP/1.1 ", 9) == 0)
            c->status = atoi(first + 9);
    }
    close(fd);
    return NULL;
}

/* Runs the n clients at once; all threads joined before it returns. */
static void run_clients(client *cs, size_t n)
{
    pthread_t th[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_create(&th[i], NULL, run_client, &cs[i]), 0);
    for (size_t i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/* ------------------------------------------------------------ the setup */

#define DOCS 2000
#define DOC_PAD 4000

static double first_rss;

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct rlimit rl; /* room for 1,000 client sockets */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (start_child() != 0)
        return -1;
    tresp r = t_req("PUT", "/res", NULL, true);
    bool ok = r.status == 201;
    t_free(&r);
    /* 2,000 documents of 4 kB, in batches of 500 */
    size_t cap = 500 * (DOC_PAD + 64) + 64;
    char *body = malloc(cap), *pad = malloc(DOC_PAD + 1);
    if (!body || !pad)
        return -1;
    memset(pad, 'x', DOC_PAD);
    pad[DOC_PAD] = '\0';
    for (int b = 0; b < DOCS / 500 && ok; b++) {
        size_t len = (size_t)snprintf(body, cap, "{\"docs\":[");
        for (int i = 0; i < 500; i++)
            len += (size_t)snprintf(body + len, cap - len, "%s{\"_id\":\"d%05d\",\"p\":\"%s\"}",
                                    i ? "," : "", b * 500 + i, pad);
        snprintf(body + len, cap - len, "]}");
        r = t_req("POST", "/res/_bulk_docs", body, true);
        ok = r.status == 201;
        t_free(&r);
    }
    free(body);
    free(pad);
    return ok ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_child();
    ts_rm_rf(dir);
    unlink(ini);
    if (!getenv("SETTEE_KEEP_LOG"))
        unlink(logpath);
    curl_global_cleanup();
    return 0;
}

/* ------------------------------------------------------------ the phases */

static char *params_request(int n)
{
    size_t cap = (size_t)n * 12 + 128;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t len = (size_t)snprintf(s, cap, "GET /_up?");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%sp%d=1", i ? "&" : "", i);
    snprintf(s + len, cap - len, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return s;
}

static void phase_params(void)
{
    char *at = params_request(1000), *over = params_request(1001);
    client cs[16];
    double base = phase_start();
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 16; i++)
            cs[i] = (client){.head = at};
        run_clients(cs, 16);
        for (int i = 0; i < 16; i++)
            assert_int_equal(cs[i].status, 200);
    }
    cs[0] = (client){.head = over};
    run_clients(cs, 1);
    assert_int_equal(cs[0].status, 414);
    double grew = phase_end(base);
    fprintf(stderr, "parameters: 161 requests, 16 at a time: +%.1f MiB at the peak, %.0f kB a request\n",
            grew / MIB, grew / 16 / 1024);
    assert_true(grew < 16 * 2 * MIB);
    free(at);
    free(over);
}

static void phase_bodies(void)
{
    /* _all_docs with one key and a 15 MiB string beside it */
    const size_t big = 15u << 20;
    char *rbody = malloc(big);
    assert_non_null(rbody);
    const char lead[] = "{\"keys\":[\"d00001\"],\"pad\":\"";
    memcpy(rbody, lead, sizeof lead - 1);
    memset(rbody + sizeof lead - 1, 'y', big - (sizeof lead - 1) - 2);
    memcpy(rbody + big - 2, "\"}", 2);
    char rhead[256];
    snprintf(rhead, sizeof rhead, "POST /res/_all_docs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", big);
    /* a document of 7.5 MB */
    const size_t doc = 7500000;
    char *wbody = malloc(doc);
    assert_non_null(wbody);
    const char wlead[] = "{\"pad\":\"";
    memcpy(wbody, wlead, sizeof wlead - 1);
    memset(wbody + sizeof wlead - 1, 'z', doc - (sizeof wlead - 1) - 2);
    memcpy(wbody + doc - 2, "\"}", 2);
    char whead[4][256];
    for (int i = 0; i < 4; i++)
        snprintf(whead[i], sizeof whead[i],
                 "PUT /res/big%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", i, doc);
    const char huge[] = "POST /res/_all_docs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        "Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{";
    client cs[12];
    double base = phase_start();
    for (int i = 0; i < 4; i++) {
        cs[i] = (client){.head = rhead, .body = rbody, .body_len = big};
        cs[4 + i] = (client){.head = whead[i], .body = wbody, .body_len = doc};
        cs[8 + i] = (client){.head = huge};
    }
    run_clients(cs, 12);
    double grew = phase_end(base);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cs[i].status, 200);
        assert_int_equal(cs[4 + i].status, 201);
        assert_int_equal(cs[8 + i].status, 413);
    }
    fprintf(stderr, "bodies: 4 x 15 MiB read-only posts, 4 x 7.5 MB documents, 4 x 1 GiB "
                    "declared (413): +%.1f MiB at the peak, %.1f MiB a request with a body\n",
            grew / MIB, grew / 8 / MIB);
    assert_true(grew < 4 * 2 * (double)big + 4 * 2 * (double)doc + 32 * MIB);
    free(rbody);
    free(wbody);
}

static void phase_slow_readers(void)
{
    const char head[] = "GET /res/_all_docs?include_docs=true HTTP/1.1\r\nHost: x\r\n"
                        "Connection: close\r\n\r\n";
    client cs[8];
    for (int i = 0; i < 8; i++)
        cs[i] = (client){.head = head, .rcvbuf = 4096, .stall_ms = 3000};
    double base = phase_start();
    run_clients(cs, 8);
    double grew = phase_end(base);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(cs[i].status, 200);
        assert_true(cs[i].got > (size_t)DOCS * DOC_PAD); /* the whole answer came */
        assert_non_null(strstr(cs[i].tail, "]}"));
    }
    fprintf(stderr, "slow readers: 8 x %.1f MB answers, stalled 3 s: +%.1f MiB at the peak, "
                    "%.0f kB a reader\n",
            (double)cs[0].got / 1e6, grew / MIB, grew / 8 / 1024);
    assert_true(grew < 8 * 2 * MIB);
}

static void phase_connections(void)
{
    static int fds[1000];
    double base = phase_start();
    for (int i = 0; i < 1000; i++) {
        fds[i] = connect_to_server(0);
        assert_true(fds[i] >= 0);
    }
    usleep(2000000);
    double c0 = cpu_seconds(child);
    usleep(1000000);
    double busy = cpu_seconds(child) - c0;
    for (int i = 0; i < 1000; i++)
        close(fds[i]);
    double grew = phase_end(base);
    fprintf(stderr, "connections: 1,000 idle: +%.1f MiB at the peak, %.1f kB a connection; "
                    "%.2f s CPU in 1 s while they wait\n",
            grew / MIB, grew / 1000 / 1024, busy);
    assert_true(grew < 1000 * 64 * 1024.0);
    assert_true(busy < 0.2);
}

static void test_worst_anonymous_requests(void **state)
{
    (void)state;
    /* The starting point: each kind of request once, 16 at a time, so
     * that every worker thread has run (its stack is in the RSS). */
    client cs[16];
    for (int i = 0; i < 16; i++)
        cs[i] = (client){.head = i % 2 ? "GET /_up?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                       : "GET /res/_all_docs?include_docs=true&limit=10 HTTP/1.1\r\n"
                                         "Host: x\r\nConnection: close\r\n\r\n"};
    run_clients(cs, 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(cs[i].status, 200);
    tresp r;
    usleep(500000);
    first_rss = rss_bytes(child);
    assert_true(first_rss > 0);
    fprintf(stderr, "before: %.1f MiB\n", first_rss / MIB);
    phase_params();
    phase_slow_readers();
    phase_connections();
    phase_bodies(); /* last: its documents would be in the readers' answers */
    /* They have all stopped: memory given back or kept for reuse within
     * the bound, and the CPU idle. */
    usleep(2000000);
    double after = rss_bytes(child);
    double c0 = cpu_seconds(child);
    usleep(1000000);
    double busy = cpu_seconds(child) - c0;
    fprintf(stderr, "after: %.1f MiB (+%.1f MiB), %.2f s CPU in 1 s\n", after / MIB,
            (after - first_rss) / MIB, busy);
    assert_true(after - first_rss < 64 * MIB);
    assert_true(busy < 0.2);
    r = t_req("GET", "/_up", NULL, false);
    T_EXPECT(r, 200);
    t_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worst_anonymous_requests),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
