/* st_repl.h — replication between two databases, the way CouchDB and PouchDB
 * do it (docs/replication.md; shared/PROTOCOL.md §6).  The interface of the
 * settee_replicator library, used by `settee sync`/`settee replicate` and by
 * the embedded client library's sync.
 *
 * An endpoint is either a remote database URL, "http(s)://user:pass@host:port/db",
 * or a local database: a file path, or (embedded use) an already open st_db.
 * One st_repl copies one direction, source → target; `sync` is two of them.
 *
 * Remote peers: https certificates are verified (against ca_file, or the
 * system's CAs) unless insecure is set; a certificate that does not verify
 * fails the replication, it is not retried.  Credentials, for every remote
 * endpoint of the replication: user:pass@ in the URL (percent-decoded), or
 * username/password (which replace the URL's), sent as HTTP Basic; or a
 * bearer_token (a JWT, Authorization: Bearer), which excludes the other
 * two; and with use_session the username/password log in once (POST
 * /_session) and requests carry the AuthSession cookie, the newest the
 * server sent, logging in again once when a request is refused 401.  A 401
 * or 403 that is not one document's refusal ends even a continuous
 * replication in FAILED (ST_E_UNAUTHORIZED / ST_E_FORBIDDEN, with the
 * server's reason).  Passwords, tokens and cookies never appear in a status
 * or an error: URLs are shown without their password.
 *
 * Lifecycle:  st_repl_config_init → fill → st_repl_start → (st_repl_status,
 * st_repl_stop, st_repl_wait) → st_repl_free.  Or st_repl_run for a
 * blocking one-shot.  A one-shot replication ends by itself in STOPPED (every
 * change the source had when it started was copied) or FAILED; a continuous
 * one runs until st_repl_stop, then ends in STOPPED -- or FAILED on an error
 * retrying cannot fix (401, 403, a missing target).  A missing source
 * database fails a one-shot replication, but a continuous one waits for it
 * (STARTING, retrying with backoff) and starts over if it is deleted later.
 *
 * Threading: each started replication runs on a thread of its own, on one
 * curl multi handle (every HTTP request is made there; local endpoints are
 * called there too).  st_repl_status, st_repl_stop and st_repl_wait may be
 * called from any thread at any time between start and free; st_repl_free
 * from any thread but exactly once, and not from a callback.  The callbacks
 * (on_status, on_conflict) run on the replication's thread: they must be
 * quick, may call st_repl_status and st_repl_stop, and must not call
 * st_repl_wait or st_repl_free (that would wait for the thread itself).
 *
 * Memory: the config is copied by st_repl_start (strings included); an st_db
 * passed in the config is borrowed and must stay open until st_repl_free.
 * Callback arguments are borrowed for the duration of the call.
 */
#ifndef ST_REPL_H
#define ST_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_db.h"
#include "st_error.h"

typedef struct st_repl st_repl;

/* States, in the order a replication usually passes them (append only). */
typedef enum {
    ST_REPL_STARTING = 0, /* reading peers' info and checkpoints (continuous: or
                             waiting for a missing source database) */
    ST_REPL_RUNNING = 1,  /* copying changes */
    ST_REPL_IDLE = 2,     /* continuous: caught up, waiting on the source's feed */
    ST_REPL_OFFLINE = 3,  /* a peer is unreachable; retrying with backoff */
    ST_REPL_STOPPED = 4,  /* final: finished (one-shot) or stopped on request */
    ST_REPL_FAILED = 5    /* final: an error retrying cannot fix; see last_error */
} st_repl_state;

/* Longest sequence kept in a status (CouchDB's opaque seqs are a few hundred
 * bytes); a longer one is cut and last_seq_truncated is set. */
#define ST_REPL_SEQ_MAX 1024

typedef struct st_repl_status {
    st_repl_state state;
    uint64_t docs_read;          /* revisions fetched from the source */
    uint64_t docs_written;       /* revisions the target accepted */
    uint64_t doc_write_failures; /* revisions the target refused (e.g. 403, or 413 for one
                                  * revision alone: a batch answered 413 is halved first) */
    uint64_t missing_checked;    /* revisions asked about with _revs_diff */
    uint64_t missing_found;      /* revisions the target lacked */
    uint64_t changes_read;       /* change rows read from the source */
    uint64_t pending;            /* changes the source reported still to come */
    uint64_t checkpoints;        /* checkpoints written this session */
    uint64_t retries;            /* requests retried after a transient failure (and
                                  * "source missing" answers of a continuous run) */
    /* The last checkpointed source sequence, as raw JSON text (an integer or
     * a quoted opaque string), "0" before the first checkpoint. */
    char last_seq[ST_REPL_SEQ_MAX];
    bool last_seq_truncated;
    char replication_id[33];     /* CouchDB-scheme id (hex), "" until known */
    /* The most recent error, code ST_OK when none.  One being retried (a
     * peer unreachable: OFFLINE; a continuous source missing: STARTING) is
     * cleared when the state is back to RUNNING or IDLE; a final error and
     * per-document write failures stay until a newer error replaces them. */
    st_error last_error;
    int last_http_status;        /* HTTP status of last_error, 0 if none */
} st_repl_status;

