/* reduce_int.h — what reduce_builtin.c takes from reduce_hll.c (internal to
 * core): _approx_count_distinct's reduction and its final count.  Pure
 * functions, any thread.
 */
#ifndef ST_REDUCE_INT_H
#define ST_REDUCE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "st_error.h"
#include "st_json.h"
#include "st_jw.h"

/* The sketch of keys[0..n) (or, rereduce, the merge of values[0..n)) to w. */
st_status st_reduce_hll(bool rereduce, const st_json *const keys[], const st_json *const values[],
                        size_t n, st_jw *w, st_error *err);
/* The count a sketch stands for. */
st_status st_reduce_hll_count(const st_json *reduction, uint64_t *out, st_error *err);

#endif
