/* log.h — the server's log: leveled lines to stderr or a file.
 *
 * One process-wide sink (a daemon has one log).  Every call is thread-safe
 * and lines from different threads never interleave.  Lines at info and
 * debug level (the per-request lines) are gathered in a buffer and written
 * in one write(2) when it fills or is LOG_FLUSH_MS old (st_log_tick, called
 * by a timer thread); notice and above flush at once, with everything
 * before them.  st_log_reopen() (SIGHUP) reopens the configured file for
 * log rotation.
 */
#ifndef ST_SERVER_LOG_H
#define ST_SERVER_LOG_H

#include <stdint.h>
#include "config.h"

/* path NULL = stderr; json: every line one JSON object ({"ts","level",
 * "msg"}, and the request fields for request lines).  Returns false if the
 * file cannot be opened (the log then stays on stderr). */
bool st_log_open(st_log_level level, const char *path, bool json);
void st_log_close(void);
void st_log_reopen(void);
bool st_log_enabled(st_log_level level);
/* A reload's new level (any thread; takes effect at once). */
void st_log_set_level(st_log_level level);
/* Write out buffered lines that have waited long enough (any thread). */
void st_log_tick(void);
/* Write out every buffered line now. */
void st_log_flush(void);
void st_log(st_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One request's line (info level): who asked (peer), the request id also
 * sent as X-Couch-Request-ID, what and how it went. */
typedef struct st_log_req {
    const char *peer, *id, *method, *path, *user;
    unsigned status;
    uint64_t bytes;
    uint64_t tenths_ms;  /* duration in 0.1 ms */
    bool aborted;
} st_log_req;
void st_log_request(const st_log_req *q);

#endif
