/* alloc_sweep.c — allocation failure, swept (issue 10): for each of a few
 * representative core operations (create, an all-or-nothing write with an
 * attachment, a replicated write with a gzip attachment, purge, _local,
 * read, changes + all_docs, _revs_diff + _bulk_get, _find through a json
 * index, compaction; the database has that index, so every write keeps it
 * current), fail its
 * 1st allocation, then its 2nd, and so on, every N, until it runs to the
 * end without meeting the failure.  Each time, whatever the operation
 * returns must be an error or the right answer, nothing may leak, no file
 * may be left next to the database, and what is on disk afterwards must be
 * the old state or the new one, never half of it (checked by reopening
 * with no failures).
 *
 * The mechanism, as SQLite's test_malloc.c: this program defines malloc,
 * calloc, realloc, free and the aligned forms, so every allocation of the
 * process goes through them — core's own, SQLite's, yajl's, OpenSSL's,
 * glibc's strdup — and forwards them to glibc (__libc_malloc & co.).  While
 * armed, the Nth call returns NULL (once).  Every block allocated during a
 * run is remembered until freed, so a leak is a block still held when the
 * run has closed everything (blocks older than the run that it frees, such
 * as caches let go, do not count).  That is why this one test is built
 * without AddressSanitizer (whose allocator would sit in front of these
 * functions), against a copy of core built the same way
 * (tests/CMakeLists.txt).
 *
 * Bounded: each operation's sweep stops at the first N it survives whole
 * (about 4,700 runs in all, the create alone about 2,100); SWEEP_MAX caps N
 * in case an operation never ends.  Every N is swept, none skipped: with
 * the files in shared memory (below) the whole sweep takes well under a
 * minute (on a disk, a few minutes: the syncs of thousands of creates).
 * ICU's allocations and pthread_create's are failed but not counted (see
 * icu_malloc and pthread_create below: state of the writer pool's threads).
 *
 * Debugging: SWEEP_ONLY=write sweeps one operation, SWEEP_ONLY=write:73
 * runs one case and prints where the failing allocation and each leaked
 * block were made;
 * SWEEP_TRACE=1 does that for a whole sweep (slower); SWEEP_VERBOSE=1
 * prints each operation's allocation count.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unicode/uclean.h>

#include "st_db.h"
#include "st_json.h"
#include "st_jw.h"
#include "st_mango.h"

/* Scratch paths.  Not tests/support's: that library is built with the
 * sanitizers, and this program must be built without them. */
static void test_unlink(const char *path)
{
    static const char *const ext[] = {"", "-wal", "-shm"};
    char p[4200];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, ext[i]);
        unlink(p);
    }
}

static void test_path(char *out, size_t cap, const char *name)
{
    const char *base = getenv("SETTEE_TEST_TMP");
    snprintf(out, cap, "%s/st-%d-%s", base ? base : "/tmp", (int)getpid(), name);
    test_unlink(out);
}

#define SWEEP_MAX 200000

/* ------------------------------------------------------ the allocator */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static atomic_bool armed;
static atomic_long countdown;   /* the call that fails: when it reaches 0 */
static atomic_long calls;       /* allocation calls while armed */
static atomic_bool injected;    /* the failure happened */

/* What a sweep run allocated and has not freed: a set of pointers (open
 * addressing, its table from glibc directly), filled while tracking.  Frees
 * of older blocks (caches let go) are not leaks and are not counted. */
#define TRACK_SLOTS (1u << 20)
static void **track_tab;
static atomic_flag track_lock = ATOMIC_FLAG_INIT;
static atomic_bool tracking;
static long tracked;

static void lock(void)
{
    while (atomic_flag_test_and_set_explicit(&track_lock, memory_order_acquire)) {
    }
}
static void unlock(void) { atomic_flag_clear_explicit(&track_lock, memory_order_release); }

static size_t slot_of(const void *p)
{
    uintptr_t h = (uintptr_t)p;
    h ^= h >> 17;
    h *= UINT64_C(0xed5ad4bb);
    h ^= h >> 11;
    return (size_t)h & (TRACK_SLOTS - 1);
}

