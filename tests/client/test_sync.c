/* test_sync.c — live sync through the real `settee serve`, via settee.h only:
 * a change made on one client reaches another client's listener; offline
 * first end to end (server stopped, both clients edit, some the same
 * documents, server restarted on the same port: both converge, conflicts
 * settled by the configured resolver, listeners saw every change); a
 * client killed mid-sync resumes without loss; and a continuous sync of a
 * remote database that does not exist yet waits for it (connecting, the
 * error shown and then cleared); a filtered sync (filter + query_params)
 * copies only what the function keeps, both ways.  Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "client/client_testutil.h"
#include "client/ct_http.h"

#define MAXIDS 8192

/* ---------------------------------------------------------- a client */

typedef struct client {
    char path[4400];
    settee_db *db;
    settee_sync *sync;
    settee_listener *listener;
    pthread_mutex_t mu;
    char (*ids)[32];              /* every id a listener call named */
    size_t n_ids;
    bool saw[SETTEE_SYNC_BUSY + 1];  /* sync states seen by on_status */
    settee_sync_status last;
    size_t n_status;
} client;

static void on_change(void *ctx, settee_db *db, const settee_change *ch, size_t n)
{
    client *c = ctx;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++)
        if (c->n_ids < MAXIDS)
            snprintf(c->ids[c->n_ids++], 32, "%s", ch[i].id);
    pthread_mutex_unlock(&c->mu);
}

static void on_status(void *ctx, settee_sync *s, const settee_sync_status *st)
{
    client *c = ctx;
    pthread_mutex_lock(&c->mu);
    if ((unsigned)st->state <= SETTEE_SYNC_BUSY)
        c->saw[st->state] = true;
    c->last = *st;
    c->n_status++;
    pthread_mutex_unlock(&c->mu);
}

static void client_open(client *c, const char *dir, const char *name)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->ids = calloc(MAXIDS, sizeof *c->ids);
    snprintf(c->path, sizeof c->path, "%s/%s.settee", dir, name);
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = false;
    settee_error e;
    assert_int_equal(settee_db_open(c->path, &o, &c->db, &e), SETTEE_OK);
    assert_int_equal(settee_listener_add(c->db, on_change, c, &c->listener, &e), SETTEE_OK);
}

static void client_sync(client *c, const ct_server *srv, bool continuous,
                        settee_resolver_fn resolver, void *rctx)
{
    char url[256];
    snprintf(url, sizeof url, "%s/todos", srv->url);
    settee_sync_config cfg;
    settee_sync_config_init(&cfg);
    cfg.url = url;
    cfg.user = CT_ADMIN;
    cfg.password = CT_PASS;
    cfg.continuous = continuous;
    cfg.on_status = on_status;
    cfg.ctx = c;
    cfg.resolver = resolver;
    cfg.resolver_ctx = rctx;
    cfg.retry_max_ms = 500; /* come back quickly once the server does */
    settee_error e;
    settee_status rc = settee_sync_start(c->db, &cfg, &c->sync, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "sync_start: %s\n", e.message);
    assert_int_equal(rc, SETTEE_OK);
}

static void client_close(client *c)
{
    settee_sync_free(c->sync);
    settee_listener_remove(c->listener);
    assert_int_equal(settee_db_close(c->db), SETTEE_OK);
    free(c->ids);
    pthread_mutex_destroy(&c->mu);
}

static bool client_heard(client *c, const char *id)
{
    pthread_mutex_lock(&c->mu);
    bool found = false;
    for (size_t i = 0; i < c->n_ids && !found; i++)
        found = strcmp(c->ids[i], id) == 0;
    pthread_mutex_unlock(&c->mu);
    return found;
}

static void put(settee_db *db, const char *json)
{
    settee_error e;
    settee_status rc = settee_doc_put(db, json, SETTEE_NUL_TERMINATED, NULL, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "put %s: %s\n", json, e.message);
    assert_int_equal(rc, SETTEE_OK);
}

/* Update a doc's fields from its current rev (read, modify, write). */
static void edit(settee_db *db, const char *id, const char *fields)
{
    settee_error e;
    char *rev = NULL;
    assert_int_equal(settee_doc_get_field(db, id, "_rev", &rev, &e), SETTEE_OK);
    char j[512];
    snprintf(j, sizeof j, "{\"_id\":\"%s\",\"_rev\":%s,%s}", id, rev, fields);
    settee_free(rev);
    put(db, j);
}

