/* test_http_security.c — who may do what, over HTTP, with CouchDB's own
 * defaults ([couchdb] default_security = admin_only).
 *
 * The authorization matrix (PROTOCOL-2 A.1, A.7, A.8): every endpoint, the
 * Mango and design-document ones included, × seven principals (anonymous, an authenticated
 * non-member, a member by name, a member by role, a database admin by name,
 * one by role, the server admin) × five databases (the default admin-only
 * object, members by name and role, a role-based member only, the public
 * {}, and admins without members, which CouchDB still treats as public).
 * Each cell's status and body are checked (refusals word for word, HEAD
 * refusals empty, no WWW-Authenticate on a 401); a failing cell is reported
 * by name and the test fails once at the end with the count.
 *
 * Then require_valid_user (A.6), and live feeds: a non-member sees nothing
 * of a continuous feed, and continuous and longpoll feeds end when their
 * reader is taken out of the members, loses the role that made them a
 * member, or is deleted, selector feeds (filter=_selector) included.  Every
 * wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "secutil.h"

/* ---- principals and databases */

enum { P_ANON, P_USER, P_MB, P_RM, P_DA, P_RA, P_SADMIN, P_N };
static const char *const who_name[P_N] = {
    "anonymous",       "authenticated non-member", "member by name", "member by role",
    "db admin by name", "db admin by role",         "server admin"};
static const char *const who_login[P_N] = {NULL, "outsider", "mb", "rmuser", "da", "rauser",
                                           T_ADMIN};
static const char *const who_pass[P_N] = {NULL, "pw-outsider", "pw-mb", "pw-rm", "pw-da",
                                          "pw-ra", T_PASS};
static const char *const who_roles[P_N] = {NULL, "[]", "[]", "[\"rm\"]", "[]", "[\"ra\"]",
                                           NULL};

/* What a principal is to one database. */
typedef enum {
    C_ANON,     /* anonymous, not a member */
    C_USER,     /* authenticated, not a member */
    C_ANON_PUB, /* anonymous on a public database: a member */
    C_MEMBER,   /* authenticated member, not a database admin */
    C_DBADMIN,  /* database admin, not a server admin */
    C_SADMIN,
    C_N
} cls;

#define SEC_MEMBERS                                                                            \
    "{\"admins\":{\"names\":[\"da\"],\"roles\":[\"ra\"]},\"members\":{\"names\":[\"mb\"],"    \
    "\"roles\":[\"rm\"]}}"
#define SEC_ROLE "{\"admins\":{\"names\":[\"da\"],\"roles\":[\"ra\"]},\"members\":{\"roles\":[\"rm\"]}}"
#define SEC_ADMINS "{\"admins\":{\"names\":[\"da\"],\"roles\":[\"ra\"]}}"

typedef struct dbspec {
    const char *name;
    const char *sec; /* NULL: what a new database gets (admin-only) */
    cls c[P_N];
} dbspec;

static const dbspec dbs[] = {
    {"sec-default", NULL,
     {C_ANON, C_USER, C_USER, C_USER, C_USER, C_USER, C_SADMIN}},
    {"sec-members", SEC_MEMBERS,
     {C_ANON, C_USER, C_MEMBER, C_MEMBER, C_DBADMIN, C_DBADMIN, C_SADMIN}},
    {"sec-role", SEC_ROLE,
     {C_ANON, C_USER, C_USER, C_MEMBER, C_DBADMIN, C_DBADMIN, C_SADMIN}},
    {"sec-public", "{}",
     {C_ANON_PUB, C_MEMBER, C_MEMBER, C_MEMBER, C_MEMBER, C_MEMBER, C_SADMIN}},
    /* Admins alone do not restrict (A.7). */
    {"sec-admins", SEC_ADMINS,
     {C_ANON_PUB, C_MEMBER, C_MEMBER, C_MEMBER, C_DBADMIN, C_DBADMIN, C_SADMIN}},
};
#define N_DBS (sizeof dbs / sizeof dbs[0])

/* ---- expectations */

typedef struct expect {
    long status;
    const char *body; /* refusal: the exact body; success: a substring (NULL: none) */
} expect;

#define NO_AUTH_DB_BODY                                                                        \
    "{\"error\":\"unauthorized\",\"reason\":\"You are not authorized to access this db.\"}"
#define NOT_ALLOWED_DB_BODY                                                                    \
    "{\"error\":\"forbidden\",\"reason\":\"You are not allowed to access this db.\"}"
#define REFUSAL(code, err, reason) {code, "{\"error\":\"" err "\",\"reason\":\"" reason "\"}"}
#define NO_AUTH_DB REFUSAL(401, "unauthorized", "You are not authorized to access this db.")
#define NOT_ALLOWED_DB REFUSAL(403, "forbidden", "You are not allowed to access this db.")
#define NO_AUTH_DDOC REFUSAL(401, "unauthorized", "You are not a db or server admin.")
#define NOT_DDOC REFUSAL(403, "forbidden", "You are not a db or server admin.")
#define NO_SADMIN REFUSAL(401, "unauthorized", "You are not a server admin.")
#define NO_COMPACT REFUSAL(401, "unauthorized", "You are not a server or db admin.")

