/* test_auth_jwt.c — jwt.h: known-answer tokens signed by the openssl command
 * line, round trips for all nine algorithms with keys made at test time, and
 * every refusal with CouchDB's reason text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "st_base64.h"
#include "digest.h"
#include "jwt.h"

#define NOW 1700000000

/* Generated once with the openssl command line (genpkey, dgst -sign, dgst -hmac):
 * public test keys and tokens signed with their private halves, which were
 * then thrown away.  Claims: {"sub":"jan","exp":4102444800,"_couchdb.roles":["writer"]}. */
static const char KAT_RSA_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1XM+q/S8ZBy8Pp1zDTKv\n"
    "TYguwUr9b9fy2FEVMQ5YYxiJBaCQKOogFZbLrgsTwHkiZlDu5YqZxHWVdwBc+fKJ\n"
    "aEbaas2dGYCxM/XFTKepJ4SCfVqnNwDPPAA6ZTbqsq9RCDCIItbTi7buc4Qb4NQl\n"
    "MLnZct/EQE3LYhT9a+skWRKxFidn3ccazO7nZ2HmNedJ0hp1eL2CR2a0RW9Qs4J2\n"
    "bpsS73GjH0vzjps2TH6LTl7i8ZFjH2doX9+P33lS89yYi3GriIAx9UfIbI+LSQ11\n"
    "44GWOlqkKWkAdhLRDi+UaDO7ASI9WLNIu4TfHxaoB+ECRw895CR2yG/4xYVRPl3I\n"
    "EQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
static const char KAT_EC_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENjH6ZltVQXaQ82e7lCAQiVIvCmhl\n"
    "e+kpr0uWYq8iizkChAueE/gOEYbxLYWgTuJcGiAI/QxtS00zAp1YnCCbdQ==\n"
    "-----END PUBLIC KEY-----\n";
static const char KAT_RS256[] =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImthdCJ9.eyJzdWIiOiJqYW4iLCJleHAiOjQxMDI0NDQ4M"
    "DAsIl9jb3VjaGRiLnJvbGVzIjpbIndyaXRlciJdfQ.0ZpbK-3UfhpVAAF1uGG8D0AsGxbnPftpaZQ6yhVRWQqcLzcb"
    "rhnUM1AD-6gBXG-WQkRwtvA6aYJqgFkECIPOoX1DKZOBw8i2My2hj4qAVbNYU5bQQyh6rPHqZg48QJr42uXHSpzmuQ"
    "cxPaxpQKvslqc0qWsn5hd7Y5hLUTKRM1ANQHJJ5p6XEaahQwmrUcdGQwNOv1XYJmmUFedLXsYVq1GhA3DXv2ixbRsC"
    "8TQDgJ9XG0GBfGjaA6OUl6tK6tTFrloKWundwlRqyAhUuV2Omx3gFrd2Qk9O1ONTESvO0rmdEi90jRyaUXCzoxLjsM"
    "gKqh_7yPxJGN142ztaFPd3-g";
