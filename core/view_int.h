/* view_int.h — the inside of the view engine, shared by view_*.c and
 * views.c (internal to core).
 *
 *   view_key.c     row positions: memcmp-ordered bytes of (key, doc id,
 *                  emit number); query bounds; group prefixes
 *   view_reduce.c  applying a view's reduce: built-ins in C, JavaScript
 *                  through a query-server process
 *   view_tree.c    the reduction tree: blocks of rows with stored
 *                  reductions, kept up to date and folded over ranges
 *   view_update.c  the updater: follows the database, maps changed
 *                  documents, writes rows, keeps the tree
 *   view_feed.c    the updater's reader: the feed read ahead in batches
 *   view_put.c     a batch's id lists, written several to a statement
 *   view_map.c     mapping batches through query-server processes
 *   view_query.c   map and reduce queries with CouchDB's parameters
 *   views.c        the registry of open indexes and the public calls
 *
 * Locks: the registry's mu (views.c) guards its list and every index's
 * refs; an index's upd_mu serialises its writers (updater, compaction);
 * rd_mu guards its reader connections.  upd_mu is taken before rd_mu and
 * never while the registry's mu is held.
 */
#ifndef ST_VIEW_INT_H
#define ST_VIEW_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "db_int.h"
#include "st_ddoc.h"
#include "st_follow.h"
#include "st_qs.h"
#include "st_reduce.h"
#include "st_view.h"
#include "view_store.h"

#define VT_ROWS 64        /* target rows per level-1 block */
#define VT_FAN 64         /* target children per block above */
#define VIEW_READERS 4    /* reader connections per index */

/* ---- positions (view_key.c) --------------------------------------------- */

/* A row's position: key's sort key, the doc id's escaped bytes, 0x00, the
 * emit number (4 bytes, big-endian).  memcmp order = CouchDB's row order. */
st_status st_vkey_pos(st_buf *out, const st_json *key, st_collate_mode m, const char *docid,
                      uint32_t dup);
/* Append the sort key of key (a bound), optionally with a doc id as in a
 * position (without the emit number). */
st_status st_vkey_bound(st_buf *out, const st_json *key, st_collate_mode m, const char *docid);
/* Bytes of the sort key at the start of p (a position or a key); 0 when
 * malformed. */
size_t st_vkey_len(const unsigned char *p, size_t n, st_collate_mode m);
/* Bytes of the group prefix of sort key k: level < 0 the whole key,
 * level 0 nothing, else an array key's tag and first `level` elements. */
size_t st_vkey_group_len(const unsigned char *k, size_t n, int level, st_collate_mode m);
/* Bytes of k that every key of k's group starts with and no key after the
 * group does: the group prefix, or the whole key when the group is that
 * key alone (an array shorter than the level). */
size_t st_vkey_group_end(const unsigned char *k, size_t n, int level, st_collate_mode m);
/* The JSON of key cut to group level (arrays to their first level
 * elements; level < 0 or a non-array: the key as is) appended to out. */
st_status st_vkey_group_json(st_buf *out, const char *key_json, size_t n, int level);

/* The ids table's value: a list of (view, position). */
st_status st_vkey_ids_add(st_buf *out, unsigned view, const void *pos, size_t n);
typedef struct vid_iter {
    const unsigned char *p, *end;
} vid_iter;
/* Next (view, position) of an ids value; false at the end or when malformed. */
bool st_vkey_ids_next(vid_iter *it, unsigned *view, const unsigned char **pos, size_t *n);

/* ---- reduce (view_reduce.c) --------------------------------------------- */

typedef struct vred {
    const st_ddoc_view *def;      /* NULL: a map-only view (count only) */
    st_qs *qs;
    const char *lang;
    st_qs_proc *proc;             /* JavaScript: checked out on first need */
    bool own_proc;                /* checked out by vred (checked in by vred_done) */
    const st_reduce_limits *lim;
} vred;

/* Rows to reduce: keys and values as JSON text. */
typedef struct vred_row {
    const char *key;
    size_t key_len;
    const char *doc;
    const char *value;
    size_t value_len;
} vred_row;