/* SWEEP_ONLY=name sweeps one operation; SWEEP_ONLY=name:n runs that one
 * case and shows where each leaked block was allocated (a backtrace per
 * block, kept only then). */
#define TRACE_DEPTH 20
static void *(*trace_tab)[TRACE_DEPTH];
static bool show_failure;

/* Set while this thread is inside pthread_create (below). */
static __thread bool creating_thread;

static void track_add(void *p)
{
    if (!p || creating_thread || !atomic_load_explicit(&tracking, memory_order_relaxed))
        return;
    void *frames[TRACE_DEPTH] = {0};
    if (trace_tab)
        backtrace(frames, TRACE_DEPTH);
    lock();
    size_t i = slot_of(p);
    while (track_tab[i] && track_tab[i] != (void *)1)
        i = (i + 1) & (TRACK_SLOTS - 1);
    track_tab[i] = p;
    if (trace_tab)
        memcpy(trace_tab[i], frames, sizeof frames);
    tracked++;
    unlock();
}

/* Removes p when tracked; true if it was. */
static bool track_del(void *p)
{
    if (!p || !track_tab)
        return false;
    bool found = false;
    lock();
    if (tracked > 0) {
        for (size_t i = slot_of(p); track_tab[i]; i = (i + 1) & (TRACK_SLOTS - 1)) {
            if (track_tab[i] == p) {
                track_tab[i] = (void *)1; /* a tombstone keeps probing chains intact */
                tracked--;
                found = true;
                break;
            }
        }
    }
    unlock();
    return found;
}

static void track_start(void)
{
    if (!track_tab)
        track_tab = __libc_calloc(TRACK_SLOTS, sizeof *track_tab);
    if (!track_tab)
        abort();
    memset(track_tab, 0, TRACK_SLOTS * sizeof *track_tab);
    tracked = 0;
    atomic_store(&tracking, true);
}

/* The number of blocks still held (frees are followed after the stop). */
static long track_held(void)
{
    lock();
    long n = tracked;
    unlock();
    return n;
}

/* Stop tracking; the number of blocks still held. */
static long track_stop(void)
{
    atomic_store(&tracking, false);
    return track_held();
}

static void track_show(void)
{
    long n = track_held();
    for (size_t i = 0; trace_tab && n > 0 && i < TRACK_SLOTS; i++) {
        if (track_tab[i] && track_tab[i] != (void *)1) {
            fprintf(stderr, "leaked block %p, allocated at:\n", track_tab[i]);
            backtrace_symbols_fd(trace_tab[i], TRACE_DEPTH, 2);
        }
    }
}

/* Default visibility: the build hides symbols by default, and these must
 * be in the dynamic symbol table for the shared libraries (SQLite, yajl,
 * OpenSSL, ICU, glibc itself) to call them. */
#define EXPORT __attribute__((visibility("default")))

static bool fail_this(void)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return false;
    atomic_fetch_add(&calls, 1);
    if (atomic_fetch_sub(&countdown, 1) == 1) {
        atomic_store(&injected, true);
        if (show_failure) { /* SWEEP_ONLY=name:n: where the failure is */
            void *frames[TRACE_DEPTH];
            int k = backtrace(frames, TRACE_DEPTH);
            fprintf(stderr, "the allocation that fails:\n");
            backtrace_symbols_fd(frames, k, 2);
        }
        return true;
    }
    return false;
}

EXPORT void *malloc(size_t n)
{
    if (fail_this())
        return NULL;
    void *p = __libc_malloc(n);
    track_add(p);
    return p;
}

EXPORT void *calloc(size_t a, size_t b)
{
    if (fail_this())
        return NULL;
    void *p = __libc_calloc(a, b);
    track_add(p);
    return p;
}

EXPORT void *realloc(void *old, size_t n)
{
    if (!old)
        return malloc(n);
    if (n == 0) {
        free(old);
        return NULL;
    }
    if (fail_this())
        return NULL;
    bool was = track_del(old);
    void *p = __libc_realloc(old, n);
    if (!p && was)
        track_add(old); /* still there */
    else if (was)
        track_add(p);
    return p;
}

