/* b64.h — base64 in the two alphabets HTTP auth uses.
 *
 * Basic credentials use the standard alphabet (RFC 4648 section 4), with
 * padding; AuthSession cookies and JWTs use the URL-safe one (section 5)
 * without.  Decoding is strict about the alphabet and lenient about padding
 * (accepted if correct, optional), which is what Erlang's decoders that
 * CouchDB uses accept for valid input.  A length of 1 mod 4 is never valid.
 * Thread-safety: pure functions, callable from any thread.
 */
#ifndef ST_SERVER_B64_H
#define ST_SERVER_B64_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { ST_B64_STD, ST_B64_URL } st_b64_alphabet;

/* Bytes needed to decode n characters (an upper bound), and to encode n bytes
 * (exact, without padding for ST_B64_URL, plus one for the NUL). */
#define ST_B64_DECODED_MAX(n) ((n) / 4 * 3 + 3)
#define ST_B64_ENCODED_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Decode in[0..n) into out (cap >= ST_B64_DECODED_MAX(n)); *out_len is set.
 * false on a character outside the alphabet, bad padding, or 1 mod 4 length. */
bool st_b64_decode(st_b64_alphabet a, const char *in, size_t n, unsigned char *out, size_t cap,
                   size_t *out_len);

/* Encode in[0..n) into out (cap >= ST_B64_ENCODED_SIZE(n)), NUL-terminated.
 * ST_B64_STD pads with '='; ST_B64_URL does not.  Returns the text length,
 * 0 if cap is too small (and n > 0). */
size_t st_b64_encode(st_b64_alphabet a, const unsigned char *in, size_t n, char *out, size_t cap);

#endif
