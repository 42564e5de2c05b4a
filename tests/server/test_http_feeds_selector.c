/* test_http_feeds_selector.c — _changes?filter=_selector over real HTTP,
 * in every feed mode: CouchDB 3.5's errors and semantics (the selector
 * from the POST body only; judged on the winning revision; design
 * documents included; tombstones are {"_deleted":true}; a document that
 * stops matching just vanishes), settee's settee_removed=true, longpoll
 * waiting for a matching change only, and many continuous listeners with
 * their own selectors, each told about its own documents only (run with
 * the fan-out's direct writes and without them).  Every wait is bounded. */
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

static void rev_of(const char *path, char *rev, size_t cap)
{
    tresp r = t_req("GET", path, NULL, true);
    T_EXPECT(r, 200);
    assert_true(t_json_str(r.body, "_rev", rev, cap));
    t_free(&r);
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* ---- streaming listeners (POST bodies) on one curl multi handle ---------------- */

typedef struct listener {
    CURL *e;
    struct curl_slist *h;
    char *body;
    tbuf buf;
    bool done;
} listener;

static size_t l_write(char *p, size_t sz, size_t n, void *ud)
{
    return t_write(p, sz, n, &((listener *)ud)->buf);
}

static void l_open(CURLM *m, listener *l, const char *path, const char *body)
{
    char url[512];
    memset(l, 0, sizeof *l);
    snprintf(url, sizeof url, "%s%s", t_base, path);
    l->e = curl_easy_init();
    assert_non_null(l->e);
    l->body = strdup(body);
    l->h = curl_slist_append(NULL, "Content-Type: application/json");
    l->h = curl_slist_append(l->h, "Expect:");
    curl_easy_setopt(l->e, CURLOPT_URL, url);
    curl_easy_setopt(l->e, CURLOPT_POSTFIELDS, l->body);
    curl_easy_setopt(l->e, CURLOPT_HTTPHEADER, l->h);
    curl_easy_setopt(l->e, CURLOPT_WRITEFUNCTION, l_write);
    curl_easy_setopt(l->e, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(l->e, CURLOPT_PRIVATE, l);
    curl_easy_setopt(l->e, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(l->e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(l->e, CURLOPT_NOPROXY, "*");
    curl_multi_add_handle(m, l->e);
}

static void l_close(CURLM *m, listener *l)
{
    curl_multi_remove_handle(m, l->e);
    curl_easy_cleanup(l->e);
    curl_slist_free_all(l->h);
    free(l->body);
    free(l->buf.buf);
    memset(l, 0, sizeof *l);
}

static void pump(CURLM *m, double ms)
{
    double end = t_now_ms() + ms;
    do {
        int running = 0, left;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left))) {
            listener *l = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&l);
            if (msg->msg == CURLMSG_DONE && l)
                l->done = true;
        }
        curl_multi_poll(m, NULL, 0, 10, NULL);
    } while (t_now_ms() < end);
}

static bool wait_text(CURLM *m, listener *l, const char *needle, double ms)
{
    double end = t_now_ms() + ms;
    while (t_now_ms() < end) {
        if (l->buf.buf && strstr(l->buf.buf, needle))
            return true;
        pump(m, 10);
    }
    return l->buf.buf && strstr(l->buf.buf, needle);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/sel", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    r = t_req("GET", "/sel/_changes?filter=_selector", NULL, true);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "\"error\":\"bad_request\""));
    assert_true(t_has(&r, "\"reason\":\"Selector must be specified in POST payload\""));
    t_free(&r);
    r = t_req("POST", "/sel/_changes?filter=_selector", "{\"selector\":[]}", true);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "\"reason\":\"Selector error: expected a JSON object\""));
    t_free(&r);
    r = t_req("POST", "/sel/_changes?filter=_selector", "{}", true);
    T_EXPECT(r, 400);
    t_free(&r);
    r = t_req("POST", "/sel/_changes?filter=_selector", "{\"selector\":{\"a\":{\"$nope\":1}}}",
              true);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "\"error\":\"bad_request\""));
    t_free(&r);
    r = t_req("POST", "/sel/_changes?filter=_selector&feed=continuous",
              "{\"selector\":{\"a\":{\"$regex\":\"(\"}}}", true);
    T_EXPECT(r, 400);
    t_free(&r);
}

