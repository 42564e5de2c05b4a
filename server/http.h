/* http.h — one HTTP request as the handlers see it, and the response
 * helpers (internal to server/).
 *
 * Ownership: an st_req is created by the daemon when MHD reports a new URI
 * and freed when MHD reports the request completed; everything it points to
 * (decoded path, query, body, response) is owned by it.  A request is only
 * ever touched by one thread at a time (the MHD worker currently serving
 * its connection), so nothing here is locked.
 *
 * Handlers: a handler reads r and must leave exactly one response in r
 * (st_resp_* below); the daemon queues it.  Long feeds instead install a
 * callback response (feed.c).
 */
#ifndef ST_SERVER_HTTP_H
#define ST_SERVER_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "server_int.h"
#include "st_buf.h"
#include "st_error.h"
#include "st_json.h"
#include "st_jw.h"
#include "identity.h"
#include "st_security.h"

typedef enum {
    ST_M_GET = 1u << 0,
    ST_M_HEAD = 1u << 1,
    ST_M_PUT = 1u << 2,
    ST_M_POST = 1u << 3,
    ST_M_DELETE = 1u << 4,
    ST_M_COPY = 1u << 5,
    ST_M_OPTIONS = 1u << 6,
    ST_M_OTHER = 1u << 7
} st_method;

#define ST_MAX_SEGS 64
/* Query parameters a request may carry (CouchDB serves 600 as any other
 * request); past it 414 too_long.  Memory is bounded before that by the
 * request line having to fit [settee] connection_memory. */
#define ST_MAX_QUERY_PARAMS 1000

typedef struct st_qparam {
    char *key;    /* decoded */
    char *value;  /* decoded ("" when the parameter had no '=') */
} st_qparam;

typedef struct st_feed st_feed;
typedef struct st_route st_route;


typedef struct st_req {
    st_server *srv;
    struct MHD_Connection *conn;
    char *uri;                  /* raw request target, as received */
    uintptr_t mhd_uri_end;      /* where MHD's copy of the target ended (its
                                   first NUL): compared, never dereferenced */
    st_method method;
    char method_str[16];
    bool http11;                /* HTTP/1.1 request (else 1.0) */
    /* Decoded path segments ("/a%2Fb/c" → "a/b", "c"). */
    char *segs[ST_MAX_SEGS];
    size_t n_segs;
    bool bad_path;              /* undecodable or too many segments */
    bool too_many_params;       /* more than ST_MAX_QUERY_PARAMS: 414 */
    st_qparam *query;
    size_t n_query;
    /* Routing result: the matched route and its captures. */
    const st_route *route;
    const char *db;             /* borrowed from segs */
    char *docid;                /* malloc'd ("_design/x" joins two segments) */
    char *att;                  /* malloc'd, rest of the path joined by '/' */
    /* Body */
    st_buf body;                /* capped at body_cap; freed once parsed (st_req_json) */
    uint64_t body_cap;          /* the route's cap (router.h), set by the dispatcher */
    uint64_t body_seen;         /* bytes received, kept even when discarded */
    bool body_too_large;
    bool dispatched;            /* the handler ran (or an early answer was queued) */
    st_db *dbh;                 /* the route's database, opened by the dispatcher
                                   (a catalog reference, put back with the request;
                                   a handler may take it and set it NULL) */
    /* Auth (auth.c) */
    st_identity who;
    st_user_ctx user;           /* view of who, for core and access.c */
    st_error auth_err;          /* credentials that cannot be read (400): answered everywhere */
    st_error auth_fail;         /* wrong credentials (401) or a lockout (403):
                                   answered everywhere but POST /_session */
    char *set_cookie;           /* a refreshed AuthSession cookie to send (malloc'd) */
    bool tls;                   /* the request came over HTTPS */
    /* Response */
    struct MHD_Response *resp;
    unsigned status;
    uint64_t resp_bytes;        /* body bytes (feeds count as they stream) */
    bool cors_origin_ok;        /* add CORS headers to the response */
    st_feed *feed;              /* a streaming _changes feed, or NULL */
    /* A handler that handed work to core's writer (api_async.c): the
     * connection is suspended; once resumed, async_finish(r) builds the
     * response from async_st/async_err.  async_ctx is the handler's state,
     * freed by async_free (after async_finish, or with the request if it
     * never ran). */
    bool async;
    void (*async_finish)(struct st_req *r);
    void *async_ctx;
    void (*async_free)(void *ctx);
    st_status async_st;
    st_error async_err;
    struct timespec started;
    char id[11];                /* request id (X-Couch-Request-ID, the log) */
    char peer[48];              /* client address, for the log */
} st_req;

