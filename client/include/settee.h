/* settee.h — libsettee, the embedded settee database: local documents that keep
 * working offline and sync with a CouchDB-compatible server when they can.
 *
 * This is the library's only public header.  Everything it declares starts
 * with settee_ or SETTEE_; nothing else is exported from libsettee.
 *
 * ---------------------------------------------------------------- the model
 * A settee_db is one local database file holding JSON documents.  Each
 * document has an _id and a revision (_rev, "N-hash"); writes name the
 * revision they replace, so a stale write fails with SETTEE_CONFLICT instead
 * of losing data (CouchDB's MVCC).  A settee_sync copies changes between the
 * local database and a remote one ("http://host:port/db") in either or both
 * directions.  Edits made on two replicas while they could not talk become
 * *conflicting leaves* of one document; every replica picks the same winner
 * (deterministically), and a resolver may settle the conflict by writing an
 * ordinary revision that replicates like any other.
 *
 * ----------------------------------------------------------------- errors
 * Every fallible call returns a settee_status (SETTEE_OK == 0) and, when
 * the caller passes a non-NULL settee_error (on the caller's stack), fills it
 * with the code, the HTTP status CouchDB would answer, and a message.  There
 * is no per-handle "last error": that would race between threads.  Misuse
 * (a NULL or closed handle, a NULL required argument) returns SETTEE_MISUSE;
 * it never crashes.  A call that fails never runs the callback it was given.
 *
 * ---------------------------------------------------------------- memory
 * - Every char * (or void *) a settee call hands back through an out_*
 *   parameter belongs to the caller and is freed with settee_free().  Arrays
 *   of strings (char **) are ONE allocation: settee_free(array) frees the
 *   array and its strings.
 * - Arguments passed to callbacks are borrowed: valid only during the call.
 * - Inputs are copied; the caller may free them as soon as the call returns.
 * - On failure every out_* pointer is set to NULL (or 0).
 *
 * --------------------------------------------------------------- threads
 * - A settee_db may be used from any number of threads at once: reads run in
 *   parallel, concurrent writes are committed together.
 * - A settee_changes iterator is used by one thread at a time.
 * - Callbacks (change listeners, live queries, sync status, conflict
 *   resolvers) for one database run one at a time, never concurrently with
 *   each other:
 *     SETTEE_DISPATCH_THREAD (default): on a thread settee owns, one per db;
 *     SETTEE_DISPATCH_MANUAL: inside settee_db_dispatch(), on whatever thread
 *       the app calls it from, typically when settee_db_notify_fd() polls
 *       readable in the app's own run loop.
 *   Callbacks may call any settee function, including removing their own
 *   listener or freeing their own sync, except settee_db_close on their db
 *   (which answers SETTEE_BUSY while the listener or sync lives).
 * - Writes never wait for the network: a sync runs on threads of its own.
 *
 * ------------------------------------------------------------- lifecycle
 * open/close, start/free and add/remove come in pairs.  Freeing functions
 * accept NULL.  settee_db_close() returns SETTEE_BUSY, and closes nothing,
 * while a listener, sync or iterator of that database is alive or another
 * thread is inside a call on it.
 *
 * ABI: the status enum and the structs are append-only; new behaviour comes
 * as new functions (_v2), never as changed semantics.  settee_db_options
 * carries its own size (struct_size), so fields appended to it later are
 * safe across library versions in both directions.
 */
#ifndef SETTEE_H
#define SETTEE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------- macros */

#if defined(__GNUC__) || defined(__clang__)
#define SETTEE_API __attribute__((visibility("default")))
#else
#define SETTEE_API
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SETTEE_NODISCARD __attribute__((warn_unused_result))
#else
#define SETTEE_NODISCARD
#endif

/* Compile-time version (of this header).  The library's own version is
 * settee_version_number(); an app can compare the two at startup. */
#define SETTEE_VERSION_MAJOR 0
#define SETTEE_VERSION_MINOR 1
#define SETTEE_VERSION_PATCH 0
#define SETTEE_VERSION_STRING "0.1.0"
#define SETTEE_VERSION_NUMBER \
    (SETTEE_VERSION_MAJOR * 1000000 + SETTEE_VERSION_MINOR * 1000 + SETTEE_VERSION_PATCH)

/* Pass as a length to mean "the text is NUL-terminated; use strlen". */
#define SETTEE_NUL_TERMINATED ((size_t)-1)

/* ------------------------------------------------------------ status codes */

/* Append only; never renumber or reuse (it is ABI).  One code per CouchDB
 * error name, plus codes for the embedding (DONE, BUSY, MISUSE, ...). */
