/* auth.c — see auth.h.
 *
 * Why the password path looks the user up before the lockout and the cache:
 * the lockout counts per (address, name, salt) so a password reset unlocks,
 * and the cache is keyed by the credential's salt and revision, so a
 * changed password or role can never be answered from it.  An unknown name
 * pays the same PBKDF2 as a real one (st_pw_verify_unknown), so failures do
 * not tell which names exist.
 */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include "auth_cache.h"
#include "basic.h"
#include "jwt.h"
#include "lockout.h"
#include "log.h"
#include "session.h"

#define BAD_CREDS "Name or password is incorrect."
#define MAX_HANDLERS 8

typedef enum { H_COOKIE, H_DEFAULT, H_PROXY, H_JWT } handler;
static const char *const handler_names[] = {"cookie", "default", "proxy", "jwt"};

struct st_auth {
    st_server *srv;
    const st_config *cfg;           /* the configuration it was built from */
    st_users *users;
    st_pw_policy policy;
    char secret[ST_SESSION_SECRET_HEX + 1]; /* generated when not configured */
    st_session_config session;
    st_auth_cache *cache;
    st_lockout *lockout;
    st_jwt_keys *jwt_keys;
    st_jwt_required *jwt_required;
    st_jwt_config jwt;
    handler order[MAX_HANDLERS];
    size_t n_order;
};

/* "{chttpd_auth, cookie_authentication_handler}, {chttpd_auth,
 * default_authentication_handler}" (CouchDB's spelling) or "cookie, default". */
static st_status parse_handlers(st_auth *a, const char *s, st_error *err)
{
    a->n_order = 0;
    while (*s) {
        size_t skip = strspn(s, " \t,{}");
        s += skip;
        size_t len = strcspn(s, " \t,{}");
        if (!len)
            break;
        const char *w = s;
        s += len;
        if (len == 11 && strncmp(w, "chttpd_auth", 11) == 0)
            continue; /* the module name */
        size_t base = len;
        const char *suffix = "_authentication_handler";
        if (len > strlen(suffix) && strncmp(w + len - strlen(suffix), suffix, strlen(suffix)) == 0)
            base = len - strlen(suffix);
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strlen(handler_names[i]) == base && strncmp(w, handler_names[i], base) == 0)
                found = i;
        if (found < 0 || a->n_order == MAX_HANDLERS)
            return st_fail(err, ST_E_BAD_REQUEST,
                           "[chttpd] authentication_handlers: unknown handler '%.*s'",
                           (int)(len > 64 ? 64 : len), w);
        a->order[a->n_order++] = (handler)found;
    }
    if (a->n_order == 0)
        return st_fail(err, ST_E_BAD_REQUEST, "[chttpd] authentication_handlers is empty");
    return ST_OK;
}

static st_status setup_jwt(st_auth *a, const st_auth_settings *s, st_error *err)
{
    if (!(a->jwt_keys = st_jwt_keys_new()))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n_jwt_keys; i++) {
        st_error ke;
        if (st_jwt_keys_set(a->jwt_keys, s->jwt_keys[i].key, s->jwt_keys[i].value, &ke) != ST_OK)
            return st_fail(err, ST_E_BAD_REQUEST, "[jwt_keys] %s: %s", s->jwt_keys[i].key,
                           ke.reason);
    }
    st_status st = st_jwt_required_parse(s->jwt_required_claims, &a->jwt_required, err);
    if (st != ST_OK)
        return st;
    a->jwt.keys = a->jwt_keys;
    a->jwt.required = a->jwt_required;
    if (s->jwt_allowed_algorithms &&
        (st = st_jwt_parse_algorithms(s->jwt_allowed_algorithms, &a->jwt.allowed_algs, err)) !=
            ST_OK)
        return st;
    a->jwt.roles_claim_name = s->jwt_roles_claim_name;
    a->jwt.roles_claim_path = s->jwt_roles_claim_path;
    return ST_OK;
}