static bool has_doc(settee_db *db, const char *id)
{
    char *json = NULL;
    settee_status rc = settee_doc_get(db, id, NULL, &json, NULL);
    settee_free(json);
    return rc == SETTEE_OK;
}

typedef struct docwait {
    client *c;
    const char *id;
} docwait;

static bool doc_arrived(void *arg)
{
    docwait *w = arg;
    return has_doc(w->c->db, w->id) && client_heard(w->c, w->id);
}

static bool saw_state(client *c, settee_sync_state st)
{
    pthread_mutex_lock(&c->mu);
    bool r = c->saw[st];
    pthread_mutex_unlock(&c->mu);
    return r;
}

typedef struct statewait {
    client *c;
    settee_sync_state st;
} statewait;

static bool state_seen(void *arg)
{
    statewait *w = arg;
    return saw_state(w->c, w->st);
}

static bool last_state_is(void *arg)
{
    statewait *w = arg;
    pthread_mutex_lock(&w->c->mu);
    bool r = w->c->n_status && w->c->last.state == w->st;
    pthread_mutex_unlock(&w->c->mu);
    return r;
}

static bool moved_both_ways(void *arg)
{
    settee_sync_status st;
    return settee_sync_get_status(arg, &st) == SETTEE_OK && st.docs_pushed >= 1 &&
           st.docs_pulled >= 1;
}

static settee_status last_code(client *c)
{
    pthread_mutex_lock(&c->mu);
    settee_status code = c->last.last.code;
    pthread_mutex_unlock(&c->mu);
    return code;
}

/* ----------------------------------------------------------- fixture */

