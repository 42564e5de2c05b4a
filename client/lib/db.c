/* db.c — opening and closing a settee_db, and the registry of open handles.
 *
 * Why a registry: the API promises SETTEE_MISUSE, not a crash, for a closed
 * handle, and SETTEE_BUSY from close while another thread is inside a call.
 * Both need to know, atomically with close, which handles are open and how
 * many callers are inside each; a process-wide list guarded by one mutex
 * held for a few instructions does that (apps open a handful of databases,
 * so a linear scan is cheaper than anything cleverer).  A freed pointer that
 * malloc hands out again for a new db is indistinguishable from it: that
 * case is the app's use-after-free, as with any C API.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static settee_db **reg;     /* open handles */
static size_t reg_n, reg_cap;

static bool reg_find(const settee_db *db, size_t *out_i)
{
    for (size_t i = 0; i < reg_n; i++) {
        if (reg[i] == db) {
            if (out_i)
                *out_i = i;
            return true;
        }
    }
    return false;
}

static bool reg_add(settee_db *db)
{
    bool ok = true;
    pthread_mutex_lock(&reg_mu);
    if (reg_n == reg_cap) {
        size_t cap = reg_cap ? reg_cap * 2 : 8;
        settee_db **v = realloc(reg, cap * sizeof *v);
        if (v) {
            reg = v;
            reg_cap = cap;
        } else {
            ok = false;
        }
    }
    if (ok)
        reg[reg_n++] = db;
    pthread_mutex_unlock(&reg_mu);
    return ok;
}

settee_status st_client_enter(settee_db *db, settee_error *e)
{
    if (!db)
        return st_client_fail(e, SETTEE_MISUSE, "NULL database handle");
    pthread_mutex_lock(&reg_mu);
    bool open = reg_find(db, NULL);
    if (open)
        db->inflight++;
    pthread_mutex_unlock(&reg_mu);
    if (!open)
        return st_client_fail(e, SETTEE_MISUSE, "database handle is not open");
    return SETTEE_OK;
}

void st_client_leave(settee_db *db)
{
    pthread_mutex_lock(&reg_mu);
    db->inflight--;
    pthread_mutex_unlock(&reg_mu);
}

void st_client_child_add(settee_db *db)
{
    pthread_mutex_lock(&reg_mu);
    db->children++;
    pthread_mutex_unlock(&reg_mu);
}

void st_client_child_done(settee_db *db)
{
    pthread_mutex_lock(&reg_mu);
    db->children--;
    pthread_mutex_unlock(&reg_mu);
}

/* Core observer: runs on the committing thread with core's observer lock
 * held, so it only records the sequence and signals (core's rule). */
static void on_commit(void *ctx, uint64_t update_seq)
{
    settee_db *db = ctx;
    uint64_t seen = atomic_load(&db->seen_seq);
    while (seen < update_seq && !atomic_compare_exchange_weak(&db->seen_seq, &seen, update_seq))
        ;
    st_notify_signal(&db->notify);
}

/* Embedded defaults for SQLite's memory, per connection (one writer and
 * `readers` readers).  Core's own defaults (16 MiB of cache, 256 MiB of
 * mmap) suit a server; an app wants a small resident size, and reads stay
 * fast with a small cache because the OS page cache holds the file
 * (docs/embedding.md, "Memory", has the measurements). */
#define DEFAULT_CACHE_KIB 512u

/* Whether the caller's struct (struct_size bytes) holds field f. */
#define OPT_HAS(o, f) \
    ((o)->struct_size >= offsetof(settee_db_options, f) + sizeof((o)->f))

void settee_db_options_init_sized(settee_db_options *o, size_t struct_size)
{
    if (!o)
        return;
    settee_db_options d;
    memset(&d, 0, sizeof d);
    d.create = true;
    d.durable = true;
    d.dispatch = SETTEE_DISPATCH_THREAD;
    d.struct_size = struct_size;
    /* cache_kib and mmap_kib stay 0: "the default", whatever it becomes. */
    size_t n = struct_size < sizeof d ? struct_size : sizeof d;
    memcpy(o, &d, n);
    /* A newer app's struct: fields this library does not know are 0. */
    if (struct_size > n)
        memset((char *)o + n, 0, struct_size - n);
}

/* Tear down whatever of db exists (used by a failed open and by close). */
static void db_destroy(settee_db *db)
{
    st_client_dispatch_stop(db);
    if (db->observer)
        st_db_unobserve(db->core, db->observer);
    st_db_close(db->core);
    st_notify_close(&db->notify);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cond);
    pthread_mutex_destroy(&db->dispatch_mu);
    free(db);
}

