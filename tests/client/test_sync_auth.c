/* test_sync_auth.c — libsettee's sync with certificates and credentials,
 * against the real `settee serve` (HTTPS beside HTTP with the test CA of
 * tests/data/tls, users in _users, databases for their members only, JWT
 * with an HS256 key), through settee.h:
 *   - over https a sync verifies the certificate against ca_file; without
 *     it the sync ends STOPPED with SETTEE_NETWORK and a "TLS:" message;
 *     insecure skips the check;
 *   - use_session and bearer_token sync a members-only database;
 *   - contradicting credentials are refused by settee_sync_start;
 *   - a continuous sync ends STOPPED with SETTEE_FORBIDDEN (403) and
 *     CouchDB's reason when the admin takes its user out of the database's
 *     _security, and with SETTEE_UNAUTHORIZED (401) when the admin changes
 *     its user's password (Basic and cookie session alike) -- instead of
 *     retrying forever; no password in any message.
 * Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "client/client_testutil.h"
#include "client/ct_http.h"
#include "jwt_testutil.h"

#define CA ST_TEST_DATA_DIR "/tls/ca.pem"
#define PW "member-Pw:@/%+1" /* every member's password, until changed */

static ct_server srv;
static char dir[4096];
static int counter;

static const char server_ini[] =
    "[chttpd]\nauthentication_handlers = {chttpd_auth, cookie_authentication_handler}, "
    "{chttpd_auth, default_authentication_handler}, {chttpd_auth, jwt_authentication_handler}\n"
    "[jwt_keys]\nhmac:_default = " TJ_KEY_B64 "\n";

/* --------------------------------------------------------- the server */

/* A user with PW. */
static void make_user(const char *name)
{
    char path[256], body[512];
    snprintf(path, sizeof path, "/_users/org.couchdb.user:%s", name);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"password\":\"%s\",\"roles\":[],\"type\":\"user\"}", name, PW);
    assert_int_equal(ct_http_status(&srv, "PUT", path, body), 201);
}

/* A new database db whose only member is member, with n documents. */
static void make_members_db(const char *db, const char *member, int n)
{
    char path[256], body[256];
    snprintf(path, sizeof path, "/%s", db);
    assert_int_equal(ct_http_status(&srv, "PUT", path, NULL), 201);
    snprintf(path, sizeof path, "/%s/_security", db);
    snprintf(body, sizeof body, "{\"members\":{\"names\":[\"%s\"],\"roles\":[]}}", member);
    assert_int_equal(ct_http_status(&srv, "PUT", path, body), 200);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/%s/r%02d", db, i);
        assert_int_equal(ct_http_status(&srv, "PUT", path, "{\"from\":\"server\"}"), 201);
    }
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!ct_bin())
        return 0;
    ct_tmpdir(dir, sizeof dir, "syncauth");
    return ct_server_start_cfg(&srv, "syncauth-srv", server_ini, true) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    bool clean = ct_server_stop(&srv);
    if (srv.data_dir[0]) {
        char ini[4200];
        snprintf(ini, sizeof ini, "%s.ini", srv.data_dir);
        unlink(ini);
        ct_rmdir(srv.data_dir);
    }
    if (dir[0])
        ct_rmdir(dir);
    curl_global_cleanup();
    return clean ? 0 : -1;
}

/* ----------------------------------------------------------- a client */

typedef struct client {
    settee_db *db;
    pthread_mutex_t mu;
    settee_sync_status last;      /* the last status on_status had */
    size_t n_status, n_stopped;
    bool saw_idle;
} client;

static void on_status(void *ctx, settee_sync *s, const settee_sync_status *st)
{
    (void)s;
    client *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->last = *st;
    c->n_status++;
    if (st->state == SETTEE_SYNC_STOPPED)
        c->n_stopped++;
    if (st->state == SETTEE_SYNC_IDLE)
        c->saw_idle = true;
    pthread_mutex_unlock(&c->mu);
}

static void client_open(client *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/c%d.settee", dir, counter++);
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = false;
    settee_error e;
    assert_int_equal(settee_db_open(path, &o, &c->db, &e), SETTEE_OK);
}

