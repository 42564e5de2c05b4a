/* cli.h — the `settee` command-line tool's subcommands.  Each takes the
 * argv that starts at its own name and returns the process exit status
 * (0 ok, 1 failed, 2 bad usage).  Main thread only. */
#ifndef ST_CLI_H
#define ST_CLI_H

int st_cli_docs(int argc, char **argv);      /* get put delete all-docs changes info compact */
int st_cli_sync(int argc, char **argv);      /* replicator/: both directions */
int st_cli_replicate(int argc, char **argv); /* replicator/: one direction */
int st_cli_backup(int argc, char **argv);    /* a consistent copy into a new file */
int st_cli_restore(int argc, char **argv);   /* a backup into a file or a database */

#endif
