/* endpoint_http_int.h — the HTTP endpoint's insides, shared by its files:
 *
 *   http_req.c       one request on the loop's curl multi handle, retried
 *                    with backoff while the failure is transient; TLS checks
 *   http_auth.c      the credentials each request carries: HTTP Basic, a
 *                    bearer token, or a cookie session (login, newest
 *                    cookie kept, one new login after a 401)
 *   endpoint_http.c  the calls (info, create, _local docs, _changes,
 *                    _revs_diff) and the endpoint's lifecycle
 *   http_fetch.c     get_revs: _bulk_get, then open_revs per document
 *   http_write.c     write_revs: _bulk_docs, and multipart PUTs
 *
 * A call made of several requests (get_revs, write_revs) is a "job": it is
 * on the endpoint's job list until it answers, so cancel_all can free it
 * after its requests.  Loop thread only.
 */
#ifndef ST_ENDPOINT_HTTP_INT_H
#define ST_ENDPOINT_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include "dburl.h"
#include "endpoint.h"
#include "st_buf.h"

typedef struct hreq hreq;

/* A call that spans requests (see the file comment). */
typedef struct http_job {
    struct http_job *next;
    void (*free)(struct http_job *job);  /* frees it without answering */
} http_job;

/* What the request layer (http_req.c) asks of the credentials layer
 * (http_auth.c), which itself sends requests (the login): hooks set by
 * st_http_auth_init, so requests need not know how they are
 * authenticated. */
typedef struct hreq_auth_hooks {
    /* Whether q may go out now; false: q is parked until a login (started
     * by the hook if none is in flight) answers. */
    bool (*ready)(hreq *q);
    /* Put q's credentials on its easy handle c (and q->headers). */
    st_status (*apply)(hreq *q, CURL *c);
    /* q was answered 401: true when it was sent again behind a new login
     * (at most once per request, and only when it carried a cookie). */
    bool (*retry)(hreq *q);
} hreq_auth_hooks;

typedef struct http_ep {
    st_ep base;
    st_dburl url;
    st_ep_http_opts o;       /* its strings are not kept: copies below */
    /* TLS (http_req.c) */
    char *ca_file;           /* CURLOPT_CAINFO, or NULL: the system's CAs */
    bool insecure;           /* no certificate or host name checks */
    /* Credentials (http_auth.c); the secrets are wiped when freed */
    const hreq_auth_hooks *auth;
    char *user, *pass;       /* decoded Basic credentials (or the session's), or NULL */
    char *bearer;            /* the whole "Authorization: Bearer ..." line, or NULL */
    bool use_session;        /* cookie instead of Basic (user must be set) */
    char *cookie;            /* "AuthSession=<value>", the newest the peer gave, or NULL */
    unsigned cookie_gen;     /* bumped at every change of cookie (0: never had one) */
    hreq *login;             /* the POST /_session in flight, or NULL */
    hreq *reqs;              /* every request not yet answered */
    http_job *jobs;          /* every job not yet answered */
    bool no_bulk_get;        /* the peer lacks _bulk_get: use open_revs */
    bool troubled;           /* a retry happened since the last success */
} http_ep;

/* A response body consumed as it arrives instead of being buffered: for
 * answers that carry attachment bytes. */
typedef struct hreq_sink {
    /* Take this response?  Asked once, with the 2xx status and its
     * Content-Type (other responses are buffered as usual). */
    bool (*accept)(void *ctx, long status, const char *content_type);
    bool (*data)(void *ctx, const char *p, size_t n);   /* false: abandon */
    /* The response ended; false (with why) makes it a transient failure. */
    bool (*done)(void *ctx, st_error *why);
    void (*reset)(void *ctx);                           /* a retry starts over */
    void *ctx;
} hreq_sink;

/* Gets the final reply (q is freed after it returns).  For a streamed
 * response r->json is NULL and the sink holds the answer. */
typedef void (*hreq_fn)(hreq *q, st_ep_reply *r);