/* Called on every state change and after every checkpoint. */
typedef void (*st_repl_status_fn)(void *ctx, st_repl *r, const st_repl_status *status);

/* Called once per document that has conflicting leaves on the target after a
 * batch was written there (only when the target is a local database: that is
 * where a resolver can act; conflicts made on a remote target come back with
 * the opposite direction of a sync). */
typedef void (*st_repl_conflict_fn)(void *ctx, st_repl *r, const char *doc_id);

typedef struct st_repl_config {
    const char *source;          /* URL or file path (ignored when source_db is set) */
    const char *target;          /* URL or file path (ignored when target_db is set) */
    st_db *source_db;            /* borrowed open database as the source, or NULL */
    st_db *target_db;            /* borrowed open database as the target, or NULL */
    bool continuous;             /* follow the source's feed until stopped */
    bool create_target;          /* create a missing target database */
    const char *const *doc_ids;  /* non-NULL: only these documents (filter=_doc_ids) */
    size_t n_doc_ids;
    const char *selector;        /* JSON object: filter=_selector (passed to the source) */
    /* A filter by name: "ddoc/name" (filters.name of _design/ddoc in the
     * source) or "_view" (query_params {"view":"ddoc/view"}), with
     * query_params (a JSON object: the function's req.query).  A remote
     * source runs it (the parameters go on its _changes URL, as CouchDB's
     * replicator sends them); a local one runs it in qs.  doc_ids,
     * selector and filter are mutually exclusive.  The replication id
     * covers the function's source and the parameters (repl_id.h).  A
     * missing design document or function fails the replication: 404
     * not_found. */
    const char *filter;
    const char *query_params;
    /* The query-server pool a local source's filter runs in (borrowed);
     * NULL: the replication starts its own, with settee-js or the
     * command COUCHDB_QUERY_SERVER_<LANGUAGE> names, as the server does. */
    struct st_qs *qs;
    unsigned batch_size;         /* change rows per batch; 0 = 500 */
    unsigned concurrency;        /* batches in flight (each its own requests); 0 = 4 */
    const char *since_seq;       /* raw JSON seq to start from, ignoring checkpoints; NULL = use them */
    /* Also read and write PouchDB's checkpoint docs (_local/<PouchDB's id>,
     * PouchDB's format), so a PouchDB replication of the same pair of URLs
     * resumes where settee stopped and the other way round. */
    bool pouchdb_checkpoints;
    unsigned timeout_ms;         /* one HTTP request, stalled transfers included; 0 = 30000 */
    unsigned feed_timeout_ms;    /* continuous: longpoll wait on the source; 0 = 25000 */
    unsigned max_retries;        /* per request, one-shot; 0 = 10.  Continuous retries forever */
    unsigned retry_base_ms;      /* first backoff step; 0 = 250 (doubles, jittered) */
    unsigned retry_max_ms;       /* backoff cap; 0 = 30000 */
    /* Remote peers (see the top of this file); applied to both sides. */
    const char *ca_file;         /* PEM CA bundle for https peers; NULL = the system's */
    bool insecure;               /* skip certificate and host name verification */
    const char *username;        /* replaces the URL's user:pass@; NULL = the URL's */
    const char *password;        /* with username */
    const char *bearer_token;    /* a JWT sent as Authorization: Bearer */
    bool use_session;            /* cookie session (POST /_session) instead of Basic */
    st_repl_status_fn on_status;
    void *status_ctx;
    st_repl_conflict_fn on_conflict;
    void *conflict_ctx;
} st_repl_config;

void st_repl_config_init(st_repl_config *c);

/* Validate c, copy it and start the replication thread.  Errors here
 * (ST_E_BAD_REQUEST for a bad selector or contradicting credentials,
 * ST_E_NOMEM) mean no thread was started and no callback will run;
 * everything else (a bad URL, an unreachable peer, bad credentials) is
 * reported through the status. */
st_status st_repl_start(const st_repl_config *c, st_repl **out, st_error *err);

/* Ask the replication to stop; returns at once.  In-flight requests are
 * abandoned (the last checkpoint stays valid) and the final state is
 * STOPPED, unless it had already ended.  Safe to call repeatedly. */
void st_repl_stop(st_repl *r);

/* Wait until the replication has ended (STOPPED or FAILED) or timeout_ms
 * passed (< 0: no limit).  Returns the state at return. */
st_repl_state st_repl_wait(st_repl *r, int timeout_ms);

/* A consistent snapshot of the status. */
void st_repl_get_status(st_repl *r, st_repl_status *out);

/* Stop (if running), wait for the thread, free everything.  NULL ok. */
void st_repl_free(st_repl *r);

/* One-shot and blocking: start, wait, report.  Returns ST_OK when the
 * replication ended in STOPPED, else the error that failed it.  out may be
 * NULL. */
st_status st_repl_run(const st_repl_config *c, st_repl_status *out, st_error *err);

/* "starting", "running", "idle", "offline", "stopped", "failed". */
const char *st_repl_state_name(st_repl_state s);

#endif
