/* router.c — the route table (see router.h).
 *
 * Why a table: every endpoint, its methods, what they need opened and who
 * may call them are visible in one place, and 405/Allow falls out of the
 * data instead of being repeated in each handler.  Order matters: literals
 * before captures.
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"

#define M(fn, role, db) {fn, ST_ROLE_##role, db, ST_BODY_SMALL}
#define W(fn, role, db) {fn, ST_ROLE_##role, db, ST_BODY_LARGE} /* writes documents */
#define NO {NULL, ST_ROLE_PUBLIC, false, ST_BODY_SMALL}

/* Roles follow CouchDB 3.5's matrix (PROTOCOL-2.md A.8). */
static const st_route routes[] = {
    {"", {M(st_api_welcome, ANY, 0), NO, NO, NO, NO}},
    {"_up", {M(st_api_up, UP, 0), NO, NO, NO, NO}},
    {"_all_dbs", {M(st_api_all_dbs, SERVER_ADMIN, 0), NO, NO, NO, NO}},
    {"_uuids", {M(st_api_uuids, ANY, 0), NO, NO, NO, NO}},
    {"_session", {M(st_api_session_get, ANY, 0), NO, M(st_api_session_post, PUBLIC, 0),
                  M(st_api_session_delete, PUBLIC, 0), NO}},
    {"favicon.ico", {M(st_api_favicon, ANY, 0), NO, NO, NO, NO}},
    {"{db}", {M(st_api_db_get, READER, 1), M(st_api_db_put, SERVER_ADMIN, 0),
              W(st_api_db_post, WRITER, 1), M(st_api_db_delete, SERVER_ADMIN, 0), NO}},
    {"{db}/_all_docs", {M(st_api_all_docs, LISTER, 1), NO, M(st_api_all_docs, LISTER, 1), NO, NO}},
    {"{db}/_bulk_docs", {NO, NO, W(st_api_bulk_docs, WRITER, 1), NO, NO}},
    {"{db}/_bulk_get", {NO, NO, M(st_api_bulk_get, LISTER, 1), NO, NO}},
    {"{db}/_revs_diff", {NO, NO, M(st_api_revs_diff, LISTER, 1), NO, NO}},
    {"{db}/_changes", {M(st_api_changes, LISTER, 1), NO, M(st_api_changes, LISTER, 1), NO, NO}},
    {"{db}/_ensure_full_commit", {NO, NO, M(st_api_ensure_full_commit, WRITER, 1), NO, NO}},
    {"{db}/_compact", {NO, NO, M(st_api_compact, COMPACT, 1), NO, NO}},
    {"{db}/_purge", {NO, NO, W(st_api_purge, SERVER_ADMIN, 1), NO, NO}},
    {"{db}/_revs_limit", {M(st_api_revs_limit_get, READER, 1),
                          M(st_api_revs_limit_put, DB_ADMIN, 1), NO, NO, NO}},
    {"{db}/_security", {M(st_api_security_get, READER, 1), M(st_api_security_put, DB_ADMIN, 1),
                        NO, NO, NO}},
    {"{db}/_find", {NO, NO, M(st_api_find, LISTER, 1), NO, NO}},
    {"{db}/_explain", {NO, NO, M(st_api_explain, LISTER, 1), NO, NO}},
    {"{db}/_index", {M(st_api_index_get, LISTER, 1), NO, M(st_api_index_post, DB_ADMIN, 1), NO,
                     NO}},
    {"{db}/_index/_bulk_delete", {NO, NO, M(st_api_index_bulk_delete, DB_ADMIN, 1), NO, NO}},
    {"{db}/_index/_design/{doc}/json/{att}", {NO, NO, NO, M(st_api_index_delete, DB_ADMIN, 1),
                                              NO}},
    {"{db}/_index/{doc}/json/{att}", {NO, NO, NO, M(st_api_index_delete, DB_ADMIN, 1), NO}},
    {"{db}/_local/{doc}", {M(st_api_local_get, READER, 1), W(st_api_local_put, WRITER, 1), NO,
                           M(st_api_local_delete, WRITER, 1), NO}},
    {"{db}/_local/{doc}/{att}", {M(st_api_local_att, READER, 1), M(st_api_local_att, WRITER, 1),
                                 NO, M(st_api_local_att, WRITER, 1), NO}},
    {"{db}/_view_cleanup", {NO, NO, M(st_api_view_cleanup, COMPACT, 1), NO, NO}},
    {"{db}/_compact/{att}", {NO, NO, M(st_api_view_compact, COMPACT, 1), NO, NO}},
    {"{db}/_design/{doc}/_view/{att}", {M(st_api_view, READER, 1), NO, M(st_api_view, READER, 1),
                                        NO, NO}},
    {"{db}/_design/{doc}/_info", {M(st_api_view_info, READER, 1), NO, NO, NO, NO}},
    {"{db}/_design/{doc}/_update/{att}", {NO, W(st_api_update, WRITER, 1),
                                          W(st_api_update, WRITER, 1), NO, NO}},
    {"{db}/_design/{doc}", {M(st_api_doc_get, READER, 1), W(st_api_doc_put, DESIGN, 1), NO,
                            M(st_api_doc_delete, DESIGN, 1), NO}},
    {"{db}/_design/{doc}/{att}", {M(st_api_att_get, READER, 1), W(st_api_att_put, DESIGN, 1),
                                  NO, M(st_api_att_delete, DESIGN, 1), NO}},
    {"{db}/{doc}", {M(st_api_doc_get, READER, 1), W(st_api_doc_put, WRITER, 1), NO,
                    M(st_api_doc_delete, WRITER, 1), NO}},
    {"{db}/{doc}/{att}", {M(st_api_att_get, READER, 1), W(st_api_att_put, WRITER, 1), NO,
                          M(st_api_att_delete, WRITER, 1), NO}},
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
    if (rt->m[ST_H_GET].fn)
        m |= ST_M_GET | ST_M_HEAD;
    if (rt->m[ST_H_PUT].fn)
        m |= ST_M_PUT;
    if (rt->m[ST_H_POST].fn)
        m |= ST_M_POST;
    if (rt->m[ST_H_DELETE].fn)
        m |= ST_M_DELETE;
    if (rt->m[ST_H_COPY].fn)
        m |= ST_M_COPY;
    return m;
}

const st_method_spec *st_route_method(const st_req *r)
{
    if (!r->route)
        return NULL;
    int i;
    switch (r->method) {
    case ST_M_GET:
    case ST_M_HEAD:
        i = ST_H_GET;
        break;
    case ST_M_PUT:
        i = ST_H_PUT;
        break;
    case ST_M_POST:
        i = ST_H_POST;
        break;
    case ST_M_DELETE:
        i = ST_H_DELETE;
        break;
    case ST_M_COPY:
        i = ST_H_COPY;
        break;
    default:
        return NULL;
    }
    return r->route->m[i].fn ? &r->route->m[i] : NULL;
}
