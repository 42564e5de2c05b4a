/* test_http_diskfull.c — a full disk (issue 10 #11): every answer says so
 * (507 insufficient_storage; CouchDB has no name of its own for enospc and
 * answers a generic 500), and nothing is left half made: a PUT /newdb that
 * fails leaves no database (a retry is a 201, not a 412), a failed write
 * leaves no document and no sequence, and the server carries on once space
 * is back.
 *
 * How the disk fills: not a small tmpfs (that needs root), but a SQLite VFS
 * registered as this process's default before the in-process server opens
 * anything.  It passes every call to the real "unix" VFS, except that while
 * disk_full is set a write that would grow a file fails with SQLITE_FULL,
 * which is exactly what the unix VFS returns when write(2) says ENOSPC.  A
 * write inside a file's current size still succeeds, as it does on a full
 * disk.  (A full disk that shows first as a failed fsync, as with delayed
 * allocation, reaches settee as an I/O error; store_sqlite.c then asks the
 * file system, which a test cannot fill without root.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "httpc.h"

static atomic_bool disk_full;
static atomic_uint refused_writes;
static sqlite3_vfs *real_vfs;
static sqlite3_vfs full_vfs;

typedef struct ffile {
    sqlite3_file base;
    sqlite3_file *real; /* allocated right after this struct */
} ffile;

static int f_close(sqlite3_file *f) { return ((ffile *)f)->real->pMethods->xClose(((ffile *)f)->real); }
static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xRead(r, p, n, off);
}
static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    sqlite3_file *r = ((ffile *)f)->real;
    sqlite3_int64 size = 0;
    if (atomic_load(&disk_full) && r->pMethods->xFileSize(r, &size) == SQLITE_OK &&
        off + n > size) {
        atomic_fetch_add(&refused_writes, 1);
        return SQLITE_FULL;
    }
    return r->pMethods->xWrite(r, p, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xTruncate(r, size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xSync(r, flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *out)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xFileSize(r, out);
}
static int f_lock(sqlite3_file *f, int l)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xLock(r, l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xUnlock(r, l);
}
static int f_check(sqlite3_file *f, int *out)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xCheckReservedLock(r, out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xFileControl(r, op, arg);
}
static int f_sector(sqlite3_file *f)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xSectorSize(r);
}
static int f_dev(sqlite3_file *f)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xDeviceCharacteristics(r);
}
static int f_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xShmMap(r, pg, sz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xShmLock(r, off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    sqlite3_file *r = ((ffile *)f)->real;
    r->pMethods->xShmBarrier(r);
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    sqlite3_file *r = ((ffile *)f)->real;
    return r->pMethods->xShmUnmap(r, del);
}

/* Version 2 methods: no memory-mapped I/O, so every write goes through
 * f_write (SQLite falls back to read/write when xFetch is absent). */
static const sqlite3_io_methods full_io = {
    2,         f_close,  f_read,        f_write,       f_truncate, f_sync,     f_size,
    f_lock,    f_unlock, f_check,       f_fcntl,       f_sector,   f_dev,      f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap, NULL,      NULL,
};

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)v;
    ffile *ff = (ffile *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    ff->base.pMethods = rc == SQLITE_OK && ff->real->pMethods ? &full_io : NULL;
    return rc;
}

static void install_full_vfs(void)
{
    real_vfs = sqlite3_vfs_find("unix");
    assert_non_null(real_vfs);
    full_vfs = *real_vfs;
    full_vfs.zName = "settee-test-full";
    full_vfs.szOsFile = (int)sizeof(ffile) + real_vfs->szOsFile;
    full_vfs.xOpen = v_open;
    full_vfs.pNext = NULL;
    assert_int_equal(sqlite3_vfs_register(&full_vfs, 1), SQLITE_OK);
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    install_full_vfs();
    /* mmap off: its writes would bypass the VFS's xWrite. */
    return t_start_with("settee", "durability", "full", NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    if (t_srv)
        t_stop();
    curl_global_cleanup();
    return 0;
}

/* Files in the data directory whose name contains part. */
static int files_named(const char *part)
{
    DIR *d = opendir(t_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strstr(de->d_name, part) != NULL;
    if (d)
        closedir(d);
    return n;
}

static const char full_answer[] =
    "{\"error\":\"insufficient_storage\",\"reason\":\"No space left on device.\"}\n";

static void test_create_database(void **state)
{
    (void)state;
    atomic_store(&disk_full, true);
    tresp r = t_req("PUT", "/newdb", NULL, true);
    atomic_store(&disk_full, false);
    T_EXPECT(r, 507);
    assert_string_equal(r.body, full_answer);
    t_free(&r);
    assert_true(atomic_load(&refused_writes) > 0);
    /* nothing of it is left: not listed, not on disk, not openable */
    assert_int_equal(files_named("newdb"), 0);
    r = t_req("GET", "/_all_dbs", NULL, true);
    assert_false(t_has(&r, "newdb"));
    t_free(&r);
    r = t_req("GET", "/newdb", NULL, true);
    T_EXPECT(r, 404);
    t_free(&r);
    /* and a retry once there is space creates it (it was 412 before) */
    r = t_req("PUT", "/newdb", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);
    assert_int_equal(files_named("newdb"), 1 + files_named("newdb.settee-"));
}

static void test_write_documents(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/newdb/before", "{\"a\":1}", true);
    T_EXPECT(r, 201);
    t_free(&r);
    /* A document big enough to need new pages, one at a time and in bulk. */
    size_t n = 200000;
    char *big = malloc(n + 64);
    assert_non_null(big);
    int k = snprintf(big, n + 64, "{\"s\":\"");
    memset(big + k, 'x', n);
    strcpy(big + k + n, "\"}");
    char *bulk = malloc(n + 128);
    assert_non_null(bulk);
    k = snprintf(bulk, n + 128, "{\"docs\":[{\"_id\":\"b1\",\"s\":\"");
    memset(bulk + k, 'y', n);
    strcpy(bulk + k + n, "\"}]}");
    atomic_store(&disk_full, true);
    tresp put = t_req("PUT", "/newdb/big", big, true);
    tresp bd = t_req("POST", "/newdb/_bulk_docs", bulk, true);
    tresp loc = t_req("PUT", "/newdb/_local/big", big, true);
    atomic_store(&disk_full, false);
    T_EXPECT(put, 507);
    assert_string_equal(put.body, full_answer);
    T_EXPECT(bd, 507);
    assert_string_equal(bd.body, full_answer);
    T_EXPECT(loc, 507);
    t_free(&put);
    t_free(&bd);
    t_free(&loc);
    /* Nothing half written: the documents are absent, the sequence did not
     * move, and writing works again. */
    r = t_req("GET", "/newdb", NULL, true);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"doc_count\":1"));
    assert_true(t_has(&r, "\"update_seq\":1"));
    t_free(&r);
    r = t_req("GET", "/newdb/big", NULL, true);
    T_EXPECT(r, 404);
    t_free(&r);
    r = t_req("GET", "/newdb/_local/big", NULL, true);
    T_EXPECT(r, 404);
    t_free(&r);
    r = t_req("PUT", "/newdb/big", big, true);
    T_EXPECT(r, 201);
    t_free(&r);
    r = t_req("GET", "/newdb/_changes", NULL, true);
    T_EXPECT(r, 200);
    assert_true(t_has(&r, "\"last_seq\":2"));
    t_free(&r);
    free(big);
    free(bulk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_database),
        cmocka_unit_test(test_write_documents),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
