/* test_http_auth.c — authentication over HTTP, against CouchDB 3.5's
 * behaviour (PROTOCOL-2 A.2–A.5):
 *   - no password in plain text anywhere on disk once admins and users
 *     exist and have logged in: every file of the data directory (database
 *     files, -wal, -shm), the config file (its plain [admins] entry
 *     rewritten hashed at start, mode 0600) and the log file;
 *   - wrong passwords fail everywhere; cookies expire, are refreshed past
 *     10 % of their life, die with a password change, and never outlive a
 *     role change; the lockout after 5 failures (enforce, warn, off);
 *   - an unknown name costs the same PBKDF2 work as a wrong password;
 *   - JWT (bad signature, wrong algorithm, expired, missing required claim,
 *     the roles claim), proxy authentication with and without its secret,
 *     and an Authorization header of another scheme (anonymous). */
#define _GNU_SOURCE /* nftw, memmem */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "password.h"
#include "secutil.h"

#define INCORRECT "{\"error\":\"unauthorized\",\"reason\":\"Name or password is incorrect.\"}"
#define LOCKED                                                                                 \
    "{\"error\":\"forbidden\",\"reason\":\"Account is temporarily locked due to multiple "   \
    "authentication failures\"}"

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return t_start_with("couchdb", "default_security", "admin_only", NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    if (t_srv)
        t_stop();
    curl_global_cleanup();
    return 0;
}

static char *trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static void expect_exact(tresp r, long status, const char *body, const char *what)
{
    trim(r.body);
    if (r.status != status || strcmp(r.body, body) != 0)
        fprintf(stderr, "%s: got %ld %s, want %ld %s\n", what, r.status, r.body, status, body);
    assert_int_equal(r.status, status);
    assert_string_equal(r.body, body);
    t_free(&r);
}

/* Restart the suite's server with extra settings (NULL-ended triples). */
static void restart_v(const char *first, ...)
{
    const char *kv[30];
    size_t n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s && n + 3 < 30; s = va_arg(ap, const char *)) {
        kv[n++] = s;
        kv[n++] = va_arg(ap, const char *);
        kv[n++] = va_arg(ap, const char *);
    }
    va_end(ap);
    while (n < 27)
        kv[n++] = NULL;
    t_stop();
    assert_int_equal(t_start_with("couchdb", "default_security", "admin_only", kv[0], kv[1],
                                  kv[2], kv[3], kv[4], kv[5], kv[6], kv[7], kv[8], kv[9], kv[10],
                                  kv[11], kv[12], kv[13], kv[14], kv[15], kv[16], kv[17], kv[18],
                                  kv[19], kv[20], kv[21], kv[22], kv[23], kv[24], kv[25], kv[26],
                                  NULL),
                     0);
}

/* name's status for GET path with password pw */
static long status_as(const char *name, const char *pw, const char *path)
{
    tresp r = s_req_as(name, pw, "GET", path, NULL);
    long st = r.status;
    t_free(&r);
    return st;
}

/* POST /_session; the "AuthSession=..." pair into cookie (may be NULL). */
static long login(const char *name, const char *pw, char *cookie, size_t cap)
{
    char body[512];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"password\":\"%s\"}", name, pw);
    tresp r = s_req_as(NULL, NULL, "POST", "/_session", body);
    long st = r.status;
    if (cookie) {
        cookie[0] = '\0';
        char sc[1024];
        if (st == 200 && t_header(&r, "Set-Cookie", sc, sizeof sc)) {
            sc[strcspn(sc, ";")] = '\0';
            snprintf(cookie, cap, "%s", sc);
        }
    }
    t_free(&r);
    return st;
}

static tresp with_cookie(const char *method, const char *path, const char *body,
                         const char *cookie)
{
    char hdr[1200];
    snprintf(hdr, sizeof hdr, "Cookie: %s", cookie);
    return s_req_h(method, path, body, NULL, hdr, NULL);
}

/* The name GET /_session reports for this cookie ("null" when anonymous). */
static void cookie_name(const char *cookie, char *out, size_t cap)
{
    tresp r = with_cookie("GET", "/_session", NULL, cookie);
    assert_int_equal(r.status, 200);
    if (!t_json_str(r.body, "name", out, cap))
        snprintf(out, cap, "null");
    t_free(&r);
}

/* ---- no plain text on disk */

#define ADMIN_PLAIN "AdminPlain-9z8y7x"
static const char *const secrets[] = {
    ADMIN_PLAIN, "UserPlain-alice-1", "UserPlain-alice-2", "UserPlain-bob-1",
    "UserPlain-repl-1", "UserPlain-form-1",
};
#define N_SECRETS (sizeof secrets / sizeof secrets[0])

static char scan_forbidden[N_SECRETS + 8][256];
static size_t n_forbidden;
static int scan_hits, scan_files;
static bool scan_saw_hash;

