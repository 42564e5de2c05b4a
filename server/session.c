/* session.c — AuthSession cookies as CouchDB's couch_httpd_auth makes them.
 *
 * Why keep the decoded bytes: the MAC covers "<name>:<HEXTIME>" exactly as
 * the cookie spells it (CouchDB never re-renders the time), so the check
 * signs raw[0..msg_len) rather than a reformatted string.
 * Why compute every algorithm's MAC: which one matched must not show in the
 * timing, and the list is at most five entries.
 */
#include "session.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include "auth_mac.h"
#include "st_base64.h"

#define MAX_KEY_STACK 512
#define MAX_SALT 64 /* longer salts are not kept prepared */

void st_session_config_init(st_session_config *c)
{
    memset(c, 0, sizeof *c);
    c->algs[0] = ST_DIGEST_SHA256;
    c->algs[1] = ST_DIGEST_SHA1;
    c->n_algs = 2;
    c->timeout_s = ST_SESSION_DEFAULT_TIMEOUT;
    c->persistent = true;
}

st_status st_session_set_algorithms(st_session_config *c, const char *list, st_error *err)
{
    st_digest algs[ST_DIGEST_COUNT];
    size_t n = 0;
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        size_t len = strcspn(s, ", \t");
        if (len == 0)
            break;
        if (n == ST_DIGEST_COUNT || !st_digest_parse(s, len, &algs[n]))
            return st_fail(err, ST_E_BAD_REQUEST, "bad hash_algorithms entry '%.*s'",
                           (int)(len > 32 ? 32 : len), s);
        n++;
        s += len;
    }
    if (n == 0)
        return st_fail(err, ST_E_BAD_REQUEST, "hash_algorithms is empty");
    memcpy(c->algs, algs, sizeof algs);
    c->n_algs = n;
    return ST_OK;
}

bool st_session_parse_same_site(const char *s, st_same_site *out)
{
    static const char *const names[] = {"", "none", "lax", "strict"};
    for (unsigned i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (st_same_site)i;
            return true;
        }
    }
    return false;
}

st_status st_session_new_secret(char out[ST_SESSION_SECRET_HEX + 1], st_error *err)
{
    if (!st_random_hex(out, ST_SESSION_SECRET_HEX / 2))
        return st_fail(err, ST_E_IO, "no randomness for the session secret");
    return ST_OK;
}

struct st_session_keys {
    pthread_mutex_t mu;
    struct key_slot {
        bool used;
        st_digest d;
        size_t salt_len;
        char salt[MAX_SALT]; /* the user's salt (not a secret) */
        st_auth_mac mac;                /* HMAC key secret ++ salt, prepared */
    } slot[ST_SESSION_KEYS];
};

st_session_keys *st_session_keys_new(void)
{
    st_session_keys *k = calloc(1, sizeof *k);
    if (k && pthread_mutex_init(&k->mu, NULL) != 0) {
        free(k);
        k = NULL;
    }
    return k;
}

void st_session_keys_free(st_session_keys *k)
{
    if (!k)
        return;
    pthread_mutex_destroy(&k->mu);
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
}

static struct key_slot *slot_of(st_session_keys *k, st_digest d, const char *salt, size_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)d;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)salt[i]) * 16777619u;
    return &k->slot[h % ST_SESSION_KEYS];
}

static bool slot_is(const struct key_slot *s, st_digest d, const char *salt, size_t n)
{
    return s->used && s->d == d && s->salt_len == n && memcmp(s->salt, salt, n) == 0;
}

/* The HMAC key secret ++ salt, prepared into *m (from c->keys when there). */
static bool session_key(const st_session_config *c, st_digest d, const char *salt,
                        size_t salt_len, st_auth_mac *m)
{
    struct key_slot *s = NULL;
    if (c->keys && salt_len <= MAX_SALT) {
        s = slot_of(c->keys, d, salt, salt_len);
        pthread_mutex_lock(&c->keys->mu);
        bool hit = slot_is(s, d, salt, salt_len);
        if (hit)
            *m = s->mac;
        pthread_mutex_unlock(&c->keys->mu);
        if (hit)
            return true;
    }
    unsigned char stack[MAX_KEY_STACK];
    size_t key_len = c->secret_len + salt_len;
    unsigned char *key = key_len <= sizeof stack ? stack : malloc(key_len);
    if (!key)
        return false;
    if (c->secret_len)
        memcpy(key, c->secret, c->secret_len);
    if (salt_len)
        memcpy(key + c->secret_len, salt, salt_len);
    bool ok = st_auth_mac_init(m, d, key, key_len);
    OPENSSL_cleanse(key, key_len);
    if (key != stack)
        free(key);
    if (ok && s) {
        pthread_mutex_lock(&c->keys->mu);
        OPENSSL_cleanse(&s->mac, sizeof s->mac);
        s->used = true;
        s->d = d;
        s->salt_len = salt_len;
        if (salt_len)
            memcpy(s->salt, salt, salt_len);
        s->mac = *m;
        pthread_mutex_unlock(&c->keys->mu);
    }
    return ok;
}

