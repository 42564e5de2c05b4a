/* st_ddoc_req.h — the parts of the `req` object design-document functions
 * receive (filters' and update handlers' second argument) that are not
 * HTTP's, so the server and the replicator build them the same way:
 *
 *   "info"     the database's info (db_name, update_seq, purge_seq,
 *              doc_count, doc_del_count, instance_start_time)
 *   "userCtx"  {"db","name","roles"} (name null when anonymous)
 *   "secObj"   the database's _security object as stored
 *
 * The server adds the HTTP members (method, path, headers, body, peer, ...)
 * around them (server/js_req.c).  st_ddoc_req_changes makes the whole
 * object CouchDB's replicator gives a filter reading a local database
 * (couch_replicator_api_wrap's changes_json_req): a simulated
 * GET /{db}/_changes whose query is {"filter": <name>, ...query_params}.
 *
 * User: NULL is the embedding application, or whoever holds the database
 * file, which CouchDB would see as a server admin: {"name":null,
 * "roles":["_admin"]}.  A request's identity (anonymous too) is passed as
 * it is.
 *
 * Threads: any; the writers append to the caller's st_jw (its status
 * records a failure, as every st_jw call does).  The db is borrowed.
 */
#ifndef ST_DDOC_REQ_H
#define ST_DDOC_REQ_H

#include "st_buf.h"
#include "st_db.h"
#include "st_error.h"
#include "st_json.h"
#include "st_jw.h"
#include "st_security.h"

/* Each writes one member (key and value) into the object open in w. */
void st_ddoc_req_info(st_jw *w, st_db *db);
void st_ddoc_req_user_ctx(st_jw *w, const char *db_name, const st_user_ctx *user);
/* The userCtx value alone, {"db","name","roles"}: admin puts "_admin" in
 * front of roles (validate_doc_update's userCtx argument is this). */
void st_ddoc_req_user_value(st_jw *w, const char *db_name, const char *name,
                            const char *const *roles, size_t n, bool admin);
void st_ddoc_req_sec_obj(st_jw *w, st_db *db);

/* The replicator's request object for filter on db's _changes.  query is
 * an object (its members follow "filter", values as given) or NULL.  out
 * is the caller's; ST_E_NOMEM is the only failure. */
st_status st_ddoc_req_changes(st_db *db, const char *filter, const st_json *query,
                              const st_user_ctx *user, st_buf *out, st_error *err);

#endif
