/* multipart.h — MIME multipart bodies, both ways: parsing the
 * multipart/related document uploads that CouchDB's replicator sends, and
 * the boundary helpers the doc handlers use to write multipart/related and
 * multipart/mixed responses.
 *
 * Parts point into the caller's body buffer (zero copy): they are valid as
 * long as that buffer is.  Pure functions; any thread.
 */
#ifndef ST_SERVER_MULTIPART_H
#define ST_SERVER_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"
#include "st_error.h"

typedef struct st_mp_part {
    const char *data;        /* body bytes (borrowed) */
    size_t len;
    char *content_type;      /* malloc'd or NULL */
    char *filename;          /* Content-Disposition filename, malloc'd or NULL */
    char *encoding;          /* Content-Encoding, malloc'd or NULL */
} st_mp_part;

/* Split body by the boundary named in content_type ("multipart/...;
 * boundary=..."). ST_E_BAD_REQUEST on a malformed body. */
st_status st_mp_parse(const char *content_type, const char *body, size_t len,
                      st_mp_part **out, size_t *out_n, st_error *err);
void st_mp_parts_free(st_mp_part *parts, size_t n);

/* A fresh random boundary (32 hex chars + NUL). */
void st_mp_boundary(char out[33]);

/* "--boundary\r\n" + headers... + "\r\n" helpers for writers. */
st_status st_mp_open_part(st_buf *b, const char *boundary);
st_status st_mp_close(st_buf *b, const char *boundary); /* "\r\n--boundary--" */

#endif
