/* store_sqlite.c — store.h on SQLite: connections, transactions, rows and
 * scans (store_files.c has the files themselves).
 *
 * Why this shape: the docs table's rowid IS the document's latest sequence.
 * A new write deletes the old row and inserts one at the new sequence, so the
 * changes feed ("every document once, at its latest change") is a plain
 * rowid range scan, and inserting a new document touches exactly two
 * b-trees (the table and the unique id index), as a plain key/value table
 * would.  The winning revision's body lives in that row, so get-by-id and
 * include_docs read one row; other revisions' bodies sit in `revs`.
 *
 * Counters are one meta row read at the start of every write transaction
 * (under the write lock) and written before its commit: another process
 * writing the same file is seen at the next write_begin, never overwritten.
 *
 * WAL mode: readers never block the writer and see a snapshot per read
 * transaction.  synchronous=FULL fsyncs the WAL on every commit (durable
 * across power loss); NORMAL syncs only at checkpoints (durable across a
 * process kill, not a power loss).  Statements are prepared once per
 * connection and cached by index.  JSON is bound as TEXT.
 */
#include "store_sqlite_int.h"

#include <errno.h>
#include <sys/statvfs.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
    Q_DOC_GET,
    Q_DOC_DEL,
    Q_DOC_INS,
    Q_DOC_TREE,
    Q_CONFLICTED,
    Q_REV_GET,
    Q_REV_PUT,
    Q_REV_DEL,
    Q_ATT_GET,
    Q_ATT_PUT,
    Q_ATT_HAS,
    Q_ATT_DEL,
    Q_ATT_DIGESTS,
    Q_LOCAL_GET,
    Q_LOCAL_PUT,
    Q_LOCAL_DEL,
    Q_META_GET,
    Q_META_SET,
    Q_SEQ_ASC,
    Q_SEQ_ASC_NB,
    Q_SEQ_DESC,
    Q_SEQ_DESC_NB,
    Q_COUNT_AFTER,
    Q_REV_IDS,
    Q_DOC_ATTS,
    Q_REV_ATTS,
    Q_DATA_VERSION,
    Q_FREELIST,
    Q_BEGIN_READ,
    Q_BEGIN_WRITE,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    [Q_DOC_GET] = "SELECT seq, deleted, tree, body, atts FROM docs WHERE id = ?1",
    [Q_DOC_DEL] = "DELETE FROM docs WHERE seq = ?1",
    [Q_DOC_INS] = "INSERT INTO docs(seq, id, deleted, tree, body, atts, conflicted)"
                  " VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [Q_DOC_TREE] = "UPDATE docs SET tree = ?2 WHERE seq = ?1",
    [Q_CONFLICTED] = "SELECT id FROM docs WHERE conflicted AND id > ?1 ORDER BY id",
    [Q_REV_GET] = "SELECT body, atts FROM revs WHERE id = ?1 AND rev = ?2",
    [Q_REV_PUT] = "INSERT OR REPLACE INTO revs(id, rev, body, atts) VALUES(?1,?2,?3,?4)",
    [Q_REV_DEL] = "DELETE FROM revs WHERE id = ?1 AND rev = ?2",
    [Q_ATT_GET] = "SELECT data FROM atts WHERE digest = ?1",
    [Q_ATT_PUT] = "INSERT OR IGNORE INTO atts(digest, data) VALUES(?1, ?2)",
    [Q_ATT_HAS] = "SELECT 1 FROM atts WHERE digest = ?1",
    [Q_ATT_DEL] = "DELETE FROM atts WHERE digest = ?1",
    [Q_ATT_DIGESTS] = "SELECT digest FROM atts WHERE digest > ?1 ORDER BY digest LIMIT ?2",
    [Q_LOCAL_GET] = "SELECT rev, body FROM local WHERE id = ?1",
    [Q_LOCAL_PUT] = "INSERT OR REPLACE INTO local(id, rev, body) VALUES(?1,?2,?3)",
    [Q_LOCAL_DEL] = "DELETE FROM local WHERE id = ?1",
    [Q_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [Q_META_SET] = "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)",
    [Q_SEQ_ASC] = "SELECT seq, id, deleted, tree, body, atts FROM docs WHERE seq > ?1 ORDER BY seq",
    [Q_SEQ_ASC_NB] = "SELECT seq, id, deleted, tree FROM docs WHERE seq > ?1 ORDER BY seq",
    [Q_SEQ_DESC] = "SELECT seq, id, deleted, tree, body, atts FROM docs WHERE seq <= ?1 "
                   "ORDER BY seq DESC",
    [Q_SEQ_DESC_NB] = "SELECT seq, id, deleted, tree FROM docs WHERE seq <= ?1 ORDER BY seq DESC",
    [Q_COUNT_AFTER] = "SELECT count(*) FROM (SELECT 1 FROM docs WHERE seq > ?1 LIMIT ?2)",
    [Q_REV_IDS] = "SELECT DISTINCT id FROM revs WHERE id > ?1 ORDER BY id LIMIT ?2",
    [Q_DOC_ATTS] = "SELECT seq, atts FROM docs WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [Q_REV_ATTS] = "SELECT id, rev, atts FROM revs WHERE (id, rev) > (?1, ?2)"
                   " ORDER BY id, rev LIMIT ?3",
    [Q_DATA_VERSION] = "PRAGMA data_version",
    [Q_FREELIST] = "PRAGMA freelist_count",
    [Q_BEGIN_READ] = "BEGIN",
    [Q_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

struct st_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[Q_COUNT]; /* prepared lazily */
    sqlite3_stmt *ext[ST_SQLITE_EXT_SLOTS]; /* the other files' (st_sqlite_stmt) */
    int64_t data_version;        /* last seen by st_store_changed; -1 = never asked */
};

bool st_sqlite_disk_full(sqlite3 *db)
{
    if (!db)
        return false;
    int code = sqlite3_errcode(db);
    if (code == SQLITE_FULL) /* a write that hit ENOSPC */
        return true;
    if ((code & 0xff) != SQLITE_IOERR)
        return false;
    /* A full disk also shows as an I/O error of a step that grows a file
     * (a sync with delayed allocation, the WAL index): the OS error says
     * so, or, when that was overwritten since, the file system does. */
    int sys = sqlite3_system_errno(db);
    if (sys == ENOSPC || sys == EDQUOT)
        return true;
    const char *path = sqlite3_db_filename(db, "main");
    struct statvfs fs;
    return path && *path && statvfs(path, &fs) == 0 && fs.f_bavail == 0;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* SQLITE_MISUSE when the library was initialised already (an embedding
 * app used SQLite first): its settings then stand. */
static void global_init(void) { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

void st_sqlite_global_init(void) { pthread_once(&global_once, global_init); }

st_status st_sqlite_fail(sqlite3 *db, st_error *err, const char *what)
{
    /* No handle: sqlite3_open_v2 gives none only when it could not
     * allocate one. */
    int code = db ? sqlite3_errcode(db) : SQLITE_NOMEM;
    if (code == SQLITE_NOMEM)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (st_sqlite_disk_full(db))
        return st_fail(err, ST_E_DISK_FULL, "No space left on device.");
    if (code == SQLITE_BUSY)
        return st_fail(err, ST_E_BUSY, "The database is busy, try again.");
    return st_fail(err, ST_E_IO, "storage error in %s: %s", what,
                   db ? sqlite3_errmsg(db) : "?");
}

#define sql_fail st_sqlite_fail

static sqlite3_stmt *stmt(st_conn *c, int q)
{
    if (!c->stmt[q]) {
        if (sqlite3_prepare_v3(c->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[q],
                               NULL) != SQLITE_OK)
            return NULL;
    }
    return c->stmt[q];
}

sqlite3 *st_sqlite_db(st_conn *c) { return c->db; }

sqlite3_stmt *st_sqlite_stmt(st_conn *c, int slot, const char *sql)
{
    if (slot < 0 || slot >= ST_SQLITE_EXT_SLOTS)
        return NULL;
    if (!c->ext[slot] && sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                            &c->ext[slot], NULL) != SQLITE_OK)
        return NULL;
    return c->ext[slot];
}

static void done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Step a statement that returns no rows, reset it, map the outcome. */
static st_status step_done(st_conn *c, sqlite3_stmt *s, const char *what, st_error *err)
{
    int rc = sqlite3_step(s);
    done(s);
    return rc == SQLITE_DONE ? ST_OK : sql_fail(c->db, err, what);
}

/* Run a statement that returns no rows. */
static st_status exec_q(st_conn *c, int q, st_error *err)
{
    sqlite3_stmt *s = stmt(c, q);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    return step_done(c, s, sql_text[q], err);
}

st_status st_store_conn_open(st_store *s, st_conn **out, st_error *err)
{
    *out = NULL;
    st_sqlite_global_init();
    st_conn *c = calloc(1, sizeof *c);
    if (!c)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    c->data_version = -1;
    if (sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        st_status st = sql_fail(c->db, err, "open");
        sqlite3_close(c->db);
        free(c);
        return st;
    }
    sqlite3_busy_timeout(c->db, 10000);
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA synchronous=%s; PRAGMA cache_size=-%u; PRAGMA temp_store=MEMORY;"
             " PRAGMA mmap_size=%lld",
             s->opts.durable_full ? "FULL" : "NORMAL", s->opts.cache_kib,
             s->opts.mmap_kib < 0 ? 0LL : (long long)s->opts.mmap_kib * 1024);
    if (sqlite3_exec(c->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        st_status st = sql_fail(c->db, err, "configure");
        sqlite3_close(c->db);
        free(c);
        return st;
    }
    *out = c;
    return ST_OK;
}

void st_store_conn_close(st_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    for (int i = 0; i < ST_SQLITE_EXT_SLOTS; i++)
        sqlite3_finalize(c->ext[i]);
    sqlite3_close(c->db);
    free(c);
}

/* ------------------------------------------------------------ transactions */

/* The counters row: "update_seq purge_seq doc_count del_count external
 * revs_limit [index_gen]" (files from before json indexes lack the last).
 * Absent in a new database. */
st_status st_store_counters_get(st_conn *c, st_counters *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    out->revs_limit = 1000;
    st_buf b = ST_BUF_INIT;
    st_status st = st_store_meta_get(c, "counters", &b, err);
    if (st == ST_E_NOT_FOUND) {
        st_buf_free(&b);
        return ST_OK;
    }
    if (st == ST_OK) {
        unsigned long long v[4], gen = 0;
        long long ext;
        unsigned lim;
        int n = sscanf(b.data, "%llu %llu %llu %llu %lld %u %llu", &v[0], &v[1], &v[2], &v[3],
                       &ext, &lim, &gen);
        if (n != 6 && n != 7)
            st = st_fail(err, ST_E_IO, "corrupt counters");
        else
            *out = (st_counters){v[0], v[1], v[2], v[3], ext, lim >= 1 ? lim : 1000, gen};
    }
    st_buf_free(&b);
    return st;
}

static st_status counters_put(st_conn *c, const st_counters *k, st_error *err)
{
    char text[192];
    int n = snprintf(text, sizeof text, "%llu %llu %llu %llu %lld %u %llu",
                     (unsigned long long)k->update_seq, (unsigned long long)k->purge_seq,
                     (unsigned long long)k->doc_count, (unsigned long long)k->del_count,
                     (long long)k->external, k->revs_limit, (unsigned long long)k->index_gen);
    return st_store_meta_set(c, "counters", text, (size_t)n, err);
}

st_status st_store_read_begin(st_conn *c, st_error *err) { return exec_q(c, Q_BEGIN_READ, err); }
st_status st_store_read_end(st_conn *c) { return exec_q(c, Q_COMMIT, NULL); }

st_status st_store_write_begin(st_conn *c, st_counters *ctr, st_error *err)
{
    st_status st = exec_q(c, Q_BEGIN_WRITE, err);
    if (st == ST_OK && (st = st_store_counters_get(c, ctr, err)) != ST_OK)
        st_store_rollback(c);
    return st;
}

st_status st_store_commit(st_conn *c, const st_counters *ctr, st_error *err)
{
    st_status st = counters_put(c, ctr, err);
    if (st == ST_OK)
        st = exec_q(c, Q_COMMIT, err);
    if (st != ST_OK)
        st_store_rollback(c);
    return st;
}

void st_store_rollback(st_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        (void)exec_q(c, Q_ROLLBACK, NULL);
}

st_status st_store_changed(st_conn *c, bool *out, st_error *err)
{
    *out = false;
    sqlite3_stmt *s = stmt(c, Q_DATA_VERSION);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    st_status st = ST_OK;
    if (sqlite3_step(s) == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(s, 0);
        *out = c->data_version >= 0 && v != c->data_version;
        c->data_version = v;
    } else {
        st = sql_fail(c->db, err, "data_version");
    }
    done(s);
    return st;
}

/* -------------------------------------------------------------- documents */

void st_doc_rec_free(st_doc_rec *r)
{
    st_buf_free(&r->tree);
    st_buf_free(&r->body);
    st_buf_free(&r->atts);
}

/* Copy column col of s into b (reset first); NULL columns give len 0. */
static st_status col_copy(sqlite3_stmt *s, int col, st_buf *b)
{
    st_buf_reset(b);
    const void *p = sqlite3_column_blob(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (!p || n == 0)
        return st_buf_reserve(b, 1);
    return st_buf_add(b, p, n);
}

static void bind_text(sqlite3_stmt *s, int i, const char *t, size_t n)
{
    if (t)
        sqlite3_bind_text(s, i, t, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static void bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n)
{
    if (p)
        sqlite3_bind_blob(s, i, n ? p : "", (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

st_status st_store_doc_get(st_conn *c, const char *id, st_doc_rec *out, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_DOC_GET);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, id, strlen(id));
    int rc = sqlite3_step(s);
    st_status st = ST_OK;
    if (rc == SQLITE_ROW) {
        out->seq = (uint64_t)sqlite3_column_int64(s, 0);
        out->deleted = sqlite3_column_int(s, 1) != 0;
        if ((st = col_copy(s, 2, &out->tree)) == ST_OK &&
            (st = col_copy(s, 3, &out->body)) == ST_OK)
            st = col_copy(s, 4, &out->atts);
        if (st != ST_OK)
            st_fail(err, st, "out of memory");
    } else if (rc == SQLITE_DONE) {
        st = ST_E_NOT_FOUND;
    } else {
        st = sql_fail(c->db, err, "doc_get");
    }
    done(s);
    return st;
}

st_status st_store_doc_put(st_conn *c, const char *id, uint64_t old_seq, const st_doc_rec *r,
                           st_error *err)
{
    if (old_seq) {
        sqlite3_stmt *d = stmt(c, Q_DOC_DEL);
        if (!d)
            return sql_fail(c->db, err, "prepare");
        sqlite3_bind_int64(d, 1, (sqlite3_int64)old_seq);
        int rc = sqlite3_step(d);
        done(d);
        if (rc != SQLITE_DONE)
            return sql_fail(c->db, err, "doc_delete");
    }
    sqlite3_stmt *s = stmt(c, Q_DOC_INS);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    sqlite3_bind_int64(s, 1, (sqlite3_int64)r->seq);
    bind_text(s, 2, id, strlen(id));
    sqlite3_bind_int(s, 3, r->deleted ? 1 : 0);
    bind_blob(s, 4, r->tree.data, r->tree.len);
    bind_text(s, 5, r->body.data ? r->body.data : "{}", r->body.data ? r->body.len : 2);
    bind_text(s, 6, r->atts.len ? r->atts.data : NULL, r->atts.len);
    sqlite3_bind_int(s, 7, r->conflicted ? 1 : 0);
    int rc = sqlite3_step(s);
    done(s);
    if (rc == SQLITE_CONSTRAINT && sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_UNIQUE)
        return ST_E_CONFLICT; /* a row with this id exists (insert without old_seq) */
    return rc == SQLITE_DONE ? ST_OK : sql_fail(c->db, err, "doc_put");
}

st_status st_store_doc_update_tree(st_conn *c, uint64_t seq, const void *tree, size_t n,
                                   st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_DOC_TREE);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
    bind_blob(s, 2, tree, n);
    return step_done(c, s, "doc_update_tree", err);
}

st_status st_store_scan_conflicted(st_conn *c, const char *after,
                                   int (*fn)(void *ctx, const char *id), void *ctx,
                                   st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_CONFLICTED);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, after ? after : "", after ? strlen(after) : 0);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ctx, (const char *)sqlite3_column_text(s, 0)))
            break;
    done(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ST_OK : sql_fail(c->db, err, "conflicted");
}

st_status st_store_doc_delete(st_conn *c, uint64_t seq, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_DOC_DEL);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
    return step_done(c, s, "doc_delete", err);
}

