/* digest.c — CouchDB's hash names over libcrypto, hex and constant-time compare.
 *
 * Why a table: the same five names appear in three settings (pbkdf2_prf,
 * admin hashes, hash_algorithms), so one mapping keeps them from drifting.
 */
#include "digest.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

typedef struct {
    const char *name;
    size_t size;
} digest_info;

static const digest_info infos[ST_DIGEST_COUNT] = {
    {"sha", 20}, {"sha224", 28}, {"sha256", 32}, {"sha384", 48}, {"sha512", 64},
};

bool st_digest_parse(const char *name, size_t n, st_digest *out)
{
    for (unsigned i = 0; i < ST_DIGEST_COUNT; i++) {
        if (strlen(infos[i].name) == n && memcmp(infos[i].name, name, n) == 0) {
            *out = (st_digest)i;
            return true;
        }
    }
    return false;
}

const char *st_digest_name(st_digest d)
{
    return (unsigned)d < ST_DIGEST_COUNT ? infos[d].name : "?";
}

const EVP_MD *st_digest_md(st_digest d)
{
    switch (d) {
    case ST_DIGEST_SHA1:
        return EVP_sha1();
    case ST_DIGEST_SHA224:
        return EVP_sha224();
    case ST_DIGEST_SHA256:
        return EVP_sha256();
    case ST_DIGEST_SHA384:
        return EVP_sha384();
    case ST_DIGEST_SHA512:
        return EVP_sha512();
    }
    return EVP_sha256();
}

size_t st_digest_size(st_digest d)
{
    return (unsigned)d < ST_DIGEST_COUNT ? infos[d].size : 0;
}

/* The digests fetched once.  OpenSSL 3's one-shot HMAC() looks its digest
 * and MAC up again on every call (about 2 µs, most of an authenticated
 * request's overhead: the lockout and the credentials cache each take an
 * HMAC per request, a cookie one); with the digest fetched beforehand the
 * same HMAC (RFC 2104, written out below) costs about 0.4 µs. */
static EVP_MD *fetched[ST_DIGEST_COUNT];
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
    static const char *const names[ST_DIGEST_COUNT] = {"SHA1", "SHA224", "SHA256", "SHA384",
                                                       "SHA512"};
    for (unsigned i = 0; i < ST_DIGEST_COUNT; i++)
        fetched[i] = EVP_MD_fetch(NULL, names[i], NULL); /* kept for the process's life */
}

static const EVP_MD *md_fetched(st_digest d)
{
    pthread_once(&fetch_once, fetch_digests);
    return (unsigned)d < ST_DIGEST_COUNT && fetched[d] ? fetched[d] : st_digest_md(d);
}

#define HMAC_BLOCK_MAX 128 /* SHA-384/512; 64 for the others */

bool st_hmac(st_digest d, const void *key, size_t key_len, const void *msg, size_t msg_len,
             unsigned char *out)
{
    const EVP_MD *md = md_fetched(d);
    int bs = EVP_MD_get_block_size(md), ds = EVP_MD_get_size(md);
    unsigned char k[HMAC_BLOCK_MAX], pad[HMAC_BLOCK_MAX], inner[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    bool ok = false;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || bs <= 0 || bs > HMAC_BLOCK_MAX || ds <= 0 || (size_t)ds != st_digest_size(d))
        goto out;
    memset(k, 0, sizeof k);
    if (key_len > (size_t)bs) { /* a long key is hashed first */
        if (EVP_DigestInit_ex(c, md, NULL) != 1 || EVP_DigestUpdate(c, key, key_len) != 1 ||
            EVP_DigestFinal_ex(c, k, &n) != 1)
            goto out;
    } else if (key_len) {
        memcpy(k, key, key_len);
    }
    for (int i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x36;
    if (EVP_DigestInit_ex(c, md, NULL) != 1 || EVP_DigestUpdate(c, pad, (size_t)bs) != 1 ||
        (msg_len && EVP_DigestUpdate(c, msg, msg_len) != 1) ||
        EVP_DigestFinal_ex(c, inner, &n) != 1)
        goto out;
    for (int i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = EVP_DigestInit_ex(c, md, NULL) == 1 && EVP_DigestUpdate(c, pad, (size_t)bs) == 1 &&
         EVP_DigestUpdate(c, inner, (size_t)ds) == 1 && EVP_DigestFinal_ex(c, out, &n) == 1 &&
         n == (unsigned)ds;
out:
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    EVP_MD_CTX_free(c);
    return ok;
}

bool st_ct_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    return a_len == 0 || CRYPTO_memcmp(a, b, a_len) == 0;
}

bool st_random_bytes(unsigned char *out, size_t n)
{
    return n <= INT_MAX && RAND_bytes(out, (int)n) == 1;
}

bool st_random_hex(char *out, size_t n_bytes)
{
    unsigned char raw[64];
    if (n_bytes > sizeof raw || !st_random_bytes(raw, n_bytes))
        return false;
    st_hex_encode(raw, n_bytes, out);
    OPENSSL_cleanse(raw, sizeof raw);
    return true;
}
