/* store_sqlite_index.c — store.h's json indexes on SQLite: definitions in
 * mango_idx, entries in mango_keys(ix, key, id), a WITHOUT ROWID table
 * whose primary key is the index order.
 *
 * Why one table for every index instead of a table (or an expression
 * index) per index: no DDL at run time (a schema change would invalidate
 * every prepared statement of every connection, and a second backend
 * implements the same rows as one plain table), and an index's rows are
 * still one contiguous range of the b-tree, prefixed by ix.  Why entries
 * keyed by id rather than by sequence: a write that leaves the indexed
 * fields as they were leaves the entry as it was, and ties come out in id
 * order, as CouchDB's views give them.
 */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <string.h>

enum { S_DEFS, S_DEF_ADD, S_DEF_DROP, S_KEYS_DROP, S_PUT, S_DEL };

static const char *const sql_text[] = {
    [S_DEFS] = "SELECT ix, ddoc, name, def FROM mango_idx ORDER BY ddoc, name",
    [S_DEF_ADD] = "INSERT INTO mango_idx(ddoc, name, def) VALUES(?1, ?2, ?3)",
    [S_DEF_DROP] = "DELETE FROM mango_idx WHERE ix = ?1",
    [S_KEYS_DROP] = "DELETE FROM mango_keys WHERE ix = ?1",
    [S_PUT] = "INSERT OR REPLACE INTO mango_keys(ix, key, id) VALUES(?1, ?2, ?3)",
    [S_DEL] = "DELETE FROM mango_keys WHERE ix = ?1 AND key = ?2 AND id = ?3",
};

static sqlite3_stmt *get(st_conn *c, int q, st_error *err)
{
    sqlite3_stmt *s = st_sqlite_stmt(c, q, sql_text[q]);
    if (!s)
        st_sqlite_fail(st_sqlite_db(c), err, "prepare");
    return s;
}

static void done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static st_status step_done(st_conn *c, sqlite3_stmt *s, const char *what, st_error *err)
{
    int rc = sqlite3_step(s);
    done(s);
    return rc == SQLITE_DONE ? ST_OK : st_sqlite_fail(st_sqlite_db(c), err, what);
}

st_status st_store_index_defs(st_conn *c,
                              int (*fn)(void *ctx, int64_t ix, const char *ddoc,
                                        const char *name, const char *def),
                              void *ctx, st_error *err)
{
    sqlite3_stmt *s = get(c, S_DEFS, err);
    if (!s)
        return err ? err->code : ST_E_IO;
    int rc;
    st_status st = ST_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *ddoc = (const char *)sqlite3_column_text(s, 1);
        const char *name = (const char *)sqlite3_column_text(s, 2);
        const char *def = (const char *)sqlite3_column_text(s, 3);
        if (!ddoc || !name || !def) {
            st = st_fail(err, ST_E_NOMEM, "out of memory");
            break;
        }
        if (fn(ctx, sqlite3_column_int64(s, 0), ddoc, name, def))
            break;
    }
    if (st == ST_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = st_sqlite_fail(st_sqlite_db(c), err, "index_defs");
    done(s);
    return st;
}

st_status st_store_index_def_add(st_conn *c, const char *ddoc, const char *name,
                                 const char *def, int64_t *out_ix, st_error *err)
{
    sqlite3_stmt *s = get(c, S_DEF_ADD, err);
    if (!s)
        return err ? err->code : ST_E_IO;
    sqlite3_bind_text(s, 1, ddoc, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, def, -1, SQLITE_STATIC);
    st_status st = step_done(c, s, "index_def_add", err);
    if (st == ST_OK)
        *out_ix = sqlite3_last_insert_rowid(st_sqlite_db(c));
    return st;
}

st_status st_store_index_def_drop(st_conn *c, int64_t ix, st_error *err)
{
    sqlite3_stmt *k = get(c, S_KEYS_DROP, err);
    if (!k)
        return err ? err->code : ST_E_IO;
    sqlite3_bind_int64(k, 1, ix);
    st_status st = step_done(c, k, "index_drop", err);
    sqlite3_stmt *d = st == ST_OK ? get(c, S_DEF_DROP, err) : NULL;
    if (st != ST_OK || !d)
        return st != ST_OK ? st : (err ? err->code : ST_E_IO);
    sqlite3_bind_int64(d, 1, ix);
    return step_done(c, d, "index_def_drop", err);
}

