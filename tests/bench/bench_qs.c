/* bench_qs.c — map throughput through the query-server pool.
 *
 *   bench_qs [N] [BATCH]     (defaults: 100000 documents, 1000 per call)
 *
 * Maps N ~200-byte documents with function(doc){ emit(doc.n % 100, 1); }
 * through settee-js: one process one document per round trip, one process
 * pipelined (BATCH documents per st_qs_map_docs call), and the same with two
 * processes in parallel (two threads, half the documents each).  Every
 * answer is checked.  SETTEE_JS overrides the settee-js binary.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "st_qs.h"

#ifndef BQ_SETTEE_JS
#define BQ_SETTEE_JS "settee-js"
#endif

static const char *MAP = "function(doc){ emit(doc.n % 100, 1); }";

typedef struct job {
    st_qs *qs;
    char **docs;
    size_t *lens;
    size_t from, to, batch;
    size_t bad;
    double cpu;          /* this thread's CPU seconds (the pool side) */
} job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A ~200-byte document like the ones bench_core stores. */
static size_t make_doc(char *out, size_t cap, unsigned i)
{
    return (size_t)snprintf(out, cap,
                            "{\"_id\":\"doc%08u\",\"_rev\":\"1-%08x%08x%08x%08x\",\"type\":\"order\","
                            "\"n\":%u,\"customer\":\"customer-%u\",\"total\":%u.%02u,"
                            "\"items\":[{\"sku\":\"sku-%u\",\"qty\":%u}],\"paid\":%s,\"note\":\"standard\"}",
                            i, i * 2654435761u, i ^ 0x5bd1e995u, i * 40503u, ~i, i, i % 977,
                            i % 500, i % 100, i % 1000, i % 7 + 1, i % 3 ? "true" : "false");
}

static void *run_job(void *arg)
{
    job *j = arg;
    st_qs_proc *p = NULL;
    st_qs_answer *out = calloc(j->batch, sizeof *out);
    double c0 = thread_cpu();
    st_error e;

    if (out == NULL || st_qs_checkout(j->qs, "javascript", NULL, &p, &e) != ST_OK ||
        st_qs_reset(p, NULL, &e) != ST_OK || st_qs_add_fun(p, MAP, strlen(MAP), &e) != ST_OK) {
        fprintf(stderr, "setup failed: %s\n", e.reason);
        exit(1);
    }
    for (size_t i = j->from; i < j->to; i += j->batch) {
        size_t n = j->to - i < j->batch ? j->to - i : j->batch;
        if (st_qs_map_docs(p, (const char *const *)j->docs + i, j->lens + i, n, out, &e) != ST_OK) {
            fprintf(stderr, "map failed: %s\n", e.reason);
            exit(1);
        }
        for (size_t k = 0; k < n; k++) {
            const st_json *rows = out[k].value ? &out[k].value->u.items[0] : NULL;
            int64_t key;
            if (rows == NULL || rows->len != 1 || !st_json_int64(&rows->u.items[0].u.items[0], &key) ||
                key != (int64_t)((i + k) % 100))
                j->bad++;
            st_qs_answer_free(&out[k]);
        }
    }
    st_qs_checkin(p);
    free(out);
    j->cpu = thread_cpu() - c0;
    return NULL;
}

static void measure(const char *label, st_qs *qs, char **docs, size_t *lens, size_t n,
                    unsigned procs, size_t batch)
{
    pthread_t th[2];
    job jobs[2];
    double t0, dt, cpu = 0;
    size_t bad = 0;

    t0 = now();
    for (unsigned t = 0; t < procs; t++) {
        jobs[t] = (job){qs, docs, lens, n * t / procs, n * (t + 1) / procs, batch, 0, 0};
        pthread_create(&th[t], NULL, run_job, &jobs[t]);
    }
    for (unsigned t = 0; t < procs; t++) {
        pthread_join(th[t], NULL);
        bad += jobs[t].bad;
        cpu += jobs[t].cpu;
    }
    dt = now() - t0;
    printf("%-44s %9.0f docs/s  (%.2f s, pool side %.2f us/doc%s)\n", label, (double)n / dt, dt,
           cpu / (double)n * 1e6, bad ? ", WRONG ANSWERS" : "");
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
    const char *js = getenv("SETTEE_JS") ? getenv("SETTEE_JS") : BQ_SETTEE_JS;
    char **docs = calloc(n, sizeof *docs);
    size_t *lens = calloc(n, sizeof *lens), total = 0;
    st_qs_options o;
    st_qs *qs = NULL;
    st_error e;

    for (size_t i = 0; i < n; i++) {
        docs[i] = malloc(320);
        lens[i] = make_doc(docs[i], 320, (unsigned)i);
        total += lens[i];
    }
    st_qs_options_init(&o);
    o.max_procs = 2;
    o.timeout_ms = 60000;
    if (st_qs_new(&o, &qs, &e) != ST_OK || st_qs_set_language(qs, "javascript", js, &e) != ST_OK) {
        fprintf(stderr, "pool: %s\n", e.reason);
        return 1;
    }
    printf("%zu documents of %zu bytes on average, %s\n", n, total / n, MAP);
    /* Warm both processes up (spawned, qs.js compiled) before timing. */
    measure("warm-up", qs, docs, lens, n < 2000 ? n : 2000, 2, batch);
    measure("1 process, one document per round trip", qs, docs, lens, n, 1, 1);
    measure("1 process, pipelined", qs, docs, lens, n, 1, batch);
    measure("2 processes, one document per round trip", qs, docs, lens, n, 2, 1);
    measure("2 processes, pipelined", qs, docs, lens, n, 2, batch);
    st_qs_free(qs);
    for (size_t i = 0; i < n; i++)
        free(docs[i]);
    free(docs);
    free(lens);
    return 0;
}
