/* store_files.c — SQLite databases as files: the root directory, names to
 * file names, create/open/delete/list, the schema and its versions, and
 * online backups.
 *
 * File names encode the database name so any valid name (which may contain
 * '/', '$', '(' ...) maps to one flat, shell-safe file: bytes outside
 * [a-z0-9_-] become %XX (st_pct.h), and ".settee" follows.
 *
 * Why create makes the file itself: SQLite creates its -wal and -shm files
 * with the main file's permissions, so creating the main file first with
 * O_EXCL and the configured mode (0600 by default) makes all three private.
 * The file is made under a temporary name and published with link(), so
 * it appears complete or not at all: two racing creates come out as one
 * 201 and one 412, a concurrent open never sees half a schema, and a
 * create that fails (disk full) leaves nothing behind for a retry to be
 * told exists.
 */
#include "store_sqlite_int.h"
#include "st_pct.h"
#include "st_utf8.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUFFIX ".settee"

struct st_store_root {
    char *dir;
    st_store_options opts;
};

void st_store_options_init(st_store_options *o)
{
    memset(o, 0, sizeof *o);
    o->durable_full = true;
    o->cache_kib = 16384;
    o->mmap_kib = 262144;
    o->file_mode = 0600;
}

static void fill_defaults(st_store_options *o)
{
    if (o->cache_kib == 0)
        o->cache_kib = 16384;
    if (o->mmap_kib == 0)
        o->mmap_kib = 262144;
    if (o->file_mode == 0)
        o->file_mode = 0600;
}

