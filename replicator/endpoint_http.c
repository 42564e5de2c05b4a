/* endpoint_http.c — a replication endpoint that is a remote database, spoken
 * to over CouchDB's HTTP API with libcurl on the loop's multi handle.
 *
 * Retries live here, below the replication logic: a request that fails in a
 * way that another attempt may fix — no connection, a cut or stalled
 * transfer, 408/429/5xx, or a 2xx body that is not JSON (garbage from a
 * broken proxy) — is sent again after an exponential backoff with jitter
 * (base·2^n, capped, then scaled by a random factor in [0.5, 1) so that
 * many clients do not retry in lockstep).  Everything we send is idempotent:
 * reads, _revs_diff, new_edits=false writes (a merge of known revisions),
 * and _local checkpoints written without _rev.  Other 4xx answers are final
 * and reach the caller with CouchDB's error and reason.
 *
 * Stalls are caught with curl's low-speed limit (less than 1 byte/s for
 * timeout_ms) rather than a total time limit, so a large _bulk_get that
 * keeps moving is never cut.
 *
 * _bulk_get falls back, for peers that lack it (any 4xx but 401/403), to
 * one GET ?open_revs=[…]&revs=true&latest=true&attachments=true per
 * document with Accept: application/json, all in flight at once; the
 * answers are assembled into a _bulk_get-shaped reply.
 */
#include "endpoint.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_jw.h"
#include "dburl.h"

typedef struct hreq hreq;
typedef struct agg agg;

typedef struct http_ep {
    st_ep base;
    st_dburl url;
    char *userpwd;           /* decoded "user:pass" for basic auth, or NULL */
    st_ep_http_opts o;
    hreq *reqs;              /* every request not yet answered */
    agg *aggs;               /* _bulk_get fallbacks being assembled */
    bool no_bulk_get;        /* the peer lacks _bulk_get: use open_revs */
    bool troubled;           /* a retry happened since the last success */
} http_ep;

typedef void (*hreq_fn)(hreq *q, st_ep_reply *r);

struct hreq {
    hreq *next;
    http_ep *ep;
    st_loop_xfer xfer;       /* CURLOPT_PRIVATE */
    CURL *easy;              /* NULL while waiting for a retry */
    struct curl_slist *headers;
    char *url;
    const char *method;
    st_buf body;             /* request body */
    st_buf resp;             /* response body */
    unsigned extra_wait_ms;  /* longpoll: the server may be silent this long */
    unsigned attempt;
    st_timer retry;
    hreq_fn finish;          /* gets the final reply (then q is freed) */
    st_ep_cb cb;
    void *ctx;
    agg *owner;              /* fallback part: the assembly it belongs to */
    size_t part;
    st_error start_err;      /* why the request could not even be sent */
};

/* A _bulk_get answered through per-document open_revs GETs. */
struct agg {
    agg *next;
    http_ep *ep;
    st_ep_cb cb;
    void *ctx;
    size_t n, pending;
    char **ids;              /* one per GET */
    st_buf *parts;           /* each GET's JSON array answer ("[]" if 404) */
    bool failed;
    st_ep_reply err;         /* the first final failure */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ------------------------------------------------------------ requests */

static void hreq_unlink(http_ep *e, hreq *q)
{
    for (hreq **pp = &e->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            return;
        }
    }
}

static void hreq_drop_easy(hreq *q)
{
    if (!q->easy)
        return;
    st_loop_remove(q->ep->base.loop, q->easy);
    curl_easy_cleanup(q->easy);
    q->easy = NULL;
    curl_slist_free_all(q->headers);
    q->headers = NULL;
}

static void hreq_free(hreq *q)
{
    hreq_drop_easy(q);
    st_loop_timer_stop(q->ep->base.loop, &q->retry);
    st_buf_free(&q->body);
    st_buf_free(&q->resp);
    free(q->url);
    free(q);
}

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    hreq *q = ctx;
    return st_buf_add(&q->resp, p, size * n) == ST_OK ? size * n : 0;
}

static void on_xfer_done(void *ctx, CURLcode rc);

