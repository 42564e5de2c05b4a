/* ring.h — the most recent change rows of one database, each formatted
 * once (internal to core; followers read it, the writer fills it).
 *
 * The ring holds exactly the rows st_db_changes would return for the range
 * base < seq <= top: every row of that range, and a row whose document
 * changed again later is marked gone (storage has moved it).  Rows older
 * than base are not here: a reader behind base gets ST_E_NOT_FOUND and
 * reads storage.
 *
 * Threading: every function takes the ring's own lock; any thread.
 */
#ifndef ST_RING_H
#define ST_RING_H

#include <stdbool.h>
#include <stdint.h>
#include "st_db.h"

#define ST_RING_CAP 1024

typedef struct st_ring st_ring;

st_ring *st_ring_new(uint64_t at);     /* empty, base = top = at; NULL on OOM */
void st_ring_free(st_ring *g);         /* NULL ok */
/* Forget every row: base = top = at (rows up to at are elsewhere). */
void st_ring_reset(st_ring *g, uint64_t at);
uint64_t st_ring_top(st_ring *g);
/* Append the row at seq (> top), evicting the oldest when full.  On memory
 * failure the ring is reset to seq (correct, only colder). */
void st_ring_append(st_ring *g, uint64_t seq, const char *id, const char *rev, bool deleted);
/* Up to limit rows after since.  *out_last: the last row's seq when limit
 * stopped the read, else top; *out_pending: rows left after it.  fn
 * returning nonzero stops (the rows it took count). */
st_status st_ring_read(st_ring *g, uint64_t since, uint64_t limit, st_change_fn fn, void *ctx,
                       uint64_t *out_last, uint64_t *out_pending);

/* The row at seq: fn is called with it (ST_OK), or not at all when that
 * row is gone (ST_OK: its document changed again); ST_E_NOT_FOUND when seq
 * is outside base < seq <= top.  fn runs under the ring's lock. */
st_status st_ring_get(st_ring *g, uint64_t seq, st_change_fn fn, void *ctx);

#endif