static const char KAT_ES256[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImthdCJ9.eyJzdWIiOiJqYW4iLCJleHAiOjQxMDI0NDQ4M"
    "DAsIl9jb3VjaGRiLnJvbGVzIjpbIndyaXRlciJdfQ.GoGE5IHu6nFT5UoC7nfC0yAgg0BarNwIkI2zWfA4h1ls_tDH"
    "67cXvMREoL7qpYgh4CCHsfZ7DookLq7fH5X1pA";
static const char KAT_HS256[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJqYW4iLCJleHAiOjQxMDI0NDQ4MDAsIl9jb3VjaGRiL"
    "nJvbGVzIjpbIndyaXRlciJdfQ.E7SXF5uC1yLS5ay97Mv2F7FYKBcGTA48Pd9In3D3Z0k";

/* ---- helpers: a tiny signer on libcrypto, independent of jwt.c ---- */

static char *b64url(const void *p, size_t n)
{
    char *s = malloc(ST_B64_ENCODED_SIZE(n));
    st_b64_encode(ST_B64_URL, p, n, s, ST_B64_ENCODED_SIZE(n));
    return s;
}

static EVP_PKEY *keygen(const char *alg)
{
    if (alg[0] == 'R')
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    const char *curve = strcmp(alg, "ES256") == 0 ? "P-256"
                        : strcmp(alg, "ES384") == 0 ? "P-384" : "P-521";
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

/* PEM of the public key with newlines written as "\n", as in an ini file. */
static char *pub_pem_ini(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = malloc(2 * (size_t)n + 1);
    size_t o = 0;
    for (long i = 0; i < n; i++) {
        if (data[i] == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = data[i];
        }
    }
    out[o] = '\0';
    BIO_free(b);
    return out;
}

static const EVP_MD *md_of(const char *alg)
{
    return strstr(alg, "256") ? EVP_sha256() : strstr(alg, "384") ? EVP_sha384() : EVP_sha512();
}

/* Sign header.claims with alg; HMAC with secret, else with k. */
static char *sign(const char *alg, const char *header_json, const char *claims_json,
                  EVP_PKEY *k, const char *secret)
{
    char *h = b64url(header_json, strlen(header_json));
    char *c = b64url(claims_json, strlen(claims_json));
    size_t msg_len = strlen(h) + 1 + strlen(c);
    char *msg = malloc(msg_len + 1);
    snprintf(msg, msg_len + 1, "%s.%s", h, c);
    unsigned char sig[1024];
    size_t sig_len = sizeof sig;
    if (alg[0] == 'H') {
        unsigned int len = 0;
        HMAC(md_of(alg), secret, (int)strlen(secret), (unsigned char *)msg, msg_len, sig, &len);
        sig_len = len;
    } else {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(ctx, NULL, md_of(alg), NULL, k), 1);
        assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)msg, msg_len), 1);
        EVP_MD_CTX_free(ctx);
        if (alg[0] == 'E') { /* DER → JWS r||s */
            const unsigned char *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
            int coord = (EVP_PKEY_get_bits(k) + 7) / 8;
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, coord);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + coord, coord);
            sig_len = 2 * (size_t)coord;
            ECDSA_SIG_free(es);
        }
    }
    char *s = b64url(sig, sig_len);
    char *tok = malloc(msg_len + 2 + strlen(s));
    sprintf(tok, "%s.%s", msg, s);
    free(h);
    free(c);
    free(msg);
    free(s);
    return tok;
}

typedef struct {
    st_jwt_keys *keys;
    st_jwt_required *req;
    st_jwt_config cfg;
} fixture;

static fixture *fx_new(const char *required_claims)
{
    fixture *f = calloc(1, sizeof *f);
    f->keys = st_jwt_keys_new();
    assert_int_equal(st_jwt_keys_set(f->keys, "hmac:_default", "aGVsbG8=", NULL), ST_OK);
    assert_int_equal(st_jwt_required_parse(required_claims, &f->req, NULL), ST_OK);
    f->cfg.keys = f->keys;
    f->cfg.required = f->req;
    return f;
}

static void fx_free(fixture *f)
{
    st_jwt_keys_free(f->keys);
    st_jwt_required_free(f->req);
    free(f);
}

/* Expect a refusal with status rc and reason; returns nothing on success. */
static void refused(const st_jwt_config *c, const char *tok, int64_t now, st_status rc,
                    const char *reason)
{
    st_jwt_identity id;
    st_error e;
    st_status got = st_jwt_verify(c, tok, strlen(tok), now, &id, &e);
    if (got != rc || strcmp(e.reason, reason) != 0)
        print_error("token %.60s: got %d '%s', want %d '%s'\n", tok, got, e.reason, rc, reason);
    assert_int_equal(got, rc);
    assert_string_equal(e.reason, reason);
}

