/* auth_mac.c — see auth_mac.h.
 *
 * Why libcrypto's low-level SHA functions (deprecated in OpenSSL 3) rather
 * than EVP: a hash state here is a plain struct, so a prepared key is copied
 * by assignment, where EVP would allocate a context per call and duplicate
 * the provider's state for every copy.  On the request path that overhead
 * was most of an HMAC's cost (a microbenchmark of a 22-byte HMAC-SHA256:
 * ~1.2 us through EVP, ~0.3 us here); the hashing itself is the same code
 * EVP's default provider runs.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "auth_mac.h"

#include <string.h>
#include <openssl/crypto.h>

#define BLOCK_MAX 128 /* SHA-384/512; 64 for the others */

static size_t block_size(st_digest d)
{
    return d == ST_DIGEST_SHA384 || d == ST_DIGEST_SHA512 ? 128 : 64;
}

static void h_init(st_digest d, st_auth_mac_state *s)
{
    switch (d) {
    case ST_DIGEST_SHA1: SHA1_Init(&s->sha1); break;
    case ST_DIGEST_SHA224: SHA224_Init(&s->sha256); break;
    case ST_DIGEST_SHA256: SHA256_Init(&s->sha256); break;
    case ST_DIGEST_SHA384: SHA384_Init(&s->sha512); break;
    case ST_DIGEST_SHA512: SHA512_Init(&s->sha512); break;
    }
}

static void h_update(st_digest d, st_auth_mac_state *s, const void *p, size_t n)
{
    switch (d) {
    case ST_DIGEST_SHA1: SHA1_Update(&s->sha1, p, n); break;
    case ST_DIGEST_SHA224:
    case ST_DIGEST_SHA256: SHA256_Update(&s->sha256, p, n); break;
    case ST_DIGEST_SHA384:
    case ST_DIGEST_SHA512: SHA512_Update(&s->sha512, p, n); break;
    }
}

static void h_final(st_digest d, st_auth_mac_state *s, unsigned char *out)
{
    switch (d) {
    case ST_DIGEST_SHA1: SHA1_Final(out, &s->sha1); break;
    case ST_DIGEST_SHA224: SHA224_Final(out, &s->sha256); break;
    case ST_DIGEST_SHA256: SHA256_Final(out, &s->sha256); break;
    case ST_DIGEST_SHA384: SHA384_Final(out, &s->sha512); break;
    case ST_DIGEST_SHA512: SHA512_Final(out, &s->sha512); break;
    }
}

bool st_auth_mac_init(st_auth_mac *m, st_digest d, const void *key, size_t key_len)
{
    memset(m, 0, sizeof *m);
    if ((unsigned)d >= ST_DIGEST_COUNT)
        return false;
    m->d = d;
    size_t bs = block_size(d);
    unsigned char k[BLOCK_MAX], pad[BLOCK_MAX];
    memset(k, 0, sizeof k);
    if (key_len > bs) { /* a long key is hashed first */
        st_auth_mac_state s;
        h_init(d, &s);
        h_update(d, &s, key, key_len);
        h_final(d, &s, k);
        OPENSSL_cleanse(&s, sizeof s);
    } else if (key_len) {
        memcpy(k, key, key_len);
    }
    for (size_t i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x36;
    h_init(d, &m->inner);
    h_update(d, &m->inner, pad, bs);
    for (size_t i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x5c;
    h_init(d, &m->outer);
    h_update(d, &m->outer, pad, bs);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    return true;
}

void st_auth_mac_run(const st_auth_mac *m, const void *msg, size_t msg_len, unsigned char *out)
{
    unsigned char inner[ST_DIGEST_MAX_SIZE];
    st_auth_mac_state s = m->inner;
    if (msg_len)
        h_update(m->d, &s, msg, msg_len);
    h_final(m->d, &s, inner);
    s = m->outer;
    h_update(m->d, &s, inner, st_digest_size(m->d));
    h_final(m->d, &s, out);
    OPENSSL_cleanse(&s, sizeof s);
    OPENSSL_cleanse(inner, sizeof inner);
}

void st_auth_mac_wipe(st_auth_mac *m)
{
    if (m)
        OPENSSL_cleanse(m, sizeof *m);
}