static st_status hreq_send(hreq *q, st_error *err)
{
    http_ep *e = q->ep;
    st_buf_reset(&q->resp);
    CURL *c = q->easy = curl_easy_init();
    if (!c)
        return st_fail(err, ST_E_NOMEM, "curl_easy_init failed");
    struct curl_slist *h = NULL, *t;
    const char *hdrs[] = {"Accept: application/json", "Content-Type: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        if (!(t = curl_slist_append(h, hdrs[i]))) {
            curl_slist_free_all(h);
            return st_fail(err, ST_E_NOMEM, "out of memory");
        }
        h = t;
    }
    q->headers = h;
    long stall_s = (long)((e->o.timeout_ms + q->extra_wait_ms + 999) / 1000);
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)&q->xfer);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(e->o.timeout_ms < 10000 ? e->o.timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_s > 0 ? stall_s : 1L);
    if (e->userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, e->userpwd);
    }
    if (strcmp(q->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body.data ? q->body.data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body.len);
    }
    q->xfer.done = on_xfer_done;
    q->xfer.ctx = q;
    return st_loop_add(e->base.loop, c, err);
}

/* Deliver the final reply and free the request. */
static void hreq_complete(hreq *q, st_ep_reply *r)
{
    http_ep *e = q->ep;
    hreq_unlink(e, q);
    hreq_drop_easy(q);
    q->finish(q, r);
    st_ep_reply_clear(r);
    hreq_free(q);
}

static void complete_error(hreq *q, st_status code, int http_status, const char *fmt, const char *a,
                           const char *b)
{
    st_ep_reply r = {.st = code, .http_status = http_status};
    st_fail(&r.err, code, fmt, a, b);
    hreq_complete(q, &r);
}

static void retry_fire(void *ctx)
{
    hreq *q = ctx;
    st_error err;
    if (hreq_send(q, &err) != ST_OK) {
        hreq_drop_easy(q);
        complete_error(q, err.code, 0, "%s%s", err.reason, "");
    }
}

static unsigned backoff_ms(const st_ep_http_opts *o, unsigned attempt)
{
    uint64_t d = o->retry_base_ms;
    for (unsigned i = 1; i < attempt && d < o->retry_max_ms; i++)
        d *= 2;
    if (d > o->retry_max_ms)
        d = o->retry_max_ms;
    /* Jitter: [d/2, d). rand() is fine here: this only spreads retries. */
    uint64_t half = d / 2;
    return (unsigned)(half + (half ? (uint64_t)rand() % half : 0));
}

/* A transient failure: try again later, or give up after max_retries. */
static void transient(hreq *q, st_status code, int http_status, const char *why)
{
    http_ep *e = q->ep;
    hreq_drop_easy(q);
    q->attempt++;
    if (q->attempt > e->o.max_retries) {
        complete_error(q, code, http_status, "%s (gave up after %s)", why, "retries");
        return;
    }
    unsigned delay = backoff_ms(&e->o, q->attempt);
    e->troubled = true;
    if (e->base.hooks.retrying) {
        st_error er;
        st_fail(&er, code, "%s %s: %s", q->method, q->url, why);
        e->base.hooks.retrying(e->base.hooks.ctx, &e->base, &er, http_status, q->attempt, delay);
    }
    st_loop_timer_start(e->base.loop, &q->retry, delay, retry_fire, q);
}

static st_status status_code(long http)
{
    switch (http) {
    case 400: return ST_E_BAD_REQUEST;
    case 401: return ST_E_UNAUTHORIZED;
    case 403: return ST_E_FORBIDDEN;
    case 404: return ST_E_NOT_FOUND;
    case 405: return ST_E_METHOD;
    case 406: return ST_E_NOT_ACCEPTABLE;
    case 409: return ST_E_CONFLICT;
    case 412: return ST_E_PRECONDITION;
    case 413: return ST_E_TOO_LARGE;
    case 415: return ST_E_BAD_CONTENT_TYPE;
    default: return http >= 500 ? ST_E_NETWORK : ST_E_BAD_REQUEST;
    }
}

