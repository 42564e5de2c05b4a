/* writeq.h — single-document writes, combined per database and written by
 * the server's writer threads (internal to server/).
 *
 * Why: a PUT of one document from each of many connections would call
 * st_db_write once per request on an MHD worker, which then sleeps through
 * the commit's fsync with every other connection it serves stalled behind
 * it; core wakes every waiting thread at each commit.  Here a request
 * hands its write to the queue (its connection suspended, the worker free
 * to read the next requests), and a writer thread takes every queued write
 * for one database into one st_db_write call (one transaction, one sync,
 * one result per document, exactly as if each had been written alone in
 * arrival order), then resumes precisely those connections.  While a
 * commit waits on the disk, the next batch gathers.
 *
 * Threading: any thread.  One writer at a time per database (core
 * serializes them anyway); several databases are written in parallel.
 */
#ifndef ST_SERVER_WRITEQ_H
#define ST_SERVER_WRITEQ_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <pthread.h>
#include "st_db.h"

typedef struct st_writeq st_writeq;

/* One queued write.  The submitter owns the memory and keeps req (and all
 * it points to) alive until done. */
typedef struct st_write_job {
    st_db *db;
    const st_write_req *req;
    unsigned flags;                 /* as for st_db_write */
    struct MHD_Connection *conn;    /* resumed when done (async); NULL = a waiting caller */
    /* results, valid once done: */
    st_status status;               /* st_db_write's return */
    st_write_result res;            /* when status is ST_OK; free with st_write_results_free */
    st_error err;                   /* when it is not */
    atomic_bool done;
    /* internal */
    pthread_cond_t *cond;
    struct st_write_job *next;
} st_write_job;

st_status st_writeq_new(st_writeq **out, st_error *err);
/* Stops the writers after the queue is empty.  NULL ok. */
void st_writeq_free(st_writeq *q);

/* Queue job; its connection must already be suspended (it is resumed,
 * from a writer thread, once job->done is set). */
void st_writeq_submit(st_writeq *q, st_write_job *job);

/* Wait up to ms for every queued write to be done (server stop: a
 * connection still suspended on a write must be resumed before MHD stops).
 * true when none is left. */
bool st_writeq_wait_idle(st_writeq *q, unsigned ms);

/* The blocking form: st_db_write(db, req, 1, flags, res, err) through the
 * queue.  res is always initialised (free with st_write_results_free). */
st_status st_writeq_write(st_writeq *q, st_db *db, const st_write_req *req, unsigned flags,
                          st_write_result *res, st_error *err);

#endif
