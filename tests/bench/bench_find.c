/* bench_find.c — json indexes and _find, against CouchDB 3.5's figures.
 *
 *   bench_find [DIR] [N...]     (defaults: a temp dir, 100000 and 1000000)
 *
 * For each N, a fresh database of N ~200-byte documents (inserted in
 * batches of 1000 through core), then, timed through core's Mango API,
 * which the server's _find is a thin layer over (the documents are
 * rendered as the answer carries them):
 *   1. a full scan: a selector on an unindexed field, every document
 *      examined, a few returned (CouchDB: 1.9 s at 100,000);
 *   2. building a json index on one field: writing its design document,
 *      which builds the index in that write (CouchDB: 4.7 s, ~21k docs/s);
 *   3. an indexed range query returning 100 documents (CouchDB: ~20 ms),
 *      the median and worst of 50 runs over different ranges;
 *   4. the same query without the index (the full scan it would be).
 * The CouchDB figures are the ones given with the task, measured on this
 * kind of machine at 100,000 documents; the ratio column divides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st_db.h"
#include "st_mango.h"

#define BATCH 1000
#define QUERIES 50

static const double couch_scan_s = 1.9, couch_build_s = 4.7, couch_query_ms = 20;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const st_error *e)
{
    fprintf(stderr, "bench_find: %s: %s\n", what, e ? e->reason : "");
    exit(1);
}

/* ~200 bytes; "score" is a distinct integer per document, spread over the ids. */
static int make_doc(char *out, size_t cap, unsigned i, unsigned n)
{
    unsigned score = (unsigned)(((unsigned long long)i * 2654435761u) % n);
    return snprintf(out, cap,
                    "{\"_id\":\"doc%08u\",\"type\":\"user\",\"name\":\"user-%u\",\"score\":%u,"
                    "\"city\":\"city-%u\",\"age\":%u,\"tags\":[\"t%u\",\"t%u\"],\"active\":%s,"
                    "\"note\":\"somewhere between nine and five, most days\"}",
                    i, i, score, i % 97, 18 + i % 60, i % 13, i % 7, i % 3 ? "true" : "false");
}

static void fill(st_db *db, unsigned n)
{
    char (*docs)[320] = malloc(BATCH * sizeof *docs);
    st_json_doc **parsed = calloc(BATCH, sizeof *parsed);
    st_write_req *reqs = calloc(BATCH, sizeof *reqs);
    st_write_result *res = calloc(BATCH, sizeof *res);
    if (!docs || !parsed || !reqs || !res)
        die("memory", NULL);
    for (unsigned base = 0; base < n; base += BATCH) {
        unsigned m = n - base < BATCH ? n - base : BATCH;
        for (unsigned k = 0; k < m; k++) {
            int len = make_doc(docs[k], sizeof docs[k], base + k, n);
            if (st_json_parse(docs[k], (size_t)len, NULL, &parsed[k], NULL) != ST_OK)
                die("parse", NULL);
            reqs[k] = (st_write_req){.doc = st_json_doc_root(parsed[k])};
        }
        st_error e;
        if (st_db_write(db, reqs, m, 0, res, &e) != ST_OK)
            die("write", &e);
        st_write_results_free(res, m);
        for (unsigned k = 0; k < m; k++)
            st_json_doc_free(parsed[k]);
    }
    free(docs);
    free(parsed);
    free(reqs);
    free(res);
}

static int count_doc(void *ctx, const char *json, size_t len)
{
    (void)json;
    size_t *c = ctx;
    c[0]++;
    c[1] += len;
    return 0;
}

/* Run a _find body; the seconds it took, and how many documents came. */
static double find(st_db *db, const char *body, size_t *out_n, bool *out_indexed)
{
    st_json_doc *d = NULL;
    st_mango_query *q = NULL;
    st_mango_cursor *c = NULL;
    st_error e;
    double t0 = now();
    if (st_json_parse(body, strlen(body), NULL, &d, &e) != ST_OK ||
        st_mango_query_parse(st_json_doc_root(d), &q, &e) != ST_OK ||
        st_mango_find(db, q, &c, &e) != ST_OK)
        die("find", &e);
    size_t got[2] = {0, 0};
    bool done = false;
    while (!done)
        if (st_mango_next(c, 65536, count_doc, got, &done, &e) != ST_OK)
            die("next", &e);
    double t = now() - t0;
    if (out_indexed)
        *out_indexed = st_mango_warning(c) == NULL ||
                       !strstr(st_mango_warning(c), "No matching index");
    st_mango_cursor_free(c);
    st_mango_query_free(q);
    st_json_doc_free(d);
    *out_n = got[0];
    return t;
}

