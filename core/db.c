/* db.c — a database handle: opening and closing, identity, info.
 *
 * Reads go through readers.c (the pool of read connections), writes
 * through writer.c (the one write path), followers in follow.c, documents
 * in doc_write.c / doc_read.c, scans in changes.c, maintenance (revs_limit,
 * compaction, purge) in maint.c.
 */
#include "db_int.h"
#include "st_hex.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include "mango_int.h"
#include "ring.h"

void st_db_options_init(st_db_options *o)
{
    memset(o, 0, sizeof *o);
    o->durability = ST_DURABLE_FULL;
    o->max_doc_size = 8000000;
    o->max_att_size = 256u << 20;
    o->max_decoded_size = UINT64_C(4) << 30;
    o->max_depth = ST_JSON_DEFAULT_DEPTH;
    o->readers = 8;
    o->cache_kib = 16384;
    o->mmap_kib = 262144;
    o->file_mode = 0600;
    o->att_compress_level = 8;
}

void st_uuid(char out[33])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        /* libcrypto's CSPRNG failing is near impossible; fall back to time
         * and address entropy rather than failing a write over an id. */
        struct timeval tv;
        gettimeofday(&tv, NULL);
        uint64_t x = ((uint64_t)tv.tv_sec << 20) ^ (uint64_t)tv.tv_usec ^ (uintptr_t)out;
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            raw[i] = (unsigned char)(x >> 56);
        }
    }
    st_hex_encode(raw, 16, out);
}

static void store_options(const st_db_options *o, st_store_options *so)
{
    st_store_options_init(so);
    so->durable_full = o->durability != ST_DURABLE_NORMAL;
    so->cache_kib = o->cache_kib;
    so->mmap_kib = o->mmap_kib;
    so->file_mode = o->file_mode;
}

/* The per-database uuid, made at the first open; and the counters. */
static st_status load_identity(st_db *db, st_error *err)
{
    st_status st = st_store_write_begin(db->writer, &db->ctr, err);
    if (st != ST_OK)
        return st;
    st_buf u = ST_BUF_INIT;
    bool created = false;
    st = st_store_meta_get(db->writer, "uuid", &u, err);
    if (st == ST_OK && u.len == 32) {
        memcpy(db->uuid, u.data, 33);
    } else if (st == ST_OK || st == ST_E_NOT_FOUND) {
        created = true;
        st_uuid(db->uuid);
        st = st_store_meta_set(db->writer, "uuid", db->uuid, 32, err);
    }
    st_buf_free(&u);
    if (st == ST_OK)
        st = st_db_security_load(db, created, err);
    if (st == ST_OK)
        st = st_store_commit(db->writer, &db->ctr, err);
    else
        st_store_rollback(db->writer);
    if (st == ST_OK)
        atomic_store(&db->committed_seq, db->ctr.update_seq);
    return st;
}

