/* cmd_sync.c — `settee sync SOURCE TARGET` (both directions) and
 * `settee replicate SOURCE TARGET` (one direction): the options, in any
 * order, into cli_sync_opts; sync_run.c does the rest.  SOURCE and TARGET
 * are each a database file path or a URL http(s)://user:pass@host:port/db.
 * Exit status: 0 when every replication ended in STOPPED, 1 when one failed
 * or the run gave up (the reason on stderr), 2 for usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "remote.h"
#include "sync.h"

static void usage(FILE *f, const char *cmd)
{
    bool sync = strcmp(cmd, "sync") == 0;
    fprintf(f,
            "usage: settee %s [options] SOURCE TARGET\n\n"
            "%s\n"
            "SOURCE and TARGET are each a database file (path) or a database URL,\n"
            "http(s)://user:password@host:port/db.  Options go anywhere; -- ends them.\n\n"
            "  --continuous          keep following changes until interrupted (Ctrl-C)\n"
            "  --doc-ids a,b,c       only these documents\n"
            "  --selector JSON       only documents matching a Mango selector (the source\n"
            "                        must support _changes filter=_selector)\n"
            "  --filter DDOC/NAME    only documents the filter function filters.NAME of\n"
            "                        SOURCE's _design/DDOC keeps; --filter _view with\n"
            "                        --query-params '{\"view\":\"DDOC/VIEW\"}' keeps those the\n"
            "                        view's map emits for (a database file as SOURCE runs\n"
            "                        the function here, with settee-js)\n"
            "  --query-params JSON   an object: the filter function's req.query\n"
            "  --create-target       create TARGET if it does not exist\n"
            "  --since SEQ           start from this source sequence, ignoring checkpoints\n"
            "  --batch-size N        changes per batch (default 500)\n"
            "  --concurrency N       batches in flight (default 4)\n"
            "  --pouchdb-checkpoints also read/write PouchDB's checkpoint documents, so a\n"
            "                        PouchDB replication of the same two URLs resumes too\n"
            "  --timeout N           seconds to wait for a peer's answer, and to keep\n"
            "                        trying to reach it before giving up (default %d;\n"
            "                        --continuous without it never gives up)\n"
            "  --retry               be patient: retry failed requests with backoff (10\n"
            "                        times, up to 30 s apart; --continuous: forever)\n"
            "  --json                one JSON record per event on stdout\n"
            "  --quiet               no progress output\n"
            "  --help                this text\n\n",
            cmd,
            sync ? "Replicate SOURCE into TARGET and TARGET into SOURCE, at the same time,\n"
                   "so both end up with every document and revision either had.\n"
                 : "Replicate SOURCE into TARGET: every document and revision SOURCE has\n"
                   "that TARGET lacks is copied; TARGET's own changes stay where they are.\n",
            CLI_TIMEOUT_S);
    cli_remote_help(f);
    fputs("\nProgress goes to stdout: a line redrawn in place on a terminal, plain lines\n"
          "otherwise.  Exit status: 0 on success, 1 when the replication failed or gave\n"
          "up, 2 on bad usage.\n",
          f);
}

enum { O_CONT, O_CREATE, O_JSON, O_QUIET, O_POUCH, O_RETRY, O_DOC_IDS, O_SELECTOR, O_SINCE,
       O_BATCH, O_CONC, O_TIMEOUT, O_FILTER, O_QPARAMS, O_N };

/* --since as JSON: a number or a JSON string as given, a bare opaque
 * sequence quoted.  false (message printed) when it cannot be one. */
static bool since_json(const char *cmd, const char *since, char *out, size_t cap)
{
    bool as_is = since[0] == '"' || (since[0] && strspn(since, "0123456789") == strlen(since));
    if (strlen(since) + 3 > cap || (!as_is && strpbrk(since, "\"\\"))) {
        fprintf(stderr, "settee %s: --since wants a sequence, not '%s'\n", cmd, since);
        return false;
    }
    snprintf(out, cap, as_is ? "%s" : "\"%s\"", since);
    return true;
}

