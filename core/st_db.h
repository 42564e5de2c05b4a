/* st_db.h — one database: documents with revision trees, _local documents,
 * attachments, the changes sequence.  The engine's internal API, used by
 * server/, replicator/ and client/; nothing here knows about HTTP.
 *
 * Storage: behind core/store.h (SQLite today: one file per database).
 * Durability: a write is reported done only after its transaction
 * committed; with ST_DURABLE_FULL (the default) the commit is fsynced and
 * survives power loss, with ST_DURABLE_NORMAL it survives the process being
 * killed but the last commits may be lost on power loss.
 *
 * Threading: an st_db is safe to use from any number of threads at once.
 * Reads run on pooled read connections and never wait for writers (WAL).
 * Every write is a job for the database's writer (a core thread): the
 * asynchronous forms (st_db_write_async, ...) return at once and call their
 * completion callback once, on that thread, after the commit is durable or
 * failed; the synchronous forms wait for it.  Jobs queued together share
 * one transaction and one sync (group commit); each still gets its own
 * result.  A completion callback must be quick and must not call back into
 * the same database synchronously (it runs on the thread that would serve
 * that call) nor close it.  To watch a database, see st_follow.h.
 *
 * Memory: results are written into caller-provided st_buf/st_jw; row
 * callbacks receive borrowed views valid only during the call.
 */
#ifndef ST_DB_H
#define ST_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_error.h"
#include "st_json.h"
#include "st_jw.h"
#include "st_rev.h"
#include "st_security.h"

typedef struct st_db st_db;

typedef enum {
    ST_DURABLE_FULL = 0,   /* fsync each commit group: survives power loss */
    ST_DURABLE_NORMAL = 1  /* survives process kill; power loss may drop the last commits */
} st_durability;

typedef struct st_db_options {
    bool create;              /* create the file if missing (default false) */
    st_durability durability; /* default ST_DURABLE_FULL */
    size_t max_doc_size;      /* bytes of JSON per document; default 8000000 */
    size_t max_att_size;      /* bytes per attachment; default 256 MiB */
    uint64_t max_decoded_size;/* what the gzip-encoded attachments of one write
                                 (one st_db_write call: one request) may decode to
                                 in total; default 4 GiB, CouchDB's
                                 max_http_request_size: no more than the client
                                 could have sent plainly.  Past it 413 too_large. */
    unsigned max_depth;       /* JSON nesting; default ST_JSON_DEFAULT_DEPTH (4096) */
    unsigned readers;         /* pooled read connections; default 8, at most 32 */
    unsigned cache_kib;       /* page cache per connection; default 16384 (16 MiB) */
    int mmap_kib;             /* memory-mapped reads per connection; default
                                 262144 (256 MiB of address space, shared pages);
                                 -1 turns mmap off */
    unsigned file_mode;       /* permissions of a new database file; default 0600 */
    int att_compress_level;   /* gzip level for new uploads of compressible
                                 types (CouchDB's [attachments] compression_level);
                                 default 8, -1 = store as given */
    const char *att_compressible; /* [attachments] compressible_types; NULL =
                                 CouchDB's default; borrowed for the db's life */
    const char *initial_security; /* _security object stored when the database
                                 is created (NULL: none, i.e. public);
                                 borrowed for the open call */
} st_db_options;

void st_db_options_init(st_db_options *o);

/* Open (or with o->create, create) the database file at path; name is the
 * database name reported by info.  ST_E_NOT_FOUND when missing and !create. */
st_status st_db_open(const char *path, const char *name, const st_db_options *o,
                     st_db **out_db, st_error *err);
/* Close: waits for in-flight calls; followers must have been closed
 * (ST_E_BUSY otherwise, and nothing is closed).  NULL ok. */
st_status st_db_close(st_db *db);

const char *st_db_name(const st_db *db);

/* True once the catalog deleted this database (every later call fails with
 * ST_E_NOT_FOUND).  Set before followers are woken, so a waiter that checks
 * it after its last read cannot sleep through the deletion. */
