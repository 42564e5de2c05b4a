/* st_json.h — a parsed JSON value tree, built on yajl, with explicit limits.
 *
 * Why our own tree instead of yajl_tree: we need (a) members kept in input
 * order, duplicate keys reduced to their last value (what CouchDB stores and
 * hashes when it makes a rev id), (b) numbers kept as their exact source text so nothing is lost in a
 * round trip, (c) limits on depth and size enforced while parsing, and
 * (d) one arena per document so freeing is a single call.
 *
 * Ownership: st_json_parse() returns an st_json_doc that owns every node and
 * string reachable from its root; st_json_doc_free() frees them all.  Nodes
 * are read-only for callers.  Thread-safety: a doc may be read from several
 * threads at once; nothing here has global state.
 */
#ifndef ST_JSON_H
#define ST_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_error.h"

typedef enum {
    ST_JSON_NULL,
    ST_JSON_FALSE,
    ST_JSON_TRUE,
    ST_JSON_NUMBER, /* u.str holds the number's source text, len its length */
    ST_JSON_STRING, /* u.str holds unescaped UTF-8 (NUL-terminated), len bytes */
    ST_JSON_ARRAY,  /* u.items[0..len) */
    ST_JSON_OBJECT  /* u.members[0..len), input order; of duplicate keys only the last */
} st_json_type;

typedef struct st_json st_json;
typedef struct st_json_member st_json_member;

struct st_json {
    st_json_type type;
    size_t len;
    union {
        const char *str;
        st_json *items;
        st_json_member *members;
    } u;
};

struct st_json_member {
    const char *key; /* unescaped UTF-8, NUL-terminated */
    size_t key_len;
    st_json value;
};

/* Nesting accepted when no other limit is given.  CouchDB has no limit
 * (it stores 65, 100 and 1,000 levels), so documents replicated from it
 * must fit; the bound is there for memory and time, not the stack: this
 * parser, the writer (st_jw_value) and the rev hash's encoder are
 * iterative.  Nesting costs about 40 bytes of heap a level while parsing. */
#define ST_JSON_DEFAULT_DEPTH 4096

typedef struct st_json_limits {
    size_t max_bytes;  /* input longer than this: ST_E_DOC_TOO_LARGE; 0 = unlimited */
    unsigned max_depth;/* nesting deeper than this: ST_E_BAD_REQUEST "nesting too deep";
                          0 = ST_JSON_DEFAULT_DEPTH */
} st_json_limits;

typedef struct st_json_doc st_json_doc;

/* Parse text[0..n).  lim may be NULL (no size limit, the default depth).
 * Invalid JSON gives ST_E_BAD_REQUEST with reason "invalid UTF-8 JSON",
 * nesting past the limit ST_E_BAD_REQUEST "nesting too deep".  On success
 * *out_doc is set; free it with st_json_doc_free(). */
st_status st_json_parse(const char *text, size_t n, const st_json_limits *lim,
                        st_json_doc **out_doc, st_error *err);
const st_json *st_json_doc_root(const st_json_doc *doc);
void st_json_doc_free(st_json_doc *doc); /* NULL ok */
/* A document holding a deep copy of v (NULL when out of memory or nested
 * deeper than ST_JSON_DEFAULT_DEPTH); size_hint is the length of v's text,
 * if known, to size the first allocation. */
st_json_doc *st_json_doc_copy(const st_json *v, size_t size_hint);

/* Lookups (borrowed results, NULL when absent or wrong type).  For objects
 * with duplicate keys, the LAST occurrence wins, as in CouchDB (jiffy). */
const st_json *st_json_get(const st_json *obj, const char *key);
const char *st_json_get_str(const st_json *obj, const char *key); /* string member */
bool st_json_is_str(const st_json *v);

/* Number helpers: true when v is a NUMBER that is an integer fitting the type.
 * Only plain integer text counts ("-12"); "1.0" and "1e2" are refused. */
bool st_json_int64(const st_json *v, int64_t *out);
bool st_json_uint64(const st_json *v, uint64_t *out);

#endif
