/* bench_livequery.c — what a live query costs per write, through settee.h.
 *
 *   bench_livequery [DIR] [N] [WRITES]   (defaults: a temp dir, 10000, 2000)
 *
 * A database of N matching documents (~200 bytes each, a json index on
 * "score") and as many that do not match.  Each write updates one random
 * matching document (a new score: it moves in a sorted result, or leaves
 * and re-enters a limited one).  Measured per write, in this process, on
 * the calling thread (SETTEE_DISPATCH_MANUAL: the live query's work runs
 * inside settee_db_dispatch, so it is timed, not hidden on another
 * thread), from before the put until the app's callback has the change:
 *
 *   plain         the put alone, no live query registered;
 *   live, by _id  a live query of all N ({"kind":"t"}, no index: _id order);
 *   live, sorted  all N sorted by score through the index;
 *   live, top 100 sorted by score, limit 100, each write moving a member
 *                 of the window to a random score: it (mostly) leaves and
 *                 the next is read in (from the hidden slack, or from the
 *                 index when that ran out);
 *   re-run        the put, then settee_find of the sorted query (all N) —
 *                 what an app without live queries does to stay current.
 *
 * The variants run interleaved in rounds of WRITES/ROUNDS writes each, so
 * the machine's noise falls on all of them alike.  Reported per write: the
 * put; the cost of keeping the answer current -- for a live query the
 * settee_db_dispatch that read the change, placed it and called the app
 * (the app waits on the notify fd first, as a run loop does: that wait is
 * the wake's trip between threads, not work), for the reference the
 * settee_find re-run; that cost over the re-run's; and the wall time from
 * the put until the app has the answer.  Target (issue 12): a live query's update cost
 * per write ≤ 50 µs at 10,000 results.  Non-durable writes (no fsync), so
 * the commit does not drown what is measured.  Build in Release.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_testutil.h"

#define ROUNDS 5

static void die(const char *what, const settee_error *e)
{
    fprintf(stderr, "bench_livequery: %s: %s\n", what, e ? e->message : "");
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252u;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* ---- the documents -------------------------------------------------------------- */

typedef struct docs {
    size_t n;
    char (*rev)[40];      /* current rev of t<i> */
} docs;

static const char pad[] = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
                          "eiusmod tempor incididunt ut labore et dolore magna";

static void write_doc(settee_db *db, docs *d, size_t i)
{
    char j[512];
    snprintf(j, sizeof j,
             "{\"_id\":\"t%06zu\"%s%s%s,\"kind\":\"t\",\"score\":%u,\"owner\":\"user%u\","
             "\"text\":\"%s\"}",
             i, d->rev[i][0] ? ",\"_rev\":\"" : "", d->rev[i], d->rev[i][0] ? "\"" : "",
             rnd(1000000), rnd(1000), pad);
    char *rev = NULL;
    settee_error e;
    if (settee_doc_put(db, j, SETTEE_NUL_TERMINATED, &rev, &e) != SETTEE_OK)
        die("put", &e);
    snprintf(d->rev[i], sizeof d->rev[i], "%s", rev);
    settee_free(rev);
}

static void load(settee_db *db, docs *d, size_t n)
{
    settee_error e;
    d->n = n;
    d->rev = calloc(n, sizeof *d->rev);
    if (settee_index_create(db, "{\"index\":{\"fields\":[\"score\"]}}", SETTEE_NUL_TERMINATED,
                            NULL, NULL, NULL, &e) != SETTEE_OK)
        die("index", &e);
    /* In bulks of 500: matching documents and as many that do not match. */
    char *j = malloc(600 * 500);
    for (size_t at = 0; at < 2 * n; at += 500) {
        size_t k = 0;
        k += (size_t)sprintf(j + k, "{\"docs\":[");
        for (size_t i = at; i < at + 500 && i < 2 * n; i++) {
            if (i < n)
                k += (size_t)sprintf(j + k,
                                     "%s{\"_id\":\"t%06zu\",\"kind\":\"t\",\"score\":%u,"
                                     "\"owner\":\"user%u\",\"text\":\"%s\"}",
                                     i > at ? "," : "", i, rnd(1000000), rnd(1000), pad);
            else
                k += (size_t)sprintf(j + k,
                                     "%s{\"_id\":\"u%06zu\",\"kind\":\"u\",\"owner\":\"user%u\","
                                     "\"text\":\"%s\"}",
                                     i > at ? "," : "", i, rnd(1000), pad);
        }
        sprintf(j + k, "]}");
        char *res = NULL;
        if (settee_bulk_docs(db, j, SETTEE_NUL_TERMINATED, &res, &e) != SETTEE_OK)
            die("bulk", &e);
        /* The revs of the matching ones: {"ok":true,"id":"t000001","rev":"1-..."}. */
        for (const char *p = res; (p = strstr(p, "\"id\":\"t")) != NULL; p++) {
            size_t i = strtoul(p + 7, NULL, 10);
            const char *r = strstr(p, "\"rev\":\"");
            if (r && i < n)
                snprintf(d->rev[i], sizeof d->rev[i], "%.*s", (int)strcspn(r + 7, "\""), r + 7);
        }
        settee_free(res);
    }
    free(j);
}

