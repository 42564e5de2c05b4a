/* open_revs.c — see open_revs.h.  Two levels of st_mime: the outer one
 * splits revisions, the inner one (a multipart/related revision) splits
 * the document JSON from its attachment bodies.  Attachment bytes are
 * gathered in a buffer that is handed to the arena whole, so they are
 * copied once, from the network. */
#include "open_revs.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "doc_json.h"
#include "mime.h"

typedef enum { P_NONE, P_JSON, P_RELATED } outer_kind;

struct st_orp {
    st_arena *a;
    st_orp_fn fn;
    void *ctx;
    st_mime *outer;          /* NULL: a JSON answer */
    st_mime *inner;          /* the multipart/related revision being read */
    outer_kind kind;         /* what the current outer part is */
    st_buf json;             /* a JSON part (or the whole JSON answer) */
    bool inner_doc;          /* the inner parser is past the document part */
    st_dj_part *parts;       /* attachment bodies of the current revision */
    size_t n_parts, cap_parts;
    st_buf att;              /* the attachment body being read */
    st_error err;            /* why a callback stopped the parse */
};

/* Parse JSON text into a tree the arena owns. */
static st_status parse_json(st_orp *p, const st_buf *b, const st_json **out, st_error *err)
{
    st_json_doc *d = NULL;
    st_status st = st_json_parse(b->data ? b->data : "", b->len, NULL, &d, err);
    if (st != ST_OK)
        return st;
    if (!st_arena_own(p->a, d, (void (*)(void *))st_json_doc_free))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    *out = st_json_doc_root(d);
    return ST_OK;
}

/* One revision's JSON (and its parts) to fn; {"missing":..} is skipped. */
static st_status deliver(st_orp *p, const st_json *doc, st_error *err)
{
    if (doc->type == ST_JSON_OBJECT && (st_json_get(doc, "missing") || st_json_get(doc, "error")))
        return ST_OK;
    st_rep_doc d;
    st_status st = st_dj_parse(doc, p->parts, p->n_parts, p->a, &d, err);
    if (st == ST_OK && p->fn(p->ctx, &d))
        st = st_fail(err, ST_E_BUSY, "stopped");
    return st;
}

/* ---------------------------------------------------- a related revision */

static int inner_begin(void *ctx, const st_mime_part *part)
{
    st_orp *p = ctx;
    if (!p->inner_doc)
        return 0; /* the document part: into p->json */
    if (p->n_parts == p->cap_parts) {
        size_t cap = p->cap_parts ? 2 * p->cap_parts : 4;
        st_dj_part *v = realloc(p->parts, cap * sizeof *v);
        if (!v)
            return st_fail(&p->err, ST_E_NOMEM, "out of memory");
        p->parts = v;
        p->cap_parts = cap;
    }
    st_dj_part *dp = &p->parts[p->n_parts];
    memset(dp, 0, sizeof *dp);
    dp->name = part->filename ? st_arena_strdup(p->a, part->filename) : NULL;
    dp->encoding = part->encoding[0] ? st_arena_strdup(p->a, part->encoding) : NULL;
    st_buf_reset(&p->att);
    /* Content-Length, when given, sizes the buffer once (bounded: it is
     * only a hint from the peer). */
    if (part->has_length && part->length < (64u << 20) &&
        st_buf_reserve(&p->att, (size_t)part->length + 1) != ST_OK)
        return st_fail(&p->err, ST_E_NOMEM, "out of memory");
    return (part->filename && !dp->name) || (part->encoding[0] && !dp->encoding)
               ? st_fail(&p->err, ST_E_NOMEM, "out of memory")
               : 0;
}

static int inner_data(void *ctx, const char *d, size_t n)
{
    st_orp *p = ctx;
    st_buf *b = p->inner_doc ? &p->att : &p->json;
    return st_buf_add(b, d, n) != ST_OK ? st_fail(&p->err, ST_E_NOMEM, "out of memory") : 0;
}

