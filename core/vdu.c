/* vdu.c — see st_vdu.h.
 *
 * Why the design documents are read inside the write's transaction rather
 * than kept up to date from a follower: the validator sees a design
 * document's write before it commits, and a batch that fails is rolled
 * back; a copy maintained from what the validator saw could enforce a
 * validate_doc_update that was never saved, or miss one that was.  Reading
 * them through the writer's own connection (st_db_design_docs) gives what
 * the transaction will commit, at the price of an index range read of a
 * few rows per validated write.
 */
#include "st_vdu.h"
#include "st_ddoc_req.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "st_buf.h"
#include "st_ddoc.h"
#include "st_jw.h"
#include "st_security.h"

struct st_vdu {
    st_db *db;
    st_qs *qs;
    bool keep_scope;
    char *qs_hint;          /* NULL: none */
    pthread_mutex_t mu;     /* guards local */
    char *local;            /* the local user's userCtx as JSON text */
};

/* ---- design documents at save ---------------------------------------- */

/* "compilation_error: <why>" from the pool: keep <why>. */
static const char *why(const st_error *e)
{
    const char *p = strstr(e->reason, ": ");
    return p ? p + 2 : e->reason;
}

static st_status compile_one(st_qs_proc *p, const char *kind, const char *name, const char *src,
                             st_error *err)
{
    st_error e;
    st_status st = st_qs_add_fun(p, src, strlen(src), &e);
    if (st == ST_E_COMPILATION)
        return st_fail(err, ST_E_COMPILATION,
                       "Compilation of the %s function in the '%s' view failed: %s", kind, name,
                       why(&e));
    if (st != ST_OK && err)
        *err = e;
    return st;
}

st_status st_vdu_ddoc_functions(st_qs *qs, const st_json *doc, st_error *err)
{
    const char *lang = st_json_get_str(doc, "language");
    const st_json *views = st_json_get(doc, "views");
    const char *vdu = st_json_get_str(doc, "validate_doc_update");
    if (!vdu && (!views || views->len == 0))
        return ST_OK;
    st_qs_proc *p = NULL;
    st_error ce;
    st_status st = st_qs_checkout(qs, lang ? lang : "javascript", NULL, &p, &ce);
    if (st == ST_E_UNKNOWN_LANGUAGE)
        return ST_OK; /* stored as CouchDB stores it; its views answer 500 */
    if (st != ST_OK) {
        if (err)
            *err = ce;
        return st;
    }
    if ((st = st_qs_reset(p, NULL, err)) != ST_OK)
        goto out;
    for (size_t i = 0; views && st == ST_OK && i < views->len; i++) {
        const st_json_member *m = &views->u.members[i];
        const char *map = st_json_get_str(&m->value, "map");
        const char *red = st_json_get_str(&m->value, "reduce");
        if (strcmp(m->key, "lib") == 0 || !map)
            continue;
        st = compile_one(p, "map", m->key, map, err);
        if (st == ST_OK && red && red[0] != '_')
            st = compile_one(p, "reduce", m->key, red, err);
    }
    if (st == ST_OK && vdu) {
        st_error e;
        st = st_qs_add_fun(p, vdu, strlen(vdu), &e);
        if (st == ST_E_COMPILATION)
            st = st_fail(err, ST_E_COMPILATION,
                         "Compilation of the validate_doc_update function failed: %s", why(&e));
        else if (st != ST_OK && err)
            *err = e;
    }
    /* Nothing of this stays loaded under anybody's key. */
    if (st == ST_OK)
        st = st_qs_reset(p, NULL, err);
out:
    st_qs_checkin(p);
    return st;
}

static st_status check_design(st_vdu *v, const st_update *u, st_error *err)
{
    if (u->deleted)
        return ST_OK;
    st_json_doc *d = NULL;
    st_status st = st_json_parse(u->body, u->body_len, NULL, &d, err);
    if (st == ST_OK)
        st = st_ddoc_check(st_json_doc_root(d), err);
    if (st == ST_OK)
        st = st_vdu_ddoc_functions(v->qs, st_json_doc_root(d), err);
    /* A validate_doc_update appears: validate every write from now on (a
     * rollback is harmless, the next write reads the design docs again). */
    if (st == ST_OK && st_json_get_str(st_json_doc_root(d), "validate_doc_update"))
        st_db_validator_scope(v->db, ST_VALIDATE_ALL);
    st_json_doc_free(d);
    return st;
}

/* ---- validate_doc_update ------------------------------------------------ */

typedef struct vdu_doc {
    char *id, *rev, *json;
    size_t len;
    char *lang;
} vdu_doc;

typedef struct vdu_list {
    vdu_doc *v;
    size_t n, cap;
    st_status st;
} vdu_list;

static void vdu_list_free(vdu_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].id);
        free(l->v[i].rev);
        free(l->v[i].json);
        free(l->v[i].lang);
    }
    free(l->v);
}

