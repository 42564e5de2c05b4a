/* dispatch.c — where callbacks run: one round over a database's listeners
 * and syncs, on the settee-owned thread or inside settee_db_dispatch().
 *
 * Notify, then pull: core's observer and the replicator's hooks only signal
 * db->notify (coalescing); a round drains the signal first, then asks each
 * listener and sync whether it has work.  A signal that arrives during a
 * round makes the descriptor readable again, so nothing is missed, and
 * listeners pull "changes since my own cursor", so a slow one costs no
 * memory (LiteCore's c4dbobs, libuv's uv_async_send).
 *
 * Removal during a round: exactly one object is "busy" (being read for or
 * called) at a time.  Removing it from another thread waits on db->cond
 * until the round lets go of it; removing it from its own callback (same
 * thread) only unlinks it and leaves the free to the round, once the
 * callback has returned.
 */
#include <signal.h>
#include <stdlib.h>

#include "client_int.h"

void st_client_listener_deliver(settee_listener *l);  /* listener.c */
void st_client_listener_destroy(settee_listener *l);  /* listener.c */

void st_client_wake(settee_db *db) { st_notify_signal(&db->notify); }

bool st_client_wait_not_busy(settee_db *db, const bool *busy)
{
    while (*busy) {
        if (db->cb_active && pthread_equal(db->cb_thread, pthread_self()))
            return true;
        pthread_cond_wait(&db->cond, &db->mu);
    }
    return false;
}

/* Mark the object behind busy as running on this thread (db->mu held). */
static void begin_cb(settee_db *db, bool *busy)
{
    *busy = true;
    db->cb_active = true;
    db->cb_thread = pthread_self();
}

/* The object finished; wake removers.  Returns with db->mu held. */
static void end_cb(settee_db *db, bool *busy)
{
    pthread_mutex_lock(&db->mu);
    *busy = false;
    db->cb_active = false;
    pthread_cond_broadcast(&db->cond);
}

static void run_listeners(settee_db *db, unsigned round)
{
    for (;;) {
        pthread_mutex_lock(&db->mu);
        settee_listener *l = db->listeners;
        while (l && l->round == round)
            l = l->next;
        if (!l) {
            pthread_mutex_unlock(&db->mu);
            return;
        }
        l->round = round;
        if (l->seq >= atomic_load(&db->seen_seq)) {
            pthread_mutex_unlock(&db->mu);
            continue;
        }
        begin_cb(db, &l->busy);
        pthread_mutex_unlock(&db->mu);
        st_client_listener_deliver(l);
        end_cb(db, &l->busy);
        bool free_it = l->free_in_dispatch;
        pthread_mutex_unlock(&db->mu);
        if (free_it)
            st_client_listener_destroy(l);
    }
}

static void run_syncs(settee_db *db, unsigned round)
{
    for (;;) {
        pthread_mutex_lock(&db->mu);
        settee_sync *s = db->syncs;
        while (s && *st_client_sync_round(s) == round)
            s = st_client_sync_next(s);
        if (!s) {
            pthread_mutex_unlock(&db->mu);
            return;
        }
        *st_client_sync_round(s) = round;
        if (!st_client_sync_due(s)) {
            pthread_mutex_unlock(&db->mu);
            continue;
        }
        begin_cb(db, st_client_sync_busy(s));
        pthread_mutex_unlock(&db->mu);
        st_client_sync_dispatch(s);
        end_cb(db, st_client_sync_busy(s));
        bool free_it = st_client_sync_free_in_dispatch(s);
        pthread_mutex_unlock(&db->mu);
        if (free_it)
            st_client_sync_destroy(s);
    }
}

void st_client_dispatch_run(settee_db *db)
{
    /* A callback calling settee_db_dispatch on its own db: the round it is
     * part of will see whatever is due; re-entering would deadlock. */
    pthread_mutex_lock(&db->mu);
    bool nested = db->cb_active && pthread_equal(db->cb_thread, pthread_self());
    pthread_mutex_unlock(&db->mu);
    if (nested)
        return;
    pthread_mutex_lock(&db->dispatch_mu);
    st_notify_drain(&db->notify);
    unsigned round = ++db->round;
    if (round == 0) /* 0 is "never visited" */
        round = ++db->round;
    run_listeners(db, round);
    run_syncs(db, round);
    pthread_mutex_unlock(&db->dispatch_mu);
}

static void *thread_main(void *arg)
{
    settee_db *db = arg;
    while (!atomic_load(&db->stopping)) {
        if (!st_notify_wait(&db->notify, -1))
            continue;
        if (atomic_load(&db->stopping))
            break;
        st_client_dispatch_run(db);
    }
    return NULL;
}

st_status st_client_dispatch_start(settee_db *db, st_error *err)
{
    /* The thread takes no signals: those belong to the app's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&db->thread, NULL, thread_main, db);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return st_fail(err, ST_E_NOMEM, "cannot start the callback thread");
    db->thread_started = true;
    return ST_OK;
}

void st_client_dispatch_stop(settee_db *db)
{
    if (!db->thread_started)
        return;
    atomic_store(&db->stopping, true);
    st_notify_signal(&db->notify);
    pthread_join(db->thread, NULL);
    db->thread_started = false;
}
