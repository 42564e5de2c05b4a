/* writer.c — the one write path: every change to a database (documents,
 * _local docs, purge, settings, compaction slices, checkpoints) is a job on
 * the database's queue, run by a pool of writer threads shared by all open
 * databases.
 *
 * Why a pool and not the callers' threads: a caller that had to wait for
 * its commit's fsync was a server worker stalled with every connection it
 * serves, or a replication loop that stopped fetching.  Now a caller
 * queues and gets a callback (or waits, for the synchronous forms), and the
 * server never blocks a worker on a commit.  One thread at a time runs a
 * database's batches, so jobs of one database are serialised in arrival
 * order; databases are written in parallel, up to POOL_MAX at once.
 *
 * Group commit: a thread takes every queued job of its database (up to
 * BATCH_MAX), runs them in one write transaction, commits once -- one fsync
 * for the whole group -- and calls each job's done().  While it waits on
 * the disk, new jobs pile up and go together in the next batch, which is
 * why 16 threads doing durable single-document puts are several times
 * faster than one.  After a batch the database goes to the back of the run
 * queue, so one busy database cannot starve the others.
 *
 * Counters come from the store at each BEGIN (under the write lock), so a
 * second process writing the same file is never overwritten.  A BEGIN that
 * fails because another process holds the lock is retried, not reported:
 * the batch's jobs are only failed when the lock stays taken past
 * BEGIN_PATIENCE_MS (503 busy), or for a real error (I/O, full disk).
 *
 * A synchronous caller whose database has no writer at work runs the batch
 * on its own thread (st_db_run_job); completion callbacks of other jobs in
 * that batch then run there too.
 *
 * Threads exit after IDLE_EXIT_MS without work, so a process with no open
 * databases has no writer threads; they are started again on demand.
 */
#include "db_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mango_int.h"
#include "ring.h"

#define BATCH_MAX 512
#define POOL_MAX 4
#define IDLE_EXIT_MS 2000
#define BEGIN_PATIENCE_MS 30000

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static st_db *runq_head, *runq_tail;
static unsigned n_threads, n_idle;

static void *writer_main(void *arg);

/* A child of fork() has none of its parent's threads: start from an empty
 * pool (the child's databases start their own writers). */
static void pool_after_fork(void)
{
    pthread_mutex_init(&pool_mu, NULL);
    pthread_cond_init(&pool_cv, NULL);
    runq_head = runq_tail = NULL;
    n_threads = n_idle = 0;
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork(void) { pthread_atfork(NULL, NULL, pool_after_fork); }

/* Put db on the run queue (it is scheduled and not running).  false when
 * no writer thread exists and none could be started: the caller then runs
 * the queue itself (slower, never stuck). */
static bool pool_push(st_db *db)
{
    pthread_once(&fork_once, register_fork);
    pthread_mutex_lock(&pool_mu);
    if (n_idle == 0 && n_threads < POOL_MAX) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, writer_main, NULL) == 0)
            n_threads++;
        pthread_attr_destroy(&a);
    }
    bool ok = n_threads > 0;
    bool wake = false;
    if (ok) {
        db->run_next = NULL;
        if (runq_tail)
            runq_tail->run_next = db;
        else
            runq_head = db;
        runq_tail = db;
        wake = n_idle > 0;
    }
    pthread_mutex_unlock(&pool_mu);
    /* Signalled after the unlock: a thread woken while we still held
     * pool_mu would block on it at once and need a second wake-up (two
     * futex calls, and two cross-CPU wake-ups, for every write).  Nothing
     * is lost: the thread rechecks runq_head under the mutex, and a
     * signal that finds no waiter (one took the work meanwhile) is a no-op. */
    if (wake)
        pthread_cond_signal(&pool_cv);
    return ok;
}

static void process(st_db *db);

/* Queue job; *run_here (when asked for) says the caller should run the
 * queue itself because no thread is on it yet. */
static st_status enqueue(st_db *db, db_job *job, bool *run_here, st_error *err)
{
    if (atomic_load(&db->deleted))
        return st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
    job->next = NULL;
    job->status = ST_OK;
    st_error_clear(&job->err);
    pthread_mutex_lock(&db->wq_mu);
    if (db->wq_tail)
        db->wq_tail->next = job;
    else
        db->wq_head = job;
    db->wq_tail = job;
    bool push = !db->scheduled;
    db->scheduled = true;
    pthread_mutex_unlock(&db->wq_mu);
    if (push && run_here)
        *run_here = true;
    else if (push && !pool_push(db))
        process(db);
    return ST_OK;
}

st_status st_db_enqueue(st_db *db, db_job *job, st_error *err)
{
    return enqueue(db, job, NULL, err);
}

/* ------------------------------------------------------------ synchronous */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} waiter;

