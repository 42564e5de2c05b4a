/* test_api.c — every public function of settee.h through the header alone:
 * documents, bulk writes, all_docs, attachments, changes, info, conflicts,
 * resolvers, and misuse (NULL handles, closed databases, invalid JSON)
 * answered with errors, never crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "client/client_testutil.h"

typedef struct fx {
    char dir[4096];
    char path[4200];
    settee_db *db;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    ts_tmp_dir(f->dir, sizeof f->dir, "api");
    snprintf(f->path, sizeof f->path, "%s/app.settee", f->dir);
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = false;
    settee_error e;
    assert_int_equal(settee_db_open(f->path, &o, &f->db, &e), SETTEE_OK);
    assert_int_equal(e.code, SETTEE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    assert_int_equal(settee_db_close(f->db), SETTEE_OK);
    ts_rm_rf(f->dir);
    free(f);
    return 0;
}

/* put json, return its new rev (caller frees). */
static char *put(settee_db *db, const char *json)
{
    char *rev = NULL;
    settee_error e;
    settee_status rc = settee_doc_put(db, json, SETTEE_NUL_TERMINATED, &rev, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "put %s: %s\n", json, e.message);
    assert_int_equal(rc, SETTEE_OK);
    assert_non_null(rev);
    return rev;
}

static void test_version_and_names(void **state)
{
    (void)state;
    assert_int_equal(settee_version_number(), SETTEE_VERSION_NUMBER);
    assert_string_equal(settee_version(), SETTEE_VERSION_STRING);
    assert_string_equal(settee_status_name(SETTEE_NOT_FOUND), "not_found");
    assert_string_equal(settee_status_name(SETTEE_CONFLICT), "conflict");
    assert_string_equal(settee_status_name(SETTEE_MISUSE), "misuse");
    assert_string_equal(settee_status_name((settee_status)9999), "unknown");
    for (int c = 0; c < SETTEE_STATUS_LAST; c++)
        assert_string_not_equal(settee_status_name((settee_status)c), "unknown");
    settee_free(NULL);
}

