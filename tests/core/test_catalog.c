/* test_catalog.c — databases by name: validation, create/delete/list,
 * shared handles that survive deletion until put back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <dirent.h>
#include <stdio.h>

#include "st_catalog.h"
#include "support/tmp.h"

static void test_names(void **state)
{
    assert_true(st_dbname_valid("a"));
    assert_true(st_dbname_valid("a1_$()+-/b"));
    assert_false(st_dbname_valid("A"));
    assert_false(st_dbname_valid("1a"));
    assert_false(st_dbname_valid("_users2"));
    assert_false(st_dbname_valid(""));
    assert_false(st_dbname_valid("a b"));
    assert_false(st_dbname_valid("a.b"));
}

static void test_lifecycle(void **state)
{
    char dir[4096];
    ts_db_path(dir, sizeof dir, "catalog");
    st_catalog *cat = NULL;
    st_error e;
    assert_int_equal(st_catalog_open(dir, NULL, &cat, &e), ST_OK);
    assert_int_equal(st_catalog_create(cat, "Bad", NULL, &e), ST_E_ILLEGAL_DBNAME);
    assert_non_null(strstr(e.reason, "Only lowercase characters"));
    assert_int_equal(st_catalog_create(cat, "b/one", NULL, &e), ST_OK);
    assert_int_equal(st_catalog_create(cat, "a$x", NULL, &e), ST_OK);
    assert_int_equal(st_catalog_create(cat, "a$x", NULL, &e), ST_E_FILE_EXISTS);
    assert_string_equal(e.reason, "The database could not be created, the file already exists.");
    char **names;
    size_t n;
    assert_int_equal(st_catalog_list(cat, &names, &n, &e), ST_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a$x");
    assert_string_equal(names[1], "b/one");
    st_catalog_names_free(names, n);

    st_db *db = NULL;
    assert_int_equal(st_catalog_get(cat, "b/one", &db, &e), ST_OK);
    st_write_result r;
    assert_int_equal(st_db_put_json(db, "{\"_id\":\"x\"}", 11, 0, &r, &e), ST_OK);
    st_write_results_free(&r, 1);
    /* Deleting while a handle is held: the name is gone, the handle fails. */
    assert_int_equal(st_catalog_delete(cat, "b/one", &e), ST_OK);
    assert_false(st_catalog_exists(cat, "b/one"));
    st_db *again = NULL;
    assert_int_equal(st_catalog_get(cat, "b/one", &again, &e), ST_E_NOT_FOUND);
    assert_string_equal(e.reason, "Database does not exist.");
    st_buf b = ST_BUF_INIT;
    assert_int_equal(st_db_get(db, "x", NULL, &b, &e), ST_E_NOT_FOUND);
    assert_string_equal(e.reason, "Database does not exist.");
    assert_int_equal(st_db_put_json(db, "{}", 2, 0, &r, &e), ST_E_NOT_FOUND);
    st_write_results_free(&r, 1);
    st_buf_free(&b);
    st_catalog_put(cat, db);
    assert_int_equal(st_catalog_delete(cat, "b/one", &e), ST_E_NOT_FOUND);
    /* Re-created from scratch. */
    assert_int_equal(st_catalog_create(cat, "b/one", NULL, &e), ST_OK);
    assert_int_equal(st_catalog_get(cat, "b/one", &db, &e), ST_OK);
    st_db_info info;
    assert_int_equal(st_db_info_get(db, &info, &e), ST_OK);
    assert_int_equal(info.doc_count, 0);
    st_catalog_put(cat, db);
    assert_int_equal(st_catalog_delete(cat, "b/one", &e), ST_OK);
    assert_int_equal(st_catalog_delete(cat, "a$x", &e), ST_OK);
    st_catalog_close(cat);
    rmdir(dir);
}

static unsigned open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    unsigned n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* With a bound on open handles, using 40 databases one after another keeps
 * at most that many open (their descriptors are what a server reserves);
 * a handle in use is never closed, and a closed one reopens on demand. */
static void test_max_open(void **state)
{
    (void)state;
    char dir[4096], name[32];
    ts_db_path(dir, sizeof dir, "catalog-max");
    st_catalog *cat = NULL;
    st_error e;
    st_db_options o;
    st_db_options_init(&o);
    o.durability = ST_DURABLE_NORMAL;
    assert_int_equal(st_catalog_open(dir, &o, &cat, &e), ST_OK);
    st_catalog_set_max_open(cat, 3);
    unsigned base = open_fds(), most = 0;
    st_db *held = NULL;
    assert_int_equal(st_catalog_create(cat, "held", NULL, &e), ST_OK);
    assert_int_equal(st_catalog_get(cat, "held", &held, &e), ST_OK);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "db%02d", i);
        assert_int_equal(st_catalog_create(cat, name, NULL, &e), ST_OK);
        st_db *db = NULL;
        assert_int_equal(st_catalog_get(cat, name, &db, &e), ST_OK);
        st_write_result r;
        assert_int_equal(st_db_put_json(db, "{\"_id\":\"x\"}", 11, 0, &r, &e), ST_OK);
        st_write_results_free(&r, 1);
        st_buf b = ST_BUF_INIT;
        assert_int_equal(st_db_get(db, "x", NULL, &b, &e), ST_OK);
        st_buf_free(&b);
        st_catalog_put(cat, db);
        unsigned now = open_fds();
        if (now > most)
            most = now;
    }
    /* three databases' worth (2 per connection, writer and one reader,
     * and the WAL index), with room for the pool's threads */
    fprintf(stderr, "descriptors: %u at start, at most %u with 40 databases used\n", base, most);
    assert_true(most - base <= 3 * 8);
    /* the held one was never closed; the evicted ones reopen */
    st_write_result r;
    assert_int_equal(st_db_put_json(held, "{\"_id\":\"y\"}", 11, 0, &r, &e), ST_OK);
    st_write_results_free(&r, 1);
    st_catalog_put(cat, held);
    st_db *db = NULL;
    assert_int_equal(st_catalog_get(cat, "db00", &db, &e), ST_OK);
    st_db_info info;
    assert_int_equal(st_db_info_get(db, &info, &e), ST_OK);
    assert_int_equal(info.doc_count, 1);
    st_catalog_put(cat, db);
    char **names;
    size_t n;
    assert_int_equal(st_catalog_list(cat, &names, &n, &e), ST_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(st_catalog_delete(cat, names[i], &e), ST_OK);
    st_catalog_names_free(names, n);
    st_catalog_close(cat);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_max_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
