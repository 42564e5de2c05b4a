/* http_fetch.c — get_revs over HTTP, as CouchDB's replicator fetches:
 *
 *   1. POST _bulk_get?revs=true&latest=true&attachments=false for the whole
 *      batch.  Revisions without attachments are taken from its answer.
 *   2. A revision with attachments, a design document, and an entry
 *      _bulk_get answered with an error are fetched again one by one:
 *      GET /db/id?revs=true&latest=true&open_revs=["rev"]&atts_since=[...]
 *      with Accept: multipart/mixed, so attachment bodies arrive as the
 *      source stores them (gzip-encoded ones keep their encoding and
 *      digest), parsed as they arrive (open_revs.h).  A peer that answers
 *      JSON instead (attachments inline) works too.
 *
 * We add attachments=true to the GET: CouchDB sends bodies in a multipart
 * open_revs answer whatever it says, but settee's server sends stubs
 * without it.  A peer without _bulk_get (any 4xx but 401/403) is
 * remembered, and every revision is then fetched the second way.  All the
 * GETs of a batch are in flight at once over the multi handle's pooled
 * connections.
 */
#include "endpoint_http_int.h"

#include <stdlib.h>
#include <string.h>

#include "doc_json.h"
#include "open_revs.h"
#include "st_jw.h"

/* One requested revision: what to ask again by open_revs if needed. */
typedef struct entry {
    const char *id;
    const char *rev;                /* NULL: every leaf */
    const char *const *atts_since;
    size_t n_atts_since;
} entry;

typedef struct orq orq;

typedef struct fetch {
    http_job job;                   /* first: on the endpoint's job list */
    http_ep *ep;
    st_ep_cb cb;
    void *ctx;
    st_ep_docs *docs;               /* the answer being assembled; owns entries */
    size_t cap;
    entry *entries;
    size_t n_entries;
    orq *orqs;                      /* every open_revs GET's sink */
    unsigned pending;               /* requests in flight (+1 while sending) */
    st_timer guard;                 /* answers a call that sent nothing */
    bool failed;
    st_ep_reply fail;               /* the first final failure */
} fetch;

/* The sink of one open_revs GET: its revisions are kept apart until the
 * answer is whole, so a retried transfer never adds a revision twice. */
struct orq {
    orq *next;                      /* in f->orqs */
    fetch *f;
    st_orp *p;
    st_rep_doc *docs;
    size_t n, cap;
    bool oom;
};

static void orq_clear(orq *o)
{
    st_orp_free(o->p);
    o->p = NULL;
    free(o->docs);
    o->docs = NULL;
    o->n = o->cap = 0;
}

static void fetch_free(http_job *j)
{
    fetch *f = (fetch *)j;
    st_loop_timer_stop(f->ep->base.loop, &f->guard);
    while (f->orqs) {
        orq *o = f->orqs;
        f->orqs = o->next;
        orq_clear(o);
        free(o);
    }
    if (f->docs)
        st_arena_free(f->docs->arena);
    st_ep_reply_clear(&f->fail);
    free(f);
}

static bool add_doc(st_ep_docs *d, size_t *cap, const st_rep_doc *doc)
{
    if (d->n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        st_rep_doc *v = st_arena_alloc(d->arena, c * sizeof *v);
        if (!v)
            return false;
        if (d->n)
            memcpy(v, d->docs, d->n * sizeof *v);
        d->docs = v;
        *cap = c;
    }
    d->docs[d->n++] = *doc;
    return true;
}

static void fail_with(fetch *f, const st_ep_reply *r)
{
    if (f->failed)
        return;
    f->failed = true;
    f->fail.st = r->st;
    f->fail.err = r->err;
    f->fail.http_status = r->http_status;
}

static void fail_oom(fetch *f)
{
    st_ep_reply r = {.st = ST_E_NOMEM};
    st_fail(&r.err, ST_E_NOMEM, "out of memory");
    fail_with(f, &r);
}

