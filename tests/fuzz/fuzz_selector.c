/* fuzz_selector.c — the input as JSON, compiled as a Mango selector, matched
 * against a few fixed documents, normalised and analysed.
 *
 * Besides "no crash, no leak, no undefined behaviour" it checks that the
 * normal form is a fixed point: compiling the rendered normal form gives the
 * same normal form and the same answers (unless the normal form, which can
 * nest deeper than its source, passes the depth limit).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "st_buf.h"
#include "st_json.h"
#include "st_selector.h"

static const char *const DOCS[] = {
    "{}",
    "{\"_id\":\"alpha\",\"_rev\":\"1-abc\",\"name\":\"alice\",\"age\":30,\"tags\":[\"a\",\"b\"]}",
    "{\"_id\":\"Zed\",\"name\":\"Eve\",\"age\":\"thirty\",\"addr\":{\"city\":\"Berlin\",\"zip\":10115},"
    "\"scores\":[80,91.5,-3],\"m\":{\"k1\":null,\"k2\":true}}",
    "{\"_id\":\"_design/x\",\"_deleted\":true,\"n\":12345678901234567890,\"e\":1e400,"
    "\"nested\":[[1,[2,{\"a.b\":\"\xc3\xa9\"}]],{\"x\":[]}],\"s\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"}",
    "{\"a\":{\"b\":{\"c\":[0,{\"d\":false}]}},\"dot\":{\"a.b\":1},\"$x\":\"\",\"\":0}",
};
#define NDOCS (sizeof DOCS / sizeof DOCS[0])

static st_json_doc *docs[NDOCS];

static void load_docs(void)
{
    if (docs[0] != NULL)
        return;
    for (size_t i = 0; i < NDOCS; i++)
        if (st_json_parse(DOCS[i], strlen(DOCS[i]), NULL, &docs[i], NULL) != ST_OK)
            abort();
}

/* Match every doc; bit i of *out is doc i's answer. */
static void answers(const st_selector *s, unsigned *out)
{
    *out = 0;
    for (size_t i = 0; i < NDOCS; i++) {
        bool m = false;

        if (st_selector_match(s, st_json_doc_root(docs[i]), &m) != ST_OK)
            abort(); /* only out of memory, which libFuzzer reports itself */
        *out |= (unsigned)m << i;
    }
}

static void analyse(const st_selector *s)
{
    size_t n;
    const st_selector_field *f = st_selector_fields(s, &n);

    for (size_t i = 0; i < n; i++)
        if (st_selector_field_find(s, f[i].path) != &f[i] || (f[i].eq != NULL && !f[i].exists))
            abort();
}

/* The normal form of `norm` compiles to itself, with the same answers. */
static void check_fixed_point(const st_buf *norm, unsigned want)
{
    st_json_doc *doc = NULL;
    st_selector *again = NULL;
    st_buf norm2 = ST_BUF_INIT;
    st_json_limits lim = {0, 2 * ST_SELECTOR_MAX_DEPTH + 8};
    st_error e;
    unsigned got;

    if (st_json_parse(norm->data, norm->len, &lim, &doc, NULL) != ST_OK)
        abort();
    if (st_selector_compile(st_json_doc_root(doc), &again, &e) != ST_OK) {
        if (e.code != ST_E_INVALID_SELECTOR) /* deeper than the limit */
            abort();
        goto out;
    }
    answers(again, &got);
    if (got != want || st_selector_to_json(again, &norm2) != ST_OK ||
        norm2.len != norm->len || memcmp(norm2.data, norm->data, norm->len) != 0)
        abort();
out:
    st_buf_free(&norm2);
    st_selector_free(again);
    st_json_doc_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_json_doc *doc = NULL;
    st_selector *s = NULL;
    st_buf norm = ST_BUF_INIT;
    st_json_limits lim = {1 << 20, 64};
    unsigned want;

    load_docs();
    if (st_json_parse((const char *)data, size, &lim, &doc, NULL) != ST_OK)
        return 0;
    if (st_selector_compile(st_json_doc_root(doc), &s, NULL) == ST_OK) {
        answers(s, &want);
        analyse(s);
        if (st_selector_to_json(s, &norm) != ST_OK)
            abort();
        check_fixed_point(&norm, want);
    }
    st_buf_free(&norm);
    st_selector_free(s);
    st_json_doc_free(doc);
    return 0;
}
