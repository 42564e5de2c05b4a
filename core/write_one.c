/* write_one.c — the one-request forms of st_db_write (st_db.h): a JSON
 * text, one attachment, one _local document.  Each is a single request
 * through the one write path, and its result's error is the call's error.
 * They sit above the write path and call only its public entry point.
 */
#include "db_int.h"

#include <string.h>

/* Write req alone; a refused document is the call's status. */
static st_status write_one(st_db *db, const st_write_req *req, unsigned flags,
                           st_write_result *result, st_error *err)
{
    st_status st = st_db_write(db, req, 1, flags, result, err);
    if (st == ST_OK && result->err.code != ST_OK) {
        st = result->err.code;
        if (err)
            *err = result->err;
    }
    return st;
}

st_status st_db_put_json(st_db *db, const char *json, size_t len, unsigned flags,
                         st_write_result *result, st_error *err)
{
    memset(result, 0, sizeof *result);
    st_json_limits lim = {db->opts.max_doc_size, db->opts.max_depth};
    st_json_doc *doc = NULL;
    st_status st = st_json_parse(json, len, &lim, &doc, err);
    if (st != ST_OK)
        return st;
    st_write_req req = {.doc = st_json_doc_root(doc)};
    st = write_one(db, &req, flags, result, err);
    st_json_doc_free(doc);
    return st;
}

st_status st_db_put_attachment(st_db *db, const char *id, const char *rev,
                               const st_att_data *att, st_write_result *result, st_error *err)
{
    memset(result, 0, sizeof *result);
    if (!db || !id || !att || !att->name)
        return st_fail(err, ST_E_MISUSE, "NULL argument");
    st_write_req req = {.id = id, .rev = rev, .att_edit = att};
    return write_one(db, &req, 0, result, err);
}

st_status st_db_local_put(st_db *db, const char *id, const st_json *doc, const char *rev,
                          char out_rev[ST_REV_STR_MAX], st_error *err)
{
    if (!st_db_id_is_local(id))
        return st_fail(err, ST_E_BAD_REQUEST, "not a _local document id");
    st_write_req req = {.doc = doc, .id = id, .rev = rev};
    st_write_result res;
    st_status st = write_one(db, &req, 0, &res, err);
    if (st == ST_OK && out_rev)
        memcpy(out_rev, res.rev, ST_REV_STR_MAX);
    st_write_results_free(&res, 1);
    return st;
}

st_status st_db_local_delete(st_db *db, const char *id, const char *rev, st_error *err)
{
    if (!st_db_id_is_local(id))
        return st_fail(err, ST_E_BAD_REQUEST, "not a _local document id");
    st_write_req req = {.doc = NULL, .id = id, .rev = rev, .delete_doc = true};
    st_write_result res;
    st_status st = write_one(db, &req, 0, &res, err);
    st_write_results_free(&res, 1);
    return st;
}