/* A request of f ended: answer when it was the last one. */
static void part_done(fetch *f)
{
    if (--f->pending)
        return;
    st_http_job_remove(f->ep, &f->job);
    if (f->failed) {
        f->cb(f->ctx, &f->fail);
    } else {
        st_ep_reply r = {.st = ST_OK, .http_status = 200, .docs = f->docs};
        f->docs = NULL;
        f->cb(f->ctx, &r);
        st_ep_reply_clear(&r);
    }
    fetch_free(&f->job);
}

/* ------------------------------------------------------ open_revs GETs */

static int orq_doc(void *ctx, const st_rep_doc *doc)
{
    orq *o = ctx;
    if (o->n == o->cap) {
        size_t c = o->cap ? 2 * o->cap : 4;
        st_rep_doc *v = realloc(o->docs, c * sizeof *v);
        if (!v)
            return o->oom = true;
        o->docs = v;
        o->cap = c;
    }
    o->docs[o->n++] = *doc;
    return 0;
}

static bool orq_accept(void *ctx, long status, const char *ctype)
{
    (void)status;
    orq *o = ctx;
    st_orp_free(o->p);
    o->p = NULL;
    o->n = 0;
    return st_orp_new(ctype ? ctype : "application/json", o->f->docs->arena, orq_doc, o, &o->p,
                      NULL) == ST_OK;
}

static bool orq_data(void *ctx, const char *p, size_t n)
{
    orq *o = ctx;
    return st_orp_feed(o->p, p, n, NULL) == ST_OK;
}

static bool orq_done(void *ctx, st_error *why)
{
    orq *o = ctx;
    return st_orp_finish(o->p, why) == ST_OK;
}

static void orq_reset(void *ctx)
{
    orq *o = ctx;
    st_orp_free(o->p);
    o->p = NULL;
    o->n = 0;
}

static void open_revs_done(hreq *q, st_ep_reply *r)
{
    orq *o = q->owner;
    fetch *f = o->f;
    if (r->st == ST_OK && o->oom)
        fail_oom(f);
    else if (r->st == ST_OK)
        for (size_t i = 0; i < o->n && !f->failed; i++)
            if (!add_doc(f->docs, &f->cap, &o->docs[i]))
                fail_oom(f);
    /* 404: the document is gone (purged, or its database re-created):
     * nothing to copy, as for a missing revision. */
    if (r->st != ST_OK && r->st != ST_E_NOT_FOUND)
        fail_with(f, r);
    orq_clear(o);
    part_done(f);
}

/* A JSON value of strings, escaped for the query string (curl_free it). */
static char *json_list_param(const char *const *v, size_t n)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    char *esc = NULL;
    if (st_jw_init(&w, &b) == ST_OK) {
        st_jw_arr_open(&w);
        for (size_t i = 0; i < n; i++)
            st_jw_str(&w, v[i]);
        st_jw_arr_close(&w);
        if (st_jw_status(&w) == ST_OK)
            esc = st_http_escape(b.data);
        st_jw_free(&w);
    }
    st_buf_free(&b);
    return esc;
}

static char *open_revs_url(http_ep *e, const entry *en)
{
    char *revs = en->rev ? json_list_param(&en->rev, 1) : NULL;
    char *since = en->n_atts_since ? json_list_param(en->atts_since, en->n_atts_since) : NULL;
    char *url = NULL;
    st_buf qs = ST_BUF_INIT;
    if ((!en->rev || revs) && (!en->n_atts_since || since) &&
        st_buf_printf(&qs, "?revs=true&latest=true&attachments=true&open_revs=%s%s%s",
                      revs ? revs : "all", since ? "&atts_since=" : "", since ? since : "") ==
            ST_OK)
        url = st_http_doc_path(e, en->id, qs.data);
    curl_free(revs);
    curl_free(since);
    st_buf_free(&qs);
    return url;
}

