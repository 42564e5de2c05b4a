/* test_http_feeds.c — _changes in every feed mode over real HTTP:
 * normal (since, limit, descending, include_docs, doc_ids by GET and
 * POST, since=now), longpoll (wake-up and timeout), continuous and
 * eventsource (rows, heartbeats, timeout), many parked listeners woken by
 * one write, listeners joining while a writer commits (every row once),
 * a stalled listener (bounded, nobody waits for it, every row
 * once when it reads again), HTTP/1.0 listeners (no chunking), and a
 * graceful stop with feeds open.  Every wait is bounded. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpc.h"

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return t_start_with(NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    if (t_srv)
        t_stop();
    curl_global_cleanup();
    return 0;
}

static void put(const char *path, const char *json)
{
    tresp r = t_req("PUT", path, json, true);
    T_EXPECT(r, 201);
    t_free(&r);
}

/* ---- streaming listeners on one curl multi handle */

typedef struct listener {
    CURL *e;
    tbuf buf;
    bool done;
    double first_row_ms; /* when a "seq" line first appeared */
} listener;

static size_t l_write(char *p, size_t sz, size_t n, void *ud)
{
    listener *l = ud;
    size_t r = t_write(p, sz, n, &l->buf);
    if (l->first_row_ms == 0 && l->buf.buf && strstr(l->buf.buf, "\"seq\""))
        l->first_row_ms = t_now_ms();
    return r;
}

