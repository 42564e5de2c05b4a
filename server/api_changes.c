/* api_changes.c — GET/POST /{db}/_changes: parameter parsing only; the
 * streaming lives in feed.c.  Parameters per PROTOCOL.md §5. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "feed.h"
#include "filter.h"
#include "st_selector.h"

/* doc_ids from a JSON array into a malloc'd array of malloc'd strings. */
static bool take_doc_ids(st_req *r, const st_json *a, st_feed_params *p)
{
    if (!a || a->type != ST_JSON_ARRAY) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "`doc_ids` filter parameter is not a list of doc ids.");
        return false;
    }
    p->doc_ids = calloc(a->len ? a->len : 1, sizeof *p->doc_ids);
    if (!p->doc_ids) {
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return false;
    }
    for (size_t i = 0; i < a->len; i++) {
        if (a->u.items[i].type != ST_JSON_STRING) {
            st_resp_fail(r, ST_E_BAD_REQUEST,
                          "`doc_ids` filter parameter is not a list of doc ids.");
            return false;
        }
        p->doc_ids[i] = strdup(a->u.items[i].u.str);
        if (!p->doc_ids[i]) {
            st_resp_fail(r, ST_E_NOMEM, "out of memory");
            return false;
        }
        p->n_doc_ids = i + 1;
    }
    if (a->len == 0)
        p->n_doc_ids = 0;
    return true;
}

/* ms value: integer, or "true" meaning the default. */
static bool ms_param(st_req *r, const char *key, uint64_t def_true, uint64_t *out, bool *set)
{
    const char *v = st_req_q(r, key);
    *set = false;
    if (!v)
        return true;
    *set = true;
    if (strcmp(v, "true") == 0) {
        *out = def_true;
        return true;
    }
    if (strcmp(v, "false") == 0) {
        *set = false;
        return true;
    }
    return st_req_qu64(r, key, 0, out);
}

/* CouchDB's _changes reads its booleans as "true" or not: anything else
 * (1, yes, garbage) is false, never an error. */
static bool changes_bool(st_req *r, const char *key)
{
    const char *v = st_req_q(r, key);
    return v && strcmp(v, "true") == 0;
}

/* since: an integer, or CouchDB's "N-opaque" (quoted or not) whose integer
 * prefix is our sequence.  false when it is neither or does not fit. */
static bool parse_since(const char *since, uint64_t *out)
{
    const char *s = since[0] == '"' ? since + 1 : since;
    uint64_t v = 0;
    size_t i = 0;
    for (; isdigit((unsigned char)s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10 || v * 10 + d > INT64_MAX)
            return false; /* past what a sequence can be */
        v = v * 10 + d;
    }
    if (i == 0 || (s[i] && s[i] != '-' && s[i] != '"'))
        return false;
    *out = v;
    return true;
}

