/* mango_subs.c — placeholder, replaced below. */
#include "mango_int.h"

bool st_subs_active(st_db *db) { (void)db; return false; }
void st_subs_batch_begin(st_db *db) { (void)db; }
st_status st_subs_test(st_db *db, mango_lazy *l, st_error *err)
{
    (void)db; (void)l; (void)err;
    return ST_OK;
}
