/* fuzz_multipart.c — MIME multipart bodies, both parsers: the server's
 * (server/multipart.c, a complete upload split in place) and the
 * replicator's streaming one (replicator/mime.c, an answer fed as it
 * arrives).  The input's first line is the Content-Type, the rest the body.
 *
 * Checks: the server's parts lie inside the body; the streaming parser
 * gives the same parts (headers and bytes) and the same verdict whether
 * the body comes in one piece or in pieces of 1 to 64 bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "multipart.h"
#include "st_buf.h"

typedef struct seen {
    st_buf log; /* every callback, in order */
    int parts;
} seen;

static int on_begin(void *ctx, const st_mime_part *p)
{
    seen *s = ctx;
    s->parts++;
    if (st_buf_printf(&s->log, "[%s|%s|%s|%d:%llu]", p->content_type, p->encoding,
                      p->filename ? p->filename : "-", p->has_length ? 1 : 0,
                      (unsigned long long)p->length) != ST_OK)
        abort();
    return s->parts > 1000; /* a bound, as a caller would have */
}

static int on_data(void *ctx, const char *p, size_t n)
{
    seen *s = ctx;
    if (st_buf_add(&s->log, p, n) != ST_OK)
        abort();
    return 0;
}

static int on_end(void *ctx)
{
    seen *s = ctx;
    if (st_buf_adds(&s->log, "[end]") != ST_OK)
        abort();
    return 0;
}

static const st_mime_fns fns = {on_begin, on_data, on_end};

/* Feed body in pieces whose sizes come from step (0: one piece). */
static st_status stream(const char *ctype, const char *body, size_t n, const uint8_t *step,
                        size_t nstep, seen *s)
{
    st_mime *m = NULL;
    st_status st = st_mime_new(ctype, &fns, s, &m, NULL);
    size_t off = 0, k = 0;
    while (st == ST_OK && off < n) {
        size_t piece = nstep ? 1 + (size_t)(step[k++ % nstep] % 64) : n;
        if (piece > n - off)
            piece = n - off;
        st = st_mime_feed(m, body + off, piece, NULL);
        off += piece;
    }
    if (st == ST_OK)
        st = st_mime_finish(m, NULL);
    st_mime_free(m);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    size_t cn = (size_t)(nl - data);
    char *ctype = malloc(cn + 1);
    if (!ctype)
        return 0;
    memcpy(ctype, data, cn);
    ctype[cn] = '\0';
    const char *body = (const char *)nl + 1;
    size_t n = size - cn - 1;

    st_mp_part *parts = NULL;
    size_t np = 0;
    if (st_mp_parse(ctype, body, n, &parts, &np, NULL) == ST_OK) {
        for (size_t i = 0; i < np; i++)
            if (parts[i].data < body || parts[i].len > n ||
                parts[i].data + parts[i].len > body + n)
                abort();
        st_mp_parts_free(parts, np);
    }

    seen whole = {ST_BUF_INIT, 0}, pieces = {ST_BUF_INIT, 0};
    st_status a = stream(ctype, body, n, NULL, 0, &whole);
    st_status b = stream(ctype, body, n, data, cn ? cn : 1, &pieces);
    if (a != b || whole.log.len != pieces.log.len ||
        (whole.log.len && memcmp(whole.log.data, pieces.log.data, whole.log.len) != 0))
        abort();
    st_buf_free(&whole.log);
    st_buf_free(&pieces.log);
    free(ctype);
    return 0;
}
