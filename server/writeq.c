/* writeq.c — see writeq.h.
 *
 * One FIFO of jobs for all databases and a few writer threads.  A writer
 * takes the oldest job whose database no other writer holds, and with it
 * every queued job for that database with the same flags (arrival order,
 * at most MAX_BATCH), writes them in one st_db_write, then hands each job
 * its result: a waiting caller is signalled, a suspended connection is
 * resumed (outside our lock; the job is not touched after that, since the
 * request that owns it may then finish and free it).
 *
 * Order: two jobs for the same document in one batch behave as they would
 * one after the other (the second sees the first's revision).
 */
#include "writeq.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256     /* jobs per st_db_write */
#define WRITERS 4         /* writer threads (databases written in parallel) */

struct st_writeq {
    pthread_mutex_t mu;   /* guards everything below */
    pthread_cond_t work;  /* a job was queued, or stop */
    pthread_cond_t idle;  /* pending dropped to 0 */
    size_t pending;       /* jobs queued or being written */
    st_write_job *head, *tail;
    st_db *busy[WRITERS]; /* databases being written (NULL = free slot) */
    pthread_t th[WRITERS];
    unsigned n_threads;
    bool stop;
};

static bool is_busy(const st_writeq *q, const st_db *db)
{
    for (unsigned i = 0; i < WRITERS; i++)
        if (q->busy[i] == db)
            return true;
    return false;
}

/* Whether a queued job's database is free (q->mu held). */
static bool takeable(const st_writeq *q)
{
    for (st_write_job *j = q->head; j; j = j->next)
        if (!is_busy(q, j->db))
            return true;
    return false;
}

/* Unlink and return up to MAX_BATCH jobs for the first job whose database
 * is free (q->mu held); NULL if there is none. */
static size_t take_batch(st_writeq *q, st_write_job **out)
{
    st_write_job *first = NULL;
    for (st_write_job *j = q->head; j && !first; j = j->next)
        if (!is_busy(q, j->db))
            first = j;
    if (!first)
        return 0;
    size_t n = 0;
    st_write_job *prev = NULL;
    for (st_write_job *j = q->head, *next; j && n < MAX_BATCH; j = next) {
        next = j->next;
        if (j->db != first->db || j->flags != first->flags) {
            prev = j;
            continue;
        }
        if (prev)
            prev->next = next;
        else
            q->head = next;
        if (q->tail == j)
            q->tail = prev;
        j->next = NULL;
        out[n++] = j;
    }
    return n;
}

static void write_batch(st_writeq *q, st_write_job **batch, size_t n, unsigned slot)
{
    st_write_req reqs[MAX_BATCH];
    st_db *db = batch[0]->db;
    unsigned flags = batch[0]->flags;
    for (size_t i = 0; i < n; i++)
        reqs[i] = *batch[i]->req;
    pthread_mutex_unlock(&q->mu);
    st_write_result *res = calloc(n, sizeof *res);
    st_error e;
    st_error_clear(&e);
    st_status st = res ? st_db_write(db, reqs, n, flags, res, &e)
                       : st_fail(&e, ST_E_NOMEM, "out of memory");
    if (st != ST_OK && res)
        st_write_results_free(res, n);
    if (n > 1)
        st_log(ST_LOG_DEBUG, "%s: %zu document writes in one transaction", st_db_name(db), n);
    struct MHD_Connection *resume[MAX_BATCH];
    size_t n_resume = 0;
    pthread_mutex_lock(&q->mu);
    q->busy[slot] = NULL;
    for (size_t i = 0; i < n; i++) {
        st_write_job *j = batch[i];
        j->status = st;
        if (st == ST_OK)
            j->res = res[i]; /* the id's ownership goes with it */
        else
            j->err = e;
        if (j->conn)
            resume[n_resume++] = j->conn;
        atomic_store(&j->done, true);
        if (j->cond)
            pthread_cond_signal(j->cond);
    }
    q->pending -= n;
    if (!q->pending)
        pthread_cond_broadcast(&q->idle);
    free(res);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < n_resume; i++)
        MHD_resume_connection(resume[i]);
    pthread_mutex_lock(&q->mu);
}

static void *writer_main(void *arg)
{
    st_writeq *q = arg;
    st_write_job *batch[MAX_BATCH];
    pthread_mutex_lock(&q->mu);
    for (;;) {
        size_t n = take_batch(q, batch);
        if (n == 0) {
            if (q->stop && !q->head)
                break;
            pthread_cond_wait(&q->work, &q->mu);
            continue;
        }
        unsigned slot = 0;
        while (q->busy[slot])
            slot++; /* a free slot exists: at most WRITERS threads hold one */
        q->busy[slot] = batch[0]->db;
        /* Wake another writer only for work it can take (another
         * database); this one comes back for its database's next batch. */
        if (takeable(q))
            pthread_cond_signal(&q->work);
        write_batch(q, batch, n, slot);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

st_status st_writeq_new(st_writeq **out, st_error *err)
{
    st_writeq *q = calloc(1, sizeof *q);
    if (!q)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->idle, NULL);
    for (unsigned i = 0; i < WRITERS; i++) {
        if (pthread_create(&q->th[i], NULL, writer_main, q) != 0)
            break;
        q->n_threads++;
    }
    if (!q->n_threads) {
        st_writeq_free(q);
        return st_fail(err, ST_E_IO, "cannot start the writer threads");
    }
    *out = q;
    return ST_OK;
}

void st_writeq_free(st_writeq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    for (unsigned i = 0; i < q->n_threads; i++)
        pthread_join(q->th[i], NULL);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->idle);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

void st_writeq_submit(st_writeq *q, st_write_job *job)
{
    atomic_init(&job->done, false);
    job->next = NULL;
    memset(&job->res, 0, sizeof job->res);
    st_error_clear(&job->err);
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->pending++;
    /* A writer busy with this database takes the job when it is done;
     * waking an idle one would only have it find the database taken. */
    if (!is_busy(q, job->db))
        pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
}

st_status st_writeq_write(st_writeq *q, st_db *db, const st_write_req *req, unsigned flags,
                          st_write_result *res, st_error *err)
{
    pthread_cond_t cond;
    pthread_cond_init(&cond, NULL);
    st_write_job job;
    memset(&job, 0, sizeof job);
    job.db = db;
    job.req = req;
    job.flags = flags;
    job.cond = &cond;
    st_writeq_submit(q, &job);
    pthread_mutex_lock(&q->mu);
    while (!atomic_load(&job.done))
        pthread_cond_wait(&cond, &q->mu);
    pthread_mutex_unlock(&q->mu);
    pthread_cond_destroy(&cond);
    *res = job.res;
    if (job.status != ST_OK && err)
        *err = job.err;
    return job.status;
}

bool st_writeq_wait_idle(st_writeq *q, unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&q->mu);
    while (q->pending && pthread_cond_timedwait(&q->idle, &q->mu, &until) == 0)
        ;
    bool idle = q->pending == 0;
    pthread_mutex_unlock(&q->mu);
    return idle;
}