st_status st_store_rev_get(st_conn *c, const char *id, const char *rev, st_buf *body,
                           st_buf *atts, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_REV_GET);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, id, strlen(id));
    bind_text(s, 2, rev, strlen(rev));
    int rc = sqlite3_step(s);
    st_status st = ST_OK;
    if (rc == SQLITE_ROW) {
        if ((body && (st = col_copy(s, 0, body)) != ST_OK) ||
            (atts && (st = col_copy(s, 1, atts)) != ST_OK))
            st_fail(err, st, "out of memory");
    } else {
        st = rc == SQLITE_DONE ? ST_E_NOT_FOUND : sql_fail(c->db, err, "rev_get");
    }
    done(s);
    return st;
}

st_status st_store_rev_put(st_conn *c, const char *id, const char *rev, const char *body,
                           size_t body_len, const char *atts, size_t atts_len, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_REV_PUT);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, id, strlen(id));
    bind_text(s, 2, rev, strlen(rev));
    bind_text(s, 3, body ? body : "{}", body ? body_len : 2);
    bind_text(s, 4, atts_len ? atts : NULL, atts_len);
    return step_done(c, s, "rev_put", err);
}

st_status st_store_rev_delete(st_conn *c, const char *id, const char *rev, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_REV_DEL);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, id, strlen(id));
    bind_text(s, 2, rev, strlen(rev));
    return step_done(c, s, "rev_delete", err);
}

