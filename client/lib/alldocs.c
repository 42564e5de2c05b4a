/* alldocs.c — settee_all_docs: documents by id range, or by a key list,
 * handed to the caller's callback one row at a time over core's snapshot. */
#include <string.h>

#include "client_int.h"

void settee_all_docs_options_init(settee_all_docs_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->inclusive_end = true;
}

typedef struct rows_ctx {
    settee_row_fn fn;
    void *ctx;
} rows_ctx;

static int on_row(void *ctx, const st_alldocs_row *r)
{
    rows_ctx *c = ctx;
    settee_doc_row row = {
        .id = r->id ? r->id : r->key,
        .rev = r->not_found ? NULL : r->rev,
        .deleted = r->deleted,
        .not_found = r->not_found,
        .json = r->doc_json,
        .json_len = r->doc_json ? r->doc_len : 0,
    };
    return c->fn(c->ctx, &row);
}

settee_status settee_all_docs(settee_db *db, const settee_all_docs_options *o, settee_row_fn fn,
                              void *ctx, settee_error *e)
{
    if (!fn)
        return st_client_fail(e, SETTEE_MISUSE, "NULL fn");
    if (o && o->n_keys && !o->keys)
        return st_client_fail(e, SETTEE_MISUSE, "NULL keys with n_keys > 0");
    for (size_t i = 0; o && o->keys && i < o->n_keys; i++)
        if (!o->keys[i])
            return st_client_fail(e, SETTEE_MISUSE, "NULL key in keys");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_alldocs_opts co;
    st_alldocs_opts_init(&co);
    if (o) {
        co.startkey = o->start_key;
        co.endkey = o->end_key;
        co.inclusive_end = o->inclusive_end;
        co.descending = o->descending;
        if (o->limit)
            co.limit = o->limit;
        co.skip = o->skip;
        co.include_docs = o->include_docs;
        co.keys = o->keys;
        co.n_keys = o->keys ? o->n_keys : 0;
    }
    rows_ctx c = {fn, ctx};
    st_error ce;
    st_status s = st_db_all_docs(db->core, &co, NULL, on_row, &c, &ce);
    rc = st_client_from_core(e, s, &ce);
    st_client_leave(db);
    return rc;
}
