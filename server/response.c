/* response.c — building responses.
 *
 * Memory mode: bodies are handed to MHD with MHD_RESPMEM_MUST_FREE after
 * st_buf_take(), so no body is copied twice.  Error bodies are CouchDB's
 * {"error","reason"} with Cache-Control: must-revalidate (PROTOCOL.md §8).
 * Internal failures never put their reason on the wire: it may name files,
 * SQL or memory state; it goes to the log instead.
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "log.h"

static void resp_error(st_req *r, unsigned status, const char *error, const char *reason);

static void set_resp(st_req *r, unsigned status, struct MHD_Response *resp)
{
    if (r->resp)
        MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = status;
}

void st_resp_buf(st_req *r, unsigned status, const char *ctype, st_buf *b)
{
    size_t len = 0;
    char *data = st_buf_take(b, &len);
    struct MHD_Response *resp = NULL;
    if (data)
        resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        /* Last resort: a static body needs no allocation of ours. */
        static const char oom[] =
            "{\"error\":\"internal_server_error\",\"reason\":\"out of memory\"}\n";
        resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom,
                                               MHD_RESPMEM_PERSISTENT);
        status = 500;
        ctype = "application/json";
        len = sizeof oom - 1;
    }
    if (!resp) {
        set_resp(r, 500, NULL);
        return;
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    r->resp_bytes = len;
    set_resp(r, status, resp);
}

void st_resp_text(st_req *r, unsigned status, const char *ctype, const char *s)
{
    st_buf b = ST_BUF_INIT;
    if (st_buf_adds(&b, s) != ST_OK) {
        st_buf_free(&b);
        resp_error(r, 500, "internal_server_error", "out of memory");
        return;
    }
    st_resp_buf(r, status, ctype, &b);
}

void st_resp_json(st_req *r, unsigned status, st_buf *b)
{
    if (st_buf_addc(b, '\n') != ST_OK) {
        st_buf_free(b);
        resp_error(r, 500, "internal_server_error", "out of memory");
        return;
    }
    st_resp_buf(r, status, "application/json", b);
    if (r->resp)
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "must-revalidate");
}

/* {"error":name,"reason":reason} with a status. */
static void resp_error(st_req *r, unsigned status, const char *error, const char *reason)
{
    st_buf b = ST_BUF_INIT;
    st_status s = st_buf_adds(&b, "{\"error\":");
    if (s == ST_OK)
        s = st_json_quote(&b, error, strlen(error));
    if (s == ST_OK)
        s = st_buf_adds(&b, ",\"reason\":");
    if (s == ST_OK)
        s = st_json_quote(&b, reason ? reason : "", reason ? strlen(reason) : 0);
    if (s == ST_OK)
        s = st_buf_addc(&b, '}');
    if (s != ST_OK)
        st_buf_reset(&b); /* st_resp_buf falls back to its static body */
    st_resp_json(r, status, &b);
}

void st_resp_status(st_req *r, const st_error *e)
{
    st_status code = e ? e->code : ST_E_IO;
    switch (code) {
    case ST_OK:
        st_resp_ok(r, 200);
        return;
    case ST_E_NOMEM:
    case ST_E_IO:
    case ST_E_MISUSE:
    case ST_E_LAST:
        st_log(ST_LOG_ERROR, "%s %s: internal error %d: %s", r->method_str,
               r->uri ? r->uri : "?", (int)code, e ? e->reason : "");
        resp_error(r, 500, "internal_server_error",
                      code == ST_E_NOMEM ? "out of memory" : "The server encountered an error.");
        return;
    case ST_E_BUSY:
        if (e->name) /* a named 503 (Mango's missing index service) */
            break;
        resp_error(r, 503, "service_unavailable", "The database is busy, try again.");
        return;
    default:
        break;
    }
    const char *reason = e->reason[0] ? e->reason : st_error_name(e);
    resp_error(r, (unsigned)st_status_http(code), st_error_name(e), reason);
}

void st_resp_fail(st_req *r, st_status code, const char *reason)
{
    st_error e;
    st_fail(&e, code, "%s", reason ? reason : "");
    st_resp_status(r, &e);
}

void st_resp_ok(st_req *r, unsigned status)
{
    st_resp_text(r, status, "application/json", "{\"ok\":true}\n");
    if (r->resp)
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "must-revalidate");
}

void st_resp_header(st_req *r, const char *name, const char *value)
{
    if (!r->resp)
        return;
    /* Replace, except for headers that legitimately repeat. */
    if (strcasecmp(name, MHD_HTTP_HEADER_SET_COOKIE) != 0) {
        const char *old;
        for (int guard = 0; guard < 8 && (old = MHD_get_response_header(r->resp, name)); guard++) {
            char *copy = strdup(old);
            bool gone = copy && MHD_del_response_header(r->resp, name, copy) == MHD_YES;
            free(copy);
            if (!gone)
                break;
        }
    }
    MHD_add_response_header(r->resp, name, value);
}

void st_resp_jw_failed(st_req *r, const st_jw *w)
{
    st_error e;
    st_error_clear(&e);
    e.code = st_jw_status(w) == ST_OK ? ST_E_NOMEM : st_jw_status(w);
    if (e.code == ST_E_TOO_LARGE)
        resp_error(r, 413, "too_large", "The response is too large.");
    else
        st_resp_status(r, &e);
}

bool st_resp_jw_open(st_req *r, st_jw *w, st_buf *b)
{
    if (st_jw_init(w, b) == ST_OK)
        return true;
    st_resp_jw_failed(r, w);
    return false;
}

void st_resp_jw_close(st_req *r, st_jw *w, st_buf *b, unsigned status)
{
    if (st_jw_status(w) != ST_OK) {
        st_resp_jw_failed(r, w);
        st_buf_free(b);
    } else {
        st_resp_json(r, status, b);
    }
    st_jw_free(w);
}

static const struct {
    st_method m;
    const char *name;
} method_names[] = {
    {ST_M_GET, "GET"},       {ST_M_HEAD, "HEAD"}, {ST_M_PUT, "PUT"},
    {ST_M_POST, "POST"},     {ST_M_DELETE, "DELETE"}, {ST_M_COPY, "COPY"},
    {ST_M_OPTIONS, "OPTIONS"},
};

const char *st_http_method_name(st_method m)
{
    for (size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
        if (method_names[i].m == m)
            return method_names[i].name;
    return "?";
}

void st_methods_str(unsigned mask, char *out, size_t cap)
{
    size_t n = 0;
    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++) {
        if (!(mask & method_names[i].m))
            continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", method_names[i].name);
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
}

void st_resp_method_not_allowed(st_req *r, unsigned allowed)
{
    char allow[96];
    char reason[160];
    st_methods_str(allowed, allow, sizeof allow);
    snprintf(reason, sizeof reason, "Only %s allowed", allow);
    resp_error(r, 405, "method_not_allowed", reason);
    st_resp_header(r, MHD_HTTP_HEADER_ALLOW, allow);
}
