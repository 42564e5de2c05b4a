/* http_write.c — write_revs over HTTP, as CouchDB's replicator writes:
 *
 *   - revisions without attachments go in one POST _bulk_docs with
 *     new_edits:false.  A 413 (the target's max request size) splits the
 *     request in halves, each sent on its own and halved again while the
 *     answer is 413, down to one revision; one still refused is that
 *     revision's failure (too_large).
 *   - a revision with attachments goes alone: PUT /db/id?new_edits=false,
 *     and so does a design document (CouchDB's replicator does it so that
 *     a target refusing design documents to a non-admin refuses that one
 *     document, not the batch).
 *     When some attachment carries bytes the body is multipart/related:
 *     the JSON with "follows" stubs (and "encoding"/"encoded_length" for
 *     encoded ones), then one part per body with Content-Disposition,
 *     Content-Type, Content-Length and Content-Encoding, the bytes as
 *     stored, so the target keeps the source's encoding and digest.
 *
 * CouchDB answers a new_edits=false _bulk_docs with the failures only; each
 * is matched back to its revision by id (and rev).  A final error of the
 * request itself (401, a missing database, retries exhausted) fails the
 * whole call.
 */
#include "endpoint_http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc_json.h"
#include "st_jw.h"

typedef struct wjob {
    http_job job;              /* first: on the endpoint's job list */
    http_ep *ep;
    st_ep_cb cb;
    void *ctx;
    const st_rep_doc *docs;    /* the caller's, valid until the answer */
    size_t n;
    size_t *plain;             /* indices of the revisions for _bulk_docs */
    size_t n_plain;
    st_ep_written *out;        /* the answer being assembled */
    size_t cap;
    unsigned pending;          /* requests in flight (+1 while sending) */
    st_timer guard;            /* answers a call that sent nothing */
    bool failed;
    st_ep_reply fail;
} wjob;

/* One _bulk_docs request: plain[off, off + n). */
typedef struct wpart {
    wjob *j;
    size_t off, n;
} wpart;

static void wjob_free(http_job *job)
{
    wjob *j = (wjob *)job;
    st_loop_timer_stop(j->ep->base.loop, &j->guard);
    if (j->out)
        st_arena_free(j->out->arena);
    st_ep_reply_clear(&j->fail);
    free(j->plain);
    free(j);
}

static void fail_with(wjob *j, const st_ep_reply *r)
{
    if (j->failed)
        return;
    j->failed = true;
    j->fail.st = r->st;
    j->fail.err = r->err;
    j->fail.http_status = r->http_status;
}

static void fail_oom(wjob *j)
{
    st_ep_reply r = {.st = ST_E_NOMEM};
    st_fail(&r.err, ST_E_NOMEM, "out of memory");
    fail_with(j, &r);
}

static void part_done(wjob *j)
{
    if (--j->pending)
        return;
    st_http_job_remove(j->ep, &j->job);
    if (j->failed) {
        j->cb(j->ctx, &j->fail);
    } else {
        st_ep_reply r = {.st = ST_OK, .http_status = 201, .written = j->out};
        j->out = NULL;
        j->cb(j->ctx, &r);
        st_ep_reply_clear(&r);
    }
    wjob_free(&j->job);
}

static void guard_done(void *ctx) { part_done(ctx); }

/* Revision index could not be written. */
static void add_fail(wjob *j, size_t index, st_status code, const char *error,
                     const char *reason)
{
    st_ep_written *w = j->out;
    if (w->n == j->cap) {
        size_t c = j->cap ? 2 * j->cap : 8;
        st_ep_write_fail *v = st_arena_alloc(w->arena, c * sizeof *v);
        if (!v) {
            fail_oom(j);
            return;
        }
        if (w->n)
            memcpy(v, w->fails, w->n * sizeof *v);
        w->fails = v;
        j->cap = c;
    }
    st_ep_write_fail *f = &w->fails[w->n++];
    f->index = index;
    f->code = code;
    f->error = st_arena_strdup(w->arena, error ? error : "error");
    f->reason = st_arena_strdup(w->arena, reason ? reason : "");
    if (!f->error || !f->reason)
        fail_oom(j);
}

