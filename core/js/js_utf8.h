/* js_utf8.h — turn Duktape's string bytes into strict UTF-8.
 *
 * Duktape keeps strings in an extended UTF-8 where each UTF-16 surrogate is
 * encoded on its own (CESU-8), so JSON.stringify writes "\ud83d\ude00" as
 * six bytes that strict parsers (settee's st_json, jiffy) reject.  Before an
 * answer leaves the process, surrogate pairs become one 4-byte sequence and
 * anything else invalid (a lone surrogate, a stray byte) becomes U+FFFD, as
 * CouchDB does for lone surrogates it receives.  Pure functions.
 */
#ifndef JS_UTF8_H
#define JS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool js_utf8_valid(const char *s, size_t n);

/* A malloc'd strict-UTF-8 copy of s[0..n) (*out_n bytes); NULL on ENOMEM. */
char *js_utf8_repair(const char *s, size_t n, size_t *out_n);

#endif