static int scan_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t cap = (size_t)st->st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (buf)
        n = fread(buf, 1, cap - 1, f);
    fclose(f);
    if (!buf)
        return 0;
    scan_files++;
    for (size_t i = 0; i < n_forbidden; i++) {
        if (memmem(buf, n, scan_forbidden[i], strlen(scan_forbidden[i]))) {
            fprintf(stderr, "plain secret '%s' found in %s\n", scan_forbidden[i], path);
            scan_hits++;
        }
    }
    if (memmem(buf, n, "derived_key", 11))
        scan_saw_hash = true;
    free(buf);
    return 0;
}

static void scan(const char *root)
{
    assert_int_equal(nftw(root, scan_one, 16, FTW_PHYS), 0);
}

static void add_forbidden(const char *s)
{
    snprintf(scan_forbidden[n_forbidden++], sizeof scan_forbidden[0], "%s", s);
}

static void test_no_plaintext_on_disk(void **state)
{
    (void)state;
    t_stop();
    const char *tmp = getenv("SETTEE_TEST_TMP");
    char dir[512], ini[600], data[600], log[600];
    snprintf(dir, sizeof dir, "%s/settee-srv-plain-%ld", tmp ? tmp : "/tmp", (long)getpid());
    t_rm_rf(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(ini, sizeof ini, "%s/settee.ini", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(log, sizeof log, "%s/settee.log", dir);
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fprintf(f,
            "; a settee config as an operator writes it\n[couchdb]\ndatabase_dir = %s\n"
            "default_security = admin_only\n[chttpd]\nport = 0\nbind_address = 127.0.0.1\n"
            "[chttpd_auth]\niterations = 10\n[admins]\npadmin = %s\n[log]\nfile = %s\n"
            "level = debug\n[settee]\ndurability = normal\n",
            data, ADMIN_PLAIN, log);
    fclose(f);
    assert_int_equal(chmod(ini, 0644), 0);
    st_config *c = st_config_new();
    st_error e;
    assert_int_equal(st_config_load(c, ini, &e), ST_OK);
    assert_int_equal(st_server_start(c, &t_srv, &e), ST_OK);
    st_config_free(c);
    snprintf(t_base, sizeof t_base, "http://127.0.0.1:%u", st_server_port(t_srv));
    snprintf(t_dir, sizeof t_dir, "%s", dir); /* t_stop removes it all */

    /* The config file: rewritten with the hash, mode 0600, the rest kept. */
    struct stat st;
    assert_int_equal(stat(ini, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    f = fopen(ini, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_null(strstr(text, ADMIN_PLAIN));
    assert_non_null(strstr(text, "padmin = -pbkdf2:sha256-"));
    assert_non_null(strstr(text, "; a settee config as an operator writes it"));
    assert_non_null(strstr(text, "level = debug"));

    /* Everything a password goes through: admin logins (Basic, cookie),
     * users made by PUT, by _bulk_docs with new_edits=false, a password
     * change, sign-in by JSON and by form, wrong passwords. */
    assert_int_equal(status_as("padmin", ADMIN_PLAIN, "/_all_dbs"), 200);
    assert_int_equal(login("padmin", ADMIN_PLAIN, NULL, 0), 200);
    tresp r = s_req_as("padmin", ADMIN_PLAIN, "PUT", "/_users/org.couchdb.user:alice",
                       "{\"name\":\"alice\",\"password\":\"UserPlain-alice-1\",\"roles\":[],"
                       "\"type\":\"user\"}");
    T_EXPECT(r, 201);
    char rev[128], body[1024];
    assert_true(t_json_str(r.body, "rev", rev, sizeof rev));
    t_free(&r);
    assert_int_equal(status_as("alice", "UserPlain-alice-1", "/_session"), 200);
    snprintf(body, sizeof body,
             "{\"_rev\":\"%s\",\"name\":\"alice\",\"password\":\"UserPlain-alice-2\","
             "\"roles\":[],\"type\":\"user\"}",
             rev);
    r = s_req_as("padmin", ADMIN_PLAIN, "PUT", "/_users/org.couchdb.user:alice", body);
    T_EXPECT(r, 201);
    t_free(&r);
    assert_int_equal(login("alice", "UserPlain-alice-2", NULL, 0), 200);
    assert_int_equal(login("alice", "UserPlain-alice-1", NULL, 0), 401);
    r = s_req_as("padmin", ADMIN_PLAIN, "POST", "/_users/_bulk_docs",
                 "{\"new_edits\":false,\"docs\":[{\"_id\":\"org.couchdb.user:repl\",\"_rev\":"
                 "\"1-0123456789abcdef0123456789abcdef\",\"name\":\"repl\",\"password\":"
                 "\"UserPlain-repl-1\",\"roles\":[],\"type\":\"user\"}]}");
    T_EXPECT(r, 201);
    t_free(&r);
    assert_int_equal(status_as("repl", "UserPlain-repl-1", "/_session"), 200);
    r = s_req_as("padmin", ADMIN_PLAIN, "POST", "/_users",
                 "{\"_id\":\"org.couchdb.user:bob\",\"name\":\"bob\",\"password\":"
                 "\"UserPlain-bob-1\",\"roles\":[],\"type\":\"user\"}");
    T_EXPECT(r, 201);
    t_free(&r);
    r = s_req_as("padmin", ADMIN_PLAIN, "PUT", "/_users/org.couchdb.user:form",
                 "{\"name\":\"form\",\"password\":\"UserPlain-form-1\",\"roles\":[],"
                 "\"type\":\"user\"}");
    T_EXPECT(r, 201);
    t_free(&r);
    r = t_req_full("POST", "/_session", "name=form&password=UserPlain-form-1", 35,
                   "application/x-www-form-urlencoded", false, NULL);
    T_EXPECT(r, 200);
    t_free(&r);
    assert_int_equal(status_as("bob", "UserPlain-bob-1-wrong", "/_session"), 401);
    assert_int_equal(status_as("nobody", "UserPlain-bob-1", "/"), 401);

    /* What could leak: the passwords and the Basic headers carrying them. */
    n_forbidden = 0;
    for (size_t i = 0; i < N_SECRETS; i++)
        add_forbidden(secrets[i]);
    char b64[512], hdr[600];
    s_basic_header("padmin", ADMIN_PLAIN, hdr, sizeof hdr);
    snprintf(b64, sizeof b64, "%s", hdr + strlen("Authorization: Basic "));
    add_forbidden(b64);
    s_basic_header("alice", "UserPlain-alice-1", hdr, sizeof hdr);
    add_forbidden(hdr + strlen("Authorization: Basic "));

    /* While running (-wal and -shm beside the database files)... */
    scan_hits = scan_files = 0;
    scan_saw_hash = false;
    scan(dir);
    assert_int_equal(scan_hits, 0);
    assert_true(scan_files >= 4);
    assert_true(scan_saw_hash); /* the user documents were there to be read */
    /* ...and after the stop, with the log flushed. */
    t_stop_keep();
    scan_hits = scan_files = 0;
    scan(dir);
    assert_int_equal(scan_hits, 0);
    f = fopen(log, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "/_session")); /* it did log the requests */
    t_rm_rf(dir);
    assert_int_equal(t_start_with("couchdb", "default_security", "admin_only", NULL), 0);
}

/* ---- wrong passwords */

static void test_wrong_passwords(void **state)
{
    (void)state;
    /* Many failures ahead, the admin's too: no lockout here (test_lockout). */
    restart_v("chttpd_auth_lockout", "mode", "off", NULL);
    s_user_put("wanda", "right-pw", "[]");
    s_admin_ok("PUT", "/wp-public", NULL, 201);
    s_admin_ok("PUT", "/wp-public/_security", "{}", 200);
    static const char *const paths[] = {"/", "/_up", "/_uuids", "/_session", "/wp-public",
                                        "/wp-public/_all_docs"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        expect_exact(s_req_as("wanda", "wrong-pw", "GET", paths[i], NULL), 401, INCORRECT,
                     paths[i]);
        expect_exact(s_req_as("nobody", "x", "GET", paths[i], NULL), 401, INCORRECT, paths[i]);
        expect_exact(s_req_as(T_ADMIN, "not-it", "GET", paths[i], NULL), 401, INCORRECT,
                     paths[i]);
    }
    assert_int_equal(status_as("wanda", "right-pw", "/wp-public"), 200);
    assert_int_equal(status_as("wanda", "right-pw ", "/wp-public"), 401);
    assert_int_equal(status_as("wanda", "", "/wp-public"), 401);
    assert_int_equal(status_as("Wanda", "right-pw", "/wp-public"), 401);
    /* _session: 401 with a clearing cookie. */
    tresp r = s_req_as(NULL, NULL, "POST", "/_session", "{\"name\":\"wanda\",\"password\":\"no\"}");
    char sc[512];
    assert_true(t_header(&r, "Set-Cookie", sc, sizeof sc));
    assert_memory_equal(sc, "AuthSession=;", 13);
    expect_exact(r, 401, INCORRECT, "POST /_session wrong password");
    r = s_req_as(NULL, NULL, "POST", "/_session", "{\"name\":\"wanda\"}");
    T_EXPECT(r, 401);
    t_free(&r);
    /* Bad base64 is a 400. */
    r = s_req_h("GET", "/", NULL, NULL, "Authorization: Basic !!!!", NULL);
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "Authorization header has invalid base64 value"));
    t_free(&r);
    restart_v(NULL);
}

/* An Authorization header of another scheme is ignored: anonymous. */
static void test_other_scheme_anonymous(void **state)
{
    (void)state;
    static const char *const hdrs[] = {"Authorization: Bearer abc.def.ghi",
                                       "Authorization: Digest username=\"admin\"",
                                       "Authorization: Negotiate YIIB", "Authorization: Token x"};
    s_admin_ok("PUT", "/os-closed", NULL, 201);
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        tresp r = s_req_h("GET", "/_session", NULL, NULL, hdrs[i], NULL);
        T_EXPECT(r, 200);
        assert_true(t_has(&r, "\"name\":null"));
        t_free(&r);
        r = s_req_h("GET", "/os-closed", NULL, NULL, hdrs[i], NULL);
        trim(r.body);
        assert_string_equal(
            r.body,
            "{\"error\":\"unauthorized\",\"reason\":\"You are not authorized to access this db.\"}");
        t_free(&r);
    }
}

/* ---- cookies */

static void test_cookie_attributes_and_password_change(void **state)
{
    (void)state;
    s_user_put("coco", "coco-pw", "[\"ck\"]");
    s_admin_ok("PUT", "/ck-db", NULL, 201);
    s_admin_ok("PUT", "/ck-db/_security", "{\"members\":{\"roles\":[\"ck\"]}}", 200);
    tresp r = s_req_as(NULL, NULL, "POST", "/_session", "{\"name\":\"coco\",\"password\":\"coco-pw\"}");
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "{\"ok\":true,\"name\":\"coco\",\"roles\":[\"ck\"]}"));
    char sc[1024], cookie[1024];
    assert_true(t_header(&r, "Set-Cookie", sc, sizeof sc));
    t_free(&r);
    assert_memory_equal(sc, "AuthSession=", 12);
    assert_non_null(strstr(sc, "; Version=1; Expires="));
    assert_non_null(strstr(sc, "; Max-Age=600; Path=/; HttpOnly"));
    snprintf(cookie, sizeof cookie, "%.*s", (int)strcspn(sc, ";"), sc);
    char name[64];
    cookie_name(cookie, name, sizeof name);
    assert_string_equal(name, "coco");
    r = with_cookie("GET", "/_session", NULL, cookie);
    assert_true(t_has(&r, "\"authenticated\":\"cookie\""));
    t_free(&r);
    r = with_cookie("GET", "/ck-db", NULL, cookie);
    T_EXPECT(r, 200);
    t_free(&r);
    /* A role taken away (the hash kept, so the cookie stays valid) takes
     * effect at once, for the cookie and for cached Basic credentials. */
    assert_int_equal(status_as("coco", "coco-pw", "/ck-db"), 200);
    char rev[128], doc[2048];
    r = s_admin("GET", "/_users/org.couchdb.user:coco", NULL);
    snprintf(doc, sizeof doc, "%s", r.body);
    t_free(&r);
    char *roles = strstr(doc, "\"roles\":[\"ck\"]");
    assert_non_null(roles);
    memmove(roles + 9, roles + 13, strlen(roles + 13) + 1); /* "roles":[] */
    s_admin_ok("PUT", "/_users/org.couchdb.user:coco", trim(doc), 201);
    cookie_name(cookie, name, sizeof name);
    assert_string_equal(name, "coco");
    r = with_cookie("GET", "/ck-db", NULL, cookie);
    T_EXPECT(r, 403);
    t_free(&r);
    assert_int_equal(status_as("coco", "coco-pw", "/ck-db"), 403);
    /* A password change ends the session: the cookie is then ignored. */
    s_user_put("coco", "coco-pw2", "[\"ck\"]");
    cookie_name(cookie, name, sizeof name);
    assert_string_equal(name, "null");
    r = with_cookie("GET", "/ck-db", NULL, cookie);
    T_EXPECT(r, 401);
    t_free(&r);
    assert_int_equal(status_as("coco", "coco-pw", "/_session"), 401);
    assert_int_equal(login("coco", "coco-pw2", cookie, sizeof cookie), 200);
    cookie_name(cookie, name, sizeof name);
    assert_string_equal(name, "coco");
    /* The user deleted: ignored too.  DELETE /_session clears. */
    s_user_delete("coco");
    cookie_name(cookie, name, sizeof name);
    assert_string_equal(name, "null");
    r = s_req_as(NULL, NULL, "DELETE", "/_session", NULL);
    T_EXPECT(r, 200);
    assert_true(t_header(&r, "Set-Cookie", sc, sizeof sc));
    assert_memory_equal(sc, "AuthSession=;", 13);
    t_free(&r);
    /* A forged cookie (the admin's name, the time now, a made-up MAC) is
     * ignored; garbage is a 400. */
    (void)rev;
    unsigned char raw[128];
    int k = snprintf((char *)raw, sizeof raw, "%s:%lX:", T_ADMIN, (long)time(NULL));
    memset(raw + k, 0x5a, 32);
    char forged[256] = "AuthSession=";
    st_b64_encode(ST_B64_URL, raw, (size_t)k + 32, forged + 12, sizeof forged - 12);
    cookie_name(forged, name, sizeof name);
    assert_string_equal(name, "null");
    r = with_cookie("GET", "/_all_dbs", NULL, forged);
    T_EXPECT(r, 401);
    t_free(&r);
    r = with_cookie("GET", "/_session", NULL, "AuthSession=%%%");
    T_EXPECT(r, 400);
    assert_true(t_has(&r, "Malformed AuthSession cookie. Please clear your cookies."));
    t_free(&r);
}