EXPORT void free(void *p)
{
    track_del(p);
    __libc_free(p);
}

EXPORT void *memalign(size_t align, size_t n)
{
    if (fail_this())
        return NULL;
    void *p = __libc_memalign(align, n);
    track_add(p);
    return p;
}

EXPORT void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

/* A copy the sweep keeps across runs (the reference answer): from glibc
 * directly, so it is not counted as the run's. */
static char *keep(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = __libc_malloc(n);
    if (!p)
        abort();
    return memcpy(p, s, n);
}

/* ICU's allocations are failed like the others but not counted as the
 * run's: each writer thread keeps a clone of the collator (collate.c) for
 * as long as the thread lives, and the writers are a pool that outlives
 * databases (a thread ends after 2 s idle), so a clone made during a run
 * is held by design after it.  ICU takes these functions before it
 * allocates anything (main, first). */
static void *U_CALLCONV icu_malloc(const void *ctx, size_t n)
{
    (void)ctx;
    return fail_this() ? NULL : __libc_malloc(n);
}

static void *U_CALLCONV icu_realloc(const void *ctx, void *p, size_t n)
{
    (void)ctx;
    return fail_this() ? NULL : __libc_realloc(p, n);
}

static void U_CALLCONV icu_free(const void *ctx, void *p)
{
    (void)ctx;
    __libc_free(p);
}

/* What pthread_create allocates (the new thread's TLS) is failed like the
 * rest but not counted either: the writers are a detached pool whose
 * threads outlive the run that started them.  The real function is looked
 * up once, in main, before anything is counted. */
typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static pthread_create_fn real_pthread_create;

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    creating_thread = true;
    int rc = real_pthread_create(t, a, fn, arg);
    creating_thread = false;
    return rc;
}

static void arm(long n)
{
    atomic_store(&calls, 0);
    atomic_store(&injected, false);
    atomic_store(&countdown, n);
    atomic_store(&armed, true);
}

static void disarm(void) { atomic_store(&armed, false); }

/* ------------------------------------------------------------ helpers */

#define CHECK(c)                                                                                \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: %s failed (sweep n=%ld)\n", __FILE__, __LINE__, #c, cur_n); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static long cur_n;
static st_error op_err; /* why the operation under the sweep failed */
static char path[4096];

static st_db *open_db(bool create)
{
    st_db_options o;
    st_db_options_init(&o);
    o.create = create;
    o.durability = ST_DURABLE_NORMAL;
    o.readers = 2;
    st_db *db = NULL;
    st_error e;
    st_status st = st_db_open(path, "sweep", &o, &db, &e);
    if (st != ST_OK)
        fprintf(stderr, "open %s: %s\n", path, e.reason);
    CHECK(st == ST_OK);
    return db;
}

static st_status put(st_db *db, const char *json)
{
    st_write_result r;
    st_error e;
    st_status st = st_db_put_json(db, json, strlen(json), 0, &r, &e);
    st_write_results_free(&r, 1);
    return st;
}

static void put_ok(st_db *db, const char *json) { CHECK(put(db, json) == ST_OK); }

