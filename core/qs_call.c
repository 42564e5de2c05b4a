/* qs_call.c — conversations with one checked-out query-server process.
 *
 * Every command goes through converse(): requests are written and answers
 * read in the same poll loop, so a pipelined batch can never deadlock on
 * full socket buffers (the child blocks writing answers while we block
 * writing requests), and a deadline bounds each wait.  Any failure that
 * leaves the conversation out of step kills the process at once; the pool
 * replaces it at checkin.  Answers are checked for the shape each command
 * promises, so callers can walk them without re-validating.
 */
#include "qs_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "st_jw.h"

#define WRITE_WINDOW (64u * 1024)  /* request bytes queued ahead of the socket */
#define READ_CHUNK (64u * 1024)
#define EXIT_WAIT_MS 100           /* for a process that closed its end to exit */
#define WBUF_KEEP (1u << 20)       /* request buffer kept between calls */

/* Appends the next request line(s) to w; false once there are none. */
typedef bool (*more_fn)(void *ctx, st_buf *w, st_status *rc);
/* Takes answer i (moved into the callee, which frees it on failure). */
typedef st_status (*answer_fn)(void *ctx, size_t i, st_qs_answer *a, st_error *err);

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The process failed: kill it and say why; when it closed its end, say how
 * it ended instead (exit status or signal). */
static st_status proc_failed(st_qs_proc *p, bool exited, const char *reason, st_error *err)
{
    char why[96];

    if (exited) {
        st_qs_proc_reap(p, EXIT_WAIT_MS, why, sizeof why);
        st_qs_proc_kill(p);
        return st_fail(err, ST_E_OS_PROCESS, "%s", why);
    }
    st_qs_proc_kill(p);
    return st_fail(err, ST_E_OS_PROCESS, "%s", reason);
}

static void deliver_log(st_qs_proc *p, const char *msg, size_t n)
{
    const st_qs_options *o = st_qs_proc_options(p);

    if (o->log != NULL)
        o->log(o->log_ctx, st_qs_proc_language(p), msg, n);
}

/* Error names after which CouchDB's JavaScript servers exit. */
static bool exits_after(const st_qs_answer *a, bool fatal)
{
    return fatal || (a->error != NULL && (strcmp(a->error, "query_protocol_error") == 0 ||
                                          strcmp(a->error, "unknown_command") == 0));
}

/* Parse the complete lines buffered in p->rd; *got counts answers. */
static st_status take_lines(st_qs_proc *p, size_t *got, size_t expect, int64_t *deadline,
                            answer_fn on_answer, void *actx, st_error *err)
{
    for (;;) {
        const char *line;
        size_t n, log_len = 0;
        const char *log = NULL;
        st_qs_answer a;
        st_qs_line_kind kind;
        bool fatal;
        st_status rc;
        st_qs_read_status rs = st_qs_reader_next(&p->rd, &line, &n);

        if (rs == ST_QS_NEED_MORE)
            return ST_OK;
        if (rs == ST_QS_LINE_TOO_LONG)
            return proc_failed(p, false, "OS process wrote a line longer than max_line", err);
        if ((rc = st_qs_line_parse(p->pick, line, n, &a, &kind, &log, &log_len, &fatal, err)) != ST_OK) {
            st_qs_proc_kill(p);
            return rc;
        }
        if (kind == ST_QS_LINE_LOG) {
            deliver_log(p, log, log_len);
            st_qs_answer_free(&a);
            continue;
        }
        if (*got >= expect) {
            st_qs_answer_free(&a);
            return proc_failed(p, false, "OS process answered a request never sent", err);
        }
        if (exits_after(&a, fatal))
            p->broken = true; /* answered, and about to exit: never reuse */
        rc = on_answer(actx, (*got)++, &a, err);
        if (rc != ST_OK) {
            st_qs_proc_kill(p);
            return rc;
        }
        *deadline = now_ms() + st_qs_proc_options(p)->timeout_ms;
    }
}

/* One recv(); false with *rc set when the process is gone or failed. */
static bool read_some(st_qs_proc *p, st_status *rc, st_error *err)
{
    char *dst;
    size_t avail;
    ssize_t got;

    if ((*rc = st_qs_reader_space(&p->rd, READ_CHUNK, &dst, &avail)) != ST_OK) {
        st_qs_proc_kill(p);
        *rc = st_fail(err, ST_E_NOMEM, "out of memory reading from a query server");
        return false;
    }
    got = recv(p->fd, dst, avail, MSG_DONTWAIT);
    if (got > 0) {
        st_qs_reader_commit(&p->rd, (size_t)got);
        return true;
    }
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return true;
    *rc = proc_failed(p, true, NULL, err);
    return false;
}

