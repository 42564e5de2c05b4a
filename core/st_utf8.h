/* st_utf8.h — strict UTF-8 (RFC 3629): the one check every id, name and
 * string that reaches storage or output goes through, and the repair used
 * where bytes that are not UTF-8 must still become text.
 *
 * Strict means: no overlong forms, no encoded surrogates (U+D800..DFFF),
 * nothing past U+10FFFF, no truncated sequences.  CouchDB refuses the same
 * (couch_util:validate_utf8), and JSON text must be UTF-8.
 * Pure functions; any thread.
 */
#ifndef ST_UTF8_H
#define ST_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"
#include "st_error.h"

/* s[0..n) is strict UTF-8 (NUL bytes included, they are valid). */
bool st_utf8_valid(const void *s, size_t n);

/* Append s[0..n) to out with every byte that does not start a valid
 * sequence replaced by U+FFFD (EF BF BD), so the result is valid UTF-8; a
 * valid input is copied unchanged.  ST_E_NOMEM / ST_E_TOO_LARGE from out. */
st_status st_utf8_repair(st_buf *out, const void *s, size_t n);

#endif
