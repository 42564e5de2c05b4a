/* bench_client.c — what an app embedding libsettee pays, through settee.h.
 *
 *   bench_client [DIR] [N]       (defaults: a temp dir, 100000 documents)
 *
 * 1. Resident memory: this same binary re-executed twice, once doing nothing
 *    ("bare") and once holding the N-document database open with a listener
 *    and a continuous two-way sync to `settee serve` running, caught up
 *    (IDLE), after 100 more writes went through -- measured at rest, and
 *    again after a full scan (all_docs with every body) filled the caches.
 *    Reported: VmRSS of each and the difference (target: under 8 MiB), plus
 *    the live process's peak.  Default options (settee_db_options_init).
 * 2. Local write → listener: one put at a time, the time from the put call
 *    (and from its return) until this process's listener is told; p50/p99.
 * 3. Client → client through the server: two databases with continuous
 *    syncs to one `settee serve`; a put on A, the time until B's listener
 *    sees it; p50/p99 (target: p99 under 50 ms).
 * 4. Reads by cache setting (settee_db_options cache_kib / mmap_kib), each
 *    in a fresh child process on the N-document file: a full scan with
 *    bodies (twice), random single-document gets, and the resident size
 *    afterwards.  The OS page cache is warm for all of them (the file was
 *    just written and read), as it is for an app re-reading its data.
 * The server is the real binary (settee serve) on a free 127.0.0.1 port,
 * stopped by PID at the end.  Build in Release for numbers worth quoting.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_testutil.h"

static void die(const char *what, const settee_error *e)
{
    fprintf(stderr, "bench_client: %s: %s\n", what, e ? e->message : "");
    exit(1);
}

static long rss_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0)
            v = strtol(line + klen, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *us, size_t n)
{
    qsort(us, n, sizeof *us, cmp_u64);
    printf("  %-44s p50 %8.3f ms   p99 %8.3f ms   max %8.3f ms  (n=%zu)\n", what,
           (double)us[n / 2] / 1000.0, (double)us[(n * 99) / 100] / 1000.0,
           (double)us[n - 1] / 1000.0, n);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------ a waiting listener */

typedef struct probe {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char want[64];        /* id being waited for */
    uint64_t seen_at;     /* now_us() when the listener saw it */
} probe;

static void probe_init(probe *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
}

static void on_change(void *ctx, settee_db *db, const settee_change *ch, size_t n)
{
    probe *p = ctx;
    uint64_t t = now_us();
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++)
        if (p->want[0] && strcmp(ch[i].id, p->want) == 0 && !p->seen_at) {
            p->seen_at = t;
            pthread_cond_broadcast(&p->cond);
        }
    pthread_mutex_unlock(&p->mu);
}

static void probe_arm(probe *p, const char *id)
{
    pthread_mutex_lock(&p->mu);
    snprintf(p->want, sizeof p->want, "%s", id);
    p->seen_at = 0;
    pthread_mutex_unlock(&p->mu);
}

/* Wait (at most 10 s) for the armed id; returns the time it was seen. */
static uint64_t probe_wait(probe *p)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&p->mu);
    while (!p->seen_at)
        if (pthread_cond_timedwait(&p->cond, &p->mu, &dl) != 0)
            break;
    uint64_t t = p->seen_at;
    pthread_mutex_unlock(&p->mu);
    if (!t)
        die("a change never reached the listener", NULL);
    return t;
}

/* ------------------------------------------------------------- helpers */

static settee_db *open_db_with(const char *path, bool durable, unsigned cache_kib, int mmap_kib)
{
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = durable;
    o.cache_kib = cache_kib;
    o.mmap_kib = mmap_kib;
    settee_db *db = NULL;
    settee_error e;
    if (settee_db_open(path, &o, &db, &e) != SETTEE_OK)
        die("open", &e);
    return db;
}

static settee_db *open_db(const char *path, bool durable)
{
    return open_db_with(path, durable, 0, 0); /* the defaults */
}

static int count_row(void *ctx, const settee_doc_row *row)
{
    size_t *n = ctx;
    *n += row->json_len ? 1 : 0;
    return 0;
}

/* Every document with its body, in id order; returns the rows seen. */
static size_t full_scan(settee_db *db)
{
    settee_all_docs_options o;
    settee_all_docs_options_init(&o);
    o.include_docs = true;
    size_t n = 0;
    settee_error e;
    if (settee_all_docs(db, &o, count_row, &n, &e) != SETTEE_OK)
        die("all_docs", &e);
    return n;
}

