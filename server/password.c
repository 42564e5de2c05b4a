/* password.c — CouchDB's password hashes over libcrypto's PBKDF2 and SHA-1.
 *
 * Why compare hex text rather than bytes: CouchDB keeps derived_key and
 * password_sha as lowercase hex and compares the text it computes with the
 * text it stored; doing the same means a hash that works (or does not) on
 * CouchDB behaves identically here, with no decode step to get wrong.
 *
 * Why a work counter: "an unknown user costs the same as a real one" is a
 * property tests should check without timing anything; every PBKDF2 run adds
 * its iterations to one atomic counter.
 */
#include "password.h"

#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "st_jw.h"

#define MAX_HEX (2 * ST_DIGEST_MAX_SIZE + 1)

static atomic_uint_fast64_t iterations_done;

uint64_t st_pw_iterations_done(void)
{
    return (uint64_t)atomic_load(&iterations_done);
}

void st_pw_policy_init(st_pw_policy *p)
{
    p->prf = ST_DIGEST_SHA256;
    p->iterations = ST_PW_DEFAULT_ITERATIONS;
    p->min_iterations = 1;
    p->max_iterations = 1000000000u;
}

/* hex(PBKDF2(prf, pw, salt, iterations, size of prf)) into hex. */
static bool pbkdf2_hex(st_digest prf, const void *pw, size_t pw_len, const char *salt,
                       size_t salt_len, uint64_t iterations, char hex[MAX_HEX])
{
    unsigned char dk[ST_DIGEST_MAX_SIZE];
    size_t dk_len = st_digest_size(prf);
    static const char empty[1];
    if (iterations == 0 || iterations > INT_MAX || pw_len > INT_MAX || salt_len > INT_MAX)
        return false;
    atomic_fetch_add(&iterations_done, iterations);
    bool ok = PKCS5_PBKDF2_HMAC(pw_len ? pw : empty, (int)pw_len,
                                (const unsigned char *)(salt_len ? salt : empty), (int)salt_len,
                                (int)iterations, st_digest_md(prf), (int)dk_len, dk) == 1;
    if (ok)
        st_hex_encode(dk, dk_len, hex);
    OPENSSL_cleanse(dk, sizeof dk);
    return ok;
}

/* hex(sha1(pw ++ salt)): the "simple" scheme and "-hashed-" admins. */
static bool simple_hex(const void *pw, size_t pw_len, const char *salt, size_t salt_len,
                       char hex[MAX_HEX])
{
    unsigned char md[20];
    unsigned int len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 &&
              EVP_DigestUpdate(c, pw, pw_len) == 1 && EVP_DigestUpdate(c, salt, salt_len) == 1 &&
              EVP_DigestFinal_ex(c, md, &len) == 1 && len == sizeof md;
    EVP_MD_CTX_free(c);
    if (ok)
        st_hex_encode(md, sizeof md, hex);
    OPENSSL_cleanse(md, sizeof md);
    return ok;
}

/* ---- parsing ---------------------------------------------------------- */

static bool parse_count(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v == 0)
        return false;
    *out = v;
    return true;
}

/* Split s[0..n) at commas into exactly want parts (no empty ones). */
static bool split_commas(const char *s, size_t n, const char **part, size_t *len, unsigned want)
{
    unsigned k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ',')
            continue;
        if (k == want || i == start)
            return false;
        part[k] = s + start;
        len[k++] = i - start;
        start = i + 1;
    }
    return k == want;
}

static bool has_prefix(const char *s, size_t n, const char *prefix, size_t *plen)
{
    size_t p = strlen(prefix);
    *plen = p;
    return n >= p && memcmp(s, prefix, p) == 0;
}

st_status st_pw_parse_admin(const char *value, size_t n, st_pw_hash *out, st_error *err)
{
    const char *part[3];
    size_t len[3], p;
    memset(out, 0, sizeof *out);
    if (has_prefix(value, n, "-hashed-", &p)) {
        if (!split_commas(value + p, n - p, part, len, 2))
            return st_fail(err, ST_E_BAD_REQUEST, "malformed -hashed- password hash");
        out->scheme = ST_PW_SIMPLE;
        out->prf = ST_DIGEST_SHA1;
    } else {
        if (has_prefix(value, n, "-pbkdf2-", &p)) {
            out->prf = ST_DIGEST_SHA1;
        } else if (has_prefix(value, n, "-pbkdf2:", &p)) {
            const char *dash = memchr(value + p, '-', n - p);
            if (!dash || !st_digest_parse(value + p, (size_t)(dash - value - p), &out->prf))
                return st_fail(err, ST_E_BAD_REQUEST, "unknown PRF in a -pbkdf2: password hash");
            p = (size_t)(dash - value) + 1;
        } else {
            return st_fail(err, ST_E_NOT_FOUND, "not a password hash");
        }
        if (!split_commas(value + p, n - p, part, len, 3) ||
            !parse_count(part[2], len[2], &out->iterations))
            return st_fail(err, ST_E_BAD_REQUEST, "malformed -pbkdf2 password hash");
        out->scheme = ST_PW_PBKDF2;
    }
    out->key = part[0];
    out->key_len = len[0];
    out->salt = part[1];
    out->salt_len = len[1];
    return ST_OK;
}

