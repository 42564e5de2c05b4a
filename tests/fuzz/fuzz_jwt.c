/* fuzz_jwt.c — st_jwt_verify on arbitrary tokens, with an HMAC, an RSA and
 * an EC key configured and a roles path, so every stage can be reached.
 * The public keys are test keys (the tests/server KAT pair); the seeds in
 * corpus/jwt were signed with their private halves. */
#include <stdint.h>
#include <stdlib.h>

#include "jwt.h"

static const char RSA_PUB[] =
    "-----BEGIN PUBLIC KEY-----\\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1XM+q/S8ZBy8Pp1zDTKv\\n"
    "TYguwUr9b9fy2FEVMQ5YYxiJBaCQKOogFZbLrgsTwHkiZlDu5YqZxHWVdwBc+fKJ\\n"
    "aEbaas2dGYCxM/XFTKepJ4SCfVqnNwDPPAA6ZTbqsq9RCDCIItbTi7buc4Qb4NQl\\n"
    "MLnZct/EQE3LYhT9a+skWRKxFidn3ccazO7nZ2HmNedJ0hp1eL2CR2a0RW9Qs4J2\\n"
    "bpsS73GjH0vzjps2TH6LTl7i8ZFjH2doX9+P33lS89yYi3GriIAx9UfIbI+LSQ11\\n"
    "44GWOlqkKWkAdhLRDi+UaDO7ASI9WLNIu4TfHxaoB+ECRw895CR2yG/4xYVRPl3I\\n"
    "EQIDAQAB\\n"
    "-----END PUBLIC KEY-----\\n";
static const char EC_PUB[] =
    "-----BEGIN PUBLIC KEY-----\\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENjH6ZltVQXaQ82e7lCAQiVIvCmhl\\n"
    "e+kpr0uWYq8iizkChAueE/gOEYbxLYWgTuJcGiAI/QxtS00zAp1YnCCbdQ==\\n"
    "-----END PUBLIC KEY-----\\n";

static st_jwt_config cfg;

static void setup(void)
{
    st_jwt_keys *ks = st_jwt_keys_new();
    st_jwt_required *req = NULL;
    if (!ks || st_jwt_keys_set(ks, "hmac:_default", "aGVsbG8=", NULL) != ST_OK ||
        st_jwt_keys_set(ks, "rsa:r", RSA_PUB, NULL) != ST_OK ||
        st_jwt_keys_set(ks, "ec:e", EC_PUB, NULL) != ST_OK ||
        st_jwt_required_parse("{iss, \"x\"}, iat", &req, NULL) != ST_OK)
        abort();
    st_jwt_required_free(req); /* exercised; verification runs without it */
    cfg.keys = ks;           /* lives for the process */
    cfg.roles_claim_path = "a\\.b.roles";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    st_jwt_identity id;
    cfg.leeway_s = size % 2 ? 60 : 0;
    if (st_jwt_verify(&cfg, (const char *)data, size, 1700000000, &id, NULL) == ST_OK)
        st_jwt_identity_free(&id);
    return 0;
}
