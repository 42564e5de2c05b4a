/* dispatch.c — see dispatch.h.
 *
 * Order matters and follows CouchDB: a malformed target is a 400, an
 * unknown path a 404, a known path with the wrong method a 405; then the
 * database is opened, so that a missing database is a 404 to anyone
 * (before any authorization); then access.c decides; and only then is a
 * declared oversized body refused (413) without reading it.
 */
#include "dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "access.h"
#include "auth.h"
#include "cors.h"
#include "router.h"

#define ILLEGAL_DBNAME_FMT                                                                     \
    "Name: '%.100s'. Only lowercase characters (a-z), digits (0-9), and any of the "           \
    "characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."

static bool open_db(st_req *r)
{
    st_error e;
    if (!st_dbname_valid(r->db)) {
        char reason[ST_REASON_MAX];
        snprintf(reason, sizeof reason, ILLEGAL_DBNAME_FMT, r->db);
        st_resp_fail(r, ST_E_ILLEGAL_DBNAME, reason);
        return false;
    }
    if (st_catalog_get(r->srv->cat, r->db, &r->dbh, &e) != ST_OK) {
        st_resp_status(r, &e);
        return false;
    }
    return true;
}

/* The route's body cap (router.h): a declared larger body is refused
 * before a byte of it is read; a chunked one is cut at the cap (daemon.c). */
static bool body_fits(st_req *r, const st_method_spec *m)
{
    const st_config *c = r->srv->cfg;
    uint64_t max = c->max_http_request_size;
    if (m->body == ST_BODY_SMALL && c->max_read_body_size < max)
        max = c->max_read_body_size;
    if (max > SIZE_MAX / 2)
        max = SIZE_MAX / 2;
    r->body_cap = max;
    const char *cl = st_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (!errno && end && !*end && n > max) {
            st_resp_fail(r, ST_E_TOO_LARGE, "the request entity is too large");
            return false;
        }
    }
    st_buf_init(&r->body, (size_t)max);
    return true;
}

void st_dispatch_begin(st_req *r)
{
    if (!st_req_parse_target(r)) {
        if (r->too_many_params)
            st_resp_fail(r, ST_E_URI_TOO_LONG, "the request uri is too long");
        else
            st_resp_fail(r, ST_E_BAD_REQUEST, "Malformed request target");
        return;
    }
    st_cors_check_origin(r);
    if (r->method == ST_M_OPTIONS) {
        st_cors_preflight(r);
        return;
    }
    if (!st_route_match(r)) {
        if (r->bad_path)
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
        else
            st_resp_fail(r, ST_E_NOT_FOUND, "missing");
        return;
    }
    const st_method_spec *m = st_route_method(r);
    if (!m) {
        st_resp_method_not_allowed(r, st_route_allowed(r->route));
        return;
    }
    st_auth_identify(r);
    if (m->db && !open_db(r))
        return;
    if (!st_access_check(r, m->role))
        return;
    body_fits(r, m);
}

void st_dispatch_run(st_req *r)
{
    const st_method_spec *m = st_route_method(r);
    m->fn(r);
}