typedef enum settee_status {
    SETTEE_OK = 0,
    SETTEE_DONE = 1,                    /* an iterator is exhausted (not an error) */
    SETTEE_NOT_FOUND = 2,               /* 404 not_found */
    SETTEE_CONFLICT = 3,                /* 409 conflict */
    SETTEE_BAD_REQUEST = 4,             /* 400 bad_request; invalid JSON lands here */
    SETTEE_BUSY = 5,                    /* handle still has live children or callers */
    SETTEE_IO = 6,                      /* storage failed (disk full, corrupt file) */
    SETTEE_NOMEM = 7,                   /* out of memory */
    SETTEE_NETWORK = 8,                 /* a remote peer is unreachable or failed */
    SETTEE_MISUSE = 9,                  /* NULL/closed handle, NULL required argument */
    SETTEE_ILLEGAL_DOCID = 10,          /* 400 illegal_docid */
    SETTEE_DOC_VALIDATION = 11,         /* 400 doc_validation */
    SETTEE_ILLEGAL_DATABASE_NAME = 12,  /* 400 illegal_database_name */
    SETTEE_FILE_EXISTS = 13,            /* 412 file_exists */
    SETTEE_PRECONDITION_FAILED = 14,    /* 412 precondition_failed */
    SETTEE_MISSING_STUB = 15,           /* 412 missing_stub */
    SETTEE_DOCUMENT_TOO_LARGE = 16,     /* 413 document_too_large */
    SETTEE_ATTACHMENT_TOO_LARGE = 17,   /* 413 attachment_too_large */
    SETTEE_TOO_LARGE = 18,              /* 413 too_large */
    SETTEE_UNAUTHORIZED = 19,           /* 401 unauthorized */
    SETTEE_FORBIDDEN = 20,              /* 403 forbidden */
    SETTEE_BAD_CONTENT_TYPE = 21,       /* 415 bad_content_type */
    SETTEE_METHOD_NOT_ALLOWED = 22,     /* 405 method_not_allowed */
    SETTEE_RANGE_NOT_SATISFIABLE = 23,  /* 416 requested_range_not_satisfiable */
    SETTEE_TIMEOUT = 24,                /* 500 timeout */
    SETTEE_QUERY_PARSE_ERROR = 25,      /* 400 query_parse_error */
    SETTEE_NOT_ACCEPTABLE = 26,         /* 406 not_acceptable */
    SETTEE_INTERNAL = 27,               /* 500 internal_server_error */
    SETTEE_INSUFFICIENT_STORAGE = 28,   /* 507: no space left on the device */
    SETTEE_COMPILATION_ERROR = 29,      /* 400 compilation_error: a design document's
                                         * function does not compile */
    SETTEE_OS_PROCESS_ERROR = 30,       /* 500 os_process_error: a query-server process
                                         * failed (a function that timed out, a crash) */
    SETTEE_UNKNOWN_QUERY_LANGUAGE = 31, /* 500 unknown_query_language: no query server
                                         * for the language (settee-js not found or
                                         * switched off) */
    SETTEE_QUERY_SERVER_ERROR = 32,     /* 500: a function failed at run time */
    SETTEE_STATUS_LAST                  /* never use: grows with the enum */
} settee_status;

#define SETTEE_MESSAGE_MAX 256

/* Filled by a failing call when the caller passes one; lives on the
 * caller's stack.  code == SETTEE_OK and message "" after success. */
typedef struct settee_error {
    settee_status code;
    int http_status;                 /* what CouchDB would answer, e.g. 409; 0 if none */
    char message[SETTEE_MESSAGE_MAX];/* human text, NUL-terminated */
} settee_error;

/* CouchDB's error name for a code ("not_found", "conflict", ...), or the
 * embedding's ("busy", "misuse", ...).  Never NULL; static storage.  Any thread. */
SETTEE_API const char *settee_status_name(settee_status code);

/* ------------------------------------------------------------------ basics */

/* SETTEE_VERSION_NUMBER of the library actually linked.  Any thread. */
SETTEE_API int settee_version_number(void);
/* "0.1.0" of the library actually linked; static storage.  Any thread. */
SETTEE_API const char *settee_version(void);

/* Free anything a settee call returned through an out_* pointer (strings,
 * string arrays, attachment bytes, conflict lists).  NULL ok.  Any thread. */
SETTEE_API void settee_free(void *p);

/* ----------------------------------------------------------------- handles */

typedef struct settee_db settee_db;             /* an open local database */
typedef struct settee_changes settee_changes;   /* a changes iterator */
typedef struct settee_listener settee_listener; /* a listener or live query registration */
typedef struct settee_sync settee_sync;         /* a running (or ended) sync */

/* ---------------------------------------------------------------- database */

typedef enum settee_dispatch_mode {
    SETTEE_DISPATCH_THREAD = 0, /* callbacks run on a settee-owned thread */
    SETTEE_DISPATCH_MANUAL = 1  /* callbacks run inside settee_db_dispatch() */
} settee_dispatch_mode;

/* Append only (ABI): fields are only ever added at the end, each read by
 * settee only when struct_size says the caller's struct has it, so a
 * program built against an older settee.h keeps working with a newer
 * library, and the other way round.  Fill it with settee_db_options_init
 * (which records your sizeof) and change what you need; a struct you fill
 * yourself, e.g. {0} or designated initializers, has struct_size 0 and gets
 * the defaults for every field after struct_size. */
typedef struct settee_db_options {
    bool create;                  /* create the file when missing (default true) */
    bool durable;                 /* fsync every commit (default true); false:
                                   * survives the process dying, not power loss */
    settee_dispatch_mode dispatch;/* where callbacks run (default THREAD) */
    unsigned readers;             /* pooled read connections; 0 = 2 */
    size_t max_doc_size;          /* bytes of JSON per document; 0 = 8000000 */
    /* ---- appended fields: read only when struct_size covers them */
    size_t struct_size;           /* sizeof(settee_db_options) as the app was
                                   * compiled; set by settee_db_options_init */
    unsigned cache_kib;           /* SQLite page cache per connection (the writer
                                   * and each reader), in KiB; 0 = 512.  It only
                                   * grows as pages are read */
    int mmap_kib;                 /* memory-mapped reads per connection, in KiB;
                                   * 0 = off (the default), -1 = off.  Mapped
                                   * pages count in the resident size once read */
    /* Design documents' JavaScript (views, validate_doc_update): see
     * "Design documents" below. */
    const char *query_server;     /* the settee-js executable (a command line,
                                   * split on blanks); NULL = $SETTEE_JS when set,
                                   * else the installed one; "" = no JavaScript */
    unsigned query_timeout_ms;    /* a function's deadline (CouchDB's
                                   * os_process_timeout); 0 = 5000 */
    unsigned query_processes;     /* query-server processes at most; 0 = 2 */
} settee_db_options;

