/* hello.c — the smallest libsettee app, built outside the source tree from
 * the installed header and library (pkg-config or find_package).  With a
 * second argument "view" it also queries a view, which needs the settee-js
 * installed beside the shared library (found without SETTEE_JS). */
#include <settee.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_row(void *ctx, const settee_view_row *row)
{
    ++*(int *)ctx;
    printf("view row: %.*s\n", (int)row->json_len, row->json);
    return 0;
}

static int query_view(settee_db *db)
{
    settee_error e;
    int rows = 0;
    if (settee_doc_put(db,
                       "{\"_id\":\"_design/h\",\"views\":{\"v\":{\"map\":"
                       "\"function(doc){ if (doc.n) emit(doc.n, doc._id); }\"}}}",
                       SETTEE_NUL_TERMINATED, NULL, &e) != SETTEE_OK ||
        settee_view_query(db, "h", "v", NULL, 0, print_row, &rows, NULL, &e) != SETTEE_OK) {
        fprintf(stderr, "view: %s\n", e.message);
        return 1;
    }
    return rows == 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 3 && strcmp(argv[2], "view") == 0))
        return 2;
    settee_db *db = NULL;
    settee_error e;
    if (settee_db_open(argv[1], NULL, &db, &e) != SETTEE_OK) {
        fprintf(stderr, "open: %s\n", e.message);
        return 1;
    }
    char *rev = NULL, *json = NULL;
    int rc = 1;
    if (settee_doc_put(db, "{\"_id\":\"hello\",\"n\":1}", SETTEE_NUL_TERMINATED, &rev, &e) ==
            SETTEE_OK &&
        settee_doc_get(db, "hello", NULL, &json, &e) == SETTEE_OK) {
        printf("settee %s: %s\n", settee_version(), json);
        rc = settee_version_number() == SETTEE_VERSION_NUMBER ? 0 : 1;
    } else {
        fprintf(stderr, "%s\n", e.message);
    }
    if (rc == 0 && argc == 3)
        rc = query_view(db);
    settee_free(rev);
    settee_free(json);
    if (settee_db_close(db) != SETTEE_OK)
        rc = 1;
    return rc;
}
