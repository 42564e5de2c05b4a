/* store_sqlite_view.c — view_store.h on SQLite: one file per index.
 *
 * Why these settings: an index is derived data, rebuilt from the database
 * whenever it is lost, so its file runs with synchronous=NORMAL (WAL
 * keeps it consistent across a crash; a power cut may only lose its last
 * commits, which the updater then redoes).  Tables are WITHOUT ROWID,
 * clustered on their keys: a key range of a view is one b-tree range.
 * Open bounds are the empty blob (below every position) and X'FF' (above
 * every position: positions start with a type tag below 0x80).
 */
#include "store_sqlite_int.h"
#include "view_store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_SUFFIX ".view"
#define FORMAT 1

static const unsigned char top_bound[1] = {0xFF};

struct st_vfile {
    char *path;
};

enum {
    V_META_GET,
    V_META_SET,
    V_IDS_GET,
    V_IDS_PUT,
    V_IDS_DEL,
    V_ROW_PUT,
    V_ROW_DEL,
    V_ROW_ASC,
    V_ROW_DESC,
    V_ROW_COUNT,
    V_BLK_PUT,
    V_BLK_DEL,
    V_BLK_ASC,
    V_BLK_DESC,
    V_BLK_FIND,
    V_BLK_NEXT,
    V_BLK_TOP,
    V_BLK_COUNT,
    V_BLK_CLEAR,
    V_BEGIN_READ,
    V_BEGIN_WRITE,
    V_COMMIT,
    V_ROLLBACK,
    V_IDS_PUT_N,              /* VPUT_MULTI id lists in one statement */
    V_COUNT
};

/* Why several id lists a statement: they mostly go in at the end of the
 * table (documents come in sequence order, often id order), where a
 * statement's own cost (start, cursor, end, reset) is most of an insert's.
 * Rows are not: they go all over their table, and a multi-row statement
 * then keeps a statement journal of every page it touches, which cost
 * more than the statements saved. */
#define VPUT_MULTI 32

