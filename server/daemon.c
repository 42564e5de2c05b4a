/* daemon.c — the libmicrohttpd daemon: start, stop, and the request cycle.
 *
 * Request cycle (MHD calls the access handler several times per request):
 *   1. URI callback: allocate the st_req (our per-request state, MHD's
 *      *con_cls) and keep the raw target — MHD would unescape it.
 *   2. First access call: st_dispatch_begin (decode, route, CORS, identify,
 *      open the database, authorize, refuse a declared oversized body).
 *      Early answers are queued here, so the body is never buffered.
 *   3. Body calls: append to a capped buffer; a chunked body that passes
 *      the cap is discarded (bounded) and answered 413 at the end.
 *   4. Final call: st_dispatch_run runs the handler; queue its response
 *      (or, for a write handed to core's writer, wait to be resumed).
 *   5. Completed notification: log one line, free the st_req.
 *
 * Threads: MHD's internal thread pool with epoll, fed by one accepting
 * thread (accept.c).  Writes never hold a worker: they are handed to core's
 * writer with the connection suspended (api_async.c).  Reads may block
 * briefly on storage, which is why the pool is larger than the core count,
 * and larger still when many connections may be open (pool_size).  Feeds
 * park their connections (feed.c).
 *
 * Listeners: plain HTTP always, and HTTPS beside it when [ssl] enable is
 * set: a second MHD daemon (GnuTLS inside MHD) started by the same
 * function on the same callbacks, each given its st_listener as cls so a
 * request knows which one it came through (r->tls).  Each daemon has a
 * thread pool of the configured size.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "accept.h"
#include "cors.h"
#include "dispatch.h"
#include "st_hex.h"
#include "feed.h"
#include "http.h"
#include "log.h"
#include "auth.h"
#include "st_qs.h"
#include "st_view.h"
#include "users_db.h"
#include "validate.h"
#include "view_jobs.h"
#include "watch.h"

#define SERVER_HEADER "Settee/0.1.0 (libmicrohttpd)"
#define DISCARD_SLACK (64u * 1024 * 1024) /* chunked overflow read before closing */
#define STOP_GRACE_MS 10000

static void check_limit(const st_listener *l);

static st_method parse_method(const char *m)
{
    static const struct {
        const char *name;
        st_method m;
    } t[] = {{"GET", ST_M_GET},       {"HEAD", ST_M_HEAD},     {"PUT", ST_M_PUT},
             {"POST", ST_M_POST},     {"DELETE", ST_M_DELETE}, {"COPY", ST_M_COPY},
             {"OPTIONS", ST_M_OPTIONS}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(m, t[i].name) == 0)
            return t[i].m;
    return ST_M_OTHER;
}

/* Why the query string is hidden from MHD: libmicrohttpd (0.9.75) copies
 * every query parameter into the connection's memory pool (a header record
 * each) after this callback, and when the pool runs out it neither answers
 * nor calls the completion callback: about 460 parameters in 32 KiB got a
 * 431, from about 470 the connection hung until its timeout and this
 * callback's st_req leaked.  settee never asks MHD for parameters (it parses
 * its own copy of the raw target, request.c), so the first byte after '?'
 * is set to NUL in MHD's buffer, which the callback is handed before MHD
 * splits the parameters: MHD then sees an empty query, and the number of
 * parameters is bounded only by the request line fitting the connection's
 * memory (past it MHD answers 414).  The buffer is MHD's own request line,
 * writable; only that one byte is touched. */
static void hide_query(const char *uri)
{
    char *q = strchr(uri, '?');
    if (q && q[1])
        q[1] = '\0';
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    const st_listener *l = cls;
    st_server *srv = l->srv;
    (void)conn;
    st_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL; /* the access handler answers 500 without state */
    r->srv = srv;
    r->tls = l->tls;
    r->uri = strdup(uri ? uri : "");
    if (uri) {
        /* Where MHD's copy of the target ends; access_cb compares it with
         * where the HTTP version starts to find a NUL inside the target. */
        r->mhd_uri_end = (uintptr_t)(uri + strlen(uri));
        hide_query(uri);
    }
    clock_gettime(CLOCK_MONOTONIC, &r->started);
    st_buf_init(&r->body, 0);
    atomic_fetch_add(&srv->live_requests, 1);
    check_limit(l);
    return r;
}

