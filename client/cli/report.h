/* report.h — what a running `settee sync` tells its user, in one of four
 * forms: a --json record per event on stdout (with timestamps, and a final
 * record); a progress line redrawn in place when stdout is a terminal;
 * plain lines when it is not (a log file, a pipe); or nothing (--quiet).
 * Errors always go to stderr.
 *
 * Events come from two places: the replicator's status hook (every state
 * change and checkpoint, queued by sync_run.c and handed over here in
 * order) and polling (retries, which the hook does not report one by one,
 * and progress).
 *
 * Memory: a watch owns its display strings (cli_watch_free).  Threads: the
 * main thread only.
 */
#ifndef ST_CLI_REPORT_H
#define ST_CLI_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "progress.h"
#include "st_repl.h"

/* One replication being watched. */
typedef struct cli_watch {
    const char *name;          /* "push", "pull", "copy" (JSON "replication") */
    char *from, *to;           /* source and target as shown (no password) */
    st_repl *r;                /* NULL until started */
    st_repl_status last;       /* the last status reported */
    bool reported;             /* anything reported yet ("start" record) */
    double last_progress;      /* when progress was last reported */
    cli_rate docs_rate, changes_rate;
    char *bytes_path;          /* a local target file: its growth is "bytes written" */
    unsigned long long bytes0; /* its size at the start */
    unsigned long long bytes;  /* the most it grew (a log checkpoint shrinks it) */
} cli_watch;

/* name is static; source and target as given (copied, passwords hidden). */
bool cli_watch_init(cli_watch *w, const char *name, const char *source, const char *target);
void cli_watch_free(cli_watch *w);

typedef enum cli_out_mode { CLI_OUT_QUIET, CLI_OUT_JSON, CLI_OUT_TTY, CLI_OUT_PLAIN } cli_out_mode;

typedef struct cli_report {
    cli_out_mode mode;
    const char *cmd;
    double t0;                 /* monotonic start */
    bool line_drawn;           /* a progress line is on the terminal */
    double last_plain;         /* plain mode: when progress was last printed */
} cli_report;

void cli_report_init(cli_report *rp, const char *cmd, bool json, bool quiet, double t0);

/* A status from the hook, taken at (mono, real).  Reports a state change or
 * a checkpoint. */
void cli_report_status(cli_report *rp, cli_watch *w, const st_repl_status *s, double mono,
                       const struct timespec *real);
/* Poll: retries, progress, the terminal line. */
void cli_report_poll(cli_report *rp, cli_watch *ws, size_t n, double mono);
/* The end: final records and summary.  error: why the run failed (NULL: it
 * did not, or each failed replication's own error says it). */
void cli_report_end(cli_report *rp, cli_watch *ws, size_t n, double mono, int exit_status,
                    const char *error);

#endif