static void l_open(CURLM *m, listener *l, const char *path)
{
    char url[512];
    memset(l, 0, sizeof *l);
    snprintf(url, sizeof url, "%s%s", t_base, path);
    l->e = curl_easy_init();
    assert_non_null(l->e);
    curl_easy_setopt(l->e, CURLOPT_URL, url);
    curl_easy_setopt(l->e, CURLOPT_WRITEFUNCTION, l_write);
    curl_easy_setopt(l->e, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(l->e, CURLOPT_PRIVATE, l);
    curl_easy_setopt(l->e, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(l->e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(l->e, CURLOPT_NOPROXY, "*");
    curl_multi_add_handle(m, l->e);
}

static void l_close(CURLM *m, listener *l)
{
    curl_multi_remove_handle(m, l->e);
    curl_easy_cleanup(l->e);
    free(l->buf.buf);
    memset(l, 0, sizeof *l);
}

/* Drive transfers until pred(ctx) or ms elapse. */
static bool pump(CURLM *m, double ms, bool (*pred)(void *), void *ctx)
{
    double end = t_now_ms() + ms;
    while (t_now_ms() < end) {
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg == CURLMSG_DONE) {
                listener *l = NULL;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&l);
                if (l)
                    l->done = true;
            }
        }
        if (pred && pred(ctx))
            return true;
        curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    return pred ? pred(ctx) : true;
}

static bool has_text(void *ctx)
{
    listener *l = ((listener **)ctx)[0];
    const char *needle = ((const char **)ctx)[1];
    return l->buf.buf && strstr(l->buf.buf, needle);
}

static bool l_wait_for(CURLM *m, listener *l, const char *needle, double ms)
{
    void *ctx[2] = {l, (void *)needle};
    return pump(m, ms, has_text, ctx);
}

static bool is_done(void *ctx)
{
    return ((listener *)ctx)->done;
}

/* ---- tests */

static void test_normal_feed(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/feeds", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    put("/feeds/a", "{\"n\":1}");
    put("/feeds/b", "{\"n\":2}");
    put("/feeds/c", "{\"n\":3}");
    r = t_req("GET", "/feeds/_changes", NULL, false);
    T_EXPECT(r, 200);
    assert_memory_equal(r.body, "{\"results\":[\n{\"seq\":1,\"id\":\"a\",\"changes\":[{\"rev\":\"1-", 52);
    assert_true(t_has(&r, "\n],\n\"last_seq\":3,\"pending\":0}\n"));
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?since=1&limit=1", NULL, false);
    assert_true(t_has(&r, "\"id\":\"b\""));
    assert_false(t_has(&r, "\"id\":\"c\""));
    assert_true(t_has(&r, "\"last_seq\":2,\"pending\":1}"));
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?descending=true&limit=1", NULL, false);
    assert_true(t_has(&r, "\"id\":\"c\""));
    assert_false(t_has(&r, "\"id\":\"a\""));
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?include_docs=true&since=2", NULL, false);
    assert_true(t_has(&r, "\"doc\":{\"_id\":\"c\""));
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?since=now", NULL, false);
    assert_string_equal(r.body, "{\"results\":[\n\n],\n\"last_seq\":3,\"pending\":0}\n");
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?filter=_doc_ids&doc_ids=%5B%22b%22%5D", NULL, false);
    assert_true(t_has(&r, "\"id\":\"b\""));
    assert_false(t_has(&r, "\"id\":\"a\""));
    t_free(&r);
    r = t_req("POST", "/feeds/_changes?filter=_doc_ids", "{\"doc_ids\":[\"a\",\"c\"]}", false);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"id\":\"a\""));
    assert_true(t_has(&r, "\"id\":\"c\""));
    assert_false(t_has(&r, "\"id\":\"b\""));
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?seq_interval=10&style=all_docs&conflicts=true", NULL, false);
    T_EXPECT(r, 200);
    t_free(&r);
    /* bad parameters */
    r = t_req("GET", "/feeds/_changes?feed=bogus", NULL, false);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?since=abc", NULL, false);
    T_EXPECT(r, 400);
    t_free(&r);
    /* a filter in a design document that does not exist: CouchDB's 404 */
    r = t_req("GET", "/feeds/_changes?filter=ddoc/f", NULL, false);
    T_EXPECT(r, 404);
    assert_non_null(strstr(r.body, "\"reason\":\"missing\""));
    t_free(&r);
    /* CouchDB takes a negative limit as none, and _changes booleans leniently. */
    r = t_req("GET", "/feeds/_changes?limit=-1&include_docs=yes", NULL, false);
    T_EXPECT(r, 200);
    assert_false(t_has(&r, "\"doc\""));
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?feed=continuous&heartbeat=0", NULL, false);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "heartbeat value should be a positive integer"));
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?since=9223372036854775808", NULL, false);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "Malformed sequence supplied in 'since' parameter."));
    t_free(&r);
    r = t_req("POST", "/feeds/_changes?filter=_doc_ids", "{\"doc_ids\":\"a\"}", false);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("GET", "/nofeeds/_changes", NULL, false);
    T_EXPECT(r, 404);
    t_free(&r);
}

static void test_longpoll(void **state)
{
    (void)state;
    CURLM *m = curl_multi_init();
    listener l;
    /* timeout with nothing new: empty results, last_seq = since */
    double t0 = t_now_ms();
    l_open(m, &l, "/feeds/_changes?feed=longpoll&since=now&timeout=300");
    assert_true(pump(m, 5000, is_done, &l));
    assert_true(t_now_ms() - t0 >= 250);
    assert_non_null(strstr(l.buf.buf, "\"results\":[\n\n],\n\"last_seq\":3"));
    l_close(m, &l);
    /* a write wakes a parked longpoll promptly */
    l_open(m, &l, "/feeds/_changes?feed=longpoll&since=now&heartbeat=1000");
    pump(m, 200, NULL, NULL);
    assert_false(l.done);
    double w = t_now_ms();
    put("/feeds/lp", "{}");
    assert_true(pump(m, 5000, is_done, &l));
    assert_true(l.first_row_ms - w < 1000);
    assert_non_null(strstr(l.buf.buf, "\"id\":\"lp\""));
    assert_non_null(strstr(l.buf.buf, "\"last_seq\":4"));
    l_close(m, &l);
    /* filtered longpoll ignores other docs */
    l_open(m, &l, "/feeds/_changes?feed=longpoll&since=now&filter=_doc_ids&doc_ids=%5B%22want%22%5D&timeout=5000");
    pump(m, 100, NULL, NULL);
    put("/feeds/other", "{}");
    pump(m, 200, NULL, NULL);
    assert_false(l.done);
    put("/feeds/want", "{}");
    assert_true(pump(m, 5000, is_done, &l));
    assert_non_null(strstr(l.buf.buf, "\"id\":\"want\""));
    assert_null(strstr(l.buf.buf, "\"id\":\"other\""));
    l_close(m, &l);
    curl_multi_cleanup(m);
}

