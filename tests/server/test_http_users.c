/* test_http_users.c — the authentication database (_users) and
 * couch_peruser over HTTP, against CouchDB 3.5's behaviour (PROTOCOL-2
 * A.3, A.9):
 *   - admin-only by default (a user reading their own document is a 403,
 *     an anonymous sign-up a 401) and its _security not editable;
 *   - the validation reasons of _design/_auth, word for word;
 *   - once opened (users_db_security_editable + a public _security):
 *     sign-up, taken names, one's own document readable with its hash,
 *     other users' documents a 404 for reading and writing, roles not
 *     editable by the user, _design/_auth, _all_docs and _changes closed;
 *   - "password" replaced by PBKDF2-SHA256 fields (600000 iterations by
 *     default, a fresh 32-hex salt each time), checked against OpenSSL;
 *     pre-hashed documents (SHA-1 when no pbkdf2_prf, 10000 iterations
 *     when none given, the legacy "simple" scheme) log in;
 *   - couch_peruser: userdb-<hex> with CouchDB's security object, the name
 *     taken out or the database deleted with the user, existing users
 *     covered when it is turned on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "secutil.h"

#define NOT_ALLOWED "{\"error\":\"forbidden\",\"reason\":\"You are not allowed to access this db.\"}"
#define NO_AUTH "{\"error\":\"unauthorized\",\"reason\":\"You are not authorized to access this db.\"}"
#define MISSING "{\"error\":\"not_found\",\"reason\":\"missing\"}"
#define NO_SADMIN "{\"error\":\"unauthorized\",\"reason\":\"You are not a server admin.\"}"
#define OPEN_USERS "{\"admins\":{\"roles\":[\"_admin\"]},\"members\":{}}"

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

/* status and exact body */
static void expect_exact(tresp r, long status, const char *body, const char *what)
{
    trim(r.body);
    if (r.status != status || strcmp(r.body, body) != 0)
        fprintf(stderr, "%s: got %ld %s, want %ld %s\n", what, r.status, r.body, status, body);
    assert_int_equal(r.status, status);
    assert_string_equal(r.body, body);
    t_free(&r);
}

static void expect_forbidden(tresp r, const char *reason, const char *what)
{
    char body[512];
    snprintf(body, sizeof body, "{\"error\":\"forbidden\",\"reason\":\"%s\"}", reason);
    expect_exact(r, 403, body, what);
}

static void restart(const char *s1, const char *k1, const char *v1, const char *s2,
                    const char *k2, const char *v2)
{
    t_stop();
    assert_int_equal(t_start_with("couchdb", "default_security", "admin_only", s1, k1, v1, s2,
                                  k2, v2, NULL),
                     0);
}

/* ---- admin-only by default */

static void test_admin_only_default(void **state)
{
    (void)state;
    s_user_put("alice", "apass", "[]");
    tresp r = s_admin("GET", "/_users/_security", NULL);
    expect_exact(r, 200,
                 "{\"members\":{\"roles\":[\"_admin\"]},\"admins\":{\"roles\":[\"_admin\"]}}",
                 "_users/_security");
    expect_exact(s_req_as("alice", "apass", "GET", "/_users/org.couchdb.user:alice", NULL), 403,
                 NOT_ALLOWED, "own doc, admin-only _users");
    expect_exact(s_req_as(NULL, NULL, "PUT", "/_users/org.couchdb.user:bob",
                          "{\"name\":\"bob\",\"password\":\"b\",\"roles\":[],\"type\":\"user\"}"),
                 401, NO_AUTH, "anonymous sign-up, admin-only _users");
    expect_exact(s_req_as("alice", "apass", "PUT", "/_users/org.couchdb.user:bob",
                          "{\"name\":\"bob\",\"password\":\"b\",\"roles\":[],\"type\":\"user\"}"),
                 403, NOT_ALLOWED, "user creating another user");
    expect_exact(s_req_as("alice", "apass", "GET", "/_users/_all_docs", NULL), 403, NOT_ALLOWED,
                 "_all_docs as a user");
    expect_exact(s_admin("PUT", "/_users/_security", OPEN_USERS), 403,
                 "{\"error\":\"forbidden\",\"reason\":\"You can't edit the security object of "
                 "the user database.\"}",
                 "PUT _users/_security without users_db_security_editable");
    r = s_admin("GET", "/_users/_all_docs", NULL);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "org.couchdb.user:alice"));
    t_free(&r);
    r = s_admin("GET", "/_users/_changes", NULL);
    T_EXPECT(r, 200);
    t_free(&r);
}