/* Write what is queued; false with *rc set when the process is gone. */
static bool write_some(st_qs_proc *p, size_t *off, st_status *rc, st_error *err)
{
    ssize_t put = send(p->fd, p->wbuf.data + *off, p->wbuf.len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (put >= 0) {
        *off += (size_t)put;
        if (*off == p->wbuf.len) {
            st_buf_reset(&p->wbuf);
            *off = 0;
        }
        return true;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return true;
    *rc = proc_failed(p, true, NULL, err);
    return false;
}

/* Write the requests in p->wbuf and those `more` produces, read `expect`
 * answers and hand each to on_answer. */
static st_status converse(st_qs_proc *p, size_t expect, more_fn more, void *mctx,
                          answer_fn on_answer, void *actx, st_error *err)
{
    int64_t deadline = now_ms() + st_qs_proc_options(p)->timeout_ms;
    size_t got = 0, off = 0;
    bool more_left = more != NULL;
    st_status rc = ST_OK;

    if (p->broken) {
        st_buf_reset(&p->wbuf);
        return st_fail(err, ST_E_OS_PROCESS, "OS process is no longer usable");
    }
    while (got < expect) {
        struct pollfd pfd = {p->fd, POLLIN, 0};
        int64_t left;
        int n;

        while (more_left && p->wbuf.len - off < WRITE_WINDOW) {
            more_left = more(mctx, &p->wbuf, &rc);
            if (rc != ST_OK) {
                st_qs_proc_kill(p); /* some requests went out: out of step */
                return st_fail(err, rc, "out of memory building a request");
            }
        }
        if (off < p->wbuf.len)
            pfd.events |= POLLOUT;
        left = deadline - now_ms();
        if (left <= 0)
            return proc_failed(p, false, "OS process timed out.", err);
        n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno != EINTR)
            return proc_failed(p, false, "poll on the OS process failed", err);
        if (n <= 0)
            continue;
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && !read_some(p, &rc, err))
            return rc;
        if ((rc = take_lines(p, &got, expect, &deadline, on_answer, actx, err)) != ST_OK)
            return rc;
        if ((pfd.revents & POLLOUT) && got < expect && !write_some(p, &off, &rc, err))
            return rc;
    }
    if (off < p->wbuf.len || more_left || !st_qs_reader_empty(&p->rd))
        return proc_failed(p, false, "OS process answered before it was asked", err);
    if (p->wbuf.cap > WBUF_KEEP)
        st_buf_free(&p->wbuf); /* a huge design doc: do not keep its buffer */
    else
        st_buf_reset(&p->wbuf);
    return ST_OK;
}

/* ---- building requests ------------------------------------------------- */

/* JSON text from a caller, as one line: a raw newline can only be
 * whitespace in valid JSON, so a blank keeps the meaning. */
static st_status add_json(st_buf *w, const char *json, size_t n)
{
    size_t start = w->len;
    st_status rc;

    if (json == NULL)
        return st_buf_adds(w, "null");
    if ((rc = st_buf_add(w, json, n)) != ST_OK)
        return rc;
    if (memchr(json, '\n', n) != NULL || memchr(json, '\r', n) != NULL)
        for (size_t i = start; i < w->len; i++)
            if (w->data[i] == '\n' || w->data[i] == '\r')
                w->data[i] = ' ';
    return ST_OK;
}

static st_status add_jsonz(st_buf *w, const char *json)
{
    return add_json(w, json, json ? strlen(json) : 0);
}

static st_status add_str(st_buf *w, const char *s)
{
    return st_json_quote(w, s, strlen(s));
}

/* ---- one request, one answer ------------------------------------------- */

static st_status keep_answer(void *ctx, size_t i, st_qs_answer *a, st_error *err)
{
    (void)i;
    (void)err;
    *(st_qs_answer *)ctx = *a;
    return ST_OK;
}

/* Text of a reason for err->reason (a string as is, anything else as JSON). */
static void reason_text(const st_json *v, char *out, size_t n)
{
    st_buf b;
    st_jw w;

    if (v->type == ST_JSON_STRING) {
        snprintf(out, n, "%s", v->u.str);
        return;
    }
    st_buf_init(&b, n > 0 ? n - 1 : 0);
    snprintf(out, n, "(unprintable)");
    if (st_jw_init(&w, &b) == ST_OK) {
        st_jw_value(&w, v);
        if (st_jw_status(&w) == ST_OK && b.data != NULL)
            snprintf(out, n, "%s", b.data);
        st_jw_free(&w);
    }
    st_buf_free(&b);
}

