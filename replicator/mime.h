/* mime.h — a streaming parser of MIME multipart bodies (RFC 2046), as far
 * as replication needs: CouchDB's open_revs answers are multipart/mixed,
 * each revision with attachments a nested multipart/related part.
 *
 * Why a parser of our own when server/multipart.c exists: the replicator
 * must not depend on server/, and the server's splits a complete buffer,
 * while here answers are parsed as they arrive from curl (attachment bytes
 * go straight to where they are kept; nothing waits for the whole answer).
 * A nested part is parsed by feeding its data to a second st_mime.
 *
 * Feed any number of chunks of any size; the callbacks see each part's
 * headers, its body in pieces (the CRLF before a delimiter is not part of
 * the body) and its end.  Bytes before the first delimiter (the preamble)
 * and after the closing one are ignored.  A callback returning nonzero
 * stops the parse: st_mime_feed then fails with ST_E_BUSY.
 *
 * Ownership: st_mime_part is borrowed for the begin callback.  One parser,
 * one thread at a time.
 */
#ifndef ST_MIME_H
#define ST_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_error.h"

/* What a part's headers say (header names compare without case). */
typedef struct st_mime_part {
    const char *content_type; /* "" when absent */
    const char *encoding;     /* Content-Encoding, "" when absent */
    const char *filename;     /* Content-Disposition's filename, NULL when absent */
    uint64_t length;          /* Content-Length, when has_length */
    bool has_length;
} st_mime_part;

typedef struct st_mime_fns {
    int (*begin)(void *ctx, const st_mime_part *part);
    int (*data)(void *ctx, const char *p, size_t n);
    int (*end)(void *ctx);
} st_mime_fns;

typedef struct st_mime st_mime;

/* A parser for a body of content type ctype ("multipart/...;
 * boundary=..."): ST_E_BAD_REQUEST when it names no usable boundary. */
st_status st_mime_new(const char *ctype, const st_mime_fns *fns, void *ctx, st_mime **out,
                      st_error *err);
void st_mime_free(st_mime *m); /* NULL ok */

/* ST_E_BAD_REQUEST for a malformed body, ST_E_BUSY when a callback stopped. */
st_status st_mime_feed(st_mime *m, const char *p, size_t n, st_error *err);
/* The body ended: ST_E_BAD_REQUEST unless the closing delimiter was seen. */
st_status st_mime_finish(st_mime *m, st_error *err);

/* True when ctype is multipart/<subtype> (subtype NULL: any). */
bool st_mime_is(const char *ctype, const char *subtype);

/* A content type parameter's value (quotes removed) into out; false when
 * absent or longer than cap - 1. */
bool st_mime_param(const char *ctype, const char *name, char *out, size_t cap);

#endif
