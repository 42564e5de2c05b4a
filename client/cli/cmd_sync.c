/* cmd_sync.c — `settee sync SOURCE TARGET` (both directions) and
 * `settee replicate SOURCE TARGET` (one direction).  SOURCE and TARGET are
 * each a database file path or a URL http(s)://user:pass@host:port/db.
 *
 * The replications run on their own threads (st_repl.h); this thread only
 * watches them: it polls their status a few times a second to draw the
 * progress bar (on a terminal) or print --json status lines, and turns
 * SIGINT/SIGTERM into st_repl_stop.  Exit status: 0 when every replication
 * ended in STOPPED, 1 when one failed (its message on stderr), 2 for usage.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "st_repl.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct opts {
    const char *source, *target;
    bool continuous, create_target, json, quiet, pouch;
    const char *selector, *since;
    char since_json[1100];      /* --since as JSON: numbers as given, anything else quoted */
    char *doc_ids_buf;          /* --doc-ids copy, split in place */
    const char **doc_ids;
    size_t n_doc_ids;
    unsigned batch_size, concurrency;
} opts;

static void usage(FILE *f, const char *cmd)
{
    bool sync = strcmp(cmd, "sync") == 0;
    fprintf(f,
            "usage: settee %s [options] SOURCE TARGET\n\n"
            "%s\n"
            "SOURCE and TARGET are each a database file (path) or a database URL,\n"
            "http(s)://user:password@host:port/db.\n\n"
            "  --continuous          keep following changes until interrupted (Ctrl-C)\n"
            "  --doc-ids a,b,c       only these documents\n"
            "  --selector JSON       only documents matching a Mango selector (the source\n"
            "                        must support _changes filter=_selector)\n"
            "  --create-target       create TARGET if it does not exist\n"
            "  --since SEQ           start from this source sequence, ignoring checkpoints\n"
            "  --batch-size N        changes per batch (default 500)\n"
            "  --concurrency N       batches in flight (default 4)\n"
            "  --pouchdb-checkpoints also read/write PouchDB's checkpoint documents, so a\n"
            "                        PouchDB replication of the same two URLs resumes too\n"
            "  --json                print machine-readable status lines on stdout\n"
            "  --quiet               no progress output\n"
            "  --help                this text\n\n"
            "Exit status: 0 on success, 1 when the replication failed, 2 on bad usage.\n",
            cmd,
            sync ? "Replicate SOURCE into TARGET and TARGET into SOURCE, at the same time,\n"
                   "so both end up with every document and revision either had.\n"
                 : "Replicate SOURCE into TARGET: every document and revision SOURCE has\n"
                   "that TARGET lacks is copied; TARGET's own changes stay where they are.\n");
}

static bool parse_uint(const char *s, unsigned *out)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v == 0 || v > 1000000)
        return false;
    *out = (unsigned)v;
    return true;
}

/* 0 ok, 1 --help shown, 2 usage error (message printed). */
static int parse(int argc, char **argv, opts *o)
{
    const char *cmd = argv[0];
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout, cmd);
            return 1;
        } else if (strcmp(a, "--continuous") == 0) {
            o->continuous = true;
        } else if (strcmp(a, "--create-target") == 0) {
            o->create_target = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (strcmp(a, "--pouchdb-checkpoints") == 0) {
            o->pouch = true;
        } else if (strcmp(a, "--doc-ids") == 0 || strcmp(a, "--selector") == 0 ||
                   strcmp(a, "--since") == 0 || strcmp(a, "--batch-size") == 0 ||
                   strcmp(a, "--concurrency") == 0) {
            if (!val) {
                fprintf(stderr, "settee %s: %s needs a value\n", cmd, a);
                return 2;
            }
            i++;
            if (strcmp(a, "--selector") == 0) {
                o->selector = val;
            } else if (strcmp(a, "--since") == 0) {
                o->since = val;
            } else if (strcmp(a, "--doc-ids") == 0) {
                free(o->doc_ids_buf);
                free(o->doc_ids);
                o->doc_ids_buf = strdup(val);
                o->doc_ids = calloc(strlen(val) + 1, sizeof *o->doc_ids);
                o->n_doc_ids = 0;
                if (!o->doc_ids_buf || !o->doc_ids) {
                    fprintf(stderr, "settee %s: out of memory\n", cmd);
                    return 2;
                }
                char *save = NULL;
                for (char *t = strtok_r(o->doc_ids_buf, ",", &save); t;
                     t = strtok_r(NULL, ",", &save))
                    o->doc_ids[o->n_doc_ids++] = t;
            } else if (!parse_uint(val, strcmp(a, "--batch-size") == 0 ? &o->batch_size
                                                                          : &o->concurrency)) {
                fprintf(stderr, "settee %s: %s wants a positive number, not '%s'\n", cmd, a, val);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "settee %s: unknown option '%s'\n", cmd, a);
            return 2;
        } else if (!o->source) {
            o->source = a;
        } else if (!o->target) {
            o->target = a;
        } else {
            fprintf(stderr, "settee %s: too many arguments ('%s')\n", cmd, a);
            return 2;
        }
    }
    if (o->since) {
        /* A number or a JSON string as given; a bare opaque seq gets quoted. */
        bool as_is = o->since[0] == '"' ||
                     (o->since[0] && strspn(o->since, "0123456789") == strlen(o->since));
        if (strlen(o->since) > 1000 || (!as_is && strpbrk(o->since, "\"\\"))) {
            fprintf(stderr, "settee %s: --since wants a sequence, not '%s'\n", cmd, o->since);
            return 2;
        }
        snprintf(o->since_json, sizeof o->since_json, as_is ? "%s" : "\"%s\"", o->since);
    }
    if (!o->source || !o->target) {
        fprintf(stderr, "settee %s: SOURCE and TARGET are required (see --help)\n", cmd);
        return 2;
    }
    return 0;
}

