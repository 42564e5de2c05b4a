/* cmd_sync.c — `settee sync` and `settee replicate` (placeholder while the
 * replicator lands; the full command follows). */
#include <stdio.h>

#include "cli.h"

int st_cli_sync(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "settee sync: not implemented yet\n");
    return 1;
}

int st_cli_replicate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "settee replicate: not implemented yet\n");
    return 1;
}