/* Fill the first struct_size bytes of o with the defaults above and record
 * struct_size in it.  For bindings that cannot use the inline function
 * below (pass the size of the struct as your language lays it out).  NULL
 * ok.  Any thread. */
SETTEE_API void settee_db_options_init_sized(settee_db_options *o, size_t struct_size);

/* Fill o with the defaults above (an inline wrapper, so that the size your
 * program was compiled with is the one recorded).  NULL ok.  Any thread. */
static inline void settee_db_options_init(settee_db_options *o)
{
    settee_db_options_init_sized(o, sizeof *o);
}

/* CONSTRUCTOR.  Open the database file at path (created on demand unless
 * o->create is false; SETTEE_NOT_FOUND then).  o may be NULL (defaults).
 * The directory must exist.  Opening one file twice in one process gives
 * two independent handles; prefer sharing one.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_db_open(const char *path, const settee_db_options *o, settee_db **out_db,
               settee_error *e);

/* DESTRUCTOR.  Close and free db.  NULL ok (SETTEE_OK).  SETTEE_BUSY, with
 * nothing closed, while a listener, sync or changes iterator of db lives or
 * another thread is inside a call on db; SETTEE_MISUSE for a handle that is
 * not open.  Any thread, but not from db's own callbacks. */
SETTEE_API settee_status settee_db_close(settee_db *db);

typedef struct settee_db_info {
    uint64_t update_seq;   /* sequence of the latest change */
    uint64_t doc_count;    /* live documents */
    uint64_t deleted_count;/* deleted documents (tombstones) */
    uint64_t file_size;    /* bytes on disk */
} settee_db_info;

/* Counters of db.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_db_info_get(settee_db *db, settee_db_info *out_info, settee_error *e);

/* --------------------------------------------------------------- documents */

/* Write one document: json[0..n) is an object with "_id" and, to update an
 * existing document, its current "_rev" (SETTEE_CONFLICT when stale).
 * "_deleted":true deletes.  n may be SETTEE_NUL_TERMINATED.  *out_rev gets
 * the new revision (settee_free it); out_rev may be NULL.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_doc_put(settee_db *db, const char *json, size_t n, char **out_rev, settee_error *e);

/* Like settee_doc_put for a new document without "_id": settee generates a
 * random id (32 hex).  *out_id and *out_rev are settee_free'd by the caller;
 * either may be NULL.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_doc_post(settee_db *db, const char *json, size_t n, char **out_id, char **out_rev,
                settee_error *e);

/* The document id as JSON text, with "_id" and "_rev": the winning revision
 * when rev is NULL, else that revision.  SETTEE_NOT_FOUND when missing or
 * deleted (message "missing" / "deleted").  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_doc_get(settee_db *db, const char *id, const char *rev, char **out_json, settee_error *e);

/* One top-level member of the winning revision of id, as JSON text (a
 * string comes back quoted: "\"milk\"").  SETTEE_NOT_FOUND when the document
 * or the member is missing.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_doc_get_field(settee_db *db, const char *id, const char *field, char **out_json,
                     settee_error *e);

/* Delete revision rev of id (a tombstone revision is written, and it
 * replicates).  *out_rev gets the tombstone's rev; out_rev may be NULL.
 * Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_doc_delete(settee_db *db, const char *id, const char *rev, char **out_rev,
                  settee_error *e);

/* Several writes in one commit (CouchDB _bulk_docs).  json is {"docs":[...]}
 * or a bare array of document objects.  Each document succeeds or fails on
 * its own; *out_results is CouchDB's answer, a JSON array with one entry per
 * document: {"ok":true,"id","rev"} or {"id","error","reason"}.  Returns
 * SETTEE_OK when the batch was processed, whatever each document's fate.
 * out_results may be NULL.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_bulk_docs(settee_db *db, const char *json, size_t n, char **out_results,
                 settee_error *e);

/* ---------------------------------------------------------------- all_docs */

typedef struct settee_all_docs_options {
    const char *start_key;       /* first id (inclusive); NULL = from the start */
    const char *end_key;         /* last id; NULL = to the end */
    bool inclusive_end;          /* end_key itself included (default true) */
    bool descending;             /* reverse id order (then start_key >= end_key) */
    uint64_t limit;              /* at most this many rows; 0 = no limit */
    uint64_t skip;               /* rows skipped first */
    bool include_docs;           /* fill row->json */
    const char *const *keys;     /* non-NULL: exactly these ids, in this order */
    size_t n_keys;
} settee_all_docs_options;

/* Fill o with the defaults above.  Any thread. */
SETTEE_API void settee_all_docs_options_init(settee_all_docs_options *o);

/* One row, borrowed for the callback. */
typedef struct settee_doc_row {
    const char *id;        /* the document id (keys=: the requested key) */
    const char *rev;       /* winning revision; NULL when not_found */
    bool deleted;          /* keys= only: the document is deleted */
    bool not_found;        /* keys= only: no such document */
    const char *json;      /* include_docs and live: the document; else NULL */
    size_t json_len;
} settee_doc_row;

