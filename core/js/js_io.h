/* js_io.h — settee-js's line reader (stdin) and buffered writer (stdout).
 *
 * The reader hands out one request line at a time, without its newline, and
 * never holds more than max_line bytes of one line: a longer line is skipped
 * up to its newline and reported once as JS_LINE_TOO_LONG, so the process
 * answers it with an error and stays in step with its caller.
 *
 * The writer batches answers and flushes them when the reader has no
 * complete line left (the caller would otherwise wait for them) or when the
 * batch is large; pipelined callers get many answers per write(2).
 * Both are single-threaded and own their buffers (js_reader_free and
 * js_writer_free release them).
 */
#ifndef JS_IO_H
#define JS_IO_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { JS_LINE, JS_LINE_TOO_LONG, JS_EOF, JS_IO_ERROR } js_read_status;

typedef struct js_reader {
    int fd;
    size_t max_line;   /* longest line accepted, newline excluded */
    char *buf;         /* bytes [pos, len) not handed out yet */
    size_t pos, len, cap;
    bool skipping;     /* inside an over-long line, dropping bytes to its newline */
} js_reader;

typedef struct js_writer {
    int fd;
    char *buf;
    size_t len, cap;
    bool failed;       /* a write failed: the caller is gone */
} js_writer;

void js_reader_init(js_reader *r, int fd, size_t max_line);
void js_reader_free(js_reader *r);
/* Next line into *line and *n (valid until the next call).  Blocks in read(2)
 * only when no complete line is buffered. */
js_read_status js_reader_next(js_reader *r, const char **line, size_t *n);
bool js_reader_has_line(const js_reader *r);

void js_writer_init(js_writer *w, int fd);
void js_writer_free(js_writer *w);
/* Append s[0..n) and a newline; false on allocation or earlier write failure. */
bool js_writer_line(js_writer *w, const char *s, size_t n);
bool js_writer_flush(js_writer *w);

#endif