static void test_cookie_expiry(void **state)
{
    (void)state;
    restart_v("chttpd_auth", "timeout", "2", NULL);
    s_user_put("exp", "exp-pw", "[]");
    char cookie[1024], name[64];
    assert_int_equal(login("exp", "exp-pw", cookie, sizeof cookie), 200);
    cookie_name(cookie, name, sizeof name);
    assert_string_equal(name, "exp");
    s_sleep_ms(3300);
    cookie_name(cookie, name, sizeof name);
    assert_string_equal(name, "null"); /* expired: ignored, anonymous */
    tresp r = with_cookie("GET", "/_users/org.couchdb.user:exp", NULL, cookie);
    T_EXPECT(r, 401);
    t_free(&r);
}

static void test_cookie_refresh(void **state)
{
    (void)state;
    /* timeout 20: a cookie older than 2 s gets a new one. */
    restart_v("chttpd_auth", "timeout", "20", NULL);
    s_user_put("fresh", "fresh-pw", "[]");
    char cookie[1024], sc[1024];
    assert_int_equal(login("fresh", "fresh-pw", cookie, sizeof cookie), 200);
    tresp r = with_cookie("GET", "/_session", NULL, cookie);
    assert_true(t_has(&r, "\"name\":\"fresh\""));
    assert_false(t_header(&r, "Set-Cookie", sc, sizeof sc));
    t_free(&r);
    s_sleep_ms(3100);
    r = with_cookie("GET", "/_session", NULL, cookie);
    assert_true(t_has(&r, "\"name\":\"fresh\""));
    assert_true(t_header(&r, "Set-Cookie", sc, sizeof sc));
    assert_memory_equal(sc, "AuthSession=", 12);
    assert_non_null(strstr(sc, "Max-Age=20"));
    char fresh[1024];
    snprintf(fresh, sizeof fresh, "%.*s", (int)strcspn(sc, ";"), sc);
    assert_string_not_equal(fresh, cookie);
    t_free(&r);
    /* Basic requests get none. */
    r = s_req_as("fresh", "fresh-pw", "GET", "/_session", NULL);
    assert_false(t_header(&r, "Set-Cookie", sc, sizeof sc));
    t_free(&r);
    char name[64];
    cookie_name(fresh, name, sizeof name);
    assert_string_equal(name, "fresh");
}

