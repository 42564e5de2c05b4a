/* report.c — see report.h.
 *
 * Why the terminal line is rebuilt from scratch each time, fitted to the
 * width asked of the terminal at that moment: a line wider than the terminal
 * wraps, and "\r" then returns only to the start of its last row, so every
 * redraw leaves the earlier rows behind (the stale half-lines, and a new
 * line per redraw in continuous mode).  A line that fits, ended with "clear
 * to end of line", redraws in place however the terminal is resized.
 */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"

/* --------------------------------------------------------------- watches */

bool cli_watch_init(cli_watch *w, const char *name, const char *source, const char *target)
{
    memset(w, 0, sizeof *w);
    w->name = name;
    w->from = cli_is_url(source) ? cli_url_display(source) : strdup(source);
    w->to = cli_is_url(target) ? cli_url_display(target) : strdup(target);
    if (!cli_is_url(target))
        w->bytes_path = strdup(target);
    return w->from && w->to && (cli_is_url(target) || w->bytes_path);
}

void cli_watch_free(cli_watch *w)
{
    free(w->from);
    free(w->to);
    free(w->bytes_path);
    w->from = w->to = w->bytes_path = NULL;
}

/* Bytes of a database file and its write-ahead log. */
static unsigned long long file_bytes(const char *path)
{
    unsigned long long n = 0;
    struct stat st;
    char wal[4200];
    if (stat(path, &st) == 0)
        n += (unsigned long long)st.st_size;
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (stat(wal, &st) == 0)
        n += (unsigned long long)st.st_size;
    return n;
}

/* ------------------------------------------------------------------ JSON */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void now_real(struct timespec *ts) { clock_gettime(CLOCK_REALTIME, ts); }