static void test_open_close(void **state)
{
    fx *f = *state;
    char p[4300];
    settee_db *db = (settee_db *)0x1;
    settee_error e;
    settee_db_options o;
    settee_db_options_init(&o);
    assert_true(o.create);
    assert_true(o.durable);
    assert_int_equal(o.dispatch, SETTEE_DISPATCH_THREAD);
    assert_int_equal(o.struct_size, sizeof o);
    assert_int_equal(o.cache_kib, 0);
    assert_int_equal(o.mmap_kib, 0);
    o.create = false;
    snprintf(p, sizeof p, "%s/missing.settee", f->dir);
    assert_int_equal(settee_db_open(p, &o, &db, &e), SETTEE_NOT_FOUND);
    assert_null(db);
    assert_int_equal(e.code, SETTEE_NOT_FOUND);
    assert_int_equal(e.http_status, 404);
    assert_int_equal(settee_db_open(NULL, NULL, &db, &e), SETTEE_MISUSE);
    assert_int_equal(settee_db_open(p, NULL, NULL, &e), SETTEE_MISUSE);
    assert_int_equal(settee_db_open("", NULL, &db, &e), SETTEE_BAD_REQUEST);
    snprintf(p, sizeof p, "%s/no/such/dir/x.settee", f->dir);
    assert_int_not_equal(settee_db_open(p, NULL, &db, &e), SETTEE_OK);
    assert_null(db);
    o.create = true;
    o.dispatch = (settee_dispatch_mode)7;
    snprintf(p, sizeof p, "%s/other.settee", f->dir);
    assert_int_equal(settee_db_open(p, &o, &db, &e), SETTEE_MISUSE);

    /* Created on demand with NULL options, reopened with data intact. */
    assert_int_equal(settee_db_open(p, NULL, &db, &e), SETTEE_OK);
    settee_free(put(db, "{\"_id\":\"kept\",\"v\":1}"));
    assert_int_equal(settee_db_close(db), SETTEE_OK);
    assert_int_equal(settee_db_close(NULL), SETTEE_OK);
    /* A closed handle is refused, not dereferenced. */
    assert_int_equal(settee_db_close(db), SETTEE_MISUSE);
    char *json = NULL;
    assert_int_equal(settee_doc_get(db, "kept", NULL, &json, &e), SETTEE_MISUSE);
    assert_null(json);
    o.create = false;
    o.dispatch = SETTEE_DISPATCH_MANUAL;
    assert_int_equal(settee_db_open(p, &o, &db, &e), SETTEE_OK);
    assert_int_equal(settee_doc_get(db, "kept", NULL, &json, &e), SETTEE_OK);
    assert_non_null(strstr(json, "\"v\":1"));
    settee_free(json);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

/* The options struct is append-only and carries its size: a library never
 * writes past the caller's struct, and fields the caller does not have are
 * left at their defaults. */
static void test_options_abi(void **state)
{
    fx *f = *state;
    settee_error e;
    char p[4300];

    /* An older program's struct: only the fields before struct_size. */
    size_t old_size = offsetof(settee_db_options, struct_size);
    unsigned char buf[sizeof(settee_db_options) + 64];
    memset(buf, 0xA5, sizeof buf);
    settee_db_options_init_sized((settee_db_options *)buf, old_size);
    for (size_t i = old_size; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xA5); /* nothing written past it */
    settee_db_options old;
    memcpy(&old, buf, old_size);
    assert_true(old.create);
    assert_true(old.durable);

    /* A newer program's struct: what this library does not know is zeroed. */
    memset(buf, 0xA5, sizeof buf);
    settee_db_options_init_sized((settee_db_options *)buf, sizeof buf);
    settee_db_options newer;
    memcpy(&newer, buf, sizeof newer);
    assert_int_equal(newer.struct_size, sizeof buf);
    assert_int_equal(newer.cache_kib, 0);
    for (size_t i = sizeof newer; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0);
    settee_db_options_init_sized(NULL, sizeof newer);

    /* Filled by hand ({0}, struct_size 0): the appended fields are ignored,
     * so garbage there is harmless, and the defaults apply. */
    settee_db_options hand = {0};
    hand.create = true;
    hand.cache_kib = 123456789;
    hand.mmap_kib = -77;
    settee_db *db = NULL;
    snprintf(p, sizeof p, "%s/hand.settee", f->dir);
    assert_int_equal(settee_db_open(p, &hand, &db, &e), SETTEE_OK);
    settee_free(put(db, "{\"_id\":\"h\"}"));
    assert_int_equal(settee_db_close(db), SETTEE_OK);

    /* Explicit memory settings: a tiny cache, mmap on, mmap off. */
    const struct {
        unsigned cache;
        int mmap;
    } cfg[] = {{16, 0}, {64, 1024}, {2048, -1}};
    for (size_t k = 0; k < sizeof cfg / sizeof *cfg; k++) {
        settee_db_options o;
        settee_db_options_init(&o);
        o.durable = false;
        o.cache_kib = cfg[k].cache;
        o.mmap_kib = cfg[k].mmap;
        snprintf(p, sizeof p, "%s/mem%zu.settee", f->dir, k);
        assert_int_equal(settee_db_open(p, &o, &db, &e), SETTEE_OK);
        char bulk[64 + 200 * 40];
        size_t off = (size_t)sprintf(bulk, "[");
        for (int i = 0; i < 200; i++)
            off += (size_t)sprintf(bulk + off, "%s{\"_id\":\"m%03d\",\"v\":%d}", i ? "," : "", i, i);
        sprintf(bulk + off, "]");
        assert_int_equal(settee_bulk_docs(db, bulk, SETTEE_NUL_TERMINATED, NULL, &e), SETTEE_OK);
        char *json = NULL;
        assert_int_equal(settee_doc_get_field(db, "m123", "v", &json, &e), SETTEE_OK);
        assert_string_equal(json, "123");
        settee_free(json);
        assert_int_equal(settee_db_close(db), SETTEE_OK);
    }
}

static void test_put_get_delete(void **state)
{
    fx *f = *state;
    settee_error e;
    char *rev1 = put(f->db, "{\"_id\":\"milk\",\"title\":\"buy milk\",\"done\":false}");
    assert_true(strncmp(rev1, "1-", 2) == 0);

    char *json = NULL;
    assert_int_equal(settee_doc_get(f->db, "milk", NULL, &json, &e), SETTEE_OK);
    assert_non_null(strstr(json, "\"_id\":\"milk\""));
    assert_non_null(strstr(json, rev1));
    assert_non_null(strstr(json, "\"title\":\"buy milk\""));
    settee_free(json);

    /* Stale or missing _rev: conflict, with CouchDB's words. */
    char *rev = (char *)"x";
    assert_int_equal(settee_doc_put(f->db, "{\"_id\":\"milk\",\"title\":\"b\"}",
                                    SETTEE_NUL_TERMINATED, &rev, &e),
                     SETTEE_CONFLICT);
    assert_null(rev);
    assert_int_equal(e.http_status, 409);
    assert_string_equal(e.message, "Document update conflict.");

    char body[256];
    snprintf(body, sizeof body, "{\"_id\":\"milk\",\"_rev\":\"%s\",\"title\":\"oat milk\",\"done\":false}", rev1);
    char *rev2 = put(f->db, body);
    assert_true(strncmp(rev2, "2-", 2) == 0);
    /* An explicit length: only the first n bytes count. */
    const char *padded = "{\"_id\":\"len\"}garbage";
    assert_int_equal(settee_doc_put(f->db, padded, 13, &rev, &e), SETTEE_OK);
    settee_free(rev);
    assert_int_equal(settee_doc_put(f->db, padded, strlen(padded), &rev, &e), SETTEE_BAD_REQUEST);

    /* An old revision by rev. */
    assert_int_equal(settee_doc_get(f->db, "milk", rev1, &json, &e), SETTEE_OK);
    assert_non_null(strstr(json, "\"title\":\"buy milk\""));
    settee_free(json);

    /* get_field. */
    assert_int_equal(settee_doc_get_field(f->db, "milk", "title", &json, &e), SETTEE_OK);
    assert_string_equal(json, "\"oat milk\"");
    settee_free(json);
    assert_int_equal(settee_doc_get_field(f->db, "milk", "done", &json, &e), SETTEE_OK);
    assert_string_equal(json, "false");
    settee_free(json);
    assert_int_equal(settee_doc_get_field(f->db, "milk", "nope", &json, &e), SETTEE_NOT_FOUND);
    assert_null(json);
    assert_int_equal(settee_doc_get_field(f->db, "nope", "title", &json, &e), SETTEE_NOT_FOUND);

    /* Delete: stale rev conflicts, the right one works, get says deleted. */
    assert_int_equal(settee_doc_delete(f->db, "milk", rev1, &rev, &e), SETTEE_CONFLICT);
    assert_int_equal(settee_doc_delete(f->db, "milk", NULL, &rev, &e), SETTEE_CONFLICT);
    char *rev3 = NULL;
    assert_int_equal(settee_doc_delete(f->db, "milk", rev2, &rev3, &e), SETTEE_OK);
    assert_true(strncmp(rev3, "3-", 2) == 0);
    assert_int_equal(settee_doc_get(f->db, "milk", NULL, &json, &e), SETTEE_NOT_FOUND);
    assert_string_equal(e.message, "deleted");
    assert_int_equal(settee_doc_get(f->db, "never", NULL, &json, &e), SETTEE_NOT_FOUND);
    assert_string_equal(e.message, "missing");
    assert_int_equal(settee_doc_delete(f->db, "never", "1-abc", NULL, &e), SETTEE_CONFLICT);
    /* Recreate after delete (no _rev needed), via _deleted too. */
    settee_free(put(f->db, "{\"_id\":\"milk\",\"title\":\"again\"}"));
    settee_free(rev1);
    settee_free(rev2);
    settee_free(rev3);
}

static void test_post_and_bad_input(void **state)
{
    fx *f = *state;
    settee_error e;
    char *id = NULL, *rev = NULL;
    assert_int_equal(settee_doc_post(f->db, "{\"title\":\"x\"}", SETTEE_NUL_TERMINATED, &id, &rev,
                                     &e),
                     SETTEE_OK);
    assert_int_equal(strlen(id), 32);
    assert_true(strncmp(rev, "1-", 2) == 0);
    char *json = NULL;
    assert_int_equal(settee_doc_get(f->db, id, NULL, &json, &e), SETTEE_OK);
    settee_free(json);
    settee_free(id);
    settee_free(rev);
    assert_int_equal(settee_doc_post(f->db, "{}", 2, NULL, NULL, &e), SETTEE_OK);

    /* Invalid input: errors with messages, out params NULL. */
    rev = (char *)"x";
    assert_int_equal(settee_doc_put(f->db, "{\"_id\":", SETTEE_NUL_TERMINATED, &rev, &e),
                     SETTEE_BAD_REQUEST);
    assert_null(rev);
    assert_int_equal(e.http_status, 400);
    assert_true(e.message[0] != '\0');
    assert_int_equal(settee_doc_put(f->db, "[1,2]", SETTEE_NUL_TERMINATED, &rev, &e),
                     SETTEE_BAD_REQUEST);
    assert_int_equal(settee_doc_put(f->db, "{\"a\":1}", SETTEE_NUL_TERMINATED, &rev, &e),
                     SETTEE_BAD_REQUEST);
    assert_int_equal(settee_doc_put(f->db, "{\"_id\":\"_bad\"}", SETTEE_NUL_TERMINATED, &rev, &e),
                     SETTEE_ILLEGAL_DOCID);
    assert_int_equal(settee_doc_put(f->db, "{\"_id\":\"a\",\"_foo\":1}", SETTEE_NUL_TERMINATED,
                                    &rev, &e),
                     SETTEE_DOC_VALIDATION);
    assert_int_equal(settee_doc_put(f->db, "{\"_id\":\"a\",\"_rev\":\"zz\"}",
                                    SETTEE_NUL_TERMINATED, &rev, &e),
                     SETTEE_BAD_REQUEST);
    assert_int_equal(settee_doc_put(f->db, "\xff\xfe", 2, &rev, &e), SETTEE_BAD_REQUEST);
    assert_int_equal(settee_doc_put(f->db, "", 0, &rev, &e), SETTEE_BAD_REQUEST);
    /* Deep nesting is refused, not recursed into. */
    char deep[300];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    assert_int_equal(settee_doc_put(f->db, deep, SETTEE_NUL_TERMINATED, &rev, &e),
                     SETTEE_BAD_REQUEST);
    /* Errors without an error struct are fine too. */
    assert_int_equal(settee_doc_put(f->db, "nope", SETTEE_NUL_TERMINATED, NULL, NULL),
                     SETTEE_BAD_REQUEST);
}

static void test_too_large(void **state)
{
    fx *f = *state;
    char p[4300];
    snprintf(p, sizeof p, "%s/small.settee", f->dir);
    settee_db_options o;
    settee_db_options_init(&o);
    o.max_doc_size = 64;
    o.durable = false;
    settee_db *db = NULL;
    settee_error e;
    assert_int_equal(settee_db_open(p, &o, &db, &e), SETTEE_OK);
    char big[200];
    snprintf(big, sizeof big, "{\"_id\":\"big\",\"x\":\"%0120d\"}", 0);
    assert_int_equal(settee_doc_put(db, big, SETTEE_NUL_TERMINATED, NULL, &e),
                     SETTEE_DOCUMENT_TOO_LARGE);
    assert_int_equal(e.http_status, 413);
    assert_int_equal(settee_db_close(db), SETTEE_OK);
}

static void test_bulk(void **state)
{
    fx *f = *state;
    settee_error e;
    char *res = NULL;
    assert_int_equal(settee_bulk_docs(f->db, "[{\"_id\":\"a\"},{\"_id\":\"b\",\"n\":2},{\"_id\":\"a\"}]",
                                      SETTEE_NUL_TERMINATED, &res, &e),
                     SETTEE_OK);
    assert_non_null(strstr(res, "{\"ok\":true,\"id\":\"a\",\"rev\":\"1-"));
    assert_non_null(strstr(res, "{\"ok\":true,\"id\":\"b\",\"rev\":\"1-"));
    assert_non_null(strstr(res, "{\"id\":\"a\",\"error\":\"conflict\",\"reason\":\"Document update conflict.\"}"));
    settee_free(res);
    assert_int_equal(settee_bulk_docs(f->db, "{\"docs\":[{\"_id\":\"c\"}]}", SETTEE_NUL_TERMINATED,
                                      NULL, &e),
                     SETTEE_OK);
    char *json = NULL;
    assert_int_equal(settee_doc_get(f->db, "c", NULL, &json, &e), SETTEE_OK);
    settee_free(json);
    assert_int_equal(settee_bulk_docs(f->db, "{\"docs\":3}", SETTEE_NUL_TERMINATED, &res, &e),
                     SETTEE_BAD_REQUEST);
    assert_null(res);
    assert_int_equal(settee_bulk_docs(f->db, "[{", SETTEE_NUL_TERMINATED, &res, &e),
                     SETTEE_BAD_REQUEST);
    assert_int_equal(settee_bulk_docs(f->db, "[]", SETTEE_NUL_TERMINATED, &res, &e), SETTEE_OK);
    assert_string_equal(res, "[]");
    settee_free(res);
    /* A non-object in the batch fails alone. */
    assert_int_equal(settee_bulk_docs(f->db, "[5,{\"_id\":\"d\"}]", SETTEE_NUL_TERMINATED, &res, &e),
                     SETTEE_OK);
    assert_non_null(strstr(res, "\"error\":\"bad_request\""));
    assert_non_null(strstr(res, "{\"ok\":true,\"id\":\"d\""));
    settee_free(res);
}

typedef struct rows {
    char ids[32][16];
    bool deleted[32], not_found[32], has_json[32];
    size_t n;
    size_t stop_after;
} rows;

static int on_row(void *ctx, const settee_doc_row *r)
{
    rows *R = ctx;
    if (R->n < 32) {
        snprintf(R->ids[R->n], sizeof R->ids[R->n], "%s", r->id);
        R->deleted[R->n] = r->deleted;
        R->not_found[R->n] = r->not_found;
        R->has_json[R->n] = r->json != NULL && r->json_len > 0;
        if (!r->not_found)
            assert_non_null(r->rev);
    }
    R->n++;
    return R->stop_after && R->n >= R->stop_after;
}

static void test_all_docs(void **state)
{
    fx *f = *state;
    settee_error e;
    const char *ids[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\":\"%s\",\"i\":%zu}", ids[i], i);
        settee_free(put(f->db, j));
    }
    char *rev = NULL;
    settee_free(put(f->db, "{\"_id\":\"gone\"}"));
    assert_int_equal(settee_doc_get_field(f->db, "gone", "_rev", &rev, &e), SETTEE_OK);
    /* get_field gives JSON: strip the quotes for the rev. */
    rev[strlen(rev) - 1] = '\0';
    assert_int_equal(settee_doc_delete(f->db, "gone", rev + 1, NULL, &e), SETTEE_OK);
    settee_free(rev);

    rows R = {0};
    assert_int_equal(settee_all_docs(f->db, NULL, on_row, &R, &e), SETTEE_OK);
    assert_int_equal(R.n, 5);
    assert_string_equal(R.ids[0], "a");
    assert_string_equal(R.ids[4], "e");
    assert_false(R.has_json[0]);

    settee_all_docs_options o;
    settee_all_docs_options_init(&o);
    assert_true(o.inclusive_end);
    o.start_key = "b";
    o.end_key = "d";
    o.include_docs = true;
    memset(&R, 0, sizeof R);
    assert_int_equal(settee_all_docs(f->db, &o, on_row, &R, &e), SETTEE_OK);
    assert_int_equal(R.n, 3);
    assert_string_equal(R.ids[0], "b");
    assert_true(R.has_json[0]);
    o.inclusive_end = false;
    memset(&R, 0, sizeof R);
    assert_int_equal(settee_all_docs(f->db, &o, on_row, &R, &e), SETTEE_OK);
    assert_int_equal(R.n, 2);

    settee_all_docs_options_init(&o);
    o.descending = true;
    o.limit = 2;
    o.skip = 1;
    memset(&R, 0, sizeof R);
    assert_int_equal(settee_all_docs(f->db, &o, on_row, &R, &e), SETTEE_OK);
    assert_int_equal(R.n, 2);
    assert_string_equal(R.ids[0], "d");
    assert_string_equal(R.ids[1], "c");

    const char *keys[] = {"c", "zz", "gone"};
    settee_all_docs_options_init(&o);
    o.keys = keys;
    o.n_keys = 3;
    memset(&R, 0, sizeof R);
    assert_int_equal(settee_all_docs(f->db, &o, on_row, &R, &e), SETTEE_OK);
    assert_int_equal(R.n, 3);
    assert_string_equal(R.ids[1], "zz");
    assert_true(R.not_found[1]);
    assert_true(R.deleted[2]);

    /* Stopping early is not an error. */
    memset(&R, 0, sizeof R);
    R.stop_after = 2;
    assert_int_equal(settee_all_docs(f->db, NULL, on_row, &R, &e), SETTEE_OK);
    assert_int_equal(R.n, 2);

    assert_int_equal(settee_all_docs(f->db, NULL, NULL, &R, &e), SETTEE_MISUSE);
    o.keys = NULL;
    o.n_keys = 2;
    assert_int_equal(settee_all_docs(f->db, &o, on_row, &R, &e), SETTEE_MISUSE);
}

