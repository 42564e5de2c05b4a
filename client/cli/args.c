/* args.c — see args.h.  Why our own parser and not getopt_long: glibc's
 * permutes argv only as a GNU extension, and its messages do not name the
 * subcommand; this one is short and behaves the same everywhere. */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static cli_opt *find(cli_opt *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

int cli_args_parse(int argc, char **argv, cli_opt *opts, size_t n, size_t max_pos,
                   cli_args *out)
{
    const char *cmd = argv[0];
    memset(out, 0, sizeof *out);
    if (max_pos > CLI_MAX_POS)
        max_pos = CLI_MAX_POS;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool is_opt = !only_pos && a[0] == '-' && a[1];
        if (is_opt && strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (is_opt && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0))
            return 1;
        if (!is_opt) {
            if (out->n_pos == max_pos) {
                char *shown = cli_url_display(a); /* a URL: without its password */
                fprintf(stderr, "settee %s: too many arguments ('%s'; see --help)\n", cmd,
                        shown ? shown : "?");
                free(shown);
                return 2;
            }
            out->pos[out->n_pos++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        cli_opt *o = find(opts, n, a, len);
        if (!o) {
            fprintf(stderr, "settee %s: unknown option '%.*s' (see --help)\n", cmd, (int)len, a);
            return 2;
        }
        if (!o->takes_value) {
            if (eq) {
                fprintf(stderr, "settee %s: %s takes no value\n", cmd, o->name);
                return 2;
            }
            o->value = "";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "settee %s: %s needs a value\n", cmd, o->name);
            return 2;
        }
    }
    return 0;
}

const char *cli_opt_get(const cli_opt *opts, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(opts[i].name, name) == 0)
            return opts[i].value;
    return NULL;
}

bool cli_opt_has(const cli_opt *opts, size_t n, const char *name)
{
    return cli_opt_get(opts, n, name) != NULL;
}

bool cli_parse_u64(const char *cmd, const char *what, const char *s, uint64_t min, uint64_t max,
                   uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (!end || *end || errno || v < min || v > max) {
        fprintf(stderr, "settee %s: %s wants a number from %llu to %llu, not '%s'\n", cmd, what,
                (unsigned long long)min, (unsigned long long)max, s);
        return false;
    }
    *out = v;
    return true;
}
