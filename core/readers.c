/* readers.c — a database's pool of read connections.
 *
 * Why each reader stays inside a read transaction between uses: SQLite's
 * per-transaction locking is a measurable part of a small read; a reader
 * keeps its snapshot until a commit of ours happened since (db->commits)
 * or it is older than READER_FRESH_MS, which is how commits by other
 * processes become visible.  Idle readers' snapshots are released before a
 * checkpoint so they cannot hold it up.
 */
#include "db_int.h"

#include <time.h>

/* A pooled reader's snapshot older than this is renewed even without a
 * commit of ours: it is how commits by other processes become visible. */
#define READER_FRESH_MS 50

uint64_t st_db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void end_txn(reader *r)
{
    st_store_read_end(r->conn);
    r->in_txn = false;
}

st_conn *st_db_reader(st_db *db, st_error *err)
{
    if (atomic_load(&db->deleted)) {
        st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
        return NULL;
    }
    unsigned n = db->opts.readers;
    pthread_mutex_lock(&db->rd_mu);
    reader *r = NULL;
    for (;;) {
        /* Prefer an open connection, else a slot to open one in. */
        for (unsigned i = 0; i < n && !r; i++)
            if (!db->rd[i].busy && db->rd[i].conn)
                r = &db->rd[i];
        for (unsigned i = 0; i < n && !r; i++)
            if (!db->rd[i].busy)
                r = &db->rd[i];
        if (r)
            break;
        pthread_cond_wait(&db->rd_cond, &db->rd_mu);
    }
    r->busy = true;
    pthread_mutex_unlock(&db->rd_mu);

    st_status st = ST_OK;
    if (!r->conn) {
        /* Opened outside the lock, published under it: reader_put scans
         * the slots' conn pointers while holding rd_mu. */
        st_conn *fresh = NULL;
        st = st_store_conn_open(db->store, &fresh, err);
        pthread_mutex_lock(&db->rd_mu);
        r->conn = fresh;
        pthread_mutex_unlock(&db->rd_mu);
    }
    uint64_t commits = atomic_load(&db->commits);
    uint64_t now = st_db_now_ms();
    if (st == ST_OK && r->in_txn &&
        (r->snap_commits != commits || now - r->snap_ms > READER_FRESH_MS))
        end_txn(r);
    if (st == ST_OK && !r->in_txn) {
        st = st_store_read_begin(r->conn, err);
        r->in_txn = st == ST_OK;
        r->snap_commits = commits;
        r->snap_ms = now;
    }
    if (st != ST_OK) {
        pthread_mutex_lock(&db->rd_mu);
        r->busy = false;
        pthread_cond_signal(&db->rd_cond);
        pthread_mutex_unlock(&db->rd_mu);
        return NULL;
    }
    return r->conn;
}

void st_db_reader_put(st_db *db, st_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&db->rd_mu);
    for (unsigned i = 0; i < db->opts.readers; i++) {
        if (db->rd[i].conn == c) {
            db->rd[i].busy = false;
            break;
        }
    }
    pthread_cond_signal(&db->rd_cond);
    pthread_mutex_unlock(&db->rd_mu);
}

/* Idle readers let go of their snapshots (all of them, or those older than
 * the last commit), so a checkpoint can fold the WAL back past them even if
 * nobody reads for a while. */
void st_db_readers_release(st_db *db, bool all_idle)
{
    uint64_t commits = atomic_load(&db->commits);
    pthread_mutex_lock(&db->rd_mu);
    for (unsigned i = 0; i < db->opts.readers; i++) {
        reader *r = &db->rd[i];
        if (!r->busy && r->in_txn && (all_idle || r->snap_commits != commits))
            end_txn(r);
    }
    pthread_mutex_unlock(&db->rd_mu);
}

