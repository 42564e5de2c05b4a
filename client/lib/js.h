/* js.h — a settee_db's design-document machinery: the query-server pool
 * that runs its JavaScript, the registry of its view indexes, and core's
 * validator (st_vdu.h) installed on it, so local and synced writes are
 * validated as the server validates them.
 *
 * Where settee-js is found (st_client_js_open's query_server): the given
 * command line; NULL: $SETTEE_JS when set and not empty; else settee-js
 * installed beside the library (its libexec directory, found from where
 * the library itself was loaded), else where it was to be installed.  ""
 * or an executable that is not there: no JavaScript (the pool knows no
 * language, and the error messages say where it was looked for).
 *
 * Threads: open and close with the db; the rest from any thread.
 */
#ifndef ST_CLIENT_JS_H
#define ST_CLIENT_JS_H

#include <stdbool.h>

#include "settee.h"
#include "st_db.h"
#include "st_qs.h"
#include "st_view.h"

typedef struct st_client_js st_client_js;

/* Start the pool (processes start on demand) and views of db, and install
 * its validator.  timeout_ms and procs 0: the defaults. */
settee_status st_client_js_open(st_db *db, const char *query_server, unsigned timeout_ms,
                                unsigned procs, st_client_js **out, settee_error *e);
/* After db's core database is closed (its validator uses the pool).  NULL ok. */
void st_client_js_close(st_client_js *js);

st_views *st_client_js_views(st_client_js *js);
/* Whether a query server for JavaScript was found, and the message part
 * that says where it was looked for ("settee-js not found at '...'"). */
bool st_client_js_available(const st_client_js *js);
const char *st_client_js_hint(const st_client_js *js);

/* settee_db_set_user's core. */
settee_status st_client_js_set_user(st_client_js *js, const char *name,
                                    const char *const *roles, size_t n, settee_error *e);

#endif
