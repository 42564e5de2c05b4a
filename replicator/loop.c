/* loop.c — the replication thread's event loop (see loop.h).
 *
 * Timers are a singly linked list ordered by due time: a replication has a
 * handful armed at once (retry backoffs, a feed timeout, deferred local
 * completions), so a heap would buy nothing.
 */
#include "loop.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_HOOKS 8

struct st_loop {
    CURLM *multi;          /* every transfer of this replication */
    st_timer *timers;      /* armed timers, earliest first */
    struct {
        st_loop_fn fn;
        void *ctx;
    } hooks[MAX_HOOKS];    /* called after every wait */
    unsigned n_hooks;
};

uint64_t st_loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

st_status st_loop_new(st_loop **out, st_error *err)
{
    *out = NULL;
    st_loop *l = calloc(1, sizeof *l);
    if (!l)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    l->multi = curl_multi_init();
    if (!l->multi) {
        free(l);
        return st_fail(err, ST_E_NOMEM, "curl_multi_init failed");
    }
    /* Keep-alive connections are pooled per multi handle; allow a few per
     * host so parallel batches do not queue behind one another. */
    curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, 32L);
    *out = l;
    return ST_OK;
}

void st_loop_free(st_loop *l)
{
    if (!l)
        return;
    curl_multi_cleanup(l->multi);
    free(l);
}

CURLM *st_loop_multi(st_loop *l) { return l->multi; }

st_status st_loop_add(st_loop *l, CURL *easy, st_error *err)
{
    CURLMcode mc = curl_multi_add_handle(l->multi, easy);
    if (mc != CURLM_OK)
        return st_fail(err, ST_E_NOMEM, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    return ST_OK;
}

void st_loop_remove(st_loop *l, CURL *easy)
{
    if (easy)
        curl_multi_remove_handle(l->multi, easy);
}

void st_loop_wakeup(st_loop *l) { curl_multi_wakeup(l->multi); }

void st_loop_timer_stop(st_loop *l, st_timer *t)
{
    if (!t->armed)
        return;
    for (st_timer **pp = &l->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    t->armed = false;
    t->next = NULL;
}

void st_loop_timer_start(st_loop *l, st_timer *t, uint64_t delay_ms, st_loop_fn fn, void *ctx)
{
    st_loop_timer_stop(l, t);
    t->due_ms = st_loop_now_ms() + delay_ms;
    t->fn = fn;
    t->ctx = ctx;
    st_timer **pp = &l->timers;
    /* After equal due times: deferred calls run in the order they were made. */
    while (*pp && (*pp)->due_ms <= t->due_ms)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    t->armed = true;
}

st_status st_loop_hook_add(st_loop *l, st_loop_fn fn, void *ctx, st_error *err)
{
    if (l->n_hooks == MAX_HOOKS)
        return st_fail(err, ST_E_BUSY, "too many loop hooks");
    l->hooks[l->n_hooks].fn = fn;
    l->hooks[l->n_hooks].ctx = ctx;
    l->n_hooks++;
    return ST_OK;
}

void st_loop_hook_remove(st_loop *l, st_loop_fn fn, void *ctx)
{
    for (unsigned i = 0; i < l->n_hooks; i++) {
        if (l->hooks[i].fn == fn && l->hooks[i].ctx == ctx) {
            memmove(&l->hooks[i], &l->hooks[i + 1], (l->n_hooks - i - 1) * sizeof l->hooks[0]);
            l->n_hooks--;
            return;
        }
    }
}

static void run_timers(st_loop *l)
{
    uint64_t now = st_loop_now_ms();
    /* A bounded pass: a chain of callbacks that keep deferring more work
     * still lets the network be serviced between passes. */
    unsigned budget = 1024;
    while (l->timers && l->timers->due_ms <= now && budget--) {
        st_timer *t = l->timers;
        l->timers = t->next;
        t->next = NULL;
        t->armed = false;
        t->fn(t->ctx);
    }
}

static void run_transfers(st_loop *l)
{
    int running = 0;
    curl_multi_perform(l->multi, &running);
    CURLMsg *m;
    int left = 0;
    while ((m = curl_multi_info_read(l->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        st_loop_xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(l->multi, easy);
        if (x && x->done)
            x->done(x->ctx, rc);
    }
}

void st_loop_run_once(st_loop *l, int max_wait_ms)
{
    int wait = max_wait_ms;
    if (l->timers) {
        uint64_t now = st_loop_now_ms();
        uint64_t due = l->timers->due_ms;
        int until = due <= now ? 0 : (int)(due - now > (uint64_t)wait ? (uint64_t)wait : due - now);
        if (until < wait)
            wait = until;
    }
    long curl_wait = -1;
    curl_multi_timeout(l->multi, &curl_wait);
    if (curl_wait >= 0 && curl_wait < wait)
        wait = (int)curl_wait;
    if (wait > 0)
        curl_multi_poll(l->multi, NULL, 0, wait, NULL);
    run_transfers(l);
    run_timers(l);
    for (unsigned i = 0; i < l->n_hooks; i++)
        l->hooks[i].fn(l->hooks[i].ctx);
}