struct hreq {
    hreq *next;
    http_ep *ep;
    st_loop_xfer xfer;       /* CURLOPT_PRIVATE */
    CURL *easy;              /* NULL while waiting for a retry */
    struct curl_slist *headers;
    char *url;
    const char *method;
    const char *accept;      /* Accept; NULL: application/json */
    char *content_type;      /* request body's; NULL: application/json */
    st_buf body;             /* request body */
    st_buf resp;             /* response body (when not streamed) */
    hreq_sink sink;          /* optional */
    bool sink_asked, streaming;
    unsigned extra_wait_ms;  /* longpoll: the server may be silent this long */
    unsigned attempt;
    st_timer retry;
    hreq_fn finish;
    bool is_login;           /* the POST /_session itself: sends no credentials */
    bool parked;             /* waiting (without an easy handle) for the login */
    bool relogged;           /* already sent again after a 401 on its cookie */
    unsigned sent_gen;       /* cookie_gen it went out with; 0: no cookie */
    char errbuf[CURL_ERROR_SIZE]; /* curl's detailed message for a failed attempt */
    st_ep_cb cb;             /* for finish's use */
    void *ctx;
    void *owner;             /* for finish's use: the job it belongs to */
    void *note;              /* for finish's use: malloc'd, freed with the request */
    st_error start_err;      /* why the request could not even be sent */
    int start_http;          /* and the HTTP status that goes with it (a failed login) */
};

/* A request not sent yet (url is taken; NULL url means out of memory and
 * is reported by st_http_send).  NULL when out of memory: url is freed. */
hreq *st_http_new(http_ep *e, const char *method, char *url, hreq_fn finish, st_ep_cb cb,
                  void *ctx);
/* Send q with body[0..n) (copied).  A failure to even start is answered
 * through finish on the next loop iteration, as any other failure. */
void st_http_send(hreq *q, const char *body, size_t n);
/* Start (or restart) q as it is: now, or parked behind a login.  Never
 * answers from inside the call (a failure to start is deferred). */
void st_http_go(hreq *q);
/* Answer q on the next loop iteration with this failure. */
void st_http_fail_later(hreq *q, const st_error *err, int http_status);
/* st_http_new + st_http_send; on out of memory cb is answered at once. */
hreq *st_http_request(http_ep *e, const char *method, char *url, const char *body, size_t n,
                      hreq_fn finish, st_ep_cb cb, void *ctx);
/* Abandon every request of e without answering. */
void st_http_cancel_all(http_ep *e);

/* db_url + suffix, and db_url + "/" + escaped id + query (malloc'd). */
char *st_http_db_path(http_ep *e, const char *suffix);
char *st_http_doc_path(http_ep *e, const char *id, const char *query);
/* s escaped for a URL query value (curl_free it), NULL on out of memory. */
char *st_http_escape(const char *s);

/* The st_status CouchDB means by an HTTP status. */
st_status st_http_status_code(long http);
/* Fill r with CouchDB's error for a non-2xx answer (its "error" and
 * "reason" when the body has them). */
void st_http_error_reply(st_ep_reply *r, long http, const st_json *body);

/* ---- credentials (http_auth.c) */

/* Decide how e authenticates: the URL's user:pass@ (percent-decoded),
 * replaced by o->username/password when given; o->bearer_token alone;
 * o->use_session with a username.  ST_E_BAD_REQUEST for a bearer token
 * beside Basic credentials, a session without a username, a password
 * without a username, or a bad escape. */
st_status st_http_auth_init(http_ep *e, const st_ep_http_opts *o, st_error *err);
void st_http_auth_free(http_ep *e);      /* wipes the secrets */

void st_http_job_add(http_ep *e, http_job *j);
void st_http_job_remove(http_ep *e, http_job *j);

/* The calls of http_fetch.c and http_write.c. */
void st_http_get_revs(st_ep *ep, const st_rep_want *wants, size_t n, st_ep_cb cb, void *ctx);
void st_http_write_revs(st_ep *ep, const st_rep_doc *docs, size_t n, st_ep_cb cb, void *ctx);

#endif
