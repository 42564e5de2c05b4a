/* users.c — see users.h.
 *
 * The cache is a small chained hash table of shared principals; a stale entry (the
 * _users update_seq moved) is replaced on the next lookup of its name, and
 * when the table is full it is emptied (lookups then read the database
 * again: a bound on memory, not a policy).
 */
#include "users.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "st_json.h"

#define BUCKETS 256u

typedef struct entry {
    struct entry *next;
    uint64_t seq;        /* _users update_seq when read */
    st_db *db;           /* the handle it was read from (not a reference) */
    char *name;
    st_principal *p;     /* one reference; NULL: no such user (cached as well) */
} entry;

typedef struct admin_rec {
    st_principal *p;     /* one reference */
    char *hash;          /* made at start from a plain password, or NULL */
} admin_rec;

struct st_users {
    st_catalog *cat;
    const st_config *cfg;
    admin_rec *admins;
    size_t n_admins;
    char *db_name;
    pthread_mutex_t mu;
    st_db *db;           /* catalog reference, or NULL */
    entry *buckets[BUCKETS];
    size_t n_entries, max_entries;
};

static void principal_free(st_principal *p)
{
    free(p->name);
    st_roles_free(&p->roles);
    if (p->buf) {
        OPENSSL_cleanse(p->buf, strlen(p->buf));
        free(p->buf);
    }
    free(p);
}

static st_principal *principal_new(void)
{
    st_principal *p = calloc(1, sizeof *p);
    if (p)
        atomic_init(&p->refs, 1);
    return p;
}

const st_principal *st_principal_ref(const st_principal *p)
{
    if (p)
        atomic_fetch_add_explicit(&((st_principal *)p)->refs, 1, memory_order_relaxed);
    return p;
}

void st_principal_release(const st_principal *p)
{
    st_principal *q = (st_principal *)p;
    if (q && atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1)
        principal_free(q);
}

/* Copy h's strings (and the rev) into one buffer owned by p. */
static st_status own_hash(st_principal *p, const st_pw_hash *h, const char *rev, st_error *err)
{
    size_t key_len = h ? h->key_len : 0, salt_len = h ? h->salt_len : 0;
    size_t rev_len = strlen(rev);
    char *b = malloc(key_len + salt_len + rev_len + 3);
    if (!b)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    /* Layout "<key>\0<salt>\0<rev>\0": strlen(buf) is the key, wiped on clear. */
    if (key_len)
        memcpy(b, h->key, key_len);
    b[key_len] = '\0';
    if (salt_len)
        memcpy(b + key_len + 1, h->salt, salt_len);
    b[key_len + 1 + salt_len] = '\0';
    memcpy(b + key_len + salt_len + 2, rev, rev_len + 1);
    p->buf = b;
    p->has_hash = h != NULL;
    if (h) {
        p->hash = *h;
        p->hash.key = b;
        p->hash.salt = b + key_len + 1;
    }
    p->salt = b + key_len + 1;
    p->rev = b + key_len + salt_len + 2;
    return ST_OK;
}