static char *get(st_db *db, const char *id, const st_get_opts *o, st_status *out)
{
    st_buf b = ST_BUF_INIT;
    st_status st = st_db_get(db, id, o, &b, &op_err);
    if (out)
        *out = st;
    if (st != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    return b.data ? b.data : strdup("");
}

/* A database with history: conflicts, an attachment, deletions, _local. */
static void fill(st_db *db)
{
    put_ok(db, "{\"_id\":\"a\",\"v\":1,\"_attachments\":{\"t.txt\":{\"content_type\":\"text/plain\","
               "\"data\":\"aGVsbG8gaGVsbG8gaGVsbG8gaGVsbG8=\"}}}");
    char *doc = get(db, "a", NULL, NULL);
    CHECK(doc);
    const char *r = strstr(doc, "\"_rev\":\"") + 8;
    char rev[64];
    snprintf(rev, sizeof rev, "%.*s", (int)(strchr(r, '"') - r), r);
    free(doc);
    char json[512];
    snprintf(json, sizeof json, "{\"_id\":\"a\",\"_rev\":\"%s\",\"v\":2,\"_attachments\":{\"t.txt\":{\"stub\":true}}}", rev);
    put_ok(db, json);
    st_write_result wr;
    const char *conflict = "{\"_id\":\"a\",\"_rev\":\"2-ffff\",\"_revisions\":{\"start\":2,\"ids\":[\"ffff\",\"eeee\"]},\"v\":9}";
    CHECK(st_db_put_json(db, conflict, strlen(conflict), ST_WRITE_REPLICATED, &wr, NULL) == ST_OK);
    st_write_results_free(&wr, 1);
    for (int i = 0; i < 20; i++) {
        snprintf(json, sizeof json, "{\"_id\":\"d%02d\",\"n\":%d,\"s\":\"%0*d\"}", i, i, 200, i);
        put_ok(db, json);
    }
    /* a json index on n: every write below keeps it current */
    put_ok(db, "{\"_id\":\"_design/ix\",\"language\":\"query\",\"views\":{\"by_n\":{\"map\":"
               "{\"fields\":{\"n\":\"asc\"}},\"reduce\":\"_count\",\"options\":{\"def\":"
               "{\"fields\":[\"n\"]}}}}}");
    st_json_doc *d = NULL;
    CHECK(st_json_parse("{\"seq\":7}", 9, NULL, &d, NULL) == ST_OK);
    CHECK(st_db_local_put(db, "_local/ck", st_json_doc_root(d), NULL, NULL, NULL) == ST_OK);
    st_json_doc_free(d);
}

/* Everything a database holds, rendered: the yardstick of "old or new". */
static int dump_row(void *ctx, const st_change_row *row)
{
    st_jw *w = ctx;
    st_change_row_write(w, row, true);
    return 0;
}

static char *dump(st_db *db)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    CHECK(st_jw_init(&w, &b) == ST_OK);
    st_changes_opts o;
    st_changes_opts_init(&o);
    o.include_docs = true;
    o.all_docs = true;
    o.conflicts = true;
    uint64_t last = 0;
    st_jw_arr_open(&w);
    CHECK(st_db_changes(db, &o, dump_row, &w, &last, NULL, NULL) == ST_OK);
    st_jw_arr_close(&w);
    st_db_info info;
    CHECK(st_db_info_get(db, &info, NULL) == ST_OK);
    CHECK(st_jw_status(&w) == ST_OK);
    st_jw_free(&w);
    CHECK(st_buf_printf(&b, " docs=%llu deleted=%llu seq=%llu", (unsigned long long)info.doc_count,
                        (unsigned long long)info.doc_del_count,
                        (unsigned long long)info.update_seq) == ST_OK);
    st_buf l = ST_BUF_INIT;
    if (st_db_local_get(db, "_local/ck", &l, NULL) == ST_OK)
        CHECK(st_buf_adds(&b, l.data) == ST_OK);
    st_buf_free(&l);
    return b.data;
}

/* ------------------------------------------------------------ sweeps */

typedef struct scenario {
    const char *name;
    bool needs_db;           /* runs on a copy of the template, opened */
    st_status (*op)(void);   /* armed */
    void (*verify)(st_status st); /* unarmed: the answer, or old/new state */
} scenario;

static st_db *db;
static char template_path[4096];
static char *before, *after;       /* dumps of the old and the new state */
static char *ref_out, *got_out;    /* an answer's right value, and this one's */

