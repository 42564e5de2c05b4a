/* test_concurrency.c — many writers at once (group commit keeps MVCC
 * exact), observers told of every commit, and durability: every write
 * acknowledged before the process is killed is there after reopening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "st_db.h"
#include "st_follow.h"
#include "support/tmp.h"

#define THREADS 8
#define ROUNDS 50

typedef struct race {
    st_db *db;
    int wins;
    int conflicts;
} race;

/* Every thread tries to advance the same document from the rev it read. */
static void *racer(void *p)
{
    race *r = p;
    for (int i = 0; i < ROUNDS; i++) {
        st_buf b = ST_BUF_INIT;
        st_error e;
        if (st_db_get(r->db, "hot", NULL, &b, &e) != ST_OK) {
            fprintf(stderr, "get failed: %s\n", e.reason);
            st_buf_free(&b);
            continue;
        }
        const char *rev = strstr(b.data, "\"_rev\":\"") + 8;
        char json[256];
        snprintf(json, sizeof json, "{\"_id\":\"hot\",\"_rev\":\"%.*s\",\"t\":\"%p\",\"i\":%d}",
                 (int)(strchr(rev, '"') - rev), rev, (void *)r, i);
        st_buf_free(&b);
        st_write_result res;
        st_status st = st_db_put_json(r->db, json, strlen(json), 0, &res, &e);
        st_write_results_free(&res, 1);
        if (st == ST_OK)
            r->wins++;
        else if (st == ST_E_CONFLICT)
            r->conflicts++;
        else
            fprintf(stderr, "put failed: %s\n", e.reason);
    }
    return NULL;
}

typedef struct waker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wakes;
} waker;

static void on_wake(void *ctx)
{
    waker *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->wakes++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Wait (bounded) until the follower was woken at least once more than seen. */
static bool wait_wake(waker *w, int seen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&w->mu);
    while (w->wakes <= seen)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0)
            break;
    bool ok = w->wakes > seen;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static int count_row(void *ctx, const st_change_row *row)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

static void test_mvcc_race_and_follower(void **state)
{
    char path[4096];
    ts_db_path(path, sizeof path, "race");
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    o.durability = ST_DURABLE_NORMAL;
    st_db *db;
    assert_int_equal(st_db_open(path, "race", &o, &db, NULL), ST_OK);
    waker w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    st_follower *fol;
    assert_int_equal(st_follow_open(db, 0, on_wake, &w, &fol, NULL), ST_OK);
    assert_true(st_follow_arm(fol));
    st_write_result res;
    assert_int_equal(st_db_put_json(db, "{\"_id\":\"hot\"}", 13, 0, &res, NULL), ST_OK);
    st_write_results_free(&res, 1);
    assert_true(wait_wake(&w, 0));
    /* Armed again at its position while writers race: woken again. */
    st_follow_batch b1;
    int rows = 0;
    assert_int_equal(st_follow_read(fol, NULL, count_row, &rows, &b1, NULL), ST_OK);
    assert_int_equal(rows, 1);
    assert_false(st_follow_read(fol, NULL, count_row, &rows, &b1, NULL) != ST_OK);
    assert_true(st_follow_arm(fol));
    pthread_t t[THREADS];
    race r[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (race){db, 0, 0};
        pthread_create(&t[i], NULL, racer, &r[i]);
    }
    int wins = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        wins += r[i].wins;
        assert_int_equal(r[i].wins + r[i].conflicts, ROUNDS);
    }
    /* Every successful write made exactly one generation: no lost update. */
    st_buf b = ST_BUF_INIT;
    assert_int_equal(st_db_get(db, "hot", NULL, &b, NULL), ST_OK);
    char expect[32];
    snprintf(expect, sizeof expect, "\"_rev\":\"%d-", wins + 1);
    assert_non_null(strstr(b.data, expect));
    st_buf_free(&b);
    st_db_info info;
    assert_int_equal(st_db_info_get(db, &info, NULL), ST_OK);
    assert_int_equal(info.update_seq, (uint64_t)wins + 1);
    assert_true(wait_wake(&w, 1));
    /* The follower reads the document once, at its latest change. */
    rows = 0;
    assert_int_equal(st_follow_read(fol, NULL, count_row, &rows, &b1, NULL), ST_OK);
    assert_int_equal(rows, 1);
    assert_int_equal(b1.last_seq, info.update_seq);
    assert_int_equal(st_db_close(db), ST_E_BUSY); /* a follower is still open */
    st_follow_close(fol);
    assert_int_equal(st_db_close(db), ST_OK);
    ts_db_unlink(path);
}

/* Child: write documents, report each acknowledged id on the pipe. */
static void child_writer(const char *path, int fd)
{
    st_db_options o;
    st_db_options_init(&o);
    st_db *db;
    if (st_db_open(path, "kill", &o, &db, NULL) != ST_OK)
        _exit(3);
    for (int i = 0; i < 100000; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"_id\":\"k%06d\",\"v\":%d}", i, i);
        st_write_result res;
        if (st_db_put_json(db, json, strlen(json), 0, &res, NULL) != ST_OK)
            _exit(4);
        if (write(fd, &i, sizeof i) != sizeof i)
            _exit(5);
    }
    _exit(0);
}

static void test_killed_process_keeps_acknowledged_writes(void **state)
{
    char path[4096];
    ts_db_path(path, sizeof path, "kill");
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    st_db *db;
    assert_int_equal(st_db_open(path, "kill", &o, &db, NULL), ST_OK);
    assert_int_equal(st_db_close(db), ST_OK);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_writer(path, fds[1]);
    }
    close(fds[1]);
    /* Let it write for a while (bounded), then kill it mid-stream. */
    int last = -1, got = 0, v;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got < 300 && read(fds[0], &v, sizeof v) == sizeof v) {
        last = v;
        got++;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 20)
            break;
    }
    kill(pid, SIGKILL);
    while (read(fds[0], &v, sizeof v) == sizeof v)
        last = v; /* acknowledged before the kill landed */
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(last >= 0);
    assert_int_equal(st_db_open(path, "kill", &o, &db, NULL), ST_OK);
    for (int i = 0; i <= last; i++) {
        char id[32];
        snprintf(id, sizeof id, "k%06d", i);
        st_buf b = ST_BUF_INIT;
        assert_int_equal(st_db_get(db, id, NULL, &b, NULL), ST_OK);
        st_buf_free(&b);
    }
    st_db_info info;
    assert_int_equal(st_db_info_get(db, &info, NULL), ST_OK);
    assert_true(info.doc_count >= (uint64_t)last + 1);
    assert_int_equal(info.doc_count, info.update_seq);
    assert_int_equal(st_db_close(db), ST_OK);
    ts_db_unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mvcc_race_and_follower),
        cmocka_unit_test(test_killed_process_keeps_acknowledged_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
