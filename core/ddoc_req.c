/* ddoc_req.c — see st_ddoc_req.h. */
#include "st_ddoc_req.h"

#include <string.h>

void st_ddoc_req_info(st_jw *w, st_db *db)
{
    st_db_info in;
    st_error e;
    st_jw_key(w, "info");
    st_jw_obj_open(w);
    st_jw_key(w, "db_name");
    st_jw_str(w, st_db_name(db));
    if (st_db_info_get(db, &in, &e) == ST_OK) {
        st_jw_key(w, "update_seq");
        st_jw_uint(w, in.update_seq);
        st_jw_key(w, "purge_seq");
        st_jw_uint(w, in.purge_seq);
        st_jw_key(w, "doc_count");
        st_jw_uint(w, in.doc_count);
        st_jw_key(w, "doc_del_count");
        st_jw_uint(w, in.doc_del_count);
        st_jw_key(w, "instance_start_time");
        st_jw_str(w, in.instance_start_time);
    }
    st_jw_obj_close(w);
}

void st_ddoc_req_user_value(st_jw *w, const char *db_name, const char *name,
                            const char *const *roles, size_t n, bool admin)
{
    st_jw_obj_open(w);
    st_jw_key(w, "db");
    st_jw_str(w, db_name);
    st_jw_key(w, "name");
    st_jw_str(w, name);
    st_jw_key(w, "roles");
    st_jw_arr_open(w);
    if (admin)
        st_jw_str(w, ST_ROLE_ADMIN);
    for (size_t i = 0; i < n; i++)
        st_jw_str(w, roles[i]);
    st_jw_arr_close(w);
    st_jw_obj_close(w);
}

void st_ddoc_req_user_ctx(st_jw *w, const char *db_name, const st_user_ctx *user)
{
    st_jw_key(w, "userCtx");
    if (user)
        st_ddoc_req_user_value(w, db_name, user->name, user->roles,
                               user->n_roles, false);
    else
        st_ddoc_req_user_value(w, db_name, NULL, NULL, 0, true);
}

void st_ddoc_req_sec_obj(st_jw *w, st_db *db)
{
    st_jw_key(w, "secObj");
    st_security *sec = st_db_security(db);
    size_t n = 0;
    const char *j = sec ? st_security_json(sec, &n) : NULL;
    if (j)
        st_jw_raw(w, j, n);
    else
        st_jw_raw(w, "{}", 2);
    st_security_release(sec);
}

st_status st_ddoc_req_changes(st_db *db, const char *filter, const st_json *query,
                              const st_user_ctx *user, st_buf *out, st_error *err)
{
    st_jw w;
    if (st_jw_init(&w, out) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_jw_obj_open(&w);
    st_ddoc_req_info(&w, db);
    st_jw_key(&w, "id");
    st_jw_null(&w);
    st_jw_key(&w, "method");
    st_jw_str(&w, "GET");
    st_jw_key(&w, "path");
    st_jw_arr_open(&w);
    st_jw_str(&w, st_db_name(db));
    st_jw_str(&w, "_changes");
    st_jw_arr_close(&w);
    st_jw_key(&w, "query");
    st_jw_obj_open(&w);
    st_jw_key(&w, "filter");
    st_jw_str(&w, filter);
    for (size_t i = 0; query && query->type == ST_JSON_OBJECT && i < query->len; i++) {
        const st_json_member *m = &query->u.members[i];
        if (strcmp(m->key, "filter") == 0)
            continue; /* the filter's own name stays the one that runs */
        st_jw_keyn(&w, m->key, m->key_len);
        st_jw_value(&w, &m->value);
    }
    st_jw_obj_close(&w);
    /* CouchDB's replicator writes these as empty lists. */
    const char *empty[] = {"headers", "body", "form", "cookie"};
    for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
        st_jw_key(&w, empty[i]);
        st_jw_arr_open(&w);
        st_jw_arr_close(&w);
    }
    st_jw_key(&w, "peer");
    st_jw_str(&w, "replicator");
    st_ddoc_req_user_ctx(&w, st_db_name(db), user);
    st_ddoc_req_sec_obj(&w, db);
    st_jw_obj_close(&w);
    st_status st = st_jw_status(&w);
    st_jw_free(&w);
    return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
}
