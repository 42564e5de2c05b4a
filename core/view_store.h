/* view_store.h — the storage of view indexes: the seam between the view
 * engine (view_*.c) and SQL (store_sqlite_view.c, the only file that
 * speaks it for views).  Internal to core.
 *
 * One index file per design-document signature, in a directory beside the
 * database's own file ("<db file>-views/<sig>.view").  Why not inside the
 * database file: SQLite has one writer per file, and an index build would
 * then hold the database's write lock for as long as it writes, stopping
 * document writes; a file of its own is written by the index updater
 * alone, is rebuilt by starting a new file, dropped by unlinking it
 * (_view_cleanup), compacted on its own, and deleted with the database.
 *
 * What a file holds, in the vocabulary of views:
 *   meta     text settings: the index's update_seq, the database uuid it
 *            was built from, the collator version, whether the reduction
 *            tree is current;
 *   ids      per document, the rows it emitted (an encoded list of
 *            (view, position)), so its old rows can be removed;
 *   rows     (view, position) -> document id, key JSON, value JSON; the
 *            position is a memcmp-ordered byte string (view_key.c), so a
 *            key range is a range of positions;
 *   blocks   the reduction tree (view_tree.c): per view and level, a block
 *            starting at position lo with its row count, first and last
 *            position, first key and stored reduction.
 * Positions and block bounds are BLOBs compared by memcmp, shorter first.
 *
 * Threading: a file handle may be shared by threads; a connection is used
 * by one thread at a time.  Row data handed to callbacks is borrowed until
 * the callback returns; callbacks return nonzero to stop.
 */
#ifndef ST_VIEW_STORE_H
#define ST_VIEW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_error.h"
#include "store.h"

typedef struct st_vfile st_vfile;
typedef struct st_vconn st_vconn;

/* ---- files -------------------------------------------------------------- */

/* The index file of signature sig beside db's file, created when missing. */
st_status st_vfile_open(st_store *db, const char *sig, st_vfile **out, st_error *err);
void st_vfile_close(st_vfile *f); /* connections must be closed first; NULL ok */
/* Signatures that have a file beside db (malloc'd strings; free with
 * st_store_names_free). */
st_status st_vfile_list(st_store *db, char ***out, size_t *n, st_error *err);
/* Unlink the file of sig (and its -wal/-shm); missing is fine. */
st_status st_vfile_remove(st_store *db, const char *sig, st_error *err);

/* ---- connections and transactions -------------------------------------- */

st_status st_vconn_open(st_vfile *f, st_vconn **out, st_error *err);
void st_vconn_close(st_vconn *c); /* NULL ok */
st_status st_vconn_read_begin(st_vconn *c, st_error *err);
void st_vconn_read_end(st_vconn *c);
st_status st_vconn_write_begin(st_vconn *c, st_error *err);
st_status st_vconn_commit(st_vconn *c, st_error *err);
void st_vconn_rollback(st_vconn *c);
/* Bytes of the file and of its pages in use. */
st_status st_vconn_size(st_vconn *c, uint64_t *file, uint64_t *active, st_error *err);
/* Rewrite the file without free pages (outside any transaction). */
st_status st_vconn_vacuum(st_vconn *c, st_error *err);

/* ---- meta ----------------------------------------------------------------- */

st_status st_vmeta_get(st_vconn *c, const char *key, st_buf *out, st_error *err); /* NOT_FOUND */
st_status st_vmeta_set(st_vconn *c, const char *key, const char *v, st_error *err);

/* ---- ids ------------------------------------------------------------------ */

st_status st_vids_get(st_vconn *c, const char *doc, st_buf *out, st_error *err); /* NOT_FOUND */
st_status st_vids_put(st_vconn *c, const char *doc, const void *keys, size_t n, st_error *err);
/* Several documents' lists at once, faster than one by one (each document
 * at most once). */
typedef struct st_vids_item {
    const char *doc;
    const void *keys;
    size_t n;
} st_vids_item;
st_status st_vids_put_many(st_vconn *c, const st_vids_item *ids, size_t n, st_error *err);
st_status st_vids_del(st_vconn *c, const char *doc, st_error *err);

/* ---- rows ----------------------------------------------------------------- */

typedef struct st_vrow {
    const unsigned char *pos;
    size_t pos_len;
    const char *doc;
    const char *key;        /* JSON */
    size_t key_len;
    const char *value;      /* JSON */
    size_t value_len;
} st_vrow;
typedef int (*st_vrow_fn)(void *ctx, const st_vrow *row);

st_status st_vrow_put(st_vconn *c, unsigned view, const st_vrow *row, st_error *err);
st_status st_vrow_del(st_vconn *c, unsigned view, const void *pos, size_t n, st_error *err);
/* Rows of view with lo <= pos < hi (lo/hi NULL: open), ascending or
 * descending, after skipping `skip` of them. */
st_status st_vrow_scan(st_vconn *c, unsigned view, const void *lo, size_t lo_n, const void *hi,
                       size_t hi_n, bool descending, uint64_t skip, st_vrow_fn fn, void *ctx,
                       st_error *err);
/* Rows of view with lo <= pos < hi, counted (a scan: for small ranges). */
st_status st_vrow_count(st_vconn *c, unsigned view, const void *lo, size_t lo_n, const void *hi,
                        size_t hi_n, uint64_t *out, st_error *err);

/* ---- blocks of the reduction tree ---------------------------------------- */

typedef struct st_vblock {
    const unsigned char *lo;   /* where the block starts (the first block: "") */
    size_t lo_len;
    uint64_t n;                /* rows under it */
    const unsigned char *minp, *maxp; /* first and last row position (NULL when n == 0) */
    size_t minp_len, maxp_len;
    const char *mink;          /* the first row's key JSON */
    size_t mink_len;
    const char *red;           /* the stored reduction JSON; NULL: none */
    size_t red_len;
} st_vblock;
typedef int (*st_vblock_fn)(void *ctx, const st_vblock *b);

st_status st_vblock_put(st_vconn *c, unsigned view, unsigned lvl, const st_vblock *b,
                        st_error *err);
st_status st_vblock_del(st_vconn *c, unsigned view, unsigned lvl, const void *lo, size_t n,
                        st_error *err);
/* Blocks of (view, lvl) whose lo is in [from, to) (NULL: open), in order. */
st_status st_vblock_scan(st_vconn *c, unsigned view, unsigned lvl, const void *from,
                         size_t from_n, const void *to, size_t to_n, bool descending,
                         st_vblock_fn fn, void *ctx, st_error *err);
/* The block of (view, lvl) holding position pos: the one with the greatest
 * lo <= pos.  ST_E_NOT_FOUND (err untouched) when the level is empty. */
st_status st_vblock_find(st_vconn *c, unsigned view, unsigned lvl, const void *pos, size_t n,
                         st_vblock_fn fn, void *ctx, st_error *err);
/* The lo of the first block of (view, lvl) after `after` into out;
 * ST_E_NOT_FOUND (err untouched) when none. */
st_status st_vblock_next(st_vconn *c, unsigned view, unsigned lvl, const void *after,
                         size_t n, st_buf *out, st_error *err);
/* The highest level of view's tree (0: no blocks). */
st_status st_vblock_top(st_vconn *c, unsigned view, unsigned *out, st_error *err);
/* Blocks at (view, lvl), counted. */
st_status st_vblock_count(st_vconn *c, unsigned view, unsigned lvl, uint64_t *out,
                          st_error *err);
/* Drop every block of view (before rebuilding its tree). */
st_status st_vblock_clear(st_vconn *c, unsigned view, st_error *err);

#endif
