/* st_error.h — status codes and the error value every core call reports.
 *
 * Errors are values: each fallible call returns an st_status and, when the
 * caller passes a non-NULL st_error, fills it with the code and a reason
 * string.  The codes map one-to-one onto CouchDB's error names and HTTP
 * statuses (st_status_name / st_status_http) so the server can answer with
 * CouchDB's exact body and the embedded API can expose the same taxonomy.
 *
 * Append-only: never renumber or reuse a value.
 * Thread-safety: all functions here are pure and callable from any thread.
 */
#ifndef ST_ERROR_H
#define ST_ERROR_H

#include <stddef.h>

typedef enum {
    ST_OK = 0,
    ST_E_BAD_REQUEST = 1,     /* 400 bad_request */
    ST_E_ILLEGAL_DOCID = 2,   /* 400 illegal_docid */
    ST_E_DOC_VALIDATION = 3,  /* 400 doc_validation */
    ST_E_ILLEGAL_DBNAME = 4,  /* 400 illegal_database_name */
    ST_E_NOT_FOUND = 5,       /* 404 not_found */
    ST_E_CONFLICT = 6,        /* 409 conflict */
    ST_E_FILE_EXISTS = 7,     /* 412 file_exists */
    ST_E_PRECONDITION = 8,    /* 412 precondition_failed */
    ST_E_MISSING_STUB = 9,    /* 412 missing_stub */
    ST_E_DOC_TOO_LARGE = 10,  /* 413 document_too_large */
    ST_E_ATT_TOO_LARGE = 11,  /* 413 attachment_too_large */
    ST_E_TOO_LARGE = 12,      /* 413 too_large (request) */
    ST_E_NOMEM = 13,          /* 500 internal_server_error */
    ST_E_IO = 14,             /* 500 internal_server_error (storage) */
    ST_E_BUSY = 15,           /* 503 busy: handle still in use */
    ST_E_MISUSE = 16,         /* 500 API misuse (NULL or closed handle) */
    ST_E_UNAUTHORIZED = 17,   /* 401 unauthorized */
    ST_E_FORBIDDEN = 18,      /* 403 forbidden */
    ST_E_BAD_CONTENT_TYPE = 19, /* 415 bad_content_type */
    ST_E_METHOD = 20,         /* 405 method_not_allowed */
    ST_E_RANGE = 21,          /* 416 requested_range_not_satisfiable */
    ST_E_NETWORK = 22,        /* 502/503: a remote peer failed */
    ST_E_TIMEOUT = 23,        /* 500 timeout */
    ST_E_QUERY_PARSE = 24,    /* 400 query_parse_error */
    ST_E_NOT_ACCEPTABLE = 25, /* 406 not_acceptable */
    ST_E_DISK_FULL = 26,      /* 507 insufficient_storage: no space left */
    ST_E_INVALID_SELECTOR_JSON = 27, /* 400 invalid_selector_json: not an object */
    ST_E_INVALID_OPERATOR = 28, /* 400 invalid_operator (Mango) */
    ST_E_BAD_ARG = 29,        /* 400 bad_arg: an operator's argument */
    ST_E_NOT_SUPPORTED = 30,  /* 400 not_supported: a known, unsupported operator */
    ST_E_INVALID_SELECTOR = 31, /* 400 invalid_selector: e.g. no field name */
    ST_E_BAD_FIELD = 32,      /* 400 bad_field: an unusable field path */
    ST_E_OS_PROCESS = 33,     /* 500 os_process_error: a query server timed out, died or broke the protocol */
    ST_E_COMPILATION = 34,    /* 400 compilation_error */
    ST_E_QUERY_SERVER = 35,   /* 500 query_server_error: another ["error",name,..] answer */
    ST_E_UNKNOWN_LANGUAGE = 36, /* 500 unknown_query_language */
    ST_E_INVALID_VALUE = 37,  /* 500 invalid_value (e.g. _stats over non-numbers) */
    ST_E_UNKNOWN_ERROR = 38,  /* 500 unknown_error (e.g. a VDU threw a bare string) */
    ST_E_NOT_IMPLEMENTED = 39, /* 501 not_implemented (e.g. a transfer coding) */
    ST_E_URI_TOO_LONG = 40,   /* 414 too_long: the request target */
    ST_E_LAST                 /* never use */
} st_status;

#define ST_REASON_MAX 256

typedef struct st_error {
    st_status code;
    char reason[ST_REASON_MAX]; /* human text, CouchDB's wording where it has one */
    /* NULL: the error is st_status_name(code).  Else a more specific
     * CouchDB error name (a static string) for the same code and HTTP
     * status: Mango has dozens of 400 names (invalid_sort_json,
     * no_usable_index, ...) that would otherwise each need a code. */
    const char *name;
} st_error;

/* CouchDB's "error" member for a code, e.g. "not_found". Never NULL. */
const char *st_status_name(st_status code);

/* The HTTP status CouchDB answers with for a code. */
int st_status_http(st_status code);

/* Fill *err (if non-NULL) with code and a printf-style reason; returns code,
 * so callers can write `return st_fail(err, ST_E_CONFLICT, "...")`. */
st_status st_fail(st_error *err, st_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* st_fail with a specific CouchDB error name (a static string, see
 * st_error.name). */
st_status st_fail_name(st_error *err, st_status code, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The error's CouchDB name: err->name, else st_status_name(err->code). */
const char *st_error_name(const st_error *err);

/* Reset *err (if non-NULL) to ST_OK with an empty reason. */
void st_error_clear(st_error *err);

#endif
