/* ddoc_filter.c — see st_filter.h. */
#include "st_filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_buf.h"
#include "st_ddoc.h"
#include "st_ddoc_req.h"

typedef enum { F_DESIGN, F_FUNCTION, F_VIEW } fkind;

struct st_filter {
    fkind kind;
    st_qs *qs;
    char *ddoc_id, *key, *lang, *name; /* key: "<id>@<rev>", the process cache's */
    char *ddoc_json;
    size_t ddoc_len;
    char *req_json;                    /* F_FUNCTION: the request object */
    st_buf docs;                       /* "[doc]" scratch */
    bool failed;
    st_error err;
};

void st_filter_free(st_filter *f)
{
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

bool st_filter_needs_doc(const st_filter *f) { return f->kind != F_DESIGN; }

bool st_filter_failed(const st_filter *f, st_error *out)
{
    if (f->failed && out)
        *out = f->err;
    return f->failed;
}

bool st_filter_match(void *ctx, const st_change_row *row)
{
    st_filter *f = ctx;
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

bool st_filter_split(const char *s, char *id, size_t idcap, char *name, size_t namecap)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1])
        return false;
    int n = snprintf(id, idcap, "_design/%.*s", (int)(slash - s), s);
    int m = snprintf(name, namecap, "%s", slash + 1);
    return n > 0 && (size_t)n < idcap && m > 0 && (size_t)m < namecap;
}

/* The design document and what a call needs of it, into f. */
static st_status load(st_filter *f, st_db *db, const char *id, const char *name, st_error *err)
{
    st_buf dd = ST_BUF_INIT;
    st_ddoc *d = NULL;
    const char *path[] = {f->kind == F_VIEW ? "views" : "filters", name};
    st_status st = st_db_get(db, id, NULL, &dd, err);
    if (st == ST_OK)
        st = st_ddoc_parse(dd.data, dd.len, &d, err);
    if (st == ST_OK && !st_ddoc_path(d, path, 2, err))
        st = ST_E_NOT_FOUND;
    if (st == ST_OK) {
        size_t n = 0;
        const char *j = st_ddoc_json(d, &n);
        size_t kl = strlen(st_ddoc_id(d)) + strlen(st_ddoc_rev(d)) + 2;
        f->ddoc_id = strdup(id);
        f->key = malloc(kl);
        f->lang = strdup(st_ddoc_language(d));
        f->name = strdup(name);
        f->ddoc_json = malloc(n + 1);
        f->ddoc_len = n;
        if (!f->ddoc_id || !f->key || !f->lang || !f->name || !f->ddoc_json) {
            st = st_fail(err, ST_E_NOMEM, "out of memory");
        } else {
            snprintf(f->key, kl, "%s@%s", st_ddoc_id(d), st_ddoc_rev(d));
            memcpy(f->ddoc_json, j, n + 1);
        }
    }
    st_ddoc_release(d);
    st_buf_free(&dd);
    return st;
}

st_status st_filter_open(st_db *db, st_qs *qs, const char *filter, const st_json *query,
                         const char *req_json, const st_user_ctx *user, st_filter **out,
                         st_error *err)
{
    *out = NULL;
    char id[600], name[512];
    fkind kind;
    if (strcmp(filter, "_design") == 0) {
        kind = F_DESIGN;
    } else if (strcmp(filter, "_view") == 0) {
        const st_json *v = query && query->type == ST_JSON_OBJECT ? st_json_get(query, "view") : NULL;
        if (!v)
            return st_fail(err, ST_E_BAD_REQUEST, "`view` filter parameter is not provided.");
        if (v->type != ST_JSON_STRING || !st_filter_split(v->u.str, id, sizeof id, name, sizeof name))
            return st_fail(err, ST_E_BAD_REQUEST, "`view` must be of the form `designname/viewname`");
        kind = F_VIEW;
    } else if (filter[0] == '_') {
        return st_fail(err, ST_E_BAD_REQUEST, "unknown builtin filter name");
    } else if (!st_filter_split(filter, id, sizeof id, name, sizeof name)) {
        return st_fail(err, ST_E_BAD_REQUEST, "`filter` must be of the form `designname/filtername`");
    } else {
        kind = F_FUNCTION;
    }
    if (kind != F_DESIGN && !qs)
        return st_fail(err, ST_E_BAD_REQUEST, "filter %s needs a query server", filter);
    st_filter *f = calloc(1, sizeof *f);
    if (!f)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    f->kind = kind;
    f->qs = qs;
    st_buf_init(&f->docs, 0);
    st_status st = ST_OK;
    if (kind != F_DESIGN)
        st = load(f, db, id, name, err);
    if (st == ST_OK && kind == F_FUNCTION) {
        if (req_json) {
            if (!(f->req_json = strdup(req_json)))
                st = st_fail(err, ST_E_NOMEM, "out of memory");
        } else {
            st_buf req = ST_BUF_INIT;
            st = st_ddoc_req_changes(db, filter, query, user, &req, err);
            if (st == ST_OK && !(f->req_json = st_buf_take(&req, NULL)))
                st = st_fail(err, ST_E_NOMEM, "out of memory");
            st_buf_free(&req);
        }
    }
    if (st != ST_OK) {
        st_filter_free(f);
        return st;
    }
    *out = f;
    return ST_OK;
}