static void test_attachments(void **state)
{
    fx *f = *state;
    settee_error e;
    char *rev1 = NULL, *rev2 = NULL, *rev3 = NULL, *ct = NULL;
    void *data = NULL;
    size_t len = 99;
    const char bytes[] = {'h', 'i', 0, 'x'};
    assert_int_equal(settee_att_put(f->db, "doc", NULL, "note.bin", "application/x-test", bytes,
                                    sizeof bytes, &rev1, &e),
                     SETTEE_OK);
    assert_true(strncmp(rev1, "1-", 2) == 0);
    assert_int_equal(settee_att_get(f->db, "doc", NULL, "note.bin", &data, &len, &ct, &e),
                     SETTEE_OK);
    assert_int_equal(len, sizeof bytes);
    assert_memory_equal(data, bytes, sizeof bytes);
    assert_string_equal(ct, "application/x-test");
    settee_free(data);
    settee_free(ct);
    /* A second one (default type, empty), then replace the first. */
    assert_int_equal(settee_att_put(f->db, "doc", rev1, "empty", NULL, NULL, 0, &rev2, &e),
                     SETTEE_OK);
    assert_int_equal(settee_att_get(f->db, "doc", NULL, "empty", &data, &len, NULL, &e), SETTEE_OK);
    assert_int_equal(len, 0);
    settee_free(data);
    assert_int_equal(settee_att_put(f->db, "doc", rev1, "x", NULL, "a", 1, NULL, &e),
                     SETTEE_CONFLICT);
    /* The document body keeps a stub. */
    char *json = NULL;
    assert_int_equal(settee_doc_get(f->db, "doc", NULL, &json, &e), SETTEE_OK);
    assert_non_null(strstr(json, "\"note.bin\""));
    assert_non_null(strstr(json, "\"stub\":true"));
    settee_free(json);
    /* Older revision still has only the first. */
    assert_int_equal(settee_att_get(f->db, "doc", rev1, "empty", &data, &len, NULL, &e),
                     SETTEE_NOT_FOUND);
    assert_null(data);
    assert_int_equal(settee_att_delete(f->db, "doc", rev2, "note.bin", &rev3, &e), SETTEE_OK);
    assert_true(strncmp(rev3, "3-", 2) == 0);
    assert_int_equal(settee_att_get(f->db, "doc", NULL, "note.bin", &data, &len, NULL, &e),
                     SETTEE_NOT_FOUND);
    assert_int_equal(settee_att_delete(f->db, "doc", rev3, "note.bin", NULL, &e), SETTEE_NOT_FOUND);
    assert_int_equal(settee_att_put(f->db, "doc", rev3, "_bad", NULL, "a", 1, NULL, &e),
                     SETTEE_BAD_REQUEST);
    assert_int_equal(settee_att_put(f->db, "doc", rev3, "n", NULL, NULL, 5, NULL, &e),
                     SETTEE_MISUSE);
    assert_int_equal(settee_att_get(f->db, "doc", NULL, NULL, &data, &len, NULL, &e),
                     SETTEE_MISUSE);
    assert_int_equal(settee_att_get(f->db, "doc", NULL, "n", NULL, &len, NULL, &e),
                     SETTEE_MISUSE);
    settee_free(rev1);
    settee_free(rev2);
    settee_free(rev3);
}

