/* db_int.h — the inside of st_db, shared by the db_*.c files of core.
 *
 * Locks, in the order they may nest:
 *   seq_mu   held by the writer across commit + publishing the new sequence
 *            (committed_seq, the ring, followers' wake list), and by the
 *            poller while it decides whether a commit came from elsewhere;
 *   wq_mu    the write queue; never held while running SQL;
 *   fol_mu   followers (armed list, wake bookkeeping);
 *   ring mu  (inside ring.c) the recent change rows;
 *   rd_mu    the reader pool.
 * No lock is held while a user callback (write completion, follower wake)
 * runs.
 */
#ifndef ST_DB_INT_H
#define ST_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "st_db.h"
#include "st_follow.h"
#include "st_revtree.h"
#include "store.h"

typedef struct st_ring st_ring;

/* A unit of work for the database's writer.  run() executes inside the
 * batch's write transaction on db->writer (or, with outside_txn, alone and
 * outside any transaction).  Jobs are re-runnable and leave nothing outside
 * the transaction: a failing job makes the batch roll back and re-run its
 * jobs one by one, which confines the failure to its owner.  done() is
 * called once, on the writer thread, after the commit is durable or failed
 * (status/err set); it may free the job. */
typedef struct db_job db_job;
struct db_job {
    st_status (*run)(st_db *db, void *arg, st_error *err);
    void *arg;
    void (*done)(db_job *job);
    void *done_ctx;
    bool outside_txn;
    bool solo;              /* runs in a transaction of its own (maintenance slices) */
    st_status status;
    st_error err;
    db_job *next;
};

/* Queue a job; done() will be called.  ST_E_NOT_FOUND (done never called)
 * when the database was deleted. */
st_status st_db_enqueue(st_db *db, db_job *job, st_error *err);
/* Queue and wait: the synchronous form.  Returns job->status; err gets
 * job->err. */
st_status st_db_run_job(st_db *db, db_job *job, st_error *err);

/* A pooled read connection.  It stays inside a read transaction between
 * uses, so back-to-back reads skip SQLite's per-transaction locking; the
 * snapshot is renewed when a commit happened since it was taken, or when
 * it is older than READER_FRESH_MS (commits by other processes). */
typedef struct reader {
    st_conn *conn;          /* NULL until first needed */
    bool busy;              /* handed out */
    bool in_txn;            /* a read transaction is open on conn */
    uint64_t snap_commits;  /* db->commits when that transaction began */
    uint64_t snap_ms;       /* when it began (monotonic coarse ms) */
} reader;

#define ST_DB_MAX_READERS 32

/* One document row written by the running batch: what the ring needs. */
typedef struct db_note {
    uint64_t seq;
    size_t id_off, rev_off;  /* into db->notes_arena */
    bool deleted;
} db_note;

typedef struct db_compaction db_compaction;

struct st_db {
    char *name;
    st_db_options opts;
    st_store *store;
    char uuid[33];
    char start_time[24];

    /* The writer: one pool thread at a time runs this database's batches
     * (writer.c); only that thread touches writer, ctr and notes. */
    st_conn *writer;
    st_counters ctr;        /* the running batch's counters (read at its BEGIN) */
    pthread_mutex_t wq_mu;
    pthread_cond_t wq_cond; /* idle: nothing queued or running (close waits) */
    db_job *wq_head, *wq_tail;
    bool scheduled;         /* on the pool's run queue or being run */
    st_db *run_next;        /* the pool's run queue link */
    _Atomic uint64_t committed_seq; /* update_seq as of the last known commit */
    _Atomic uint64_t commits;       /* commits seen so far: snapshot freshness */
    pthread_mutex_t seq_mu;
    bool noting;            /* the running batch records its rows for the ring */
    uint64_t begin_seq;     /* update_seq at the running batch's BEGIN */
    db_note *notes;
    size_t n_notes, notes_cap;
    st_buf notes_arena;
    db_compaction *compact; /* a running compaction (writer thread only) */
    atomic_bool compact_running;
    pthread_cond_t compact_cond; /* compaction ended (wq_mu) */
    st_error compact_err;        /* how the last one ended (wq_mu): what st_db_compact returns */

    /* readers */
    pthread_mutex_t rd_mu;
    pthread_cond_t rd_cond;
    reader rd[ST_DB_MAX_READERS]; /* the first opts.readers slots are used */

    /* _security and the validator (db_security.c); sec_mu guards both */
    pthread_mutex_t sec_mu;
    st_security *sec;
    _Atomic uint64_t sec_gen;
    st_validate_fn validate;
    void *validate_ctx;
    unsigned validate_scope;     /* ST_VALIDATE_* */
    void (*validate_free)(void *ctx);