/* ---- validation: CouchDB's reasons (A.3) */

static void test_validation_reasons(void **state)
{
    (void)state;
    static const struct {
        const char *id, *body, *reason;
    } cases[] = {
        {"org.couchdb.user:v1", "{\"name\":\"v1\",\"roles\":[],\"type\":\"admin\"}",
         "doc.type must be user"},
        {"org.couchdb.user:v1", "{\"name\":\"v1\",\"roles\":[]}", "doc.type must be user"},
        {"org.couchdb.user:v1", "{\"roles\":[],\"type\":\"user\"}", "doc.name is required"},
        {"org.couchdb.user:v1", "{\"name\":\"\",\"roles\":[],\"type\":\"user\"}",
         "doc.name is required"},
        {"org.couchdb.user:v1", "{\"name\":\"v1\",\"type\":\"user\"}", "doc.roles must exist"},
        {"org.couchdb.user:v1", "{\"name\":\"v1\",\"roles\":\"x\",\"type\":\"user\"}",
         "doc.roles must be an array"},
        {"org.couchdb.user:v1", "{\"name\":\"v1\",\"roles\":[\"a\",1],\"type\":\"user\"}",
         "doc.roles can only contain strings"},
        {"org.couchdb.user:v2", "{\"name\":\"v1\",\"roles\":[],\"type\":\"user\"}",
         "Doc ID must be of the form org.couchdb.user:name"},
        {"v1", "{\"name\":\"v1\",\"roles\":[],\"type\":\"user\"}",
         "Doc ID must be of the form org.couchdb.user:name"},
        {"org.couchdb.user:v1", "{\"name\":\"v1\",\"roles\":[\"_admin\"],\"type\":\"user\"}",
         "No system roles (starting with underscore) in users db."},
        {"org.couchdb.user:v1", "{\"name\":\"v1\",\"roles\":[\"x\",\"_reader\"],\"type\":\"user\"}",
         "No system roles (starting with underscore) in users db."},
        {"org.couchdb.user:_v1", "{\"name\":\"_v1\",\"roles\":[],\"type\":\"user\"}",
         "Username may not start with underscore."},
        {"org.couchdb.user:v:1", "{\"name\":\"v:1\",\"roles\":[],\"type\":\"user\"}",
         "Character `:` is not allowed in usernames."},
        {"org.couchdb.user:v1",
         "{\"name\":\"v1\",\"roles\":[],\"type\":\"user\",\"password_scheme\":\"bcrypt\"}",
         "Password scheme `bcrypt` not supported."},
        {"org.couchdb.user:v1",
         "{\"name\":\"v1\",\"roles\":[],\"type\":\"user\",\"password_scheme\":\"md5\",\"salt\":"
         "\"00\",\"password_sha\":\"00\"}",
         "Password scheme `md5` not supported."},
        {"org.couchdb.user:v1",
         "{\"name\":\"v1\",\"roles\":[],\"type\":\"user\",\"password_scheme\":\"pbkdf2\","
         "\"iterations\":\"10\",\"derived_key\":\"00\",\"salt\":\"00\"}",
         "iterations must be a number."},
        {"org.couchdb.user:v1",
         "{\"name\":\"v1\",\"roles\":[],\"type\":\"user\",\"password_scheme\":\"pbkdf2\","
         "\"iterations\":10,\"derived_key\":5,\"salt\":\"00\"}",
         "derived_key must be a string."},
        {"org.couchdb.user:v1",
         "{\"name\":\"v1\",\"roles\":[],\"type\":\"user\",\"password_sha\":\"00\"}",
         "Users with password_sha must have a salt.See /_utils/script/couch.js for example "
         "code."},
        {"org.couchdb.user:v1", "{\"name\":\"v1\",\"roles\":[],\"type\":\"user\",\"password\":42}",
         "Password value of '42' is invalid."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256], what[600];
        snprintf(path, sizeof path, "/_users/%s", cases[i].id);
        snprintf(what, sizeof what, "PUT %s %s", path, cases[i].body);
        expect_forbidden(s_admin("PUT", path, cases[i].body), cases[i].reason, what);
    }
    /* Nothing of them was stored; _metrics is the one system role allowed. */
    tresp r = s_admin("GET", "/_users/org.couchdb.user:v1", NULL);
    T_EXPECT(r, 404);
    t_free(&r);
    s_admin_ok("PUT", "/_users/org.couchdb.user:metrics",
               "{\"name\":\"metrics\",\"roles\":[\"_metrics\"],\"type\":\"user\"}", 201);
}

