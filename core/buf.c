/* buf.c — the one growable byte buffer, with a hard cap (curl's dynbuf).
 *
 * Why a cap on every buffer: request bodies, responses and rendered documents
 * all grow from outside input, so each buffer states how large it may get and
 * an append past that fails with ST_E_TOO_LARGE instead of exhausting memory.
 * A failed append leaves the buffer exactly as it was.
 */
#include "st_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 64

static size_t buf_max(const st_buf *b)
{
    return b->max != 0 ? b->max : SIZE_MAX / 2;
}

void st_buf_init(st_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void st_buf_free(st_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void st_buf_reset(st_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

st_status st_buf_reserve(st_buf *b, size_t extra)
{
    size_t max = buf_max(b);
    size_t need, cap;
    char *p;

    if (extra > max || b->len > max - extra)
        return ST_E_TOO_LARGE;
    need = b->len + extra + 1; /* +1: the trailing NUL; max <= SIZE_MAX/2 */
    if (need <= b->cap)
        return ST_OK;
    cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need)
        cap *= 2; /* cannot overflow: need <= SIZE_MAX/2 + 1 */
    if (cap > max + 1)
        cap = max + 1;
    p = realloc(b->data, cap);
    if (p == NULL)
        return ST_E_NOMEM;
    if (b->data == NULL)
        p[0] = '\0';
    b->data = p;
    b->cap = cap;
    return ST_OK;
}

st_status st_buf_add(st_buf *b, const void *p, size_t n)
{
    st_status rc = st_buf_reserve(b, n);

    if (rc != ST_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return ST_OK;
}

st_status st_buf_adds(st_buf *b, const char *s)
{
    return st_buf_add(b, s, strlen(s));
}

st_status st_buf_addc(st_buf *b, char c)
{
    if (b->len + 1 < b->cap) { /* fast path: room for c and the NUL */
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return ST_OK;
    }
    return st_buf_add(b, &c, 1);
}

st_status st_buf_printf(st_buf *b, const char *fmt, ...)
{
    va_list ap;
    size_t room;
    int n;
    st_status rc;

    /* Make sure data exists so the first attempt can write in place. */
    rc = st_buf_reserve(b, 0);
    if (rc != ST_OK)
        return rc;
    room = b->cap - b->len;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return ST_E_MISUSE; /* bad format or encoding */
    }
    if ((size_t)n >= room) {
        rc = st_buf_reserve(b, (size_t)n);
        if (rc != ST_OK) {
            b->data[b->len] = '\0'; /* undo the truncated attempt */
            return rc;
        }
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->data[b->len] = '\0';
            return ST_E_MISUSE;
        }
    }
    b->len += (size_t)n;
    return ST_OK;
}

char *st_buf_take(st_buf *b, size_t *out_len)
{
    char *p = b->data;
    size_t len = b->len;

    if (p == NULL) {
        p = malloc(1);
        if (p == NULL) {
            if (out_len != NULL)
                *out_len = 0;
            return NULL;
        }
        p[0] = '\0';
        len = 0;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    if (out_len != NULL)
        *out_len = len;
    return p;
}

char *st_memdup0(const void *p, size_t n)
{
    char *d = n < SIZE_MAX ? malloc(n + 1) : NULL;
    if (d) {
        if (n)
            memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}