static void test_changes_and_info(void **state)
{
    fx *f = *state;
    settee_error e;
    settee_db_info info;
    assert_int_equal(settee_db_info_get(f->db, &info, &e), SETTEE_OK);
    assert_int_equal(info.update_seq, 0);
    assert_int_equal(info.doc_count, 0);
    /* 300 docs: more than one page of the iterator. */
    for (int i = 0; i < 300; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\":\"d%03d\"}", i);
        settee_free(put(f->db, j));
    }
    char *rev = NULL;
    assert_int_equal(settee_doc_get_field(f->db, "d000", "_rev", &rev, &e), SETTEE_OK);
    rev[strlen(rev) - 1] = '\0';
    assert_int_equal(settee_doc_delete(f->db, "d000", rev + 1, NULL, &e), SETTEE_OK);
    settee_free(rev);
    assert_int_equal(settee_db_info_get(f->db, &info, &e), SETTEE_OK);
    assert_int_equal(info.update_seq, 301);
    assert_int_equal(info.doc_count, 299);
    assert_int_equal(info.deleted_count, 1);
    assert_true(info.file_size > 0);

    settee_changes *it = NULL;
    assert_int_equal(settee_changes_open(f->db, 0, &it, &e), SETTEE_OK);
    /* The iterator pins the database. */
    assert_int_equal(settee_db_close(f->db), SETTEE_BUSY);
    const settee_change *ch = NULL;
    uint64_t last = 0;
    size_t n = 0;
    bool saw_deleted = false;
    while (n < 1000 && settee_changes_next(it, &ch) == SETTEE_OK) {
        assert_true(ch->seq > last);
        last = ch->seq;
        if (strcmp(ch->id, "d000") == 0) {
            assert_true(ch->deleted);
            assert_true(strncmp(ch->rev, "2-", 2) == 0);
            saw_deleted = true;
        }
        n++;
    }
    assert_int_equal(n, 300); /* d000 once, at its newest seq */
    assert_true(saw_deleted);
    assert_int_equal(last, 301);
    assert_int_equal(settee_changes_next(it, &ch), SETTEE_DONE);
    assert_null(ch);
    assert_int_equal(settee_changes_next(it, &ch), SETTEE_DONE);
    settee_changes_close(it);

    /* Since a sequence; writes after open are not part of this iteration. */
    assert_int_equal(settee_changes_open(f->db, 299, &it, &e), SETTEE_OK);
    settee_free(put(f->db, "{\"_id\":\"late\"}"));
    n = 0;
    while (n < 10 && settee_changes_next(it, &ch) == SETTEE_OK)
        n++;
    assert_int_equal(n, 2);
    settee_changes_close(it);
    assert_int_equal(settee_changes_open(f->db, 301, &it, &e), SETTEE_OK);
    assert_int_equal(settee_changes_next(it, &ch), SETTEE_OK);
    assert_string_equal(ch->id, "late");
    assert_int_equal(settee_changes_next(it, &ch), SETTEE_DONE);
    settee_changes_close(it);
    assert_int_equal(settee_changes_open(f->db, 9999, &it, &e), SETTEE_OK);
    assert_int_equal(settee_changes_next(it, &ch), SETTEE_DONE);
    settee_changes_close(it);
    settee_changes_close(NULL);
    assert_int_equal(settee_changes_next(NULL, &ch), SETTEE_MISUSE);
    assert_int_equal(settee_changes_open(f->db, 0, NULL, &e), SETTEE_MISUSE);
}

