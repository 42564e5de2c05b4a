/* backoff.c — see backoff.h. */
#include "backoff.h"

#include <stdint.h>
#include <stdlib.h>

unsigned st_backoff_ms(unsigned base_ms, unsigned max_ms, unsigned attempt)
{
    uint64_t d = base_ms;
    for (unsigned i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    uint64_t half = d / 2;
    return (unsigned)(half + (half ? (uint64_t)rand() % half : 0));
}
