/* test_cli_format.c — the pure parts of the `settee sync` display
 * (client/cli/progress.c): a rate needs a second of samples and follows the
 * last few seconds, numbers and sequences come out short, and the progress
 * line never passes width - 1 columns, dropping the least useful fields
 * first; and URLs as the tool shows them (client/cli/http.c), without
 * their password however it is written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "progress.h"

static void test_rate_window(void **state)
{
    (void)state;
    cli_rate r;
    memset(&r, 0, sizeof r);
    double v;
    assert_false(cli_rate_get(&r, 5, 1, &v));
    /* 5000 documents 3 ms after the start: no rate yet (not 1.6 M/s). */
    cli_rate_add(&r, 0.000, 0);
    cli_rate_add(&r, 0.003, 5000);
    assert_false(cli_rate_get(&r, 5, 1, &v));
    cli_rate_add(&r, 1.003, 6000);
    assert_true(cli_rate_get(&r, 5, 1, &v));
    assert_true(v > 5900 && v < 6100);
    /* 100/s for 20 s, then 1000/s for 5 s: the rate follows the last 5 s. */
    memset(&r, 0, sizeof r);
    uint64_t n = 0;
    for (int t = 0; t <= 20; t++, n += 100)
        cli_rate_add(&r, t, n);
    for (int t = 21; t <= 25; t++) {
        n += 1000;
        cli_rate_add(&r, t, n);
    }
    assert_true(cli_rate_get(&r, 5, 1, &v));
    assert_true(v > 950 && v < 1050);
    /* More samples than the ring holds: still sane. */
    for (int t = 26; t < 400; t++) {
        n += 10;
        cli_rate_add(&r, t, n);
    }
    assert_true(cli_rate_get(&r, 5, 1, &v));
    assert_true(v > 9 && v < 11);
}

static void test_numbers(void **state)
{
    (void)state;
    char b[64];
    cli_fmt_count(b, sizeof b, 0);
    assert_string_equal(b, "0");
    cli_fmt_count(b, sizeof b, 1234567);
    assert_string_equal(b, "1,234,567");
    cli_fmt_count(b, sizeof b, 999);
    assert_string_equal(b, "999");
    cli_fmt_bytes(b, sizeof b, 999);
    assert_string_equal(b, "999 B");
    cli_fmt_bytes(b, sizeof b, 1234);
    assert_string_equal(b, "1.2 kB");
    cli_fmt_bytes(b, sizeof b, 34500000);
    assert_string_equal(b, "34.5 MB");
    cli_fmt_bytes(b, sizeof b, 999990000);
    assert_string_equal(b, "1.0 GB");
    cli_fmt_duration(b, sizeof b, 7.2);
    assert_string_equal(b, "0:07");
    cli_fmt_duration(b, sizeof b, 723);
    assert_string_equal(b, "12:03");
    cli_fmt_duration(b, sizeof b, 3723);
    assert_string_equal(b, "1:02:03");
    cli_fmt_rate(b, sizeof b, 512.4);
    assert_string_equal(b, "512/s");
    cli_fmt_rate(b, sizeof b, 12345);
    assert_string_equal(b, "12.3k/s");
}

static void test_seq_short(void **state)
{
    (void)state;
    char b[64];
    cli_seq_short(b, sizeof b, "42");
    assert_string_equal(b, "42");
    cli_seq_short(b, sizeof b, "18446744073709551615");
    assert_string_equal(b, "18446744073709551615"); /* a number as is */
    cli_seq_short(b, sizeof b,
                  "\"42-g1AAAAFTeJzLYWBg4MhgTmHgz8tPSTV0MDQy1zMAQsMcoARTIkMeC8N_IMjKYE5k"
                  "yAUKsacaGZqkJFpgasLVBJHrJ-nmgJ6pZMBEzAgYBAA\"");
    assert_string_equal(b, "42"); /* CouchDB's opaque sequence: its number */
    cli_seq_short(b, sizeof b, "\"now\"");
    assert_string_equal(b, "now");
    cli_seq_short(b, sizeof b, "\"abcdefghijklmnopqrstuvwxyz\"");
    assert_string_equal(b, "abcdefghijklm...");
    cli_seq_short(b, sizeof b, "");
    assert_string_equal(b, "-");
}

static void test_line_fits(void **state)
{
    (void)state;
    cli_progress_item it[2] = {
        {.label = "push", .state = "running", .docs = 123456, .done = 500, .total = 1000,
         .have_bytes = true, .bytes = 98765432, .have_rate = true, .rate = 4321,
         .have_eta = true, .eta_s = 75},
        {.label = "pull", .state = "offline", .docs = 7, .have_rate = false},
    };
    char line[512];
    for (unsigned w = 1; w <= 240; w++) {
        cli_progress_line(line, sizeof line, it, 2, 3725, w);
        assert_true(strlen(line) <= (w > 1 ? w - 1 : 1));
        assert_null(strchr(line, '\n'));
        assert_null(strchr(line, '\r'));
    }
    /* Wide: everything. */
    cli_progress_line(line, sizeof line, it, 2, 12, 200);
    assert_non_null(strstr(line, "push [#####.....] 123,456 docs 98.8 MB 4.3k/s running"));
    assert_non_null(strstr(line, "pull 7 docs --/s offline"));
    assert_non_null(strstr(line, "0:12 ETA 1:15"));
    /* 80 columns: the bar goes first, the numbers stay. */
    cli_progress_line(line, sizeof line, it, 2, 12, 80);
    assert_null(strchr(line, '['));
    assert_non_null(strstr(line, "123,456 docs"));
    assert_non_null(strstr(line, "0:12"));
    /* Narrow: documents and elapsed time only. */
    cli_progress_line(line, sizeof line, it, 1, 12, 30);
    assert_string_equal(line, "push 123,456 docs  0:12");
}

static void test_url_display(void **state)
{
    (void)state;
    static const char *cases[][2] = {
        {"http://u:p@h:1/db", "http://u@h:1/db"},
        {"http://u:pa@ss@h/db", "http://u@h/db"},       /* an unescaped '@' in it */
        {"https://u:p%40q@h/db?x=1", "https://u@h/db?x=1"},
        {"http://u:@h/db", "http://u@h/db"},
        {"http://u:p:q@h", "http://u@h"},
        {"http://u@h/db", "http://u@h/db"},             /* no password */
        {"http://h/db/a:b@c", "http://h/db/a:b@c"},     /* '@' in the path */
        {"http://h:5984/db", "http://h:5984/db"},
        {"./file.settee", "./file.settee"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *shown = cli_url_display(cases[i][0]);
        assert_non_null(shown);
        assert_string_equal(shown, cases[i][1]);
        free(shown);
    }
    size_t at = 0, len = 0;
    assert_true(cli_url_password("http://u:pa@ss@h/db", &at, &len));
    assert_int_equal(at, 9);
    assert_int_equal(len, 5);
    assert_false(cli_url_password("http://u@h/db", &at, &len));
    assert_false(cli_url_password("http://h/x:y@z", &at, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_window),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_seq_short),
        cmocka_unit_test(test_line_fits),
        cmocka_unit_test(test_url_display),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
