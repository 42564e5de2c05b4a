/* store_sqlite.c — store.h on SQLite.
 *
 * Why this shape: the docs table's rowid IS the document's latest sequence.
 * A new write deletes the old row and inserts one at the new sequence, so the
 * changes feed ("every document once, at its latest change") is a plain
 * rowid range scan, and inserting a new document touches exactly two
 * b-trees (the table and the unique id index), as a plain key/value table
 * would.  The winning revision's body lives in that row, so get-by-id and
 * include_docs read one row; other revisions' bodies sit in `revs`.
 *
 * WAL mode: readers never block the writer and see a snapshot per read
 * transaction.  synchronous=FULL fsyncs the WAL on every commit (durable
 * across power loss); NORMAL syncs only at checkpoints (durable across a
 * process kill, not a power loss).  Statements are prepared once per
 * connection and cached by index.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
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
    Q_BEGIN_READ,
    Q_BEGIN_WRITE,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_ROLLBACK_TO,
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
    [Q_BEGIN_READ] = "BEGIN",
    [Q_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT w",
    [Q_RELEASE] = "RELEASE w",
    [Q_ROLLBACK_TO] = "ROLLBACK TO w",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS docs(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " deleted INTEGER NOT NULL, tree BLOB NOT NULL, body BLOB, atts BLOB,"
    " conflicted INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS docs_conflicted ON docs(id) WHERE conflicted;"
    "CREATE TABLE IF NOT EXISTS revs(id TEXT NOT NULL, rev TEXT NOT NULL, body BLOB,"
    " atts BLOB, PRIMARY KEY(id, rev)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS atts(digest TEXT PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS local(id TEXT PRIMARY KEY, rev INTEGER NOT NULL,"
    " body BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "PRAGMA user_version = 1;";

/* The file format's version lives in SQLite's user_version: 1 is this
 * schema.  A newer file is refused rather than misread; a later settee
 * migrates older versions here.  Files without a version but with tables
 * come from development builds before the format was fixed. */
#define SCHEMA_VERSION 1

static st_status check_version(sqlite3 *db, const char *path, st_error *err)
{
    sqlite3_stmt *s = NULL;
    int version = 0, tables = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        tables = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (version > SCHEMA_VERSION)
        return st_fail(err, ST_E_IO, "%s was written by a newer settee (format %d)", path, version);
    if (version == 0 && tables > 0)
        return st_fail(err, ST_E_IO, "%s is not a settee database (or one from a development "
                       "build before format 1)", path);
    return ST_OK;
}

struct st_store {
    char *path;                /* database file */
    st_durability durability;  /* chosen at open, applied to each connection */
    unsigned cache_kib;        /* page cache per connection */
    int mmap_kib;              /* mmap per connection, -1 = off */
};

struct st_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[Q_COUNT]; /* prepared lazily */
};

static st_status sql_fail(sqlite3 *db, st_error *err, const char *what)
{
    int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
    if (code == SQLITE_NOMEM)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (code == SQLITE_FULL)
        return st_fail(err, ST_E_IO, "disk full");
    return st_fail(err, ST_E_IO, "storage error in %s: %s", what,
                   db ? sqlite3_errmsg(db) : "?");
}

