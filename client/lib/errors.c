/* errors.c — settee_status, settee_error, and the small basics every other
 * file uses: version, settee_free, the core-to-public code table.
 *
 * Why a table and not a cast: core's st_status and the public settee_status
 * are both append-only ABIs, but they grow independently (core gains codes
 * the embedding never shows, the embedding has DONE/MISUSE semantics of its
 * own), so the mapping is spelled out once, here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

static const struct {
    const char *name;
    int http;
} codes[SETTEE_STATUS_LAST] = {
    [SETTEE_OK] = {"ok", 200},
    [SETTEE_DONE] = {"done", 0},
    [SETTEE_NOT_FOUND] = {"not_found", 404},
    [SETTEE_CONFLICT] = {"conflict", 409},
    [SETTEE_BAD_REQUEST] = {"bad_request", 400},
    [SETTEE_BUSY] = {"busy", 503},
    [SETTEE_IO] = {"io_error", 500},
    [SETTEE_NOMEM] = {"out_of_memory", 500},
    [SETTEE_NETWORK] = {"network_error", 502},
    [SETTEE_MISUSE] = {"misuse", 500},
    [SETTEE_ILLEGAL_DOCID] = {"illegal_docid", 400},
    [SETTEE_DOC_VALIDATION] = {"doc_validation", 400},
    [SETTEE_ILLEGAL_DATABASE_NAME] = {"illegal_database_name", 400},
    [SETTEE_FILE_EXISTS] = {"file_exists", 412},
    [SETTEE_PRECONDITION_FAILED] = {"precondition_failed", 412},
    [SETTEE_MISSING_STUB] = {"missing_stub", 412},
    [SETTEE_DOCUMENT_TOO_LARGE] = {"document_too_large", 413},
    [SETTEE_ATTACHMENT_TOO_LARGE] = {"attachment_too_large", 413},
    [SETTEE_TOO_LARGE] = {"too_large", 413},
    [SETTEE_UNAUTHORIZED] = {"unauthorized", 401},
    [SETTEE_FORBIDDEN] = {"forbidden", 403},
    [SETTEE_BAD_CONTENT_TYPE] = {"bad_content_type", 415},
    [SETTEE_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405},
    [SETTEE_RANGE_NOT_SATISFIABLE] = {"requested_range_not_satisfiable", 416},
    [SETTEE_TIMEOUT] = {"timeout", 500},
    [SETTEE_QUERY_PARSE_ERROR] = {"query_parse_error", 400},
    [SETTEE_NOT_ACCEPTABLE] = {"not_acceptable", 406},
    [SETTEE_INTERNAL] = {"internal_server_error", 500},
    [SETTEE_INSUFFICIENT_STORAGE] = {"insufficient_storage", 507},
    [SETTEE_COMPILATION_ERROR] = {"compilation_error", 400},
    [SETTEE_OS_PROCESS_ERROR] = {"os_process_error", 500},
    [SETTEE_UNKNOWN_QUERY_LANGUAGE] = {"unknown_query_language", 500},
    [SETTEE_QUERY_SERVER_ERROR] = {"query_server_error", 500},
};

const char *settee_status_name(settee_status code)
{
    if ((unsigned)code >= SETTEE_STATUS_LAST || !codes[code].name)
        return "unknown";
    return codes[code].name;
}

int settee_version_number(void) { return SETTEE_VERSION_NUMBER; }
const char *settee_version(void) { return SETTEE_VERSION_STRING; }
void settee_free(void *p) { free(p); }

settee_status st_client_code(st_status s)
{
    switch (s) {
    case ST_OK: return SETTEE_OK;
    case ST_E_BAD_REQUEST: return SETTEE_BAD_REQUEST;
    case ST_E_ILLEGAL_DOCID: return SETTEE_ILLEGAL_DOCID;
    case ST_E_DOC_VALIDATION: return SETTEE_DOC_VALIDATION;
    case ST_E_ILLEGAL_DBNAME: return SETTEE_ILLEGAL_DATABASE_NAME;
    case ST_E_NOT_FOUND: return SETTEE_NOT_FOUND;
    case ST_E_CONFLICT: return SETTEE_CONFLICT;
    case ST_E_FILE_EXISTS: return SETTEE_FILE_EXISTS;
    case ST_E_PRECONDITION: return SETTEE_PRECONDITION_FAILED;
    case ST_E_MISSING_STUB: return SETTEE_MISSING_STUB;
    case ST_E_DOC_TOO_LARGE: return SETTEE_DOCUMENT_TOO_LARGE;
    case ST_E_ATT_TOO_LARGE: return SETTEE_ATTACHMENT_TOO_LARGE;
    case ST_E_TOO_LARGE: return SETTEE_TOO_LARGE;
    case ST_E_NOMEM: return SETTEE_NOMEM;
    case ST_E_IO: return SETTEE_IO;
    case ST_E_BUSY: return SETTEE_BUSY;
    case ST_E_MISUSE: return SETTEE_MISUSE;
    case ST_E_UNAUTHORIZED: return SETTEE_UNAUTHORIZED;
    case ST_E_FORBIDDEN: return SETTEE_FORBIDDEN;
    case ST_E_BAD_CONTENT_TYPE: return SETTEE_BAD_CONTENT_TYPE;
    case ST_E_METHOD: return SETTEE_METHOD_NOT_ALLOWED;
    case ST_E_RANGE: return SETTEE_RANGE_NOT_SATISFIABLE;
    case ST_E_NETWORK: return SETTEE_NETWORK;
    case ST_E_TIMEOUT: return SETTEE_TIMEOUT;
    case ST_E_QUERY_PARSE: return SETTEE_QUERY_PARSE_ERROR;
    case ST_E_NOT_ACCEPTABLE: return SETTEE_NOT_ACCEPTABLE;
    case ST_E_DISK_FULL: return SETTEE_INSUFFICIENT_STORAGE;
    /* Mango selector errors: no public code of their own; the message
     * starts with their name (specific_name). */
    case ST_E_INVALID_SELECTOR_JSON:
    case ST_E_INVALID_OPERATOR:
    case ST_E_BAD_ARG:
    case ST_E_NOT_SUPPORTED:
    case ST_E_INVALID_SELECTOR:
    case ST_E_BAD_FIELD: return SETTEE_BAD_REQUEST;
    /* Query-server codes (design documents' JavaScript). */
    case ST_E_COMPILATION: return SETTEE_COMPILATION_ERROR;
    case ST_E_OS_PROCESS: return SETTEE_OS_PROCESS_ERROR;
    case ST_E_UNKNOWN_LANGUAGE: return SETTEE_UNKNOWN_QUERY_LANGUAGE;
    case ST_E_QUERY_SERVER: return SETTEE_QUERY_SERVER_ERROR;
    /* _stats over non-numbers, a validate_doc_update that threw neither
     * {forbidden} nor {unauthorized}: CouchDB's 500s without a name here. */
    case ST_E_INVALID_VALUE:
    case ST_E_UNKNOWN_ERROR: return SETTEE_INTERNAL;
    /* HTTP framing answers: only the server gives them. */
    case ST_E_NOT_IMPLEMENTED:
    case ST_E_URI_TOO_LONG: return SETTEE_BAD_REQUEST;
    case ST_E_LAST: break;
    }
    return SETTEE_INTERNAL;
}

