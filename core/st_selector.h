/* st_selector.h — Mango selectors: compile once, match many documents.
 *
 * st_selector_compile() validates a selector (an st_json object) and turns it
 * into a matcher in CouchDB's normal form: implicit $eq and $and made
 * explicit, field names pushed down to the conditions ("a.b"), negations
 * ($not, $nor) pushed down to the conditions by De Morgan, so that
 * {"$not":{"name":"bob"}} is {"name":{"$ne":"bob"}} and, like every
 * condition but {"$exists":false}, never matches a document lacking the
 * field.  The same form is what st_selector_write() renders (CouchDB's
 * _explain "selector") and what the planner analysis below describes.
 *
 * Semantics (shared/PROTOCOL-2.md B.3-B.5, and CouchDB's mango_selector):
 * - comparisons use view collation across types (st_collate.h, ICU mode),
 *   except on the top-level "_id" field, which compares in raw order (ids by
 *   bytes);
 * - {"f": {"a": 1}} constrains the sub-field f.a (CouchDB's normalisation);
 *   equality with a whole object is {"f": {"$eq": {"a": 1}}};
 * - paths split at '.', "\." is a literal dot, and every '\' is dropped; a
 *   segment indexes an array when it is all digits; a missing key is
 *   "missing" (only $exists:false matches), descending into a scalar or past
 *   an array's end matches nothing at all;
 * - $in/$nin test every element of an array field (and the field itself when
 *   it is not an array); $nin matches only documents having the field;
 *   $all needs an array field holding every argument ($all:[] matches
 *   nothing; a single array argument also matches a field equal to it);
 *   $size non-arrays never; $mod only integer values (4.0 does not), the
 *   remainder taking the dividend's sign; $regex and $beginsWith only
 *   strings; $elemMatch some element, $allMatch every element of a non-empty
 *   array; $keyMapMatch some key of an object; $type one of null boolean
 *   number string array object (other names match nothing).
 * Where settee answers differently from CouchDB 3.5, on purpose (the first
 * three are in PROTOCOL-2.md's list of behaviours not worth copying):
 * {"$and":[]} matches every document and {"$or":[]} none; $mod by zero is
 * 400 bad_arg; $text (no text indexes here) is 400 not_supported; $not and
 * $nor inside $elemMatch & co. are normalised as everywhere else (CouchDB
 * leaves them raw there); $all compares by collation like $in (CouchDB: by
 * Erlang term equality); $regex matches UTF-8 characters, not bytes.
 * Duplicate keys in a selector object: the last wins, as CouchDB's decoder
 * keeps it.
 *
 * Errors (st_status, CouchDB's error names, all HTTP 400):
 *   ST_E_INVALID_SELECTOR_JSON  the selector is not an object
 *   ST_E_INVALID_OPERATOR       unknown "$x"; $regex/$beginsWith arg not a string
 *   ST_E_BAD_ARG                an operator's argument has the wrong shape,
 *                               an invalid regex, or a limit below is passed
 *   ST_E_NOT_SUPPORTED          $where, $geoWithin, $near, $text, ...
 *   ST_E_INVALID_SELECTOR       a condition without a field name, or the
 *                               selector is nested too deep
 *   ST_E_BAD_FIELD              an empty path segment ("a..b"), a NUL in a name
 *   ST_E_NOMEM                  allocation failed (500)
 * The limits are the ST_SELECTOR_MAX_* constants below; passing one is a 400
 * (bad_arg for lists and patterns, invalid_selector for depth).
 */
#ifndef ST_SELECTOR_H
#define ST_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"
#include "st_error.h"
#include "st_json.h"
#include "st_json_pick.h"
#include "st_jw.h"

