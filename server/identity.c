/* identity.c — clearing and copying a request's identity (identity.h):
 * the strings are its own, or borrowed from a shared principal (users.h)
 * of which it holds a reference.
 */
#include "identity.h"

#include <stdlib.h>
#include <string.h>
#include "users.h"

void st_identity_clear(st_identity *id)
{
    if (id->owner) {
        st_principal_release(id->owner);
    } else {
        free(id->name);
        st_roles_free(&id->roles);
    }
    memset(id, 0, sizeof *id);
}

st_status st_identity_copy(st_identity *dst, const st_identity *src)
{
    memset(dst, 0, sizeof *dst);
    if (src->owner) { /* immutable: share it */
        *dst = *src;
        st_principal_ref(dst->owner);
        return ST_OK;
    }
    dst->how = src->how;
    if ((src->name && !(dst->name = strdup(src->name))) ||
        st_roles_copy(&dst->roles, &src->roles) != ST_OK) {
        st_identity_clear(dst);
        return ST_E_NOMEM;
    }
    return ST_OK;
}