/* The one column the query q selects for a text key into out.  A missing
 * row is ST_E_NOT_FOUND, with `missing` as the reason when given. */
static st_status get_by_key(st_conn *c, int q, const char *key, st_buf *out,
                            const char *missing, const char *what, st_error *err)
{
    sqlite3_stmt *s = stmt(c, q);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, key, strlen(key));
    int rc = sqlite3_step(s);
    st_status st = ST_OK;
    if (rc == SQLITE_ROW) {
        if ((st = col_copy(s, 0, out)) != ST_OK)
            st_fail(err, st, "out of memory");
    } else if (rc == SQLITE_DONE) {
        st = missing ? st_fail(err, ST_E_NOT_FOUND, "%s", missing) : ST_E_NOT_FOUND;
    } else {
        st = sql_fail(c->db, err, what);
    }
    done(s);
    return st;
}

st_status st_store_att_get(st_conn *c, const char *digest, st_buf *data, st_error *err)
{
    return get_by_key(c, Q_ATT_GET, digest, data, "missing attachment data", "att_get", err);
}

st_status st_store_att_put(st_conn *c, const char *digest, const void *data, size_t n,
                           st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_ATT_PUT);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, digest, strlen(digest));
    bind_blob(s, 2, data ? data : "", n);
    return step_done(c, s, "att_put", err);
}

