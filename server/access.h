/* access.h — who may do what: the one place every request is authorized.
 *
 * The dispatcher asks st_access_check once per request, with the role the
 * route table gives the method (router.h), after the database was opened
 * (so a missing database is a 404 to anyone, as CouchDB answers).  The
 * rules are CouchDB 3.5's (PROTOCOL-2 A.1, A.8): first the credentials
 * (unreadable: 400; wrong: 401 everywhere but POST /_session), then
 * [chttpd] require_valid_user, then the database's _security object
 * (anonymous: 401 "You are not authorized to access this db.", a user who
 * is not a member: 403 "You are not allowed to access this db."), then what
 * the role itself needs.  The authentication database (_users) adds its
 * own rules (users_db.h).
 *
 * Threading: pure on the request; any MHD worker.
 */
#ifndef ST_SERVER_ACCESS_H
#define ST_SERVER_ACCESS_H

#include <stdbool.h>
#include "st_security.h"

typedef enum {
    ST_ROLE_PUBLIC = 0,   /* anyone, even with require_valid_user (POST /_session) */
    ST_ROLE_ANY,          /* anyone (GET /, /_uuids): require_valid_user applies */
    ST_ROLE_UP,           /* GET /_up: like ANY, but require_valid_user_except_for_up */
    ST_ROLE_READER,       /* reads a database or one of its documents: members */
    ST_ROLE_LISTER,       /* reads many documents (_all_docs, _changes, _bulk_get,
                             _revs_diff): members; server admins on _users */
    ST_ROLE_WRITER,       /* writes documents of a database: members */
    ST_ROLE_DESIGN,       /* writes a _design/ document: database admins
                             ("You are not a db or server admin.") */
    ST_ROLE_DB_ADMIN,     /* _security, _revs_limit, _index: database admins */
    ST_ROLE_COMPACT,      /* _compact, _view_cleanup: database admins, and a member
                             who is not one gets a 401 as in CouchDB */
    ST_ROLE_SERVER_ADMIN  /* databases themselves, _purge, _all_dbs: server admins */
} st_role;

struct st_req;

/* true when r may go on; else an error response is set in r. */
bool st_access_check(struct st_req *r, st_role role);

/* May u read a database with this security object (a live feed re-checks). */
bool st_access_is_member(const st_security *sec, const st_user_ctx *u);

#endif
