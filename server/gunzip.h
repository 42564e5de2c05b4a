/* gunzip.h — decoding gzip-encoded attachment bodies (internal to server/).
 *
 * CouchDB's replicator sends attachments it stores compressed as
 * multipart/related parts with `Content-Encoding: gzip` and a stub saying
 * "encoding":"gzip".  settee stores attachments as plain bytes (core
 * computes digest and length over what it is given), so the server
 * decodes such parts before handing them to core.
 *
 * Bounded: decoding stops with ST_E_ATT_TOO_LARGE as soon as the output
 * would pass max bytes, so a small "zip bomb" costs at most max bytes of
 * memory.  Pure function; any thread.
 */
#ifndef ST_SERVER_GUNZIP_H
#define ST_SERVER_GUNZIP_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"
#include "st_error.h"

/* Whether an encoding name (a Content-Encoding value or a stub's
 * "encoding") means gzip: "gzip" or "x-gzip", any case. */
bool st_gzip_is(const char *encoding);

/* Decode the gzip stream in[0..len) (one or more concatenated members)
 * into out (appended).  ST_E_BAD_REQUEST for data that is not gzip or is
 * truncated, ST_E_ATT_TOO_LARGE past max output bytes, ST_E_NOMEM. */
st_status st_gunzip(const void *in, size_t len, size_t max, st_buf *out, st_error *err);

#endif
