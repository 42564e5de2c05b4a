/* basic.c — HTTP Basic credentials, split and bounded as CouchDB does.
 *
 * Why a heap buffer sized from the header: the old fixed 600-byte buffer
 * refused any header past ~590 bytes; long passwords (and passphrases) are
 * legitimate, so the only bound is the stated one.
 */
#include "basic.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "st_base64.h"

void st_basic_creds_wipe(st_basic_creds *c)
{
    if (!c)
        return;
    if (c->buf) {
        OPENSSL_cleanse(c->buf, c->buf_len);
        free(c->buf);
    }
    memset(c, 0, sizeof *c);
}

static size_t skip_spaces(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

st_status st_basic_decode(const char *value, size_t n, st_basic_creds *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    size_t i = skip_spaces(value, 0, n);
    if (n - i < 6 || strncasecmp(value + i, "basic", 5) != 0 ||
        (value[i + 5] != ' ' && value[i + 5] != '\t'))
        return ST_OK; /* ST_BASIC_NOT_BASIC */
    if (n > ST_BASIC_MAX_HEADER)
        return st_fail(err, ST_E_BAD_REQUEST, "Authorization header is too long");
    i = skip_spaces(value, i + 6, n);
    size_t end = n;
    while (end > i && (value[end - 1] == ' ' || value[end - 1] == '\t'))
        end--;
    out->buf_len = ST_B64_DECODED_MAX(end - i) + 1;
    out->buf = malloc(out->buf_len);
    if (!out->buf)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    size_t len = 0;
    if (!st_b64_decode(ST_B64_STD, value + i, end - i, (unsigned char *)out->buf,
                       out->buf_len - 1, &len)) {
        st_basic_creds_wipe(out);
        return st_fail(err, ST_E_BAD_REQUEST, ST_BASIC_BAD_BASE64);
    }
    out->buf[len] = '\0';
    char *colon = memchr(out->buf, ':', len);
    if (!colon || (len == 3 && memcmp(out->buf, "_:_", 3) == 0)) {
        st_basic_creds_wipe(out);
        out->kind = ST_BASIC_NO_CREDS;
        return ST_OK;
    }
    *colon = '\0';
    out->name = out->buf;
    out->name_len = (size_t)(colon - out->buf);
    out->password = colon + 1;
    out->password_len = len - out->name_len - 1;
    if (memchr(out->name, '\0', out->name_len)) {
        st_basic_creds_wipe(out);
        return st_fail(err, ST_E_UNAUTHORIZED, "Name or password is incorrect.");
    }
    out->kind = ST_BASIC_CREDS;
    return ST_OK;
}
