/* http_req.c — one HTTP request of the HTTP endpoint, on the loop's curl
 * multi handle (see endpoint_http_int.h).
 *
 * Retries live here, below the replication logic: a request that fails in a
 * way that another attempt may fix — no connection, a cut or stalled
 * transfer, 408/429/5xx, or a 2xx body that is not what was asked for
 * (garbage from a broken proxy) — is sent again after st_backoff_ms.
 * Everything the replicator sends is idempotent: reads, _revs_diff,
 * new_edits=false writes (a merge of known revisions), and _local
 * checkpoints written without _rev.  Other 4xx answers are final and reach
 * the caller with CouchDB's error and reason.
 *
 * Stalls are caught with curl's low-speed limit (less than 1 byte/s for
 * timeout_ms) rather than a total time limit, so a large transfer that
 * keeps moving is never cut.
 *
 * TLS: curl verifies the peer's certificate and host name unless the
 * endpoint is insecure, against ca_file when one is given.  A certificate
 * that does not verify is final, not transient: another attempt meets the
 * same certificate, and retrying it forever would hide the mistake.
 * A 401 on a request that carried a session cookie goes to http_auth.c
 * first (a new login, once).
 */
#include "endpoint_http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "backoff.h"

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
    if (q->is_login && q->body.data) /* the password */
        OPENSSL_cleanse(q->body.data, q->body.cap);
    if (q->ep->login == q)
        q->ep->login = NULL;
    st_buf_free(&q->body);
    st_buf_free(&q->resp);
    free(q->content_type);
    free(q->note);
    free(q->url);
    free(q);
}

/* Decide once per attempt whether the body goes to the sink. */
static void ask_sink(hreq *q)
{
    q->sink_asked = true;
    if (!q->sink.accept)
        return;
    long http = 0;
    char *ctype = NULL;
    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(q->easy, CURLINFO_CONTENT_TYPE, &ctype);
    q->streaming = http >= 200 && http < 300 && q->sink.accept(q->sink.ctx, http, ctype);
}

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    hreq *q = ctx;
    if (!q->sink_asked)
        ask_sink(q);
    if (q->streaming)
        return q->sink.data(q->sink.ctx, p, size * n) ? size * n : 0;
    return st_buf_add(&q->resp, p, size * n) == ST_OK ? size * n : 0;
}

static void on_xfer_done(void *ctx, CURLcode rc);

static st_status add_header(struct curl_slist **h, const char *name, const char *value)
{
    char line[512];
    /* "Name:" with nothing after it removes a header curl would add. */
    snprintf(line, sizeof line, "%s:%s%s", name, *value ? " " : "", value);
    struct curl_slist *t = curl_slist_append(*h, line);
    if (!t)
        return ST_E_NOMEM;
    *h = t;
    return ST_OK;
}

static st_status hreq_start(hreq *q, st_error *err)
{
    http_ep *e = q->ep;
    st_buf_reset(&q->resp);
    q->sink_asked = q->streaming = false;
    if (q->sink.reset)
        q->sink.reset(q->sink.ctx);
    CURL *c = q->easy = curl_easy_init();
    if (!c)
        return st_fail(err, ST_E_NOMEM, "curl_easy_init failed");
    if (add_header(&q->headers, "Accept", q->accept ? q->accept : "application/json") ||
        add_header(&q->headers, "Content-Type",
                   q->content_type ? q->content_type : "application/json") ||
        add_header(&q->headers, "Expect", "") || e->auth->apply(q, c) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    long stall_s = (long)((e->o.timeout_ms + q->extra_wait_ms + 999) / 1000);
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, q->headers);
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
    q->errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, q->errbuf);
    if (e->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, e->ca_file);
    if (e->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
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
    hreq_unlink(q->ep, q);
    hreq_drop_easy(q);
    q->finish(q, r);
    st_ep_reply_clear(r);
    hreq_free(q);
}

static void complete_error(hreq *q, st_status code, int http_status, const char *reason)
{
    st_ep_reply r = {.st = code, .http_status = http_status};
    st_fail(&r.err, code, "%s", reason);
    hreq_complete(q, &r);
}

static void start_failed(void *ctx)
{
    hreq *q = ctx;
    complete_error(q, q->start_err.code, q->start_http, q->start_err.reason);
}

void st_http_fail_later(hreq *q, const st_error *err, int http_status)
{
    hreq_drop_easy(q);
    q->start_err = *err;
    q->start_http = http_status;
    st_loop_defer(q->ep->base.loop, &q->retry, start_failed, q);
}

void st_http_go(hreq *q)
{
    st_error err;
    if (!q->ep->auth->ready(q))
        return; /* parked: the login's answer sends it or fails it */
    if (hreq_start(q, &err) != ST_OK)
        st_http_fail_later(q, &err, 0);
}

static void retry_fire(void *ctx) { st_http_go(ctx); }

/* A transient failure: try again later, or give up after max_retries. */
static void transient(hreq *q, st_status code, int http_status, const char *why)
{
    http_ep *e = q->ep;
    hreq_drop_easy(q);
    q->attempt++;
    if (q->attempt > e->o.max_retries) {
        char m[ST_REASON_MAX];
        snprintf(m, sizeof m, "%s (gave up after retries)", why);
        complete_error(q, code, http_status, m);
        return;
    }
    unsigned delay = st_backoff_ms(e->o.retry_base_ms, e->o.retry_max_ms, q->attempt);
    e->troubled = true;
    if (e->base.hooks.retrying) {
        st_error er;
        st_fail(&er, code, "%s %s: %s", q->method, q->url, why);
        e->base.hooks.retrying(e->base.hooks.ctx, &e->base, &er, http_status, q->attempt, delay);
    }
    st_loop_timer_start(e->base.loop, &q->retry, delay, retry_fire, q);
}

