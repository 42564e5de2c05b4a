/* validate.h — the one validator of each database: CouchDB's checks of
 * every document write, composed.
 *
 *   - the authentication database's rules (users_db.h) on its writes;
 *   - design documents: only database admins write them ("You are not a
 *     db or server admin.", 401 anonymous / 403 user, per document in
 *     _bulk_docs), and one that is not deleted must have CouchDB's shape
 *     (st_ddoc_check, 400 invalid_design_doc) and functions that compile
 *     (400 compilation_error, as CouchDB for maps; a validate_doc_update
 *     that does not compile is refused too, where CouchDB stores it and
 *     then fails every write);
 *   - every other document: the validate_doc_update of every design
 *     document, through the query-server pool, with newDoc, oldDoc,
 *     userCtx and secObj as CouchDB passes them; a thrown {forbidden: m}
 *     is 403, {unauthorized: m} 401, anything else 500.  Server admins are
 *     not exempt; _local documents never reach a validator.
 * This runs on every write path: PUT, POST, DELETE, _bulk_docs,
 * attachments, replicated revisions (new_edits=false), local replication.
 *
 * Cost: a database whose design documents have no validate_doc_update
 * has its validator narrowed to design documents (ST_VALIDATE_DESIGN), so
 * its other writes pay nothing; the design documents are read again
 * inside each validated write's transaction (an index range of a few
 * rows), so a design document saved a moment ago, or rolled back, is
 * exactly what the next write sees.  Compiled design documents stay in
 * the query-server processes, keyed by id and rev.
 *
 * Threads: the hook runs wherever the catalog opens a database; the
 * validator on that database's writer thread.
 */
#ifndef ST_SERVER_VALIDATE_H
#define ST_SERVER_VALIDATE_H

#include "http.h"

/* The catalog's open hook (ctx: the st_server). */
void st_validate_on_open(void *ctx, st_db *db);

/* Does the design document doc (the body a client sent) compile, with
 * CouchDB's messages?  Used by the validator; exposed for the tests. */
st_status st_validate_ddoc_functions(st_server *srv, const st_json *doc, st_error *err);

#endif