static void test_continuous_and_eventsource(void **state)
{
    (void)state;
    CURLM *m = curl_multi_init();
    listener c, es, hb;
    l_open(m, &c, "/feeds/_changes?feed=continuous&since=now&timeout=1500");
    l_open(m, &es, "/feeds/_changes?feed=eventsource&since=now&heartbeat=100");
    l_open(m, &hb, "/feeds/_changes?feed=continuous&since=now&heartbeat=100");
    pump(m, 300, NULL, NULL);
    put("/feeds/cont1", "{}");
    assert_true(l_wait_for(m, &c, "\"id\":\"cont1\"", 3000));
    assert_true(l_wait_for(m, &es, "\nid: ", 3000));
    put("/feeds/cont2", "{}");
    assert_true(l_wait_for(m, &c, "\"id\":\"cont2\"", 3000));
    /* rows are one per line */
    assert_non_null(strstr(c.buf.buf, "]}\n{\"seq\":"));
    assert_non_null(strstr(es.buf.buf, "data: {\"seq\":"));
    assert_true(l_wait_for(m, &es, "event: heartbeat\ndata: \n\n", 3000));
    /* timeout ends the continuous feed with last_seq */
    assert_true(pump(m, 5000, is_done, &c));
    assert_non_null(strstr(c.buf.buf, "{\"last_seq\":"));
    /* heartbeat: bare newlines keep coming, the feed stays open */
    pump(m, 400, NULL, NULL);
    assert_false(hb.done);
    int newlines = 0;
    for (char *p = hb.buf.buf; p && *p; p++)
        newlines += *p == '\n';
    assert_true(newlines >= 3);
    l_close(m, &c);
    l_close(m, &es);
    l_close(m, &hb);
    curl_multi_cleanup(m);
}

/* Many parked listeners, one write, everyone told quickly. */
#define N_LISTENERS 200
static void test_fanout(void **state)
{
    (void)state;
    CURLM *m = curl_multi_init();
    static listener ls[N_LISTENERS];
    for (int i = 0; i < N_LISTENERS; i++)
        l_open(m, &ls[i], "/feeds/_changes?feed=continuous&since=now&heartbeat=5000");
    /* every listener has its headers (the early newline) */
    double end = t_now_ms() + 10000;
    int ready = 0;
    while (t_now_ms() < end) {
        pump(m, 50, NULL, NULL);
        ready = 0;
        for (int i = 0; i < N_LISTENERS; i++)
            ready += ls[i].buf.len > 0;
        if (ready == N_LISTENERS)
            break;
    }
    assert_int_equal(ready, N_LISTENERS);
    double w = t_now_ms();
    put("/feeds/fan", "{}");
    double acked = t_now_ms();
    end = acked + 10000;
    int got = 0;
    while (t_now_ms() < end && got < N_LISTENERS) {
        pump(m, 20, NULL, NULL);
        got = 0;
        for (int i = 0; i < N_LISTENERS; i++)
            got += ls[i].first_row_ms > 0;
    }
    assert_int_equal(got, N_LISTENERS);
    double worst = 0;
    for (int i = 0; i < N_LISTENERS; i++)
        if (ls[i].first_row_ms - acked > worst)
            worst = ls[i].first_row_ms - acked;
    fprintf(stderr, "fan-out: %d listeners, write %.1f ms, slowest notified %.1f ms after ack\n",
            N_LISTENERS, acked - w, worst);
    assert_true(worst < 2000);
    for (int i = 0; i < N_LISTENERS; i++)
        l_close(m, &ls[i]);
    curl_multi_cleanup(m);
}

