/* client_int.h — the inside of a settee_db, shared by the client/lib C files.
 *
 * Dependency order of client/lib, bottom first.  Each file calls only files
 * on lines above its own (checked with grep of includes and calls; callbacks
 * through function pointers -- a task's ops, the app's callbacks -- are the
 * only calls that go upwards):
 *
 *   errors.c     settee_error, code tables, settee_free       (nothing)
 *   notify.c     eventfd / self-pipe                          (nothing)
 *   registry.c   open handles, in-flight calls, children      errors
 *   dispatch.c   the dispatcher: one loop over tasks          notify
 *   js.c         query servers, views, validation of a db     errors
 *   db.c         open/close, notify fd, settee_db_dispatch    registry, dispatch, js, errors
 *   views.c      settee_view_query                            registry, js, errors
 *   docs.c alldocs.c atts.c changes.c conflicts.c             registry, errors
 *   resolvers.c  built-in resolvers                           conflicts (public API)
 *   find.c       settee_find, json indexes                    registry, errors
 *   lqset.c      a live query's window (ordered, ranked)      (nothing)
 *   listener.c   listeners: a task on a core follower         registry, dispatch, errors
 *   livequery.c  live queries: a task on a selector follower  registry, dispatch, lqset, errors
 *   sync.c       syncs: a task on two replications            registry, dispatch, conflicts, errors
 *
 * Locks, in the order they may nest (never the other way round):
 *   1. the dispatcher's round lock -- one round at a time, held across the
 *      app's callbacks (dispatch.c);
 *   2. the dispatcher's list lock -- its tasks and their flags; a few
 *      instructions, never across a callback;
 *   3. sync->mu -- a sync's status flags and conflict queue (taken by due
 *      under lock 2, and by the replicator's threads for a few instructions);
 *   4. the registry lock (registry.c) -- innermost.
 * Core's and the replicator's own locks are never held when they call in
 * here (a follower's wake, a replicator hook), and those calls take only
 * lock 3 or none.
 *
 * Naming: internal functions are st_client_<concept>_<verb> (or static);
 * only settee_* is exported.
 */
#ifndef ST_CLIENT_INT_H
#define ST_CLIENT_INT_H

#include <stddef.h>

#include "dispatch.h"
#include "errors.h"
#include "js.h"
#include "registry.h"
#include "settee.h"
#include "st_db.h"

struct settee_db {
    st_db *core;                   /* the database; closed last */
    size_t max_doc_size;           /* JSON parse limit for writes */
    settee_dispatch_mode mode;
    st_client_dispatcher *disp;    /* runs the listeners and syncs of this db */
    st_client_js *js;              /* design documents' JavaScript (js.c) */
};

/* ------------------------------------------------------------ conflicts.c */

/* Load the live leaves of id; when there are two or more, call fn.  Returns
 * fn's status (SETTEE_OK when there was nothing to resolve) and whether fn
 * ran.  The caller entered db.  Any thread. */
settee_status st_client_resolve_one(settee_db *db, const char *id, settee_resolver_fn fn,
                                    void *ctx, bool *out_called, settee_error *e);

#endif
