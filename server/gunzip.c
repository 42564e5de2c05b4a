/* gunzip.c — see gunzip.h.
 *
 * Why inflate into the growing st_buf in steps instead of sizing the
 * output from the gzip trailer (ISIZE): the trailer is only a hint modulo
 * 2^32 written by the sender; the cap is what keeps memory bounded.
 */
#include "gunzip.h"

#include <strings.h>
#include <zlib.h>

#define STEP (64u * 1024)

bool st_gzip_is(const char *encoding)
{
    return encoding && (strcasecmp(encoding, "gzip") == 0 || strcasecmp(encoding, "x-gzip") == 0);
}

st_status st_gunzip(const void *in, size_t len, size_t max, st_buf *out, st_error *err)
{
    z_stream z = {0};
    st_status rc = ST_OK;
    size_t start = out->len;
    /* 16 + MAX_WBITS: gzip framing only (no raw deflate, no zlib). */
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    z.next_in = (Bytef *)in;
    size_t left = len;
    bool ended = false;
    for (;;) {
        if (z.avail_in == 0 && left) {
            uInt chunk = left > (size_t)1 << 30 ? (uInt)1 << 30 : (uInt)left;
            z.avail_in = chunk;
            left -= chunk;
        }
        size_t produced = out->len - start;
        if (produced >= max && !ended) {
            /* Full: only an end of stream with no more output may follow. */
            unsigned char probe;
            z.next_out = &probe;
            z.avail_out = 1;
            int zr = inflate(&z, Z_NO_FLUSH);
            if (z.avail_out == 0) {
                rc = st_fail(err, ST_E_ATT_TOO_LARGE, "attachment is too large once decoded");
                break;
            }
            if (zr == Z_STREAM_END) {
                ended = true;
            } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
                rc = st_fail(err, ST_E_BAD_REQUEST, "invalid gzip attachment data");
                break;
            } else if (z.avail_in == 0 && left == 0) {
                rc = st_fail(err, ST_E_BAD_REQUEST, "truncated gzip attachment data");
                break;
            }
        } else if (!ended) {
            size_t room = max - produced < STEP ? max - produced : STEP;
            st_status rs = st_buf_reserve(out, room);
            if (rs != ST_OK) {
                rc = rs == ST_E_TOO_LARGE
                         ? st_fail(err, ST_E_ATT_TOO_LARGE, "attachment is too large once decoded")
                         : st_fail(err, ST_E_NOMEM, "out of memory");
                break;
            }
            z.next_out = (Bytef *)out->data + out->len;
            z.avail_out = (uInt)room;
            int zr = inflate(&z, Z_NO_FLUSH);
            out->len += room - z.avail_out;
            out->data[out->len] = '\0';
            if (zr == Z_STREAM_END) {
                ended = true;
            } else if (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0) {
                rc = st_fail(err, ST_E_BAD_REQUEST, "truncated gzip attachment data");
                break;
            } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
                rc = st_fail(err, ST_E_BAD_REQUEST, "invalid gzip attachment data");
                break;
            }
        }
        if (ended) {
            /* Another member may follow (concatenated gzip). */
            if (z.avail_in == 0 && left == 0)
                break;
            if (inflateReset(&z) != Z_OK) {
                rc = st_fail(err, ST_E_BAD_REQUEST, "invalid gzip attachment data");
                break;
            }
            ended = false;
        }
    }
    inflateEnd(&z);
    if (rc != ST_OK && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}
