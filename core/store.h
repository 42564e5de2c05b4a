/* store.h — the storage module: the only place in settee that speaks SQL.
 *
 * What a backend implements (store_sqlite.c today; a PostgreSQL backend,
 * several server nodes on one database, later):
 *   - database lifecycle under a root: create, open, delete, list, exists
 *     (SQLite: one file per database in a directory; or one file by path);
 *   - connections: one writer per process per database (the db layer's
 *     writer thread) and any number of readers;
 *   - transactions that read and write the counters row, so that sequence
 *     numbers and counts are allocated by the store, never trusted from
 *     memory: two processes (or two nodes) writing one database each see
 *     the other's commits at their next write_begin;
 *   - row operations in the vocabulary of the document model (get/put a
 *     document row, scans by sequence and by id, bodies by rev, attachment
 *     bytes by digest, _local documents, text settings);
 *   - maintenance in bounded slices (compaction, vacuum, checkpoint);
 *   - noticing commits made by another process (data_version on SQLite,
 *     LISTEN/NOTIFY on PostgreSQL), polled by the db layer.
 *
 * Guarantees a backend must keep (docs/architecture.md lists them too):
 *   - a write transaction is atomic and, once commit returns ST_OK, durable
 *     at the requested durability;
 *   - readers see a consistent snapshot for the whole read transaction and
 *     never block the writer;
 *   - docs rows are keyed by the document's latest sequence: scan_seq
 *     returns every document once, at its latest change, in sequence order;
 *   - scan_ids orders ids by bytes;
 *   - write_begin takes the database's write lock at once.
 *
 * Tables (SQLite):
 *   docs(seq INTEGER PRIMARY KEY, id TEXT UNIQUE, deleted, tree, body, atts,
 *        conflicted)  -- a partial index lists the conflicted ones
 *     one row per document; its rowid is the document's latest sequence, so
 *     the changes feed is a rowid range scan and an update moves the row.
 *     body/atts are the WINNING revision's JSON body and attachment metadata.
 *   revs(id, rev, body, atts)   bodies of every other revision that has one
 *   atts(digest, data)          attachment bytes, stored once per digest
 *   local(id, rev, body)        _local documents
 *   meta(k, v)                  counters and settings
 *
 * Threading: a connection is used by one thread at a time (the db layer
 * guarantees it); stores and roots may be shared by threads.  Row data
 * handed to callbacks is borrowed until the callback returns.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_error.h"

typedef struct st_store_root st_store_root;
typedef struct st_store st_store;
typedef struct st_conn st_conn;

typedef struct st_store_options {
    bool durable_full;      /* sync each commit (survives power loss); else a process kill only */
    unsigned cache_kib;     /* page cache per connection (0: 16384) */
    int mmap_kib;           /* memory-mapped reads per connection (0: 262144; -1: off) */
    unsigned file_mode;     /* permissions of new database files (0: 0600) */
} st_store_options;

void st_store_options_init(st_store_options *o);

/* ------------------------------------------------------------- lifecycle */

/* A root holding databases by name: a directory for SQLite (created if
 * missing).  Names are valid database names (the caller checks them). */
st_status st_store_root_open(const char *location, const st_store_options *o,
                             st_store_root **out, st_error *err);
void st_store_root_close(st_store_root *root); /* NULL ok; stores opened from it stay valid */

/* ST_E_FILE_EXISTS when it exists.  A failed create leaves nothing behind. */
st_status st_store_create(st_store_root *root, const char *name, st_store **out,
                          st_error *err);
/* ST_E_NOT_FOUND "Database does not exist." when missing. */
st_status st_store_open(st_store_root *root, const char *name, st_store **out, st_error *err);
/* Removes the database's storage at once; open stores fail from then on.
 * ST_E_NOT_FOUND when missing. */
st_status st_store_delete(st_store_root *root, const char *name, st_error *err);
bool st_store_exists(st_store_root *root, const char *name);
/* Names, sorted bytewise; free with st_store_names_free. */
st_status st_store_list(st_store_root *root, char ***out, size_t *out_n, st_error *err);
void st_store_names_free(char **names, size_t n);

/* One database by file path (the embedded library and the CLI). */
st_status st_store_open_path(const char *path, bool create, const st_store_options *o,
                             st_store **out, st_error *err);
void st_store_close(st_store *s); /* all connections must be closed first; NULL ok */

/* A consistent copy of the live database into path (a new file), while
 * writers go on (SQLite's online backup). */
st_status st_store_backup(st_store *s, const char *path, st_error *err);

/* ----------------------------------------------------------- connections */

st_status st_store_conn_open(st_store *s, st_conn **out, st_error *err);
void st_store_conn_close(st_conn *c); /* NULL ok */

