/* hello.c — the smallest libsettee app, built outside the source tree from
 * the installed header and library (pkg-config or find_package). */
#include <settee.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2)
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
    settee_free(rev);
    settee_free(json);
    if (settee_db_close(db) != SETTEE_OK)
        rc = 1;
    return rc;
}