    /* set when the catalog deleted the database: calls fail from then on */
    atomic_bool deleted;
    atomic_bool closing;    /* st_db_close began: background work stops */

    /* followers (follow.c) */
    pthread_mutex_t fol_mu;
    pthread_cond_t fol_cond;     /* a wake round finished */
    unsigned n_followers;
    st_follower *armed;          /* armed followers, doubly linked */
    unsigned waking;             /* wake rounds in progress */
    st_ring *_Atomic ring;       /* while there are followers (seq_mu to create/drop) */
    bool watched;                /* on the poller's list */
    st_db *watch_next;
    st_conn *watch_conn;         /* the poller's connection (poller thread only) */

    /* Mango: the json index set (mango_index.c; writer thread only) and
     * selector subscriptions (mango_subs.c; its own lock). */
    struct mango_state *mango;
    struct st_subs *_Atomic subs;  /* made with the first subscription */
};

/* Borrow a reader connection (blocks while all are busy); NULL + err on
 * failure.  The connection is inside a read transaction that has seen every
 * commit acknowledged before this call: callers read without BEGIN/COMMIT
 * and all their statements see one snapshot. */
st_conn *st_db_reader(st_db *db, st_error *err);
void st_db_reader_put(st_db *db, st_conn *c);
/* End idle readers' transactions (before a checkpoint, after a commit). */
void st_db_readers_release(st_db *db, bool all_idle);

/* Shared by the read and write paths (doc_read.c). */
typedef struct db_loaded {
    st_doc_rec rec;         /* the docs row */
    st_revtree *tree;       /* decoded tree, owned */
} db_loaded;
void st_db_loaded_free(db_loaded *l);
/* ST_E_NOT_FOUND (err untouched) when the id has no row. */
st_status st_db_load(st_conn *c, const char *id, db_loaded *out, st_error *err);

/* Body and attachment JSON of revision node i (winner: from the row). */
st_status st_db_rev_body(st_conn *c, const char *id, const db_loaded *l, size_t i,
                         st_buf *body, st_buf *atts, st_error *err);

/* Render revision node i of a loaded doc as a JSON object per o. */
st_status st_db_render(st_conn *c, const char *id, const st_revtree *t, size_t i,
                       const char *body, size_t body_len, const char *atts, size_t atts_len,
                       uint64_t seq, const st_get_opts *o, st_jw *w, st_error *err);

bool st_db_id_is_local(const char *id);

/* doc_write.c: the stored body of a document, its members minus the special
 * ones. */
st_status st_db_body_of(const st_json *doc, st_buf *out, st_error *err);
/* att_edit.c: an attachment edit (req->att_edit) as the write of the
 * document revision it changes, into *out (which points into edit and
 * *edit_doc); old, buf_a and buf_b are the caller's scratch. */
st_status st_db_att_edit_req(st_db *db, const st_write_req *req, db_loaded *old, st_buf *buf_a,
                             st_buf *buf_b, st_buf *edit, st_json_doc **edit_doc,
                             st_write_req *out, st_error *err);
/* local_docs.c: "0-" and decimal digits. */
bool st_db_local_rev_ok(const char *rev);
/* local_docs.c: write (or delete) a _local document inside the running
 * write transaction. */
st_status st_db_write_local(st_db *db, const char *id, const char *rev, bool deleted,
                            const st_buf *body, st_write_result *res, st_error *err);


/* follow.c, called by the writer: the batch committed up to seq. */
void st_follow_committed(st_db *db, uint64_t seq);
/* follow.c: wake every armed follower (deletion, external commits). */
void st_follow_wake_all(st_db *db);

/* maint.c: a running compaction wants to know attachment digests referenced
 * by rows written meanwhile. */
void st_compact_note_atts(db_compaction *c, const char *atts, size_t atts_len);

/* The store options a database's options imply. */
void st_db_store_options(const st_db_options *o, st_store_options *out);

/* Open a database on a store (taken: closed on failure too). */
st_status st_db_open_store(st_store *store, const char *name, const st_db_options *o,
                           st_db **out_db, st_error *err);

/* The catalog unlinked this database: every later call answers
 * ST_E_NOT_FOUND "Database does not exist." and followers are woken. */
void st_db_mark_deleted(st_db *db);


/* db_security.c: read the stored _security object at open (the writer is
 * inside a write transaction); created: the database is new, store
 * opts.initial_security. */
st_status st_db_security_load(st_db *db, bool created, st_error *err);

/* Monotonic milliseconds (coarse clock: cheap, ~4 ms resolution). */
uint64_t st_db_now_ms(void);

#endif
