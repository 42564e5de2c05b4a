/* endpoint_http.c — a replication endpoint that is a remote database,
 * spoken to over CouchDB's HTTP API (see endpoint_http_int.h for how the
 * files divide the work).  Here: the endpoint itself and the calls that are
 * one request each, with CouchDB's JSON turned into the typed answers of
 * endpoint.h.  The answers' strings are borrowed from the parsed JSON,
 * which the answer's arena owns.
 */
#include "endpoint_http_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_jw.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void finish_plain(hreq *q, st_ep_reply *r) { q->cb(q->ctx, r); }

/* The answer's JSON moves into arena a (so its strings can be borrowed). */
static bool adopt_json(st_arena *a, st_ep_reply *r)
{
    st_json_doc *d = r->json;
    r->json = NULL;
    return st_arena_own(a, d, (void (*)(void *))st_json_doc_free);
}

static void answer_oom(hreq *q, st_ep_reply *r)
{
    st_ep_reply_clear(r);
    r->st = st_fail(&r->err, ST_E_NOMEM, "out of memory");
    r->http_status = 0;
    q->cb(q->ctx, r);
}

/* ------------------------------------------------------------ info, create */

static void info_db(hreq *q, st_ep_reply *r) { q->cb(q->ctx, r); }

static void info_root(hreq *q, st_ep_reply *r)
{
    http_ep *e = q->ep;
    /* GET / is best effort: a peer without uuid still replicates, and then
     * the URL stands in for it, as PouchDB does. */
    const char *uuid = r->st == ST_OK ? st_json_get_str(st_json_doc_root(r->json), "uuid") : NULL;
    snprintf(e->base.uuid, sizeof e->base.uuid, "%s", uuid ? uuid : e->url.db_url);
    free(e->base.pouch_id);
    /* PouchDB: uuid + encodeURIComponent(db) — or the db URL plus "/". */
    size_t n = strlen(e->base.uuid) + 3 * strlen(e->url.db) + strlen(e->url.db_url) + 4;
    e->base.pouch_id = malloc(n);
    if (e->base.pouch_id) {
        if (uuid) {
            char *esc = strchr(e->url.db, '%') ? NULL : st_http_escape(e->url.db);
            snprintf(e->base.pouch_id, n, "%s%s", uuid, esc ? esc : e->url.db);
            curl_free(esc);
        } else {
            snprintf(e->base.pouch_id, n, "%s/", e->url.db_url);
        }
    }
    st_http_request(e, "GET", st_http_db_path(e, ""), NULL, 0, info_db, q->cb, q->ctx);
}

static void h_info(st_ep *ep, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    size_t n = strlen(e->url.root) + 2;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%s/", e->url.root);
    st_http_request(e, "GET", u, NULL, 0, info_root, cb, ctx);
}

static void create_done(hreq *q, st_ep_reply *r)
{
    /* 412: someone created it first, which is what we wanted. */
    if (r->http_status == 412) {
        r->st = ST_OK;
        st_error_clear(&r->err);
    }
    q->cb(q->ctx, r);
}

static void h_create(st_ep *ep, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    st_http_request(e, "PUT", st_http_db_path(e, ""), "", 0, create_done, cb, ctx);
}

static void h_get_local(st_ep *ep, const char *id, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    st_http_request(e, "GET", st_http_doc_path(e, id, ""), NULL, 0, finish_plain, cb, ctx);
}

/* Any document by id: the same request as a _local one. */
static void h_get_doc(st_ep *ep, const char *id, st_ep_cb cb, void *ctx)
{
    h_get_local(ep, id, cb, ctx);
}

static void put_local_done(hreq *q, st_ep_reply *r)
{
    st_ep_reply_clear(r); /* {"ok":true,...}: nothing the caller needs */
    q->cb(q->ctx, r);
}

