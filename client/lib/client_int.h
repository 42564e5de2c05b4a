/* client_int.h — the inside of libsettee's handles, shared by the client/lib C files.
 *
 * Locks, in the order they may nest (never the other way round):
 *   1. db->dispatch_mu — one dispatch at a time (held across app callbacks);
 *   2. db->mu          — the db's lists of listeners and syncs, and which one
 *                        is in a callback right now; never held across a
 *                        callback or a call into core or the replicator;
 *   3. sync->mu        — a sync's status flags and conflict queue; taken by
 *                        the replicator's threads for a few instructions;
 *   4. the registry lock (db.c) — which handles are open, in-flight calls and
 *                        live children; innermost, held for a few instructions.
 *
 * Naming: internal functions are st_client_<concept>_<verb> (or static);
 * only settee_* is exported.
 */
#ifndef ST_CLIENT_INT_H
#define ST_CLIENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "notify.h"
#include "settee.h"
#include "st_db.h"

typedef struct settee_sync settee_sync;

struct settee_listener {
    settee_db *db;
    settee_change_fn fn;
    void *ctx;
    char **ids;             /* doc id filter (copied), or NULL */
    size_t n_ids;
    uint64_t seq;           /* cursor: every change up to here was delivered */
    unsigned round;         /* the last dispatch round that visited it */
    bool busy;              /* dispatch is reading for it or calling fn */
    bool removed;           /* unlinked by settee_listener_remove */
    bool free_in_dispatch;  /* removed from inside its own fn: dispatch frees it */
    struct settee_listener *next;
};

struct settee_db {
    st_db *core;
    size_t max_doc_size;           /* JSON parse limit for writes */
    settee_dispatch_mode mode;
    st_notify notify;              /* signalled on commits and sync events */
    st_db_observer *observer;      /* core → notify */
    _Atomic uint64_t seen_seq;     /* newest update_seq the observer reported */

    pthread_mutex_t mu;            /* lock 2, see above */
    pthread_cond_t cond;           /* a busy callback finished */
    struct settee_listener *listeners;
    settee_sync *syncs;
    pthread_t cb_thread;           /* thread running callbacks now (when cb_active) */
    bool cb_active;

    pthread_mutex_t dispatch_mu;   /* lock 1 */
    unsigned round;                /* dispatch round counter (under dispatch_mu) */

    pthread_t thread;              /* SETTEE_DISPATCH_THREAD: the callback thread */
    bool thread_started;
    atomic_bool stopping;

    /* Under the registry lock (db.c). */
    unsigned inflight;             /* public calls inside db right now */
    unsigned children;             /* listeners + syncs + iterators alive */
};

/* ------------------------------------------------------------- errors.c */

/* Fill e (if non-NULL) and return code. */
settee_status st_client_fail(settee_error *e, settee_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Translate a core status (and its error, if any) into e; returns the code. */
settee_status st_client_from_core(settee_error *e, st_status s, const st_error *ce);
settee_status st_client_code(st_status s);
void st_client_ok(settee_error *e);
/* *out = a malloc'd NUL-terminated copy of s[0..n); SETTEE_NOMEM on failure. */
settee_status st_client_dup(char **out, const char *s, size_t n, settee_error *e);

/* ----------------------------------------------------------------- db.c */

/* Validate db as open and count the caller in (SETTEE_MISUSE otherwise);
 * every public call on a db is bracketed by enter/leave so close can refuse
 * while one runs. */
settee_status st_client_enter(settee_db *db, settee_error *e);
void st_client_leave(settee_db *db);
void st_client_child_add(settee_db *db);   /* call between enter and leave */
void st_client_child_done(settee_db *db);

/* ------------------------------------------------------------ dispatch.c */

st_status st_client_dispatch_start(settee_db *db, st_error *err);
void st_client_dispatch_stop(settee_db *db);
/* Run due callbacks (the caller holds no lock).  Used by the thread and by
 * settee_db_dispatch. */
void st_client_dispatch_run(settee_db *db);
/* Wake the dispatcher (any thread). */
void st_client_wake(settee_db *db);
/* Wait until no callback of obj runs on another thread; returns true when
 * obj's callback is running on THIS thread (the caller must defer the free).
 * Called with db->mu held. */
bool st_client_wait_not_busy(settee_db *db, const bool *busy);

/* ---------------------------------------------------------------- sync.c */

/* Dispatch's part of a sync: deliver status and run the resolver.  Called
 * with no lock held, s marked busy. */
void st_client_sync_dispatch(settee_sync *s);
/* Whether s has anything for dispatch (under db->mu). */
bool st_client_sync_due(settee_sync *s);
/* List links, busy flags: sync.c owns the struct, dispatch.c walks the list. */
settee_sync *st_client_sync_next(settee_sync *s);
bool *st_client_sync_busy(settee_sync *s);
unsigned *st_client_sync_round(settee_sync *s);
bool st_client_sync_free_in_dispatch(settee_sync *s);
void st_client_sync_destroy(settee_sync *s);

/* -------------------------------------------------------------- resolve.c */

/* Load the live leaves of id; when there are two or more, call fn.  Returns
 * fn's status (SETTEE_OK when there was nothing to resolve) and whether fn
 * ran. */
settee_status st_client_resolve_one(settee_db *db, const char *id, settee_resolver_fn fn,
                                    void *ctx, bool *out_called, settee_error *e);

#endif
