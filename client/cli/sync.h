/* sync.h — running one or two replications from the command line and
 * watching them: what `settee sync`, `settee replicate`, and the URL forms
 * of `settee backup` and `settee restore` share.
 *
 * Patience: a one-shot run fails fast by default -- each request waits
 * CLI_TIMEOUT_S seconds, is retried twice, and the run gives up when a peer
 * has not been reached (still starting, or offline) for CLI_TIMEOUT_S
 * seconds.  `retry` keeps the replicator's own patience (10 retries per
 * request with backoff up to 30 s; a continuous run retries forever);
 * `timeout_s` sets both the per-request wait and the give-up time.  A
 * continuous run without an explicit timeout never gives up.
 *
 * Memory: the options borrow their strings.  Threads: the main thread; the
 * replications run on threads of their own (st_repl.h).
 */
#ifndef ST_CLI_SYNC_H
#define ST_CLI_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "remote.h"

#define CLI_TIMEOUT_S 10

typedef struct cli_sync_opts {
    const char *cmd;              /* in messages: "sync", "backup", ... */
    const char *source, *target;  /* file paths or URLs */
    bool both;                    /* also target → source (sync) */
    bool continuous, create_target, json, quiet, pouch, retry;
    unsigned timeout_s;           /* 0: the default above */
    const char *selector;         /* JSON, or NULL */
    const char *filter;           /* "ddoc/name" or "_view", or NULL */
    const char *query_params;     /* JSON object for filter, or NULL */
    const char *since_json;       /* raw JSON sequence, or NULL */
    const char *const *doc_ids;
    size_t n_doc_ids;
    unsigned batch_size, concurrency; /* 0: the replicator's defaults */
    const cli_remote *remote;     /* certificates and credentials for the URLs */
} cli_sync_opts;

/* Run until every replication ended (or SIGINT/SIGTERM stopped them, or the
 * run gave up).  Returns the exit status: 0 when all ended STOPPED, 1 when
 * one failed or the run gave up (the reason on stderr), 2 when the
 * options were refused. */
int cli_sync_run(const cli_sync_opts *o);

#endif