static void h_put_local(st_ep *ep, const char *id, const char *json, size_t n, st_ep_cb cb,
                        void *ctx)
{
    http_ep *e = (http_ep *)ep;
    st_http_request(e, "PUT", st_http_doc_path(e, id, ""), json, n, put_local_done, cb, ctx);
}

static void h_ensure_full_commit(st_ep *ep, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    st_http_request(e, "POST", st_http_db_path(e, "/_ensure_full_commit"), "{}", 2,
                    put_local_done, cb, ctx);
}

/* --------------------------------------------------------------- changes */

/* A JSON value's compact text, in a (a number keeps its source text). */
static const char *json_text(st_arena *a, const st_json *v)
{
    if (v->type == ST_JSON_NUMBER)
        return st_arena_memdup(a, v->u.str, v->len);
    st_buf b = ST_BUF_INIT;
    st_jw w;
    const char *out = NULL;
    if (st_jw_init(&w, &b) == ST_OK) {
        st_jw_value(&w, v);
        if (st_jw_status(&w) == ST_OK)
            out = st_arena_memdup(a, b.data, b.len);
        st_jw_free(&w);
    }
    st_buf_free(&b);
    return out;
}

static bool change_row(st_arena *a, const st_json *row, st_ep_change *out)
{
    const st_json *id = st_json_get(row, "id");
    const st_json *changes = st_json_get(row, "changes");
    const st_json *seq = st_json_get(row, "seq");
    const st_json *del = st_json_get(row, "deleted");
    if (!id || id->type != ST_JSON_STRING || !changes || changes->type != ST_JSON_ARRAY)
        return true; /* not a row we can use: skipped */
    const char **revs = st_arena_alloc(a, (changes->len + 1) * sizeof *revs);
    if (!revs)
        return false;
    out->n_revs = 0;
    for (size_t k = 0; k < changes->len; k++) {
        const char *rev = st_json_get_str(&changes->u.items[k], "rev");
        if (rev)
            revs[out->n_revs++] = rev;
    }
    out->id = id->u.str;
    out->revs = revs;
    out->deleted = del && del->type == ST_JSON_TRUE;
    return !seq || (out->seq.json = json_text(a, seq)) != NULL;
}

static void changes_done(hreq *q, st_ep_reply *r)
{
    if (r->st != ST_OK) {
        q->cb(q->ctx, r);
        return;
    }
    const st_json *root = st_json_doc_root(r->json);
    const st_json *results = st_json_get(root, "results");
    if (!results || results->type != ST_JSON_ARRAY) {
        st_ep_reply_clear(r);
        r->st = st_fail(&r->err, ST_E_BAD_REQUEST, "source answered _changes without \"results\"");
        q->cb(q->ctx, r);
        return;
    }
    st_ep_changes *c = st_ep_answer_new(st_ep_changes);
    if (!c || !adopt_json(c->arena, r) ||
        !(c->rows = st_arena_alloc(c->arena, (results->len + 1) * sizeof *c->rows))) {
        if (c)
            st_arena_free(c->arena);
        answer_oom(q, r);
        return;
    }
    for (size_t i = 0; i < results->len; i++) {
        st_ep_change *row = &c->rows[c->n];
        if (!change_row(c->arena, &results->u.items[i], row)) {
            st_arena_free(c->arena);
            answer_oom(q, r);
            return;
        }
        c->n += row->id != NULL;
    }
    /* last_seq; else the last row's seq; else where we asked from. */
    const st_json *ls = st_json_get(root, "last_seq");
    if (ls && ls->type != ST_JSON_NULL)
        c->last_seq.json = json_text(c->arena, ls);
    else if (c->n && c->rows[c->n - 1].seq.json)
        c->last_seq.json = c->rows[c->n - 1].seq.json;
    else
        c->last_seq.json = st_arena_strdup(c->arena, q->note);
    c->has_pending = st_json_uint64(st_json_get(root, "pending"), &c->pending);
    if (!c->last_seq.json) {
        st_arena_free(c->arena);
        answer_oom(q, r);
        return;
    }
    r->changes = c;
    q->cb(q->ctx, r);
}

