/* st_gzip.h — gzip for attachment bodies, on zlib.
 *
 * Attachments of compressible types are stored gzip-encoded, as CouchDB
 * stores them (same zlib parameters: the level, windowBits 31 = a gzip
 * header with mtime 0, memLevel 8), so their bytes, digests and the rev ids
 * that hash those digests match CouchDB's.  Replicated attachments keep the
 * encoding their source gave them; readers that cannot take gzip get the
 * bytes decoded.
 *
 * Decoding is bounded: it stops with ST_E_ATT_TOO_LARGE as soon as the
 * output would pass max bytes, so a small "zip bomb" costs at most max
 * bytes of output (nothing, when only counting).  Pure functions; any
 * thread.
 */
#ifndef ST_GZIP_H
#define ST_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"
#include "st_error.h"

/* Whether an encoding name (a Content-Encoding value or a stub's
 * "encoding") means gzip: "gzip" or "x-gzip", any case. */
bool st_gzip_is(const char *encoding);

/* Compress in[0..len) into out (appended) as one gzip member. */
st_status st_gzip(const void *in, size_t len, int level, st_buf *out, st_error *err);

/* Decode the gzip stream in[0..len) (one or more concatenated members),
 * handing the output to fn in pieces (fn returns nonzero to stop: that is
 * ST_E_BUSY); *out_len (may be NULL) is the decoded size.  ST_E_BAD_REQUEST
 * for data that is not gzip or is truncated, ST_E_ATT_TOO_LARGE past max
 * output bytes. */
st_status st_gunzip_each(const void *in, size_t len, size_t max,
                         int (*fn)(void *ctx, const void *p, size_t n), void *ctx,
                         size_t *out_len, st_error *err);
/* The same into out (appended). */
st_status st_gunzip(const void *in, size_t len, size_t max, st_buf *out, st_error *err);

#endif
