/* st_base64.h — base64 in the two alphabets settee meets, one
 * implementation for the whole project: the standard one with padding
 * (RFC 4648 section 4: attachments, Basic credentials) and the URL-safe one
 * without (section 5: AuthSession cookies, JWT).
 *
 * Decoding is strict about the alphabet and lenient about padding
 * (accepted if correct, optional), which is what the Erlang decoders
 * CouchDB uses accept for valid input.  A length of 1 mod 4 is never valid.
 * Thread-safety: pure functions, callable from any thread.
 */
#ifndef ST_BASE64_H
#define ST_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"
#include "st_error.h"

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

/* The same appending to a buffer (standard alphabet, padded): attachments.
 * decode: ST_E_BAD_REQUEST on malformed input (padding required here, as
 * CouchDB's attachment data must be whole groups), ST_E_NOMEM on memory;
 * out is the caller's to free either way. */
st_status st_base64_encode(st_buf *out, const void *data, size_t n);
st_status st_base64_decode_to(st_buf *out, const char *in, size_t n);

#endif