typedef struct fx {
    char dir[4096];
    ct_server srv;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    ct_tmpdir(f->dir, sizeof f->dir, "sync");
    if (!ct_server_start(&f->srv, "srv")) {
        fprintf(stderr, "cannot start settee serve\n");
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    bool clean = ct_server_stop(&f->srv);
    ct_rmdir(f->srv.data_dir);
    ct_rmdir(f->dir);
    free(f);
    assert_true(clean);
    return 0;
}

/* ------------------------------------------------------------- tests */

static void test_change_reaches_other_client(void **state)
{
    fx *f = *state;
    client a, b;
    client_open(&a, f->dir, "a");
    client_open(&b, f->dir, "b");
    client_sync(&a, &f->srv, true, NULL, NULL);
    client_sync(&b, &f->srv, true, NULL, NULL);
    statewait idle = {&a, SETTEE_SYNC_IDLE};
    assert_true(ct_wait(state_seen, &idle, NULL, 15000));

    put(a.db, "{\"_id\":\"hello\",\"from\":\"a\"}");
    docwait w = {&b, "hello"};
    assert_true(ct_wait(doc_arrived, &w, NULL, 15000));
    put(b.db, "{\"_id\":\"back\",\"from\":\"b\"}");
    docwait w2 = {&a, "back"};
    assert_true(ct_wait(doc_arrived, &w2, NULL, 15000));
    /* a's listener heard its own write and b's. */
    assert_true(client_heard(&a, "hello"));

    /* The counters move after the documents land: wait for them too. */
    assert_true(ct_wait(moved_both_ways, a.sync, NULL, 10000));
    settee_sync_status st;
    assert_int_equal(settee_sync_get_status(a.sync, &st), SETTEE_OK);
    assert_int_equal(st.last.code, SETTEE_OK);

    /* Stop is asynchronous and ends in one final STOPPED. */
    settee_sync_stop(a.sync);
    statewait stopped = {&a, SETTEE_SYNC_STOPPED};
    assert_true(ct_wait(last_state_is, &stopped, NULL, 10000));
    pthread_mutex_lock(&a.mu);
    size_t n = a.n_status;
    pthread_mutex_unlock(&a.mu);
    ct_sleep_ms(100);
    pthread_mutex_lock(&a.mu);
    assert_int_equal(a.n_status, n);
    pthread_mutex_unlock(&a.mu);
    client_close(&a);
    client_close(&b);
}

/* A one-shot pull of what is there, and a push-only sync. */
static void test_one_shot_and_directions(void **state)
{
    fx *f = *state;
    client a, b;
    client_open(&a, f->dir, "a1");
    client_open(&b, f->dir, "b1");
    for (int i = 0; i < 50; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\":\"os%02d\"}", i);
        put(a.db, j);
    }
    char url[256];
    snprintf(url, sizeof url, "%s/todos", f->srv.url);
    settee_sync_config cfg;
    settee_sync_config_init(&cfg);
    cfg.url = url;
    cfg.user = CT_ADMIN;
    cfg.password = CT_PASS;
    cfg.continuous = false;
    cfg.direction = SETTEE_SYNC_PUSH;
    cfg.on_status = on_status;
    cfg.ctx = &a;
    settee_error e;
    assert_int_equal(settee_sync_start(a.db, &cfg, &a.sync, &e), SETTEE_OK);
    statewait stopped = {&a, SETTEE_SYNC_STOPPED};
    assert_true(ct_wait(last_state_is, &stopped, NULL, 15000));
    pthread_mutex_lock(&a.mu);
    settee_sync_status last = a.last;
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(last.last.code, SETTEE_OK);
    assert_int_equal(last.docs_pushed, 50);
    assert_int_equal(last.docs_pulled, 0);

    cfg.direction = SETTEE_SYNC_PULL;
    cfg.ctx = &b;
    assert_int_equal(settee_sync_start(b.db, &cfg, &b.sync, &e), SETTEE_OK);
    statewait stopped_b = {&b, SETTEE_SYNC_STOPPED};
    assert_true(ct_wait(last_state_is, &stopped_b, NULL, 15000));
    pthread_mutex_lock(&b.mu);
    last = b.last;
    pthread_mutex_unlock(&b.mu);
    assert_int_equal(last.docs_pulled, 50);
    settee_db_info info;
    assert_int_equal(settee_db_info_get(b.db, &info, &e), SETTEE_OK);
    assert_int_equal(info.doc_count, 50);

    /* Wrong password: the sync stops with unauthorized. */
    client c;
    client_open(&c, f->dir, "c1");
    cfg.password = "wrong";
    cfg.ctx = &c;
    assert_int_equal(settee_sync_start(c.db, &cfg, &c.sync, &e), SETTEE_OK);
    statewait stopped_c = {&c, SETTEE_SYNC_STOPPED};
    assert_true(ct_wait(last_state_is, &stopped_c, NULL, 15000));
    pthread_mutex_lock(&c.mu);
    last = c.last;
    pthread_mutex_unlock(&c.mu);
    assert_int_equal(last.last.code, SETTEE_UNAUTHORIZED);
    assert_int_equal(last.last.http_status, 401);
    client_close(&a);
    client_close(&b);
    client_close(&c);
}

typedef struct converged {
    client *a, *b;
    const char *const *ids;
    size_t n;
} converged;

/* Both have every id, with the same winning rev and no live conflicts. */
static bool both_converged(void *arg)
{
    converged *cv = arg;
    for (size_t i = 0; i < cv->n; i++) {
        char **ra = NULL, **rb = NULL;
        size_t na = 0, nb = 0;
        settee_status sa = settee_conflicts(cv->a->db, cv->ids[i], &ra, &na, NULL);
        settee_status sb = settee_conflicts(cv->b->db, cv->ids[i], &rb, &nb, NULL);
        bool same = sa == SETTEE_OK && sb == SETTEE_OK && na == 1 && nb == 1 &&
                    strcmp(ra[0], rb[0]) == 0;
        settee_free(ra);
        settee_free(rb);
        if (!same)
            return false;
    }
    return true;
}