/* The status a per-document error name stands for. */
static st_status code_of(const char *error)
{
    if (!error)
        return ST_E_FORBIDDEN;
    if (strcmp(error, "unauthorized") == 0)
        return ST_E_UNAUTHORIZED;
    if (strstr(error, "too_large"))
        return ST_E_TOO_LARGE;
    if (strcmp(error, "missing_stub") == 0)
        return ST_E_MISSING_STUB;
    if (strcmp(error, "bad_request") == 0)
        return ST_E_BAD_REQUEST;
    return ST_E_FORBIDDEN;
}

/* ------------------------------------------------------------ _bulk_docs */

static void send_part(wjob *j, size_t off, size_t n);

/* The revision of the part a failure row names. */
static size_t row_index(const wjob *j, const wpart *p, const st_json *row)
{
    const char *id = st_json_get_str(row, "id");
    const char *rev = st_json_get_str(row, "rev");
    size_t found = SIZE_MAX;
    for (size_t k = 0; id && k < p->n; k++) {
        const st_rep_doc *d = &j->docs[j->plain[p->off + k]];
        if (strcmp(d->id, id) != 0)
            continue;
        char r[ST_REV_STR_MAX];
        st_rev_format(&d->path[0], r, sizeof r);
        if (!rev || strcmp(r, rev) == 0)
            return j->plain[p->off + k];
        if (found == SIZE_MAX)
            found = j->plain[p->off + k];
    }
    return found;
}

static void bulk_done(hreq *q, st_ep_reply *r)
{
    wpart *p = q->note;
    wjob *j = p->j;
    if (r->st != ST_OK && r->http_status == 413) {
        if (p->n > 1) {
            size_t half = p->n / 2;
            send_part(j, p->off, half);
            send_part(j, p->off + half, p->n - half);
        } else {
            add_fail(j, j->plain[p->off], ST_E_TOO_LARGE, "too_large",
                     "a _bulk_docs of this revision alone was answered 413");
        }
    } else if (r->st != ST_OK) {
        fail_with(j, r);
    } else {
        const st_json *rows = st_json_doc_root(r->json);
        for (size_t i = 0; rows->type == ST_JSON_ARRAY && i < rows->len; i++) {
            const st_json *row = &rows->u.items[i];
            const char *error = st_json_get_str(row, "error");
            size_t idx = error ? row_index(j, p, row) : SIZE_MAX;
            if (idx != SIZE_MAX)
                add_fail(j, idx, code_of(error), error, st_json_get_str(row, "reason"));
        }
    }
    part_done(j);
}

static void send_part(wjob *j, size_t off, size_t n)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status st = st_jw_init(&w, &b);
    if (st == ST_OK) {
        st_jw_obj_open(&w);
        st_jw_key(&w, "docs");
        st_jw_arr_open(&w);
        for (size_t k = 0; k < n; k++)
            st_dj_write(&w, &j->docs[j->plain[off + k]]);
        st_jw_arr_close(&w);
        st_jw_key(&w, "new_edits");
        st_jw_bool(&w, false);
        st_jw_obj_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    wpart *p = st == ST_OK ? malloc(sizeof *p) : NULL;
    hreq *q = p ? st_http_new(j->ep, "POST", st_http_db_path(j->ep, "/_bulk_docs"), bulk_done,
                              NULL, NULL)
                : NULL;
    if (!q) {
        free(p);
        fail_oom(j);
    } else {
        *p = (wpart){j, off, n};
        q->note = p;
        j->pending++;
        st_http_send(q, b.data, b.len);
    }
    st_buf_free(&b);
}

/* ------------------------------------------------------- multipart PUT */

/* A name goes in Content-Disposition only when it needs no quoting rules
 * (peers differ on escapes); without it the part is matched by order. */
static bool plain_name(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return false;
    return true;
}