/* A configuration reload (SIGHUP) without a [chttpd_auth] secret keeps the
 * sessions: the random secret of this run goes on. */
static void test_reload_keeps_sessions(void **state)
{
    (void)state;
    s_user_put("rl", "rl-pw", "[]");
    char cookie[1024], name[64];
    assert_int_equal(login("rl", "rl-pw", cookie, sizeof cookie), 200);
    st_config *c = st_config_new();
    st_error e;
    assert_non_null(c);
    assert_int_equal(st_config_set(c, "couchdb", "database_dir", t_dir, &e), ST_OK);
    assert_int_equal(st_config_set(c, "chttpd", "port", "0", &e), ST_OK);
    assert_int_equal(st_config_set(c, "admins", T_ADMIN, T_PASS, &e), ST_OK);
    assert_int_equal(st_config_set(c, "couchdb", "default_security", "admin_only", &e), ST_OK);
    assert_int_equal(st_config_set(c, "chttpd_auth", "iterations", "10", &e), ST_OK);
    assert_int_equal(st_config_set(c, "chttpd_auth", "timeout", "900", &e), ST_OK);
    assert_int_equal(st_server_reload(t_srv, c, &e), ST_OK);
    st_config_free(c);
    cookie_name(cookie, name, sizeof name);
    assert_string_equal(name, "rl");
    assert_int_equal(status_as("rl", "rl-pw", "/_session"), 200);
    assert_int_equal(status_as(T_ADMIN, T_PASS, "/_all_dbs"), 200);
    /* The reloaded settings apply: new cookies last 900 s. */
    tresp r = s_req_as(NULL, NULL, "POST", "/_session", "{\"name\":\"rl\",\"password\":\"rl-pw\"}");
    char sc[1024];
    assert_true(t_header(&r, "Set-Cookie", sc, sizeof sc));
    assert_non_null(strstr(sc, "Max-Age=900"));
    t_free(&r);
    restart_v(NULL);
}

