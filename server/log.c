/* log.c — see log.h.
 *
 * Why a file descriptor and write(2) rather than stdio: whole lines go out
 * in one system call (O_APPEND keeps rotated files sane) and no FILE lock
 * is held across formatting.
 *
 * Why request lines are buffered: one write(2) per request was a tenth of
 * the CPU a document GET costs.  Gathering them bounds the cost to one
 * write per LOG_BUF bytes or LOG_FLUSH_MS, and a line of notice level or
 * above still reaches the file at once (after the lines before it).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_BUF 16384       /* buffered bytes that trigger a write */
#define LOG_FLUSH_MS 200    /* longest a buffered line waits (with st_log_tick) */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;
static char *log_path;
static volatile st_log_level log_level = ST_LOG_INFO;
static bool log_json;
static char log_buf[LOG_BUF + 2048]; /* guarded by log_mu */
static size_t log_len;
static struct timespec log_first;     /* when the oldest buffered line came */

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to complain to */
        p += w;
        n -= (size_t)w;
    }
}

/* log_mu held */
static void flush_locked(void)
{
    if (log_len)
        write_all(log_buf, log_len);
    log_len = 0;
}

static int open_path(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

bool st_log_open(st_log_level level, const char *path, bool json)
{
    bool ok = true;
    pthread_mutex_lock(&log_mu);
    flush_locked();
    log_level = level;
    log_json = json;
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = STDERR_FILENO;
    free(log_path);
    log_path = NULL;
    if (path) {
        int fd = open_path(path);
        log_path = strdup(path);
        if (fd >= 0 && log_path)
            log_fd = fd;
        else {
            if (fd >= 0)
                close(fd);
            ok = false;
        }
    }
    pthread_mutex_unlock(&log_mu);
    return ok;
}

void st_log_close(void)
{
    pthread_mutex_lock(&log_mu);
    flush_locked();
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = STDERR_FILENO;
    free(log_path);
    log_path = NULL;
    pthread_mutex_unlock(&log_mu);
}

void st_log_reopen(void)
{
    pthread_mutex_lock(&log_mu);
    flush_locked();
    if (log_path) {
        int fd = open_path(log_path);
        if (fd >= 0) {
            if (log_fd != STDERR_FILENO)
                close(log_fd);
            log_fd = fd;
        }
    }
    pthread_mutex_unlock(&log_mu);
}

void st_server_reopen_log(void)
{
    st_log_reopen();
}

void st_log_set_level(st_log_level level)
{
    log_level = level;
}

bool st_log_enabled(st_log_level level)
{
    return level >= log_level && level < ST_LOG_NONE;
}

void st_log_flush(void)
{
    pthread_mutex_lock(&log_mu);
    flush_locked();
    pthread_mutex_unlock(&log_mu);
}

static long ms_since(const struct timespec *a, const struct timespec *b)
{
    return (long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

void st_log_tick(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&log_mu);
    if (log_len && ms_since(&log_first, &now) >= LOG_FLUSH_MS)
        flush_locked();
    pthread_mutex_unlock(&log_mu);
}

/* "[2026-11-23T15:02:22." for the current second, formatted once per
 * second per thread. */
static int stamp(char *out, size_t cap, const struct timespec *ts)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[40];
    static _Thread_local int cached_len;
    if (ts->tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts->tv_sec, &tm);
        cached_len = snprintf(cached, sizeof cached, "[%04d-%02d-%02dT%02d:%02d:%02d.",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                              tm.tm_min, tm.tm_sec);
        cached_sec = ts->tv_sec;
    }
    if (cached_len < 0 || (size_t)cached_len + 4 >= cap)
        return -1;
    memcpy(out, cached, (size_t)cached_len);
    long ms = ts->tv_nsec / 1000000;
    out[cached_len] = (char)('0' + ms / 100);
    out[cached_len + 1] = (char)('0' + ms / 10 % 10);
    out[cached_len + 2] = (char)('0' + ms % 10);
    return cached_len + 3;
}

/* Hand one finished line to the sink (buffered below notice). */
static void emit(st_log_level level, const char *line, size_t len)
{
    pthread_mutex_lock(&log_mu);
    if (level >= ST_LOG_NOTICE) {
        flush_locked();
        write_all(line, len);
    } else {
        if (log_len + len > sizeof log_buf)
            flush_locked();
        if (log_len == 0)
            clock_gettime(CLOCK_MONOTONIC, &log_first);
        memcpy(log_buf + log_len, line, len);
        log_len += len;
        if (log_len >= LOG_BUF)
            flush_locked();
    }
    pthread_mutex_unlock(&log_mu);
}