static const char *const vsql[V_COUNT] = {
    [V_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [V_META_SET] = "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)",
    [V_IDS_GET] = "SELECT keys FROM ids WHERE doc = ?1",
    [V_IDS_PUT] = "INSERT OR REPLACE INTO ids(doc, keys) VALUES(?1, ?2)",
    [V_IDS_DEL] = "DELETE FROM ids WHERE doc = ?1",
    [V_ROW_PUT] = "INSERT OR REPLACE INTO rows(view, pos, doc, key, value) VALUES(?1,?2,?3,?4,?5)",
    [V_ROW_DEL] = "DELETE FROM rows WHERE view = ?1 AND pos = ?2",
    [V_ROW_ASC] = "SELECT pos, doc, key, value FROM rows WHERE view = ?1 AND pos >= ?2 AND pos < ?3"
                  " ORDER BY pos LIMIT -1 OFFSET ?4",
    [V_ROW_DESC] = "SELECT pos, doc, key, value FROM rows WHERE view = ?1 AND pos >= ?2 AND pos < ?3"
                   " ORDER BY pos DESC LIMIT -1 OFFSET ?4",
    [V_ROW_COUNT] = "SELECT count(*) FROM rows WHERE view = ?1 AND pos >= ?2 AND pos < ?3",
    [V_BLK_PUT] = "INSERT OR REPLACE INTO blocks(view, lvl, lo, n, minp, maxp, mink, red)"
                  " VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [V_BLK_DEL] = "DELETE FROM blocks WHERE view = ?1 AND lvl = ?2 AND lo = ?3",
    [V_BLK_ASC] = "SELECT lo, n, minp, maxp, mink, red FROM blocks WHERE view = ?1 AND lvl = ?2"
                  " AND lo >= ?3 AND lo < ?4 ORDER BY lo",
    [V_BLK_DESC] = "SELECT lo, n, minp, maxp, mink, red FROM blocks WHERE view = ?1 AND lvl = ?2"
                   " AND lo >= ?3 AND lo < ?4 ORDER BY lo DESC",
    [V_BLK_FIND] = "SELECT lo, n, minp, maxp, mink, red FROM blocks WHERE view = ?1 AND lvl = ?2"
                   " AND lo <= ?3 ORDER BY lo DESC LIMIT 1",
    [V_BLK_NEXT] = "SELECT lo FROM blocks WHERE view = ?1 AND lvl = ?2 AND lo > ?3 ORDER BY lo"
                   " LIMIT 1",
    [V_BLK_TOP] = "SELECT max(lvl) FROM blocks WHERE view = ?1",
    [V_BLK_COUNT] = "SELECT count(*) FROM blocks WHERE view = ?1 AND lvl = ?2",
    [V_BLK_CLEAR] = "DELETE FROM blocks WHERE view = ?1",
    [V_BEGIN_READ] = "BEGIN",
    [V_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [V_COMMIT] = "COMMIT",
    [V_ROLLBACK] = "ROLLBACK",
    [V_IDS_PUT_N] = "INSERT OR REPLACE INTO ids(doc, keys) VALUES",
};

static const char vschema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS ids(doc TEXT PRIMARY KEY, keys BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rows(view INTEGER NOT NULL, pos BLOB NOT NULL, doc TEXT NOT NULL,"
    " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(view, pos)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS blocks(view INTEGER NOT NULL, lvl INTEGER NOT NULL,"
    " lo BLOB NOT NULL, n INTEGER NOT NULL, minp BLOB, maxp BLOB, mink TEXT, red TEXT,"
    " PRIMARY KEY(view, lvl, lo)) WITHOUT ROWID;";

struct st_vconn {
    sqlite3 *db;
    sqlite3_stmt *stmt[V_COUNT];
};

/* ---- files -------------------------------------------------------------- */

static char *dir_of(const char *db_path) { return st_store_views_dir(db_path); }

static char *file_of(const char *db_path, const char *sig)
{
    size_t n = strlen(db_path) + sizeof VIEWS_DIR_SUFFIX + strlen(sig) + sizeof FILE_SUFFIX + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s/%s%s", db_path, VIEWS_DIR_SUFFIX, sig, FILE_SUFFIX);
    return p;
}

static bool sig_ok(const char *sig)
{
    size_t n = strlen(sig);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((sig[i] >= '0' && sig[i] <= '9') || (sig[i] >= 'a' && sig[i] <= 'f')))
            return false;
    return true;
}

static st_status init_file(const char *path, st_error *err)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    st_status st = ST_OK;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        st = st_sqlite_fail(db, err, "open index");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *s = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (version == FORMAT)
        goto out;
    if (version > FORMAT) {
        st = st_fail(err, ST_E_IO, "%s was written by a newer settee", path);
        goto out;
    }
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, vschema, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA user_version = 1; COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        st = sqlite3_errcode(db) == SQLITE_FULL
                 ? st_fail(err, ST_E_DISK_FULL, "No space left on device.")
                 : st_fail(err, ST_E_IO, "cannot initialise %s: %s", path, msg ? msg : "?");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_free(msg);
out:
    sqlite3_close(db);
    return st;
}

st_status st_vfile_open(st_store *db, const char *sig, st_vfile **out, st_error *err)
{
    *out = NULL;
    st_sqlite_global_init();
    if (!sig_ok(sig))
        return st_fail(err, ST_E_MISUSE, "bad index signature");
    char *dir = dir_of(db->path);
    st_vfile *f = calloc(1, sizeof *f);
    if (!dir || !f || !(f->path = file_of(db->path, sig))) {
        free(dir);
        free(f);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    st_status st = ST_OK;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        st = st_fail(err, errno == ENOSPC ? ST_E_DISK_FULL : ST_E_IO,
                     "cannot create the index directory: %s", strerror(errno));
    free(dir);
    if (st == ST_OK)
        st = init_file(f->path, err);
    if (st != ST_OK) {
        st_vfile_close(f);
        return st;
    }
    *out = f;
    return ST_OK;
}

void st_vfile_close(st_vfile *f)
{
    if (!f)
        return;
    free(f->path);
    free(f);
}

st_status st_vfile_list(st_store *db, char ***out, size_t *n, st_error *err)
{
    *out = NULL;
    *n = 0;
    char *dir = dir_of(db->path);
    if (!dir)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    DIR *d = opendir(dir);
    free(dir);
    if (!d)
        return ST_OK; /* no index yet */
    char **v = NULL;
    size_t cap = 0;
    st_status st = ST_OK;
    struct dirent *e;
    while (st == ST_OK && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), sl = strlen(FILE_SUFFIX);
        if (len <= sl || strcmp(e->d_name + len - sl, FILE_SUFFIX) != 0)
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **g = realloc(v, nc * sizeof *g);
            if (!g) {
                st = st_fail(err, ST_E_NOMEM, "out of memory");
                break;
            }
            v = g;
            cap = nc;
        }
        if (!(v[*n] = strndup(e->d_name, len - sl)))
            st = st_fail(err, ST_E_NOMEM, "out of memory");
        else
            (*n)++;
    }
    closedir(d);
    if (st != ST_OK) {
        st_store_names_free(v, *n);
        *n = 0;
        return st;
    }
    *out = v;
    return ST_OK;
}

st_status st_vfile_remove(st_store *db, const char *sig, st_error *err)
{
    if (!sig_ok(sig))
        return st_fail(err, ST_E_MISUSE, "bad index signature");
    char *p = file_of(db->path, sig);
    if (!p)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_store_unlink_files(p);
    free(p);
    return ST_OK;
}

/* ---- connections -------------------------------------------------------- */

st_status st_vconn_open(st_vfile *f, st_vconn **out, st_error *err)
{
    *out = NULL;
    st_vconn *c = calloc(1, sizeof *c);
    if (!c)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (sqlite3_open_v2(f->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db,
                     "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8192; PRAGMA temp_store=MEMORY;"
                     " PRAGMA mmap_size=268435456",
                     NULL, NULL, NULL) != SQLITE_OK) {
        st_status st = st_sqlite_fail(c->db, err, "open index");
        sqlite3_close(c->db);
        free(c);
        return st;
    }
    sqlite3_busy_timeout(c->db, 10000);
    *out = c;
    return ST_OK;
}

void st_vconn_close(st_vconn *c)
{
    if (!c)
        return;
    for (int i = 0; i < V_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close(c->db);
    free(c);
}

/* The SQL of statement q: the multi-row insert is its head and VPUT_MULTI
 * tuples. */
static const char *sql_of(int q, char *buf, size_t cap)
{
    if (q != V_IDS_PUT_N)
        return vsql[q];
    size_t o = (size_t)snprintf(buf, cap, "%s", vsql[q]);
    for (unsigned i = 0; i < VPUT_MULTI && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s(?,?)", i ? "," : "");
    return o < cap ? buf : NULL;
}

static sqlite3_stmt *vstmt(st_vconn *c, int q)
{
    char buf[512];
    const char *sql = c->stmt[q] ? NULL : sql_of(q, buf, sizeof buf);
    if (!c->stmt[q] && (!sql || sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                                   &c->stmt[q], NULL) != SQLITE_OK))
        return NULL;
    return c->stmt[q];
}

static void vdone(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static st_status vfail(st_vconn *c, st_error *err, int q)
{
    return st_sqlite_fail(c->db, err, vsql[q]);
}

/* Run statement q, already bound, that returns no rows. */
static st_status vexec(st_vconn *c, sqlite3_stmt *s, int q, st_error *err)
{
    int rc = sqlite3_step(s);
    st_status st = rc == SQLITE_DONE ? ST_OK : vfail(c, err, q);
    vdone(s);
    return st;
}

static st_status vsimple(st_vconn *c, int q, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, q);
    return s ? vexec(c, s, q, err) : vfail(c, err, q);
}

st_status st_vconn_read_begin(st_vconn *c, st_error *err) { return vsimple(c, V_BEGIN_READ, err); }
void st_vconn_read_end(st_vconn *c) { (void)vsimple(c, V_COMMIT, NULL); }
st_status st_vconn_write_begin(st_vconn *c, st_error *err) { return vsimple(c, V_BEGIN_WRITE, err); }
st_status st_vconn_commit(st_vconn *c, st_error *err) { return vsimple(c, V_COMMIT, err); }
void st_vconn_rollback(st_vconn *c) { (void)vsimple(c, V_ROLLBACK, NULL); }

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

st_status st_vconn_size(st_vconn *c, uint64_t *file, uint64_t *active, st_error *err)
{
    (void)err;
    int64_t ps = pragma_int(c->db, "PRAGMA page_size");
    int64_t pc = pragma_int(c->db, "PRAGMA page_count");
    int64_t fl = pragma_int(c->db, "PRAGMA freelist_count");
    *file = (uint64_t)(ps * pc);
    *active = (uint64_t)(ps * (pc - fl));
    return ST_OK;
}

st_status st_vconn_vacuum(st_vconn *c, st_error *err)
{
    if (sqlite3_exec(c->db, "VACUUM; PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) !=
        SQLITE_OK)
        return st_sqlite_fail(c->db, err, "compact index");
    return ST_OK;
}

/* ---- meta and ids --------------------------------------------------------- */

static st_status get_one(st_vconn *c, int q, const char *key, st_buf *out, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, q);
    if (!s)
        return vfail(c, err, q);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    st_status st = ST_OK;
    st_buf_reset(out);
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(s, 0);
        int n = sqlite3_column_bytes(s, 0);
        if (st_buf_add(out, p ? p : "", (size_t)n) != ST_OK)
            st = st_fail(err, ST_E_NOMEM, "out of memory");
    } else {
        st = rc == SQLITE_DONE ? ST_E_NOT_FOUND : vfail(c, err, q);
    }
    vdone(s);
    return st;
}

st_status st_vmeta_get(st_vconn *c, const char *key, st_buf *out, st_error *err)
{
    return get_one(c, V_META_GET, key, out, err);
}

st_status st_vmeta_set(st_vconn *c, const char *key, const char *v, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_META_SET);
    if (!s)
        return vfail(c, err, V_META_SET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, v, -1, SQLITE_STATIC);
    return vexec(c, s, V_META_SET, err);
}

