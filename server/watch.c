/* watch.c — see watch.h.
 *
 * Why a thread and not the follower's wake: the wake runs on a core thread
 * that must not read or write databases; creating a database and writing
 * its security object are ordinary blocking calls, made here.
 */
#include "watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "feed.h"
#include "log.h"
#include "st_follow.h"
#include "st_jw.h"
#include "auth.h"
#include "users.h"

#define RETRY_MS 1000

struct st_watch {
    st_server *srv;
    pthread_t t;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken, stop;
    _Atomic uint64_t seen;
};

st_status st_peruser_db_name(const char *prefix, const char *name, char **out, st_error *err)
{
    size_t n = strlen(prefix) + 2 * strlen(name) + 1;
    char *s = malloc(n);
    if (!s)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    size_t k = (size_t)snprintf(s, n, "%s", prefix);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        k += (size_t)snprintf(s + k, n - k, "%x", *p);
    *out = s;
    return ST_OK;
}

uint64_t st_watch_seen(const st_watch *w)
{
    return w ? atomic_load(&((st_watch *)w)->seen) : 0;
}

static void woken(void *ctx)
{
    st_watch *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->woken = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Sleep until woken, stopped or ms passed; false when stopping. */
static bool wait_for(st_watch *w, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->woken && !w->stop)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0)
            break;
    w->woken = false;
    bool go = !w->stop;
    pthread_mutex_unlock(&w->mu);
    return go;
}

/* names of one principals object with `name` added or removed. */
static void principals(st_jw *jw, const st_json *p, const char *name, bool add)
{
    st_jw_obj_open(jw);
    bool had_names = false;
    for (size_t i = 0; p && p->type == ST_JSON_OBJECT && i < p->len; i++) {
        const st_json_member *m = &p->u.members[i];
        st_jw_keyn(jw, m->key, m->key_len);
        if (strcmp(m->key, "names") != 0 || m->value.type != ST_JSON_ARRAY) {
            st_jw_value(jw, &m->value);
            continue;
        }
        had_names = true;
        bool present = false;
        st_jw_arr_open(jw);
        for (size_t k = 0; k < m->value.len; k++) {
            const st_json *v = &m->value.u.items[k];
            bool is = v->type == ST_JSON_STRING && strcmp(v->u.str, name) == 0;
            present = present || is;
            if (!is || add)
                st_jw_value(jw, v);
        }
        if (add && !present)
            st_jw_str(jw, name);
        st_jw_arr_close(jw);
    }
    if (!p || p->type != ST_JSON_OBJECT) {
        st_jw_key(jw, "roles");
        st_jw_arr_open(jw);
        st_jw_str(jw, ST_ROLE_ADMIN);
        st_jw_arr_close(jw);
    }
    if (!had_names && add) {
        st_jw_key(jw, "names");
        st_jw_arr_open(jw);
        st_jw_str(jw, name);
        st_jw_arr_close(jw);
    }
    st_jw_obj_close(jw);
}

/* The security object sec_json with name in (or out of) both lists. */
static st_status edit_security(const char *sec_json, size_t len, const char *name, bool add,
                               st_buf *out, st_error *err)
{
    st_json_doc *d = NULL;
    st_status st = st_json_parse(sec_json, len, NULL, &d, err);
    if (st != ST_OK)
        return st;
    const st_json *root = st_json_doc_root(d);
    st_jw jw;
    if ((st = st_jw_init(&jw, out)) != ST_OK) {
        st_json_doc_free(d);
        return st_fail(err, st, "out of memory");
    }
    st_jw_obj_open(&jw);
    static const char *const lists[] = {"members", "admins"};
    for (size_t k = 0; k < 2; k++) {
        st_jw_key(&jw, lists[k]);
        principals(&jw, st_json_get(root, lists[k]), name, add);
    }
    for (size_t i = 0; i < root->len; i++) {
        const st_json_member *m = &root->u.members[i];
        if (strcmp(m->key, "members") == 0 || strcmp(m->key, "admins") == 0)
            continue;
        st_jw_keyn(&jw, m->key, m->key_len);
        st_jw_value(&jw, &m->value);
    }
    st_jw_obj_close(&jw);
    st = st_jw_status(&jw);
    st_jw_free(&jw);
    st_json_doc_free(d);
    return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
}

/* Create (or complete) name's database, or on deletion delete it / take
 * the name out. */
