/* basic.h — the credentials of an "Authorization: Basic <base64>" header.
 *
 * CouchDB's rules (PROTOCOL-2 A.4): the decoded text splits at the FIRST
 * ':' into name and password (so passwords may contain ':'); "_:_" and text
 * without ':' carry no credentials; base64 that does not decode is a 400
 * "Authorization header has invalid base64 value"; another scheme (Bearer,
 * Digest, ...) is not ours and leaves the request anonymous for this handler.
 * The scheme name is matched case-insensitively (RFC 7617; CouchDB 3.5 wants
 * "Basic" exactly, and no client sends anything else).
 *
 * Bound: header values up to ST_BASIC_MAX_HEADER (96 KiB) characters, which
 * holds a password of ST_PW_MAX_LEN bytes; longer is a 400.  A name with an
 * embedded NUL cannot be a user: ST_E_UNAUTHORIZED (answer 401).
 *
 * Ownership: a decoded st_basic_creds owns one buffer; st_basic_creds_wipe()
 * overwrites and frees it.  Thread-safety: pure functions, any thread.
 */
#ifndef ST_SERVER_BASIC_H
#define ST_SERVER_BASIC_H

#include <stddef.h>
#include "st_error.h"

#define ST_BASIC_MAX_HEADER (96u * 1024)
#define ST_BASIC_BAD_BASE64 "Authorization header has invalid base64 value"

typedef enum {
    ST_BASIC_NOT_BASIC = 0, /* another scheme: not this handler's business */
    ST_BASIC_NO_CREDS,      /* Basic, but "_:_" or no ':' (anonymous) */
    ST_BASIC_CREDS          /* name and password below */
} st_basic_kind;

typedef struct st_basic_creds {
    st_basic_kind kind;
    char *name;        /* NUL-terminated, no embedded NUL */
    size_t name_len;
    char *password;    /* NUL-terminated; may hold NULs: use password_len */
    size_t password_len;
    char *buf;         /* owns name and password */
    size_t buf_len;
} st_basic_creds;

/* Decode an Authorization header value (without the "Authorization:" name). */
st_status st_basic_decode(const char *value, size_t n, st_basic_creds *out, st_error *err);
void st_basic_creds_wipe(st_basic_creds *c); /* NULL ok */

#endif
