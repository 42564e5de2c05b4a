/* errors.h — the bottom of libsettee's internals: filling a settee_error and
 * translating core's st_status into the public settee_status.
 *
 * Depends on nothing else in client/lib.  Pure functions: any thread.
 */
#ifndef ST_CLIENT_ERRORS_H
#define ST_CLIENT_ERRORS_H

#include <stddef.h>

#include "settee.h"
#include "st_error.h"

/* Fill e (if non-NULL) and return code. */
settee_status st_client_fail(settee_error *e, settee_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Translate a core status (and its error, if any) into e; returns the code.
 * When CouchDB has a more specific name for the error than the code's
 * (Mango: "no_usable_index", "invalid_operator", ...) the message is
 * "name: reason". */
settee_status st_client_from_core(settee_error *e, st_status s, const st_error *ce);
/* The public code for a core status. */
settee_status st_client_code(st_status s);
/* e (if non-NULL) says "no error". */
void st_client_ok(settee_error *e);
/* *out = a malloc'd NUL-terminated copy of s[0..n) (the caller frees it);
 * SETTEE_NOMEM on failure. */
settee_status st_client_dup(char **out, const char *s, size_t n, settee_error *e);

#endif