/* An ["error", name, reason] answer as a status (the answer is kept). */
static st_status answer_status(const st_qs_answer *a, st_error *err)
{
    char reason[ST_REASON_MAX];

    if (a->error == NULL)
        return ST_OK;
    reason_text(a->reason, reason, sizeof reason);
    return st_fail(err, st_qs_error_status(a->error), "%s: %s", a->error, reason);
}

/* Send what the caller built in p->wbuf; one answer into *out. */
static st_status exchange(st_qs_proc *p, st_status built, st_qs_answer *out, st_error *err)
{
    st_status rc;

    memset(out, 0, sizeof *out);
    if (built != ST_OK) {
        st_buf_reset(&p->wbuf);
        return st_fail(err, built, "cannot build the request");
    }
    if ((rc = st_buf_addc(&p->wbuf, '\n')) != ST_OK) {
        st_buf_reset(&p->wbuf);
        return st_fail(err, rc, "cannot build the request");
    }
    if ((rc = converse(p, 1, NULL, NULL, keep_answer, out, err)) != ST_OK)
        return rc;
    return answer_status(out, err);
}

/* The answer is not what the command promises: the process is suspect. */
static st_status bad_shape(st_qs_proc *p, st_qs_answer *a, const char *cmd, st_error *err)
{
    st_qs_answer_free(a);
    st_qs_proc_kill(p);
    return st_fail(err, ST_E_OS_PROCESS, "OS process gave a malformed answer to %s", cmd);
}

/* Commands answered with plain `true`. */
static st_status exchange_true(st_qs_proc *p, st_status built, const char *cmd, st_error *err)
{
    st_qs_answer a;
    st_status rc = exchange(p, built, &a, err);

    if (rc == ST_OK && a.value->type != ST_JSON_TRUE)
        return bad_shape(p, &a, cmd, err);
    st_qs_answer_free(&a);
    return rc;
}

st_status st_qs_prompt(st_qs_proc *p, const char *line, size_t n, st_qs_answer *out,
                       st_error *err)
{
    p->nfuns = ST_QS_NFUNS_UNKNOWN; /* it may have been an add_fun */
    return exchange(p, add_json(&p->wbuf, line, n), out, err);
}

/* ---- views ------------------------------------------------------------- */

st_status st_qs_reset(st_qs_proc *p, const char *config_json, st_error *err)
{
    st_buf *w = &p->wbuf;
    st_status rc = st_buf_adds(w, "[\"reset\"");

    if (rc == ST_OK && config_json != NULL)
        rc = st_buf_addc(w, ',') == ST_OK ? add_jsonz(w, config_json) : ST_E_NOMEM;
    if (rc == ST_OK)
        rc = st_buf_addc(w, ']');
    free(p->funs_key);
    p->funs_key = NULL;
    p->nfuns = ST_QS_NFUNS_UNKNOWN;
    rc = exchange_true(p, rc, "reset", err);
    if (rc == ST_OK)
        p->nfuns = 0;
    return rc;
}

st_status st_qs_add_lib(st_qs_proc *p, const char *lib_json, size_t n, st_error *err)
{
    st_buf *w = &p->wbuf;
    st_status rc = st_buf_adds(w, "[\"add_lib\",");

    if (rc == ST_OK)
        rc = add_json(w, lib_json, n);
    if (rc == ST_OK)
        rc = st_buf_addc(w, ']');
    return exchange_true(p, rc, "add_lib", err);
}

st_status st_qs_add_fun(st_qs_proc *p, const char *src, size_t n, st_error *err)
{
    st_buf *w = &p->wbuf;
    st_status rc = st_buf_adds(w, "[\"add_fun\",");

    if (rc == ST_OK)
        rc = st_json_quote(w, src, n);
    if (rc == ST_OK)
        rc = st_buf_addc(w, ']');
    rc = exchange_true(p, rc, "add_fun", err);
    if (rc == ST_OK && p->nfuns != ST_QS_NFUNS_UNKNOWN)
        p->nfuns++;
    return rc;
}

typedef struct map_job {
    st_qs_proc *p;
    const char *const *docs;
    const size_t *lens;
    size_t n, next;
    st_qs_answer *out;
} map_job;