/* HMAC(secret ++ salt, msg). */
static bool session_mac(const st_session_config *c, st_digest d, const char *salt,
                        size_t salt_len, const void *msg, size_t msg_len, unsigned char *out)
{
    st_auth_mac m;
    bool ok = session_key(c, d, salt, salt_len, &m);
    if (ok)
        st_auth_mac_run(&m, msg, msg_len, out);
    st_auth_mac_wipe(&m);
    return ok;
}

st_status st_session_make(const st_session_config *c, const char *name, const char *salt,
                          size_t salt_len, int64_t now, char **out_value, st_error *err)
{
    unsigned char mac[ST_DIGEST_MAX_SIZE];
    unsigned char *raw = NULL;
    char *enc = NULL;
    st_status rc = ST_OK;
    size_t name_len = strlen(name);
    *out_value = NULL;
    if (strchr(name, ':') || name_len > ST_SESSION_MAX_VALUE / 2)
        return st_fail(err, ST_E_BAD_REQUEST, "user name cannot go in a session cookie");
    if (!c->secret || now < 0 || c->n_algs == 0)
        return st_fail(err, ST_E_MISUSE, "session cookie without a secret or algorithm");
    size_t mac_len = st_digest_size(c->algs[0]);
    size_t cap = name_len + 1 + 16 + 1 + mac_len;
    raw = malloc(cap + 1);
    if (!raw) {
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    int msg_len = snprintf((char *)raw, cap + 1, "%s:%" PRIX64, name, (uint64_t)now);
    if (msg_len < 0 || (size_t)msg_len + 1 + mac_len > cap ||
        !session_mac(c, c->algs[0], salt, salt_len, raw, (size_t)msg_len, mac)) {
        rc = st_fail(err, ST_E_NOMEM, "cannot sign the session cookie");
        goto out;
    }
    raw[msg_len] = ':';
    memcpy(raw + msg_len + 1, mac, mac_len);
    size_t raw_len = (size_t)msg_len + 1 + mac_len;
    enc = malloc(ST_B64_ENCODED_SIZE(raw_len));
    if (!enc || !st_b64_encode(ST_B64_URL, raw, raw_len, enc, ST_B64_ENCODED_SIZE(raw_len))) {
        free(enc);
        enc = NULL;
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    *out_value = enc;
out:
    OPENSSL_cleanse(mac, sizeof mac);
    if (raw) {
        OPENSSL_cleanse(raw, cap + 1);
        free(raw);
    }
    return rc;
}

void st_session_token_free(st_session_token *t)
{
    if (!t)
        return;
    if (t->raw) {
        OPENSSL_cleanse(t->raw, t->raw_len);
        free(t->raw);
    }
    free(t->name);
    memset(t, 0, sizeof *t);
}

st_status st_session_decode(const char *value, size_t n, st_session_token *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return st_fail(err, ST_E_NOT_FOUND, "no session cookie");
    if (n > ST_SESSION_MAX_VALUE)
        return st_fail(err, ST_E_BAD_REQUEST, ST_SESSION_MALFORMED);
    size_t cap = ST_B64_DECODED_MAX(n);
    out->raw = malloc(cap);
    if (!out->raw)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (!st_b64_decode(ST_B64_URL, value, n, out->raw, cap, &out->raw_len))
        goto malformed;
    unsigned char *c1 = memchr(out->raw, ':', out->raw_len);
    unsigned char *c2 = c1 ? memchr(c1 + 1, ':', out->raw_len - (size_t)(c1 + 1 - out->raw)) : NULL;
    if (!c2)
        goto malformed;
    out->name_len = (size_t)(c1 - out->raw);
    out->msg_len = (size_t)(c2 - out->raw);
    if (memchr(out->raw, '\0', out->name_len)) {
        st_session_token_free(out);
        return st_fail(err, ST_E_NOT_FOUND, "no user has that name");
    }
    out->name = malloc(out->name_len + 1);
    if (!out->name) {
        st_session_token_free(out);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    memcpy(out->name, out->raw, out->name_len);
    out->name[out->name_len] = '\0';
    return ST_OK;
malformed:
    st_session_token_free(out);
    return st_fail(err, ST_E_BAD_REQUEST, ST_SESSION_MALFORMED);
}

/* HEXTIME: 1..15 hex digits of either case (Erlang's list_to_integer(_, 16)). */
static bool parse_hextime(const unsigned char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0 || n > 15)
        return false;
    for (size_t i = 0; i < n; i++) {
        int d;
        if (s[i] >= '0' && s[i] <= '9')
            d = s[i] - '0';
        else if (s[i] >= 'A' && s[i] <= 'F')
            d = s[i] - 'A' + 10;
        else if (s[i] >= 'a' && s[i] <= 'f')
            d = s[i] - 'a' + 10;
        else
            return false;
        v = v * 16 + d;
    }
    *out = v;
    return true;
}

st_session_verdict st_session_check(const st_session_config *c, const st_session_token *t,
                                    const char *salt, size_t salt_len, int64_t now)
{
    unsigned char mac[ST_DIGEST_MAX_SIZE];
    const unsigned char *given = t->raw + t->msg_len + 1;
    size_t given_len = t->raw_len - t->msg_len - 1;
    bool match = false;
    for (size_t i = 0; c->secret && i < c->n_algs; i++) {
        /* A MAC of another length cannot match: skip its HMAC (the length
         * says which algorithm signed, which is no secret). */
        if (st_digest_size(c->algs[i]) != given_len)
            continue;
        if (session_mac(c, c->algs[i], salt, salt_len, t->raw, t->msg_len, mac))
            match |= st_ct_equal(mac, st_digest_size(c->algs[i]), given, given_len);
    }
    OPENSSL_cleanse(mac, sizeof mac);
    int64_t ts;
    const unsigned char *hex = t->raw + t->name_len + 1;
    if (!parse_hextime(hex, t->msg_len - t->name_len - 1, &ts))
        return ST_SESSION_BAD_TIME;
    if (!match)
        return ST_SESSION_FORGED;
    if (now >= ts + (int64_t)c->timeout_s)
        return ST_SESSION_EXPIRED;
    if (ts >= now) /* from the future (clock skew): valid, no refresh, no overflow */
        return ST_SESSION_VALID;
    return 10 * (now - ts) > (int64_t)c->timeout_s ? ST_SESSION_VALID_REFRESH : ST_SESSION_VALID;
}

/* RFC 6265 cookie-octets minus what mochiweb would insist on quoting. */
static bool cookie_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || strchr("\",;\\()<>@:[]?={}", *p))
            return false;
    }
    return true;
}