/* Return nonzero to stop early (the call still returns SETTEE_OK). */
typedef int (*settee_row_fn)(void *ctx, const settee_doc_row *row);

/* Documents in id order (bytewise), deleted ones left out unless named in
 * keys.  fn runs on the calling thread, during the call, over a consistent
 * snapshot; it may call settee functions.  o may be NULL.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_all_docs(settee_db *db, const settee_all_docs_options *o, settee_row_fn fn, void *ctx,
                settee_error *e);

/* ------------------------------------------------------------- attachments */

/* Add or replace attachment name on revision rev of id (rev NULL: create
 * the document); the bytes are copied.  *out_rev gets the new revision;
 * out_rev may be NULL.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_att_put(settee_db *db, const char *id, const char *rev, const char *name,
               const char *content_type, const void *data, size_t len, char **out_rev,
               settee_error *e);

/* The bytes of attachment name of id (rev NULL: the winner), as they were
 * put: compressible types are stored gzip-encoded (as CouchDB does) and
 * decoded here.  *out_data (settee_free; NUL-terminated for convenience, not
 * counted in *out_len), and *out_content_type (settee_free; may be NULL).
 * Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_att_get(settee_db *db, const char *id, const char *rev, const char *name,
               void **out_data, size_t *out_len, char **out_content_type, settee_error *e);

/* Remove attachment name from revision rev of id; *out_rev as above. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_att_delete(settee_db *db, const char *id, const char *rev, const char *name,
                  char **out_rev, settee_error *e);

/* ----------------------------------------------------------------- changes */

/* One change: the document's state at its latest change.  A document
 * changed several times is reported once, at its newest sequence (as
 * CouchDB's _changes does).  Borrowed. */
typedef struct settee_change {
    uint64_t seq;          /* resume from here: settee_changes_open(db, seq, ...) */
    const char *id;
    const char *rev;       /* the winning revision */
    bool deleted;          /* the winner is a tombstone */
} settee_change;

/* CONSTRUCTOR.  Iterate the changes with seq > since, up to the latest
 * change when this is called (later changes: open again from the last seq).
 * The iterator pins db (settee_db_close answers BUSY) until closed.
 * Any thread; the iterator itself one thread at a time. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_changes_open(settee_db *db, uint64_t since, settee_changes **out_it, settee_error *e);

/* METHOD.  The next change into *out_ch (valid until the next call on it);
 * SETTEE_DONE after the last one, then again on every call. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_changes_next(settee_changes *it, const settee_change **out_ch);

/* DESTRUCTOR.  NULL ok. */
SETTEE_API void settee_changes_close(settee_changes *it);

/* --------------------------------------------------------------- listeners */

/* Told of changes committed after the listener was added, in sequence
 * order, in batches (n >= 1): local writes, sync, and writes another handle
 * or another process makes to the same file (noticed within about 50 ms).
 * Arguments are borrowed for the call.  Runs on the db's callback thread
 * (see the preamble). */
typedef void (*settee_change_fn)(void *ctx, settee_db *db, const settee_change *changes,
                                 size_t n);

/* CONSTRUCTOR.  Register fn for every change of db.  ctx must outlive the
 * registration.  *out_tok is removed with settee_listener_remove.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_listener_add(settee_db *db, settee_change_fn fn, void *ctx, settee_listener **out_tok,
                    settee_error *e);

/* Like settee_listener_add, told only of the documents in ids[0..n) (copied). */
SETTEE_API SETTEE_NODISCARD settee_status
settee_listener_add_docs(settee_db *db, const char *const *ids, size_t n, settee_change_fn fn,
                         void *ctx, settee_listener **out_tok, settee_error *e);

/* DESTRUCTOR.  Removes any listener: a change listener or a live query
 * (settee_live_query_start).  After it returns fn is not running and is
 * never called again (from another thread it waits until no callback of db
 * runs; from inside any callback of db it returns at once).  NULL ok.  Any
 * thread. */
SETTEE_API void settee_listener_remove(settee_listener *tok);

/* The descriptor an app with its own run loop polls (SETTEE_DISPATCH_MANUAL):
 * readable means "call settee_db_dispatch()".  Owned by db; do not read or
 * close it.  -1 for a NULL/closed db or one in SETTEE_DISPATCH_THREAD mode.
 * Linux: an eventfd; elsewhere the read end of a pipe.  Any thread. */
SETTEE_API int settee_db_notify_fd(settee_db *db);

/* Run every due callback of db (listeners, sync status, resolvers) on the
 * calling thread, then return.  Never blocks waiting for changes.
 * SETTEE_MISUSE in SETTEE_DISPATCH_THREAD mode.  Any thread, one at a time
 * (a second concurrent call waits for the first). */
SETTEE_API settee_status settee_db_dispatch(settee_db *db);

/* --------------------------------------------------------------- conflicts */

/* Every live leaf revision of id, the winner first: n == 1 means no
 * conflict.  *out_revs is one allocation (settee_free).  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_conflicts(settee_db *db, const char *id, char ***out_revs, size_t *out_n,
                 settee_error *e);

/* One conflicted document: its id and live leaves, the winner first. */
typedef struct settee_conflict {
    const char *id;
    const char *const *revs;
    size_t n_revs;         /* >= 2 */
} settee_conflict;

