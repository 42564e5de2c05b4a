/* notify.h — a coalescing wakeup that another thread (or poll loop) can
 * wait on: the tiny portability shim behind settee_db_notify_fd().
 *
 * Linux uses an eventfd (one descriptor, a counter: any number of signals
 * before a drain make one readable event).  Everywhere else — macOS, iOS,
 * the BSDs, or Linux built with -DST_NOTIFY_FORCE_PIPE — a non-blocking
 * pipe does the same job: a signal writes one byte, a full pipe means "already
 * signalled", and a drain reads it empty.  Only this file knows which.
 *
 * Thread-safety: st_notify_signal may be called from any thread at any time
 * between open and close (it is also async-signal-safe); drain and wait from
 * the one thread that consumes the events.
 */
#ifndef ST_NOTIFY_H
#define ST_NOTIFY_H

#include <stdbool.h>
#include "st_error.h"

typedef struct st_notify {
    int rfd;   /* readable when signalled; the eventfd itself on Linux */
    int wfd;   /* where signals are written (== rfd for an eventfd) */
} st_notify;

st_status st_notify_open(st_notify *n, st_error *err);
void st_notify_close(st_notify *n);          /* safe on a never-opened {-1,-1} */
void st_notify_signal(st_notify *n);         /* coalescing; never blocks */
void st_notify_drain(st_notify *n);          /* consume every pending signal */
/* Block until signalled or timeout_ms passed (< 0: forever).  true when
 * signalled.  Does not drain. */
bool st_notify_wait(st_notify *n, int timeout_ms);
/* "eventfd" or "pipe", for docs and tests. */
const char *st_notify_backend(void);

#endif
