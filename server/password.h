/* password.h — CouchDB 3.5's password hashes: create and verify.
 *
 * Formats (all verified against the same code path):
 *   [admins] values   "-pbkdf2:<prf>-<hex key>,<salt>,<iterations>"  (3.4+; prf sha256 by default)
 *                     "-pbkdf2-<hex key>,<salt>,<iterations>"        (older: PRF SHA-1)
 *                     "-hashed-<hex sha1(password ++ salt)>,<salt>"  (legacy, still accepted by 3.5)
 *   _users documents  password_scheme "pbkdf2": derived_key, salt, iterations (absent: 10000),
 *                     pbkdf2_prf (absent: "sha", i.e. SHA-1);
 *                     password_scheme "simple" (also when absent): password_sha = hex sha1(password ++ salt).
 * The salt is used as its text (32 random hex characters when settee makes
 * one), the key is the PRF's output size, compared as lowercase hex text the
 * way CouchDB does (an uppercase stored key therefore never matches there
 * either).  Every comparison is constant-time.
 *
 * Password length: any byte string up to ST_PW_MAX_LEN (64 KiB) bytes,
 * embedded NULs included.  Longer ones never verify (and cost no hashing);
 * hashing one is refused.  PBKDF2 hashes a long password once per call, so
 * the bound is about memory, not time.
 *
 * Unknown users: st_pw_verify_unknown() runs the same PBKDF2 as a freshly
 * hashed user (policy PRF and iterations) against a dummy hash, so "no such
 * user" and "wrong password" take the same time.
 *
 * Ownership: st_pw_hash only borrows (pointers into the config value or the
 * JSON doc it was read from).  Strings returned through char ** are malloc'd;
 * free() them.  Thread-safety: every function may be called from any thread;
 * the only shared state is an atomic work counter.
 */
#ifndef ST_SERVER_PASSWORD_H
#define ST_SERVER_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "st_buf.h"
#include "st_error.h"
#include "st_json.h"

#define ST_PW_MAX_LEN 65536u            /* bytes; longer passwords never verify */
#define ST_PW_DEFAULT_ITERATIONS 600000u /* [chttpd_auth] iterations (3.5) */
#define ST_PW_DOC_ITERATIONS 10000u      /* a pbkdf2 user doc without "iterations" */
#define ST_PW_SALT_BYTES 16u             /* -> 32 hex characters, as couch_uuids:random() */

typedef enum { ST_PW_SIMPLE = 0, ST_PW_PBKDF2 = 1 } st_pw_scheme;

/* One stored credential.  All pointers are borrowed. */
typedef struct st_pw_hash {
    st_pw_scheme scheme;
    st_digest prf;          /* PBKDF2 PRF (ignored for SIMPLE) */
    const char *key;        /* hex as stored: derived_key or password_sha */
    size_t key_len;
    const char *salt;       /* used as its bytes */
    size_t salt_len;
    uint64_t iterations;    /* PBKDF2 only */
} st_pw_hash;

/* What new hashes use and which stored ones are acceptable ([chttpd_auth]). */
typedef struct st_pw_policy {
    st_digest prf;           /* pbkdf2_prf, default sha256 */
    uint64_t iterations;     /* iterations, default 600000 */
    uint64_t min_iterations; /* min_iterations, default 1 */
    uint64_t max_iterations; /* max_iterations, default 1000000000 */
} st_pw_policy;

void st_pw_policy_init(st_pw_policy *p); /* CouchDB 3.5's defaults */

/* Parse an [admins] value.  ST_E_NOT_FOUND: not a hash at all (plaintext, which
 * the caller hashes with st_pw_hash_admin); ST_E_BAD_REQUEST: a known prefix
 * with a malformed rest.  *out borrows from value. */
st_status st_pw_parse_admin(const char *value, size_t n, st_pw_hash *out, st_error *err);

/* Read the credential fields of a _users document (an object).
 * ST_E_NOT_FOUND when it has no usable hash (no salt or key: such a user can
 * never log in); ST_E_FORBIDDEN for a scheme CouchDB refuses.  *out borrows
 * from doc. */
st_status st_pw_from_user_doc(const st_json *doc, st_pw_hash *out, st_error *err);

/* Does pw match h?  ST_OK with *out_ok set, or ST_E_FORBIDDEN "Iteration count
 * is too low/high for this server" (CouchDB's 403) when h's iterations are
 * outside the policy (nothing is hashed then), ST_E_NOMEM/ST_E_IO on failure
 * (*out_ok false). */
st_status st_pw_verify(const st_pw_hash *h, const st_pw_policy *p, const void *pw, size_t pw_len,
                       bool *out_ok, st_error *err);

/* The work st_pw_verify does for a user hashed under p, against nothing:
 * call it when the user does not exist.  Always leaves the answer "no". */
void st_pw_verify_unknown(const st_pw_policy *p, const void *pw, size_t pw_len);

/* "-pbkdf2:<prf>-<hex>,<salt>,<iterations>" for an [admins] value, fresh salt.
 * *out is malloc'd. */
st_status st_pw_hash_admin(const st_pw_policy *p, const void *pw, size_t pw_len, char **out,
                           st_error *err);

/* What CouchDB does to a _users document on write.  If doc (an object) has a
 * string "password", append to out the same document with the hash fields
 * (password_scheme, pbkdf2_prf, salt, iterations, derived_key, in that order,
 * after any leading "_" members such as _id/_rev) and without "password" or
 * stale hash fields (password_sha included), and set *out_changed.  No
 * "password" or "password": null: nothing is written, *out_changed = false.
 * A non-string password: ST_E_FORBIDDEN "Password value of '<json>' is invalid.". */
st_status st_pw_hash_user_doc(const st_pw_policy *p, const st_json *doc, st_buf *out,
                              bool *out_changed, st_error *err);

/* True when CouchDB would rewrite h after a successful login (scheme, PRF or
 * iterations differ from p), keeping the salt so sessions survive. */
bool st_pw_needs_upgrade(const st_pw_hash *h, const st_pw_policy *p);

/* PBKDF2 iterations run by this process so far (for tests and metrics). */
uint64_t st_pw_iterations_done(void);

#endif