static st_status setup(st_auth *a, st_error *err)
{
    const st_config *c = a->cfg;
    const st_auth_settings *s = &c->auth;
    st_pw_policy_init(&a->policy);
    a->policy.iterations = s->iterations;
    a->policy.min_iterations = s->min_iterations;
    a->policy.max_iterations = s->max_iterations;
    if (s->pbkdf2_prf &&
        !st_digest_parse(s->pbkdf2_prf, strlen(s->pbkdf2_prf), &a->policy.prf))
        return st_fail(err, ST_E_BAD_REQUEST, "[chttpd_auth] pbkdf2_prf: unknown '%s'",
                       s->pbkdf2_prf);
    st_status st = parse_handlers(a, s->handlers, err);
    if (st != ST_OK)
        return st;
    st_session_config_init(&a->session);
    if (c->auth_secret) {
        a->session.secret = c->auth_secret;
        a->session.secret_len = strlen(c->auth_secret);
    } else {
        /* A reload keeps the random secret of this run, so that it does not
         * end every session; a new one only at start. */
        const st_auth *cur = a->srv->auth;
        if (cur && cur->secret[0])
            memcpy(a->secret, cur->secret, sizeof a->secret);
        else if ((st = st_session_new_secret(a->secret, err)) != ST_OK)
            return st;
        a->session.secret = a->secret;
        a->session.secret_len = strlen(a->secret);
    }
    if (s->hash_algorithms &&
        (st = st_session_set_algorithms(&a->session, s->hash_algorithms, err)) != ST_OK)
        return st;
    /* Prepared keys serve this secret only: a reload makes a new table. */
    if (!(a->session.keys = st_session_keys_new()))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    a->session.timeout_s = c->session_timeout_s;
    a->session.persistent = s->allow_persistent_cookies;
    a->session.domain = s->cookie_domain;
    if (s->same_site && !st_session_parse_same_site(s->same_site, &a->session.same_site))
        return st_fail(err, ST_E_BAD_REQUEST, "[chttpd_auth] same_site: '%s'", s->same_site);
    st_lockout_config lc;
    st_lockout_config_init(&lc);
    if (s->lockout_mode && !st_lockout_parse_mode(s->lockout_mode, &lc.mode))
        return st_fail(err, ST_E_BAD_REQUEST, "[chttpd_auth_lockout] mode: '%s'",
                       s->lockout_mode);
    lc.threshold = s->lockout_threshold;
    lc.lift_s = s->lockout_lift_s;
    lc.max_entries = s->lockout_max;
    if (!(a->lockout = st_lockout_new(&lc)) ||
        !(a->cache = st_auth_cache_new(s->cache_max, s->cache_ttl_s)))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if ((st = setup_jwt(a, s, err)) != ST_OK)
        return st;
    return st_users_new(a->srv->cat, c, &a->policy, &a->users, err);
}

st_status st_auth_new(st_server *srv, const st_config *cfg, st_auth **out, st_error *err)
{
    *out = NULL;
    st_auth *a = calloc(1, sizeof *a);
    if (!a)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    a->srv = srv;
    a->cfg = cfg;
    st_status st = setup(a, err);
    if (st != ST_OK) {
        st_auth_free(a);
        return st;
    }
    *out = a;
    return ST_OK;
}

void st_auth_free(st_auth *a)
{
    if (!a)
        return;
    st_users_free(a->users);
    st_auth_cache_free(a->cache);
    st_lockout_free(a->lockout);
    st_jwt_keys_free(a->jwt_keys);
    st_jwt_required_free(a->jwt_required);
    st_session_keys_free(a->session.keys);
    OPENSSL_cleanse(a->secret, sizeof a->secret);
    free(a);
}

st_users *st_auth_users(st_auth *a)
{
    return a->users;
}

const st_pw_policy *st_auth_policy(const st_auth *a)
{
    return &a->policy;
}

size_t st_auth_handler_names(const st_auth *a, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_order && n < cap; i++)
        out[n++] = handler_names[a->order[i]];
    return n;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* who borrows p's name and roles and takes the caller's reference to p
 * (no copy: this runs on every authenticated request). */
static void identity_take(const st_principal *p, st_identity *who)
{
    memset(who, 0, sizeof *who);
    who->name = p->name;
    who->roles = p->roles;
    who->owner = p;
}

