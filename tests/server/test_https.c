/* test_https.c — HTTPS served by the server itself ([ssl]): the HTTPS
 * listener answers beside the plain one (same databases, same handlers),
 * its certificate verifies against the test CA by IP and by name and not
 * without it, the chain from cacert_file is sent, a continuous _changes
 * feed parked on a TLS connection is woken by a write (TLS feeds must not
 * take the direct socket writes), the start is refused with a clear error
 * for a missing, unparsable or mismatched certificate or key, and nothing
 * of the key reaches the log.  The certificates are the test-only ones in
 * tests/data/tls.  Session cookies set over HTTPS carry Secure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>

#include "httpc.h"

#define TLS_DIR ST_TEST_DATA_DIR "/tls"
#define CA TLS_DIR "/ca.pem"
#define CERT TLS_DIR "/server.pem"
#define KEY TLS_DIR "/server.key"

typedef struct sresp {
    long status;      /* HTTP status, or -CURLcode when the transfer failed */
    char *body;
    size_t len;
    char *headers;
} sresp;

/* One request to https://host:tls_port/path; ca NULL: no trust added. */
static sresp s_req(const char *host, const char *method, const char *path, const char *body,
                   const char *ca, long certinfo_out[1])
{
    sresp r = {0, NULL, 0, NULL};
    tbuf b = {NULL, 0}, hb = {NULL, 0};
    char url[512];
    snprintf(url, sizeof url, "https://%s:%u%s", host, st_server_tls_port(t_srv), path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERNAME, T_ADMIN);
    curl_easy_setopt(c, CURLOPT_PASSWORD, T_PASS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, t_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, t_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, T_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    if (certinfo_out)
        curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else
        r.status = -(long)cc;
    if (cc == CURLE_OK && certinfo_out) {
        struct curl_certinfo *ci = NULL;
        curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci);
        certinfo_out[0] = ci ? ci->num_of_certs : 0;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.body = b.buf ? b.buf : calloc(1, 1);
    r.len = b.len;
    r.headers = hb.buf ? hb.buf : calloc(1, 1);
    return r;
}

static void s_free(sresp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

static int start_tls(void)
{
    return t_start_with("ssl", "enable", "true", "ssl", "port", "0", "ssl", "cert_file", CERT,
                        "ssl", "key_file", KEY, "ssl", "cacert_file", CA, NULL);
}

static void test_https_beside_http(void **state)
{
    (void)state;
    assert_int_equal(start_tls(), 0);
    uint16_t tls_port = st_server_tls_port(t_srv);
    assert_true(tls_port != 0);
    assert_true(tls_port != st_server_port(t_srv));

    long certs[1] = {0};
    sresp r = s_req("127.0.0.1", "GET", "/", NULL, CA, certs);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"couchdb\":\"Welcome\""));
    assert_int_equal(certs[0], 2); /* the certificate, then cacert_file's CA */
    s_free(&r);
    r = s_req("localhost", "GET", "/_up", NULL, CA, NULL); /* the name in the SAN */
    assert_int_equal(r.status, 200);
    s_free(&r);
    /* Without the CA the certificate does not verify. */
    r = s_req("127.0.0.1", "GET", "/", NULL, NULL, NULL);
    assert_int_equal(r.status, -(long)CURLE_PEER_FAILED_VERIFICATION);
    s_free(&r);

    /* One server behind both: written over HTTPS, read over HTTP and back. */
    r = s_req("127.0.0.1", "PUT", "/both", NULL, CA, NULL);
    assert_int_equal(r.status, 201);
    s_free(&r);
    r = s_req("127.0.0.1", "PUT", "/both/viatls", "{\"v\":1}", CA, NULL);
    assert_int_equal(r.status, 201);
    s_free(&r);
    tresp p = t_req("GET", "/both/viatls", NULL, true);
    T_EXPECT(p, 200);
    t_free(&p);
    p = t_req("PUT", "/both/viaplain", "{\"v\":2}", true);
    T_EXPECT(p, 201);
    t_free(&p);
    r = s_req("127.0.0.1", "GET", "/both/viaplain", NULL, CA, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"v\":2"));
    s_free(&r);
    t_stop();
}