static void client_close(client *c)
{
    assert_int_equal(settee_db_close(c->db), SETTEE_OK);
    pthread_mutex_destroy(&c->mu);
}

static void config(settee_sync_config *cfg, client *c, const char *url, bool continuous)
{
    settee_sync_config_init(cfg);
    cfg->url = url;
    cfg->continuous = continuous;
    cfg->on_status = on_status;
    cfg->ctx = c;
    cfg->retry_max_ms = 200;
}

static bool stopped(void *arg)
{
    client *c = arg;
    pthread_mutex_lock(&c->mu);
    bool b = c->n_stopped > 0;
    pthread_mutex_unlock(&c->mu);
    return b;
}

static bool idle(void *arg)
{
    client *c = arg;
    pthread_mutex_lock(&c->mu);
    bool b = c->saw_idle;
    pthread_mutex_unlock(&c->mu);
    return b;
}

static settee_sync_status last_status(client *c)
{
    pthread_mutex_lock(&c->mu);
    settee_sync_status st = c->last;
    pthread_mutex_unlock(&c->mu);
    return st;
}

/* A one-shot sync of c with cfg, run to its end; its final status. */
static settee_sync_status run_once(client *c, const settee_sync_config *cfg)
{
    settee_sync *s = NULL;
    settee_error e;
    settee_status rc = settee_sync_start(c->db, cfg, &s, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "sync_start: %s\n", e.message);
    assert_int_equal(rc, SETTEE_OK);
    assert_true(ct_wait(stopped, c, NULL, 30000));
    settee_sync_free(s);
    return last_status(c);
}

static bool has_doc(settee_db *db, const char *id)
{
    char *json = NULL;
    settee_status rc = settee_doc_get(db, id, NULL, &json, NULL);
    settee_free(json);
    return rc == SETTEE_OK;
}

/* ---------------------------------------------------------------- HTTPS */

static void test_https_ca_file_and_insecure(void **state)
{
    (void)state;
    if (!ct_bin())
        skip();
    assert_int_equal(ct_http_status(&srv, "PUT", "/tlsdb", NULL), 201);
    assert_int_equal(ct_http_status(&srv, "PUT", "/tlsdb/t1", "{}"), 201);
    char url[256];
    snprintf(url, sizeof url, "%s/tlsdb", srv.tls_url);

    client c;
    client_open(&c);
    settee_sync_config cfg;
    config(&cfg, &c, url, false);
    cfg.direction = SETTEE_SYNC_PULL;
    cfg.user = CT_ADMIN;
    cfg.password = CT_PASS;
    /* The test CA is not the system's: ended at once, saying why. */
    uint64_t t0 = ct_now_ms();
    settee_sync_status st = run_once(&c, &cfg);
    assert_true(ct_now_ms() - t0 < 10000);
    assert_int_equal(st.last.code, SETTEE_NETWORK);
    assert_non_null(strstr(st.last.message, "TLS:"));
    assert_non_null(strstr(st.last.message, "certificate"));
    assert_null(strstr(st.last.message, CT_PASS));
    assert_false(has_doc(c.db, "t1"));

    pthread_mutex_lock(&c.mu);
    c.n_stopped = 0;
    pthread_mutex_unlock(&c.mu);
    cfg.ca_file = CA;
    st = run_once(&c, &cfg);
    if (st.last.code != SETTEE_OK)
        fprintf(stderr, "with ca_file: %s\n", st.last.message);
    assert_int_equal(st.last.code, SETTEE_OK);
    assert_true(has_doc(c.db, "t1"));
    client_close(&c);

    client d;
    client_open(&d);
    config(&cfg, &d, url, false);
    cfg.user = CT_ADMIN;
    cfg.password = CT_PASS;
    cfg.insecure = true;
    st = run_once(&d, &cfg);
    assert_int_equal(st.last.code, SETTEE_OK);
    assert_true(has_doc(d.db, "t1"));
    client_close(&d);
}

/* ------------------------------------------------- session and token */

