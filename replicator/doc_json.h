/* doc_json.h — a replicated revision (core's st_rep_doc) in CouchDB's JSON
 * form, both ways, for the HTTP endpoint: what _bulk_get and open_revs
 * answer, and what _bulk_docs and a multipart PUT with new_edits=false send.
 *
 *   {"_id","_rev","_revisions":{"start":N,"ids":[newest,...]},"_deleted"?,
 *    <body members>,"_attachments"?:{name:{"content_type","revpos","digest",
 *    "length"[,"encoding","encoded_length"], "stub"|"follows"|"data"}}}
 *
 * Attachment bytes arrive three ways: "stub" (the target has them: data
 * NULL), inline "data" (base64 of the decoded bytes: they keep the source's
 * digest and core re-encodes them when that reproduces it), or "follows"
 * (a multipart part: the bytes as the source stores them, with the part's
 * Content-Encoding).  Sent revisions carry "follows" for attachments with
 * bytes and stubs for the others.
 *
 * Ownership: a parsed revision borrows strings from the JSON tree (keep it
 * alive as long as the revision, e.g. owned by the same arena) and from the
 * parts; what it makes (path, body, decoded bytes) is allocated from the
 * arena.  Pure functions; any thread.
 */
#ifndef ST_DOC_JSON_H
#define ST_DOC_JSON_H

#include <stddef.h>
#include "arena.h"
#include "st_db.h"
#include "st_json.h"
#include "st_jw.h"

/* An attachment body that followed the JSON in a multipart answer. */
typedef struct st_dj_part {
    const char *name;        /* Content-Disposition filename; NULL: none given */
    const char *encoding;    /* Content-Encoding; NULL or "": identity */
    const void *data;
    size_t len;
} st_dj_part;

/* doc (a JSON object) into *out.  ST_E_BAD_REQUEST (with the document id)
 * for a document the protocol cannot carry: no _id or _rev, a malformed
 * _revisions, an attachment that is not an object or whose "follows" has
 * no part. */
st_status st_dj_parse(const st_json *doc, const st_dj_part *parts, size_t n_parts, st_arena *a,
                      st_rep_doc *out, st_error *err);

/* Write d as one JSON object. */
void st_dj_write(st_jw *w, const st_rep_doc *d);

/* True when some attachment of d carries bytes (it must go as multipart). */
bool st_dj_has_data(const st_rep_doc *d);

#endif