/* A session cookie set over HTTPS is Secure; over plain HTTP it is not. */
static void test_cookie_secure_on_tls(void **state)
{
    (void)state;
    assert_int_equal(start_tls(), 0);
    const char *login = "{\"name\":\"" T_ADMIN "\",\"password\":\"" T_PASS "\"}";
    sresp r = s_req("127.0.0.1", "POST", "/_session", login, CA, NULL);
    assert_int_equal(r.status, 200);
    const char *sc = strstr(r.headers, "Set-Cookie: AuthSession=");
    assert_non_null(sc);
    const char *eol = strstr(sc, "\r\n");
    assert_non_null(eol);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)(eol - sc), sc);
    assert_non_null(strstr(line, "; Secure"));
    s_free(&r);
    tresp p = t_req("POST", "/_session", login, false);
    T_EXPECT(p, 200);
    char cookie[1024];
    assert_true(t_header(&p, "Set-Cookie", cookie, sizeof cookie));
    assert_non_null(strstr(cookie, "AuthSession="));
    assert_null(strstr(cookie, "Secure"));
    t_free(&p);
    t_stop();
}

typedef struct feed_run {
    sresp r;
} feed_run;

static void *feed_thread(void *arg)
{
    feed_run *f = arg;
    f->r = s_req("127.0.0.1", "GET", "/feeds/_changes?feed=continuous&since=now&timeout=3000",
                 NULL, CA, NULL);
    return NULL;
}

/* A continuous feed over TLS waits parked, then carries a commit's row. */
static void test_https_continuous_feed(void **state)
{
    (void)state;
    assert_int_equal(start_tls(), 0);
    tresp p = t_req("PUT", "/feeds", NULL, true);
    T_EXPECT(p, 201);
    t_free(&p);
    feed_run f;
    memset(&f, 0, sizeof f);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, feed_thread, &f), 0);
    struct timespec ts = {0, 500 * 1000 * 1000};
    nanosleep(&ts, NULL); /* let the feed park */
    p = t_req("PUT", "/feeds/woken", "{\"v\":1}", true);
    T_EXPECT(p, 201);
    t_free(&p);
    pthread_join(th, NULL);
    assert_int_equal(f.r.status, 200);
    assert_non_null(strstr(f.r.body, "\"id\":\"woken\""));
    assert_non_null(strstr(f.r.body, "\"last_seq\""));
    s_free(&f.r);
    t_stop();
}

/* st_server_start with [ssl] cert/key as given; the status, reason in e. */
static st_status start_with_files(const char *cert, const char *key, st_error *e)
{
    char dir[512];
    const char *tmp = getenv("SETTEE_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/settee-srv-%ld-refused", tmp ? tmp : "/tmp", (long)getpid());
    st_config *c = st_config_new();
    assert_non_null(c);
    assert_int_equal(st_config_set(c, "couchdb", "database_dir", dir, e), ST_OK);
    assert_int_equal(st_config_set(c, "chttpd", "port", "0", e), ST_OK);
    assert_int_equal(st_config_set(c, "admins", T_ADMIN, T_PASS, e), ST_OK);
    assert_int_equal(st_config_set(c, "log", "level", "error", e), ST_OK);
    assert_int_equal(st_config_set(c, "ssl", "enable", "true", e), ST_OK);
    assert_int_equal(st_config_set(c, "ssl", "port", "0", e), ST_OK);
    if (cert)
        assert_int_equal(st_config_set(c, "ssl", "cert_file", cert, e), ST_OK);
    if (key)
        assert_int_equal(st_config_set(c, "ssl", "key_file", key, e), ST_OK);
    st_server *s = NULL;
    st_status st = st_server_start(c, &s, e);
    st_config_free(c);
    if (st == ST_OK)
        st_server_stop(s);
    t_rm_rf(dir);
    return st;
}