/* Columns in cls order: anon, user, anon on public, member, db admin, server admin. */
#define MEMBERS_OK(s, sub) {NO_AUTH_DB, NOT_ALLOWED_DB, {s, sub}, {s, sub}, {s, sub}, {s, sub}}
#define DB_ADMINS_OK(s, sub) {NO_AUTH_DB, NOT_ALLOWED_DB, NO_AUTH_DDOC, NOT_DDOC, {s, sub}, {s, sub}}
#define COMPACT_OK(s, sub) {NO_AUTH_DB, NOT_ALLOWED_DB, NO_COMPACT, NO_COMPACT, {s, sub}, {s, sub}}
#define SADMIN_OK(s, sub) {NO_SADMIN, NO_SADMIN, NO_SADMIN, NO_SADMIN, NO_SADMIN, {s, sub}}
#define ANYONE_OK(s, sub) {{s, sub}, {s, sub}, {s, sub}, {s, sub}, {s, sub}, {s, sub}}

/* What the server admin prepares before a cell runs ({n} is fresh per cell). */
typedef enum {
    PREP_NONE,
    PREP_DOC,   /* {db}/m{n} exists; {rev} is its rev */
    PREP_ATT,   /* {db}/m{n} with attachment a.txt; {rev} */
    PREP_LOCAL, /* {db}/_local/m{n}; {rev} */
    PREP_DDOC,  /* {db}/_design/m{n}; {rev} */
    PREP_DB,    /* database tmp-{n} exists */
    PREP_SEC,   /* the body is the database's own _security object */
    PREP_INDEX  /* {db} has the json index i{n} in _design/ix{n} */
} prep;

typedef struct row {
    const char *name;
    const char *method;
    const char *path; /* {db}, {n}, {rev} substituted */
    const char *body;
    const char *ctype; /* NULL: JSON when there is a body */
    prep prep;
    expect e[C_N];
} row;

#define J NULL
/* Every database's _design/fixed: a view, a filter and an update handler
 * that answers without writing. */
#define FIXED_DDOC                                                                             \
    "{\"views\":{\"v\":{\"map\":\"function(doc){emit(doc._id,1)}\",\"reduce\":\"_count\"}},"  \
    "\"filters\":{\"f\":\"function(doc,req){return true}\"},"                                 \
    "\"updates\":{\"u\":\"function(doc,req){return [null,'updated']}\"}}"