st_status st_auth_password(st_auth *a, const char *peer, const char *name, const void *pw,
                           size_t pw_len, st_identity *who, st_error *err)
{
    memset(who, 0, sizeof *who);
    const st_principal *p = NULL;
    st_error le;
    st_status found = st_users_get(a->users, name, &p, &le);
    if (found != ST_OK && found != ST_E_NOT_FOUND)
        return st_fail(err, found, "%s", le.reason);
    bool known = found == ST_OK && p->has_hash;
    const char *salt = found == ST_OK ? p->salt : NULL;
    int64_t now = now_s();
    st_lockout_verdict v = st_lockout_check(a->lockout, peer, name, salt, now);
    if (v == ST_LOCKOUT_LOCKED) {
        st_principal_release(p);
        return st_fail(err, ST_E_FORBIDDEN, ST_LOCKOUT_REASON);
    }
    if (v == ST_LOCKOUT_WARNED)
        st_log(ST_LOG_WARN, "authentication failures for a user from %s reached the lockout "
                            "threshold (warn mode)", peer);
    bool ok = false;
    st_status st = ST_OK;
    if (known) {
        /* The roles are the lookup's (current); the cache only vouches for the password. */
        if (st_auth_cache_get(a->cache, name, pw, pw_len, p->salt, p->rev, now, NULL) == ST_OK) {
            ok = true;
        } else if ((st = st_pw_verify(&p->hash, &a->policy, pw, pw_len, &ok, err)) == ST_OK &&
                   ok) {
            (void)st_auth_cache_put(a->cache, name, pw, pw_len, p->salt, p->rev, &p->roles, now);
        }
    } else {
        st_pw_verify_unknown(&a->policy, pw, pw_len);
    }
    if (!ok)
        st_lockout_failed(a->lockout, peer, name, salt, now); /* salt is p's: p still held */
    if (st == ST_OK && ok) {
        identity_take(p, who);
        p = NULL;
    } else if (st == ST_OK) {
        st = st_fail(err, ST_E_UNAUTHORIZED, BAD_CREDS);
    }
    st_principal_release(p);
    return st;
}

st_status st_auth_cookie(st_auth *a, const char *name, bool secure, char **out, st_error *err)
{
    *out = NULL;
    char *value = NULL;
    if (name) {
        const st_principal *p = NULL;
        st_status st = st_users_get(a->users, name, &p, err);
        if (st == ST_E_NOT_FOUND)
            st = st_fail(err, ST_E_UNAUTHORIZED, BAD_CREDS);
        if (st == ST_OK)
            st = st_session_make(&a->session, name, p->salt, strlen(p->salt), now_s(), &value,
                                 err);
        st_principal_release(p);
        if (st != ST_OK)
            return st;
    }
    st_status st = st_session_set_cookie(&a->session, value ? value : "", secure, now_s(), out, err);
    free(value);
    return st;
}

st_status st_auth_refresh(st_auth *a, st_identity *who, st_error *err)
{
    if (!who->name || !who->how || strcmp(who->how, "proxy") == 0 || strcmp(who->how, "jwt") == 0)
        return ST_OK;
    const st_principal *p = NULL;
    st_status st = st_users_get(a->users, who->name, &p, err);
    if (st != ST_OK)
        return st;
    const char *how = who->how;
    st_identity_clear(who); /* the current principal in place of the old */
    identity_take(p, who);
    who->how = how;
    return ST_OK;
}

/* ---- the handlers: each answers NONE (not mine, try the next), USER, or
 * an error in r (which ends the chain). */

typedef enum { R_NONE, R_USER, R_ERROR } verdict;

static verdict by_cookie(st_auth *a, st_req *r)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, ST_SESSION_COOKIE);
    if (!v || !*v)
        return R_NONE;
    st_session_token t;
    st_status st = st_session_decode(v, strlen(v), &t, &r->auth_err);
    if (st == ST_E_NOT_FOUND) {
        st_error_clear(&r->auth_err);
        return R_NONE;
    }
    if (st != ST_OK)
        return R_ERROR;
    const st_principal *p = NULL;
    verdict out = R_NONE;
    if (st_users_get(a->users, t.name, &p, NULL) == ST_OK) {
        int64_t now = now_s();
        st_session_verdict sv = st_session_check(&a->session, &t, p->salt, strlen(p->salt), now);
        if (sv == ST_SESSION_VALID || sv == ST_SESSION_VALID_REFRESH) {
            identity_take(p, &r->who);
            p = NULL;
            out = R_USER;
            if (sv == ST_SESSION_VALID_REFRESH &&
                st_auth_cookie(a, r->who.name, r->tls, &r->set_cookie, NULL) != ST_OK)
                r->set_cookie = NULL;
        }
        st_principal_release(p);
    }
    st_session_token_free(&t);
    return out;
}