st_status st_http_status_code(long http)
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

void st_http_error_reply(st_ep_reply *r, long http, const st_json *body)
{
    /* CouchDB's error body: keep "error: reason" for the message. */
    const char *name = body ? st_json_get_str(body, "error") : NULL;
    const char *reason = body ? st_json_get_str(body, "reason") : NULL;
    r->st = st_http_status_code(http);
    r->http_status = (int)http;
    st_fail(&r->err, r->st, "%s: %s (HTTP %ld)", name ? name : st_status_name(r->st),
            reason ? reason : "", http);
}

/* The peer's certificate (or our CA file) cannot be trusted: final. */
static bool certificate_refused(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
           rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
           rc == CURLE_SSL_CRL_BADFILE;
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
        const char *why = q->errbuf[0] ? q->errbuf : curl_easy_strerror(rc);
        if (certificate_refused(rc)) {
            char m[CURL_ERROR_SIZE + 64];
            snprintf(m, sizeof m, "TLS: %s (give ca_file, or insecure to skip the check)", why);
            complete_error(q, ST_E_NETWORK, 0, m);
            return;
        }
        transient(q, rc == CURLE_OPERATION_TIMEDOUT ? ST_E_TIMEOUT : ST_E_NETWORK, 0, why);
        return;
    }
    if (http == 401 && q->ep->auth->retry(q))
        return; /* sent again behind a new login */
    if (http >= 500 || http == 408 || http == 429 || http < 200) {
        char why[64];
        snprintf(why, sizeof why, "HTTP %ld", http);
        transient(q, ST_E_NETWORK, (int)http, why);
        return;
    }
    st_ep_reply r = {.st = ST_OK, .http_status = (int)http};
    st_error why;
    if (q->streaming && !q->sink.done(q->sink.ctx, &why)) {
        transient(q, ST_E_NETWORK, (int)http, why.reason);
        return;
    }
    if (!q->streaming) {
        st_status ps = q->resp.len ? st_json_parse(q->resp.data, q->resp.len, NULL, &r.json, &why)
                                   : ST_E_BAD_REQUEST;
        if (http < 300 && ps != ST_OK) {
            transient(q, ST_E_NETWORK, (int)http, "the answer is not JSON");
            return;
        }
    }
    if (e->troubled) {
        e->troubled = false;
        if (e->base.hooks.recovered)
            e->base.hooks.recovered(e->base.hooks.ctx, &e->base);
    }
    if (http >= 300)
        st_http_error_reply(&r, http, r.json ? st_json_doc_root(r.json) : NULL);
    hreq_complete(q, &r);
}

hreq *st_http_new(http_ep *e, const char *method, char *url, hreq_fn finish, st_ep_cb cb,
                  void *ctx)
{
    hreq *q = calloc(1, sizeof *q);
    if (!q) {
        free(url);
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
    return q;
}

void st_http_send(hreq *q, const char *body, size_t n)
{
    st_error err;
    st_error_clear(&err);
    st_status st = q->url ? ST_OK : st_fail(&err, ST_E_NOMEM, "out of memory");
    if (st == ST_OK && body && (st = st_buf_add(&q->body, body, n)) != ST_OK)
        st_fail(&err, st, "out of memory");
    if (st == ST_OK)
        st_http_go(q);
    else
        st_http_fail_later(q, &err, 0);
}

hreq *st_http_request(http_ep *e, const char *method, char *url, const char *body, size_t n,
                      hreq_fn finish, st_ep_cb cb, void *ctx)
{
    hreq *q = st_http_new(e, method, url, finish, cb, ctx);
    if (!q) {
        st_ep_reply r = {.st = ST_E_NOMEM};
        st_fail(&r.err, ST_E_NOMEM, "out of memory");
        if (cb)
            cb(ctx, &r);
        return NULL;
    }
    st_http_send(q, body, n);
    return q;
}

void st_http_cancel_all(http_ep *e)
{
    e->login = NULL; /* it is one of the requests */
    while (e->reqs) {
        hreq *q = e->reqs;
        e->reqs = q->next;
        hreq_free(q);
    }
}

char *st_http_db_path(http_ep *e, const char *suffix)
{
    size_t n = strlen(e->url.db_url) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", e->url.db_url, suffix);
    return s;
}

char *st_http_escape(const char *s) { return curl_easy_escape(NULL, s, 0); }

char *st_http_doc_path(http_ep *e, const char *id, const char *query)
{
    /* Keep the "_design/" / "_local/" prefix slash, as CouchDB expects. */
    const char *prefix = "";
    if (strncmp(id, "_design/", 8) == 0) {
        prefix = "_design/";
        id += 8;
    } else if (strncmp(id, "_local/", 7) == 0) {
        prefix = "_local/";
        id += 7;
    }
    char *esc = st_http_escape(id);
    if (!esc)
        return NULL;
    size_t n = strlen(e->url.db_url) + strlen(prefix) + strlen(esc) + strlen(query) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s%s%s", e->url.db_url, prefix, esc, query);
    curl_free(esc);
    return s;
}

void st_http_job_add(http_ep *e, http_job *j)
{
    j->next = e->jobs;
    e->jobs = j;
}

void st_http_job_remove(http_ep *e, http_job *j)
{
    for (http_job **pp = &e->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            return;
        }
    }
}
