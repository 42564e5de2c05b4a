/* db.c — opening a database, its counters, readers, observers and the group
 * commit every write goes through.
 *
 * Group commit: a writer enqueues a job and waits.  If no thread is running
 * a batch, it becomes the leader: it takes every queued job, runs them in
 * one write transaction, commits once -- one fsync for the whole group --
 * and wakes the owners (run_batch says how a failing job is isolated).  While a leader waits on the disk, new jobs pile up
 * and go together in the next batch; that is why 16 threads doing durable
 * single-document puts are several times faster than one.
 */
#include "db_int.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* Most jobs a leader takes into one transaction. */
#define BATCH_MAX 512

void st_db_options_init(st_db_options *o)
{
    memset(o, 0, sizeof *o);
    o->durability = ST_DURABLE_FULL;
    o->max_doc_size = 8000000;
    o->max_att_size = 256u << 20;
    o->max_depth = 64;
    o->readers = 8;
    o->cache_kib = 16384;
    o->mmap_kib = 262144;
}

void st_uuid(char out[33])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        /* libcrypto's CSPRNG failing is near impossible; fall back to time
         * and address entropy rather than failing a write over an id. */
        struct timeval tv;
        gettimeofday(&tv, NULL);
        uint64_t x = ((uint64_t)tv.tv_sec << 20) ^ (uint64_t)tv.tv_usec ^ (uintptr_t)out;
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            raw[i] = (unsigned char)(x >> 56);
        }
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
}

/* The counters are one meta row, "update_seq purge_seq doc_count del_count
 * external revs_limit", written once per commit group. */
st_status st_db_read_counters(st_conn *c, db_counters *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    out->revs_limit = 1000;
    st_buf b = ST_BUF_INIT;
    st_status st = st_store_meta_get_text(c, "counters", &b, err);
    if (st == ST_E_NOT_FOUND) {
        st_buf_free(&b);
        return ST_OK;
    }
    if (st == ST_OK) {
        unsigned long long v[5];
        long long ext;
        unsigned lim;
        if (sscanf(b.data, "%llu %llu %llu %llu %lld %u", &v[0], &v[1], &v[2], &v[3], &ext,
                   &lim) != 6)
            st = st_fail(err, ST_E_IO, "corrupt counters");
        else
            *out = (db_counters){v[0], v[1], v[2], v[3], ext, lim >= 1 ? lim : 1000};
    }
    st_buf_free(&b);
    return st;
}

static st_status load_counters(st_db *db, st_error *err)
{
    st_status st = st_db_read_counters(db->writer, &db->ctr, err);
    if (st != ST_OK)
        return st;
    db->committed_seq = db->ctr.update_seq;

    st_buf u = ST_BUF_INIT;
    st = st_store_meta_get_text(db->writer, "uuid", &u, err);
    if (st == ST_OK && u.len == 32) {
        memcpy(db->uuid, u.data, 33);
    } else if (st == ST_OK || st == ST_E_NOT_FOUND) {
        st_uuid(db->uuid);
        st = st_store_meta_set_text(db->writer, "uuid", db->uuid, err);
    }
    st_buf_free(&u);
    return st;
}

static st_status save_counters(st_db *db, st_error *err)
{
    const db_counters *c = &db->ctr;
    char text[160];
    snprintf(text, sizeof text, "%llu %llu %llu %llu %lld %u", (unsigned long long)c->update_seq,
             (unsigned long long)c->purge_seq, (unsigned long long)c->doc_count,
             (unsigned long long)c->del_count, (long long)c->external, c->revs_limit);
    return st_store_meta_set_text(db->writer, "counters", text, err);
}