static void test_normal_semantics(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/seln", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    put("/seln/a", "{\"owner\":\"u1\"}");
    put("/seln/b", "{\"owner\":\"u2\"}");
    put("/seln/_design/d", "{\"owner\":\"u1\"}");
    put("/seln/c", "{\"owner\":\"u1\"}");
    char rev[64];
    rev_of("/seln/c", rev, sizeof rev);
    char path[160];
    snprintf(path, sizeof path, "/seln/c?rev=%s", rev);
    r = t_req("DELETE", path, NULL, true);
    T_EXPECT(r, 200);
    t_free(&r);
    /* Design documents included; the deleted one does not match a field. */
    r = t_req("POST", "/seln/_changes?filter=_selector", "{\"selector\":{\"owner\":\"u1\"}}", true);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"id\":\"a\""));
    assert_true(t_has(&r, "\"id\":\"_design/d\""));
    assert_false(t_has(&r, "\"id\":\"b\""));
    assert_false(t_has(&r, "\"id\":\"c\""));
    assert_true(t_has(&r, "\"last_seq\":5"));
    t_free(&r);
    /* Tombstones are {"_deleted":true}. */
    r = t_req("POST", "/seln/_changes?filter=_selector", "{\"selector\":{\"_deleted\":true}}", true);
    assert_true(t_has(&r, "\"id\":\"c\""));
    assert_true(t_has(&r, "\"deleted\":true"));
    assert_int_equal(count(r.body, "\"seq\""), 1);
    t_free(&r);
    /* include_docs, limit (counts matches only), descending. */
    r = t_req("POST", "/seln/_changes?filter=_selector&include_docs=true&limit=1",
              "{\"selector\":{\"owner\":\"u2\"}}", true);
    assert_true(t_has(&r, "\"doc\":{\"_id\":\"b\""));
    assert_int_equal(count(r.body, "\"seq\""), 1);
    t_free(&r);
    r = t_req("POST", "/seln/_changes?filter=_selector&descending=true",
              "{\"selector\":{\"owner\":\"u1\"}}", true);
    const char *d = strstr(r.body, "\"id\":\"_design/d\""), *a = strstr(r.body, "\"id\":\"a\"");
    assert_true(d && a && d < a);
    t_free(&r);
    /* A document that stops matching vanishes; settee_removed reports it. */
    rev_of("/seln/a", rev, sizeof rev);
    char body[128];
    snprintf(body, sizeof body, "{\"_rev\":\"%s\",\"owner\":\"u9\"}", rev);
    put("/seln/a", body);
    r = t_req("POST", "/seln/_changes?filter=_selector&since=1", "{\"selector\":{\"owner\":\"u1\"}}",
              true);
    assert_false(t_has(&r, "\"id\":\"a\""));
    assert_false(t_has(&r, "removed"));
    t_free(&r);
    r = t_req("POST", "/seln/_changes?filter=_selector&since=1&settee_removed=true",
              "{\"selector\":{\"owner\":\"u1\"}}", true);
    assert_true(t_has(&r, "\"id\":\"a\""));
    assert_true(t_has(&r, "\"removed\":true"));
    t_free(&r);
    /* From the start nothing is held: no removals then. */
    r = t_req("POST", "/seln/_changes?filter=_selector&settee_removed=true",
              "{\"selector\":{\"owner\":\"u1\"}}", true);
    assert_false(t_has(&r, "removed"));
    t_free(&r);
    /* {} is every document. */
    r = t_req("POST", "/seln/_changes?filter=_selector", "{\"selector\":{}}", true);
    assert_int_equal(count(r.body, "\"seq\""), 4);
    t_free(&r);
}