static st_status entry(st_conn *c, int q, int64_t ix, const void *key, size_t key_len,
                       const char *id, st_error *err)
{
    sqlite3_stmt *s = get(c, q, err);
    if (!s)
        return err ? err->code : ST_E_IO;
    sqlite3_bind_int64(s, 1, ix);
    sqlite3_bind_blob(s, 2, key_len ? key : "", (int)key_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, id, -1, SQLITE_STATIC);
    return step_done(c, s, q == S_PUT ? "index_put" : "index_del", err);
}

st_status st_store_index_put(st_conn *c, int64_t ix, const void *key, size_t key_len,
                             const char *id, st_error *err)
{
    return entry(c, S_PUT, ix, key, key_len, id, err);
}

st_status st_store_index_del(st_conn *c, int64_t ix, const void *key, size_t key_len,
                             const char *id, st_error *err)
{
    return entry(c, S_DEL, ix, key, key_len, id, err);
}

st_status st_store_index_scan(st_conn *c, int64_t ix, const st_index_range *r,
                              st_index_row_fn fn, void *ctx, st_error *err)
{
    /* Built per call: which bounds are present varies, and one prepare is
     * small next to a range read.  The join reads each document's row by
     * its id, the way the unique index on docs.id is meant to be used. */
    char sql[512];
    const char *dir = r->descending ? "DESC" : "ASC";
    snprintf(sql, sizeof sql,
             "SELECT k.key, d.seq, d.id, d.deleted, d.tree, d.body, d.atts"
             " FROM mango_keys k JOIN docs d ON d.id = k.id"
             " WHERE k.ix = ?1%s%s%s ORDER BY k.key %s, k.id %s LIMIT ?7",
             r->lo ? " AND k.key >= ?2" : "", r->hi ? " AND k.key < ?3" : "",
             r->after_id ? (r->descending ? " AND (k.key, k.id) < (?4, ?5)"
                                          : " AND (k.key, k.id) > (?4, ?5)")
                         : "",
             dir, dir);
    sqlite3 *db = st_sqlite_db(c);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return st_sqlite_fail(db, err, "prepare");
    sqlite3_bind_int64(s, 1, ix);
    if (r->lo)
        sqlite3_bind_blob(s, 2, r->lo_len ? r->lo : "", (int)r->lo_len, SQLITE_STATIC);
    if (r->hi)
        sqlite3_bind_blob(s, 3, r->hi_len ? r->hi : "", (int)r->hi_len, SQLITE_STATIC);
    if (r->after_id) {
        sqlite3_bind_blob(s, 4, r->after_len ? r->after_key : "", (int)r->after_len,
                          SQLITE_STATIC);
        sqlite3_bind_text(s, 5, r->after_id, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 7, r->limit && r->limit < INT64_MAX ? (sqlite3_int64)r->limit : -1);
    st_status st = ST_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        st_row_view v = {0};
        const void *key = sqlite3_column_blob(s, 0);
        size_t key_len = (size_t)sqlite3_column_bytes(s, 0);
        v.seq = (uint64_t)sqlite3_column_int64(s, 1);
        v.id = (const char *)sqlite3_column_text(s, 2);
        v.deleted = sqlite3_column_int(s, 3) != 0;
        v.tree = sqlite3_column_blob(s, 4);
        v.tree_len = (size_t)sqlite3_column_bytes(s, 4);
        v.body = sqlite3_column_blob(s, 5);
        v.body_len = (size_t)sqlite3_column_bytes(s, 5);
        v.atts = sqlite3_column_blob(s, 6);
        v.atts_len = (size_t)sqlite3_column_bytes(s, 6);
        if (!v.id) {
            st = st_fail(err, ST_E_NOMEM, "out of memory");
            break;
        }
        if (fn(ctx, key ? key : "", key_len, &v))
            break;
    }
    if (st == ST_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = st_sqlite_fail(db, err, "index_scan");
    sqlite3_finalize(s);
    return st;
}
