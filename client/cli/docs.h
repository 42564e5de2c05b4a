/* docs.h — one document command (get, put, delete, all-docs, changes, info,
 * compact), parsed, for either place a database lives: a local file
 * (docs_local.c, straight into core) or a database URL (docs_remote.c, over
 * HTTP).  Both print CouchDB's JSON on stdout and errors on stderr as
 * "settee: WHAT: error_name: reason", and return the exit status (0 ok,
 * 1 failed).
 *
 * Memory: the request borrows everything (argv, the JSON read from stdin).
 * Threads: the main thread.
 */
#ifndef ST_CLI_DOCS_H
#define ST_CLI_DOCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remote.h"

typedef enum cli_doc_cmd {
    CLI_GET, CLI_PUT, CLI_DELETE, CLI_ALL_DOCS, CLI_CHANGES, CLI_INFO, CLI_COMPACT
} cli_doc_cmd;

typedef struct cli_doc_req {
    cli_doc_cmd cmd;
    const char *target;            /* database file or URL */
    const char *id, *rev;          /* get (rev optional), delete */
    const char *json;              /* put */
    size_t json_len;
    bool revs, conflicts, attachments; /* get */
    bool include_docs;             /* all-docs, changes */
    bool has_limit;
    uint64_t limit;                /* all-docs, changes */
    const char *startkey, *endkey; /* all-docs */
    const char *since;             /* changes: a sequence as given, or NULL */
    unsigned timeout_s;            /* URL: seconds per request */
    const cli_remote *remote;      /* URL: certificates and credentials */
} cli_doc_req;

int cli_docs_local(const cli_doc_req *r);
int cli_docs_remote(const cli_doc_req *r);

#endif
