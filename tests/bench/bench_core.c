/* bench_core.c — the storage engine against plain SQLite, in one run.
 *
 *   bench_core [DIR] [N]     (defaults: a temp dir, 200000 documents)
 *
 * 1. bulk insert of N ~200-byte documents in batches of 1000 through core
 *    (JSON parse, rev hash, revision tree, body, group commit), next to a
 *    plain SQLite insert of the same (id, rev, seq, body) rows: the ceiling.
 * 2. durable single-document puts from 1 and from 16 threads (group commit).
 * 3. get by id, random ids.
 * 4. a full changes scan.
 * 5. bytes on disk per document against the raw JSON size.
 * Both sides use WAL with synchronous=FULL, a 16 MiB page cache and mmap.  Absolute numbers vary on a
 * shared machine; the ratios are what this measures.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st_db.h"

#define BATCH 1000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A ~200-byte document body with some variety. */
static int make_doc(char *out, size_t cap, unsigned i)
{
    return snprintf(out, cap,
                    "{\"_id\":\"doc%08u\",\"type\":\"order\",\"customer\":\"customer-%u\","
                    "\"total\":%u.%02u,\"items\":[{\"sku\":\"sku-%u\",\"qty\":%u},{\"sku\":"
                    "\"sku-%u\",\"qty\":%u}],\"status\":\"open\",\"note\":\"deliver between "
                    "nine and five\",\"created\":\"2026-11-23T10:%02u:%02uZ\"}",
                    i, i % 9973, i % 1000, i % 100, i % 541, i % 7 + 1, i % 877, i % 3 + 1,
                    i % 60, i % 60);
}

static void die(const char *what, const st_error *e)
{
    fprintf(stderr, "bench: %s: %s\n", what, e ? e->reason : "");
    exit(1);
}

static uint64_t file_bytes(const char *path)
{
    struct stat sb;
    uint64_t total = 0;
    char p[4200];
    const char *suffix[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        if (stat(p, &sb) == 0)
            total += (uint64_t)sb.st_size;
    }
    return total;
}

/* ---------------------------------------------------------- plain SQLite */

static double sqlite_insert(const char *path, unsigned n, uint64_t *bytes)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("sqlite open", NULL);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "PRAGMA cache_size=-16384; PRAGMA mmap_size=268435456;"
                     "CREATE TABLE docs(id TEXT PRIMARY KEY, rev TEXT, seq INTEGER, body TEXT)",
                 NULL, NULL, NULL);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "INSERT INTO docs VALUES(?,?,?,?)", -1, &s, NULL);
    char doc[512], id[32];
    double t0 = now();
    for (unsigned i = 0; i < n; i++) {
        if (i % BATCH == 0)
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        int len = make_doc(doc, sizeof doc, i);
        snprintf(id, sizeof id, "doc%08u", i);
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, "1-0123456789abcdef0123456789abcdef", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, i + 1);
        sqlite3_bind_text(s, 4, doc, len, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            die("sqlite insert", NULL);
        sqlite3_reset(s);
        if (i % BATCH == BATCH - 1 || i == n - 1)
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double t = now() - t0;
    sqlite3_finalize(s);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(db);
    *bytes = file_bytes(path);
    return n / t;
}

/* ----------------------------------------------------------------- core */

static double core_bulk(st_db *db, unsigned n)
{
    char doc[512];
    st_json_doc **parsed = calloc(BATCH, sizeof *parsed);
    st_write_req *reqs = calloc(BATCH, sizeof *reqs);
    st_write_result *res = calloc(BATCH, sizeof *res);
    st_error e;
    double t0 = now();
    for (unsigned base = 0; base < n; base += BATCH) {
        unsigned m = n - base < BATCH ? n - base : BATCH;
        for (unsigned k = 0; k < m; k++) {
            int len = make_doc(doc, sizeof doc, base + k);
            if (st_json_parse(doc, (size_t)len, NULL, &parsed[k], &e) != ST_OK)
                die("parse", &e);
            reqs[k] = (st_write_req){.doc = st_json_doc_root(parsed[k])};
        }
        if (st_db_write(db, reqs, m, 0, res, &e) != ST_OK)
            die("write", &e);
        for (unsigned k = 0; k < m; k++) {
            if (res[k].err.code != ST_OK)
                die("write row", &res[k].err);
            st_json_doc_free(parsed[k]);
        }
        st_write_results_free(res, m);
    }
    double t = now() - t0;
    free(parsed);
    free(reqs);
    free(res);
    return n / t;
}