/* Two leaves made the way a replication makes them (new_edits=false). */
static void make_conflict(settee_db *db, const char *id)
{
    char j[512];
    snprintf(j, sizeof j,
             "{\"new_edits\":false,\"docs\":["
             "{\"_id\":\"%s\",\"_rev\":\"2-aaaa\",\"_revisions\":{\"start\":2,\"ids\":[\"aaaa\",\"root\"]},\"t\":\"a\",\"at\":5},"
             "{\"_id\":\"%s\",\"_rev\":\"2-bbbb\",\"_revisions\":{\"start\":2,\"ids\":[\"bbbb\",\"root\"]},\"t\":\"b\",\"at\":3},"
             "{\"_id\":\"%s\",\"_rev\":\"2-cccc\",\"_deleted\":true,\"_revisions\":{\"start\":2,\"ids\":[\"cccc\",\"root\"]}}]}",
             id, id, id);
    char *res = NULL;
    settee_error e;
    assert_int_equal(settee_bulk_docs(db, j, SETTEE_NUL_TERMINATED, &res, &e), SETTEE_OK);
    assert_null(strstr(res, "error"));
    settee_free(res);
}

static void test_conflicts(void **state)
{
    fx *f = *state;
    settee_error e;
    make_conflict(f->db, "x");
    make_conflict(f->db, "y");
    settee_free(put(f->db, "{\"_id\":\"plain\"}"));
    char **revs = NULL;
    size_t n = 0;
    assert_int_equal(settee_conflicts(f->db, "x", &revs, &n, &e), SETTEE_OK);
    assert_int_equal(n, 2); /* the deleted leaf is not a conflict */
    assert_string_equal(revs[0], "2-bbbb"); /* the winner: higher hash */
    assert_string_equal(revs[1], "2-aaaa");
    assert_null(revs[2]);
    settee_free(revs);
    assert_int_equal(settee_conflicts(f->db, "plain", &revs, &n, &e), SETTEE_OK);
    assert_int_equal(n, 1);
    settee_free(revs);
    assert_int_equal(settee_conflicts(f->db, "none", &revs, &n, &e), SETTEE_NOT_FOUND);
    assert_null(revs);
    assert_int_equal(n, 0);

    settee_conflict *list = NULL;
    assert_int_equal(settee_conflicts_list(f->db, &list, &n, &e), SETTEE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "x");
    assert_string_equal(list[1].id, "y");
    assert_int_equal(list[1].n_revs, 2);
    assert_string_equal(list[1].revs[0], "2-bbbb");
    settee_free(list);

    /* Keep the loser: the winner gets a tombstone, the loser wins. */
    char *out = NULL;
    assert_int_equal(settee_conflict_resolve(f->db, "x", "2-aaaa", NULL, &out, &e), SETTEE_OK);
    assert_string_equal(out, "2-aaaa");
    settee_free(out);
    char *json = NULL;
    assert_int_equal(settee_doc_get_field(f->db, "x", "t", &json, &e), SETTEE_OK);
    assert_string_equal(json, "\"a\"");
    settee_free(json);
    assert_int_equal(settee_conflicts(f->db, "x", &revs, &n, &e), SETTEE_OK);
    assert_int_equal(n, 1);
    settee_free(revs);
    /* Resolving again with the gone leaf: conflict. */
    assert_int_equal(settee_conflict_resolve(f->db, "x", "2-bbbb", NULL, &out, &e),
                     SETTEE_CONFLICT);
    assert_null(out);
    /* Already settled: fine, nothing written. */
    assert_int_equal(settee_conflict_resolve(f->db, "x", "2-aaaa", NULL, NULL, &e), SETTEE_OK);

    /* Merge: a child of the kept leaf, the other leaf deleted, one commit. */
    settee_db_info before, after;
    assert_int_equal(settee_db_info_get(f->db, &before, &e), SETTEE_OK);
    assert_int_equal(settee_conflict_resolve(f->db, "y", "2-bbbb", "{\"_id\":\"ignored\",\"t\":\"ab\"}",
                                             &out, &e),
                     SETTEE_OK);
    assert_true(strncmp(out, "3-", 2) == 0);
    assert_int_equal(settee_doc_get(f->db, "y", NULL, &json, &e), SETTEE_OK);
    assert_non_null(strstr(json, "\"t\":\"ab\""));
    assert_non_null(strstr(json, out));
    settee_free(json);
    settee_free(out);
    assert_int_equal(settee_db_info_get(f->db, &after, &e), SETTEE_OK);
    /* Two revisions (merge + tombstone), shown as one change of y. */
    assert_int_equal(after.update_seq, before.update_seq + 2);
    assert_int_equal(settee_conflicts_list(f->db, &list, &n, &e), SETTEE_OK);
    assert_int_equal(n, 0);
    settee_free(list);

    /* Bad merges and misuse. */
    make_conflict(f->db, "z");
    assert_int_equal(settee_conflict_resolve(f->db, "z", "2-bbbb", "{", NULL, &e),
                     SETTEE_BAD_REQUEST);
    assert_int_equal(settee_conflict_resolve(f->db, "z", "2-bbbb", "[]", NULL, &e),
                     SETTEE_BAD_REQUEST);
    assert_int_equal(settee_conflict_resolve(f->db, "z", "2-cccc", NULL, NULL, &e),
                     SETTEE_CONFLICT); /* a deleted leaf cannot be kept */
    assert_int_equal(settee_conflict_resolve(f->db, "z", NULL, NULL, NULL, &e), SETTEE_MISUSE);
    assert_int_equal(settee_conflicts(f->db, NULL, &revs, &n, &e), SETTEE_MISUSE);
    assert_int_equal(settee_conflicts_list(f->db, NULL, &n, &e), SETTEE_MISUSE);
}