static sqlite3_stmt *stmt(st_conn *c, int q)
{
    if (!c->stmt[q]) {
        if (sqlite3_prepare_v3(c->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[q],
                               NULL) != SQLITE_OK)
            return NULL;
    }
    return c->stmt[q];
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

st_status st_store_open(const char *path, const st_db_options *o, st_store **out,
                        st_error *err)
{
    bool create = o->create;
    *out = NULL;
    st_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    s->durability = o->durability;
    s->cache_kib = o->cache_kib;
    s->mmap_kib = o->mmap_kib;
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    st_status st = ST_OK;
    if (rc == SQLITE_CANTOPEN && !create) {
        st = st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
        goto out;
    }
    if (rc != SQLITE_OK) {
        st = sql_fail(db, err, "open");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    if ((st = check_version(db, path, err)) != ST_OK)
        goto out;
    /* auto_vacuum only takes before the file's first page is written, so
     * it goes before the switch to WAL (which writes the header). */
    if (sqlite3_exec(db, "PRAGMA auto_vacuum=INCREMENTAL", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        st = st_fail(err, ST_E_IO, "cannot initialise %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        goto out;
    }
    *out = s;
out:
    sqlite3_close(db);
    if (st != ST_OK) {
        free(s->path);
        free(s);
    }
    return st;
}

void st_store_close(st_store *s)
{
    if (!s)
        return;
    free(s->path);
    free(s);
}

st_status st_store_conn_open(st_store *s, st_conn **out, st_error *err)
{
    *out = NULL;
    st_conn *c = calloc(1, sizeof *c);
    if (!c)
        return st_fail(err, ST_E_NOMEM, "out of memory");
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
             s->durability == ST_DURABLE_NORMAL ? "NORMAL" : "FULL", s->cache_kib,
             s->mmap_kib < 0 ? 0LL : (long long)s->mmap_kib * 1024);
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
    sqlite3_close(c->db);
    free(c);
}

st_status st_store_read_begin(st_conn *c, st_error *err) { return exec_q(c, Q_BEGIN_READ, err); }
st_status st_store_read_end(st_conn *c) { return exec_q(c, Q_COMMIT, NULL); }
st_status st_store_write_begin(st_conn *c, st_error *err) { return exec_q(c, Q_BEGIN_WRITE, err); }
st_status st_store_commit(st_conn *c, st_error *err) { return exec_q(c, Q_COMMIT, err); }
void st_store_rollback(st_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        (void)exec_q(c, Q_ROLLBACK, NULL);
}
st_status st_store_savepoint(st_conn *c, st_error *err) { return exec_q(c, Q_SAVEPOINT, err); }
st_status st_store_savepoint_release(st_conn *c, st_error *err)
{
    return exec_q(c, Q_RELEASE, err);
}
void st_store_savepoint_rollback(st_conn *c)
{
    (void)exec_q(c, Q_ROLLBACK_TO, NULL);
    (void)exec_q(c, Q_RELEASE, NULL);
}

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
    bind_blob(s, 5, r->body.data ? r->body.data : "{}", r->body.data ? r->body.len : 2);
    bind_blob(s, 6, r->atts.len ? r->atts.data : NULL, r->atts.len);
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
    bind_blob(s, 3, body, body_len);
    bind_blob(s, 4, atts_len ? atts : NULL, atts_len);
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

st_status st_store_att_get(st_conn *c, const char *digest, st_buf *data, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_ATT_GET);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, digest, strlen(digest));
    int rc = sqlite3_step(s);
    st_status st = ST_OK;
    if (rc == SQLITE_ROW) {
        if ((st = col_copy(s, 0, data)) != ST_OK)
            st_fail(err, st, "attachment too large for the buffer");
    } else {
        st = rc == SQLITE_DONE ? st_fail(err, ST_E_NOT_FOUND, "missing attachment data")
                               : sql_fail(c->db, err, "att_get");
    }
    done(s);
    return st;
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
    bind_blob(s, 3, body, n);
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

st_status st_store_meta_get(st_conn *c, const char *key, int64_t *out, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_META_GET);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, key, strlen(key));
    int rc = sqlite3_step(s);
    st_status st = ST_OK;
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else
        st = rc == SQLITE_DONE ? ST_E_NOT_FOUND : sql_fail(c->db, err, "meta_get");
    done(s);
    return st;
}

st_status st_store_meta_set(st_conn *c, const char *key, int64_t v, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_META_SET);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, key, strlen(key));
    sqlite3_bind_int64(s, 2, v);
    return step_done(c, s, "meta_set", err);
}

st_status st_store_meta_get_text(st_conn *c, const char *key, st_buf *out, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_META_GET);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, key, strlen(key));
    int rc = sqlite3_step(s);
    st_status st = ST_OK;
    if (rc == SQLITE_ROW) {
        if ((st = col_copy(s, 0, out)) != ST_OK)
            st_fail(err, st, "out of memory");
    } else {
        st = rc == SQLITE_DONE ? ST_E_NOT_FOUND : sql_fail(c->db, err, "meta_get");
    }
    done(s);
    return st;
}

st_status st_store_meta_set_text(st_conn *c, const char *key, const char *v, st_error *err)
{
    sqlite3_stmt *s = stmt(c, Q_META_SET);
    if (!s)
        return sql_fail(c->db, err, "prepare");
    bind_text(s, 1, key, strlen(key));
    bind_text(s, 2, v, strlen(v));
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

st_status st_store_att_gc(st_conn *c, uint64_t *out_removed, st_error *err)
{
    /* Attachment metadata is JSON {"name":{"digest":...},...}; JSON1 lists
     * every digest still referenced by a winner or another stored revision. */
    static const char sql[] =
        "DELETE FROM atts WHERE digest NOT IN ("
        " SELECT j.value ->> '$.digest' FROM docs, json_each(docs.atts) AS j"
        "  WHERE docs.atts IS NOT NULL"
        " UNION SELECT j.value ->> '$.digest' FROM revs, json_each(revs.atts) AS j"
        "  WHERE revs.atts IS NOT NULL)";
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(c->db, err, "att_gc");
    if (out_removed)
        *out_removed = (uint64_t)sqlite3_changes64(c->db);
    return ST_OK;
}

st_status st_store_vacuum(st_conn *c, st_error *err)
{
    if (sqlite3_exec(c->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(c->db, err, "incremental_vacuum");
    if (sqlite3_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(c->db, err, "checkpoint");
    return ST_OK;
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
