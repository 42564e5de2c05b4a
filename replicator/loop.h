/* loop.h — the replication thread's event loop: one curl multi handle, a
 * cross-thread wakeup, one-shot timers and deferred calls.
 *
 * Why a loop of our own rather than threads per request: a replication keeps
 * several requests in flight (changes read-ahead, _bulk_get, _bulk_docs,
 * checkpoints); curl multi multiplexes them over keep-alive connections on
 * one thread, and everything that touches replication state then runs on
 * that one thread, so the state needs no locks.
 *
 * Completions never run inside the call that started the work: a finished
 * transfer is reported from st_loop_run_once, and local work posts its
 * completion with st_loop_defer.  Callers can thus submit from a callback
 * without re-entering themselves.
 *
 * Threading: everything here runs on the loop's thread, except
 * st_loop_wakeup, which any thread may call.
 */
#ifndef ST_LOOP_H
#define ST_LOOP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include "st_error.h"

typedef struct st_loop st_loop;
typedef void (*st_loop_fn)(void *ctx);

/* A one-shot timer, embedded in its owner (intrusive, no allocation). */
typedef struct st_timer {
    uint64_t due_ms;        /* st_loop_now_ms() at which it fires */
    st_loop_fn fn;
    void *ctx;
    struct st_timer *next;  /* in the loop's due-ordered list */
    bool armed;
} st_timer;

/* A transfer on the loop's multi handle: set CURLOPT_PRIVATE of the easy
 * handle to one of these; done() runs when the transfer ended. */
typedef struct st_loop_xfer {
    void (*done)(void *ctx, CURLcode result);
    void *ctx;
} st_loop_xfer;

st_status st_loop_new(st_loop **out, st_error *err);
/* All timers must be stopped and transfers removed first.  NULL ok. */
void st_loop_free(st_loop *l);

CURLM *st_loop_multi(st_loop *l);
st_status st_loop_add(st_loop *l, CURL *easy, st_error *err);   /* start a transfer */
void st_loop_remove(st_loop *l, CURL *easy);                     /* abandon it, no done() */

/* Any thread: make a blocked st_loop_run_once return soon. */
void st_loop_wakeup(st_loop *l);

uint64_t st_loop_now_ms(void);  /* monotonic */

/* (Re)arm t to call fn(ctx) after delay_ms (0: on the next iteration). */
void st_loop_timer_start(st_loop *l, st_timer *t, uint64_t delay_ms, st_loop_fn fn, void *ctx);
void st_loop_timer_stop(st_loop *l, st_timer *t);    /* no-op when not armed */
#define st_loop_defer(l, t, fn, ctx) st_loop_timer_start((l), (t), 0, (fn), (ctx))

/* A function called after every wait (e.g. to look at a flag a core
 * thread set before calling st_loop_wakeup).  At most 8. */
st_status st_loop_hook_add(st_loop *l, st_loop_fn fn, void *ctx, st_error *err);
void st_loop_hook_remove(st_loop *l, st_loop_fn fn, void *ctx);

/* Wait up to max_wait_ms (less when a timer is due) for network activity or
 * a wakeup, then run finished transfers, due timers and hooks. */
void st_loop_run_once(st_loop *l, int max_wait_ms);

#endif
