/* filter.c — see filter.h.  The filters themselves are core's
 * (st_filter.h), shared with the replicator; this file turns a request
 * into their arguments and their errors into answers. */
#include "filter.h"

#include <string.h>

#include "js_req.h"
#include "log.h"
#include "st_filter.h"

static void jf_free(void *ctx) { st_filter_free(ctx); }

static bool jf_failed(void *ctx)
{
    st_error e;
    if (!st_filter_failed(ctx, &e))
        return false;
    st_log(ST_LOG_ERROR, "changes filter failed: %s", e.reason);
    return true;
}

bool st_filter_is_ours(const char *filter)
{
    return strcmp(filter, "_doc_ids") != 0 && strcmp(filter, "_selector") != 0;
}

bool st_filter_setup(st_req *r, const char *filter, st_feed_params *p)
{
    st_json_doc *query = NULL;
    st_buf req = ST_BUF_INIT;
    st_filter *f = NULL;
    st_error e;
    st_status st = st_js_req_query(r, &query, &e);
    /* A function filter gets the whole request, HTTP members included. */
    bool function = filter[0] != '_';
    if (st == ST_OK && function)
        st = st_js_req(r, NULL, true, &req, &e);
    if (st == ST_OK)
        st = st_filter_open(r->dbh, r->srv->qs, filter, st_json_doc_root(query),
                            function ? req.data : NULL, &r->user, &f, &e);
    st_json_doc_free(query);
    st_buf_free(&req);
    if (st != ST_OK) {
        st_resp_status(r, &e);
        return false;
    }
    p->opts.filter = st_filter_match;
    p->opts.filter_ctx = f;
    p->opts.filter_needs_doc = st_filter_needs_doc(f);
    p->filter_free = jf_free;
    p->filter_failed = jf_failed;
    return true;
}
