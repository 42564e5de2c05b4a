/* repl_id.c — replication ids (see repl_id.h for the schemes).
 *
 * The id term holds lists, tuples, binaries, atoms, small integers and
 * Erlang "strings": ibrowse's parsed URL parts are lists of bytes, which
 * term_to_binary writes as STRING_EXT (the empty one as NIL_EXT).  A
 * selector is the JSON value CouchDB's replicator keeps for it, its
 * normal form with every object's keys sorted, written as jiffy decodes
 * it.
 */
#include "repl_id.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "st_hex.h"
#include "st_base64.h"
#include "st_jw.h"
#include "st_selector.h"

static void put_str(st_term *t, const char *s) { st_term_string(t, s, strlen(s)); }

/* {local, <<DbUUID>>} or {remote, User, Host, Port, Path, Headers, OAuth}. */
static void put_endpoint(st_term *t, const st_ep *ep)
{
    if (!ep->remote) {
        st_term_tuple(t, 2);
        st_term_atom(t, "local");
        st_term_binary(t, ep->uuid, strlen(ep->uuid));
        return;
    }
    st_term_tuple(t, 7);
    st_term_atom(t, "remote");
    if (ep->user)
        put_str(t, ep->user);
    else
        st_term_atom(t, "undefined");
    put_str(t, ep->host ? ep->host : "");
    if (ep->port)
        st_term_int(t, ep->port);
    else
        st_term_atom(t, "default");
    put_str(t, ep->path ? ep->path : "/");
    st_term_nil(t);
    st_term_atom(t, "undefined");
}

/* v with every object's members in key byte order (Erlang's keysort of
 * binaries), arrays as they are. */
static void write_sorted(st_jw *w, const st_json *v)
{
    if (v->type == ST_JSON_ARRAY) {
        st_jw_arr_open(w);
        for (size_t i = 0; i < v->len; i++)
            write_sorted(w, &v->u.items[i]);
        st_jw_arr_close(w);
        return;
    }
    if (v->type != ST_JSON_OBJECT) {
        st_jw_value(w, v);
        return;
    }
    /* Selection by the next smallest key: objects of a selector are small. */
    st_jw_obj_open(w);
    const st_json_member *last = NULL;
    for (size_t done = 0; done < v->len; done++) {
        const st_json_member *next = NULL;
        for (size_t i = 0; i < v->len; i++) {
            const st_json_member *m = &v->u.members[i];
            if (last && strcmp(m->key, last->key) <= 0)
                continue;
            if (!next || strcmp(m->key, next->key) < 0)
                next = m;
        }
        if (!next)
            break;
        st_jw_keyn(w, next->key, next->key_len);
        write_sorted(w, &next->value);
        last = next;
    }
    st_jw_obj_close(w);
}

/* CouchDB's filter term for a selector (couch_replicator_filters:parse):
 * ejsort(mango_selector:normalize(Selector)), as a parsed document. */
