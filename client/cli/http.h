/* http.h — the few HTTP requests the document commands (and restore) make
 * to a CouchDB database URL, on libcurl's easy interface (one request at a
 * time, the calling thread waits).
 *
 * Why not the replicator's HTTP endpoint: st_repl.h offers replications
 * only; the endpoint behind it is the replicator's internal, asynchronous
 * table of the calls replication needs (no plain GET of one document).
 *
 * Certificates and credentials follow the command's cli_remote (remote.h),
 * by the replicator's rules: certificates are verified (against --ca-file)
 * unless --insecure; Basic credentials are --user's, else the URL's
 * user:password@ (percent-decoded); a bearer token goes as Authorization:
 * Bearer; with --session the first request logs in (POST /_session on the
 * database's server) and every request carries the AuthSession cookie.
 * Messages show cli_url_display's form of a URL, without the password; no
 * password, token or cookie is ever put in a message.
 *
 * Memory: a response owns its body (cli_http_resp_free); a client owns its
 * cookie (cli_http_client_free wipes it) and borrows the rest; strings
 * returned by the cli_url_* helpers are malloc'd (free).  Threads: one
 * request at a time per client; cli_http_init once, before any thread
 * starts.
 */
#ifndef ST_CLI_HTTP_H
#define ST_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "remote.h"
#include "st_buf.h"

typedef struct cli_http_resp {
    long status;           /* HTTP status; 0 when no answer arrived */
    st_buf body;
    char error[320];       /* status 0: why (curl's message) */
    const char *step;      /* NULL, or the step before the request that was
                            * answered: "logging in (POST /_session)" */
    bool tls_refused;      /* the server's certificate did not verify */
} cli_http_resp;

typedef struct cli_http_client {
    const cli_remote *remote;  /* TLS and credentials */
    const char *db_url;        /* the database URL: --session logs in on its server */
    unsigned timeout_s;        /* per request */
    char *cookie;              /* "AuthSession=..." once logged in */
} cli_http_client;

void cli_http_init(void);

void cli_http_client_init(cli_http_client *c, const cli_remote *remote, const char *db_url,
                          unsigned timeout_s);
void cli_http_client_free(cli_http_client *c);

/* method url, with body[0..len) as JSON when body is non-NULL.  Returns 0
 * when an answer arrived (whatever its status; a refused login is such an
 * answer, with step set), -1 otherwise (error says why).  *out is
 * initialised either way. */
int cli_http(cli_http_client *c, const char *method, const char *url, const char *body,
             size_t len, cli_http_resp *out);
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
/* Where url's password is, url[*at .. *at + *len) (after the ':' of
 * user:password@; *len may be 0); false when it has none. */
bool cli_url_password(const char *url, size_t *at, size_t *len);

#endif
