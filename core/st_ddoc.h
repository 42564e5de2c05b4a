/* st_ddoc.h — a design document, parsed: its views (map and reduce
 * sources, options), the index signature they imply, and the other
 * functions it carries (validate_doc_update, filters, updates).
 *
 * The signature is what names a view index on disk: an md5 over the
 * language, the views (names, map and reduce sources, options) and
 * views.lib, so a design document whose functions change gets a new index
 * (rebuilt from nothing) while an edit that leaves them alone (a new
 * filter, a changed description) keeps the old one, as CouchDB does.
 * The value is settee's own; CouchDB hashes Erlang terms.
 *
 * st_ddoc_check is what CouchDB checks when a design document is saved
 * (couch_mrview's validate_ddoc_fields), with its messages, as 400
 * invalid_design_doc (ST_E_BAD_REQUEST with that name).  It runs no JavaScript; compiling the functions is
 * the query server's job.
 *
 * Ownership: st_ddoc_parse returns one reference; an st_ddoc is immutable
 * and reference-counted (st_ddoc_ref / st_ddoc_release), so any thread may
 * hold and read it.  Every string it hands out lives as long as it does.
 */
#ifndef ST_DDOC_H
#define ST_DDOC_H

#include <stdbool.h>
#include <stddef.h>
#include "st_collate.h"
#include "st_error.h"
#include "st_json.h"
#include "st_reduce.h"

typedef struct st_ddoc_view {
    const char *name;
    const char *map;            /* source text */
    const char *reduce;         /* source text; NULL: a map-only view */
    bool builtin;               /* reduce is one of _sum, _count, _stats, ... */
    st_reduce_builtin bfn;      /* which, when builtin */
    st_collate_mode collation;  /* options.collation "raw", else ICU */
} st_ddoc_view;

typedef struct st_ddoc st_ddoc;

/* A whole design document as stored (JSON with _id and _rev).  Views of
 * the wrong shape are skipped here (st_ddoc_check refuses them at save).
 * ST_E_BAD_REQUEST when json is not an object. */
st_status st_ddoc_parse(const char *json, size_t n, st_ddoc **out, st_error *err);
st_ddoc *st_ddoc_ref(st_ddoc *d);     /* returns d; NULL ok */
void st_ddoc_release(st_ddoc *d);     /* NULL ok */

const char *st_ddoc_id(const st_ddoc *d);
const char *st_ddoc_rev(const st_ddoc *d);      /* "" when the JSON had none */
const char *st_ddoc_language(const st_ddoc *d); /* "javascript" when absent */
const char *st_ddoc_sig(const st_ddoc *d);      /* 32 hex digits */
/* The document's JSON text, NUL-terminated (for ["ddoc","new",...]). */
const char *st_ddoc_json(const st_ddoc *d, size_t *len);
/* Its parsed root (an object). */
const st_json *st_ddoc_root(const st_ddoc *d);

/* Views in name order. */
size_t st_ddoc_nviews(const st_ddoc *d);
const st_ddoc_view *st_ddoc_view_at(const st_ddoc *d, size_t i);
/* Index of the view called name, or -1. */
int st_ddoc_view_find(const st_ddoc *d, const char *name);
/* views.lib as JSON text (for add_lib), or NULL when there is none. */
const char *st_ddoc_lib(const st_ddoc *d);
bool st_ddoc_include_design(const st_ddoc *d); /* options.include_design */
bool st_ddoc_local_seq(const st_ddoc *d);      /* options.local_seq */
/* validate_doc_update's source, or NULL. */
const char *st_ddoc_vdu(const st_ddoc *d);

/* The member path[0].path[1]... of the document when it exists.  Else
 * NULL and, if err, ST_E_NOT_FOUND "missing json key: <first missing>"
 * (CouchDB's words for a missing filter, view or update function). */
const st_json *st_ddoc_path(const st_ddoc *d, const char *const *path, size_t n, st_error *err);

/* Does src name a built-in reduce?  CouchDB takes any source starting with
 * one of the names ("_sum", "_count", "_stats", "_approx_count_distinct"). */
bool st_ddoc_builtin_reduce(const char *src, st_reduce_builtin *out);

/* CouchDB's checks of a design document at save: the types of views, each
 * view and its map/reduce, lib, language, options, filters, updates,
 * validate_doc_update; every view has a map; built-in reduce names exist.
 * ST_E_BAD_REQUEST named "invalid_design_doc" (st_error.name) with CouchDB's
 * message otherwise. */
st_status st_ddoc_check(const st_json *doc, st_error *err);

#endif
