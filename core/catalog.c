/* catalog.c — databases by name, with shared open handles.
 *
 * The store owns where and how databases live (store.h: files in a
 * directory for SQLite); the catalog validates names and shares handles:
 * they are opened on first use and kept in a small list with reference
 * counts, most recently used first; deleting a database removes its
 * storage at once and closes the handle when its last user puts it back.
 * With a bound on open handles (st_catalog_set_max_open), idle handles
 * from the end of the list are closed to make room.
 */
#include "st_catalog.h"
#include "db_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *name;
    st_db *db;
    unsigned refs;
    bool deleted;          /* unlinked; closed when refs drops to 0 */
    struct entry *next;
} entry;

struct st_catalog {
    st_store_root *root;
    st_db_options opts;
    pthread_mutex_t mu;
    entry *open;
    st_catalog_open_fn on_open;
    void *on_open_ctx;
    size_t max_open;       /* 0: unbounded */
    size_t n_open;         /* entries in the list */
};

void st_catalog_set_max_open(st_catalog *cat, size_t max)
{
    pthread_mutex_lock(&cat->mu);
    cat->max_open = max;
    pthread_mutex_unlock(&cat->mu);
}

/* Unlink e from the list (held lock). */
static void unlink_entry(st_catalog *cat, entry *e)
{
    for (entry **p = &cat->open; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            cat->n_open--;
            return;
        }
    }
}

/* Make room for one more handle under the bound: idle entries from the
 * end of the list (least recently used) are unlinked and returned as a
 * chain through next, for the caller to close without the lock (closing
 * waits for the database's writer and checkpoints). */
static entry *evict_idle(st_catalog *cat)
{
    entry *chain = NULL;
    while (cat->max_open && cat->n_open >= cat->max_open) {
        entry *victim = NULL;
        for (entry *e = cat->open; e; e = e->next)
            if (e->refs == 0 && !e->deleted)
                victim = e; /* the last idle one */
        if (!victim)
            break;
        unlink_entry(cat, victim);
        victim->next = chain;
        chain = victim;
    }
    return chain;
}

static void close_chain(entry *chain)
{
    for (entry *e = chain, *next; e; e = next) {
        next = e->next;
        st_db_close(e->db);
        free(e->name);
        free(e);
    }
}

void st_catalog_on_open(st_catalog *cat, st_catalog_open_fn fn, void *ctx)
{
    pthread_mutex_lock(&cat->mu);
    cat->on_open = fn;
    cat->on_open_ctx = ctx;
    pthread_mutex_unlock(&cat->mu);
}

/* CouchDB's system databases: the only names that may start with '_'. */
static bool system_db(const char *name)
{
    return strcmp(name, "_users") == 0 || strcmp(name, "_replicator") == 0 ||
           strcmp(name, "_global_changes") == 0;
}

bool st_dbname_valid(const char *name)
{
    if (name && system_db(name))
        return true;
    if (!name || !(name[0] >= 'a' && name[0] <= 'z'))
        return false;
    size_t n = strlen(name);
    if (n > 238)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("_$()+-/", c)))
            return false;
    }
    return true;
}

static st_status name_error(const char *name, st_error *err)
{
    return st_fail(err, ST_E_ILLEGAL_DBNAME,
                   "Name: '%.200s'. Only lowercase characters (a-z), digits (0-9), and any of the "
                   "characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.",
                   name ? name : "");
}

st_status st_catalog_open(const char *dir, const st_db_options *opts, st_catalog **out,
                          st_error *err)
{
    *out = NULL;
    st_catalog *cat = calloc(1, sizeof *cat);
    if (!cat)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (opts)
        cat->opts = *opts;
    else
        st_db_options_init(&cat->opts);
    st_store_options so;
    st_db_store_options(&cat->opts, &so);
    st_status st = st_store_root_open(dir, &so, &cat->root, err);
    if (st != ST_OK) {
        free(cat);
        return st;
    }
    pthread_mutex_init(&cat->mu, NULL);
    *out = cat;
    return ST_OK;
}

void st_catalog_close(st_catalog *cat)
{
    if (!cat)
        return;
    for (entry *e = cat->open, *next; e; e = next) {
        next = e->next;
        st_db_close(e->db);
        free(e->name);
        free(e);
    }
    pthread_mutex_destroy(&cat->mu);
    st_store_root_close(cat->root);
    free(cat);
}

