/* test_http_compact.c — compaction through the one writer: _compact answers
 * 202 at once and runs in the background, in slices between other writes;
 * clients writing, compacting and reading at the same time all get their
 * 201/202/200 (never 500 "database is locked"); a write that arrives while
 * a compaction runs waits at most a slice, far from the 10 s busy timeout;
 * compaction really drops old revision bodies and gives space back.
 * Every loop is bounded in count and time. */
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

static long json_num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static bool compacting(const char *db)
{
    char path[128];
    snprintf(path, sizeof path, "/%s", db);
    tresp r = t_req("GET", path, NULL, true);
    bool running = r.status == 200 && t_has(&r, "\"compact_running\":true");
    t_free(&r);
    return running;
}

static void wait_compacted(const char *db)
{
    double start = t_now_ms();
    while (compacting(db) && t_now_ms() - start < 60000)
        usleep(20000);
    assert_false(compacting(db));
}

/* n documents, each updated `revs` times, with a 4 KB attachment on the
 * first revision: old bodies and attachment rows for compaction to drop. */
static void load(const char *db, int n, int revs)
{
    char path[128];
    snprintf(path, sizeof path, "/%s", db);
    tresp r = t_req("PUT", path, NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    char *body = malloc((size_t)n * 8192 + 64);
    char *revids = calloc((size_t)n, 64);
    assert_non_null(body);
    assert_non_null(revids);
    char att[5500];
    memset(att, 'A', 5460);
    att[5460] = '\0'; /* base64 of 4095 bytes */
    for (int v = 0; v < revs; v++) {
        size_t o = (size_t)sprintf(body, "{\"docs\":[");
        for (int i = 0; i < n; i++) {
            o += (size_t)sprintf(body + o, "%s{\"_id\":\"d%05d\",\"v\":%d", i ? "," : "", i, v);
            if (v)
                o += (size_t)sprintf(body + o, ",\"_rev\":\"%s\"", revids + (size_t)i * 64);
            if (v == 0)
                o += (size_t)sprintf(body + o, ",\"_attachments\":{\"a.bin\":{\"content_type\":"
                                               "\"application/octet-stream\",\"data\":\"%s\"}}",
                                     att);
            else
                o += (size_t)sprintf(body + o, ",\"_attachments\":{\"a.bin\":{\"stub\":true}}");
            body[o++] = '}';
        }
        o += (size_t)sprintf(body + o, "]}");
        snprintf(path, sizeof path, "/%s/_bulk_docs", db);
        r = t_req_full("POST", path, body, o, "application/json", true, NULL);
        T_EXPECT(r, 201);
        const char *p = r.body;
        for (int i = 0; i < n && (p = strstr(p, "\"rev\":\"")); i++) {
            p += 7;
            size_t len = strcspn(p, "\"");
            snprintf(revids + (size_t)i * 64, 64, "%.*s", (int)len, p);
        }
        t_free(&r);
    }
    free(body);
    free(revids);
}

typedef struct client {
    int id;
    int rounds;
    int bad;             /* answers other than the expected ones */
    char last_bad[160];
} client;

static void *busy_client(void *arg)
{
    client *c = arg;
    for (int i = 0; i < c->rounds; i++) {
        char path[96];
        snprintf(path, sizeof path, "/busy/c%d-%d", c->id, i);
        tresp r = t_req("PUT", path, "{\"x\":1}", true);
        if (r.status != 201) {
            c->bad++;
            snprintf(c->last_bad, sizeof c->last_bad, "PUT %ld %s", r.status, r.body ? r.body : "");
        }
        t_free(&r);
        r = t_req_full("POST", "/busy/_compact", NULL, 0, "application/json", true, NULL);
        if (r.status != 202) {
            c->bad++;
            snprintf(c->last_bad, sizeof c->last_bad, "compact %ld %s", r.status,
                     r.body ? r.body : "");
        }
        t_free(&r);
        r = t_req("GET", "/busy", NULL, true);
        if (r.status != 200) {
            c->bad++;
            snprintf(c->last_bad, sizeof c->last_bad, "GET %ld %s", r.status, r.body ? r.body : "");
        }
        t_free(&r);
    }
    return NULL;
}

/* Eight clients each doing PUT + _compact + GET info, all at once. */
static void test_compact_under_load(void **state)
{
    (void)state;
    load("busy", 300, 3);
    enum { N = 8 };
    pthread_t t[N];
    client c[N];
    for (int i = 0; i < N; i++) {
        c[i] = (client){.id = i, .rounds = 25};
        pthread_create(&t[i], NULL, busy_client, &c[i]);
    }
    int bad = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (c[i].bad)
            fprintf(stderr, "client %d: %s\n", i, c[i].last_bad);
        bad += c[i].bad;
    }
    assert_int_equal(bad, 0);
    wait_compacted("busy");
    tresp r = t_req("GET", "/busy", NULL, true);
    T_EXPECT(r, 200);
    assert_int_equal(json_num(r.body, "doc_count"), 300 + N * 25);
    t_free(&r);
}

