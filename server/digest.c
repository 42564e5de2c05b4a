/* digest.c — CouchDB's hash names over libcrypto, hex and constant-time compare.
 *
 * Why a table: the same five names appear in three settings (pbkdf2_prf,
 * admin hashes, hash_algorithms), so one mapping keeps them from drifting.
 */
#include "digest.h"

#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
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

bool st_hmac(st_digest d, const void *key, size_t key_len, const void *msg, size_t msg_len,
             unsigned char *out)
{
    unsigned int len = 0;
    static const unsigned char empty[1];
    if (key_len > INT_MAX)
        return false;
    /* HMAC() treats a NULL key as "no key set": pass a real pointer for "". */
    if (!HMAC(st_digest_md(d), key_len ? key : empty, (int)key_len, msg, msg_len, out, &len))
        return false;
    return len == st_digest_size(d);
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