static void test_offline_first_end_to_end(void **state)
{
    fx *f = *state;
    client a, b;
    client_open(&a, f->dir, "oa");
    client_open(&b, f->dir, "ob");
    client_sync(&a, &f->srv, true, settee_resolve_newest, (void *)"updated_at");
    client_sync(&b, &f->srv, true, settee_resolve_newest, (void *)"updated_at");

    /* Ten shared documents, made on a, seen by b. */
    for (int i = 0; i < 10; i++) {
        char j[128];
        snprintf(j, sizeof j, "{\"_id\":\"s%d\",\"title\":\"task %d\",\"updated_at\":100}", i, i);
        put(a.db, j);
    }
    docwait w = {&b, "s9"};
    assert_true(ct_wait(doc_arrived, &w, NULL, 20000));
    for (int i = 0; i < 10; i++) {
        char id[8];
        snprintf(id, sizeof id, "s%d", i);
        docwait wi = {&b, id};
        assert_true(ct_wait(doc_arrived, &wi, NULL, 20000));
    }

    /* The server goes away; both clients notice and keep working. */
    assert_true(ct_server_stop(&f->srv));
    statewait off_a = {&a, SETTEE_SYNC_OFFLINE}, off_b = {&b, SETTEE_SYNC_OFFLINE};
    put(a.db, "{\"_id\":\"poke-a\"}"); /* give the push something to fail on */
    put(b.db, "{\"_id\":\"poke-b\"}");
    assert_true(ct_wait(state_seen, &off_a, NULL, 20000));
    assert_true(ct_wait(state_seen, &off_b, NULL, 20000));

    /* Offline edits: a edits s0..s5, b edits s3..s8 (s3, s4, s5 on both);
     * each side also creates its own documents.  Local writes do not wait. */
    uint64_t t0 = ct_now_ms();
    for (int i = 0; i <= 5; i++) {
        char id[8], fields[128];
        snprintf(id, sizeof id, "s%d", i);
        /* a is newer on s5, b on s3 and s4. */
        snprintf(fields, sizeof fields, "\"title\":\"a edit %d\",\"updated_at\":%d", i,
                 i == 5 ? 300 : 200);
        edit(a.db, id, fields);
    }
    for (int i = 3; i <= 8; i++) {
        char id[8], fields[128];
        snprintf(id, sizeof id, "s%d", i);
        snprintf(fields, sizeof fields, "\"title\":\"b edit %d\",\"updated_at\":%d", i,
                 i == 5 ? 250 : 260);
        edit(b.db, id, fields);
    }
    for (int i = 0; i < 5; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\":\"a%d\",\"updated_at\":1}", i);
        put(a.db, j);
        snprintf(j, sizeof j, "{\"_id\":\"b%d\",\"updated_at\":1}", i);
        put(b.db, j);
    }
    assert_true(ct_now_ms() - t0 < 5000); /* offline writes are local-speed */

    /* The server returns on the same port: both catch up by themselves. */
    assert_true(ct_server_restart(&f->srv));
    const char *ids[] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
                         "a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4",
                         "poke-a", "poke-b"};
    converged cv = {&a, &b, ids, sizeof ids / sizeof *ids};
    assert_true(ct_wait(both_converged, &cv, NULL, 60000));

    /* The resolver (newest updated_at) settled the three conflicts. */
    const char *expect[][2] = {{"s3", "\"b edit 3\""}, {"s4", "\"b edit 4\""},
                               {"s5", "\"a edit 5\""}, {"s1", "\"a edit 1\""},
                               {"s7", "\"b edit 7\""}, {"s9", "\"task 9\""}};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        char *ta = NULL, *tb = NULL;
        assert_int_equal(settee_doc_get_field(a.db, expect[i][0], "title", &ta, NULL), SETTEE_OK);
        assert_int_equal(settee_doc_get_field(b.db, expect[i][0], "title", &tb, NULL), SETTEE_OK);
        assert_string_equal(ta, expect[i][1]);
        assert_string_equal(tb, expect[i][1]);
        settee_free(ta);
        settee_free(tb);
    }
    settee_conflict *list = NULL;
    size_t n = 99;
    assert_int_equal(settee_conflicts_list(a.db, &list, &n, NULL), SETTEE_OK);
    assert_int_equal(n, 0);
    settee_free(list);
    assert_int_equal(settee_conflicts_list(b.db, &list, &n, NULL), SETTEE_OK);
    assert_int_equal(n, 0);
    settee_free(list);

    /* The listeners heard every document, local and synced. */
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        docwait wa = {&a, ids[i]}, wb = {&b, ids[i]};
        assert_true(ct_wait(doc_arrived, &wa, NULL, 5000));
        assert_true(ct_wait(doc_arrived, &wb, NULL, 5000));
    }
    settee_sync_status sa, sb;
    assert_int_equal(settee_sync_get_status(a.sync, &sa), SETTEE_OK);
    assert_int_equal(settee_sync_get_status(b.sync, &sb), SETTEE_OK);
    assert_true(sa.conflicts_resolved + sb.conflicts_resolved >= 1);
    assert_true(sa.state == SETTEE_SYNC_IDLE || sa.state == SETTEE_SYNC_BUSY);
    client_close(&a);
    client_close(&b);
}