/* Every document that has more than one live leaf, in id order.  *out is
 * one allocation (settee_free), *out_n its length.  Read from an index of
 * conflicted documents: the cost follows their number, not the size of the
 * database.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_conflicts_list(settee_db *db, settee_conflict **out, size_t *out_n, settee_error *e);

/* Settle the conflict on id: keep_rev (a live leaf) survives, every other
 * live leaf gets a tombstone, and when merged_json is non-NULL it is written
 * as keep_rev's child (its _id/_rev members are ignored).  All in one commit.
 * *out_rev: the surviving revision (merged or keep_rev); may be NULL.
 * All or nothing: when any part is refused -- SETTEE_CONFLICT when the
 * leaves changed meanwhile (a concurrent edit or a sync; read them again and
 * retry), or the merged body's own error -- nothing at all is written.
 * The result is an ordinary write: it replicates, and every replica that
 * applies it converges.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_conflict_resolve(settee_db *db, const char *id, const char *keep_rev,
                        const char *merged_json, char **out_rev, settee_error *e);

/* One live leaf of a conflicted document, borrowed for the resolver call. */
typedef struct settee_leaf {
    const char *rev;
    const char *json;      /* the leaf's document, with _id and _rev */
    size_t json_len;
} settee_leaf;

/* A resolver: called by a sync for each conflicted document it pulled,
 * leaves[0] being the current winner.  It settles the conflict by calling
 * settee_conflict_resolve (or does nothing: every replica still shows the
 * same winner).  Runs on the db's callback thread.  The return value is
 * reported in the sync's status when not SETTEE_OK (the sync goes on). */
typedef settee_status (*settee_resolver_fn)(void *ctx, settee_db *db, const char *id,
                                            const settee_leaf *leaves, size_t n);

/* Built-in: keep the deterministic winner (leaves[0]) and delete the other
 * leaves, so the conflict is gone everywhere.  ctx unused. */
SETTEE_API settee_status settee_resolve_winner(void *ctx, settee_db *db, const char *id,
                                               const settee_leaf *leaves, size_t n);

/* Built-in: keep the leaf whose top-level member named by ctx (a
 * const char *, e.g. "updated_at") is greatest: numbers compare as numbers,
 * strings bytewise (ISO-8601 times sort right), a missing member loses; ties
 * go to the deterministic winner.  Other leaves are deleted. */
SETTEE_API settee_status settee_resolve_newest(void *ctx, settee_db *db, const char *id,
                                               const settee_leaf *leaves, size_t n);

/* ----------------------------------------------------------------- queries */
/* Mango queries on the local database, as CouchDB's POST /{db}/_find and
 * /{db}/_index give them (the same request bodies, the same answers and
 * error names), without a server.  json indexes are design documents with
 * "language":"query" (CouchDB's format, so they replicate); settee keeps
 * each one current inside every write, so a query never waits for an index.
 *
 * Errors of a request body are SETTEE_BAD_REQUEST (HTTP 400) with a message
 * that starts with CouchDB's specific error name and a colon, e.g.
 * "no_usable_index: No index exists for this sort, try indexing by the sort
 * fields." or "invalid_operator: Invalid operator: $foo". */

/* One document of an answer (JSON text, fields applied), borrowed for the
 * call.  Return nonzero to stop after it. */
typedef int (*settee_find_fn)(void *ctx, const char *json, size_t len);

/* Run a _find request: query_json[0..n) is its body -- selector (required),
 * fields, sort, limit (default 25), skip, bookmark, use_index, conflicts,
 * allow_fallback, r, update, stable, stale and execution_stats are accepted
 * as CouchDB accepts them (the last four change nothing here).  fn gets each
 * document in order, on the calling thread, during the call; it may call
 * settee functions.  Large answers are read a page at a time, each page
 * from its own snapshot, as CouchDB's are.  *out_bookmark (resend it as
 * "bookmark" for the next page; "nil" when nothing was returned) and
 * *out_warning (NULL when none: a full scan says "No matching index found,
 * create an index to optimize query time.") are settee_free'd by the
 * caller; either may be NULL.  When fn stops early the bookmark resumes
 * after the last document fn got.  n may be SETTEE_NUL_TERMINATED.
 * Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_find(settee_db *db, const char *query_json, size_t n, settee_find_fn fn, void *ctx,
            char **out_bookmark, char **out_warning, settee_error *e);

/* Create a json index: index_json[0..n) is the body of CouchDB's POST
 * _index, e.g. {"index":{"fields":["owner",{"due":"desc"}]},"ddoc":"tasks",
 * "name":"by-owner"} (ddoc and name are generated when absent;
 * partial_filter_selector is accepted).  The index is built before the call
 * returns.  *out_ddoc ("_design/...") and *out_name (settee_free) say which
 * it is; *out_existed is true when that index was there already (CouchDB's
 * "result":"exists") and nothing was written.  Every out may be NULL.
 * Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_index_create(settee_db *db, const char *index_json, size_t n, char **out_ddoc,
                    char **out_name, bool *out_existed, settee_error *e);

/* Delete json index name of design document ddoc (with or without its
 * "_design/" prefix); the design document goes too when it holds nothing
 * else.  SETTEE_NOT_FOUND ("missing") when there is no such index.
 * Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_index_delete(settee_db *db, const char *ddoc, const char *name, settee_error *e);

/* Every index as CouchDB's GET _index answers: {"total_rows":N,"indexes":
 * [{"ddoc":null,"name":"_all_docs","type":"special",...},{"ddoc":
 * "_design/...","name":...,"type":"json","partitioned":false,"def":
 * {"fields":[{"owner":"asc"}]}},...]} into *out_json (settee_free).
 * Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_index_list(settee_db *db, char **out_json, settee_error *e);

/* ------------------------------------------------------------ live queries */
/* A live query is a query whose answer the app is told once and then kept
 * current: the callback gets the initial result, then only what changed --
 * documents added, changed (perhaps moved) and removed, with their positions
 * -- as local writes, syncs and other processes change the database.  An
 * update costs what the change costs, not what the result holds: settee
 * keeps the result's positions (document ids and sort keys; the documents
 * themselves only for a limited result's window) and judges each changed
 * document on its own; the query is never run again, except to read on
 * past the end of a limited result when documents left it.
 *
 * A live query is a listener: settee_live_query_start gives a
 * settee_listener token and settee_listener_remove removes it, with the
 * same guarantees as for change listeners (and from any thread, its own
 * callback included). */