/* Requests on a database: run for every database × principal. */
static const row db_rows[] = {
    {"GET /db", "GET", "/{db}", NULL, J, PREP_NONE, MEMBERS_OK(200, "\"db_name\":\"")},
    {"HEAD /db", "HEAD", "/{db}", NULL, J, PREP_NONE, MEMBERS_OK(200, NULL)},
    {"POST /db", "POST", "/{db}", "{\"by\":\"post\"}", J, PREP_NONE,
     MEMBERS_OK(201, "\"ok\":true")},
    {"doc GET", "GET", "/{db}/fixed", NULL, J, PREP_NONE, MEMBERS_OK(200, "\"_id\":\"fixed\"")},
    {"doc HEAD", "HEAD", "/{db}/fixed", NULL, J, PREP_NONE, MEMBERS_OK(200, NULL)},
    {"doc PUT", "PUT", "/{db}/m{n}", "{\"a\":1}", J, PREP_NONE, MEMBERS_OK(201, "\"ok\":true")},
    {"doc PUT (update)", "PUT", "/{db}/m{n}?rev={rev}", "{\"a\":2}", J, PREP_DOC,
     MEMBERS_OK(201, "\"rev\":\"2-")},
    {"doc DELETE", "DELETE", "/{db}/m{n}?rev={rev}", NULL, J, PREP_DOC,
     MEMBERS_OK(200, "\"ok\":true")},
    {"attachment GET", "GET", "/{db}/fixed/a.txt", NULL, J, PREP_NONE, MEMBERS_OK(200, "hello")},
    {"attachment HEAD", "HEAD", "/{db}/fixed/a.txt", NULL, J, PREP_NONE, MEMBERS_OK(200, NULL)},
    {"attachment PUT", "PUT", "/{db}/m{n}/b.txt?rev={rev}", "bytes", "text/plain", PREP_DOC,
     MEMBERS_OK(201, "\"ok\":true")},
    {"attachment DELETE", "DELETE", "/{db}/m{n}/a.txt?rev={rev}", NULL, J, PREP_ATT,
     MEMBERS_OK(200, "\"ok\":true")},
    {"_all_docs GET", "GET", "/{db}/_all_docs", NULL, J, PREP_NONE,
     MEMBERS_OK(200, "\"id\":\"fixed\"")},
    {"_all_docs POST", "POST", "/{db}/_all_docs", "{\"keys\":[\"fixed\"]}", J, PREP_NONE,
     MEMBERS_OK(200, "\"id\":\"fixed\"")},
    {"_changes normal", "GET", "/{db}/_changes", NULL, J, PREP_NONE,
     MEMBERS_OK(200, "\"id\":\"fixed\"")},
    {"_changes POST", "POST", "/{db}/_changes", "{}", J, PREP_NONE,
     MEMBERS_OK(200, "\"id\":\"fixed\"")},
    {"_changes longpoll", "GET", "/{db}/_changes?feed=longpoll&timeout=5000", NULL, J, PREP_NONE,
     MEMBERS_OK(200, "\"id\":\"fixed\"")},
    {"_changes continuous", "GET", "/{db}/_changes?feed=continuous&timeout=100", NULL, J,
     PREP_NONE, MEMBERS_OK(200, "\"id\":\"fixed\"")},
    {"_changes eventsource", "GET", "/{db}/_changes?feed=eventsource&timeout=100", NULL, J,
     PREP_NONE, MEMBERS_OK(200, "\"id\":\"fixed\"")},
    {"_bulk_get", "POST", "/{db}/_bulk_get", "{\"docs\":[{\"id\":\"fixed\"}]}", J, PREP_NONE,
     MEMBERS_OK(200, "\"_id\":\"fixed\"")},
    {"_bulk_docs", "POST", "/{db}/_bulk_docs", "{\"docs\":[{\"_id\":\"m{n}\"}]}", J, PREP_NONE,
     MEMBERS_OK(201, "\"ok\":true")},
    {"_revs_diff", "POST", "/{db}/_revs_diff", "{\"fixed\":[\"9-abc\"]}", J, PREP_NONE,
     MEMBERS_OK(200, "\"missing\":[\"9-abc\"]")},
    {"_local GET", "GET", "/{db}/_local/fixed", NULL, J, PREP_NONE,
     MEMBERS_OK(200, "\"_id\":\"_local/fixed\"")},
    {"_local PUT", "PUT", "/{db}/_local/m{n}", "{\"l\":1}", J, PREP_NONE,
     MEMBERS_OK(201, "\"ok\":true")},
    {"_local DELETE", "DELETE", "/{db}/_local/m{n}?rev={rev}", NULL, J, PREP_LOCAL,
     MEMBERS_OK(200, "\"ok\":true")},
    {"_design GET", "GET", "/{db}/_design/fixed", NULL, J, PREP_NONE,
     MEMBERS_OK(200, "\"_id\":\"_design/fixed\"")},
    {"_design PUT", "PUT", "/{db}/_design/m{n}", "{\"d\":1}", J, PREP_NONE,
     DB_ADMINS_OK(201, "\"ok\":true")},
    {"_design DELETE", "DELETE", "/{db}/_design/m{n}?rev={rev}", NULL, J, PREP_DDOC,
     DB_ADMINS_OK(200, "\"ok\":true")},
    {"_security GET", "GET", "/{db}/_security", NULL, J, PREP_NONE, MEMBERS_OK(200, "{")},
    {"_security PUT", "PUT", "/{db}/_security", "", J, PREP_SEC,
     DB_ADMINS_OK(200, "{\"ok\":true}")},
    {"_revs_limit GET", "GET", "/{db}/_revs_limit", NULL, J, PREP_NONE, MEMBERS_OK(200, "1000")},
    {"_revs_limit PUT", "PUT", "/{db}/_revs_limit", "1000", J, PREP_NONE,
     DB_ADMINS_OK(200, "{\"ok\":true}")},
    {"_compact", "POST", "/{db}/_compact", "{}", J, PREP_NONE, COMPACT_OK(202, "{\"ok\":true}")},
    {"_purge", "POST", "/{db}/_purge", "{}", J, PREP_NONE, SADMIN_OK(201, "\"purged\":{}")},
    {"_ensure_full_commit", "POST", "/{db}/_ensure_full_commit", "{}", J, PREP_NONE,
     MEMBERS_OK(201, "\"ok\":true")},
    {"_find", "POST", "/{db}/_find", "{\"selector\":{\"_id\":\"fixed\"}}", J, PREP_NONE,
     MEMBERS_OK(200, "\"_id\":\"fixed\"")},
    {"_explain", "POST", "/{db}/_explain", "{\"selector\":{\"_id\":\"fixed\"}}", J, PREP_NONE,
     MEMBERS_OK(200, "\"index\":")},
    {"_index GET", "GET", "/{db}/_index", NULL, J, PREP_NONE, MEMBERS_OK(200, "\"_all_docs\"")},
    {"_index POST", "POST", "/{db}/_index", "{\"index\":{\"fields\":[\"f{n}\"]},\"name\":\"i{n}\"}", J,
     PREP_NONE, DB_ADMINS_OK(200, "\"result\":\"created\"")},
    {"_index DELETE", "DELETE", "/{db}/_index/_design/ix{n}/json/i{n}", NULL, J, PREP_INDEX,
     DB_ADMINS_OK(200, "{\"ok\":true}")},
    /* design-document functions: readers query, writers run update handlers */
    {"_view GET", "GET", "/{db}/_design/fixed/_view/v?reduce=false", NULL, J, PREP_NONE,
     MEMBERS_OK(200, "\"id\":\"fixed\"")},
    {"_view POST", "POST", "/{db}/_design/fixed/_view/v", "{\"keys\":[\"fixed\"],\"group\":true}",
     J, PREP_NONE, MEMBERS_OK(200, "{\"key\":\"fixed\",\"value\":1}")},
    {"_view queries", "POST", "/{db}/_design/fixed/_view/v/queries",
     "{\"queries\":[{\"reduce\":false,\"key\":\"fixed\"}]}", J, PREP_NONE,
     MEMBERS_OK(200, "\"results\":[")},
    {"_design _info", "GET", "/{db}/_design/fixed/_info", NULL, J, PREP_NONE,
     MEMBERS_OK(200, "\"view_index\":")},
    {"_changes filter", "GET", "/{db}/_changes?filter=fixed/f", NULL, J, PREP_NONE,
     MEMBERS_OK(200, "\"id\":\"fixed\"")},
    {"_update POST", "POST", "/{db}/_design/fixed/_update/u", "{}", J, PREP_NONE,
     MEMBERS_OK(200, "updated")},
    {"_update PUT", "PUT", "/{db}/_design/fixed/_update/u/fixed", "{}", J, PREP_NONE,
     MEMBERS_OK(200, "updated")},
    {"_view_cleanup", "POST", "/{db}/_view_cleanup", "{}", J, PREP_NONE,
     COMPACT_OK(202, "{\"ok\":true}")},
    {"_compact/ddoc", "POST", "/{db}/_compact/fixed", "{}", J, PREP_NONE,
     COMPACT_OK(202, "{\"ok\":true}")},
};