static void close_db(void)
{
    CHECK(st_db_close(db) == ST_OK);
    db = NULL;
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    CHECK(a && b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        CHECK(fwrite(buf, 1, n, b) == n);
    fclose(a);
    CHECK(fclose(b) == 0);
}

/* The database every sweep starts from, made once: its file alone is the
 * whole database (closing folded the WAL in). */
static void make_template(void)
{
    test_unlink(path);
    db = open_db(true);
    fill(db);
    close_db();
    copy_file(path, template_path);
    test_unlink(path);
}

static void fresh_db(void)
{
    test_unlink(path);
    copy_file(template_path, path);
    db = open_db(false);
}

static void rev_of(const char *id, char *out, size_t cap)
{
    char *doc = get(db, id, NULL, NULL);
    CHECK(doc);
    const char *r = strstr(doc, "\"_rev\":\"") + 8;
    snprintf(out, cap, "%.*s", (int)(strchr(r, '"') - r), r);
    free(doc);
}

/* Compare what is on disk, through a fresh handle, with the old and the
 * new state; the first run that succeeded whole says what "new" is. */
static void old_or_new(st_status st)
{
    close_db();
    db = open_db(false);
    char *now = dump(db);
    if (!after && st == ST_OK && !atomic_load(&injected))
        after = keep(now);
    bool same_old = strcmp(now, before) == 0, same_new = after && strcmp(now, after) == 0;
    if (!same_old && !same_new && after)
        fprintf(stderr, "half written:\n%s\nbefore:\n%s\nafter:\n%s\n", now, before, after);
    CHECK(same_old || same_new || !after);
    if (st == ST_OK && after)
        CHECK(same_new);
    free(now);
}

/* open: create a database; afterwards it exists and opens, or does not. */
static st_status open_op(void)
{
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    o.durability = ST_DURABLE_NORMAL;
    st_status st = st_db_open(path, "sweep", &o, &db, &op_err);
    if (st == ST_OK) {
        st_status c = st_db_close(db);
        if (c != ST_OK)
            st = c;
    }
    db = NULL;
    return st;
}
static void open_verify(st_status st)
{
    (void)st;
    st_db_options o;
    st_db_options_init(&o);
    st_error e;
    st_status again = st_db_open(path, "sweep", &o, &db, &e);
    if (again != ST_OK && again != ST_E_NOT_FOUND)
        fprintf(stderr, "reopen: %s\n", e.reason);
    CHECK(again == ST_OK || again == ST_E_NOT_FOUND); /* never "not a settee database" */
    if (db) {
        st_db_info info;
        CHECK(st_db_info_get(db, &info, NULL) == ST_OK && info.doc_count == 0);
        close_db();
    }
}

/* write: an edit, a new document with an attachment and a deletion in one
 * all-or-nothing batch. */
static st_status write_op(void)
{
    static const char *const texts[] = {
        "{\"_id\":\"d01\",\"_rev\":\"REV\",\"n\":100}",
        "{\"_id\":\"new\",\"x\":[1,{\"y\":\"z\"}],\"_attachments\":{\"b.bin\":{\"content_type\":"
        "\"application/octet-stream\",\"data\":\"AAECAwQFBgcICQ==\"}}}",
        "{\"_id\":\"d02\",\"_rev\":\"REV\",\"_deleted\":true}",
    };
    st_json_doc *docs[3] = {NULL, NULL, NULL};
    st_write_req reqs[3];
    st_write_result res[3];
    char json[256], rev[64];
    /* the revs are read unarmed: they are the request, not the operation */
    disarm();
    for (int i = 0; i < 3; i++) {
        const char *t = texts[i], *p = strstr(t, "REV");
        if (p) {
            rev_of(i == 0 ? "d01" : "d02", rev, sizeof rev);
            snprintf(json, sizeof json, "%.*s%s%s", (int)(p - t), t, rev, p + 3);
            t = json;
        }
        CHECK(st_json_parse(t, strlen(t), NULL, &docs[i], NULL) == ST_OK);
        reqs[i] = (st_write_req){.doc = st_json_doc_root(docs[i])};
    }
    atomic_store(&armed, true);
    st_status st = st_db_write(db, reqs, 3, ST_WRITE_ALL_OR_NOTHING, res, &op_err);
    disarm();
    st_write_results_free(res, 3);
    for (int i = 0; i < 3; i++)
        st_json_doc_free(docs[i]);
    return st;
}

/* replicated: what a pull writes (new_edits=false): a conflicting branch
 * of a whose attachment arrives gzip-encoded.  One document, so that "old
 * or new" is the whole answer (documents of one batch succeed or fail each
 * on its own). */
static st_status replicated_op(void)
{
    /* the data is gzip of "hello hello hello hello" */
    static const char text[] =
        "{\"_id\":\"a\",\"_rev\":\"3-abcd\",\"_revisions\":{\"start\":3,\"ids\":[\"abcd\","
        "\"ffff\",\"eeee\"]},\"v\":10,\"_attachments\":{\"g.txt\":{\"content_type\":"
        "\"text/plain\",\"encoding\":\"gzip\",\"revpos\":3,\"data\":"
        "\"H4sIAAAAAAACA8tIzcnJV8hAJwHjUT2NFwAAAA==\"}}}";
    st_json_doc *doc = NULL;
    st_write_result res;
    disarm();
    CHECK(st_json_parse(text, sizeof text - 1, NULL, &doc, NULL) == ST_OK);
    st_write_req req = {.doc = st_json_doc_root(doc)};
    atomic_store(&armed, true);
    st_status st = st_db_write(db, &req, 1, ST_WRITE_REPLICATED, &res, &op_err);
    disarm();
    if (st == ST_OK && res.err.code != ST_OK) {
        st = res.err.code;
        op_err = res.err;
    }
    st_write_results_free(&res, 1);
    st_json_doc_free(doc);
    return st;
}

/* _purge: a's conflicting leaf and a whole document. */
static st_status purge_op(void)
{
    char rev[64], text[128];
    disarm();
    rev_of("d05", rev, sizeof rev);
    snprintf(text, sizeof text, "{\"a\":[\"2-ffff\"],\"d05\":[\"%s\"]}", rev);
    st_json_doc *d = NULL;
    CHECK(st_json_parse(text, strlen(text), NULL, &d, NULL) == ST_OK);
    st_buf b = ST_BUF_INIT;
    st_jw w;
    CHECK(st_jw_init(&w, &b) == ST_OK);
    atomic_store(&armed, true);
    st_status st = st_db_purge(db, st_json_doc_root(d), &w, &op_err);
    disarm();
    st_jw_free(&w);
    st_buf_free(&b);
    st_json_doc_free(d);
    return st;
}

/* _local: an update of the checkpoint document. */
static st_status local_op(void)
{
    st_json_doc *d = NULL;
    st_status st = st_json_parse("{\"seq\":8}", 9, NULL, &d, NULL);
    if (st == ST_OK)
        st = st_db_local_put(db, "_local/ck", st_json_doc_root(d), "0-1", NULL, &op_err);
    st_json_doc_free(d);
    return st;
}

/* read: a document with everything CouchDB adds to one. */
static st_status read_op(void)
{
    st_get_opts o;
    memset(&o, 0, sizeof o);
    o.revs = true;
    o.revs_info = true;
    o.conflicts = true;
    o.atts = ST_ATTS_INLINE;
    st_status st;
    got_out = get(db, "a", &o, &st);
    return st;
}
static void answer_verify(st_status st)
{
    if (!ref_out && st == ST_OK && !atomic_load(&injected))
        ref_out = keep(got_out);
    if (st == ST_OK && ref_out)
        CHECK(strcmp(got_out, ref_out) == 0);
    free(got_out);
    got_out = NULL;
}

static int alldocs_row(void *ctx, const st_alldocs_row *r)
{
    st_jw *w = ctx;
    st_jw_str(w, r->id);
    st_jw_str(w, r->rev);
    if (r->doc_json)
        st_jw_raw(w, r->doc_json, r->doc_len);
    return 0;
}

/* changes with documents, then all_docs. */
static st_status changes_op(void)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status st = st_jw_init(&w, &b);
    if (st != ST_OK)
        return st;
    st_changes_opts o;
    st_changes_opts_init(&o);
    o.include_docs = true;
    o.all_docs = true;
    st_jw_arr_open(&w);
    uint64_t last;
    st = st_db_changes(db, &o, dump_row, &w, &last, NULL, &op_err);
    if (st == ST_OK) {
        st_alldocs_opts ao;
        st_alldocs_opts_init(&ao);
        ao.include_docs = true;
        st = st_db_all_docs(db, &ao, NULL, alldocs_row, &w, &op_err);
    }
    st_jw_arr_close(&w);
    if (st == ST_OK)
        st = st_jw_status(&w);
    st_jw_free(&w);
    got_out = b.data ? b.data : strdup("");
    return st;
}