/* Listeners joining while writes come in bursts: each reads the backlog,
 * parks on its database's group follower at its own position and is told
 * of what follows.  A commit between a listener's read and its park, or
 * during a fan-out, must not wait for a later commit: after each burst
 * every listener has the burst's last row with no further write, and at
 * the end every row came exactly once. */
#define RACE_BURSTS 40
#define RACE_BURST 3
#define RACE_LISTENERS 40

typedef struct race_want {
    listener *ls;
    int n;
    char id[32];
} race_want;

static bool race_seen(void *ctx)
{
    race_want *w = ctx;
    for (int i = 0; i < w->n; i++)
        if (!w->ls[i].buf.buf || !strstr(w->ls[i].buf.buf, w->id))
            return false;
    return true;
}

static void test_fanout_racing_writes(void **state)
{
    (void)state;
    put("/race", NULL);
    CURLM *m = curl_multi_init();
    static listener ls[RACE_LISTENERS];
    int open = 0;
    for (; open < RACE_LISTENERS / 2; open++)
        l_open(m, &ls[open], "/race/_changes?feed=continuous&since=0&heartbeat=5000");
    int doc = 0;
    for (int b = 0; b < RACE_BURSTS; b++) {
        if (open < RACE_LISTENERS) { /* one more joins, racing the burst */
            l_open(m, &ls[open], open % 2 ? "/race/_changes?feed=continuous&since=0&timeout=60000"
                                          : "/race/_changes?feed=continuous&since=0");
            open++;
            pump(m, b % 3, NULL, NULL);
        }
        race_want w = {ls, open, ""};
        for (int k = 0; k < RACE_BURST; k++, doc++) {
            char path[64];
            snprintf(path, sizeof path, "/race/d%04d", doc);
            put(path, "{}");
            snprintf(w.id, sizeof w.id, "\"id\":\"d%04d\"", doc);
        }
        bool seen = pump(m, 5000, race_seen, &w);
        if (!seen)
            fprintf(stderr, "burst %d: %s not told to every listener\n", b, w.id);
        assert_true(seen);
    }
    for (int i = 0; i < open; i++) {
        for (int d = 0; d < doc; d++) {
            char id[32];
            snprintf(id, sizeof id, "\"id\":\"d%04d\"", d);
            int n = 0;
            for (const char *p = ls[i].buf.buf; (p = strstr(p, id)); p += strlen(id))
                n++;
            if (n != 1)
                fprintf(stderr, "listener %d: %s seen %d times\n", i, id, n);
            assert_int_equal(n, 1);
        }
        l_close(m, &ls[i]);
    }
    curl_multi_cleanup(m);
}

/* ---- raw-socket listeners (what curl cannot do: stall, speak HTTP/1.0) */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

static int raw_open(const char *request, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    assert_int_equal(t_loopback_connect(fd, st_server_port(t_srv)), 0);
    assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
    return fd;
}

/* Read into b until needle shows up (in the raw bytes) or ms pass.  Only
 * what came since the last look is searched: a stalled listener's 5 MB
 * arrive 4 KB at a time, and searching all of it each time made this
 * loop, not the server, the slow part under a sanitizer. */
static bool raw_read_until(int fd, tbuf *b, const char *needle, double ms)
{
    double end = t_now_ms() + ms;
    size_t from = 0, nl = strlen(needle);
    while (t_now_ms() < end) {
        if (b->buf && strstr(b->buf + from, needle))
            return true;
        if (b->len > nl)
            from = b->len - nl;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0)
            break;
        t_write(tmp, 1, (size_t)n, b);
    }
    return b->buf && strstr(b->buf, needle);
}