/* Counters of a database, kept in one row and allocated by the store. */
typedef struct st_counters {
    uint64_t update_seq;
    uint64_t purge_seq;
    uint64_t doc_count;
    uint64_t del_count;
    int64_t external;   /* bytes of winning bodies */
    unsigned revs_limit;
    /* Changes whenever the database's json indexes change (0: it never had
     * any): a writer whose cached index set was made at another value
     * reloads it, so an index made by another process is kept current. */
    uint64_t index_gen;
} st_counters;

/* Read transactions: a snapshot until read_end. */
st_status st_store_read_begin(st_conn *c, st_error *err);
st_status st_store_read_end(st_conn *c);
/* The counters as the current transaction sees them. */
st_status st_store_counters_get(st_conn *c, st_counters *out, st_error *err);

/* Write transactions.  write_begin takes the write lock and reads the
 * counters into *ctr; ST_E_BUSY when another process holds the lock past
 * the busy timeout (nothing is held then).  commit writes *ctr, then
 * commits.  rollback undoes everything since write_begin. */
st_status st_store_write_begin(st_conn *c, st_counters *ctr, st_error *err);
st_status st_store_commit(st_conn *c, const st_counters *ctr, st_error *err);
void st_store_rollback(st_conn *c);

/* Whether another connection committed since the last call on c (first
 * call: false).  Cheap; c must not be inside a transaction. */
st_status st_store_changed(st_conn *c, bool *out, st_error *err);

/* -------------------------------------------------------------- documents */

/* A document row.  The buffers are owned by the record and reused. */
typedef struct st_doc_rec {
    uint64_t seq;
    bool deleted;
    bool conflicted;    /* two or more live leaves (written, not read back) */
    st_buf tree;
    st_buf body;
    st_buf atts;        /* len 0 = no attachments */
} st_doc_rec;
void st_doc_rec_free(st_doc_rec *r);

/* ST_E_NOT_FOUND when absent (err untouched). */
st_status st_store_doc_get(st_conn *c, const char *id, st_doc_rec *out, st_error *err);
/* Insert the row at new seq r->seq, removing the row at old_seq (0: none).
 * With old_seq 0 and a row for id already there: ST_E_CONFLICT, err
 * untouched, nothing written. */
st_status st_store_doc_put(st_conn *c, const char *id, uint64_t old_seq,
                           const st_doc_rec *r, st_error *err);
/* Rewrite the tree in place, keeping the seq (compaction). */
st_status st_store_doc_update_tree(st_conn *c, uint64_t seq, const void *tree, size_t n,
                                   st_error *err);
st_status st_store_doc_delete(st_conn *c, uint64_t seq, st_error *err);
/* Ids of documents with conflicts, in id order, after `after` (NULL: all);
 * fn returns nonzero to stop. */
st_status st_store_scan_conflicted(st_conn *c, const char *after,
                                   int (*fn)(void *ctx, const char *id), void *ctx,
                                   st_error *err);

/* Bodies of non-winning revisions. */
st_status st_store_rev_get(st_conn *c, const char *id, const char *rev, st_buf *body,
                           st_buf *atts, st_error *err); /* ST_E_NOT_FOUND */
st_status st_store_rev_put(st_conn *c, const char *id, const char *rev, const char *body,
                           size_t body_len, const char *atts, size_t atts_len, st_error *err);
st_status st_store_rev_delete(st_conn *c, const char *id, const char *rev, st_error *err);

/* Attachment bytes by digest.  put is a no-op when the digest exists. */
st_status st_store_att_get(st_conn *c, const char *digest, st_buf *data, st_error *err);
st_status st_store_att_put(st_conn *c, const char *digest, const void *data, size_t n,
                           st_error *err);
bool st_store_att_exists(st_conn *c, const char *digest);

/* _local documents; rev is the integer N of "0-N". */
st_status st_store_local_get(st_conn *c, const char *id, uint64_t *rev, st_buf *body,
                             st_error *err); /* ST_E_NOT_FOUND */
st_status st_store_local_put(st_conn *c, const char *id, uint64_t rev, const char *body,
                             size_t n, st_error *err);
st_status st_store_local_delete(st_conn *c, const char *id, st_error *err);

/* Text settings (uuid, security object, ...). */
st_status st_store_meta_get(st_conn *c, const char *key, st_buf *out, st_error *err); /* NOT_FOUND */
st_status st_store_meta_set(st_conn *c, const char *key, const char *v, size_t n,
                            st_error *err);

/* ------------------------------------------------------------------ scans */

/* The callback returns nonzero to stop (not an error). */
typedef struct st_row_view {
    uint64_t seq;
    const char *id;
    bool deleted;
    const void *tree;
    size_t tree_len;
    const char *body;
    size_t body_len;
    const char *atts;
    size_t atts_len;
} st_row_view;
typedef int (*st_row_fn)(void *ctx, const st_row_view *row);

/* Rows with seq > since ascending, or seq <= before descending (before 0 =
 * no bound).  with_body = false leaves body/atts NULL. */
st_status st_store_scan_seq(st_conn *c, uint64_t since, bool descending, bool with_body,
                            st_row_fn fn, void *ctx, st_error *err);