static const st_json *get_typed(const st_json *doc, const char *key, st_json_type t)
{
    const st_json *v = st_json_get(doc, key);
    return v && v->type == t ? v : NULL;
}

st_status st_pw_from_user_doc(const st_json *doc, st_pw_hash *out, st_error *err)
{
    const st_json *key;
    memset(out, 0, sizeof *out);
    if (!doc || doc->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "user document is not an object");
    const st_json *scheme = get_typed(doc, "password_scheme", ST_JSON_STRING);
    const st_json *salt = get_typed(doc, "salt", ST_JSON_STRING);
    if (!scheme || strcmp(scheme->u.str, "simple") == 0) {
        out->scheme = ST_PW_SIMPLE;
        out->prf = ST_DIGEST_SHA1;
        key = get_typed(doc, "password_sha", ST_JSON_STRING);
    } else if (strcmp(scheme->u.str, "pbkdf2") == 0) {
        const st_json *prf = get_typed(doc, "pbkdf2_prf", ST_JSON_STRING);
        const st_json *it = st_json_get(doc, "iterations");
        out->scheme = ST_PW_PBKDF2;
        out->prf = ST_DIGEST_SHA1;
        if (prf && !st_digest_parse(prf->u.str, prf->len, &out->prf))
            return st_fail(err, ST_E_FORBIDDEN, "Unsupported pbkdf2_prf `%.64s`.", prf->u.str);
        out->iterations = ST_PW_DOC_ITERATIONS;
        if (it && (!st_json_uint64(it, &out->iterations) || out->iterations == 0))
            return st_fail(err, ST_E_FORBIDDEN, "iterations must be a number.");
        key = get_typed(doc, "derived_key", ST_JSON_STRING);
    } else {
        return st_fail(err, ST_E_FORBIDDEN, "Password scheme `%.64s` not supported.",
                       scheme->u.str);
    }
    if (!salt || !key)
        return st_fail(err, ST_E_NOT_FOUND, "user document has no password hash");
    out->salt = salt->u.str;
    out->salt_len = salt->len;
    out->key = key->u.str;
    out->key_len = key->len;
    return ST_OK;
}

/* ---- verification ----------------------------------------------------- */

st_status st_pw_verify(const st_pw_hash *h, const st_pw_policy *p, const void *pw, size_t pw_len,
                       bool *out_ok, st_error *err)
{
    char hex[MAX_HEX];
    bool computed;
    *out_ok = false;
    if (h->scheme == ST_PW_PBKDF2) {
        if (h->iterations < p->min_iterations)
            return st_fail(err, ST_E_FORBIDDEN, "Iteration count is too low for this server");
        if (h->iterations > p->max_iterations)
            return st_fail(err, ST_E_FORBIDDEN, "Iteration count is too high for this server");
    }
    if (pw_len > ST_PW_MAX_LEN)
        return ST_OK;
    if (h->scheme == ST_PW_PBKDF2)
        computed = pbkdf2_hex(h->prf, pw, pw_len, h->salt, h->salt_len, h->iterations, hex);
    else
        computed = simple_hex(pw, pw_len, h->salt, h->salt_len, hex);
    if (!computed)
        return st_fail(err, ST_E_NOMEM, "password hashing failed");
    *out_ok = st_ct_equal(hex, strlen(hex), h->key, h->key_len);
    OPENSSL_cleanse(hex, sizeof hex);
    return ST_OK;
}

void st_pw_verify_unknown(const st_pw_policy *p, const void *pw, size_t pw_len)
{
    /* A fixed salt and key of the real shapes: the work, not the answer, matters. */
    static const char salt[] = "00000000000000000000000000000000";
    char key[MAX_HEX];
    memset(key, '0', 2 * st_digest_size(p->prf));
    key[2 * st_digest_size(p->prf)] = '\0';
    st_pw_hash h = {ST_PW_PBKDF2, p->prf, key, strlen(key), salt, sizeof salt - 1,
                    p->iterations};
    bool ok = false;
    (void)st_pw_verify(&h, p, pw, pw_len, &ok, NULL);
}

bool st_pw_needs_upgrade(const st_pw_hash *h, const st_pw_policy *p)
{
    return h->scheme != ST_PW_PBKDF2 || h->prf != p->prf || h->iterations != p->iterations;
}