/* The database name core reports: the file's base name. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

settee_status settee_db_open(const char *path, const settee_db_options *o, settee_db **out_db,
                             settee_error *e)
{
    if (out_db)
        *out_db = NULL;
    if (!path || !out_db)
        return st_client_fail(e, SETTEE_MISUSE, "NULL path or out_db");
    if (!path[0])
        return st_client_fail(e, SETTEE_BAD_REQUEST, "empty database path");
    settee_db_options def;
    if (!o) {
        settee_db_options_init(&def);
        o = &def;
    }
    if (o->dispatch != SETTEE_DISPATCH_THREAD && o->dispatch != SETTEE_DISPATCH_MANUAL)
        return st_client_fail(e, SETTEE_MISUSE, "unknown dispatch mode %d", (int)o->dispatch);

    settee_status rc = SETTEE_OK;
    st_error ce;
    st_error_clear(&ce);
    settee_db *db = calloc(1, sizeof *db);
    if (!db)
        return st_client_fail(e, SETTEE_NOMEM, "out of memory");
    db->notify.rfd = db->notify.wfd = -1;
    db->mode = o->dispatch;
    atomic_init(&db->seen_seq, 0);
    atomic_init(&db->stopping, false);
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cond, NULL);
    pthread_mutex_init(&db->dispatch_mu, NULL);

    st_db_options co;
    st_db_options_init(&co);
    co.create = o->create;
    co.durability = o->durable ? ST_DURABLE_FULL : ST_DURABLE_NORMAL;
    /* Two readers instead of core's eight: an app reads from a couple of
     * threads, and every pooled connection carries its own page cache. */
    co.readers = o->readers ? o->readers : 2;
    unsigned cache_kib = OPT_HAS(o, cache_kib) ? o->cache_kib : 0;
    int mmap_kib = OPT_HAS(o, mmap_kib) ? o->mmap_kib : 0;
    co.cache_kib = cache_kib ? cache_kib : DEFAULT_CACHE_KIB;
    co.mmap_kib = mmap_kib > 0 ? mmap_kib : -1; /* core: -1 is off */
    if (o->max_doc_size)
        co.max_doc_size = o->max_doc_size;
    db->max_doc_size = co.max_doc_size;

    st_status s = st_db_open(path, base_name(path), &co, &db->core, &ce);
    if (s != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto fail;
    }
    st_db_info info;
    if ((s = st_db_info_get(db->core, &info, &ce)) != ST_OK ||
        (s = st_notify_open(&db->notify, &ce)) != ST_OK ||
        (s = st_db_observe(db->core, on_commit, db, &db->observer, &ce)) != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto fail;
    }
    atomic_store(&db->seen_seq, info.update_seq);
    if (db->mode == SETTEE_DISPATCH_THREAD &&
        (s = st_client_dispatch_start(db, &ce)) != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto fail;
    }
    if (!reg_add(db)) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto fail;
    }
    st_client_ok(e);
    *out_db = db;
    return SETTEE_OK;
fail:
    db_destroy(db);
    return rc;
}

settee_status settee_db_close(settee_db *db)
{
    if (!db)
        return SETTEE_OK;
    size_t i;
    settee_status rc = SETTEE_OK;
    pthread_mutex_lock(&reg_mu);
    if (!reg_find(db, &i))
        rc = SETTEE_MISUSE;
    else if (db->inflight || db->children)
        rc = SETTEE_BUSY;
    else
        reg[i] = reg[--reg_n];
    pthread_mutex_unlock(&reg_mu);
    if (rc != SETTEE_OK)
        return rc;
    db_destroy(db);
    return SETTEE_OK;
}

settee_status settee_db_info_get(settee_db *db, settee_db_info *out_info, settee_error *e)
{
    if (out_info)
        memset(out_info, 0, sizeof *out_info);
    if (!out_info)
        return st_client_fail(e, SETTEE_MISUSE, "NULL out_info");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_db_info info;
    st_error ce;
    st_status s = st_db_info_get(db->core, &info, &ce);
    rc = st_client_from_core(e, s, &ce);
    if (s == ST_OK) {
        out_info->update_seq = info.update_seq;
        out_info->doc_count = info.doc_count;
        out_info->deleted_count = info.doc_del_count;
        out_info->file_size = info.size_file;
    }
    st_client_leave(db);
    return rc;
}

int settee_db_notify_fd(settee_db *db)
{
    if (st_client_enter(db, NULL) != SETTEE_OK)
        return -1;
    int fd = db->mode == SETTEE_DISPATCH_MANUAL ? db->notify.rfd : -1;
    st_client_leave(db);
    return fd;
}

settee_status settee_db_dispatch(settee_db *db)
{
    settee_status rc = st_client_enter(db, NULL);
    if (rc != SETTEE_OK)
        return rc;
    if (db->mode != SETTEE_DISPATCH_MANUAL)
        rc = SETTEE_MISUSE;
    else
        st_client_dispatch_run(db);
    st_client_leave(db);
    return rc;
}