st_status st_db_open(const char *path, const char *name, const st_db_options *o,
                     st_db **out_db, st_error *err)
{
    *out_db = NULL;
    if (!path || !name)
        return st_fail(err, ST_E_MISUSE, "NULL path or name");
    st_db *db = calloc(1, sizeof *db);
    if (!db || !(db->name = strdup(name))) {
        free(db);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    if (o)
        db->opts = *o;
    else
        st_db_options_init(&db->opts);
    if (db->opts.readers == 0)
        db->opts.readers = 8;
    if (db->opts.readers > ST_DB_MAX_READERS)
        db->opts.readers = ST_DB_MAX_READERS;
    if (db->opts.max_depth == 0)
        db->opts.max_depth = 64;
    pthread_mutex_init(&db->wq_mu, NULL);
    pthread_cond_init(&db->wq_cond, NULL);
    pthread_mutex_init(&db->rd_mu, NULL);
    pthread_cond_init(&db->rd_cond, NULL);
    pthread_mutex_init(&db->obs_mu, NULL);

    if (db->opts.cache_kib == 0)
        db->opts.cache_kib = 16384;
    if (db->opts.mmap_kib == 0)
        db->opts.mmap_kib = 262144;
    st_status st = st_store_open(path, &db->opts, &db->store, err);
    if (st == ST_OK)
        st = st_store_conn_open(db->store, &db->writer, err);
    if (st == ST_OK && (st = st_store_write_begin(db->writer, err)) == ST_OK) {
        st = load_counters(db, err);
        if (st == ST_OK)
            st = st_store_commit(db->writer, err);
        else
            st_store_rollback(db->writer);
    }
    if (st != ST_OK) {
        st_store_conn_close(db->writer);
        st_store_close(db->store);
        free(db->name);
        free(db);
        return st;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    snprintf(db->start_time, sizeof db->start_time, "%llu",
             (unsigned long long)tv.tv_sec * 1000000ull + (unsigned long long)tv.tv_usec);
    *out_db = db;
    return ST_OK;
}

st_status st_db_close(st_db *db)
{
    if (!db)
        return ST_OK;
    pthread_mutex_lock(&db->obs_mu);
    bool observed = db->obs != NULL;
    pthread_mutex_unlock(&db->obs_mu);
    if (observed)
        return ST_E_BUSY;
    pthread_mutex_lock(&db->wq_mu);
    while (db->leader || db->wq_head)
        pthread_cond_wait(&db->wq_cond, &db->wq_mu);
    pthread_mutex_unlock(&db->wq_mu);
    pthread_mutex_lock(&db->rd_mu);
    for (unsigned i = 0; i < db->opts.readers; i++) {
        while (db->rd[i].busy)
            pthread_cond_wait(&db->rd_cond, &db->rd_mu);
        if (db->rd[i].in_txn)
            st_store_read_end(db->rd[i].conn);
        st_store_conn_close(db->rd[i].conn);
        db->rd[i] = (reader){0};
    }
    pthread_mutex_unlock(&db->rd_mu);
    st_store_conn_close(db->writer);
    st_store_close(db->store);
    pthread_mutex_destroy(&db->wq_mu);
    pthread_cond_destroy(&db->wq_cond);
    pthread_mutex_destroy(&db->rd_mu);
    pthread_cond_destroy(&db->rd_cond);
    pthread_mutex_destroy(&db->obs_mu);
    free(db->name);
    free(db);
    return ST_OK;
}

const char *st_db_name(const st_db *db) { return db->name; }

bool st_db_is_deleted(st_db *db) { return atomic_load(&db->deleted); }

/* ------------------------------------------------------------ group commit */

static void release_stale_readers(st_db *db);

static void notify(st_db *db, uint64_t seq)
{
    pthread_mutex_lock(&db->obs_mu);
    for (st_db_observer *o = db->obs; o; o = o->next)
        o->fn(o->ctx, seq);
    pthread_mutex_unlock(&db->obs_mu);
}

/* Run a batch in one transaction.  Jobs are re-runnable and leave nothing
 * outside the transaction, so no savepoints: if one job fails, the whole
 * transaction is rolled back and each job runs again on its own, which
 * confines the failure to its owner.  Failures are rare (I/O, memory); the
 * common path pays one BEGIN, one counters row and one COMMIT per group. */
static void run_batch(st_db *db, db_job *batch)
{
    db_counters saved = db->ctr;
    st_error e;
    st_error_clear(&e);
    st_status st = st_store_write_begin(db->writer, &e);
    if (st == ST_OK) {
        db_job *failed = NULL;
        for (db_job *j = batch; j && !failed; j = j->next) {
            j->status = j->run(db, j->arg, j->err);
            if (j->status != ST_OK)
                failed = j;
        }
        if (failed) {
            st_store_rollback(db->writer);
            db->ctr = saved;
            if (!batch->next)
                return; /* a lone job: its own status says it all */
            for (db_job *j = batch, *next; j; j = next) {
                next = j->next;
                j->next = NULL;
                run_batch(db, j);
                j->next = next;
            }
            return;
        }
        st = save_counters(db, &e);
        if (st == ST_OK)
            st = st_store_commit(db->writer, &e);
    }
    if (st != ST_OK) {
        st_store_rollback(db->writer);
        db->ctr = saved;
        for (db_job *j = batch; j; j = j->next) {
            j->status = st;
            if (j->err)
                *j->err = e;
        }
    }
}

void st_db_mark_deleted(st_db *db)
{
    atomic_store(&db->deleted, true);
    notify(db, db->committed_seq);
}

/* Each waiter sleeps on its own condition variable: a finished batch wakes
 * exactly its jobs' owners, and the next leader is the owner of the queue's
 * head, woken alone.  (One shared broadcast woke every waiter on every
 * commit: with 16 writers that was ~40% of the CPU in futex hand-offs.) */
st_status st_db_submit(st_db *db, db_job *job)
{
    if (atomic_load(&db->deleted))
        return st_fail(job->err, ST_E_NOT_FOUND, "Database does not exist.");
    job->done = false;
    job->next = NULL;
    pthread_cond_init(&job->cond, NULL);
    pthread_mutex_lock(&db->wq_mu);
    if (db->wq_tail)
        db->wq_tail->next = job;
    else
        db->wq_head = job;
    db->wq_tail = job;
    while (!job->done) {
        if (db->leader) {
            pthread_cond_wait(&job->cond, &db->wq_mu);
            continue;
        }
        /* Become the leader for one batch. */
        db->leader = true;
        db_job *batch = db->wq_head, *last = batch;
        size_t n = 1;
        while (last->next && n < BATCH_MAX) {
            last = last->next;
            n++;
        }
        db->wq_head = last->next;
        if (!db->wq_head)
            db->wq_tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&db->wq_mu);

        uint64_t before = db->ctr.update_seq;
        run_batch(db, batch);
        uint64_t after = db->ctr.update_seq;

        atomic_fetch_add(&db->commits, 1);
        release_stale_readers(db);
        pthread_mutex_lock(&db->wq_mu);
        db->committed_seq = after;
        /* Owners return once they get the mutex back, after this loop:
         * their condition variables are still alive while signalled. */
        for (db_job *j = batch, *next; j; j = next) {
            next = j->next;
            j->done = true;
            if (j != job)
                pthread_cond_signal(&j->cond);
        }
        db->leader = false;
        if (db->wq_head)
            pthread_cond_signal(&db->wq_head->cond); /* the next leader */
        else
            pthread_cond_broadcast(&db->wq_cond);    /* st_db_close waits for idle */
        if (after != before) {
            pthread_mutex_unlock(&db->wq_mu);
            notify(db, after);
            pthread_mutex_lock(&db->wq_mu);
        }
    }
    pthread_mutex_unlock(&db->wq_mu);
    pthread_cond_destroy(&job->cond);
    return job->status;
}

/* ----------------------------------------------------------------- readers */

st_conn *st_db_reader(st_db *db, st_error *err)
{
    if (atomic_load(&db->deleted)) {
        st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
        return NULL;
    }
    unsigned n = db->opts.readers;
    pthread_mutex_lock(&db->rd_mu);
    reader *r = NULL;
    for (;;) {
        /* Prefer an open connection, else a slot to open one in. */
        for (unsigned i = 0; i < n && !r; i++)
            if (!db->rd[i].busy && db->rd[i].conn)
                r = &db->rd[i];
        for (unsigned i = 0; i < n && !r; i++)
            if (!db->rd[i].busy)
                r = &db->rd[i];
        if (r)
            break;
        pthread_cond_wait(&db->rd_cond, &db->rd_mu);
    }
    r->busy = true;
    pthread_mutex_unlock(&db->rd_mu);

    st_status st = ST_OK;
    if (!r->conn) {
        /* Opened outside the lock, published under it: reader_put scans
         * the slots' conn pointers while holding rd_mu. */
        st_conn *fresh = NULL;
        st = st_store_conn_open(db->store, &fresh, err);
        pthread_mutex_lock(&db->rd_mu);
        r->conn = fresh;
        pthread_mutex_unlock(&db->rd_mu);
    }
    uint64_t now = atomic_load(&db->commits);
    if (st == ST_OK && r->in_txn && r->snap_seq != now) {
        st_store_read_end(r->conn);
        r->in_txn = false;
    }
    if (st == ST_OK && !r->in_txn) {
        st = st_store_read_begin(r->conn, err);
        r->in_txn = st == ST_OK;
        r->snap_seq = now;
    }
    if (st != ST_OK) {
        pthread_mutex_lock(&db->rd_mu);
        r->busy = false;
        pthread_cond_signal(&db->rd_cond);
        pthread_mutex_unlock(&db->rd_mu);
        return NULL;
    }
    return r->conn;
}

void st_db_reader_put(st_db *db, st_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&db->rd_mu);
    for (unsigned i = 0; i < db->opts.readers; i++) {
        if (db->rd[i].conn == c) {
            db->rd[i].busy = false;
            break;
        }
    }
    pthread_cond_signal(&db->rd_cond);
    pthread_mutex_unlock(&db->rd_mu);
}

