/* atts.h — attachments of one revision: from a document's _attachments
 * member (or a replicated revision's typed attachments) to stored metadata,
 * and back to stubs, inline data or "follows".
 *
 * Stored metadata is a JSON object per revision,
 *   {"<name>":{"content_type":"..","digest":"md5-<base64>","length":N,"revpos":N
 *              [,"encoding":"gzip","encoded_length":N]},...}
 * and the bytes live in the store once per digest, as stored: gzip-encoded
 * when "encoding" says so (the digest is then of the encoded bytes, as
 * CouchDB's is).  New uploads of compressible types are gzipped; replicated
 * ones keep the encoding and bytes their source gave them, so every replica
 * shows the same digest.  A stub keeps the entry of the parent revision, so
 * unchanged attachments are carried across revisions without copying bytes.
 *
 * Threading: called by the writer (prepare) or readers (render) with their
 * own connection.  Internal to core.
 */
#ifndef ST_ATTS_H
#define ST_ATTS_H

#include <stdbool.h>
#include <stddef.h>
#include "st_base64.h"
#include "st_buf.h"
#include "st_db.h"
#include "st_json.h"
#include "st_jw.h"
#include "st_rev.h"
#include "store.h"

typedef struct st_atts_in {
    const st_json *obj;            /* the doc's _attachments (NULL: none) */
    const st_rep_att *typed;       /* or: a replicated revision's attachments */
    size_t n_typed;
    const char *parent_json;       /* parent revision's stored metadata */
    size_t parent_len;
    uint64_t new_gen;              /* generation of the revision being written */
    const st_att_data *follows;    /* bytes for "follows" entries */
    size_t n_follows;
    size_t max_att_size;           /* decoded bytes per attachment */
    uint64_t *decode_left;         /* decoded bytes the rest of the request may
                                      still take (shared by its documents;
                                      NULL: no total) */
    bool replicated;               /* new_edits=false: keep given revpos and encoding */
    const char *doc_id;            /* for error messages */
    int compress_level;            /* gzip level for compressible new uploads; 0: none */
    const char *compressible;      /* CouchDB's compressible_types list; NULL: its default */
} st_atts_in;

typedef struct st_atts_out {
    st_buf json;                   /* stored metadata; len 0 when no attachments */
    st_rev_att *digests;           /* for the rev hash, in _attachments order */
    size_t n;
    char *names;                   /* storage for digests[].name/content_type */
    uint64_t bytes;                /* total attachment length */
} st_atts_out;

void st_atts_out_free(st_atts_out *o);

/* The shape of a document's _attachments without storage: names, one of
 * stub/data/follows each, data that decodes. */
st_status st_atts_check(const st_json *obj, st_error *err);

/* Validate entries, store new bytes through c, fill out. */
st_status st_atts_prepare(st_conn *c, const st_atts_in *in, st_atts_out *out, st_error *err);

/* Write "_attachments":{...} for stored metadata into the open object of w.
 * min_revpos: entries with revpos <= it are stubs even when bodies are asked
 * for (atts_since).  Inline data is decoded; follows entries carry encoding
 * info (their bytes go out as stored).  Metadata of each entry goes to
 * *out_list when non-NULL (strings point into *arena, which the caller
 * frees with st_json_doc_free). */
st_status st_atts_render(st_conn *c, const char *json, size_t len, st_atts_mode mode,
                         bool encoding_info, uint64_t min_revpos, st_jw *w,
                         st_att **out_list, size_t *out_n, st_json_doc **arena,
                         st_error *err);

/* Every entry of stored metadata as st_att (strings into *arena). */
st_status st_atts_list(const char *json, size_t len, st_att **out_list, size_t *out_n,
                       st_json_doc **arena, st_error *err);

/* Find one entry's metadata in stored JSON. ST_E_NOT_FOUND when absent. */
st_status st_atts_find(const char *json, size_t len, const char *name, st_att_info *out,
                       st_error *err);

/* Whether a content type is compressible per patterns (NULL: CouchDB's
 * default: all text types, application/javascript, application/json and
 * application/xml). */
bool st_atts_compressible(const char *content_type, const char *patterns);

#endif
