/* db.c — opening and closing a settee_db, and the two calls that reach its
 * dispatcher (the notify fd and settee_db_dispatch).
 *
 * A db is four things in a fixed order: core's st_db, its design-document
 * machinery (js.c: query servers, views, the validator installed on the
 * st_db), the dispatcher that runs its callbacks, and its entry in the
 * registry.  Open makes them in that order and close undoes them in
 * reverse, after the registry said the db is idle (no call inside it, no
 * child alive), so nothing here has to wait -- except that the query
 * servers outlive the st_db, whose validator runs in them to the end.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* Embedded defaults for SQLite's memory, per connection (one writer and
 * `readers` readers).  Core's own defaults (16 MiB of cache, 256 MiB of
 * mmap) suit a server; an app wants a small resident size, and reads stay
 * fast with a small cache because the OS page cache holds the file
 * (docs/embedding.md, "Memory", has the measurements). */
#define DEFAULT_CACHE_KIB 512u

/* Whether the caller's struct (struct_size bytes) holds field f. */
#define OPT_HAS(o, f) \
    ((o)->struct_size >= offsetof(settee_db_options, f) + sizeof((o)->f))

void settee_db_options_init_sized(settee_db_options *o, size_t struct_size)
{
    if (!o)
        return;
    settee_db_options d;
    memset(&d, 0, sizeof d);
    d.create = true;
    d.durable = true;
    d.dispatch = SETTEE_DISPATCH_THREAD;
    d.struct_size = struct_size;
    /* cache_kib and mmap_kib stay 0: "the default", whatever it becomes. */
    size_t n = struct_size < sizeof d ? struct_size : sizeof d;
    memcpy(o, &d, n);
    /* A newer app's struct: fields this library does not know are 0. */
    if (struct_size > n)
        memset((char *)o + n, 0, struct_size - n);
}

/* Tear down whatever of db exists (used by a failed open and by close). */
static void db_destroy(settee_db *db)
{
    st_client_dispatch_free(db->disp);
    st_db_close(db->core);
    st_client_js_close(db->js); /* after the database: its validator runs JavaScript */
    free(db);
}

/* The database name core reports: the file's base name. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

settee_status settee_db_open(const char *path, const settee_db_options *o, settee_db **out_db,
                             settee_error *e)
{
    if (out_db)
        *out_db = NULL;
    if (!path || !out_db)
        return st_client_fail(e, SETTEE_MISUSE, "NULL path or out_db");
    if (!path[0])
        return st_client_fail(e, SETTEE_BAD_REQUEST, "empty database path");
    settee_db_options def;
    if (!o) {
        settee_db_options_init(&def);
        o = &def;
    }
    if (o->dispatch != SETTEE_DISPATCH_THREAD && o->dispatch != SETTEE_DISPATCH_MANUAL)
        return st_client_fail(e, SETTEE_MISUSE, "unknown dispatch mode %d", (int)o->dispatch);

    settee_status rc = SETTEE_OK;
    st_error ce;
    st_error_clear(&ce);
    settee_db *db = calloc(1, sizeof *db);
    if (!db)
        return st_client_fail(e, SETTEE_NOMEM, "out of memory");
    db->mode = o->dispatch;

    st_db_options co;
    st_db_options_init(&co);
    co.create = o->create;
    co.durability = o->durable ? ST_DURABLE_FULL : ST_DURABLE_NORMAL;
    /* Two readers instead of core's eight: an app reads from a couple of
     * threads, and every pooled connection carries its own page cache. */
    co.readers = o->readers ? o->readers : 2;
    unsigned cache_kib = OPT_HAS(o, cache_kib) ? o->cache_kib : 0;
    int mmap_kib = OPT_HAS(o, mmap_kib) ? o->mmap_kib : 0;
    co.cache_kib = cache_kib ? cache_kib : DEFAULT_CACHE_KIB;
    co.mmap_kib = mmap_kib > 0 ? mmap_kib : -1; /* core: -1 is off */
    if (o->max_doc_size)
        co.max_doc_size = o->max_doc_size;
    db->max_doc_size = co.max_doc_size;

    st_status s = st_db_open(path, base_name(path), &co, &db->core, &ce);
    if (s != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto fail;
    }
    rc = st_client_js_open(db->core, OPT_HAS(o, query_server) ? o->query_server : NULL,
                           OPT_HAS(o, query_timeout_ms) ? o->query_timeout_ms : 0,
                           OPT_HAS(o, query_processes) ? o->query_processes : 0, &db->js, e);
    if (rc != SETTEE_OK)
        goto fail;
    s = st_client_dispatch_new(db->mode == SETTEE_DISPATCH_THREAD, &db->disp, &ce);
    if (s != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto fail;
    }
    if (!st_client_reg_add(db)) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto fail;
    }
    st_client_ok(e);
    *out_db = db;
    return SETTEE_OK;
fail:
    db_destroy(db);
    return rc;
}

settee_status settee_db_close(settee_db *db)
{
    if (!db)
        return SETTEE_OK;
    settee_status rc = st_client_reg_remove(db);
    if (rc != SETTEE_OK)
        return rc;
    db_destroy(db);
    return SETTEE_OK;
}

settee_status settee_db_info_get(settee_db *db, settee_db_info *out_info, settee_error *e)
{
    if (out_info)
        memset(out_info, 0, sizeof *out_info);
    if (!out_info)
        return st_client_fail(e, SETTEE_MISUSE, "NULL out_info");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_db_info info;
    st_error ce;
    st_status s = st_db_info_get(db->core, &info, &ce);
    rc = st_client_from_core(e, s, &ce);
    if (s == ST_OK) {
        out_info->update_seq = info.update_seq;
        out_info->doc_count = info.doc_count;
        out_info->deleted_count = info.doc_del_count;
        out_info->file_size = info.size_file;
    }
    st_client_leave(db);
    return rc;
}

int settee_db_notify_fd(settee_db *db)
{
    if (st_client_enter(db, NULL) != SETTEE_OK)
        return -1;
    int fd = db->mode == SETTEE_DISPATCH_MANUAL ? st_client_dispatch_fd(db->disp) : -1;
    st_client_leave(db);
    return fd;
}

settee_status settee_db_dispatch(settee_db *db)
{
    settee_status rc = st_client_enter(db, NULL);
    if (rc != SETTEE_OK)
        return rc;
    if (db->mode != SETTEE_DISPATCH_MANUAL)
        rc = SETTEE_MISUSE;
    else
        st_client_dispatch_run(db->disp);
    st_client_leave(db);
    return rc;
}
