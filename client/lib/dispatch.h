/* dispatch.h — where a database's callbacks run: one dispatcher per
 * settee_db, running the tasks registered with it one at a time, either on a
 * thread of its own (SETTEE_DISPATCH_THREAD) or inside st_client_dispatch_run
 * called by the app (SETTEE_DISPATCH_MANUAL).
 *
 * A task is anything that calls the app back: a listener, a sync.  Each
 * implements one interface, st_client_task_ops:
 *   due   "is something due?"   asked under the dispatcher's lock: quick, may
 *                               take only the task's own innermost lock;
 *   run   "run it"              on the callback thread, no dispatcher lock held;
 *                               calls the app; says what comes next;
 *   free  "free it in dispatch" on the callback thread, serialized with runs,
 *                               exactly once, after st_client_dispatch_remove.
 * Notify, then pull: a task's producer (a core follower, a replicator hook)
 * records what happened in the task and calls st_client_dispatch_wake; the
 * next round asks every task whether it is due.  Wakes coalesce.
 *
 * Removal (st_client_dispatch_remove), by where it is called from:
 *   - from inside the task's own run: it is unlinked at once and freed once
 *     that run has returned (free's deferred = true: that was its last call);
 *   - from any other callback of the same dispatcher: freed at once, inline;
 *   - from another thread, thread mode: handed to the dispatch thread, which
 *     frees it between callbacks; remove returns after that;
 *   - from another thread, manual mode: once no round runs (a round in
 *     progress on the app's loop thread is waited for), freed on the caller's
 *     thread, which counts as a round.
 * So after remove returns (other than from the task's own run), the task's
 * callbacks never run again, and free ran on "the callback thread".
 *
 * Depends on notify.h only; it knows nothing of listeners, syncs or
 * databases.  Locks: the round lock (one round at a time, held across the
 * app's callbacks) is outer to the list lock (a few instructions), which is
 * outer to any task's own lock (taken by due).
 */
#ifndef ST_CLIENT_DISPATCH_H
#define ST_CLIENT_DISPATCH_H

#include <stdbool.h>

#include "st_error.h"

typedef struct st_client_dispatcher st_client_dispatcher;
typedef struct st_client_task st_client_task;

/* When a failed task is run again (thread mode; manual mode: the next
 * st_client_dispatch_run). */
#define ST_CLIENT_RETRY_MS 1000

typedef enum st_client_next {
    ST_CLIENT_IDLE = 0,  /* nothing more until the task's producer wakes it */
    ST_CLIENT_MORE = 1,  /* more right away: run it again in the next round */
    ST_CLIENT_RETRY = 2  /* it failed (out of memory, storage): try later */
} st_client_next;

typedef struct st_client_task_ops {
    bool (*due)(st_client_task *t);
    st_client_next (*run)(st_client_task *t);
    void (*free)(st_client_task *t, bool deferred);
} st_client_task_ops;

/* Embedded in the task's own struct (the owner allocates it); every field
 * is the dispatcher's (under its list lock). */
struct st_client_task {
    const st_client_task_ops *ops;
    st_client_dispatcher *d;
    st_client_task *next;      /* the dispatcher's list, or its dying list */
    unsigned round;            /* the last round that visited it */
    bool busy;                 /* its run is in progress */
    bool removed;              /* st_client_dispatch_remove was called */
    bool dying;                /* removed: to be freed once its run returns */
    bool again;                /* run returned MORE */
    bool retry;                /* run returned RETRY */
    bool *freed;               /* a waiting remover's flag, set after free */
};

/* CONSTRUCTOR.  own_thread: start the dispatch thread (it blocks every
 * signal).  Any thread. */
st_status st_client_dispatch_new(bool own_thread, st_client_dispatcher **out, st_error *err);
/* DESTRUCTOR.  Stops and joins the thread.  No task may remain (the db's
 * registry guarantees it: tasks are children).  NULL ok.  Not from a
 * callback of d. */
void st_client_dispatch_free(st_client_dispatcher *d);

/* The descriptor that polls readable when a round is due.  Owned by d. */
int st_client_dispatch_fd(const st_client_dispatcher *d);

/* Register t (memory owned by the caller until ops->free runs).  Any thread. */
void st_client_dispatch_add(st_client_dispatcher *d, st_client_task *t,
                            const st_client_task_ops *ops);
/* See the file comment.  A second call on a removed task returns at once
 * (it must still be alive: only from inside its own run or free).  Any
 * thread. */
void st_client_dispatch_remove(st_client_task *t);
/* Whether t was removed; for a run that wants to stop early.  Any thread
 * that knows t is alive. */
bool st_client_dispatch_removed(st_client_task *t);

/* A round is due (coalescing, never blocks).  Any thread, also core's and
 * the replicator's (no lock of libsettee is taken). */
void st_client_dispatch_wake(st_client_dispatcher *d);

/* One round: every task that is due runs once (a task that returns MORE
 * runs again in a following round), then it returns; never waits for work.
 * Called by the dispatch thread, and by the app in manual mode (any thread,
 * one round at a time: a second caller waits).  From inside a callback of
 * d it returns at once (that round will see what is due). */
void st_client_dispatch_run(st_client_dispatcher *d);

#endif