bool st_store_att_exists(st_conn *c, const char *digest)
{
    sqlite3_stmt *s = stmt(c, Q_ATT_HAS);
    if (!s)
        return false;
    bind_text(s, 1, digest, strlen(digest));
    bool found = sqlite3_step(s) == SQLITE_ROW;
    done(s);
    return found;
}

st_status st_store_local_get(st_conn *c, const char *id, uint64_t *rev, st_buf *body,
                             st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_LOCAL_GET);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, id, strlen(id));
    int rc = sqlite3_step(s);
    st_status st = ST_OK;
    if (rc == SQLITE_ROW) {
        *rev = (uint64_t)sqlite3_column_int64(s, 0);
        if (body && (st = col_copy(s, 1, body)) != ST_OK)
            st_fail(err, st, "out of memory");
    } else {
        st = rc == SQLITE_DONE ? ST_E_NOT_FOUND : sql_fail(c->db, err, "local_get");
    }
    done(s);
    return st;
}

st_status st_store_local_put(st_conn *c, const char *id, uint64_t rev, const char *body,
                             size_t n, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_LOCAL_PUT);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, id, strlen(id));
    sqlite3_bind_int64(s, 2, (sqlite3_int64)rev);
    bind_text(s, 3, body ? body : "{}", body ? n : 2);
    return step_done(c, s, "local_put", err);
}

