/* api.h — the HTTP endpoint handlers (api_*.c), one per route and method.
 * Each follows the contract in http.h: read r, leave one response in r.
 * Handlers run on MHD worker threads and may block on storage.
 */
#ifndef ST_SERVER_API_H
#define ST_SERVER_API_H

#include "http.h"
#include "st_db.h"

/* api_server.c */
void st_api_welcome(st_req *r);
void st_api_up(st_req *r);
void st_api_all_dbs(st_req *r);
void st_api_uuids(st_req *r);
void st_api_session_get(st_req *r);
void st_api_session_post(st_req *r);
void st_api_session_delete(st_req *r);
void st_api_favicon(st_req *r);

/* api_db.c */
void st_api_db_put(st_req *r);
void st_api_db_get(st_req *r);
void st_api_db_delete(st_req *r);
void st_api_db_post(st_req *r);
void st_api_all_docs(st_req *r);
void st_api_ensure_full_commit(st_req *r);
void st_api_compact(st_req *r);
void st_api_purge(st_req *r);
void st_api_revs_limit_get(st_req *r);
void st_api_revs_limit_put(st_req *r);
void st_api_security_get(st_req *r);

/* api_bulk.c */
void st_api_bulk_docs(st_req *r);
void st_api_bulk_get(st_req *r);
void st_api_revs_diff(st_req *r);

/* api_doc.c */
void st_api_doc_get(st_req *r);
void st_api_doc_put(st_req *r);
void st_api_doc_delete(st_req *r);
void st_api_local_get(st_req *r);
void st_api_local_put(st_req *r);
void st_api_local_delete(st_req *r);

/* api_att.c */
void st_api_att_get(st_req *r);
void st_api_att_put(st_req *r);
void st_api_att_delete(st_req *r);

/* api_changes.c */
void st_api_changes(st_req *r);

/* Shared helpers (api_db.c) */

/* Open r->db through the catalog: on failure sets the 400/404 response and
 * returns NULL.  Give it back with st_api_db_put_ref. */
st_db *st_api_db_open(st_req *r);
void st_api_db_put_ref(st_req *r, st_db *db);
/* Location: http://host/db[/docid] */
void st_api_location(st_req *r, const char *docid);
/* 201/202/200 {"ok":true,"id","rev"} with ETag (and Location). */
void st_api_write_ok(st_req *r, unsigned status, const char *id, const char *rev, bool location);
/* Get options common to document reads from the query string; false (with
 * a 400 set) on a bad parameter.  Strings point into r or *store (which
 * the caller frees with st_api_get_opts_free). */
typedef struct st_get_store {
    st_json_doc *atts_since_doc;
    const char **atts_since;
} st_get_store;
bool st_api_get_opts(st_req *r, st_get_opts *o, st_get_store *store);
void st_api_get_opts_free(st_get_store *store);

#endif
