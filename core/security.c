/* security.c — see st_security.h.
 *
 * Why parse once and share: every request to a database asks "is this user
 * a member?", and the object changes rarely.  The parsed lists live in one
 * allocation next to the JSON text; the database swaps its pointer when a
 * new object is written and readers keep their reference, so no lock is
 * held while matching.
 */
#include "st_security.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "st_json.h"

typedef struct principals {
    char **names;
    size_t n_names;
    char **roles;
    size_t n_roles;
} principals;

struct st_security {
    atomic_uint refs;
    principals admins, members;
    char *json;
    size_t json_len;
};

bool st_user_has_role(const st_user_ctx *u, const char *role)
{
    for (size_t i = 0; u && i < u->n_roles; i++)
        if (u->roles[i] && strcmp(u->roles[i], role) == 0)
            return true;
    return false;
}

bool st_user_is_server_admin(const st_user_ctx *u)
{
    return st_user_has_role(u, ST_ROLE_ADMIN);
}

static void principals_free(principals *p)
{
    for (size_t i = 0; i < p->n_names; i++)
        free(p->names[i]);
    for (size_t i = 0; i < p->n_roles; i++)
        free(p->roles[i]);
    free(p->names);
    free(p->roles);
}

static void security_free(st_security *s)
{
    principals_free(&s->admins);
    principals_free(&s->members);
    free(s->json);
    free(s);
}

/* v: an array of strings (or absent) → a copied list. */
static st_status string_list(const st_json *v, const char *what, char ***out, size_t *n,
                             st_error *err)
{
    *out = NULL;
    *n = 0;
    if (!v)
        return ST_OK;
    if (v->type != ST_JSON_ARRAY || v->len > ST_SECURITY_MAX_ENTRIES)
        return st_fail(err, ST_E_BAD_REQUEST, "%s must be a JSON list of strings", what);
    for (size_t i = 0; i < v->len; i++)
        if (v->u.items[i].type != ST_JSON_STRING)
            return st_fail(err, ST_E_BAD_REQUEST, "%s must be a JSON list of strings", what);
    if (v->len == 0)
        return ST_OK;
    char **list = calloc(v->len, sizeof *list);
    if (!list)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    *out = list;
    for (size_t i = 0; i < v->len; i++) {
        if (!(list[i] = strdup(v->u.items[i].u.str)))
            return st_fail(err, ST_E_NOMEM, "out of memory");
        *n = i + 1;
    }
    return ST_OK;
}

static st_status principals_of(const st_json *v, principals *p, st_error *err)
{
    if (!v)
        return ST_OK;
    if (v->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "admins or members must be a JSON list of strings");
    st_status st = string_list(st_json_get(v, "names"), "names", &p->names, &p->n_names, err);
    if (st == ST_OK)
        st = string_list(st_json_get(v, "roles"), "roles", &p->roles, &p->n_roles, err);
    return st;
}

st_status st_security_parse(const char *json, size_t len, st_security **out, st_error *err)
{
    *out = NULL;
    st_json_limits lim = {.max_bytes = ST_SECURITY_MAX_BYTES, .max_depth = 16};
    st_json_doc *doc = NULL;
    st_status st = st_json_parse(json, len, &lim, &doc, err);
    if (st != ST_OK) {
        if (st == ST_E_DOC_TOO_LARGE)
            st = st_fail(err, ST_E_TOO_LARGE, "the security object is too large");
        return st;
    }
    const st_json *root = st_json_doc_root(doc);
    st_security *s = calloc(1, sizeof *s);
    if (!s) {
        st_json_doc_free(doc);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    atomic_init(&s->refs, 1);
    if (root->type != ST_JSON_OBJECT) {
        st = st_fail(err, ST_E_BAD_REQUEST, "Request body must be a JSON object");
    } else {
        /* "readers" is the pre-1.x name of "members", still read by CouchDB. */
        const st_json *members = st_json_get(root, "members");
        if (!members)
            members = st_json_get(root, "readers");
        st = principals_of(st_json_get(root, "admins"), &s->admins, err);
        if (st == ST_OK)
            st = principals_of(members, &s->members, err);
    }
    if (st == ST_OK && !(s->json = malloc(len + 1)))
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    st_json_doc_free(doc);
    if (st != ST_OK) {
        security_free(s);
        return st;
    }
    memcpy(s->json, json, len);
    s->json[len] = '\0';
    s->json_len = len;
    *out = s;
    return ST_OK;
}

st_status st_security_empty(st_security **out, st_error *err)
{
    return st_security_parse("{}", 2, out, err);
}

st_security *st_security_ref(st_security *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void st_security_release(st_security *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        security_free(s);
}

const char *st_security_json(const st_security *s, size_t *len)
{
    if (len)
        *len = s->json_len;
    return s->json;
}

static bool listed(char *const *list, size_t n, const char *x)
{
    for (size_t i = 0; x && i < n; i++)
        if (strcmp(list[i], x) == 0)
            return true;
    return false;
}

static bool matches(const principals *p, const st_user_ctx *u)
{
    if (!u)
        return false;
    if (listed(p->names, p->n_names, u->name))
        return true;
    for (size_t i = 0; i < u->n_roles; i++)
        if (listed(p->roles, p->n_roles, u->roles[i]))
            return true;
    return false;
}

bool st_security_is_public(const st_security *s)
{
    return s->members.n_names == 0 && s->members.n_roles == 0;
}

bool st_security_is_admin(const st_security *s, const st_user_ctx *u)
{
    return st_user_is_server_admin(u) || matches(&s->admins, u);
}

bool st_security_is_member(const st_security *s, const st_user_ctx *u)
{
    return st_security_is_public(s) || st_security_is_admin(s, u) || matches(&s->members, u);
}
