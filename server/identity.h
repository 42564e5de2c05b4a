/* identity.h — who made a request: a name with its roles, as the
 * authentication handlers found it (auth.c).  Not thread-safe: one
 * identity, one thread at a time (copies are independent; a shared
 * principal is immutable and refcounted, users.h).
 */
#ifndef ST_SERVER_IDENTITY_H
#define ST_SERVER_IDENTITY_H

#include "roles.h"

struct st_principal;

/* Who made a request, once the authentication handlers ran (auth.c).
 * Either the identity owns its strings, or (owner set: a user or admin
 * that a password or cookie named) name and roles are borrowed from that
 * shared, immutable principal (users.h), of which the identity holds one
 * reference.  Read name and roles, never change or free them:
 * st_identity_clear releases whichever it is. */
typedef struct st_identity {
    char *name;        /* NULL = anonymous */
    st_roles roles;    /* "_admin" for server admins */
    const char *how;   /* the handler that authenticated it: "cookie",
                          "default", "proxy", "jwt"; NULL when anonymous */
    const struct st_principal *owner; /* a reference, or NULL: owns its strings */
} st_identity;

/* The identity as core sees it (borrowed from id). */
static inline st_user_ctx st_identity_ctx(const st_identity *id)
{
    st_user_ctx u = {id->name, (const char *const *)id->roles.v, id->roles.n};
    return u;
}
void st_identity_clear(st_identity *id);
st_status st_identity_copy(st_identity *dst, const st_identity *src);

#endif