st_status st_store_local_delete(st_conn *c, const char *id, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_LOCAL_DEL);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, id, strlen(id));
    return step_done(c, s, "local_delete", err);
}

st_status st_store_meta_get(st_conn *c, const char *key, st_buf *out, st_error *err)
{
    return get_by_key(c, Q_META_GET, key, out, NULL, "meta_get", err);
}

st_status st_store_meta_set(st_conn *c, const char *key, const char *v, size_t n,
                            st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_META_SET);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, key, strlen(key));
    bind_text(s, 2, v, n);
    return step_done(c, s, "meta_set", err);
}

/* Step s and hand each row to fn; columns: seq, id, deleted, tree[, body, atts]. */
static st_status run_scan(st_conn *c, sqlite3_stmt *s, bool with_body, st_row_fn fn,
                          void *ctx, st_error *err)
{
    st_status st = ST_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        st_row_view v = {0};
        v.seq = (uint64_t)sqlite3_column_int64(s, 0);
        v.id = (const char *)sqlite3_column_text(s, 1);
        v.deleted = sqlite3_column_int(s, 2) != 0;
        v.tree = sqlite3_column_blob(s, 3);
        v.tree_len = (size_t)sqlite3_column_bytes(s, 3);
        if (with_body) {
            v.body = sqlite3_column_blob(s, 4);
            v.body_len = (size_t)sqlite3_column_bytes(s, 4);
            v.atts = sqlite3_column_blob(s, 5);
            v.atts_len = (size_t)sqlite3_column_bytes(s, 5);
        }
        if (!v.id) {
            st = st_fail(err, ST_E_NOMEM, "out of memory");
            break;
        }
        if (fn(ctx, &v))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = sql_fail(c->db, err, "scan");
    return st;
}

