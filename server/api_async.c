/* api_async.c — handlers that hand work to core's writer.
 *
 * Why: a commit waits for fsync.  An MHD worker that waited with it would
 * stall every other connection it serves, so a write handler suspends its
 * connection, queues the write (st_db_*_async) and returns; core calls back
 * on its writer thread once the commit is durable, the callback resumes the
 * connection, and the handler's finish function builds the answer on an
 * MHD worker again.  No worker ever waits on a commit.
 *
 * The connection is suspended before the write is queued: core may finish
 * (and resume) before the handler has returned.  A write that cannot be
 * queued is answered the same way, by resuming at once.
 */
#include "api.h"

void st_api_async_begin(st_req *r, void *ctx, void (*free_ctx)(void *ctx),
                        void (*finish)(st_req *r))
{
    r->async = true;
    r->async_ctx = ctx;
    r->async_free = free_ctx;
    r->async_finish = finish;
    r->async_st = ST_OK;
    st_error_clear(&r->async_err);
    atomic_fetch_add(&r->srv->async_calls, 1);
    atomic_fetch_add(&r->srv->suspended, 1);
    MHD_suspend_connection(r->conn);
}

/* Runs on a core writer thread: r belongs to MHD again once resumed, so
 * nothing of it is touched after the resume. */
void st_api_async_done(void *ctx, st_status st, const st_error *err)
{
    st_req *r = ctx;
    st_server *srv = r->srv;
    r->async_st = st;
    if (st != ST_OK && err)
        r->async_err = *err;
    MHD_resume_connection(r->conn);
    atomic_fetch_sub(&srv->suspended, 1);
    atomic_fetch_sub(&srv->async_calls, 1);
}

void st_api_async_failed(st_req *r, const st_error *err)
{
    st_api_async_done(r, err && err->code != ST_OK ? err->code : ST_E_IO, err);
}