/* A resolution is one all-or-nothing commit: when any part is refused,
 * nothing is written, so a failed resolve leaves the conflict as it was. */
static void test_resolve_all_or_nothing(void **state)
{
    fx *f = *state;
    settee_error e;
    make_conflict(f->db, "q");
    settee_db_info before, after;
    assert_int_equal(settee_db_info_get(f->db, &before, &e), SETTEE_OK);
    /* The merged body is refused (an unknown _ member); the tombstone on the
     * other leaf, which alone would be fine, must not land either. */
    char *out = (char *)0x1;
    assert_int_equal(settee_conflict_resolve(f->db, "q", "2-aaaa", "{\"_bad\":1,\"t\":\"m\"}",
                                             &out, &e),
                     SETTEE_DOC_VALIDATION);
    assert_int_equal(e.code, SETTEE_DOC_VALIDATION);
    assert_null(out);
    assert_int_equal(settee_db_info_get(f->db, &after, &e), SETTEE_OK);
    assert_int_equal(after.update_seq, before.update_seq);
    char **revs = NULL;
    size_t n = 0;
    assert_int_equal(settee_conflicts(f->db, "q", &revs, &n, &e), SETTEE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(revs[0], "2-bbbb");
    assert_string_equal(revs[1], "2-aaaa");
    settee_free(revs);
    /* Then a good merge settles it. */
    assert_int_equal(settee_conflict_resolve(f->db, "q", "2-aaaa", "{\"t\":\"m\"}", &out, &e),
                     SETTEE_OK);
    assert_true(strncmp(out, "3-", 2) == 0);
    settee_free(out);
    assert_int_equal(settee_conflicts(f->db, "q", &revs, &n, &e), SETTEE_OK);
    assert_int_equal(n, 1);
    settee_free(revs);
}

/* Resolves racing a concurrent editor of the losing branch.  Each resolve
 * either lands whole (one live leaf: the merge) or answers SETTEE_CONFLICT
 * having written nothing (keep_rev still a live leaf, still two leaves).
 * Bounded: at most 40 rounds and 10 s.  Checks are recorded and asserted
 * after the editor thread is joined. */
typedef struct racer {
    settee_db *db;
    atomic_int round;          /* the document being raced: "race<round>" */
    atomic_bool stop;
    atomic_int edits;
} racer;

static void *race_editor(void *arg)
{
    racer *r = arg;
    while (!atomic_load(&r->stop)) {
        char id[32];
        snprintf(id, sizeof id, "race%d", atomic_load(&r->round));
        char **revs = NULL;
        size_t n = 0;
        /* Only while conflicted: edit the branch that is not 2-aaaa. */
        if (settee_conflicts(r->db, id, &revs, &n, NULL) == SETTEE_OK && n >= 2) {
            for (size_t i = 0; i < n; i++) {
                if (strcmp(revs[i], "2-aaaa") == 0)
                    continue;
                char j[160];
                snprintf(j, sizeof j, "{\"_id\":\"%s\",\"_rev\":\"%s\",\"t\":\"edited\"}", id,
                         revs[i]);
                if (settee_doc_put(r->db, j, SETTEE_NUL_TERMINATED, NULL, NULL) == SETTEE_OK)
                    atomic_fetch_add(&r->edits, 1);
            }
        }
        settee_free(revs);
    }
    return NULL;
}

static void test_resolve_races_an_edit(void **state)
{
    fx *f = *state;
    racer r = {.db = f->db};
    atomic_init(&r.round, 0);
    atomic_init(&r.stop, false);
    atomic_init(&r.edits, 0);
    make_conflict(f->db, "race0");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race_editor, &r), 0);
    unsigned conflicts = 0, landed = 0;
    char bad[512] = "";
    uint64_t t0 = ts_now_ms();
    for (int round = 0; round < 40 && ts_now_ms() - t0 < 10000 && !bad[0]; round++) {
        char id[32];
        snprintf(id, sizeof id, "race%d", round);
        if (round > 0) {
            make_conflict(f->db, id);
            atomic_store(&r.round, round);
        }
        /* Let the editor get going on this document first (bounded). */
        int seen = atomic_load(&r.edits);
        for (uint64_t w0 = ts_now_ms(); atomic_load(&r.edits) < seen + 3 && ts_now_ms() - w0 < 2000;)
            ts_sleep_ms(1);
        for (int attempt = 0; attempt < 50 && !bad[0]; attempt++) {
            char *out = NULL;
            settee_error e;
            settee_status rc =
                settee_conflict_resolve(f->db, id, "2-aaaa", "{\"t\":\"merged\"}", &out, &e);
            char **revs = NULL;
            size_t n = 0;
            settee_status lr = settee_conflicts(f->db, id, &revs, &n, NULL);
            if (rc == SETTEE_OK) {
                landed++;
                /* The editor's branch got its tombstone: only the merge
                 * lives (a stale edit of that branch can only conflict). */
                if (lr != SETTEE_OK || n != 1 || strcmp(revs[0], out) != 0)
                    snprintf(bad, sizeof bad, "%s: resolved to %s, but %zu leaves, first %s", id,
                             out, n, n ? revs[0] : "-");
            } else if (rc != SETTEE_CONFLICT || e.code != SETTEE_CONFLICT || out) {
                snprintf(bad, sizeof bad, "%s: resolve answered %s (%s)", id,
                         settee_status_name(rc), e.message);
            } else {
                conflicts++;
                /* Nothing written: 2-aaaa has no merge child, the branch lives. */
                bool keep_live = false;
                for (size_t i = 0; lr == SETTEE_OK && i < n; i++)
                    keep_live = keep_live || strcmp(revs[i], "2-aaaa") == 0;
                if (n != 2 || !keep_live)
                    snprintf(bad, sizeof bad, "%s: refused resolve wrote something: %zu leaves%s",
                             id, n, keep_live ? "" : ", 2-aaaa no longer a leaf");
            }
            settee_free(revs);
            settee_free(out);
            if (rc == SETTEE_OK)
                break;
        }
    }
    atomic_store(&r.stop, true);
    pthread_join(t, NULL);
    fprintf(stderr, "race: %u resolves landed, %u refused whole, %d edits\n", landed, conflicts,
            atomic_load(&r.edits));
    if (bad[0])
        fail_msg("%s", bad);
    assert_true(landed + conflicts > 0);
    /* The listing (core's conflict index) agrees with every document. */
    settee_conflict *list = NULL;
    size_t n = 0;
    assert_int_equal(settee_conflicts_list(f->db, &list, &n, NULL), SETTEE_OK);
    for (size_t i = 0; i < n; i++) {
        char **revs = NULL;
        size_t k = 0;
        assert_int_equal(settee_conflicts(f->db, list[i].id, &revs, &k, NULL), SETTEE_OK);
        assert_true(k >= 2);
        settee_free(revs);
    }
    settee_free(list);
}