/* _revs_diff and _bulk_get as the server asks them. */
static st_status repl_op(void)
{
    static const char req_diff[] = "{\"a\":[\"2-ffff\",\"3-abc\"],\"nope\":[\"1-x\"],\"d03\":[\"9-z\"]}";
    static const char req_get[] =
        "{\"docs\":[{\"id\":\"a\"},{\"id\":\"d04\",\"rev\":\"1-zz\"},{\"id\":\"x\"}]}";
    st_json_doc *d1 = NULL, *d2 = NULL;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status st = st_json_parse(req_diff, sizeof req_diff - 1, NULL, &d1, NULL);
    if (st == ST_OK)
        st = st_json_parse(req_get, sizeof req_get - 1, NULL, &d2, NULL);
    if (st == ST_OK && (st = st_jw_init(&w, &b)) == ST_OK) {
        st = st_db_revs_diff(db, st_json_doc_root(d1), &w, &op_err);
        st_get_opts o;
        memset(&o, 0, sizeof o);
        o.revs = true;
        if (st == ST_OK)
            st = st_db_bulk_get(db, st_json_doc_root(d2), &o, &w, &op_err);
        st_jw_free(&w);
    }
    got_out = b.data ? b.data : strdup("");
    st_json_doc_free(d1);
    st_json_doc_free(d2);
    return st;
}