static void peruser(st_watch *w, const char *name, bool deleted)
{
    st_server *srv = w->srv;
    const st_auth_settings *as = &srv->cfg->auth;
    char *dbname = NULL;
    st_error e;
    if (st_peruser_db_name(as->peruser_prefix ? as->peruser_prefix : "userdb-", name, &dbname,
                           &e) != ST_OK)
        return;
    if (deleted && as->peruser_delete_dbs) {
        if (st_catalog_delete(srv->cat, dbname, &e) == ST_OK)
            st_log(ST_LOG_NOTICE, "couch_peruser: deleted %s", dbname);
        free(dbname);
        return;
    }
    if (!deleted && !st_catalog_exists(srv->cat, dbname)) {
        st_buf b = ST_BUF_INIT;
        if (edit_security(ST_SECURITY_ADMIN_ONLY, strlen(ST_SECURITY_ADMIN_ONLY), name, true, &b,
                          &e) == ST_OK &&
            st_catalog_create(srv->cat, dbname, b.data, &e) == ST_OK)
            st_log(ST_LOG_NOTICE, "couch_peruser: created %s", dbname);
        else if (e.code != ST_E_FILE_EXISTS)
            st_log(ST_LOG_ERROR, "couch_peruser: cannot create %s: %s", dbname, e.reason);
        st_buf_free(&b);
        free(dbname);
        return;
    }
    st_db *db = NULL;
    if (st_catalog_get(srv->cat, dbname, &db, &e) == ST_OK) {
        st_security *sec = st_db_security(db);
        size_t len = 0;
        const char *j = st_security_json(sec, &len);
        st_buf b = ST_BUF_INIT;
        if (edit_security(j, len, name, !deleted, &b, &e) == ST_OK &&
            (b.len != len || memcmp(b.data, j, len) != 0) &&
            st_db_security_set(db, b.data, b.len, &e) != ST_OK)
            st_log(ST_LOG_ERROR, "couch_peruser: cannot update %s: %s", dbname, e.reason);
        st_buf_free(&b);
        st_security_release(sec);
        st_catalog_put(srv->cat, db);
    }
    free(dbname);
}

static int on_row(void *ctx, const st_change_row *row)
{
    st_watch *w = ctx;
    const char *name = st_users_name_of_id(row->id);
    if (!name || !*name)
        return 0;
    st_feeds_user_changed(w->srv->feeds, name);
    if (w->srv->cfg->auth.peruser_enable) {
        bool is_user = row->deleted;
        if (!row->deleted && row->doc_json) {
            st_json_doc *d = NULL;
            if (st_json_parse(row->doc_json, row->doc_len, NULL, &d, NULL) == ST_OK) {
                const char *type = st_json_get_str(st_json_doc_root(d), "type");
                is_user = type && strcmp(type, "user") == 0;
                st_json_doc_free(d);
            }
        }
        if (is_user)
            peruser(w, name, row->deleted);
    }
    return 0;
}

/* Follow one incarnation of the database until it goes or we stop. */
static void follow(st_watch *w, st_db *db)
{
    st_follower *f = NULL;
    st_error e;
    if (st_follow_open(db, 0, woken, w, &f, &e) != ST_OK)
        return;
    st_changes_opts o;
    st_changes_opts_init(&o);
    o.include_docs = true;
    o.limit = 100;
    for (;;) {
        st_follow_batch b;
        if (st_follow_read(f, &o, on_row, w, &b, &e) != ST_OK || st_db_is_deleted(db))
            break;
        atomic_fetch_add(&w->seen, b.rows);
        if (b.rows > 0)
            continue;
        if (!st_follow_arm(f))
            continue;
        if (!wait_for(w, RETRY_MS))
            break;
    }
    st_follow_close(f);
}

static void *watch_main(void *arg)
{
    st_watch *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        bool stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            break;
        st_db *db = st_users_db(st_auth_users(w->srv->auth));
        if (db) {
            follow(w, db);
            st_catalog_put(w->srv->cat, db);
        }
        if (!wait_for(w, RETRY_MS))
            break;
    }
    return NULL;
}

st_status st_watch_start(st_server *srv, st_watch **out, st_error *err)
{
    *out = NULL;
    st_watch *w = calloc(1, sizeof *w);
    if (!w)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    w->srv = srv;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->seen, 0);
    if (pthread_create(&w->t, NULL, watch_main, w) != 0) {
        st_watch_stop(w);
        return st_fail(err, ST_E_IO, "cannot start the users watcher");
    }
    w->started = true;
    *out = w;
    return ST_OK;
}

void st_watch_stop(st_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started)
        pthread_join(w->t, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
