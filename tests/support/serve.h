/* serve.h — the real `settee serve` binary as a test's child process: on an
 * ephemeral 127.0.0.1 port (the port it reports on its standard output is
 * read back), with a scratch data directory and an optional --config file;
 * with HTTPS too when that config enables [ssl].  Stopped by its PID only,
 * and every wait is bounded in time.
 *
 * The binary: $SETTEE_BIN, else ST_TEST_SETTEE_BIN (the build's, given by
 * CMake to the tests that start it).  A ts_server is the caller's (a
 * static or on the stack); one thread at a time may use it.
 */
#ifndef TS_SERVE_H
#define TS_SERVE_H

#include <stdbool.h>
#include <sys/types.h>

#include "support/http.h"

#define TS_ADMIN "admin"

typedef struct ts_server {
    pid_t pid;             /* the child, or -1 */
    int out_fd;            /* its standard output (kept open while it runs) */
    int port;              /* the HTTP port */
    int tls_port;          /* the HTTPS port, or 0 */
    bool tls;              /* the config enables [ssl]: wait for that port too */
    char data_dir[4096];
    char ini[4200];        /* the --config file beside data_dir, or "" */
    char pass[64];         /* the admin's password */
    char url[160];         /* http://127.0.0.1:PORT (no credentials) */
    char base[224];        /* http://admin:PASS@127.0.0.1:PORT */
    char tls_url[160];     /* https://127.0.0.1:TLS_PORT, or "" */
    bool config_only;      /* started by ts_server_start_config */
    void (*in_child)(void); /* ts_server_start_config's hook */
} ts_server;

/* The binary, or NULL when there is none to run. */
const char *ts_settee_bin(void);

/* Start a server with admin TS_ADMIN:pass, a new data directory named
 * after tag, and ini (the text of a --config file, e.g. "[ssl]\n..."; NULL
 * for none).  False (with a message on stderr) when it cannot start. */
bool ts_server_start(ts_server *s, const char *tag, const char *pass, const char *ini);

/* Start `settee serve --config ini_path` and nothing else on its command
 * line: for tests whose config says everything (data directory, port 0,
 * admins, log file, limits); the caller owns that file and the data.
 * Every descriptor above stdio is closed in the child, so it holds only
 * its own (tests of descriptor limits count on it); then in_child, when not
 * NULL, runs there before exec (a resource limit, an environment
 * variable; it may _exit on failure).  s->pass and s->base are empty.
 * False (with a message on stderr) when it cannot start. */
bool ts_server_start_config(ts_server *s, const char *ini_path, void (*in_child)(void));

/* Stop the server (SIGTERM, SIGKILL after 10 s) and keep its data.  True
 * when it exited by itself with status 0 (a sanitizer report in the
 * server makes it exit nonzero, so callers assert this); true when it was
 * not running. */
bool ts_server_halt(ts_server *s);

/* Stop it if it runs, then start it again on the same data directory and
 * HTTP port (trying for up to 10 s while the old socket lingers), with
 * admin password pass and config ini when they are not NULL (give the
 * HTTPS port in ini to keep that too).  False if it did not stop cleanly
 * or did not start again. */
bool ts_server_restart(ts_server *s, const char *pass, const char *ini);

/* ts_server_halt, then remove the data directory and the config file. */
bool ts_server_stop(ts_server *s);

/* One blocking request (support/http.h) to s->url + path as the admin,
 * with body (NULL: none) as JSON and JSON asked for; status 0: no answer.
 * The answer's headers are not kept (headers NULL): free(body) frees it. */
ts_resp ts_server_http(const ts_server *s, const char *method, const char *path,
                       const char *body);
/* ts_server_http's status alone. */
long ts_server_http_status(const ts_server *s, const char *method, const char *path,
                           const char *body);

#endif