static void test_session_and_bearer_token(void **state)
{
    (void)state;
    if (!ct_bin())
        skip();
    make_user("sam");
    make_members_db("samdb", "sam", 3);
    char url[256];
    snprintf(url, sizeof url, "%s/samdb", srv.url);
    client c;
    client_open(&c);
    assert_int_equal(settee_doc_put(c.db, "{\"_id\":\"from-sam\"}", SETTEE_NUL_TERMINATED, NULL,
                                    NULL),
                     SETTEE_OK);
    settee_sync_config cfg;
    config(&cfg, &c, url, false);
    cfg.user = "sam";
    cfg.password = PW;
    cfg.use_session = true;
    settee_sync_status st = run_once(&c, &cfg);
    if (st.last.code != SETTEE_OK)
        fprintf(stderr, "session: %s\n", st.last.message);
    assert_int_equal(st.last.code, SETTEE_OK);
    assert_int_equal(st.docs_pulled, 3);
    assert_int_equal(st.docs_pushed, 1);
    client_close(&c);

    /* A JWT for a member named only in _security (no _users document). */
    make_members_db("jwtdb", "jwtuser", 2);
    char claims[128], token[1024];
    snprintf(claims, sizeof claims, "{\"sub\":\"jwtuser\",\"exp\":%lld}",
             (long long)time(NULL) + 3600);
    assert_true(tj_hs256(TJ_KEY, claims, token, sizeof token));
    snprintf(url, sizeof url, "%s/jwtdb", srv.url);
    client d;
    client_open(&d);
    config(&cfg, &d, url, false);
    cfg.bearer_token = token;
    st = run_once(&d, &cfg);
    if (st.last.code != SETTEE_OK)
        fprintf(stderr, "bearer: %s\n", st.last.message);
    assert_int_equal(st.last.code, SETTEE_OK);
    assert_int_equal(st.docs_pulled, 2);
    client_close(&d);
}

static void test_contradictions_refused(void **state)
{
    (void)state;
    client c;
    client_open(&c);
    settee_sync_config cfg;
    settee_sync *s = NULL;
    settee_error e;
    config(&cfg, &c, "http://127.0.0.1:9/db", true);
    cfg.bearer_token = "a.b.c";
    cfg.user = "u";
    cfg.password = "p";
    assert_int_equal(settee_sync_start(c.db, &cfg, &s, &e), SETTEE_BAD_REQUEST);
    assert_null(s);
    assert_non_null(strstr(e.message, "mutually exclusive"));
    config(&cfg, &c, "http://u:p@127.0.0.1:9/db", true);
    cfg.bearer_token = "a.b.c";
    assert_int_equal(settee_sync_start(c.db, &cfg, &s, &e), SETTEE_BAD_REQUEST);
    config(&cfg, &c, "http://127.0.0.1:9/db", true);
    cfg.password = "p";
    assert_int_equal(settee_sync_start(c.db, &cfg, &s, &e), SETTEE_BAD_REQUEST);
    config(&cfg, &c, "http://127.0.0.1:9/db", true);
    cfg.use_session = true;
    assert_int_equal(settee_sync_start(c.db, &cfg, &s, &e), SETTEE_BAD_REQUEST);
    config(&cfg, &c, "http://u:p@127.0.0.1:9/db", true);
    cfg.use_session = true; /* the URL's credentials log in */
    assert_int_equal(settee_sync_start(c.db, &cfg, &s, &e), SETTEE_OK);
    settee_sync_free(s);
    pthread_mutex_lock(&c.mu);
    assert_int_equal(c.n_stopped, 1); /* started, so it ended with STOPPED */
    pthread_mutex_unlock(&c.mu);
    client_close(&c);
}

/* ------------------------------------------- ended by the server's no */

/* A continuous two-way sync of name's database db, caught up.  session:
 * a cookie session instead of Basic. */
static settee_sync *live_sync(client *c, const char *name, const char *db, bool session)
{
    static char url[256]; /* copied by settee_sync_start */
    snprintf(url, sizeof url, "%s/%s", srv.url, db);
    settee_sync_config cfg;
    config(&cfg, c, url, true);
    cfg.user = name;
    cfg.password = PW;
    cfg.use_session = session;
    settee_sync *s = NULL;
    settee_error e;
    assert_int_equal(settee_sync_start(c->db, &cfg, &s, &e), SETTEE_OK);
    assert_true(ct_wait(idle, c, NULL, 30000));
    assert_true(has_doc(c->db, "r00"));
    return s;
}