/* A write during a compaction waits for a slice, not for the compaction;
 * and the compaction drops what it should. */
static void test_write_during_compaction(void **state)
{
    (void)state;
    load("big", 2000, 4);
    tresp r = t_req("GET", "/big", NULL, true);
    T_EXPECT(r, 200);
    long file_before = json_num(strstr(r.body, "\"sizes\""), "file");
    t_free(&r);
    r = t_req("GET", "/big/d00007?revs_info=true", NULL, true);
    T_EXPECT(r, 200);
    const char *ri = strstr(r.body, "\"_revs_info\"");
    assert_non_null(ri);
    char old_rev[80] = "";
    const char *second = strstr(ri + 20, "{\"rev\":\"");
    assert_non_null(second);
    snprintf(old_rev, sizeof old_rev, "%.*s", (int)strcspn(second + 8, "\""), second + 8);
    t_free(&r);

    r = t_req_full("POST", "/big/_compact", NULL, 0, "application/json", true, NULL);
    T_EXPECT(r, 202);
    t_free(&r);
    /* A second request while one runs is a no-op that still answers 202. */
    r = t_req_full("POST", "/big/_compact", NULL, 0, "application/json", true, NULL);
    T_EXPECT(r, 202);
    t_free(&r);
    double worst = 0;
    int puts = 0;
    double start = t_now_ms();
    do {
        char path[64];
        snprintf(path, sizeof path, "/big/during-%d", puts++);
        double t0 = t_now_ms();
        r = t_req("PUT", path, "{\"during\":true}", true);
        double took = t_now_ms() - t0;
        T_EXPECT(r, 201);
        t_free(&r);
        if (took > worst)
            worst = took;
    } while (compacting("big") && puts < 2000 && t_now_ms() - start < 60000);
    fprintf(stderr, "%d PUTs during compaction, slowest %.1f ms\n", puts, worst);
    /* The busy timeout is 10 s; a slice is milliseconds.  2 s leaves room
     * for a loaded machine while still failing the old behaviour. */
    assert_true(worst < 2000);
    wait_compacted("big");
    r = t_req("GET", "/big", NULL, true);
    T_EXPECT(r, 200);
    long file_after = json_num(strstr(r.body, "\"sizes\""), "file");
    assert_int_equal(json_num(r.body, "doc_count"), 2000 + puts);
    t_free(&r);
    assert_true(file_after < file_before);
    /* The old revision's body is gone (CouchDB answers missing after compaction). */
    char path[160];
    snprintf(path, sizeof path, "/big/d00007?rev=%s", old_rev);
    r = t_req("GET", path, NULL, true);
    T_EXPECT(r, 404);
    t_free(&r);
    /* The current revision and its attachment are intact. */
    r = t_req("GET", "/big/d00007/a.bin", NULL, true);
    T_EXPECT(r, 200);
    assert_int_equal(r.len, 4095);
    t_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_under_load),
        cmocka_unit_test(test_write_during_compaction),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