static void test_longpoll_and_continuous(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/sell", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    CURLM *m = curl_multi_init();
    listener lp, co, es, rm;
    l_open(m, &lp, "/sell/_changes?filter=_selector&feed=longpoll&since=now&timeout=20000",
           "{\"selector\":{\"owner\":\"u1\"}}");
    l_open(m, &co, "/sell/_changes?filter=_selector&feed=continuous&since=now&heartbeat=10000",
           "{\"selector\":{\"owner\":\"u1\"}}");
    l_open(m, &es, "/sell/_changes?filter=_selector&feed=eventsource&since=now&heartbeat=10000",
           "{\"selector\":{\"owner\":\"u1\"}}");
    l_open(m, &rm,
           "/sell/_changes?filter=_selector&feed=continuous&since=now&heartbeat=10000"
           "&settee_removed=true",
           "{\"selector\":{\"owner\":\"u1\"}}");
    pump(m, 500);
    /* A change for someone else: nobody hears of it, the longpoll waits on. */
    put("/sell/x", "{\"owner\":\"u2\"}");
    pump(m, 400);
    assert_false(lp.done);
    assert_false(co.buf.buf && strstr(co.buf.buf, "\"seq\""));
    put("/sell/y", "{\"owner\":\"u1\"}");
    assert_true(wait_text(m, &lp, "\"last_seq\"", 10000));
    assert_true(strstr(lp.buf.buf, "\"id\":\"y\"") != NULL);
    assert_true(strstr(lp.buf.buf, "\"id\":\"x\"") == NULL);
    assert_true(wait_text(m, &co, "\"id\":\"y\"", 10000));
    assert_true(wait_text(m, &es, "data: {\"seq\":2,\"id\":\"y\"", 10000));
    assert_true(wait_text(m, &es, "id: 2\n", 10000));
    assert_true(wait_text(m, &rm, "\"id\":\"y\"", 10000));
    /* y stops matching: the removal listener says so once, the others not. */
    char rev[64], body[128];
    rev_of("/sell/y", rev, sizeof rev);
    snprintf(body, sizeof body, "{\"_rev\":\"%s\",\"owner\":\"u2\"}", rev);
    put("/sell/y", body);
    assert_true(wait_text(m, &rm, "\"removed\":true", 10000));
    pump(m, 300);
    assert_true(strstr(co.buf.buf, "removed") == NULL);
    assert_int_equal(count(rm.buf.buf, "\"removed\":true"), 1);
    /* Deleting a matching document: a removal, and a deleted row for nobody else. */
    put("/sell/z", "{\"owner\":\"u1\"}");
    assert_true(wait_text(m, &rm, "\"id\":\"z\"", 10000));
    rev_of("/sell/z", rev, sizeof rev);
    char path[160];
    snprintf(path, sizeof path, "/sell/z?rev=%s", rev);
    tresp dr = t_req("DELETE", path, NULL, true);
    T_EXPECT(dr, 200);
    t_free(&dr);
    assert_true(wait_text(m, &rm, "\"deleted\":true,\"removed\":true", 10000));
    assert_true(wait_text(m, &co, "\"id\":\"z\"", 10000));
    pump(m, 200);
    assert_true(strstr(co.buf.buf, "\"deleted\":true") == NULL);
    l_close(m, &lp);
    l_close(m, &co);
    l_close(m, &es);
    l_close(m, &rm);
    curl_multi_cleanup(m);
}

#define N_OWNERS 120

/* Many parked listeners, one selector each: a write reaches its owner's
 * listener only, fast, and every write does. */