static void on_xfer_done(void *ctx, CURLcode rc)
{
    hreq *q = ctx;
    http_ep *e = q->ep;
    long http = 0;
    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &http);
    /* The multi already dropped the handle; forget it before any retry. */
    curl_easy_cleanup(q->easy);
    q->easy = NULL;
    curl_slist_free_all(q->headers);
    q->headers = NULL;
    if (rc != CURLE_OK) {
        transient(q, rc == CURLE_OPERATION_TIMEDOUT ? ST_E_TIMEOUT : ST_E_NETWORK, 0,
                  curl_easy_strerror(rc));
        return;
    }
    if (http >= 500 || http == 408 || http == 429 || http < 200) {
        char why[64];
        snprintf(why, sizeof why, "HTTP %ld", http);
        transient(q, ST_E_NETWORK, (int)http, why);
        return;
    }
    st_ep_reply r = {.st = ST_OK, .http_status = (int)http};
    st_error perr;
    st_status ps = q->resp.len ? st_json_parse(q->resp.data, q->resp.len, NULL, &r.json, &perr)
                               : ST_E_BAD_REQUEST;
    if (http < 300 && ps != ST_OK) {
        transient(q, ST_E_NETWORK, (int)http, "the answer is not JSON");
        return;
    }
    if (e->troubled) {
        e->troubled = false;
        if (e->base.hooks.recovered)
            e->base.hooks.recovered(e->base.hooks.ctx, &e->base);
    }
    if (http >= 300) {
        /* CouchDB's error body: keep "error: reason" for the message. */
        const st_json *root = r.json ? st_json_doc_root(r.json) : NULL;
        const char *name = root ? st_json_get_str(root, "error") : NULL;
        const char *reason = root ? st_json_get_str(root, "reason") : NULL;
        r.st = status_code(http);
        st_fail(&r.err, r.st, "%s: %s (HTTP %ld)", name ? name : st_status_name(r.st),
                reason ? reason : "", http);
    }
    hreq_complete(q, &r);
}

static void finish_plain(hreq *q, st_ep_reply *r) { q->cb(q->ctx, r); }

static void start_failed(void *ctx)
{
    hreq *q = ctx;
    complete_error(q, q->start_err.code, 0, "%s%s", q->start_err.reason, "");
}

/* Start a request; on failure to even start, answer with the error on the
 * next loop iteration. */
static hreq *request(http_ep *e, const char *method, char *url, const char *body, size_t n,
                     hreq_fn finish, st_ep_cb cb, void *ctx)
{
    hreq *q = calloc(1, sizeof *q);
    if (!q) {
        free(url);
        st_ep_reply r = {.st = ST_E_NOMEM, .http_status = 0};
        st_fail(&r.err, ST_E_NOMEM, "out of memory");
        if (cb)
            cb(ctx, &r);
        return NULL;
    }
    q->ep = e;
    q->method = method;
    q->url = url;
    q->finish = finish;
    q->cb = cb;
    q->ctx = ctx;
    q->next = e->reqs;
    e->reqs = q;
    st_error err;
    st_error_clear(&err);
    st_status st = url ? ST_OK : st_fail(&err, ST_E_NOMEM, "out of memory");
    if (st == ST_OK && body && (st = st_buf_add(&q->body, body, n)) != ST_OK)
        st_fail(&err, st, "out of memory");
    if (st == ST_OK)
        st = hreq_send(q, &err);
    if (st != ST_OK) {
        hreq_drop_easy(q);
        q->start_err = err;
        st_loop_defer(e->base.loop, &q->retry, start_failed, q);
    }
    return q;
}

/* db_url + suffix (malloc'd). */
static char *db_path(http_ep *e, const char *suffix)
{
    size_t n = strlen(e->url.db_url) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", e->url.db_url, suffix);
    return s;
}

/* "/" + escaped doc id, keeping the "_design/" / "_local/" prefix slash. */
static char *doc_path(http_ep *e, const char *id, const char *query)
{
    const char *prefix = "";
    if (strncmp(id, "_design/", 8) == 0) {
        prefix = "_design/";
        id += 8;
    } else if (strncmp(id, "_local/", 7) == 0) {
        prefix = "_local/";
        id += 7;
    }
    char *esc = curl_easy_escape(NULL, id, 0);
    if (!esc)
        return NULL;
    size_t n = strlen(e->url.db_url) + strlen(prefix) + strlen(esc) + strlen(query) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s%s%s", e->url.db_url, prefix, esc, query);
    curl_free(esc);
    return s;
}

/* ------------------------------------------------------------ calls */

static void info_db(hreq *q, st_ep_reply *r);

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
            char *esc = strchr(e->url.db, '%') ? NULL : curl_easy_escape(NULL, e->url.db, 0);
            snprintf(e->base.pouch_id, n, "%s%s", uuid, esc ? esc : e->url.db);
            curl_free(esc);
        } else {
            snprintf(e->base.pouch_id, n, "%s/", e->url.db_url);
        }
    }
    request(e, "GET", db_path(e, ""), NULL, 0, info_db, q->cb, q->ctx);
}

static void info_db(hreq *q, st_ep_reply *r) { q->cb(q->ctx, r); }