void vred_init(vred *r, const st_ddoc_view *def, st_qs *qs, const char *lang,
               const st_reduce_limits *lim, st_qs_proc *proc);
void vred_done(vred *r);
/* reduce(keys, values) of rows into out (JSON). */
st_status vred_rows(vred *r, const vred_row *rows, size_t n, st_buf *out, st_error *err);
/* rereduce of earlier reductions into out. */
st_status vred_rereduce(vred *r, const char *const *reds, const size_t *lens, size_t n,
                        st_buf *out, st_error *err);
/* What a query answers for a reduction (the count of an approximate
 * distinct count's sketch, else the reduction itself). */
st_status vred_finalize(vred *r, const char *red, size_t n, st_buf *out, st_error *err);

/* ---- the tree (view_tree.c) --------------------------------------------- */

/* Positions touched by a batch (inserted or deleted rows), per view. */
typedef struct vtouch {
    st_buf *pos;                  /* one buffer per position */
    size_t n, cap;
} vtouch;
st_status vtouch_add(vtouch *t, const void *pos, size_t n);
void vtouch_free(vtouch *t);

/* Bring view's tree up to date after rows at t's positions changed. */
st_status vtree_update(st_vconn *c, unsigned view, vred *r, vtouch *t, st_error *err);
/* Drop view's tree and build it again from its rows. */
st_status vtree_rebuild(st_vconn *c, unsigned view, vred *r, st_error *err);
/* Rows of view with lo <= pos < hi (NULL: open). */
st_status vtree_count(st_vconn *c, unsigned view, const void *lo, size_t lo_n, const void *hi,
                      size_t hi_n, uint64_t *out, st_error *err);

/* A fold over [lo, hi) in order, grouped: emit gets each group's key (JSON
 * cut to the level; "null" when level is 0) and its reduction as the
 * tree stores it, and `bound`, where a fold resumed after this group
 * starts (descending: ends); bound_len 0 when level is 0 (one group: the
 * range is done).  emit returns nonzero to stop. */
typedef struct vfold_out {
    int (*emit)(void *ctx, const char *key, size_t key_len, const char *red, size_t red_len,
                const unsigned char *bound, size_t bound_len);
    void *ctx;
} vfold_out;
st_status vtree_fold(st_vconn *c, unsigned view, vred *r, st_collate_mode m, const void *lo,
                     size_t lo_n, const void *hi, size_t hi_n, bool descending, int level,
                     const vfold_out *out, st_error *err);

/* ---- mapping (view_map.c) ---------------------------------------------- */

typedef struct vindex vindex;

/* Changed documents read from the feed, and their map answers. */
typedef struct vbatch {
    st_buf ids, bodies;           /* NUL-terminated ids; JSON bodies back to back */
    size_t *id_off, *body_off, *body_len;
    bool *mapped;                 /* the document goes to the map functions */
    uint64_t *seqs;               /* each document's sequence */
    size_t n, cap;
    uint64_t last_seq;            /* the feed's position after the batch */
    size_t rows;                  /* rows the feed gave */
    st_qs_answer *ans;            /* per mapped document, in order */
    size_t nans;
    st_status st;                 /* the map's outcome */
    st_error err;
    bool done;                    /* mapped (the mapper's mu) */
} vbatch;

void vbatch_reset(vbatch *b);
void vbatch_free(vbatch *b);
/* One more document (map false: deleted or a design document: no map). */
st_status vbatch_add(vbatch *b, const char *id, uint64_t seq, const char *json, size_t len,
                     bool map);

/* A process with ix's map functions loaded, working on the caller's thread
 * (threaded false) or on a thread of its own.  must false: ST_E_BUSY at
 * once when no process is free (a helper is only worth it then). */
typedef struct vmapper vmapper;
st_status vmapper_start(vindex *ix, bool threaded, bool must, vmapper **out, st_error *err);
st_qs_proc *vmapper_proc(vmapper *m); /* for reduces, while it maps nothing */
/* Map b (at once, or on the worker, after the batches submitted before
 * it); at most VMAP_DEPTH batches are out at a time.  vmapper_wait returns
 * when b is mapped (b->st says how). */