static int inner_end(void *ctx)
{
    st_orp *p = ctx;
    if (!p->inner_doc) {
        p->inner_doc = true;
        return 0;
    }
    st_dj_part *dp = &p->parts[p->n_parts++];
    dp->len = p->att.len;
    char *bytes = st_buf_take(&p->att, NULL);
    if (!bytes || !st_arena_own(p->a, bytes, free))
        return st_fail(&p->err, ST_E_NOMEM, "out of memory");
    dp->data = bytes;
    return 0;
}

static const st_mime_fns inner_fns = {inner_begin, inner_data, inner_end};

/* ------------------------------------------------------ the outer parts */

static int outer_begin(void *ctx, const st_mime_part *part)
{
    st_orp *p = ctx;
    st_buf_reset(&p->json);
    p->n_parts = 0;
    p->inner_doc = false;
    if (!st_mime_is(part->content_type, "related")) {
        p->kind = P_JSON;
        return 0;
    }
    p->kind = P_RELATED;
    st_mime_free(p->inner);
    p->inner = NULL;
    return st_mime_new(part->content_type, &inner_fns, p, &p->inner, &p->err) != ST_OK;
}

static int outer_data(void *ctx, const char *d, size_t n)
{
    st_orp *p = ctx;
    if (p->kind == P_RELATED)
        return st_mime_feed(p->inner, d, n, &p->err) != ST_OK;
    return st_buf_add(&p->json, d, n) != ST_OK ? st_fail(&p->err, ST_E_NOMEM, "out of memory")
                                               : 0;
}

static int outer_end(void *ctx)
{
    st_orp *p = ctx;
    const st_json *doc = NULL;
    if (p->kind == P_RELATED && st_mime_finish(p->inner, &p->err) != ST_OK)
        return 1;
    if (p->kind == P_RELATED && !p->inner_doc)
        return st_fail(&p->err, ST_E_BAD_REQUEST, "a multipart/related revision without parts");
    p->kind = P_NONE;
    return parse_json(p, &p->json, &doc, &p->err) != ST_OK || deliver(p, doc, &p->err) != ST_OK;
}

static const st_mime_fns outer_fns = {outer_begin, outer_data, outer_end};

/* ---------------------------------------------------------------- API */

st_status st_orp_new(const char *ctype, st_arena *a, st_orp_fn fn, void *ctx, st_orp **out,
                     st_error *err)
{
    *out = NULL;
    st_orp *p = calloc(1, sizeof *p);
    if (!p)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    p->a = a;
    p->fn = fn;
    p->ctx = ctx;
    if (st_mime_is(ctype, NULL)) {
        st_status st = st_mime_new(ctype, &outer_fns, p, &p->outer, err);
        if (st != ST_OK) {
            free(p);
            return st;
        }
    }
    *out = p;
    return ST_OK;
}

void st_orp_free(st_orp *p)
{
    if (!p)
        return;
    st_mime_free(p->outer);
    st_mime_free(p->inner);
    st_buf_free(&p->json);
    st_buf_free(&p->att);
    free(p->parts);
    free(p);
}

st_status st_orp_feed(st_orp *p, const char *data, size_t n, st_error *err)
{
    if (!p->outer) {
        st_status st = st_buf_add(&p->json, data, n);
        return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
    }
    st_error_clear(&p->err);
    st_status st = st_mime_feed(p->outer, data, n, err);
    if (st == ST_E_BUSY && p->err.code != ST_OK) {
        /* A callback stopped the parse: its reason is the one to tell. */
        if (err)
            *err = p->err;
        st = p->err.code;
    }
    return st;
}

st_status st_orp_finish(st_orp *p, st_error *err)
{
    if (p->outer)
        return st_mime_finish(p->outer, err);
    const st_json *list = NULL;
    st_status st = parse_json(p, &p->json, &list, err);
    if (st != ST_OK)
        return st;
    if (list->type != ST_JSON_ARRAY)
        return st_fail(err, ST_E_BAD_REQUEST, "an open_revs answer that is not a list");
    for (size_t i = 0; i < list->len && st == ST_OK; i++) {
        const st_json *ok = st_json_get(&list->u.items[i], "ok");
        if (ok)
            st = deliver(p, ok, err);
    }
    return st;
}
