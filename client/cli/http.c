/* http.c — see http.h.  The credential rules are the replicator's
 * (st_repl.h, replicator/http_auth.c), applied here to one blocking request
 * at a time; a login is one more request before the first one. */
#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "st_jw.h"

#define COOKIE_MAX 4096 /* a longer AuthSession value is ignored */

void cli_http_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void wipe_free(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static void wipe_curl_free(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    curl_free(s);
}

void cli_http_client_init(cli_http_client *c, const cli_remote *remote, const char *db_url,
                          unsigned timeout_s)
{
    *c = (cli_http_client){.remote = remote, .db_url = db_url, .timeout_s = timeout_s};
}

void cli_http_client_free(cli_http_client *c)
{
    wipe_free(c->cookie);
    c->cookie = NULL;
}

static void resp_init(cli_http_resp *r)
{
    memset(r, 0, sizeof *r);
    st_buf_init(&r->body, 0);
}

void cli_http_resp_free(cli_http_resp *r) { st_buf_free(&r->body); }

/* ------------------------------------------------------------- the URL */

/* A URL taken apart for its credentials. */
typedef struct target {
    char *url;         /* without user:password@ (curl_free); NULL: had none */
    char *user, *pass; /* the URL's, percent-decoded (curl_free), or NULL */
} target;

static void target_free(target *t)
{
    curl_free(t->url);
    wipe_curl_free(t->user);
    wipe_curl_free(t->pass);
}

/* path_tail non-NULL: the URL of the database's server with that path
 * instead ("/_session"), for the login. */
static bool target_parse(const char *url, const char *path_tail, target *t, char *err,
                         size_t cap)
{
    memset(t, 0, sizeof *t);
    CURLU *u = curl_url();
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK;
    CURLUcode uc = ok ? curl_url_get(u, CURLUPART_USER, &t->user, CURLU_URLDECODE)
                      : CURLUE_OK;
    if (ok && uc == CURLUE_OK) {
        uc = curl_url_get(u, CURLUPART_PASSWORD, &t->pass, CURLU_URLDECODE);
        ok = uc == CURLUE_OK || uc == CURLUE_NO_PASSWORD;
    } else if (ok) {
        ok = uc == CURLUE_NO_USER;
    }
    if (ok && path_tail) {
        /* The server's root: the database URL without its last segment. */
        char *path = NULL;
        ok = curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK;
        size_t n = ok ? strlen(path) : 0;
        while (n && path[n - 1] == '/')
            n--;
        while (n && path[n - 1] != '/')
            n--;
        while (n && path[n - 1] == '/')
            n--;
        char root[2048];
        ok = ok && n + strlen(path_tail) < sizeof root;
        if (ok)
            snprintf(root, sizeof root, "%.*s%s", (int)n, path, path_tail);
        curl_free(path);
        ok = ok && curl_url_set(u, CURLUPART_PATH, root, 0) == CURLUE_OK &&
             curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK;
    }
    if (ok && (t->user || path_tail))
        ok = curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
             curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_URL, &t->url, 0) == CURLUE_OK;
    curl_url_cleanup(u);
    if (!ok) {
        /* Not quoted: it may hold a password. */
        snprintf(err, cap, "the URL cannot be read (a bad %%-escape in user:password@?)");
        target_free(t);
        memset(t, 0, sizeof *t);
    }
    return ok;
}

/* ----------------------------------------------------------- a request */

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    st_buf *b = ctx;
    return st_buf_add(b, p, size * n) == ST_OK ? size * n : 0;
}

/* A login's "Set-Cookie: AuthSession=<v>; ..." line: keep it (an empty
 * value is CouchDB clearing the cookie: ignored). */
static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    cli_http_client *c = ctx;
    size_t len = size * n;
    static const char name[] = "set-cookie:", ck[] = "AuthSession=";
    if (len < sizeof name || strncasecmp(p, name, sizeof name - 1) != 0)
        return len;
    const char *v = p + sizeof name - 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    if ((size_t)(end - v) < sizeof ck - 1 || memcmp(v, ck, sizeof ck - 1) != 0)
        return len;
    /* Not NUL-terminated: bounded by end. */
    const char *stop = v + sizeof ck - 1;
    while (stop < end && *stop != ';' && *stop != ' ' && *stop != '\r' && *stop != '\n')
        stop++;
    size_t vl = (size_t)(stop - v);
    if (vl == sizeof ck - 1 || vl > COOKIE_MAX)
        return len;
    char *cookie = malloc(vl + 1);
    if (cookie) {
        memcpy(cookie, v, vl);
        cookie[vl] = '\0';
        wipe_free(c->cookie);
        c->cookie = cookie;
    }
    return len;
}

