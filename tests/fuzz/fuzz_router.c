/* fuzz_router.c — the request target as a client sends it: the path split
 * and percent-decoded, the query string parsed (server/request.c), the route
 * table matched for every method (server/router.c), and the query
 * parameters read as the handlers read them.  No daemon: a request record
 * with no connection, freed as the daemon frees it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static st_server srv; /* zeroed: no catalog, nothing opened */
    st_req *r = calloc(1, sizeof *r);
    if (!r)
        return 0;
    r->srv = &srv;
    r->uri = malloc(size + 1);
    if (!r->uri) {
        free(r);
        return 0;
    }
    memcpy(r->uri, data, size);
    r->uri[size] = '\0';
    st_buf_init(&r->body, 0);
    if (st_req_parse_target(r)) {
        if (r->n_query > ST_MAX_QUERY_PARAMS || r->n_segs > ST_MAX_SEGS)
            abort();
        if (st_route_match(r)) {
            static const st_method ms[] = {ST_M_GET, ST_M_HEAD, ST_M_PUT, ST_M_POST,
                                           ST_M_DELETE, ST_M_COPY, ST_M_OPTIONS};
            for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
                r->method = ms[i];
                const st_method_spec *m = st_route_method(r);
                if (m && !m->fn)
                    abort();
            }
            (void)st_route_allowed(r->route);
        }
        static const char *const keys[] = {"rev", "limit", "since", "include_docs", "keys", ""};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            bool b;
            uint64_t u;
            (void)st_req_q(r, keys[i]);
            (void)st_req_qbool(r, keys[i], false, &b); /* a bad one leaves a 400 in r */
            (void)st_req_qu64(r, keys[i], 0, &u);
        }
    }
    st_req_free(r);
    return 0;
}
