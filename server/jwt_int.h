/* jwt_int.h — what jwt.c needs from the key store (jwt_keys.c); not for other files. */
#ifndef ST_SERVER_JWT_INT_H
#define ST_SERVER_JWT_INT_H

#include <openssl/evp.h>
#include "jwt.h"

typedef enum { JWT_KTY_HMAC = 0, JWT_KTY_RSA = 1, JWT_KTY_EC = 2 } jwt_kty;

typedef struct jwt_key {
    jwt_kty kty;
    char *kid;
    unsigned char *secret; /* HMAC */
    size_t secret_len;
    EVP_PKEY *pkey;        /* RSA / EC public key */
} jwt_key;

/* The key for (kty, kid), or NULL.  Borrowed from ks. */
const jwt_key *st_jwt_keys_find(const st_jwt_keys *ks, jwt_kty kty, const char *kid, size_t kid_len);

#endif
