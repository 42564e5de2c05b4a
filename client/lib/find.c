/* find.c — local Mango queries: settee_find, and json index management
 * (settee_index_create / _delete / _list), as CouchDB's _find and _index.
 *
 * Thin on purpose, like docs.c: core validates the request bodies with
 * CouchDB's error names, plans, streams the answer a page at a time and
 * keeps indexes current (st_mango.h).  What is here: the caller's text
 * parsed with the database's limits, the answer handed to the caller's
 * callback, and index writes as design-document writes.
 *
 * Why index writes retry: an index lives in a design document that several
 * indexes may share, so creating or deleting one is read-modify-write of
 * that document.  A concurrent writer of the same design document makes the
 * write a conflict; reading it again and redoing the edit is what the app
 * would do anyway (CouchDB answers error_saving_ddoc instead).
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "st_mango.h"

#define INDEX_WRITE_TRIES 8      /* conflicts with concurrent ddoc writers */
#define FIND_PIECE (64 * 1024)   /* bytes of documents per st_mango_next */

static size_t text_len(const char *s, size_t n) { return n == SETTEE_NUL_TERMINATED ? strlen(s) : n; }

/* The caller's text as a JSON object. */
static settee_status parse_object(settee_db *db, const char *json, size_t n, st_json_doc **out,
                                  settee_error *e)
{
    st_json_limits lim = {db->max_doc_size, 0};
    st_error ce;
    st_status s = st_json_parse(json, text_len(json, n), &lim, out, &ce);
    if (s != ST_OK)
        return st_client_from_core(e, s, &ce);
    if (st_json_doc_root(*out)->type != ST_JSON_OBJECT) {
        st_json_doc_free(*out);
        *out = NULL;
        return st_client_fail(e, SETTEE_BAD_REQUEST, "Request body must be a JSON object");
    }
    return SETTEE_OK;
}

/* ---- settee_find -------------------------------------------------------------------- */

typedef struct find_ctx {
    settee_find_fn fn;
    void *ctx;
    bool stopped;
} find_ctx;

static int on_doc(void *ctx, const char *json, size_t len)
{
    find_ctx *f = ctx;
    if (f->fn(f->ctx, json, len))
        f->stopped = true;
    return f->stopped;
}

/* Every page of c through f; each call moves the cursor, so this ends. */
static st_status run_cursor(st_mango_cursor *c, find_ctx *f, st_error *ce)
{
    bool done = false;
    while (!done) {
        st_status s = st_mango_next(c, FIND_PIECE, on_doc, f, &done, ce);
        if (s != ST_OK)
            return s;
        if (f->stopped && !done)
            st_mango_cursor_end(c); /* the next call only makes the bookmark */
    }
    return ST_OK;
}

