/* api_alldocs.c — GET/POST /{db}/_all_docs, streamed (stream.h): rows go
 * out a page at a time, so memory per request is one page whatever the
 * result's size.  Parameters and errors as CouchDB's (its view parser):
 * booleans true/false, non-negative integers, JSON keys; `keys` with `key`,
 * `startkey` or `endkey` is a query_parse_error; a key that is not a string
 * matches no document (ids are strings).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "stream.h"

#define PAGE_ROWS 200

typedef struct ad_stream {
    st_server *srv;
    st_db *db;                  /* the request's reference, taken */
    st_alldocs_opts o;          /* startkey/endkey point into the docs below */
    st_json_doc *sk, *ek, *k1;  /* parsed key parameters */
    st_json_doc *body, *qkeys;  /* keys from the body or the query */
    const st_json *keys;        /* the `keys` array, when given */
    const char **key_strs;      /* its strings, NULL for the others */
    size_t next_key;
    char *cursor;               /* last id sent: the next page starts after it */
    uint64_t left;              /* rows still allowed by limit */
    bool nomatch;               /* a non-string bound: no document can match */
    bool offset_null;           /* POST with keys: CouchDB says null */
    bool update_seq;
    uint64_t seq;
    bool started, rows_started, any_row;
    size_t rows_this_page;
    size_t want;
    st_buf *out;
    st_status st;
} ad_stream;

static void ad_free(void *p)
{
    ad_stream *a = p;
    st_catalog_put(a->srv->cat, a->db);
    st_json_doc_free(a->sk);
    st_json_doc_free(a->ek);
    st_json_doc_free(a->k1);
    st_json_doc_free(a->body);
    st_json_doc_free(a->qkeys);
    free(a->key_strs);
    free(a->cursor);
    free(a);
}

static void head(void *ctx, uint64_t total_rows, uint64_t offset)
{
    ad_stream *a = ctx;
    st_buf *b = a->out;
    st_status s = st_buf_printf(b, "{\"total_rows\":%" PRIu64 ",\"offset\":", total_rows);
    if (s == ST_OK)
        s = a->offset_null ? st_buf_adds(b, "null") : st_buf_printf(b, "%" PRIu64, offset);
    if (s == ST_OK && a->update_seq)
        s = st_buf_printf(b, ",\"update_seq\":%" PRIu64, a->seq);
    if (s == ST_OK)
        s = st_buf_adds(b, ",\"rows\":[\n");
    a->st = s;
}

static int row(void *ctx, const st_alldocs_row *r)
{
    ad_stream *a = ctx;
    st_jw w;
    st_status s = a->any_row ? st_buf_adds(a->out, ",\n") : ST_OK;
    if (s == ST_OK)
        s = st_jw_init(&w, a->out);
    if (s != ST_OK) {
        a->st = s;
        return 1;
    }
    st_jw_obj_open(&w);
    if (r->not_found) {
        st_jw_key(&w, "key");
        if (r->key)
            st_jw_str(&w, r->key);
        else
            st_jw_value(&w, &a->keys->u.items[r->key_index]);
        st_jw_key(&w, "error");
        st_jw_str(&w, "not_found");
    } else {
        st_jw_key(&w, "id");
        st_jw_str(&w, r->id);
        st_jw_key(&w, "key");
        st_jw_str(&w, r->key ? r->key : r->id);
        st_jw_key(&w, "value");
        st_jw_obj_open(&w);
        st_jw_key(&w, "rev");
        st_jw_str(&w, r->rev);
        if (r->deleted) {
            st_jw_key(&w, "deleted");
            st_jw_bool(&w, true);
        }
        st_jw_obj_close(&w);
        if (a->o.include_docs) {
            st_jw_key(&w, "doc");
            if (r->doc_json && !r->deleted)
                st_jw_raw(&w, r->doc_json, r->doc_len);
            else
                st_jw_null(&w);
        }
    }
    st_jw_obj_close(&w);
    a->st = st_jw_status(&w);
    st_jw_free(&w);
    a->any_row = true;
    a->rows_this_page++;
    if (!a->keys && r->id) {
        char *c = strdup(r->id);
        if (!c) {
            a->st = ST_E_NOMEM;
            return 1;
        }
        free(a->cursor);
        a->cursor = c;
    }
    return a->st != ST_OK || a->out->len >= a->want;
}

static st_status ad_next(void *ctx, st_buf *out, size_t want, bool *done)
{
    ad_stream *a = ctx;
    st_error e;
    a->out = out;
    a->want = want;
    a->st = ST_OK;
    st_alldocs_opts o = a->o;
    if (!a->started) {
        a->started = true;
        o.limit = 0;
        o.keys = NULL;
        if (st_db_all_docs(a->db, &o, head, row, a, &e) != ST_OK)
            return e.code;
        return a->st;
    }
    bool finished = a->left == 0 || a->nomatch;
    if (!finished) {
        a->rows_this_page = 0;
        o.limit = a->left < PAGE_ROWS ? a->left : PAGE_ROWS;
        if (a->keys) {
            size_t n = a->keys->len - a->next_key;
            o.keys = a->key_strs + a->next_key;
            o.n_keys = n < o.limit ? n : (size_t)o.limit;
        } else if (a->cursor) {
            o.startkey = a->cursor;
            o.startkey_exclusive = true;
            o.skip = 0;
        }
        if (st_db_all_docs(a->db, &o, NULL, row, a, &e) != ST_OK)
            return e.code;
        if (a->st != ST_OK)
            return a->st;
        a->left -= a->rows_this_page <= a->left ? a->rows_this_page : a->left;
        a->o.skip = 0; /* the first page did the skipping */
        if (a->keys) {
            a->next_key += o.n_keys;
            finished = a->next_key >= a->keys->len;
        } else {
            finished = a->rows_this_page < o.limit && out->len < want;
        }
        finished = finished || a->left == 0;
    }
    if (finished) {
        *done = true;
        return st_buf_adds(out, a->any_row ? "\n]}\n" : "]}\n");
    }
    return ST_OK;
}

