/* st_json_pick.h — parse a JSON object building only some of its top-level
 * members, the rest checked and skipped.
 *
 * Why: a Mango full scan parses every stored body to match a selector that
 * reads a few members; building the whole tree, with its allocations, was
 * most of the parse.  This parser is a fast path, not a second JSON parser
 * with its own answers: it accepts a strict subset of what st_json_parse
 * accepts and declines everything else — invalid JSON, any \u escape,
 * whitespace other than space, tab, CR and LF, nesting deeper than
 * ST_JSON_PICK_DEPTH, a root that is not an object, running out of memory —
 * and the caller then runs st_json_parse, whose answer (a tree or an error)
 * is the exact one.  When it accepts, st_json_parse(text, n, NULL, ...)
 * succeeds and the members it keeps under the named keys are exactly what
 * the picked object holds (tests/fuzz/fuzz_json_pick.c checks both).
 *
 * Ownership: an st_json_pick is scratch reused from one parse to the next;
 * the object a parse returns, and everything it points to, lives in it until
 * the next parse or st_json_pick_free().  Threads: one st_json_pick per
 * thread at a time; nothing global.
 */
#ifndef ST_JSON_PICK_H
#define ST_JSON_PICK_H

#include <stdbool.h>
#include <stddef.h>

#include "st_json.h"

#define ST_JSON_PICK_DEPTH 64 /* deeper: declined (st_json_parse allows 4096) */

typedef struct st_json_pick st_json_pick;

/* A member name, unescaped, as the keys of st_json_member. */
typedef struct st_json_key {
    const char *key;
    size_t len;
} st_json_key;

st_json_pick *st_json_pick_new(void); /* NULL when out of memory */
void st_json_pick_free(st_json_pick *p); /* NULL ok */

/* Parse text[0..n) keeping the members named in keys[0..nkeys) (with all
 * they hold).  True: *out is an object of `lead` zeroed members, for the
 * caller to fill, then those members in input order, of duplicate keys only
 * the last, as st_json_parse builds them.  False: not handled here (see
 * above); *out is untouched and the caller falls back. */
bool st_json_pick_parse(st_json_pick *p, const char *text, size_t n, const st_json_key *keys,
                        size_t nkeys, size_t lead, st_json *out);

/* Parse text[0..n) as any value, everything kept, under the same rules
 * (declined: false, *out untouched).  Where a small answer is parsed again
 * and again (a query server's), this skips json.c's parser set-up. */
bool st_json_pick_value(st_json_pick *p, const char *text, size_t n, st_json *out);

#endif