static bool map_more(void *ctx, st_buf *w, st_status *rc)
{
    map_job *j = ctx;
    size_t i = j->next++;

    *rc = st_buf_adds(w, "[\"map_doc\",");
    if (*rc == ST_OK)
        *rc = add_json(w, j->docs[i], j->lens[i]);
    if (*rc == ST_OK)
        *rc = st_buf_adds(w, "]\n");
    return j->next < j->n;
}

/* A map answer: one list per function, of [key, value] rows. */
static bool map_shape_ok(const st_json *v, size_t nfuns)
{
    if (v->type != ST_JSON_ARRAY || (nfuns != ST_QS_NFUNS_UNKNOWN && v->len != nfuns))
        return false;
    for (size_t f = 0; f < v->len; f++) {
        const st_json *rows = &v->u.items[f];
        if (rows->type != ST_JSON_ARRAY)
            return false;
        for (size_t r = 0; r < rows->len; r++)
            if (rows->u.items[r].type != ST_JSON_ARRAY || rows->u.items[r].len != 2)
                return false;
    }
    return true;
}

static st_status map_answer(void *ctx, size_t i, st_qs_answer *a, st_error *err)
{
    map_job *j = ctx;

    if (a->value != NULL && !map_shape_ok(a->value, j->p->nfuns)) {
        st_qs_answer_free(a);
        return st_fail(err, ST_E_OS_PROCESS, "OS process gave a malformed answer to map_doc");
    }
    j->out[i] = *a;
    return ST_OK;
}

st_status st_qs_map_docs(st_qs_proc *p, const char *const docs[], const size_t lens[], size_t n,
                         st_qs_answer out[], st_error *err)
{
    map_job job = {p, docs, lens, n, 0, out};
    st_status rc;

    if (n == 0)
        return ST_OK;
    memset(out, 0, n * sizeof *out);
    rc = converse(p, n, map_more, &job, map_answer, &job, err);
    if (rc != ST_OK)
        for (size_t i = 0; i < n; i++)
            st_qs_answer_free(&out[i]);
    return rc;
}

static st_status add_sources(st_buf *w, const char *const srcs[], size_t n)
{
    st_status rc = st_buf_addc(w, '[');

    for (size_t i = 0; i < n && rc == ST_OK; i++) {
        if (i > 0)
            rc = st_buf_addc(w, ',');
        if (rc == ST_OK)
            rc = add_str(w, srcs[i]);
    }
    return rc == ST_OK ? st_buf_addc(w, ']') : rc;
}

/* [true, [r1..rn]]: leaves out->value at the list of reductions. */
static st_status reduce_common(st_qs_proc *p, const char *cmd, const char *const srcs[],
                               size_t nsrcs, const char *json, size_t n, st_qs_answer *out,
                               st_error *err)
{
    st_buf *w = &p->wbuf;
    st_status rc = st_buf_printf(w, "[\"%s\",", cmd);
    const st_json *v;

    if (rc == ST_OK)
        rc = add_sources(w, srcs, nsrcs);
    if (rc == ST_OK)
        rc = st_buf_addc(w, ',');
    if (rc == ST_OK)
        rc = add_json(w, json, n);
    if (rc == ST_OK)
        rc = st_buf_addc(w, ']');
    if ((rc = exchange(p, rc, out, err)) != ST_OK)
        return rc;
    v = out->value;
    if (v->type != ST_JSON_ARRAY || v->len != 2 || v->u.items[0].type != ST_JSON_TRUE ||
        v->u.items[1].type != ST_JSON_ARRAY || v->u.items[1].len != nsrcs)
        return bad_shape(p, out, cmd, err);
    out->value = &v->u.items[1];
    return ST_OK;
}

st_status st_qs_reduce(st_qs_proc *p, const char *const srcs[], size_t nsrcs, const char *kvs_json,
                       size_t n, st_qs_answer *out, st_error *err)
{
    return reduce_common(p, "reduce", srcs, nsrcs, kvs_json, n, out, err);
}

st_status st_qs_rereduce(st_qs_proc *p, const char *const srcs[], size_t nsrcs,
                         const char *values_json, size_t n, st_qs_answer *out, st_error *err)
{
    return reduce_common(p, "rereduce", srcs, nsrcs, values_json, n, out, err);
}

/* ---- design documents --------------------------------------------------- */