static settee_sync *start_sync(settee_db *db, const char *url, bool continuous)
{
    settee_sync_config c;
    settee_sync_config_init(&c);
    c.url = url;
    c.user = CT_ADMIN;
    c.password = CT_PASS;
    c.continuous = continuous;
    settee_sync *s = NULL;
    settee_error e;
    if (settee_sync_start(db, &c, &s, &e) != SETTEE_OK)
        die("sync", &e);
    return s;
}

static bool sync_in(settee_sync *s, settee_sync_state want, unsigned timeout_ms)
{
    for (uint64_t t0 = ts_now_ms(); ts_now_ms() - t0 < timeout_ms; ts_sleep_ms(20)) {
        settee_sync_status st;
        if (settee_sync_get_status(s, &st) == SETTEE_OK && st.state == want && st.pending == 0)
            return true;
    }
    return false;
}

static void put_doc(settee_db *db, const char *id, unsigned i)
{
    char j[256];
    snprintf(j, sizeof j, "{\"_id\":\"%s\",\"title\":\"task %u\",\"done\":false,\"n\":%u}", id, i, i);
    settee_error e;
    if (settee_doc_put(db, j, SETTEE_NUL_TERMINATED, NULL, &e) != SETTEE_OK)
        die("put", &e);
}

static void fill(settee_db *db, unsigned n)
{
    enum { BATCH = 1000 };
    char *buf = malloc(BATCH * 260 + 16);
    for (unsigned base = 0; base < n; base += BATCH) {
        size_t off = (size_t)sprintf(buf, "[");
        for (unsigned i = base; i < base + BATCH && i < n; i++)
            off += (size_t)sprintf(buf + off,
                                   "%s{\"_id\":\"doc%08u\",\"title\":\"task %u\",\"done\":%s,"
                                   "\"tags\":[\"home\",\"t%u\"],\"updated_at\":%u}",
                                   i == base ? "" : ",", i, i, i % 3 ? "false" : "true", i % 17,
                                   1700000000u + i);
        sprintf(buf + off, "]");
        settee_error e;
        if (settee_bulk_docs(db, buf, SETTEE_NUL_TERMINATED, NULL, &e) != SETTEE_OK)
            die("bulk", &e);
    }
    free(buf);
}

/* ------------------------------------------------ child modes (re-exec) */

static int mode_bare(void)
{
    printf("%ld %ld\n", rss_kib("VmRSS:"), rss_kib("VmHWM:"));
    return 0;
}

static int mode_live(const char *path, const char *url)
{
    settee_db *db = open_db(path, true);
    probe p;
    probe_init(&p);
    settee_listener *l = NULL;
    settee_error e;
    if (settee_listener_add(db, on_change, &p, &l, &e) != SETTEE_OK)
        die("listener", &e);
    settee_sync *s = start_sync(db, url, true);
    if (!sync_in(s, SETTEE_SYNC_IDLE, 120000))
        die("live sync never became idle", NULL);
    for (unsigned i = 0; i < 100; i++) {
        char id[32];
        snprintf(id, sizeof id, "live%04u", i);
        probe_arm(&p, id);
        put_doc(db, id, i);
        probe_wait(&p);
    }
    if (!sync_in(s, SETTEE_SYNC_IDLE, 60000))
        die("live sync did not settle", NULL);
    ts_sleep_ms(1000);
    long rest = rss_kib("VmRSS:"), rest_hwm = rss_kib("VmHWM:");
    uint64_t t0 = now_us();
    size_t rows = full_scan(db);
    uint64_t scan_us = now_us() - t0;
    ts_sleep_ms(200);
    printf("%ld %ld %ld %ld %zu %llu\n", rest, rest_hwm, rss_kib("VmRSS:"), rss_kib("VmHWM:"),
           rows, (unsigned long long)scan_us);
    fflush(stdout);
    settee_sync_free(s);
    settee_listener_remove(l);
    settee_db_close(db);
    return 0;
}

static void fill(settee_db *db, unsigned n);

/* One cache setting: two full scans and random gets on the big file, then
 * bulk writes into a fresh one (the writer's cache holds the indexes). */
