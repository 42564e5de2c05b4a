/* http_auth.c — the credentials the HTTP endpoint's requests carry (see
 * endpoint_http_int.h): HTTP Basic, a bearer token (a JWT), or a CouchDB
 * cookie session.
 *
 * Sessions: the first request that needs the peer logs in with one POST
 * /_session {"name","password"}; it and every request made meanwhile wait
 * ("parked", without an easy handle) and go out with the AuthSession cookie
 * once the login answers, or fail with its error.  Every answer is read
 * for Set-Cookie: CouchDB sends a fresh cookie when the one used is older
 * than 10 % of its timeout, and the newest one is kept.  A request answered
 * 401 while it carried a cookie (it expired, the server restarted with a
 * new secret) logs in again once and is sent again; a second 401 is final,
 * as is a refused login, so bad credentials end a replication instead of
 * retrying it forever.  A generation number tells whether the cookie that
 * failed is still the current one: if a newer one arrived meanwhile the
 * request is simply sent again with it.
 *
 * Why sessions are asked for (use_session) rather than the default: Basic
 * needs no state and works with every CouchDB-compatible peer and proxy,
 * so it stays the default; a session saves the peer a password check per
 * request (PBKDF2 on CouchDB, unless cached) and keeps the password off
 * the wire after the login.
 *
 * Secrets: the password, the token and the cookie live only here, are
 * wiped when freed, and never enter a message.  Loop thread only.
 */
#include "endpoint_http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>

#include "st_jw.h"

#define COOKIE_MAX 4096 /* a longer AuthSession value is ignored */

static void wipe_free(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void st_http_auth_free(http_ep *e)
{
    wipe_free(e->user);
    wipe_free(e->pass);
    wipe_free(e->bearer);
    wipe_free(e->cookie);
    e->user = e->pass = e->bearer = e->cookie = NULL;
}

static st_status dup_into(char **slot, const char *s, st_error *err)
{
    if (!(*slot = strdup(s)))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    return ST_OK;
}

static bool auth_ready(hreq *q);
static st_status auth_apply(hreq *q, CURL *c);
static bool auth_retry(hreq *q);
static const hreq_auth_hooks hooks = {auth_ready, auth_apply, auth_retry};

st_status st_http_auth_init(http_ep *e, const st_ep_http_opts *o, st_error *err)
{
    st_status st = ST_OK;
    e->auth = &hooks;
    if (o->password && !o->username)
        return st_fail(err, ST_E_BAD_REQUEST, "a password needs a username");
    if (o->username) {
        st = dup_into(&e->user, o->username, err);
        if (st == ST_OK)
            st = dup_into(&e->pass, o->password ? o->password : "", err);
    } else if (e->url.user) {
        st = st_dburl_decode(e->url.user, &e->user, err);
        if (st == ST_OK)
            st = st_dburl_decode(e->url.password ? e->url.password : "", &e->pass, err);
    }
    if (st == ST_OK && o->bearer_token) {
        if (e->user)
            st = st_fail(err, ST_E_BAD_REQUEST,
                         "%s: a bearer token and a username/password are mutually exclusive",
                         e->url.display);
        size_t n = strlen(o->bearer_token) + sizeof "Authorization: Bearer ";
        if (st == ST_OK && !(e->bearer = malloc(n)))
            st = st_fail(err, ST_E_NOMEM, "out of memory");
        if (st == ST_OK)
            snprintf(e->bearer, n, "Authorization: Bearer %s", o->bearer_token);
    }
    if (st == ST_OK && o->use_session && !e->user)
        st = st_fail(err, ST_E_BAD_REQUEST, "%s: a cookie session needs a username and password",
                     e->url.display);
    e->use_session = o->use_session;
    if (st != ST_OK)
        st_http_auth_free(e);
    return st;
}

/* ------------------------------------------------------------- cookies */

/* A "Set-Cookie: AuthSession=<v>; ..." line: keep <v> if it is new.  An
 * empty value is CouchDB clearing the cookie (a failed login, a logout):
 * ignored, the next 401 says what to do. */
static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    hreq *q = ctx;
    http_ep *e = q->ep;
    size_t len = size * n;
    static const char name[] = "set-cookie:";
    if (len < sizeof name || strncasecmp(p, name, sizeof name - 1) != 0)
        return len;
    const char *v = p + sizeof name - 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    static const char ck[] = "AuthSession=";
    if ((size_t)(end - v) < sizeof ck - 1 || memcmp(v, ck, sizeof ck - 1) != 0)
        return len;
    const char *val = v + sizeof ck - 1, *stop = val;
    while (stop < end && *stop != ';' && *stop != '\r' && *stop != '\n' && *stop != ' ')
        stop++;
    size_t vl = (size_t)(stop - val);
    if (vl == 0 || vl > COOKIE_MAX)
        return len;
    size_t total = sizeof ck - 1 + vl;
    if (e->cookie && strlen(e->cookie) == total && memcmp(e->cookie, v, total) == 0)
        return len;
    char *c = malloc(total + 1);
    if (!c)
        return len; /* keep the old one; a 401 will tell */
    memcpy(c, v, total);
    c[total] = '\0';
    wipe_free(e->cookie);
    e->cookie = c;
    e->cookie_gen++;
    return len;
}