st_status st_vids_get(st_vconn *c, const char *doc, st_buf *out, st_error *err)
{
    return get_one(c, V_IDS_GET, doc, out, err);
}

st_status st_vids_put(st_vconn *c, const char *doc, const void *keys, size_t n, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_IDS_PUT);
    if (!s)
        return vfail(c, err, V_IDS_PUT);
    sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(s, 2, keys, n, SQLITE_STATIC);
    return vexec(c, s, V_IDS_PUT, err);
}

st_status st_vids_put_many(st_vconn *c, const st_vids_item *ids, size_t n, st_error *err)
{
    st_status st = ST_OK;
    size_t i = 0;
    for (; st == ST_OK && n - i >= VPUT_MULTI; i += VPUT_MULTI) {
        sqlite3_stmt *s = vstmt(c, V_IDS_PUT_N);
        if (!s)
            return vfail(c, err, V_IDS_PUT_N);
        for (int k = 0; k < VPUT_MULTI; k++) {
            sqlite3_bind_text(s, 2 * k + 1, ids[i + k].doc, -1, SQLITE_STATIC);
            sqlite3_bind_blob64(s, 2 * k + 2, ids[i + k].keys, ids[i + k].n, SQLITE_STATIC);
        }
        st = vexec(c, s, V_IDS_PUT_N, err);
    }
    for (; st == ST_OK && i < n; i++)
        st = st_vids_put(c, ids[i].doc, ids[i].keys, ids[i].n, err);
    return st;
}

