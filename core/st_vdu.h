/* st_vdu.h — the design documents' part of a database's validator: what
 * CouchDB checks of every document write because of its design documents.
 *
 *   - a design document that is not deleted must have CouchDB's shape
 *     (st_ddoc_check, 400 invalid_design_doc) and functions that compile
 *     (400 compilation_error, as CouchDB for maps; a validate_doc_update
 *     that does not compile is refused too, where CouchDB stores it and
 *     then fails every write).  A language without a query server is
 *     stored unchecked, as CouchDB stores it (its views answer 500);
 *   - every other document: the validate_doc_update of every design
 *     document, through the query-server pool, with newDoc, oldDoc,
 *     userCtx and secObj as CouchDB passes them; a thrown {forbidden: m}
 *     is 403, {unauthorized: m} 401, anything else 500.  A function whose
 *     language has no query server refuses the write (500
 *     unknown_query_language): a write CouchDB would have checked is never
 *     let through unchecked.
 * The server (server/validate.c) and the embedded library both install
 * it; the server composes its own rules in front (the authentication
 * database, who may write design documents).
 *
 * userCtx: the write's st_update.user when there is one; otherwise the
 * validator's local user, {name: null, roles: ["_admin"]} (CouchDB's
 * context for the node itself) until st_vdu_set_local_user says who the
 * embedding application's user is.  userCtx.db is the database's name.
 *
 * Cost: while no design document has a validate_doc_update the validator
 * narrows itself to design documents (ST_VALIDATE_DESIGN), so other writes
 * pay nothing, unless keep_scope says its caller checks every write; a
 * saved validate_doc_update widens it again.  The design documents are
 * read inside each validated write's transaction (st_db_design_docs), so
 * a design document saved a moment ago, or rolled back, is exactly what
 * the next write sees.  Compiled design documents stay in the query-server
 * processes, keyed by id and rev.
 *
 * Threads: st_vdu_validate runs on the database's writer thread (it is a
 * validator); st_vdu_set_local_user from any thread, taking effect for
 * validations that start afterwards.
 */
#ifndef ST_VDU_H
#define ST_VDU_H

#include <stdbool.h>
#include <stddef.h>
#include "st_db.h"
#include "st_error.h"
#include "st_json.h"
#include "st_qs.h"

typedef struct st_vdu st_vdu;

typedef struct st_vdu_options {
    st_qs *qs;            /* borrowed: must outlive the validator */
    bool keep_scope;      /* never narrow to design documents */
    const char *qs_hint;  /* added to "no query server" messages (copied);
                           * e.g. where the query server was looked for */
} st_vdu_options;

/* A validator for db (borrowed: the validator belongs to it). */
st_status st_vdu_new(st_db *db, const st_vdu_options *o, st_vdu **out, st_error *err);
void st_vdu_free(st_vdu *v); /* NULL ok */

/* Install v as db's only validator; db owns v from now on (freed when it
 * is replaced or db closes).  For a caller with no rules of its own. */
void st_vdu_install(st_db *db, st_vdu *v);

/* The check described above, for one write.  An st_validate_fn's body. */
st_status st_vdu_validate(st_vdu *v, const st_update *u, st_error *err);

/* The userCtx of writes without a user: name (NULL: null) and roles[0..n)
 * (copied).  st_vdu_set_local_user(v, NULL, NULL, 0, ...) gives
 * {name: null, roles: []}; the default is roles ["_admin"]. */
st_status st_vdu_set_local_user(st_vdu *v, const char *name, const char *const *roles,
                                size_t n, st_error *err);

/* Does the design document doc (the body a client sent) compile, with
 * CouchDB's messages?  ST_OK without trying when its language has no query
 * server. */
st_status st_vdu_ddoc_functions(st_qs *qs, const st_json *doc, st_error *err);

#endif
