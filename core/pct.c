/* pct.c — see st_pct.h. */
#include "st_pct.h"

#include <stdlib.h>
#include <string.h>
#include "st_hex.h"

char *st_pct_decode(const char *s, size_t n, bool plus_space)
{
    char *out = malloc(n + 1);
    size_t j = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi = i + 2 < n ? st_hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? st_hex_digit((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi | lo) == 0) {
                free(out);
                return NULL;
            }
            ch = (char)(hi << 4 | lo);
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        }
        out[j++] = ch;
    }
    out[j] = '\0';
    return out;
}

st_status st_pct_encode(st_buf *b, const char *s, size_t n, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    st_status st = st_buf_reserve(b, n);
    for (size_t i = 0; i < n && st == ST_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c && keep && strchr(keep, c))) {
            st = st_buf_addc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            st = st_buf_add(b, e, 3);
        }
    }
    return st;
}
