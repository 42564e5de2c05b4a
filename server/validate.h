/* validate.h — the one validator of each database: CouchDB's checks of
 * every document write, composed.
 *
 *   - the authentication database's rules (users_db.h) on its writes;
 *   - design documents: only database admins write them ("You are not a
 *     db or server admin.", 401 anonymous / 403 user, per document in
 *     _bulk_docs), as the server knows who writes;
 *   - then core's design-document validator (st_vdu.h), shared with the
 *     embedded library: a design document's shape and functions checked
 *     and compiled at save, and every other document through the
 *     validate_doc_update of every design document, with newDoc, oldDoc,
 *     userCtx and secObj as CouchDB passes them ({forbidden: m} is 403,
 *     {unauthorized: m} 401).  Server admins are not exempt; _local
 *     documents never reach a validator.
 * This runs on every write path: PUT, POST, DELETE, _bulk_docs,
 * attachments, replicated revisions (new_edits=false), local replication.
 *
 * Cost: see st_vdu.h (a database without validate_doc_update validates
 * only its design documents; the authentication database every write).
 *
 * Threads: the hook runs wherever the catalog opens a database; the
 * validator on that database's writer thread.
 */
#ifndef ST_SERVER_VALIDATE_H
#define ST_SERVER_VALIDATE_H

#include "http.h"

/* The catalog's open hook (ctx: the st_server). */
void st_validate_on_open(void *ctx, st_db *db);

#endif