/* since as a query value: a string's content, a number's text. */
static char *since_param(const st_ep_seq *since, char **out_json)
{
    char num[24];
    const char *json = since->json;
    if (!json) {
        snprintf(num, sizeof num, "%" PRIu64, since->n);
        json = num;
    }
    *out_json = strdup(json);
    st_json_doc *d = NULL;
    const char *s = json;
    if (json[0] == '"' && st_json_parse(json, strlen(json), NULL, &d, NULL) == ST_OK)
        s = st_json_doc_root(d)->u.str;
    char *esc = st_http_escape(s);
    st_json_doc_free(d);
    return esc;
}

static st_status filter_body(const st_ep_changes_req *req, st_buf *u, st_buf *body)
{
    if (req->n_doc_ids) {
        st_jw w;
        st_status st = st_buf_adds(u, "&filter=_doc_ids");
        if (st != ST_OK || (st = st_jw_init(&w, body)) != ST_OK)
            return st;
        st_jw_obj_open(&w);
        st_jw_key(&w, "doc_ids");
        st_jw_arr_open(&w);
        for (size_t i = 0; i < req->n_doc_ids; i++)
            st_jw_str(&w, req->doc_ids[i]);
        st_jw_arr_close(&w);
        st_jw_obj_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
        return st;
    }
    st_status st = st_buf_adds(u, "&filter=_selector");
    return st == ST_OK ? st_buf_printf(body, "{\"selector\":%s}", req->selector) : st;
}

/* A view parameter CouchDB's replicator JSON-encodes for filter=_view
 * (the fields of its mrargs record, and key). */
static bool view_field(const char *k)
{
    static const char *const f[] = {"key", "keys", "start_key", "end_key", "startkey", "endkey",
                                    "start_key_doc_id", "end_key_doc_id", NULL};
    for (size_t i = 0; f[i]; i++)
        if (strcmp(f[i], k) == 0)
            return true;
    return false;
}

/* &filter=<name> and each query parameter (first of a key wins; the feed's
 * own parameters are not replaced), as CouchDB's replicator sends them:
 * a string as it is, anything else as its JSON text; for _view the key
 * fields as JSON always. */
static st_status filter_params(const st_ep_changes_req *req, st_buf *u)
{
    char *esc = st_http_escape(req->filter);
    st_status st = esc ? st_buf_printf(u, "&filter=%s", esc) : ST_E_NOMEM;
    curl_free(esc);
    if (st != ST_OK || !req->query_params)
        return st;
    st_json_doc *d = NULL;
    if (st_json_parse(req->query_params, strlen(req->query_params), NULL, &d, NULL) != ST_OK)
        return ST_E_BAD_REQUEST; /* checked at start: cannot happen */
    const st_json *o = st_json_doc_root(d);
    static const char *const own[] = {"style", "since", "limit", "feed", "timeout", "filter", NULL};
    bool view = strcmp(req->filter, "_view") == 0;
    for (size_t i = 0; st == ST_OK && o->type == ST_JSON_OBJECT && i < o->len; i++) {
        const st_json_member *m = &o->u.members[i];
        bool skip = false;
        for (size_t j = 0; own[j] && !skip; j++)
            skip = strcmp(own[j], m->key) == 0;
        for (size_t j = 0; j < i && !skip; j++)
            skip = strcmp(o->u.members[j].key, m->key) == 0;
        if (skip)
            continue;
        st_buf v = ST_BUF_INIT;
        if (m->value.type == ST_JSON_STRING && !(view && view_field(m->key))) {
            st = st_buf_add(&v, m->value.u.str, m->value.len);
        } else {
            st_jw w;
            if ((st = st_jw_init(&w, &v)) == ST_OK) {
                st_jw_value(&w, &m->value);
                st = st_jw_status(&w);
                st_jw_free(&w);
            }
        }
        if (st == ST_OK)
            st = st_buf_addc(&v, '\0');
        char *ek = st == ST_OK ? st_http_escape(m->key) : NULL;
        char *ev = ek ? st_http_escape(v.data) : NULL;
        st = ev ? st_buf_printf(u, "&%s=%s", ek, ev) : ST_E_NOMEM;
        curl_free(ek);
        curl_free(ev);
        st_buf_free(&v);
    }
    st_json_doc_free(d);
    return st;
}

