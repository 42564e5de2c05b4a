/* js_io.c — stdin lines in, stdout lines out, for settee-js.
 *
 * Reads come in 64 KiB chunks so a pipelined batch of small requests costs
 * one read(2) per chunk; the answers to a chunk leave in one write(2).
 */
#include "js_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (64u * 1024)
#define WRITE_BATCH (64u * 1024)
/* After one huge line, give the memory back rather than keep it for life. */
#define SHRINK_ABOVE (1u << 20)

void js_reader_init(js_reader *r, int fd, size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->max_line = max_line;
}

void js_reader_free(js_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->pos = r->len = r->cap = 0;
}

bool js_reader_has_line(const js_reader *r)
{
    return r->pos < r->len && memchr(r->buf + r->pos, '\n', r->len - r->pos) != NULL;
}

/* Make room for one more chunk after the unread bytes. */
static bool reader_room(js_reader *r)
{
    size_t unread = r->len - r->pos;
    size_t need = unread + READ_CHUNK;
    char *nb;

    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, unread);
        r->pos = 0;
        r->len = unread;
    }
    if (r->cap > SHRINK_ABOVE && need < SHRINK_ABOVE) {
        nb = realloc(r->buf, need);
        if (nb != NULL) {
            r->buf = nb;
            r->cap = need;
        }
    }
    if (need <= r->cap)
        return true;
    nb = realloc(r->buf, need);
    if (nb == NULL)
        return false;
    r->buf = nb;
    r->cap = need;
    return true;
}

/* One read(2); 1 = got bytes, 0 = EOF, -1 = error. */
static int reader_fill(js_reader *r)
{
    ssize_t got;

    if (!reader_room(r))
        return -1;
    do
        got = read(r->fd, r->buf + r->len, r->cap - r->len);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return -1;
    if (got == 0)
        return 0;
    r->len += (size_t)got;
    return 1;
}

js_read_status js_reader_next(js_reader *r, const char **line, size_t *n)
{
    for (;;) {
        char *start = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        char *nl = avail ? memchr(start, '\n', avail) : NULL;
        int rc;

        if (nl != NULL) {
            size_t len = (size_t)(nl - start);
            r->pos += len + 1;
            if (r->skipping) {
                r->skipping = false;
                return JS_LINE_TOO_LONG;
            }
            if (len > r->max_line)
                return JS_LINE_TOO_LONG;
            *line = start;
            *n = len;
            return JS_LINE;
        }
        if (avail > r->max_line || (r->skipping && avail > 0)) {
            /* No newline within the limit: drop what we have, remember. */
            r->skipping = true;
            r->pos = r->len = 0;
        }
        rc = reader_fill(r);
        if (rc < 0)
            return JS_IO_ERROR;
        if (rc == 0)
            return JS_EOF;
    }
}

void js_writer_init(js_writer *w, int fd)
{
    memset(w, 0, sizeof *w);
    w->fd = fd;
}

void js_writer_free(js_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

bool js_writer_flush(js_writer *w)
{
    size_t off = 0;

    while (!w->failed && off < w->len) {
        ssize_t put = write(w->fd, w->buf + off, w->len - off);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            w->failed = true;
        else
            off += (size_t)put;
    }
    w->len = 0;
    if (w->cap > SHRINK_ABOVE) {
        free(w->buf);
        w->buf = NULL;
        w->cap = 0;
    }
    return !w->failed;
}

bool js_writer_line(js_writer *w, const char *s, size_t n)
{
    if (w->failed)
        return false;
    if (w->len > 0 && w->len + n + 1 > WRITE_BATCH && !js_writer_flush(w))
        return false;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->len + n + 1 > WRITE_BATCH ? w->len + n + 1 : WRITE_BATCH;
        char *nb = realloc(w->buf, cap);
        if (nb == NULL)
            return false;
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->buf[w->len + n] = '\n';
    w->len += n + 1;
    return true;
}
