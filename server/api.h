/* api.h — the HTTP endpoint handlers (api_*.c), one per route and method.
 * Each follows the contract in http.h: read r, leave one response in r (or
 * hand a write to core and answer when resumed, api_async.c).  Handlers run
 * on MHD worker threads; the dispatcher has routed, opened r->dbh and
 * authorized before they run.
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
void st_api_security_put(st_req *r);

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
void st_api_local_att(st_req *r);   /* 400: _local documents have no attachments */

/* api_att.c */
void st_api_att_get(st_req *r);
void st_api_att_put(st_req *r);
void st_api_att_delete(st_req *r);

/* api_changes.c */
void st_api_changes(st_req *r);

/* api_find.c: Mango */
void st_api_find(st_req *r);
void st_api_explain(st_req *r);
void st_api_index_get(st_req *r);
void st_api_index_post(st_req *r);
void st_api_index_delete(st_req *r);
void st_api_index_bulk_delete(st_req *r);

/* api_view.c */
void st_api_view(st_req *r);          /* GET/POST _design/{ddoc}/_view/{view}[/queries] */
void st_api_view_info(st_req *r);     /* GET _design/{ddoc}/_info */
void st_api_view_cleanup(st_req *r);  /* POST /{db}/_view_cleanup */
void st_api_view_compact(st_req *r);  /* POST /{db}/_compact/{ddoc} */

/* api_update.c */
void st_api_update(st_req *r);        /* POST/PUT _design/{ddoc}/_update/{name}[/{docid}] */

/* api_async.c: a handler that writes suspends its connection and queues
 * the write; finish(r) later builds the answer from r->async_st,
 * r->async_err and ctx (freed by free_ctx with the request):
 *     st_api_async_begin(r, ctx, free_ctx, finish);
 *     if (st_db_write_async(..., st_api_async_done, r, &e) != ST_OK)
 *         st_api_async_failed(r, &e);
 */
void st_api_async_begin(st_req *r, void *ctx, void (*free_ctx)(void *ctx),
                        void (*finish)(st_req *r));
void st_api_async_done(void *ctx, st_status st, const st_error *err);
void st_api_async_failed(st_req *r, const st_error *err);

/* Shared helpers (api_db.c) */

/* A single-document write in flight, allocated by the handler (calloc) and
 * owned by the request once submitted. */
typedef struct st_api_one {
    st_json_doc *doc;          /* the parsed body (freed) */
    st_json_doc *hashed;       /* the users database: doc with its password hashed (freed) */
    st_write_req req;          /* points into doc and the request */
    unsigned flags;
    st_write_result res;
    char revbuf[ST_REV_STR_MAX]; /* a rev taken from If-Match */
    void (*free_extra)(struct st_api_one *c); /* frees what extra holds */
    void *extra;               /* the handler's own (multipart parts, ...) */
} st_api_one;
void st_api_one_free(void *c);
/* The rev a write names: ?rev= wins, else If-Match (quotes stripped), into
 * buf when it comes from the header; NULL when neither. */
const char *st_api_write_rev(st_req *r, char *buf, size_t cap);
/* Queue c->req; finish(r) answers (use st_api_one_failed first). */
bool st_api_one_submit(st_req *r, st_api_one *c, void (*finish)(st_req *r));
/* In finish: the write failed (its answer is set). */
bool st_api_one_failed(st_req *r);

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
