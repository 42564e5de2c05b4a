/* fuzz_rev.c — revision ids and revision paths: st_rev_parse (core/rev.c)
 * and what the write path makes of `_rev` and `_revisions` in a replicated
 * document (st_db_write_check: core/doc_write.c), without a database.
 *
 * The first byte chooses: an id on its own (what parses formats back to
 * itself, and its generation stays below 2^63), a `_revisions` value, or a
 * `_rev` value, checked both as an edit and as a replicated write. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_db.h"
#include "st_json.h"
#include "st_rev.h"

static void check_write(const char *json, size_t n, const char *rev)
{
    st_json_doc *doc = NULL;
    if (st_json_parse(json, n, NULL, &doc, NULL) != ST_OK)
        return;
    st_write_req req;
    memset(&req, 0, sizeof req);
    req.doc = st_json_doc_root(doc);
    req.rev = rev;
    st_error e;
    for (unsigned flags = 0; flags <= ST_WRITE_REPLICATED; flags += ST_WRITE_REPLICATED) {
        st_status st = st_db_write_check(&req, flags, &e);
        if (st != ST_OK && st != ST_E_BAD_REQUEST && st != ST_E_DOC_VALIDATION &&
            st != ST_E_ILLEGAL_DOCID && st != ST_E_NOMEM)
            abort();
    }
    st_json_doc_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: {
        st_rev r, r2;
        if (st_rev_parse(s, n, &r, NULL) != ST_OK)
            return 0;
        char out[ST_REV_STR_MAX];
        size_t len = st_rev_format(&r, out, sizeof out);
        if (r.gen == 0 || r.gen > INT64_MAX || st_rev_parse(out, len, &r2, NULL) != ST_OK ||
            !st_rev_eq(&r, &r2) || st_rev_cmp(&r, &r2) != 0)
            abort();
        break;
    }
    case 1: { /* {"_id":"x","_revisions":<input>} */
        size_t cap = n + 64;
        char *j = malloc(cap);
        if (!j)
            return 0;
        int k = snprintf(j, cap, "{\"_id\":\"x\",\"_revisions\":");
        memcpy(j + k, s, n);
        memcpy(j + k + n, "}", 1);
        check_write(j, (size_t)k + n + 1, NULL);
        free(j);
        break;
    }
    default: { /* _rev given out of band (?rev=, If-Match) on {"_id":"x"} */
        char *rev = malloc(n + 1);
        if (!rev)
            return 0;
        memcpy(rev, s, n);
        rev[n] = '\0';
        check_write("{\"_id\":\"x\",\"a\":1}", 17, rev);
        free(rev);
        break;
    }
    }
    return 0;
}
