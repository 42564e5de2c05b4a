/* att_edit.c — PUT/DELETE of one attachment (/db/doc/att): turned into an
 * ordinary document write of the revision it edits, so it takes the one
 * write path (validation, conflicts, stubs) like every other write.
 */
#include "atts.h"
#include "db_int.h"
#include "st_utf8.h"

#include <stdlib.h>
#include <string.h>

/* An attachment edit becomes an ordinary write: the revision's members,
 * its other attachments as stubs, and the new one marked "follows".  Read
 * inside the write transaction, so the revision cannot change under it. */
st_status st_db_att_edit_req(st_db *db, const st_write_req *req, db_loaded *old, st_buf *buf_a,
                            st_buf *buf_b, st_buf *edit, st_json_doc **edit_doc,
                            st_write_req *out, st_error *err)
{
    const st_att_data *att = req->att_edit;
    if (att->name[0] == '\0')
        return st_fail(err, ST_E_BAD_REQUEST, "Attachment name can't be empty");
    if (att->name[0] == '_')
        return st_fail(err, ST_E_BAD_REQUEST,
                       "Attachment name '%s' starts with prohibited character '_'", att->name);
    if (!st_utf8_valid(att->name, strlen(att->name))) /* names from a URL are bytes */
        return st_fail(err, ST_E_BAD_REQUEST, "Attachment name is not UTF-8 encoded");
    st_buf_reset(buf_a);
    st_buf_reset(buf_b);
    st_status st = ST_OK;
    if (req->rev) {
        st_rev r;
        if ((st = st_rev_parse(req->rev, strlen(req->rev), &r, err)) != ST_OK)
            return st;
        st = st_db_load(db->writer, req->id, old, err);
        if (st == ST_E_NOT_FOUND)
            return st_fail(err, ST_E_CONFLICT, "Document update conflict.");
        if (st != ST_OK)
            return st;
        int i = st_revtree_find(old->tree, &r);
        if (i < 0 || !st_revtree_is_leaf(old->tree, (size_t)i))
            return st_fail(err, ST_E_CONFLICT, "Document update conflict.");
        st = st_db_rev_body(db->writer, req->id, old, (size_t)i, buf_a, buf_b, err);
        if (st == ST_E_NOT_FOUND)
            return st_fail(err, ST_E_CONFLICT, "Document update conflict.");
        if (st != ST_OK)
            return st;
    }
    st_json_doc *old_atts = NULL;
    if (buf_b->len && (st = st_json_parse(buf_b->data, buf_b->len, NULL, &old_atts,
                                            err)) != ST_OK)
        return st;
    const st_json *oa = old_atts ? st_json_doc_root(old_atts) : NULL;
    if (!att->data && !(oa && st_json_get(oa, att->name))) {
        st_json_doc_free(old_atts);
        return st_fail(err, ST_E_NOT_FOUND, "Document is missing attachment");
    }
    st_buf_reset(edit);
    st_jw jw;
    if ((st = st_jw_init(&jw, edit)) != ST_OK) {
        st_json_doc_free(old_atts);
        return st_fail(err, st, "out of memory");
    }
    st_jw_obj_open(&jw);
    if (buf_a->len)
        st_jw_members(&jw, buf_a->data, buf_a->len);
    st_jw_key(&jw, "_attachments");
    st_jw_obj_open(&jw);
    for (size_t i = 0; oa && oa->type == ST_JSON_OBJECT && i < oa->len; i++) {
        const st_json_member *m = &oa->u.members[i];
        if (strcmp(m->key, att->name) == 0)
            continue;
        st_jw_keyn(&jw, m->key, m->key_len);
        st_jw_obj_open(&jw);
        st_jw_key(&jw, "stub");
        st_jw_bool(&jw, true);
        st_jw_obj_close(&jw);
    }
    if (att->data) {
        st_jw_key(&jw, att->name);
        st_jw_obj_open(&jw);
        st_jw_key(&jw, "content_type");
        st_jw_str(&jw, att->content_type ? att->content_type : "application/octet-stream");
        st_jw_key(&jw, "follows");
        st_jw_bool(&jw, true);
        st_jw_obj_close(&jw);
    }
    st_jw_obj_close(&jw);
    st_jw_obj_close(&jw);
    st = st_jw_status(&jw);
    st_jw_free(&jw);
    st_json_doc_free(old_atts);
    st_db_loaded_free(old);
    if (st != ST_OK)
        return st_fail(err, st, "out of memory");
    st_json_limits lim = {0, db->opts.max_depth + 2};
    if ((st = st_json_parse(edit->data, edit->len, &lim, edit_doc, err)) != ST_OK)
        return st;
    *out = (st_write_req){
        .doc = st_json_doc_root(*edit_doc),
        .id = req->id,
        .rev = req->rev,
        .atts = att->data ? att : NULL,
        .n_atts = att->data ? 1 : 0,
    };
    return ST_OK;
}
