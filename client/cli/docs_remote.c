/* docs_remote.c — the document commands on a database URL: one HTTP request
 * each (http.h), CouchDB's answer printed as it came.  An error answer
 * ({"error","reason"}) is printed the way docs_local.c prints core's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docs.h"
#include "http.h"
#include "st_json.h"
#include "st_jw.h"

/* Print a 2xx body on stdout, or the error on stderr; the exit status. */
static int answer(const char *what, const cli_http_client *c, int transport,
                  const cli_http_resp *resp)
{
    const char *step = resp->step ? resp->step : "", *sep = resp->step ? ": " : "";
    if (transport != 0) {
        fprintf(stderr, "settee: %s: %s%snetwork_error: %s\n", what, step, sep, resp->error);
        cli_remote_hint(NULL, c->remote, resp->tls_refused, false, NULL, 0);
        return 1;
    }
    if (resp->status >= 200 && resp->status < 300) {
        fputs(resp->body.data, stdout);
        if (!resp->body.len || resp->body.data[resp->body.len - 1] != '\n')
            fputc('\n', stdout);
        return 0;
    }
    st_json_doc *doc = NULL;
    const char *err = "error", *reason = resp->body.data;
    if (st_json_parse(resp->body.data, resp->body.len, NULL, &doc, NULL) == ST_OK) {
        const st_json *e = st_json_get(st_json_doc_root(doc), "error");
        const st_json *r = st_json_get(st_json_doc_root(doc), "reason");
        if (e && e->type == ST_JSON_STRING)
            err = e->u.str;
        if (r && r->type == ST_JSON_STRING)
            reason = r->u.str;
    }
    fprintf(stderr, "settee: %s: %s%s%s: %s (HTTP %ld)\n", what, step, sep, err, reason,
            resp->status);
    st_json_doc_free(doc);
    cli_remote_hint(NULL, c->remote, false, resp->status == 401, &c->db_url, 1);
    return 1;
}

/* method url (freed here); the exit status. */
static int request(cli_http_client *c, const char *what, const char *method, char *url,
                   const char *body, size_t len)
{
    if (!url) {
        fprintf(stderr, "settee: %s: out of memory\n", what);
        return 1;
    }
    cli_http_resp resp;
    int t = cli_http(c, method, url, body, len, &resp);
    int rc = answer(what, c, t, &resp);
    cli_http_resp_free(&resp);
    free(url);
    return rc;
}

/* s as a JSON string, for startkey/endkey. */
static char *json_quoted(const char *s)
{
    st_buf b = ST_BUF_INIT;
    if (st_json_quote(&b, s, strlen(s)) != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    return st_buf_take(&b, NULL);
}

static char *with_flag(char *url, bool on, const char *name)
{
    return on ? cli_url_query(url, name, "true") : url;
}

static int do_get(cli_http_client *c, const cli_doc_req *r)
{
    char *url = cli_url_join(r->target, r->id, false);
    if (r->rev)
        url = cli_url_query(url, "rev", r->rev);
    url = with_flag(url, r->revs, "revs");
    url = with_flag(url, r->conflicts, "conflicts");
    url = with_flag(url, r->attachments, "attachments");
    return request(c, r->id, "GET", url, NULL, 0);
}

/* PUT db/<_id> when the document names its id, else POST db (an id is
 * made), as CouchDB's clients do. */
static int do_put(cli_http_client *c, const cli_doc_req *r)
{
    st_json_doc *doc = NULL;
    st_error e;
    if (st_json_parse(r->json, r->json_len, NULL, &doc, &e) != ST_OK) {
        fprintf(stderr, "settee: put: bad_request: %s\n", e.reason);
        return 1;
    }
    const st_json *id = st_json_get(st_json_doc_root(doc), "_id");
    int rc;
    if (id && id->type == ST_JSON_STRING)
        rc = request(c, "put", "PUT", cli_url_join(r->target, id->u.str, false), r->json,
                     r->json_len);
    else
        rc = request(c, "put", "POST", cli_url_join(r->target, "", true), r->json, r->json_len);
    st_json_doc_free(doc);
    return rc;
}

static int do_delete(cli_http_client *c, const cli_doc_req *r)
{
    char *url = cli_url_query(cli_url_join(r->target, r->id, false), "rev", r->rev);
    return request(c, r->id, "DELETE", url, NULL, 0);
}

static int do_all_docs(cli_http_client *c, const cli_doc_req *r)
{
    char *url = cli_url_join(r->target, "_all_docs", true);
    char num[32];
    url = with_flag(url, r->include_docs, "include_docs");
    if (r->has_limit) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)r->limit);
        url = cli_url_query(url, "limit", num);
    }
    const char *keys[2][2] = {{"startkey", r->startkey}, {"endkey", r->endkey}};
    for (int i = 0; i < 2; i++) {
        if (!keys[i][1])
            continue;
        char *q = json_quoted(keys[i][1]);
        url = q ? cli_url_query(url, keys[i][0], q) : (free(url), NULL);
        free(q);
    }
    return request(c, "all-docs", "GET", url, NULL, 0);
}

static int do_changes(cli_http_client *c, const cli_doc_req *r)
{
    char *url = cli_url_join(r->target, "_changes", true);
    char num[32];
    url = with_flag(url, r->include_docs, "include_docs");
    if (r->since)
        url = cli_url_query(url, "since", r->since);
    if (r->has_limit) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)r->limit);
        url = cli_url_query(url, "limit", num);
    }
    return request(c, "changes", "GET", url, NULL, 0);
}

int cli_docs_remote(const cli_doc_req *r)
{
    cli_http_init();
    cli_http_client c;
    cli_http_client_init(&c, r->remote, r->target, r->timeout_s);
    char *shown = cli_url_display(r->target);
    const char *what = shown ? shown : "database";
    int rc = 1;
    switch (r->cmd) {
    case CLI_GET: rc = do_get(&c, r); break;
    case CLI_PUT: rc = do_put(&c, r); break;
    case CLI_DELETE: rc = do_delete(&c, r); break;
    case CLI_ALL_DOCS: rc = do_all_docs(&c, r); break;
    case CLI_CHANGES: rc = do_changes(&c, r); break;
    case CLI_INFO:
        rc = request(&c, what, "GET", cli_url_join(r->target, "", true), NULL, 0);
        break;
    case CLI_COMPACT:
        rc = request(&c, what, "POST", cli_url_join(r->target, "_compact", true), "", 0);
        break;
    }
    free(shown);
    cli_http_client_free(&c);
    return rc;
}
