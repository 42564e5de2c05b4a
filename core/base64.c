/* base64.c — see st_base64.h.  Table-driven: libcrypto's EVP_DecodeBlock
 * neither reports padding nor knows the URL alphabet. */
#include "st_base64.h"

#include <stdint.h>

static const char std_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int sextet(st_b64_alphabet a, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (a == ST_B64_STD)
        return c == '+' ? 62 : c == '/' ? 63 : -1;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Strip correct padding: "xx==" or "xxx=" in the last group only. */
static bool strip_padding(const char *in, size_t *n)
{
    size_t pad = 0;
    while (pad < *n && pad < 2 && in[*n - 1 - pad] == '=')
        pad++;
    if (pad == 0)
        return true;
    if (*n % 4 != 0)
        return false;
    *n -= pad;
    return true;
}

bool st_b64_decode(st_b64_alphabet a, const char *in, size_t n, unsigned char *out, size_t cap,
                   size_t *out_len)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    if (!strip_padding(in, &n) || n % 4 == 1)
        return false;
    if (cap < n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0))
        return false;
    for (size_t i = 0; i < n; i++) {
        int v = sextet(a, (unsigned char)in[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out_len = o;
    return true;
}

size_t st_b64_encode(st_b64_alphabet a, const unsigned char *in, size_t n, char *out, size_t cap)
{
    const char *chars = a == ST_B64_STD ? std_chars : url_chars;
    size_t o = 0;
    if (cap < ST_B64_ENCODED_SIZE(n))
        return 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        out[o++] = chars[v >> 18 & 63];
        out[o++] = chars[v >> 12 & 63];
        if (left > 1)
            out[o++] = chars[v >> 6 & 63];
        else if (a == ST_B64_STD)
            out[o++] = '=';
        if (left > 2)
            out[o++] = chars[v & 63];
        else if (a == ST_B64_STD)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

st_status st_base64_encode(st_buf *out, const void *data, size_t n)
{
    st_status st = st_buf_reserve(out, ST_B64_ENCODED_SIZE(n));
    if (st != ST_OK)
        return st;
    out->len += st_b64_encode(ST_B64_STD, data, n, out->data + out->len, out->cap - out->len);
    return ST_OK;
}

st_status st_base64_decode_to(st_buf *out, const char *in, size_t n)
{
    if (n % 4 != 0)
        return ST_E_BAD_REQUEST;
    st_status st = st_buf_reserve(out, ST_B64_DECODED_MAX(n) + 1);
    if (st != ST_OK)
        return st;
    size_t len = 0;
    if (!st_b64_decode(ST_B64_STD, in, n, (unsigned char *)out->data + out->len,
                       out->cap - out->len - 1, &len))
        return ST_E_BAD_REQUEST;
    out->len += len;
    out->data[out->len] = '\0';
    return ST_OK;
}
