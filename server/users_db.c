/* users_db.c — see users_db.h.
 *
 * Why in C and not as a JavaScript _design/_auth: the rules are fixed,
 * they run on every user write, and they must hold before any query server
 * exists.  They follow CouchDB 3.5's couch_users_db.erl (the 404 for other
 * users' documents) and the _auth validate_doc_update (every other reason),
 * in the same order, so the first refusal a client sees is CouchDB's.
 */
#include "users_db.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "auth.h"
#include "password.h"
#include "users.h"

bool st_usersdb_is(const st_server *srv, const char *name)
{
    const char *udb = srv->cfg->auth.authentication_db;
    return name && strcmp(name, udb ? udb : "_users") == 0;
}

static st_status forbid(st_error *err, const char *reason)
{
    return st_fail(err, ST_E_FORBIDDEN, "%s", reason);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The string members of a roles array, sorted (malloc'd array of borrowed
 * pointers); NULL with *n = 0 for none. */
static const char **sorted_roles(const st_json *roles, size_t *n)
{
    *n = 0;
    if (!roles || roles->type != ST_JSON_ARRAY || roles->len == 0)
        return NULL;
    const char **v = malloc(roles->len * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < roles->len; i++)
        if (roles->u.items[i].type == ST_JSON_STRING)
            v[(*n)++] = roles->u.items[i].u.str;
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static bool same_roles(const st_json *a, const st_json *b)
{
    size_t na, nb;
    const char **va = sorted_roles(a, &na), **vb = sorted_roles(b, &nb);
    bool same = na == nb;
    for (size_t i = 0; same && i < na; i++)
        same = strcmp(va[i], vb[i]) == 0;
    free(va);
    free(vb);
    return same;
}

/* The schemes the _auth validate_doc_update accepts (PROTOCOL-2 A.3). */
static bool known_scheme(const char *s)
{
    return s && (strcmp(s, "simple") == 0 || strcmp(s, "pbkdf2") == 0 ||
                 strcmp(s, "simple+pbkdf2") == 0);
}

/* JavaScript's truthiness of a JSON value (the VDU tests `doc.password_scheme &&`). */
static bool truthy(const st_json *v)
{
    switch (v->type) {
    case ST_JSON_NULL:
    case ST_JSON_FALSE:
        return false;
    case ST_JSON_STRING:
        return v->len > 0;
    case ST_JSON_NUMBER:
        return strtod(v->u.str, NULL) != 0;
    default:
        return true;
    }
}

/* The _auth validate_doc_update, on parsed documents. */
static st_status vdu(const st_update *u, const st_json *doc, const st_json *old, bool admin,
                     st_error *err)
{
    const char *name = st_json_get_str(doc, "name");
    const char *old_name = old ? st_json_get_str(old, "name") : NULL;
    const char *user = u->user ? u->user->name : NULL;
    if (u->deleted) {
        /* Deletes by admins and by the user named in the old revision. */
        if (admin || !u->user || st_user_is_server_admin(u->user) ||
            (user && old_name && strcmp(user, old_name) == 0))
            return ST_OK;
        return forbid(err, "Only admins may delete other user docs.");
    }
    const char *type = st_json_get_str(doc, "type");
    if (!type || strcmp(type, "user") != 0)
        return forbid(err, "doc.type must be user");
    if (!name || !*name)
        return forbid(err, "doc.name is required");
    const st_json *roles = st_json_get(doc, "roles");
    if (!roles)
        return forbid(err, "doc.roles must exist");
    if (roles->type != ST_JSON_ARRAY)
        return forbid(err, "doc.roles must be an array");
    for (size_t i = 0; i < roles->len; i++)
        if (roles->u.items[i].type != ST_JSON_STRING)
            return forbid(err, "doc.roles can only contain strings");
    const char *id_name = st_users_name_of_id(u->id);
    if (!id_name || strcmp(id_name, name) != 0)
        return forbid(err, "Doc ID must be of the form org.couchdb.user:name");
    if (old && (!old_name || strcmp(old_name, name) != 0))
        return forbid(err, "Usernames can not be changed.");
    if (st_json_get(doc, "password_sha") && !st_json_get(doc, "salt"))
        return forbid(err, "Users with password_sha must have a salt.See /_utils/script/couch.js "
                           "for example code.");
    const st_json *sv = st_json_get(doc, "password_scheme");
    const char *scheme = st_json_get_str(doc, "password_scheme");
    if (sv && (sv->type != ST_JSON_STRING || !known_scheme(scheme)) && truthy(sv))
        return st_fail(err, ST_E_FORBIDDEN, "Password scheme `%.64s` not supported.",
                       scheme ? scheme : sv->type == ST_JSON_NUMBER ? sv->u.str : "?");
    if (scheme && strcmp(scheme, "pbkdf2") == 0) {
        const st_json *it = st_json_get(doc, "iterations");
        const st_json *dk = st_json_get(doc, "derived_key");
        if (!it || it->type != ST_JSON_NUMBER)
            return forbid(err, "iterations must be a number.");
        if (!dk || dk->type != ST_JSON_STRING)
            return forbid(err, "derived_key must be a string.");
    }
    if (!admin) {
        if (old) {
            if (!user || strcmp(user, name) != 0)
                return forbid(err, "You may only update your own user document.");
            if (!same_roles(st_json_get(old, "roles"), roles))
                return forbid(err, "Only _admin may edit roles");
        } else if (roles->len > 0) {
            return forbid(err, "Only _admin may set roles");
        }
    }
    for (size_t i = 0; i < roles->len; i++) {
        const char *r = roles->u.items[i].u.str;
        if (r[0] == '_' && strcmp(r, "_metrics") != 0)
            return forbid(err, "No system roles (starting with underscore) in users db.");
    }
    if (name[0] == '_')
        return forbid(err, "Username may not start with underscore.");
    if (strchr(name, ':'))
        return forbid(err, "Character `:` is not allowed in usernames.");
    return ST_OK;
}

/* couch_users_db's before_doc_update, then the VDU. */
st_status st_usersdb_validate(void *ctx, const st_update *u, st_error *err)
{
    (void)ctx;
    if (strncmp(u->id, "_design/", 8) == 0)
        return ST_OK; /* design documents: database admins only (the router) */
    /* NULL user: the embedding application itself. */
    bool admin = !u->user || st_security_is_admin(u->sec, u->user);
    const char *id_name = st_users_name_of_id(u->id);
    if (!admin) {
        const char *user = u->user->name;
        /* Anonymous may create (sign up), never touch an existing doc. */
        bool own = user ? id_name && strcmp(user, id_name) == 0 : !u->old_rev || u->old_deleted;
        if (!own)
            return st_fail(err, ST_E_NOT_FOUND, "missing");
    }
    st_json_doc *nd = NULL, *od = NULL;
    st_status st = st_json_parse(u->body, u->body_len, NULL, &nd, err);
    if (st == ST_OK && u->old_rev && !u->old_deleted)
        st = st_json_parse(u->old_body, u->old_len, NULL, &od, err);
    if (st == ST_OK)
        st = vdu(u, st_json_doc_root(nd), od ? st_json_doc_root(od) : NULL, admin, err);
    st_json_doc_free(nd);
    st_json_doc_free(od);
    return st;
}

st_status st_usersdb_hash(st_server *srv, const st_json *doc, st_json_doc **out, st_error *err)
{
    *out = NULL;
    if (!doc || doc->type != ST_JSON_OBJECT)
        return ST_OK;
    const st_json *pw = st_json_get(doc, "password");
    if (!pw || pw->type == ST_JSON_NULL)
        return ST_OK;
    st_buf b = ST_BUF_INIT;
    bool changed = false;
    st_status st =
        st_pw_hash_user_doc(st_auth_policy(srv->auth), doc, &b, &changed, err);
    if (st == ST_OK && changed)
        st = st_json_parse(b.data, b.len, NULL, out, err);
    if (b.data)
        OPENSSL_cleanse(b.data, b.len);
    st_buf_free(&b);
    return st;
}

bool st_usersdb_may_write(st_req *r, const char *id)
{
    /* Anonymous: a sign-up, which the validator judges; _design/: the
     * router's (database admins); _local/: not user documents. */
    if (!st_usersdb_is(r->srv, r->db) || !r->user.name || !id ||
        strncmp(id, "_design/", 8) == 0 || strncmp(id, "_local/", 7) == 0)
        return true;
    st_security *sec = st_db_security(r->dbh);
    bool admin = st_security_is_admin(sec, &r->user);
    st_security_release(sec);
    const char *id_name = st_users_name_of_id(id);
    if (admin || (id_name && strcmp(id_name, r->user.name) == 0))
        return true;
    st_resp_fail(r, ST_E_NOT_FOUND, "missing");
    return false;
}

bool st_usersdb_may_read(st_req *r, const char *id)
{
    st_security *sec = st_db_security(r->dbh);
    bool admin = st_security_is_admin(sec, &r->user);
    st_security_release(sec);
    if (admin)
        return true;
    if (id && strncmp(id, "_design/", 8) == 0) {
        st_resp_fail(r, ST_E_FORBIDDEN,
                     "Only administrators can view design docs in the users database.");
        return false;
    }
    const char *id_name = st_users_name_of_id(id);
    if (r->user.name && id_name && strcmp(r->user.name, id_name) == 0)
        return true;
    st_resp_fail(r, ST_E_NOT_FOUND, "missing");
    return false;
}
