/* base64.c — see st_base64.h.  libcrypto's EVP block coders do the work;
 * this file only checks the alphabet and handles padding and url-safety. */
#include "st_base64.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

st_status st_base64_encode(st_buf *out, const void *data, size_t n)
{
    size_t need = 4 * ((n + 2) / 3);
    st_status st = st_buf_reserve(out, need + 1);
    if (st != ST_OK)
        return st;
    /* EVP_EncodeBlock takes an int length: encode in slices of whole groups. */
    const unsigned char *p = data;
    while (n > 0) {
        size_t chunk = n > (size_t)3 * (1u << 28) ? (size_t)3 * (1u << 28) : n;
        int w = EVP_EncodeBlock((unsigned char *)out->data + out->len, p, (int)chunk);
        out->len += (size_t)w;
        p += chunk;
        n -= chunk;
    }
    out->data[out->len] = '\0';
    return ST_OK;
}

static bool std_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

/* Decode in[0..n) (standard alphabet, n % 4 == 0, pad trailing '='s). */
static bool decode_std(const char *in, size_t n, size_t pad, st_buf *out)
{
    if (n == 0)
        return st_buf_reserve(out, 1) == ST_OK;
    if (st_buf_reserve(out, n / 4 * 3 + 1) != ST_OK)
        return false;
    /* EVP_DecodeBlock takes an int: decode in slices of whole groups. */
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > (size_t)1 << 30 ? (size_t)1 << 30 : n - done;
        int w = EVP_DecodeBlock((unsigned char *)out->data + out->len,
                                (const unsigned char *)in + done, (int)chunk);
        if (w < 0)
            return false;
        out->len += (size_t)w;
        done += chunk;
    }
    out->len -= pad;
    out->data[out->len] = '\0';
    return true;
}

bool st_base64_decode(const char *in, size_t n, st_buf *out)
{
    if (n % 4 != 0)
        return false;
    size_t pad = 0;
    if (n && in[n - 1] == '=')
        pad++;
    if (n > 1 && in[n - 2] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++)
        if (!std_char(in[i]))
            return false;
    return decode_std(in, n, pad, out);
}

st_status st_base64url_encode(st_buf *out, const void *data, size_t n)
{
    size_t start = out->len;
    st_status st = st_base64_encode(out, data, n);
    if (st != ST_OK)
        return st;
    while (out->len > start && out->data[out->len - 1] == '=')
        out->len--;
    for (size_t i = start; i < out->len; i++) {
        if (out->data[i] == '+')
            out->data[i] = '-';
        else if (out->data[i] == '/')
            out->data[i] = '_';
    }
    out->data[out->len] = '\0';
    return ST_OK;
}

bool st_base64_decode_any(const char *in, size_t n, st_buf *out)
{
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return false;
    st_buf tmp = ST_BUF_INIT;
    size_t full = n + (4 - n % 4) % 4;
    if (st_buf_reserve(&tmp, full + 1) != ST_OK)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = in[i];
        if (ch == '-')
            ch = '+';
        else if (ch == '_')
            ch = '/';
        if (!std_char(ch)) {
            st_buf_free(&tmp);
            return false;
        }
        tmp.data[i] = ch;
    }
    for (size_t i = n; i < full; i++)
        tmp.data[i] = '=';
    tmp.len = full;
    bool ok = decode_std(tmp.data, full, full - n, out);
    st_buf_free(&tmp);
    return ok;
}
