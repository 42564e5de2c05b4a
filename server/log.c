/* log.c — see log.h.
 *
 * Why a file descriptor and write(2) rather than stdio: a whole line goes
 * out in one system call (O_APPEND keeps rotated files sane) and no FILE
 * lock is held across formatting.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;
static char *log_path;
static volatile st_log_level log_level = ST_LOG_INFO;

static int open_path(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

bool st_log_open(st_log_level level, const char *path)
{
    bool ok = true;
    pthread_mutex_lock(&log_mu);
    log_level = level;
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

bool st_log_enabled(st_log_level level)
{
    return level >= log_level && level < ST_LOG_NONE;
}

void st_log(st_log_level level, const char *fmt, ...)
{
    char line[2048];
    if (!st_log_enabled(level))
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "[%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ] [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, st_log_level_name(level));
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: keep the newline */
    line[len++] = '\n';
    pthread_mutex_lock(&log_mu);
    ssize_t w;
    do
        w = write(log_fd, line, len);
    while (w < 0 && errno == EINTR);
    pthread_mutex_unlock(&log_mu);
}
