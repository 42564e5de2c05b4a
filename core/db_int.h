/* db_int.h — the inside of st_db, shared by the db_*.c files of core.
 *
 * Locks, in the order they may nest: wq_mu (write queue) is never held while
 * running SQL; rd_mu guards the reader pool; obs_mu guards observers and is
 * held while they are called.  No lock is held across a call into another
 * module except obs_mu around observer callbacks.
 */
#ifndef ST_DB_INT_H
#define ST_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "st_db.h"
#include "st_revtree.h"
#include "store.h"

/* Counters kept in memory and written to meta inside each write transaction. */
typedef struct db_counters {
    uint64_t update_seq;
    uint64_t purge_seq;
    uint64_t doc_count;
    uint64_t del_count;
    int64_t external;   /* bytes of winning bodies + their attachments */
    unsigned revs_limit;
} db_counters;

/* A unit of work for the group-commit leader: run() executes inside the
 * batch's write transaction on db->writer, under its own savepoint. */
typedef struct db_job {
    st_status (*run)(st_db *db, void *arg, st_error *err);
    void *arg;
    st_error *err;          /* where run() reports; may be NULL */
    st_status status;       /* run()'s result, or the commit's failure */
    bool done;
    pthread_cond_t cond;    /* its owner sleeps here (submit initialises it) */
    struct db_job *next;
} db_job;

/* A pooled read connection.  It stays inside a read transaction between
 * uses, so back-to-back reads skip SQLite's per-transaction locking; the
 * snapshot is renewed whenever a commit happened since it was taken. */
typedef struct reader {
    st_conn *conn;          /* NULL until first needed */
    bool busy;              /* handed out */
    bool in_txn;            /* a read transaction is open on conn */
    uint64_t snap_seq;      /* committed_seq when that transaction began */
} reader;

#define ST_DB_MAX_READERS 32

struct st_db_observer {
    st_db_observer_fn fn;
    void *ctx;
    struct st_db_observer *next;
};

struct st_db {
    char *name;
    st_db_options opts;
    st_store *store;
    char uuid[33];
    char start_time[24];

    /* writer side: only the current leader touches writer and ctr */
    st_conn *writer;
    db_counters ctr;        /* committed values plus the running batch's changes */
    pthread_mutex_t wq_mu;
    pthread_cond_t wq_cond;
    db_job *wq_head, *wq_tail;
    bool leader;            /* a thread is running a batch */
    _Atomic uint64_t committed_seq; /* update_seq as of the last commit */
    _Atomic uint64_t commits;       /* commit groups so far: snapshot freshness */

    /* readers */
    pthread_mutex_t rd_mu;
    pthread_cond_t rd_cond;
    reader rd[ST_DB_MAX_READERS]; /* the first opts.readers slots are used */

    /* set when the catalog deleted the database: calls fail from then on */
    atomic_bool deleted;

    /* observers */
    pthread_mutex_t obs_mu;
    st_db_observer *obs;
};

/* The committed counters as seen by c's current snapshot. */
st_status st_db_read_counters(st_conn *c, db_counters *out, st_error *err);

/* Run job through the group commit; returns its status. */
st_status st_db_submit(st_db *db, db_job *job);
/* Borrow a reader connection (blocks while all are busy); NULL + err on
 * failure.  The connection is inside a read transaction that has seen every
 * commit acknowledged before this call: callers read without BEGIN/COMMIT
 * and all their statements see one snapshot. */
st_conn *st_db_reader(st_db *db, st_error *err);
void st_db_reader_put(st_db *db, st_conn *c);

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

/* The catalog unlinked this database: every later call answers
 * ST_E_NOT_FOUND "Database does not exist." and observers are woken. */
void st_db_mark_deleted(st_db *db);

#endif
