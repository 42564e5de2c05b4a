/* http.h — the few HTTP requests the document commands make to a CouchDB
 * database URL, on libcurl's easy interface (one request at a time, the
 * calling thread waits).
 *
 * Why not the replicator's HTTP endpoint: st_repl.h offers replications
 * only; the endpoint behind it is the replicator's internal, asynchronous
 * table of the calls replication needs (no plain GET of one document).
 *
 * URLs may carry credentials (http://user:password@host:port/db): curl
 * sends them as Basic auth.  Messages show cli_url_display's form, without
 * the password.
 *
 * Memory: a response owns its body (cli_http_resp_free); strings returned by
 * the cli_url_* helpers are malloc'd (free).  Threads: one request at a time
 * per thread; cli_http_init once, before any thread starts.
 */
#ifndef ST_CLI_HTTP_H
#define ST_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "st_buf.h"

typedef struct cli_http_resp {
    long status;           /* HTTP status; 0 when no answer arrived */
    st_buf body;
    char error[256];       /* status 0: why (curl's message) */
} cli_http_resp;

void cli_http_init(void);

/* method url, with body[0..len) as JSON when body is non-NULL, giving up
 * after timeout_s seconds.  Returns 0 when an answer arrived (whatever its
 * status), -1 otherwise (error says why).  *out is initialised either way. */
int cli_http(const char *method, const char *url, const char *body, size_t len,
             unsigned timeout_s, cli_http_resp *out);
void cli_http_resp_free(cli_http_resp *r);

/* Whether s is an http(s) URL rather than a file path. */
bool cli_is_url(const char *s);
/* base (a database URL, trailing slashes ignored) + "/" + path, where path
 * is one document id percent-encoded ("_design/x" and "_local/x" keep their
 * slash, as CouchDB wants), or a literal tail when literal is true. */
char *cli_url_join(const char *base, const char *path, bool literal);
/* url with "&name=value" (or "?" first) appended, value percent-encoded; the
 * old string is freed.  NULL on out of memory (url freed too). */
char *cli_url_query(char *url, const char *name, const char *value);
/* url without its password ("http://user@host/db"), for messages. */
char *cli_url_display(const char *url);

#endif