static void test_builtin_resolvers(void **state)
{
    fx *f = *state;
    settee_error e;
    make_conflict(f->db, "w");
    make_conflict(f->db, "n");
    make_conflict(f->db, "s");
    settee_leaf leaves[2] = {{"2-bbbb", "{\"_id\":\"w\",\"_rev\":\"2-bbbb\",\"at\":3}", 0},
                             {"2-aaaa", "{\"_id\":\"w\",\"_rev\":\"2-aaaa\",\"at\":5}", 0}};
    leaves[0].json_len = strlen(leaves[0].json);
    leaves[1].json_len = strlen(leaves[1].json);
    assert_int_equal(settee_resolve_winner(NULL, f->db, "w", leaves, 2), SETTEE_OK);
    char *json = NULL;
    assert_int_equal(settee_doc_get_field(f->db, "w", "t", &json, &e), SETTEE_OK);
    assert_string_equal(json, "\"b\"");
    settee_free(json);

    /* Newest by "at": the loser (5 > 3) is kept. */
    assert_int_equal(settee_resolve_newest((void *)"at", f->db, "n", leaves, 2), SETTEE_OK);
    assert_int_equal(settee_doc_get_field(f->db, "n", "t", &json, &e), SETTEE_OK);
    assert_string_equal(json, "\"a\"");
    settee_free(json);
    /* Missing field everywhere: a tie, the winner stays. */
    assert_int_equal(settee_resolve_newest((void *)"nope", f->db, "s", leaves, 2), SETTEE_OK);
    assert_int_equal(settee_doc_get_field(f->db, "s", "t", &json, &e), SETTEE_OK);
    assert_string_equal(json, "\"b\"");
    settee_free(json);
    assert_int_equal(settee_resolve_newest(NULL, f->db, "s", leaves, 2), SETTEE_MISUSE);
    assert_int_equal(settee_resolve_winner(NULL, f->db, "s", NULL, 0), SETTEE_MISUSE);
}

static void test_sync_misuse(void **state)
{
    fx *f = *state;
    settee_error e;
    settee_sync_config c;
    settee_sync_config_init(&c);
    assert_int_equal(c.direction, SETTEE_SYNC_PUSH_AND_PULL);
    assert_true(c.continuous);
    settee_sync *s = (settee_sync *)0x1;
    assert_int_equal(settee_sync_start(f->db, &c, &s, &e), SETTEE_MISUSE); /* no url */
    assert_null(s);
    c.url = "ftp://example/db";
    assert_int_equal(settee_sync_start(f->db, &c, &s, &e), SETTEE_BAD_REQUEST);
    c.url = "http://127.0.0.1:1/db";
    c.direction = (settee_sync_direction)9;
    assert_int_equal(settee_sync_start(f->db, &c, &s, &e), SETTEE_MISUSE);
    c.direction = SETTEE_SYNC_PUSH;
    assert_int_equal(settee_sync_start(NULL, &c, &s, &e), SETTEE_MISUSE);
    assert_int_equal(settee_sync_start(f->db, NULL, &s, &e), SETTEE_MISUSE);
    assert_int_equal(settee_sync_start(f->db, &c, NULL, &e), SETTEE_MISUSE);
    c.n_doc_ids = 2;
    assert_int_equal(settee_sync_start(f->db, &c, &s, &e), SETTEE_MISUSE);
    settee_sync_stop(NULL);
    settee_sync_free(NULL);
    settee_sync_status st;
    assert_int_equal(settee_sync_get_status(NULL, &st), SETTEE_MISUSE);
    assert_string_equal(settee_sync_state_name(SETTEE_SYNC_IDLE), "idle");
    assert_string_equal(settee_sync_state_name((settee_sync_state)77), "unknown");

    /* A sync to a port nobody listens on: starts, goes offline, stops. */
    c.n_doc_ids = 0;
    c.continuous = true;
    c.user = "u s@r";
    c.password = "p:w/d";
    assert_int_equal(settee_sync_start(f->db, &c, &s, &e), SETTEE_OK);
    assert_int_equal(settee_db_close(f->db), SETTEE_BUSY);
    assert_int_equal(settee_sync_get_status(s, &st), SETTEE_OK);
    assert_true(st.state != SETTEE_SYNC_STOPPED || st.last.code != SETTEE_OK);
    settee_sync_stop(s);
    settee_sync_stop(s);
    settee_sync_free(s);
}