st_status st_store_scan_seq(st_conn *c, uint64_t since, bool descending, bool with_body,
                            st_row_fn fn, void *ctx, st_error *err)
{
    int q = descending ? (with_body ? Q_SEQ_DESC : Q_SEQ_DESC_NB)
                       : (with_body ? Q_SEQ_ASC : Q_SEQ_ASC_NB);
    sqlite3_stmt *s = stmt(c, q);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    sqlite3_bind_int64(s, 1, descending ? (since ? (sqlite3_int64)since : INT64_MAX)
                                        : (sqlite3_int64)since);
    st_status st = run_scan(c, s, with_body, fn, ctx, err);
    done(s);
    return st;
}

st_status st_store_scan_ids(st_conn *c, const char *start, const char *end, bool inclusive_end,
                            bool descending, uint64_t skip, bool with_body, st_row_fn fn,
                            void *ctx, st_error *err)
{
    /* Built per call: the bounds vary and a range query is worth one prepare. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT seq, id, deleted, tree%s FROM docs WHERE deleted = 0%s%s%s%s"
             " ORDER BY id %s LIMIT -1 OFFSET ?3",
             with_body ? ", body, atts" : "", start ? " AND id " : "",
             start ? (descending ? "<= ?1" : ">= ?1") : "", end ? " AND id " : "",
             end ? (inclusive_end ? (descending ? ">= ?2" : "<= ?2")
                                  : (descending ? "> ?2" : "< ?2"))
                 : "",
             descending ? "DESC" : "ASC");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
        return sql_fail(c->db, err, "prepare");
    if (start)
        bind_text(s, 1, start, strlen(start));
    if (end)
        bind_text(s, 2, end, strlen(end));
    sqlite3_bind_int64(s, 3, skip > INT64_MAX ? INT64_MAX : (sqlite3_int64)skip);
    st_status st = run_scan(c, s, with_body, fn, ctx, err);
    sqlite3_finalize(s);
    return st;
}

st_status st_store_count_before(st_conn *c, const char *start, bool descending, uint64_t *out,
                                st_error *err)
{
    *out = 0;
    if (!start)
        return ST_OK;
    sqlite3_stmt *s = NULL;
    const char *sql = descending ? "SELECT count(*) FROM docs WHERE deleted = 0 AND id > ?1"
                                 : "SELECT count(*) FROM docs WHERE deleted = 0 AND id < ?1";
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, start, strlen(start));
    st_status st = ST_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(s, 0);
    else
        st = sql_fail(c->db, err, "count");
    sqlite3_finalize(s);
    return st;
}

st_status st_store_count_after_seq(st_conn *c, uint64_t seq, uint64_t cap, uint64_t *out,
                                   st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_COUNT_AFTER);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(s, 2, cap > INT64_MAX ? INT64_MAX : (sqlite3_int64)cap);
    st_status st = ST_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(s, 0);
    else
        st = sql_fail(c->db, err, "count");
    done(s);
    return st;
}

st_status st_store_scan_rev_ids(st_conn *c, const char *after, size_t limit,
                                void (*fn)(void *ctx, const char *id), void *ctx, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_REV_IDS);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, after ? after : "", after ? strlen(after) : 0);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(s, 0));
    done(s);
    return rc == SQLITE_DONE ? ST_OK : sql_fail(c->db, err, "scan_rev_ids");
}

st_status st_store_size_get(st_conn *c, st_store_size *out, st_error *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT (SELECT page_count FROM pragma_page_count()),"
                           " (SELECT freelist_count FROM pragma_freelist_count()),"
                           " (SELECT page_size FROM pragma_page_size())",
                           -1, &s, NULL) != SQLITE_OK)
        return sql_fail(c->db, err, "prepare");
    st_status st = ST_OK;
    if (sqlite3_step(s) == SQLITE_ROW) {
        uint64_t pages = (uint64_t)sqlite3_column_int64(s, 0);
        uint64_t free_pages = (uint64_t)sqlite3_column_int64(s, 1);
        uint64_t psize = (uint64_t)sqlite3_column_int64(s, 2);
        out->file = pages * psize;
        out->active = (pages - free_pages) * psize;
    } else {
        st = sql_fail(c->db, err, "size");
    }
    sqlite3_finalize(s);
    return st;
}

/* ---------------------------------------------------- maintenance slices */

st_status st_store_scan_doc_atts(st_conn *c, uint64_t after, size_t limit,
                                 void (*fn)(void *ctx, uint64_t seq, const char *json, size_t n),
                                 void *ctx, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_DOC_ATTS);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(ctx, (uint64_t)sqlite3_column_int64(s, 0), (const char *)sqlite3_column_blob(s, 1),
           (size_t)sqlite3_column_bytes(s, 1));
    done(s);
    return rc == SQLITE_DONE ? ST_OK : sql_fail(c->db, err, "scan_doc_atts");
}

