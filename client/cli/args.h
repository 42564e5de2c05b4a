/* args.h — a command's options and positional arguments, in any order.
 *
 * Options are "--name", "--name VALUE" or "--name=VALUE"; everything else is
 * positional, and "--" makes every later argument positional (for an id or
 * a path that starts with "-").  A lone "-" is positional (stdin).  An option
 * given twice keeps its last value.
 *
 * Memory: values point into argv.  Pure: any thread.
 */
#ifndef ST_CLI_ARGS_H
#define ST_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cli_opt {
    const char *name;     /* "--limit" */
    bool takes_value;     /* else a flag */
    const char *value;    /* out: the value ("" for a flag that was given); NULL: absent */
} cli_opt;

#define CLI_MAX_POS 8

typedef struct cli_args {
    const char *pos[CLI_MAX_POS];
    size_t n_pos;
} cli_args;

/* Parse argv[1..argc) (argv[0] is the command's name, used in messages)
 * against opts[0..n).  Returns 0 when parsed, 1 when --help or -h was
 * given, 2 on a usage error (printed to stderr as "settee CMD: ..."). */
int cli_args_parse(int argc, char **argv, cli_opt *opts, size_t n, size_t max_pos,
                   cli_args *out);

/* The value of option name (NULL when absent or unknown). */
const char *cli_opt_get(const cli_opt *opts, size_t n, const char *name);
/* Whether flag name was given. */
bool cli_opt_has(const cli_opt *opts, size_t n, const char *name);

/* A decimal number in [min, max] into *out; false (and a message on stderr,
 * naming cmd and what) otherwise. */
bool cli_parse_u64(const char *cmd, const char *what, const char *s, uint64_t min, uint64_t max,
                   uint64_t *out);

#endif