static void h_info(st_ep *ep, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    size_t n = strlen(e->url.root) + 2;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%s/", e->url.root);
    request(e, "GET", u, NULL, 0, info_root, cb, ctx);
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
    request(e, "PUT", db_path(e, ""), "", 0, create_done, cb, ctx);
}

static void h_get_local(st_ep *ep, const char *id, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    request(e, "GET", doc_path(e, id, ""), NULL, 0, finish_plain, cb, ctx);
}

static void h_put_local(st_ep *ep, const char *id, const char *json, size_t n, st_ep_cb cb,
                        void *ctx)
{
    http_ep *e = (http_ep *)ep;
    request(e, "PUT", doc_path(e, id, ""), json, n, finish_plain, cb, ctx);
}

static void h_changes(st_ep *ep, const st_ep_changes_req *req, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    st_buf u = ST_BUF_INIT, body = ST_BUF_INIT;
    st_json_doc *since = NULL;
    char *esc = NULL;
    st_status st = ST_OK;
    /* The seq goes back verbatim: a string's content, a number's text. */
    const char *s = req->since ? req->since : "0";
    if (st_json_parse(s, strlen(s), NULL, &since, NULL) == ST_OK &&
        st_json_doc_root(since)->type == ST_JSON_STRING)
        s = st_json_doc_root(since)->u.str;
    esc = curl_easy_escape(NULL, s, 0);
    if (!esc)
        st = ST_E_NOMEM;
    if (st == ST_OK)
        st = st_buf_printf(&u, "%s/_changes?style=all_docs&since=%s&limit=%u", e->url.db_url, esc,
                           req->limit);
    if (st == ST_OK && req->longpoll)
        st = st_buf_printf(&u, "&feed=longpoll&timeout=%u", req->timeout_ms);
    bool post = req->n_doc_ids || req->selector;
    if (st == ST_OK && req->n_doc_ids) {
        st = st_buf_adds(&u, "&filter=_doc_ids");
        st_jw w;
        if (st == ST_OK && (st = st_jw_init(&w, &body)) == ST_OK) {
            st_jw_obj_open(&w);
            st_jw_key(&w, "doc_ids");
            st_jw_arr_open(&w);
            for (size_t i = 0; i < req->n_doc_ids; i++)
                st_jw_str(&w, req->doc_ids[i]);
            st_jw_arr_close(&w);
            st_jw_obj_close(&w);
            st = st_jw_status(&w);
            st_jw_free(&w);
        }
    } else if (st == ST_OK && req->selector) {
        st = st_buf_adds(&u, "&filter=_selector");
        if (st == ST_OK)
            st = st_buf_printf(&body, "{\"selector\":%s}", req->selector);
    }
    curl_free(esc);
    st_json_doc_free(since);
    char *url = st == ST_OK ? st_buf_take(&u, NULL) : NULL;
    hreq *q = request(e, post ? "POST" : "GET", url, post ? body.data : NULL, body.len,
                      finish_plain, cb, ctx);
    if (q && req->longpoll)
        q->extra_wait_ms = req->timeout_ms;
    st_buf_free(&u);
    st_buf_free(&body);
}

static void h_revs_diff(st_ep *ep, const char *body, size_t n, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    request(e, "POST", db_path(e, "/_revs_diff"), body, n, finish_plain, cb, ctx);
}

/* ------------------------------------------------------------ _bulk_get fallback */

static void agg_free(agg *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->ids[i]);
        st_buf_free(&a->parts[i]);
    }
    free(a->ids);
    free(a->parts);
    st_ep_reply_clear(&a->err);
    free(a);
}

static void agg_unlink(http_ep *e, agg *a)
{
    for (agg **pp = &e->aggs; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            return;
        }
    }
}