st_status st_vids_del(st_vconn *c, const char *doc, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_IDS_DEL);
    if (!s)
        return vfail(c, err, V_IDS_DEL);
    sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
    return vexec(c, s, V_IDS_DEL, err);
}

/* ---- rows ------------------------------------------------------------------ */

/* A zero-length blob binds as an empty BLOB (not NULL) even from NULL. */
static void bind_bound(sqlite3_stmt *s, int i, const void *p, size_t n, bool upper)
{
    if (!p)
        sqlite3_bind_blob(s, i, upper ? top_bound : (const void *)"", upper ? 1 : 0, SQLITE_STATIC);
    else
        sqlite3_bind_blob64(s, i, n ? p : (const void *)"", n, SQLITE_STATIC);
}

st_status st_vrow_put(st_vconn *c, unsigned view, const st_vrow *row, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_ROW_PUT);
    if (!s)
        return vfail(c, err, V_ROW_PUT);
    sqlite3_bind_int(s, 1, (int)view);
    sqlite3_bind_blob64(s, 2, row->pos, row->pos_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, row->doc, -1, SQLITE_STATIC);
    sqlite3_bind_text64(s, 4, row->key, row->key_len, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_text64(s, 5, row->value, row->value_len, SQLITE_STATIC, SQLITE_UTF8);
    return vexec(c, s, V_ROW_PUT, err);
}

st_status st_vrow_del(st_vconn *c, unsigned view, const void *pos, size_t n, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_ROW_DEL);
    if (!s)
        return vfail(c, err, V_ROW_DEL);
    sqlite3_bind_int(s, 1, (int)view);
    sqlite3_bind_blob64(s, 2, pos, n, SQLITE_STATIC);
    return vexec(c, s, V_ROW_DEL, err);
}

