/* fuzz_json.c — the JSON parser (core/json.c) and writer (core/jw.c).
 *
 * Besides "no crash, no leak, no undefined behaviour": what parses is
 * written back as UTF-8, that text parses again and is written back byte
 * for byte the same (the writer's output is a fixed point), and a parsed
 * object gets a rev id or a clean refusal (the term encoder, core/rev.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "st_json.h"
#include "st_jw.h"
#include "st_rev.h"
#include "st_utf8.h"

static void render(const st_json *v, st_buf *out)
{
    st_jw w;
    if (st_jw_init(&w, out) != ST_OK)
        abort();
    st_jw_value(&w, v);
    if (st_jw_status(&w) != ST_OK)
        abort();
    st_jw_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_json_limits lim = {1u << 20, 0}; /* the default depth */
    st_json_doc *doc = NULL, *again = NULL;
    st_buf a = ST_BUF_INIT, b = ST_BUF_INIT;
    st_error e;
    st_status st = st_json_parse((const char *)data, size, &lim, &doc, &e);
    if (st != ST_OK) {
        if (doc || (st != ST_E_BAD_REQUEST && st != ST_E_DOC_TOO_LARGE && st != ST_E_NOMEM))
            abort();
        return 0;
    }
    const st_json *root = st_json_doc_root(doc);
    render(root, &a);
    if (!st_utf8_valid(a.data, a.len))
        abort();
    if (st_json_parse(a.data, a.len, NULL, &again, NULL) != ST_OK)
        abort();
    render(st_json_doc_root(again), &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    if (root->type == ST_JSON_OBJECT) {
        st_rev rev;
        st = st_rev_compute(NULL, false, root, NULL, 0, &rev, &e);
        if (st != ST_OK && st != ST_E_BAD_REQUEST && st != ST_E_NOMEM)
            abort();
        (void)st_json_get(root, "_id");
        int64_t i;
        uint64_t u;
        for (size_t k = 0; k < root->len; k++) {
            (void)st_json_int64(&root->u.members[k].value, &i);
            (void)st_json_uint64(&root->u.members[k].value, &u);
        }
    }
    st_buf_free(&a);
    st_buf_free(&b);
    st_json_doc_free(again);
    st_json_doc_free(doc);
    return 0;
}