/* _find through the json index: n between 3 and 12, sorted. */
static int find_doc(void *ctx, const char *json, size_t len)
{
    st_buf *b = ctx;
    return st_buf_add(b, json, len) != ST_OK || st_buf_addc(b, '\n') != ST_OK;
}

static st_status find_op(void)
{
    static const char req[] =
        "{\"selector\":{\"n\":{\"$gte\":3,\"$lt\":12}},\"sort\":[{\"n\":\"asc\"}],"
        "\"fields\":[\"_id\",\"n\"]}";
    st_json_doc *d = NULL;
    st_mango_query *q = NULL;
    st_mango_cursor *c = NULL;
    st_buf b = ST_BUF_INIT;
    st_status st = st_json_parse(req, sizeof req - 1, NULL, &d, &op_err);
    if (st == ST_OK)
        st = st_mango_query_parse(st_json_doc_root(d), &q, &op_err);
    if (st == ST_OK)
        st = st_mango_find(db, q, &c, &op_err);
    for (bool done = false; st == ST_OK && !done;)
        st = st_mango_next(c, 4096, find_doc, &b, &done, &op_err);
    st_mango_cursor_free(c);
    st_mango_query_free(q);
    st_json_doc_free(d);
    got_out = b.data ? b.data : strdup("");
    return st;
}

/* compaction: afterwards every document reads the same. */
static st_status compact_op(void) { return st_db_compact(db, &op_err); }
static void compact_verify(st_status st)
{
    (void)st;
    close_db();
    db = open_db(false);
    char *now = dump(db);
    CHECK(strcmp(now, before) == 0); /* compaction changes no answer */
    free(now);
}

/* The operation once, nothing failing and nothing counted: one-time state
 * (SQLite's, OpenSSL's md5, the C locale, the writer pool's threads and
 * their caches) exists before counting. */
static void warm(const scenario *s)
{
    test_unlink(path);
    if (s->needs_db) {
        fresh_db();
        before = dump(db);
    }
    arm(LONG_MAX);
    st_status st = s->op();
    disarm();
    if (getenv("SWEEP_VERBOSE"))
        fprintf(stderr, "%s: %ld allocations\n", s->name, atomic_load(&calls));
    free(got_out);
    got_out = NULL;
    CHECK(st == ST_OK);
    free(before);
    before = NULL;
    if (db)
        close_db();
    test_unlink(path);
}