/* ---- lockout (A.3) */

static void test_lockout(void **state)
{
    (void)state;
    restart_v(NULL);
    s_user_put("lock", "lock-pw", "[]");
    s_user_put("free", "free-pw", "[]");
    for (int i = 0; i < 5; i++)
        expect_exact(s_req_as("lock", "bad", "GET", "/_session", NULL), 401, INCORRECT,
                     "failure before the lockout");
    expect_exact(s_req_as("lock", "lock-pw", "GET", "/_session", NULL), 403, LOCKED,
                 "right password, locked (Basic)");
    expect_exact(s_req_as(NULL, NULL, "POST", "/_session",
                          "{\"name\":\"lock\",\"password\":\"lock-pw\"}"),
                 403, LOCKED, "right password, locked (_session)");
    expect_exact(s_req_as("lock", "bad", "GET", "/_session", NULL), 403, LOCKED,
                 "wrong password, locked");
    /* Someone else is not locked; a password reset (a new salt) unlocks. */
    assert_int_equal(status_as("free", "free-pw", "/_session"), 200);
    s_user_put("lock", "lock-pw2", "[]");
    assert_int_equal(status_as("lock", "lock-pw2", "/_session"), 200);
    /* Failures through _session count too. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(login("free", "bad", NULL, 0), 401);
    assert_int_equal(login("free", "free-pw", NULL, 0), 403);

    restart_v("chttpd_auth_lockout", "mode", "warn", NULL);
    s_user_put("lock", "lock-pw", "[]");
    for (int i = 0; i < 8; i++)
        assert_int_equal(status_as("lock", "bad", "/_session"), 401);
    assert_int_equal(status_as("lock", "lock-pw", "/_session"), 200);

    restart_v("chttpd_auth_lockout", "mode", "off", NULL);
    s_user_put("lock", "lock-pw", "[]");
    for (int i = 0; i < 8; i++)
        assert_int_equal(status_as("lock", "bad", "/_session"), 401);
    assert_int_equal(status_as("lock", "lock-pw", "/_session"), 200);

    restart_v("chttpd_auth_lockout", "threshold", "2", NULL);
    s_user_put("lock", "lock-pw", "[]");
    for (int i = 0; i < 2; i++)
        assert_int_equal(status_as("lock", "bad", "/_session"), 401);
    assert_int_equal(status_as("lock", "lock-pw", "/_session"), 403);
    restart_v(NULL);
}

/* ---- an unknown name costs what a wrong password costs */

static uint64_t work_of(const char *name, const char *pw, bool session)
{
    uint64_t before = st_pw_iterations_done();
    if (session)
        assert_int_equal(login(name, pw, NULL, 0), 401);
    else
        assert_int_equal(status_as(name, pw, "/"), 401);
    return st_pw_iterations_done() - before;
}

static void test_unknown_name_same_work(void **state)
{
    (void)state;
    restart_v("chttpd_auth", "iterations", "1000", "chttpd_auth_lockout", "mode", "off", NULL);
    s_user_put("known", "known-pw", "[]");
    assert_int_equal(status_as("known", "known-pw", "/_session"), 200);
    uint64_t wrong = work_of("known", "not-it", false);
    uint64_t unknown = work_of("unknown-user", "not-it", false);
    assert_int_equal(wrong, 1000);
    assert_int_equal(unknown, wrong);
    assert_int_equal(work_of("known", "not-it", true), 1000);
    assert_int_equal(work_of("unknown-user", "not-it", true), 1000);
    /* A user document without a hash costs the same as well. */
    s_admin_ok("PUT", "/_users/org.couchdb.user:nohash",
               "{\"name\":\"nohash\",\"roles\":[],\"type\":\"user\"}", 201);
    assert_int_equal(work_of("nohash", "x", false), 1000);
    /* The right password is checked once, then answered from the cache. */
    uint64_t before = st_pw_iterations_done();
    for (int i = 0; i < 5; i++)
        assert_int_equal(status_as("known", "known-pw", "/_session"), 200);
    assert_true(st_pw_iterations_done() - before <= 1000);
    restart_v(NULL);
}

/* ---- JWT */

static void b64url(const void *in, size_t n, char *out, size_t cap)
{
    st_b64_encode(ST_B64_URL, in, n, out, cap);
}

/* header.claims.signature, HMAC-SHA-(bits) with secret (NULL: no signature). */
static void jwt_make(const char *header, const char *claims, const char *secret, int bits,
                     char *out, size_t cap)
{
    char h[512], c[1024], msg[1600], sig[256] = "";
    b64url(header, strlen(header), h, sizeof h);
    b64url(claims, strlen(claims), c, sizeof c);
    snprintf(msg, sizeof msg, "%s.%s", h, c);
    if (secret) {
        unsigned char mac[64];
        unsigned len = 0;
        const EVP_MD *md = bits == 512 ? EVP_sha512() : bits == 384 ? EVP_sha384() : EVP_sha256();
        HMAC(md, secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg), mac, &len);
        b64url(mac, len, sig, sizeof sig);
    }
    snprintf(out, cap, "%s.%s", msg, sig);
}