bool st_db_is_deleted(st_db *db);

typedef struct st_db_info {
    uint64_t update_seq;
    uint64_t purge_seq;
    uint64_t doc_count;      /* documents whose winner is not deleted */
    uint64_t doc_del_count;  /* documents whose winner is deleted */
    uint64_t size_file;      /* bytes of the database file(s) */
    uint64_t size_active;    /* bytes in use inside the file */
    uint64_t size_external;  /* bytes of the winning bodies and attachments */
    unsigned revs_limit;
    char instance_start_time[24]; /* microseconds since epoch at open, decimal */
    char uuid[33];           /* per-database random id, fixed at creation */
    bool compact_running;
} st_db_info;

st_status st_db_info_get(st_db *db, st_db_info *out, st_error *err);

/* The update_seq as of the last commit this process knows of (no I/O):
 * it has moved once a write was acknowledged, so a cache tagged with it is
 * stale exactly when a write happened since. */
uint64_t st_db_update_seq(st_db *db);

/* ------------------------------------------------------------------ writes */

/* Attachment bytes supplied out of band (multipart "follows" parts or a
 * standalone attachment PUT).  Borrowed for the call. */
typedef struct st_att_data {
    const char *name;
    const char *content_type;   /* NULL: take it from the JSON stub */
    const void *data;
    size_t len;
    const char *encoding;       /* NULL: identity bytes; "gzip": data is gzip-encoded */
} st_att_data;

typedef struct st_write_req {
    const st_json *doc;     /* the document object; NULL = a bare deletion */
    const char *id;         /* NULL: doc._id (generated when absent) */
    const char *rev;        /* NULL: doc._rev; set from ?rev= or If-Match */
    bool delete_doc;        /* force _deleted (DELETE /db/doc) */
    const st_att_data *atts;/* bodies for "follows" stubs */
    size_t n_atts;
    /* Non-NULL: this request edits one attachment of revision rev (a new
     * document when rev is NULL and id does not exist) and doc must be
     * NULL: att_edit->data NULL deletes att_edit->name, else it is added
     * or replaced (PUT/DELETE /db/doc/attachment). */
    const st_att_data *att_edit;
    /* Who writes: handed to the database's validator (NULL: the embedding
     * application itself, which validators treat as a server admin). */
    const st_user_ctx *user;
} st_write_req;

typedef struct st_write_result {
    st_error err;           /* err.code == ST_OK on success */
    char *id;               /* malloc'd; freed by st_write_results_free */
    char rev[ST_REV_STR_MAX];
} st_write_result;

#define ST_WRITE_REPLICATED 0x1u  /* new_edits=false: merge the given revs */
#define ST_WRITE_ALL_OR_NOTHING 0x2u /* one refused document refuses them all:
                                         st_db_write returns its error (in err)
                                         and nothing is written */

/* Apply n documents in one transaction (_bulk_docs semantics): each gets its
 * own result (conflict, validation error, ...) in results[0..n).  Returns
 * ST_OK when the batch was processed, whatever the per-document outcome;
 * another status means nothing was written (results are then undefined).
 * With ST_WRITE_REPLICATED, a revision already present changes nothing and
 * takes no sequence.  results[] are always initialised (free them with
 * st_write_results_free whatever the status). */
st_status st_db_write(st_db *db, const st_write_req *reqs, size_t n, unsigned flags,
                      st_write_result *results, st_error *err);
void st_write_results_free(st_write_result *results, size_t n);

/* The checks of one write request that need no database: special members,
 * the id, the rev's format, _revisions with ST_WRITE_REPLICATED, the shape
 * of _attachments.  _bulk_docs runs it on every document before writing
 * any (CouchDB refuses the whole request on the first bad one). */
st_status st_db_write_check(const st_write_req *req, unsigned flags, st_error *err);

/* Completion of an asynchronous call: st is what the synchronous form
 * would have returned, err its error (borrowed for the call). */