/* ---- hashing with CouchDB's defaults */

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void pbkdf2_hex(const EVP_MD *md, const char *pw, const char *salt, int iter, int len,
                       char *out)
{
    unsigned char key[64];
    assert_int_equal(PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), (const unsigned char *)salt,
                                       (int)strlen(salt), iter, md, len, key),
                     1);
    hex(key, (size_t)len, out);
}

static bool all_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

static void test_hashing_defaults(void **state)
{
    (void)state;
    /* CouchDB 3.5's [chttpd_auth] iterations (600000), not the suite's 10. */
    restart("chttpd_auth", "iterations", "600000", NULL, NULL, NULL);
    s_user_put("hank", "h4nk-pw", "[\"staff\"]");
    tresp r = s_admin("GET", "/_users/org.couchdb.user:hank", NULL);
    T_EXPECT(r, 200);
    char rev[128], salt[64], key[160], want[160];
    assert_true(t_json_str(r.body, "_rev", rev, sizeof rev));
    assert_true(t_json_str(r.body, "salt", salt, sizeof salt));
    assert_true(t_json_str(r.body, "derived_key", key, sizeof key));
    char head[512];
    snprintf(head, sizeof head,
             "{\"_id\":\"org.couchdb.user:hank\",\"_rev\":\"%s\",\"password_scheme\":\"pbkdf2\","
             "\"pbkdf2_prf\":\"sha256\",\"salt\":\"%s\",\"iterations\":600000,\"derived_key\":\"",
             rev, salt);
    assert_memory_equal(r.body, head, strlen(head)); /* hash fields first */
    assert_true(t_has(&r, "\"name\":\"hank\",\"roles\":[\"staff\"],\"type\":\"user\"}"));
    assert_false(t_has(&r, "\"password\""));
    assert_false(t_has(&r, "h4nk-pw"));
    assert_true(all_hex(salt, 32));
    assert_true(all_hex(key, 64));
    pbkdf2_hex(EVP_sha256(), "h4nk-pw", salt, 600000, 32, want);
    assert_string_equal(key, want);
    t_free(&r);
    r = s_req_as("hank", "h4nk-pw", "GET", "/_session", NULL);
    assert_true(t_has(&r, "\"name\":\"hank\""));
    t_free(&r);
    /* A write without "password" keeps the hash; a new password, a new salt. */
    char body[1024], path[] = "/_users/org.couchdb.user:hank";
    snprintf(body, sizeof body,
             "{\"_rev\":\"%s\",\"name\":\"hank\",\"roles\":[\"staff\"],\"type\":\"user\","
             "\"password_scheme\":\"pbkdf2\",\"pbkdf2_prf\":\"sha256\",\"salt\":\"%s\","
             "\"iterations\":600000,\"derived_key\":\"%s\",\"nick\":\"h\"}",
             rev, salt, key);
    s_admin_ok("PUT", path, body, 201);
    r = s_admin("GET", path, NULL);
    assert_true(t_has(&r, key));
    assert_true(t_has(&r, "\"nick\":\"h\""));
    t_free(&r);
    r = s_req_as("hank", "h4nk-pw", "GET", "/_session", NULL);
    assert_true(t_has(&r, "\"name\":\"hank\""));
    t_free(&r);
    s_user_put("hank", "h4nk-pw", "[\"staff\"]");
    char salt2[64];
    r = s_admin("GET", path, NULL);
    assert_true(t_json_str(r.body, "salt", salt2, sizeof salt2));
    assert_string_not_equal(salt, salt2);
    t_free(&r);
    restart(NULL, NULL, NULL, NULL, NULL, NULL);
}

