/* jwt_testutil.h — HS256 JSON Web Tokens made the way an identity provider
 * makes them, for tests that log in to `settee serve` with a bearer token:
 * base64url(header) "." base64url(claims) "." base64url(HMAC-SHA256).
 * Only OpenSSL, so libsettee's tests (settee.h only) can use it too.
 *
 * The server's key: [jwt_keys] hmac:_default = TJ_KEY_B64 (the standard
 * base64 of TJ_KEY).  Pure; any thread.
 */
#ifndef TESTS_JWT_TESTUTIL_H
#define TESTS_JWT_TESTUTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define TJ_KEY "settee-test-jwt-secret"
#define TJ_KEY_B64 "c2V0dGVlLXRlc3Qtand0LXNlY3JldA=="

/* in[0..n) as unpadded base64url, appended at out[*len] (cap bytes in all). */
static inline bool tj_b64url(const unsigned char *in, size_t n, char *out, size_t cap,
                             size_t *len)
{
    unsigned char tmp[4096];
    if (4 * ((n + 2) / 3) + 1 > sizeof tmp)
        return false;
    int k = EVP_EncodeBlock(tmp, in, (int)n);
    while (k > 0 && tmp[k - 1] == '=')
        k--;
    if (*len + (size_t)k + 1 > cap)
        return false;
    for (int i = 0; i < k; i++)
        out[(*len)++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
    out[*len] = '\0';
    return true;
}

/* A token for claims (a JSON object), signed with key; false if out is too
 * small. */
static inline bool tj_hs256(const char *key, const char *claims, char *out, size_t cap)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t len = 0;
    if (!tj_b64url((const unsigned char *)header, strlen(header), out, cap, &len) ||
        len + 1 >= cap)
        return false;
    out[len++] = '.';
    if (!tj_b64url((const unsigned char *)claims, strlen(claims), out, cap, &len) ||
        len + 1 >= cap)
        return false;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)out, len, mac,
              &mac_len))
        return false;
    out[len++] = '.';
    return tj_b64url(mac, mac_len, out, cap, &len);
}

#endif