static void h_changes(st_ep *ep, const st_ep_changes_req *req, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    st_buf u = ST_BUF_INIT, body = ST_BUF_INIT;
    char *since_json = NULL;
    char *esc = since_param(&req->since, &since_json);
    st_status st = esc && since_json ? ST_OK : ST_E_NOMEM;
    if (st == ST_OK)
        st = st_buf_printf(&u, "%s/_changes?style=all_docs&since=%s&limit=%u", e->url.db_url, esc,
                           req->limit);
    if (st == ST_OK && req->longpoll)
        st = st_buf_printf(&u, "&feed=longpoll&timeout=%u", req->timeout_ms);
    bool post = req->n_doc_ids || req->selector;
    if (st == ST_OK && post)
        st = filter_body(req, &u, &body);
    else if (st == ST_OK && req->filter)
        st = filter_params(req, &u);
    curl_free(esc);
    char *url = st == ST_OK ? st_buf_take(&u, NULL) : NULL;
    hreq *q = st_http_new(e, post ? "POST" : "GET", url, changes_done, cb, ctx);
    if (!q) {
        free(since_json);
        st_ep_reply r = {.st = ST_E_NOMEM};
        st_fail(&r.err, ST_E_NOMEM, "out of memory");
        cb(ctx, &r);
    } else {
        q->note = since_json;
        if (req->longpoll)
            q->extra_wait_ms = req->timeout_ms;
        st_http_send(q, post ? body.data : NULL, body.len);
    }
    st_buf_free(&u);
    st_buf_free(&body);
}

/* ------------------------------------------------------------- revs_diff */

static bool str_list(st_arena *a, const st_json *v, const char *const **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!v || v->type != ST_JSON_ARRAY || v->len == 0)
        return true;
    const char **l = st_arena_alloc(a, v->len * sizeof *l);
    if (!l)
        return false;
    for (size_t i = 0; i < v->len; i++)
        if (v->u.items[i].type == ST_JSON_STRING)
            l[(*n)++] = v->u.items[i].u.str;
    *out = l;
    return true;
}

static void revs_diff_done(hreq *q, st_ep_reply *r)
{
    if (r->st != ST_OK) {
        q->cb(q->ctx, r);
        return;
    }
    const st_json *root = st_json_doc_root(r->json);
    size_t n = root->type == ST_JSON_OBJECT ? root->len : 0;
    st_ep_missing *m = st_ep_answer_new(st_ep_missing);
    if (!m || !adopt_json(m->arena, r) ||
        !(m->rows = st_arena_alloc(m->arena, (n + 1) * sizeof *m->rows))) {
        if (m)
            st_arena_free(m->arena);
        answer_oom(q, r);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const st_json_member *mb = &root->u.members[i];
        st_ep_missing_row *row = &m->rows[m->n];
        row->id = mb->key;
        if (!str_list(m->arena, st_json_get(&mb->value, "missing"), &row->missing,
                      &row->n_missing) ||
            !str_list(m->arena, st_json_get(&mb->value, "possible_ancestors"), &row->ancestors,
                      &row->n_ancestors)) {
            st_arena_free(m->arena);
            answer_oom(q, r);
            return;
        }
        m->n += row->n_missing > 0;
    }
    r->missing = m;
    q->cb(q->ctx, r);
}