static void get_one(fetch *f, const entry *en)
{
    orq *o = calloc(1, sizeof *o);
    if (!o) {
        fail_oom(f);
        return;
    }
    o->f = f;
    o->next = f->orqs;
    f->orqs = o;
    hreq *q = st_http_new(f->ep, "GET", open_revs_url(f->ep, en), open_revs_done, NULL, NULL);
    if (!q) {
        fail_oom(f);
        return;
    }
    q->owner = o;
    q->accept = "multipart/mixed";
    q->sink = (hreq_sink){orq_accept, orq_data, orq_done, orq_reset, o};
    f->pending++;
    st_http_send(q, NULL, 0);
}

/* ------------------------------------------------------------- _bulk_get */

static bool needs_open_revs(const st_json *doc)
{
    const char *id = st_json_get_str(doc, "_id");
    const st_json *atts = st_json_get(doc, "_attachments");
    return !id || strncmp(id, "_design/", 8) == 0 ||
           (atts && atts->type == ST_JSON_OBJECT && atts->len > 0);
}

/* The entry a _bulk_get result answers: results come in request order. */
static const entry *entry_of(fetch *f, size_t i, const char *id)
{
    if (i < f->n_entries && id && strcmp(f->entries[i].id, id) == 0)
        return &f->entries[i];
    for (size_t k = 0; id && k < f->n_entries; k++)
        if (strcmp(f->entries[k].id, id) == 0)
            return &f->entries[k];
    return NULL;
}

static void take_result(fetch *f, size_t i, const st_json *res)
{
    const entry *en = entry_of(f, i, st_json_get_str(res, "id"));
    const st_json *docs = st_json_get(res, "docs");
    for (size_t k = 0; docs && docs->type == ST_JSON_ARRAY && k < docs->len && !f->failed; k++) {
        const st_json *ok = st_json_get(&docs->u.items[k], "ok");
        const st_json *er = st_json_get(&docs->u.items[k], "error");
        if (ok && !needs_open_revs(ok)) {
            st_rep_doc d;
            st_ep_reply r = {.st = ST_OK};
            if ((r.st = st_dj_parse(ok, NULL, 0, f->docs->arena, &d, &r.err)) != ST_OK)
                fail_with(f, &r);
            else if (!add_doc(f->docs, &f->cap, &d))
                fail_oom(f);
        } else if (en && (ok || er)) {
            /* The revision itself (latest=true gave a leaf) or, for an
             * error, the one asked for: fetched on its own. */
            entry one = *en;
            one.rev = st_json_get_str(ok ? ok : er, ok ? "_rev" : "rev");
            if (one.rev || !ok)
                get_one(f, &one);
        }
    }
}

static void fetch_all_by_open_revs(fetch *f)
{
    for (size_t i = 0; i < f->n_entries && !f->failed; i++)
        get_one(f, &f->entries[i]);
}

static void bulk_get_done(hreq *q, st_ep_reply *r)
{
    fetch *f = q->owner;
    http_ep *e = f->ep;
    bool lacks = r->st != ST_OK && r->http_status >= 400 && r->http_status < 500 &&
                 r->http_status != 401 && r->http_status != 403;
    if (lacks) {
        /* The peer has no _bulk_get (CouchDB 1.x, some proxies): remember
         * it, and fetch this batch revision by revision. */
        e->no_bulk_get = true;
        fetch_all_by_open_revs(f);
    } else if (r->st != ST_OK) {
        fail_with(f, r);
    } else {
        const st_json *results = st_json_get(st_json_doc_root(r->json), "results");
        st_json_doc *d = r->json;
        r->json = NULL;
        if (!st_arena_own(f->docs->arena, d, (void (*)(void *))st_json_doc_free))
            fail_oom(f);
        for (size_t i = 0; results && results->type == ST_JSON_ARRAY && i < results->len; i++)
            take_result(f, i, &results->u.items[i]);
        if (!results || results->type != ST_JSON_ARRAY) {
            st_ep_reply bad = {.st = ST_E_BAD_REQUEST};
            st_fail(&bad.err, ST_E_BAD_REQUEST, "source answered _bulk_get without \"results\"");
            fail_with(f, &bad);
        }
    }
    part_done(f);
}