static tresp bearer(const char *method, const char *path, const char *token)
{
    char hdr[2048];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
    return s_req_h(method, path, NULL, NULL, hdr, NULL);
}

static void jwt_refused(const char *token, long status, const char *reason)
{
    tresp r = bearer("GET", "/_session", token);
    if (r.status != status || !strstr(r.body, reason))
        fprintf(stderr, "JWT %s: %ld %s (want %ld %s)\n", token, r.status, r.body, status,
                reason);
    assert_int_equal(r.status, status);
    assert_non_null(strstr(r.body, reason));
    t_free(&r);
}

#define JWT_SECRET "jwt-shared-secret"
#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static void test_jwt(void **state)
{
    (void)state;
    char b64[128];
    st_b64_encode(ST_B64_STD, (const unsigned char *)JWT_SECRET, strlen(JWT_SECRET), b64,
                  sizeof b64);
    restart_v("chttpd", "authentication_handlers",
              "{chttpd_auth, jwt_authentication_handler}, {chttpd_auth, "
              "cookie_authentication_handler}, {chttpd_auth, default_authentication_handler}",
              "jwt_keys", "hmac:_default", b64, "jwt_auth", "required_claims", "exp", NULL);
    s_admin_ok("PUT", "/jwt-db", NULL, 201);
    s_admin_ok("PUT", "/jwt-db/_security", "{\"members\":{\"roles\":[\"jwtrole\"]}}", 200);
    long now = (long)time(NULL);
    char claims[512], tok[2048];
    snprintf(claims, sizeof claims,
             "{\"sub\":\"jay\",\"exp\":%ld,\"_couchdb.roles\":[\"jwtrole\",\"other\"]}", now + 600);
    jwt_make(HS256, claims, JWT_SECRET, 256, tok, sizeof tok);
    tresp r = bearer("GET", "/_session", tok);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"userCtx\":{\"name\":\"jay\",\"roles\":[\"jwtrole\",\"other\"]}"));
    assert_true(t_has(&r, "\"authenticated\":\"jwt\""));
    assert_true(t_has(&r, "\"authentication_handlers\":[\"jwt\",\"cookie\",\"default\"]"));
    t_free(&r);
    r = bearer("GET", "/jwt-db", tok);
    T_EXPECT(r, 200); /* the roles claim makes a member */
    t_free(&r);
    r = bearer("PUT", "/jwt-db/_design/x", tok);
    T_EXPECT(r, 403);
    t_free(&r);
    /* Without the role: not a member. */
    snprintf(claims, sizeof claims, "{\"sub\":\"jay\",\"exp\":%ld}", now + 600);
    jwt_make(HS256, claims, JWT_SECRET, 256, tok, sizeof tok);
    r = bearer("GET", "/jwt-db", tok);
    T_EXPECT(r, 403);
    t_free(&r);

    /* Refusals, with CouchDB's statuses and reasons. */
    jwt_make(HS256, claims, "another-secret", 256, tok, sizeof tok);
    jwt_refused(tok, 400, "Bad HMAC");
    jwt_make(HS256, claims, JWT_SECRET, 256, tok, sizeof tok);
    tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A'; /* a flipped signature */
    jwt_refused(tok, 400, "Bad HMAC");
    jwt_make("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL, 0, tok, sizeof tok);
    jwt_refused(tok, 400, "Invalid alg header parameter");
    jwt_make("{\"typ\":\"JWT\"}", claims, JWT_SECRET, 256, tok, sizeof tok);
    jwt_refused(tok, 400, "Missing alg header parameter");
    /* An RS256 header over an HMAC signature: no RSA key exists. */
    jwt_make("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims, JWT_SECRET, 256, tok, sizeof tok);
    r = bearer("GET", "/_session", tok);
    T_EXPECT(r, 400);
    assert_false(t_has(&r, "\"name\":\"jay\""));
    t_free(&r);
    snprintf(claims, sizeof claims, "{\"sub\":\"jay\",\"exp\":%ld}", now - 10);
    jwt_make(HS256, claims, JWT_SECRET, 256, tok, sizeof tok);
    jwt_refused(tok, 401, "exp not in future");
    jwt_make(HS256, "{\"sub\":\"jay\"}", JWT_SECRET, 256, tok, sizeof tok);
    jwt_refused(tok, 400, "Missing exp claim");
    snprintf(claims, sizeof claims, "{\"exp\":%ld}", now + 600);
    jwt_make(HS256, claims, JWT_SECRET, 256, tok, sizeof tok);
    jwt_refused(tok, 401, "Token missing sub claim.");
    jwt_refused("not-a-token", 400, "Malformed token");
    /* A refused token never falls back to anonymous, even on GET /. */
    jwt_make(HS256, "{\"sub\":\"jay\"}", JWT_SECRET, 256, tok, sizeof tok);
    r = bearer("GET", "/", tok);
    T_EXPECT(r, 400);
    t_free(&r);

    /* allowed_algorithms: an algorithm outside the list is refused. */
    restart_v("chttpd", "authentication_handlers",
              "{chttpd_auth, jwt_authentication_handler}, {chttpd_auth, "
              "default_authentication_handler}",
              "jwt_keys", "hmac:_default", b64, "jwt_auth", "allowed_algorithms", "HS384", NULL);
    jwt_make(HS256, "{\"sub\":\"jay\"}", JWT_SECRET, 256, tok, sizeof tok);
    jwt_refused(tok, 400, "Invalid alg header parameter");
    jwt_make("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", "{\"sub\":\"jay\"}", JWT_SECRET, 384, tok,
             sizeof tok);
    r = bearer("GET", "/_session", tok);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"name\":\"jay\""));
    t_free(&r);
    /* A roles claim at a path. */
    restart_v("chttpd", "authentication_handlers", "jwt, default", "jwt_keys", "hmac:_default",
              b64, "jwt_auth", "roles_claim_path", "app.couch\\.roles", NULL);
    jwt_make(HS256, "{\"sub\":\"pat\",\"app\":{\"couch.roles\":[\"deep\"]}}", JWT_SECRET, 256,
             tok, sizeof tok);
    r = bearer("GET", "/_session", tok);
    assert_true(t_has(&r, "\"userCtx\":{\"name\":\"pat\",\"roles\":[\"deep\"]}"));
    t_free(&r);
    /* Without the jwt handler a Bearer header is just ignored. */
    restart_v(NULL);
    r = bearer("GET", "/_session", tok);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"name\":null"));
    t_free(&r);
}