static void add_index(st_db *db, const char *field)
{
    char req[256];
    snprintf(req, sizeof req, "{\"index\":{\"fields\":[\"%s\"]}}", field);
    st_json_doc *b = NULL, *nd = NULL;
    st_mango_index_req rq;
    st_buf out = ST_BUF_INIT;
    bool same = false;
    st_error e;
    if (st_json_parse(req, strlen(req), NULL, &b, &e) != ST_OK ||
        st_mango_index_req_parse(st_json_doc_root(b), &rq, &e) != ST_OK ||
        st_mango_ddoc_add(&rq, NULL, &out, &same, &e) != ST_OK ||
        st_json_parse(out.data, out.len, NULL, &nd, &e) != ST_OK)
        die("index request", &e);
    st_write_req wr = {.doc = st_json_doc_root(nd), .id = rq.ddoc};
    st_write_result res;
    if (st_db_write(db, &wr, 1, 0, &res, &e) != ST_OK || res.err.code != ST_OK)
        die("index write", &e);
    st_write_results_free(&res, 1);
    st_json_doc_free(b);
    st_json_doc_free(nd);
    st_buf_free(&out);
    st_mango_index_req_clear(&rq);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and worst of QUERIES range queries of 100 documents. */
static void ranges(st_db *db, unsigned n, double *med, double *worst, bool *indexed)
{
    double t[QUERIES];
    for (int i = 0; i < QUERIES; i++) {
        unsigned lo = (unsigned)(((unsigned long long)i * 7919u * 1000u) % (n - 200));
        char q[256];
        snprintf(q, sizeof q, "{\"selector\":{\"score\":{\"$gte\":%u,\"$lt\":%u}},\"limit\":1000}",
                 lo, lo + 100);
        size_t got = 0;
        t[i] = find(db, q, &got, indexed);
        if (got != 100)
            die("range query did not return 100 documents", NULL);
    }
    qsort(t, QUERIES, sizeof *t, cmp_d);
    *med = t[QUERIES / 2];
    *worst = t[QUERIES - 1];
}

static void run(const char *dir, unsigned n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/bench-find-%u-%d.settee", dir, n, (int)getpid());
    unlink(path);
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    st_db *db = NULL;
    st_error e;
    if (st_db_open(path, "bench", &o, &db, &e) != ST_OK)
        die("open", &e);
    double t0 = now();
    fill(db, n);
    double fill_s = now() - t0;

    size_t got = 0;
    /* BENCH_FIND_REPEAT=N: the scan N times more (for a profiler). */
    const char *rep = getenv("BENCH_FIND_REPEAT");
    for (int i = rep ? atoi(rep) : 0; i > 0; i--)
        find(db, "{\"selector\":{\"city\":\"city-7\",\"age\":{\"$gt\":76}},"
                 "\"limit\":100000000}",
             &got, NULL);
    double scan_s = find(db, "{\"selector\":{\"city\":\"city-7\",\"age\":{\"$gt\":76}},"
                             "\"limit\":100000000}",
                         &got, NULL);
    size_t scan_n = got;
    double noidx_s = find(db, "{\"selector\":{\"score\":{\"$gte\":5000,\"$lt\":5100}},"
                              "\"limit\":1000}",
                          &got, NULL);
    if (got != 100)
        die("unindexed range", NULL);
    t0 = now();
    add_index(db, "score");
    double build_s = now() - t0;
    double med = 0, worst = 0;
    bool indexed = false;
    ranges(db, n, &med, &worst, &indexed);
    if (!indexed)
        die("the range query did not use the index", NULL);

    /* CouchDB's figures are for 100,000 documents: ratios only there. */
    bool same = n == 100000;
    char r1[32] = "", r2[32] = "", r3[32] = "";
    if (same) {
        snprintf(r1, sizeof r1, "%.1f× faster", couch_scan_s / scan_s);
        snprintf(r2, sizeof r2, "%.1f× faster", couch_build_s / build_s);
        snprintf(r3, sizeof r3, "%.0f× faster", couch_query_ms / (med * 1e3));
    }
    printf("\n%u documents (inserted at %.0f docs/s)\n", n, n / fill_s);
    printf("| measure | settee | CouchDB 3.5 (100k) | ratio |\n|---|---:|---:|---:|\n");
    printf("| full scan, selector on an unindexed field (%zu of %u returned) | %.3f s | %.1f s | "
           "%s |\n",
           scan_n, n, scan_s, couch_scan_s, r1);
    printf("| build a json index on one field | %.3f s (%.0f docs/s) | %.1f s | %s |\n",
           build_s, n / build_s, couch_build_s, r2);
    printf("| indexed range query, 100 documents (median of %d) | %.3f ms | %.0f ms | %s |\n",
           QUERIES, med * 1e3, couch_query_ms, r3);
    printf("| the same, worst of %d | %.3f ms | | |\n", QUERIES, worst * 1e3);
    printf("| the same range without the index (full scan) | %.3f s | | |\n", noidx_s);
    fflush(stdout);
    if (st_db_close(db) != ST_OK)
        die("close", NULL);
    unlink(path);
    char p2[4300];
    snprintf(p2, sizeof p2, "%s-wal", path);
    unlink(p2);
    snprintf(p2, sizeof p2, "%s-shm", path);
    unlink(p2);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    unsigned sizes[8] = {100000, 1000000};
    int ns = 2;
    if (argc > 2) {
        ns = 0;
        for (int i = 2; i < argc && ns < 8; i++)
            sizes[ns++] = (unsigned)strtoul(argv[i], NULL, 10);
    }
    for (int i = 0; i < ns; i++)
        if (sizes[i] >= 1000)
            run(dir, sizes[i]);
    return 0;
}
