/* endpoint.h — one side of a replication: the handful of calls the protocol
 * needs, as typed values, behind a table of functions with two
 * implementations: endpoint_local.c (straight into core) and
 * endpoint_http.c (CouchDB's HTTP API over libcurl).  JSON exists only
 * inside the HTTP endpoint, as in CouchDB's replicator for local databases.
 *
 *   info         peer and database exist; fills ep->uuid and ep->pouch_id
 *   create       create the database (an existing one is fine)
 *   get_local    a _local document (a checkpoint): reply->json, or ST_E_NOT_FOUND
 *   get_doc      a document's winning revision (a filter's design document):
 *                reply->json, or ST_E_NOT_FOUND
 *   put_local    write a _local document (JSON text), without _rev
 *   changes      rows after a sequence, every leaf of each document
 *                (style=all_docs); longpoll waits for a change or timeout_ms
 *   revs_diff    for each (id, revs): the revisions the peer lacks and its
 *                possible ancestors (CouchDB's _revs_diff)
 *   get_revs     the wanted revisions with their paths and attachment bytes
 *                as stored (newer than atts_since; older ones as stubs)
 *   write_revs   merge revisions as they are (new_edits=false); the answer
 *                lists the documents refused, by index
 *   ensure_full_commit  for peers that buffer writes (CouchDB 1.x)
 *
 * Every call is asynchronous and answers exactly once through its callback,
 * on the loop's thread, never from inside the call itself (local endpoints
 * defer their answer to the loop), but for one case: out of memory before
 * anything could be queued is answered at once.  cancel_all is the other
 * exception: calls pending when it runs never answer.  Transient failures (network, 5xx,
 * garbage) are retried inside the HTTP endpoint with backoff; what reaches
 * the callback is final.
 *
 * Ownership: request arguments are copied or used before the call returns,
 * except the documents given to write_revs, which the caller keeps valid
 * until the answer (or until cancel_all returns).  A reply is borrowed for
 * the callback, except that the callback may take any answer member (set it
 * to NULL) and then frees it: reply->json with st_json_doc_free, the others
 * with st_ep_answer_free(x->arena) -- each typed answer lives in one arena.
 * Threading: loop thread only.
 */
#ifndef ST_ENDPOINT_H
#define ST_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "loop.h"
#include "st_db.h"
#include "st_json.h"

typedef struct st_ep st_ep;

/* A source sequence.  Local peers give integers; remote ones give a JSON
 * value that is carried verbatim (CouchDB's are opaque strings). */
typedef struct st_ep_seq {
    uint64_t n;            /* the sequence, when json is NULL */
    const char *json;      /* else the peer's value as JSON text */
} st_ep_seq;

/* One row of a changes feed. */
typedef struct st_ep_change {
    st_ep_seq seq;
    const char *id;
    const char *const *revs; /* every leaf, winner first */
    size_t n_revs;
    bool deleted;            /* the winner is deleted */
} st_ep_change;

typedef struct st_ep_changes {
    st_arena *arena;         /* owns this struct and everything it points to */
    st_ep_change *rows;
    size_t n;
    st_ep_seq last_seq;      /* where the next read starts */
    uint64_t pending;        /* changes after last_seq, when has_pending */
    bool has_pending;
} st_ep_changes;

/* What revs_diff found missing for one document. */
typedef struct st_ep_missing_row {
    const char *id;
    const char *const *missing;
    size_t n_missing;
    const char *const *ancestors; /* the peer's leaves older than the newest missing */
    size_t n_ancestors;
} st_ep_missing_row;

typedef struct st_ep_missing {
    st_arena *arena;
    st_ep_missing_row *rows; /* only documents with something missing */
    size_t n;
} st_ep_missing;

/* Fetched revisions (core's st_rep_doc), attachment bytes included. */
typedef struct st_ep_docs {
    st_arena *arena;
    st_rep_doc *docs;
    size_t n;
} st_ep_docs;

/* One document write_revs could not write (a per-document failure). */
typedef struct st_ep_write_fail {
    size_t index;            /* into the documents given */
    st_status code;
    const char *error;       /* CouchDB's error name, e.g. "forbidden" */
    const char *reason;
} st_ep_write_fail;

typedef struct st_ep_written {
    st_arena *arena;
    st_ep_write_fail *fails;
    size_t n;
} st_ep_written;

