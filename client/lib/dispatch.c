/* dispatch.c — the dispatcher (see dispatch.h): one loop over one kind of
 * thing, the task.
 *
 * Why rounds: the task list may change while a task runs (the app adds and
 * removes listeners from callbacks), so the list lock is dropped around
 * every run.  A round visits each task at most once (a counter stamped on
 * it), starting over from the head after every run, so it is bounded even
 * while tasks come and go.  Wakes arriving during a round make the notify
 * descriptor readable again (it is drained before the round starts), so
 * nothing is missed: the task's own state says what is due, the descriptor
 * only says "look".
 *
 * Why free in dispatch: a task's free may call the app one last time (a
 * sync's final STOPPED), so it must be serialized with the other callbacks
 * and, in thread mode, happen on the dispatch thread.
 */
#include "dispatch.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "notify.h"

struct st_client_dispatcher {
    st_notify notify;            /* readable: a round is due */
    pthread_mutex_t round_mu;    /* one round at a time, held across callbacks */
    pthread_mutex_t mu;          /* the fields below, and every task's fields */
    pthread_cond_t cond;         /* a run ended, or a dying task was freed */
    st_client_task *tasks;       /* registered, not removed */
    st_client_task *dying;       /* removed, waiting for free */
    unsigned round;              /* the current round's stamp (never 0) */
    bool in_round;               /* a round (or a manual-mode free) runs ... */
    pthread_t round_thread;      /* ... on this thread */
    bool retry_pending;          /* a task returned RETRY this round */
    bool own_thread;
    bool thread_started;
    atomic_bool stopping;
    pthread_t thread;
};

/* Whether the caller is inside a round of d, i.e. in one of its callbacks
 * (mu held). */
static bool on_round_thread(const st_client_dispatcher *d)
{
    return d->in_round && pthread_equal(d->round_thread, pthread_self());
}

static void round_begin(st_client_dispatcher *d)
{
    pthread_mutex_lock(&d->mu);
    d->in_round = true;
    d->round_thread = pthread_self();
    pthread_mutex_unlock(&d->mu);
}

static void round_end(st_client_dispatcher *d)
{
    pthread_mutex_lock(&d->mu);
    d->in_round = false;
    pthread_mutex_unlock(&d->mu);
}

static void unlink_task(st_client_dispatcher *d, st_client_task *t)
{
    for (st_client_task **p = &d->tasks; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    t->next = NULL;
}

/* Free every dying task whose run is over.  mu held, released around each
 * free (which may call the app). */
static void free_dying(st_client_dispatcher *d)
{
    for (;;) {
        st_client_task **p = &d->dying;
        while (*p && (*p)->busy)
            p = &(*p)->next;
        st_client_task *t = *p;
        if (!t)
            return;
        *p = t->next;
        bool *flag = t->freed;
        bool deferred = t->dying;
        pthread_mutex_unlock(&d->mu);
        t->ops->free(t, deferred);
        pthread_mutex_lock(&d->mu);
        if (flag) {
            *flag = true;
            pthread_cond_broadcast(&d->cond);
        }
    }
}

/* The next task this round has not visited yet, stamped (mu held). */
static st_client_task *next_unvisited(st_client_dispatcher *d, unsigned round)
{
    st_client_task *t = d->tasks;
    while (t && t->round == round)
        t = t->next;
    if (t)
        t->round = round;
    return t;
}

/* Run every due task once.  Returns whether one asked for another round. */
static bool run_tasks(st_client_dispatcher *d, unsigned round)
{
    bool again = false;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        free_dying(d);
        st_client_task *t = next_unvisited(d, round);
        if (!t)
            break;
        if (!t->again && !t->retry && !t->ops->due(t))
            continue;
        t->again = t->retry = false;
        t->busy = true;
        pthread_mutex_unlock(&d->mu);
        st_client_next next = t->ops->run(t);
        pthread_mutex_lock(&d->mu);
        t->busy = false;
        pthread_cond_broadcast(&d->cond);
        if (t->removed)
            continue; /* on the dying list, or its remover waits for the round */
        if (next == ST_CLIENT_MORE)
            again = t->again = true;
        else if (next == ST_CLIENT_RETRY)
            d->retry_pending = t->retry = true;
    }
    pthread_mutex_unlock(&d->mu);
    return again;
}