/* A user document written with a hash made elsewhere. */
static void put_hashed(const char *name, const char *fields)
{
    char path[256], body[1024];
    snprintf(path, sizeof path, "/_users/org.couchdb.user:%s", name);
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"roles\":[],\"type\":\"user\",%s}", name,
             fields);
    s_admin_ok("PUT", path, body, 201);
}

static void login_works(const char *name, const char *pw, bool ok)
{
    tresp r = s_req_as(name, pw, "GET", "/_session", NULL);
    if ((r.status == 200) != ok)
        fprintf(stderr, "login %s: %ld %s\n", name, r.status, r.body);
    assert_int_equal(r.status, ok ? 200 : 401);
    if (ok)
        assert_true(t_has(&r, "\"authenticated\":\"default\""));
    t_free(&r);
}

static void test_prehashed_docs(void **state)
{
    (void)state;
    const char *salt = "5d0d1c9a9e1b6f7d3c2a1b0e9f8d7c6b";
    char key[160], f[600];
    /* No pbkdf2_prf: SHA-1 (a 40-hex key). */
    pbkdf2_hex(EVP_sha1(), "sha1-pw", salt, 10, 20, key);
    snprintf(f, sizeof f,
             "\"password_scheme\":\"pbkdf2\",\"salt\":\"%s\",\"iterations\":10,"
             "\"derived_key\":\"%s\"",
             salt, key);
    put_hashed("pre1", f);
    login_works("pre1", "sha1-pw", true);
    login_works("pre1", "sha1-pw!", false);
    /* No iterations would mean 10000 (test_auth_password.c), but the _auth
     * validate_doc_update refuses such a document, in CouchDB as here. */
    pbkdf2_hex(EVP_sha1(), "it-pw", salt, 10000, 20, key);
    snprintf(f, sizeof f,
             "{\"name\":\"pre2\",\"roles\":[],\"type\":\"user\",\"password_scheme\":\"pbkdf2\","
             "\"salt\":\"%s\",\"derived_key\":\"%s\"}",
             salt, key);
    expect_forbidden(s_admin("PUT", "/_users/org.couchdb.user:pre2", f),
                     "iterations must be a number.", "pbkdf2 without iterations");
    /* 10000 iterations given: accepted. */
    snprintf(f, sizeof f,
             "\"password_scheme\":\"pbkdf2\",\"salt\":\"%s\",\"iterations\":10000,"
             "\"derived_key\":\"%s\"",
             salt, key);
    put_hashed("pre2", f);
    login_works("pre2", "it-pw", true);
    login_works("pre2", "it-p", false);
    /* An explicit PRF. */
    pbkdf2_hex(EVP_sha256(), "s256-pw", salt, 7, 32, key);
    snprintf(f, sizeof f,
             "\"password_scheme\":\"pbkdf2\",\"pbkdf2_prf\":\"sha256\",\"salt\":\"%s\","
             "\"iterations\":7,\"derived_key\":\"%s\"",
             salt, key);
    put_hashed("pre3", f);
    login_works("pre3", "s256-pw", true);
    login_works("pre3", "s256-PW", false);
    /* The legacy simple scheme: sha1(password ++ salt); with and without the
     * password_scheme member. */
    unsigned char d[SHA_DIGEST_LENGTH];
    char both[128];
    snprintf(both, sizeof both, "%s%s", "simple-pw", salt);
    SHA1((const unsigned char *)both, strlen(both), d);
    hex(d, sizeof d, key);
    snprintf(f, sizeof f, "\"password_scheme\":\"simple\",\"salt\":\"%s\",\"password_sha\":\"%s\"",
             salt, key);
    put_hashed("pre4", f);
    login_works("pre4", "simple-pw", true);
    login_works("pre4", "simple-p", false);
    snprintf(f, sizeof f, "\"salt\":\"%s\",\"password_sha\":\"%s\"", salt, key);
    put_hashed("pre5", f);
    login_works("pre5", "simple-pw", true);
    /* No hash at all: nobody can log in as that user. */
    put_hashed("pre6", "\"x\":1");
    login_works("pre6", "", false);
}

/* ---- _users opened for sign-up */

