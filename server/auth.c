/* auth.c — Basic and cookie authentication against the configured admins.
 *
 * Why a verification cache: PBKDF2 is deliberately slow (thousands of HMAC
 * rounds), and HTTP Basic sends the password with every request.  After
 * one successful PBKDF2 check we remember sha256(name:password:salt) per
 * admin and compare against that in constant time; a wrong password still
 * pays the full PBKDF2 price.
 *
 * AuthSession cookies follow CouchDB's shape: base64url of
 * "name:TIMEHEX:" + HMAC(secret + salt, "name:TIMEHEX"), valid for
 * [chttpd_auth] timeout seconds.  The admin's salt is in the key, so a
 * changed password invalidates old cookies.
 */
#include "auth.h"
#include "basic.h"
#include "st_base64.h"
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static const st_admin *find_admin(const st_server *srv, const char *name, size_t *idx)
{
    for (size_t i = 0; i < srv->cfg->n_admins; i++) {
        if (strcmp(srv->cfg->admins[i].name, name) == 0) {
            if (idx)
                *idx = i;
            return &srv->cfg->admins[i];
        }
    }
    return NULL;
}

static void cache_key(const st_admin *a, const char *pw, unsigned char out[32])
{
    unsigned int len = 32;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(c, a->name, strlen(a->name)) == 1 &&
              EVP_DigestUpdate(c, ":", 1) == 1 && EVP_DigestUpdate(c, pw, strlen(pw)) == 1 &&
              EVP_DigestUpdate(c, ":", 1) == 1 &&
              EVP_DigestUpdate(c, a->salt, strlen(a->salt)) == 1 &&
              EVP_DigestFinal_ex(c, out, &len) == 1;
    EVP_MD_CTX_free(c);
    if (!ok)
        memset(out, 0, 32); /* all zeros never matches: falls back to PBKDF2 */
}

bool st_auth_check_password(st_server *srv, const char *name, const char *pw)
{
    size_t idx = 0;
    const st_admin *a = find_admin(srv, name, &idx);
    unsigned char key[32];
    unsigned char dk[ST_ADMIN_DK_MAX];
    static const unsigned char zero[32];
    if (!a)
        return false;
    cache_key(a, pw, key);
    pthread_mutex_lock(&srv->auth_mu);
    bool cached = srv->auth_cache && CRYPTO_memcmp(srv->auth_cache[idx], zero, 32) != 0 &&
                  CRYPTO_memcmp(srv->auth_cache[idx], key, 32) == 0;
    pthread_mutex_unlock(&srv->auth_mu);
    if (cached)
        return true;
    if (!st_pbkdf2(a->kind, pw, strlen(pw), a->salt, a->iterations, dk, a->dk_len))
        return false;
    bool ok = CRYPTO_memcmp(dk, a->dk, a->dk_len) == 0;
    OPENSSL_cleanse(dk, sizeof dk);
    if (ok && srv->auth_cache) {
        pthread_mutex_lock(&srv->auth_mu);
        memcpy(srv->auth_cache[idx], key, 32);
        pthread_mutex_unlock(&srv->auth_mu);
    }
    return ok;
}

/* Url-safe (or standard) base64 → bytes; returns length or -1. */
static int b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    size_t len = 0;
    if (cap < ST_B64_DECODED_MAX(n) ||
        (!st_b64_decode(ST_B64_URL, in, n, out, cap, &len) &&
         !st_b64_decode(ST_B64_STD, in, n, out, cap, &len)))
        return -1;
    return (int)len;
}

static size_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t cap)
{
    return st_b64_encode(ST_B64_URL, in, n, out, cap);
}

static void session_hmac(st_server *srv, const st_admin *a, const char *msg, size_t n,
                         unsigned char out[32])
{
    unsigned char key[sizeof srv->secret + 256];
    size_t salt_len = strlen(a->salt);
    if (salt_len > 256)
        salt_len = 256;
    memcpy(key, srv->secret, srv->secret_len);
    memcpy(key + srv->secret_len, a->salt, salt_len);
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)(srv->secret_len + salt_len), (const unsigned char *)msg, n,
         out, &len);
}

bool st_auth_session_cookie(st_server *srv, const char *name, char *out, size_t cap)
{
    const st_admin *a = find_admin(srv, name, NULL);
    unsigned char raw[512];
    char enc[800];
    if (!a)
        return false;
    int n = snprintf((char *)raw, 300, "%s:%lX", name, (unsigned long)time(NULL));
    if (n < 0 || n >= 300)
        return false;
    unsigned char mac[32];
    session_hmac(srv, a, (const char *)raw, (size_t)n, mac);
    raw[n] = ':';
    memcpy(raw + n + 1, mac, 32);
    if (!b64url_encode(raw, (size_t)n + 33, enc, sizeof enc))
        return false;
    int w = snprintf(out, cap, "AuthSession=%s; Version=1; Path=/; HttpOnly; Max-Age=%u", enc,
                     srv->cfg->session_timeout_s);
    return w > 0 && (size_t)w < cap;
}

static bool set_user(st_req *r, const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof r->user)
        return false;
    memcpy(r->user, name, n + 1);
    r->is_admin = true;
    return true;
}

/* AuthSession cookie → admin name, if valid and fresh. */
static bool check_cookie(st_req *r, const char *val)
{
    unsigned char raw[600];
    size_t n = strcspn(val, "; ");
    int len = b64_decode(val, n, raw, sizeof raw - 1);
    if (len < 34)
        return false;
    /* name:TIMEHEX:<32 bytes mac> */
    size_t msg_len = (size_t)len - 33;
    if (raw[msg_len] != ':')
        return false;
    raw[msg_len] = '\0';
    char *colon = strrchr((char *)raw, ':');
    if (!colon || memchr(raw, '\0', msg_len))
        return false;
    *colon = '\0';
    const char *name = (const char *)raw;
    char *end = NULL;
    unsigned long ts = strtoul(colon + 1, &end, 16);
    if (!end || *end)
        return false;
    const st_admin *a = find_admin(r->srv, name, NULL);
    if (!a)
        return false;
    *colon = ':';
    unsigned char mac[32];
    session_hmac(r->srv, a, (const char *)raw, msg_len, mac);
    if (CRYPTO_memcmp(mac, raw + msg_len + 1, 32) != 0)
        return false;
    unsigned long now = (unsigned long)time(NULL);
    if (ts > now + 60 || now - ts > r->srv->cfg->session_timeout_s)
        return false;
    *colon = '\0';
    return set_user(r, name);
}

void st_auth_identify(st_req *r)
{
    r->user[0] = '\0';
    r->is_admin = false;
    const char *h = st_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h) {
        /* Another scheme is not ours: the request stays anonymous, as in
         * CouchDB; undecodable Basic credentials are a 400. */
        st_basic_creds creds;
        if (st_basic_decode(h, strlen(h), &creds, &r->auth_err) != ST_OK) {
            if (r->auth_err.code == ST_E_UNAUTHORIZED) {
                st_error_clear(&r->auth_err);
                r->auth_failed = true;
            }
            return;
        }
        if (creds.kind == ST_BASIC_CREDS) {
            if (!st_auth_check_password(r->srv, creds.name, creds.password) ||
                !set_user(r, creds.name))
                r->auth_failed = true;
            st_basic_creds_wipe(&creds);
            return;
        }
        st_basic_creds_wipe(&creds);
        if (creds.kind == ST_BASIC_NO_CREDS)
            return;
    }
    const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "AuthSession");
    if (cookie && *cookie)
        check_cookie(r, cookie); /* a stale cookie is ignored, as in CouchDB */
}
