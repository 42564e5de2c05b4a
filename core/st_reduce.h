/* st_reduce.h — CouchDB's built-in reduce functions, in C: _sum, _count,
 * _stats and _approx_count_distinct (the query server never sees them; in
 * CouchDB Erlang runs them, here this module does).
 *
 * Results match CouchDB 3.5's: integers stay integers (int64; past that
 * Erlang's bignums become doubles here), floats are written as jiffy writes
 * them (shortest round trip, "3.0" for integral values, "1e+21" past 1e21),
 * arrays sum element-wise, objects key by key.  A value _sum cannot add
 * does not fail: the reduction becomes the object {"error":
 * "builtin_reduce_error","reason":...,"caused_by":value}, as in CouchDB.
 * _stats over something that is not a number (or a stats object) fails with
 * ST_E_INVALID_VALUE.  _approx_count_distinct's reduction is a sketch: exact
 * (distinct key hashes) up to ST_REDUCE_HLL_EXACT_MAX keys, then a
 * HyperLogLog of 2^11 registers (CouchDB's precision); st_reduce_finalize
 * turns it into the count a query answers with.
 *
 * Reductions are JSON text appended to a caller's st_buf; inputs are
 * borrowed.  Pure functions: any thread.
 */
#ifndef ST_REDUCE_H
#define ST_REDUCE_H

#include <stdbool.h>
#include <stddef.h>
#include "st_buf.h"
#include "st_error.h"
#include "st_json.h"

#define ST_REDUCE_HLL_EXACT_MAX 256

typedef enum {
    ST_REDUCE_SUM = 1,
    ST_REDUCE_COUNT,
    ST_REDUCE_STATS,
    ST_REDUCE_APPROX_COUNT_DISTINCT
} st_reduce_builtin;

/* CouchDB's [query_server_config] reduce_limit check, applied to _sum: a
 * result over `threshold` bytes and more than input/ratio bytes becomes a
 * builtin_reduce_error object ("Reduce output must shrink more rapidly").
 * Sizes are JSON bytes here (CouchDB measures Erlang terms). */
typedef struct st_reduce_limits {
    bool reduce_limit;  /* default true */
    size_t threshold;   /* reduce_limit_threshold, default 4906 */
    double ratio;       /* reduce_limit_ratio, default 2.0 */
} st_reduce_limits;

void st_reduce_limits_init(st_reduce_limits *l);

/* The built-in named src ("_sum", "_count", "_stats",
 * "_approx_count_distinct"); false for anything else ("_bogus"). */
bool st_reduce_builtin_lookup(const char *src, st_reduce_builtin *out);

/* Reduce n rows: keys[i] and values[i] are a map row's key and value.  With
 * rereduce, values are earlier reductions of the same function and keys is
 * ignored (may be NULL).  lim may be NULL (defaults).  Appends the reduction
 * to out. */
st_status st_reduce_run(st_reduce_builtin fn, bool rereduce, const st_json *const keys[],
                        const st_json *const values[], size_t n, const st_reduce_limits *lim,
                        st_buf *out, st_error *err);

/* What a query shows for a stored reduction: the count for
 * _approx_count_distinct, the reduction itself for the others. */
st_status st_reduce_finalize(st_reduce_builtin fn, const st_json *reduction, st_buf *out,
                             st_error *err);

#endif