/* Every part answered: build the _bulk_get reply. */
static void agg_finish(agg *a)
{
    http_ep *e = a->ep;
    agg_unlink(e, a);
    if (a->failed) {
        a->cb(a->ctx, &a->err);
        agg_free(a);
        return;
    }
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_ep_reply r = {.st = ST_OK, .http_status = 200};
    st_status st = st_jw_init(&w, &b);
    if (st == ST_OK) {
        st_jw_obj_open(&w);
        st_jw_key(&w, "results");
        st_jw_arr_open(&w);
        for (size_t i = 0; i < a->n; i++) {
            st_jw_obj_open(&w);
            st_jw_key(&w, "id");
            st_jw_str(&w, a->ids[i]);
            st_jw_key(&w, "docs");
            /* [{"ok":doc},{"missing":rev}] — the replicator takes the oks */
            if (a->parts[i].len)
                st_jw_raw(&w, a->parts[i].data, a->parts[i].len);
            else
                st_jw_raw(&w, "[]", 2);
            st_jw_obj_close(&w);
        }
        st_jw_arr_close(&w);
        st_jw_obj_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    if (st == ST_OK)
        st = st_json_parse(b.data, b.len, NULL, &r.json, &r.err);
    else
        st_fail(&r.err, st, "out of memory");
    if (st != ST_OK) {
        r.st = st;
        r.http_status = 0;
    }
    a->cb(a->ctx, &r);
    st_ep_reply_clear(&r);
    st_buf_free(&b);
    agg_free(a);
}

static void agg_part_done(hreq *q, st_ep_reply *r)
{
    agg *a = q->owner;
    if (r->st == ST_OK && r->json) {
        st_buf *p = &a->parts[q->part];
        /* Re-render the parsed array: the raw text may carry a BOM or
         * trailing newlines that st_jw_raw must not splice. */
        st_jw w;
        if (st_jw_init(&w, p) == ST_OK) {
            st_jw_value(&w, st_json_doc_root(r->json));
            if (st_jw_status(&w) != ST_OK && !a->failed) {
                a->failed = true;
                a->err.st = ST_E_NOMEM;
                st_fail(&a->err.err, ST_E_NOMEM, "out of memory");
            }
            st_jw_free(&w);
        }
    } else if (r->st != ST_E_NOT_FOUND && !a->failed) {
        a->failed = true;
        a->err.st = r->st;
        a->err.err = r->err;
        a->err.http_status = r->http_status;
    }
    if (--a->pending == 0)
        agg_finish(a);
}

static void bulk_get_fallback(http_ep *e, const char *body, size_t n, st_ep_cb cb, void *ctx)
{
    st_json_doc *req = NULL;
    st_ep_reply r = {.st = ST_OK};
    if (st_json_parse(body, n, NULL, &req, &r.err) != ST_OK) {
        r.st = r.err.code;
        cb(ctx, &r);
        return;
    }
    const st_json *docs = st_json_get(st_json_doc_root(req), "docs");
    size_t nd = docs && docs->type == ST_JSON_ARRAY ? docs->len : 0;
    agg *a = calloc(1, sizeof *a);
    if (a) {
        a->ep = e;
        a->cb = cb;
        a->ctx = ctx;
        a->ids = calloc(nd ? nd : 1, sizeof *a->ids);
        a->parts = calloc(nd ? nd : 1, sizeof *a->parts);
    }
    if (!a || !a->ids || !a->parts) {
        if (a) {
            free(a->ids);
            free(a->parts);
            free(a);
        }
        st_json_doc_free(req);
        r.st = st_fail(&r.err, ST_E_NOMEM, "out of memory");
        cb(ctx, &r);
        return;
    }
    a->next = e->aggs;
    e->aggs = a;
    /* One GET per entry; the replicator asks for each (id, rev) once. */
    for (size_t i = 0; i < nd; i++) {
        const st_json *d = &docs->u.items[i];
        const char *id = st_json_get_str(d, "id");
        const char *rev = st_json_get_str(d, "rev");
        const st_json *since = st_json_get(d, "atts_since");
        if (!id || !(a->ids[a->n] = strdup(id)))
            continue;
        st_buf qs = ST_BUF_INIT, revs = ST_BUF_INIT;
        st_status st = st_buf_printf(&revs, "[");
        if (st == ST_OK && rev)
            st = st_json_quote(&revs, rev, strlen(rev));
        if (st == ST_OK)
            st = st_buf_adds(&revs, "]");
        char *esc = st == ST_OK ? curl_easy_escape(NULL, rev ? revs.data : "all", 0) : NULL;
        if (esc)
            st = st_buf_printf(&qs, "?revs=true&latest=true&attachments=true&open_revs=%s",
                               rev ? esc : "all");
        curl_free(esc);
        if (st == ST_OK && since && since->type == ST_JSON_ARRAY && since->len) {
            char *txt = NULL;
            st_buf sb = ST_BUF_INIT;
            st_jw w;
            if (st_jw_init(&w, &sb) == ST_OK) {
                st_jw_value(&w, since);
                if (st_jw_status(&w) == ST_OK)
                    txt = sb.data;
                st_jw_free(&w);
            }
            char *e2 = txt ? curl_easy_escape(NULL, txt, 0) : NULL;
            if (e2)
                st = st_buf_printf(&qs, "&atts_since=%s", e2);
            curl_free(e2);
            st_buf_free(&sb);
        }
        size_t part = a->n++;
        a->pending++;
        hreq *q = request(e, "GET", st == ST_OK && qs.data ? doc_path(e, id, qs.data) : NULL, NULL,
                          0, agg_part_done, NULL, NULL);
        if (q) {
            q->owner = a;
            q->part = part;
        } else {
            a->pending--;
            a->failed = true;
            a->err.st = st_fail(&a->err.err, ST_E_NOMEM, "out of memory");
        }
        st_buf_free(&qs);
        st_buf_free(&revs);
    }
    st_json_doc_free(req);
    if (a->pending == 0) {
        /* Nothing was requested (or nothing could be): answer next turn is
         * not needed for correctness here; the caller is on the loop. */
        agg_finish(a);
    }
}

static void bulk_get_done(hreq *q, st_ep_reply *r)
{
    http_ep *e = q->ep;
    bool lacks = r->st != ST_OK && r->http_status >= 400 && r->http_status < 500 &&
                 r->http_status != 401 && r->http_status != 403;
    if (!lacks) {
        q->cb(q->ctx, r);
        return;
    }
    /* The peer has no _bulk_get (CouchDB 1.x, some proxies): remember it,
     * and answer this batch document by document. */
    e->no_bulk_get = true;
    bulk_get_fallback(e, q->body.data, q->body.len, q->cb, q->ctx);
}

static void h_bulk_get(st_ep *ep, const char *body, size_t n, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    if (e->no_bulk_get) {
        bulk_get_fallback(e, body, n, cb, ctx);
        return;
    }
    request(e, "POST", db_path(e, "/_bulk_get?revs=true&latest=true&attachments=true"), body, n,
            bulk_get_done, cb, ctx);
}

/* ------------------------------------------------------------ writes */

static void h_bulk_docs(st_ep *ep, const st_json *const *docs, size_t n, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status st = st_jw_init(&w, &b);
    if (st == ST_OK) {
        st_jw_obj_open(&w);
        st_jw_key(&w, "docs");
        st_jw_arr_open(&w);
        for (size_t i = 0; i < n; i++)
            st_jw_value(&w, docs[i]);
        st_jw_arr_close(&w);
        st_jw_key(&w, "new_edits");
        st_jw_bool(&w, false);
        st_jw_obj_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    request(e, "POST", st == ST_OK ? db_path(e, "/_bulk_docs") : NULL, b.data, b.len, finish_plain,
            cb, ctx);
    st_buf_free(&b);
}

static void h_ensure_full_commit(st_ep *ep, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    request(e, "POST", db_path(e, "/_ensure_full_commit"), "{}", 2, finish_plain, cb, ctx);
}

/* ------------------------------------------------------------ lifecycle */

static void h_cancel_all(st_ep *ep)
{
    http_ep *e = (http_ep *)ep;
    while (e->reqs) {
        hreq *q = e->reqs;
        e->reqs = q->next;
        hreq_free(q);
    }
    while (e->aggs) {
        agg *a = e->aggs;
        e->aggs = a->next;
        agg_free(a);
    }
}

static void h_free(st_ep *ep)
{
    http_ep *e = (http_ep *)ep;
    st_dburl_free(&e->url);
    free(e->userpwd);
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
    .put_local = h_put_local,
    .changes = h_changes,
    .revs_diff = h_revs_diff,
    .bulk_get = h_bulk_get,
    .bulk_docs = h_bulk_docs,
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
    if (!e->o.timeout_ms)
        e->o.timeout_ms = 30000;
    if (!e->o.retry_base_ms)
        e->o.retry_base_ms = 250;
    if (!e->o.retry_max_ms)
        e->o.retry_max_ms = 30000;
    bool oom = false;
    if (e->url.user) {
        char *u = st_dburl_decode(e->url.user);
        char *p = st_dburl_decode(e->url.password ? e->url.password : "");
        size_t n = (u ? strlen(u) : 0) + (p ? strlen(p) : 0) + 2;
        e->userpwd = u && p ? malloc(n) : NULL;
        if (e->userpwd)
            snprintf(e->userpwd, n, "%s:%s", u, p);
        else
            oom = true;
        free(u);
        free(p);
        oom = oom || !(e->base.user = strdup(e->url.user));
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
    if (oom || !e->base.path || !e->base.host || !e->base.display) {
        h_free(&e->base);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    *out = &e->base;
    return ST_OK;
}