/* Five random bytes for a request id.  Why a per-thread stock: one
 * RAND_bytes call costs about as much as the rest of a small request's
 * bookkeeping (2 % of a durable PUT's CPU), so each worker draws 50 ids at
 * a time; the bytes are the same generator's. */
static void request_id_bytes(unsigned char out[5], const void *fallback)
{
    static _Thread_local unsigned char stock[250];
    static _Thread_local size_t left;
    if (left < 5) {
        if (RAND_bytes(stock, sizeof stock) != 1) {
            memset(out, 0, 5);
            memcpy(out, &fallback, sizeof fallback < 5 ? sizeof fallback : 5);
            return;
        }
        left = sizeof stock;
    }
    left -= 5;
    memcpy(out, stock + left, 5);
}

/* A request id as CouchDB makes them (10 hex digits), and the peer. */
static void name_request(st_req *r)
{
    unsigned char raw[5];
    request_id_bytes(raw, r);
    st_hex_encode(raw, sizeof raw, r->id);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(r->peer, sizeof r->peer, "-");
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->peer,
                      sizeof r->peer);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->peer,
                      sizeof r->peer);
    }
}

static enum MHD_Result queue(st_req *r)
{
    if (!r->resp) {
        st_error e;
        st_fail(&e, ST_E_MISUSE, "handler produced no response");
        st_resp_status(r, &e);
    }
    if (!r->resp)
        return MHD_NO;
    MHD_add_response_header(r->resp, MHD_HTTP_HEADER_SERVER, SERVER_HEADER);
    MHD_add_response_header(r->resp, "X-Couch-Request-ID", r->id);
    if (r->set_cookie)
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
    st_cors_decorate(r, r->resp);
    r->dispatched = true;
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp); /* MHD holds its own reference now */
    r->resp = NULL;
    return rc;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)cls;
    st_req *r = *con_cls;
    (void)url;
    if (!r) {
        static const char oom[] =
            "{\"error\":\"internal_server_error\",\"reason\":\"out of memory\"}\n";
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        enum MHD_Result rc = MHD_queue_response(conn, 500, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    if (!r->conn) { /* first call: headers are complete */
        r->conn = conn;
        name_request(r);
        r->method = parse_method(method);
        snprintf(r->method_str, sizeof r->method_str, "%s", method);
        r->http11 = version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
        if (!r->uri) {
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
            return queue(r);
        }
        if (!st_req_framing_ok(r, version))
            return queue(r);
        st_dispatch_begin(r);
        if (r->resp)
            return queue(r);
        return MHD_YES;
    }
    if (r->dispatched)
        return MHD_YES;
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        r->body_seen += n;
        if (!r->body_too_large && st_buf_add(&r->body, upload_data, n) != ST_OK) {
            r->body_too_large = true;
            st_buf_free(&r->body);
        }
        *upload_data_size = 0;
        /* Past the slack we stop reading and drop the connection: a client
         * streaming without end must not keep a worker busy forever. */
        if (r->body_too_large && r->body_seen > r->body_cap + DISCARD_SLACK)
            return MHD_NO;
        return MHD_YES;
    }
    if (r->async) { /* resumed: the work handed off is done */
        r->async = false;
        r->async_finish(r);
        return queue(r);
    }
    if (r->body_too_large) {
        st_resp_fail(r, ST_E_TOO_LARGE, "the request entity is too large");
        return queue(r);
    }
    st_dispatch_run(r);
    if (r->async && !r->resp)
        return MHD_YES; /* suspended by the handler; resumed when done */
    return queue(r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    st_server *srv = ((const st_listener *)cls)->srv;
    st_req *r = *con_cls;
    (void)conn;
    if (!r)
        return;
    *con_cls = NULL;
    if (st_log_enabled(ST_LOG_INFO)) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t us = (int64_t)(now.tv_sec - r->started.tv_sec) * 1000000 +
                     (now.tv_nsec - r->started.tv_nsec) / 1000;
        st_log_req q = {
            .peer = r->peer[0] ? r->peer : "-",
            .id = r->id[0] ? r->id : "-",
            .method = r->method_str[0] ? r->method_str : "-",
            .path = r->uri ? r->uri : "?",
            .user = r->who.name ? r->who.name : "",
            .status = r->status,
            .bytes = r->resp_bytes,
            .tenths_ms = us > 0 ? (uint64_t)(us + 50) / 100 : 0, /* 0.1 ms, rounded */
            .aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK,
        };
        st_log_request(&q);
    }
    if (r->feed)
        st_feed_detach_req(r->feed);
    st_req_free(r);
    atomic_fetch_sub(&srv->live_requests, 1);
}

