/* cli_testutil.h — running the `settee` command-line tool from a cmocka
 * test: a command line (a shell fragment, bounded by timeout(1)) with its
 * output, and small database-file helpers.  Include after cmocka.h. */
#ifndef ST_CLI_TESTUTIL_H
#define ST_CLI_TESTUTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "repl_server.h"
#include "repl_testutil.h"
#include "st_buf.h"

/* A server config that hashes its admin with few PBKDF2 iterations: these
 * tests are about the tool, not password cost. */
#define CT_FAST_HASH_INI "[chttpd_auth]\niterations = 1000\n"

/* Run `settee ARGS` (a shell fragment); stdout+stderr into *out. */
static inline int cli(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int cli(char **out, const char *fmt, ...)
{
    char args[8192], line[8400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "timeout 60 '%s' %s 2>&1", rs_bin(), args);
    FILE *f = popen(line, "r");
    assert_non_null(f);
    st_buf b = ST_BUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        assert_int_equal(st_buf_add(&b, buf, n), ST_OK);
    int rc = pclose(f);
    *out = b.data ? st_buf_take(&b, NULL) : strdup("");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A database file with docs d000.. (n of them). */
static inline void make_db(const char *path, int n)
{
    st_db *db = rt_open(path, true);
    assert_non_null(db);
    for (int i = 0; i < n; i++)
        rt_put(db, NULL, "{\"_id\":\"d%03d\",\"n\":%d}", i, i);
    st_db_close(db);
}

static inline uint64_t doc_count(const char *path)
{
    st_db *db = rt_open(path, false);
    assert_non_null(db);
    st_db_info info;
    st_error e;
    assert_int_equal(st_db_info_get(db, &info, &e), ST_OK);
    st_db_close(db);
    return info.doc_count;
}

#endif