/* Live (not deleted) rows in id order between start and end (NULL = open). */
st_status st_store_scan_ids(st_conn *c, const char *start, const char *end,
                            bool inclusive_end, bool descending, uint64_t skip,
                            bool with_body, st_row_fn fn, void *ctx, st_error *err);
/* Live rows with id before start (ascending) / after start (descending). */
st_status st_store_count_before(st_conn *c, const char *start, bool descending,
                                uint64_t *out, st_error *err);
/* Rows with a sequence above seq, counting at most cap of them (a count is
 * a scan: the cap bounds its cost). */
st_status st_store_count_after_seq(st_conn *c, uint64_t seq, uint64_t cap, uint64_t *out,
                                   st_error *err);

/* ----------------------------------------------------------- json indexes
 *
 * A json index (Mango's "type":"json") is a set of entries (key, id): key
 * is the concatenation of the indexed fields' sort keys (st_collate.h),
 * so byte order is the index's order, and id is the document's, which
 * also breaks ties (CouchDB's view order).  The writer keeps entries
 * current inside each write transaction; definitions are rows (ix, ddoc,
 * name, def) where def is the definition as JSON text (SQLite: tables
 * mango_idx and mango_keys). */

/* Every definition; fn returns nonzero to stop. */
st_status st_store_index_defs(st_conn *c,
                              int (*fn)(void *ctx, int64_t ix, const char *ddoc,
                                        const char *name, const char *def),
                              void *ctx, st_error *err);
/* A new definition (no entries yet); its number in *out_ix. */
st_status st_store_index_def_add(st_conn *c, const char *ddoc, const char *name,
                                 const char *def, int64_t *out_ix, st_error *err);
/* Remove a definition and all its entries. */
st_status st_store_index_def_drop(st_conn *c, int64_t ix, st_error *err);
/* Add / remove one entry (removing a missing one is not an error). */
st_status st_store_index_put(st_conn *c, int64_t ix, const void *key, size_t key_len,
                             const char *id, st_error *err);
st_status st_store_index_del(st_conn *c, int64_t ix, const void *key, size_t key_len,
                             const char *id, st_error *err);

/* A range of one index: lo <= key < hi (either NULL: open), in (key, id)
 * order or its reverse, starting strictly after (after_key, after_id) in
 * that order when after_id is set (paging). */
typedef struct st_index_range {
    const void *lo;
    size_t lo_len;
    const void *hi;
    size_t hi_len;
    bool descending;
    const void *after_key;
    size_t after_len;
    const char *after_id;
    uint64_t limit;         /* at most this many entries (0: no limit) */
} st_index_range;
/* Called per entry with its document's row (with body; deleted rows are
 * never indexed); borrowed for the call, nonzero stops. */
typedef int (*st_index_row_fn)(void *ctx, const void *key, size_t key_len,
                               const st_row_view *row);
st_status st_store_index_scan(st_conn *c, int64_t ix, const st_index_range *r,
                              st_index_row_fn fn, void *ctx, st_error *err);

/* ----------------------------------------------------- maintenance slices */

/* Ids of documents that have rows in revs, after `after`, at most limit. */
st_status st_store_scan_rev_ids(st_conn *c, const char *after, size_t limit,
                                void (*fn)(void *ctx, const char *id), void *ctx,
                                st_error *err);
/* Attachment metadata (the atts column) of docs rows with seq > after,
 * ascending, at most limit rows (compaction's reference scan). */
st_status st_store_scan_doc_atts(st_conn *c, uint64_t after, size_t limit,
                                 void (*fn)(void *ctx, uint64_t seq, const char *json, size_t n),
                                 void *ctx, st_error *err);
/* The same for revs rows, in (id, rev) order after (after_id, after_rev);
 * "" and "" start at the beginning. */
st_status st_store_scan_rev_atts(st_conn *c, const char *after_id, const char *after_rev,
                                 size_t limit,
                                 void (*fn)(void *ctx, const char *id, const char *rev,
                                            const char *json, size_t n),
                                 void *ctx, st_error *err);
/* Attachment digests after `after` in digest order, at most limit. */
st_status st_store_scan_att_digests(st_conn *c, const char *after, size_t limit,
                                    void (*fn)(void *ctx, const char *digest), void *ctx,
                                    st_error *err);
st_status st_store_att_delete(st_conn *c, const char *digest, st_error *err);
/* Give at most pages free pages back to the file system (inside a write
 * transaction); *out_left is how many free pages remain. */
st_status st_store_vacuum_slice(st_conn *c, unsigned pages, uint64_t *out_left,
                                st_error *err);
/* Fold the write-ahead log back into the database without waiting for
 * readers (outside any transaction; a busy reader just leaves some behind). */
st_status st_store_checkpoint(st_conn *c, st_error *err);

typedef struct st_store_size {
    uint64_t file;
    uint64_t active;
} st_store_size;
st_status st_store_size_get(st_conn *c, st_store_size *out, st_error *err);

#endif