/* After a commit: idle readers let go of their old snapshots, so the WAL
 * can be checkpointed past them even if nobody reads for a while. */
static void release_stale_readers(st_db *db)
{
    uint64_t now = atomic_load(&db->commits);
    pthread_mutex_lock(&db->rd_mu);
    for (unsigned i = 0; i < db->opts.readers; i++) {
        reader *r = &db->rd[i];
        if (!r->busy && r->in_txn && r->snap_seq != now) {
            st_store_read_end(r->conn);
            r->in_txn = false;
        }
    }
    pthread_mutex_unlock(&db->rd_mu);
}

/* ------------------------------------------------------------------- info */

st_status st_db_info_get(st_db *db, st_db_info *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    db_counters k;
    st_store_size sz = {0, 0};
    st_status st = st_db_read_counters(c, &k, err);
    if (st == ST_OK)
        st = st_store_size_get(c, &sz, err);
    st_db_reader_put(db, c);
    if (st != ST_OK)
        return st;
    out->update_seq = k.update_seq;
    out->purge_seq = k.purge_seq;
    out->doc_count = k.doc_count;
    out->doc_del_count = k.del_count;
    out->size_external = k.external > 0 ? (uint64_t)k.external : 0;
    out->revs_limit = k.revs_limit;
    out->size_file = sz.file;
    out->size_active = sz.active;
    memcpy(out->instance_start_time, db->start_time, sizeof out->instance_start_time);
    memcpy(out->uuid, db->uuid, sizeof out->uuid);
    return ST_OK;
}