static void signup(const char *name, const char *pw, long want)
{
    char path[256], body[512];
    snprintf(path, sizeof path, "/_users/org.couchdb.user:%s", name);
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"password\":\"%s\",\"roles\":[],\"type\":\"user\"}",
             name, pw);
    tresp r = s_req_as(NULL, NULL, "PUT", path, body);
    if (r.status != want)
        fprintf(stderr, "sign-up %s: %ld %s\n", name, r.status, r.body);
    assert_int_equal(r.status, want);
    t_free(&r);
}

static void test_signup_open_users(void **state)
{
    (void)state;
    restart("couchdb", "users_db_security_editable", "true", NULL, NULL, NULL);
    s_admin_ok("PUT", "/_users/_security", OPEN_USERS, 200);
    s_user_put("alice", "apass", "[]");
    signup("bob", "bpass", 201);
    signup("bob", "other", 409);
    expect_forbidden(s_req_as(NULL, NULL, "PUT", "/_users/org.couchdb.user:carl",
                              "{\"name\":\"carl\",\"password\":\"c\",\"roles\":[\"boss\"],"
                              "\"type\":\"user\"}"),
                     "Only _admin may set roles", "sign-up with roles");
    login_works("bob", "bpass", true);
    login_works("bob", "other", false);

    /* One's own document, whole; everyone else's is missing. */
    tresp r = s_req_as("bob", "bpass", "GET", "/_users/org.couchdb.user:bob", NULL);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"derived_key\":\""));
    assert_true(t_has(&r, "\"salt\":\""));
    assert_true(t_has(&r, "\"iterations\":"));
    char rev[128];
    assert_true(t_json_str(r.body, "_rev", rev, sizeof rev));
    t_free(&r);
    expect_exact(s_req_as("bob", "bpass", "GET", "/_users/org.couchdb.user:alice", NULL), 404,
                 MISSING, "another user's doc");
    expect_exact(s_req_as(NULL, NULL, "GET", "/_users/org.couchdb.user:alice", NULL), 404,
                 MISSING, "a user's doc, anonymous");
    expect_exact(s_req_as(NULL, NULL, "GET", "/_users/org.couchdb.user:bob", NULL), 404, MISSING,
                 "a user's doc, anonymous");
    expect_exact(s_req_as("bob", "bpass", "GET", "/_users/org.couchdb.user:nobody", NULL), 404,
                 MISSING, "nobody's doc");
    /* Writing another's document is the same 404, whether it exists or not
     * and whatever the rev: no conflict tells that the name is taken. */
    static const char *alice = "{\"name\":\"alice\",\"password\":\"x\",\"roles\":[],\"type\":\"user\"}";
    expect_exact(s_req_as("bob", "bpass", "PUT", "/_users/org.couchdb.user:alice", alice), 404,
                 MISSING, "PUT another user's doc");
    expect_exact(s_req_as("bob", "bpass", "PUT", "/_users/org.couchdb.user:alice?rev=1-abc",
                          alice),
                 404, MISSING, "PUT another user's doc with a rev");
    expect_exact(s_req_as("bob", "bpass", "PUT", "/_users/org.couchdb.user:zed",
                          "{\"name\":\"zed\",\"password\":\"x\",\"roles\":[],\"type\":\"user\"}"),
                 404, MISSING, "a user creating another user");
    expect_exact(s_req_as("bob", "bpass", "DELETE", "/_users/org.couchdb.user:alice?rev=1-abc",
                          NULL),
                 404, MISSING, "DELETE another user's doc");
    expect_exact(s_req_as("bob", "bpass", "POST", "/_users",
                          "{\"_id\":\"org.couchdb.user:alice\",\"name\":\"alice\",\"roles\":[],"
                          "\"type\":\"user\"}"),
                 404, MISSING, "POST another user's doc");
    expect_exact(s_req_as("bob", "bpass", "POST", "/_users/_bulk_docs",
                          "{\"docs\":[{\"_id\":\"org.couchdb.user:alice\",\"name\":\"alice\","
                          "\"roles\":[],\"type\":\"user\"}]}"),
                 404, MISSING, "_bulk_docs with another user's doc");
    expect_exact(s_req_as("bob", "bpass", "PUT", "/_users/org.couchdb.user:alice/a.txt",
                          "{}"),
                 404, MISSING, "an attachment on another user's doc");
    login_works("alice", "apass", true);

    /* Roles stay the admin's; the rest of one's document is one's own. */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"_rev\":\"%s\",\"name\":\"bob\",\"password\":\"bpass\",\"roles\":[\"boss\"],"
             "\"type\":\"user\"}",
             rev);
    expect_forbidden(s_req_as("bob", "bpass", "PUT", "/_users/org.couchdb.user:bob", body),
                     "Only _admin may edit roles", "a user editing roles");
    snprintf(body, sizeof body,
             "{\"_rev\":\"%s\",\"name\":\"bob\",\"password\":\"bpass2\",\"roles\":[],"
             "\"type\":\"user\",\"email\":\"b@example.org\"}",
             rev);
    r = s_req_as("bob", "bpass", "PUT", "/_users/org.couchdb.user:bob", body);
    T_EXPECT(r, 201);
    t_free(&r);
    login_works("bob", "bpass2", true);
    login_works("bob", "bpass", false);
    r = s_admin("GET", "/_users/org.couchdb.user:bob", NULL);
    assert_true(t_has(&r, "\"email\":\"b@example.org\""));
    assert_false(t_has(&r, "bpass2"));
    t_free(&r);

    /* Design docs and listings stay closed. */
    static const char *const dd =
        "{\"error\":\"forbidden\",\"reason\":\"Only administrators can view design docs in the "
        "users database.\"}";
    expect_exact(s_req_as("bob", "bpass2", "GET", "/_users/_design/_auth", NULL), 403, dd,
                 "_design/_auth as a user");
    expect_exact(s_req_as(NULL, NULL, "GET", "/_users/_design/_auth", NULL), 403, dd,
                 "_design/_auth anonymous");
    expect_exact(s_req_as("bob", "bpass2", "PUT", "/_users/_design/x", "{}"), 403,
                 "{\"error\":\"forbidden\",\"reason\":\"You are not a db or server admin.\"}",
                 "a user writing a design doc");
    expect_exact(s_req_as("bob", "bpass2", "GET", "/_users/_all_docs", NULL), 401, NO_SADMIN,
                 "_all_docs as a user");
    expect_exact(s_req_as(NULL, NULL, "GET", "/_users/_all_docs", NULL), 401, NO_SADMIN,
                 "_all_docs anonymous");
    expect_exact(s_req_as("bob", "bpass2", "POST", "/_users/_all_docs", "{\"keys\":[]}"), 401,
                 NO_SADMIN, "POST _all_docs as a user");
    expect_exact(s_req_as("bob", "bpass2", "GET", "/_users/_changes", NULL), 401, NO_SADMIN,
                 "_changes as a user");
    expect_exact(s_req_as("bob", "bpass2", "GET", "/_users/_changes?feed=continuous", NULL), 401,
                 NO_SADMIN, "continuous _changes as a user");

    /* One may delete oneself, not anyone else. */
    signup("eve", "epass", 201);
    char erev[128], del[256];
    r = s_req_as("eve", "epass", "GET", "/_users/org.couchdb.user:eve", NULL);
    assert_true(t_json_str(r.body, "_rev", erev, sizeof erev));
    t_free(&r);
    snprintf(del, sizeof del, "/_users/org.couchdb.user:eve?rev=%s", erev);
    expect_exact(s_req_as("bob", "bpass2", "DELETE", del, NULL), 404, MISSING,
                 "deleting another user");
    r = s_req_as("eve", "epass", "DELETE", del, NULL);
    T_EXPECT(r, 200);
    t_free(&r);
    login_works("eve", "epass", false);
    restart(NULL, NULL, NULL, NULL, NULL, NULL);
}