void st_client_dispatch_run(st_client_dispatcher *d)
{
    pthread_mutex_lock(&d->mu);
    bool nested = on_round_thread(d);
    pthread_mutex_unlock(&d->mu);
    if (nested) /* re-entering would deadlock; this round sees what is due */
        return;
    pthread_mutex_lock(&d->round_mu);
    round_begin(d);
    st_notify_drain(&d->notify);
    pthread_mutex_lock(&d->mu);
    d->retry_pending = false;
    unsigned round = ++d->round;
    if (round == 0) /* 0 is "never visited" */
        round = ++d->round;
    pthread_mutex_unlock(&d->mu);
    if (run_tasks(d, round))
        st_notify_signal(&d->notify);
    round_end(d);
    pthread_mutex_unlock(&d->round_mu);
}

void st_client_dispatch_add(st_client_dispatcher *d, st_client_task *t,
                            const st_client_task_ops *ops)
{
    *t = (st_client_task){.ops = ops, .d = d};
    pthread_mutex_lock(&d->mu);
    t->next = d->tasks;
    d->tasks = t;
    pthread_mutex_unlock(&d->mu);
}

void st_client_dispatch_remove(st_client_task *t)
{
    st_client_dispatcher *d = t->d;
    pthread_mutex_lock(&d->mu);
    if (t->removed) {
        pthread_mutex_unlock(&d->mu);
        return;
    }
    t->removed = true;
    unlink_task(d, t);
    if (on_round_thread(d)) {
        if (t->busy) { /* its own run: free it once that returns */
            t->dying = true;
            t->next = d->dying;
            d->dying = t;
            pthread_mutex_unlock(&d->mu);
            return;
        }
        pthread_mutex_unlock(&d->mu);
        t->ops->free(t, false);
        return;
    }
    if (d->own_thread) { /* hand it to the dispatch thread and wait */
        bool freed = false;
        t->freed = &freed;
        t->next = d->dying;
        d->dying = t;
        st_notify_signal(&d->notify);
        while (!freed)
            pthread_cond_wait(&d->cond, &d->mu);
        pthread_mutex_unlock(&d->mu);
        return;
    }
    pthread_mutex_unlock(&d->mu);
    /* Manual mode: this thread does a round of one free. */
    pthread_mutex_lock(&d->round_mu);
    round_begin(d);
    t->ops->free(t, false);
    round_end(d);
    pthread_mutex_unlock(&d->round_mu);
}

bool st_client_dispatch_removed(st_client_task *t)
{
    pthread_mutex_lock(&t->d->mu);
    bool r = t->removed;
    pthread_mutex_unlock(&t->d->mu);
    return r;
}

void st_client_dispatch_wake(st_client_dispatcher *d) { st_notify_signal(&d->notify); }

int st_client_dispatch_fd(const st_client_dispatcher *d) { return d->notify.rfd; }

static void *thread_main(void *arg)
{
    st_client_dispatcher *d = arg;
    while (!atomic_load(&d->stopping)) {
        pthread_mutex_lock(&d->mu);
        int timeout = d->retry_pending ? ST_CLIENT_RETRY_MS : -1;
        pthread_mutex_unlock(&d->mu);
        st_notify_wait(&d->notify, timeout);
        if (atomic_load(&d->stopping))
            break;
        st_client_dispatch_run(d);
    }
    return NULL;
}

static st_status start_thread(st_client_dispatcher *d, st_error *err)
{
    /* The thread takes no signals: those belong to the app's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&d->thread, NULL, thread_main, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return st_fail(err, ST_E_NOMEM, "cannot start the callback thread");
    d->thread_started = true;
    return ST_OK;
}

st_status st_client_dispatch_new(bool own_thread, st_client_dispatcher **out, st_error *err)
{
    *out = NULL;
    st_client_dispatcher *d = calloc(1, sizeof *d);
    if (!d)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    d->notify.rfd = d->notify.wfd = -1;
    d->own_thread = own_thread;
    atomic_init(&d->stopping, false);
    pthread_mutex_init(&d->round_mu, NULL);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cond, NULL);
    st_status s = st_notify_open(&d->notify, err);
    if (s == ST_OK && own_thread)
        s = start_thread(d, err);
    if (s != ST_OK) {
        st_client_dispatch_free(d);
        return s;
    }
    *out = d;
    return ST_OK;
}

void st_client_dispatch_free(st_client_dispatcher *d)
{
    if (!d)
        return;
    if (d->thread_started) {
        atomic_store(&d->stopping, true);
        st_notify_signal(&d->notify);
        pthread_join(d->thread, NULL);
    }
    st_notify_close(&d->notify);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->round_mu);
    free(d);
}