typedef struct st_ep_reply {
    st_status st;            /* ST_OK: the answer member of the call is set */
    st_error err;            /* st != ST_OK: why */
    int http_status;         /* remote: the HTTP status (0: none); local: CouchDB's equivalent */
    st_json_doc *json;       /* get_local */
    st_ep_changes *changes;  /* changes */
    st_ep_missing *missing;  /* revs_diff */
    st_ep_docs *docs;        /* get_revs */
    st_ep_written *written;  /* write_revs */
} st_ep_reply;

typedef void (*st_ep_cb)(void *ctx, st_ep_reply *r);

typedef struct st_ep_changes_req {
    st_ep_seq since;
    unsigned limit;
    bool longpoll;               /* wait for a change (or timeout_ms) when there is none */
    unsigned timeout_ms;
    const char *const *doc_ids;  /* filter=_doc_ids */
    size_t n_doc_ids;
    const char *selector;        /* JSON text: filter=_selector */
    /* filter=<filter> ("ddoc/name", "_view", "_design") with query_params
     * (a JSON object, or NULL): over HTTP they become URL parameters, a
     * local endpoint runs the filter itself (st_filter.h) in qs. */
    const char *filter;
    const char *query_params;
    struct st_qs *qs;
} st_ep_changes_req;

typedef struct st_ep_ops {
    void (*info)(st_ep *ep, st_ep_cb cb, void *ctx);
    void (*create)(st_ep *ep, st_ep_cb cb, void *ctx);
    void (*get_local)(st_ep *ep, const char *id, st_ep_cb cb, void *ctx);
    void (*get_doc)(st_ep *ep, const char *id, st_ep_cb cb, void *ctx);
    void (*put_local)(st_ep *ep, const char *id, const char *json, size_t n, st_ep_cb cb,
                      void *ctx);
    void (*changes)(st_ep *ep, const st_ep_changes_req *req, st_ep_cb cb, void *ctx);
    void (*revs_diff)(st_ep *ep, const st_rep_diff *diffs, size_t n, st_ep_cb cb, void *ctx);
    void (*get_revs)(st_ep *ep, const st_rep_want *wants, size_t n, st_ep_cb cb, void *ctx);
    void (*write_revs)(st_ep *ep, const st_rep_doc *docs, size_t n, st_ep_cb cb, void *ctx);
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

/* Transport settings and credentials of the HTTP endpoint.  The strings are
 * borrowed for st_ep_http_new, which copies what it keeps. */
typedef struct st_ep_http_opts {
    unsigned timeout_ms;         /* one attempt of one request */
    unsigned max_retries;        /* UINT_MAX: forever */
    unsigned retry_base_ms;
    unsigned retry_max_ms;
    const char *ca_file;         /* PEM CAs that verify an https peer; NULL: the system's */
    bool insecure;               /* no certificate or host name verification */
    const char *username;        /* replaces the URL's user:pass@ (NULL: the URL's) */
    const char *password;
    const char *bearer_token;    /* Authorization: Bearer; excludes Basic credentials */
    bool use_session;            /* POST /_session, then the AuthSession cookie */
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

/* A remote database URL "http(s)://[user:pass@]host[:port]/path/db".
 * ST_E_BAD_REQUEST for a bad URL (the message never shows its password) or
 * credentials that contradict each other (see endpoint_http_int.h). */
st_status st_ep_http_new(st_loop *loop, const char *url, const st_ep_http_opts *o, st_ep **out,
                         st_error *err);

/* True when s looks like an http(s) URL rather than a path. */
bool st_ep_is_url(const char *s);

void st_ep_free(st_ep *ep); /* cancels pending calls; NULL ok */

/* Release what a reply holds (every answer member). */
void st_ep_reply_clear(st_ep_reply *r);

/* Free a typed answer taken from a reply, given its arena.  NULL ok. */
void st_ep_answer_free(st_arena *arena);

/* A typed answer of type T in a fresh arena (its arena member set), or NULL
 * when out of memory. */
#define st_ep_answer_new(T) ((T *)st_ep_answer_alloc(sizeof(T), offsetof(T, arena)))
void *st_ep_answer_alloc(size_t size, size_t arena_offset);

/* Fill r with a failure (code, reason, and CouchDB's HTTP status for it). */
void st_ep_reply_fail(st_ep_reply *r, const st_error *err);

#endif
