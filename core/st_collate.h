/* st_collate.h — CouchDB's view collation of JSON values, and sort keys.
 *
 * Order (CouchDB's default, "ICU" mode):
 *   null < false < true < numbers < strings < arrays < objects
 * - numbers by numeric value: integers (text without '.', 'e', 'E') are exact
 *   at any length; other numbers are doubles (strtod); an integer and a double
 *   compare exactly ("1" == "1.0", 2^53+1 > 2^53 as a double).  Text beyond
 *   the double range ("1e999") is +-infinity, above or below every finite
 *   number.
 * - strings by ICU's root collator with ICU's defaults, as CouchDB opens it
 *   (ucol_open(""), no attribute changed: tertiary strength, normalization
 *   off): symbols first, then digits, then letters, "a" < "A" < "aa" < "b",
 *   "e" < "é" < "f".
 * - arrays element by element, a prefix first; objects member by member in
 *   member order (key by string collation, then value), fewer members first.
 *
 * RAW mode (a view's "collation":"raw", CouchDB's Erlang term order):
 *   numbers < false < null < true < objects < arrays < strings,
 * numbers as above, strings and object keys by bytes.
 * st_collate_bytes() is plain byte order, the order of _all_docs and _id.
 *
 * Sort keys: st_collate_key() appends to a buffer a byte string whose memcmp
 * order (shorter first on a common prefix, i.e. SQLite's BLOB order) equals
 * st_collate()'s order in the same mode, and two keys are equal exactly when
 * the values collate equal.  Each value's key is self-delimiting, so the
 * concatenation of several keys orders like the tuple of the values (a
 * multi-field index key).  Layout: a type tag byte, then
 *   numbers: a class byte (-inf, negative, zero, positive, +inf) and, for
 *            finite non-zero values, a 4-byte exponent and the decimal
 *            digits (complemented for negatives) and a terminator;
 *   strings: ICU's sort key with its 0x00 terminator (RAW: the bytes, with
 *            0x00/0x01 escaped, then 0x00);
 *   arrays:  the elements' keys, then 0x00;
 *   objects: per member 0x01, the key's string key, the value's key; 0x00.
 * Where the encoding is not exact: none for the values st_json can hold —
 * integers keep every digit, and doubles are encoded by their shortest
 * round-trip decimal below 2^53 (which orders exactly like the doubles and
 * like integers there) and by their exact integer value from 2^53 up.  Text
 * that overflows a double is +-infinity in both compare and key, so
 * "1e400" == "2e400"; text that underflows is 0 (or the nearest subnormal).
 *
 * ICU sort keys depend on ICU's collator version: keys stored on disk must be
 * rebuilt when st_collate_version() changes (an ICU upgrade).
 *
 * Threads: every function may be called from any thread at any time.  ICU
 * collators are not shared between threads: the root collator is opened once
 * and each thread uses its own ucol_clone() of it (freed when the thread
 * exits); if a clone cannot be made, that call uses the shared collator under
 * a mutex instead.  If ICU cannot open its root collator at all (its data is
 * missing), strings order by bytes everywhere and st_collate_init() says so.
 * Nothing here allocates except key building (the caller's buffer) and the
 * per-thread clone.  Recursion depth equals the values' nesting, which
 * st_json bounds when it parses.
 */
#ifndef ST_COLLATE_H
#define ST_COLLATE_H

#include <stddef.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_error.h"
#include "st_json.h"

typedef enum {
    ST_COLLATE_ICU = 0, /* CouchDB's default view collation */
    ST_COLLATE_RAW = 1  /* "collation":"raw": Erlang term order, strings by bytes */
} st_collate_mode;

/* Open ICU's root collator now (it is otherwise opened on first use) and
 * report whether ICU works: ST_E_IO with ICU's error when it cannot.  Safe
 * to call any number of times from any thread. */
st_status st_collate_init(st_error *err);

/* Compare two values: <0, 0 or >0 (always -1, 0 or 1). */
int st_collate(const st_json *a, const st_json *b, st_collate_mode mode);

/* Two UTF-8 strings by ICU collation, and by bytes (a shorter prefix first). */
int st_collate_str(const char *a, size_t an, const char *b, size_t bn);
int st_collate_bytes(const char *a, size_t an, const char *b, size_t bn);

/* Append v's sort key to out.  ST_E_NOMEM, or ST_E_TOO_LARGE when out's cap
 * is reached (out is then left as it was before the call). */
__attribute__((warn_unused_result))
st_status st_collate_key(const st_json *v, st_collate_mode mode, st_buf *out);

/* ICU's collator version as "a.b.c.d" (at least 24 bytes), or "bytes" when
 * ICU is unusable; stored next to persisted keys to detect ICU upgrades. */
void st_collate_version(char *out, size_t cap);

#endif