static void test_refuses_bad_certificates(void **state)
{
    (void)state;
    st_error e;
    assert_int_equal(start_with_files(CERT, TLS_DIR "/other.key", &e), ST_E_BAD_REQUEST);
    assert_non_null(strstr(e.reason, "does not belong to the certificate"));
    assert_non_null(strstr(e.reason, "other.key"));
    assert_int_equal(start_with_files(CERT, TLS_DIR "/no-such.key", &e), ST_E_BAD_REQUEST);
    assert_non_null(strstr(e.reason, "key_file"));
    assert_non_null(strstr(e.reason, "cannot read it"));
    assert_int_equal(start_with_files(TLS_DIR "/no-such.pem", KEY, &e), ST_E_BAD_REQUEST);
    assert_non_null(strstr(e.reason, "cert_file"));
    /* Swapped: neither parses as what it should be. */
    assert_int_equal(start_with_files(KEY, CERT, &e), ST_E_BAD_REQUEST);
    assert_non_null(strstr(e.reason, "no PEM certificate"));
    assert_null(strstr(e.reason, "PRIVATE"));
    assert_int_equal(start_with_files(CERT, CERT, &e), ST_E_BAD_REQUEST);
    assert_non_null(strstr(e.reason, "no PEM private key"));
    assert_int_equal(start_with_files(NULL, NULL, &e), ST_E_BAD_REQUEST);
    assert_non_null(strstr(e.reason, "needs [ssl] cert_file"));
    /* Settings that cannot be parsed are refused when set. */
    st_config *c = st_config_new();
    assert_int_equal(st_config_set(c, "ssl", "port", "70000", &e), ST_E_BAD_REQUEST);
    assert_int_equal(st_config_set(c, "ssl", "enable", "maybe", &e), ST_E_BAD_REQUEST);
    st_config_free(c);
}

/* At debug level, with requests over TLS: not a line of the key logged. */
static void test_key_not_logged(void **state)
{
    (void)state;
    char log[600], key_line[128] = "";
    snprintf(log, sizeof log, "%s/https-%ld.log", getenv("SETTEE_TEST_TMP") ? getenv("SETTEE_TEST_TMP") : "/tmp",
             (long)getpid());
    unlink(log);
    FILE *k = fopen(KEY, "r");
    assert_non_null(k);
    assert_non_null(fgets(key_line, sizeof key_line, k)); /* BEGIN line */
    assert_non_null(fgets(key_line, sizeof key_line, k)); /* first base64 line */
    fclose(k);
    key_line[strcspn(key_line, "\r\n")] = '\0';
    assert_true(strlen(key_line) > 40);
    assert_int_equal(t_start_with("ssl", "enable", "true", "ssl", "port", "0", "ssl", "cert_file",
                                  CERT, "ssl", "key_file", KEY, "log", "level", "debug", "log",
                                  "file", log, NULL),
                     0);
    sresp r = s_req("127.0.0.1", "GET", "/", NULL, CA, NULL);
    assert_int_equal(r.status, 200);
    s_free(&r);
    r = s_req("127.0.0.1", "GET", "/", NULL, NULL, NULL); /* a failed handshake */
    s_free(&r);
    t_stop();
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[4096];
    bool saw_https = false;
    while (fgets(line, sizeof line, f)) {
        assert_null(strstr(line, "PRIVATE KEY"));
        assert_null(strstr(line, key_line));
        saw_https = saw_https || strstr(line, "listening on https://127.0.0.1:") != NULL;
    }
    fclose(f);
    assert_true(saw_https);
    unlink(log);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https_beside_http),
        cmocka_unit_test(test_cookie_secure_on_tls),
        cmocka_unit_test(test_https_continuous_feed),
        cmocka_unit_test(test_refuses_bad_certificates),
        cmocka_unit_test(test_key_not_logged),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