static st_status admin_principal(admin_rec *a, const st_admin *cfg, const st_pw_policy *pol,
                                 st_error *err)
{
    const char *value = cfg->value;
    if (cfg->plain) {
        st_status st = st_pw_hash_admin(pol, cfg->value, strlen(cfg->value), &a->hash, err);
        if (st != ST_OK)
            return st;
        value = a->hash;
    }
    st_pw_hash h;
    st_status st = st_pw_parse_admin(value, strlen(value), &h, err);
    if (st != ST_OK)
        return st_fail(err, ST_E_BAD_REQUEST, "admin %s: unreadable password hash", cfg->name);
    if (!(a->p = principal_new()) || !(a->p->name = strdup(cfg->name)) ||
        st_roles_add(&a->p->roles, ST_ROLE_ADMIN, strlen(ST_ROLE_ADMIN)) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    a->p->admin = true;
    return own_hash(a->p, &h, "admin", err);
}

st_status st_users_new(st_catalog *cat, const st_config *cfg, const st_pw_policy *policy,
                       st_users **out, st_error *err)
{
    *out = NULL;
    st_users *u = calloc(1, sizeof *u);
    if (!u)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    pthread_mutex_init(&u->mu, NULL);
    u->cat = cat;
    u->cfg = cfg;
    u->max_entries = cfg->auth.cache_max ? cfg->auth.cache_max : 1024;
    st_status st = ST_OK;
    if (!(u->db_name = strdup(cfg->auth.authentication_db ? cfg->auth.authentication_db
                                                           : "_users")))
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    if (st == ST_OK && cfg->n_admins &&
        !(u->admins = calloc(cfg->n_admins, sizeof *u->admins)))
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; st == ST_OK && i < cfg->n_admins; i++) {
        u->n_admins = i + 1;
        st = admin_principal(&u->admins[i], &cfg->admins[i], policy, err);
    }
    if (st != ST_OK) {
        st_users_free(u);
        return st;
    }
    *out = u;
    return ST_OK;
}

static void entry_free(entry *e)
{
    st_principal_release(e->p);
    free(e->name);
    free(e);
}

static void cache_clear(st_users *u)
{
    for (size_t b = 0; b < BUCKETS; b++) {
        while (u->buckets[b]) {
            entry *e = u->buckets[b];
            u->buckets[b] = e->next;
            entry_free(e);
        }
    }
    u->n_entries = 0;
}