/* ------------------------------------------ a remote that does not exist yet */

static bool waiting_for_remote(void *arg)
{
    settee_sync_status st;
    return settee_sync_get_status(arg, &st) == SETTEE_OK && st.state == SETTEE_SYNC_CONNECTING &&
           st.last.code == SETTEE_NOT_FOUND && st.last.http_status == 404 &&
           strstr(st.last.message, "does not exist (retrying)") != NULL;
}

static bool idle_and_clean(void *arg)
{
    settee_sync_status st;
    return settee_sync_get_status(arg, &st) == SETTEE_OK && st.state == SETTEE_SYNC_IDLE &&
           st.last.code == SETTEE_OK && st.docs_pulled >= 1;
}

/* A continuous pull of a remote database nobody created yet: it waits
 * (connecting, with the reason in `last`), never gives up, and once another
 * client's push creates the database it pulls, and `last` is clear again.
 * A continuous two-way sync starts its pull the same way, at once. */
static void test_waits_for_remote_database(void **state)
{
    fx *f = *state;
    client a, b;
    client_open(&a, f->dir, "wa");
    client_open(&b, f->dir, "wb");
    char url[256];
    snprintf(url, sizeof url, "%s/not-yet", f->srv.url);
    settee_sync_config cfg;
    settee_sync_config_init(&cfg);
    cfg.url = url;
    cfg.user = CT_ADMIN;
    cfg.password = CT_PASS;
    cfg.direction = SETTEE_SYNC_PULL;
    cfg.on_status = on_status;
    cfg.ctx = &b;
    cfg.retry_max_ms = 300;
    settee_error e;
    assert_int_equal(settee_sync_start(b.db, &cfg, &b.sync, &e), SETTEE_OK);
    assert_true(ct_wait(waiting_for_remote, b.sync, NULL, 15000));
    ct_sleep_ms(500); /* still waiting, not stopped */
    assert_true(waiting_for_remote(b.sync));

    put(a.db, "{\"_id\":\"made-by-a\"}");
    cfg.direction = SETTEE_SYNC_PUSH_AND_PULL;
    cfg.ctx = &a;
    assert_int_equal(settee_sync_start(a.db, &cfg, &a.sync, &e), SETTEE_OK);
    docwait w = {&b, "made-by-a"};
    assert_true(ct_wait(doc_arrived, &w, NULL, 20000));
    assert_true(ct_wait(idle_and_clean, b.sync, NULL, 15000));
    client_close(&a);
    client_close(&b);
}

/* ------------------------------------------ killed mid-sync, then resumed */

#define KILL_DOCS 3000

static void fill(settee_db *db, const char *prefix, int n)
{
    char *bulk = malloc((size_t)n * 64 + 16);
    size_t off = (size_t)sprintf(bulk, "[");
    for (int i = 0; i < n; i++)
        off += (size_t)sprintf(bulk + off, "%s{\"_id\":\"%s%05d\",\"v\":%d}", i ? "," : "", prefix,
                               i, i);
    sprintf(bulk + off, "]");
    settee_error e;
    assert_int_equal(settee_bulk_docs(db, bulk, SETTEE_NUL_TERMINATED, NULL, &e), SETTEE_OK);
    free(bulk);
}

static void child_status(void *ctx, settee_sync *s, const settee_sync_status *st)
{
    int fd = *(int *)ctx;
    if (st->docs_written > 0) {
        char c = 'x';
        if (write(fd, &c, 1) < 0) { /* the parent is gone: nothing to tell */
        }
    }
}

/* The child: open, start a continuous two-way sync, tell the parent as soon
 * as documents move, then wait to be killed. */