/* ---- proxy authentication */

static void proxy_token(const char *secret, const char *name, const EVP_MD *md, char *out)
{
    unsigned char mac[64];
    unsigned len = 0;
    HMAC(md, secret, (int)strlen(secret), (const unsigned char *)name, strlen(name), mac, &len);
    for (unsigned i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static tresp proxied(const char *path, const char *name, const char *roles, const char *token)
{
    const char *h[4];
    char hn[256], hr[256], ht[256];
    size_t k = 0;
    snprintf(hn, sizeof hn, "X-Auth-CouchDB-UserName: %s", name);
    h[k++] = hn;
    if (roles) {
        snprintf(hr, sizeof hr, "X-Auth-CouchDB-Roles: %s", roles);
        h[k++] = hr;
    }
    if (token) {
        snprintf(ht, sizeof ht, "X-Auth-CouchDB-Token: %s", token);
        h[k++] = ht;
    }
    h[k] = NULL;
    return t_req_full("GET", path, NULL, 0, NULL, false, h);
}

static void test_proxy(void **state)
{
    (void)state;
    restart_v("chttpd", "authentication_handlers",
              "{chttpd_auth, cookie_authentication_handler}, {chttpd_auth, "
              "proxy_authentication_handler}, {chttpd_auth, default_authentication_handler}",
              NULL);
    s_admin_ok("PUT", "/px-db", NULL, 201);
    s_admin_ok("PUT", "/px-db/_security", "{\"members\":{\"roles\":[\"pxr\"]}}", 200);
    tresp r = proxied("/_session", "pia", "pxr, other", NULL);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"userCtx\":{\"name\":\"pia\",\"roles\":[\"pxr\",\"other\"]}"));
    assert_true(t_has(&r, "\"authenticated\":\"proxy\""));
    t_free(&r);
    r = proxied("/px-db", "pia", "pxr", NULL);
    T_EXPECT(r, 200);
    t_free(&r);
    r = proxied("/px-db", "pia", NULL, NULL);
    T_EXPECT(r, 403);
    t_free(&r);

    /* proxy_use_secret: the token must be hex HMAC(secret, name). */
    restart_v("chttpd", "authentication_handlers",
              "{chttpd_auth, cookie_authentication_handler}, {chttpd_auth, "
              "proxy_authentication_handler}, {chttpd_auth, default_authentication_handler}",
              "chttpd_auth", "proxy_use_secret", "true", "chttpd_auth", "secret",
              "proxy-shared-secret", NULL);
    s_admin_ok("PUT", "/px-db", NULL, 201);
    s_admin_ok("PUT", "/px-db/_security", "{\"members\":{\"roles\":[\"pxr\"]}}", 200);
    char tok[200];
    proxy_token("proxy-shared-secret", "pia", EVP_sha256(), tok);
    r = proxied("/_session", "pia", "pxr", tok);
    assert_true(t_has(&r, "\"name\":\"pia\""));
    t_free(&r);
    r = proxied("/px-db", "pia", "pxr", tok);
    T_EXPECT(r, 200);
    t_free(&r);
    proxy_token("proxy-shared-secret", "pia", EVP_sha1(), tok); /* hash_algorithms: sha too */
    r = proxied("/px-db", "pia", "pxr", tok);
    T_EXPECT(r, 200);
    t_free(&r);
    /* No token, a wrong one, or one for another name: not authenticated. */
    r = proxied("/_session", "pia", "pxr", NULL);
    assert_true(t_has(&r, "\"name\":null"));
    t_free(&r);
    r = proxied("/px-db", "pia", "pxr", NULL);
    T_EXPECT(r, 401);
    t_free(&r);
    proxy_token("wrong-secret", "pia", EVP_sha256(), tok);
    r = proxied("/px-db", "pia", "pxr", tok);
    T_EXPECT(r, 401);
    t_free(&r);
    proxy_token("proxy-shared-secret", "pia", EVP_sha256(), tok);
    r = proxied("/px-db", "admin", "_admin", tok);
    T_EXPECT(r, 401);
    t_free(&r);
    /* Without the proxy handler, the headers mean nothing. */
    restart_v(NULL);
    r = proxied("/_session", "pia", "_admin", NULL);
    assert_true(t_has(&r, "\"name\":null"));
    t_free(&r);
    r = proxied("/_all_dbs", "pia", "_admin", NULL);
    T_EXPECT(r, 401);
    t_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_plaintext_on_disk),
        cmocka_unit_test(test_wrong_passwords),
        cmocka_unit_test(test_other_scheme_anonymous),
        cmocka_unit_test(test_cookie_attributes_and_password_change),
        cmocka_unit_test(test_cookie_expiry),
        cmocka_unit_test(test_cookie_refresh),
        cmocka_unit_test(test_reload_keeps_sessions),
        cmocka_unit_test(test_lockout),
        cmocka_unit_test(test_unknown_name_same_work),
        cmocka_unit_test(test_jwt),
        cmocka_unit_test(test_proxy),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