static void wake_waiter(db_job *job)
{
    waiter *w = job->done_ctx;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

st_status st_db_run_job(st_db *db, db_job *job, st_error *err)
{
    waiter w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    job->done = wake_waiter;
    job->done_ctx = &w;
    /* A caller that would only wait runs its own batch when no writer is
     * on the database yet: no thread hop for the embedded library's
     * single writer, and a bulk load is not at the mercy of the scheduler
     * on a busy machine.  Jobs others queue meanwhile share the batch. */
    bool run_here = false;
    st_status st = enqueue(db, job, &run_here, err);
    if (st == ST_OK && run_here)
        process(db);
    if (st == ST_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        st = job->status;
        if (err && st != ST_OK)
            *err = job->err;
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return st;
}

/* ------------------------------------------------------------------ batches */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* BEGIN, retried while another process holds the write lock. */
static st_status begin(st_db *db, st_error *err)
{
    uint64_t start = st_db_now_ms();
    unsigned delay = 5;
    for (;;) {
        st_status st = st_store_write_begin(db->writer, &db->ctr, err);
        if (st != ST_E_BUSY || st_db_now_ms() - start > BEGIN_PATIENCE_MS)
            return st;
        sleep_ms(delay);
        delay = delay < 500 ? delay * 2 : 500;
    }
}

static void fail_all(db_job *batch, st_status st, const st_error *e)
{
    for (db_job *j = batch; j; j = j->next) {
        j->status = st;
        j->err = *e;
    }
}

/* Run batch in one transaction (see db_job for how a failure is confined). */
static bool run_batch(st_db *db, db_job *batch)
{
    st_error e;
    st_error_clear(&e);
    db->n_notes = 0;
    st_buf_reset(&db->notes_arena);
    st_status st = begin(db, &e);
    if (st != ST_OK) {
        fail_all(batch, st, &e);
        return false;
    }
    db->begin_seq = db->ctr.update_seq;
    /* Indexes made by another process (or a rolled-back batch) are
     * reloaded before anything is written. */
    if ((st = st_mango_batch_begin(db, &e)) != ST_OK) {
        st_store_rollback(db->writer);
        fail_all(batch, st, &e);
        return false;
    }
    pthread_mutex_lock(&db->seq_mu);
    db->noting = db->ring != NULL;
    pthread_mutex_unlock(&db->seq_mu);
    db_job *failed = NULL;
    for (db_job *j = batch; j && !failed; j = j->next) {
        st_error_clear(&j->err);
        j->status = j->run(db, j->arg, &j->err);
        if (j->status != ST_OK)
            failed = j;
    }
    if (failed) {
        st_store_rollback(db->writer);
        if (!batch->next)
            return false; /* a lone job: its own status says it all */
        bool any = false;
        for (db_job *j = batch, *next; j; j = next) {
            next = j->next;
            j->next = NULL;
            any = run_batch(db, j) || any;
            j->next = next;
        }
        return any;
    }
    pthread_mutex_lock(&db->seq_mu);
    st = st_store_commit(db->writer, &db->ctr, &e);
    if (st == ST_OK)
        st_follow_committed(db, db->ctr.update_seq);
    pthread_mutex_unlock(&db->seq_mu);
    if (st != ST_OK) {
        fail_all(batch, st, &e);
        return false;
    }
    return true;
}

static void run_outside(st_db *db, db_job *job)
{
    st_error_clear(&job->err);
    job->status = job->run(db, job->arg, &job->err);
}

/* One turn for db: a batch (or one outside-transaction job), then the
 * completions, then back on the queue if more is waiting. */
static void process(st_db *db)
{
    pthread_mutex_lock(&db->wq_mu);
    db_job *batch = db->wq_head, *last = batch;
    size_t n = 1;
    if (!batch->outside_txn && !batch->solo) {
        while (last->next && !last->next->outside_txn && !last->next->solo && n < BATCH_MAX) {
            last = last->next;
            n++;
        }
    }
    db->wq_head = last->next;
    if (!db->wq_head)
        db->wq_tail = NULL;
    last->next = NULL;
    pthread_mutex_unlock(&db->wq_mu);

    if (batch->outside_txn) {
        run_outside(db, batch);
    } else {
        uint64_t before = atomic_load(&db->committed_seq);
        /* Idle readers let go of their snapshots first.  SQLite checkpoints
         * the WAL inside the commit, and a snapshot an idle reader still
         * holds stops it short of the end, so the WAL never starts over: with
         * a read between every two writes (a live query, an app reading back
         * what it wrote) it would grow without end and every commit would
         * retry a checkpoint (and its fsync).  Those snapshots go stale with
         * this commit anyway. */
        st_db_readers_release(db, true);
        bool committed = run_batch(db, batch);
        atomic_fetch_add(&db->commits, 1);
        st_db_readers_release(db, false);
        /* Owners first (a PUT's 201 should not wait for 10,000 feeds),
         * then the followers. */
        for (db_job *j = batch, *next; j; j = next) {
            next = j->next;
            j->done(j);
        }
        batch = NULL;
        uint64_t after = atomic_load(&db->committed_seq);
        if (committed && after != before)
            st_follow_wake_all(db);
    }
    if (batch)
        batch->done(batch);

    pthread_mutex_lock(&db->wq_mu);
    bool more = db->wq_head != NULL;
    if (!more) {
        db->scheduled = false;
        pthread_cond_broadcast(&db->wq_cond);
    }
    pthread_mutex_unlock(&db->wq_mu);
    if (more && !pool_push(db))
        process(db);
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        while (!runq_head) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += IDLE_EXIT_MS / 1000;
            n_idle++;
            int rc = pthread_cond_timedwait(&pool_cv, &pool_mu, &ts);
            n_idle--;
            if (rc == ETIMEDOUT && !runq_head) {
                n_threads--;
                pthread_mutex_unlock(&pool_mu);
                return NULL;
            }
        }
        st_db *db = runq_head;
        runq_head = db->run_next;
        if (!runq_head)
            runq_tail = NULL;
        pthread_mutex_unlock(&pool_mu);
        process(db);
        pthread_mutex_lock(&pool_mu);
    }
}
