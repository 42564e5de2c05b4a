/* auth_mac.h — HMAC with its key prepared once, for the checks that run on
 * every authenticated request (the verified-credentials cache's digest, the
 * AuthSession cookie's MAC).
 *
 * st_auth_mac_init absorbs the key's inner and outer pads (RFC 2104) into
 * two hash states; st_auth_mac_run then costs two compressions for a short
 * message, with no allocation.  The result is exactly HMAC(d, key, msg), as
 * st_hmac (digest.h) computes it.
 *
 * Secrets: the prepared states stand for the key; st_auth_mac_wipe clears
 * them.  Ownership: the caller owns the struct (stack or embedded).
 * Threads: init and wipe on one thread; once initialised, any number of
 * threads may call st_auth_mac_run on the same key at once (it only reads).
 */
#ifndef ST_SERVER_AUTH_MAC_H
#define ST_SERVER_AUTH_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/sha.h>
#include "digest.h"

typedef union st_auth_mac_state {
    SHA_CTX sha1;
    SHA256_CTX sha256; /* SHA-224 as well */
    SHA512_CTX sha512; /* SHA-384 as well */
} st_auth_mac_state;

typedef struct st_auth_mac {
    st_digest d;
    st_auth_mac_state inner; /* after key ^ ipad */
    st_auth_mac_state outer; /* after key ^ opad */
} st_auth_mac;

/* false on a digest it does not know (m is then wiped). */
bool st_auth_mac_init(st_auth_mac *m, st_digest d, const void *key, size_t key_len);
/* HMAC of msg into out (st_digest_size(m->d) bytes). */
void st_auth_mac_run(const st_auth_mac *m, const void *msg, size_t msg_len, unsigned char *out);
void st_auth_mac_wipe(st_auth_mac *m); /* NULL ok */

#endif