static void accepted(const st_jwt_config *c, const char *tok, int64_t now, const char *name)
{
    st_jwt_identity id;
    st_error e;
    st_status got = st_jwt_verify(c, tok, strlen(tok), now, &id, &e);
    if (got != ST_OK)
        print_error("token %.60s refused: %s\n", tok, e.reason);
    assert_int_equal(got, ST_OK);
    assert_string_equal(id.name, name);
    st_jwt_identity_free(&id);
}

static char *hs(const char *header, const char *claims)
{
    return sign("HS256", header, claims, NULL, "hello");
}

/* ---- tests ---- */

static void test_known_answers(void **state)
{
    (void)state;
    fixture *f = fx_new("");
    assert_int_equal(st_jwt_keys_set(f->keys, "rsa:kat", KAT_RSA_PUB, NULL), ST_OK);
    assert_int_equal(st_jwt_keys_set(f->keys, "ec:kat", KAT_EC_PUB, NULL), ST_OK);
    const char *toks[] = {KAT_RS256, KAT_ES256, KAT_HS256};
    for (size_t i = 0; i < 3; i++) {
        st_jwt_identity id;
        assert_int_equal(st_jwt_verify(&f->cfg, toks[i], strlen(toks[i]), NOW, &id, NULL), ST_OK);
        assert_string_equal(id.name, "jan");
        assert_int_equal(id.roles.n, 1);
        assert_string_equal(id.roles.v[0], "writer");
        st_jwt_identity_free(&id);
    }
    /* One flipped signature character each. */
    for (size_t i = 0; i < 3; i++) {
        char *t = strdup(toks[i]);
        size_t n = strlen(t);
        t[n - 3] = t[n - 3] == 'A' ? 'B' : 'A';
        refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, i == 2 ? "Bad HMAC" : "Bad signature");
        free(t);
    }
    /* After 2100-01-01 they expire. */
    refused(&f->cfg, KAT_HS256, 4102444800, ST_E_UNAUTHORIZED, "exp not in future");
    fx_free(f);
}

static void test_all_algorithms(void **state)
{
    (void)state;
    const char *names[] = {"HS256", "HS384", "HS512", "RS256", "RS384",
                           "RS512", "ES256", "ES384", "ES512"};
    fixture *f = fx_new("exp");
    for (size_t i = 0; i < 9; i++) {
        const char *alg = names[i];
        EVP_PKEY *k = alg[0] == 'H' ? NULL : keygen(alg);
        char kname[32], header[96];
        snprintf(kname, sizeof kname, "%s:k%zu", alg[0] == 'H' ? "hmac" : alg[0] == 'R' ? "rsa" : "ec", i);
        char *pem = k ? pub_pem_ini(k) : NULL;
        assert_int_equal(st_jwt_keys_set(f->keys, kname, k ? pem : "aGVsbG8=", NULL), ST_OK);
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"k%zu\"}", alg, i);
        char *tok = sign(alg, header, "{\"sub\":\"u\",\"exp\":1700000100}", k, "hello");
        accepted(&f->cfg, tok, NOW, "u");
        /* Only this algorithm allowed; then everything but it. */
        unsigned bit = 1u << i;
        f->cfg.allowed_algs = bit;
        accepted(&f->cfg, tok, NOW, "u");
        f->cfg.allowed_algs = ST_JWT_ALL & ~bit;
        refused(&f->cfg, tok, NOW, ST_E_BAD_REQUEST, "Invalid alg header parameter");
        f->cfg.allowed_algs = 0;
        free(tok);
        free(pem);
        EVP_PKEY_free(k);
    }
    fx_free(f);
}