static void check_limit(const st_listener *l)
{
    st_server *srv = l->srv;
    if (!atomic_load(&srv->limit_logged) && atomic_load(&l->open) >= srv->max_connections)
        st_server_limit_reached(srv);
}

static bool at_limit_message(const char *fmt)
{
    return strncmp(fmt, "Server reached connection limit", 31) == 0 ||
           strstr(fmt, "resource limit") != NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    st_server *srv = cls;
    char msg[512];
    if (at_limit_message(fmt)) { /* said once above, not once per socket */
        st_server_limit_reached(srv);
        return;
    }
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    st_log(ST_LOG_DEBUG, "mhd: %s", msg);
}

/* The server uuid must survive restarts: PouchDB keys its replication
 * checkpoints on it. */
static st_status load_uuid(st_server *srv, st_error *err)
{
    if (srv->cfg->uuid) {
        snprintf(srv->uuid, sizeof srv->uuid, "%s", srv->cfg->uuid);
        return ST_OK;
    }
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/settee-server.uuid", srv->cfg->data_dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return st_fail(err, ST_E_BAD_REQUEST, "data directory path too long");
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[64] = "";
        bool ok = fgets(buf, sizeof buf, f) != NULL;
        fclose(f);
        size_t len = ok ? strcspn(buf, "\r\n") : 0;
        if (len == 32) {
            memcpy(srv->uuid, buf, 32);
            srv->uuid[32] = '\0';
            return ST_OK;
        }
    }
    st_uuid(srv->uuid);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return st_fail(err, ST_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    bool ok = fprintf(f, "%s\n", srv->uuid) > 0;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        return st_fail(err, ST_E_IO, "cannot write %s", path);
    return ST_OK;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            st_log(ST_LOG_WARN, "cannot raise the open-file limit: %s", strerror(errno));
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        st_log(ST_LOG_DEBUG, "open-file limit %llu", (unsigned long long)rl.rlim_cur);
}

/* Descriptors open now (Linux: /proc/self/fd; elsewhere a guess). */
static unsigned fds_in_use(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 32;
    unsigned n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the directory's own */
}

/* Fit the connections into the open-file limit.  Each connection is a
 * socket; databases (2 descriptors per pooled SQLite connection, 1 for the
 * WAL index), query-server processes and log files need theirs too, and
 * when accept() meets EMFILE libmicrohttpd retries in a loop (100% CPU)
 * while opens of databases fail with 500.  So a reserve is kept out of the
 * connections' reach: [settee] fd_reserve, by default a quarter of the
 * limit (at least 64); the catalog keeps no more databases open than the
 * reserve holds, closing idle ones.  Connections get what remains after
 * the descriptors open now and libmicrohttpd's own (two per thread). */
static void fit_fd_limit(st_server *s)
{
    st_config *c = s->cfg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    uint64_t limit = rl.rlim_cur;
    uint64_t reserve = c->fd_reserve ? c->fd_reserve : limit / 4 < 64 ? 64 : limit / 4;
    /* With HTTPS beside HTTP each listener has its own threads and its own
     * connection limit: they share what there is. */
    unsigned listeners = c->ssl_enabled ? 2 : 1;
    uint64_t used = fds_in_use() + listeners * 2u * s->threads + 8;
    uint64_t conns = limit > used + reserve ? limit - used - reserve : 0;
    if (conns < 16) {
        conns = 16;
        st_log(ST_LOG_WARN, "open-file limit %llu is too low for settee: %llu descriptors in "
               "use and %llu kept for databases leave too few for connections",
               (unsigned long long)limit, (unsigned long long)used,
               (unsigned long long)reserve);
    }
    if (conns / listeners < c->max_connections) {
        st_log(ST_LOG_NOTICE, "open-file limit %llu: at most %llu connections, %llu "
               "descriptors kept for databases", (unsigned long long)limit,
               (unsigned long long)conns, (unsigned long long)reserve);
        c->max_connections = (unsigned)(conns / listeners);
    }
    size_t per_db = 2 * ((size_t)c->db_readers + 1) + 1;
    st_catalog_set_max_open(s->cat, reserve / 2 / per_db > 2 ? reserve / 2 / per_db : 2);
}

