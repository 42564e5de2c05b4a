/* roles.h — a list of role names: what a verified credential grants (an
 * identity, a name with its roles, is identity.h's).
 *
 * Ownership: an st_roles owns its strings; st_roles_free() releases them and
 * leaves an empty list.  Start from ST_ROLES_INIT.  Not thread-safe: one
 * list, one thread at a time (copies are independent).
 */
#ifndef ST_SERVER_ROLES_H
#define ST_SERVER_ROLES_H

#include <stdbool.h>
#include <stddef.h>
#include "st_error.h"
#include "st_json.h"
#include "st_security.h"

typedef struct st_roles {
    char **v; /* v[0..n): NUL-terminated, malloc'd */
    size_t n;
} st_roles;

#define ST_ROLES_INIT {NULL, 0}
#define ST_ROLES_MAX 1024     /* more roles than this is refused (memory bound) */
#define ST_ROLE_MAX_LEN 1024  /* bytes per role name */

st_status st_roles_add(st_roles *r, const char *s, size_t n);   /* copies; ST_E_TOO_LARGE past the bounds */
st_status st_roles_copy(st_roles *dst, const st_roles *src);    /* dst must be empty */
/* Append every element of a JSON array of strings; ST_E_BAD_REQUEST if v is
 * not an array or holds a non-string (r is then left empty). */
st_status st_roles_from_json(st_roles *r, const st_json *v);
bool st_roles_has(const st_roles *r, const char *role);
bool st_roles_equal(const st_roles *a, const st_roles *b);      /* same names, same order */
void st_roles_free(st_roles *r);                                /* NULL ok */

#endif
