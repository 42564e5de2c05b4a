/* access.c — see access.h.
 *
 * Bad credentials never fall back to anonymous (CouchDB answers 401 on
 * every endpoint, even GET /), except where no check is made at all
 * (POST /_session, which is how a client logs in again).
 */
#include "access.h"

#include "http.h"

bool st_access_check(st_req *r, st_role role)
{
    if (r->auth_err.code != ST_OK) {
        st_resp_status(r, &r->auth_err);
        return false;
    }
    if (role == ST_ROLE_PUBLIC)
        return true;
    if (r->auth_failed) {
        st_resp_fail(r, ST_E_UNAUTHORIZED, "Name or password is incorrect.");
        return false;
    }
    if (r->is_admin)
        return true;
    bool read = role == ST_ROLE_ANY || role == ST_ROLE_READER;
    if (read && !r->srv->cfg->require_valid_user)
        return true;
    if (read) {
        st_resp_fail(r, ST_E_UNAUTHORIZED, "Authentication required.");
        st_resp_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"server\"");
    } else {
        st_resp_fail(r, ST_E_UNAUTHORIZED, "You are not a server admin.");
    }
    return false;
}