/* {"event":E,"time":ISO-8601 UTC,"elapsed":S[,"replication":NAME] */
static void json_head(const cli_report *rp, const char *event, double mono,
                      const struct timespec *real, const cli_watch *w)
{
    struct tm tm;
    char when[40];
    gmtime_r(&real->tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    printf("{\"event\":\"%s\",\"time\":\"%s.%03ldZ\",\"elapsed\":%.3f", event, when,
           real->tv_nsec / 1000000L, mono - rp->t0);
    if (w)
        printf(",\"replication\":\"%s\"", w->name);
}

/* The counters of s, then the closing brace. */
static void json_status(const st_repl_status *s)
{
    printf(",\"state\":\"%s\",\"docs_read\":%llu,\"docs_written\":%llu,"
           "\"doc_write_failures\":%llu,\"pending\":%llu,\"changes_read\":%llu,"
           "\"checkpoints\":%llu,\"retries\":%llu,\"last_seq\":",
           st_repl_state_name(s->state), (unsigned long long)s->docs_read,
           (unsigned long long)s->docs_written, (unsigned long long)s->doc_write_failures,
           (unsigned long long)s->pending, (unsigned long long)s->changes_read,
           (unsigned long long)s->checkpoints, (unsigned long long)s->retries);
    fputs(s->last_seq[0] ? s->last_seq : "null", stdout);
    printf(",\"error\":");
    if (s->last_error.code != ST_OK)
        json_str(s->last_error.reason);
    else
        fputs("null", stdout);
    printf("}\n");
    fflush(stdout);
}

static void json_start(const cli_report *rp, const cli_watch *w, double mono,
                       const struct timespec *real)
{
    json_head(rp, "start", mono, real, w);
    printf(",\"source\":");
    json_str(w->from);
    printf(",\"target\":");
    json_str(w->to);
    printf("}\n");
}

/* ------------------------------------------------------------- the line */

static void clear_line(cli_report *rp)
{
    if (rp->line_drawn) {
        fputs("\r\033[K", stdout);
        rp->line_drawn = false;
    }
}

/* A plain line, "[0:03] push: text" (over the progress line when drawn). */
static void say(cli_report *rp, const cli_watch *w, double mono, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void say(cli_report *rp, const cli_watch *w, double mono, const char *fmt, ...)
{
    char t[32], text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    cli_fmt_duration(t, sizeof t, mono - rp->t0);
    clear_line(rp);
    printf("[%s] %s: %s\n", t, w->name, text);
    fflush(stdout);
}

static void fill_item(cli_watch *w, const st_repl_status *s, cli_progress_item *it)
{
    memset(it, 0, sizeof *it);
    it->label = w->name;
    it->state = st_repl_state_name(s->state);
    it->docs = s->docs_written;
    it->done = s->changes_read;
    it->total = s->pending ? s->changes_read + s->pending : 0;
    if (w->bytes_path) {
        unsigned long long now = file_bytes(w->bytes_path);
        if (now > w->bytes0 && now - w->bytes0 > w->bytes)
            w->bytes = now - w->bytes0;
        it->have_bytes = true;
        it->bytes = w->bytes;
    }
    it->have_rate = cli_rate_get(&w->docs_rate, 5.0, 1.0, &it->rate);
    double crate = 0;
    if (s->pending && s->state == ST_REPL_RUNNING &&
        cli_rate_get(&w->changes_rate, 5.0, 1.0, &crate) && crate > 0) {
        it->have_eta = true;
        it->eta_s = (double)s->pending / crate;
    }
}

static void draw(cli_report *rp, cli_watch *ws, size_t n, double mono)
{
    cli_progress_item items[2];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 2; i++) {
        if (!ws[i].r)
            continue;
        st_repl_status s;
        st_repl_get_status(ws[i].r, &s);
        fill_item(&ws[i], &s, &items[k++]);
    }
    char line[512];
    cli_progress_line(line, sizeof line, items, k, mono - rp->t0, cli_term_width(1));
    printf("\r%s\033[K", line);
    fflush(stdout);
    rp->line_drawn = true;
}

/* ------------------------------------------------------------- events */

void cli_report_init(cli_report *rp, const char *cmd, bool json, bool quiet, double t0)
{
    memset(rp, 0, sizeof *rp);
    rp->cmd = cmd;
    rp->t0 = t0;
    rp->last_plain = t0;
    if (json)
        rp->mode = CLI_OUT_JSON;
    else if (quiet)
        rp->mode = CLI_OUT_QUIET;
    else
        rp->mode = isatty(1) ? CLI_OUT_TTY : CLI_OUT_PLAIN;
}

static void first_report(cli_report *rp, cli_watch *w, double mono, const struct timespec *real)
{
    if (w->reported)
        return;
    w->reported = true;
    if (w->bytes_path)
        w->bytes0 = file_bytes(w->bytes_path);
    if (rp->mode == CLI_OUT_JSON)
        json_start(rp, w, mono, real);
    else if (rp->mode == CLI_OUT_PLAIN)
        say(rp, w, mono, "%s -> %s", w->from, w->to);
}

void cli_report_status(cli_report *rp, cli_watch *w, const st_repl_status *s, double mono,
                       const struct timespec *real)
{
    bool first = !w->reported;
    first_report(rp, w, mono, real);
    bool state = first || s->state != w->last.state;
    bool ckpt = s->checkpoints != w->last.checkpoints;
    if (rp->mode == CLI_OUT_JSON && (state || ckpt)) {
        json_head(rp, state ? "state" : "checkpoint", mono, real, w);
        json_status(s);
    } else if (rp->mode == CLI_OUT_PLAIN && state) {
        say(rp, w, mono, "%s", st_repl_state_name(s->state));
    }
    /* Retries are reported by polling; keep its count. */
    uint64_t retries = w->last.retries;
    w->last = *s;
    w->last.retries = retries;
}

static bool progressed(const st_repl_status *a, const st_repl_status *b)
{
    return a->docs_written != b->docs_written || a->docs_read != b->docs_read ||
           a->doc_write_failures != b->doc_write_failures || a->pending != b->pending ||
           a->changes_read != b->changes_read;
}

/* Retries since the last poll: one record each (JSON), one line (plain). */
static void report_retries(cli_report *rp, cli_watch *w, const st_repl_status *s, double mono)
{
    if (s->retries <= w->last.retries)
        return;
    const char *why = s->last_error.code != ST_OK ? s->last_error.reason : "no answer";
    if (rp->mode == CLI_OUT_JSON) {
        struct timespec real;
        now_real(&real);
        for (uint64_t a = w->last.retries + 1; a <= s->retries; a++) {
            json_head(rp, "retry", mono, &real, w);
            printf(",\"attempt\":%llu,\"http_status\":%d,\"error\":", (unsigned long long)a,
                   s->last_http_status);
            json_str(why);
            printf("}\n");
        }
        fflush(stdout);
    } else if (rp->mode == CLI_OUT_PLAIN) {
        say(rp, w, mono, "retry %llu: %s", (unsigned long long)s->retries, why);
    }
    w->last.retries = s->retries;
}

void cli_report_poll(cli_report *rp, cli_watch *ws, size_t n, double mono)
{
    bool plain_due = mono - rp->last_plain >= 10.0;
    for (size_t i = 0; i < n; i++) {
        cli_watch *w = &ws[i];
        if (!w->r)
            continue;
        st_repl_status s;
        st_repl_get_status(w->r, &s);
        struct timespec real;
        now_real(&real);
        first_report(rp, w, mono, &real);
        cli_rate_add(&w->docs_rate, mono, s.docs_written);
        cli_rate_add(&w->changes_rate, mono, s.changes_read);
        report_retries(rp, w, &s, mono);
        if (!progressed(&s, &w->last))
            continue;
        if (rp->mode == CLI_OUT_JSON && mono - w->last_progress >= 0.5) {
            json_head(rp, "progress", mono, &real, w);
            json_status(&s);
            w->last_progress = mono;
        } else if (rp->mode == CLI_OUT_PLAIN && plain_due) {
            char docs[32];
            cli_fmt_count(docs, sizeof docs, s.docs_written);
            say(rp, w, mono, "%s, %s documents written, %llu pending",
                st_repl_state_name(s.state), docs, (unsigned long long)s.pending);
            rp->last_plain = mono;
        }
    }
    if (rp->mode == CLI_OUT_TTY)
        draw(rp, ws, n, mono);
}

/* ------------------------------------------------------------------ end */

static void summary(const cli_report *rp, const cli_watch *w, const st_repl_status *s,
                    double mono)
{
    char docs[32], seq[64], t[32];
    cli_fmt_count(docs, sizeof docs, s->docs_written);
    cli_seq_short(seq, sizeof seq, s->last_seq);
    cli_fmt_duration(t, sizeof t, mono - rp->t0);
    const char *noun = s->docs_written == 1 ? "document" : "documents";
    if (strcmp(w->name, "push") == 0)
        printf("sent %s %s to %s", docs, noun, w->to);
    else if (strcmp(w->name, "pull") == 0)
        printf("received %s %s from %s", docs, noun, w->from);
    else
        printf("copied %s %s from %s to %s", docs, noun, w->from, w->to);
    if (s->doc_write_failures)
        printf(", %llu refused", (unsigned long long)s->doc_write_failures);
    printf(" in %s (last seq %s)\n", t, seq);
}

void cli_report_end(cli_report *rp, cli_watch *ws, size_t n, double mono, int exit_status,
                    const char *error)
{
    struct timespec real;
    now_real(&real);
    clear_line(rp);
    uint64_t written = 0, failures = 0;
    char failed[300] = ""; /* the first failed replication's error */
    for (size_t i = 0; i < n; i++) {
        cli_watch *w = &ws[i];
        if (!w->r)
            continue;
        st_repl_status s;
        st_repl_get_status(w->r, &s);
        first_report(rp, w, mono, &real);
        report_retries(rp, w, &s, mono);
        written += s.docs_written;
        failures += s.doc_write_failures;
        if (rp->mode == CLI_OUT_JSON) {
            json_head(rp, "end", mono, &real, w);
            json_status(&s);
        } else if (rp->mode != CLI_OUT_QUIET && s.state != ST_REPL_FAILED && !error) {
            summary(rp, w, &s, mono);
        }
        if (s.state == ST_REPL_FAILED && !failed[0])
            snprintf(failed, sizeof failed, "%s", s.last_error.reason);
        if (s.state == ST_REPL_FAILED && !error)
            fprintf(stderr, "settee %s: %s%s%s\n", rp->cmd, n > 1 ? w->name : "",
                    n > 1 ? ": " : "", s.last_error.reason);
        else if (s.doc_write_failures && s.last_error.code != ST_OK)
            fprintf(stderr, "settee %s: %s: last write failure: %s\n", rp->cmd, w->name,
                    s.last_error.reason);
    }
    if (error)
        fprintf(stderr, "settee %s: %s\n", rp->cmd, error);
    if (rp->mode == CLI_OUT_JSON) {
        json_head(rp, "done", mono, &real, NULL);
        printf(",\"ok\":%s,\"exit_status\":%d,\"docs_written\":%llu,"
               "\"doc_write_failures\":%llu,\"error\":",
               exit_status == 0 ? "true" : "false", exit_status, (unsigned long long)written,
               (unsigned long long)failures);
        if (error || failed[0])
            json_str(error ? error : failed);
        else
            fputs("null", stdout);
        printf("}\n");
    }
    fflush(stdout);
}