static void test_key_selection(void **state)
{
    (void)state;
    fixture *f = fx_new("");
    EVP_PKEY *k = keygen("RS256");
    char *pem = pub_pem_ini(k);
    assert_int_equal(st_jwt_keys_set(f->keys, "rsa:r1", pem, NULL), ST_OK);
    assert_int_equal(st_jwt_keys_set(f->keys, "hmac:h1", "c2Vjb25k", NULL), ST_OK); /* "second" */
    const char *claims = "{\"sub\":\"u\"}";
    /* kid selects; no kid → _default. */
    char *t = sign("HS256", "{\"alg\":\"HS256\",\"kid\":\"h1\"}", claims, NULL, "second");
    accepted(&f->cfg, t, NOW, "u");
    free(t);
    t = sign("HS256", "{\"alg\":\"HS256\"}", claims, NULL, "second");
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Bad HMAC"); /* _default is "hello" */
    free(t);
    t = sign("HS256", "{\"alg\":\"HS256\",\"kid\":\"nope\"}", claims, NULL, "hello");
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Unknown kid");
    free(t);
    /* alg confusion: HS256 with the RSA key's kid (and its PEM as the secret). */
    t = sign("HS256", "{\"alg\":\"HS256\",\"kid\":\"r1\"}", claims, NULL, pem);
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Unknown kid");
    free(t);
    /* RS256 signed by another key under the right kid. */
    EVP_PKEY *other = keygen("RS256");
    t = sign("RS256", "{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims, other, NULL);
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Bad signature");
    free(t);
    /* An ES384 signature against a P-256 key. */
    EVP_PKEY *e256 = keygen("ES256"), *e384 = keygen("ES384");
    char *epem = pub_pem_ini(e256);
    assert_int_equal(st_jwt_keys_set(f->keys, "ec:e", epem, NULL), ST_OK);
    t = sign("ES384", "{\"alg\":\"ES384\",\"kid\":\"e\"}", claims, e384, NULL);
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Bad signature");
    free(t);
    /* kid required */
    st_jwt_required_free(f->req);
    assert_int_equal(st_jwt_required_parse("kid", &f->req, NULL), ST_OK);
    f->cfg.required = f->req;
    t = hs("{\"alg\":\"HS256\"}", claims);
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Missing kid claim");
    free(t);
    free(epem);
    free(pem);
    EVP_PKEY_free(e256);
    EVP_PKEY_free(e384);
    EVP_PKEY_free(other);
    EVP_PKEY_free(k);
    fx_free(f);
}

static void test_header_refusals(void **state)
{
    (void)state;
    fixture *f = fx_new("");
    const char *claims = "{\"sub\":\"u\"}";
    struct {
        const char *header;
        const char *reason;
    } cases[] = {
        {"{\"alg\":\"none\"}", "Invalid alg header parameter"},
        {"{\"alg\":\"HS257\"}", "Invalid alg header parameter"},
        {"{\"alg\":\"hs256\"}", "Invalid alg header parameter"},
        {"{\"alg\":256}", "Invalid alg header parameter"},
        {"{\"typ\":\"JWT\"}", "Missing alg header parameter"},
        {"{\"alg\":\"HS256\",\"typ\":\"JWS\"}", "Invalid typ header parameter"},
        {"[\"alg\"]", "Not an object"},
        {"{\"alg\":", "Malformed token"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = hs(cases[i].header, claims);
        refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, cases[i].reason);
        free(t);
    }
    /* alg none with an empty signature, the classic. */
    char *h = b64url("{\"alg\":\"none\"}", 14), *c = b64url(claims, strlen(claims));
    char tok[256];
    snprintf(tok, sizeof tok, "%s.%s.", h, c);
    refused(&f->cfg, tok, NOW, ST_E_BAD_REQUEST, "Invalid alg header parameter");
    free(h);
    free(c);
    st_jwt_required_free(f->req);
    assert_int_equal(st_jwt_required_parse("typ", &f->req, NULL), ST_OK);
    f->cfg.required = f->req;
    char *t = hs("{\"alg\":\"HS256\"}", claims);
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Missing typ header parameter");
    free(t);
    t = hs("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims);
    accepted(&f->cfg, t, NOW, "u");
    free(t);
    fx_free(f);
}

static void test_structure_refusals(void **state)
{
    (void)state;
    fixture *f = fx_new("");
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "....", "!!.e30.x", "eyJhbGciOiJIUzI1NiJ9.!!.x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(&f->cfg, bad[i], NOW, ST_E_BAD_REQUEST, "Malformed token");
    char *t = hs("{\"alg\":\"HS256\"}", "{\"sub\":\"u\"}");
    char *dot = strrchr(t, '.');
    dot[1] = '!';
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Bad HMAC");
    free(t);
    t = hs("{\"alg\":\"HS256\"}", "[1]");
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Not an object");
    free(t);
    /* A repeated claim means its last value, as CouchDB's JSON decoder reads it. */
    t = hs("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"sub\":\"b\"}");
    accepted(&f->cfg, t, NOW, "b");
    free(t);
    /* Oversized token, and JSON nested past the depth bound. */
    size_t n = ST_JWT_MAX_TOKEN + 1;
    char *big = malloc(n + 1);
    memset(big, 'A', n);
    big[10] = big[20] = '.';
    big[n] = '\0';
    refused(&f->cfg, big, NOW, ST_E_BAD_REQUEST, "Token too large");
    free(big);
    char deep[128] = "{\"sub\":\"u\",\"x\":";
    for (int i = 0; i < 20; i++)
        strcat(deep, "[");
    for (int i = 0; i < 20; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    t = hs("{\"alg\":\"HS256\"}", deep);
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Malformed token");
    free(t);
    fx_free(f);
}

static void test_time_claims(void **state)
{
    (void)state;
    fixture *f = fx_new("");
    char *t = hs("{\"alg\":\"HS256\"}", "{\"sub\":\"u\",\"exp\":1700000000}");
    refused(&f->cfg, t, NOW, ST_E_UNAUTHORIZED, "exp not in future"); /* exp == now */
    accepted(&f->cfg, t, NOW - 1, "u");
    f->cfg.leeway_s = 30;
    accepted(&f->cfg, t, NOW + 29, "u");
    refused(&f->cfg, t, NOW + 30, ST_E_UNAUTHORIZED, "exp not in future");
    f->cfg.leeway_s = 0;
    free(t);
    t = hs("{\"alg\":\"HS256\"}", "{\"sub\":\"u\",\"nbf\":1700000000}");
    refused(&f->cfg, t, NOW, ST_E_UNAUTHORIZED, "nbf not in past"); /* nbf == now */
    accepted(&f->cfg, t, NOW + 1, "u");
    f->cfg.leeway_s = 5;
    accepted(&f->cfg, t, NOW - 4, "u");
    refused(&f->cfg, t, NOW - 5, ST_E_UNAUTHORIZED, "nbf not in past");
    f->cfg.leeway_s = 0;
    free(t);
    t = hs("{\"alg\":\"HS256\"}", "{\"sub\":\"u\",\"exp\":\"2100\"}");
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Invalid exp claim");
    free(t);
    t = hs("{\"alg\":\"HS256\"}", "{\"sub\":\"u\",\"exp\":1700000000.5}");
    accepted(&f->cfg, t, NOW, "u");
    free(t);
    t = hs("{\"alg\":\"HS256\"}", "{\"sub\":\"u\",\"iat\":1.5}");
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Invalid iat claim");
    free(t);
    /* Times are checked before the signature, as in jwtf. */
    t = sign("HS256", "{\"alg\":\"HS256\"}", "{\"sub\":\"u\",\"exp\":1}", NULL, "wrong");
    refused(&f->cfg, t, NOW, ST_E_UNAUTHORIZED, "exp not in future");
    free(t);
    fx_free(f);
}

static void test_required_claims(void **state)
{
    (void)state;
    fixture *f = fx_new("exp, iat, nbf, {iss, \"https://idp\"}, {aud, \"couch\"}, email");
    const char *h = "{\"alg\":\"HS256\"}";
    struct {
        const char *claims;
        st_status rc;
        const char *reason;
    } cases[] = {
        {"{\"sub\":\"u\",\"iat\":1,\"nbf\":1,\"iss\":\"https://idp\",\"aud\":\"couch\",\"email\":1}",
         ST_E_BAD_REQUEST, "Missing exp claim"},
        {"{\"sub\":\"u\",\"exp\":1800000000,\"nbf\":1,\"iss\":\"https://idp\",\"aud\":\"couch\","
         "\"email\":1}",
         ST_E_BAD_REQUEST, "Missing iat claim"},
        {"{\"sub\":\"u\",\"exp\":1800000000,\"iat\":1,\"iss\":\"https://idp\",\"aud\":\"couch\","
         "\"email\":1}",
         ST_E_BAD_REQUEST, "Missing nbf claim"},
        {"{\"sub\":\"u\",\"exp\":1800000000,\"iat\":1,\"nbf\":1,\"aud\":\"couch\",\"email\":1}",
         ST_E_BAD_REQUEST, "Missing iss claim"},
        {"{\"sub\":\"u\",\"exp\":1800000000,\"iat\":1,\"nbf\":1,\"iss\":\"https://evil\","
         "\"aud\":\"couch\",\"email\":1}",
         ST_E_BAD_REQUEST, "Invalid iss claim"},
        {"{\"sub\":\"u\",\"exp\":1800000000,\"iat\":1,\"nbf\":1,\"iss\":\"https://idp\","
         "\"aud\":\"other\",\"email\":1}",
         ST_E_BAD_REQUEST, "Invalid aud claim"},
        {"{\"sub\":\"u\",\"exp\":1800000000,\"iat\":1,\"nbf\":1,\"iss\":\"https://idp\","
         "\"aud\":\"couch\"}",
         ST_E_BAD_REQUEST, "Missing email claim"},
        {"{\"exp\":1800000000,\"iat\":1,\"nbf\":1,\"iss\":\"https://idp\",\"aud\":\"couch\","
         "\"email\":1}",
         ST_E_UNAUTHORIZED, "Token missing sub claim."},
        {"{\"sub\":7,\"exp\":1800000000,\"iat\":1,\"nbf\":1,\"iss\":\"https://idp\","
         "\"aud\":\"couch\",\"email\":1}",
         ST_E_UNAUTHORIZED, "Token missing sub claim."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = hs(h, cases[i].claims);
        refused(&f->cfg, t, NOW, cases[i].rc, cases[i].reason);
        free(t);
    }
    char *t = hs(h, "{\"sub\":\"u\",\"exp\":1800000000,\"iat\":1,\"nbf\":1,\"iss\":\"https://idp\","
                    "\"aud\":\"couch\",\"email\":\"x@y\"}");
    accepted(&f->cfg, t, NOW, "u");
    free(t);
    fx_free(f);
}

static void test_required_claims_parse(void **state)
{
    (void)state;
    st_jwt_required *r = NULL;
    st_error e;
    const char *good[] = {"", "   ", "exp", "exp,iat", " exp , {iss, \"a b\"} ", "{iss,\"x\"}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(st_jwt_required_parse(good[i], &r, &e), ST_OK);
        st_jwt_required_free(r);
    }
    assert_int_equal(st_jwt_required_parse(NULL, &r, &e), ST_OK);
    st_jwt_required_free(r);
    const char *bad[] = {"exp,", "{iss}", "{iss, x}", "{iss, \"x\"", "Exp", "exp iat", ",",
                         "{iss, \"\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(st_jwt_required_parse(bad[i], &r, &e), ST_E_BAD_REQUEST);
        assert_string_equal(e.reason, "JWT is not configured correctly");
        assert_null(r);
    }
}

static void test_roles(void **state)
{
    (void)state;
    fixture *f = fx_new("");
    const char *h = "{\"alg\":\"HS256\"}";
    st_jwt_identity id;
    char *t = hs(h, "{\"sub\":\"u\",\"_couchdb.roles\":[\"a\",\"b\"],\"my\":{\"roles\":[\"c\"]},"
                    "\"x.y\":{\"z\":[\"d\"]}}");
    assert_int_equal(st_jwt_verify(&f->cfg, t, strlen(t), NOW, &id, NULL), ST_OK);
    assert_int_equal(id.roles.n, 2);
    assert_string_equal(id.roles.v[1], "b");
    st_jwt_identity_free(&id);
    f->cfg.roles_claim_name = "missing";
    assert_int_equal(st_jwt_verify(&f->cfg, t, strlen(t), NOW, &id, NULL), ST_OK);
    assert_int_equal(id.roles.n, 0);
    st_jwt_identity_free(&id);
    f->cfg.roles_claim_path = "my.roles"; /* wins over the name */
    assert_int_equal(st_jwt_verify(&f->cfg, t, strlen(t), NOW, &id, NULL), ST_OK);
    assert_int_equal(id.roles.n, 1);
    assert_string_equal(id.roles.v[0], "c");
    st_jwt_identity_free(&id);
    f->cfg.roles_claim_path = "x\\.y.z";
    assert_int_equal(st_jwt_verify(&f->cfg, t, strlen(t), NOW, &id, NULL), ST_OK);
    assert_int_equal(id.roles.n, 1);
    assert_string_equal(id.roles.v[0], "d");
    st_jwt_identity_free(&id);
    f->cfg.roles_claim_path = "my.roles.deeper";
    assert_int_equal(st_jwt_verify(&f->cfg, t, strlen(t), NOW, &id, NULL), ST_OK);
    assert_int_equal(id.roles.n, 0);
    st_jwt_identity_free(&id);
    free(t);
    f->cfg.roles_claim_path = NULL;
    f->cfg.roles_claim_name = NULL;
    t = hs(h, "{\"sub\":\"u\",\"_couchdb.roles\":[\"a\",1]}");
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Malformed token");
    free(t);
    t = hs(h, "{\"sub\":\"u\",\"_couchdb.roles\":\"admin\"}");
    refused(&f->cfg, t, NOW, ST_E_BAD_REQUEST, "Malformed token");
    free(t);
    fx_free(f);
}

static void test_key_config_errors(void **state)
{
    (void)state;
    st_jwt_keys *ks = st_jwt_keys_new();
    st_error e;
    assert_int_equal(st_jwt_keys_set(ks, "hmac:a", "!!", &e), ST_E_BAD_REQUEST);
    assert_string_equal(e.reason, "Not a valid key");
    assert_int_equal(st_jwt_keys_set(ks, "rsa:a", "garbage", &e), ST_E_BAD_REQUEST);
    assert_string_equal(e.reason, "Not a valid key");
    assert_int_equal(st_jwt_keys_set(ks, "rsa:a", KAT_EC_PUB, &e), ST_E_BAD_REQUEST);
    assert_string_equal(e.reason, "not an RSA public key");
    assert_int_equal(st_jwt_keys_set(ks, "ec:a", KAT_RSA_PUB, &e), ST_E_BAD_REQUEST);
    assert_string_equal(e.reason, "not an EC public key");
    assert_int_equal(st_jwt_keys_set(ks, "dsa:a", KAT_RSA_PUB, &e), ST_E_BAD_REQUEST);
    assert_int_equal(st_jwt_keys_set(ks, "hmac:", "aGVsbG8=", &e), ST_E_BAD_REQUEST);
    unsigned set = 0;
    assert_int_equal(st_jwt_parse_algorithms("RS256, ES512", &set, NULL), ST_OK);
    assert_int_equal(set, ST_JWT_RS256 | ST_JWT_ES512);
    assert_int_equal(st_jwt_parse_algorithms("none", &set, &e), ST_E_BAD_REQUEST);
    st_jwt_keys_free(ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),     cmocka_unit_test(test_all_algorithms),
        cmocka_unit_test(test_key_selection),     cmocka_unit_test(test_header_refusals),
        cmocka_unit_test(test_structure_refusals), cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_required_claims),   cmocka_unit_test(test_required_claims_parse),
        cmocka_unit_test(test_roles),             cmocka_unit_test(test_key_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