void st_client_ok(settee_error *e)
{
    if (!e)
        return;
    e->code = SETTEE_OK;
    e->http_status = 0;
    e->message[0] = '\0';
}

settee_status st_client_fail(settee_error *e, settee_status code, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    e->http_status = (unsigned)code < SETTEE_STATUS_LAST ? codes[code].http : 500;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return code;
}

/* CouchDB's error name for an error the public code does not name by
 * itself: Mango's many 400s (st_error.name: no_usable_index, ...) and the
 * selector's own codes, which all surface as SETTEE_BAD_REQUEST.  NULL
 * when settee_status_name says it all. */
static const char *specific_name(st_status s, const st_error *ce)
{
    if (ce && ce->code == s && ce->name)
        return ce->name;
    if (s >= ST_E_INVALID_SELECTOR_JSON && s <= ST_E_BAD_FIELD)
        return st_status_name(s);
    return NULL;
}

settee_status st_client_from_core(settee_error *e, st_status s, const st_error *ce)
{
    settee_status code = st_client_code(s);
    if (s == ST_OK) {
        st_client_ok(e);
        return code;
    }
    if (!e)
        return code;
    e->code = code;
    e->http_status = st_status_http(s);
    const char *why = ce && ce->code == s && ce->reason[0] ? ce->reason : st_status_name(s);
    const char *name = specific_name(s, ce);
    size_t at = 0;
    if (name && strcmp(name, why) != 0) {
        int k = snprintf(e->message, sizeof e->message, "%s: ", name);
        at = k > 0 && (size_t)k < sizeof e->message ? (size_t)k : 0;
    }
    snprintf(e->message + at, sizeof e->message - at, "%s", why); /* cut to fit */
    return code;
}

settee_status st_client_dup(char **out, const char *s, size_t n, settee_error *e)
{
    *out = malloc(n + 1);
    if (!*out)
        return st_client_fail(e, SETTEE_NOMEM, "out of memory");
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    return SETTEE_OK;
}