static qs_ddoc_entry *find_ddoc(st_qs_proc *p, const char *id)
{
    for (size_t i = 0; i < p->nddocs; i++)
        if (strcmp(p->ddocs[i].id, id) == 0)
            return &p->ddocs[i];
    return NULL;
}

/* Remember that p caches id at key (after the server said true). */
static st_status remember_ddoc(st_qs_proc *p, const char *id, const char *key, st_error *err)
{
    qs_ddoc_entry *e = find_ddoc(p, id);
    char *k = strdup(key);

    if (k == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (e == NULL) {
        if (p->nddocs == p->ddocs_cap) {
            size_t cap = p->ddocs_cap ? 2 * p->ddocs_cap : 4;
            qs_ddoc_entry *na = realloc(p->ddocs, cap * sizeof *na);
            if (na == NULL) {
                free(k);
                return st_fail(err, ST_E_NOMEM, "out of memory");
            }
            p->ddocs = na;
            p->ddocs_cap = cap;
        }
        e = &p->ddocs[p->nddocs];
        if ((e->id = strdup(id)) == NULL) {
            free(k);
            return st_fail(err, ST_E_NOMEM, "out of memory");
        }
        e->key = NULL;
        p->nddocs++;
    }
    free(e->key);
    e->key = k;
    return ST_OK;
}

st_status st_qs_ddoc_prepare(st_qs_proc *p, const char *id, const char *key, const char *ddoc_json,
                             size_t n, st_error *err)
{
    qs_ddoc_entry *e = find_ddoc(p, id);
    st_buf *w = &p->wbuf;
    st_status rc;

    if (e != NULL && strcmp(e->key, key) == 0)
        return ST_OK;
    rc = st_buf_adds(w, "[\"ddoc\",\"new\",");
    if (rc == ST_OK)
        rc = add_str(w, id);
    if (rc == ST_OK)
        rc = st_buf_addc(w, ',');
    if (rc == ST_OK)
        rc = add_json(w, ddoc_json, n);
    if (rc == ST_OK)
        rc = st_buf_addc(w, ']');
    if ((rc = exchange_true(p, rc, "ddoc new", err)) != ST_OK)
        return rc;
    return remember_ddoc(p, id, key, err);
}

/* ["ddoc", id, [path0, path1?, path2?], [args...]]: start the request. */
static st_status ddoc_head(st_buf *w, const char *id, const char *path0, const char *path1,
                           const char *path2)
{
    st_status rc = st_buf_adds(w, "[\"ddoc\",");

    if (rc == ST_OK)
        rc = add_str(w, id);
    if (rc == ST_OK)
        rc = st_buf_adds(w, ",[");
    if (rc == ST_OK)
        rc = add_str(w, path0);
    if (rc == ST_OK && path1 != NULL)
        rc = st_buf_addc(w, ',') == ST_OK ? add_str(w, path1) : ST_E_NOMEM;
    if (rc == ST_OK && path2 != NULL)
        rc = st_buf_addc(w, ',') == ST_OK ? add_str(w, path2) : ST_E_NOMEM;
    if (rc == ST_OK)
        rc = st_buf_adds(w, "],[");
    return rc;
}

/* [true, [b1..bn]] into out[]. */
static st_status take_bools(st_qs_proc *p, st_qs_answer *a, const char *cmd, bool out[], size_t n,
                            st_error *err)
{
    const st_json *v = a->value, *list;

    if (v->type != ST_JSON_ARRAY || v->len != 2 || v->u.items[0].type != ST_JSON_TRUE ||
        v->u.items[1].type != ST_JSON_ARRAY)
        return bad_shape(p, a, cmd, err);
    list = &v->u.items[1];
    if (list->len != n) {
        st_qs_answer_free(a);
        return st_fail(err, ST_E_BAD_REQUEST, "%s gave %zu results for %zu documents", cmd,
                       list->len, n);
    }
    for (size_t i = 0; i < n; i++)
        out[i] = list->u.items[i].type == ST_JSON_TRUE;
    st_qs_answer_free(a);
    return ST_OK;
}

st_status st_qs_filter_docs(st_qs_proc *p, const char *ddoc_id, const char *name,
                            const char *docs_json, const char *req_json, bool out[], size_t n,
                            st_error *err)
{
    st_buf *w = &p->wbuf;
    st_qs_answer a;
    st_status rc = ddoc_head(w, ddoc_id, "filters", name, NULL);

    if (rc == ST_OK)
        rc = add_jsonz(w, docs_json);
    if (rc == ST_OK)
        rc = st_buf_addc(w, ',') == ST_OK ? add_jsonz(w, req_json ? req_json : "{}") : ST_E_NOMEM;
    if (rc == ST_OK)
        rc = st_buf_adds(w, "]]");
    if ((rc = exchange(p, rc, &a, err)) != ST_OK) {
        st_qs_answer_free(&a);
        return rc;
    }
    return take_bools(p, &a, "filters", out, n, err);
}

st_status st_qs_filter_view(st_qs_proc *p, const char *ddoc_id, const char *view,
                            const char *docs_json, bool out[], size_t n, st_error *err)
{
    st_buf *w = &p->wbuf;
    st_qs_answer a;
    st_status rc = ddoc_head(w, ddoc_id, "views", view, "map");

    if (rc == ST_OK)
        rc = add_jsonz(w, docs_json);
    if (rc == ST_OK)
        rc = st_buf_adds(w, "]]");
    if ((rc = exchange(p, rc, &a, err)) != ST_OK) {
        st_qs_answer_free(&a);
        return rc;
    }
    return take_bools(p, &a, "views", out, n, err);
}

/* A VDU answer other than 1: CouchDB's verdict for the thrown value. */
static st_status vdu_verdict(const st_json *v, st_error *err)
{
    char reason[ST_REASON_MAX];

    if (v->type == ST_JSON_OBJECT && v->len == 1) {
        const st_json_member *m = &v->u.members[0];
        reason_text(&m->value, reason, sizeof reason);
        if (strcmp(m->key, "forbidden") == 0)
            return st_fail(err, ST_E_FORBIDDEN, "%s", reason);
        if (strcmp(m->key, "unauthorized") == 0)
            return st_fail(err, ST_E_UNAUTHORIZED, "%s", reason);
        return st_fail(err, ST_E_UNKNOWN_ERROR, "%s", reason);
    }
    reason_text(v, reason, sizeof reason);
    return st_fail(err, ST_E_UNKNOWN_ERROR, "%s", reason);
}

st_status st_qs_validate(st_qs_proc *p, const char *ddoc_id, const char *new_json,
                         const char *old_json, const char *user_ctx_json, const char *sec_obj_json,
                         st_qs_answer *out, st_error *err)
{
    st_buf *w = &p->wbuf;
    st_qs_answer a;
    st_status rc = ddoc_head(w, ddoc_id, "validate_doc_update", NULL, NULL);
    const char *args[4] = {new_json, old_json, user_ctx_json ? user_ctx_json : "{}",
                           sec_obj_json ? sec_obj_json : "{}"};

    for (int i = 0; i < 4 && rc == ST_OK; i++) {
        if (i > 0)
            rc = st_buf_addc(w, ',');
        if (rc == ST_OK)
            rc = add_jsonz(w, args[i]);
    }
    if (rc == ST_OK)
        rc = st_buf_adds(w, "]]");
    rc = exchange(p, rc, &a, err);
    if (rc == ST_OK) {
        const st_json *v = a.value;
        bool pass = v->type == ST_JSON_TRUE ||
                    (v->type == ST_JSON_NUMBER && v->len == 1 && v->u.str[0] == '1');
        if (!pass)
            rc = vdu_verdict(v, err);
    }
    if (out != NULL)
        *out = a;
    else
        st_qs_answer_free(&a);
    return rc;
}

st_status st_qs_update(st_qs_proc *p, const char *ddoc_id, const char *name, const char *doc_json,
                       const char *req_json, st_qs_answer *out, st_error *err)
{
    st_buf *w = &p->wbuf;
    st_status rc = ddoc_head(w, ddoc_id, "updates", name, NULL);
    const st_json *v;

    if (rc == ST_OK)
        rc = add_jsonz(w, doc_json);
    if (rc == ST_OK)
        rc = st_buf_addc(w, ',') == ST_OK ? add_jsonz(w, req_json ? req_json : "{}") : ST_E_NOMEM;
    if (rc == ST_OK)
        rc = st_buf_adds(w, "]]");
    if ((rc = exchange(p, rc, out, err)) != ST_OK)
        return rc;
    v = out->value;
    if (v->type != ST_JSON_ARRAY || v->len != 3 || v->u.items[0].type != ST_JSON_STRING ||
        strcmp(v->u.items[0].u.str, "up") != 0 || v->u.items[2].type != ST_JSON_OBJECT)
        return bad_shape(p, out, "updates", err);
    return ST_OK;
}