/* Requests on the server: run once per principal (a non-member column). */
static const row server_rows[] = {
    {"GET /", "GET", "/", NULL, J, PREP_NONE, ANYONE_OK(200, "\"couchdb\":\"Welcome\"")},
    {"GET /_up", "GET", "/_up", NULL, J, PREP_NONE, ANYONE_OK(200, "\"status\":\"ok\"")},
    {"GET /_uuids", "GET", "/_uuids", NULL, J, PREP_NONE, ANYONE_OK(200, "\"uuids\":[")},
    {"GET /_session", "GET", "/_session", NULL, J, PREP_NONE, ANYONE_OK(200, "\"userCtx\":")},
    {"GET /_all_dbs", "GET", "/_all_dbs", NULL, J, PREP_NONE, SADMIN_OK(200, "\"sec-public\"")},
    {"PUT /newdb", "PUT", "/new-{n}", NULL, J, PREP_NONE, SADMIN_OK(201, "{\"ok\":true}")},
    {"DELETE /db", "DELETE", "/tmp-{n}", NULL, J, PREP_DB, SADMIN_OK(200, "{\"ok\":true}")},
};

/* ---- set-up */

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* CouchDB 3's default: new databases are admin-only. */
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

static void make_users(void)
{
    for (int p = P_USER; p < P_SADMIN; p++)
        s_user_put(who_login[p], who_pass[p], who_roles[p]);
}

static void make_databases(void)
{
    char path[256];
    for (size_t i = 0; i < N_DBS; i++) {
        snprintf(path, sizeof path, "/%s", dbs[i].name);
        s_admin_ok("PUT", path, NULL, 201);
        if (dbs[i].sec) {
            snprintf(path, sizeof path, "/%s/_security", dbs[i].name);
            s_admin_ok("PUT", path, dbs[i].sec, 200);
        }
        snprintf(path, sizeof path, "/%s/fixed", dbs[i].name);
        s_admin_ok("PUT", path,
                   "{\"_attachments\":{\"a.txt\":{\"content_type\":\"text/plain\","
                   "\"data\":\"aGVsbG8=\"}}}",
                   201);
        snprintf(path, sizeof path, "/%s/_local/fixed", dbs[i].name);
        s_admin_ok("PUT", path, "{}", 201);
        snprintf(path, sizeof path, "/%s/_design/fixed", dbs[i].name);
        s_admin_ok("PUT", path, FIXED_DDOC, 201);
    }
}

/* Replace every "{key}" in tmpl by val. */
static void subst(char *out, size_t cap, const char *tmpl, const char *db, unsigned n,
                  const char *rev)
{
    size_t k = 0;
    char num[16];
    snprintf(num, sizeof num, "%u", n);
    for (const char *p = tmpl; *p && k + 1 < cap;) {
        const char *v = NULL;
        size_t skip = 0;
        if (strncmp(p, "{db}", 4) == 0)
            v = db, skip = 4;
        else if (strncmp(p, "{n}", 3) == 0)
            v = num, skip = 3;
        else if (strncmp(p, "{rev}", 5) == 0)
            v = rev, skip = 5;
        if (v) {
            size_t vl = strlen(v);
            if (k + vl >= cap)
                break;
            memcpy(out + k, v, vl);
            k += vl;
            p += skip;
        } else {
            out[k++] = *p++;
        }
    }
    out[k] = '\0';
}

/* The admin makes what the row needs; fills rev (or the body for PREP_SEC). */
static void prepare(const row *rw, const char *db, unsigned n, char *rev, size_t rcap,
                    char *body, size_t bcap)
{
    char path[512];
    tresp r = {0};
    rev[0] = '\0';
    switch (rw->prep) {
    case PREP_NONE:
        return;
    case PREP_DOC:
        snprintf(path, sizeof path, "/%s/m%u", db, n);
        r = s_admin("PUT", path, "{\"p\":1}");
        break;
    case PREP_ATT:
        snprintf(path, sizeof path, "/%s/m%u", db, n);
        r = s_admin("PUT", path,
                    "{\"_attachments\":{\"a.txt\":{\"content_type\":\"text/plain\","
                    "\"data\":\"aGVsbG8=\"}}}");
        break;
    case PREP_LOCAL:
        snprintf(path, sizeof path, "/%s/_local/m%u", db, n);
        r = s_admin("PUT", path, "{}");
        break;
    case PREP_DDOC:
        snprintf(path, sizeof path, "/%s/_design/m%u", db, n);
        r = s_admin("PUT", path, "{}");
        break;
    case PREP_DB:
        snprintf(path, sizeof path, "/tmp-%u", n);
        r = s_admin("PUT", path, NULL);
        break;
    case PREP_INDEX: {
        char ix[160];
        snprintf(path, sizeof path, "/%s/_index", db);
        snprintf(ix, sizeof ix, "{\"index\":{\"fields\":[\"g%u\"]},\"ddoc\":\"ix%u\",\"name\":\"i%u\"}",
                 n, n, n);
        r = s_admin("POST", path, ix);
        if (r.status != 200 || !t_has(&r, "\"result\":\"created\""))
            fprintf(stderr, "prepare %s on %s: %ld %s\n", rw->name, db, r.status, r.body);
        assert_int_equal(r.status, 200);
        t_free(&r);
        return;
    }
    case PREP_SEC:
        snprintf(path, sizeof path, "/%s/_security", db);
        r = s_admin("GET", path, NULL);
        assert_int_equal(r.status, 200);
        snprintf(body, bcap, "%s", r.body);
        body[strcspn(body, "\n")] = '\0';
        t_free(&r);
        return;
    }
    if (r.status != 201)
        fprintf(stderr, "prepare %s on %s: %ld %s\n", rw->name, db, r.status, r.body);
    assert_int_equal(r.status, 201);
    if (rw->prep != PREP_DB)
        assert_true(t_json_str(r.body, "rev", rev, rcap));
    t_free(&r);
}