void st_api_changes(st_req *r)
{
    st_feed_params p;
    st_json_doc *body = NULL, *qids = NULL;
    bool ok = false;
    memset(&p, 0, sizeof p);
    st_changes_opts_init(&p.opts);
    const char *feed = st_req_q(r, "feed");
    if (!feed || strcmp(feed, "normal") == 0)
        p.type = ST_FEED_NORMAL;
    else if (strcmp(feed, "longpoll") == 0)
        p.type = ST_FEED_LONGPOLL;
    else if (strcmp(feed, "continuous") == 0)
        p.type = ST_FEED_CONTINUOUS;
    else if (strcmp(feed, "eventsource") == 0)
        p.type = ST_FEED_EVENTSOURCE;
    else {
        st_resp_fail(r, ST_E_BAD_REQUEST, "Supported `feed` types: normal, continuous, live, "
                                             "longpoll, eventsource");
        return;
    }
    const char *since = st_req_q(r, "since");
    const char *lei = st_req_header(r, "Last-Event-ID");
    if (!lei)
        lei = st_req_q(r, "last-event-id");
    if (p.type == ST_FEED_EVENTSOURCE && lei)
        since = lei;
    if (since && strcmp(since, "now") == 0) {
        p.since_now = true;
    } else if (since && *since) {
        /* Integers, or CouchDB-style "N-opaque" strings (JSON-quoted or
         * not): the integer prefix is our sequence. */
        if (!parse_since(since, &p.opts.since)) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "Malformed sequence supplied in 'since' parameter.");
            return;
        }
    }
    bool style_all = false;
    const char *style = st_req_q(r, "style");
    if (style && strcmp(style, "all_docs") == 0)
        style_all = true;
    else if (style && strcmp(style, "main_only") != 0) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "Invalid `style` parameter: use main_only or all_docs");
        return;
    }
    p.opts.all_docs = style_all;
    bool attachments = false, hb_set = false, to_set = false;
    uint64_t limit = 0, seq_interval = 0;
    p.opts.descending = changes_bool(r, "descending");
    p.opts.include_docs = changes_bool(r, "include_docs");
    p.opts.conflicts = changes_bool(r, "conflicts");
    attachments = changes_bool(r, "attachments");
    if (!st_req_qu64(r, "seq_interval", 0, &seq_interval) ||
        !ms_param(r, "heartbeat", 60000, &p.heartbeat_ms, &hb_set) ||
        !ms_param(r, "timeout", r->srv->cfg->changes_timeout_ms, &p.timeout_ms, &to_set))
        return;
    (void)seq_interval; /* accepted: our seqs are integers, cheap on every row */
    const char *lq = st_req_q(r, "limit");
    if (lq && lq[0] == '-' && isdigit((unsigned char)lq[1])) {
        /* CouchDB takes a negative limit as no limit. */
    } else if (lq) {
        if (!st_req_qu64(r, "limit", 0, &limit))
            return;
        p.limit_set = true;
        p.opts.limit = limit == 0 ? 1 : limit;
    }
    p.opts.atts = attachments ? ST_ATTS_INLINE : ST_ATTS_STUB;
    if (!hb_set) {
        p.heartbeat_ms = 0;
    } else if (p.heartbeat_ms == 0) {
        st_resp_fail(r, ST_E_BAD_REQUEST,
                     "The heartbeat value should be a positive integer (in milliseconds).");
        return;
    }
    if (!to_set)
        p.timeout_ms = r->srv->cfg->changes_timeout_ms;
    const char *filter = st_req_q(r, "filter");
    bool by_selector = filter && strcmp(filter, "_selector") == 0;
    bool by_ids = filter && strcmp(filter, "_doc_ids") == 0; /* filter.c has the others */
    /* settee_removed=true (settee's, beyond CouchDB): with a selector, a
     * document that stopped matching comes once more, marked removed. */
    p.removed = changes_bool(r, "settee_removed");
    if (r->method == ST_M_POST && r->body.len) {
        if (!st_req_require_json_ctype(r, false))
            return;
        if (!st_req_json(r, 0, &body))
            goto out;
        if (st_json_doc_root(body)->type != ST_JSON_OBJECT) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "Request body must be a JSON object");
            goto out;
        }
    }
    if (by_selector) {
        /* CouchDB takes the selector from a POST body only. */
        const st_json *sel = body ? st_json_get(st_json_doc_root(body), "selector") : NULL;
        st_error e;
        if (!sel) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "Selector must be specified in POST payload");
            goto out;
        }
        if (sel->type != ST_JSON_OBJECT) {
            st_resp_fail(r, ST_E_BAD_REQUEST, "Selector error: expected a JSON object");
            goto out;
        }
        if (st_selector_compile(sel, &p.selector, &e) != ST_OK) {
            if (e.code != ST_E_NOMEM)
                e.code = ST_E_BAD_REQUEST; /* CouchDB: bad_request, whatever the reason */
            e.name = NULL;
            st_resp_status(r, &e);
            goto out;
        }
        /* {} selects everything: a plain feed, shared with every other. */
        if (st_selector_matches_all(p.selector)) {
            st_selector_free(p.selector);
            p.selector = NULL;
        }
    } else if (by_ids) {
        const st_json *ids = body ? st_json_get(st_json_doc_root(body), "doc_ids") : NULL;
        if (!ids) {
            const char *q = st_req_q(r, "doc_ids");
            if (q && st_json_parse(q, strlen(q), NULL, &qids, NULL) == ST_OK)
                ids = st_json_doc_root(qids);
        }
        if (!take_doc_ids(r, ids, &p))
            goto out;
    }
    /* filter.c: design-document filters (ddoc/name, _view, _design) */
    if (filter && !by_ids && !by_selector && !st_filter_setup(r, filter, &p))
        goto out;
    st_db *db = r->dbh;
    r->dbh = NULL; /* the feed takes the reference */
    if (!p.doc_ids && by_ids) {
        /* filter=_doc_ids with an empty list matches nothing */
        p.doc_ids = calloc(1, sizeof *p.doc_ids);
    }
    st_feed_start(r, db, &p); /* consumes db, doc_ids and the selector */
    ok = true;
out:
    if (!ok) {
        for (size_t i = 0; i < p.n_doc_ids; i++)
            free(p.doc_ids[i]);
        free(p.doc_ids);
        st_selector_free(p.selector);
        if (p.filter_free)
            p.filter_free(p.opts.filter_ctx);
    }
    st_json_doc_free(body);
    st_json_doc_free(qids);
}
