/* test_http_ops.c — what an operator sees: request lines in the log with
 * the client's address and a request id that is also the answer's
 * X-Couch-Request-ID, in text and in JSON format; ids are 10 hex digits
 * and differ from one request to the next, past the 50 ids a worker draws
 * at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpc.h"
#include "log.h"
#include "st_json.h"

static char log_path[600];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static void run(bool json)
{
    const char *tmp = getenv("SETTEE_TEST_TMP");
    snprintf(log_path, sizeof log_path, "%s/ops-%ld-%d.log", tmp ? tmp : "/tmp", (long)getpid(),
             json);
    unlink(log_path);
    assert_int_equal(t_start_with("log", "level", "info", "log", "file", log_path, "log",
                                  "format", json ? "json" : "text", NULL),
                     0);
    tresp r = t_req("GET", "/_up", NULL, false);
    T_EXPECT(r, 200);
    char id[32];
    assert_true(t_header(&r, "X-Couch-Request-ID", id, sizeof id));
    assert_int_equal(strlen(id), 10);
    t_free(&r);
    t_stop(); /* flushes the log */
    char *text = slurp(log_path);
    assert_non_null(text);
    char *line = strstr(text, id);
    assert_non_null(line);
    while (line > text && line[-1] != '\n')
        line--;
    char *end = strchr(line, '\n');
    assert_non_null(end);
    *end = '\0';
    if (json) {
        st_json_doc *d = NULL;
        assert_int_equal(st_json_parse(line, strlen(line), NULL, &d, NULL), ST_OK);
        const st_json *o = st_json_doc_root(d);
        assert_string_equal(st_json_get_str(o, "peer"), "127.0.0.1");
        assert_string_equal(st_json_get_str(o, "id"), id);
        assert_string_equal(st_json_get_str(o, "method"), "GET");
        assert_string_equal(st_json_get_str(o, "path"), "/_up");
        assert_string_equal(st_json_get_str(o, "level"), "info");
        assert_non_null(st_json_get(o, "status"));
        st_json_doc_free(d);
    } else {
        assert_non_null(strstr(line, "127.0.0.1 "));
        assert_non_null(strstr(line, " GET /_up 200 "));
    }
    free(text);
    unlink(log_path);
}

static void test_log_text(void **state)
{
    (void)state;
    run(false);
}

static void test_log_json(void **state)
{
    (void)state;
    run(true);
}

/* 120 requests on one connection (so mostly one worker's stock of ids,
 * refilled twice): each id is 10 lowercase hex digits, none repeats. */
static void test_request_ids_distinct(void **state)
{
    (void)state;
    enum { N = 120 };
    static char ids[N][32];
    assert_int_equal(t_start_with(NULL), 0);
    for (int i = 0; i < N; i++) {
        tresp r = t_req("GET", "/_up", NULL, false);
        T_EXPECT(r, 200);
        assert_true(t_header(&r, "X-Couch-Request-ID", ids[i], sizeof ids[i]));
        t_free(&r);
        assert_int_equal(strlen(ids[i]), 10);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 10);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);
    }
    t_stop();
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_text),
        cmocka_unit_test(test_log_json),
        cmocka_unit_test(test_request_ids_distinct),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
