/* registry.h — which settee_db handles are open, how many public calls are
 * inside each, and how many children (listeners, syncs, iterators) each has.
 *
 * The API promises SETTEE_MISUSE, not a crash, for a closed handle, and
 * SETTEE_BUSY from close while a call runs or a child lives; both need this
 * bookkeeping atomically with close.  The registry never looks inside a
 * handle: it only compares pointers.
 *
 * Depends on errors.h only.  Every function: any thread; the registry's lock
 * is the innermost lock of libsettee, held for a few instructions.
 */
#ifndef ST_CLIENT_REGISTRY_H
#define ST_CLIENT_REGISTRY_H

#include <stdbool.h>

#include "settee.h"

/* Record db as open.  false: out of memory (db is not registered). */
bool st_client_reg_add(settee_db *db);

/* Forget db if it is idle: SETTEE_OK (db is no longer open), SETTEE_BUSY
 * (a call is inside it or a child lives: nothing changed), SETTEE_MISUSE
 * (db is not open). */
settee_status st_client_reg_remove(settee_db *db);

/* Validate db as open and count the caller in (SETTEE_MISUSE, with e
 * filled, otherwise).  Every public call on a db is bracketed by
 * enter/leave, so close refuses while one runs. */
settee_status st_client_enter(settee_db *db, settee_error *e);
void st_client_leave(settee_db *db);

/* A child of db was made (call between enter and leave) or ended. */
void st_client_child_add(settee_db *db);
void st_client_child_done(settee_db *db);

#endif