st_status st_vrow_scan(st_vconn *c, unsigned view, const void *lo, size_t lo_n, const void *hi,
                       size_t hi_n, bool descending, uint64_t skip, st_vrow_fn fn, void *ctx,
                       st_error *err)
{
    int q = descending ? V_ROW_DESC : V_ROW_ASC;
    sqlite3_stmt *s = vstmt(c, q);
    if (!s)
        return vfail(c, err, q);
    sqlite3_bind_int(s, 1, (int)view);
    bind_bound(s, 2, lo, lo_n, false);
    bind_bound(s, 3, hi, hi_n, true);
    sqlite3_bind_int64(s, 4, skip > INT64_MAX ? INT64_MAX : (sqlite3_int64)skip);
    st_status st = ST_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        st_vrow r = {
            .pos = sqlite3_column_blob(s, 0),
            .pos_len = (size_t)sqlite3_column_bytes(s, 0),
            .doc = (const char *)sqlite3_column_text(s, 1),
            .key = (const char *)sqlite3_column_text(s, 2),
            .key_len = (size_t)sqlite3_column_bytes(s, 2),
            .value = (const char *)sqlite3_column_text(s, 3),
            .value_len = (size_t)sqlite3_column_bytes(s, 3),
        };
        if (!r.doc || !r.key || !r.value) {
            st = st_fail(err, ST_E_NOMEM, "out of memory");
            break;
        }
        if (fn(ctx, &r))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = vfail(c, err, q);
    vdone(s);
    return st;
}

st_status st_vrow_count(st_vconn *c, unsigned view, const void *lo, size_t lo_n, const void *hi,
                        size_t hi_n, uint64_t *out, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_ROW_COUNT);
    if (!s)
        return vfail(c, err, V_ROW_COUNT);
    sqlite3_bind_int(s, 1, (int)view);
    bind_bound(s, 2, lo, lo_n, false);
    bind_bound(s, 3, hi, hi_n, true);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    st_status st = rc == SQLITE_ROW ? ST_OK : vfail(c, err, V_ROW_COUNT);
    vdone(s);
    return st;
}

/* ---- blocks ---------------------------------------------------------------- */

st_status st_vblock_put(st_vconn *c, unsigned view, unsigned lvl, const st_vblock *b,
                        st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_BLK_PUT);
    if (!s)
        return vfail(c, err, V_BLK_PUT);
    sqlite3_bind_int(s, 1, (int)view);
    sqlite3_bind_int(s, 2, (int)lvl);
    bind_bound(s, 3, b->lo, b->lo_len, false);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)b->n);
    if (b->minp) {
        sqlite3_bind_blob64(s, 5, b->minp, b->minp_len, SQLITE_STATIC);
        sqlite3_bind_blob64(s, 6, b->maxp, b->maxp_len, SQLITE_STATIC);
    }
    if (b->mink)
        sqlite3_bind_text64(s, 7, b->mink, b->mink_len, SQLITE_STATIC, SQLITE_UTF8);
    if (b->red)
        sqlite3_bind_text64(s, 8, b->red, b->red_len, SQLITE_STATIC, SQLITE_UTF8);
    return vexec(c, s, V_BLK_PUT, err);
}

st_status st_vblock_del(st_vconn *c, unsigned view, unsigned lvl, const void *lo, size_t n,
                        st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_BLK_DEL);
    if (!s)
        return vfail(c, err, V_BLK_DEL);
    sqlite3_bind_int(s, 1, (int)view);
    sqlite3_bind_int(s, 2, (int)lvl);
    bind_bound(s, 3, lo, n, false);
    return vexec(c, s, V_BLK_DEL, err);
}

static void block_of(sqlite3_stmt *s, st_vblock *b)
{
    b->lo = sqlite3_column_blob(s, 0);
    b->lo_len = (size_t)sqlite3_column_bytes(s, 0);
    b->n = (uint64_t)sqlite3_column_int64(s, 1);
    b->minp = sqlite3_column_blob(s, 2);
    b->minp_len = (size_t)sqlite3_column_bytes(s, 2);
    b->maxp = sqlite3_column_blob(s, 3);
    b->maxp_len = (size_t)sqlite3_column_bytes(s, 3);
    b->mink = (const char *)sqlite3_column_text(s, 4);
    b->mink_len = (size_t)sqlite3_column_bytes(s, 4);
    b->red = (const char *)sqlite3_column_text(s, 5);
    b->red_len = (size_t)sqlite3_column_bytes(s, 5);
}

