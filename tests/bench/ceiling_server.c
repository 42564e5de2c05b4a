/* ceiling_server.c — the ceiling for the server benchmark: a minimal
 * libmicrohttpd server with settee's threading model (internal polling
 * thread, epoll, a pool of 4 threads per core, suspend/resume allowed)
 * that does no storage work at all.
 *
 *   ceiling_server [PORT]      (0 or absent: an ephemeral port)
 *
 * Prints "listening on 127.0.0.1:PORT" on stdout once bound, then serves
 * until SIGTERM/SIGINT.  Bound to 127.0.0.1 only.
 *
 *   GET  anything                 200 with one fixed ~200-byte document
 *   PUT  /db/id                   body read and dropped; 201 {"ok":true,...}
 *   POST /db/_bulk_docs           body read and dropped; 201 with a fixed body
 *   GET  /db/_changes?feed=...    a continuous feed: one early newline, then
 *                                 for each PUT one row {"seq":N,"id":...}
 *
 * The feed part exists so the fan-out measurement has a reference too: the
 * same suspend-on-idle / resume-on-write pattern settee uses (feed.c), with
 * nothing in between (no storage query, one preformatted row).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char fixed_doc[] =
    "{\"_id\":\"doc-0000042\",\"_rev\":\"1-5d8e5e1e0c5a4b5f9d1c0a6f4e3b2a19\",\"type\":\"order\","
    "\"customer\":\"customer-42\",\"total\":42.42,\"items\":[{\"sku\":\"sku-42\",\"qty\":1},"
    "{\"sku\":\"sku-42\",\"qty\":1}],\"status\":\"open\",\"note\":\"deliver between nine and "
    "five\"}\n";
static const char put_ok[] =
    "{\"ok\":true,\"id\":\"x\",\"rev\":\"1-5d8e5e1e0c5a4b5f9d1c0a6f4e3b2a19\"}\n";
static const char bulk_ok[] = "[]\n";

/* ---- the feed: every waiting connection on one list */

typedef struct feed {
    struct MHD_Connection *conn;
    uint64_t seq;          /* rows up to this seq were sent */
    int parked;
    int started;           /* the early newline went out */
    struct feed *prev, *next;
} feed;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static feed *waiters;
static uint64_t gseq;      /* seq of the latest row */
static char grow[256];     /* the latest row, preformatted */
static size_t grow_len;
static atomic_int stop_flag;

static ssize_t feed_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    feed *f = cls;
    (void)pos;
    if (!f->started) {
        f->started = 1;
        buf[0] = '\n';
        return 1;
    }
    pthread_mutex_lock(&mu);
    if (f->seq < gseq && grow_len <= max) {
        memcpy(buf, grow, grow_len);
        f->seq = gseq;
        pthread_mutex_unlock(&mu);
        return (ssize_t)grow_len;
    }
    if (atomic_load(&stop_flag)) {
        pthread_mutex_unlock(&mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    MHD_suspend_connection(f->conn);
    f->parked = 1;
    f->prev = NULL;
    f->next = waiters;
    if (waiters)
        waiters->prev = f;
    waiters = f;
    pthread_mutex_unlock(&mu);
    return 0;
}

static void feed_free(void *cls)
{
    free(cls); /* never parked here: MHD only frees a resumed connection */
}

static void resume_all_locked(void)
{
    while (waiters) {
        feed *f = waiters;
        waiters = f->next;
        f->prev = f->next = NULL;
        f->parked = 0;
        MHD_resume_connection(f->conn);
    }
}

typedef struct req {
    int seen;
} req;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
                             size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    static int marker;
    (void)cls;
    (void)version;
    (void)upload;
    if (!*con_cls) { /* headers complete */
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) { /* drop the body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "PUT") == 0) {
        const char *id = strrchr(url, '/');
        pthread_mutex_lock(&mu);
        gseq++;
        int n = snprintf(grow, sizeof grow, "{\"seq\":%llu,\"id\":\"%.100s\",\"changes\":[{\"rev\":"
                                            "\"1-5d8e5e1e0c5a4b5f9d1c0a6f4e3b2a19\"}]}\n",
                         (unsigned long long)gseq, id ? id + 1 : "");
        grow_len = n > 0 && (size_t)n < sizeof grow ? (size_t)n : 0;
        resume_all_locked();
        pthread_mutex_unlock(&mu);
        return reply(c, 201, put_ok, sizeof put_ok - 1);
    }
    if (strcmp(method, "POST") == 0)
        return reply(c, 201, bulk_ok, sizeof bulk_ok - 1);
    if (strstr(url, "/_changes")) {
        feed *f = calloc(1, sizeof *f);
        if (!f)
            return MHD_NO;
        f->conn = c;
        pthread_mutex_lock(&mu);
        f->seq = gseq; /* since=now */
        pthread_mutex_unlock(&mu);
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, feed_read, f, feed_free);
        if (!r) {
            free(f);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        enum MHD_Result rc = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return rc;
    }
    return reply(c, 200, fixed_doc, sizeof fixed_doc - 1);
}

static void on_signal(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = (unsigned)(cores < 1 ? 4 : cores * 4 > 64 ? 64 : cores * 4 < 4 ? 4 : cores * 4);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* MHD's threads inherit the mask */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
        access_cb, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_THREAD_POOL_SIZE,
        pool, MHD_OPTION_CONNECTION_LIMIT, 20000u, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        1024u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "ceiling_server: cannot listen\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on 127.0.0.1:%u (%u threads)\n", info ? info->port : (unsigned)port, pool);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    pthread_mutex_lock(&mu);
    atomic_store(&stop_flag, 1);
    resume_all_locked();
    pthread_mutex_unlock(&mu);
    usleep(200 * 1000);
    MHD_stop_daemon(d);
    return 0;
}
