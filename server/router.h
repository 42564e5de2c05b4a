/* router.h — the route table: path pattern + method → handler.
 *
 * Patterns are '/'-separated; a segment is a literal, "{db}", "{doc}"
 * (one segment), or "{att}" (the rest of the path, one or more segments
 * joined by '/', as attachment names may contain slashes).  The first
 * pattern that matches the path wins; if it has no handler for the method
 * the answer is 405 with Allow.  Read-only and immutable: no locking.
 */
#ifndef ST_SERVER_ROUTER_H
#define ST_SERVER_ROUTER_H

#include "http.h"

typedef void (*st_handler)(st_req *r);

/* Index of a method in st_route.handlers. */
enum { ST_H_GET, ST_H_PUT, ST_H_POST, ST_H_DELETE, ST_H_COPY, ST_H_COUNT };

/* Route flags */
#define ST_ROUTE_POST_IS_READ 0x1u /* POST only reads (_bulk_get, _changes...): no admin needed */
#define ST_ROUTE_OPEN 0x2u         /* no auth for any method (/_session) */

struct st_route {
    const char *pattern;
    st_handler handlers[ST_H_COUNT]; /* GET also serves HEAD */
    unsigned flags;
};

/* Match r's path; on success sets r->route, r->db, r->docid, r->att.
 * false when no pattern matches (404) or on memory failure (r->bad_path). */
bool st_route_match(st_req *r);
/* Methods the matched route allows. */
unsigned st_route_allowed(const st_route *rt);
/* The handler for r->method on r->route, or NULL (→ 405). */
st_handler st_route_handler(const st_req *r);

#endif
