/* bench_selector.c — cost of matching Mango selectors on a ~200-byte
 * document, of building collation sort keys, and of comparisons.
 * Run by hand on a release build: bench_selector [iterations]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_buf.h"
#include "st_collate.h"
#include "st_json.h"
#include "st_selector.h"

static const char DOC[] =
    "{\"_id\":\"order:2024-01-02:00042\",\"_rev\":\"3-9f2c1a\",\"type\":\"order\","
    "\"status\":\"paid\",\"total\":129.95,\"items\":[{\"sku\":\"A-1\",\"qty\":2},"
    "{\"sku\":\"B-7\",\"qty\":1}],\"customer\":{\"name\":\"Alice Martin\",\"city\":\"Lyon\"},"
    "\"tags\":[\"gift\",\"express\"]}";

static const char *const SELECTORS[][2] = {
    {"equality", "{\"type\":\"order\",\"status\":\"paid\"}"},
    {"typical", "{\"type\":\"order\",\"status\":{\"$in\":[\"open\",\"paid\"]},"
                "\"total\":{\"$gte\":100},\"customer.city\":\"Lyon\"}"},
    {"regex", "{\"type\":\"order\",\"customer.name\":{\"$regex\":\"^(?i)al\"}}"},
    {"elemMatch", "{\"items\":{\"$elemMatch\":{\"sku\":{\"$beginsWith\":\"B\"},"
                  "\"qty\":{\"$gt\":0}}},\"tags\":{\"$all\":[\"express\"]}}"},
    {"no match", "{\"type\":\"invoice\",\"total\":{\"$lt\":10}}"},
};

static double now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static st_json_doc *parse(const char *s)
{
    st_json_doc *d = NULL;
    st_error e;

    if (st_json_parse(s, strlen(s), NULL, &d, &e) != ST_OK) {
        fprintf(stderr, "parse: %s\n", e.reason);
        exit(1);
    }
    return d;
}

static void bench_match(long iters)
{
    st_json_doc *doc = parse(DOC);

    printf("document: %zu bytes\n", sizeof DOC - 1);
    for (size_t i = 0; i < sizeof SELECTORS / sizeof SELECTORS[0]; i++) {
        st_json_doc *sd = parse(SELECTORS[i][1]);
        st_selector *s = NULL;
        st_error e;
        bool m = false;
        long hits = 0;
        double t0, t1, t2;

        t0 = now_ns();
        for (long k = 0; k < iters / 10; k++) {
            if (st_selector_compile(st_json_doc_root(sd), &s, &e) != ST_OK) {
                fprintf(stderr, "compile: %s\n", e.reason);
                exit(1);
            }
            st_selector_free(s);
        }
        t1 = now_ns();
        if (st_selector_compile(st_json_doc_root(sd), &s, &e) != ST_OK)
            exit(1);
        for (long k = 0; k < iters; k++) {
            if (st_selector_match(s, st_json_doc_root(doc), &m) != ST_OK)
                exit(1);
            hits += m;
        }
        t2 = now_ns();
        printf("  %-10s match %7.1f ns  (compile %7.0f ns)  %s\n", SELECTORS[i][0],
               (t2 - t1) / (double)iters, (t1 - t0) / (double)(iters / 10),
               hits == iters ? "matches" : hits == 0 ? "no match" : "?");
        st_selector_free(s);
        st_json_doc_free(sd);
    }
    st_json_doc_free(doc);
}

static void bench_keys(long iters)
{
    static const char *const VALUES[][2] = {
        {"short string", "\"alice@example.com\""},
        {"integer", "12345"},
        {"decimal", "129.95"},
        {"[type, date, n]", "[\"order\",\"2024-01-02\",42]"},
    };
    st_buf key = ST_BUF_INIT;

    for (size_t i = 0; i < sizeof VALUES / sizeof VALUES[0]; i++) {
        st_json_doc *d = parse(VALUES[i][1]);
        double t0 = now_ns(), t1;

        for (long k = 0; k < iters; k++) {
            st_buf_reset(&key);
            if (st_collate_key(st_json_doc_root(d), ST_COLLATE_ICU, &key) != ST_OK)
                exit(1);
        }
        t1 = now_ns();
        printf("  key %-16s %7.1f ns  (%zu bytes)\n", VALUES[i][0], (t1 - t0) / (double)iters,
               key.len);
        st_json_doc_free(d);
    }
    st_buf_free(&key);
}

static void bench_compare(long iters)
{
    st_json_doc *d = parse("[\"alice@example.com\",\"alice@example.org\",129.95,130,"
                           "[\"order\",\"2024-01-02\",42],[\"order\",\"2024-01-02\",43]]");
    const st_json *v = st_json_doc_root(d)->u.items;
    const char *names[] = {"strings", "numbers", "arrays"};
    volatile int sink = 0;

    for (int i = 0; i < 3; i++) {
        double t0 = now_ns(), t1;

        for (long k = 0; k < iters; k++)
            sink += st_collate(&v[2 * i], &v[2 * i + 1], ST_COLLATE_ICU);
        t1 = now_ns();
        printf("  compare %-12s %7.1f ns\n", names[i], (t1 - t0) / (double)iters);
    }
    (void)sink;
    st_json_doc_free(d);
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 1000000;

    if (st_collate_init(NULL) != ST_OK)
        return 1;
    bench_match(iters);
    bench_keys(iters);
    bench_compare(iters);
    return 0;
}
