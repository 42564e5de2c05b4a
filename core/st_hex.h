/* st_hex.h — hex digits, one implementation for the project (rev hashes,
 * uuids, password hashes, percent-escapes).  Pure; any thread. */
#ifndef ST_HEX_H
#define ST_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* Lowercase hex of in[0..n) into out, which holds 2n+1 bytes (NUL-terminated). */
void st_hex_encode(const unsigned char *in, size_t n, char *out);
/* The value of one hex digit (either case), or -1. */
int st_hex_digit(int c);
/* in[0..2n) into out[0..n); false on a non-hex character. */
bool st_hex_decode(const char *in, size_t n, unsigned char *out);

#endif