static const st_stream_ops ad_ops = {ad_next, ad_free};

/* A JSON key parameter: a string bounds the ids, anything else matches
 * nothing.  false (answer set) on bad JSON. */
static bool key_param(st_req *r, const char *k1, const char *k2, st_json_doc **store,
                      const char **out, bool *nomatch)
{
    const char *v = st_req_q(r, k1);
    if (!v && k2)
        v = st_req_q(r, k2);
    *out = NULL;
    if (!v)
        return true;
    if (st_json_parse(v, strlen(v), NULL, store, NULL) != ST_OK) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "invalid UTF-8 JSON");
        return false;
    }
    const st_json *j = st_json_doc_root(*store);
    if (j->type == ST_JSON_STRING)
        *out = j->u.str;
    else
        *nomatch = true;
    return true;
}

static bool body_has_bounds(const st_json *body)
{
    static const char *const k[] = {"key", "startkey", "start_key", "endkey", "end_key"};
    for (size_t i = 0; body && i < sizeof k / sizeof k[0]; i++)
        if (st_json_get(body, k[i]))
            return true;
    return false;
}

/* Parameters into a (answer set and false on a bad one). */
static bool parse(st_req *r, ad_stream *a)
{
    st_alldocs_opts *o = &a->o;
    bool conflicts = false, attachments = false;
    if (!st_req_qbool(r, "descending", false, &o->descending) ||
        !st_req_qbool(r, "include_docs", false, &o->include_docs) ||
        !st_req_qbool(r, "inclusive_end", true, &o->inclusive_end) ||
        !st_req_qbool(r, "conflicts", false, &conflicts) ||
        !st_req_qbool(r, "attachments", false, &attachments) ||
        !st_req_qbool(r, "update_seq", false, &a->update_seq) ||
        !st_req_qu64(r, "limit", UINT64_MAX, &o->limit) || !st_req_qu64(r, "skip", 0, &o->skip))
        return false;
    const char *keyv = NULL;
    if (!key_param(r, "startkey", "start_key", &a->sk, &o->startkey, &a->nomatch) ||
        !key_param(r, "endkey", "end_key", &a->ek, &o->endkey, &a->nomatch) ||
        !key_param(r, "key", NULL, &a->k1, &keyv, &a->nomatch))
        return false;
    bool bounds = a->sk || a->ek || a->k1;
    if (keyv) { /* key=X is startkey=endkey=X */
        o->startkey = o->endkey = keyv;
        o->inclusive_end = true;
    }
    o->conflicts = conflicts;
    o->atts = attachments ? ST_ATTS_INLINE : ST_ATTS_STUB;
    const char *kq = st_req_q(r, "keys");
    if (kq) {
        if (st_json_parse(kq, strlen(kq), NULL, &a->qkeys, NULL) != ST_OK) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "invalid UTF-8 JSON");
            return false;
        }
        a->keys = st_json_doc_root(a->qkeys);
    }
    if (r->method == ST_M_POST) {
        if (!st_req_json(r, 0, &a->body))
            return false;
        const st_json *b = st_json_doc_root(a->body);
        if (b->type != ST_JSON_OBJECT) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "Request body must be a JSON object");
            return false;
        }
        bounds = bounds || body_has_bounds(b);
        if (st_json_get(b, "keys")) {
            a->keys = st_json_get(b, "keys");
            a->offset_null = true;
        }
    }
    if (a->keys && bounds) {
        st_resp_fail(r, ST_E_QUERY_PARSE,
                     "`keys` is incompatible with `key`, `start_key` and `end_key`");
        return false;
    }
    if (a->keys) {
        if (a->keys->type != ST_JSON_ARRAY) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "`keys` member must be an array.");
            return false;
        }
        a->key_strs = calloc(a->keys->len ? a->keys->len : 1, sizeof *a->key_strs);
        if (!a->key_strs) {
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
            return false;
        }
        for (size_t i = 0; i < a->keys->len; i++)
            if (a->keys->u.items[i].type == ST_JSON_STRING)
                a->key_strs[i] = a->keys->u.items[i].u.str;
        a->nomatch = false; /* keys answer each key, found or not */
    }
    a->left = o->limit;
    return true;
}

void st_api_all_docs(st_req *r)
{
    if (r->method == ST_M_POST && !st_req_require_json_ctype(r, false))
        return;
    ad_stream *a = calloc(1, sizeof *a);
    if (!a) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    a->srv = r->srv;
    st_alldocs_opts_init(&a->o);
    if (!parse(r, a)) {
        ad_free(a);
        return;
    }
    if (a->update_seq) {
        st_db_info info;
        st_error e;
        if (st_db_info_get(r->dbh, &info, &e) != ST_OK) {
            st_resp_status(r, &e);
            ad_free(a);
            return;
        }
        a->seq = info.update_seq;
    }
    a->db = r->dbh;
    r->dbh = NULL; /* the stream holds the reference until MHD is done */
    st_resp_stream(r, 200, "application/json", &ad_ops, a);
}
