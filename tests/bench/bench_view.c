/* bench_view.c — views in core, the workload.
 *
 *   bench_view [N]     (default 100000 documents)
 *
 * Stores N ~200-byte documents, then times: building the view
 * function(doc){ emit(doc.n % 100, 1); } with _count (CouchDB 3.5 took
 * 10.1 s for 100,000: ~9,900 docs/s); a key-range query returning 100 map
 * rows; a group=true reduce over the whole view (and group=false); one
 * write followed by the update a query with update=true makes.  Every
 * answer is checked.  SETTEE_JS overrides the settee-js binary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "st_db.h"
#include "st_qs.h"
#include "st_view.h"

#ifndef BV_SETTEE_JS
#define BV_SETTEE_JS "settee-js"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const st_error *e)
{
    fprintf(stderr, "%s: %s\n", what, e->reason);
    exit(1);
}

typedef struct count {
    size_t rows;
    char last[256];
} count;

static int on_row(void *ctx, const st_view_row *r)
{
    count *c = ctx;
    c->rows++;
    snprintf(c->last, sizeof c->last, "%.*s=%.*s", (int)r->key_len, r->key, (int)r->value_len,
             r->value);
    return 0;
}

/* Run p to the end; the seconds it took. */
static double run(st_views *vs, st_db *db, const st_view_params *p, count *c, bool update)
{
    st_view *v = NULL;
    st_error e;
    st_view_cursor cur;
    double t0 = now();
    if (st_view_open(vs, db, "_design/b", "v", &v, &e) != ST_OK)
        die("open", &e);
    if (update && st_view_update(v, &e) != ST_OK)
        die("update", &e);
    st_view_cursor_init(&cur);
    st_view_sink s = {NULL, on_row, c};
    memset(c, 0, sizeof *c);
    while (!cur.done)
        if (st_view_query(v, p, &cur, &s, &e) != ST_OK)
            die("query", &e);
    st_view_cursor_free(&cur);
    st_view_close(v);
    return now() - t0;
}

/* The machine's busy and stolen CPU seconds so far (/proc/stat): on a
 * shared virtual machine a build's wall time says little unless what the
 * host took from it is known. */
static void machine_cpu(double *busy, double *steal)
{
    unsigned long long u = 0, ni = 0, sy = 0, id = 0, io = 0, irq = 0, sirq = 0, st = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &ni, &sy, &id, &io, &irq,
                   &sirq, &st) != 8)
            u = ni = sy = irq = sirq = st = 0;
        fclose(f);
    }
    double hz = (double)sysconf(_SC_CLK_TCK);
    *busy = (double)(u + ni + sy + irq + sirq) / hz;
    *steal = (double)st / hz;
}

