/* main.c — settee-js, settee's JavaScript query server.
 *
 * Speaks CouchDB's query-server protocol: one JSON request per line on
 * stdin, zero or more ["log",...] lines and one answer line per request on
 * stdout, in order, so a caller may pipeline requests.  Options (all
 * optional, bytes unless named otherwise):
 *   --heap-max=N     live bytes the JavaScript heap may hold (256 MiB)
 *   --max-line=N     longest request line (64 MiB)
 *   --max-output=N   longest answer line (16 MiB)
 *   --cpu-seconds=N  CPU one request may burn before the kernel stops the
 *                    process (30); the pool's deadline normally comes first
 *
 * Limits, innermost first: the heap cap makes a runaway allocation fail in
 * the script that made it; RLIMIT_AS bounds the whole process should the cap
 * be bypassed (not under AddressSanitizer, which reserves terabytes of
 * address space); RLIMIT_CPU, re-armed as requests arrive, kills a script
 * that loops when nobody else does (Duktape as built by Debian has no
 * execution-timeout hook, so a loop cannot be interrupted from inside).
 * PR_SET_PDEATHSIG ends the process if the pool's spawning thread dies.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "js_engine.h"
#include "js_io.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

typedef struct options {
    size_t heap_max;
    size_t max_line;
    size_t max_output;
    unsigned long cpu_seconds;
} options;

static bool parse_size(const char *arg, const char *name, size_t *out)
{
    size_t len = strlen(name);
    char *end;
    unsigned long long v;

    if (strncmp(arg, name, len) != 0 || arg[len] != '=')
        return false;
    errno = 0;
    v = strtoull(arg + len + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == arg + len + 1 || v == 0 || v > SIZE_MAX / 4) {
        fprintf(stderr, "settee-js: bad value in %s\n", arg);
        exit(2);
    }
    *out = (size_t)v;
    return true;
}

static void parse_options(int argc, char **argv, options *o)
{
    size_t cpu = 30;

    o->heap_max = (size_t)256 << 20;
    o->max_line = (size_t)64 << 20;
    o->max_output = (size_t)16 << 20;
    for (int i = 1; i < argc; i++) {
        if (!parse_size(argv[i], "--heap-max", &o->heap_max) &&
            !parse_size(argv[i], "--max-line", &o->max_line) &&
            !parse_size(argv[i], "--max-output", &o->max_output) &&
            !parse_size(argv[i], "--cpu-seconds", &cpu)) {
            fprintf(stderr, "settee-js: unknown option %s\n", argv[i]);
            exit(2);
        }
    }
    o->cpu_seconds = (unsigned long)cpu;
}

static void apply_limits(const options *o)
{
    struct rlimit none = {0, 0};

    (void)o;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setrlimit(RLIMIT_CORE, &none);
#ifndef UNDER_ASAN
    {
        /* Twice the heap (free lists, fragmentation) plus the binary, libc
         * and the line buffers. */
        struct rlimit as;
        as.rlim_cur = as.rlim_max = (rlim_t)o->heap_max * 2 + (rlim_t)o->max_line * 3 +
                                    ((rlim_t)256 << 20);
        setrlimit(RLIMIT_AS, &as);
    }
#endif
}

/* Move the RLIMIT_CPU soft limit to (CPU used so far + budget).  Done at
 * most once a wall-clock second: a request then always has at least
 * budget - 1 CPU seconds, and a pipelined stream pays no syscall per line. */
static void arm_cpu_limit(const options *o)
{
    static struct timespec last;
    struct timespec now;
    struct rusage ru;
    struct rlimit lim;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (last.tv_sec != 0 && now.tv_sec - last.tv_sec < 1)
        return;
    last = now;
    if (getrusage(RUSAGE_SELF, &ru) != 0 || getrlimit(RLIMIT_CPU, &lim) != 0)
        return;
    lim.rlim_cur = (rlim_t)ru.ru_utime.tv_sec + (rlim_t)ru.ru_stime.tv_sec + 1 + o->cpu_seconds;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_cur > lim.rlim_max)
        lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_CPU, &lim);
}

int main(int argc, char **argv)
{
    options opt;
    js_reader in;
    js_writer out;
    js_engine eng;
    int status = 0;

    parse_options(argc, argv, &opt);
    apply_limits(&opt);
    js_reader_init(&in, STDIN_FILENO, opt.max_line);
    js_writer_init(&out, STDOUT_FILENO);
    if (!js_engine_open(&eng, opt.heap_max, opt.max_output, &out))
        return 70;
    for (;;) {
        const char *line = NULL;
        size_t n = 0;
        js_read_status rs;

        /* About to wait for input: the caller may be waiting for us. */
        if (!js_reader_has_line(&in) && !js_writer_flush(&out))
            break;
        rs = js_reader_next(&in, &line, &n);
        if (rs == JS_EOF || rs == JS_IO_ERROR)
            break;
        arm_cpu_limit(&opt);
        if (rs == JS_LINE_TOO_LONG) {
            char reason[96];
            snprintf(reason, sizeof reason, "request line over the %zu-byte limit", opt.max_line);
            js_engine_error(&eng, "too_large", reason);
            continue;
        }
        if (!js_engine_handle(&eng, line, n)) {
            status = 1;
            break;
        }
    }
    js_writer_flush(&out);
    js_engine_close(&eng);
    js_reader_free(&in);
    js_writer_free(&out);
    return status;
}
