/* view_params.c — see view_params.h. */
#include "view_params.h"

bool st_view_params_query(st_req *r, st_view_params *p, st_vp_store *s)
{
    st_error e;
    for (size_t i = 0; i < r->n_query; i++) {
        if (st_view_param_set(r->query[i].key, r->query[i].value ? r->query[i].value : "",
                              NULL, p, s, &e) != ST_OK) {
            st_resp_status(r, &e);
            return false;
        }
    }
    return true;
}

bool st_view_params_json(st_req *r, const st_json *obj, st_view_params *p, st_vp_store *s)
{
    st_error e;
    if (obj->type == ST_JSON_OBJECT && st_view_params_object(obj, p, s, &e) != ST_OK) {
        st_resp_status(r, &e);
        return false;
    }
    return true;
}
