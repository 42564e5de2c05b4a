/* roles.c — a growable array of role names with a hard bound, so a token
 * carrying a million roles costs a refusal, not a million allocations. */
#include "roles.h"

#include <stdlib.h>
#include <string.h>

st_status st_roles_add(st_roles *r, const char *s, size_t n)
{
    if (memchr(s, '\0', n))
        return ST_E_BAD_REQUEST; /* a C string could not carry it faithfully */
    if (r->n >= ST_ROLES_MAX || n > ST_ROLE_MAX_LEN)
        return ST_E_TOO_LARGE;
    char **grown = realloc(r->v, (r->n + 1) * sizeof *grown);
    if (!grown)
        return ST_E_NOMEM;
    r->v = grown;
    char *copy = malloc(n + 1);
    if (!copy)
        return ST_E_NOMEM;
    memcpy(copy, s, n);
    copy[n] = '\0';
    r->v[r->n++] = copy;
    return ST_OK;
}

st_status st_roles_copy(st_roles *dst, const st_roles *src)
{
    for (size_t i = 0; i < src->n; i++) {
        st_status rc = st_roles_add(dst, src->v[i], strlen(src->v[i]));
        if (rc != ST_OK) {
            st_roles_free(dst);
            return rc;
        }
    }
    return ST_OK;
}

st_status st_roles_from_json(st_roles *r, const st_json *v)
{
    if (!v || v->type != ST_JSON_ARRAY)
        return ST_E_BAD_REQUEST;
    for (size_t i = 0; i < v->len; i++) {
        const st_json *e = &v->u.items[i];
        st_status rc = e->type == ST_JSON_STRING ? st_roles_add(r, e->u.str, e->len)
                                                 : ST_E_BAD_REQUEST;
        if (rc != ST_OK) {
            st_roles_free(r);
            return rc;
        }
    }
    return ST_OK;
}

bool st_roles_has(const st_roles *r, const char *role)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i], role) == 0)
            return true;
    }
    return false;
}

bool st_roles_equal(const st_roles *a, const st_roles *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    }
    return true;
}

void st_roles_free(st_roles *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}