/* ---- request accessors (request.c) */

const char *st_req_header(st_req *r, const char *name);
const char *st_req_q(const st_req *r, const char *key); /* first occurrence; NULL if absent */

/* Boolean query parameter: absent → def; "true"/"false" → value; anything
 * else sets a 400 query_parse_error response and returns false. */
bool st_req_qbool(st_req *r, const char *key, bool def, bool *out);
/* Unsigned integer parameter, same contract. */
bool st_req_qu64(st_req *r, const char *key, uint64_t def, uint64_t *out);

/* Parse the body as JSON with the given size limit (0 = request limit).
 * On failure a 400/413 response is set and false returned.  On success the
 * raw body is freed at once (the tree holds its own copies): a write waiting
 * on the writer, or a feed, then holds one copy of what was sent, not two. */
bool st_req_json(st_req *r, size_t max_bytes, st_json_doc **out);

/* Content-Type of the request is (or begins with) ctype, ignoring
 * parameters and case. */
bool st_req_ctype_is(st_req *r, const char *ctype);
/* For endpoints that take a JSON body: 415 unless Content-Type is
 * application/json (absent is accepted only when allow_absent). */
bool st_req_require_json_ctype(st_req *r, bool allow_absent);

/* Whether MHD answers r with chunked transfer encoding when the body size
 * is unknown: HTTP/1.1 and no "close" or "upgrade" in Connection (MHD's
 * keep-alive rule). */
bool st_req_chunked_reply(st_req *r);

/* Whether the client accepts this media type explicitly (Accept header). */
bool st_req_accepts(st_req *r, const char *mtype);

bool st_req_parse_target(st_req *r);   /* fills segs/query from uri */

/* HTTP framing MHD lets through, checked once the headers are in: a NUL
 * inside the request target (400), a Transfer-Encoding other than one
 * "chunked" (501; MHD would read such a body until the connection ends),
 * Transfer-Encoding with Content-Length, or Content-Length headers that
 * disagree (400: two framings of one body are how requests are smuggled).
 * false with the answer set (and Connection: close) when one is found. */
bool st_req_framing_ok(st_req *r, const char *version);
void st_req_free(st_req *r);

/* ---- responses (response.c) */

/* Take the contents of b as the body (b is left empty). */
void st_resp_buf(st_req *r, unsigned status, const char *ctype, st_buf *b);
void st_resp_text(st_req *r, unsigned status, const char *ctype, const char *s);
/* A JSON body from a writer-filled buffer; Cache-Control: must-revalidate. */
void st_resp_json(st_req *r, unsigned status, st_buf *b);
/* An error answer from core's one table: the HTTP status and CouchDB's
 * error name come from code (st_error.h), the reason is given.  Internal
 * failures (I/O, memory, misuse) are logged and answered with a generic
 * reason, never the internal one. */
void st_resp_fail(st_req *r, st_status code, const char *reason);
/* The same from a core error value. */
void st_resp_status(st_req *r, const st_error *e);
/* {"ok":true} */
void st_resp_ok(st_req *r, unsigned status);
void st_resp_header(st_req *r, const char *name, const char *value);
/* 405 with Allow listing the route's methods. */
void st_resp_method_not_allowed(st_req *r, unsigned allowed);
/* A JSON answer written with st_jw: open makes w write into b (false: the
 * 500 is set, nothing to free); close answers status with b (or the
 * writer's failure) and frees w and, on failure, b. */
bool st_resp_jw_open(st_req *r, st_jw *w, st_buf *b);
void st_resp_jw_close(st_req *r, st_jw *w, st_buf *b, unsigned status);
/* When a writer failed (memory, size): 500 with a generic reason. */
void st_resp_jw_failed(st_req *r, const st_jw *w);

const char *st_http_method_name(st_method m);
/* Append "GET,HEAD,..." for the mask. */
void st_methods_str(unsigned mask, char *out, size_t cap);

#endif
