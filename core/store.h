/* store.h — the storage module: the only place in settee that speaks SQL.
 *
 * A store is one database file.  It hands out connections: one writer (used
 * only by the group-commit leader, see db.c) and a pool of readers.  The
 * functions below are row operations in the vocabulary of the document
 * model, so that another backend (PostgreSQL, for deployments that outgrow
 * one machine) can implement this header without touching the rest of core.
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
 * guarantees it); the store itself may be shared.  Row data handed to
 * callbacks is borrowed until the callback returns.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_db.h"
#include "st_error.h"

typedef struct st_store st_store;
typedef struct st_conn st_conn;

/* o supplies create, durability, cache_kib and mmap_kib. */
st_status st_store_open(const char *path, const st_db_options *o, st_store **out,
                        st_error *err);
void st_store_close(st_store *s);
st_status st_store_conn_open(st_store *s, st_conn **out, st_error *err);
void st_store_conn_close(st_conn *c);

/* Transactions.  write_begin takes the file's write lock at once. */
st_status st_store_read_begin(st_conn *c, st_error *err);
st_status st_store_read_end(st_conn *c);
st_status st_store_write_begin(st_conn *c, st_error *err);
st_status st_store_commit(st_conn *c, st_error *err);
void st_store_rollback(st_conn *c);
st_status st_store_savepoint(st_conn *c, st_error *err);
st_status st_store_savepoint_release(st_conn *c, st_error *err);
void st_store_savepoint_rollback(st_conn *c);

/* A document row.  The buffers are owned by the record and reused. */
typedef struct st_doc_rec {
    uint64_t seq;
    bool deleted;
    bool conflicted;    /* two or more live leaves (written, not read back) */
    st_buf tree;
    st_buf body;
    st_buf atts;    /* len 0 = no attachments */
} st_doc_rec;
void st_doc_rec_free(st_doc_rec *r);

/* ST_E_NOT_FOUND when absent (err untouched). */
st_status st_store_doc_get(st_conn *c, const char *id, st_doc_rec *out, st_error *err);
/* Insert the row at new seq r->seq, removing the row at old_seq (0: none).
 * With old_seq 0 and a row for id already there: ST_E_CONFLICT, err
 * untouched, nothing written. */
st_status st_store_doc_put(st_conn *c, const char *id, uint64_t old_seq,
                           const st_doc_rec *r, st_error *err);
/* Rewrite tree (and body/atts) in place, keeping the seq (compaction). */
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

/* Integer settings and counters. */
st_status st_store_meta_get(st_conn *c, const char *key, int64_t *out, st_error *err); /* NOT_FOUND */
st_status st_store_meta_set(st_conn *c, const char *key, int64_t v, st_error *err);
st_status st_store_meta_get_text(st_conn *c, const char *key, st_buf *out, st_error *err);
st_status st_store_meta_set_text(st_conn *c, const char *key, const char *v, st_error *err);

/* Scans.  The callback returns nonzero to stop (not an error). */
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

/* Ids of documents that have rows in revs (compaction). */
st_status st_store_scan_rev_ids(st_conn *c, const char *after, size_t limit,
                                void (*fn)(void *ctx, const char *id), void *ctx,
                                st_error *err);
/* Delete attachment bytes no revision refers to; returns rows removed. */
st_status st_store_att_gc(st_conn *c, uint64_t *out_removed, st_error *err);
/* Give free pages back to the file system. */
st_status st_store_vacuum(st_conn *c, st_error *err);

typedef struct st_store_size {
    uint64_t file;
    uint64_t active;
} st_store_size;
st_status st_store_size_get(st_conn *c, st_store_size *out, st_error *err);

#endif