typedef enum settee_live_op {
    SETTEE_LIVE_ADDED = 1,    /* a document entered the result at new_pos */
    SETTEE_LIVE_CHANGED = 2,  /* a document of the result changed; it moved
                               * from old_pos to new_pos (often the same) */
    SETTEE_LIVE_REMOVED = 3   /* the document at old_pos left the result */
} settee_live_op;

/* A position that does not apply (old_pos of ADDED, new_pos of REMOVED). */
#define SETTEE_LIVE_NO_POS ((size_t)-1)

/* One change of a live query's result, borrowed for the callback.  Apply
 * the changes of one call in order: each one's old_pos is a position in the
 * result as the changes before it left it, and its new_pos one in the
 * result after it (CHANGED: take it out at old_pos, put it in at new_pos). */
typedef struct settee_live_change {
    settee_live_op op;
    const char *id;        /* the document's _id (whatever "fields" says) */
    const char *json;      /* ADDED, CHANGED: the document as settee_find gives
                            * it (fields applied); REMOVED: NULL */
    size_t json_len;
    size_t old_pos;        /* CHANGED, REMOVED: 0-based position before */
    size_t new_pos;        /* ADDED, CHANGED: 0-based position after */
} settee_live_change;

/* The first call is the initial result: every document, ADDED at 0, 1, 2,
 * ... (n may be 0: nothing matches yet); every later call has n >= 1.
 * Borrowed arguments.  Runs on the db's callback thread (see the preamble). */
typedef void (*settee_live_fn)(void *ctx, settee_db *db, const settee_live_change *changes,
                               size_t n);

/* CONSTRUCTOR.  Start a live query: query_json[0..n) is a _find body with
 * selector (required), and optionally sort, limit (absent: no limit -- a
 * live query is not paged), fields, use_index and conflicts.  skip and
 * bookmark are refused (SETTEE_BAD_REQUEST).  The result's order is the
 * order settee_find gives the same query: by sort when there is one (which,
 * as in _find, needs an index on the sort fields: "no_usable_index"
 * otherwise), documents equal on it by the index's other fields, then by
 * _id; without sort, by the index the selector picks, else by _id.
 * Errors here mean nothing started and fn will never be called.  ctx must
 * outlive the registration.  *out_tok is removed with
 * settee_listener_remove.  n may be SETTEE_NUL_TERMINATED.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_live_query_start(settee_db *db, const char *query_json, size_t n, settee_live_fn fn,
                        void *ctx, settee_listener **out_tok, settee_error *e);

/* --------------------------------------------------------- design documents
 * A database's design documents ("_design/..." documents, written with the
 * ordinary document calls and pulled by a sync like any other) work here as
 * on the server: the same views answer the same rows, and the same
 * validate_doc_update functions refuse the same writes, offline.
 *
 * JavaScript runs in query-server processes (settee-js, CouchDB's query
 * server protocol), started on demand, at most query_processes of them per
 * database, each answer within query_timeout_ms or the process is killed
 * (the call fails with SETTEE_OS_PROCESS_ERROR; a function cannot hang or
 * crash the app).  settee_db_options.query_server names the executable;
 * else $SETTEE_JS; else settee-js where settee installs it
 * (<libexecdir>/settee/settee-js, looked up next to the library first, so
 * a relocated installation finds its own).  When it is missing (or
 * query_server is ""), plain reads and writes keep working, and what needs
 * JavaScript fails with SETTEE_UNKNOWN_QUERY_LANGUAGE and a message saying
 * where settee-js was looked for: view queries that must map documents,
 * and every write to a database whose design documents have a
 * validate_doc_update (a write the server would check is never let
 * through unchecked).  Design documents are then stored without compiling
 * their functions.
 *
 * Validation.  Every write -- settee_doc_put/_post/_delete,
 * settee_bulk_docs (each document on its own), attachments, conflict
 * resolution, and the revisions a sync pulls -- runs the validate_doc_update
 * of every design document, with newDoc, oldDoc, userCtx and secObj as
 * CouchDB passes them.  throw({forbidden: "why"}) fails the write with
 * SETTEE_FORBIDDEN (403) and "why" as the message; throw({unauthorized:
 * "why"}) with SETTEE_UNAUTHORIZED (401).  A pulled revision refused this
 * way is not written; the sync counts it in doc_write_failures and reports
 * it in last, and goes on (as CouchDB's replicator does).  _local documents
 * are never validated.  A design document is checked when written: CouchDB's
 * shape rules (SETTEE_BAD_REQUEST, "invalid_design_doc" messages) and
 * functions that compile (SETTEE_COMPILATION_ERROR).  The app owns its
 * database, so any design document may be written locally (the server
 * decides who may push one to it).
 *
 * userCtx.  Functions see userCtx {"db": <file's base name>, "name": null,
 * "roles": ["_admin"]} -- CouchDB's context for the node itself -- until
 * settee_db_set_user names the app's user; secObj is the local database's
 * security object ({} unless set). */

