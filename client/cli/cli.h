/* cli.h — the `settee` command-line tool's subcommands.  Each takes the
 * argv that starts at its own name and returns the process exit status. */
#ifndef ST_CLI_H
#define ST_CLI_H

int st_cli_docs(int argc, char **argv);      /* get put delete all-docs changes info compact */
int st_cli_sync(int argc, char **argv);      /* replicator/: both directions */
int st_cli_replicate(int argc, char **argv); /* replicator/: one direction */

#endif
