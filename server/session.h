/* session.h — CouchDB's AuthSession cookie: make, decode, check, Set-Cookie.
 *
 * The value is base64url (no padding) of "<name>:<HEXTIME>:<mac>" where
 * HEXTIME is the Unix time in uppercase hex and mac the raw
 * HMAC(key = secret ++ user salt, msg = "<name>:<HEXTIME>").  The salt in the
 * key means a password change (new salt) kills the user's cookies.
 * [chttpd_auth] hash_algorithms lists the HMAC hashes: the first signs new
 * cookies, any of them verifies.
 *
 * Checking a request's cookie is two steps because the salt belongs to the
 * user named inside it: st_session_decode() (400 if undecodable), then the
 * caller looks the name up, then st_session_check() with that user's salt.
 * As in CouchDB, only an undecodable cookie is an error; an unknown user, a
 * forged MAC, an unreadable time or an expired cookie are all ignored (the
 * request runs anonymous) — the verdicts are distinct for logging and tests.
 * A cookie is valid while now < time + timeout, and earns a fresh cookie once
 * it is older than 10 % of the timeout (10 * age > timeout, whole seconds).
 *
 * Clock: every call takes `now` (Unix seconds) so tests can move time.
 * Ownership: strings returned through char ** are malloc'd (free()); a
 * decoded token owns its buffers until st_session_token_free().  The config
 * is borrowed for each call.  Thread-safety: pure functions, any thread.
 * Secrets: intermediate keys and MACs are wiped; nothing is logged.
 */
#ifndef ST_SERVER_SESSION_H
#define ST_SERVER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "st_error.h"

#define ST_SESSION_COOKIE "AuthSession"
#define ST_SESSION_MALFORMED "Malformed AuthSession cookie. Please clear your cookies."
#define ST_SESSION_DEFAULT_TIMEOUT 600u
#define ST_SESSION_MAX_VALUE 8192u /* cookie value characters; longer is malformed */
#define ST_SESSION_SECRET_HEX 64u  /* st_session_new_secret(): 32 random bytes as hex */

typedef enum {
    ST_SAME_SITE_UNSET = 0, /* no SameSite attribute */
    ST_SAME_SITE_NONE,
    ST_SAME_SITE_LAX,
    ST_SAME_SITE_STRICT
} st_same_site;

/* Prepared MAC keys (secret ++ salt, one per user's salt and algorithm), so
 * that checking a cookie costs two hash compressions instead of four to six.  A
 * bounded table (ST_SESSION_KEYS slots, direct-mapped by salt; a collision
 * replaces the slot).  Secrets: a prepared key is as sensitive as the secret
 * it is derived from, which is in memory anyway; no password or cookie is
 * kept, and slots are wiped when replaced or freed.  It must only serve the
 * one secret it was made for: st_auth makes one per configuration.
 * Threads: new/free once; lookups from any thread (one mutex, held for a
 * struct copy). */
#define ST_SESSION_KEYS 128u
typedef struct st_session_keys st_session_keys;
st_session_keys *st_session_keys_new(void); /* NULL when out of memory */
void st_session_keys_free(st_session_keys *k); /* NULL ok */

typedef struct st_session_config {
    const char *secret;             /* [chttpd_auth] secret, used as its bytes (borrowed) */
    size_t secret_len;
    st_digest algs[ST_DIGEST_COUNT]; /* hash_algorithms; algs[0] signs */
    size_t n_algs;
    unsigned timeout_s;             /* [chttpd_auth] timeout */
    bool persistent;                /* allow_persistent_cookies: Expires + Max-Age */
    const char *domain;             /* cookie_domain; NULL or "" = none (borrowed) */
    st_same_site same_site;         /* same_site */
    st_session_keys *keys;          /* prepared keys for this secret, or NULL:
                                       prepare per check (borrowed) */
} st_session_config;

/* CouchDB 3.5 defaults: no secret, sha256 then sha, 600 s, persistent. */
void st_session_config_init(st_session_config *c);
/* Parse "sha256, sha" into c->algs.  ST_E_BAD_REQUEST on an unknown name or an empty list. */
st_status st_session_set_algorithms(st_session_config *c, const char *list, st_error *err);
/* "none" / "lax" / "strict" (any case) or "" for unset; false otherwise. */
bool st_session_parse_same_site(const char *s, st_same_site *out);

/* A fresh secret: ST_SESSION_SECRET_HEX random hex characters into out (+ NUL). */
st_status st_session_new_secret(char out[ST_SESSION_SECRET_HEX + 1], st_error *err);

/* The cookie value for `name` (no ':' or NUL) signed with algs[0] at `now`. */
st_status st_session_make(const st_session_config *c, const char *name, const char *salt,
                          size_t salt_len, int64_t now, char **out_value, st_error *err);

typedef struct st_session_token {
    char *name;        /* NUL-terminated user name from the cookie */
    size_t name_len;
    unsigned char *raw; /* the decoded value: "<name>:<HEXTIME>:<mac>" */
    size_t raw_len;
    size_t msg_len;    /* raw[0..msg_len) is "<name>:<HEXTIME>", the signed text */
} st_session_token;

/* Decode a cookie value.  ST_E_BAD_REQUEST with ST_SESSION_MALFORMED when it is
 * not base64url or has fewer than three ':'-separated parts (CouchDB's 400);
 * ST_E_NOT_FOUND for an empty value or a name no user can have (ignore it).
 * On ST_OK free the token with st_session_token_free(). */
st_status st_session_decode(const char *value, size_t n, st_session_token *out, st_error *err);
void st_session_token_free(st_session_token *t); /* NULL ok; wipes */

typedef enum {
    ST_SESSION_VALID = 0,     /* authenticated */
    ST_SESSION_VALID_REFRESH, /* authenticated; send a new cookie */
    ST_SESSION_EXPIRED,       /* genuine but too old: ignore */
    ST_SESSION_FORGED,        /* MAC matches none of the algorithms: ignore */
    ST_SESSION_BAD_TIME       /* HEXTIME is not hex: ignore */
} st_session_verdict;

/* Check a decoded token against the user's salt (NULL/0 for none) at `now`.
 * Without a secret every cookie is FORGED (CouchDB ignores cookies then). */
st_session_verdict st_session_check(const st_session_config *c, const st_session_token *t,
                                    const char *salt, size_t salt_len, int64_t now);

/* The Set-Cookie header value (without "Set-Cookie: "):
 *   AuthSession=<value>; Version=1[; Expires=<date>; Max-Age=<timeout>][; Secure]
 *   [; Domain=<domain>]; Path=/; HttpOnly[; SameSite=<x>]
 * with Expires = now + timeout as "Wed, 02-Dec-2026 09:08:54 GMT".  value ""
 * makes CouchDB's clearing cookie (same attributes).  secure: the request came
 * over TLS.  ST_E_BAD_REQUEST if value or domain hold characters a cookie
 * cannot carry unquoted. */
st_status st_session_set_cookie(const st_session_config *c, const char *value, bool secure,
                                int64_t now, char **out, st_error *err);

#endif
