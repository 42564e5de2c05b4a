/* mime.c — the streaming multipart parser (see mime.h).
 *
 * The body is scanned for the delimiter "\r\n--<boundary>" with a match
 * index that survives chunk ends.  Bytes matched so far are held back (they
 * may be the delimiter); on a mismatch they are handed on from the
 * delimiter itself, since they equal its prefix, and scanning goes on with
 * the byte that broke the match.  That one byte is the only place a match
 * can restart: a boundary holds no CR (RFC 2046's bchars), so no proper
 * suffix of a matched prefix starts the delimiter again.  The first
 * delimiter may open the body without the CRLF, so scanning starts as if
 * one had been seen.
 */
#include "mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BOUNDARY 70   /* RFC 2046 */
#define MAX_HEADERS 8192  /* one part's header block */

typedef enum {
    S_PREAMBLE,   /* before the first delimiter */
    S_AFTER,      /* right after a delimiter: "--", or padding and CRLF */
    S_AFTER_DASH, /* one '-' seen */
    S_AFTER_CR,   /* CR seen, LF expected */
    S_HEADERS,    /* a part's header block */
    S_BODY,       /* a part's body */
    S_EPILOGUE    /* after the closing delimiter */
} mime_state;

struct st_mime {
    st_mime_fns fns;
    void *ctx;
    char delim[4 + MAX_BOUNDARY + 1]; /* "\r\n--" boundary */
    size_t dlen;
    mime_state s;
    size_t m;                         /* delimiter bytes matched */
    char hdr[MAX_HEADERS + 1];        /* the header block being read */
    size_t hlen;
    /* The current part's header values (what st_mime_part points to). */
    char ctype[512];
    char enc[64];
    char fname[1024];
};

bool st_mime_param(const char *ctype, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = ctype ? strchr(ctype, ';') : NULL; p; p = strchr(p + 1, ';')) {
        const char *k = p + 1;
        while (*k == ' ' || *k == '\t')
            k++;
        if (strncasecmp(k, name, n) != 0)
            continue;
        const char *v = k + n;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != '=')
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t len = 0;
        if (*v == '"') {
            /* quoted-string: a backslash quotes the next byte */
            for (v++; *v && *v != '"'; v++) {
                if (*v == '\\' && v[1])
                    v++;
                if (len + 1 >= cap)
                    return false;
                out[len++] = *v;
            }
        } else {
            for (; *v && !strchr("; \t\r\n", *v); v++) {
                if (len + 1 >= cap)
                    return false;
                out[len++] = *v;
            }
        }
        out[len] = '\0';
        return true;
    }
    return false;
}

bool st_mime_is(const char *ctype, const char *subtype)
{
    if (!ctype)
        return false;
    while (*ctype == ' ')
        ctype++;
    if (strncasecmp(ctype, "multipart/", 10) != 0)
        return false;
    if (!subtype)
        return true;
    size_t n = strlen(subtype);
    return strncasecmp(ctype + 10, subtype, n) == 0 &&
           (ctype[10 + n] == '\0' || ctype[10 + n] == ';' || ctype[10 + n] == ' ');
}

st_status st_mime_new(const char *ctype, const st_mime_fns *fns, void *ctx, st_mime **out,
                      st_error *err)
{
    *out = NULL;
    char b[MAX_BOUNDARY + 2];
    if (!st_mime_is(ctype, NULL) || !st_mime_param(ctype, "boundary", b, sizeof b) || !b[0] ||
        strlen(b) > MAX_BOUNDARY || strpbrk(b, "\r\n"))
        return st_fail(err, ST_E_BAD_REQUEST, "not a multipart content type with a boundary: %s",
                       ctype ? ctype : "(none)");
    st_mime *m = calloc(1, sizeof *m);
    if (!m)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    m->fns = *fns;
    m->ctx = ctx;
    m->dlen = (size_t)snprintf(m->delim, sizeof m->delim, "\r\n--%s", b);
    m->s = S_PREAMBLE;
    m->m = 2; /* the body may open with the delimiter, CRLF-less */
    *out = m;
    return ST_OK;
}

void st_mime_free(st_mime *m) { free(m); }