/* --doc-ids a,b,c split into *out_ids (one allocation, pointing into *out_buf). */
static bool split_ids(const char *list, char **out_buf, const char ***out_ids, size_t *out_n)
{
    *out_buf = strdup(list);
    *out_ids = calloc(strlen(list) + 1, sizeof **out_ids);
    *out_n = 0;
    if (!*out_buf || !*out_ids)
        return false;
    char *save = NULL;
    for (char *t = strtok_r(*out_buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        (*out_ids)[(*out_n)++] = t;
    return true;
}

static int run_cmd(int argc, char **argv, bool both)
{
    const char *cmd = argv[0];
    cli_opt o[O_N + CLI_REMOTE_N_OPTS] = {
        [O_CONT] = {"--continuous", false, NULL},  [O_CREATE] = {"--create-target", false, NULL},
        [O_JSON] = {"--json", false, NULL},        [O_QUIET] = {"--quiet", false, NULL},
        [O_POUCH] = {"--pouchdb-checkpoints", false, NULL},
        [O_RETRY] = {"--retry", false, NULL},      [O_DOC_IDS] = {"--doc-ids", true, NULL},
        [O_SELECTOR] = {"--selector", true, NULL}, [O_SINCE] = {"--since", true, NULL},
        [O_BATCH] = {"--batch-size", true, NULL},  [O_CONC] = {"--concurrency", true, NULL},
        [O_TIMEOUT] = {"--timeout", true, NULL},   [O_FILTER] = {"--filter", true, NULL},
        [O_QPARAMS] = {"--query-params", true, NULL},
    };
    cli_remote_opts(o + O_N);
    cli_args a;
    int prc = cli_args_parse(argc, argv, o, O_N + CLI_REMOTE_N_OPTS, 2, &a);
    if (prc == 1) {
        usage(stdout, cmd);
        return 0;
    }
    if (prc == 0 && a.n_pos < 2) {
        fprintf(stderr, "settee %s: SOURCE and TARGET are required (see --help)\n", cmd);
        prc = 2;
    }
    if (prc)
        return 2;
    cli_sync_opts so = {
        .cmd = cmd, .source = a.pos[0], .target = a.pos[1], .both = both,
        .continuous = o[O_CONT].value != NULL, .create_target = o[O_CREATE].value != NULL,
        .json = o[O_JSON].value != NULL, .quiet = o[O_QUIET].value != NULL,
        .pouch = o[O_POUCH].value != NULL, .retry = o[O_RETRY].value != NULL,
        .selector = o[O_SELECTOR].value,
        .filter = o[O_FILTER].value, .query_params = o[O_QPARAMS].value,
    };
    if (so.query_params && !so.filter) {
        fprintf(stderr, "settee %s: --query-params goes with --filter\n", cmd);
        return 2;
    }
    char since[1100];
    uint64_t v;
    if (o[O_SINCE].value) {
        if (!since_json(cmd, o[O_SINCE].value, since, sizeof since))
            return 2;
        so.since_json = since;
    }
    const char *nums[3][2] = {{"--batch-size", o[O_BATCH].value},
                              {"--concurrency", o[O_CONC].value},
                              {"--timeout", o[O_TIMEOUT].value}};
    unsigned *dst[3] = {&so.batch_size, &so.concurrency, &so.timeout_s};
    for (int i = 0; i < 3; i++) {
        if (!nums[i][1])
            continue;
        if (!cli_parse_u64(cmd, nums[i][0], nums[i][1], 1, i == 2 ? 86400 : 1000000, &v))
            return 2;
        *dst[i] = (unsigned)v;
    }
    char *ids_buf = NULL;
    const char **ids = NULL;
    cli_remote remote;
    int rc = cli_remote_read(cmd, o + O_N, false, &remote);
    so.remote = &remote;
    if (rc == 0 && o[O_DOC_IDS].value) {
        if (!split_ids(o[O_DOC_IDS].value, &ids_buf, &ids, &so.n_doc_ids)) {
            fprintf(stderr, "settee %s: out of memory\n", cmd);
            rc = 1;
        }
        so.doc_ids = ids;
    }
    if (rc == 0)
        rc = cli_sync_run(&so);
    free(ids_buf);
    free(ids);
    cli_remote_free(&remote);
    return rc;
}

int st_cli_sync(int argc, char **argv) { return run_cmd(argc, argv, true); }

int st_cli_replicate(int argc, char **argv) { return run_cmd(argc, argv, false); }
