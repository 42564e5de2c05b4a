/* clock.c — see clock.h. */
#include "support/clock.h"

#include <errno.h>
#include <time.h>

uint64_t ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ts_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

bool ts_wait_for(bool (*cond)(void *arg), void *arg, unsigned timeout_ms, unsigned poll_ms)
{
    for (uint64_t t0 = ts_now_ms(); ts_now_ms() - t0 < timeout_ms;) {
        if (cond(arg))
            return true;
        ts_sleep_ms(poll_ms);
    }
    return cond(arg);
}