/* Who the local writes are made by, as validate_doc_update sees it:
 * userCtx.name = name (NULL: null) and userCtx.roles = roles[0..n) (copied;
 * roles may be NULL when n is 0).  Give the user the server knows, so a
 * function that checks userCtx refuses locally what the server would.
 * Takes effect for writes that start afterwards.  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_db_set_user(settee_db *db, const char *name, const char *const *roles, size_t n,
                   settee_error *e);

/* One row of a view query, borrowed for the callback. */
typedef struct settee_view_row {
    const char *json;      /* the row as CouchDB sends it: {"id","key","value"[,"doc"]},
                            * or {"key","value"} for reduce rows */
    size_t json_len;
    const char *id;        /* map rows: the emitting document's id; NULL for reduce rows */
    const char *key;       /* JSON text (not NUL-terminated: use key_len) */
    size_t key_len;
    const char *value;     /* JSON text (value_len) */
    size_t value_len;
    const char *doc;       /* include_docs: the document (JSON, doc_len); NULL when it
                            * is missing or deleted (CouchDB's "doc":null), or without
                            * include_docs */
    size_t doc_len;
} settee_view_row;

/* Return nonzero to stop early (the call still returns SETTEE_OK). */
typedef int (*settee_view_row_fn)(void *ctx, const settee_view_row *row);

/* What a view query answered besides its rows. */
typedef struct settee_view_result {
    bool reduced;          /* the rows are reduce rows (no total_rows/offset) */
    uint64_t total_rows;   /* map rows: rows in the whole view */
    uint64_t offset;       /* map rows: rows before the first one returned */
    uint64_t update_seq;   /* the database sequence the index reflects */
} settee_view_result;

/* Query view `view` of design document ddoc ("name" or "_design/name"), as
 * GET /db/_design/ddoc/_view/view does.  params_json[0..n) is NULL (the
 * defaults) or a JSON object of CouchDB's view parameters, JSON-valued as in
 * a POST body: key, keys, startkey/start_key, endkey/end_key,
 * startkey_docid, endkey_docid, inclusive_end, descending, limit, skip,
 * group, group_level, reduce, include_docs, conflicts, update
 * (true/false/"lazy"), stale, update_seq, sorted, stable; e.g.
 * {"startkey":["a"],"endkey":["a",{}],"group_level":2} or
 * {"keys":[1,2],"reduce":false,"include_docs":true}.  Unknown members are
 * ignored; a bad value fails with SETTEE_QUERY_PARSE_ERROR and CouchDB's
 * message, before any row.  update: true (the default) brings the index up
 * to date first, mapping only documents changed since it last was; false
 * answers from the index as it is; "lazy" answers as it is, then updates
 * the index before the call returns (the rows come first).  n may be
 * SETTEE_NUL_TERMINATED.
 * fn gets the rows in view order on the calling thread, during the call,
 * from one snapshot of the index; it may call settee functions.
 * out_result may be NULL.  Errors: SETTEE_NOT_FOUND ("missing"/"deleted"
 * design document, "missing_named_view"), the query server's (above).
 * Any thread; queries run in parallel with each other and with writes. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_view_query(settee_db *db, const char *ddoc, const char *view, const char *params_json,
                  size_t n, settee_view_row_fn fn, void *ctx, settee_view_result *out_result,
                  settee_error *e);

/* View indexes live beside the database file, in "<path>-views/" (one file
 * per design document's set of views, rebuilt when its functions change).
 * Remove the index files no current design document uses (CouchDB's
 * _view_cleanup).  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status settee_view_cleanup(settee_db *db, settee_error *e);

/* -------------------------------------------------------------------- sync */

typedef enum settee_sync_direction {
    SETTEE_SYNC_PUSH = 1,            /* local → remote */
    SETTEE_SYNC_PULL = 2,            /* remote → local */
    SETTEE_SYNC_PUSH_AND_PULL = 3    /* both */
} settee_sync_direction;

typedef enum settee_sync_state {
    SETTEE_SYNC_STOPPED = 0,    /* final: finished (one-shot), stopped, or failed (see last) */
    SETTEE_SYNC_OFFLINE = 1,    /* the remote is unreachable; retrying with backoff */
    SETTEE_SYNC_CONNECTING = 2, /* reading the peers and checkpoints, or (continuous)
                                 * waiting for the remote database to exist */
    SETTEE_SYNC_IDLE = 3,       /* continuous: caught up, waiting for changes */
    SETTEE_SYNC_BUSY = 4        /* copying changes */
} settee_sync_state;

typedef struct settee_sync_status {
    settee_sync_state state;
    uint64_t docs_read;          /* revisions read from the sources (both directions) */
    uint64_t docs_written;       /* revisions the targets accepted (both directions) */
    uint64_t docs_pulled;        /* of docs_written: into the local database */
    uint64_t docs_pushed;        /* of docs_written: into the remote one */
    uint64_t doc_write_failures; /* revisions a target refused (e.g. 403) */
    uint64_t pending;            /* changes the sources reported still to come */
    uint64_t conflicts_resolved; /* resolver calls that returned SETTEE_OK */
    settee_error last;           /* the last error (code SETTEE_OK: none); one being
                                  * retried (offline, remote database missing) is
                                  * cleared once the sync runs again */
} settee_sync_status;

