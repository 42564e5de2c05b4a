/* st_pct.h — percent-encoding, one rule for the project: URL paths and
 * query strings (server, replicator, client), and database names made into
 * file names (the store).
 *
 * Decoding refuses a malformed escape and %00 (a NUL would cut every C
 * string it reaches); '+' means a space only where asked (query strings
 * and forms, as CouchDB's mochiweb reads them; in a path it is literal).
 * Pure; any thread.
 */
#ifndef ST_PCT_H
#define ST_PCT_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"

/* A new NUL-terminated string (free() it), or NULL on a bad escape, %00 or
 * memory failure. */
char *st_pct_decode(const char *s, size_t n, bool plus_space);
/* Append s[0..n) with every byte outside [A-Za-z0-9] and keep as %XX. */
st_status st_pct_encode(st_buf *b, const char *s, size_t n, const char *keep);

#endif