/* Files the run left next to the database (a failed create's temporary
 * file, say): a failure must leave nothing half made on disk either. */
static int stray_files(void)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    DIR *d = opendir(dir);
    CHECK(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, slash + 1, strlen(slash + 1)) == 0) {
            fprintf(stderr, "left behind: %s\n", e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

static long sweep(const scenario *s, long only)
{
    long n;
    for (n = only ? only : 1; n <= SWEEP_MAX; n++) {
        cur_n = n;
        track_start();
        test_unlink(path);
        if (s->needs_db) {
            fresh_db();
            before = dump(db);
        }
        st_error_clear(&op_err);
        arm(n);
        st_status st = s->op();
        disarm();
        bool hit = atomic_load(&injected);
        if (!hit && st != ST_OK)
            fprintf(stderr, "%s: nothing failed and the status is %d\n", s->name, (int)st);
        CHECK(hit || st == ST_OK); /* nothing failed: it must work */
        if (hit && st != ST_OK && st != ST_E_NOMEM)
            fprintf(stderr, "%s: n=%ld: status %d, not out of memory: %s\n", s->name, n, (int)st,
                    op_err.reason);
        s->verify(st);
        free(before);
        before = NULL;
        if (db)
            close_db();
        test_unlink(path);
        long leaked = track_stop();
        if (leaked != 0) {
            track_show();
            fprintf(stderr, "%s: n=%ld: %ld allocations leaked (status %d)\n", s->name, n,
                    leaked, (int)st);
        }
        CHECK(leaked == 0);
        CHECK(stray_files() == 0);
        if (!hit || only)
            break;
    }
    CHECK(n <= SWEEP_MAX);
    return n - 1; /* allocation points: the last run made fewer than n */
}

int main(void)
{
    real_pthread_create = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
    if (!real_pthread_create)
        abort();
    UErrorCode icu = U_ZERO_ERROR;
    u_setMemoryFunctions(NULL, icu_malloc, icu_realloc, icu_free, &icu);
    CHECK(U_SUCCESS(icu));
    /* Thousands of databases are made and synced: on a disk the syncs are
     * nearly all of the time and none of what is tested, so the files live
     * in shared memory where the system has it. */
    if (access("/dev/shm", W_OK) == 0)
        setenv("SETTEE_TEST_TMP", "/dev/shm", 1);
    test_path(path, sizeof path, "alloc-sweep.settee");
    test_path(template_path, sizeof template_path, "alloc-sweep-template.settee");
    make_template();
    const scenario scenarios[] = {
        {"create", false, open_op, open_verify},
        {"write", true, write_op, old_or_new},
        {"replicated", true, replicated_op, old_or_new},
        {"purge", true, purge_op, old_or_new},
        {"_local", true, local_op, old_or_new},
        {"read", true, read_op, answer_verify},
        {"changes", true, changes_op, answer_verify},
        {"revs_diff+bulk_get", true, repl_op, answer_verify},
        {"_find", true, find_op, answer_verify},
        {"compact", true, compact_op, compact_verify},
    };
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        warm(&scenarios[i]);
    const char *only = getenv("SWEEP_ONLY");
    long only_n = 0;
    if (only && strchr(only, ':'))
        only_n = atol(strchr(only, ':') + 1);
    show_failure = only_n != 0;
    if (only_n || getenv("SWEEP_TRACE")) {
        trace_tab = __libc_calloc(TRACK_SLOTS, sizeof *trace_tab);
        void *f[1];
        backtrace(f, 1); /* loads what backtrace needs, before counting */
    }
    long total = 0;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        const scenario *s = &scenarios[i];
        if (only && strncmp(only, s->name, strcspn(only, ":")) != 0)
            continue;
        long n = sweep(s, only_n);
        free(ref_out);
        ref_out = NULL;
        free(after);
        after = NULL;
        fprintf(stderr, "%-18s %6ld allocation points, each failed once: no leak, nothing half\n",
                s->name, n);
        total += n;
    }
    test_unlink(path);
    test_unlink(template_path);
    fprintf(stderr, "total              %6ld allocation points swept\n", total);
    return 0;
}