typedef void (*st_done_fn)(void *ctx, st_status st, const st_error *err);

/* st_db_write without waiting: reqs, results and everything they point to
 * must stay valid until done runs (once, on a core thread).  A non-OK
 * return means nothing was queued and done will not be called. */
st_status st_db_write_async(st_db *db, const st_write_req *reqs, size_t n, unsigned flags,
                            st_write_result *results, st_done_fn done, void *ctx,
                            st_error *err);

/* One document from JSON text: parse (with the db's limits) and write.
 * *result is always initialised: free it with st_write_results_free(result,
 * 1) whatever the status. */
st_status st_db_put_json(st_db *db, const char *json, size_t len, unsigned flags,
                         st_write_result *result, st_error *err);

/* Add, replace (data != NULL) or delete (data == NULL) one attachment on
 * the current revision rev of doc id; creates the doc when it does not exist
 * and rev is NULL.  The new rev goes to result, which is always initialised:
 * free it with st_write_results_free(result, 1) whatever the status. */
st_status st_db_put_attachment(st_db *db, const char *id, const char *rev,
                               const st_att_data *att, st_write_result *result,
                               st_error *err);

/* ------------------------------------------------------------------- reads */

typedef enum {
    ST_ATTS_STUB = 0,   /* "stub":true */
    ST_ATTS_INLINE,     /* "data":"<base64>" */
    ST_ATTS_FOLLOWS     /* "follows":true, for multipart responses */
} st_atts_mode;

typedef struct st_get_opts {
    const char *rev;          /* a given revision; NULL = the winner */
    bool revs;                /* _revisions */
    bool revs_info;           /* _revs_info */
    bool conflicts;           /* _conflicts */
    bool deleted_conflicts;   /* _deleted_conflicts */
    bool local_seq;           /* _local_seq */
    bool latest;              /* open_revs: replace a non-leaf by its leaves */
    st_atts_mode atts;        /* how attachment bodies are shown */
    bool att_encoding_info;
    const char *const *atts_since; /* with ST_ATTS_INLINE/FOLLOWS: only newer */
    size_t n_atts_since;
} st_get_opts;

/* Metadata of one attachment of one revision. */
typedef struct st_att {
    const char *name;
    const char *content_type;
    const char *digest;       /* "md5-<base64>" of the stored bytes */
    uint64_t length;          /* decoded */
    uint64_t revpos;
    const char *encoding;     /* NULL: stored as is; "gzip" */
    uint64_t encoded_length;  /* stored bytes, when encoded */
    bool body_sent;           /* in the rendered JSON as data/follows, not stub */
} st_att;

/* One revision as rendered for a caller. */
typedef struct st_doc_view {
    const char *id;
    const char *rev;          /* "N-hash" */
    bool deleted;
    bool missing;             /* open_revs: requested rev unknown; json NULL */
    const char *json;         /* the document per st_get_opts */
    size_t json_len;
    const st_att *atts;       /* attachments of this revision */
    size_t n_atts;
} st_doc_view;

/* Return nonzero to stop an iteration early (not an error). */
typedef int (*st_doc_fn)(void *ctx, const st_doc_view *doc);

/* The document (winner or o->rev) as JSON into out.  ST_E_NOT_FOUND with
 * reason "missing" or "deleted" as CouchDB answers. o may be NULL. */
st_status st_db_get(st_db *db, const char *id, const st_get_opts *o, st_buf *out,
                    st_error *err);

/* Same, delivering a view with attachment metadata (for multipart output). */
st_status st_db_get_view(st_db *db, const char *id, const st_get_opts *o, st_doc_fn fn,
                         void *ctx, st_error *err);

/* open_revs: revs NULL = every leaf (deleted ones too), else the listed
 * revisions, each either found or reported with missing = true. */
st_status st_db_open_revs(st_db *db, const char *id, const char *const *revs, size_t n,
                          const st_get_opts *o, st_doc_fn fn, void *ctx, st_error *err);

