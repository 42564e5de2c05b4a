/* backoff.h — the replicator's one retry delay: base·2^(attempt-1) ms,
 * capped at max_ms, then scaled by a random factor in [0.5, 1) so that many
 * clients retrying the same server do not do it in lockstep.  Used by the
 * HTTP endpoint's retries and by a continuous replication waiting for its
 * source database.  Any thread (rand() only spreads retries). */
#ifndef ST_BACKOFF_H
#define ST_BACKOFF_H

unsigned st_backoff_ms(unsigned base_ms, unsigned max_ms, unsigned attempt);

#endif