/* ---- the variants ---------------------------------------------------------------- */

#define WINDOW 100

typedef struct counter {
    uint64_t calls;
    uint64_t changes;
    /* limited queries: the app's copy of the window (document numbers),
     * kept as settee.h says, to pick members to move out of it */
    bool keep;
    size_t win[WINDOW + 1], n_win;
} counter;

static void on_live(void *ctx, settee_db *db, const settee_live_change *ch, size_t n)
{
    counter *c = ctx;
    (void)db;
    c->calls++;
    c->changes += n;
    for (size_t i = 0; c->keep && i < n; i++) {
        size_t num = strtoul(ch[i].id + 1, NULL, 10);
        if (ch[i].op != SETTEE_LIVE_ADDED) {
            memmove(&c->win[ch[i].old_pos], &c->win[ch[i].old_pos + 1],
                    (c->n_win - ch[i].old_pos - 1) * sizeof c->win[0]);
            c->n_win--;
        }
        if (ch[i].op != SETTEE_LIVE_REMOVED) {
            if (c->n_win > WINDOW || ch[i].new_pos > c->n_win) /* one over while an entry pushes the last out */
                die("a change outside the window", NULL);
            memmove(&c->win[ch[i].new_pos + 1], &c->win[ch[i].new_pos],
                    (c->n_win - ch[i].new_pos) * sizeof c->win[0]);
            c->win[ch[i].new_pos] = num;
            c->n_win++;
        }
    }
}

static int on_found(void *ctx, const char *json, size_t len)
{
    (void)json;
    *(size_t *)ctx += len;
    return 0;
}

enum { PLAIN, BY_ID, SORTED, TOP100, RERUN, N_VARIANTS };

static const char *const names[N_VARIANTS] = {"plain put", "live, by _id (all)",
                                              "live, sorted (all)", "live, sorted, limit 100",
                                              "put + settee_find re-run (sorted, all)"};
static const char *const queries[N_VARIANTS] = {
    NULL,
    "{\"selector\":{\"kind\":\"t\"}}",
    "{\"selector\":{\"score\":{\"$gte\":0}},\"sort\":[\"score\"]}",
    "{\"selector\":{\"score\":{\"$gte\":0}},\"sort\":[\"score\"],\"limit\":100}",
    NULL,
};

typedef struct cost {
    uint64_t put_ns;      /* the puts */
    uint64_t update_ns;   /* keeping the answer current: the dispatch that told
                           * the live query, or the re-run */
    uint64_t wall_ns;     /* from before the put until the app has the answer */
    size_t n;
} cost;

