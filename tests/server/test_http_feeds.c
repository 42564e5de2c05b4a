/* test_http_feeds.c — _changes in every feed mode over real HTTP:
 * normal (since, limit, descending, include_docs, doc_ids by GET and
 * POST, since=now), longpoll (wake-up and timeout), continuous and
 * eventsource (rows, heartbeats, timeout), many parked listeners woken by
 * one write, and a graceful stop with feeds open.  Every wait is bounded. */
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
    r = t_req("GET", "/feeds/_changes?filter=ddoc/f", NULL, false);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("GET", "/feeds/_changes?limit=-1", NULL, false);
    T_EXPECT(r, 400);
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
        cmocka_unit_test(test_graceful_stop),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