static void test_many_listeners(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/selm", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    CURLM *m = curl_multi_init();
    static listener ls[N_OWNERS];
    for (int i = 0; i < N_OWNERS; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"selector\":{\"owner\":\"user%d\"}}", i);
        l_open(m, &ls[i], "/selm/_changes?filter=_selector&feed=continuous&since=now"
                          "&heartbeat=20000",
               body);
    }
    double end = t_now_ms() + 15000;
    int ready = 0;
    while (t_now_ms() < end && ready < N_OWNERS) {
        pump(m, 30);
        ready = 0;
        for (int i = 0; i < N_OWNERS; i++)
            ready += ls[i].buf.len > 0;
    }
    assert_int_equal(ready, N_OWNERS);
    double worst = 0;
    for (int w = 0; w < 40; w++) {
        int owner = (w * 37) % N_OWNERS;
        char path[64], body[96], needle[64];
        snprintf(path, sizeof path, "/selm/w%d", w);
        snprintf(body, sizeof body, "{\"owner\":\"user%d\"}", owner);
        put(path, body);
        double acked = t_now_ms();
        snprintf(needle, sizeof needle, "\"id\":\"w%d\"", w);
        assert_true(wait_text(m, &ls[owner], needle, 10000));
        if (t_now_ms() - acked > worst)
            worst = t_now_ms() - acked;
    }
    pump(m, 300);
    for (int i = 0; i < N_OWNERS; i++) {
        size_t want = 0;
        for (int w = 0; w < 40; w++)
            want += (w * 37) % N_OWNERS == i;
        assert_int_equal(count(ls[i].buf.buf ? ls[i].buf.buf : "", "\"seq\""), want);
    }
    fprintf(stderr, "selector fan-out: %d listeners, slowest owner told %.1f ms after ack\n",
            N_OWNERS, worst);
    /* A listener with an unindexed selector hears about every match. */
    listener any;
    l_open(m, &any, "/selm/_changes?filter=_selector&feed=continuous&since=0&heartbeat=20000",
           "{\"selector\":{\"owner\":{\"$regex\":\"^user1\"}}}");
    assert_true(wait_text(m, &any, "\"id\":\"w", 10000));
    put("/selm/late", "{\"owner\":\"user17\"}");
    assert_true(wait_text(m, &any, "\"id\":\"late\"", 10000));
    l_close(m, &any);
    for (int i = 0; i < N_OWNERS; i++)
        l_close(m, &ls[i]);
    curl_multi_cleanup(m);
}

/* Listeners that come and go while writes stream in: nothing a listener
 * should see is lost, wherever its registration falls in a batch. */
static void test_registration_races(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/selr", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    CURLM *m = curl_multi_init();
    enum { N = 12 };
    static listener ls[N];
    for (int round = 0; round < N; round++) {
        /* A listener from the start (since=0) while the writer is busy. */
        l_open(m, &ls[round], "/selr/_changes?filter=_selector&feed=continuous&since=0"
                              "&heartbeat=20000",
               "{\"selector\":{\"k\":1}}");
        for (int i = 0; i < 10; i++) {
            char path[64], body[64];
            snprintf(path, sizeof path, "/selr/r%d-%d", round, i);
            snprintf(body, sizeof body, "{\"k\":%d}", i % 2);
            put(path, body);
            pump(m, 2);
        }
    }
    for (int i = 0; i < N; i++)
        assert_true(wait_text(m, &ls[i], "\"id\":\"r11-9\"", 15000)); /* the last k:1 */
    pump(m, 500);
    for (int i = 0; i < N; i++) {
        /* Every k:1 document once: 5 per round. */
        size_t got = count(ls[i].buf.buf ? ls[i].buf.buf : "", "\"seq\"");
        if (got != N * 5)
            fprintf(stderr, "listener %d saw %zu rows: %s\n", i, got, ls[i].buf.buf);
        assert_int_equal(got, N * 5);
        l_close(m, &ls[i]);
    }
    curl_multi_cleanup(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_normal_semantics),
        cmocka_unit_test(test_longpoll_and_continuous),
        cmocka_unit_test(test_many_listeners),
        cmocka_unit_test(test_registration_races),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
