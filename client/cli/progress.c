/* progress.c — see progress.h.
 *
 * Why a window: the first status comes a few milliseconds after the start,
 * and "documents / elapsed" over 3 ms makes 957854314/s.  A rate is shown
 * only once the samples span a second, and it follows the last few seconds
 * rather than the whole run, so it tells what happens now.
 */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

void cli_rate_add(cli_rate *r, double t, uint64_t v)
{
    size_t i = (r->head + r->n) % CLI_RATE_SAMPLES;
    if (r->n == CLI_RATE_SAMPLES)
        r->head = (r->head + 1) % CLI_RATE_SAMPLES;
    else
        r->n++;
    r->t[i] = t;
    r->v[i] = v;
}

bool cli_rate_get(const cli_rate *r, double window_s, double min_s, double *out)
{
    *out = 0;
    if (r->n < 2)
        return false;
    size_t last = (r->head + r->n - 1) % CLI_RATE_SAMPLES;
    size_t first = r->head;
    /* The oldest sample still inside the window. */
    for (size_t k = 0; k + 1 < r->n; k++) {
        size_t i = (r->head + k) % CLI_RATE_SAMPLES;
        first = i;
        if (r->t[last] - r->t[i] <= window_s)
            break;
    }
    double span = r->t[last] - r->t[first];
    if (span < min_s || r->v[last] < r->v[first])
        return false;
    *out = (double)(r->v[last] - r->v[first]) / span;
    return true;
}

void cli_fmt_count(char *out, size_t cap, uint64_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    char tmp[48];
    size_t o = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            tmp[o++] = ',';
        tmp[o++] = digits[i];
    }
    tmp[o] = '\0';
    snprintf(out, cap, "%s", tmp);
}

void cli_fmt_bytes(char *out, size_t cap, uint64_t n)
{
    static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
    if (n < 1000) {
        snprintf(out, cap, "%llu B", (unsigned long long)n);
        return;
    }
    double v = (double)n / 1000;
    size_t u = 0;
    while (v >= 999.95 && u + 1 < sizeof units / sizeof *units) {
        v /= 1000;
        u++;
    }
    snprintf(out, cap, v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void cli_fmt_rate(char *out, size_t cap, double per_s)
{
    if (per_s < 1000)
        snprintf(out, cap, "%.0f/s", per_s);
    else if (per_s < 1e6)
        snprintf(out, cap, "%.1fk/s", per_s / 1e3);
    else
        snprintf(out, cap, "%.1fM/s", per_s / 1e6);
}

void cli_fmt_duration(char *out, size_t cap, double s)
{
    if (s < 0)
        s = 0;
    unsigned long long t = (unsigned long long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%llu:%02llu:%02llu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, cap, "%llu:%02llu", t / 60, t % 60);
}

void cli_seq_short(char *out, size_t cap, const char *raw)
{
    if (!raw || !raw[0]) {
        snprintf(out, cap, "-");
        return;
    }
    if (raw[0] != '"') {
        snprintf(out, cap, "%s", raw);
        return;
    }
    const char *s = raw + 1;
    size_t len = strlen(s);
    if (len && s[len - 1] == '"')
        len--;
    size_t digits = strspn(s, "0123456789");
    if (digits && digits < len && s[digits] == '-') {
        snprintf(out, cap, "%.*s", (int)digits, s);
        return;
    }
    if (len > 16)
        snprintf(out, cap, "%.13s...", s);
    else
        snprintf(out, cap, "%.*s", (int)len, s);
}

/* ------------------------------------------------------------- line */

/* How much one item shows, richest first. */
enum { L_BAR, L_FULL, L_RATE, L_DOCS, L_LEVELS };

static void item_text(char *out, size_t cap, const cli_progress_item *it, int level)
{
    char docs[32], bytes[32] = "", rate[32] = "";
    cli_fmt_count(docs, sizeof docs, it->docs);
    if (it->have_bytes)
        cli_fmt_bytes(bytes, sizeof bytes, it->bytes);
    if (it->have_rate)
        cli_fmt_rate(rate, sizeof rate, it->rate);
    char bar[24] = "";
    if (level == L_BAR && it->total) {
        int filled = (int)(10.0 * (double)it->done / (double)it->total);
        bar[0] = '[';
        for (int k = 0; k < 10; k++)
            bar[1 + k] = k < filled ? '#' : '.';
        bar[11] = ']';
        bar[12] = ' ';
        bar[13] = '\0';
    }
    size_t o = (size_t)snprintf(out, cap, "%s %s%s docs", it->label, bar, docs);
    if (level <= L_FULL && bytes[0] && o < cap)
        o += (size_t)snprintf(out + o, cap - o, " %s", bytes);
    if (level <= L_RATE && o < cap)
        o += (size_t)snprintf(out + o, cap - o, " %s", rate[0] ? rate : "--/s");
    if (level <= L_FULL && it->state && o < cap)
        snprintf(out + o, cap - o, " %s", it->state);
}

static void line_at(char *out, size_t cap, const cli_progress_item *items, size_t n,
                    double elapsed, int level)
{
    size_t o = 0;
    out[0] = '\0';
    double eta = -1;
    for (size_t i = 0; i < n && o < cap; i++) {
        char part[160];
        item_text(part, sizeof part, &items[i], level);
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "  " : "", part);
        if (items[i].have_eta && items[i].eta_s > eta)
            eta = items[i].eta_s;
    }
    char t[32];
    cli_fmt_duration(t, sizeof t, elapsed);
    if (o < cap)
        o += (size_t)snprintf(out + o, cap - o, "  %s", t);
    if (eta >= 0 && level <= L_RATE && o < cap) {
        cli_fmt_duration(t, sizeof t, eta);
        snprintf(out + o, cap - o, " ETA %s", t);
    }
}

void cli_progress_line(char *out, size_t cap, const cli_progress_item *items, size_t n,
                       double elapsed, unsigned width)
{
    if (!cap)
        return;
    size_t room = width > 1 ? width - 1 : 1;
    for (int level = 0; level < L_LEVELS; level++) {
        line_at(out, cap, items, n, elapsed, level);
        if (strlen(out) <= room)
            return;
    }
    if (room < cap)
        out[room] = '\0'; /* a very narrow terminal: cut */
}

unsigned cli_term_width(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    long v = c ? strtol(c, NULL, 10) : 0;
    return v > 0 && v < 10000 ? (unsigned)v : 80;
}
