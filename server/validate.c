/* validate.c — see validate.h.  What is the server's own: the
 * authentication database's rules, and who may write a design document
 * (the request's identity against the database's admins); the rest is
 * core's (st_vdu.h).
 */
#include "validate.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "st_vdu.h"
#include "users_db.h"

#define NOT_DB_ADMIN "You are not a db or server admin."

typedef struct vdb {
    st_vdu *core;           /* design documents and validate_doc_update */
    bool users;             /* the authentication database */
} vdb;

static st_status validate(void *ctx, const st_update *u, st_error *err)
{
    vdb *v = ctx;
    st_status st = ST_OK;
    if (v->users && (st = st_usersdb_validate(NULL, u, err)) != ST_OK)
        return st;
    if (strncmp(u->id, "_design/", 8) == 0 && u->user && !st_security_is_admin(u->sec, u->user))
        return st_fail(err, u->user->name ? ST_E_FORBIDDEN : ST_E_UNAUTHORIZED, NOT_DB_ADMIN);
    return st_vdu_validate(v->core, u, err);
}

static void vdb_free(void *ctx)
{
    vdb *v = ctx;
    st_vdu_free(v->core);
    free(v);
}

static st_status refuse_all(void *ctx, const st_update *u, st_error *err)
{
    (void)ctx;
    (void)u;
    return st_fail(err, ST_E_NOMEM, "the database's validator could not be set up");
}

void st_validate_on_open(void *ctx, st_db *db)
{
    st_server *srv = ctx;
    vdb *v = calloc(1, sizeof *v);
    bool users = st_usersdb_is(srv, st_db_name(db));
    /* The authentication database's rules apply to every write. */
    st_vdu_options o = {.qs = srv->qs, .keep_scope = users, .qs_hint = NULL};
    if (!v || st_vdu_new(db, &o, &v->core, NULL) != ST_OK) {
        /* Without its validator a database would take writes it must
         * refuse: refuse them all instead. */
        st_log(ST_LOG_ERROR, "out of memory installing the validator of %s", st_db_name(db));
        free(v);
        st_db_set_validator(db, refuse_all, NULL);
        return;
    }
    v->users = users;
    /* Every write is validated until the first one finds no
     * validate_doc_update and narrows the scope. */
    st_db_set_validator_owned(db, validate, v, ST_VALIDATE_ALL, vdb_free);
}