typedef struct put_arg {
    st_db *db;
    unsigned thread;
    unsigned count;
    double deadline;
    unsigned done;
} put_arg;

static void *put_worker(void *p)
{
    put_arg *a = p;
    char doc[512];
    for (unsigned i = 0; i < a->count && now() < a->deadline; i++) {
        int len = make_doc(doc, sizeof doc, 10000000u + a->thread * 100000u + i);
        st_write_result r;
        st_error e;
        if (st_db_put_json(a->db, doc, (size_t)len, 0, &r, &e) != ST_OK)
            die("put", &e);
        st_write_results_free(&r, 1);
        a->done++;
    }
    return NULL;
}

static double core_puts(st_db *db, unsigned threads, unsigned per_thread, double seconds)
{
    pthread_t tid[64];
    put_arg args[64];
    double t0 = now();
    for (unsigned i = 0; i < threads; i++) {
        args[i] = (put_arg){db, i + (threads > 1 ? 1 : 0), per_thread, t0 + seconds, 0};
        pthread_create(&tid[i], NULL, put_worker, &args[i]);
    }
    unsigned total = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        total += args[i].done;
    }
    return total / (now() - t0);
}

typedef struct get_arg {
    st_db *db;
    unsigned n, gets, seed;
} get_arg;

static void *get_worker(void *p)
{
    get_arg *a = p;
    st_buf b = ST_BUF_INIT;
    char id[32];
    unsigned x = a->seed;
    for (unsigned i = 0; i < a->gets; i++) {
        x = x * 1103515245u + 12345u;
        snprintf(id, sizeof id, "doc%08u", (x >> 8) % a->n);
        st_buf_reset(&b);
        st_error e;
        if (st_db_get(a->db, id, NULL, &b, &e) != ST_OK)
            die("get", &e);
    }
    st_buf_free(&b);
    return NULL;
}

