/* progress.h — what the `settee sync` progress display shows, as pure
 * functions: rates over a sliding window, short numbers, sequences, and one
 * status line fitted to the terminal's width (as rsync, curl and pip draw
 * theirs).  Drawing it (\r, clear to end of line) is the caller's.
 *
 * Memory: every function writes into a caller buffer.  Pure, except
 * cli_term_width (an ioctl): any thread.
 */
#ifndef ST_CLI_PROGRESS_H
#define ST_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ rates */

#define CLI_RATE_SAMPLES 64

/* (time, count) samples, newest last; the oldest fall out. */
typedef struct cli_rate {
    double t[CLI_RATE_SAMPLES];
    uint64_t v[CLI_RATE_SAMPLES];
    size_t n, head;        /* samples held; index of the oldest */
} cli_rate;

void cli_rate_add(cli_rate *r, double t, uint64_t v);
/* Count per second over the samples of the last window_s seconds.  false
 * when they span less than min_s (a rate over a few milliseconds is noise:
 * no absurd first rate). */
bool cli_rate_get(const cli_rate *r, double window_s, double min_s, double *out);

/* ---------------------------------------------------------- numbers */

void cli_fmt_count(char *out, size_t cap, uint64_t n);     /* 1234567 -> "1,234,567" */
void cli_fmt_bytes(char *out, size_t cap, uint64_t n);     /* "980 B", "1.2 kB", "34.5 MB" */
void cli_fmt_rate(char *out, size_t cap, double per_s);    /* "512/s", "12.3k/s" */
void cli_fmt_duration(char *out, size_t cap, double s);    /* "0:07", "12:03", "1:02:03" */

/* A replication sequence as a person wants to read it: an integer as is;
 * CouchDB's opaque "N-g1AAAA..." as N; any other string unquoted, cut to
 * 16 characters with "..." when longer.  raw is the sequence's JSON text. */
void cli_seq_short(char *out, size_t cap, const char *raw);

/* ------------------------------------------------------------- line */

typedef struct cli_progress_item {
    const char *label;      /* "push", "pull", "copy" */
    const char *state;      /* "busy", "idle", ... */
    uint64_t docs;          /* documents written */
    uint64_t done, total;   /* changes read of total (0: unknown) */
    bool have_bytes;
    uint64_t bytes;         /* bytes written, when known */
    bool have_rate;
    double rate;            /* documents per second */
    bool have_eta;
    double eta_s;           /* seconds left */
} cli_progress_item;

/* One line for items[0..n) and the elapsed time, at most width - 1 columns
 * (the last column stays free: writing it makes some terminals wrap).  The
 * richest layout that fits wins; fields are dropped, least useful first. */
void cli_progress_line(char *out, size_t cap, const cli_progress_item *items, size_t n,
                       double elapsed, unsigned width);

/* Columns of the terminal on fd (TIOCGWINSZ), else $COLUMNS, else 80. */
unsigned cli_term_width(int fd);

#endif
