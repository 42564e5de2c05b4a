/* test_buf.c — st_buf: growth, the hard cap, NUL termination, take. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "st_buf.h"

static void test_empty_and_take(void **state)
{
    st_buf b = ST_BUF_INIT;
    size_t n = 99;
    char *p;

    assert_null(b.data);
    p = st_buf_take(&b, &n);
    assert_non_null(p); /* an allocated "", not NULL */
    assert_string_equal(p, "");
    assert_int_equal(n, 0);
    free(p);
    st_buf_free(&b);
}

static void test_append_kinds(void **state)
{
    st_buf b;
    size_t n;
    char *p;

    st_buf_init(&b, 0);
    assert_int_equal(st_buf_add(&b, "ab", 2), ST_OK);
    assert_int_equal(st_buf_adds(&b, "cd"), ST_OK);
    assert_int_equal(st_buf_addc(&b, 'e'), ST_OK);
    assert_int_equal(st_buf_printf(&b, "-%d-%s", 42, "x"), ST_OK);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "abcde-42-x");
    assert_true(b.cap > b.len);

    p = st_buf_take(&b, &n);
    assert_int_equal(n, 10);
    assert_string_equal(p, "abcde-42-x");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(p);

    /* The buffer is reusable after take. */
    assert_int_equal(st_buf_adds(&b, "again"), ST_OK);
    assert_string_equal(b.data, "again");
    st_buf_free(&b);
}

static void test_zero_append_allocates(void **state)
{
    st_buf b = ST_BUF_INIT;

    assert_int_equal(st_buf_add(&b, "", 0), ST_OK);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    st_buf_free(&b);
}

static void test_growth_keeps_content(void **state)
{
    st_buf b = ST_BUF_INIT;

    for (int i = 0; i < 10000; i++)
        assert_int_equal(st_buf_addc(&b, (char)('a' + i % 26)), ST_OK);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[10000], '\0');
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    st_buf_free(&b);
}

static void test_printf_grows(void **state)
{
    st_buf b = ST_BUF_INIT;
    char want[1001];

    memset(want, 'z', 1000);
    want[1000] = '\0';
    assert_int_equal(st_buf_adds(&b, "<"), ST_OK);
    assert_int_equal(st_buf_printf(&b, "%s>", want), ST_OK);
    assert_int_equal(b.len, 1002);
    assert_int_equal(b.data[0], '<');
    assert_memory_equal(b.data + 1, want, 1000);
    assert_string_equal(b.data + 1001, ">");
    st_buf_free(&b);
}

static void test_cap_refuses_and_keeps_state(void **state)
{
    st_buf b;

    st_buf_init(&b, 10);
    assert_int_equal(st_buf_add(&b, "0123456789", 10), ST_OK);
    assert_true(b.cap <= 11); /* never allocates past max + NUL */
    assert_int_equal(st_buf_addc(&b, 'x'), ST_E_TOO_LARGE);
    assert_int_equal(st_buf_adds(&b, "x"), ST_E_TOO_LARGE);
    assert_int_equal(st_buf_reserve(&b, 1), ST_E_TOO_LARGE);
    assert_int_equal(st_buf_reserve(&b, 0), ST_OK);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789");

    st_buf_reset(&b);
    assert_int_equal(st_buf_add(&b, "01234", 5), ST_OK);
    assert_int_equal(st_buf_printf(&b, "%s", "abcdef"), ST_E_TOO_LARGE);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "01234"); /* truncated attempt undone */
    assert_int_equal(st_buf_printf(&b, "%s", "abcde"), ST_OK);
    assert_string_equal(b.data, "01234abcde");
    st_buf_free(&b);
}

static void test_cap_overflow_sizes(void **state)
{
    st_buf b = ST_BUF_INIT; /* max 0: SIZE_MAX/2 */

    assert_int_equal(st_buf_reserve(&b, SIZE_MAX), ST_E_TOO_LARGE);
    assert_int_equal(st_buf_reserve(&b, SIZE_MAX / 2 + 1), ST_E_TOO_LARGE);
    assert_int_equal(st_buf_adds(&b, "abc"), ST_OK);
    assert_int_equal(st_buf_reserve(&b, SIZE_MAX / 2 - 2), ST_E_TOO_LARGE);
    assert_int_equal(st_buf_reserve(&b, SIZE_MAX - 2), ST_E_TOO_LARGE);
    assert_string_equal(b.data, "abc");
    st_buf_free(&b);
}

static void test_reset_and_free(void **state)
{
    st_buf b;
    size_t cap;

    st_buf_init(&b, 100);
    assert_int_equal(st_buf_adds(&b, "hello"), ST_OK);
    cap = b.cap;
    st_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.data, "");
    st_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.max, 100); /* free keeps the cap */
    st_buf_free(&b);              /* twice is fine */
    st_buf_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_take),
        cmocka_unit_test(test_append_kinds),
        cmocka_unit_test(test_zero_append_allocates),
        cmocka_unit_test(test_growth_keeps_content),
        cmocka_unit_test(test_printf_grows),
        cmocka_unit_test(test_cap_refuses_and_keeps_state),
        cmocka_unit_test(test_cap_overflow_sizes),
        cmocka_unit_test(test_reset_and_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