/* --------------------------------------------------------------- observers */

st_status st_db_observe(st_db *db, st_db_observer_fn fn, void *ctx, st_db_observer **out,
                        st_error *err)
{
    *out = NULL;
    st_db_observer *o = calloc(1, sizeof *o);
    if (!o)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    o->fn = fn;
    o->ctx = ctx;
    pthread_mutex_lock(&db->obs_mu);
    o->next = db->obs;
    db->obs = o;
    pthread_mutex_unlock(&db->obs_mu);
    *out = o;
    return ST_OK;
}

void st_db_unobserve(st_db *db, st_db_observer *obs)
{
    if (!obs)
        return;
    pthread_mutex_lock(&db->obs_mu);
    for (st_db_observer **p = &db->obs; *p; p = &(*p)->next) {
        if (*p == obs) {
            *p = obs->next;
            break;
        }
    }
    pthread_mutex_unlock(&db->obs_mu);
    free(obs);
}

/* ------------------------------------------------------------ revs_limit */

static st_status run_revs_limit(st_db *db, void *arg, st_error *err)
{
    db->ctr.revs_limit = *(unsigned *)arg;
    return ST_OK;
}

st_status st_db_revs_limit_set(st_db *db, unsigned limit, st_error *err)
{
    if (limit < 1)
        return st_fail(err, ST_E_BAD_REQUEST, "revs_limit must be a positive integer");
    db_job job = {.run = run_revs_limit, .arg = &limit, .err = err};
    return st_db_submit(db, &job);
}

st_status st_db_revs_limit_get(st_db *db, unsigned *out, st_error *err)
{
    st_db_info info;
    st_status st = st_db_info_get(db, &info, err);
    if (st == ST_OK)
        *out = info.revs_limit;
    return st;
}