static int take_design(void *ctx, const char *id, const char *rev, const char *json, size_t len)
{
    vdu_list *l = ctx;
    /* Cheap test before parsing: no such member, no function. */
    if (!strstr(json, "\"validate_doc_update\"")) /* json is NUL-terminated */
        return 0;
    st_ddoc *d = NULL;
    if (st_ddoc_parse(json, len, &d, NULL) != ST_OK)
        return 0;
    if (!st_ddoc_vdu(d)) {
        st_ddoc_release(d);
        return 0;
    }
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 4;
        vdu_doc *g = realloc(l->v, nc * sizeof *g);
        if (!g) {
            st_ddoc_release(d);
            l->st = ST_E_NOMEM;
            return 1;
        }
        l->v = g;
        l->cap = nc;
    }
    vdu_doc x = {strdup(id), strdup(rev), malloc(len + 1), len, strdup(st_ddoc_language(d))};
    st_ddoc_release(d);
    if (!x.id || !x.rev || !x.json || !x.lang) {
        free(x.id);
        free(x.rev);
        free(x.json);
        free(x.lang);
        l->st = ST_E_NOMEM;
        return 1;
    }
    memcpy(x.json, json, len);
    x.json[len] = '\0';
    l->v[l->n++] = x;
    return 0;
}

/* {"_id","_rev","_deleted"?,"_revisions",...body} */
static st_status new_doc_json(const st_update *u, st_buf *out)
{
    st_jw w;
    st_status st = st_jw_init(&w, out);
    if (st != ST_OK)
        return st;
    st_jw_obj_open(&w);
    st_jw_key(&w, "_id");
    st_jw_str(&w, u->id);
    st_jw_key(&w, "_rev");
    st_jw_str(&w, u->rev);
    if (u->deleted) {
        st_jw_key(&w, "_deleted");
        st_jw_bool(&w, true);
    }
    /* The path as far as the write knows it: the new rev and its parent. */
    const char *dash = strchr(u->rev, '-');
    if (dash) {
        st_jw_key(&w, "_revisions");
        st_jw_obj_open(&w);
        st_jw_key(&w, "start");
        st_jw_uint(&w, strtoull(u->rev, NULL, 10));
        st_jw_key(&w, "ids");
        st_jw_arr_open(&w);
        st_jw_str(&w, dash + 1);
        const char *od = u->old_rev ? strchr(u->old_rev, '-') : NULL;
        if (od && !u->replicated)
            st_jw_str(&w, od + 1);
        st_jw_arr_close(&w);
        st_jw_obj_close(&w);
    }
    st_jw_members(&w, u->body, u->body_len);
    st_jw_obj_close(&w);
    st = st_jw_status(&w);
    st_jw_free(&w);
    return st;
}

static st_status old_doc_json(const st_update *u, st_buf *out)
{
    st_jw w;
    st_status st = st_jw_init(&w, out);
    if (st != ST_OK)
        return st;
    st_jw_obj_open(&w);
    st_jw_key(&w, "_id");
    st_jw_str(&w, u->id);
    st_jw_key(&w, "_rev");
    st_jw_str(&w, u->old_rev);
    const char *dash = strchr(u->old_rev, '-');
    if (dash) {
        st_jw_key(&w, "_revisions");
        st_jw_obj_open(&w);
        st_jw_key(&w, "start");
        st_jw_uint(&w, strtoull(u->old_rev, NULL, 10));
        st_jw_key(&w, "ids");
        st_jw_arr_open(&w);
        st_jw_str(&w, dash + 1);
        st_jw_arr_close(&w);
        st_jw_obj_close(&w);
    }
    st_jw_members(&w, u->old_body, u->old_len);
    st_jw_obj_close(&w);
    st = st_jw_status(&w);
    st_jw_free(&w);
    return st;
}

/* {"db","name","roles"} of user as its own JSON text. */
static st_status user_json(const char *db, const char *name, const char *const *roles, size_t n,
                           bool admin, st_buf *out)
{
    st_jw w;
    st_status st = st_jw_init(&w, out);
    if (st != ST_OK)
        return st;
    st_ddoc_req_user_value(&w, db, name, roles, n, admin);
    st = st_jw_status(&w);
    st_jw_free(&w);
    return st;
}

static st_status user_ctx_json(st_vdu *v, const st_update *u, st_buf *out)
{
    if (u->user)
        return user_json(st_db_name(v->db), u->user->name, u->user->roles, u->user->n_roles,
                         false, out);
    pthread_mutex_lock(&v->mu);
    st_status st = st_buf_adds(out, v->local);
    pthread_mutex_unlock(&v->mu);
    return st;
}

/* A function that cannot run for want of a query server refuses the write. */
static st_status no_server(st_vdu *v, const vdu_doc *d, st_error *err)
{
    return st_fail(err, ST_E_UNKNOWN_LANGUAGE,
                   "the validate_doc_update of %s cannot run: no query server for language "
                   "'%s'%s%s",
                   d->id, d->lang, v->qs_hint ? "; " : "", v->qs_hint ? v->qs_hint : "");
}