#define VMAP_DEPTH 2
void vmapper_submit(vmapper *m, vbatch *b);
void vmapper_wait(vmapper *m, vbatch *b);
void vmapper_stop(vmapper *m); /* waits for the batches out; NULL ok */

/* ---- writing a batch (view_put.c) --------------------------------------- */

/* Id lists held back and written several to a statement.  The lists are
 * copied; doc ids are borrowed until the flush.  One thread. */
typedef struct vput {
    st_buf data;
    struct pids *ids;
    size_t nids, ids_cap;
    st_vids_item *items;
    size_t items_cap;
} vput;
void vput_init(vput *p);
void vput_free(vput *p);
st_status vput_ids(vput *p, st_vconn *c, const char *doc, const void *keys, size_t n,
                   st_error *err);
/* Write everything held (inside the caller's transaction). */
st_status vput_flush(vput *p, st_vconn *c, st_error *err);

/* ---- reading the feed (view_feed.c) ------------------------------------ */

/* Batches of the documents changed after f's position up to target, read
 * in order (on a thread of its own when threaded) and each submitted to
 * one of the k mappers m.  The caller's thread: vfeed_next, then
 * vmapper_wait on the mapper it names, then vfeed_release when done with
 * the batch, before the next vfeed_next.  f and m stay the caller's, not
 * used by the caller until vfeed_stop. */
typedef struct vfeed vfeed;
st_status vfeed_start(vindex *ix, st_follower *f, uint64_t target, vmapper **m, unsigned k,
                      bool threaded, vfeed **out, st_error *err);
/* The next batch (submitted to *mapper); NULL at the end or when reading
 * failed (vfeed_stop says). */
vbatch *vfeed_next(vfeed *fd, vmapper **mapper);
void vfeed_release(vfeed *fd);
/* Stops reading, waits for every batch still out, frees everything: ST_OK
 * or why reading failed (into err).  NULL ok. */
st_status vfeed_stop(vfeed *fd, st_error *err);

/* ---- an index ------------------------------------------------------------ */

struct vindex {
    st_views *vs;
    st_qs *qs;                    /* the registry's pool and options, handed down */
    const st_views_options *opts;
    vindex *next;                 /* the registry's list (its mu) */
    unsigned refs;                /* users (the registry's mu) */
    uint64_t used;                /* LRU tick (the registry's mu) */
    char key[80];                 /* db uuid + "/" + signature */
    char sig[33];
    char db_uuid[33];
    st_ddoc *ddoc;                /* definitions of its views (any ddoc with this sig) */
    st_vfile *file;
    pthread_mutex_t upd_mu;       /* one writer at a time */
    st_vconn *writer;             /* under upd_mu */
    pthread_mutex_t rd_mu;
    pthread_cond_t rd_cond;
    st_vconn *rd[VIEW_READERS];
    bool rd_busy[VIEW_READERS];
    _Atomic uint64_t seq;         /* update_seq as of the last commit */
    atomic_bool updating, compacting;
    atomic_uint waiting;          /* callers waiting for the updater */
};

/* A reader connection of ix in a read transaction; put it back. */
st_vconn *vindex_reader(vindex *ix, st_error *err);
void vindex_reader_put(vindex *ix, st_vconn *c);

/* view_update.c: bring ix up to db's sequence `target` (upd_mu taken
 * inside). */
st_status vindex_update(vindex *ix, st_db *db, uint64_t target, st_error *err);
/* Read ix's meta at open (its update_seq); a file built from another
 * database (same name, older uuid) or with another ICU collator is
 * started again from nothing. */
st_status vindex_load(vindex *ix, st_db *db, st_error *err);

/* views.c: the parts of an open view. */
vindex *st_view_index(const st_view *v);
const st_ddoc_view *st_view_def(const st_view *v);
unsigned st_view_number(const st_view *v);
st_db *st_view_db(const st_view *v);
st_ddoc *st_view_ddoc(const st_view *v);

#endif