static double core_gets(st_db *db, unsigned n, unsigned threads, unsigned gets)
{
    pthread_t tid[8];
    get_arg args[8];
    double t0 = now();
    for (unsigned i = 0; i < threads; i++) {
        args[i] = (get_arg){db, n, gets, 7 + i};
        pthread_create(&tid[i], NULL, get_worker, &args[i]);
    }
    for (unsigned i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    return (double)threads * gets / (now() - t0);
}

static int count_row(void *ctx, const st_change_row *r)
{
    (*(unsigned *)ctx)++;
    return 0;
}

static double sqlite_gets(const char *path, unsigned n, unsigned gets)
{
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA cache_size=-16384; PRAGMA mmap_size=268435456", NULL, NULL, NULL);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "SELECT rev, seq, body FROM docs WHERE id = ?", -1, &s, NULL);
    char id[32];
    unsigned x = 7;
    size_t sum = 0;
    /* One read transaction for the whole loop: the ceiling for point reads. */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    double t0 = now();
    for (unsigned i = 0; i < gets; i++) {
        x = x * 1103515245u + 12345u;
        snprintf(id, sizeof id, "doc%08u", (x >> 8) % n);
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            sum += (size_t)sqlite3_column_bytes(s, 2);
        sqlite3_reset(s);
    }
    double t = now() - t0;
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return sum ? gets / t : 0;
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/settee-bench-XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
    unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 200000;
    char p_sql[4096], p_core[4096], p_puts[4096];
    snprintf(p_sql, sizeof p_sql, "%s/plain.sqlite", dir);
    snprintf(p_core, sizeof p_core, "%s/core.settee", dir);
    snprintf(p_puts, sizeof p_puts, "%s/puts.settee", dir);

    char doc[512];
    uint64_t raw = 0;
    for (unsigned i = 0; i < n; i++)
        raw += (uint64_t)make_doc(doc, sizeof doc, i);

    if (getenv("BENCH_PUTS_ONLY")) { /* for profiling group commit alone */
        st_db_options po;
        st_db_options_init(&po);
        po.create = true;
        st_db *pdb;
        st_error pe;
        if (st_db_open(p_puts, "puts", &po, &pdb, &pe) != ST_OK)
            die("open", &pe);
        printf("16 threads: %.0f puts/s\n", core_puts(pdb, 16, 500, 10.0));
        st_db_close(pdb);
        return 0;
    }
    uint64_t sql_bytes = 0;
    double sql_rate = getenv("BENCH_BULK_ONLY") ? 1 : sqlite_insert(p_sql, n, &sql_bytes);

    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    st_db *db;
    st_error e;
    if (st_db_open(p_core, "bench", &o, &db, &e) != ST_OK)
        die("open", &e);
    double core_rate = core_bulk(db, n);
    if (getenv("BENCH_BULK_ONLY")) { /* for profiling the write path alone */
        printf("bulk insert: %.0f docs/s\n", core_rate);
        st_db_close(db);
        return 0;
    }

    unsigned gets = n < 200000 ? n : 200000;
    double get1 = core_gets(db, n, 1, gets);
    double get2 = core_gets(db, n, 2, gets / 2);
    double sql_get = sqlite_gets(p_sql, n, gets);

    unsigned rows = 0;
    st_changes_opts co;
    st_changes_opts_init(&co);
    double t0 = now();
    if (st_db_changes(db, &co, count_row, &rows, NULL, NULL, &e) != ST_OK || rows != n)
        die("changes", &e);
    double scan = rows / (now() - t0);
    rows = 0;
    co.include_docs = true;
    t0 = now();
    if (st_db_changes(db, &co, count_row, &rows, NULL, NULL, &e) != ST_OK)
        die("changes", &e);
    double scan_docs = rows / (now() - t0);
    st_db_close(db);
    /* Settle the WAL into the file before measuring it. */
    sqlite3 *chk;
    sqlite3_open(p_core, &chk);
    sqlite3_exec(chk, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(chk);
    uint64_t core_bytes = file_bytes(p_core);

    if (st_db_open(p_puts, "puts", &o, &db, &e) != ST_OK)
        die("open", &e);
    double put1 = core_puts(db, 1, 2000, 10.0);
    double put16 = core_puts(db, 16, 500, 10.0);
    st_db_close(db);

    printf("settee core benchmark: %u documents, %.0f bytes of JSON each on average\n", n,
           (double)raw / n);
    printf("%-44s %12s %12s %8s\n", "measure", "settee", "reference", "ratio");
    printf("%-44s %12.0f %12.0f %7.0f%%\n", "bulk insert, docs/s (ref: plain SQLite)", core_rate,
           sql_rate, 100.0 * core_rate / sql_rate);
    printf("%-44s %12.0f %12.0f %7.0f%%\n", "get by id, 1 thread, docs/s (ref: SQLite)", get1,
           sql_get, 100.0 * get1 / sql_get);
    printf("%-44s %12.0f %12s %8s\n", "get by id, 2 threads, docs/s", get2, "", "");
    printf("%-44s %12.0f %12s %8s\n", "changes scan, rows/s", scan, "", "");
    printf("%-44s %12.0f %12s %8s\n", "changes scan with include_docs, rows/s", scan_docs, "", "");
    printf("%-44s %12.0f %12.0f %7.1fx\n", "durable puts/s: 16 threads (ref: 1 thread)", put16,
           put1, put16 / put1);
    printf("%-44s %12.0f %12.0f %7.2fx\n", "bytes on disk per doc (ref: raw JSON)",
           (double)core_bytes / n, (double)raw / n, (double)core_bytes / (double)raw);
    printf("%-44s %12.0f %12s %8s\n", "plain SQLite bytes per doc", (double)sql_bytes / n, "", "");
    if (argc <= 1) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: could not remove %s\n", dir);
    }
    return 0;
}
