/* user.c — settee_db_set_user: who the app's local writes are made by, as
 * validate_doc_update sees it (userCtx).  The validator itself is core's
 * (st_vdu.h), installed by js.c. */
#include "client_int.h"

settee_status settee_db_set_user(settee_db *db, const char *name, const char *const *roles,
                                 size_t n, settee_error *e)
{
    if (n && !roles)
        return st_client_fail(e, SETTEE_MISUSE, "NULL roles with n > 0");
    for (size_t i = 0; i < n; i++)
        if (!roles[i])
            return st_client_fail(e, SETTEE_MISUSE, "NULL role");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    rc = st_client_js_set_user(db->js, name, roles, n, e);
    st_client_leave(db);
    return rc;
}
