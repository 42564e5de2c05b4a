/* multipart.c — see multipart.h.
 *
 * The parser is deliberately strict about framing (a body that does not
 * start with the boundary is refused) and lenient about part headers
 * (unknown ones are ignored), which is what CouchDB's own parser does.
 */
#include "multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "st_db.h"

#define MAX_PARTS 100000

/* strcasestr is a GNU extension; this is the portable few lines. */
static const char *ci_strstr(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

static char *param_value(const char *h, const char *name)
{
    /* find name= (case-insensitive), value quoted or token */
    size_t n = strlen(name);
    for (const char *p = h; (p = ci_strstr(p, name)) != NULL; p += n) {
        if (p != h && !(p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t'))
            continue;
        const char *v = p + n;
        while (*v == ' ')
            v++;
        if (*v != '=')
            continue;
        v++;
        while (*v == ' ')
            v++;
        if (*v == '"') {
            const char *e = strchr(v + 1, '"');
            return e ? strndup(v + 1, (size_t)(e - v - 1)) : NULL;
        }
        size_t len = strcspn(v, "; \t\r\n");
        return strndup(v, len);
    }
    return NULL;
}

static const char *memmem_(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    if (nlen == 0 || hlen < nlen)
        return NULL;
    const char *end = hay + hlen - nlen;
    for (const char *p = hay; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, nlen) == 0)
            return p;
    }
    return NULL;
}

/* Parse "Name: value" header lines in h[0..n). */
static void parse_headers(const char *h, size_t n, st_mp_part *part)
{
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && h[e] != '\n')
            e++;
        size_t le = e;
        if (le > i && h[le - 1] == '\r')
            le--;
        const char *line = h + i;
        size_t len = le - i;
        const char *colon = memchr(line, ':', len);
        if (colon) {
            size_t klen = (size_t)(colon - line);
            const char *v = colon + 1;
            while (v < line + len && (*v == ' ' || *v == '\t'))
                v++;
            char *val = strndup(v, (size_t)(line + len - v));
            if (val) {
                if (klen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
                    free(part->content_type);
                    part->content_type = val;
                    val = NULL;
                } else if (klen == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
                    free(part->filename);
                    part->filename = param_value(val, "filename");
                } else if (klen == 16 && strncasecmp(line, "Content-Encoding", 16) == 0) {
                    free(part->encoding);
                    part->encoding = val;
                    val = NULL;
                }
                free(val);
            }
        }
        i = e + 1;
    }
}

st_status st_mp_parse(const char *content_type, const char *body, size_t len,
                      st_mp_part **out, size_t *out_n, st_error *err)
{
    st_status rc = ST_OK;
    st_mp_part *parts = NULL;
    size_t n = 0, cap = 0;
    char *boundary = content_type ? param_value(content_type, "boundary") : NULL;
    char *delim = NULL;
    *out = NULL;
    *out_n = 0;
    if (!boundary || !*boundary || strlen(boundary) > 200) {
        rc = st_fail(err, ST_E_BAD_REQUEST, "multipart body without a usable boundary");
        goto out;
    }
    size_t dlen = strlen(boundary) + 4;
    delim = malloc(dlen + 1);
    if (!delim) {
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    snprintf(delim, dlen + 1, "\r\n--%s", boundary);
    /* The first delimiter may come without the leading CRLF. */
    const char *p;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        p = body + dlen - 2;
    } else {
        const char *first = memmem_(body, len, delim, dlen);
        if (!first) {
            rc = st_fail(err, ST_E_BAD_REQUEST, "multipart body without its boundary");
            goto out;
        }
        p = first + dlen;
    }
    const char *end = body + len;
    for (;;) {
        /* after a delimiter: "--" ends, else CRLF then a part */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            break;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
            p += 2;
        else if (p < end && *p == '\n')
            p++;
        else {
            rc = st_fail(err, ST_E_BAD_REQUEST, "malformed multipart delimiter");
            goto out;
        }
        const char *hend = memmem_(p, (size_t)(end - p), "\r\n\r\n", 4);
        size_t hskip = 4;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') { /* no headers */
            hend = p;
            hskip = 2;
        }
        if (!hend) {
            rc = st_fail(err, ST_E_BAD_REQUEST, "multipart part without headers end");
            goto out;
        }
        const char *data = hend + hskip;
        const char *next = memmem_(data, (size_t)(end - data), delim, dlen);
        if (!next) {
            rc = st_fail(err, ST_E_BAD_REQUEST, "multipart body is truncated");
            goto out;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            if (ncap > MAX_PARTS) {
                rc = st_fail(err, ST_E_BAD_REQUEST, "too many multipart parts");
                goto out;
            }
            st_mp_part *g = realloc(parts, ncap * sizeof *g);
            if (!g) {
                rc = st_fail(err, ST_E_NOMEM, "out of memory");
                goto out;
            }
            parts = g;
            cap = ncap;
        }
        st_mp_part *part = &parts[n++];
        memset(part, 0, sizeof *part);
        parse_headers(p, (size_t)(hend - p), part);
        part->data = data;
        part->len = (size_t)(next - data);
        p = next + dlen;
    }
    *out = parts;
    *out_n = n;
    parts = NULL;
    n = 0;
out:
    st_mp_parts_free(parts, n);
    free(boundary);
    free(delim);
    return rc;
}

void st_mp_parts_free(st_mp_part *parts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(parts[i].content_type);
        free(parts[i].filename);
        free(parts[i].encoding);
    }
    free(parts);
}

void st_mp_boundary(char out[33])
{
    st_uuid(out);
}

st_status st_mp_open_part(st_buf *b, const char *boundary)
{
    return st_buf_printf(b, "--%s\r\n", boundary);
}

st_status st_mp_close(st_buf *b, const char *boundary)
{
    return st_buf_printf(b, "--%s--", boundary);
}