/* ------------------------------------------------------------- login */

/* Every parked request goes now, or (failed) answers with the login's
 * error on the next iteration: nothing is answered from in here, so the
 * list cannot change under the walk. */
static void release_parked(http_ep *e, const st_ep_reply *failed)
{
    for (hreq *q = e->reqs; q; q = q->next) {
        if (!q->parked)
            continue;
        q->parked = false;
        if (failed)
            st_http_fail_later(q, &failed->err, failed->http_status);
        else
            st_http_go(q);
    }
}

static void login_done(hreq *q, st_ep_reply *r)
{
    http_ep *e = q->ep;
    e->login = NULL;
    st_ep_reply fail = {.st = r->st, .http_status = r->http_status};
    if (r->st != ST_OK)
        st_fail(&fail.err, r->st, "logging in (POST /_session): %s", r->err.reason);
    else if (!e->cookie)
        fail.st = st_fail(&fail.err, ST_E_BAD_REQUEST,
                          "logging in (POST /_session): the answer set no AuthSession cookie");
    release_parked(e, fail.st != ST_OK ? &fail : NULL);
}

static void start_login(http_ep *e)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status st = st_jw_init(&w, &b);
    if (st == ST_OK) {
        st_jw_obj_open(&w);
        st_jw_key(&w, "name");
        st_jw_str(&w, e->user);
        st_jw_key(&w, "password");
        st_jw_str(&w, e->pass);
        st_jw_obj_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    size_t n = strlen(e->url.root) + sizeof "/_session";
    char *url = st == ST_OK ? malloc(n) : NULL;
    if (url)
        snprintf(url, n, "%s/_session", e->url.root);
    /* NULL url: st_http_send answers "out of memory" through login_done. */
    hreq *q = st_http_new(e, "POST", url, login_done, NULL, NULL);
    if (q) {
        q->is_login = true;
        e->login = q;
        st_http_send(q, b.data, b.len);
    } else {
        st_ep_reply r = {.st = ST_E_NOMEM};
        st_fail(&r.err, ST_E_NOMEM, "out of memory");
        release_parked(e, &r);
    }
    if (b.data)
        OPENSSL_cleanse(b.data, b.cap);
    st_buf_free(&b);
}

static bool auth_ready(hreq *q)
{
    http_ep *e = q->ep;
    if (!e->use_session || q->is_login || e->cookie)
        return true;
    q->parked = true;
    if (!e->login)
        start_login(e);
    return false;
}

static bool auth_retry(hreq *q)
{
    http_ep *e = q->ep;
    if (!q->sent_gen || q->relogged)
        return false;
    q->relogged = true;
    if (q->sent_gen == e->cookie_gen) {
        /* The cookie that failed is the current one: log in again. */
        wipe_free(e->cookie);
        e->cookie = NULL;
        e->cookie_gen++;
    }
    st_http_go(q);
    return true;
}

/* -------------------------------------------------------- per request */

static st_status auth_apply(hreq *q, CURL *c)
{
    http_ep *e = q->ep;
    q->sent_gen = 0;
    if (e->use_session)
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    if (e->use_session)
        curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
    if (q->is_login)
        return ST_OK;
    if (e->bearer) {
        struct curl_slist *h = curl_slist_append(q->headers, e->bearer);
        if (!h)
            return ST_E_NOMEM;
        q->headers = h;
    } else if (e->use_session) {
        curl_easy_setopt(c, CURLOPT_COOKIE, e->cookie);
        q->sent_gen = e->cookie_gen;
    } else if (e->user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, e->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, e->pass);
    }
    return ST_OK;
}