st_status st_db_open_store(st_store *store, const char *name, const st_db_options *o,
                           st_db **out_db, st_error *err)
{
    *out_db = NULL;
    st_db *db = calloc(1, sizeof *db);
    if (!db || !(db->name = strdup(name))) {
        free(db);
        st_store_close(store);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    if (o)
        db->opts = *o;
    else
        st_db_options_init(&db->opts);
    if (db->opts.readers == 0)
        db->opts.readers = 8;
    if (db->opts.readers > ST_DB_MAX_READERS)
        db->opts.readers = ST_DB_MAX_READERS;
    if (db->opts.max_depth == 0)
        db->opts.max_depth = ST_JSON_DEFAULT_DEPTH;
    if (db->opts.max_decoded_size == 0)
        db->opts.max_decoded_size = UINT64_C(4) << 30;
    db->store = store;
    pthread_mutex_init(&db->wq_mu, NULL);
    pthread_cond_init(&db->wq_cond, NULL);
    pthread_mutex_init(&db->seq_mu, NULL);
    pthread_cond_init(&db->compact_cond, NULL);
    pthread_mutex_init(&db->rd_mu, NULL);
    pthread_cond_init(&db->rd_cond, NULL);
    pthread_mutex_init(&db->fol_mu, NULL);
    pthread_cond_init(&db->fol_cond, NULL);
    pthread_mutex_init(&db->sec_mu, NULL);
    st_buf_init(&db->notes_arena, 0);
    st_status st = st_store_conn_open(db->store, &db->writer, err);
    if (st == ST_OK)
        st = load_identity(db, err);
    db->opts.initial_security = NULL; /* borrowed for this call only */
    if (st != ST_OK) {
        db->opts.readers = 0;
        st_db_close(db);
        return st;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    snprintf(db->start_time, sizeof db->start_time, "%llu",
             (unsigned long long)tv.tv_sec * 1000000ull + (unsigned long long)tv.tv_usec);
    *out_db = db;
    return ST_OK;
}

st_status st_db_open(const char *path, const char *name, const st_db_options *o,
                     st_db **out_db, st_error *err)
{
    *out_db = NULL;
    if (!path || !name)
        return st_fail(err, ST_E_MISUSE, "NULL path or name");
    st_db_options def;
    if (!o) {
        st_db_options_init(&def);
        o = &def;
    }
    st_store_options so;
    store_options(o, &so);
    st_store *store = NULL;
    st_status st = st_store_open_path(path, o->create, &so, &store, err);
    if (st != ST_OK)
        return st;
    return st_db_open_store(store, name, o, out_db, err);
}

void st_db_store_options(const st_db_options *o, st_store_options *out)
{
    store_options(o, out);
}

st_status st_db_close(st_db *db)
{
    if (!db)
        return ST_OK;
    pthread_mutex_lock(&db->fol_mu);
    bool followed = db->n_followers > 0;
    pthread_mutex_unlock(&db->fol_mu);
    if (followed)
        return ST_E_BUSY;
    atomic_store(&db->closing, true);
    pthread_mutex_lock(&db->wq_mu);
    while (db->scheduled || db->wq_head || atomic_load(&db->compact_running))
        pthread_cond_wait(&db->wq_cond, &db->wq_mu);
    pthread_mutex_unlock(&db->wq_mu);
    pthread_mutex_lock(&db->rd_mu);
    for (unsigned i = 0; i < db->opts.readers; i++) {
        while (db->rd[i].busy)
            pthread_cond_wait(&db->rd_cond, &db->rd_mu);
        if (db->rd[i].in_txn)
            st_store_read_end(db->rd[i].conn);
        st_store_conn_close(db->rd[i].conn);
        db->rd[i] = (reader){0};
    }
    pthread_mutex_unlock(&db->rd_mu);
    st_store_conn_close(db->writer);
    st_store_close(db->store);
    pthread_mutex_destroy(&db->wq_mu);
    pthread_cond_destroy(&db->wq_cond);
    pthread_mutex_destroy(&db->seq_mu);
    pthread_cond_destroy(&db->compact_cond);
    pthread_mutex_destroy(&db->rd_mu);
    pthread_cond_destroy(&db->rd_cond);
    pthread_mutex_destroy(&db->fol_mu);
    pthread_cond_destroy(&db->fol_cond);
    pthread_mutex_destroy(&db->sec_mu);
    if (db->validate_free)
        db->validate_free(db->validate_ctx);
    st_security_release(db->sec);
    st_mango_db_free(db);
    free(db->notes);
    st_buf_free(&db->notes_arena);
    free(db->name);
    free(db);
    return ST_OK;
}

const char *st_db_name(const st_db *db) { return db->name; }

uint64_t st_db_update_seq(st_db *db) { return atomic_load(&db->committed_seq); }

bool st_db_is_deleted(st_db *db) { return atomic_load(&db->deleted); }

void st_db_mark_deleted(st_db *db)
{
    atomic_store(&db->deleted, true);
    st_follow_wake_all(db);
}

/* ------------------------------------------------------------------- info */

st_status st_db_info_get(st_db *db, st_db_info *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    st_counters k;
    st_store_size sz = {0, 0};
    st_status st = st_store_counters_get(c, &k, err);
    if (st == ST_OK)
        st = st_store_size_get(c, &sz, err);
    st_db_reader_put(db, c);
    if (st != ST_OK)
        return st;
    out->update_seq = k.update_seq;
    out->purge_seq = k.purge_seq;
    out->doc_count = k.doc_count;
    out->doc_del_count = k.del_count;
    out->size_external = k.external > 0 ? (uint64_t)k.external : 0;
    out->revs_limit = k.revs_limit;
    out->size_file = sz.file;
    out->size_active = sz.active;
    out->compact_running = atomic_load(&db->compact_running);
    memcpy(out->instance_start_time, db->start_time, sizeof out->instance_start_time);
    memcpy(out->uuid, db->uuid, sizeof out->uuid);
    return ST_OK;
}

st_status st_db_backup(st_db *db, const char *path, st_error *err)
{
    return st_store_backup(db->store, path, err);
}