/* ---- couch_peruser (A.9) */

#define PERUSER_SEC(n)                                                                         \
    "{\"members\":{\"roles\":[\"_admin\"],\"names\":[" n "]},\"admins\":{\"roles\":[\"_admin\"],"  \
    "\"names\":[" n "]}}"

static void wait_security(const char *db, const char *want)
{
    char path[256];
    snprintf(path, sizeof path, "/%s/_security", db);
    double end = t_now_ms() + 10000;
    tresp r;
    for (;;) {
        r = s_admin("GET", path, NULL);
        trim(r.body);
        if ((r.status == 200 && strcmp(r.body, want) == 0) || t_now_ms() > end)
            break;
        t_free(&r);
        s_sleep_ms(20);
    }
    if (r.status != 200 || strcmp(r.body, want) != 0)
        fprintf(stderr, "%s: %ld %s, want %s\n", path, r.status, r.body, want);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, want);
    t_free(&r);
}

static void test_peruser(void **state)
{
    (void)state;
    restart("couch_peruser", "enable", "true", NULL, NULL, NULL);
    s_user_put("alice", "apass", "[]");
    s_user_put("bob", "bpass", "[]");
    /* alice = 61 6c 69 63 65 */
    assert_true(s_wait_status("/userdb-616c696365", 200, 10000));
    wait_security("userdb-616c696365", PERUSER_SEC("\"alice\""));
    tresp r = s_req_as("alice", "apass", "PUT", "/userdb-616c696365/note", "{\"mine\":true}");
    T_EXPECT(r, 201);
    t_free(&r);
    r = s_req_as("alice", "apass", "PUT", "/userdb-616c696365/_design/app", "{}");
    T_EXPECT(r, 201); /* the owner is the database's admin */
    t_free(&r);
    expect_exact(s_req_as("bob", "bpass", "GET", "/userdb-616c696365/note", NULL), 403,
                 NOT_ALLOWED, "another user's userdb");
    expect_exact(s_req_as(NULL, NULL, "GET", "/userdb-616c696365", NULL), 401, NO_AUTH,
                 "a userdb, anonymous");
    /* UTF-8 names: each byte in hex. */
    s_user_put("Z\xc3\xa9", "zpass", "[]");
    assert_true(s_wait_status("/userdb-5ac3a9", 200, 10000));
    /* A user deleted: the name is taken out, the data stays (delete_dbs false). */
    s_user_delete("bob");
    assert_true(s_wait_status("/userdb-626f62", 200, 10000));
    wait_security("userdb-626f62", PERUSER_SEC(""));
    /* Documents in _users that are not users make no database. */
    s_admin_ok("PUT", "/_users/_design/extra", "{}", 201);
    r = s_admin("GET", "/_all_dbs", NULL);
    assert_false(t_has(&r, "userdb-5f"));
    t_free(&r);
}