static char *trimmed(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Run one cell; 0 when it behaved, 1 (and a message naming it) when not. */
static int cell(const row *rw, const char *db, int who, cls c, unsigned n)
{
    char rev[128], path[1024], body[4096], sec_body[4096], auth[512];
    prepare(rw, db ? db : "", n, rev, sizeof rev, sec_body, sizeof sec_body);
    subst(path, sizeof path, rw->path, db ? db : "", n, rev);
    const char *b = NULL;
    if (rw->prep == PREP_SEC)
        b = sec_body;
    else if (rw->body)
        subst(body, sizeof body, rw->body, db ? db : "", n, rev), b = body;
    if (who_login[who])
        s_basic_header(who_login[who], who_pass[who], auth, sizeof auth);
    tresp r = s_req_h(rw->method, path, b, rw->ctype, who_login[who] ? auth : NULL, NULL);
    trimmed(r.body);
    const expect *e = &rw->e[c];
    bool head = strcmp(rw->method, "HEAD") == 0;
    const char *why = NULL;
    char www[256];
    if (r.status != e->status)
        why = "status";
    else if (head && r.len != 0)
        why = "a HEAD answer must have no body";
    else if (!head && e->status >= 400 && e->body && strcmp(r.body, e->body) != 0)
        why = "refusal body";
    else if (!head && e->status < 400 && e->body && !strstr(r.body, e->body))
        why = "body";
    else if (r.status == 401 && t_header(&r, "WWW-Authenticate", www, sizeof www))
        why = "WWW-Authenticate on a 401 without require_valid_user";
    int fail = 0;
    if (why) {
        fprintf(stderr,
                "CELL FAILED [%s | %s | db %s]: %s — got %ld %s, want %ld %s\n", rw->name,
                who_name[who], db ? db : "-", why, r.status, r.body, e->status,
                e->body ? e->body : "");
        fail = 1;
    }
    t_free(&r);
    return fail;
}

/* ---- the matrix */

static void test_matrix(void **state)
{
    (void)state;
    make_users();
    make_databases();
    unsigned n = 0, cells = 0;
    int fails = 0;
    for (size_t d = 0; d < N_DBS; d++)
        for (size_t i = 0; i < sizeof db_rows / sizeof db_rows[0]; i++)
            for (int p = 0; p < P_N; p++, cells++)
                fails += cell(&db_rows[i], dbs[d].name, p, dbs[d].c[p], n++);
    for (size_t i = 0; i < sizeof server_rows / sizeof server_rows[0]; i++) {
        for (int p = 0; p < P_N; p++, cells++) {
            cls c = p == P_ANON ? C_ANON : p == P_SADMIN ? C_SADMIN : C_USER;
            fails += cell(&server_rows[i], NULL, p, c, n++);
        }
    }
    fprintf(stderr, "authorization matrix: %u cells, %d failed\n", cells, fails);
    assert_int_equal(fails, 0);
}

/* A missing database is a 404 to anyone, before any authorization (A.1). */
static void test_missing_db_first(void **state)
{
    (void)state;
    static const char *const paths[] = {"/nodb", "/nodb/doc", "/nodb/_all_docs",
                                        "/nodb/_changes", "/nodb/_security"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        for (int p = 0; p < P_N; p++) {
            tresp r = s_req_as(who_login[p], who_pass[p], "GET", paths[i], NULL);
            if (r.status != 404 || !t_has(&r, "Database does not exist."))
                fprintf(stderr, "GET %s as %s: %ld %s\n", paths[i], who_name[p], r.status,
                        r.body);
            assert_int_equal(r.status, 404);
            assert_true(t_has(&r, "Database does not exist."));
            t_free(&r);
        }
    }
}

/* A principal's identity as GET /_session reports it. */
static void test_session_identity(void **state)
{
    (void)state;
    tresp r = s_req_as("rmuser", "pw-rm", "GET", "/_session", NULL);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"userCtx\":{\"name\":\"rmuser\",\"roles\":[\"rm\"]}"));
    assert_true(t_has(&r, "\"authenticated\":\"default\""));
    t_free(&r);
    r = s_req_as(NULL, NULL, "GET", "/_session", NULL);
    assert_true(t_has(&r, "\"userCtx\":{\"name\":null,\"roles\":[]}"));
    assert_false(t_has(&r, "\"authenticated\""));
    t_free(&r);
    r = s_admin("GET", "/_session", NULL);
    assert_true(t_has(&r, "\"roles\":[\"_admin\"]"));
    t_free(&r);
}

/* Invalid _security objects and PUTs by members are refused and leave the
 * object as it was (A.7: CouchDB's 500 is not copied). */
static void test_security_put_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {"[]", "{\"admins\":[]}", "{\"members\":{\"names\":[1]}}",
                                      "{\"members\":{\"roles\":\"x\"}}", "\"x\""};
    tresp before = s_admin("GET", "/sec-members/_security", NULL);
    T_EXPECT(before, 200);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tresp r = s_admin("PUT", "/sec-members/_security", bad[i]);
        if (r.status != 400)
            fprintf(stderr, "PUT _security %s: %ld %s\n", bad[i], r.status, r.body);
        assert_int_equal(r.status, 400);
        t_free(&r);
    }
    tresp r = s_req_as("mb", "pw-mb", "PUT", "/sec-members/_security", "{}");
    T_EXPECT(r, 403);
    t_free(&r);
    r = s_req_as("rmuser", "pw-rm", "PUT", "/sec-members/_security", "{}");
    T_EXPECT(r, 403);
    t_free(&r);
    tresp after = s_admin("GET", "/sec-members/_security", NULL);
    assert_string_equal(after.body, before.body);
    t_free(&after);
    t_free(&before);
    /* Extra members of the object are kept verbatim; a database admin may
     * write it; only GET and PUT are allowed. */
    r = s_req_as("da", "pw-da", "PUT", "/sec-role/_security",
                 "{\"admins\":{\"names\":[\"da\"],\"roles\":[\"ra\"]},\"members\":{\"roles\":"
                 "[\"rm\"]},\"x-app\":{\"v\":[1,2]}}");
    T_EXPECT(r, 200);
    t_free(&r);
    r = s_admin("GET", "/sec-role/_security", NULL);
    assert_true(t_has(&r, "\"x-app\":{\"v\":[1,2]}"));
    t_free(&r);
    r = s_admin("DELETE", "/sec-role/_security", NULL);
    T_EXPECT(r, 405);
    t_free(&r);
    r = s_admin("PUT", "/sec-role/_security", SEC_ROLE);
    T_EXPECT(r, 200);
    t_free(&r);
}