/* Workers per listener: 4 per core (reads may block briefly on storage),
 * and more when the server may hold many connections: one per
 * CONNS_PER_WORKER, up to 64.  Why: each resume of a suspended connection
 * (every write's own, when its commit is durable) makes libmicrohttpd
 * 0.9.75 walk all the connections its worker has suspended, and parked
 * feeds are suspended connections; fewer per worker keep that walk short.
 * Workers are cheap since one thread accepts for them all (accept.c). */
#define CONNS_PER_WORKER 256
static unsigned pool_size(const st_config *c)
{
    if (c->threads)
        return c->threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    uint64_t conns = c->max_connections;
    struct rlimit rl; /* each connection is a descriptor */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 2 < conns)
        conns = rl.rlim_cur / 2;
    uint64_t n = (uint64_t)cores * 4;
    if (conns / CONNS_PER_WORKER > n)
        n = conns / CONNS_PER_WORKER;
    return (unsigned)(n < 4 ? 4 : n > 64 ? 64 : n);
}

static void stop_listener(st_listener *l)
{
    if (l->mhd)
        MHD_stop_daemon(l->mhd);
    l->mhd = NULL;
}

static void server_free(st_server *s)
{
    if (!s)
        return;
    st_acceptor_stop(s); /* before the daemons it hands connections to */
    stop_listener(&s->https);
    stop_listener(&s->http);
    if (s->accept_efd >= 0) /* after them: their close notifications write to it */
        close(s->accept_efd);
    st_tls_free(&s->tls);
    st_vjobs_free(s->vjobs);
    st_views_free(s->views);
    st_watch_stop(s->watch);
    st_feeds_free(s->feeds);
    st_auth_free(s->auth); /* puts its catalog reference back */
    st_server_free_retired(s);
    st_catalog_close(s->cat);
    /* After the databases: their validators use the pool. */
    if (st_qs_free(s->qs) != ST_OK)
        st_log(ST_LOG_ERROR, "query-server processes still in use at stop");
    st_config_free(s->cfg);
    free(s);
}

static void qs_log(void *ctx, const char *lang, const char *msg, size_t n)
{
    (void)ctx;
    st_log(ST_LOG_INFO, "query server %s: %.*s", lang, (int)(n > 4096 ? 4096 : n), msg);
}

/* The query-server pool ([query_servers], os_process_timeout, ...) and the
 * view indexes on it. */
static st_status views_start(st_server *s, st_error *err)
{
    st_qs_settings *q = &s->cfg->qs;
    st_status rc = st_qs_settings_env(q, err);
    st_qs_options o;
    st_qs_options_init(&o);
    o.timeout_ms = q->timeout_ms;
    o.max_procs = q->max_procs;
    o.log = qs_log;
    if (rc == ST_OK)
        rc = st_qs_new(&o, &s->qs, err);
    for (size_t i = 0; rc == ST_OK && i < q->n_langs; i++)
        rc = st_qs_set_language(s->qs, q->langs[i].key, q->langs[i].value, err);
    st_views_options vo;
    st_views_options_init(&vo);
    vo.batch = q->view_batch;
    vo.js_reduce_limit = q->reduce_limit;
    vo.limits.reduce_limit = q->reduce_limit;
    if (rc == ST_OK)
        rc = st_views_new(s->qs, &vo, &s->views, err);
    if (rc == ST_OK)
        rc = st_vjobs_new(s, &s->vjobs, err);
    return rc;
}

typedef union sock_addr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
} sock_addr;

