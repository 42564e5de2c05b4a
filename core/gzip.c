/* gzip.c — see st_gzip.h.
 *
 * Why decode into a fixed window handed to a callback instead of sizing
 * the output from the gzip trailer (ISIZE): the trailer is only a hint
 * modulo 2^32 written by the sender; the cap is what keeps memory bounded,
 * and counting (to learn an encoded attachment's length) then costs no
 * memory at all.
 */
#include "st_gzip.h"

#include <stdlib.h>
#include <strings.h>
#include <zlib.h>

#define WINDOW (64u * 1024)

bool st_gzip_is(const char *encoding)
{
    return encoding && (strcasecmp(encoding, "gzip") == 0 || strcasecmp(encoding, "x-gzip") == 0);
}

st_status st_gzip(const void *in, size_t len, int level, st_buf *out, st_error *err)
{
    z_stream z = {0};
    if (deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = ST_OK;
    z.next_in = (Bytef *)in;
    size_t left = len;
    int zr = Z_OK;
    while (zr != Z_STREAM_END) {
        if (z.avail_in == 0 && left) {
            uInt chunk = left > (size_t)1 << 30 ? (uInt)1 << 30 : (uInt)left;
            z.avail_in = chunk;
            left -= chunk;
        }
        if ((st = st_buf_reserve(out, WINDOW)) != ST_OK) {
            st_fail(err, st, "attachment too large to compress");
            break;
        }
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = WINDOW;
        zr = deflate(&z, left || z.avail_in ? Z_NO_FLUSH : Z_FINISH);
        out->len += WINDOW - z.avail_out;
        out->data[out->len] = '\0';
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            st = st_fail(err, ST_E_IO, "gzip failed");
            break;
        }
    }
    deflateEnd(&z);
    return st;
}

st_status st_gunzip_each(const void *in, size_t len, size_t max,
                         int (*fn)(void *ctx, const void *p, size_t n), void *ctx,
                         size_t *out_len, st_error *err)
{
    z_stream z = {0};
    /* 16 + MAX_WBITS: gzip framing only (no raw deflate, no zlib). */
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    unsigned char *win = malloc(WINDOW);
    if (!win) {
        inflateEnd(&z);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    st_status st = ST_OK;
    size_t produced = 0, left = len;
    z.next_in = (Bytef *)in;
    for (;;) {
        if (z.avail_in == 0 && left) {
            uInt chunk = left > (size_t)1 << 30 ? (uInt)1 << 30 : (uInt)left;
            z.avail_in = chunk;
            left -= chunk;
        }
        z.next_out = win;
        z.avail_out = WINDOW;
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t got = WINDOW - z.avail_out;
        if (got > max - produced) {
            st = st_fail(err, ST_E_ATT_TOO_LARGE, "attachment is too large once decoded");
            break;
        }
        produced += got;
        if (got && fn && fn(ctx, win, got)) {
            st = ST_E_BUSY;
            break;
        }
        if (zr == Z_STREAM_END) {
            /* Another member may follow (concatenated gzip). */
            if (z.avail_in == 0 && left == 0)
                break;
            if (inflateReset(&z) != Z_OK) {
                st = st_fail(err, ST_E_BAD_REQUEST, "invalid gzip attachment data");
                break;
            }
        } else if (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0) {
            st = st_fail(err, ST_E_BAD_REQUEST, "truncated gzip attachment data");
            break;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            st = st_fail(err, ST_E_BAD_REQUEST, "invalid gzip attachment data");
            break;
        }
    }
    free(win);
    inflateEnd(&z);
    if (out_len)
        *out_len = produced;
    return st;
}

static int append(void *ctx, const void *p, size_t n)
{
    return st_buf_add(ctx, p, n) != ST_OK;
}

st_status st_gunzip(const void *in, size_t len, size_t max, st_buf *out, st_error *err)
{
    size_t start = out->len;
    st_status st = st_gunzip_each(in, len, max, append, out, NULL, err);
    if (st == ST_E_BUSY)
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    if (st != ST_OK && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    if (st == ST_OK && !out->data)
        st = st_buf_reserve(out, 1);
    return st;
}