/* "readers" is read as the legacy name of "members" (A.7). */
static void test_readers_alias(void **state)
{
    (void)state;
    s_admin_ok("PUT", "/sec-readers", NULL, 201);
    s_admin_ok("PUT", "/sec-readers/_security", "{\"readers\":{\"names\":[\"mb\"]}}", 200);
    tresp r = s_req_as("mb", "pw-mb", "GET", "/sec-readers", NULL);
    T_EXPECT(r, 200);
    t_free(&r);
    r = s_req_as("outsider", "pw-outsider", "GET", "/sec-readers", NULL);
    T_EXPECT(r, 403);
    t_free(&r);
}

/* ---- require_valid_user (A.6): a server of its own */

static void test_require_valid_user(void **state)
{
    (void)state;
    t_stop();
    assert_int_equal(t_start_with("couchdb", "default_security", "admin_only", "chttpd",
                                  "require_valid_user", "true", NULL),
                     0);
    static const char *const open_paths[] = {"/", "/_up", "/_session", "/_uuids", "/_all_dbs"};
    for (size_t i = 0; i < sizeof open_paths / sizeof open_paths[0]; i++) {
        tresp r = s_req_as(NULL, NULL, "GET", open_paths[i], NULL);
        char www[256] = "";
        if (r.status != 401)
            fprintf(stderr, "require_valid_user: GET %s anonymous: %ld\n", open_paths[i],
                    r.status);
        assert_int_equal(r.status, 401);
        assert_string_equal(trimmed(r.body),
                            "{\"error\":\"unauthorized\",\"reason\":\"Authentication required.\"}");
        assert_true(t_header(&r, "WWW-Authenticate", www, sizeof www));
        assert_string_equal(www, "Basic realm=\"server\"");
        t_free(&r);
    }
    /* A public database too. */
    s_admin_ok("PUT", "/rvu", NULL, 201);
    s_admin_ok("PUT", "/rvu/_security", "{}", 200);
    tresp r = s_req_as(NULL, NULL, "GET", "/rvu", NULL);
    T_EXPECT(r, 401);
    t_free(&r);
    /* Users are let in, and POST /_session stays open. */
    s_user_put("rv", "pw-rv", "[]");
    r = s_req_as("rv", "pw-rv", "GET", "/rvu", NULL);
    T_EXPECT(r, 200);
    t_free(&r);
    r = s_req_as(NULL, NULL, "POST", "/_session", "{\"name\":\"rv\",\"password\":\"pw-rv\"}");
    T_EXPECT(r, 200);
    char cookie[512], hdr[600];
    assert_true(t_header(&r, "Set-Cookie", cookie, sizeof cookie));
    t_free(&r);
    cookie[strcspn(cookie, ";")] = '\0';
    snprintf(hdr, sizeof hdr, "Cookie: %s", cookie);
    r = s_req_h("GET", "/rvu", NULL, NULL, hdr, NULL);
    T_EXPECT(r, 200);
    t_free(&r);
    r = s_req_h("GET", "/_session", NULL, NULL, hdr, NULL);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"name\":\"rv\""));
    assert_true(t_has(&r, "\"authenticated\":\"cookie\""));
    t_free(&r);
    /* A wrong password is still "incorrect", not "required". */
    r = s_req_as("rv", "nope", "GET", "/", NULL);
    T_EXPECT(r, 401);
    assert_true(t_has(&r, "Name or password is incorrect."));
    t_free(&r);

    /* require_valid_user_except_for_up keeps /_up open. */
    t_stop();
    assert_int_equal(t_start_with("chttpd", "require_valid_user", "true", "chttpd",
                                  "require_valid_user_except_for_up", "true", NULL),
                     0);
    r = s_req_as(NULL, NULL, "GET", "/_up", NULL);
    T_EXPECT(r, 200);
    t_free(&r);
    r = s_req_as(NULL, NULL, "GET", "/", NULL);
    T_EXPECT(r, 401);
    t_free(&r);
    t_stop();
    assert_int_equal(t_start_with("couchdb", "default_security", "admin_only", NULL), 0);
}

/* ---- live feeds */

/* A database whose members are exactly sec (the admin sets it). */
static void feed_db(const char *db, const char *sec)
{
    char path[256];
    snprintf(path, sizeof path, "/%s", db);
    s_admin_ok("PUT", path, NULL, 201);
    snprintf(path, sizeof path, "/%s/_security", db);
    s_admin_ok("PUT", path, sec, 200);
}

static void admin_doc(const char *db, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/%s/%s", db, id);
    s_admin_ok("PUT", path, "{\"v\":1}", 201);
}

/* A non-member's continuous feed is refused up front: nothing of the
 * database, not even its first line, and nothing later. */
