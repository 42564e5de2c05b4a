/* open_revs.h — CouchDB's answer to GET /db/id?open_revs=[...], parsed into
 * typed revisions as it arrives:
 *
 *   - multipart/mixed: one part per revision.  A revision without
 *     attachment bodies is an application/json part; one with bodies is a
 *     nested multipart/related part: the document JSON (its attachments
 *     marked "follows", with "encoding" when they are stored encoded), then
 *     one part per attachment with Content-Disposition, Content-Type,
 *     Content-Length and Content-Encoding, the bytes as stored.  A revision
 *     the server lacks is an application/json part {"missing":rev}.
 *   - application/json: [{"ok":doc}|{"missing":rev}], attachments inline
 *     (servers that ignore Accept: multipart/mixed, e.g. PouchDB-like ones).
 *
 * Each revision found is handed to fn as it completes; missing ones are
 * skipped.  The revision and everything it points to (JSON trees,
 * attachment bytes) live in the arena given; the st_rep_doc itself is
 * borrowed for the call.  One parser per answer, one thread.
 */
#ifndef ST_OPEN_REVS_H
#define ST_OPEN_REVS_H

#include <stddef.h>
#include "arena.h"
#include "st_db.h"

typedef struct st_orp st_orp;
typedef int (*st_orp_fn)(void *ctx, const st_rep_doc *doc); /* nonzero stops */

/* A parser for an answer of Content-Type ctype.  ST_E_BAD_REQUEST for a
 * multipart type without a boundary. */
st_status st_orp_new(const char *ctype, st_arena *a, st_orp_fn fn, void *ctx, st_orp **out,
                     st_error *err);
void st_orp_free(st_orp *p); /* NULL ok */

/* ST_E_BAD_REQUEST for a malformed answer, ST_E_BUSY when fn stopped. */
st_status st_orp_feed(st_orp *p, const char *data, size_t n, st_error *err);
/* The answer ended; JSON answers are parsed and delivered here. */
st_status st_orp_finish(st_orp *p, st_error *err);

#endif