st_status st_store_scan_rev_atts(st_conn *c, const char *after_id, const char *after_rev,
                                 size_t limit,
                                 void (*fn)(void *ctx, const char *id, const char *rev,
                                            const char *json, size_t n),
                                 void *ctx, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_REV_ATTS);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, after_id, strlen(after_id));
    bind_text(s, 2, after_rev, strlen(after_rev));
    sqlite3_bind_int64(s, 3, (sqlite3_int64)limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2));
    done(s);
    return rc == SQLITE_DONE ? ST_OK : sql_fail(c->db, err, "scan_rev_atts");
}

st_status st_store_scan_att_digests(st_conn *c, const char *after, size_t limit,
                                    void (*fn)(void *ctx, const char *digest), void *ctx,
                                    st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_ATT_DIGESTS);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, after, strlen(after));
    sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(s, 0));
    done(s);
    return rc == SQLITE_DONE ? ST_OK : sql_fail(c->db, err, "scan_att_digests");
}

st_status st_store_att_delete(st_conn *c, const char *digest, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_ATT_DEL);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, digest, strlen(digest));
    return step_done(c, s, "att_delete", err);
}

static st_status freelist(st_conn *c, uint64_t *out, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_FREELIST);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(s, 0);
    done(s);
    return rc == SQLITE_ROW ? ST_OK : sql_fail(c->db, err, "freelist_count");
}

st_status st_store_vacuum_slice(st_conn *c, unsigned pages, uint64_t *out_left, st_error *err)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%u)", pages ? pages : 1);
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(c->db, err, "incremental_vacuum");
    return freelist(c, out_left, err);
}

st_status st_store_checkpoint(st_conn *c, st_error *err)
{
    /* Without a busy handler the checkpoint copies what it can and leaves
     * frames a reader still uses, instead of waiting for that reader. */
    sqlite3_busy_timeout(c->db, 0);
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(c->db, 10000);
    if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return ST_OK;
    return sql_fail(c->db, err, "checkpoint");
}
