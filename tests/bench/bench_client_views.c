/* bench_client_views.c — views through libsettee (settee.h only), the
 * issue's workload, to set beside bench_view (core alone): what the
 * embedding adds is the parameter object parsed and each row written as
 * JSON text for the callback.
 *
 *   bench_client_views [N]     (default 100000 documents)
 *
 * Stores N ~200-byte documents, then times: building
 * function(doc){ emit(doc.n % 100, 1); } with _count (CouchDB 3.5: 10.1 s
 * for 100,000, ~9,900 docs/s); a key-range query returning 100 map rows;
 * a group_level reduce over the whole view; one write followed by an
 * update=true query.  Every answer is checked.  SETTEE_JS names settee-js
 * (default: this build's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "settee.h"

#ifndef BCV_SETTEE_JS
#define BCV_SETTEE_JS "settee-js"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(settee_status rc, const char *what, const settee_error *e)
{
    if (rc != SETTEE_OK) {
        fprintf(stderr, "%s: %s\n", what, e->message);
        exit(1);
    }
}

typedef struct count {
    size_t rows;
    char last[256];
} count;

static int on_row(void *ctx, const settee_view_row *r)
{
    count *c = ctx;
    c->rows++;
    snprintf(c->last, sizeof c->last, "%.*s", (int)r->json_len, r->json);
    return 0;
}

static double query(settee_db *db, const char *params, count *c)
{
    settee_error e;
    memset(c, 0, sizeof *c);
    double t0 = now();
    check(settee_view_query(db, "b", "v", params, SETTEE_NUL_TERMINATED, on_row, c, NULL, &e),
          "query", &e);
    return now() - t0;
}

/* Best of k runs, in ms. */
static double best(settee_db *db, const char *params, count *c, int k)
{
    double b = 1e9;
    for (int i = 0; i < k; i++) {
        double t = query(db, params, c);
        b = t < b ? t : b;
    }
    return b * 1e3;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (n < 200 || n > 10000000) {
        fprintf(stderr, "N between 200 and 10000000\n");
        return 2;
    }
    if (!getenv("SETTEE_JS"))
        setenv("SETTEE_JS", BCV_SETTEE_JS, 1);
    char dir[] = "/tmp/bench-client-views-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[256];
    snprintf(path, sizeof path, "%s/v.db", dir);
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = false;
    settee_db *db = NULL;
    settee_error e;
    check(settee_db_open(path, &o, &db, &e), "open", &e);

    /* N documents of ~200 bytes, 1000 per bulk. */
    size_t cap = 1000 * 260 + 64;
    char *bulk = malloc(cap);
    for (long i = 0; i < n;) {
        size_t len = (size_t)snprintf(bulk, cap, "[");
        for (int k = 0; k < 1000 && i < n; k++, i++)
            len += (size_t)snprintf(bulk + len, cap - len,
                                    "%s{\"_id\":\"doc%07ld\",\"n\":%ld,\"name\":\"item %ld\","
                                    "\"pad\":\"%0150d\"}",
                                    k ? "," : "", i, i, i, 0);
        snprintf(bulk + len, cap - len, "]");
        check(settee_bulk_docs(db, bulk, SETTEE_NUL_TERMINATED, NULL, &e), "bulk", &e);
    }
    free(bulk);
    check(settee_doc_put(db,
                         "{\"_id\":\"_design/b\",\"views\":{\"v\":{\"map\":"
                         "\"function(doc){ emit(doc.n % 100, 1); }\",\"reduce\":\"_count\"}}}",
                         SETTEE_NUL_TERMINATED, NULL, &e),
          "ddoc", &e);

    count c;
    double build = query(db, "{\"limit\":0,\"reduce\":false}", &c);
    printf("build %ld docs: %.2f s (%.0f docs/s; CouchDB 3.5: 10.1 s, ~9,900 docs/s)\n", n,
           build, (double)n / build);

    double range = best(db, "{\"startkey\":7,\"endkey\":7,\"limit\":100,\"reduce\":false}", &c, 20);
    if (c.rows != 100)
        return fprintf(stderr, "range: %zu rows\n", c.rows), 1;
    printf("key range, 100 map rows: %.3f ms (target <= 2 ms)\n", range);

    double grouped = best(db, "{\"group_level\":1}", &c, 20);
    if (c.rows != 100)
        return fprintf(stderr, "group: %zu rows\n", c.rows), 1;
    printf("group_level=1 reduce, 100 rows: %.3f ms (target <= 5 ms)  last %s\n", grouped, c.last);

    double whole = best(db, NULL, &c, 20);
    printf("reduce over the whole view: %.3f ms  %s\n", whole, c.last);

    double inc = 1e9;
    for (int i = 0; i < 20; i++) {
        char doc[128];
        snprintf(doc, sizeof doc, "{\"_id\":\"extra%d\",\"n\":%d}", i, 7);
        check(settee_doc_put(db, doc, SETTEE_NUL_TERMINATED, NULL, &e), "put", &e);
        double t = query(db, "{\"key\":7,\"reduce\":true}", &c) * 1e3;
        inc = t < inc ? t : inc;
    }
    printf("one write, then an update=true query: %.3f ms (target <= 5 ms)  %s\n", inc, c.last);

    check(settee_db_close(db), "close", NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