/* bind:port as a socket address; *v6 says which family. */
static st_status parse_bind(const char *bind, unsigned port, sock_addr *a, bool *v6,
                            st_error *err)
{
    memset(a, 0, sizeof *a);
    *v6 = false;
    if (inet_pton(AF_INET, bind, &a->in4.sin_addr) == 1) {
        a->in4.sin_family = AF_INET;
        a->in4.sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, bind, &a->in6.sin6_addr) == 1) {
        a->in6.sin6_family = AF_INET6;
        a->in6.sin6_port = htons((uint16_t)port);
        *v6 = true;
    } else {
        return st_fail(err, ST_E_BAD_REQUEST, "bind address '%s' is not an IP address", bind);
    }
    return ST_OK;
}

static const char *https_bind(const st_config *c)
{
    return c->ssl_bind_address ? c->ssl_bind_address : c->bind_address;
}

/* Start one daemon (plain or TLS, as l->tls says) on the shared callbacks,
 * with its listening socket; accept.c accepts on it once both are up. */
static st_status start_listener(st_server *s, st_listener *l, const char *bind, unsigned port,
                                st_error *err)
{
    sock_addr addr;
    bool v6 = false;
    st_status rc = parse_bind(bind, port, &addr, &v6, err);
    if (rc != ST_OK)
        return rc;
    socklen_t len = v6 ? sizeof addr.in6 : sizeof addr.in4;
    st_error why;
    if (st_accept_listen(&addr.sa, len, &l->fd, &l->port, &why) != ST_OK)
        return st_fail(err, ST_E_IO, "cannot listen on %s%s:%u (address in use or not "
                       "permitted: %s)", l->tls ? "https://" : "", bind, port, why.reason);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | (l->tls ? MHD_USE_TLS : 0);
    /* The TLS daemon's certificate and key, or no options at all. */
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls.cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls.key},
        {MHD_OPTION_END, 0, NULL},
    };
    /* The connection limit is the acceptor's (accept.c counts what it hands
     * over).  libmicrohttpd splits its own among the workers and checks a
     * worker's share only when that worker takes the connection, then
     * closes it without a word: so its limit is one no worker can reach. */
    unsigned mhd_limit = s->max_connections * s->threads;
    l->srv = s;
    l->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, l, MHD_OPTION_THREAD_POOL_SIZE, s->threads,
        MHD_OPTION_CONNECTION_LIMIT, mhd_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        s->cfg->connection_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        s->cfg->connection_memory, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, l,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, l, MHD_OPTION_NOTIFY_CONNECTION,
        st_accept_notify, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s, MHD_OPTION_ARRAY,
        l->tls ? tls_opts : &tls_opts[2], MHD_OPTION_END);
    if (!l->mhd)
        return st_fail(err, ST_E_IO, "cannot serve on %s%s:%u (libmicrohttpd did not start%s)",
                       l->tls ? "https://" : "", bind, port,
                       l->tls ? ", or GnuTLS refused the certificate: see the log at level debug"
                              : "");
    return ST_OK;
}

