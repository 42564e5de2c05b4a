/* repl_server.h — the replicator tests' `settee serve` (support/serve.h) with
 * the admin RS_ADMIN:RS_PASS, and blocking requests to it as that admin
 * (support/http.h) for setting up and inspecting remote databases.  A
 * config with [ssl] enable makes it listen on HTTPS too (tls_port);
 * rs_restart starts it again on the same data directory and port with
 * another admin password.  Every wait is bounded in time.
 */
#ifndef ST_REPL_SERVER_H
#define ST_REPL_SERVER_H

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/serve.h"

#define RS_ADMIN TS_ADMIN
#define RS_PASS "repl-pw"

typedef ts_server rs_server;

/* Start the server; false (with a message) if it cannot be started.
 * ini, when not NULL, is the text of a --config file (e.g. a small
 * "[chttpd]\nmax_http_request_size = 32768\n"). */
static inline bool rs_start_cfg(rs_server *s, const char *tag, const char *ini)
{
    return ts_server_start(s, tag, RS_PASS, ini);
}

static inline bool rs_start(rs_server *s, const char *tag) { return rs_start_cfg(s, tag, NULL); }

/* Stop the server and keep its data (ts_server_halt). */
static inline bool rs_halt(rs_server *s) { return ts_server_halt(s); }

/* Stop it and start it again on the same data and port (ts_server_restart). */
static inline bool rs_restart(rs_server *s, const char *pass, const char *ini)
{
    return ts_server_restart(s, pass, ini);
}

/* Stop and remove the data directory (ts_server_stop).  True when the
 * server exited by itself with status 0 (callers assert this). */
static inline bool rs_stop(rs_server *s) { return ts_server_stop(s); }

typedef ts_resp rs_resp; /* status 0: no answer; free(body) */

/* One blocking request as the admin; path is appended to s->url. */
static inline rs_resp rs_http(const rs_server *s, const char *method, const char *path,
                              const char *body)
{
    return ts_server_http(s, method, path, body);
}

static inline long rs_http_status(const rs_server *s, const char *method, const char *path,
                                  const char *body)
{
    return ts_server_http_status(s, method, path, body);
}

#endif