static void config_for(const opts *o, const char *src, const char *tgt, bool create,
                       st_repl_config *c)
{
    st_repl_config_init(c);
    c->source = src;
    c->target = tgt;
    c->continuous = o->continuous;
    c->create_target = create;
    c->doc_ids = o->doc_ids;
    c->n_doc_ids = o->n_doc_ids;
    c->selector = o->selector;
    c->since_seq = o->since ? o->since_json : NULL;
    c->batch_size = o->batch_size;
    c->concurrency = o->concurrency;
    c->pouchdb_checkpoints = o->pouch;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct watch {
    const char *name;      /* "push", "pull" or "replicate" */
    st_repl *r;
    st_repl_status last;   /* as last printed */
    bool printed;
} watch;

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void print_json(const watch *w, const st_repl_status *s, double elapsed)
{
    printf("{\"replication\":\"%s\",\"state\":\"%s\",\"docs_read\":%llu,\"docs_written\":%llu,"
           "\"doc_write_failures\":%llu,\"pending\":%llu,\"changes_read\":%llu,"
           "\"checkpoints\":%llu,\"retries\":%llu,\"elapsed\":%.3f,\"last_seq\":",
           w->name, st_repl_state_name(s->state), (unsigned long long)s->docs_read,
           (unsigned long long)s->docs_written, (unsigned long long)s->doc_write_failures,
           (unsigned long long)s->pending, (unsigned long long)s->changes_read,
           (unsigned long long)s->checkpoints, (unsigned long long)s->retries, elapsed);
    fputs(s->last_seq[0] ? s->last_seq : "null", stdout);
    printf(",\"error\":");
    if (s->last_error.code != ST_OK)
        json_str(stdout, s->last_error.reason);
    else
        fputs("null", stdout);
    printf("}\n");
    fflush(stdout);
}

static void draw_bar(watch *ws, size_t n, double elapsed)
{
    char line[512];
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        st_repl_status s;
        st_repl_get_status(ws[i].r, &s);
        double rate = elapsed > 0 ? (double)s.docs_written / elapsed : 0;
        uint64_t done = s.changes_read, total = s.changes_read + s.pending;
        int filled = total ? (int)(20.0 * (double)done / (double)total) : (s.state == ST_REPL_IDLE ? 20 : 0);
        char bar[21];
        for (int k = 0; k < 20; k++)
            bar[k] = k < filled ? '#' : '.';
        bar[20] = '\0';
        off += (size_t)snprintf(line + off, sizeof line - off,
                                "%s%s [%s] %-8s %llu docs %.0f/s pending %llu", i ? "  " : "",
                                ws[i].name, bar, st_repl_state_name(s.state),
                                (unsigned long long)s.docs_written, rate,
                                (unsigned long long)s.pending);
        if (off >= sizeof line)
            off = sizeof line - 1;
    }
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
}

static bool changed(const st_repl_status *a, const st_repl_status *b)
{
    return a->state != b->state || a->docs_written != b->docs_written ||
           a->docs_read != b->docs_read || a->doc_write_failures != b->doc_write_failures ||
           a->checkpoints != b->checkpoints || a->pending != b->pending;
}