/* writes writes under variant v, added to *c. */
static void run(settee_db *db, docs *d, int v, size_t writes, cost *out, size_t *out_results)
{
    settee_error e;
    counter c = {.keep = v == TOP100};
    settee_listener *tok = NULL;
    char rerun[256];
    snprintf(rerun, sizeof rerun, "%.*s,\"limit\":%zu}", (int)strlen(queries[SORTED]) - 1,
             queries[SORTED], d->n);
    struct pollfd p = {.fd = settee_db_notify_fd(db), .events = POLLIN};
    if (queries[v]) {
        if (settee_live_query_start(db, queries[v], SETTEE_NUL_TERMINATED, on_live, &c, &tok,
                                    &e) != SETTEE_OK)
            die("live query", &e);
        for (int i = 0; i < 1000 && c.calls == 0; i++) {
            (void)poll(&p, 1, 10);
            if (settee_db_dispatch(db) != SETTEE_OK)
                die("dispatch", NULL);
        }
        if (c.calls != 1)
            die("no initial result", NULL);
        *out_results = c.changes;
        c.changes = 0;
    }
    for (size_t w = 0; w < writes; w++) {
        /* Limited: a member of the window gets a new score, so it
         * (mostly) leaves and the next one is read in from the index. */
        size_t i = tok && c.keep ? c.win[rnd((uint32_t)c.n_win)] : rnd((uint32_t)d->n);
        uint64_t calls = c.calls;
        uint64_t t0 = now_ns();
        write_doc(db, d, i);
        uint64_t t1 = now_ns();
        out->put_ns += t1 - t0;
        if (tok) {
            /* As an app's run loop does: wait for the notify fd, then
             * dispatch; the dispatch is the live query's work (on this
             * thread, manual mode), the wait is the wake's trip. */
            for (int k = 0; k < 1000 && c.calls == calls; k++) {
                if (poll(&p, 1, 1000) != 1)
                    continue;
                uint64_t a = now_ns();
                if (settee_db_dispatch(db) != SETTEE_OK)
                    die("dispatch", NULL);
                out->update_ns += now_ns() - a;
            }
            if (c.calls == calls)
                die("the live query was not told", NULL);
        } else if (v == RERUN) {
            size_t bytes = 0;
            uint64_t a = now_ns();
            if (settee_find(db, rerun, SETTEE_NUL_TERMINATED, on_found, &bytes, NULL, NULL,
                            &e) != SETTEE_OK)
                die("find", &e);
            out->update_ns += now_ns() - a;
        }
        out->wall_ns += now_ns() - t0;
        out->n++;
    }
    settee_listener_remove(tok);
    (void)settee_db_dispatch(db); /* drain the notify fd */
}

int main(int argc, char **argv)
{
    char dir[4096], path[4200];
    bool own_dir = argc <= 1 || !argv[1][0]; /* "" too: a temp dir */
    if (own_dir)
        ct_tmpdir(dir, sizeof dir, "bench-lq");
    else
        snprintf(dir, sizeof dir, "%s", argv[1]);
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    size_t writes = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
    snprintf(path, sizeof path, "%s/lq.settee", dir);
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = false;
    o.dispatch = SETTEE_DISPATCH_MANUAL;
    settee_db *db = NULL;
    settee_error e;
    if (settee_db_open(path, &o, &db, &e) != SETTEE_OK)
        die("open", &e);
    docs d;
    uint64_t t0 = now_ns();
    load(db, &d, n);
    printf("bench_livequery: %zu matching + %zu other documents loaded in %.2f s; %zu writes "
           "per variant in %d rounds\n",
           n, n, (double)(now_ns() - t0) / 1e9, writes, ROUNDS);
    cost c[N_VARIANTS];
    memset(c, 0, sizeof c);
    size_t results[N_VARIANTS] = {0};
    /* The re-run costs a whole query per write: fewer of them. */
    size_t per_round = writes / ROUNDS, rerun_per_round = per_round / 10 ? per_round / 10 : 1;
    for (int r = 0; r < ROUNDS; r++)
        for (int v = 0; v < N_VARIANTS; v++)
            run(db, &d, v, v == RERUN ? rerun_per_round : per_round, &c[v], &results[v]);
    double rerun_us = (double)c[RERUN].update_ns / 1000.0 / (double)c[RERUN].n;
    printf("\n  %-40s %10s %14s %12s %16s\n", "µs per write", "put", "keeping current",
           "/ re-run's", "put → app told");
    for (int v = 0; v < N_VARIANTS; v++) {
        double put = (double)c[v].put_ns / 1000.0 / (double)c[v].n;
        double upd = (double)c[v].update_ns / 1000.0 / (double)c[v].n;
        double wall = (double)c[v].wall_ns / 1000.0 / (double)c[v].n;
        if (v == PLAIN)
            printf("  %-40s %10.1f %14s %12s %16s\n", names[v], put, "-", "-", "-");
        else
            printf("  %-40s %10.1f %14.1f %12.5f %16.1f\n", names[v], put, upd, upd / rerun_us,
                   wall);
    }
    printf("\n  results held: by _id %zu, sorted %zu, top %zu.  Target: a live query's update "
           "cost <= 50 µs per write at 10,000 results.\n",
           results[BY_ID], results[SORTED], results[TOP100]);
    if (settee_db_close(db) != SETTEE_OK)
        die("close", NULL);
    free(d.rev);
    if (own_dir)
        ct_rmdir(dir);
    return 0;
}