static st_status selector_term(const char *selector, st_json_doc **out, st_error *err)
{
    st_json_doc *raw = NULL;
    st_selector *sel = NULL;
    st_buf norm = ST_BUF_INIT, sorted = ST_BUF_INIT;
    st_status st = st_json_parse(selector, strlen(selector), NULL, &raw, err);
    if (st == ST_OK)
        st = st_selector_compile(st_json_doc_root(raw), &sel, err);
    if (st == ST_OK && (st = st_selector_to_json(sel, &norm)) != ST_OK)
        st_fail(err, st, "out of memory");
    st_json_doc_free(raw);
    raw = NULL;
    if (st == ST_OK)
        st = st_json_parse(norm.data, norm.len, NULL, &raw, err);
    if (st == ST_OK) {
        st_jw w;
        if ((st = st_jw_init(&w, &sorted)) == ST_OK) {
            write_sorted(&w, st_json_doc_root(raw));
            st = st_jw_status(&w);
            st_jw_free(&w);
        }
        if (st != ST_OK)
            st_fail(err, st, "out of memory");
    }
    if (st == ST_OK)
        st = st_json_parse(sorted.data, sorted.len, NULL, out, err);
    st_json_doc_free(raw);
    st_selector_free(sel);
    st_buf_free(&norm);
    st_buf_free(&sorted);
    return st;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char *st_repl_id_filter_code(const char *src)
{
    size_t b = 0, e = strlen(src);
    while (b < e && is_space(src[b]))
        b++;
    while (e > b && is_space(src[e - 1]))
        e--;
    if (memchr(src + b, '\n', e - b))
        return strdup(src);
    return strndup(src + b, e - b);
}

st_status st_repl_id_term(const char *uuid, const st_ep *src, const st_ep *tgt,
                          const char *const *doc_ids, size_t n_doc_ids, const char *selector,
                          const st_repl_id_filter *filter, st_term_atoms atoms, st_buf *out,
                          st_error *err)
{
    st_json_doc *sel = NULL, *qp = NULL;
    if (selector && !n_doc_ids) {
        st_status st = selector_term(selector, &sel, err);
        if (st != ST_OK)
            return st;
    }
    bool by_name = !n_doc_ids && !sel && filter && filter->name;
    if (by_name) {
        const char *q = filter->query_params ? filter->query_params : "{}";
        st_status st = st_json_parse(q, strlen(q), NULL, &qp, err);
        if (st != ST_OK) {
            st_json_doc_free(sel);
            return st;
        }
    }
    st_term t;
    st_term_begin(&t, out, atoms);
    st_term_list(&t, by_name ? 5 : n_doc_ids || sel ? 4 : 3);
    st_term_binary(&t, uuid, strlen(uuid));
    put_endpoint(&t, src);
    put_endpoint(&t, tgt);
    if (n_doc_ids) {
        /* [DocIds]: the list of binaries as given. */
        st_term_list(&t, n_doc_ids);
        for (size_t i = 0; i < n_doc_ids; i++)
            st_term_binary(&t, doc_ids[i], strlen(doc_ids[i]));
        st_term_nil(&t);
    } else if (sel) {
        st_term_json(&t, st_json_doc_root(sel));
    } else if (by_name) {
        /* [Code, QueryParams], or [<<"_view">>, QueryParams] for a builtin. */
        const char *c = filter->name[0] == '_' || !filter->code ? filter->name : filter->code;
        st_term_binary(&t, c, strlen(c));
        st_term_json(&t, st_json_doc_root(qp));
    }
    st_term_nil(&t);
    st_json_doc_free(sel);
    st_json_doc_free(qp);
    if (st_term_status(&t) != ST_OK) {
        if (err)
            *err = t.err;
        return st_term_status(&t);
    }
    return ST_OK;
}

static bool md5(const void *p, size_t n, unsigned char out[16])
{
    unsigned len = 0;
    return EVP_Digest(p, n, out, &len, EVP_md5(), NULL) == 1 && len == 16;
}

st_status st_repl_id_couch(const char *uuid, const st_ep *src, const st_ep *tgt,
                           const char *const *doc_ids, size_t n_doc_ids,
                           const char *selector, const st_repl_id_filter *filter,
                           st_term_atoms atoms, char out[33], st_error *err)
{
    st_buf term = ST_BUF_INIT;
    st_status st = st_repl_id_term(uuid, src, tgt, doc_ids, n_doc_ids, selector, filter, atoms,
                                   &term, err);
    unsigned char d[16];
    if (st == ST_OK && !md5(term.data, term.len, d))
        st = st_fail(err, ST_E_IO, "md5 failed");
    st_buf_free(&term);
    if (st == ST_OK)
        st_hex_encode(d, sizeof d, out);
    return st;
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp((*(const st_json_member *const *)a)->key, (*(const st_json_member *const *)b)->key);
}

/* filter + view + JSON.stringify(query_params with its keys sorted), as
 * PouchDB concatenates them (the view is query_params.view for _view). */
static st_status pouch_filter(st_buf *b, const st_repl_id_filter *f, st_error *err)
{
    st_status st = st_buf_adds(b, f->name);
    if (st != ST_OK || !f->query_params)
        return st;
    st_json_doc *qp = NULL;
    if ((st = st_json_parse(f->query_params, strlen(f->query_params), NULL, &qp, err)) != ST_OK)
        return st;
    const st_json *root = st_json_doc_root(qp);
    const char *view = strcmp(f->name, "_view") == 0 ? st_json_get_str(root, "view") : NULL;
    if (view)
        st = st_buf_adds(b, view);
    const st_json_member **m = root->len ? malloc(root->len * sizeof *m) : NULL;
    if (root->len && !m)
        st = ST_E_NOMEM;
    for (size_t i = 0; st == ST_OK && i < root->len; i++)
        m[i] = &root->u.members[i];
    if (st == ST_OK && root->len)
        qsort(m, root->len, sizeof *m, cmp_member);
    st_jw w;
    if (st == ST_OK && (st = st_jw_init(&w, b)) == ST_OK) {
        st_jw_obj_open(&w);
        for (size_t i = 0; i < root->len; i++) {
            st_jw_keyn(&w, m[i]->key, m[i]->key_len);
            st_jw_value(&w, &m[i]->value);
        }
        st_jw_obj_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    free(m);
    st_json_doc_free(qp);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

st_status st_repl_id_pouch(const st_ep *src, const st_ep *tgt, const char *const *doc_ids,
                           size_t n_doc_ids, const char *selector,
                           const st_repl_id_filter *filter, char out[25], st_error *err)
{
    if (!src->pouch_id || !tgt->pouch_id)
        return st_fail(err, ST_E_BAD_REQUEST, "PouchDB ids exist only for remote endpoints");
    st_buf b = ST_BUF_INIT;
    const char **sorted = NULL;
    st_json_doc *sel = NULL;
    st_status st = st_buf_adds(&b, src->pouch_id);
    if (st == ST_OK)
        st = st_buf_adds(&b, tgt->pouch_id);
    if (st == ST_OK && filter && filter->name)
        st = pouch_filter(&b, filter, err);
    if (st == ST_OK && n_doc_ids) {
        /* PouchDB sorts doc_ids (collate: code-unit order) and the array
         * stringifies as "a,b,c". */
        if (!(sorted = malloc(n_doc_ids * sizeof *sorted)))
            st = ST_E_NOMEM;
        for (size_t i = 0; st == ST_OK && i < n_doc_ids; i++)
            sorted[i] = doc_ids[i];
        if (st == ST_OK)
            qsort(sorted, n_doc_ids, sizeof *sorted, cmp_str);
        for (size_t i = 0; st == ST_OK && i < n_doc_ids; i++)
            if ((i && (st = st_buf_addc(&b, ',')) != ST_OK) ||
                (st = st_buf_adds(&b, sorted[i])) != ST_OK)
                break;
    }
    if (st == ST_OK && selector) {
        /* JSON.stringify: compact, members in the order given. */
        if ((st = st_json_parse(selector, strlen(selector), NULL, &sel, err)) != ST_OK)
            goto out;
        st_jw w;
        if ((st = st_jw_init(&w, &b)) == ST_OK) {
            st_jw_value(&w, st_json_doc_root(sel));
            st = st_jw_status(&w);
            st_jw_free(&w);
        }
    }
    if (st != ST_OK) {
        st_fail(err, st, "out of memory");
        goto out;
    }
    unsigned char d[16];
    if (!md5(b.data, b.len, d)) {
        st = st_fail(err, ST_E_IO, "md5 failed");
        goto out;
    }
    st_buf_reset(&b);
    if ((st = st_base64_encode(&b, d, sizeof d)) != ST_OK || b.len != 24) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    /* 24 chars, "==" padded, with PouchDB's substitutions. */
    for (size_t i = 0; i < 24; i++)
        out[i] = b.data[i] == '/' ? '.' : b.data[i] == '+' ? '_' : b.data[i];
    out[24] = '\0';
out:
    st_json_doc_free(sel);
    free(sorted);
    st_buf_free(&b);
    return st;
}
