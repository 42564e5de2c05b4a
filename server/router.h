/* router.h — the route table: path pattern + method → handler, and what
 * the dispatcher must do before the handler runs.
 *
 * Patterns are '/'-separated; a segment is a literal, "{db}", "{doc}"
 * (one segment), or "{att}" (the rest of the path, one or more segments
 * joined by '/', as attachment names may contain slashes).  The first
 * pattern that matches the path wins; if it has no handler for the method
 * the answer is 405 with Allow.
 *
 * Each method of a route says what it needs: whether the dispatcher opens
 * the database named by {db} (404 "Database does not exist." before any
 * authorization, as CouchDB answers) and hands it to the handler in
 * r->dbh, and the role a caller must hold (access.h decides what holding
 * it means).
 * So every endpoint is authorized in one place, from this table.
 * Read-only and immutable: no locking.
 */
#ifndef ST_SERVER_ROUTER_H
#define ST_SERVER_ROUTER_H

#include "access.h"
#include "http.h"

typedef void (*st_handler)(st_req *r);

/* Index of a method in st_route.handlers/roles. */
enum { ST_H_GET, ST_H_PUT, ST_H_POST, ST_H_DELETE, ST_H_COPY, ST_H_COUNT };

/* The body a method takes, so the dispatcher bounds it before reading:
 * documents, attachments and batches of them may be as large as
 * [chttpd] max_http_request_size; everything else (reads, read-only POSTs
 * such as _all_docs, _changes, _bulk_get, _revs_diff, small settings) gets
 * [settee] max_read_body_size, so an anonymous read cannot make the server
 * hold gigabytes. */
typedef enum { ST_BODY_SMALL = 0, ST_BODY_LARGE } st_body;

/* One method of one route: its handler, the role it needs, whether the
 * dispatcher opens {db} for it (r->dbh), and how large its body may be. */
typedef struct st_method_spec {
    st_handler fn;
    st_role role;
    bool db;
    st_body body;
} st_method_spec;

struct st_route {
    const char *pattern;
    st_method_spec m[ST_H_COUNT]; /* GET also serves HEAD */
};

/* Match r's path; on success sets r->route, r->db, r->docid, r->att.
 * false when no pattern matches (404) or on memory failure (r->bad_path). */
bool st_route_match(st_req *r);
/* Methods the matched route allows. */
unsigned st_route_allowed(const st_route *rt);
/* The spec of r->method on r->route (NULL when none: 405). */
const st_method_spec *st_route_method(const st_req *r);

#endif