static void test_feed_nonmember_sees_nothing(void **state)
{
    (void)state;
    feed_db("feed-closed", "{\"members\":{\"names\":[\"mb\"]}}");
    admin_doc("feed-closed", "secret-1");
    static const char *const feeds[] = {
        "/feed-closed/_changes?feed=continuous&timeout=3000",
        "/feed-closed/_changes?feed=continuous&since=now&heartbeat=100",
        "/feed-closed/_changes?feed=longpoll&since=now&timeout=3000",
        "/feed-closed/_changes?feed=eventsource&timeout=3000",
        "/feed-closed/_changes?feed=continuous&include_docs=true&timeout=3000"};
    for (size_t i = 0; i < sizeof feeds / sizeof feeds[0]; i++) {
        for (int p = P_ANON; p <= P_USER; p++) {
            char id[64];
            s_stream *s = s_stream_open(who_login[p], who_pass[p], feeds[i]);
            snprintf(id, sizeof id, "secret-%zu-%d", i, p);
            admin_doc("feed-closed", id);
            assert_true(s_stream_wait(s, NULL, 5000));
            assert_int_equal(s->status, p == P_ANON ? 401 : 403);
            assert_non_null(s->buf);
            assert_string_equal(trimmed(s->buf),
                                p == P_ANON ? NO_AUTH_DB_BODY : NOT_ALLOWED_DB_BODY);
            s_stream_close(s);
        }
    }
}

typedef enum { LOSE_SECURITY, LOSE_ROLE, LOSE_USER } lose_how;

/* A member's feed (continuous or longpoll) on db ends once the member
 * loses access `how`, well before its own timeout, with its final line,
 * and shows nothing written afterwards. */
static void feed_ends(const char *db, const char *user, bool continuous, lose_how how)
{
    char path[256];
    s_user_put(user, "pw-feed", "[\"feeders\"]");
    if (how == LOSE_SECURITY) {
        char sec[256];
        snprintf(sec, sizeof sec, "{\"members\":{\"names\":[\"%s\",\"someone\"]}}", user);
        feed_db(db, sec);
    } else {
        feed_db(db, "{\"members\":{\"roles\":[\"feeders\"]}}");
    }
    admin_doc(db, "seen");
    snprintf(path, sizeof path, "/%s/_changes?feed=%s&since=0&timeout=20000", db,
             continuous ? "continuous" : "longpoll");
    if (!continuous) /* a longpoll that waits: from now */
        snprintf(path, sizeof path, "/%s/_changes?feed=longpoll&since=now&timeout=20000", db);
    s_stream *s = s_stream_open(user, "pw-feed", path);
    if (continuous) {
        assert_true(s_stream_wait(s, "\"id\":\"seen\"", 5000));
    } else {
        s_sleep_ms(300); /* parked */
        assert_false(s_stream_done(s));
    }
    double t0 = t_now_ms();
    switch (how) {
    case LOSE_SECURITY:
        snprintf(path, sizeof path, "/%s/_security", db);
        s_admin_ok("PUT", path, "{\"members\":{\"names\":[\"someone\"]}}", 200);
        break;
    case LOSE_ROLE:
        s_user_put(user, "pw-feed", "[]");
        break;
    case LOSE_USER:
        s_user_delete(user);
        break;
    }
    admin_doc(db, "unseen");
    bool ended = s_stream_wait(s, NULL, 5000);
    if (!ended)
        fprintf(stderr, "feed of %s on %s did not end: %s\n", user, db, s->buf ? s->buf : "");
    assert_true(ended);
    assert_true(s->ended_ms - t0 < 5000);
    assert_int_equal(s->status, 200);
    assert_non_null(s->buf);
    if (strstr(s->buf, "unseen"))
        fprintf(stderr, "feed of %s on %s showed a row after losing access: %s\n", user, db,
                s->buf);
    assert_null(strstr(s->buf, "unseen"));
    assert_non_null(strstr(s->buf, "\"last_seq\""));
    if (!continuous)
        assert_non_null(strstr(s->buf, "{\"results\":[\n"));
    s_stream_close(s);
    /* And a new feed is refused. */
    tresp r = s_req_as(user, "pw-feed", "GET", "/_session", NULL);
    t_free(&r);
    snprintf(path, sizeof path, "/%s/_changes", db);
    r = s_req_as(user, "pw-feed", "GET", path, NULL);
    assert_true(r.status == 403 || r.status == 401);
    t_free(&r);
}

static void test_feed_ends_security_continuous(void **state)
{
    (void)state;
    feed_ends("fe-sec-c", "fsc", true, LOSE_SECURITY);
}

static void test_feed_ends_security_longpoll(void **state)
{
    (void)state;
    feed_ends("fe-sec-l", "fsl", false, LOSE_SECURITY);
}

static void test_feed_ends_role_continuous(void **state)
{
    (void)state;
    feed_ends("fe-role-c", "frc", true, LOSE_ROLE);
}

static void test_feed_ends_role_longpoll(void **state)
{
    (void)state;
    feed_ends("fe-role-l", "frl", false, LOSE_ROLE);
}

static void test_feed_ends_user_deleted_continuous(void **state)
{
    (void)state;
    feed_ends("fe-del-c", "fdc", true, LOSE_USER);
}

static void test_feed_ends_user_deleted_longpoll(void **state)
{
    (void)state;
    feed_ends("fe-del-l", "fdl", false, LOSE_USER);
}

/* The row written right after a role change was acknowledged must not
 * reach the feed, even before the _users watcher has acted on the change
 * (it runs behind the commit): repeated, as the window is small. */