/* ---- creation --------------------------------------------------------- */

/* A fresh salt and the derived key for pw under p. */
static st_status derive_new(const st_pw_policy *p, const void *pw, size_t pw_len,
                            char salt[2 * ST_PW_SALT_BYTES + 1], char hex[MAX_HEX], st_error *err)
{
    if (pw_len > ST_PW_MAX_LEN)
        return st_fail(err, ST_E_BAD_REQUEST, "password is longer than %u bytes", ST_PW_MAX_LEN);
    if (p->iterations < p->min_iterations || p->iterations > p->max_iterations)
        return st_fail(err, ST_E_BAD_REQUEST, "configured iterations outside min/max");
    if (!st_random_hex(salt, ST_PW_SALT_BYTES))
        return st_fail(err, ST_E_IO, "no randomness for a password salt");
    if (!pbkdf2_hex(p->prf, pw, pw_len, salt, 2 * ST_PW_SALT_BYTES, p->iterations, hex))
        return st_fail(err, ST_E_NOMEM, "password hashing failed");
    return ST_OK;
}

st_status st_pw_hash_admin(const st_pw_policy *p, const void *pw, size_t pw_len, char **out,
                           st_error *err)
{
    char salt[2 * ST_PW_SALT_BYTES + 1], hex[MAX_HEX];
    *out = NULL;
    st_status rc = derive_new(p, pw, pw_len, salt, hex, err);
    if (rc != ST_OK)
        return rc;
    size_t cap = strlen(hex) + sizeof salt + 64;
    char *s = malloc(cap);
    if (!s) {
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    snprintf(s, cap, "-pbkdf2:%s-%s,%s,%" PRIu64, st_digest_name(p->prf), hex, salt,
             p->iterations);
    *out = s;
out:
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

static bool is_hash_field(const char *key)
{
    static const char *const fields[] = {"password",    "password_scheme", "pbkdf2_prf", "salt",
                                         "iterations",  "derived_key",     "password_sha"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strcmp(key, fields[i]) == 0)
            return true;
    }
    return false;
}

static void write_members(st_jw *w, const st_json *doc, bool underscored)
{
    for (size_t i = 0; i < doc->len; i++) {
        const st_json_member *m = &doc->u.members[i];
        if ((m->key[0] == '_') != underscored || is_hash_field(m->key))
            continue;
        st_jw_keyn(w, m->key, m->key_len);
        st_jw_value(w, &m->value);
    }
}

static st_status refuse_password_value(const st_json *pw, st_error *err)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_buf_init(&b, 128);
    if (st_jw_init(&w, &b) == ST_OK) {
        st_jw_value(&w, pw);
        st_jw_free(&w);
    }
    st_status rc = st_fail(err, ST_E_FORBIDDEN, "Password value of '%.100s' is invalid.",
                           b.data ? b.data : "?");
    st_buf_free(&b);
    return rc;
}

st_status st_pw_hash_user_doc(const st_pw_policy *p, const st_json *doc, st_buf *out,
                              bool *out_changed, st_error *err)
{
    char salt[2 * ST_PW_SALT_BYTES + 1], hex[MAX_HEX] = "";
    st_jw w;
    bool w_ready = false;
    *out_changed = false;
    if (!doc || doc->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "user document is not an object");
    const st_json *pw = st_json_get(doc, "password");
    if (!pw || pw->type == ST_JSON_NULL)
        return ST_OK;
    if (pw->type != ST_JSON_STRING)
        return refuse_password_value(pw, err);
    st_status rc = derive_new(p, pw->u.str, pw->len, salt, hex, err);
    if (rc != ST_OK)
        goto out;
    rc = st_jw_init(&w, out);
    if (rc != ST_OK) {
        st_fail(err, rc, "out of memory");
        goto out;
    }
    w_ready = true;
    st_jw_obj_open(&w);
    write_members(&w, doc, true);
    st_jw_key(&w, "password_scheme");
    st_jw_str(&w, "pbkdf2");
    st_jw_key(&w, "pbkdf2_prf");
    st_jw_str(&w, st_digest_name(p->prf));
    st_jw_key(&w, "salt");
    st_jw_str(&w, salt);
    st_jw_key(&w, "iterations");
    st_jw_uint(&w, p->iterations);
    st_jw_key(&w, "derived_key");
    st_jw_str(&w, hex);
    write_members(&w, doc, false);
    st_jw_obj_close(&w);
    rc = st_jw_status(&w);
    if (rc != ST_OK)
        st_fail(err, rc, "cannot write the user document");
    else
        *out_changed = true;
out:
    if (w_ready)
        st_jw_free(&w);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}