static void test_peruser_delete_dbs(void **state)
{
    (void)state;
    restart("couch_peruser", "enable", "true", "couch_peruser", "delete_dbs", "true");
    s_user_put("dora", "dpass", "[]");
    assert_true(s_wait_status("/userdb-646f7261", 200, 10000));
    s_user_delete("dora");
    assert_true(s_wait_status("/userdb-646f7261", 404, 10000));
    /* Signing up again gives a new, empty database. */
    s_user_put("dora", "dpass", "[]");
    assert_true(s_wait_status("/userdb-646f7261", 200, 10000));
    tresp r = s_admin("GET", "/userdb-646f7261", NULL);
    assert_true(t_has(&r, "\"doc_count\":0"));
    t_free(&r);
}

static void test_peruser_existing_users(void **state)
{
    (void)state;
    restart(NULL, NULL, NULL, NULL, NULL, NULL);
    s_user_put("carl", "cpass", "[]");
    s_sleep_ms(200);
    tresp r = s_admin("GET", "/userdb-6361726c", NULL);
    T_EXPECT(r, 404); /* couch_peruser is off */
    t_free(&r);
    t_stop_keep();
    t_reuse_dir = true;
    assert_int_equal(t_start_with("couchdb", "default_security", "admin_only", "couch_peruser",
                                  "enable", "true", NULL),
                     0);
    assert_true(s_wait_status("/userdb-6361726c", 200, 10000));
    wait_security("userdb-6361726c", PERUSER_SEC("\"carl\""));
    r = s_req_as("carl", "cpass", "GET", "/userdb-6361726c", NULL);
    T_EXPECT(r, 200);
    t_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_only_default),
        cmocka_unit_test(test_validation_reasons),
        cmocka_unit_test(test_hashing_defaults),
        cmocka_unit_test(test_prehashed_docs),
        cmocka_unit_test(test_signup_open_users),
        cmocka_unit_test(test_peruser),
        cmocka_unit_test(test_peruser_delete_dbs),
        cmocka_unit_test(test_peruser_existing_users),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
