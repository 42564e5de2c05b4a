/* view_jobs.h — view work the server does after it has answered: the
 * update that update=lazy (stale=update_after) asks for, the compaction of
 * POST /{db}/_compact/{ddoc}, and POST /{db}/_view_cleanup (both 202, as in
 * CouchDB).
 *
 * One worker thread runs the jobs in order; a job equal to one already
 * queued is dropped (ten lazy queries make one update), and the queue is
 * bounded (past ST_VJOBS_MAX a job is refused: the caller has answered
 * anyway).  A job names its database; it opens it from the catalog when it
 * runs, so a database deleted meanwhile is skipped.
 *
 * Threads: st_vjobs_add from any thread; st_vjobs_free after the HTTP
 * daemon stopped (it waits for the running job, drops the queued ones).
 */
#ifndef ST_SERVER_VIEW_JOBS_H
#define ST_SERVER_VIEW_JOBS_H

#include "http.h"

#define ST_VJOBS_MAX 1024

typedef struct st_vjobs st_vjobs;

typedef enum { ST_VJOB_UPDATE, ST_VJOB_COMPACT, ST_VJOB_CLEANUP } st_vjob_kind;

st_status st_vjobs_new(st_server *srv, st_vjobs **out, st_error *err);
void st_vjobs_free(st_vjobs *j); /* NULL ok */

/* Queue a job: view (UPDATE) and ddoc_id (UPDATE, COMPACT) may be NULL for
 * the others.  false when it was refused (queue full, memory). */
bool st_vjobs_add(st_vjobs *j, st_vjob_kind kind, const char *db, const char *ddoc_id,
                  const char *view);

/* Jobs queued or running (the tests wait for it to reach 0). */
unsigned st_vjobs_pending(st_vjobs *j);

#endif
