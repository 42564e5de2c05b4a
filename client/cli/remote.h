/* remote.h — how the command-line tool reaches a server: certificate checks
 * (--ca-file, --insecure) and credentials (--user with --password-file or
 * SETTEE_PASSWORD, --bearer-token-file, --session).  One options struct and
 * one copy of their rules for every command that takes a URL: the
 * replications (sync.h maps it onto st_repl_config) and the document
 * commands (http.h applies it to each libcurl request).
 *
 * Secrets never come from the command line.  A password comes from a file
 * (its first line; "-" reads standard input, with echo off on a terminal)
 * or from SETTEE_PASSWORD, which cli_remote_begin reads, wipes and removes
 * from the environment when the process starts (so neither child processes
 * nor /proc/PID/environ see it); a token comes from a file.  A password
 * written in a URL argument is blanked in the process's arguments at start
 * (cli_remote_begin again), as `settee serve --admin` does.
 * Secrets are wiped when freed and never printed.
 *
 * The rules (the replicator's, st_repl.h): --user and its password replace
 * the URL's user:password@; a bearer token excludes a user and password
 * (the URL's too); --session logs in with the user and password (the
 * option's, else the URL's) and sends the AuthSession cookie instead of
 * Basic.  They apply to every URL of a command (both sides of a sync of two
 * URLs); a database file ignores them.
 *
 * Memory: ca_file and user borrow from argv; password and bearer_token are
 * owned (cli_remote_free wipes and frees them).  Threads: the main thread.
 */
#ifndef ST_CLI_REMOTE_H
#define ST_CLI_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "args.h"

typedef struct cli_remote {
    const char *ca_file;   /* PEM CA bundle for https, or NULL: the system's */
    bool insecure;         /* skip certificate and host name checks */
    const char *user;      /* NULL: the URL's */
    char *password;        /* with user */
    char *bearer_token;    /* a JWT, or NULL */
    bool session;          /* a cookie session (POST /_session) instead of Basic */
} cli_remote;

/* Entries for a command's option table: opts[0..CLI_REMOTE_N_OPTS). */
#define CLI_REMOTE_N_OPTS 6
void cli_remote_opts(cli_opt *opts);

/* The options' lines for a command's --help. */
void cli_remote_help(FILE *f);

/* The parsed options opts[0..CLI_REMOTE_N_OPTS) (and SETTEE_PASSWORD) into
 * *out.  stdin_busy: the command reads standard input itself (put without
 * a JSON argument), so a secret cannot come from it.  Returns 0, or the
 * exit status after a message on stderr naming cmd: 2 for contradicting or
 * incomplete options, 1 for a file that cannot be read.  *out is always
 * initialised (cli_remote_free it). */
int cli_remote_read(const char *cmd, const cli_opt *opts, bool stdin_busy, cli_remote *out);
void cli_remote_free(cli_remote *r);

/* After a failure, a line on stderr ("settee CMD: ...", cmd NULL:
 * "settee: ...") naming the options that help: the server's certificate
 * did not verify (tls), or the server wants credentials and neither the
 * options nor the URLs gave any (unauthorized, urls[0..n_urls)). */
void cli_remote_hint(const char *cmd, const cli_remote *r, bool tls, bool unauthorized,
                     const char *const *urls, size_t n_urls);

/* At start, before anything else: take SETTEE_PASSWORD out of the
 * environment (kept for cli_remote_read), and blank the passwords of URL
 * arguments in argv, whose entries then point to copies.  At the end,
 * cli_remote_end wipes and frees what is left of both. */
void cli_remote_begin(int argc, char **argv);
void cli_remote_end(void);

#endif