static st_status multipart_body(const st_rep_doc *d, const char *boundary, st_buf *b)
{
    st_jw w;
    st_status st = st_buf_printf(b, "--%s\r\nContent-Type: application/json\r\n\r\n", boundary);
    if (st == ST_OK && (st = st_jw_init(&w, b)) == ST_OK) {
        st_dj_write(&w, d);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    for (size_t i = 0; st == ST_OK && i < d->n_atts; i++) {
        const st_rep_att *a = &d->atts[i];
        if (!a->data)
            continue;
        st = st_buf_printf(b, "\r\n--%s\r\n", boundary);
        if (st == ST_OK && plain_name(a->name))
            st = st_buf_printf(b, "Content-Disposition: attachment; filename=\"%s\"\r\n", a->name);
        if (st == ST_OK)
            st = st_buf_printf(b, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                               a->content_type ? a->content_type : "application/octet-stream",
                               a->len);
        if (st == ST_OK && a->encoding)
            st = st_buf_printf(b, "Content-Encoding: %s\r\n", a->encoding);
        if (st == ST_OK)
            st = st_buf_adds(b, "\r\n");
        if (st == ST_OK)
            st = st_buf_add(b, a->data, a->len);
    }
    return st == ST_OK ? st_buf_printf(b, "\r\n--%s--", boundary) : st;
}

static void put_done(hreq *q, st_ep_reply *r)
{
    wpart *p = q->note; /* off: the revision's index */
    wjob *j = p->j;
    if (r->st != ST_OK) {
        const st_json *body = r->json ? st_json_doc_root(r->json) : NULL;
        const char *error = body ? st_json_get_str(body, "error") : NULL;
        const char *reason = body ? st_json_get_str(body, "reason") : NULL;
        /* Not this revision's fault: the call fails.  A design document
         * refused for want of admin rights is that document's failure. */
        bool design = strncmp(j->docs[p->off].id, "_design/", 8) == 0;
        if ((r->http_status == 401 && !design) || r->http_status == 404 || r->http_status == 0)
            fail_with(j, r);
        else
            add_fail(j, p->off, r->http_status == 413 ? ST_E_TOO_LARGE : code_of(error),
                     error ? error : st_status_name(r->st), reason ? reason : r->err.reason);
    }
    part_done(j);
}

static st_status put_body(const st_rep_doc *d, bool mp, const char *boundary, st_buf *b)
{
    if (mp)
        return multipart_body(d, boundary, b);
    st_jw w;
    st_status st = st_jw_init(&w, b);
    if (st == ST_OK) {
        st_dj_write(&w, d);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    return st;
}

static void put_one(wjob *j, size_t idx)
{
    const st_rep_doc *d = &j->docs[idx];
    bool mp = st_dj_has_data(d);
    char boundary[33];
    st_uuid(boundary);
    st_buf b = ST_BUF_INIT;
    char *ctype = mp ? malloc(80) : NULL;
    wpart *p = malloc(sizeof *p);
    hreq *q = NULL;
    if (p && (ctype || !mp) && put_body(d, mp, boundary, &b) == ST_OK)
        q = st_http_new(j->ep, "PUT", st_http_doc_path(j->ep, d->id, "?new_edits=false"),
                        put_done, NULL, NULL);
    if (!q) {
        free(ctype);
        free(p);
        fail_oom(j);
    } else {
        if (ctype)
            snprintf(ctype, 80, "multipart/related; boundary=\"%s\"", boundary);
        *p = (wpart){j, idx, 1};
        q->note = p;
        q->content_type = ctype;
        j->pending++;
        st_http_send(q, b.data, b.len);
    }
    st_buf_free(&b);
}

/* ------------------------------------------------------------ the call */

void st_http_write_revs(st_ep *ep, const st_rep_doc *docs, size_t n, st_ep_cb cb, void *ctx)
{
    http_ep *e = (http_ep *)ep;
    wjob *j = calloc(1, sizeof *j);
    if (j) {
        j->ep = e;
        j->plain = malloc((n ? n : 1) * sizeof *j->plain);
        j->out = st_ep_answer_new(st_ep_written);
    }
    if (!j || !j->plain || !j->out) {
        if (j)
            wjob_free(&j->job);
        st_ep_reply r = {.st = ST_E_NOMEM};
        st_fail(&r.err, ST_E_NOMEM, "out of memory");
        cb(ctx, &r);
        return;
    }
    j->job.free = wjob_free;
    j->cb = cb;
    j->ctx = ctx;
    j->docs = docs;
    j->n = n;
    st_http_job_add(e, &j->job);
    j->pending = 1; /* held while sending, so nothing answers early */
    for (size_t i = 0; i < n; i++) {
        if (docs[i].n_atts || strncmp(docs[i].id, "_design/", 8) == 0)
            put_one(j, i);
        else
            j->plain[j->n_plain++] = i;
    }
    if (j->n_plain && !j->failed)
        send_part(j, 0, j->n_plain);
    /* Never answer from inside the call (see http_fetch.c). */
    if (j->pending > 1)
        j->pending--;
    else
        st_loop_defer(e->base.loop, &j->guard, guard_done, j);
}
