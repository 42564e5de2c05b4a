/* main.c — `settee`: one binary for the server, sync and local documents.
 * A table maps each subcommand to its handler; each handler owns its flags. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "remote.h"
#ifdef SETTEE_HAVE_SERVER
#include "st_serve.h"
#endif

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
#ifdef SETTEE_HAVE_SERVER
    {"serve", st_serve_main, "run the CouchDB-compatible HTTP server"},
#endif
#ifdef SETTEE_HAVE_REPLICATOR
    {"sync", st_cli_sync, "sync two endpoints both ways (database file or URL)"},
    {"replicate", st_cli_replicate, "replicate one endpoint into another"},
    {"backup", st_cli_backup, "copy a live database (file or URL) into a new file"},
    {"restore", st_cli_restore, "put a backup back (into a stopped file or a new database)"},
#endif
    {"get", st_cli_docs, "print a document (database file or URL)"},
    {"put", st_cli_docs, "write a document (JSON argument or stdin)"},
    {"delete", st_cli_docs, "delete a document"},
    {"all-docs", st_cli_docs, "list documents"},
    {"changes", st_cli_docs, "print the changes feed"},
    {"info", st_cli_docs, "print database information"},
    {"compact", st_cli_docs, "compact a database file"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: settee <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "  %-10s %s\n\n", "version", "print the version");
    fprintf(f, "Options and arguments go in any order.  Run `settee <command> --help` for\n"
               "a command's options.\n");
}

static int run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("settee %s\n", SETTEE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "settee: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    /* Secrets out of the environment and the arguments first (remote.h). */
    cli_remote_begin(argc, argv);
    int rc = run(argc, argv);
    cli_remote_end();
    return rc;
}
