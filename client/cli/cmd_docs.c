/* cmd_docs.c — document commands on a local database file, straight into
 * core: the quickest way to look inside a database without a server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "st_db.h"
#include "st_jw.h"

static int fail(const char *what, const st_error *e)
{
    fprintf(stderr, "settee: %s: %s: %s\n", what, st_status_name(e->code), e->reason);
    return 1;
}

static void help(const char *cmd)
{
    printf("usage:\n"
           "  settee get FILE ID [--rev REV] [--revs] [--conflicts] [--attachments]\n"
           "  settee put FILE [JSON]        (JSON read from stdin when omitted; FILE is created)\n"
           "  settee delete FILE ID REV\n"
           "  settee all-docs FILE [--include-docs] [--limit N] [--startkey K] [--endkey K]\n"
           "  settee changes FILE [--since SEQ] [--limit N] [--include-docs]\n"
           "  settee info FILE\n"
           "  settee compact FILE\n");
    (void)cmd;
}

static char *read_all(FILE *f, size_t *n)
{
    st_buf b = ST_BUF_INIT;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (st_buf_add(&b, chunk, got) != ST_OK) {
            st_buf_free(&b);
            return NULL;
        }
    return st_buf_take(&b, n);
}

typedef struct out_ctx {
    int n;
} out_ctx;

/* Print s as a JSON string literal. */
static void pq(const char *s)
{
    st_buf b = ST_BUF_INIT;
    if (st_json_quote(&b, s, strlen(s)) == ST_OK)
        fputs(b.data, stdout);
    st_buf_free(&b);
}

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

static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static int flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int st_cli_docs(int argc, char **argv)
{
    const char *cmd = argv[0];
    if (argc < 2 || flag(argc, argv, "--help")) {
        help(cmd);
        return argc < 2 ? 2 : 0;
    }
    st_db_options o;
    st_db_options_init(&o);
    o.create = strcmp(cmd, "put") == 0;
    st_db *db = NULL;
    st_error e;
    if (st_db_open(argv[1], "local", &o, &db, &e) != ST_OK)
        return fail(argv[1], &e);
    int rc = 0;
    if (strcmp(cmd, "get") == 0 && argc >= 3) {
        st_get_opts g = {.rev = opt(argc, argv, "--rev"),
                         .revs = flag(argc, argv, "--revs"),
                         .conflicts = flag(argc, argv, "--conflicts"),
                         .atts = flag(argc, argv, "--attachments") ? ST_ATTS_INLINE : ST_ATTS_STUB};
        st_buf b = ST_BUF_INIT;
        if (st_db_get(db, argv[2], &g, &b, &e) == ST_OK)
            printf("%s\n", b.data);
        else
            rc = fail(argv[2], &e);
        st_buf_free(&b);
    } else if (strcmp(cmd, "put") == 0) {
        size_t n = 0;
        char *json = argc >= 3 ? strdup(argv[2]) : read_all(stdin, &n);
        if (json && argc >= 3)
            n = strlen(json);
        st_write_result r;
        if (!json) {
            fprintf(stderr, "settee: cannot read the document\n");
            rc = 1;
        } else if (st_db_put_json(db, json, n, 0, &r, &e) == ST_OK) {
            printf("{\"ok\":true,\"id\":");
            pq(r.id);
            printf(",\"rev\":\"%s\"}\n", r.rev);
        } else {
            rc = fail("put", &e);
        }
        st_write_results_free(&r, 1);
        free(json);
    } else if (strcmp(cmd, "delete") == 0 && argc >= 4) {
        st_write_req req = {.id = argv[2], .rev = argv[3], .delete_doc = true};
        st_write_result r;
        if (st_db_write(db, &req, 1, 0, &r, &e) != ST_OK)
            rc = fail("delete", &e);
        else if (r.err.code != ST_OK)
            rc = fail(argv[2], &r.err);
        else
            printf("{\"ok\":true,\"id\":\"%s\",\"rev\":\"%s\"}\n", r.id, r.rev);
        st_write_results_free(&r, 1);
    } else if (strcmp(cmd, "all-docs") == 0) {
        st_alldocs_opts a;
        st_alldocs_opts_init(&a);
        a.include_docs = flag(argc, argv, "--include-docs");
        a.startkey = opt(argc, argv, "--startkey");
        a.endkey = opt(argc, argv, "--endkey");
        if (opt(argc, argv, "--limit"))
            a.limit = strtoull(opt(argc, argv, "--limit"), NULL, 10);
        out_ctx oc = {0};
        printf("{\"rows\":[\n");
        if (st_db_all_docs(db, &a, NULL, print_row, &oc, &e) != ST_OK)
            rc = fail("all-docs", &e);
        printf("\n]}\n");
    } else if (strcmp(cmd, "changes") == 0) {
        st_changes_opts c;
        st_changes_opts_init(&c);
        if (opt(argc, argv, "--since"))
            c.since = strtoull(opt(argc, argv, "--since"), NULL, 10);
        if (opt(argc, argv, "--limit"))
            c.limit = strtoull(opt(argc, argv, "--limit"), NULL, 10);
        c.include_docs = flag(argc, argv, "--include-docs");
        out_ctx oc = {0};
        uint64_t last = 0, pending = 0;
        printf("{\"results\":[\n");
        if (st_db_changes(db, &c, print_change, &oc, &last, &pending, &e) != ST_OK)
            rc = fail("changes", &e);
        printf("\n],\n\"last_seq\":%llu,\"pending\":%llu}\n", (unsigned long long)last,
               (unsigned long long)pending);
    } else if (strcmp(cmd, "info") == 0) {
        st_db_info i;
        if (st_db_info_get(db, &i, &e) != ST_OK) {
            rc = fail("info", &e);
        } else {
            printf("{\"update_seq\":%llu,\"doc_count\":%llu,\"doc_del_count\":%llu,"
                   "\"purge_seq\":%llu,\"sizes\":{\"file\":%llu,\"active\":%llu,\"external\":%llu}}\n",
                   (unsigned long long)i.update_seq, (unsigned long long)i.doc_count,
                   (unsigned long long)i.doc_del_count, (unsigned long long)i.purge_seq,
                   (unsigned long long)i.size_file, (unsigned long long)i.size_active,
                   (unsigned long long)i.size_external);
        }
    } else if (strcmp(cmd, "compact") == 0) {
        if (st_db_compact(db, &e) != ST_OK)
            rc = fail("compact", &e);
        else
            printf("{\"ok\":true}\n");
    } else {
        help(cmd);
        rc = 2;
    }
    st_db_close(db);
    return rc;
}