/* ------------------------------------------------------------ the schema */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS docs(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " deleted INTEGER NOT NULL, tree BLOB NOT NULL, body TEXT, atts TEXT,"
    " conflicted INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS docs_conflicted ON docs(id) WHERE conflicted;"
    "CREATE TABLE IF NOT EXISTS revs(id TEXT NOT NULL, rev TEXT NOT NULL, body TEXT,"
    " atts TEXT, PRIMARY KEY(id, rev)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS atts(digest TEXT PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS local(id TEXT PRIMARY KEY, rev INTEGER NOT NULL,"
    " body TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS mango_idx(ix INTEGER PRIMARY KEY, ddoc TEXT NOT NULL,"
    " name TEXT NOT NULL, def TEXT NOT NULL, UNIQUE(ddoc, name));"
    "CREATE TABLE IF NOT EXISTS mango_keys(ix INTEGER NOT NULL, key BLOB NOT NULL,"
    " id TEXT NOT NULL, PRIMARY KEY(ix, key, id)) WITHOUT ROWID;";

/* The file format's version lives in SQLite's user_version.
 *   1: JSON columns written as BLOBs.
 *   2: JSON columns are TEXT (what SQLite's JSON functions and expression
 *      indexes expect); opening a version-1 file converts it in place.
 *   3: json indexes (mango_idx, mango_keys) kept current by every write;
 *      a version-2 file gets the empty tables.  A version-2 settee must not
 *      write a file that has indexes (it would leave them stale), hence
 *      the new version even though nothing older changed.
 *   4: every document id, _local id and attachment name is UTF-8.  Before
 *      it, ids and attachment names taken from URLs were stored as bytes
 *      (PUT /db/%ff answered 201), which made every answer listing them
 *      invalid JSON and a sync of the database retry forever.  Opening an
 *      older file repairs them (repair_utf8 below).
 * A newer file is refused rather than misread.  Files without a version
 * but with tables come from development builds before format 1. */
#define SCHEMA_VERSION 4
#define STR_(x) #x
#define STR(x) STR_(x)

static const char migrate_1_to_2[] =
    "UPDATE docs SET body = CAST(body AS TEXT) WHERE typeof(body) = 'blob';"
    "UPDATE docs SET atts = CAST(atts AS TEXT) WHERE typeof(atts) = 'blob';"
    "UPDATE revs SET body = CAST(body AS TEXT) WHERE typeof(body) = 'blob';"
    "UPDATE revs SET atts = CAST(atts AS TEXT) WHERE typeof(atts) = 'blob';"
    "UPDATE local SET body = CAST(body AS TEXT) WHERE typeof(body) = 'blob';"
    "UPDATE meta SET v = CAST(v AS TEXT) WHERE typeof(v) = 'blob';";

static int query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The first column of sql's first row with ?1 bound to t, or 0. */
static int query_int_text(sqlite3 *db, const char *sql, const char *t)
{
    sqlite3_stmt *s = NULL;
    int v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static st_status exec(sqlite3 *db, const char *sql, const char *path, st_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return ST_OK;
    st_status st = sqlite3_errcode(db) == SQLITE_NOMEM ? st_fail(err, ST_E_NOMEM, "out of memory")
                   : st_sqlite_disk_full(db) ? st_fail(err, ST_E_DISK_FULL, "No space left on device.")
                   : st_fail(err, ST_E_IO, "cannot initialise %s: %s", path, msg ? msg : "?");
    sqlite3_free(msg);
    return st;
}

/* ------------------------------------------------- format 4: UTF-8 repair
 *
 * Why repair rather than refuse: refusing the file would lock away every
 * valid document for a few bad ids.  Each invalid byte becomes U+FFFD
 * (st_utf8_repair), so the document is listed, read, replicated and
 * deleted under the id shown; an id that then collides with an existing
 * one gets "-<seq>" appended.  Bodies came through the JSON parser and are
 * UTF-8 already; attachment metadata (JSON text whose names came from
 * URLs) is repaired byte for byte, which keeps it JSON.  Sequences stay:
 * no peer can have copied such a document except a local file replica,
 * which the same repair renames the same way.  What was renamed is
 * written to stderr once, at that open. */

static void fn_utf8_bad(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const void *p = sqlite3_value_blob(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    sqlite3_result_int(cx, sqlite3_value_type(argv[0]) == SQLITE_TEXT && n > 0 &&
                               !st_utf8_valid(p, (size_t)n));
}

static void fn_utf8_fix(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const void *p = sqlite3_value_blob(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    st_buf b = ST_BUF_INIT;
    if (st_utf8_repair(&b, p ? p : "", (size_t)n) != ST_OK || b.len > INT32_MAX) {
        st_buf_free(&b);
        sqlite3_result_error_nomem(cx);
        return;
    }
    sqlite3_result_text(cx, b.data ? b.data : "", (int)b.len, free);
}

/* One statement with text/integer bindings stepped to its end. */
static int run1(sqlite3 *db, const char *sql, const char *t1, sqlite3_int64 i2, const char *t3)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && t1)
        sqlite3_bind_text(st, 1, t1, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK && i2)
        sqlite3_bind_int64(st, 2, i2);
    if (rc == SQLITE_OK && t3)
        sqlite3_bind_text(st, 3, t3, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Whether id is taken in table (docs or local). */
static bool id_taken(sqlite3 *db, const char *table, const char *id)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = ?1", table);
    return query_int_text(db, sql, id) != 0;
}

/* Rename the rows of table whose id is not UTF-8; *renamed counts them. */
static st_status repair_ids(sqlite3 *db, const char *table, const char *path, size_t *renamed,
                            st_error *err)
{
    char sql[160];
    bool docs = strcmp(table, "docs") == 0;
    snprintf(sql, sizeof sql, "SELECT %s, id, st_utf8_fix(id) FROM %s WHERE st_utf8_bad(id)",
             docs ? "seq" : "0", table);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    st_status st = ST_OK;
    /* Collected first: rows are not updated under a running SELECT. */
    typedef struct bad { sqlite3_int64 seq; char *old, *fixed; } bad;
    bad *v = NULL;
    size_t n = 0, cap = 0;
    while (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
        if (n == cap) {
            bad *g = realloc(v, (cap = cap ? 2 * cap : 8) * sizeof *g);
            if (!g) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = g;
        }
        const char *o = (const char *)sqlite3_column_text(q, 1);
        const char *f = (const char *)sqlite3_column_text(q, 2);
        v[n].seq = sqlite3_column_int64(q, 0);
        v[n].old = o ? strdup(o) : NULL;
        v[n].fixed = f ? strdup(f) : NULL;
        if (!v[n].old || !v[n].fixed) {
            free(v[n].old);
            free(v[n].fixed);
            rc = SQLITE_NOMEM;
            break;
        }
        n++;
    }
    sqlite3_finalize(q);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        char *id = v[i].fixed;
        char alt[4200];
        if (id_taken(db, table, id)) {
            snprintf(alt, sizeof alt, "%s-%lld", id, (long long)(docs ? v[i].seq : (long long)i));
            if (strlen(id) + 24 > sizeof alt || id_taken(db, table, alt)) {
                st = st_fail(err, ST_E_IO, "%s: cannot repair the id %s (taken)", path, id);
                break;
            }
            id = alt;
        }
        snprintf(sql, sizeof sql, "UPDATE %s SET id = ?1 WHERE id = ?3", table);
        rc = run1(db, sql, id, 0, v[i].old);
        if (rc == SQLITE_OK && docs)
            rc = run1(db, "UPDATE revs SET id = ?1 WHERE id = ?3", id, 0, v[i].old);
        if (rc == SQLITE_OK && docs) /* json index entries follow their document */
            rc = run1(db, "UPDATE mango_keys SET id = ?1 WHERE id = ?3", id, 0, v[i].old);
        if (rc == SQLITE_OK)
            fprintf(stderr, "settee: %s: %s id not valid UTF-8, now \"%s\"\n", path,
                    docs ? "document" : "_local", id);
    }
    if (st == ST_OK && rc != SQLITE_OK)
        st = st_sqlite_disk_full(db) ? st_fail(err, ST_E_DISK_FULL, "No space left on device.")
                               : st_fail(err, ST_E_IO, "cannot repair %s: %s", path,
                                         sqlite3_errmsg(db));
    for (size_t i = 0; i < n; i++) {
        free(v[i].old);
        free(v[i].fixed);
    }
    free(v);
    *renamed += n;
    return st;
}

static const char repair_atts_sql[] =
    "UPDATE docs SET atts = st_utf8_fix(atts) WHERE st_utf8_bad(atts);"
    "UPDATE revs SET atts = st_utf8_fix(atts) WHERE st_utf8_bad(atts);";

static st_status repair_utf8(sqlite3 *db, const char *path, st_error *err)
{
    size_t renamed = 0;
    if (sqlite3_create_function(db, "st_utf8_bad", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                fn_utf8_bad, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "st_utf8_fix", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                fn_utf8_fix, NULL, NULL) != SQLITE_OK)
        return st_sqlite_fail(db, err, "repair");
    st_status st = repair_ids(db, "docs", path, &renamed, err);
    if (st == ST_OK)
        st = repair_ids(db, "local", path, &renamed, err);
    if (st == ST_OK)
        st = exec(db, repair_atts_sql, path, err);
    return st;
}

st_status st_sqlite_init_file(const char *path, bool create, st_error *err)
{
    st_sqlite_global_init();
    sqlite3 *db = NULL;
    st_status st = ST_OK;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = rc == SQLITE_CANTOPEN ? st_fail(err, ST_E_NOT_FOUND, "Database does not exist.")
                                   : st_sqlite_fail(db, err, "open");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    int version = query_int(db, "PRAGMA user_version");
    int tables = query_int(db, "SELECT count(*) FROM sqlite_master");
    if (version > SCHEMA_VERSION) {
        st = st_fail(err, ST_E_IO, "%s was written by a newer settee (format %d)", path, version);
        goto out;
    }
    if (version == 0 && tables > 0) {
        st = st_fail(err, ST_E_IO, "%s is not a settee database (or one from a development "
                     "build before format 1)", path);
        goto out;
    }
    if (version == SCHEMA_VERSION)
        goto out;
    if (version == 0 && !create) {
        /* An empty file is a database another opener is creating right
         * now (the file exists before its schema): not there yet. */
        st = st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
        goto out;
    }
    /* auto_vacuum only takes before the file's first page is written, so
     * it goes before the switch to WAL (which writes the header). */
    if (version == 0 && (st = exec(db, "PRAGMA auto_vacuum=INCREMENTAL", path, err)) != ST_OK)
        goto out;
    if ((st = exec(db, "PRAGMA journal_mode=WAL", path, err)) != ST_OK ||
        (st = exec(db, "BEGIN IMMEDIATE", path, err)) != ST_OK)
        goto out;
    st = exec(db, schema, path, err);
    if (st == ST_OK && version == 1)
        st = exec(db, migrate_1_to_2, path, err);
    if (st == ST_OK && version >= 1 && version < 4)
        st = repair_utf8(db, path, err);
    if (st == ST_OK)
        st = exec(db, "PRAGMA user_version = " STR(SCHEMA_VERSION) "; COMMIT", path, err);
    if (st != ST_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_close(db);
    return st;
}

/* ------------------------------------------------------------------ names */

static char *file_of(const char *dir, const char *name)
{
    st_buf b = ST_BUF_INIT;
    if (st_buf_printf(&b, "%s/", dir) != ST_OK ||
        st_pct_encode(&b, name, strlen(name), "_-") != ST_OK || st_buf_adds(&b, SUFFIX) != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* The database name of a file name, or false when it is not one of ours. */
static bool name_of(const char *file, char *out, size_t cap)
{
    size_t fl = strlen(file), sl = strlen(SUFFIX);
    if (fl <= sl || strcmp(file + fl - sl, SUFFIX) != 0)
        return false;
    char *name = st_pct_decode(file, fl - sl, false);
    bool ok = name && ((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_') && strlen(name) < cap;
    if (ok)
        strcpy(out, name);
    free(name);
    return ok;
}

/* No allocation: this is how a failed create (out of memory too) leaves
 * nothing behind.  A path the system could not open is not there. */
void st_store_unlink_files(const char *path)
{
    static const char *const extra[] = {"", "-wal", "-shm"};
    char p[PATH_MAX + 8];
    for (size_t i = 0; i < 3; i++) {
        if ((size_t)snprintf(p, sizeof p, "%s%s", path, extra[i]) < sizeof p)
            unlink(p);
    }
}

/* ------------------------------------------------------------- lifecycle */

st_status st_store_root_open(const char *location, const st_store_options *o,
                             st_store_root **out, st_error *err)
{
    *out = NULL;
    if (mkdir(location, 0700) != 0 && errno != EEXIST)
        return st_fail(err, ST_E_IO, "cannot create data directory %s: %s", location,
                       strerror(errno));
    st_store_root *r = calloc(1, sizeof *r);
    if (!r || !(r->dir = strdup(location))) {
        free(r);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    if (o)
        r->opts = *o;
    else
        st_store_options_init(&r->opts);
    fill_defaults(&r->opts);
    *out = r;
    return ST_OK;
}

void st_store_root_close(st_store_root *root)
{
    if (!root)
        return;
    free(root->dir);
    free(root);
}

static st_status store_new(const char *path, const st_store_options *o, st_store **out,
                           st_error *err)
{
    st_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    if (o)
        s->opts = *o;
    else
        st_store_options_init(&s->opts);
    fill_defaults(&s->opts);
    *out = s;
    return ST_OK;
}

static st_status exists_error(st_error *err)
{
    return st_fail(err, ST_E_FILE_EXISTS,
                   "The database could not be created, the file already exists.");
}

static st_status errno_error(int e, const char *what, const char *path, st_error *err)
{
    if (e == ENOSPC || e == EDQUOT)
        return st_fail(err, ST_E_DISK_FULL, "No space left on device.");
    return st_fail(err, ST_E_IO, "cannot %s %s: %s", what, path, strerror(e));
}

/* Put the finished file tmp at path unless path exists.  link() is that
 * test and the move in one step; where a file system has no hard links,
 * rename() after a check (two creators racing there may both succeed). */
static st_status publish(const char *tmp, const char *path, st_error *err)
{
    if (link(tmp, path) == 0)
        return ST_OK;
    int e = errno;
    if (e == EEXIST)
        return exists_error(err);
    if (e != EPERM && e != ENOTSUP && e != ENOSYS && e != EMLINK)
        return errno_error(e, "create", path, err);
    struct stat sb;
    if (stat(path, &sb) == 0)
        return exists_error(err);
    return rename(tmp, path) == 0 ? ST_OK : errno_error(errno, "create", path, err);
}

/* Make the database at a temporary name next to path (O_EXCL, mode), give
 * it its schema, then publish it under path.  Why not in place: a file
 * that exists but is not finished is what a concurrent open (another
 * process, a sync waiting for its source) would find and refuse as "not a
 * settee database", and a create that fails half way (disk full) must
 * leave nothing a retry would call existing.  The temporary file is gone
 * on every path; its WAL was folded in when its connection closed. */
static st_status create_file(const char *path, const st_store_options *o, st_error *err)
{
    static atomic_uint counter;
    struct stat sb;
    if (stat(path, &sb) == 0)
        return exists_error(err);
    size_t cap = strlen(path) + 64;
    char *tmp = malloc(cap);
    if (!tmp)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    snprintf(tmp, cap, "%s.creating-%ld-%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    st_status st = ST_OK;
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, o->file_mode ? o->file_mode : 0600);
    if (fd < 0) {
        st = errno_error(errno, "create", path, err);
        free(tmp);
        return st;
    }
    close(fd);
    st = st_sqlite_init_file(tmp, true, err);
    if (st == ST_OK) {
        char wal[4200];
        snprintf(wal, sizeof wal, "%s-wal", tmp);
        if (stat(wal, &sb) == 0 && sb.st_size > 0) /* not folded in: the copy would lack it */
            st = st_fail(err, ST_E_IO, "cannot create %s: its log was not checkpointed", path);
    }
    if (st == ST_OK)
        st = publish(tmp, path, err);
    st_store_unlink_files(tmp);
    free(tmp);
    return st;
}

st_status st_store_create(st_store_root *root, const char *name, st_store **out,
                          st_error *err)
{
    *out = NULL;
    char *path = file_of(root->dir, name);
    if (!path)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = create_file(path, &root->opts, err);
    if (st == ST_OK && (st = store_new(path, &root->opts, out, err)) != ST_OK)
        st_store_unlink_files(path);
    free(path);
    return st;
}

st_status st_store_open(st_store_root *root, const char *name, st_store **out, st_error *err)
{
    *out = NULL;
    char *path = file_of(root->dir, name);
    if (!path)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    struct stat sb;
    st_status st = stat(path, &sb) != 0 ? st_fail(err, ST_E_NOT_FOUND, "Database does not exist.")
                                        : st_sqlite_init_file(path, false, err);
    if (st == ST_OK)
        st = store_new(path, &root->opts, out, err);
    free(path);
    return st;
}

char *st_store_views_dir(const char *db_path)
{
    size_t n = strlen(db_path) + sizeof VIEWS_DIR_SUFFIX;
    char *d = malloc(n);
    if (d)
        snprintf(d, n, "%s%s", db_path, VIEWS_DIR_SUFFIX);
    return d;
}

/* Everything in the views directory of the database file at db_path, then
 * the directory. */
static void remove_views_dir(const char *db_path)
{
    char *dir = st_store_views_dir(db_path);
    if (!dir)
        return;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (p) {
            snprintf(p, n, "%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

st_status st_store_delete(st_store_root *root, const char *name, st_error *err)
{
    char *path = file_of(root->dir, name);
    if (!path)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    struct stat sb;
    st_status st = ST_OK;
    if (stat(path, &sb) != 0)
        st = st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
    else {
        st_store_unlink_files(path);
        remove_views_dir(path); /* its view indexes go with it */
    }
    free(path);
    return st;
}

bool st_store_exists(st_store_root *root, const char *name)
{
    char *path = file_of(root->dir, name);
    struct stat sb;
    bool ok = path && stat(path, &sb) == 0;
    free(path);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

st_status st_store_list(st_store_root *root, char ***out, size_t *out_n, st_error *err)
{
    *out = NULL;
    *out_n = 0;
    DIR *d = opendir(root->dir);
    if (!d)
        return st_fail(err, ST_E_IO, "cannot read data directory: %s", strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    st_status st = ST_OK;
    struct dirent *de;
    char name[256];
    while ((de = readdir(d))) {
        if (!name_of(de->d_name, name, sizeof name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = st_fail(err, ST_E_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(name))) {
            st = st_fail(err, ST_E_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (st != ST_OK) {
        st_store_names_free(names, n);
        return st;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *out_n = n;
    return ST_OK;
}

void st_store_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

st_status st_store_open_path(const char *path, bool create, const st_store_options *o,
                             st_store **out, st_error *err)
{
    *out = NULL;
    st_store_options def;
    if (!o) {
        st_store_options_init(&def);
        o = &def;
    }
    struct stat sb;
    st_status st;
    if (stat(path, &sb) != 0)
        st = create ? create_file(path, o, err)
                    : st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
    else
        st = st_sqlite_init_file(path, false, err);
    if (st == ST_OK)
        st = store_new(path, o, out, err);
    return st;
}

void st_store_close(st_store *s)
{
    if (!s)
        return;
    free(s->path);
    free(s);
}

st_status st_store_backup(st_store *s, const char *path, st_error *err)
{
    st_status st = create_file(path, &s->opts, err);
    if (st != ST_OK)
        return st;
    sqlite3 *src = NULL, *dst = NULL;
    if (sqlite3_open_v2(s->path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        st = st_sqlite_fail(src, err, "backup source");
        goto out;
    }
    if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        st = st_sqlite_fail(dst, err, "backup target");
        goto out;
    }
    sqlite3_busy_timeout(src, 10000);
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        st = st_sqlite_fail(dst, err, "backup");
        goto out;
    }
    /* Slices, so a writer of the source is never held up for long; a write
     * in between restarts the copy, which is what keeps it consistent. */
    int rc;
    while ((rc = sqlite3_backup_step(b, 256)) == SQLITE_OK || rc == SQLITE_BUSY ||
           rc == SQLITE_LOCKED)
        sqlite3_sleep(1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE)
        st = st_sqlite_fail(dst, err, "backup");
    else if (sqlite3_exec(dst, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK)
        st = st_sqlite_fail(dst, err, "backup");
out:
    sqlite3_close(src);
    sqlite3_close(dst);
    if (st != ST_OK)
        st_store_unlink_files(path);
    return st;
}