static verdict by_basic(st_auth *a, st_req *r)
{
    const char *h = st_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h)
        return R_NONE;
    st_basic_creds creds;
    if (st_basic_decode(h, strlen(h), &creds, &r->auth_err) != ST_OK) {
        if (r->auth_err.code == ST_E_UNAUTHORIZED) {
            r->auth_fail = r->auth_err;
            st_error_clear(&r->auth_err);
        }
        return R_ERROR;
    }
    verdict out = R_NONE;
    if (creds.kind == ST_BASIC_CREDS) {
        out = st_auth_password(a, r->peer, creds.name, creds.password, creds.password_len,
                               &r->who, &r->auth_fail) == ST_OK
                  ? R_USER
                  : R_ERROR;
        if (r->auth_fail.code == ST_E_NOMEM || r->auth_fail.code == ST_E_IO) {
            r->auth_err = r->auth_fail; /* a server failure is answered everywhere */
            st_error_clear(&r->auth_fail);
        }
    }
    st_basic_creds_wipe(&creds);
    return out;
}

/* Roles "a, b,c" → list. */
static void split_roles(st_roles *roles, const char *s)
{
    while (s && *s) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, ",");
        size_t t = n;
        while (t && (s[t - 1] == ' ' || s[t - 1] == '\t'))
            t--;
        if (t && st_roles_add(roles, s, t) != ST_OK)
            return;
        s += n;
    }
}

static bool proxy_token_ok(st_auth *a, const char *name, const char *token)
{
    if (!token || !a->cfg->auth_secret)
        return false;
    const char *secret = a->cfg->auth_secret;
    for (size_t i = 0; i < a->session.n_algs; i++) {
        unsigned char mac[ST_DIGEST_MAX_SIZE];
        char hex[2 * ST_DIGEST_MAX_SIZE + 1];
        st_digest d = a->session.algs[i];
        if (!st_hmac(d, secret, strlen(secret), name, strlen(name), mac))
            continue;
        st_hex_encode(mac, st_digest_size(d), hex);
        bool ok = st_ct_equal(hex, strlen(hex), token, strlen(token));
        OPENSSL_cleanse(mac, sizeof mac);
        if (ok)
            return true;
    }
    return false;
}

static verdict by_proxy(st_auth *a, st_req *r)
{
    const st_auth_settings *s = &a->cfg->auth;
    const char *name = st_req_header(r, s->x_auth_username);
    if (!name || !*name)
        return R_NONE;
    if (s->proxy_use_secret && !proxy_token_ok(a, name, st_req_header(r, s->x_auth_token)))
        return R_NONE;
    if (!(r->who.name = strdup(name)))
        return R_NONE;
    split_roles(&r->who.roles, st_req_header(r, s->x_auth_roles));
    return R_USER;
}

static verdict by_jwt(st_auth *a, st_req *r)
{
    const char *h = st_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return R_NONE;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    st_jwt_identity id;
    st_error e;
    if (st_jwt_verify(&a->jwt, tok, strlen(tok), now_s(), &id, &e) != ST_OK) {
        if (e.code == ST_E_UNAUTHORIZED)
            r->auth_fail = e;
        else
            r->auth_err = e;
        return R_ERROR;
    }
    r->who.name = id.name;
    r->who.roles = id.roles;
    return R_USER;
}

void st_auth_identify(st_req *r)
{
    st_auth *a = r->srv->auth;
    st_identity_clear(&r->who);
    for (size_t i = 0; i < a->n_order; i++) {
        handler h = a->order[i];
        verdict v = h == H_COOKIE    ? by_cookie(a, r)
                    : h == H_DEFAULT ? by_basic(a, r)
                    : h == H_PROXY   ? by_proxy(a, r)
                                     : by_jwt(a, r);
        if (v == R_USER)
            r->who.how = handler_names[h];
        if (v != R_NONE)
            break;
    }
    if (!r->who.how)
        st_identity_clear(&r->who);
    r->user = st_identity_ctx(&r->who);
}
