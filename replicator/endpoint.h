/* endpoint.h — one side of a replication: the handful of CouchDB calls the
 * protocol needs, behind a table of functions with two implementations,
 * endpoint_local.c (core, no HTTP) and endpoint_http.c (libcurl).
 *
 * Every call is asynchronous and answers exactly once through its callback,
 * on the loop's thread, never from inside the call itself (local endpoints
 * defer their answer to the next loop iteration).  The one exception is
 * cancel_all: calls pending when it runs never answer.  Answers carry
 * CouchDB's JSON shapes, parsed, so the replication logic is written once:
 *   info         GET /db            → db info object (and fills ep->uuid, ep->pouch_id)
 *   create       PUT /db            → {"ok":true} (an existing db is fine)
 *   get_local    GET /db/_local/id  → the doc, or ST_E_NOT_FOUND
 *   put_local    PUT /db/_local/id  → {"ok":true,...}
 *   changes      GET /db/_changes?style=all_docs&since=…&limit=…[&feed=longpoll]
 *                → {"results":[…],"last_seq":S,"pending":N}
 *   revs_diff    POST /db/_revs_diff → {"id":{"missing":[…],"possible_ancestors":[…]}}
 *   bulk_get     POST /db/_bulk_get?revs=true&latest=true&attachments=true
 *                → {"results":[{"id","docs":[{"ok":{…}}|{"error":{…}}]}]}
 *   bulk_docs    POST /db/_bulk_docs new_edits=false → [failures…] (rows with
 *                "ok" may appear and are not failures)
 *   ensure_full_commit → {"ok":true,"instance_start_time":"…"}
 * Transient failures (network, 5xx, garbage) are retried inside the HTTP
 * endpoint with backoff; what reaches the callback is final.
 *
 * Ownership: request arguments are copied or used before the call returns.
 * The reply is borrowed for the callback, except that the callback may take
 * reply->json (set it to NULL) and then frees it with st_json_doc_free.
 * Threading: loop thread only.
 */
#ifndef ST_ENDPOINT_H
#define ST_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include "loop.h"
#include "st_db.h"
#include "st_json.h"

typedef struct st_ep st_ep;

typedef struct st_ep_reply {
    st_status st;          /* ST_OK: json holds the answer */
    st_error err;          /* st != ST_OK: why */
    int http_status;       /* remote: the HTTP status (0: none); local: CouchDB's equivalent */
    st_json_doc *json;     /* parsed answer, NULL when there is none */
} st_ep_reply;

typedef void (*st_ep_cb)(void *ctx, st_ep_reply *r);

typedef struct st_ep_changes_req {
    const char *since;           /* raw JSON seq ("0", "42", "\"3-g1AA…\"") */
    unsigned limit;
    bool longpoll;               /* wait for a change (or timeout_ms) when there is none */
    unsigned timeout_ms;
    const char *const *doc_ids;  /* filter=_doc_ids */
    size_t n_doc_ids;
    const char *selector;        /* JSON text: filter=_selector */
} st_ep_changes_req;

typedef struct st_ep_ops {
    void (*info)(st_ep *ep, st_ep_cb cb, void *ctx);
    void (*create)(st_ep *ep, st_ep_cb cb, void *ctx);
    void (*get_local)(st_ep *ep, const char *id, st_ep_cb cb, void *ctx);
    void (*put_local)(st_ep *ep, const char *id, const char *json, size_t n, st_ep_cb cb,
                      void *ctx);
    void (*changes)(st_ep *ep, const st_ep_changes_req *req, st_ep_cb cb, void *ctx);
    void (*revs_diff)(st_ep *ep, const char *body, size_t n, st_ep_cb cb, void *ctx);
    void (*bulk_get)(st_ep *ep, const char *body, size_t n, st_ep_cb cb, void *ctx);
    void (*bulk_docs)(st_ep *ep, const st_json *const *docs, size_t n, st_ep_cb cb, void *ctx);
    void (*ensure_full_commit)(st_ep *ep, st_ep_cb cb, void *ctx);
    /* Synchronous and optional (NULL): does doc id have more than one
     * non-deleted leaf?  Only local endpoints answer it. */
    bool (*conflicted)(st_ep *ep, const char *id);
    void (*cancel_all)(st_ep *ep);
    void (*free)(st_ep *ep);
} st_ep_ops;

/* Told about transient trouble and recovery, so the replication can show
 * OFFLINE and count retries.  Called on the loop thread. */
typedef struct st_ep_hooks {
    void (*retrying)(void *ctx, st_ep *ep, const st_error *e, int http_status, unsigned attempt,
                     unsigned delay_ms);
    void (*recovered)(void *ctx, st_ep *ep);
    void *ctx;
} st_ep_hooks;

/* Transport settings of the HTTP endpoint. */
typedef struct st_ep_http_opts {
    unsigned timeout_ms;         /* one attempt of one request */
    unsigned max_retries;        /* UINT_MAX: forever */
    unsigned retry_base_ms;
    unsigned retry_max_ms;
} st_ep_http_opts;

struct st_ep {
    const st_ep_ops *ops;
    st_loop *loop;
    bool remote;
    char *display;         /* URL without password, or the path: for messages */
    char uuid[80];         /* remote: server uuid (GET /); local: the db's uuid.  Set by info */
    char *pouch_id;        /* what PouchDB's db.id() gives for this endpoint; set by info */
    /* Parts of the URL that CouchDB's replication id hashes (remote only). */
    char *user;            /* NULL: none */
    char *host;
    int port;              /* 0: the scheme's default (80, 443, 5984) */
    char *path;            /* "/db/" (trailing slash, as CouchDB normalises it) */
    st_ep_hooks hooks;
};

/* A local database: path opened on first use (create only through create),
 * or db borrowed (then path may be NULL). */
st_status st_ep_local_new(st_loop *loop, const char *path, st_db *db, st_ep **out,
                          st_error *err);

/* A remote database URL "http(s)://[user:pass@]host[:port]/path/db". */
st_status st_ep_http_new(st_loop *loop, const char *url, const st_ep_http_opts *o, st_ep **out,
                         st_error *err);

/* True when s looks like an http(s) URL rather than a path. */
bool st_ep_is_url(const char *s);

void st_ep_free(st_ep *ep); /* cancels pending calls; NULL ok */

/* Shared by the implementations: release what a reply holds. */
void st_ep_reply_clear(st_ep_reply *r);

#endif
