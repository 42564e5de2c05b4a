/* http.h — one blocking HTTP request for tests (libcurl's easy interface),
 * to a server the test started on 127.0.0.1: set up databases, users and
 * _security objects, or check what a server answers.  Not a general
 * client: no proxy is ever used, and every request has a hard timeout, so
 * a server bug fails a test instead of hanging it.
 *
 * Call curl_global_init before the first request (once per program).  Any
 * thread; a request borrows its arguments for the call only.
 */
#ifndef TS_HTTP_H
#define TS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ts_req {
    const char *method;           /* "GET", "PUT", ...; "HEAD" reads no body */
    const char *url;              /* whole, http:// or https:// */
    const char *body;             /* request body, or NULL */
    size_t len;                   /* its length */
    const char *user, *pass;      /* Basic credentials, or NULL */
    const char *const *headers;   /* more header lines ("Name: value"), NULL-ended, or NULL */
    long timeout_ms;              /* 0: 30 s */
} ts_req;

typedef struct ts_resp {
    long status;      /* the HTTP status; 0: no answer */
    int curl_code;    /* CURLE_OK, or why there was no answer */
    char *body;       /* NUL-terminated, never NULL (out of memory aborts) */
    size_t len;
    char *headers;    /* the response's header lines, likewise */
    size_t hlen;
} ts_resp;

/* Bytes a curl write (or header) callback collects, NUL-terminated once
 * anything came (buf NULL before): for a test that drives its own curl
 * handle, as a streamed feed does.  free(buf) when done. */
typedef struct ts_bytes {
    char *buf;
    size_t len;
} ts_bytes;
/* A CURLOPT_WRITEFUNCTION/HEADERFUNCTION with a ts_bytes as its data;
 * out of memory ends the transfer. */
size_t ts_bytes_write(char *p, size_t sz, size_t n, void *ud);

/* Send q and wait for the whole answer.  Free it with ts_resp_free. */
ts_resp ts_http(const ts_req *q);
void ts_resp_free(ts_resp *r);

/* Copy the value of the response header name (case-insensitive; the first
 * one) into out (cut to cap - 1 bytes); false when there is none. */
bool ts_resp_header(const ts_resp *r, const char *name, char *out, size_t cap);

#endif