/* The peer's certificate (or our CA file) cannot be trusted. */
static bool certificate_refused(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
           rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
           rc == CURLE_SSL_CRL_BADFILE;
}

/* Header lines may hold the token: wiped before curl frees them. */
static void headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        OPENSSL_cleanse(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

/* Append line to *h (curl copies it); false when out of memory (*h kept). */
static bool add_header(struct curl_slist **h, const char *line)
{
    struct curl_slist *n = curl_slist_append(*h, line);
    if (n)
        *h = n;
    return n != NULL;
}

/* How a request proves who it is. */
typedef struct auth {
    const char *user, *pass; /* Basic, when no cookie or token */
    bool login;              /* the login itself: none, and keep its cookie */
} auth;

/* Certificate checks, and the credentials other than a bearer header. */
static void set_tls_and_auth(CURL *h, cli_http_client *c, const auth *a)
{
    const cli_remote *r = c->remote;
    if (r->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);
    if (r->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (a->login) {
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    } else if (c->cookie) {
        curl_easy_setopt(h, CURLOPT_COOKIE, c->cookie);
    } else if (a->user && !r->bearer_token) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, a->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, a->pass);
    }
}

/* One request: method url with body[0..len), credentials per a; the
 * answer in *out (initialised here).  0 when an answer arrived, else -1. */
static int perform(cli_http_client *c, const char *method, const char *url, const char *body,
                   size_t len, const auth *a, cli_http_resp *out)
{
    const cli_remote *r = c->remote;
    resp_init(out);
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(out->error, sizeof out->error, "cannot start libcurl");
        return -1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = NULL;
    bool ok = add_header(&hdr, "Accept: application/json");
    if (ok && body)
        ok = add_header(&hdr, "Content-Type: application/json");
    if (ok && r->bearer_token && !a->login) {
        size_t n = strlen(r->bearer_token) + sizeof "Authorization: Bearer ";
        char *bearer = malloc(n);
        if (bearer)
            snprintf(bearer, n, "Authorization: Bearer %s", r->bearer_token);
        ok = bearer && add_header(&hdr, bearer);
        wipe_free(bearer);
    }
    if (!ok) {
        headers_free(hdr);
        curl_easy_cleanup(h);
        snprintf(out->error, sizeof out->error, "out of memory");
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    set_tls_and_auth(h, c, a);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc != CURLE_OK) {
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        out->tls_refused = certificate_refused(rc);
        snprintf(out->error, sizeof out->error, "%s%s", out->tls_refused ? "TLS: " : "", why);
        ret = -1;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    }
    headers_free(hdr);
    curl_easy_cleanup(h);
    /* A body is always NUL-terminated text for the callers. */
    if (st_buf_addc(&out->body, '\0') != ST_OK) {
        snprintf(out->error, sizeof out->error, "out of memory");
        return -1;
    }
    out->body.len--;
    return ret;
}

/* POST /_session {"name","password"} on the server of c->db_url: 0 when
 * logged in (c->cookie set), 1 when the server said no (its answer in
 * *out, step set), -1 when no answer came (out->error). */