static st_status bulk_get_body(const fetch *f, st_buf *b)
{
    st_jw w;
    st_status st = st_jw_init(&w, b);
    if (st != ST_OK)
        return st;
    st_jw_obj_open(&w);
    st_jw_key(&w, "docs");
    st_jw_arr_open(&w);
    for (size_t i = 0; i < f->n_entries; i++) {
        const entry *en = &f->entries[i];
        st_jw_obj_open(&w);
        st_jw_key(&w, "id");
        st_jw_str(&w, en->id);
        if (en->rev) {
            st_jw_key(&w, "rev");
            st_jw_str(&w, en->rev);
        }
        if (en->n_atts_since) {
            st_jw_key(&w, "atts_since");
            st_jw_arr_open(&w);
            for (size_t k = 0; k < en->n_atts_since; k++)
                st_jw_str(&w, en->atts_since[k]);
            st_jw_arr_close(&w);
        }
        st_jw_obj_close(&w);
    }
    st_jw_arr_close(&w);
    st_jw_obj_close(&w);
    st = st_jw_status(&w);
    st_jw_free(&w);
    return st;
}

/* One entry per (id, rev), copied into the answer's arena. */
static bool copy_wants(fetch *f, const st_rep_want *wants, size_t n)
{
    st_arena *a = f->docs->arena;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += wants[i].revs ? wants[i].n_revs : 1;
    if (!(f->entries = st_arena_alloc(a, (total + 1) * sizeof *f->entries)))
        return false;
    for (size_t i = 0; i < n; i++) {
        const st_rep_want *w = &wants[i];
        const char **since = w->n_atts_since ? st_arena_alloc(a, w->n_atts_since * sizeof *since)
                                             : NULL;
        const char *id = st_arena_strdup(a, w->id);
        if (!id || (w->n_atts_since && !since))
            return false;
        for (size_t k = 0; k < w->n_atts_since; k++)
            if (!(since[k] = st_arena_strdup(a, w->atts_since[k])))
                return false;
        for (size_t k = 0; k < (w->revs ? w->n_revs : 1); k++) {
            entry *en = &f->entries[f->n_entries++];
            *en = (entry){id, NULL, since, w->n_atts_since};
            if (w->revs && !(en->rev = st_arena_strdup(a, w->revs[k])))
                return false;
        }
    }
    return true;
}

static void guard_done(void *ctx) { part_done(ctx); }

void st_http_get_revs(st_ep *ep, const st_rep_want *wants, size_t n, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    fetch *f = calloc(1, sizeof *f);
    if (f)
        f->ep = e;
    if (f && (!(f->docs = st_ep_answer_new(st_ep_docs)) || !copy_wants(f, wants, n))) {
        fetch_free(&f->job);
        f = NULL;
    }
    if (!f) {
        st_ep_reply r = {.st = ST_E_NOMEM};
        st_fail(&r.err, ST_E_NOMEM, "out of memory");
        cb(ctx, &r);
        return;
    }
    f->job.free = fetch_free;
    f->ep = e;
    f->cb = cb;
    f->ctx = ctx;
    st_http_job_add(e, &f->job);
    /* Held until every request is out, so none can answer the call early. */
    f->pending = 1;
    if (e->no_bulk_get) {
        fetch_all_by_open_revs(f);
    } else {
        st_buf b = ST_BUF_INIT;
        char *url = bulk_get_body(f, &b) == ST_OK
                        ? st_http_db_path(e, "/_bulk_get?revs=true&latest=true&attachments=false")
                        : NULL;
        hreq *q = st_http_new(e, "POST", url, bulk_get_done, NULL, NULL);
        if (q) {
            q->owner = f;
            f->pending++;
            st_http_send(q, b.data, b.len);
        } else {
            fail_oom(f);
        }
        st_buf_free(&b);
    }
    /* Never answer from inside the call: a request sent answers later;
     * when none could be, the answer is deferred to the loop. */
    if (f->pending > 1)
        f->pending--;
    else
        st_loop_defer(e->base.loop, &f->guard, guard_done, f);
}
