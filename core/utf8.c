/* utf8.c — see st_utf8.h.  One decoder step, sequence_len(), serves both
 * the check and the repair, so they cannot disagree about what is valid. */
#include "st_utf8.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid sequence starting at s (n bytes available), or 0. */
static size_t sequence_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t more;

    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0; /* continuation byte, or an overlong 2-byte form */
    if (c < 0xE0) {
        more = 1;
    } else if (c < 0xF0) {
        more = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c < 0xF5) {
        more = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n - 1 < more || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= more; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return more + 1;
}

/* Bytes of s from the start that are ASCII, eight at a time. */
static size_t ascii_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
    uint64_t w;

    while (i + 8 <= n) {
        memcpy(&w, s + i, 8);
        if (w & UINT64_C(0x8080808080808080))
            break;
        i += 8;
    }
    while (i < n && s[i] < 0x80)
        i++;
    return i;
}

bool st_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;

    while (i < n) {
        i += ascii_run(s + i, n - i);
        if (i >= n)
            break;
        size_t k = sequence_len(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

st_status st_utf8_repair(st_buf *out, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0, start = 0;
    st_status rc = ST_OK;

    while (i < n && rc == ST_OK) {
        i += ascii_run(s + i, n - i);
        if (i >= n)
            break;
        size_t k = sequence_len(s + i, n - i);
        if (k > 0) {
            i += k;
            continue;
        }
        rc = st_buf_add(out, s + start, i - start);
        if (rc == ST_OK)
            rc = st_buf_add(out, "\xEF\xBF\xBD", 3);
        start = ++i;
    }
    if (rc == ST_OK)
        rc = st_buf_add(out, s + start, n - start);
    return rc;
}
