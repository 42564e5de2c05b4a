/* local_docs.c — _local documents: not replicated, no revision tree, a
 * "0-N" revision counter, stored in their own table; written inside the
 * write path's transaction like any document (doc_write.c hands them here).
 */
#include "db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A _local document's rev: "0-" and decimal digits. */
bool st_db_local_rev_ok(const char *rev)
{
    if (strncmp(rev, "0-", 2) != 0 || !rev[2])
        return false;
    for (const char *c = rev + 2; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    return true;
}

st_status st_db_write_local(st_db *db, const char *id, const char *rev, bool deleted,
                           const st_buf *body, st_write_result *res, st_error *err)
{
    st_conn *c = db->writer;
    uint64_t cur = 0;
    st_status st = st_store_local_get(c, id, &cur, NULL, err);
    bool exists = st == ST_OK;
    if (st != ST_OK && st != ST_E_NOT_FOUND)
        return st;
    if (rev && !st_db_local_rev_ok(rev))
        return st_fail(err, ST_E_BAD_REQUEST, "Invalid rev format");
    if (rev) {
        /* "0-N"; CouchDB accepts a write without _rev over an existing doc. */
        char want[32];
        snprintf(want, sizeof want, "0-%llu", (unsigned long long)cur);
        if (!exists || strcmp(rev, want) != 0)
            return st_fail(err, deleted && !exists ? ST_E_NOT_FOUND : ST_E_CONFLICT,
                           deleted && !exists ? "missing" : "Document update conflict.");
    }
    if (deleted) {
        if (!exists)
            return st_fail(err, ST_E_NOT_FOUND, "missing");
        if ((st = st_store_local_delete(c, id, err)) != ST_OK)
            return st;
        snprintf(res->rev, sizeof res->rev, "0-0");
        return ST_OK;
    }
    if (body->len > db->opts.max_doc_size)
        st = st_fail(err, ST_E_DOC_TOO_LARGE, "Document exceeds the maximum size");
    else
        st = st_store_local_put(c, id, cur + 1, body->data, body->len, err);
    if (st == ST_OK)
        snprintf(res->rev, sizeof res->rev, "0-%llu", (unsigned long long)(cur + 1));
    return st;
}

st_status st_db_local_get(st_db *db, const char *id, st_buf *out, st_error *err)
{
    if (!st_db_id_is_local(id))
        return st_fail(err, ST_E_BAD_REQUEST, "not a _local document id");
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    st_buf body = ST_BUF_INIT;
    uint64_t rev = 0;
    st_status st = st_store_local_get(c, id, &rev, &body, err);
    st_db_reader_put(db, c);
    if (st == ST_E_NOT_FOUND)
        st = st_fail(err, ST_E_NOT_FOUND, "missing");
    if (st == ST_OK) {
        st_jw w;
        if ((st = st_jw_init(&w, out)) == ST_OK) {
            char rs[32];
            snprintf(rs, sizeof rs, "0-%llu", (unsigned long long)rev);
            st_jw_obj_open(&w);
            st_jw_key(&w, "_id");
            st_jw_str(&w, id);
            st_jw_key(&w, "_rev");
            st_jw_str(&w, rs);
            st_jw_members(&w, body.data ? body.data : "{}", body.data ? body.len : 2);
            st_jw_obj_close(&w);
            st = st_jw_status(&w);
            st_jw_free(&w);
        }
        if (st != ST_OK)
            st_fail(err, st, "out of memory");
    }
    st_buf_free(&body);
    return st;
}