settee_status settee_find(settee_db *db, const char *query_json, size_t n, settee_find_fn fn,
                          void *ctx, char **out_bookmark, char **out_warning, settee_error *e)
{
    if (out_bookmark)
        *out_bookmark = NULL;
    if (out_warning)
        *out_warning = NULL;
    if (!query_json || !fn)
        return st_client_fail(e, SETTEE_MISUSE, "NULL query_json or fn");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_json_doc *body = NULL;
    st_mango_query *q = NULL;
    st_mango_cursor *c = NULL;
    st_error ce;
    st_status s = ST_OK;
    find_ctx f = {fn, ctx, false};
    if ((rc = parse_object(db, query_json, n, &body, e)) != SETTEE_OK)
        goto out;
    if ((s = st_mango_query_parse(st_json_doc_root(body), &q, &ce)) != ST_OK ||
        (s = st_mango_find(db->core, q, &c, &ce)) != ST_OK ||
        (s = run_cursor(c, &f, &ce)) != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    const char *bm = st_mango_bookmark(c), *warn = st_mango_warning(c);
    if (out_bookmark && (rc = st_client_dup(out_bookmark, bm, strlen(bm), e)) != SETTEE_OK)
        goto out;
    if (out_warning && warn && (rc = st_client_dup(out_warning, warn, strlen(warn), e)) !=
                                   SETTEE_OK)
        goto out;
    st_client_ok(e);
out:
    if (rc != SETTEE_OK) {
        if (out_bookmark) {
            free(*out_bookmark);
            *out_bookmark = NULL;
        }
        if (out_warning) {
            free(*out_warning);
            *out_warning = NULL;
        }
    }
    st_mango_cursor_free(c);
    st_mango_query_free(q);
    st_json_doc_free(body);
    st_client_leave(db);
    return rc;
}

/* ---- indexes ------------------------------------------------------------------------- */

/* The winner of design document id, parsed, with its rev; *out NULL (and
 * rev "") when there is none. */
static st_status ddoc_load(settee_db *db, const char *id, st_json_doc **out,
                           char rev[ST_REV_STR_MAX], st_error *ce)
{
    st_buf b = ST_BUF_INIT;
    *out = NULL;
    rev[0] = '\0';
    st_status s = st_db_get(db->core, id, NULL, &b, ce);
    if (s == ST_E_NOT_FOUND) {
        st_buf_free(&b);
        return ST_OK;
    }
    if (s == ST_OK)
        s = st_json_parse(b.data, b.len, NULL, out, ce);
    st_buf_free(&b);
    if (s != ST_OK)
        return s;
    const char *r = st_json_get_str(st_json_doc_root(*out), "_rev");
    size_t len = r ? strlen(r) : 0;
    if (len >= ST_REV_STR_MAX)
        len = ST_REV_STR_MAX - 1;
    memcpy(rev, r ? r : "", len);
    rev[len] = '\0';
    return ST_OK;
}

/* Write design document id (body: JSON text of its new content; NULL
 * deletes it) over revision rev ("" when new).  ST_E_CONFLICT when someone
 * else wrote it meanwhile. */
static st_status ddoc_write(settee_db *db, const char *id, const char *rev, const st_buf *body,
                            st_error *ce)
{
    st_json_doc *doc = NULL;
    st_status s = body ? st_json_parse(body->data, body->len, NULL, &doc, ce) : ST_OK;
    if (s != ST_OK)
        return s;
    st_write_req req = {
        .doc = doc ? st_json_doc_root(doc) : NULL,
        .id = id,
        .rev = rev[0] ? rev : NULL,
        .delete_doc = body == NULL,
    };
    st_write_result res;
    s = st_db_write(db->core, &req, 1, 0, &res, ce);
    if (s == ST_OK && res.err.code != ST_OK) {
        s = res.err.code;
        *ce = res.err;
    }
    st_write_results_free(&res, 1);
    st_json_doc_free(doc);
    return s;
}

/* One attempt at adding rq's index to its design document. */
static st_status index_add_once(settee_db *db, const st_mango_index_req *rq, bool *out_same,
                                st_error *ce)
{
    st_json_doc *cur = NULL;
    char rev[ST_REV_STR_MAX];
    st_buf body = ST_BUF_INIT;
    st_status s = ddoc_load(db, rq->ddoc, &cur, rev, ce);
    if (s == ST_OK)
        s = st_mango_ddoc_add(rq, cur ? st_json_doc_root(cur) : NULL, &body, out_same, ce);
    if (s == ST_OK && !*out_same)
        s = ddoc_write(db, rq->ddoc, rev, &body, ce);
    st_buf_free(&body);
    st_json_doc_free(cur);
    return s;
}

settee_status settee_index_create(settee_db *db, const char *index_json, size_t n,
                                  char **out_ddoc, char **out_name, bool *out_existed,
                                  settee_error *e)
{
    if (out_ddoc)
        *out_ddoc = NULL;
    if (out_name)
        *out_name = NULL;
    if (out_existed)
        *out_existed = false;
    if (!index_json)
        return st_client_fail(e, SETTEE_MISUSE, "NULL index_json");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_json_doc *body = NULL;
    st_mango_index_req rq;
    memset(&rq, 0, sizeof rq);
    st_error ce;
    bool same = false;
    st_status s;
    if ((rc = parse_object(db, index_json, n, &body, e)) != SETTEE_OK)
        goto out;
    s = st_mango_index_req_parse(st_json_doc_root(body), &rq, &ce);
    for (int i = 0; s == ST_OK && i < INDEX_WRITE_TRIES; i++)
        if ((s = index_add_once(db, &rq, &same, &ce)) != ST_E_CONFLICT)
            break;
    if (s != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    if (out_ddoc && (rc = st_client_dup(out_ddoc, rq.ddoc, strlen(rq.ddoc), e)) != SETTEE_OK)
        goto out;
    if (out_name && (rc = st_client_dup(out_name, rq.name, strlen(rq.name), e)) != SETTEE_OK)
        goto out;
    if (out_existed)
        *out_existed = same;
    st_client_ok(e);
out:
    if (rc != SETTEE_OK) {
        if (out_ddoc) {
            free(*out_ddoc);
            *out_ddoc = NULL;
        }
        if (out_name) {
            free(*out_name);
            *out_name = NULL;
        }
    }
    st_mango_index_req_clear(&rq);
    st_json_doc_free(body);
    st_client_leave(db);
    return rc;
}

/* Whether db has json index name in design document ddoc. */
static st_status index_exists(settee_db *db, const char *ddoc, const char *name, bool *out,
                              st_error *ce)
{
    st_mango_index *v = NULL;
    size_t n = 0;
    *out = false;
    st_status s = st_db_indexes(db->core, &v, &n, ce);
    for (size_t i = 0; s == ST_OK && i < n && !*out; i++)
        *out = strcmp(v[i].ddoc, ddoc) == 0 && strcmp(v[i].name, name) == 0;
    st_mango_indexes_free(v, n);
    return s;
}

/* One attempt at removing index name from design document ddoc. */
static st_status index_remove_once(settee_db *db, const char *ddoc, const char *name,
                                   st_error *ce)
{
    bool found = false;
    st_status s = index_exists(db, ddoc, name, &found, ce);
    if (s == ST_OK && !found)
        return st_fail(ce, ST_E_NOT_FOUND, "missing");
    st_json_doc *cur = NULL;
    char rev[ST_REV_STR_MAX];
    st_buf body = ST_BUF_INIT;
    bool del = false;
    if (s == ST_OK)
        s = ddoc_load(db, ddoc, &cur, rev, ce);
    if (s == ST_OK && !cur)
        s = st_fail(ce, ST_E_NOT_FOUND, "missing");
    if (s == ST_OK)
        s = st_mango_ddoc_remove(st_json_doc_root(cur), name, &body, &del, ce);
    if (s == ST_OK)
        s = ddoc_write(db, ddoc, rev, del ? NULL : &body, ce);
    st_buf_free(&body);
    st_json_doc_free(cur);
    return s;
}

settee_status settee_index_delete(settee_db *db, const char *ddoc, const char *name,
                                  settee_error *e)
{
    if (!ddoc || !name)
        return st_client_fail(e, SETTEE_MISUSE, "NULL ddoc or name");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    bool prefixed = strncmp(ddoc, "_design/", 8) == 0;
    size_t len = strlen(ddoc) + (prefixed ? 0 : 8);
    char *id = malloc(len + 1);
    st_error ce;
    st_status s = ST_OK;
    if (!id) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    memcpy(id, "_design/", prefixed ? 0 : 8);
    memcpy(id + (prefixed ? 0 : 8), ddoc, strlen(ddoc) + 1);
    for (int i = 0; i < INDEX_WRITE_TRIES; i++)
        if ((s = index_remove_once(db, id, name, &ce)) != ST_E_CONFLICT)
            break;
    rc = st_client_from_core(e, s, &ce);
out:
    free(id);
    st_client_leave(db);
    return rc;
}

settee_status settee_index_list(settee_db *db, char **out_json, settee_error *e)
{
    if (out_json)
        *out_json = NULL;
    if (!out_json)
        return st_client_fail(e, SETTEE_MISUSE, "NULL out_json");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    st_mango_index *v = NULL;
    size_t n = 0;
    st_error ce;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status s = st_db_indexes(db->core, &v, &n, &ce);
    if (s != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    if (st_jw_init(&w, &b) != ST_OK) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    st_jw_obj_open(&w);
    st_jw_key(&w, "total_rows");
    st_jw_uint(&w, (uint64_t)n + 1); /* with _all_docs */
    st_jw_key(&w, "indexes");
    st_jw_arr_open(&w);
    st_mango_all_docs_write(&w);
    for (size_t i = 0; i < n; i++)
        st_mango_index_write(&v[i], &w);
    st_jw_arr_close(&w);
    st_jw_obj_close(&w);
    s = st_jw_status(&w);
    st_jw_free(&w);
    if (s != ST_OK || !(*out_json = st_buf_take(&b, NULL)))
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
    else
        st_client_ok(e);
out:
    st_buf_free(&b);
    st_mango_indexes_free(v, n);
    st_client_leave(db);
    return rc;
}
