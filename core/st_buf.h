/* st_buf.h — one growable byte buffer with a hard maximum.
 *
 * Every append returns a status: ST_E_NOMEM when allocation fails and
 * ST_E_TOO_LARGE when the buffer would pass its cap, so an oversized input
 * is refused instead of eating memory.  The contents are always
 * NUL-terminated (the NUL is not counted in len) once anything was appended.
 *
 * Ownership: the buffer owns data until st_buf_take() hands it to the caller
 * (free with free()).  Not thread-safe: one buffer, one thread at a time.
 */
#ifndef ST_BUF_H
#define ST_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "st_error.h"

typedef struct st_buf {
    char *data;   /* NULL until the first append */
    size_t len;   /* bytes used, excluding the trailing NUL */
    size_t cap;   /* bytes allocated */
    size_t max;   /* hard limit on len; 0 means SIZE_MAX/2 */
} st_buf;

#define ST_BUF_INIT {NULL, 0, 0, 0}

void st_buf_init(st_buf *b, size_t max);
void st_buf_free(st_buf *b);            /* frees data, resets to empty; keeps max */
void st_buf_reset(st_buf *b);           /* len = 0, keeps memory */

__attribute__((warn_unused_result))
st_status st_buf_add(st_buf *b, const void *p, size_t n);
__attribute__((warn_unused_result))
st_status st_buf_adds(st_buf *b, const char *s);          /* NUL-terminated */
__attribute__((warn_unused_result))
st_status st_buf_addc(st_buf *b, char c);
__attribute__((warn_unused_result))
st_status st_buf_printf(st_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
__attribute__((warn_unused_result))
st_status st_buf_reserve(st_buf *b, size_t extra);        /* ensure room for extra more bytes */

/* Hand the data to the caller (free() it), leave the buffer empty.  Returns
 * an allocated "" when nothing was appended; NULL only on allocation failure. */
char *st_buf_take(st_buf *b, size_t *out_len);

/* A malloc'd copy of p[0..n) with a NUL after it (the bytes may hold NULs:
 * use n, not strlen).  NULL when out of memory. */
char *st_memdup0(const void *p, size_t n);

#endif