/* One attachment's bytes as stored (into data: gzip-encoded when
 * meta->encoding says so) and metadata (into *meta).  rev NULL = the
 * winner.  ST_E_NOT_FOUND when the document or attachment is absent. */
typedef struct st_att_info {
    char content_type[256];
    char digest[64];
    uint64_t length;          /* decoded */
    uint64_t revpos;
    char encoding[16];        /* "" or "gzip": data then holds the encoded bytes */
    uint64_t encoded_length;
} st_att_info;

st_status st_db_get_attachment(st_db *db, const char *id, const char *rev, const char *name,
                               st_buf *data, st_att_info *meta, st_error *err);
/* Decode data in place when meta says it is encoded (then meta->encoding
 * becomes ""); at most max decoded bytes. */
st_status st_att_decode(st_att_info *meta, st_buf *data, size_t max, st_error *err);

/* ---------------------------------------------------------------- all_docs */

typedef struct st_alldocs_opts {
    const char *startkey;     /* NULL: from the first id */
    bool startkey_exclusive;  /* resume after startkey (paging) */
    const char *endkey;       /* NULL: to the last id */
    bool inclusive_end;       /* default true */
    bool descending;
    uint64_t limit;           /* default UINT64_MAX */
    uint64_t skip;
    const char *const *keys;  /* non-NULL: exactly these ids, in this order (a NULL
                                 entry, a key that cannot be an id, is not found) */
    size_t n_keys;
    bool include_docs;
    bool conflicts;           /* with include_docs */
    st_atts_mode atts;        /* with include_docs */
} st_alldocs_opts;

void st_alldocs_opts_init(st_alldocs_opts *o);

typedef struct st_alldocs_row {
    const char *id;           /* NULL for an unknown key */
    const char *key;
    const char *rev;          /* winner */
    bool deleted;             /* keys=: a deleted document */
    bool not_found;           /* keys=: unknown id */
    size_t key_index;         /* keys=: which of o->keys this row answers */
    const char *doc_json;     /* include_docs; NULL for deleted/unknown */
    size_t doc_len;
} st_alldocs_row;

typedef int (*st_alldocs_fn)(void *ctx, const st_alldocs_row *row);

/* Rows in id order (bytewise).  total_rows (doc_count) and offset (rows
 * before the first one returned) are reported to head, when given, before
 * the first row (offset costs a count: pass no head when paging on). */
st_status st_db_all_docs(st_db *db, const st_alldocs_opts *o,
                         void (*head)(void *ctx, uint64_t total_rows, uint64_t offset),
                         st_alldocs_fn fn, void *ctx, st_error *err);

/* ----------------------------------------------------------------- changes */

typedef struct st_change_row {
    uint64_t seq;
    const char *id;
    const char *const *revs;  /* winner first; one entry unless all_docs */
    size_t n_revs;
    bool deleted;             /* the winner is deleted */
    const char *doc_json;     /* include_docs */
    size_t doc_len;
    const char *json;         /* the row as st_change_row_write writes it
                                 without a doc, when already formatted (rows
                                 from a follower's ring); else NULL */
    size_t json_len;
    bool removed;             /* a selector's "stopped matching" row (settee's
                                 opt-in, see st_changes_opts.removed) */
} st_change_row;

typedef struct st_changes_opts {
    uint64_t since;
    uint64_t limit;           /* default UINT64_MAX; 0 acts as 1 */
    bool descending;
    bool all_docs;            /* style=all_docs: every leaf */
    bool include_docs;
    bool conflicts;           /* with include_docs */
    st_atts_mode atts;        /* with include_docs */
    const char *const *doc_ids; /* non-NULL: only these documents */
    size_t n_doc_ids;
    /* Optional filter (e.g. a Mango selector); runs before limit counts.
     * doc_json in the row is set when include_docs or filter_needs_doc. */
    bool (*filter)(void *ctx, const st_change_row *row);
    void *filter_ctx;
    bool filter_needs_doc;
    /* Optional Mango selector (borrowed; st_selector.h): only documents
     * whose winning revision matches it, as the document with its _id,
     * _rev and _deleted (CouchDB's filter=_selector: design documents
     * included).  Applied before limit counts. */
    const struct st_selector *selector;
    /* With selector, beyond CouchDB: a document that does not match is
     * given with removed set instead of left out, so a follower can drop
     * a copy it holds.  From storage, which keeps no history, that is
     * every non-matching change after since (none when since is 0: the
     * reader holds nothing yet); followers of st_follow_open_selector
     * report only documents that matched before their change. */
    bool removed;
    /* The caller has no use for the count of changes after the batch
     * (st_follow_read then reports pending 0 and saves counting them). */
    bool no_pending;
} st_changes_opts;

