/* jwt.h — "Authorization: Bearer <JWT>" verification as CouchDB's jwtf does it.
 *
 * Accepted: HS256/384/512 (HMAC), RS256/384/512 (RSA PKCS#1 v1.5), ES256/384/512
 * (ECDSA on P-256/P-384/P-521, JWS raw r||s signatures).  "none" and every
 * other alg are refused.  The key comes from CouchDB's [jwt_keys] section:
 *   hmac:<kid> = <base64 secret>     rsa:<kid> = <PEM public key>     ec:<kid> = <PEM>
 * (PEM newlines may be written as the two characters "\n").  The token's alg
 * picks the key type and its "kid" (or "_default" without one) the key, so an
 * HS256 token can never be checked against an RSA key's bytes.
 *
 * Checks, in jwtf's order, each refusal with CouchDB's reason (400 bad_request
 * unless noted):
 *   3 dot-separated parts                  "Malformed token"
 *   header / claims are JSON objects       "Not an object"
 *   typ (if required or present) == "JWT"  "Missing typ header parameter" / "Invalid typ header parameter"
 *   alg present, known, allowed            "Missing alg header parameter" / "Invalid alg header parameter"
 *   iss (if required)                      "Missing iss claim" / "Invalid iss claim"
 *   iat (if required or present) integer   "Missing iat claim" / "Invalid iat claim"
 *   nbf (if required or present) < now     "Missing nbf claim" / 401 "nbf not in past"
 *   exp (if required or present) > now     "Missing exp claim" / 401 "exp not in future"
 *   kid (if required)                      "Missing kid claim"; no such key: "Unknown kid"
 *   signature                              "Bad HMAC" / "Bad signature"
 *   sub                                    401 "Token missing sub claim."
 *   roles: array of strings                "Malformed token"
 * nbf and exp get `leeway_s` seconds of slack (0, CouchDB's behaviour, by default).
 * Where CouchDB would crash or answer with an Erlang term (undecodable base64
 * or JSON, a non-numeric exp, a typ other than "JWT" when not required), the
 * refusal is "Malformed token" or "Invalid <claim> claim".  Stricter than
 * CouchDB, on purpose: duplicate members in the header or the claims are
 * refused ("Malformed token"; RFC 7515 allows refusing, and two parsers
 * picking different duplicates is a known JWT attack), and a bare `iss` in
 * required_claims demands presence (CouchDB then refuses every token).
 *
 * required_claims ([jwt_auth]) is "exp, iat, {iss, \"https://issuer\"}": bare
 * names require presence, {name, "value"} an exact string value; names other
 * than jwtf's (alg exp iat iss kid nbf typ) follow the same two rules.
 * Roles: [jwt_auth] roles_claim_path (dot-separated path into nested objects,
 * "\." for a literal dot) wins over roles_claim_name (a top-level claim,
 * default "_couchdb.roles"); absent → no roles.
 *
 * Limits: a token of at most ST_JWT_MAX_TOKEN bytes ("Token too large"),
 * decoded header and claims each at most ST_JWT_MAX_JSON bytes and
 * ST_JWT_MAX_DEPTH deep, at most ST_JWT_MAX_KEYS keys.
 *
 * Ownership and threads: keys and required claims are built once (one thread),
 * then only read: any number of threads may call st_jwt_verify() at once with
 * the same config.  The identity returned is the caller's to free.
 */
#ifndef ST_SERVER_JWT_H
#define ST_SERVER_JWT_H

#include <stddef.h>
#include <stdint.h>
#include "roles.h"
#include "st_error.h"

#define ST_JWT_MAX_TOKEN 16384u
#define ST_JWT_MAX_JSON 8192u
#define ST_JWT_MAX_DEPTH 16u
#define ST_JWT_MAX_KEYS 256u
#define ST_JWT_DEFAULT_ROLES_CLAIM "_couchdb.roles"

enum {
    ST_JWT_HS256 = 1u << 0, ST_JWT_HS384 = 1u << 1, ST_JWT_HS512 = 1u << 2,
    ST_JWT_RS256 = 1u << 3, ST_JWT_RS384 = 1u << 4, ST_JWT_RS512 = 1u << 5,
    ST_JWT_ES256 = 1u << 6, ST_JWT_ES384 = 1u << 7, ST_JWT_ES512 = 1u << 8,
    ST_JWT_ALL = (1u << 9) - 1
};

typedef struct st_jwt_keys st_jwt_keys;         /* [jwt_keys] */
typedef struct st_jwt_required st_jwt_required; /* [jwt_auth] required_claims */

st_jwt_keys *st_jwt_keys_new(void);             /* NULL on allocation failure */
/* Add one [jwt_keys] entry: name "hmac:<kid>", "rsa:<kid>" or "ec:<kid>".
 * ST_E_BAD_REQUEST "Not a valid key" / "not an RSA public key" / "not an EC
 * public key" / unknown type; a later entry with the same name replaces. */
st_status st_jwt_keys_set(st_jwt_keys *ks, const char *name, const char *value, st_error *err);
void st_jwt_keys_free(st_jwt_keys *ks);         /* NULL ok; wipes HMAC secrets */

/* Parse required_claims.  "" or NULL gives an empty set.  Anything else that
 * is not a list of names / {name, "value"}: ST_E_BAD_REQUEST "JWT is not
 * configured correctly" (CouchDB's misconfigured_server). */
st_status st_jwt_required_parse(const char *text, st_jwt_required **out, st_error *err);
void st_jwt_required_free(st_jwt_required *r);  /* NULL ok */

/* "HS256, RS256" → bit set; ST_E_BAD_REQUEST on an unknown name. */
st_status st_jwt_parse_algorithms(const char *list, unsigned *out, st_error *err);

typedef struct st_jwt_config {
    const st_jwt_keys *keys;          /* required */
    const st_jwt_required *required;  /* NULL: none */
    unsigned allowed_algs;            /* ST_JWT_* bits; 0 means ST_JWT_ALL */
    const char *roles_claim_name;     /* NULL: "_couchdb.roles" */
    const char *roles_claim_path;     /* NULL: unset */
    unsigned leeway_s;                /* slack for exp/nbf; 0 as CouchDB */
} st_jwt_config;

typedef struct st_jwt_identity {
    char *name;     /* the sub claim, malloc'd */
    st_roles roles;
} st_jwt_identity;

/* Verify token[0..n) (the text after "Bearer ") at `now` (Unix seconds).
 * ST_OK fills *out (free with st_jwt_identity_free); a refusal is
 * ST_E_BAD_REQUEST or ST_E_UNAUTHORIZED with CouchDB's reason in err. */
st_status st_jwt_verify(const st_jwt_config *c, const char *token, size_t n, int64_t now,
                        st_jwt_identity *out, st_error *err);
void st_jwt_identity_free(st_jwt_identity *id); /* NULL ok */

#endif
