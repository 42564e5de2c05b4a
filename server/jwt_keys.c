/* jwt_keys.c — CouchDB's [jwt_keys] section, parsed once into libcrypto keys.
 *
 * Why parse at configuration time: CouchDB decodes a key on first use and
 * reports a bad one to whichever client happened to send a token; here a bad
 * key is refused when it is configured, and verification only reads.
 */
#include "jwt_int.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include "st_base64.h"

#define MAX_KEY_TEXT 65536

struct st_jwt_keys {
    jwt_key *v;
    size_t n;
};

st_jwt_keys *st_jwt_keys_new(void)
{
    return calloc(1, sizeof(st_jwt_keys));
}

static void key_clear(jwt_key *k)
{
    free(k->kid);
    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof *k);
}

void st_jwt_keys_free(st_jwt_keys *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++)
        key_clear(&ks->v[i]);
    free(ks->v);
    free(ks);
}

const jwt_key *st_jwt_keys_find(const st_jwt_keys *ks, jwt_kty kty, const char *kid, size_t kid_len)
{
    for (size_t i = 0; i < ks->n; i++) {
        const jwt_key *k = &ks->v[i];
        if (k->kty == kty && strlen(k->kid) == kid_len && memcmp(k->kid, kid, kid_len) == 0)
            return k;
    }
    return NULL;
}

/* PEM text with literal "\n" sequences (how ini files carry it) → public key. */
static EVP_PKEY *read_pem(const char *value)
{
    size_t n = strlen(value);
    char *pem = n < MAX_KEY_TEXT ? malloc(n + 1) : NULL;
    EVP_PKEY *pkey = NULL;
    size_t o = 0;
    if (!pem)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (value[i] == '\\' && i + 1 < n && value[i + 1] == 'n') {
            pem[o++] = '\n';
            i++;
        } else {
            pem[o++] = value[i];
        }
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)o);
    if (bio)
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(pem);
    return pkey;
}

static bool ec_curve_ok(EVP_PKEY *pkey)
{
    int bits = EVP_PKEY_get_bits(pkey);
    return bits == 256 || bits == 384 || bits == 521;
}

static st_status parse_key(jwt_key *k, const char *value, st_error *err)
{
    if (k->kty == JWT_KTY_HMAC) {
        size_t n = strlen(value), len = 0;
        k->secret = malloc(ST_B64_DECODED_MAX(n) + 1);
        if (!k->secret)
            return st_fail(err, ST_E_NOMEM, "out of memory");
        k->secret_len = ST_B64_DECODED_MAX(n) + 1;
        if (n > MAX_KEY_TEXT ||
            !st_b64_decode(ST_B64_STD, value, n, k->secret, k->secret_len, &len) || len == 0)
            return st_fail(err, ST_E_BAD_REQUEST, "Not a valid key");
        k->secret_len = len;
        return ST_OK;
    }
    k->pkey = read_pem(value);
    if (!k->pkey)
        return st_fail(err, ST_E_BAD_REQUEST, "Not a valid key");
    if (k->kty == JWT_KTY_RSA && EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA)
        return st_fail(err, ST_E_BAD_REQUEST, "not an RSA public key");
    if (k->kty == JWT_KTY_EC && (EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_EC ||
                                 !ec_curve_ok(k->pkey)))
        return st_fail(err, ST_E_BAD_REQUEST, "not an EC public key");
    return ST_OK;
}

st_status st_jwt_keys_set(st_jwt_keys *ks, const char *name, const char *value, st_error *err)
{
    static const char *const prefixes[] = {"hmac:", "rsa:", "ec:"};
    jwt_key k;
    memset(&k, 0, sizeof k);
    size_t p = 0;
    unsigned t;
    for (t = 0; t < 3; t++) {
        p = strlen(prefixes[t]);
        if (strncmp(name, prefixes[t], p) == 0)
            break;
    }
    if (t == 3 || !name[p])
        return st_fail(err, ST_E_BAD_REQUEST, "[jwt_keys] name must be hmac:, rsa: or ec:<kid>");
    k.kty = (jwt_kty)t;
    k.kid = strdup(name + p);
    st_status rc = k.kid ? parse_key(&k, value, err) : st_fail(err, ST_E_NOMEM, "out of memory");
    if (rc != ST_OK)
        goto fail;
    for (size_t i = 0; i < ks->n; i++) {
        if (ks->v[i].kty == k.kty && strcmp(ks->v[i].kid, k.kid) == 0) {
            key_clear(&ks->v[i]);
            ks->v[i] = k;
            return ST_OK;
        }
    }
    if (ks->n >= ST_JWT_MAX_KEYS) {
        rc = st_fail(err, ST_E_TOO_LARGE, "too many [jwt_keys] entries");
        goto fail;
    }
    jwt_key *grown = realloc(ks->v, (ks->n + 1) * sizeof *grown);
    if (!grown) {
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto fail;
    }
    ks->v = grown;
    ks->v[ks->n++] = k;
    return ST_OK;
fail:
    key_clear(&k);
    return rc;
}