/* De-chunk an HTTP/1.1 body in place; false on broken framing. */
static bool dechunk(char *body, size_t len, size_t *out_len)
{
    size_t in = 0, out = 0;
    while (in < len) {
        char *end = NULL;
        unsigned long size = strtoul(body + in, &end, 16);
        if (!end || end + 2 > body + len || end[0] != '\r' || end[1] != '\n')
            return false;
        in = (size_t)(end - body) + 2;
        if (size == 0)
            break;
        if (in + size + 2 > len)
            return false; /* a partial chunk at the end of what we read */
        memmove(body + out, body + in, size);
        out += size;
        in += size;
        if (body[in] != '\r' || body[in + 1] != '\n')
            return false;
        in += 2;
    }
    *out_len = out;
    return true;
}

/* A listener that stops reading must not hold anyone up, and when it reads
 * again it gets every row once, in order, in valid chunks (the fan-out
 * thread's direct writes, its partial-chunk drain and MHD's batches all
 * interleave on that one stream). */
#define STALL_DOCS 3200 /* ~5 MB of rows: more than a socket buffer grows to */
#define STALL_BATCH 8   /* ~12 KB per commit: small enough for the direct path */
#define STALL_PAD 1500
static void test_stalled_listener(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/stall", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    int fd = raw_open("GET /stall/_changes?feed=continuous&since=now&heartbeat=20000 HTTP/1.1\r\n"
                      "Host: x\r\n\r\n", 4096);
    tbuf raw = {NULL, 0};
    assert_true(raw_read_until(fd, &raw, "\r\n\r\n", 5000)); /* headers, then stall */
    CURLM *m = curl_multi_init();
    listener ok;
    l_open(m, &ok, "/stall/_changes?feed=continuous&since=now&heartbeat=20000");
    pump(m, 200, NULL, NULL);
    char *body = malloc(STALL_BATCH * (STALL_PAD + 64) + 64);
    assert_non_null(body);
    static char pad[STALL_PAD + 1];
    memset(pad, 'p', STALL_PAD);
    pad[STALL_PAD] = '\0';
    for (int b = 0; b < STALL_DOCS / STALL_BATCH; b++) {
        size_t n = (size_t)sprintf(body, "{\"docs\":[");
        for (int i = 0; i < STALL_BATCH; i++)
            n += (size_t)sprintf(body + n, "%s{\"_id\":\"s%05d-%s\"}", i ? "," : "",
                                 b * STALL_BATCH + i, pad);
        strcpy(body + n, "]}");
        r = t_req("POST", "/stall/_bulk_docs", body, true);
        T_EXPECT(r, 201);
        t_free(&r);
        pump(m, 0, NULL, NULL);
    }
    free(body);
    /* The healthy listener has everything while the stalled one sleeps. */
    char last[32];
    snprintf(last, sizeof last, "\"id\":\"s%05d-", STALL_DOCS - 1);
    assert_true(l_wait_for(m, &ok, last, 10000));
    /* Now the stalled one reads: every row, once, in seq order. */
    if (!raw_read_until(fd, &raw, last, 20000)) {
        const char *x = raw.buf ? raw.buf : "";
        const char *tail = raw.len > 300 ? x + raw.len - 300 : x;
        fprintf(stderr, "stalled listener: %zu bytes, ends with: %s\n", raw.len, tail);
        fail();
    }
    /* ...up to the end of that row's line and chunk */
    raw_read_until(fd, &raw, "\n\r\n__never__", 300);
    char *hend = strstr(raw.buf, "\r\n\r\n");
    assert_non_null(hend);
    assert_non_null(strstr(raw.buf, "Transfer-Encoding: chunked"));
    size_t blen = 0;
    char *b0 = hend + 4;
    assert_true(dechunk(b0, raw.len - (size_t)(b0 - raw.buf), &blen));
    b0[blen] = '\0';
    static unsigned char seen[STALL_DOCS];
    memset(seen, 0, sizeof seen);
    unsigned long prev_seq = 0;
    int rows = 0;
    for (char *line = b0; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (*line) {
            unsigned long seq = 0;
            int k = -1;
            assert_int_equal(sscanf(line, "{\"seq\":%lu,\"id\":\"s%d-", &seq, &k), 2);
            assert_true(seq > prev_seq);
            prev_seq = seq;
            assert_true(k >= 0 && k < STALL_DOCS);
            assert_int_equal(seen[k], 0);
            seen[k] = 1;
            rows++;
        }
        line = nl ? nl + 1 : NULL;
    }
    assert_int_equal(rows, STALL_DOCS);
    close(fd);
    free(raw.buf);
    l_close(m, &ok);
    curl_multi_cleanup(m);
}

