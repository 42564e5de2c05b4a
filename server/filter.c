/* filter.c — see filter.h. */
#include "filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_req.h"
#include "log.h"
#include "st_ddoc.h"
#include "st_qs.h"

typedef enum { F_DESIGN, F_FUNCTION, F_VIEW } fkind;

typedef struct jsfilter {
    fkind kind;
    st_qs *qs;
    char *ddoc_id, *key, *lang, *name;
    char *ddoc_json;
    size_t ddoc_len;
    char *req_json;           /* the request object, made once */
    st_buf docs;              /* "[doc]" scratch */
    bool failed;
    st_error err;
} jsfilter;

static void jf_free(void *ctx)
{
    jsfilter *f = ctx;
    if (!f)
        return;
    free(f->ddoc_id);
    free(f->key);
    free(f->lang);
    free(f->name);
    free(f->ddoc_json);
    free(f->req_json);
    st_buf_free(&f->docs);
    free(f);
}

static bool jf_failed(void *ctx)
{
    jsfilter *f = ctx;
    if (f->failed)
        st_log(ST_LOG_ERROR, "changes filter %s/%s failed: %s", f->ddoc_id, f->name, f->err.reason);
    return f->failed;
}

static bool jf_match(void *ctx, const st_change_row *row)
{
    jsfilter *f = ctx;
    if (f->kind == F_DESIGN)
        return strncmp(row->id, "_design/", 8) == 0;
    if (f->failed || !row->doc_json)
        return false;
    st_buf_reset(&f->docs);
    if (st_buf_addc(&f->docs, '[') != ST_OK || st_buf_add(&f->docs, row->doc_json, row->doc_len) != ST_OK ||
        st_buf_addc(&f->docs, ']') != ST_OK) {
        f->failed = true;
        st_fail(&f->err, ST_E_NOMEM, "out of memory");
        return false;
    }
    st_qs_proc *p = NULL;
    bool pass = false;
    st_status st = st_qs_checkout(f->qs, f->lang, f->key, &p, &f->err);
    if (st == ST_OK)
        st = st_qs_ddoc_prepare(p, f->ddoc_id, f->key, f->ddoc_json, f->ddoc_len, &f->err);
    if (st == ST_OK && f->kind == F_FUNCTION)
        st = st_qs_filter_docs(p, f->ddoc_id, f->name, f->docs.data, f->req_json, &pass, 1, &f->err);
    else if (st == ST_OK)
        st = st_qs_filter_view(p, f->ddoc_id, f->name, f->docs.data, &pass, 1, &f->err);
    st_qs_checkin(p);
    if (st != ST_OK)
        f->failed = true;
    return st == ST_OK && pass;
}

static bool fail(st_req *r, st_status code, const char *reason)
{
    st_resp_fail(r, code, reason);
    return false;
}

bool st_filter_is_ours(const char *filter)
{
    return strcmp(filter, "_doc_ids") != 0 && strcmp(filter, "_selector") != 0;
}

/* "d/n" into the design document's id and the name. */
static bool split(const char *s, char *id, size_t idcap, char *name, size_t namecap)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1])
        return false;
    int n = snprintf(id, idcap, "_design/%.*s", (int)(slash - s), s);
    int m = snprintf(name, namecap, "%s", slash + 1);
    return n > 0 && (size_t)n < idcap && m > 0 && (size_t)m < namecap;
}

bool st_filter_setup(st_req *r, const char *filter, st_feed_params *p)
{
    char id[600], name[512];
    fkind kind;
    if (strcmp(filter, "_design") == 0) {
        kind = F_DESIGN;
    } else if (strcmp(filter, "_view") == 0) {
        const char *view = st_req_q(r, "view");
        if (!view)
            return fail(r, ST_E_BAD_REQUEST, "`view` filter parameter is not provided.");
        if (!split(view, id, sizeof id, name, sizeof name))
            return fail(r, ST_E_BAD_REQUEST, "`view` must be of the form `designname/viewname`");
        kind = F_VIEW;
    } else if (filter[0] == '_') {
        return fail(r, ST_E_BAD_REQUEST, "unknown builtin filter name");
    } else if (!split(filter, id, sizeof id, name, sizeof name)) {
        return fail(r, ST_E_BAD_REQUEST,
                    "`filter` must be of the form `designname/filtername`");
    } else {
        kind = F_FUNCTION;
    }
    jsfilter *f = calloc(1, sizeof *f);
    if (!f)
        return fail(r, ST_E_NOMEM, "out of memory");
    f->kind = kind;
    f->qs = r->srv->qs;
    st_buf_init(&f->docs, 0);
    if (kind != F_DESIGN) {
        st_buf dd = ST_BUF_INIT, req = ST_BUF_INIT;
        st_ddoc *d = NULL;
        st_error e;
        bool ok = false;
        const char *path[] = {kind == F_VIEW ? "views" : "filters", name};
        if (st_db_get(r->dbh, id, NULL, &dd, &e) != ST_OK ||
            st_ddoc_parse(dd.data, dd.len, &d, &e) != ST_OK ||
            !st_ddoc_path(d, path, 2, &e) ||
            (kind == F_FUNCTION && st_js_req(r, NULL, true, &req, &e) != ST_OK)) {
            st_resp_status(r, &e);
        } else {
            size_t n = 0;
            const char *j = st_ddoc_json(d, &n);
            char key[700];
            snprintf(key, sizeof key, "%s@%s", st_ddoc_id(d), st_ddoc_rev(d));
            f->ddoc_id = strdup(id);
            f->key = strdup(key);
            f->lang = strdup(st_ddoc_language(d));
            f->name = strdup(name);
            f->ddoc_json = malloc(n + 1);
            f->ddoc_len = n;
            f->req_json = kind == F_FUNCTION ? st_buf_take(&req, NULL) : NULL;
            ok = f->ddoc_id && f->key && f->lang && f->name && f->ddoc_json &&
                 (kind != F_FUNCTION || f->req_json);
            if (ok)
                memcpy(f->ddoc_json, j, n + 1);
            else
                st_resp_fail(r, ST_E_NOMEM, "out of memory");
        }
        st_ddoc_release(d);
        st_buf_free(&dd);
        st_buf_free(&req);
        if (!ok) {
            jf_free(f);
            return false;
        }
    }
    p->opts.filter = jf_match;
    p->opts.filter_ctx = f;
    p->opts.filter_needs_doc = kind != F_DESIGN;
    p->filter_free = jf_free;
    p->filter_failed = jf_failed;
    return true;
}