static bool ended(st_repl_state s) { return s == ST_REPL_STOPPED || s == ST_REPL_FAILED; }

/* Watch until every replication ended; returns the exit status. */
static int supervise(const opts *o, watch *ws, size_t n, const char *cmd)
{
    bool tty = !o->quiet && !o->json && isatty(2);
    double t0 = now_s(), last_json = 0;
    bool stopping = false;
    for (;;) {
        if (interrupted && !stopping) {
            stopping = true;
            for (size_t i = 0; i < n; i++)
                st_repl_stop(ws[i].r);
        }
        bool all_done = true;
        for (size_t i = 0; i < n; i++) {
            st_repl_status s;
            st_repl_get_status(ws[i].r, &s);
            all_done = all_done && ended(s.state);
            double t = now_s();
            if (o->json && (!ws[i].printed || s.state != ws[i].last.state ||
                            (changed(&s, &ws[i].last) && t - last_json >= 0.5))) {
                print_json(&ws[i], &s, t - t0);
                ws[i].last = s;
                ws[i].printed = true;
                last_json = t;
            }
        }
        if (tty)
            draw_bar(ws, n, now_s() - t0);
        if (all_done)
            break;
        /* Sleep until a replication ends or the next redraw is due. */
        for (size_t i = 0; i < n; i++) {
            st_repl_status s;
            st_repl_get_status(ws[i].r, &s);
            if (!ended(s.state)) {
                st_repl_wait(ws[i].r, 200);
                break;
            }
        }
    }
    if (tty)
        fputc('\n', stderr);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        st_repl_status s;
        st_repl_get_status(ws[i].r, &s);
        if (o->json && changed(&s, &ws[i].last))
            print_json(&ws[i], &s, now_s() - t0);
        if (s.state == ST_REPL_FAILED) {
            fprintf(stderr, "settee %s: %s%s%s\n", cmd, n > 1 ? ws[i].name : "", n > 1 ? ": " : "",
                    s.last_error.reason);
            rc = 1;
        } else if (!o->quiet && !o->json) {
            fprintf(stderr, "%s: %llu docs written, %llu failed, last seq %s\n", ws[i].name,
                    (unsigned long long)s.docs_written, (unsigned long long)s.doc_write_failures,
                    s.last_seq);
        }
        if (s.doc_write_failures && s.last_error.code != ST_OK && s.state != ST_REPL_FAILED)
            fprintf(stderr, "settee %s: %s: last write failure: %s\n", cmd, ws[i].name,
                    s.last_error.reason);
    }
    return rc;
}

static int run_cmd(int argc, char **argv, bool both)
{
    opts o;
    int prc = parse(argc, argv, &o);
    if (prc) {
        free(o.doc_ids_buf);
        free(o.doc_ids);
        return prc == 1 ? 0 : 2;
    }
    const char *cmd = argv[0];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    watch ws[2];
    memset(ws, 0, sizeof ws);
    size_t n = 0;
    int rc = 0;
    st_error err;
    st_repl_config c;
    config_for(&o, o.source, o.target, o.create_target, &c);
    ws[0].name = both ? "push" : "replicate";
    if (st_repl_start(&c, &ws[0].r, &err) != ST_OK) {
        fprintf(stderr, "settee %s: %s\n", cmd, err.reason);
        rc = 2;
        goto out;
    }
    n = 1;
    if (both) {
        /* The pull reads TARGET, which the push may have to create first:
         * let the push get past its setup before starting the pull. */
        st_repl_status s;
        for (;;) {
            st_repl_get_status(ws[0].r, &s);
            if (s.state != ST_REPL_STARTING || interrupted)
                break;
            struct timespec ts = {0, 20000000L};
            nanosleep(&ts, NULL);
        }
        if (s.state != ST_REPL_FAILED && !interrupted) {
            config_for(&o, o.target, o.source, false, &c);
            ws[1].name = "pull";
            if (st_repl_start(&c, &ws[1].r, &err) != ST_OK) {
                fprintf(stderr, "settee %s: %s\n", cmd, err.reason);
                rc = 2;
                goto out;
            }
            n = 2;
        }
    }
    rc = supervise(&o, ws, n, cmd);
out:
    for (size_t i = 0; i < 2; i++)
        st_repl_free(ws[i].r);
    free(o.doc_ids_buf);
    free(o.doc_ids);
    return rc;
}

int st_cli_sync(int argc, char **argv) { return run_cmd(argc, argv, true); }

int st_cli_replicate(int argc, char **argv) { return run_cmd(argc, argv, false); }
