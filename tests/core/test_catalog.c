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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
