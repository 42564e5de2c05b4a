/* st_serve.h — the CouchDB-compatible HTTP server: the interface of the
 * settee_server library, used by the CLI (`settee serve`) and by tests.
 *
 * Lifecycle: st_config_new → st_config_set/st_config_load → st_server_start
 * → ... → st_server_stop → st_config_free.  A started server keeps its own
 * copy of everything it needs from the config, so the config may be freed
 * right after st_server_start returns.
 *
 * Threading: st_config_* calls on one config must not race each other.
 * st_server_start/stop may be called from any thread, but stop exactly once
 * per started server.  Requests are served on libmicrohttpd's thread pool;
 * none of the calls here are made from those threads.
 */
#ifndef ST_SERVE_H
#define ST_SERVE_H

#include <stdint.h>
#include "st_error.h"

typedef struct st_config st_config;
typedef struct st_server st_server;

/* A config holding the defaults (./data, 127.0.0.1:5984, no admin).
 * NULL on allocation failure. */
st_config *st_config_new(void);
void st_config_free(st_config *c); /* NULL ok */

/* Set one ini-style setting, e.g. ("chttpd", "port", "0") or
 * ("admins", "alice", "secret").  Names are CouchDB's where CouchDB has one
 * (see docs/operations.md).  Plaintext admin passwords are hashed with
 * PBKDF2-SHA256 here and the plaintext is not kept.  ST_E_BAD_REQUEST for
 * an unparsable value; unknown settings are accepted and ignored (CouchDB
 * ini files carry many that settee has no use for). */
st_status st_config_set(st_config *c, const char *section, const char *key, const char *value,
                        st_error *err);

/* Read an ini file ([section] lines, `key = value`, `;`/`#` comments) and
 * apply every setting with st_config_set.  ST_E_NOT_FOUND if unreadable. */
st_status st_config_load(st_config *c, const char *path, st_error *err);

/* Start serving: opens the data directory, binds, starts the threads.
 * ST_E_MISUSE when no server admin is configured (settee refuses to run as
 * an open "admin party"); with [ssl] enable = true, ST_E_BAD_REQUEST when
 * the certificate or key cannot be read or do not match (the HTTPS
 * listener starts beside the plain one, or nothing starts).  On success
 * *out is the running server. */
st_status st_server_start(const st_config *c, st_server **out, st_error *err);

/* The port actually bound (useful with port 0 = ephemeral). */
uint16_t st_server_port(const st_server *s);

/* The HTTPS port actually bound ([ssl] enable = true), else 0. */
uint16_t st_server_tls_port(const st_server *s);

/* Graceful stop: stop accepting, end waiting feeds, let in-flight requests
 * finish (bounded), close every database, free the server.  NULL ok. */
void st_server_stop(st_server *s);

/* Apply a new configuration (SIGHUP): CORS, log level, the HTTP limits,
 * require_valid_user, admins and every auth setting take effect for the
 * requests that start afterwards; the listening address, port, data
 * directory, authentication database and document/attachment size limits
 * need a restart (they are kept, with a warning).  next is copied.  On an
 * error nothing changes.  Call from one thread at a time (the main one). */
st_status st_server_reload(st_server *s, const st_config *next, st_error *err);

/* The stored hash of admin name's password (a plain one hashed at start),
 * malloc'd, or NULL when there is no such admin. */
char *st_server_admin_hash(st_server *s, const char *name);

/* Reopen the log file, if one is configured (SIGHUP). Any thread. */
void st_server_reopen_log(void);

/* `settee serve [--data DIR] [--bind ADDR] [--port N] [--config FILE]
 *  [--admin NAME:PASSWORD] [--pid-file F] [--log-level L]`; argv[0] is
 * "serve".  Runs until SIGTERM/SIGINT; returns the process exit code. */
int st_serve_main(int argc, char **argv);

#endif
