/* router.c — the route table (see router.h).
 *
 * Why a table: every endpoint, its methods and its auth class are visible
 * in one place, and 405/Allow falls out of the data instead of being
 * repeated in each handler.  Order matters: literals before captures.
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"

#define R(pattern, get, put, post, del, flags) {pattern, {get, put, post, del, NULL}, flags}

static const st_route routes[] = {
    R("", st_api_welcome, NULL, NULL, NULL, 0),
    R("_up", st_api_up, NULL, NULL, NULL, 0),
    R("_all_dbs", st_api_all_dbs, NULL, NULL, NULL, 0),
    R("_uuids", st_api_uuids, NULL, NULL, NULL, 0),
    R("_session", st_api_session_get, NULL, st_api_session_post, st_api_session_delete,
      ST_ROUTE_OPEN),
    R("favicon.ico", st_api_favicon, NULL, NULL, NULL, 0),
    R("{db}", st_api_db_get, st_api_db_put, st_api_db_post, st_api_db_delete, 0),
    R("{db}/_all_docs", st_api_all_docs, NULL, st_api_all_docs, NULL, ST_ROUTE_POST_IS_READ),
    R("{db}/_bulk_docs", NULL, NULL, st_api_bulk_docs, NULL, 0),
    R("{db}/_bulk_get", NULL, NULL, st_api_bulk_get, NULL, ST_ROUTE_POST_IS_READ),
    R("{db}/_revs_diff", NULL, NULL, st_api_revs_diff, NULL, ST_ROUTE_POST_IS_READ),
    R("{db}/_changes", st_api_changes, NULL, st_api_changes, NULL, ST_ROUTE_POST_IS_READ),
    R("{db}/_ensure_full_commit", NULL, NULL, st_api_ensure_full_commit, NULL, 0),
    R("{db}/_compact", NULL, NULL, st_api_compact, NULL, 0),
    R("{db}/_purge", NULL, NULL, st_api_purge, NULL, 0),
    R("{db}/_revs_limit", st_api_revs_limit_get, st_api_revs_limit_put, NULL, NULL, 0),
    R("{db}/_security", st_api_security_get, NULL, NULL, NULL, 0),
    R("{db}/_local/{doc}", st_api_local_get, st_api_local_put, NULL, st_api_local_delete, 0),
    R("{db}/_design/{doc}", st_api_doc_get, st_api_doc_put, NULL, st_api_doc_delete, 0),
    R("{db}/_design/{doc}/{att}", st_api_att_get, st_api_att_put, NULL, st_api_att_delete, 0),
    R("{db}/{doc}", st_api_doc_get, st_api_doc_put, NULL, st_api_doc_delete, 0),
    R("{db}/{doc}/{att}", st_api_att_get, st_api_att_put, NULL, st_api_att_delete, 0),
};

/* Match pattern against r's segments; fills captures when capture is true. */
static bool match(const st_route *rt, st_req *r, bool capture)
{
    const char *p = rt->pattern;
    size_t si = 0;
    const char *prefix = NULL; /* "_design" / "_local" literal before {doc} */
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (si >= r->n_segs)
            return false;
        if (len == 4 && memcmp(p, "{db}", 4) == 0) {
            if (capture)
                r->db = r->segs[si];
        } else if (len == 5 && memcmp(p, "{doc}", 5) == 0) {
            if (capture) {
                size_t n = (prefix ? strlen(prefix) + 1 : 0) + strlen(r->segs[si]) + 1;
                r->docid = malloc(n);
                if (!r->docid)
                    return false;
                if (prefix)
                    snprintf(r->docid, n, "%s/%s", prefix, r->segs[si]);
                else
                    snprintf(r->docid, n, "%s", r->segs[si]);
            }
        } else if (len == 5 && memcmp(p, "{att}", 5) == 0) {
            if (capture) {
                size_t n = 0;
                for (size_t k = si; k < r->n_segs; k++)
                    n += strlen(r->segs[k]) + 1;
                r->att = malloc(n);
                if (!r->att)
                    return false;
                r->att[0] = '\0';
                for (size_t k = si; k < r->n_segs; k++) {
                    if (k > si)
                        strcat(r->att, "/");
                    strcat(r->att, r->segs[k]);
                }
            }
            return true; /* consumes the rest */
        } else {
            if (strlen(r->segs[si]) != len || memcmp(r->segs[si], p, len) != 0)
                return false;
            prefix = r->segs[si];
        }
        si++;
        p = end ? end + 1 : p + len;
    }
    return si == r->n_segs;
}

bool st_route_match(st_req *r)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(&routes[i], r, false))
            continue;
        if (!match(&routes[i], r, true)) {
            r->bad_path = true; /* memory */
            return false;
        }
        r->route = &routes[i];
        return true;
    }
    return false;
}

unsigned st_route_allowed(const st_route *rt)
{
    unsigned m = 0;
    if (rt->handlers[ST_H_GET])
        m |= ST_M_GET | ST_M_HEAD;
    if (rt->handlers[ST_H_PUT])
        m |= ST_M_PUT;
    if (rt->handlers[ST_H_POST])
        m |= ST_M_POST;
    if (rt->handlers[ST_H_DELETE])
        m |= ST_M_DELETE;
    if (rt->handlers[ST_H_COPY])
        m |= ST_M_COPY;
    return m;
}

st_handler st_route_handler(const st_req *r)
{
    if (!r->route)
        return NULL;
    switch (r->method) {
    case ST_M_GET:
    case ST_M_HEAD:
        return r->route->handlers[ST_H_GET];
    case ST_M_PUT:
        return r->route->handlers[ST_H_PUT];
    case ST_M_POST:
        return r->route->handlers[ST_H_POST];
    case ST_M_DELETE:
        return r->route->handlers[ST_H_DELETE];
    case ST_M_COPY:
        return r->route->handlers[ST_H_COPY];
    default:
        return NULL;
    }
}