static void child_run(const char *path, const char *url, int fd)
{
    settee_db *db = NULL;
    settee_db_options o;
    settee_db_options_init(&o);
    if (settee_db_open(path, &o, &db, NULL) != SETTEE_OK)
        _exit(3);
    settee_sync_config cfg;
    settee_sync_config_init(&cfg);
    cfg.url = url;
    cfg.user = CT_ADMIN;
    cfg.password = CT_PASS;
    cfg.on_status = child_status;
    cfg.ctx = &fd;
    settee_sync *s = NULL;
    if (settee_sync_start(db, &cfg, &s, NULL) != SETTEE_OK)
        _exit(4);
    ct_sleep_ms(30000);
    _exit(5);
}

static bool sync_stopped(void *arg)
{
    settee_sync_status st;
    return settee_sync_get_status(arg, &st) == SETTEE_OK && st.state == SETTEE_SYNC_STOPPED;
}

static void test_killed_mid_sync_resumes(void **state)
{
    fx *f = *state;
    char url[256];
    snprintf(url, sizeof url, "%s/todos", f->srv.url);
    /* The server holds KILL_DOCS documents from a; k has KILL_DOCS of its own. */
    client a;
    client_open(&a, f->dir, "ka");
    fill(a.db, "srv", KILL_DOCS);
    client_sync(&a, &f->srv, false, NULL, NULL);
    assert_true(ct_wait(sync_stopped, a.sync, NULL, 60000));
    statewait stopped = {&a, SETTEE_SYNC_STOPPED};
    assert_true(ct_wait(last_state_is, &stopped, NULL, 10000));
    assert_int_equal(last_code(&a), SETTEE_OK);
    /* Nothing of ours may run in this process while it forks (a lock held
     * by another thread at fork time stays held forever in the child). */
    client_close(&a);

    char kpath[4400];
    snprintf(kpath, sizeof kpath, "%s/killed.settee", f->dir);
    settee_db *k = NULL;
    settee_error e;
    assert_int_equal(settee_db_open(kpath, NULL, &k, &e), SETTEE_OK);
    fill(k, "k", KILL_DOCS);
    assert_int_equal(settee_db_close(k), SETTEE_OK);

    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_run(kpath, url, p[1]);
    }
    close(p[1]);
    char c;
    struct timeval tv = {20, 0};
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    assert_int_equal(select(p[0] + 1, &rs, NULL, NULL, &tv), 1);
    assert_int_equal(read(p[0], &c, 1), 1);
    kill(pid, SIGKILL); /* mid-sync: documents are moving both ways */
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst));
    close(p[0]);

    /* Reopen and sync again (one-shot): nothing lost, nothing missing. */
    client r;
    memset(&r, 0, sizeof r);
    client_open(&r, f->dir, "killed");
    client_sync(&r, &f->srv, false, NULL, NULL);
    assert_true(ct_wait(sync_stopped, r.sync, NULL, 120000));
    settee_sync_status st;
    assert_int_equal(settee_sync_get_status(r.sync, &st), SETTEE_OK);
    assert_int_equal(st.last.code, SETTEE_OK);
    settee_db_info info;
    assert_int_equal(settee_db_info_get(r.db, &info, &e), SETTEE_OK);
    assert_int_equal(info.doc_count, 2 * KILL_DOCS);

    /* A fresh client pulling everything sees both sets. */
    client_open(&a, f->dir, "ka");
    client_sync(&a, &f->srv, false, NULL, NULL);
    assert_true(ct_wait(sync_stopped, a.sync, NULL, 120000));
    assert_int_equal(settee_db_info_get(a.db, &info, &e), SETTEE_OK);
    assert_int_equal(info.doc_count, 2 * KILL_DOCS);
    assert_true(has_doc(a.db, "k02999"));
    assert_true(has_doc(r.db, "srv00000"));
    client_close(&r);
    client_close(&a);
}

/* The app's own merge: "v" becomes the sorted union of the leaves'
 * letters, written as a child of the winner.  Deterministic, so two clients
 * merging the same conflict write the same revision.  Documents named
 * "refuse*" are left alone and reported as an error. */
