/* test_http_writes.c — concurrent single-document writes, which the server
 * combines per database (writeq.c): many PUTs of one new document give
 * exactly one 201 and conflicts for the rest; many PUTs of distinct
 * documents are all written and durable; replicated (new_edits=false) and
 * normal writes in flight together each keep their own semantics; updates
 * racing on one revision give one winner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpc.h"

#define N_CONC 48

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

typedef struct put_req {
    CURL *e;
    struct curl_slist *h;
    tbuf body;
    long status;
} put_req;

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    return t_write(p, sz, n, ud);
}

/* Run n PUTs (paths[i], json[i]) at once on one multi handle. */
static void put_all(size_t n, char paths[][128], const char *const *json, put_req *out)
{
    CURLM *m = curl_multi_init();
    assert_non_null(m);
    for (size_t i = 0; i < n; i++) {
        put_req *r = &out[i];
        memset(r, 0, sizeof *r);
        char url[256];
        snprintf(url, sizeof url, "%s%s", t_base, paths[i]);
        r->e = curl_easy_init();
        r->h = curl_slist_append(NULL, "Content-Type: application/json");
        r->h = curl_slist_append(r->h, "Expect:");
        curl_easy_setopt(r->e, CURLOPT_URL, url);
        curl_easy_setopt(r->e, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(r->e, CURLOPT_POSTFIELDS, json[i]);
        curl_easy_setopt(r->e, CURLOPT_HTTPHEADER, r->h);
        curl_easy_setopt(r->e, CURLOPT_USERNAME, T_ADMIN);
        curl_easy_setopt(r->e, CURLOPT_PASSWORD, T_PASS);
        curl_easy_setopt(r->e, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(r->e, CURLOPT_WRITEDATA, &r->body);
        curl_easy_setopt(r->e, CURLOPT_TIMEOUT_MS, T_TIMEOUT_MS);
        curl_easy_setopt(r->e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(r->e, CURLOPT_NOPROXY, "*");
        curl_multi_add_handle(m, r->e);
    }
    double end = t_now_ms() + 20000;
    int running = 1;
    while (running && t_now_ms() < end) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    assert_int_equal(running, 0);
    for (size_t i = 0; i < n; i++) {
        put_req *r = &out[i];
        curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &r->status);
        curl_multi_remove_handle(m, r->e);
        curl_easy_cleanup(r->e);
        curl_slist_free_all(r->h);
    }
    curl_multi_cleanup(m);
}

static void free_all(size_t n, put_req *r)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].body.buf);
}

static long doc_count(const char *db)
{
    char path[64], v[32];
    snprintf(path, sizeof path, "/%s", db);
    tresp r = t_req("GET", path, NULL, false);
    T_EXPECT(r, 200);
    const char *p = strstr(r.body, "\"doc_count\":");
    assert_non_null(p);
    snprintf(v, sizeof v, "%s", p + 12);
    t_free(&r);
    return strtol(v, NULL, 10);
}

static void test_same_new_doc(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/w1", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    static char paths[N_CONC][128];
    const char *json[N_CONC];
    static put_req out[N_CONC];
    for (int i = 0; i < N_CONC; i++) {
        snprintf(paths[i], sizeof paths[i], "/w1/same");
        json[i] = "{\"v\":1}";
    }
    put_all(N_CONC, paths, json, out);
    int created = 0, conflicts = 0;
    for (int i = 0; i < N_CONC; i++) {
        created += out[i].status == 201;
        conflicts += out[i].status == 409;
    }
    assert_int_equal(created, 1);
    assert_int_equal(conflicts, N_CONC - 1);
    free_all(N_CONC, out);
    assert_int_equal(doc_count("w1"), 1);
}

static void test_distinct_docs_and_flags(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/w2", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    static char paths[N_CONC][128];
    const char *json[N_CONC];
    static put_req out[N_CONC];
    for (int i = 0; i < N_CONC; i++) {
        if (i % 3 == 0) { /* replicated: the given revision is stored as is */
            snprintf(paths[i], sizeof paths[i], "/w2/r%02d?new_edits=false", i);
            json[i] = "{\"_rev\":\"7-0123456789abcdef0123456789abcdef\",\"v\":2}";
        } else {
            snprintf(paths[i], sizeof paths[i], "/w2/d%02d", i);
            json[i] = "{\"v\":1}";
        }
    }
    put_all(N_CONC, paths, json, out);
    for (int i = 0; i < N_CONC; i++) {
        if (out[i].status != 201)
            fprintf(stderr, "%s: %ld %s\n", paths[i], out[i].status,
                    out[i].body.buf ? out[i].body.buf : "");
        assert_int_equal(out[i].status, 201);
        if (i % 3 == 0)
            assert_non_null(strstr(out[i].body.buf, "\"rev\":\"7-0123456789abcdef"));
        else
            assert_non_null(strstr(out[i].body.buf, "\"rev\":\"1-"));
    }
    free_all(N_CONC, out);
    assert_int_equal(doc_count("w2"), N_CONC);
    r = t_req("GET", "/w2/r03", NULL, false);
    T_EXPECT(r, 200);
    assert_non_null(strstr(r.body, "\"_rev\":\"7-0123456789abcdef0123456789abcdef\""));
    t_free(&r);
}

static void test_racing_updates(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/w3", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    r = t_req("PUT", "/w3/doc", "{\"v\":0}", true);
    T_EXPECT(r, 201);
    char rev[64];
    assert_true(t_json_str(r.body, "rev", rev, sizeof rev));
    t_free(&r);
    static char paths[N_CONC][128];
    const char *json[N_CONC];
    static put_req out[N_CONC];
    for (int i = 0; i < N_CONC; i++) {
        snprintf(paths[i], sizeof paths[i], "/w3/doc?rev=%s", rev);
        json[i] = "{\"v\":1}";
    }
    put_all(N_CONC, paths, json, out);
    int ok = 0, conflicts = 0;
    for (int i = 0; i < N_CONC; i++) {
        ok += out[i].status == 201;
        conflicts += out[i].status == 409;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(conflicts, N_CONC - 1);
    free_all(N_CONC, out);
    r = t_req("GET", "/w3/doc", NULL, false);
    T_EXPECT(r, 200);
    assert_non_null(strstr(r.body, "\"_rev\":\"2-"));
    t_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_new_doc),
        cmocka_unit_test(test_distinct_docs_and_flags),
        cmocka_unit_test(test_racing_updates),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
