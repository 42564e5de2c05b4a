/* api_server.c — server-level endpoints: /, /_up, /_all_dbs, /_uuids.
 * Shapes follow PROTOCOL.md §9.  (/_session: api_session.c.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"

void st_api_welcome(st_req *r)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (!st_resp_jw_open(r, &w, &b))
        return;
    st_jw_obj_open(&w);
    st_jw_key(&w, "couchdb");
    st_jw_str(&w, "Welcome");
    /* The CouchDB API version settee implements; clients gate features on it. */
    st_jw_key(&w, "version");
    st_jw_str(&w, "3.5.0");
    st_jw_key(&w, "uuid");
    st_jw_str(&w, r->srv->uuid);
    st_jw_key(&w, "features");
    st_jw_arr_open(&w);
    st_jw_arr_close(&w);
    st_jw_key(&w, "vendor");
    st_jw_obj_open(&w);
    st_jw_key(&w, "name");
    st_jw_str(&w, "settee");
    st_jw_key(&w, "version");
    st_jw_str(&w, "0.1.0");
    st_jw_obj_close(&w);
    st_jw_obj_close(&w);
    if (st_jw_status(&w) != ST_OK) {
        st_resp_jw_failed(r, &w);
        st_jw_free(&w);
        st_buf_free(&b);
        return;
    }
    st_jw_free(&w);
    st_resp_json(r, 200, &b);
}

void st_api_up(st_req *r)
{
    st_resp_text(r, 200, "application/json", "{\"status\":\"ok\",\"seeds\":{}}\n");
    st_resp_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "must-revalidate");
}

void st_api_favicon(st_req *r)
{
    st_resp_fail(r, ST_E_NOT_FOUND, "missing");
}

/* A JSON-encoded string query parameter (startkey="a"); raw text accepted
 * too.  Returns a malloc'd string, NULL if absent; sets *bad on junk. */
static char *json_str_param(st_req *r, const char *key, bool *bad)
{
    const char *v = st_req_q(r, key);
    st_json_doc *d = NULL;
    char *out = NULL;
    if (!v)
        return NULL;
    if (v[0] != '"')
        return strdup(v);
    if (st_json_parse(v, strlen(v), NULL, &d, NULL) != ST_OK ||
        st_json_doc_root(d)->type != ST_JSON_STRING) {
        *bad = true;
    } else {
        out = strdup(st_json_doc_root(d)->u.str);
    }
    st_json_doc_free(d);
    return out;
}

void st_api_all_dbs(st_req *r)
{
    char **names = NULL;
    size_t n = 0;
    st_error e;
    bool desc = false, bad = false;
    uint64_t limit, skip;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    bool w_ok = false;
    char *start = NULL, *end = NULL;
    if (!st_req_qbool(r, "descending", false, &desc) ||
        !st_req_qu64(r, "limit", UINT64_MAX, &limit) || !st_req_qu64(r, "skip", 0, &skip))
        goto out;
    start = json_str_param(r, "startkey", &bad);
    if (!start)
        start = json_str_param(r, "start_key", &bad);
    end = json_str_param(r, "endkey", &bad);
    if (!end)
        end = json_str_param(r, "end_key", &bad);
    if (bad) {
        st_resp_fail(r, ST_E_QUERY_PARSE, "Invalid JSON in startkey or endkey");
        goto out;
    }
    if (st_catalog_list(r->srv->cat, &names, &n, &e) != ST_OK) {
        st_resp_status(r, &e);
        goto out;
    }
    if (st_jw_init(&w, &b) != ST_OK) {
        st_resp_jw_failed(r, &w);
        goto out;
    }
    w_ok = true;
    st_jw_arr_open(&w);
    uint64_t skipped = 0, emitted = 0;
    for (size_t k = 0; k < n && emitted < limit; k++) {
        const char *name = names[desc ? n - 1 - k : k];
        if (start && (desc ? strcmp(name, start) > 0 : strcmp(name, start) < 0))
            continue;
        if (end && (desc ? strcmp(name, end) < 0 : strcmp(name, end) > 0))
            continue;
        if (skipped < skip) {
            skipped++;
            continue;
        }
        st_jw_str(&w, name);
        emitted++;
    }
    st_jw_arr_close(&w);
    if (st_jw_status(&w) != ST_OK) {
        st_resp_jw_failed(r, &w);
        goto out;
    }
    st_resp_json(r, 200, &b);
out:
    if (w_ok)
        st_jw_free(&w);
    st_buf_free(&b);
    st_catalog_names_free(names, n);
    free(start);
    free(end);
}

void st_api_uuids(st_req *r)
{
    uint64_t count;
    st_buf b = ST_BUF_INIT;
    if (!st_req_qu64(r, "count", 1, &count))
        return;
    if (count > 1000) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "count parameter too large");
        return;
    }
    st_status s = st_buf_adds(&b, "{\"uuids\":[");
    for (uint64_t i = 0; s == ST_OK && i < count; i++) {
        char u[33];
        st_uuid(u);
        s = st_buf_printf(&b, "%s\"%s\"", i ? "," : "", u);
    }
    if (s == ST_OK)
        s = st_buf_adds(&b, "]}");
    if (s != ST_OK) {
        st_buf_free(&b);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return;
    }
    st_resp_json(r, 200, &b);
    st_resp_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "must-revalidate, no-cache");
    st_resp_header(r, MHD_HTTP_HEADER_PRAGMA, "no-cache");
}
