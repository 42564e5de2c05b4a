/* atts.c — attachments: put, get and delete one named blob of a document
 * revision.  Each put or delete makes a new revision (that is how the change
 * replicates), so each returns the new rev. */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static settee_status att_write(settee_db *db, const char *id, const char *rev, const char *name,
                               const char *content_type, const void *data, size_t len,
                               char **out_rev, settee_error *e)
{
    if (out_rev)
        *out_rev = NULL;
    if (!id || !name)
        return st_client_fail(e, SETTEE_MISUSE, "NULL id or name");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    /* Core tells "delete" from "put" by data == NULL; an empty attachment
     * still needs a non-NULL pointer. */
    static const char empty[1] = {0};
    st_att_data att = {
        .name = name,
        .content_type = content_type,
        .data = data ? data : (len == 0 && content_type ? empty : NULL),
        .len = len,
    };
    st_write_result res;
    st_error ce;
    st_status s = st_db_put_attachment(db->core, id, rev, &att, &res, &ce);
    rc = st_client_from_core(e, s, &ce);
    if (rc == SETTEE_OK && out_rev)
        rc = st_client_dup(out_rev, res.rev, strlen(res.rev), e);
    st_write_results_free(&res, 1);
    st_client_leave(db);
    return rc;
}

settee_status settee_att_put(settee_db *db, const char *id, const char *rev, const char *name,
                             const char *content_type, const void *data, size_t len,
                             char **out_rev, settee_error *e)
{
    if (!data && len) {
        if (out_rev)
            *out_rev = NULL;
        return st_client_fail(e, SETTEE_MISUSE, "NULL data with len > 0");
    }
    return att_write(db, id, rev, name,
                     content_type ? content_type : "application/octet-stream",
                     data, len, out_rev, e);
}

settee_status settee_att_delete(settee_db *db, const char *id, const char *rev, const char *name,
                                char **out_rev, settee_error *e)
{
    return att_write(db, id, rev, name, NULL, NULL, 0, out_rev, e);
}

settee_status settee_att_get(settee_db *db, const char *id, const char *rev, const char *name,
                             void **out_data, size_t *out_len, char **out_content_type,
                             settee_error *e)
{
    if (out_data)
        *out_data = NULL;
    if (out_len)
        *out_len = 0;
    if (out_content_type)
        *out_content_type = NULL;
    if (!id || !name || !out_data || !out_len)
        return st_client_fail(e, SETTEE_MISUSE, "NULL id, name, out_data or out_len");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_buf b = ST_BUF_INIT;
    st_att_info meta;
    st_error ce;
    st_status s = st_db_get_attachment(db->core, id, rev, name, &b, &meta, &ce);
    if (s == ST_OK)
        s = st_att_decode(&meta, &b, (size_t)-1, &ce);
    if ((rc = st_client_from_core(e, s, &ce)) != SETTEE_OK)
        goto out;
    if (out_content_type &&
        (rc = st_client_dup(out_content_type, meta.content_type, strlen(meta.content_type), e)) !=
            SETTEE_OK)
        goto out;
    size_t len = 0;
    void *data = st_buf_take(&b, &len);
    if (!data) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        if (out_content_type) {
            free(*out_content_type);
            *out_content_type = NULL;
        }
        goto out;
    }
    *out_data = data;
    *out_len = len;
out:
    st_buf_free(&b);
    st_client_leave(db);
    return rc;
}
