/* access.c — see access.h.
 *
 * Why the security object is checked before the role's own rule: CouchDB
 * opens the database with the user's context first (which refuses
 * non-members), then the handler checks admin rights; the order decides
 * which of two refusals a client sees, so it is kept.
 */
#include "access.h"

#include <string.h>
#include "http.h"
#include "users_db.h"

#define NOT_AUTHORIZED "You are not authorized to access this db."
#define NOT_ALLOWED "You are not allowed to access this db."
#define NOT_SERVER_ADMIN "You are not a server admin."
#define NOT_DB_ADMIN "You are not a db or server admin."
#define NOT_COMPACT_ADMIN "You are not a server or db admin."

bool st_access_is_member(const st_security *sec, const st_user_ctx *u)
{
    return st_security_is_member(sec, u);
}

/* 401 for anonymous, 403 for a user. */
static bool refuse(st_req *r, const char *reason)
{
    st_resp_fail(r, r->user.name ? ST_E_FORBIDDEN : ST_E_UNAUTHORIZED, reason);
    return false;
}

static bool db_rules(st_req *r, st_role role)
{
    st_security *sec = st_db_security(r->dbh);
    bool admin = st_security_is_admin(sec, &r->user);
    bool member = admin || st_security_is_member(sec, &r->user);
    st_security_release(sec);
    bool users_db = st_usersdb_is(r->srv, r->db);
    if (!member)
        return refuse(r, r->user.name ? NOT_ALLOWED : NOT_AUTHORIZED);
    switch (role) {
    case ST_ROLE_READER:
        /* One document of the users database: only one's own. */
        if (users_db && r->docid && strncmp(r->docid, "_local/", 7) != 0)
            return st_usersdb_may_read(r, r->docid);
        return true;
    case ST_ROLE_LISTER:
        if (users_db && !st_user_is_server_admin(&r->user)) {
            st_resp_fail(r, ST_E_UNAUTHORIZED, NOT_SERVER_ADMIN);
            return false;
        }
        return true;
    case ST_ROLE_WRITER:
        return true; /* the users database's validator decides per document */
    case ST_ROLE_DESIGN:
    case ST_ROLE_DB_ADMIN:
        return admin ? true : refuse(r, NOT_DB_ADMIN);
    case ST_ROLE_COMPACT:
        if (admin)
            return true;
        st_resp_fail(r, ST_E_UNAUTHORIZED, NOT_COMPACT_ADMIN);
        return false;
    default:
        return true;
    }
}

bool st_access_check(st_req *r, st_role role)
{
    if (r->auth_err.code != ST_OK) {
        st_resp_status(r, &r->auth_err);
        return false;
    }
    if (role == ST_ROLE_PUBLIC)
        return true;
    if (r->auth_fail.code != ST_OK) {
        st_resp_status(r, &r->auth_fail);
        return false;
    }
    const st_auth_settings *as = &r->srv->cfg->auth;
    bool exempt = role == ST_ROLE_UP && as->require_valid_user_except_for_up;
    if (!r->user.name && r->srv->cfg->require_valid_user && !exempt) {
        st_resp_fail(r, ST_E_UNAUTHORIZED, "Authentication required.");
        st_resp_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"server\"");
        return false;
    }
    if (role == ST_ROLE_ANY || role == ST_ROLE_UP)
        return true;
    if (role == ST_ROLE_SERVER_ADMIN) {
        if (st_user_is_server_admin(&r->user))
            return true;
        st_resp_fail(r, ST_E_UNAUTHORIZED, NOT_SERVER_ADMIN);
        return false;
    }
    if (!r->dbh) { /* a database role on a route that opens none: misuse */
        st_resp_fail(r, ST_E_MISUSE, "route without a database");
        return false;
    }
    return db_rules(r, role);
}
