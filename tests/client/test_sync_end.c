/* test_sync_end.c — how a sync ends, through settee.h only: its last callback
 * has state STOPPED, delivered exactly once, whether the sync ended by itself,
 * was stopped, or was freed while running (thread mode: on the settee thread
 * before settee_sync_free returns; manual mode: inside settee_sync_free);
 * freed from its own callback, that callback was its last; freed from a
 * listener's callback, STOPPED comes before settee_sync_free returns.  The
 * remote is a port nobody listens on, so no server is needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "client/client_testutil.h"

typedef struct rec {
    pthread_mutex_t mu;
    size_t calls, stopped;       /* callbacks, and how many had STOPPED */
    settee_sync_state last;
    bool after_stopped;          /* a callback came after a STOPPED one */
    pthread_t thread;            /* of the last callback */
    bool offline_or_connecting;
    settee_sync *free_me;        /* free it from inside its first callback */
} rec;

static void rec_init(rec *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

static void on_status(void *ctx, settee_sync *s, const settee_sync_status *st)
{
    rec *r = ctx;
    pthread_mutex_lock(&r->mu);
    if (r->stopped)
        r->after_stopped = true;
    r->calls++;
    r->last = st->state;
    r->thread = pthread_self();
    if (st->state == SETTEE_SYNC_STOPPED)
        r->stopped++;
    if (st->state == SETTEE_SYNC_OFFLINE || st->state == SETTEE_SYNC_CONNECTING)
        r->offline_or_connecting = true;
    settee_sync *f = r->free_me;
    r->free_me = NULL;
    pthread_mutex_unlock(&r->mu);
    if (f) {
        settee_sync_free(f);
        settee_sync_free(f); /* twice from inside: harmless */
    }
}

static bool running(void *arg)
{
    rec *r = arg;
    pthread_mutex_lock(&r->mu);
    bool b = r->offline_or_connecting;
    pthread_mutex_unlock(&r->mu);
    return b;
}

static bool ended(void *arg)
{
    rec *r = arg;
    pthread_mutex_lock(&r->mu);
    bool b = r->stopped > 0;
    pthread_mutex_unlock(&r->mu);
    return b;
}

typedef struct fx {
    char dir[4096];
    char path[4200];
    char url[128];
    settee_db *db;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    ct_tmpdir(f->dir, sizeof f->dir, "syncend");
    snprintf(f->path, sizeof f->path, "%s/e.settee", f->dir);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/nowhere", ct_free_port());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ct_rmdir(f->dir);
    free(f);
    return 0;
}

static settee_db *open_db(fx *f, settee_dispatch_mode mode)
{
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = false;
    o.dispatch = mode;
    settee_error e;
    assert_int_equal(settee_db_open(f->path, &o, &f->db, &e), SETTEE_OK);
    return f->db;
}

static settee_sync *start(fx *f, rec *r, bool continuous)
{
    settee_sync_config c;
    settee_sync_config_init(&c);
    c.url = f->url;
    c.continuous = continuous;
    c.on_status = on_status;
    c.ctx = r;
    c.retry_max_ms = 200;
    settee_sync *s = NULL;
    settee_error e;
    assert_int_equal(settee_sync_start(f->db, &c, &s, &e), SETTEE_OK);
    return s;
}

/* Thread mode, freed while running (never stopped): STOPPED once, on the
 * settee thread, before free returns; nothing after. */
static void test_free_delivers_stopped_thread_mode(void **state)
{
    fx *f = *state;
    settee_db *db = open_db(f, SETTEE_DISPATCH_THREAD);
    rec r;
    rec_init(&r);
    settee_sync *s = start(f, &r, true);
    assert_true(ct_wait(running, &r, NULL, 10000));
    assert_int_equal(settee_db_close(db), SETTEE_BUSY); /* the sync pins it */
    settee_sync_free(s);
    pthread_mutex_lock(&r.mu);
    assert_int_equal(r.stopped, 1);
    assert_int_equal(r.last, SETTEE_SYNC_STOPPED);
    assert_false(pthread_equal(r.thread, pthread_self()));
    size_t calls = r.calls;
    pthread_mutex_unlock(&r.mu);
    ct_sleep_ms(300);
    assert_int_equal(r.calls, calls);
    assert_false(r.after_stopped);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

/* Manual mode: free delivers STOPPED itself, on the calling thread. */
static void test_free_delivers_stopped_manual_mode(void **state)
{
    fx *f = *state;
    settee_db *db = open_db(f, SETTEE_DISPATCH_MANUAL);
    rec r;
    rec_init(&r);
    settee_sync *s = start(f, &r, true);
    assert_true(ct_wait(running, &r, db, 10000));
    size_t before = r.calls;
    settee_sync_free(s);
    assert_int_equal(r.calls, before + 1);
    assert_int_equal(r.stopped, 1);
    assert_int_equal(r.last, SETTEE_SYNC_STOPPED);
    assert_true(pthread_equal(r.thread, pthread_self()));
    assert_int_equal(settee_db_dispatch(db), SETTEE_OK);
    assert_int_equal(r.calls, before + 1);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

/* Stopped first, then freed: the one STOPPED came from the stop. */
static void test_stop_then_free_one_stopped(void **state)
{
    fx *f = *state;
    settee_db *db = open_db(f, SETTEE_DISPATCH_THREAD);
    rec r;
    rec_init(&r);
    settee_sync *s = start(f, &r, true);
    assert_true(ct_wait(running, &r, NULL, 10000));
    settee_sync_stop(s);
    assert_true(ct_wait(ended, &r, NULL, 10000));
    settee_sync_free(s);
    ct_sleep_ms(100);
    assert_int_equal(r.stopped, 1);
    assert_false(r.after_stopped);

    /* Freed right after start, before any status: still one STOPPED. */
    rec q;
    rec_init(&q);
    s = start(f, &q, false);
    settee_sync_free(s);
    assert_int_equal(q.stopped, 1);
    assert_int_equal(q.last, SETTEE_SYNC_STOPPED);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

/* Freed from its own callback: that callback was the last one. */
static void test_free_from_own_callback(void **state)
{
    fx *f = *state;
    settee_db *db = open_db(f, SETTEE_DISPATCH_THREAD);
    rec r;
    rec_init(&r);
    pthread_mutex_lock(&r.mu);
    settee_sync *s = start(f, &r, true);
    r.free_me = s;
    pthread_mutex_unlock(&r.mu);
    bool one = false;
    for (uint64_t t0 = ct_now_ms(); !one && ct_now_ms() - t0 < 10000; ct_sleep_ms(5)) {
        pthread_mutex_lock(&r.mu);
        one = r.calls >= 1;
        pthread_mutex_unlock(&r.mu);
    }
    assert_true(one);
    /* The db is free again once the callback returned and s was released. */
    settee_status rc = SETTEE_BUSY;
    for (uint64_t t0 = ct_now_ms(); rc == SETTEE_BUSY && ct_now_ms() - t0 < 10000;) {
        rc = settee_db_close(db);
        if (rc == SETTEE_BUSY)
            ct_sleep_ms(5);
    }
    assert_int_equal(rc, SETTEE_OK);
    assert_int_equal(r.calls, 1);
}

/* Freed from a listener's callback (the same callback thread): STOPPED is
 * delivered before settee_sync_free returns. */
typedef struct lctx {
    settee_sync *s;
    rec *r;
    size_t stopped_after_free;
    bool done;
} lctx;

static void free_from_listener(void *ctx, settee_db *db, const settee_change *ch, size_t n)
{
    lctx *c = ctx;
    if (!c->s)
        return;
    settee_sync_free(c->s);
    c->s = NULL;
    pthread_mutex_lock(&c->r->mu);
    c->stopped_after_free = c->r->stopped;
    pthread_mutex_unlock(&c->r->mu);
    c->done = true;
}

static bool listener_done(void *arg)
{
    rec *r = ((lctx *)arg)->r;
    pthread_mutex_lock(&r->mu);
    bool d = ((lctx *)arg)->done;
    pthread_mutex_unlock(&r->mu);
    return d;
}

static void test_free_from_listener_callback(void **state)
{
    fx *f = *state;
    settee_db *db = open_db(f, SETTEE_DISPATCH_THREAD);
    rec r;
    rec_init(&r);
    lctx c = {.r = &r};
    settee_listener *l = NULL;
    settee_error e;
    pthread_mutex_lock(&r.mu);
    c.s = start(f, &r, true);
    pthread_mutex_unlock(&r.mu);
    assert_true(ct_wait(running, &r, NULL, 10000));
    assert_int_equal(settee_listener_add(db, free_from_listener, &c, &l, &e), SETTEE_OK);
    assert_int_equal(settee_doc_put(db, "{\"_id\":\"go\"}", SETTEE_NUL_TERMINATED, NULL, &e),
                     SETTEE_OK);
    assert_true(ct_wait(listener_done, &c, NULL, 10000));
    assert_int_equal(c.stopped_after_free, 1);
    settee_listener_remove(l);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_free_delivers_stopped_thread_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_delivers_stopped_manual_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_then_free_one_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_from_own_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_from_listener_callback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