/* The line's start: "[ts] [level] " or {"ts":"..","level":"..", */
static int line_start(char *line, size_t cap, st_log_level level)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = log_json ? 7 : 0;
    if (log_json)
        memcpy(line, "{\"ts\":\"", 7);
    int m = stamp(line + n, cap - (size_t)n, &ts);
    if (m < 0)
        return -1;
    if (log_json) { /* the stamp's '[' is not JSON */
        memmove(line + n, line + n + 1, (size_t)m - 1);
        m--;
    }
    n += m;
    m = log_json ? snprintf(line + n, cap - (size_t)n, "Z\",\"level\":\"%s\",",
                            st_log_level_name(level))
                 : snprintf(line + n, cap - (size_t)n, "Z] [%s] ", st_log_level_name(level));
    if (m < 0 || (size_t)(n + m) >= cap)
        return -1;
    return n + m;
}

/* Append s JSON-escaped (bounded by the line). */
static size_t add_json_str(char *line, size_t n, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (n + 2 >= cap)
        return n;
    line[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && n + 8 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            line[n++] = '\\';
            line[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(line + n, cap - n, "\\u00%c%c", hex[*p >> 4], hex[*p & 15]);
        } else {
            line[n++] = (char)*p;
        }
    }
    line[n++] = '"';
    return n;
}

void st_log(st_log_level level, const char *fmt, ...)
{
    char line[2048], msg[1900];
    if (!st_log_enabled(level))
        return;
    int n = line_start(line, sizeof line, level);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n;
    if (log_json) {
        memcpy(line + len, "\"msg\":", 6);
        len = add_json_str(line, len + 6, sizeof line - 2, msg);
        line[len++] = '}';
    } else {
        size_t k = strlen(msg);
        if (k > sizeof line - len - 2)
            k = sizeof line - len - 2; /* truncated: keep the newline */
        memcpy(line + len, msg, k);
        len += k;
    }
    line[len++] = '\n';
    emit(level, line, len);
}

void st_log_request(const st_log_req *q)
{
    char line[2048];
    if (!st_log_enabled(ST_LOG_INFO))
        return;
    int n = line_start(line, sizeof line, ST_LOG_INFO);
    if (n < 0)
        return;
    size_t len = (size_t)n, cap = sizeof line - 2;
    if (!log_json) {
        int m = snprintf(line + len, cap - len,
                         "%s %s %s %.*s %u %" PRIu64 " %" PRIu64 ".%" PRIu64 "ms%s%s%s",
                         q->peer, q->id, q->method, 512, q->path, q->status, q->bytes,
                         q->tenths_ms / 10, q->tenths_ms % 10, q->user && *q->user ? " user=" : "",
                         q->user ? q->user : "", q->aborted ? " (aborted)" : "");
        len = m < 0 ? len : len + (size_t)m > cap ? cap : len + (size_t)m;
    } else {
        static const char *const keys[] = {"\"peer\":", ",\"id\":", ",\"method\":",
                                           ",\"path\":"};
        const char *vals[] = {q->peer, q->id, q->method, q->path};
        for (size_t i = 0; i < 4; i++) {
            size_t k = strlen(keys[i]);
            if (len + k >= cap)
                break;
            memcpy(line + len, keys[i], k);
            len = add_json_str(line, len + k, cap, vals[i]);
        }
        int m = snprintf(line + len, cap - len,
                         ",\"status\":%u,\"bytes\":%" PRIu64 ",\"ms\":%" PRIu64 ".%" PRIu64,
                         q->status, q->bytes, q->tenths_ms / 10, q->tenths_ms % 10);
        len = m < 0 ? len : len + (size_t)m > cap ? cap : len + (size_t)m;
        if (q->user && *q->user && len + 10 < cap) {
            memcpy(line + len, ",\"user\":", 8);
            len = add_json_str(line, len + 8, cap, q->user);
        }
        if (q->aborted && len + 16 < cap) {
            memcpy(line + len, ",\"aborted\":true", 15);
            len += 15;
        }
        line[len++] = '}';
    }
    line[len++] = '\n';
    emit(ST_LOG_INFO, line, len);
}
