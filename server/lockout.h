/* lockout.h — CouchDB's lockout after repeated authentication failures.
 *
 * [chttpd_auth_lockout] mode = enforce | warn | off, threshold = 5, lifted
 * 300 s after the first failure.  Failures are counted per (client address,
 * user name, user salt) — the salt as CouchDB does, so a password reset
 * unlocks; pass NULL when there is none (unknown user).  Once the count
 * reaches the threshold every attempt, even with the right password, is
 * refused with 403 ST_LOCKOUT_REASON (enforce) or only reported (warn).
 * Success does not reset the count: the lock lifts with time, as in CouchDB.
 *
 * Bounded memory: a fixed table allocated at creation (max_entries slots,
 * 8-way set-associative, ~32 bytes a slot) holding keyed digests, never the
 * names or addresses.  When a set is full, an expired slot goes first, then
 * the oldest one still below the threshold, then the oldest lock: a spray of
 * fresh names or addresses cannot grow memory and has to fill a whole set
 * with locks of its own to push a real lock out.
 *
 * Clock: calls take `now` (Unix seconds).  Threads: any thread; one mutex,
 * held for at most 8 slot comparisons.
 */
#ifndef ST_SERVER_LOCKOUT_H
#define ST_SERVER_LOCKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_LOCKOUT_REASON "Account is temporarily locked due to multiple authentication failures"

typedef enum { ST_LOCKOUT_OFF = 0, ST_LOCKOUT_WARN, ST_LOCKOUT_ENFORCE } st_lockout_mode;

typedef struct st_lockout_config {
    st_lockout_mode mode; /* enforce */
    unsigned threshold;   /* 5 failures */
    unsigned lift_s;      /* 300 s after the first failure */
    size_t max_entries;   /* 10000 slots (CouchDB's max_objects) */
} st_lockout_config;

typedef enum {
    ST_LOCKOUT_PASS = 0, /* go ahead and check the credentials */
    ST_LOCKOUT_WARNED,   /* warn mode: would be locked; log it and go ahead */
    ST_LOCKOUT_LOCKED    /* enforce mode: refuse with 403 ST_LOCKOUT_REASON */
} st_lockout_verdict;

typedef struct st_lockout st_lockout;

void st_lockout_config_init(st_lockout_config *c);
bool st_lockout_parse_mode(const char *s, st_lockout_mode *out); /* "enforce", "warn", "off" */

st_lockout *st_lockout_new(const st_lockout_config *c); /* NULL on failure */
void st_lockout_free(st_lockout *l);                    /* NULL ok */

/* Before checking credentials. */
st_lockout_verdict st_lockout_check(st_lockout *l, const char *addr, const char *name,
                                    const char *salt, int64_t now);
/* After a failed check. */
void st_lockout_failed(st_lockout *l, const char *addr, const char *name, const char *salt,
                       int64_t now);
/* Slots holding a live (unexpired) count; for tests and metrics. */
size_t st_lockout_count(st_lockout *l, int64_t now);
size_t st_lockout_capacity(const st_lockout *l); /* slots allocated */

#endif