static void trim(char **s, char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

static void copy_value(char *out, size_t cap, const char *s, const char *e)
{
    size_t n = (size_t)(e - s) < cap - 1 ? (size_t)(e - s) : cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Parse the header block into p (values into m's buffers). */
static void parse_headers(st_mime *m, st_mime_part *p)
{
    m->ctype[0] = m->enc[0] = m->fname[0] = '\0';
    *p = (st_mime_part){.content_type = m->ctype, .encoding = m->enc};
    m->hdr[m->hlen] = '\0';
    for (char *line = m->hdr; *line;) {
        char *eol = strstr(line, "\r\n");
        char *next = eol ? eol + 2 : line + strlen(line);
        char *colon = memchr(line, ':', (size_t)((eol ? eol : next) - line));
        if (colon) {
            char *k = line, *ke = colon, *v = colon + 1, *ve = eol ? eol : next;
            trim(&k, &ke);
            trim(&v, &ve);
            size_t kl = (size_t)(ke - k);
            if (kl == 12 && strncasecmp(k, "Content-Type", 12) == 0) {
                copy_value(m->ctype, sizeof m->ctype, v, ve);
            } else if (kl == 16 && strncasecmp(k, "Content-Encoding", 16) == 0) {
                copy_value(m->enc, sizeof m->enc, v, ve);
            } else if (kl == 14 && strncasecmp(k, "Content-Length", 14) == 0) {
                char *end = NULL;
                p->length = strtoull(v, &end, 10);
                p->has_length = end == ve && v != ve;
            } else if (kl == 19 && strncasecmp(k, "Content-Disposition", 19) == 0) {
                char save = *ve;
                *ve = '\0';
                if (st_mime_param(v, "filename", m->fname, sizeof m->fname))
                    p->filename = m->fname;
                *ve = save;
            }
        }
        line = next;
    }
}

static st_status stopped(st_error *err) { return st_fail(err, ST_E_BUSY, "multipart parse stopped"); }

static st_status malformed(st_error *err, const char *what)
{
    return st_fail(err, ST_E_BAD_REQUEST, "malformed multipart body: %s", what);
}

/* Header bytes until the empty line; *used is how many of p were taken. */
static st_status feed_headers(st_mime *m, const char *p, size_t n, size_t *used, st_error *err)
{
    size_t i = 0;
    while (i < n) {
        if (m->hlen == MAX_HEADERS)
            return malformed(err, "part headers too long");
        m->hdr[m->hlen++] = p[i++];
        bool eol = m->hlen >= 2 && m->hdr[m->hlen - 2] == '\r' && m->hdr[m->hlen - 1] == '\n';
        if (!eol || (m->hlen != 2 && (m->hlen < 4 || memcmp(m->hdr + m->hlen - 4, "\r\n\r\n", 4))))
            continue;
        st_mime_part part;
        parse_headers(m, &part);
        m->s = S_BODY;
        m->m = 0;
        *used = i;
        return m->fns.begin(m->ctx, &part) ? stopped(err) : ST_OK;
    }
    *used = i;
    return ST_OK;
}

/* Body bytes up to the next delimiter; *used is how many of p were taken. */
static st_status feed_body(st_mime *m, const char *p, size_t n, size_t *used, st_error *err)
{
    size_t i = 0;
    while (i < n) {
        if (m->m == 0) {
            const char *cr = memchr(p + i, '\r', n - i);
            size_t run = cr ? (size_t)(cr - (p + i)) : n - i;
            if (run && m->fns.data(m->ctx, p + i, run))
                return stopped(err);
            i += run;
            if (!cr)
                break;
        }
        if (p[i] == m->delim[m->m]) {
            i++;
            if (++m->m < m->dlen)
                continue;
            m->s = S_AFTER;
            m->m = 0;
            *used = i;
            return m->fns.end(m->ctx) ? stopped(err) : ST_OK;
        }
        /* Not the delimiter after all: what was held back is body. */
        if (m->fns.data(m->ctx, m->delim, m->m))
            return stopped(err);
        m->m = 0;
    }
    *used = i;
    return ST_OK;
}

st_status st_mime_feed(st_mime *m, const char *p, size_t n, st_error *err)
{
    size_t i = 0;
    while (i < n) {
        size_t used = 0;
        st_status st = ST_OK;
        char c = p[i];
        switch (m->s) {
        case S_PREAMBLE:
            i++;
            if (c == m->delim[m->m]) {
                if (++m->m == m->dlen) {
                    m->s = S_AFTER;
                    m->m = 0;
                }
            } else {
                m->m = c == '\r' ? 1 : 0;
            }
            break;
        case S_AFTER:
            i++;
            if (c == '-')
                m->s = S_AFTER_DASH;
            else if (c == '\r')
                m->s = S_AFTER_CR;
            else if (c != ' ' && c != '\t')
                return malformed(err, "junk after a delimiter");
            break;
        case S_AFTER_DASH:
            i++;
            if (c != '-')
                return malformed(err, "junk after a delimiter");
            m->s = S_EPILOGUE;
            break;
        case S_AFTER_CR:
            i++;
            if (c != '\n')
                return malformed(err, "CR without LF after a delimiter");
            m->s = S_HEADERS;
            m->hlen = 0;
            break;
        case S_HEADERS:
            st = feed_headers(m, p + i, n - i, &used, err);
            i += used;
            break;
        case S_BODY:
            st = feed_body(m, p + i, n - i, &used, err);
            i += used;
            break;
        case S_EPILOGUE:
            i = n;
            break;
        }
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

st_status st_mime_finish(st_mime *m, st_error *err)
{
    if (m->s != S_EPILOGUE)
        return malformed(err, "it ends before the closing delimiter");
    return ST_OK;
}
