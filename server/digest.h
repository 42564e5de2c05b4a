/* digest.h — the hash functions CouchDB's auth settings name, hex text and
 * constant-time comparison: what password.c, session.c and jwt.c share.
 *
 * CouchDB names hashes as Erlang's crypto does: "sha" (SHA-1), "sha224",
 * "sha256", "sha384", "sha512" (pbkdf2_prf, "-pbkdf2:<prf>-" admin hashes,
 * [chttpd_auth] hash_algorithms).  md4/md5 are refused: CouchDB's docs warn
 * against them and nothing settee writes uses them.
 * Thread-safety: pure functions, callable from any thread.
 */
#ifndef ST_SERVER_DIGEST_H
#define ST_SERVER_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include "st_hex.h" /* st_hex_encode, for the users of this header */

typedef enum {
    ST_DIGEST_SHA1 = 0,
    ST_DIGEST_SHA224 = 1,
    ST_DIGEST_SHA256 = 2,
    ST_DIGEST_SHA384 = 3,
    ST_DIGEST_SHA512 = 4
} st_digest;

#define ST_DIGEST_COUNT 5
#define ST_DIGEST_MAX_SIZE 64 /* bytes of the largest output (SHA-512) */

/* "sha", "sha224", ... (exactly n bytes, case-sensitive as in CouchDB). */
bool st_digest_parse(const char *name, size_t n, st_digest *out);
const char *st_digest_name(st_digest d);   /* "sha256"; never NULL */
const EVP_MD *st_digest_md(st_digest d);   /* libcrypto's static object */
size_t st_digest_size(st_digest d);        /* output bytes: 20, 28, 32, 48, 64 */

/* HMAC(key, msg) into out (st_digest_size(d) bytes).  false on failure. */
bool st_hmac(st_digest d, const void *key, size_t key_len, const void *msg, size_t msg_len,
             unsigned char *out);


/* a == b in time that depends only on the lengths (which are not secret). */
bool st_ct_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* Fill out with n random bytes from the CSPRNG; false if it failed. */
bool st_random_bytes(unsigned char *out, size_t n);

/* 2*n_bytes random lowercase hex characters plus a NUL into out. */
bool st_random_hex(char *out, size_t n_bytes);

#endif