static settee_status merge_letters(void *ctx, settee_db *db, const char *id,
                                   const settee_leaf *leaves, size_t n)
{
    int *calls = ctx;
    __atomic_add_fetch(calls, 1, __ATOMIC_SEQ_CST);
    if (strncmp(id, "refuse", 6) == 0)
        return SETTEE_FORBIDDEN;
    bool have[26] = {false};
    for (size_t i = 0; i < n; i++) {
        const char *v = strstr(leaves[i].json, "\"v\":\"");
        for (v = v ? v + 5 : ""; *v >= 'a' && *v <= 'z'; v++)
            have[*v - 'a'] = true;
    }
    char merged[64] = "{\"v\":\"", *p = merged + strlen(merged);
    for (int k = 0; k < 26; k++)
        if (have[k])
            *p++ = (char)('a' + k);
    strcpy(p, "\"}");
    return settee_conflict_resolve(db, id, leaves[0].rev, merged, NULL, NULL);
}

static bool field_is(settee_db *db, const char *id, const char *want)
{
    char *v = NULL;
    bool ok = settee_doc_get_field(db, id, "v", &v, NULL) == SETTEE_OK && strcmp(v, want) == 0;
    settee_free(v);
    return ok;
}

typedef struct merged_wait {
    client *a, *b;
} merged_wait;

static bool merged_everywhere(void *arg)
{
    merged_wait *m = arg;
    const char *ids[] = {"m1", "m2"};
    converged cv = {m->a, m->b, ids, 2};
    return field_is(m->a->db, "m1", "\"abc\"") && field_is(m->b->db, "m1", "\"abc\"") &&
           field_is(m->a->db, "m2", "\"xyz\"") && field_is(m->b->db, "m2", "\"xyz\"") &&
           both_converged(&cv);
}

static bool resolver_error_seen(void *arg)
{
    settee_sync_status st;
    return settee_sync_get_status(arg, &st) == SETTEE_OK && st.last.code == SETTEE_FORBIDDEN;
}

/* Two clients made the same documents before they ever synced: the app's
 * merge function settles each conflict on both, identically. */
static void test_custom_merge_resolver(void **state)
{
    fx *f = *state;
    client a, b;
    client_open(&a, f->dir, "ma");
    client_open(&b, f->dir, "mb");
    put(a.db, "{\"_id\":\"m1\",\"v\":\"ab\"}");
    put(b.db, "{\"_id\":\"m1\",\"v\":\"bc\"}");
    put(a.db, "{\"_id\":\"m2\",\"v\":\"xy\"}");
    put(b.db, "{\"_id\":\"m2\",\"v\":\"z\"}");
    put(a.db, "{\"_id\":\"refuse1\",\"v\":\"a\"}");
    put(b.db, "{\"_id\":\"refuse1\",\"v\":\"b\"}");
    int calls_a = 0, calls_b = 0;
    client_sync(&a, &f->srv, true, merge_letters, &calls_a);
    client_sync(&b, &f->srv, true, merge_letters, &calls_b);
    merged_wait m = {&a, &b};
    assert_true(ct_wait(merged_everywhere, &m, NULL, 30000));
    assert_true(__atomic_load_n(&calls_a, __ATOMIC_SEQ_CST) + __atomic_load_n(&calls_b, __ATOMIC_SEQ_CST) >= 2);
    /* The refused one stays conflicted, with the same winner on both, and the
     * resolver's error shows in the status of whoever was asked. */
    settee_sync *asked = __atomic_load_n(&calls_a, __ATOMIC_SEQ_CST) ? a.sync : b.sync;
    assert_true(ct_wait(resolver_error_seen, asked, NULL, 10000));
    char **ra = NULL, **rb = NULL;
    size_t na = 0, nb = 0;
    for (uint64_t t0 = ct_now_ms(); ct_now_ms() - t0 < 10000; ct_sleep_ms(20)) {
        settee_free(ra);
        settee_free(rb);
        ra = rb = NULL;
        if (settee_conflicts(a.db, "refuse1", &ra, &na, NULL) == SETTEE_OK &&
            settee_conflicts(b.db, "refuse1", &rb, &nb, NULL) == SETTEE_OK && na == 2 && nb == 2)
            break;
    }
    assert_int_equal(na, 2);
    assert_int_equal(nb, 2);
    assert_string_equal(ra[0], rb[0]);
    settee_free(ra);
    settee_free(rb);
    client_close(&a);
    client_close(&b);
}

