/* docs_local.c — the document commands on a database file, straight into
 * core: the quickest way to look inside a database without a server.  The
 * output has CouchDB's shapes (what the same command prints for a URL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docs.h"
#include "st_db.h"
#include "st_jw.h"

static int fail(const char *what, const st_error *e)
{
    fprintf(stderr, "settee: %s: %s: %s\n", what, st_status_name(e->code), e->reason);
    return 1;
}

/* Print s as a JSON string literal. */
static void pq(const char *s)
{
    st_buf b = ST_BUF_INIT;
    if (st_json_quote(&b, s, strlen(s)) == ST_OK)
        fputs(b.data, stdout);
    st_buf_free(&b);
}

typedef struct out_ctx {
    int n;
} out_ctx;

static int print_row(void *ctx, const st_alldocs_row *r)
{
    out_ctx *o = ctx;
    printf("%s{\"id\":", o->n++ ? ",\n" : "");
    pq(r->id);
    printf(",\"key\":");
    pq(r->key);
    printf(",\"value\":{\"rev\":\"%s\"}%s%s}", r->rev, r->doc_json ? ",\"doc\":" : "",
           r->doc_json ? r->doc_json : "");
    return 0;
}

static int print_change(void *ctx, const st_change_row *r)
{
    out_ctx *o = ctx;
    printf("%s{\"seq\":%llu,\"id\":", o->n++ ? ",\n" : "", (unsigned long long)r->seq);
    pq(r->id);
    printf(",\"changes\":[");
    for (size_t i = 0; i < r->n_revs; i++)
        printf("%s{\"rev\":\"%s\"}", i ? "," : "", r->revs[i]);
    printf("]%s%s%s}", r->deleted ? ",\"deleted\":true" : "", r->doc_json ? ",\"doc\":" : "",
           r->doc_json ? r->doc_json : "");
    return 0;
}

static int do_get(st_db *db, const cli_doc_req *r)
{
    st_get_opts g = {.rev = r->rev,
                     .revs = r->revs,
                     .conflicts = r->conflicts,
                     .atts = r->attachments ? ST_ATTS_INLINE : ST_ATTS_STUB};
    st_buf b = ST_BUF_INIT;
    st_error e;
    int rc = 0;
    if (st_db_get(db, r->id, &g, &b, &e) == ST_OK)
        printf("%s\n", b.data);
    else
        rc = fail(r->id, &e);
    st_buf_free(&b);
    return rc;
}

static int do_put(st_db *db, const cli_doc_req *r)
{
    st_write_result res;
    st_error e;
    int rc = 0;
    if (st_db_put_json(db, r->json, r->json_len, 0, &res, &e) == ST_OK) {
        printf("{\"ok\":true,\"id\":");
        pq(res.id);
        printf(",\"rev\":\"%s\"}\n", res.rev);
    } else {
        rc = fail("put", &e);
    }
    st_write_results_free(&res, 1);
    return rc;
}

static int do_delete(st_db *db, const cli_doc_req *r)
{
    st_write_req req = {.id = r->id, .rev = r->rev, .delete_doc = true};
    st_write_result res;
    st_error e;
    int rc = 0;
    if (st_db_write(db, &req, 1, 0, &res, &e) != ST_OK) {
        rc = fail("delete", &e);
    } else if (res.err.code != ST_OK) {
        rc = fail(r->id, &res.err);
    } else {
        printf("{\"ok\":true,\"id\":");
        pq(res.id);
        printf(",\"rev\":\"%s\"}\n", res.rev);
    }
    st_write_results_free(&res, 1);
    return rc;
}

static int do_all_docs(st_db *db, const cli_doc_req *r)
{
    st_alldocs_opts a;
    st_alldocs_opts_init(&a);
    a.include_docs = r->include_docs;
    a.startkey = r->startkey;
    a.endkey = r->endkey;
    if (r->has_limit)
        a.limit = r->limit;
    out_ctx oc = {0};
    st_error e;
    int rc = 0;
    printf("{\"rows\":[\n");
    if (st_db_all_docs(db, &a, NULL, print_row, &oc, &e) != ST_OK)
        rc = fail("all-docs", &e);
    printf("\n]}\n");
    return rc;
}

static int do_changes(st_db *db, const cli_doc_req *r)
{
    st_changes_opts c;
    st_changes_opts_init(&c);
    if (r->since) {
        char *end = NULL;
        c.since = strtoull(r->since, &end, 10);
        if (!r->since[0] || *end) {
            fprintf(stderr, "settee changes: a database file's sequences are numbers, not '%s'\n",
                    r->since);
            return 2;
        }
    }
    if (r->has_limit)
        c.limit = r->limit;
    c.include_docs = r->include_docs;
    out_ctx oc = {0};
    uint64_t last = 0, pending = 0;
    st_error e;
    int rc = 0;
    printf("{\"results\":[\n");
    if (st_db_changes(db, &c, print_change, &oc, &last, &pending, &e) != ST_OK)
        rc = fail("changes", &e);
    printf("\n],\n\"last_seq\":%llu,\"pending\":%llu}\n", (unsigned long long)last,
           (unsigned long long)pending);
    return rc;
}

static int do_info(st_db *db)
{
    st_db_info i;
    st_error e;
    if (st_db_info_get(db, &i, &e) != ST_OK)
        return fail("info", &e);
    printf("{\"update_seq\":%llu,\"doc_count\":%llu,\"doc_del_count\":%llu,"
           "\"purge_seq\":%llu,\"sizes\":{\"file\":%llu,\"active\":%llu,\"external\":%llu}}\n",
           (unsigned long long)i.update_seq, (unsigned long long)i.doc_count,
           (unsigned long long)i.doc_del_count, (unsigned long long)i.purge_seq,
           (unsigned long long)i.size_file, (unsigned long long)i.size_active,
           (unsigned long long)i.size_external);
    return 0;
}

static int do_compact(st_db *db)
{
    st_error e;
    if (st_db_compact(db, &e) != ST_OK)
        return fail("compact", &e);
    printf("{\"ok\":true}\n");
    return 0;
}

int cli_docs_local(const cli_doc_req *r)
{
    st_db_options o;
    st_db_options_init(&o);
    o.create = r->cmd == CLI_PUT;
    st_db *db = NULL;
    st_error e;
    if (st_db_open(r->target, "local", &o, &db, &e) != ST_OK)
        return fail(r->target, &e);
    int rc = 1;
    switch (r->cmd) {
    case CLI_GET: rc = do_get(db, r); break;
    case CLI_PUT: rc = do_put(db, r); break;
    case CLI_DELETE: rc = do_delete(db, r); break;
    case CLI_ALL_DOCS: rc = do_all_docs(db, r); break;
    case CLI_CHANGES: rc = do_changes(db, r); break;
    case CLI_INFO: rc = do_info(db); break;
    case CLI_COMPACT: rc = do_compact(db); break;
    }
    st_db_close(db);
    return rc;
}