void st_changes_opts_init(st_changes_opts *o);

typedef int (*st_change_fn)(void *ctx, const st_change_row *row);

/* Write one row in CouchDB's shape, {"seq","id","changes":[{"rev"}],
 * "deleted"?,"removed"?,"doc"?}; with include_docs a row without doc_json
 * gets null. */
void st_change_row_write(st_jw *w, const st_change_row *row, bool include_docs);

/* Rows with seq > since (or, descending, every row from the newest).
 * *out_last_seq is the last row's seq (or the db's update_seq when the range
 * held no rows, as CouchDB does); *out_pending the number of changes after
 * it: exact up to 1000, above that the sequence gap (an upper bound; 0 is
 * always exact).  Either out pointer may be NULL. */
st_status st_db_changes(st_db *db, const st_changes_opts *o, st_change_fn fn, void *ctx,
                        uint64_t *out_last_seq, uint64_t *out_pending, st_error *err);


/* ------------------------------------------------------ replication helpers */

/* _revs_diff: req is {"id":["rev",...],...}; writes the CouchDB response
 * object {"id":{"missing":[...],"possible_ancestors":[...]}} to w. */
st_status st_db_revs_diff(st_db *db, const st_json *req, st_jw *w, st_error *err);

/* _bulk_get: req is {"docs":[{"id","rev"?,"atts_since"?},...]}; writes
 * {"results":[...]} to w.  o supplies revs/latest/attachments. */
st_status st_db_bulk_get(st_db *db, const st_json *req, const st_get_opts *o, st_jw *w,
                         st_error *err);
/* One element of that answer, for one entry of docs: {"id","docs":[...]},
 * what the entry lacks or names wrongly written as its error rows.  Only
 * storage and memory failures are returned.  (The server streams _bulk_get
 * an entry at a time with it.) */
st_status st_db_bulk_get_entry(st_db *db, const st_json *entry, const st_get_opts *o, st_jw *w,
                               st_error *err);

/* Typed revisions for replication: what a replicator moves between two
 * local databases without rendering or parsing JSON, and what the HTTP
 * endpoint builds from CouchDB's JSON. */
typedef struct st_rep_att {
    const char *name;
    const char *content_type;
    const char *digest;       /* as the source has it */
    uint64_t revpos;
    uint64_t length;          /* decoded length */
    const char *encoding;     /* NULL: identity; "gzip": data is gzip-encoded */
    const void *data;         /* stored bytes; NULL = a stub (the target has them) */
    size_t len;
} st_rep_att;

typedef struct st_rep_doc {
    const char *id;
    const st_rev *path;       /* the revision, then its ancestors, newest first */
    size_t n_path;
    bool deleted;
    const char *body;         /* JSON object without special members */
    size_t body_len;
    const st_rep_att *atts;
    size_t n_atts;
} st_rep_doc;

typedef struct st_rep_want {
    const char *id;
    const char *const *revs;  /* NULL: every leaf */
    size_t n_revs;
    const char *const *atts_since; /* attachments no newer than these: stubs */
    size_t n_atts_since;
} st_rep_want;

/* Called once per revision read (latest=true: a requested non-leaf gives
 * each leaf it leads to, each leaf once) or, with doc NULL, once per
 * requested revision that is missing (rev names it).  Borrowed for the
 * call; nonzero stops. */
