/* js_req.c — see js_req.h. */
#include "js_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "st_ddoc_req.h"
#include "st_pct.h"

typedef struct hdr_ctx {
    st_jw *w;
} hdr_ctx;

static enum MHD_Result one_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    hdr_ctx *h = cls;
    (void)kind;
    st_jw_key(h->w, key);
    st_jw_str(h->w, value ? value : "");
    return MHD_YES;
}

/* "a=1; b=2" into members. */
static void cookies(st_jw *w, const char *c)
{
    while (c && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        const char *eq = strchr(c, '='), *end = strchr(c, ';');
        if (!end)
            end = c + strlen(c);
        if (eq && eq < end) {
            st_jw_keyn(w, c, (size_t)(eq - c));
            st_jw_strn(w, eq + 1, (size_t)(end - eq - 1));
        }
        c = end;
    }
}

/* a=1&b=2 (application/x-www-form-urlencoded) into members. */
static void form(st_jw *w, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        const char *eq = memchr(s + i, '=', j - i);
        size_t kl = eq ? (size_t)(eq - (s + i)) : j - i;
        char *k = st_pct_decode(s + i, kl, true);
        char *v = eq ? st_pct_decode(eq + 1, (size_t)(s + j - eq - 1), true) : NULL;
        if (k) {
            st_jw_key(w, k);
            st_jw_str(w, v ? v : "");
        }
        free(k);
        free(v);
        i = j + 1;
    }
}

/* The URL's parameters as an object, a parameter given twice keeping its
 * first value. */
static void query(st_jw *w, const st_req *r)
{
    st_jw_obj_open(w);
    for (size_t i = 0; i < r->n_query; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(r->query[j].key, r->query[i].key) == 0;
        if (seen)
            continue;
        st_jw_key(w, r->query[i].key);
        st_jw_str(w, r->query[i].value);
    }
    st_jw_obj_close(w);
}

st_status st_js_req_query(st_req *r, st_json_doc **out, st_error *err)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    *out = NULL;
    if (st_jw_init(&w, &b) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    query(&w, r);
    st_status st = st_jw_status(&w);
    st_jw_free(&w);
    if (st == ST_OK)
        st = st_json_parse(b.data, b.len, NULL, out, err);
    else
        st_fail(err, st, "out of memory");
    st_buf_free(&b);
    return st;
}

st_status st_js_req(st_req *r, const char *docid, bool body_parsed, st_buf *out, st_error *err)
{
    st_jw w;
    if (st_jw_init(&w, out) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_jw_obj_open(&w);
    st_ddoc_req_info(&w, r->dbh);
    st_jw_key(&w, "id");
    st_jw_str(&w, docid);
    char uuid[33];
    st_uuid(uuid);
    st_jw_key(&w, "uuid");
    st_jw_str(&w, uuid);
    st_jw_key(&w, "method");
    st_jw_str(&w, r->method_str);
    const char *paths[] = {"requested_path", "path"};
    for (int p = 0; p < 2; p++) {
        st_jw_key(&w, paths[p]);
        st_jw_arr_open(&w);
        for (size_t i = 0; i < r->n_segs; i++)
            st_jw_str(&w, r->segs[i]);
        st_jw_arr_close(&w);
    }
    st_jw_key(&w, "raw_path");
    st_jw_str(&w, r->uri);
    st_jw_key(&w, "query");
    query(&w, r);
    st_jw_key(&w, "headers");
    st_jw_obj_open(&w);
    hdr_ctx h = {&w};
    if (r->conn)
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, one_header, &h);
    st_jw_obj_close(&w);
    st_jw_key(&w, "body");
    bool json_body = body_parsed && r->body.len && st_req_ctype_is(r, "application/json");
    st_json_doc *bd = NULL;
    if (json_body && st_json_parse(r->body.data, r->body.len, NULL, &bd, NULL) == ST_OK)
        st_jw_value(&w, st_json_doc_root(bd));
    else if (r->body.len || r->method == ST_M_POST || r->method == ST_M_PUT)
        st_jw_strn(&w, r->body.data ? r->body.data : "", r->body.len);
    else
        st_jw_str(&w, "undefined");
    st_json_doc_free(bd);
    st_jw_key(&w, "peer");
    st_jw_str(&w, r->peer);
    st_jw_key(&w, "form");
    st_jw_obj_open(&w);
    if (r->body.len && st_req_ctype_is(r, "application/x-www-form-urlencoded"))
        form(&w, r->body.data, r->body.len);
    st_jw_obj_close(&w);
    st_jw_key(&w, "cookie");
    st_jw_obj_open(&w);
    cookies(&w, st_req_header(r, MHD_HTTP_HEADER_COOKIE));
    st_jw_obj_close(&w);
    st_ddoc_req_user_ctx(&w, st_db_name(r->dbh), &r->user);
    st_ddoc_req_sec_obj(&w, r->dbh);
    st_jw_obj_close(&w);
    st_status st = st_jw_status(&w);
    st_jw_free(&w);
    return st == ST_OK ? ST_OK : st_fail(err, st, "cannot build the request object");
}