static st_json_doc *J(const char *s)
{
    st_json_doc *d = NULL;
    st_json_parse(s, strlen(s), NULL, &d, NULL);
    return d;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    const char *js = getenv("SETTEE_JS") ? getenv("SETTEE_JS") : BV_SETTEE_JS;
    char path[256];
    snprintf(path, sizeof path, "/tmp/bench_view-%d.settee", (int)getpid());
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    o.durability = ST_DURABLE_NORMAL;
    st_db *db = NULL;
    st_error e;
    if (st_db_open(path, "bench", &o, &db, &e) != ST_OK)
        die("db", &e);
    /* Documents in batches of 1000, as a bulk load would come. */
    st_write_req *reqs = calloc(1000, sizeof *reqs);
    st_write_result *res = calloc(1000, sizeof *res);
    st_json_doc **docs = calloc(1000, sizeof *docs);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i += 1000) {
        size_t k = n - i < 1000 ? n - i : 1000;
        for (size_t j = 0; j < k; j++) {
            char buf[320];
            unsigned x = (unsigned)(i + j);
            int len = snprintf(buf, sizeof buf,
                               "{\"_id\":\"doc%08u\",\"type\":\"order\",\"n\":%u,\"customer\":"
                               "\"customer-%u\",\"total\":%u.%02u,\"items\":[{\"sku\":\"sku-%u\","
                               "\"qty\":%u}],\"paid\":%s,\"note\":\"standard delivery\"}",
                               x, x, x % 977, x % 500, x % 100, x % 1000, x % 7 + 1,
                               x % 3 ? "true" : "false");
            bytes += (size_t)len;
            docs[j] = J(buf);
            reqs[j] = (st_write_req){.doc = st_json_doc_root(docs[j])};
        }
        if (st_db_write(db, reqs, k, 0, res, &e) != ST_OK)
            die("write", &e);
        st_write_results_free(res, k);
        for (size_t j = 0; j < k; j++)
            st_json_doc_free(docs[j]);
    }
    const char *ddoc = "{\"_id\":\"_design/b\",\"views\":{\"v\":{\"map\":"
                       "\"function(doc){ emit(doc.n % 100, 1); }\",\"reduce\":\"_count\"}}}";
    st_write_result r;
    if (st_db_put_json(db, ddoc, strlen(ddoc), 0, &r, &e) != ST_OK)
        die("ddoc", &e);
    st_write_results_free(&r, 1);
    printf("%zu documents of %zu bytes on average; emit(doc.n %% 100, 1) with _count\n", n,
           bytes / n);

    st_qs_options qo;
    st_qs_options_init(&qo);
    qo.timeout_ms = 60000;
    st_qs *qs = NULL;
    st_views *vs = NULL;
    if (st_qs_new(&qo, &qs, &e) != ST_OK || st_qs_set_language(qs, "javascript", js, &e) != ST_OK ||
        st_views_new(qs, NULL, &vs, &e) != ST_OK)
        die("pool", &e);

    st_view_params p;
    count c;
    st_view_params_init(&p);
    p.reduce = 0;
    p.limit = 1;
    if (argc > 2 && strcmp(argv[2], "load") == 0)
        goto out; /* only the documents: for CPU accounting */
    double busy0, steal0, busy1, steal1;
    machine_cpu(&busy0, &steal0);
    double t = run(vs, db, &p, &c, true);
    machine_cpu(&busy1, &steal1);
    printf("%-46s %8.2f s  %9.0f docs/s (CouchDB 3.5: 10.1 s, 9,900 docs/s)\n", "build", t,
           (double)n / t);
    printf("%-46s %8.2f s busy, %.2f s stolen by the host\n", "  machine CPU during the build",
           busy1 - busy0, steal1 - steal0);
    bool only_build = argc > 2 && strcmp(argv[2], "build") == 0;

    if (only_build)
        goto out;
    /* key=42 holds n/100 rows: a range of 100 of them. */
    st_view_params_init(&p);
    p.reduce = 0;
    st_json_doc *k42 = J("42");
    p.start_key = p.end_key = st_json_doc_root(k42);
    p.start_docid = "doc00050042";
    p.limit = 100;
    double best = 1e9;
    for (int i = 0; i < 50; i++) {
        t = run(vs, db, &p, &c, true);
        best = t < best ? t : best;
    }
    printf("%-46s %8.3f ms (%zu rows)\n", "key range, 100 rows (best of 50)", best * 1e3, c.rows);

    st_view_params_init(&p);
    p.group = 1;
    best = 1e9;
    for (int i = 0; i < 20; i++) {
        t = run(vs, db, &p, &c, true);
        best = t < best ? t : best;
    }
    printf("%-46s %8.3f ms (%zu groups, last %s)\n", "group=true reduce, whole view (best of 20)",
           best * 1e3, c.rows, c.last);
    st_view_params_init(&p);
    p.group_level = 1;
    best = 1e9;
    for (int i = 0; i < 20; i++) {
        t = run(vs, db, &p, &c, true);
        best = t < best ? t : best;
    }
    printf("%-46s %8.3f ms (%zu groups)\n", "group_level=1 reduce, whole view (best of 20)",
           best * 1e3, c.rows);
    st_view_params_init(&p);
    best = 1e9;
    for (int i = 0; i < 20; i++) {
        t = run(vs, db, &p, &c, true);
        best = t < best ? t : best;
    }
    printf("%-46s %8.3f ms (%s)\n", "reduce, whole view (best of 20)", best * 1e3, c.last);

    /* One write, then the next update=true query. */
    best = 1e9;
    for (int i = 0; i < 20; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "{\"_id\":\"new%d\",\"n\":%d}", i, i);
        if (st_db_put_json(db, buf, strlen(buf), 0, &r, &e) != ST_OK)
            die("write", &e);
        st_write_results_free(&r, 1);
        st_view_params_init(&p);
        st_json_doc *k = J(buf + strlen(buf) - 2 - (i > 9));
        p.start_key = p.end_key = st_json_doc_root(k);
        t = run(vs, db, &p, &c, true);
        best = t < best ? t : best;
        st_json_doc_free(k);
    }
    printf("%-46s %8.3f ms\n", "one write, then an update=true reduce (best)", best * 1e3);
    st_json_doc_free(k42);
out:
    st_views_free(vs);
    st_qs_free(qs);
    st_db_close(db);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-wal %s-shm %s-views", path, path, path, path);
    if (system(cmd) != 0)
        return 1;
    free(reqs);
    free(res);
    free(docs);
    return 0;
}