/* A filtered one-shot sync (settee_sync_config.filter + query_params):
 * the push runs the function here, the pull on the server; each side gets
 * only the documents it keeps.  A missing function ends it NOT_FOUND. */
static void test_filtered_sync(void **state)
{
    fx *f = *state;
    static const char ddoc[] =
        "{\"_id\":\"_design/app\",\"filters\":{\"by_t\":"
        "\"function(doc, req) { return doc.t === req.query.t; }\"}}";
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/filtered", NULL), 201);
    assert_int_equal(ct_http_status(&f->srv, "POST", "/filtered", ddoc), 201);
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/filtered/s1", "{\"t\":\"x\"}"), 201);
    assert_int_equal(ct_http_status(&f->srv, "PUT", "/filtered/s2", "{\"t\":\"y\"}"), 201);
    client a;
    client_open(&a, f->dir, "fa");
    put(a.db, ddoc);
    put(a.db, "{\"_id\":\"a1\",\"t\":\"x\"}");
    put(a.db, "{\"_id\":\"a2\",\"t\":\"y\"}");
    char url[256];
    snprintf(url, sizeof url, "%s/filtered", f->srv.url);
    settee_sync_config cfg;
    settee_sync_config_init(&cfg);
    cfg.url = url;
    cfg.user = CT_ADMIN;
    cfg.password = CT_PASS;
    cfg.continuous = false;
    cfg.on_status = on_status;
    cfg.ctx = &a;
    cfg.filter = "app/by_t";
    cfg.query_params = "{\"t\":\"x\"}";
    settee_error e;
    assert_int_equal(settee_sync_start(a.db, &cfg, &a.sync, &e), SETTEE_OK);
    statewait stopped = {&a, SETTEE_SYNC_STOPPED};
    assert_true(ct_wait(last_state_is, &stopped, NULL, 20000));
    pthread_mutex_lock(&a.mu);
    settee_sync_status last = a.last;
    pthread_mutex_unlock(&a.mu);
    if (last.last.code != SETTEE_OK)
        fprintf(stderr, "filtered sync: %s\n", last.last.message);
    assert_int_equal(last.last.code, SETTEE_OK);
    assert_int_equal(last.docs_pushed, 1);
    assert_int_equal(last.docs_pulled, 1);
    char *doc = NULL;
    assert_int_equal(settee_doc_get(a.db, "s1", NULL, &doc, &e), SETTEE_OK);
    settee_free(doc);
    assert_int_equal(settee_doc_get(a.db, "s2", NULL, &doc, &e), SETTEE_NOT_FOUND);
    assert_int_equal(ct_http_status(&f->srv, "GET", "/filtered/a1", NULL), 200);
    assert_int_equal(ct_http_status(&f->srv, "GET", "/filtered/a2", NULL), 404);
    settee_sync_free(a.sync);
    a.sync = NULL;

    /* A function neither side has: the sync ends with NOT_FOUND. */
    cfg.filter = "app/nope";
    memset(&a.last, 0, sizeof a.last);
    a.n_status = 0;
    assert_int_equal(settee_sync_start(a.db, &cfg, &a.sync, &e), SETTEE_OK);
    assert_true(ct_wait(last_state_is, &stopped, NULL, 20000));
    pthread_mutex_lock(&a.mu);
    last = a.last;
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(last.last.code, SETTEE_NOT_FOUND);
    assert_non_null(strstr(last.last.message, "missing json key: nope"));
    /* Exclusive with doc_ids. */
    const char *ids[] = {"a1"};
    cfg.doc_ids = ids;
    cfg.n_doc_ids = 1;
    settee_sync *bad = NULL;
    assert_int_equal(settee_sync_start(a.db, &cfg, &bad, &e), SETTEE_BAD_REQUEST);
    assert_null(bad);
    client_close(&a);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* The filter's push runs settee-js (the server finds it the same way). */
    if (getenv("SETTEE_JS"))
        setenv("COUCHDB_QUERY_SERVER_JAVASCRIPT", getenv("SETTEE_JS"), 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_killed_mid_sync_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_reaches_other_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_shot_and_directions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline_first_end_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_merge_resolver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waits_for_remote_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filtered_sync, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