/* mochiweb's cookie date: "Wed, 02-Dec-2026 09:08:54 GMT". */
static bool cookie_date(int64_t t, char out[80])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1970)
        return false;
    snprintf(out, 80, "%s, %02d-%s-%04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return true;
}

st_status st_session_set_cookie(const st_session_config *c, const char *value, bool secure,
                                int64_t now, char **out, st_error *err)
{
    static const char *const same_site[] = {"", "; SameSite=None", "; SameSite=Lax",
                                            "; SameSite=Strict"};
    char expires[128] = "";
    const char *domain = c->domain && *c->domain ? c->domain : NULL;
    *out = NULL;
    if (!cookie_safe(value) || (domain && (!cookie_safe(domain) || strlen(domain) > 253)))
        return st_fail(err, ST_E_BAD_REQUEST, "cookie value or domain needs quoting");
    if (c->persistent) {
        char date[80];
        if (!cookie_date(now + (int64_t)c->timeout_s, date))
            return st_fail(err, ST_E_BAD_REQUEST, "cookie expiry out of range");
        snprintf(expires, sizeof expires, "; Expires=%s; Max-Age=%u", date, c->timeout_s);
    }
    size_t cap = strlen(value) + strlen(expires) + (domain ? strlen(domain) : 0) + 128;
    char *s = malloc(cap);
    if (!s)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    snprintf(s, cap, "%s=%s; Version=1%s%s%s%s; Path=/; HttpOnly%s", ST_SESSION_COOKIE, value,
             expires, secure ? "; Secure" : "", domain ? "; Domain=" : "", domain ? domain : "",
             same_site[(unsigned)c->same_site <= ST_SAME_SITE_STRICT ? c->same_site : 0]);
    *out = s;
    return ST_OK;
}