typedef int (*st_rep_doc_fn)(void *ctx, const st_rep_want *want, const st_rep_doc *doc,
                             const char *missing_rev);

/* _revs_diff, typed: for each entry of diffs (an id and the revisions a
 * source has), fn gets the revisions this database lacks and, when it has
 * the document, its leaves of lower generation than the newest missing one
 * (CouchDB's possible_ancestors).  fn is only called for entries with
 * something missing; borrowed arguments; nonzero stops. */
typedef struct st_rep_diff {
    const char *id;
    const char *const *revs;
    size_t n_revs;
} st_rep_diff;
typedef int (*st_rep_missing_fn)(void *ctx, size_t index, const char *const *missing,
                                 size_t n_missing, const char *const *ancestors,
                                 size_t n_ancestors);
st_status st_db_revs_missing(st_db *db, const st_rep_diff *diffs, size_t n,
                             st_rep_missing_fn fn, void *ctx, st_error *err);

/* Read revisions with their paths; with_data, attachment bytes as stored
 * (newer than atts_since), else every attachment is a stub. */
st_status st_db_read_revs(st_db *db, const st_rep_want *wants, size_t n, bool with_data,
                          st_rep_doc_fn fn, void *ctx, st_error *err);

/* Merge replicated revisions (new_edits=false), one result each, as
 * st_db_write with ST_WRITE_REPLICATED; docs and what they point to stay
 * valid until done. */
st_status st_db_write_revs_async(st_db *db, const st_rep_doc *docs, size_t n,
                                 st_write_result *results, st_done_fn done, void *ctx,
                                 st_error *err);
st_status st_db_write_revs(st_db *db, const st_rep_doc *docs, size_t n,
                           st_write_result *results, st_error *err);

/* -------------------------------------------------------------- conflicts */

typedef int (*st_id_fn)(void *ctx, const char *id);

/* Ids of the documents that have two or more live leaves, in id order,
 * after `after` (NULL: from the first).  fn returns nonzero to stop.  Read
 * from an index, so the cost follows the number of conflicted documents,
 * not the size of the database. */
st_status st_db_conflicted(st_db *db, const char *after, st_id_fn fn, void *ctx,
                           st_error *err);

/* Live (not deleted) leaves of document id; 0 when it does not exist.  Two or
 * more mean a conflict.  Reads the revision tree only, no bodies. */
st_status st_db_live_leaves(st_db *db, const char *id, size_t *out, st_error *err);

/* ------------------------------------------------------------ _local docs */

/* id includes the "_local/" prefix.  Revs are "0-N". */
st_status st_db_local_get(st_db *db, const char *id, st_buf *out, st_error *err);
st_status st_db_local_put(st_db *db, const char *id, const st_json *doc, const char *rev,
                          char out_rev[ST_REV_STR_MAX], st_error *err);
st_status st_db_local_delete(st_db *db, const char *id, const char *rev, st_error *err);

/* ------------------------------------------------- security, validation */

/* The database's _security object: a reference the caller releases
 * (st_security_release).  Never NULL: a database without one has {}. */
st_security *st_db_security(st_db *db);
/* Bumped by every change of the object (a live reader re-checks access). */
uint64_t st_db_security_gen(st_db *db);
/* Replace the object (validated by st_security_parse; ST_E_BAD_REQUEST
 * with CouchDB's reasons).  Committed like a write; followers are woken. */
st_status st_db_security_set(st_db *db, const char *json, size_t len, st_error *err);
st_status st_db_security_set_async(st_db *db, const char *json, size_t len, st_done_fn done,
                                   void *ctx, st_error *err);

/* One document write as a validator sees it (CouchDB's validate_doc_update
 * arguments).  Bodies are JSON objects without the special members (_id,
 * _rev, _deleted, _attachments...); everything is borrowed for the call. */
