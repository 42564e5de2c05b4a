/* error.c — names and HTTP statuses for st_status, and the error filler.
 *
 * Why a table: the server answers with CouchDB's exact {"error","reason"}
 * body, so each code must map to one stable name and status.  Keeping both in
 * one table indexed by the enum makes a missing entry a compile-time size
 * mismatch rather than a silent "unknown_error" at run time.
 */
#include "st_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int http;
} status_table[] = {
    [ST_OK] = {"ok", 200},
    [ST_E_BAD_REQUEST] = {"bad_request", 400},
    [ST_E_ILLEGAL_DOCID] = {"illegal_docid", 400},
    [ST_E_DOC_VALIDATION] = {"doc_validation", 400},
    [ST_E_ILLEGAL_DBNAME] = {"illegal_database_name", 400},
    [ST_E_NOT_FOUND] = {"not_found", 404},
    [ST_E_CONFLICT] = {"conflict", 409},
    [ST_E_FILE_EXISTS] = {"file_exists", 412},
    [ST_E_PRECONDITION] = {"precondition_failed", 412},
    [ST_E_MISSING_STUB] = {"missing_stub", 412},
    [ST_E_DOC_TOO_LARGE] = {"document_too_large", 413},
    [ST_E_ATT_TOO_LARGE] = {"attachment_too_large", 413},
    [ST_E_TOO_LARGE] = {"too_large", 413},
    [ST_E_NOMEM] = {"internal_server_error", 500},
    [ST_E_IO] = {"internal_server_error", 500},
    /* CouchDB says service_unavailable for its 503s. */
    [ST_E_BUSY] = {"service_unavailable", 503},
    [ST_E_MISUSE] = {"internal_server_error", 500},
    [ST_E_UNAUTHORIZED] = {"unauthorized", 401},
    [ST_E_FORBIDDEN] = {"forbidden", 403},
    [ST_E_BAD_CONTENT_TYPE] = {"bad_content_type", 415},
    [ST_E_METHOD] = {"method_not_allowed", 405},
    [ST_E_RANGE] = {"requested_range_not_satisfiable", 416},
    /* A remote peer failed while we acted as its client: a gateway error. */
    [ST_E_NETWORK] = {"bad_gateway", 502},
    [ST_E_TIMEOUT] = {"timeout", 500},
    [ST_E_QUERY_PARSE] = {"query_parse_error", 400},
    [ST_E_NOT_ACCEPTABLE] = {"not_acceptable", 406},
    /* CouchDB has no name of its own for a full disk (enospc ends up as a
     * generic 500); 507 is HTTP's status for it. */
    [ST_E_DISK_FULL] = {"insufficient_storage", 507},
    /* Mango's selector errors (mango_error.erl), all 400. */
    [ST_E_INVALID_SELECTOR_JSON] = {"invalid_selector_json", 400},
    [ST_E_INVALID_OPERATOR] = {"invalid_operator", 400},
    [ST_E_BAD_ARG] = {"bad_arg", 400},
    [ST_E_NOT_SUPPORTED] = {"not_supported", 400},
    [ST_E_INVALID_SELECTOR] = {"invalid_selector", 400},
    [ST_E_BAD_FIELD] = {"bad_field", 400},
    [ST_E_OS_PROCESS] = {"os_process_error", 500},
    /* 400 as at design-document save, where CouchDB compiles map functions. */
    [ST_E_COMPILATION] = {"compilation_error", 400},
    /* The process's own error name is in st_qs_answer for an exact body. */
    [ST_E_QUERY_SERVER] = {"query_server_error", 500},
    [ST_E_UNKNOWN_LANGUAGE] = {"unknown_query_language", 500},
    [ST_E_INVALID_VALUE] = {"invalid_value", 500},
    [ST_E_UNKNOWN_ERROR] = {"unknown_error", 500},
    /* chttpd's error_info(not_implemented) and (request_uri_too_long). */
    [ST_E_NOT_IMPLEMENTED] = {"not_implemented", 501},
    [ST_E_URI_TOO_LONG] = {"too_long", 414},
};

_Static_assert(sizeof status_table / sizeof status_table[0] == ST_E_LAST,
               "every st_status needs a name and an HTTP status");

static int known(st_status code)
{
    return (unsigned)code < (unsigned)ST_E_LAST;
}

const char *st_status_name(st_status code)
{
    return known(code) ? status_table[code].name : "unknown_error";
}

int st_status_http(st_status code)
{
    return known(code) ? status_table[code].http : 500;
}

static st_status fail_v(st_error *err, st_status code, const char *name, const char *fmt,
                        va_list ap)
{
    /* Format into a local first: callers may pass err->reason as an argument
     * ("wrapping: %s", err->reason) and vsnprintf must not overlap. */
    char tmp[ST_REASON_MAX];

    tmp[0] = '\0';
    if (fmt != NULL && vsnprintf(tmp, sizeof tmp, fmt, ap) < 0)
        tmp[0] = '\0';
    err->code = code;
    err->name = name;
    memcpy(err->reason, tmp, sizeof tmp);
    return code;
}

st_status st_fail(st_error *err, st_status code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    fail_v(err, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

st_status st_fail_name(st_error *err, st_status code, const char *name, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    fail_v(err, code, name, fmt, ap);
    va_end(ap);
    return code;
}

const char *st_error_name(const st_error *err)
{
    return err->name != NULL ? err->name : st_status_name(err->code);
}

void st_error_clear(st_error *err)
{
    if (err == NULL)
        return;
    err->code = ST_OK;
    err->name = NULL;
    err->reason[0] = '\0';
}