static st_status run_vdus(st_vdu *v, const st_update *u, const vdu_list *l, st_error *err)
{
    st_buf nd = ST_BUF_INIT, od = ST_BUF_INIT, uc = ST_BUF_INIT, key = ST_BUF_INIT;
    st_status st = new_doc_json(u, &nd);
    if (st == ST_OK && u->old_rev && !u->old_deleted)
        st = old_doc_json(u, &od);
    if (st == ST_OK)
        st = user_ctx_json(v, u, &uc);
    if (st != ST_OK) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    size_t sec_len = 0;
    const char *sec = st_security_json(u->sec, &sec_len);
    st_qs_proc *p = NULL;
    for (size_t i = 0; st == ST_OK && i < l->n; i++) {
        const vdu_doc *d = &l->v[i];
        st_buf_reset(&key);
        if (st_buf_printf(&key, "%s@%s", d->id, d->rev) != ST_OK) {
            st = st_fail(err, ST_E_NOMEM, "out of memory");
            break;
        }
        /* One process for them all when they share a language. */
        if (p && i > 0 && strcmp(d->lang, l->v[i - 1].lang) != 0) {
            st_qs_checkin(p);
            p = NULL;
        }
        if (!p && (st = st_qs_checkout(v->qs, d->lang, key.data, &p, err)) != ST_OK) {
            if (st == ST_E_UNKNOWN_LANGUAGE)
                st = no_server(v, d, err);
            break;
        }
        if ((st = st_qs_ddoc_prepare(p, d->id, key.data, d->json, d->len, err)) == ST_OK)
            st = st_qs_validate(p, d->id, nd.data, od.len ? od.data : NULL, uc.data, sec, NULL, err);
    }
    st_qs_checkin(p);
out:
    st_buf_free(&nd);
    st_buf_free(&od);
    st_buf_free(&uc);
    st_buf_free(&key);
    return st;
}

st_status st_vdu_validate(st_vdu *v, const st_update *u, st_error *err)
{
    if (strncmp(u->id, "_design/", 8) == 0)
        return check_design(v, u, err);
    vdu_list l = {0};
    st_status st = st_db_design_docs(v->db, take_design, &l, err);
    if (st == ST_OK && l.st != ST_OK)
        st = st_fail(err, l.st, "out of memory");
    if (st == ST_OK && l.n == 0 && !v->keep_scope)
        st_db_validator_scope(v->db, ST_VALIDATE_DESIGN); /* nothing to run: go quiet */
    if (st == ST_OK && l.n)
        st = run_vdus(v, u, &l, err);
    vdu_list_free(&l);
    return st;
}

/* ---- the validator ------------------------------------------------------ */

st_status st_vdu_set_local_user(st_vdu *v, const char *name, const char *const *roles,
                                size_t n, st_error *err)
{
    st_buf b = ST_BUF_INIT;
    if (user_json(st_db_name(v->db), name, roles, n, false, &b) != ST_OK) {
        st_buf_free(&b);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    char *text = st_buf_take(&b, NULL);
    pthread_mutex_lock(&v->mu);
    char *old = v->local;
    v->local = text;
    pthread_mutex_unlock(&v->mu);
    free(old);
    return ST_OK;
}

st_status st_vdu_new(st_db *db, const st_vdu_options *o, st_vdu **out, st_error *err)
{
    *out = NULL;
    st_vdu *v = calloc(1, sizeof *v);
    if (!v)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    v->db = db;
    v->qs = o->qs;
    v->keep_scope = o->keep_scope;
    pthread_mutex_init(&v->mu, NULL);
    st_buf b = ST_BUF_INIT;
    bool ok = user_json(st_db_name(db), NULL, NULL, 0, true, &b) == ST_OK;
    v->local = st_buf_take(&b, NULL);
    if (o->qs_hint && !(v->qs_hint = strdup(o->qs_hint)))
        ok = false;
    if (!ok || !v->local) {
        st_buf_free(&b);
        st_vdu_free(v);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    *out = v;
    return ST_OK;
}

void st_vdu_free(st_vdu *v)
{
    if (!v)
        return;
    free(v->local);
    free(v->qs_hint);
    pthread_mutex_destroy(&v->mu);
    free(v);
}

static st_status validate_fn(void *ctx, const st_update *u, st_error *err)
{
    return st_vdu_validate(ctx, u, err);
}

static void free_fn(void *ctx) { st_vdu_free(ctx); }

void st_vdu_install(st_db *db, st_vdu *v)
{
    /* Every write is validated until the first one finds no
     * validate_doc_update and narrows the scope. */
    st_db_set_validator_owned(db, validate_fn, v, ST_VALIDATE_ALL, free_fn);
}
