/* repl_id.h — replication ids: the name of a replication's checkpoint
 * documents, stable for the same source, target and filter.
 *
 * settee uses CouchDB's scheme (REP_ID_VERSION 4, couch_replicator_ids.erl):
 *   hex(md5(term_to_binary([UUID, SrcEp, TgtEp] ++ Filter)))
 * with Ep = {remote, User, Host, Port|default, Path, [], undefined} for a
 * URL and, settee's own addition for local files, {local, <<DbUUID>>}.
 * CouchDB's UUID is the uuid of the server running the replicator; settee
 * has none, so it uses the source's server uuid (a remote source), else the
 * target's, else the source database's uuid.  That matches a checkpoint a
 * CouchDB replicator running on the source's server wrote; the variant with
 * the target's uuid (a CouchDB "pull" job) is offered as an alternative id
 * to read.  Filter = [DocIds] | [Selector] | [Code, QueryParams] |
 * [<<"_view">>, QueryParams] | [], where Selector is the selector in
 * Mango's normal form with object keys sorted, as CouchDB's
 * couch_replicator_filters:parse keeps it (ejsort(normalize(Selector))),
 * Code is a design-document filter's source as fetched from the source
 * (trimmed as couch_replicator_filters:fetch trims it: leading and
 * trailing blanks go when what is left is one line) and QueryParams the
 * query_params object as given ({[]} when absent), so a changed function
 * or changed parameters make a new replication.
 *
 * PouchDB's scheme (pouchdb-generate-replication-id):
 *   base64(md5(srcId + tgtId + filter + view + JSON(sorted query_params)
 *              + sortedDocIds.join(",") + JSON(selector))),
 *   with '/'→'.' and '+'→'_'; for an http endpoint id = uuid + dbname.
 *
 * The term is written with core's Erlang term writer (st_term_*, the one
 * that hashes rev ids), so the two cannot drift apart.
 *
 * Thread-safety: pure functions.
 */
#ifndef ST_REPL_ID_H
#define ST_REPL_ID_H

#include <stdbool.h>
#include <stddef.h>
#include "endpoint.h"
#include "st_buf.h"
#include "st_error.h"
#include "st_rev.h"

/* How atoms are written (st_term_atoms, core/st_rev.h): OTP < 26 defaults
 * to ATOM_EXT, OTP 26+ to SMALL_ATOM_UTF8_EXT, and CouchDB hashes
 * term_to_binary's default output, so both ids are worth looking for. */

/* A filter by name (doc_ids and selector aside), for the ids. */
typedef struct st_repl_id_filter {
    const char *name;          /* "ddoc/fn" or a builtin ("_view", "_design") */
    const char *code;          /* ddoc/fn: the function's source as fetched */
    const char *query_params;  /* a JSON object, or NULL (none) */
} st_repl_id_filter;

/* CouchDB's Code for a fetched source: src trimmed of leading and trailing
 * whitespace when what remains holds no newline, else src unchanged (its
 * regex has no dotall).  malloc'd; NULL when out of memory. */
char *st_repl_id_filter_code(const char *src);

/* The CouchDB-scheme id (32 hex + NUL) for src → tgt with the given filter
 * (doc_ids, selector and filter may be absent; filter NULL: none).  uuid is the "local server" uuid
 * described above. */
st_status st_repl_id_couch(const char *uuid, const st_ep *src, const st_ep *tgt,
                           const char *const *doc_ids, size_t n_doc_ids,
                           const char *selector, const st_repl_id_filter *filter,
                           st_term_atoms atoms, char out[33], st_error *err);

/* PouchDB's id without the "_local/" prefix (24 chars + NUL); needs
 * src->pouch_id and tgt->pouch_id. */
st_status st_repl_id_pouch(const st_ep *src, const st_ep *tgt, const char *const *doc_ids,
                           size_t n_doc_ids, const char *selector,
                           const st_repl_id_filter *filter, char out[25], st_error *err);

/* The term bytes hashed by st_repl_id_couch (for tests). */
st_status st_repl_id_term(const char *uuid, const st_ep *src, const st_ep *tgt,
                          const char *const *doc_ids, size_t n_doc_ids, const char *selector,
                          const st_repl_id_filter *filter, st_term_atoms atoms, st_buf *out,
                          st_error *err);

#endif
