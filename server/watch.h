/* watch.h — the server's follower of the authentication database.
 *
 * Every change of a user document is acted on, on one thread of its own:
 *   - the feeds that user has open check their access again (feed.h), so
 *     a user who lost a role or was deleted stops receiving rows;
 *   - with [couch_peruser] enable, the user's private database
 *     "<database_prefix><hex of the name>" is created with the user as its
 *     member and admin (CouchDB's security object), and when the user is
 *     deleted it is deleted too ([couch_peruser] delete_dbs) or the user is
 *     taken out of its security object.
 * It starts from the beginning of _users, so enabling couch_peruser covers
 * existing users, as in CouchDB.  If the database is deleted or not there,
 * it looks for it again every second.
 *
 * Threads: new/free from the server's start and stop only.
 */
#ifndef ST_SERVER_WATCH_H
#define ST_SERVER_WATCH_H

#include "server_int.h"

st_status st_watch_start(st_server *srv, st_watch **out, st_error *err);
void st_watch_stop(st_watch *w); /* NULL ok; waits for the thread */

/* "userdb-" + lowercase hex of each byte of name, a byte below 0x10 as one
 * digit (CouchDB's ~.16b).  *out is malloc'd. */
st_status st_peruser_db_name(const char *prefix, const char *name, char **out, st_error *err);

/* Rows the watcher has handled (tests wait for it to catch up). */
uint64_t st_watch_seen(const st_watch *w);

#endif
