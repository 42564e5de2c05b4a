/* rev_int.h — rev.c internals exposed to its unit tests only.
 *
 * The rev hash is md5 of an Erlang external-term encoding; the tests check
 * that encoding byte for byte against CouchDB, so the encoder is reachable
 * here.  Nothing outside rev.c and tests/core/test_rev.c includes this.
 */
#ifndef ST_REV_INT_H
#define ST_REV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"
#include "st_error.h"
#include "st_json.h"
#include "st_rev.h"

/* Longest JSON integer (in digits) turned into an Erlang bignum.  Decimal to
 * binary conversion is quadratic, so an attacker-sized integer is refused
 * (ST_E_BAD_REQUEST) instead of burning CPU; 100000 digits take ~20 ms. */
#define ST_REV_MAX_INT_DIGITS 100000

/* Deepest JSON nesting the encoder follows (iteratively: the levels are on
 * the heap); the same as the parser's default, so any document that parses
 * gets a rev id. */
#define ST_REV_MAX_DEPTH ST_JSON_DEFAULT_DEPTH

/* Append term_to_binary([Deleted, OldGen, OldRevId, Body, AttDigests],
 * [{minor_version,1}]) to out: exactly the bytes st_rev_compute() hashes.
 * Same arguments and errors as st_rev_compute(), plus ST_E_TOO_LARGE from
 * the buffer. */
st_status st_rev_term_encode(const st_rev *parent, bool deleted, const st_json *doc,
                             const st_rev_att *atts, size_t n_atts, st_buf *out,
                             st_error *err);

/* Append the external term (version byte 131 first) of one JSON value as
 * jiffy would decode it.  For tests of the value encoding on its own. */
st_status st_rev_term_encode_value(const st_json *v, st_buf *out, st_error *err);

#endif
