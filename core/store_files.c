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
 * O_EXCL and the configured mode (0600 by default) makes all three private,
 * and O_EXCL makes two racing creates come out as one 201 and one 412.  A
 * create that fails (disk full) removes what it made, so a retry is not
 * told the database exists.
 */
#include "store_sqlite_int.h"
#include "st_pct.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
 * A newer file is refused rather than misread.  Files without a version
 * but with tables come from development builds before format 1. */
#define SCHEMA_VERSION 3
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

static st_status exec(sqlite3 *db, const char *sql, const char *path, st_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return ST_OK;
    int code = sqlite3_errcode(db);
    st_status st = code == SQLITE_FULL ? st_fail(err, ST_E_DISK_FULL, "No space left on device.")
                   : st_fail(err, ST_E_IO, "cannot initialise %s: %s", path, msg ? msg : "?");
    sqlite3_free(msg);
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

void st_store_unlink_files(const char *path)
{
    static const char *const extra[] = {"", "-wal", "-shm"};
    size_t n = strlen(path) + 5;
    char *p = malloc(n);
    if (!p)
        return;
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, n, "%s%s", path, extra[i]);
        unlink(p);
    }
    free(p);
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

/* Make the file with O_EXCL and mode, then the schema; undo on failure. */
static st_status create_file(const char *path, const st_store_options *o, st_error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, o->file_mode ? o->file_mode : 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return st_fail(err, ST_E_FILE_EXISTS,
                           "The database could not be created, the file already exists.");
        if (errno == ENOSPC)
            return st_fail(err, ST_E_DISK_FULL, "No space left on device.");
        return st_fail(err, ST_E_IO, "cannot create %s: %s", path, strerror(errno));
    }
    close(fd);
    st_status st = st_sqlite_init_file(path, true, err);
    if (st != ST_OK)
        st_store_unlink_files(path);
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