typedef struct st_update {
    const char *id;
    const char *rev;            /* the new revision */
    const char *body;           /* the new body */
    size_t body_len;
    bool deleted;
    bool replicated;            /* new_edits=false */
    const char *old_rev;        /* NULL: the document is new (or only tombstones) */
    const char *old_body;       /* the revision edited (replicated: the winner) */
    size_t old_len;
    bool old_deleted;
    const st_user_ctx *user;    /* NULL: the embedding application */
    const st_security *sec;     /* the database's _security object */
} st_update;

/* A validator refuses a write by returning an error (ST_E_FORBIDDEN,
 * ST_E_UNAUTHORIZED, ST_E_NOT_FOUND, ...) with its reason; the document gets
 * that error and nothing of it is written.  It runs on the database's
 * writer thread inside the write transaction, once per document edit
 * (_local documents excluded), so it must be quick and must not call into
 * this database.  NULL fn removes it.  Any thread; takes effect for writes
 * that start afterwards. */
typedef st_status (*st_validate_fn)(void *ctx, const st_update *u, st_error *err);
void st_db_set_validator(st_db *db, st_validate_fn fn, void *ctx);

/* Which writes a validator sees.  With ST_VALIDATE_DESIGN only _design/
 * documents go to it, so every other write keeps the write path's fast
 * path (a database without validate_doc_update pays nothing). */
#define ST_VALIDATE_ALL 0u
#define ST_VALIDATE_DESIGN 1u

/* st_db_set_validator with a scope and a destructor: free_ctx(ctx), when
 * given, is called once the validator is replaced or the database closes
 * (on the thread doing that).  Any thread. */
void st_db_set_validator_owned(st_db *db, st_validate_fn fn, void *ctx, unsigned scope,
                               void (*free_ctx)(void *ctx));
/* Change the installed validator's scope (a validator may call it); takes
 * effect for writes that start afterwards. */
void st_db_validator_scope(st_db *db, unsigned scope);

/* Only from inside a validator: the database's live design documents as
 * the running write transaction sees them (its own earlier writes
 * included), rendered with _id, _rev and attachment stubs, in id order.
 * json is borrowed for the call; fn returns nonzero to stop. */
typedef int (*st_design_fn)(void *ctx, const char *id, const char *rev, const char *json,
                            size_t len);
st_status st_db_design_docs(st_db *db, st_design_fn fn, void *ctx, st_error *err);

/* ----------------------------------------------------------- maintenance */

st_status st_db_revs_limit_get(st_db *db, unsigned *out, st_error *err);
st_status st_db_revs_limit_set(st_db *db, unsigned limit, st_error *err); /* >= 1 */
st_status st_db_revs_limit_set_async(st_db *db, unsigned limit, st_done_fn done, void *ctx,
                                     st_error *err);

/* Compaction: drop bodies of non-leaf revisions and attachment bytes no
 * revision refers to, give free pages back to the file system, fold the
 * WAL back.  It runs in the background on the database's writer, in slices
 * between other writes (a write waits at most one slice).  start returns at
 * once; while one runs, another start is a no-op (as CouchDB).
 * st_db_compact starts one (or joins the running one), waits for it and
 * returns how it ended (a slice that failed stops it; what it did so far
 * stays, consistent). */
st_status st_db_compact_start(st_db *db, st_error *err);
st_status st_db_compact(st_db *db, st_error *err);

/* _purge: req is {"id":["rev",...],...}; writes
 * {"purge_seq":null,"purged":{"id":["rev",...]}} to w. */
st_status st_db_purge(st_db *db, const st_json *req, st_jw *w, st_error *err);
/* The same without waiting: the answer goes to out (a JSON object);
 * req and out stay valid until done. */
st_status st_db_purge_async(st_db *db, const st_json *req, st_buf *out, st_done_fn done,
                            void *ctx, st_error *err);

/* A consistent copy of the live database into a new file at path (other
 * writers go on meanwhile). */
st_status st_db_backup(st_db *db, const char *path, st_error *err);

/* Generate a random document id (32 lowercase hex + NUL). */
void st_uuid(char out[33]);

#endif
