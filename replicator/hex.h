/* hex.h — hexadecimal digits, the replicator's one copy: percent-decoding
 * URL credentials (dburl.c) and writing digests (repl_id.c).  Pure; any
 * thread. */
#ifndef ST_HEX_H
#define ST_HEX_H

#include <stddef.h>

/* The value of hex digit c (either case), or -1. */
int st_hex_digit(int c);

/* Lowercase hex of p[0..n) into out, which holds 2n + 1 bytes (NUL ends it). */
void st_hex_encode(const void *p, size_t n, char *out);

#endif