#define ST_SELECTOR_MAX_DEPTH 32    /* JSON nesting of the whole selector */
#define ST_SELECTOR_MAX_LIST 65536  /* values in one $in, $nin or $all */
#define ST_SELECTOR_MAX_REGEX 4096  /* bytes in one $regex pattern */
/* Each $regex match runs under four limits, and a match that reaches one
 * simply does not match.  PCRE2's own match limit counts backtracking per
 * start position only, so a pattern such as (a+)+$ on "aaa...!" repeated
 * would cost limit x length; hence a budget of steps over the whole string
 * (PCRE2 auto-callouts count the pattern items executed), which bounds the
 * worst case near 30 ms on a current core, whatever the string.  The depth
 * and heap limits bound backtracking memory (kept per thread for reuse). */
#define ST_SELECTOR_REGEX_STEP_LIMIT 1000000  /* pattern items run, whole string */
#define ST_SELECTOR_REGEX_MATCH_LIMIT 1000000 /* PCRE2 match limit, per start */
#define ST_SELECTOR_REGEX_DEPTH_LIMIT 20000   /* PCRE2 nested backtracking points */
#define ST_SELECTOR_REGEX_HEAP_KB 4096        /* PCRE2 backtracking memory */

/* A compiled selector.  Immutable once compiled: any number of threads may
 * match, render and analyse it at once.  It owns a copy of every value it
 * needs; the st_json it was compiled from may be freed right away. */
typedef struct st_selector st_selector;

/* Compile sel.  On success *out_sel is set; free it with st_selector_free(). */
st_status st_selector_compile(const st_json *sel, st_selector **out_sel, st_error *err);
void st_selector_free(st_selector *s); /* NULL ok */

/* Does doc (the stored body as an object: _id, _rev, _deleted... as
 * members) match?  Fails only with ST_E_NOMEM (a regex's match memory). */
__attribute__((warn_unused_result))
st_status st_selector_match(const st_selector *s, const st_json *doc, bool *out_match);

/* True for the empty selector {}: every document matches. */
bool st_selector_matches_all(const st_selector *s);

/* The normalised selector as one JSON value: into an open writer (errors
 * are the writer's, sticky), or appended to a buffer. */
void st_selector_write(const st_selector *s, st_jw *w);
__attribute__((warn_unused_result))
st_status st_selector_to_json(const st_selector *s, st_buf *out);

/* ---- analysis for planners -----------------------------------------------
 * What every matching document must satisfy, per field: the conditions at
 * the top level of the selector's $and (nested $and included), plus fields
 * that every branch of a top-level $or requires.  A json index on fields
 * [f1..fn] can answer the selector only if each fi is here with exists set;
 * its key range comes from lo/hi (eq when the field is pinned to a value).
 * A subscription index can file the selector under eq values or ranges.
 * These are necessary conditions only: candidates still go through
 * st_selector_match().  Values are borrowed from the selector. */
typedef struct st_selector_bound {
    const st_json *value; /* NULL: unbounded on this side */
    bool inclusive;       /* the bound value itself is allowed */
} st_selector_bound;

typedef struct st_selector_field {
    const char *path;       /* as in the normal form, e.g. "addr.city" */
    bool exists;            /* every match has this field */
    bool raw;               /* compared in raw order: lo/hi/eq are raw (_id) */
    bool empty;             /* the conditions contradict: nothing matches */
    const st_json *eq;      /* non-NULL: $eq pins the field to this value */
    st_selector_bound lo;   /* from $gt/$gte/$eq, the tightest */
    st_selector_bound hi;   /* from $lt/$lte/$eq, the tightest */
} st_selector_field;

/* All analysed fields, in the order they first appear. */
const st_selector_field *st_selector_fields(const st_selector *s, size_t *out_n);
/* One field by its normal-form path, or NULL when unconstrained. */
const st_selector_field *st_selector_field_find(const st_selector *s, const char *path);

/* The top-level members a match can read: the first segment of every field
 * path (borrowed from the selector), distinct, into keys[0..*out_n).  A
 * match looks at nothing else of the document, so a document holding only
 * these members (and _id, _rev...) matches exactly when the whole one does.
 * False when there are more than cap of them. */
bool st_selector_top_keys(const st_selector *s, st_json_key *keys, size_t cap, size_t *out_n);

#endif
