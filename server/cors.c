/* cors.c — see cors.h.  Header lists are CouchDB's (chttpd_cors.erl):
 * the simple headers plus the ones CouchDB clients send, and the response
 * headers a browser script may read (ETag for revs, X-Couch-* ...). */
#include "cors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_METHODS "GET, HEAD, POST, PUT, DELETE, OPTIONS"
#define DEFAULT_HEADERS                                                                        \
    "accept, accept-language, authorization, content-length, content-range, content-type, "   \
    "destination, expires, if-match, last-modified, origin, pragma, x-couch-full-commit, "    \
    "x-couch-id, x-couch-persist, x-csrf-token, x-http-method-override, x-requested-with"
#define EXPOSED_HEADERS                                                                        \
    "content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, "          \
    "x-couch-update-newrev, x-couchdb-body-time"

/* Is origin in the comma-separated list (or is the list "*")? */
static bool origin_listed(const char *list, const char *origin)
{
    if (!list || !origin)
        return false;
    size_t olen = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        size_t n = (size_t)(t - p);
        if ((n == 1 && *p == '*') || (n == olen && strncasecmp(p, origin, n) == 0))
            return true;
        p = e;
    }
    return false;
}

static bool wildcard(const st_config *c)
{
    return c->cors_origins && strcmp(c->cors_origins, "*") == 0;
}

void st_cors_check_origin(st_req *r)
{
    const st_config *c = r->srv->cfg;
    const char *origin = st_req_header(r, "Origin");
    r->cors_origin_ok = c->cors_enabled && origin && origin_listed(c->cors_origins, origin);
}

static void allow_origin(st_req *r, struct MHD_Response *resp)
{
    const st_config *c = r->srv->cfg;
    const char *origin = st_req_header(r, "Origin");
    /* With credentials a browser rejects "*": echo the origin instead. */
    if (wildcard(c) && !c->cors_credentials)
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    else
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    if (c->cors_credentials)
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
    if (!wildcard(c) || c->cors_credentials)
        MHD_add_response_header(resp, "Vary", "Origin");
}

void st_cors_decorate(st_req *r, struct MHD_Response *resp)
{
    if (!r->cors_origin_ok || !resp)
        return;
    allow_origin(r, resp);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", EXPOSED_HEADERS);
}

bool st_cors_preflight(st_req *r)
{
    const st_config *c = r->srv->cfg;
    if (r->method != ST_M_OPTIONS)
        return false;
    const char *origin = st_req_header(r, "Origin");
    const char *want = st_req_header(r, "Access-Control-Request-Method");
    if (!c->cors_enabled || !origin || !want) {
        st_resp_fail(r, ST_E_METHOD, "Only GET,HEAD,POST,PUT,DELETE allowed");
        st_resp_header(r, MHD_HTTP_HEADER_ALLOW, "GET,HEAD,POST,PUT,DELETE");
        return true;
    }
    const char *methods = c->cors_methods ? c->cors_methods : DEFAULT_METHODS;
    if (!origin_listed(c->cors_origins, origin) || !origin_listed(methods, want)) {
        /* CouchDB answers a refused preflight without CORS headers. */
        st_resp_text(r, 200, "application/json", "");
        r->cors_origin_ok = false;
        return true;
    }
    char headers[1024];
    snprintf(headers, sizeof headers, "%s%s%s", DEFAULT_HEADERS,
             c->cors_headers ? ", " : "", c->cors_headers ? c->cors_headers : "");
    char age[24];
    snprintf(age, sizeof age, "%u", c->cors_max_age);
    st_resp_text(r, 200, "application/json", "");
    if (!r->resp)
        return true;
    allow_origin(r, r->resp);
    MHD_add_response_header(r->resp, "Access-Control-Allow-Methods", methods);
    MHD_add_response_header(r->resp, "Access-Control-Allow-Headers", headers);
    MHD_add_response_header(r->resp, "Access-Control-Max-Age", age);
    r->cors_origin_ok = false; /* headers already added */
    return true;
}