static entry *find_open(st_catalog *cat, const char *name)
{
    for (entry *e = cat->open; e; e = e->next)
        if (!e->deleted && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

bool st_catalog_exists(st_catalog *cat, const char *name)
{
    return st_dbname_valid(name) && st_store_exists(cat->root, name);
}

static entry *entry_new(st_catalog *cat, const char *name, st_db *db, st_error *err)
{
    entry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(name))) {
        free(e);
        st_db_close(db);
        st_fail(err, ST_E_NOMEM, "out of memory");
        return NULL;
    }
    e->db = db;
    e->next = cat->open;
    cat->open = e;
    cat->n_open++;
    if (cat->on_open)
        cat->on_open(cat->on_open_ctx, db);
    return e;
}

st_status st_catalog_create(st_catalog *cat, const char *name, const char *security,
                            st_error *err)
{
    if (!st_dbname_valid(name))
        return name_error(name, err);
    pthread_mutex_lock(&cat->mu);
    entry *evicted = evict_idle(cat);
    st_store *store = NULL;
    st_status st = st_store_create(cat->root, name, &store, err);
    st_db *db = NULL;
    st_db_options o = cat->opts;
    o.initial_security = security;
    if (st == ST_OK)
        st = st_db_open_store(store, name, &o, &db, err);
    if (st != ST_OK && store)
        st_store_delete(cat->root, name, NULL); /* a failed create leaves nothing */
    if (st == ST_OK && !entry_new(cat, name, db, err)) {
        st_store_delete(cat->root, name, NULL);
        st = ST_E_NOMEM;
    }
    pthread_mutex_unlock(&cat->mu);
    close_chain(evicted);
    return st;
}

st_status st_catalog_delete(st_catalog *cat, const char *name, st_error *err)
{
    if (!st_dbname_valid(name))
        return name_error(name, err);
    st_db *to_close = NULL;
    pthread_mutex_lock(&cat->mu);
    st_status st = st_store_delete(cat->root, name, err);
    entry *e = st == ST_OK ? find_open(cat, name) : NULL;
    if (e) {
        e->deleted = true;
        st_db_mark_deleted(e->db);
        if (e->refs == 0) {
            unlink_entry(cat, e);
            to_close = e->db;
            free(e->name);
            free(e);
        }
    }
    pthread_mutex_unlock(&cat->mu);
    st_db_close(to_close);
    return st;
}

st_status st_catalog_get(st_catalog *cat, const char *name, st_db **out, st_error *err)
{
    *out = NULL;
    if (!st_dbname_valid(name))
        return name_error(name, err);
    st_status st = ST_OK;
    entry *evicted = NULL;
    pthread_mutex_lock(&cat->mu);
    entry *e = find_open(cat, name);
    if (e && e != cat->open) { /* most recently used first */
        unlink_entry(cat, e);
        e->next = cat->open;
        cat->open = e;
        cat->n_open++;
    }
    if (!e) {
        evicted = evict_idle(cat);
        st_store *store = NULL;
        st_db *db = NULL;
        st = st_store_open(cat->root, name, &store, err);
        if (st == ST_OK)
            st = st_db_open_store(store, name, &cat->opts, &db, err);
        if (st == ST_OK && !(e = entry_new(cat, name, db, err)))
            st = ST_E_NOMEM;
    }
    if (e) {
        e->refs++;
        *out = e->db;
    }
    pthread_mutex_unlock(&cat->mu);
    close_chain(evicted);
    return st;
}

void st_catalog_put(st_catalog *cat, st_db *db)
{
    if (!db)
        return;
    st_db *to_close = NULL;
    pthread_mutex_lock(&cat->mu);
    for (entry **p = &cat->open; *p; p = &(*p)->next) {
        entry *e = *p;
        if (e->db != db)
            continue;
        if (e->refs > 0)
            e->refs--;
        if (e->refs == 0 && e->deleted) {
            *p = e->next;
            cat->n_open--;
            to_close = e->db;
            free(e->name);
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&cat->mu);
    st_db_close(to_close);
}

st_status st_catalog_list(st_catalog *cat, char ***out, size_t *out_n, st_error *err)
{
    return st_store_list(cat->root, out, out_n, err);
}

void st_catalog_names_free(char **names, size_t n) { st_store_names_free(names, n); }