/* The sync ended with code and http, CouchDB's reason, no password. */
static void assert_ended(client *c, settee_sync *s, settee_status code, int http,
                         const char *reason)
{
    bool ended = ct_wait(stopped, c, NULL, 30000);
    settee_sync_status st = last_status(c);
    if (!ended || st.last.code != code)
        fprintf(stderr, "state %s, last %s: %s\n", settee_sync_state_name(st.state),
                settee_status_name(st.last.code), st.last.message);
    assert_true(ended);
    assert_int_equal(st.state, SETTEE_SYNC_STOPPED);
    assert_int_equal(st.last.code, code);
    assert_int_equal(st.last.http_status, http);
    assert_non_null(strstr(st.last.message, reason));
    assert_null(strstr(st.last.message, PW));
    /* The status a poll gets says the same. */
    settee_sync_status polled;
    assert_int_equal(settee_sync_get_status(s, &polled), SETTEE_OK);
    assert_int_equal(polled.state, SETTEE_SYNC_STOPPED);
    assert_int_equal(polled.last.code, code);
    settee_sync_free(s);
    pthread_mutex_lock(&c->mu);
    assert_int_equal(c->n_stopped, 1);
    pthread_mutex_unlock(&c->mu);
}

static void test_forbidden_when_removed_from_security(void **state)
{
    (void)state;
    if (!ct_bin())
        skip();
    make_user("fay");
    make_members_db("faydb", "fay", 2);
    client c;
    client_open(&c);
    settee_sync *s = live_sync(&c, "fay", "faydb", false);
    assert_int_equal(ct_http_status(&srv, "PUT", "/faydb/_security",
                                    "{\"members\":{\"names\":[\"someone-else\"],\"roles\":[]}}"),
                     200);
    assert_ended(&c, s, SETTEE_FORBIDDEN, 403, "You are not allowed to access this db.");
    client_close(&c);
}

/* The admin gives name a new password, then writes to db (which wakes the
 * sync's waiting feed, so it asks the server again). */
static void change_password(const char *name, const char *db)
{
    char path[256], body[1024];
    snprintf(path, sizeof path, "/_users/org.couchdb.user:%s", name);
    ct_resp r = ct_http(&srv, "GET", path, NULL);
    assert_int_equal(r.status, 200);
    const char *rev = strstr(r.body, "\"_rev\":\"");
    assert_non_null(rev);
    char rev_s[128] = "";
    sscanf(rev + 8, "%127[^\"]", rev_s);
    free(r.body);
    snprintf(body, sizeof body,
             "{\"_rev\":\"%s\",\"name\":\"%s\",\"password\":\"a-new-one\",\"roles\":[],"
             "\"type\":\"user\"}", rev_s, name);
    assert_int_equal(ct_http_status(&srv, "PUT", path, body), 201);
    snprintf(path, sizeof path, "/%s/after-change", db);
    assert_int_equal(ct_http_status(&srv, "PUT", path, "{}"), 201);
}

static void test_unauthorized_when_password_changes(void **state)
{
    (void)state;
    if (!ct_bin())
        skip();
    const char *names[2] = {"uma", "ugo"}, *dbs[2] = {"umadb", "ugodb"};
    for (int session = 0; session < 2; session++) {
        make_user(names[session]);
        make_members_db(dbs[session], names[session], 2);
        client c;
        client_open(&c);
        settee_sync *s = live_sync(&c, names[session], dbs[session], session);
        change_password(names[session], dbs[session]);
        assert_ended(&c, s, SETTEE_UNAUTHORIZED, 401, "Name or password is incorrect.");
        client_close(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contradictions_refused),
        cmocka_unit_test(test_https_ca_file_and_insecure),
        cmocka_unit_test(test_session_and_bearer_token),
        cmocka_unit_test(test_forbidden_when_removed_from_security),
        cmocka_unit_test(test_unauthorized_when_password_changes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