static void noop_listener(void *ctx, settee_db *db, const settee_change *c, size_t n) {}

/* Every entry point with a NULL and a closed database handle. */
static void test_misuse_everywhere(void **state)
{
    fx *f = *state;
    char p[4300];
    snprintf(p, sizeof p, "%s/closed.settee", f->dir);
    settee_db *closed = NULL;
    settee_error e;
    assert_int_equal(settee_db_open(p, NULL, &closed, &e), SETTEE_OK);
    assert_int_equal(settee_db_close(closed), SETTEE_OK);
    settee_db *handles[2] = {NULL, closed};
    for (int k = 0; k < 2; k++) {
        settee_db *db = handles[k];
        char *s = NULL, **sv = NULL;
        void *v = NULL;
        size_t n = 0;
        settee_db_info info;
        settee_changes *it = NULL;
        settee_listener *l = NULL;
        settee_conflict *cl = NULL;
        settee_sync *sy = NULL;
        settee_sync_config c;
        settee_sync_config_init(&c);
        c.url = "http://127.0.0.1:1/db";
        const char *ids[] = {"a"};
        assert_int_equal(settee_db_info_get(db, &info, &e), SETTEE_MISUSE);
        assert_int_equal(e.code, SETTEE_MISUSE);
        assert_int_equal(settee_doc_put(db, "{\"_id\":\"a\"}", 11, &s, &e), SETTEE_MISUSE);
        assert_int_equal(settee_doc_post(db, "{}", 2, &s, NULL, &e), SETTEE_MISUSE);
        assert_int_equal(settee_doc_get(db, "a", NULL, &s, &e), SETTEE_MISUSE);
        assert_int_equal(settee_doc_get_field(db, "a", "b", &s, &e), SETTEE_MISUSE);
        assert_int_equal(settee_doc_delete(db, "a", "1-a", &s, &e), SETTEE_MISUSE);
        assert_int_equal(settee_bulk_docs(db, "[]", 2, &s, &e), SETTEE_MISUSE);
        assert_int_equal(settee_all_docs(db, NULL, on_row, NULL, &e), SETTEE_MISUSE);
        assert_int_equal(settee_att_put(db, "a", NULL, "n", NULL, "x", 1, &s, &e), SETTEE_MISUSE);
        assert_int_equal(settee_att_get(db, "a", NULL, "n", &v, &n, &s, &e), SETTEE_MISUSE);
        assert_int_equal(settee_att_delete(db, "a", "1-a", "n", &s, &e), SETTEE_MISUSE);
        assert_int_equal(settee_changes_open(db, 0, &it, &e), SETTEE_MISUSE);
        assert_null(it);
        assert_int_equal(settee_listener_add(db, noop_listener, NULL, &l, &e), SETTEE_MISUSE);
        assert_int_equal(settee_listener_add_docs(db, ids, 1, noop_listener, NULL, &l, &e),
                         SETTEE_MISUSE);
        assert_null(l);
        assert_int_equal(settee_db_notify_fd(db), -1);
        assert_int_equal(settee_db_dispatch(db), SETTEE_MISUSE);
        assert_int_equal(settee_conflicts(db, "a", &sv, &n, &e), SETTEE_MISUSE);
        assert_int_equal(settee_conflicts_list(db, &cl, &n, &e), SETTEE_MISUSE);
        assert_int_equal(settee_conflict_resolve(db, "a", "1-a", NULL, &s, &e), SETTEE_MISUSE);
        assert_int_equal(settee_sync_start(db, &c, &sy, &e), SETTEE_MISUSE);
        assert_null(sy);
        assert_null(s);
    }
    /* NULL required arguments on an open db. */
    char *s = NULL;
    assert_int_equal(settee_doc_put(f->db, NULL, 0, &s, &e), SETTEE_MISUSE);
    assert_int_equal(settee_doc_post(f->db, NULL, 0, &s, NULL, &e), SETTEE_MISUSE);
    assert_int_equal(settee_doc_get(f->db, NULL, NULL, &s, &e), SETTEE_MISUSE);
    assert_int_equal(settee_doc_get(f->db, "a", NULL, NULL, &e), SETTEE_MISUSE);
    assert_int_equal(settee_doc_get_field(f->db, "a", NULL, &s, &e), SETTEE_MISUSE);
    assert_int_equal(settee_doc_delete(f->db, NULL, "1-a", &s, &e), SETTEE_MISUSE);
    assert_int_equal(settee_bulk_docs(f->db, NULL, 0, &s, &e), SETTEE_MISUSE);
    assert_int_equal(settee_db_info_get(f->db, NULL, &e), SETTEE_MISUSE);
    assert_int_equal(settee_att_put(f->db, NULL, NULL, "n", NULL, "x", 1, &s, &e), SETTEE_MISUSE);
    assert_int_equal(settee_att_delete(f->db, "a", NULL, NULL, &s, &e), SETTEE_MISUSE);
    /* The default (thread) mode has no descriptor and no manual dispatch. */
    assert_int_equal(settee_db_notify_fd(f->db), -1);
    assert_int_equal(settee_db_dispatch(f->db), SETTEE_MISUSE);
    settee_db_options_init(NULL);
    settee_all_docs_options_init(NULL);
    settee_sync_config_init(NULL);
    settee_listener_remove(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_names),
        cmocka_unit_test_setup_teardown(test_open_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_abi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_and_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_docs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attachments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_and_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_races_an_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_resolvers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misuse_everywhere, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