static void test_feed_role_loss_no_late_row(void **state)
{
    (void)state;
    feed_db("fe-race", "{\"members\":{\"roles\":[\"racers\"]}}");
    for (int i = 0; i < 12; i++) {
        char user[32], id[32];
        snprintf(user, sizeof user, "racer%d", i);
        s_user_put(user, "pw-race", "[\"racers\"]");
        s_stream *s = s_stream_open(user, "pw-race", "/fe-race/_changes?feed=continuous&timeout=20000");
        snprintf(id, sizeof id, "before%d", i);
        admin_doc("fe-race", id);
        assert_true(s_stream_wait(s, id, 5000));
        s_user_put(user, "pw-race", "[]");
        snprintf(id, sizeof id, "after%d", i);
        admin_doc("fe-race", id);
        assert_true(s_stream_wait(s, NULL, 5000));
        if (strstr(s->buf, id))
            fprintf(stderr, "round %d: a row after the role change: %s\n", i, s->buf);
        assert_null(strstr(s->buf, id));
        s_stream_close(s);
    }
}

/* Selector feeds (filter=_selector, every kind) end the same way, for
 * each way of losing access. */
static void test_selector_feed_ends(void **state)
{
    (void)state;
    static const char *const kinds[] = {"continuous", "longpoll", "eventsource"};
    for (int how = LOSE_SECURITY; how <= LOSE_USER; how++) {
        for (size_t k = 0; k < 3; k++) {
            char user[32], db[32], path[256], id[32];
            snprintf(user, sizeof user, "sel%d%zu", how, k);
            snprintf(db, sizeof db, "fe-sel-%d-%zu", how, k);
            s_user_put(user, "pw-sel", "[\"selectors\"]");
            char sec[256];
            snprintf(sec, sizeof sec, how == LOSE_SECURITY ? "{\"members\":{\"names\":[\"%s\"]}}"
                                                           : "{\"members\":{\"roles\":[\"selectors\"]}}",
                     user);
            feed_db(db, sec);
            snprintf(path, sizeof path, "/%s/_changes?feed=%s&filter=_selector&since=now&timeout=20000",
                     db, kinds[k]);
            s_stream *s = s_stream_open_post(user, "pw-sel", path, "{\"selector\":{\"kind\":\"x\"}}");
            s_sleep_ms(300); /* parked */
            assert_false(s_stream_done(s));
            double t0 = t_now_ms();
            if (how == LOSE_SECURITY) {
                snprintf(path, sizeof path, "/%s/_security", db);
                s_admin_ok("PUT", path, "{\"members\":{\"names\":[\"nobody\"]}}", 200);
            } else if (how == LOSE_ROLE) {
                s_user_put(user, "pw-sel", "[]");
            } else {
                s_user_delete(user);
            }
            snprintf(path, sizeof path, "/%s/after", db);
            s_admin_ok("PUT", path, "{\"kind\":\"x\"}", 201);
            snprintf(id, sizeof id, "\"after\"");
            bool ended = s_stream_wait(s, NULL, 5000);
            if (!ended || (s->buf && strstr(s->buf, id)))
                fprintf(stderr, "selector %s feed, loss %d: ended %d: %s\n", kinds[k], how, ended,
                        s->buf ? s->buf : "");
            assert_true(ended);
            assert_true(s->ended_ms - t0 < 5000);
            assert_int_equal(s->status, 200);
            assert_true(!s->buf || !strstr(s->buf, id));
            s_stream_close(s);
        }
    }
}

/* A feed whose reader keeps access goes on: a change of someone else's
 * document or of an unrelated part of the object does not end it. */
static void test_feed_survives_unrelated_changes(void **state)
{
    (void)state;
    s_user_put("keeper", "pw-keep", "[\"keepers\"]");
    feed_db("fe-keep", "{\"members\":{\"roles\":[\"keepers\"]}}");
    s_stream *s = s_stream_open("keeper", "pw-keep", "/fe-keep/_changes?feed=continuous&timeout=20000");
    admin_doc("fe-keep", "one");
    assert_true(s_stream_wait(s, "\"id\":\"one\"", 5000));
    s_user_put("bystander", "pw-by", "[]");
    s_admin_ok("PUT", "/fe-keep/_security",
               "{\"members\":{\"roles\":[\"keepers\"],\"names\":[\"bystander\"]}}", 200);
    s_user_put("keeper", "pw-keep2", "[\"keepers\"]"); /* same roles, new password */
    admin_doc("fe-keep", "two");
    assert_true(s_stream_wait(s, "\"id\":\"two\"", 5000));
    assert_false(s_stream_done(s));
    s_admin_ok("PUT", "/fe-keep/_security", "{\"members\":{\"roles\":[\"nobody\"]}}", 200);
    assert_true(s_stream_wait(s, NULL, 5000));
    s_stream_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_missing_db_first),
        cmocka_unit_test(test_session_identity),
        cmocka_unit_test(test_security_put_refusals),
        cmocka_unit_test(test_readers_alias),
        cmocka_unit_test(test_feed_nonmember_sees_nothing),
        cmocka_unit_test(test_feed_ends_security_continuous),
        cmocka_unit_test(test_feed_ends_security_longpoll),
        cmocka_unit_test(test_feed_ends_role_continuous),
        cmocka_unit_test(test_feed_ends_role_longpoll),
        cmocka_unit_test(test_feed_ends_user_deleted_continuous),
        cmocka_unit_test(test_feed_ends_user_deleted_longpoll),
        cmocka_unit_test(test_feed_role_loss_no_late_row),
        cmocka_unit_test(test_selector_feed_ends),
        cmocka_unit_test(test_feed_survives_unrelated_changes),
        cmocka_unit_test(test_require_valid_user),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