/* Called on every state change and on progress; the last call of a sync has
 * state STOPPED.  Borrowed arguments; runs on the db's callback thread. */
typedef void (*settee_sync_fn)(void *ctx, settee_sync *s, const settee_sync_status *st);

/* Credentials, one way at a time:
 *   - user:password@ in url (percent-encoded), sent as HTTP Basic;
 *   - user and password, which replace url's user:password@ (a password
 *     needs a user; either may hold any character, ':' included);
 *   - bearer_token, a JWT sent as "Authorization: Bearer"; not together
 *     with a user or password (the url's included);
 *   - use_session with a user and password (the fields', else the url's):
 *     the sync logs in once (POST /_session) and sends CouchDB's AuthSession
 *     cookie instead of the password, keeps the newest cookie the server
 *     sends, and logs in again once when a request is refused 401 (an
 *     expired cookie).
 * https servers' certificates are verified against ca_file, or the
 * system's CAs, unless insecure is set; one that does not verify ends the
 * sync (STOPPED, last.code SETTEE_NETWORK, a message starting "TLS:")
 * rather than being retried.  A 401 or 403 (other than one document's
 * refusal) ends even a continuous sync: STOPPED with last.code
 * SETTEE_UNAUTHORIZED or SETTEE_FORBIDDEN, last.http_status, and CouchDB's
 * reason in last.message.  Secrets are copied at start, never appear in a
 * status or message, and are wiped when the sync is freed. */
typedef struct settee_sync_config {
    const char *url;             /* remote database, "http(s)://[user:password@]host:port/db" */
    const char *user;            /* credentials (see above), or NULL */
    const char *password;
    settee_sync_direction direction; /* default PUSH_AND_PULL */
    bool continuous;             /* keep following changes until stopped (default true) */
    settee_sync_fn on_status;    /* optional */
    void *ctx;                   /* for on_status */
    settee_resolver_fn resolver; /* optional; NULL = keep the deterministic winner */
    void *resolver_ctx;          /* for resolver (settee_resolve_newest: the field name) */
    const char *const *doc_ids;  /* non-NULL: sync only these documents (copied) */
    size_t n_doc_ids;
    unsigned retry_max_ms;       /* backoff cap between retries; 0 = 30000 */
    const char *ca_file;         /* PEM CA bundle for https; NULL = the system's CAs */
    bool insecure;               /* skip certificate and host name checks (default false) */
    const char *bearer_token;    /* a JWT, or NULL */
    bool use_session;            /* cookie session instead of Basic (default false) */
    /* A filter function of a design document, "ddoc/name" (filters.name of
     * _design/ddoc), or "_view" with query_params {"view":"ddoc/view"}
     * (documents the view's map emits for), as CouchDB's replicator and
     * PouchDB's filter option; NULL: no filter.  Each direction runs it on
     * its source: the pull on the server (which must hold the design
     * document), the push here, in a settee-js process (the command
     * COUCHDB_QUERY_SERVER_JAVASCRIPT names, else the installed one), on
     * the local copy of the design document.  Excludes doc_ids.  A missing
     * design document or function ends the sync with SETTEE_NOT_FOUND
     * (CouchDB's 404 not_found); filter and parameters are part of the
     * checkpoint's id, so changing them replicates from the start. */
    const char *filter;          /* copied */
    const char *query_params;    /* a JSON object, the function's req.query (copied);
                                    ignored without filter */
} settee_sync_config;

/* Fill c with the defaults above.  Any thread. */
SETTEE_API void settee_sync_config_init(settee_sync_config *c);

/* CONSTRUCTOR.  Start syncing db with c->url; returns at once.  Errors here
 * (SETTEE_BAD_REQUEST for a bad URL or contradicting credentials,
 * SETTEE_NOMEM) mean nothing started and no callback will run; network
 * trouble is reported through the status and retried.  The push
 * creates a missing remote database; a continuous pull of one that does not
 * exist yet waits for it (CONNECTING).  When one direction of a two-way sync
 * fails for good, the other is stopped and the sync ends STOPPED with that
 * error.  The config is copied.  The sync pins db until settee_sync_free.
 * Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_sync_start(settee_db *db, const settee_sync_config *c, settee_sync **out_sync,
                  settee_error *e);

/* Ask s to stop; returns at once.  The final status (STOPPED) follows on the
 * callback thread.  Repeated calls are harmless.  NULL ok.  Any thread. */
SETTEE_API void settee_sync_stop(settee_sync *s);

/* A snapshot of s's status (the same the callback gets).  Any thread. */
SETTEE_API SETTEE_NODISCARD settee_status
settee_sync_get_status(settee_sync *s, settee_sync_status *out_status);

/* DESTRUCTOR.  Stop s if running, wait for its threads, deliver the final
 * STOPPED status unless on_status had it already, free it; no callback of s
 * runs after it returns.  The final status runs where callbacks run: on the
 * settee thread (thread mode: this call waits for it), inside this call
 * (manual mode, or called from another callback of the db).  Called from
 * one of s's own callbacks, that callback was its last (no STOPPED follows)
 * and the memory is released once it returns.  Conflicts still queued for
 * the resolver are left (settee_conflicts_list finds them).  NULL ok.  Any
 * thread. */
SETTEE_API void settee_sync_free(settee_sync *s);

/* "stopped", "offline", "connecting", "idle", "busy".  Static storage. */
SETTEE_API const char *settee_sync_state_name(settee_sync_state s);

#ifdef __cplusplus
}
#endif

#endif /* SETTEE_H */
