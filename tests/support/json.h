/* json.h — looking into a JSON answer the way a test asserts on it: by
 * text, without a parser, so a test of the JSON code does not lean on the
 * JSON code.  Good for the compact JSON settee writes ("key":"value", no
 * spaces), not for JSON in general.  Pure; any thread.
 */
#ifndef TS_JSON_H
#define TS_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Copy the value of the first "key":"value" in json into out; false when
 * there is none, or it does not fit in cap bytes (with its NUL).  Escapes
 * are not decoded: the value ends at the first '"'. */
bool ts_json_str(const char *json, const char *key, char *out, size_t cap);

#endif
