/* view_jobs.c — see view_jobs.h. */
#include "view_jobs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "st_view.h"

typedef struct vjob {
    st_vjob_kind kind;
    char *db, *ddoc, *view;
    struct vjob *next;
} vjob;

struct st_vjobs {
    st_server *srv;
    pthread_t t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vjob *head, *tail;
    unsigned queued;
    bool running;
    bool stop;
};

static void job_free(vjob *j)
{
    if (!j)
        return;
    free(j->db);
    free(j->ddoc);
    free(j->view);
    free(j);
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void run_job(st_server *srv, const vjob *j)
{
    st_db *db = NULL;
    st_error e;
    st_status st = st_catalog_get(srv->cat, j->db, &db, &e);
    if (st == ST_OK) {
        switch (j->kind) {
        case ST_VJOB_UPDATE: {
            st_view *v = NULL;
            if ((st = st_view_open(srv->views, db, j->ddoc, j->view, &v, &e)) == ST_OK)
                st = st_view_update(v, &e);
            st_view_close(v);
            break;
        }
        case ST_VJOB_COMPACT:
            st = st_view_compact(srv->views, db, j->ddoc, &e);
            break;
        case ST_VJOB_CLEANUP:
            st = st_views_cleanup(srv->views, db, &e);
            break;
        }
    }
    st_catalog_put(srv->cat, db);
    if (st != ST_OK && st != ST_E_NOT_FOUND)
        st_log(ST_LOG_WARN, "view job on %s%s%s: %s", j->db, j->ddoc ? " " : "",
               j->ddoc ? j->ddoc : "", e.reason);
}

static void *worker(void *arg)
{
    st_vjobs *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop)
            break;
        vjob *j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->running = true;
        pthread_mutex_unlock(&q->mu);
        run_job(q->srv, j);
        job_free(j);
        pthread_mutex_lock(&q->mu);
        q->queued--;
        q->running = false;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

st_status st_vjobs_new(st_server *srv, st_vjobs **out, st_error *err)
{
    *out = NULL;
    st_vjobs *q = calloc(1, sizeof *q);
    if (!q)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    q->srv = srv;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (pthread_create(&q->t, NULL, worker, q) != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        free(q);
        return st_fail(err, ST_E_NOMEM, "cannot start the view job thread");
    }
    *out = q;
    return ST_OK;
}

void st_vjobs_free(st_vjobs *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->t, NULL);
    while (q->head) {
        vjob *j = q->head;
        q->head = j->next;
        job_free(j);
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

bool st_vjobs_add(st_vjobs *q, st_vjob_kind kind, const char *db, const char *ddoc_id,
                  const char *view)
{
    vjob *j = calloc(1, sizeof *j);
    if (!j)
        return false;
    j->kind = kind;
    j->db = strdup(db);
    j->ddoc = ddoc_id ? strdup(ddoc_id) : NULL;
    j->view = view ? strdup(view) : NULL;
    if (!j->db || (ddoc_id && !j->ddoc) || (view && !j->view)) {
        job_free(j);
        return false;
    }
    pthread_mutex_lock(&q->mu);
    bool dup = false;
    for (vjob *o = q->head; o && !dup; o = o->next)
        dup = o->kind == kind && same(o->db, db) && same(o->ddoc, ddoc_id) && same(o->view, view);
    bool ok = dup || (q->queued < ST_VJOBS_MAX && !q->stop);
    if (ok && !dup) {
        if (q->tail)
            q->tail->next = j;
        else
            q->head = j;
        q->tail = j;
        q->queued++;
        pthread_cond_broadcast(&q->cv);
        j = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    job_free(j);
    return ok;
}

unsigned st_vjobs_pending(st_vjobs *q)
{
    pthread_mutex_lock(&q->mu);
    unsigned n = q->queued;
    pthread_mutex_unlock(&q->mu);
    return n;
}