static void h_revs_diff(st_ep *ep, const st_rep_diff *diffs, size_t n, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status st = st_jw_init(&w, &b);
    if (st == ST_OK) {
        /* {"docid":["rev",...],...} */
        st_jw_obj_open(&w);
        for (size_t i = 0; i < n; i++) {
            st_jw_key(&w, diffs[i].id);
            st_jw_arr_open(&w);
            for (size_t k = 0; k < diffs[i].n_revs; k++)
                st_jw_str(&w, diffs[i].revs[k]);
            st_jw_arr_close(&w);
        }
        st_jw_obj_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    st_http_request(e, "POST", st == ST_OK ? st_http_db_path(e, "/_revs_diff") : NULL, b.data,
                    b.len, revs_diff_done, cb, ctx);
    st_buf_free(&b);
}

/* ------------------------------------------------------------ lifecycle */

static void h_cancel_all(st_ep *ep)
{
    http_ep *e = (http_ep *)ep;
    st_http_cancel_all(e);
    while (e->jobs) {
        http_job *j = e->jobs;
        e->jobs = j->next;
        j->free(j);
    }
}

static void h_free(st_ep *ep)
{
    http_ep *e = (http_ep *)ep;
    st_dburl_free(&e->url);
    st_http_auth_free(e);
    free(e->ca_file);
    free(ep->display);
    free(ep->user);
    free(ep->host);
    free(ep->path);
    free(ep->pouch_id);
    free(e);
}

static const st_ep_ops http_ops = {
    .info = h_info,
    .create = h_create,
    .get_local = h_get_local,
    .get_doc = h_get_doc,
    .put_local = h_put_local,
    .changes = h_changes,
    .revs_diff = h_revs_diff,
    .get_revs = st_http_get_revs,
    .write_revs = st_http_write_revs,
    .ensure_full_commit = h_ensure_full_commit,
    .conflicted = NULL,
    .cancel_all = h_cancel_all,
    .free = h_free,
};

st_status st_ep_http_new(st_loop *loop, const char *url, const st_ep_http_opts *o, st_ep **out,
                         st_error *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    http_ep *e = calloc(1, sizeof *e);
    if (!e)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = st_dburl_parse(url, &e->url, err);
    if (st != ST_OK) {
        free(e);
        return st;
    }
    e->base.ops = &http_ops;
    e->base.loop = loop;
    e->base.remote = true;
    e->o = *o;
    /* Strings are the caller's: keep copies (credentials: http_auth.c). */
    e->o.ca_file = e->o.username = e->o.password = e->o.bearer_token = NULL;
    e->insecure = o->insecure;
    if (o->ca_file && !(e->ca_file = strdup(o->ca_file))) {
        h_free(&e->base);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    if (!e->o.timeout_ms)
        e->o.timeout_ms = 30000;
    if (!e->o.retry_base_ms)
        e->o.retry_base_ms = 250;
    if (!e->o.retry_max_ms)
        e->o.retry_max_ms = 30000;
    if ((st = st_http_auth_init(e, o, err)) != ST_OK) {
        h_free(&e->base);
        return st;
    }
    /* CouchDB's id: port `default` for http:80, https:443 and http:5984. */
    int port = e->url.port;
    bool dflt = (!e->url.https && (port == 80 || port == 5984)) || (e->url.https && port == 443);
    e->base.port = dflt ? 0 : port;
    size_t pl = strlen(e->url.path) + 2;
    e->base.path = malloc(pl);
    if (e->base.path)
        snprintf(e->base.path, pl, "%s/", e->url.path);
    e->base.host = strdup(e->url.host);
    e->base.display = strdup(e->url.display);
    /* The replication id hashes the user: as written in the URL (ids made
     * before stay valid), else the username option. */
    const char *id_user = o->username ? o->username : e->url.user;
    e->base.user = id_user ? strdup(id_user) : NULL;
    if (!e->base.path || !e->base.host || !e->base.display || (id_user && !e->base.user)) {
        h_free(&e->base);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    *out = &e->base;
    return ST_OK;
}