static int mode_reads(const char *path, unsigned cache_kib, int mmap_kib, unsigned n)
{
    enum { GETS = 20000 };
    settee_db *db = open_db_with(path, true, cache_kib, mmap_kib);
    uint64_t t0 = now_us();
    size_t rows = full_scan(db);
    uint64_t scan1 = now_us() - t0;
    t0 = now_us();
    rows += full_scan(db);
    uint64_t scan2 = now_us() - t0;
    unsigned seed = 12345;
    t0 = now_us();
    for (unsigned i = 0; i < GETS; i++) {
        char id[32];
        seed = seed * 1103515245u + 12345u;
        snprintf(id, sizeof id, "doc%08u", (seed >> 8) % n);
        char *json = NULL;
        settee_error e;
        if (settee_doc_get(db, id, NULL, &json, &e) != SETTEE_OK)
            die("get", &e);
        settee_free(json);
    }
    uint64_t gets = now_us() - t0;
    long rss = rss_kib("VmRSS:"), hwm = rss_kib("VmHWM:");
    settee_db_close(db);
    char wpath[4200];
    snprintf(wpath, sizeof wpath, "%s-w%u-%d", path, cache_kib, mmap_kib);
    settee_db *w = open_db_with(wpath, false, cache_kib, mmap_kib);
    t0 = now_us();
    fill(w, n);
    uint64_t writes = now_us() - t0;
    settee_db_close(w);
    char cmd[13000];
    snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm'", wpath, wpath, wpath);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", wpath);
    printf("%llu %llu %llu %ld %ld %zu %llu\n", (unsigned long long)scan1,
           (unsigned long long)scan2, (unsigned long long)(gets * 1000 / GETS), rss, hwm, rows,
           (unsigned long long)writes);
    fflush(stdout);
    return 0;
}

