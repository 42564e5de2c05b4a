/* js_utf8.c — strict UTF-8 check and CESU-8 repair (see js_utf8.h). */
#include "js_utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid strict UTF-8 sequence at s (n bytes left), or 0. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 &&
                       (s[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

bool js_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        size_t k;
        /* Answers are mostly ASCII: skip eight bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        k = seq_len(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* A CESU-8 surrogate (ED A0..BF xx) at s?  Sets *unit to the UTF-16 unit. */
static bool surrogate_at(const unsigned char *s, size_t n, unsigned *unit)
{
    if (n < 3 || s[0] != 0xED || s[1] < 0xA0 || s[1] > 0xBF || (s[2] & 0xC0) != 0x80)
        return false;
    *unit = 0xD000u | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    return true;
}

static size_t put_codepoint(unsigned char *o, unsigned cp)
{
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

char *js_utf8_repair(const char *str, size_t n, size_t *out_n)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Each input byte yields at most 3 output bytes (a stray byte -> U+FFFD). */
    unsigned char *out = n <= (SIZE_MAX - 1) / 3 ? malloc(n * 3 + 1) : NULL;
    size_t i = 0, o = 0;

    if (out == NULL)
        return NULL;
    while (i < n) {
        unsigned hi, lo;
        size_t k = seq_len(s + i, n - i);

        if (k > 0) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else if (surrogate_at(s + i, n - i, &hi) && hi < 0xDC00 &&
                   surrogate_at(s + i + 3, n - i - 3, &lo) && lo >= 0xDC00) {
            o += put_codepoint(out + o, 0x10000u + ((hi - 0xD800u) << 10) + (lo - 0xDC00u));
            i += 6;
        } else {
            o += put_codepoint(out + o, 0xFFFDu);
            i += surrogate_at(s + i, n - i, &hi) ? 3 : 1;
        }
    }
    out[o] = '\0';
    *out_n = o;
    return (char *)out;
}
