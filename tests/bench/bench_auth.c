/* bench_auth.c — what authentication costs per request: PBKDF2 at CouchDB's
 * 600000 iterations, a cached Basic check, an AuthSession cookie check, and
 * JWT verification for HS256/RS256/ES256 (keys made here with libcrypto).
 * The cookie check runs twice: preparing its key per check (a bare
 * st_session_config) and with st_auth's table of prepared keys.
 * Run by hand on a Release build; prints microseconds per operation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth_cache.h"
#include "auth_mac.h"
#include "st_base64.h"
#include "basic.h"
#include "jwt.h"
#include "lockout.h"
#include "password.h"
#include "session.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define TIME(label, n, body)                                                       \
    do {                                                                           \
        double t0 = now_s();                                                       \
        for (long i_ = 0; i_ < (n); i_++) {                                        \
            body;                                                                  \
        }                                                                          \
        double us = (now_s() - t0) / (double)(n) * 1e6;                            \
        printf("%-40s %12.2f us/op  (%ld runs)\n", label, us, (long)(n));          \
    } while (0)

static char *b64url(const void *p, size_t n)
{
    char *s = malloc(ST_B64_ENCODED_SIZE(n));
    st_b64_encode(ST_B64_URL, p, n, s, ST_B64_ENCODED_SIZE(n));
    return s;
}

static char *sign(const char *alg, EVP_PKEY *k)
{
    char header[64];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"k\"}", alg);
    const char *claims = "{\"sub\":\"jan\",\"exp\":4102444800,\"_couchdb.roles\":[\"w\"]}";
    char *h = b64url(header, strlen(header)), *c = b64url(claims, strlen(claims));
    char msg[512];
    int msg_len = snprintf(msg, sizeof msg, "%s.%s", h, c);
    unsigned char sig[512];
    size_t sig_len = sizeof sig;
    if (!k) {
        unsigned int len = 0;
        HMAC(EVP_sha256(), "hello", 5, (unsigned char *)msg, (size_t)msg_len, sig, &len);
        sig_len = len;
    } else {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k);
        EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)msg, (size_t)msg_len);
        EVP_MD_CTX_free(ctx);
        if (alg[0] == 'E') {
            const unsigned char *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
            sig_len = 64;
            ECDSA_SIG_free(es);
        }
    }
    char *s = b64url(sig, sig_len);
    char *tok = malloc(strlen(msg) + strlen(s) + 2);
    sprintf(tok, "%s.%s", msg, s);
    free(h);
    free(c);
    free(s);
    return tok;
}

static char *pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static void bench_jwt(void)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *rpem = pem(rsa), *epem = pem(ec);
    st_jwt_keys *ks = st_jwt_keys_new();
    st_jwt_keys_set(ks, "hmac:k", "aGVsbG8=", NULL);
    st_jwt_keys_set(ks, "rsa:k", rpem, NULL);
    st_jwt_keys_set(ks, "ec:k", epem, NULL);
    st_jwt_config cfg = {ks, NULL, 0, NULL, NULL, 0};
    const char *algs[] = {"HS256", "RS256", "ES256"};
    EVP_PKEY *keys[] = {NULL, rsa, ec};
    long runs[] = {200000, 20000, 10000};
    for (int a = 0; a < 3; a++) {
        char *tok = sign(algs[a], keys[a]);
        static const char *const labels[] = {"JWT HS256 verify", "JWT RS256 verify (RSA-2048)",
                                             "JWT ES256 verify (P-256)"};
        const char *label = labels[a];
        st_jwt_identity id;
        if (st_jwt_verify(&cfg, tok, strlen(tok), 1700000000, &id, NULL) != ST_OK)
            abort();
        st_jwt_identity_free(&id);
        TIME(label, runs[a], {
            st_jwt_verify(&cfg, tok, strlen(tok), 1700000000, &id, NULL);
            st_jwt_identity_free(&id);
        });
        free(tok);
    }
    st_jwt_keys_free(ks);
    free(rpem);
    free(epem);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

int main(void)
{
    st_pw_policy p;
    st_pw_policy_init(&p);
    const char *admin = "-pbkdf2:sha256-263933d58cfa7aa028992adf4556462eadcb148f89b2c9001ae21b58"
                        "d97434e1,8b6beb3531a75df71abe97a352a4507c,600000";
    st_pw_hash h;
    st_pw_parse_admin(admin, strlen(admin), &h, NULL);
    bool ok = false;
    TIME("PBKDF2-SHA256 600000 iterations verify", 5, st_pw_verify(&h, &p, "apass", 5, &ok, NULL));
    if (!ok)
        abort();
    TIME("unknown-user dummy verify (same work)", 5, st_pw_verify_unknown(&p, "apass", 5));

    st_auth_cache *cache = st_auth_cache_new(1024, 600);
    st_roles roles = ST_ROLES_INIT;
    st_roles_add(&roles, "writer", 6);
    st_auth_cache_put(cache, "alice", "pa:ss", 5, "8b6b", "1-a", &roles, 1700000000);
    const char *hdr = "Basic YWxpY2U6cGE6c3M=";
    TIME("cached Basic check (decode + cache hit)", 500000, {
        st_basic_creds c;
        st_roles got = ST_ROLES_INIT;
        st_basic_decode(hdr, strlen(hdr), &c, NULL);
        st_auth_cache_get(cache, c.name, c.password, c.password_len, "8b6b", "1-a", 1700000000,
                          &got);
        st_roles_free(&got);
        st_basic_creds_wipe(&c);
    });

    unsigned char mac[ST_DIGEST_MAX_SIZE];
    TIME("HMAC-SHA256 of 40 bytes (st_hmac)", 500000,
         st_hmac(ST_DIGEST_SHA256, "0123456789abcdef0123456789abcdef", 32,
                 "127.0.0.1\0alice\08b6beb3531a75df71abe97a352a4", 40, mac));
    st_auth_mac am;
    st_auth_mac_init(&am, ST_DIGEST_SHA256, "0123456789abcdef0123456789abcdef", 32);
    TIME("HMAC-SHA256 of 40 bytes, key prepared", 500000,
         st_auth_mac_run(&am, "127.0.0.1\0alice\08b6beb3531a75df71abe97a352a4", 40, mac));
    st_auth_mac_wipe(&am);
    st_lockout_config lc;
    st_lockout_config_init(&lc);
    st_lockout *lock = st_lockout_new(&lc);
    TIME("lockout check (nobody failed)", 500000,
         st_lockout_check(lock, "127.0.0.1", "alice", "8b6b", 1700000000));
    st_lockout_failed(lock, "127.0.0.2", "mallory", NULL, 1700000000);
    TIME("lockout check (someone failed once)", 500000,
         st_lockout_check(lock, "127.0.0.1", "alice", "8b6b", 1700000000));
    for (int i = 0; i < 5; i++)
        st_lockout_failed(lock, "127.0.0.2", "mallory", NULL, 1700000000);
    TIME("lockout check (someone locked out)", 500000,
         st_lockout_check(lock, "127.0.0.1", "alice", "8b6b", 1700000000));
    st_lockout_free(lock);

    st_session_config sc;
    st_session_config_init(&sc);
    sc.secret = "0123456789abcdef0123456789abcdef";
    sc.secret_len = 32;
    char *cookie = NULL;
    st_session_make(&sc, "alice", "8b6beb3531a75df71abe97a352a4507c", 32, 1700000000, &cookie,
                    NULL);
    TIME("cookie verify (decode + check)", 500000, {
        st_session_token t;
        st_session_decode(cookie, strlen(cookie), &t, NULL);
        st_session_check(&sc, &t, "8b6beb3531a75df71abe97a352a4507c", 32, 1700000100);
        st_session_token_free(&t);
    });
    sc.keys = st_session_keys_new(); /* as st_auth runs it: keys prepared per salt */
    TIME("cookie verify, prepared keys", 500000, {
        st_session_token t;
        st_session_decode(cookie, strlen(cookie), &t, NULL);
        st_session_check(&sc, &t, "8b6beb3531a75df71abe97a352a4507c", 32, 1700000100);
        st_session_token_free(&t);
    });
    st_session_keys_free(sc.keys);
    free(cookie);
    bench_jwt();
    st_roles_free(&roles);
    st_auth_cache_free(cache);
    return 0;
}
