/* cmd_docs.c — `settee get|put|delete|all-docs|changes|info|compact`: the
 * arguments, in any order, into one cli_doc_req; then the file or the URL
 * does the work (docs_local.c, docs_remote.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "docs.h"
#include "http.h"
#include "remote.h"
#include "st_buf.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage (DB is a database file or a URL http(s)://user:password@host:port/db;\n"
            "options and arguments in any order, -- ends the options):\n"
            "  settee get DB ID [--rev REV] [--revs] [--conflicts] [--attachments]\n"
            "  settee put DB [JSON]        (JSON read from stdin when omitted or '-';\n"
            "                               a file is created when missing)\n"
            "  settee delete DB ID REV\n"
            "  settee all-docs DB [--include-docs] [--limit N] [--startkey K] [--endkey K]\n"
            "  settee changes DB [--since SEQ] [--limit N] [--include-docs]\n"
            "  settee info DB\n"
            "  settee compact DB\n"
            "  --timeout N   a URL: seconds to wait for an answer (default 30)\n\n");
    cli_remote_help(f);
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

static const struct {
    const char *name;
    cli_doc_cmd cmd;
    size_t min_pos, max_pos;  /* positional arguments, DB included */
} table[] = {
    {"get", CLI_GET, 2, 2},           {"put", CLI_PUT, 1, 2},
    {"delete", CLI_DELETE, 3, 3},     {"all-docs", CLI_ALL_DOCS, 1, 1},
    {"changes", CLI_CHANGES, 1, 1},   {"info", CLI_INFO, 1, 1},
    {"compact", CLI_COMPACT, 1, 1},
};

enum { O_REV, O_REVS, O_CONFLICTS, O_ATTS, O_DOCS, O_LIMIT, O_START, O_END, O_SINCE,
       O_TIMEOUT, O_N };

int st_cli_docs(int argc, char **argv)
{
    cli_opt o[O_N + CLI_REMOTE_N_OPTS] = {
        [O_REV] = {"--rev", true, NULL},         [O_REVS] = {"--revs", false, NULL},
        [O_CONFLICTS] = {"--conflicts", false, NULL},
        [O_ATTS] = {"--attachments", false, NULL},
        [O_DOCS] = {"--include-docs", false, NULL},
        [O_LIMIT] = {"--limit", true, NULL},     [O_START] = {"--startkey", true, NULL},
        [O_END] = {"--endkey", true, NULL},      [O_SINCE] = {"--since", true, NULL},
        [O_TIMEOUT] = {"--timeout", true, NULL},
    };
    cli_remote_opts(o + O_N);
    size_t k = 0;
    while (strcmp(table[k].name, argv[0]) != 0)
        k++; /* main.c only sends the names in the table */
    cli_args a;
    int prc = cli_args_parse(argc, argv, o, O_N + CLI_REMOTE_N_OPTS, table[k].max_pos, &a);
    if (prc == 1) {
        help(stdout);
        return 0;
    }
    if (prc == 0 && a.n_pos < table[k].min_pos) {
        fprintf(stderr, "settee %s: missing arguments\n", argv[0]);
        prc = 2;
    }
    if (prc) {
        help(stderr);
        return 2;
    }
    cli_doc_req r = {.cmd = table[k].cmd, .target = a.pos[0], .timeout_s = 30};
    r.id = r.cmd == CLI_GET || r.cmd == CLI_DELETE ? a.pos[1] : NULL;
    r.rev = r.cmd == CLI_DELETE ? a.pos[2] : o[O_REV].value;
    r.revs = o[O_REVS].value != NULL;
    r.conflicts = o[O_CONFLICTS].value != NULL;
    r.attachments = o[O_ATTS].value != NULL;
    r.include_docs = o[O_DOCS].value != NULL;
    r.startkey = o[O_START].value;
    r.endkey = o[O_END].value;
    r.since = o[O_SINCE].value;
    uint64_t v = 0;
    if (o[O_LIMIT].value) {
        if (!cli_parse_u64(argv[0], "--limit", o[O_LIMIT].value, 0, UINT64_MAX, &v))
            return 2;
        r.has_limit = true;
        r.limit = v;
    }
    if (o[O_TIMEOUT].value) {
        if (!cli_parse_u64(argv[0], "--timeout", o[O_TIMEOUT].value, 1, 86400, &v))
            return 2;
        r.timeout_s = (unsigned)v;
    }
    bool json_stdin = r.cmd == CLI_PUT && (a.n_pos < 2 || strcmp(a.pos[1], "-") == 0);
    cli_remote remote;
    int rc = cli_remote_read(argv[0], o + O_N, json_stdin, &remote);
    r.remote = &remote;
    char *json = NULL;
    if (rc == 0 && r.cmd == CLI_PUT) {
        json = json_stdin ? read_all(stdin, &r.json_len) : strdup(a.pos[1]);
        if (!json) {
            fprintf(stderr, "settee put: cannot read the document\n");
            rc = 1;
        } else {
            if (!json_stdin)
                r.json_len = strlen(json);
            r.json = json;
        }
    }
    if (rc == 0)
        rc = cli_is_url(r.target) ? cli_docs_remote(&r) : cli_docs_local(&r);
    free(json);
    cli_remote_free(&remote);
    return rc;
}
