/* access.h — who may do what: the one place every request is authorized.
 *
 * The dispatcher asks st_access_check once per request, with the role the
 * route table gives the method (router.h), after the database was opened
 * (so a missing database is a 404 to anyone, as CouchDB answers).  Today's
 * rule: reads are open (unless require_valid_user), everything else needs
 * a server admin.  Refusals carry CouchDB's 401/403 bodies.
 *
 * Threading: pure on the request; any MHD worker.
 */
#ifndef ST_SERVER_ACCESS_H
#define ST_SERVER_ACCESS_H

#include <stdbool.h>

typedef enum {
    ST_ROLE_PUBLIC = 0,   /* anyone, even with require_valid_user (POST /_session) */
    ST_ROLE_ANY,          /* anyone (GET /, /_uuids): require_valid_user applies */
    ST_ROLE_READER,       /* reads a database: its members */
    ST_ROLE_WRITER,       /* writes documents of a database: its members */
    ST_ROLE_DB_ADMIN,     /* design documents, _security, _compact: database admins */
    ST_ROLE_SERVER_ADMIN  /* databases themselves, _purge, _all_dbs: server admins */
} st_role;

struct st_req;

/* true when r may go on; else an error response is set in r. */
bool st_access_check(struct st_req *r, st_role role);

#endif