static st_status blocks_step(st_vconn *c, sqlite3_stmt *s, int q, st_vblock_fn fn, void *ctx,
                             bool *found, st_error *err)
{
    int rc;
    st_status st = ST_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        st_vblock b;
        block_of(s, &b);
        if (found)
            *found = true;
        if (fn(ctx, &b))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = vfail(c, err, q);
    vdone(s);
    return st;
}

st_status st_vblock_scan(st_vconn *c, unsigned view, unsigned lvl, const void *from,
                         size_t from_n, const void *to, size_t to_n, bool descending,
                         st_vblock_fn fn, void *ctx, st_error *err)
{
    int q = descending ? V_BLK_DESC : V_BLK_ASC;
    sqlite3_stmt *s = vstmt(c, q);
    if (!s)
        return vfail(c, err, q);
    sqlite3_bind_int(s, 1, (int)view);
    sqlite3_bind_int(s, 2, (int)lvl);
    bind_bound(s, 3, from, from_n, false);
    bind_bound(s, 4, to, to_n, true);
    return blocks_step(c, s, q, fn, ctx, NULL, err);
}

st_status st_vblock_find(st_vconn *c, unsigned view, unsigned lvl, const void *pos, size_t n,
                         st_vblock_fn fn, void *ctx, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_BLK_FIND);
    if (!s)
        return vfail(c, err, V_BLK_FIND);
    sqlite3_bind_int(s, 1, (int)view);
    sqlite3_bind_int(s, 2, (int)lvl);
    bind_bound(s, 3, pos, n, false);
    bool found = false;
    st_status st = blocks_step(c, s, V_BLK_FIND, fn, ctx, &found, err);
    return st == ST_OK && !found ? ST_E_NOT_FOUND : st;
}

st_status st_vblock_next(st_vconn *c, unsigned view, unsigned lvl, const void *after,
                         size_t n, st_buf *out, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_BLK_NEXT);
    if (!s)
        return vfail(c, err, V_BLK_NEXT);
    sqlite3_bind_int(s, 1, (int)view);
    sqlite3_bind_int(s, 2, (int)lvl);
    bind_bound(s, 3, after, n, false);
    int rc = sqlite3_step(s);
    st_status st = ST_OK;
    st_buf_reset(out);
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(s, 0);
        if (st_buf_add(out, p ? p : "", (size_t)sqlite3_column_bytes(s, 0)) != ST_OK)
            st = st_fail(err, ST_E_NOMEM, "out of memory");
    } else {
        st = rc == SQLITE_DONE ? ST_E_NOT_FOUND : vfail(c, err, V_BLK_NEXT);
    }
    vdone(s);
    return st;
}

static st_status count_q(st_vconn *c, int q, unsigned view, int lvl, uint64_t *out,
                         st_error *err)
{
    sqlite3_stmt *s = vstmt(c, q);
    if (!s)
        return vfail(c, err, q);
    sqlite3_bind_int(s, 1, (int)view);
    if (lvl >= 0)
        sqlite3_bind_int(s, 2, lvl);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    st_status st = rc == SQLITE_ROW ? ST_OK : vfail(c, err, q);
    vdone(s);
    return st;
}

st_status st_vblock_top(st_vconn *c, unsigned view, unsigned *out, st_error *err)
{
    uint64_t v = 0;
    st_status st = count_q(c, V_BLK_TOP, view, -1, &v, err);
    *out = (unsigned)v;
    return st;
}

st_status st_vblock_count(st_vconn *c, unsigned view, unsigned lvl, uint64_t *out,
                          st_error *err)
{
    return count_q(c, V_BLK_COUNT, view, (int)lvl, out, err);
}

st_status st_vblock_clear(st_vconn *c, unsigned view, st_error *err)
{
    sqlite3_stmt *s = vstmt(c, V_BLK_CLEAR);
    if (!s)
        return vfail(c, err, V_BLK_CLEAR);
    sqlite3_bind_int(s, 1, (int)view);
    return vexec(c, s, V_BLK_CLEAR, err);
}