/* Run this binary with args; its one line of numbers into v[0..n). */
static bool run_child(const char *self, const char *args, long long *v, int n)
{
    char cmd[12800];
    snprintf(cmd, sizeof cmd, "'%s' %s", self, args);
    FILE *f = popen(cmd, "r");
    int got = 0;
    while (f && got < n && fscanf(f, "%lld", &v[got]) == 1)
        got++;
    if (f)
        pclose(f);
    return got == n;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--bare") == 0)
        return mode_bare();
    if (argc == 4 && strcmp(argv[1], "--live") == 0)
        return mode_live(argv[2], argv[3]);
    if (argc == 6 && strcmp(argv[1], "--reads") == 0)
        return mode_reads(argv[2], (unsigned)strtoul(argv[3], NULL, 10), atoi(argv[4]),
                          (unsigned)strtoul(argv[5], NULL, 10));

    char dir[4096];
    if (argc >= 2) {
        snprintf(dir, sizeof dir, "%s", argv[1]);
    } else {
        snprintf(dir, sizeof dir, "/tmp/bench_client-XXXXXX");
        if (!mkdtemp(dir))
            die("mkdtemp", NULL);
    }
    unsigned n = argc >= 3 ? (unsigned)strtoul(argv[2], NULL, 10) : 100000;
    setenv("SETTEE_TEST_TMP", dir, 1);
    ct_server srv;
    if (!ct_server_start(&srv, "srv"))
        die("cannot start settee serve (set SETTEE_BIN)", NULL);
    char url[256], url2[256];
    snprintf(url, sizeof url, "%s/bench", srv.url);
    snprintf(url2, sizeof url2, "%s/latency", srv.url);
    printf("bench_client: settee %s, %u documents, server %s\n", settee_version(), n, srv.url);

    /* 1. memory */
    char path[4300];
    snprintf(path, sizeof path, "%s/big.settee", dir);
    {
        uint64_t t0 = ts_now_ms();
        settee_db *db = open_db(path, false);
        fill(db, n);
        printf("  prep: %u documents written in %.1f s", n, (double)(ts_now_ms() - t0) / 1000.0);
        fflush(stdout);
        t0 = ts_now_ms();
        settee_sync *s = start_sync(db, url, false);
        if (!sync_in(s, SETTEE_SYNC_STOPPED, 600000))
            die("initial sync did not finish", NULL);
        settee_sync_status st;
        if (settee_sync_get_status(s, &st) != SETTEE_OK)
            die("status", NULL);
        printf(", first sync (push %llu, pull %llu) in %.1f s\n",
               (unsigned long long)st.docs_pushed, (unsigned long long)st.docs_pulled,
               (double)(ts_now_ms() - t0) / 1000.0);
        settee_sync_free(s);
        settee_db_close(db);
    }
    long long bare[2], live[6];
    char args[8400];
    if (!run_child(argv[0], "--bare", bare, 2))
        die("bare child failed", NULL);
    snprintf(args, sizeof args, "--live '%s' '%s'", path, url);
    if (!run_child(argv[0], args, live, 6))
        die("live child failed", NULL);
    printf("\n1. resident memory (VmRSS), default options\n");
    printf("  bare program                               %8.2f MiB\n", bare[0] / 1024.0);
    printf("  %u docs open + listener + live sync     %8.2f MiB (peak %.2f MiB)\n", n,
           live[0] / 1024.0, live[1] / 1024.0);
    printf("  difference                                 %8.2f MiB   (target < 8 MiB)\n",
           (live[0] - bare[0]) / 1024.0);
    printf("  same, after a full scan (%lld bodies, %.2f s) %8.2f MiB (peak %.2f MiB)\n", live[4],
           live[5] / 1e6, live[2] / 1024.0, live[3] / 1024.0);
    printf("  difference after the scan                  %8.2f MiB   (target < 8 MiB)\n",
           (live[2] - bare[0]) / 1024.0);

    /* 2. local write → listener */
    printf("\n2. local write -> listener (same process, settee thread)\n");
    enum { LOCAL = 1000, REMOTE = 300 };
    uint64_t *lat = calloc(LOCAL, sizeof *lat), *lat2 = calloc(LOCAL, sizeof *lat2);
    for (int durable = 1; durable >= 0; durable--) {
        char lpath[4300];
        snprintf(lpath, sizeof lpath, "%s/local%d.settee", dir, durable);
        settee_db *db = open_db(lpath, durable);
        probe p;
        probe_init(&p);
        settee_listener *l = NULL;
        settee_error e;
        if (settee_listener_add(db, on_change, &p, &l, &e) != SETTEE_OK)
            die("listener", &e);
        for (unsigned i = 0; i < LOCAL; i++) {
            char id[32];
            snprintf(id, sizeof id, "w%06u", i);
            probe_arm(&p, id);
            uint64_t t0 = now_us();
            put_doc(db, id, i);
            uint64_t t1 = now_us();
            uint64_t seen = probe_wait(&p);
            lat[i] = seen - t0;
            lat2[i] = seen > t1 ? seen - t1 : 0;
        }
        report(durable ? "put call -> listener (durable: fsync)" : "put call -> listener (not durable)",
               lat, LOCAL);
        report("put returned -> listener", lat2, LOCAL);
        settee_listener_remove(l);
        settee_db_close(db);
    }

    /* 3. client A → server → client B */
    printf("\n3. write on client A -> listener on client B, through settee serve\n");
    char pa[4300], pb[4300];
    snprintf(pa, sizeof pa, "%s/a.settee", dir);
    snprintf(pb, sizeof pb, "%s/b.settee", dir);
    settee_db *a = open_db(pa, true), *b = open_db(pb, true);
    probe p;
    probe_init(&p);
    settee_listener *lb = NULL;
    settee_error e;
    if (settee_listener_add(b, on_change, &p, &lb, &e) != SETTEE_OK)
        die("listener", &e);
    put_doc(a, "warmup", 0); /* creates the remote database through a's push */
    probe_arm(&p, "warmup");
    settee_sync *sa = start_sync(a, url2, true), *sb = start_sync(b, url2, true);
    probe_wait(&p);
    if (!sync_in(sa, SETTEE_SYNC_IDLE, 30000) || !sync_in(sb, SETTEE_SYNC_IDLE, 30000))
        die("syncs never became idle", NULL);
    for (unsigned i = 0; i < REMOTE; i++) {
        char id[32];
        snprintf(id, sizeof id, "x%06u", i);
        probe_arm(&p, id);
        uint64_t t0 = now_us();
        put_doc(a, id, i);
        lat[i] = probe_wait(&p) - t0;
        ts_sleep_ms(5); /* a person's pace, not a bulk load */
    }
    report("put on A -> listener on B (target p99 < 50 ms)", lat, REMOTE);
    settee_sync_free(sa);
    settee_sync_free(sb);
    settee_listener_remove(lb);
    settee_db_close(a);
    settee_db_close(b);
    free(lat);
    free(lat2);

    /* 4. reads by cache setting */
    printf("\n4. reads by cache setting (%u docs; each row a fresh process)\n", n);
    printf("  %-34s %9s %9s %9s %11s %11s\n", "cache_kib / mmap_kib", "scan 1", "scan 2",
           "get (us)", "RSS - bare", "bulk write");
    static const struct {
        const char *name;
        unsigned cache;
        int mmap;
    } cfgs[] = {
        {"default (0 / 0)", 0, 0},
        {"1024 / off", 1024, -1},
        {"2048 / off", 2048, -1},
        {"4096 / off", 4096, -1},
        {"16384 / off", 16384, -1},
        {"16384 / 262144 (core's defaults)", 16384, 262144},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        long long r[7];
        snprintf(args, sizeof args, "--reads '%s' %u %d %u", path, cfgs[i].cache, cfgs[i].mmap,
                 n);
        if (!run_child(argv[0], args, r, 7))
            die("reads child failed", NULL);
        printf("  %-34s %6.0f ms %6.0f ms %9.1f %7.2f MiB %7.0f ms\n", cfgs[i].name, r[0] / 1e3,
               r[1] / 1e3, r[2] / 1e3, (r[3] - bare[0]) / 1024.0, r[6] / 1e3);
    }
    ct_server_stop(&srv);
    if (argc < 2) { /* the scratch directory this run made (not one under it) */
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