void st_users_free(st_users *u)
{
    if (!u)
        return;
    cache_clear(u);
    for (size_t i = 0; i < u->n_admins; i++) {
        st_principal_release(u->admins[i].p);
        if (u->admins[i].hash) {
            OPENSSL_cleanse(u->admins[i].hash, strlen(u->admins[i].hash));
            free(u->admins[i].hash);
        }
    }
    free(u->admins);
    if (u->db)
        st_catalog_put(u->cat, u->db);
    free(u->db_name);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

const char *st_users_admin_hash(const st_users *u, size_t i)
{
    return i < u->n_admins ? u->admins[i].hash : NULL;
}

const char *st_users_db_name(const st_users *u)
{
    return u->db_name;
}

const char *st_users_name_of_id(const char *id)
{
    size_t n = strlen(ST_USER_PREFIX);
    return id && strncmp(id, ST_USER_PREFIX, n) == 0 ? id + n : NULL;
}

/* The live handle (mu held): re-got after the database was deleted. */
static st_db *handle_locked(st_users *u)
{
    if (u->db && st_db_is_deleted(u->db)) {
        st_catalog_put(u->cat, u->db);
        u->db = NULL;
        cache_clear(u);
    }
    if (!u->db && st_catalog_get(u->cat, u->db_name, &u->db, NULL) != ST_OK)
        u->db = NULL;
    return u->db;
}

st_db *st_users_db(st_users *u)
{
    pthread_mutex_lock(&u->mu);
    st_db *db = handle_locked(u);
    st_db *ref = NULL;
    /* A second reference for the caller, from the catalog. */
    if (db && st_catalog_get(u->cat, u->db_name, &ref, NULL) != ST_OK)
        ref = NULL;
    pthread_mutex_unlock(&u->mu);
    return ref;
}

uint64_t st_users_seq(st_users *u)
{
    pthread_mutex_lock(&u->mu);
    st_db *db = handle_locked(u);
    uint64_t seq = db ? st_db_update_seq(db) : 0;
    pthread_mutex_unlock(&u->mu);
    return seq;
}

static size_t bucket_of(const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % BUCKETS;
}

/* Read the user's document into a fresh principal (no lock held):
 * ST_E_NOT_FOUND (*out NULL) when there is none. */
static st_status read_user(st_db *db, const char *name, st_principal **out, st_error *err)
{
    *out = NULL;
    size_t n = strlen(ST_USER_PREFIX) + strlen(name) + 1;
    char *id = malloc(n);
    if (!id)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    snprintf(id, n, "%s%s", ST_USER_PREFIX, name);
    st_buf b = ST_BUF_INIT;
    st_error ge;
    st_status st = st_db_get(db, id, NULL, &b, &ge);
    free(id);
    if (st != ST_OK) {
        st_buf_free(&b);
        if (st == ST_E_NOT_FOUND)
            return ST_E_NOT_FOUND;
        return st_fail(err, st, "%s", ge.reason);
    }
    st_json_doc *d = NULL;
    st = st_json_parse(b.data, b.len, NULL, &d, err);
    OPENSSL_cleanse(b.data, b.len);
    st_buf_free(&b);
    if (st != ST_OK)
        return st;
    const st_json *doc = st_json_doc_root(d);
    st_principal *p = principal_new();
    st_pw_hash h;
    bool hashed = st_pw_from_user_doc(doc, &h, NULL) == ST_OK;
    const char *rev = st_json_get_str(doc, "_rev");
    const st_json *roles = st_json_get(doc, "roles");
    if (!p || !(p->name = strdup(name)))
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    /* Roles that are not a list of strings grant nothing. */
    if (st == ST_OK && roles && st_roles_from_json(&p->roles, roles) != ST_OK)
        st_roles_free(&p->roles);
    if (st == ST_OK)
        st = own_hash(p, hashed ? &h : NULL, rev ? rev : "", err);
    st_json_doc_free(d);
    if (st != ST_OK) {
        if (p)
            principal_free(p);
        return st;
    }
    *out = p;
    return ST_OK;
}

st_status st_users_get(st_users *u, const char *name, const st_principal **out, st_error *err)
{
    *out = NULL;
    for (size_t i = 0; i < u->n_admins; i++) {
        if (strcmp(u->admins[i].p->name, name) == 0) {
            *out = st_principal_ref(u->admins[i].p);
            return ST_OK;
        }
    }
    size_t b = bucket_of(name);
    pthread_mutex_lock(&u->mu);
    st_db *db = handle_locked(u);
    if (!db) {
        pthread_mutex_unlock(&u->mu);
        return ST_E_NOT_FOUND;
    }
    uint64_t seq = st_db_update_seq(db);
    for (entry *e = u->buckets[b]; e; e = e->next) {
        if (strcmp(e->name, name) != 0 || e->seq != seq || e->db != db)
            continue;
        *out = st_principal_ref(e->p);
        pthread_mutex_unlock(&u->mu);
        return e->p ? ST_OK : ST_E_NOT_FOUND;
    }
    st_db *ref = NULL;
    if (st_catalog_get(u->cat, u->db_name, &ref, NULL) != ST_OK) {
        pthread_mutex_unlock(&u->mu);
        return ST_E_NOT_FOUND;
    }
    pthread_mutex_unlock(&u->mu);

    entry *ne = calloc(1, sizeof *ne);
    st_status st = ne ? read_user(ref, name, &ne->p, err) : st_fail(err, ST_E_NOMEM, "oom");
    st_catalog_put(u->cat, ref);
    if (st != ST_OK && st != ST_E_NOT_FOUND) {
        free(ne);
        return st;
    }
    if (!(ne->name = strdup(name))) {
        bool missing = !ne->p;
        entry_free(ne);
        return missing ? ST_E_NOT_FOUND : st_fail(err, ST_E_NOMEM, "out of memory");
    }
    ne->seq = seq;
    ne->db = db;
    *out = st_principal_ref(ne->p);
    pthread_mutex_lock(&u->mu);
    /* Drop older entries for the name, then insert. */
    for (entry **pp = &u->buckets[b]; *pp;) {
        if (strcmp((*pp)->name, name) == 0) {
            entry *dead = *pp;
            *pp = dead->next;
            entry_free(dead);
            u->n_entries--;
        } else {
            pp = &(*pp)->next;
        }
    }
    if (u->n_entries >= u->max_entries)
        cache_clear(u);
    ne->next = u->buckets[b];
    u->buckets[b] = ne;
    u->n_entries++;
    pthread_mutex_unlock(&u->mu);
    return *out ? ST_OK : ST_E_NOT_FOUND;
}
