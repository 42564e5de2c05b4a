/* test_error.c — st_status names/HTTP statuses and st_fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "st_error.h"

static void test_names_and_http(void **state)
{
    assert_string_equal(st_status_name(ST_E_BAD_REQUEST), "bad_request");
    assert_string_equal(st_status_name(ST_E_ILLEGAL_DBNAME), "illegal_database_name");
    assert_string_equal(st_status_name(ST_E_NOT_FOUND), "not_found");
    assert_string_equal(st_status_name(ST_E_CONFLICT), "conflict");
    assert_string_equal(st_status_name(ST_E_PRECONDITION), "precondition_failed");
    assert_string_equal(st_status_name(ST_E_DOC_TOO_LARGE), "document_too_large");
    assert_string_equal(st_status_name(ST_E_RANGE), "requested_range_not_satisfiable");
    assert_string_equal(st_status_name(ST_E_NOMEM), "internal_server_error");
    assert_int_equal(st_status_http(ST_OK), 200);
    assert_int_equal(st_status_http(ST_E_NOT_FOUND), 404);
    assert_int_equal(st_status_http(ST_E_CONFLICT), 409);
    assert_int_equal(st_status_http(ST_E_FILE_EXISTS), 412);
    assert_int_equal(st_status_http(ST_E_ATT_TOO_LARGE), 413);
    assert_int_equal(st_status_http(ST_E_UNAUTHORIZED), 401);
    assert_int_equal(st_status_http(ST_E_BAD_CONTENT_TYPE), 415);
    assert_int_equal(st_status_http(ST_E_METHOD), 405);
    assert_int_equal(st_status_http(ST_E_NOT_ACCEPTABLE), 406);
    assert_int_equal(st_status_http(ST_E_BUSY), 503);
    assert_string_equal(st_status_name(ST_E_OS_PROCESS), "os_process_error");
    assert_int_equal(st_status_http(ST_E_OS_PROCESS), 500);
    assert_string_equal(st_status_name(ST_E_COMPILATION), "compilation_error");
    assert_string_equal(st_status_name(ST_E_UNKNOWN_LANGUAGE), "unknown_query_language");
    assert_string_equal(st_status_name(ST_E_INVALID_VALUE), "invalid_value");
    assert_int_equal(st_status_http(ST_E_INVALID_VALUE), 500);
    assert_string_equal(st_status_name(ST_E_UNKNOWN_ERROR), "unknown_error");
    /* Every code has a name; out-of-range codes get a fallback, not NULL. */
    for (int c = 0; c < ST_E_LAST; c++) {
        assert_non_null(st_status_name((st_status)c));
        assert_true(st_status_http((st_status)c) >= 200);
    }
    assert_string_equal(st_status_name(ST_E_LAST), "unknown_error");
    assert_string_equal(st_status_name((st_status)-1), "unknown_error");
    assert_int_equal(st_status_http((st_status)9999), 500);
}

static void test_fail_and_clear(void **state)
{
    st_error e;
    char longer[600];

    st_error_clear(&e);
    assert_int_equal(e.code, ST_OK);
    assert_string_equal(e.reason, "");
    assert_int_equal(st_fail(&e, ST_E_CONFLICT, "doc %s rev %d", "a", 3), ST_E_CONFLICT);
    assert_int_equal(e.code, ST_E_CONFLICT);
    assert_string_equal(e.reason, "doc a rev 3");

    /* The reason may quote the previous reason. */
    st_fail(&e, ST_E_IO, "wrapped: %s", e.reason);
    assert_string_equal(e.reason, "wrapped: doc a rev 3");

    /* Truncated, still terminated. */
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    st_fail(&e, ST_E_BAD_REQUEST, "%s", longer);
    assert_int_equal(strlen(e.reason), ST_REASON_MAX - 1);

    assert_int_equal(st_fail(NULL, ST_E_NOT_FOUND, "missing"), ST_E_NOT_FOUND);
    st_error_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_http),
        cmocka_unit_test(test_fail_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
