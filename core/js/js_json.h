/* js_json.h — a request line's JSON straight onto the Duktape value stack.
 *
 * Why not Duktape's JSON.parse: CouchDB seals the document it hands to map
 * functions (so one map function cannot change what the next one sees), and
 * freezing a parsed document afterwards means enumerating every object,
 * which in Duktape costs three times the parse itself (12 us for a 200-byte
 * document).  This decoder freezes each container as it completes it
 * instead.  It also parses non-integer numbers with strtod, where Duktape
 * uses bignum arithmetic (4 us per number).  Values come out exactly as
 * JSON.parse makes them: \u escapes become one code unit each (a surrogate
 * pair stays two units), raw UTF-8 bytes are kept, duplicate keys keep the
 * last value, "__proto__" is an ordinary own property.
 *
 * Output is left to Duktape's JSON.stringify: one conversion each way.
 */
#ifndef JS_JSON_H
#define JS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <duktape.h>

#define JS_JSON_MAX_DEPTH 1000  /* as deep as Duktape's JSON.stringify writes */

/* Push the value of s[0..n).  Throws a SyntaxError (or a RangeError when the
 * heap is full), so call it inside a protected call.  When the value is an
 * array whose first element is the string "map_doc", every object and array
 * below the top level is frozen, and the result is true with the
 * document (its second element, undefined if none) pushed in place of the
 * command.  object_proto is Object.prototype (a
 * heap pointer the caller keeps reachable): objects get it as JSON.parse's
 * do. */
bool js_json_push(duk_context *ctx, const char *s, size_t n, void *object_proto);

#endif