static int login(cli_http_client *c, const char *user, const char *pass, cli_http_resp *out)
{
    target root;
    if (!target_parse(c->db_url, "/_session", &root, out->error, sizeof out->error))
        return -1;
    st_buf b = ST_BUF_INIT;
    /* Room for the worst escaping at once, so no copy of the password is
     * left behind in a buffer given back by a realloc. */
    st_status st = st_buf_reserve(&b, 6 * (strlen(user) + strlen(pass)) + 64);
    st_jw w;
    if (st == ST_OK)
        st = st_jw_init(&w, &b);
    if (st == ST_OK) {
        st_jw_obj_open(&w);
        st_jw_key(&w, "name");
        st_jw_str(&w, user);
        st_jw_key(&w, "password");
        st_jw_str(&w, pass);
        st_jw_obj_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    int rc = -1;
    if (st != ST_OK) {
        snprintf(out->error, sizeof out->error, "out of memory");
    } else {
        cli_http_resp_free(out);
        auth a = {.login = true};
        rc = perform(c, "POST", root.url, b.data, b.len, &a, out);
    }
    if (b.data)
        OPENSSL_cleanse(b.data, b.cap);
    st_buf_free(&b);
    target_free(&root);
    if (rc != 0) {
        out->step = "logging in (POST /_session)";
        return -1;
    }
    if (out->status < 200 || out->status >= 300) {
        out->step = "logging in (POST /_session)";
        return 1;
    }
    if (!c->cookie) {
        snprintf(out->error, sizeof out->error,
                 "logging in (POST /_session): the answer set no AuthSession cookie");
        return -1;
    }
    cli_http_resp_free(out);
    resp_init(out);
    return 0;
}

int cli_http(cli_http_client *c, const char *method, const char *url, const char *body,
             size_t len, cli_http_resp *out)
{
    resp_init(out);
    const cli_remote *r = c->remote;
    target t;
    if (!target_parse(url, NULL, &t, out->error, sizeof out->error))
        return -1;
    /* The options' credentials replace the URL's (st_repl.h). */
    auth a = {.user = r->user ? r->user : t.user};
    a.pass = r->user ? r->password : t.pass ? t.pass : "";
    int rc = -1;
    if (r->bearer_token && a.user) {
        snprintf(out->error, sizeof out->error,
                 "a bearer token and a username/password are mutually exclusive");
    } else if (r->session && !a.user) {
        snprintf(out->error, sizeof out->error,
                 "--session needs a name and password (--user, or user:password@ in the URL)");
    } else {
        int logged = r->session && !c->cookie ? login(c, a.user, a.pass, out) : 0;
        if (logged == 0) {
            cli_http_resp_free(out);
            rc = perform(c, method, t.url ? t.url : url, body, len, &a, out);
        } else {
            rc = logged > 0 ? 0 : -1; /* a refused login is the answer */
        }
    }
    target_free(&t);
    return rc;
}

bool cli_is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* RFC 3986 unreserved characters stay; everything else is %XX. */
static st_status add_escaped(st_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    st_status st = ST_OK;
    for (const unsigned char *p = (const unsigned char *)s; *p && st == ST_OK; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            st = st_buf_addc(b, (char)*p);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            st = st_buf_add(b, enc, 3);
        }
    }
    return st;
}

char *cli_url_join(const char *base, const char *path, bool literal)
{
    st_buf b = ST_BUF_INIT;
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    st_status st = st_buf_add(&b, base, n);
    if (st == ST_OK)
        st = st_buf_addc(&b, '/');
    if (st == ST_OK && literal) {
        st = st_buf_adds(&b, path);
    } else if (st == ST_OK) {
        const char *prefixes[] = {"_design/", "_local/"};
        for (size_t i = 0; i < 2 && st == ST_OK; i++) {
            size_t k = strlen(prefixes[i]);
            if (strncmp(path, prefixes[i], k) == 0 && path[k]) {
                st = st_buf_add(&b, path, k);
                path += k;
                break;
            }
        }
        if (st == ST_OK)
            st = add_escaped(&b, path);
    }
    if (st != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    return st_buf_take(&b, NULL);
}

char *cli_url_query(char *url, const char *name, const char *value)
{
    if (!url)
        return NULL;
    st_buf b = ST_BUF_INIT;
    st_status st = st_buf_adds(&b, url);
    if (st == ST_OK)
        st = st_buf_addc(&b, strchr(url, '?') ? '&' : '?');
    if (st == ST_OK)
        st = st_buf_adds(&b, name);
    if (st == ST_OK)
        st = st_buf_addc(&b, '=');
    if (st == ST_OK)
        st = add_escaped(&b, value);
    free(url);
    if (st != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    return st_buf_take(&b, NULL);
}

bool cli_url_password(const char *url, size_t *at, size_t *len)
{
    const char *p = strstr(url, "://");
    if (!p)
        return false;
    p += 3;
    /* The authority ends at the path, query or fragment; its last '@' ends
     * the user information, whose first ':' starts the password. */
    const char *end = p + strcspn(p, "/?#");
    const char *last_at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            last_at = q;
    const char *colon = last_at ? memchr(p, ':', (size_t)(last_at - p)) : NULL;
    if (!colon)
        return false;
    *at = (size_t)(colon + 1 - url);
    *len = (size_t)(last_at - colon - 1);
    return true;
}

char *cli_url_display(const char *url)
{
    size_t at, len;
    if (!cli_url_password(url, &at, &len))
        return strdup(url);
    size_t n = strlen(url) - len; /* without ":" and the password, plus the NUL */
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%.*s%s", (int)(at - 1), url, url + at + len);
    return out;
}