/* HTTP/1.0 gets no chunked framing: rows go out as plain lines. */
static void test_http10_continuous(void **state)
{
    (void)state;
    int fd = raw_open("GET /feeds/_changes?feed=continuous&since=now&heartbeat=20000 HTTP/1.0\r\n"
                      "\r\n", 0);
    tbuf raw = {NULL, 0};
    assert_true(raw_read_until(fd, &raw, "\r\n\r\n", 5000));
    raw_read_until(fd, &raw, "__never__", 200);
    put("/feeds/http10", "{}");
    assert_true(raw_read_until(fd, &raw, "\"id\":\"http10\"", 5000));
    char *hend = strstr(raw.buf, "\r\n\r\n");
    assert_null(strstr(raw.buf, "chunked"));
    assert_non_null(strstr(hend, "\n{\"seq\":"));
    close(fd);
    free(raw.buf);
}

/* Deleting a database ends the feeds parked on it. */
static void test_feed_on_deleted_db(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/gone", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    CURLM *m = curl_multi_init();
    listener c, lp;
    l_open(m, &c, "/gone/_changes?feed=continuous&since=now&heartbeat=20000");
    l_open(m, &lp, "/gone/_changes?feed=longpoll&since=now&timeout=20000");
    pump(m, 300, NULL, NULL);
    put("/gone/a", "{}");
    assert_true(l_wait_for(m, &c, "\"id\":\"a\"", 3000));
    r = t_req("DELETE", "/gone", NULL, true);
    T_EXPECT(r, 200);
    t_free(&r);
    assert_true(pump(m, 5000, is_done, &c));
    l_close(m, &c);
    l_close(m, &lp);
    curl_multi_cleanup(m);
}

/* Stopping with feeds parked: they end with last_seq, stop is prompt. */
static void test_graceful_stop(void **state)
{
    (void)state;
    t_stop();
    assert_int_equal(t_start_with(NULL), 0);
    tresp r = t_req("PUT", "/stopdb", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    CURLM *m = curl_multi_init();
    listener a, b;
    l_open(m, &a, "/stopdb/_changes?feed=continuous&heartbeat=10000");
    l_open(m, &b, "/stopdb/_changes?feed=longpoll&since=now&timeout=60000");
    pump(m, 300, NULL, NULL);
    assert_false(a.done);
    assert_false(b.done);
    /* Stop from another thread while we keep reading. */
    pthread_t th;
    double t0 = t_now_ms();
    assert_int_equal(pthread_create(&th, NULL, (void *(*)(void *))t_stop, NULL), 0);
    bool both = false;
    double end = t_now_ms() + 12000;
    while (!both && t_now_ms() < end) {
        pump(m, 50, NULL, NULL);
        both = a.done && b.done;
    }
    pthread_join(th, NULL);
    fprintf(stderr, "graceful stop took %.0f ms\n", t_now_ms() - t0);
    assert_true(both);
    assert_non_null(strstr(a.buf.buf, "{\"last_seq\":0"));
    assert_non_null(strstr(b.buf.buf, "\"last_seq\":0"));
    l_close(m, &a);
    l_close(m, &b);
    curl_multi_cleanup(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_feed),
        cmocka_unit_test(test_longpoll),
        cmocka_unit_test(test_continuous_and_eventsource),
        cmocka_unit_test(test_fanout),
        cmocka_unit_test(test_fanout_racing_writes),
        cmocka_unit_test(test_stalled_listener),
        cmocka_unit_test(test_http10_continuous),
        cmocka_unit_test(test_feed_on_deleted_db),
        cmocka_unit_test(test_graceful_stop),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
