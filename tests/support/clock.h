/* clock.h — time for tests: a monotonic clock in milliseconds, a sleep
 * that survives signals, and a wait for a condition with a deadline, so no
 * test waits forever.  Pure; any thread.
 */
#ifndef TS_CLOCK_H
#define TS_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (only differences mean anything). */
uint64_t ts_now_ms(void);

/* Sleep ms milliseconds, resuming after a signal. */
void ts_sleep_ms(unsigned ms);

/* Poll cond(arg) every poll_ms until it holds or timeout_ms have passed;
 * the answer is cond's last one (asked once more at the deadline). */
bool ts_wait_for(bool (*cond)(void *arg), void *arg, unsigned timeout_ms, unsigned poll_ms);

#endif
