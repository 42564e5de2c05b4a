/* st_base64.h — base64, standard (attachments) and url-safe unpadded
 * (cookies, JWT), one implementation for the whole project.
 *
 * Decoders accept any length the caller's buffer cap allows and refuse
 * malformed input; they never read past n.  Pure functions; any thread.
 */
#ifndef ST_BASE64_H
#define ST_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"
#include "st_error.h"

/* Standard alphabet, padded; appended to out. */
st_status st_base64_encode(st_buf *out, const void *data, size_t n);
/* Standard alphabet, padding required; appended to out.  false on
 * malformed input or memory failure. */
bool st_base64_decode(const char *in, size_t n, st_buf *out);

/* URL-safe alphabet ('-', '_'), no padding; appended to out. */
st_status st_base64url_encode(st_buf *out, const void *data, size_t n);
/* Either alphabet, padding optional; appended to out.  false on malformed
 * input or memory failure. */
bool st_base64_decode_any(const char *in, size_t n, st_buf *out);

#endif