st_status st_server_start(const st_config *c, st_server **out, st_error *err)
{
    st_status rc = ST_OK;
    st_server *s = NULL;
    sock_addr addr;
    bool v6;
    *out = NULL;
    if (!c || c->n_admins == 0)
        return st_fail(err, ST_E_MISUSE,
                       "no server admin configured: give --admin NAME:PASSWORD or an [admins] "
                       "section (settee does not run as an open admin party)");
    /* Refuse bad addresses before anything is created. */
    if ((rc = parse_bind(c->bind_address, c->port, &addr, &v6, err)) != ST_OK)
        return rc;
    if (c->ssl_enabled && (rc = parse_bind(https_bind(c), c->ssl_port, &addr, &v6, err)) != ST_OK)
        return rc;
    s = calloc(1, sizeof *s);
    if (!s)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    s->http.srv = s->https.srv = s;
    s->https.tls = true;
    s->http.fd = s->https.fd = s->accept_efd = -1;
    atomic_init(&s->live_requests, 0);
    atomic_init(&s->suspended, 0);
    atomic_init(&s->stopping, false);
    s->cfg = st_config_copy(c);
    if (!s->cfg) {
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto fail;
    }
    if (!st_log_open(s->cfg->log_level, s->cfg->log_file, s->cfg->log_json))
        st_log(ST_LOG_WARN, "cannot open log file %s; logging to stderr", s->cfg->log_file);
    /* A certificate that cannot serve stops the start before anything opens. */
    if (s->cfg->ssl_enabled && (rc = st_tls_load(s->cfg, &s->tls, err)) != ST_OK)
        goto fail;
    raise_nofile();
    s->threads = pool_size(s->cfg); /* once: sysconf reads /sys on every call */
    st_db_options dbo;
    st_db_options_init(&dbo);
    dbo.durability = s->cfg->durability;
    dbo.max_doc_size = s->cfg->max_document_size;
    dbo.max_att_size = s->cfg->max_attachment_size;
    dbo.max_decoded_size = s->cfg->max_http_request_size;
    dbo.readers = s->cfg->db_readers;
    rc = views_start(s, err);
    if (rc != ST_OK)
        goto fail;
    rc = st_catalog_open(s->cfg->data_dir, &dbo, &s->cat, err);
    if (rc != ST_OK)
        goto fail;
    st_catalog_on_open(s->cat, st_validate_on_open, s);
    st_auth *auth = NULL;
    rc = st_server_auth_setup(s, s->cfg, &auth, err);
    s->auth = auth;
    if (rc != ST_OK)
        goto fail;
    rc = load_uuid(s, err);
    if (rc != ST_OK)
        goto fail;
    rc = st_feeds_new(s, &s->feeds, err);
    if (rc != ST_OK)
        goto fail;
    rc = st_watch_start(s, &s->watch, err);
    if (rc != ST_OK)
        goto fail;
    fit_fd_limit(s);
    s->max_connections = s->cfg->max_connections;
    rc = start_listener(s, &s->http, s->cfg->bind_address, s->cfg->port, err);
    if (rc == ST_OK && s->cfg->ssl_enabled)
        rc = start_listener(s, &s->https, https_bind(s->cfg), s->cfg->ssl_port, err);
    if (rc == ST_OK)
        rc = st_acceptor_start(s, err);
    if (rc != ST_OK)
        goto fail; /* server_free stops a listener already started */
    st_log(ST_LOG_NOTICE, "settee listening on %s:%u, data in %s, %u threads",
           s->cfg->bind_address, s->http.port, s->cfg->data_dir, s->threads);
    if (s->https.mhd)
        st_log(ST_LOG_NOTICE, "settee listening on https://%s:%u", https_bind(s->cfg),
               s->https.port);
    *out = s;
    return ST_OK;
fail:
    server_free(s);
    return rc;
}

uint16_t st_server_port(const st_server *s)
{
    return s ? s->http.port : 0;
}

uint16_t st_server_tls_port(const st_server *s)
{
    return s && s->https.mhd ? s->https.port : 0;
}

void st_server_stop(st_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    /* 1. No new connections. */
    st_acceptor_stop(s);
    /* 2. Waiting feeds end (they write their last_seq and close). */
    st_feeds_shutdown(s->feeds);
    /* 3. In-flight requests finish, within a grace period. */
    for (unsigned waited = 0; waited < STOP_GRACE_MS; waited += 10) {
        if (atomic_load(&s->live_requests) == 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* A write still in core keeps its connection suspended, and MHD must
     * not stop with a suspended connection: let the writes finish. */
    for (unsigned waited = 0; atomic_load(&s->async_calls) && waited < 60000; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&s->async_calls))
        st_log(ST_LOG_ERROR, "stopping with document writes still in progress");
    /* libmicrohttpd aborts the process if it is stopped with a connection
     * still suspended: give the last resumed ones their turn. */
    for (unsigned waited = 0; atomic_load(&s->suspended) > 0 && waited < 10000; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&s->suspended) > 0)
        st_log(ST_LOG_ERROR, "stopping with %d connections still suspended",
               atomic_load(&s->suspended));
    if (atomic_load(&s->live_requests))
        st_log(ST_LOG_WARN, "stopping with %u requests still in flight",
               atomic_load(&s->live_requests));
    /* 4. Close the sockets, then the databases. */
    stop_listener(&s->https);
    stop_listener(&s->http);
    st_log(ST_LOG_NOTICE, "settee stopped");
    server_free(s);
    st_log_flush();
}
