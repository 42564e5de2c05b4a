/* test_store.c — the storage contract (core/store.h), written against the
 * interface only, so that every backend runs the same test: lifecycle
 * under a root, counters allocated by the store across connections (and
 * across "processes": two stores on one database), transactions, document
 * rows keyed by sequence, scans, revision bodies, attachments, _local
 * documents, settings, maintenance slices, change notification, backup.
 * A second backend adds its root location here and must pass unchanged.
 */
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

#include "store.h"
#include "support/tmp.h"

typedef struct fx {
    char dir[4096];
    st_store_root *root;
    st_store *store;
    st_conn *w, *r;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    ts_db_path(f->dir, sizeof f->dir, "storeroot");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    if (st_store_root_open(f->dir, NULL, &f->root, NULL) != ST_OK ||
        st_store_create(f->root, "db", &f->store, NULL) != ST_OK ||
        st_store_conn_open(f->store, &f->w, NULL) != ST_OK ||
        st_store_conn_open(f->store, &f->r, NULL) != ST_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    st_store_conn_close(f->w);
    st_store_conn_close(f->r);
    st_store_close(f->store);
    st_store_root_close(f->root);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static st_doc_rec rec(uint64_t seq, const char *body, const char *atts)
{
    st_doc_rec r = {0};
    r.seq = seq;
    assert_int_equal(st_buf_adds(&r.tree, "TREE"), ST_OK);
    assert_int_equal(st_buf_adds(&r.body, body), ST_OK);
    if (atts)
        assert_int_equal(st_buf_adds(&r.atts, atts), ST_OK);
    return r;
}

static void test_lifecycle(void **state)
{
    fx *f = *state;
    st_error e;
    st_store *s = NULL;
    assert_int_equal(st_store_create(f->root, "db", &s, &e), ST_E_FILE_EXISTS);
    assert_int_equal(st_store_open(f->root, "nope", &s, &e), ST_E_NOT_FOUND);
    assert_string_equal(e.reason, "Database does not exist.");
    assert_int_equal(st_store_create(f->root, "b/c$(x)", &s, &e), ST_OK);
    st_store_close(s);
    assert_true(st_store_exists(f->root, "b/c$(x)"));
    char **names;
    size_t n;
    assert_int_equal(st_store_list(f->root, &names, &n, &e), ST_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "b/c$(x)");
    assert_string_equal(names[1], "db");
    st_store_names_free(names, n);
    assert_int_equal(st_store_delete(f->root, "b/c$(x)", &e), ST_OK);
    assert_false(st_store_exists(f->root, "b/c$(x)"));
    assert_int_equal(st_store_delete(f->root, "b/c$(x)", &e), ST_E_NOT_FOUND);
    /* New databases are private to their owner (0600 by default). */
    assert_int_equal(st_store_create(f->root, "private", &s, &e), ST_OK);
    st_store_close(s);
    char path[4200];
    snprintf(path, sizeof path, "%s/private.settee", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_counters_and_transactions(void **state)
{
    fx *f = *state;
    st_counters k;
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    assert_int_equal(k.update_seq, 0);
    assert_int_equal(k.revs_limit, 1000);
    k.update_seq = 7;
    k.doc_count = 3;
    assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);
    /* A rolled back transaction leaves the counters as they were. */
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    assert_int_equal(k.update_seq, 7);
    k.update_seq = 99;
    st_store_rollback(f->w);
    assert_int_equal(st_store_read_begin(f->r, NULL), ST_OK);
    assert_int_equal(st_store_counters_get(f->r, &k, NULL), ST_OK);
    assert_int_equal(k.update_seq, 7);
    assert_int_equal(k.doc_count, 3);
    st_store_read_end(f->r);
    /* Another store on the same database (another process, another node)
     * sees the counters at its next write_begin: nothing is trusted from
     * memory. */
    st_store *other = NULL;
    st_conn *ow = NULL;
    assert_int_equal(st_store_open(f->root, "db", &other, NULL), ST_OK);
    assert_int_equal(st_store_conn_open(other, &ow, NULL), ST_OK);
    assert_int_equal(st_store_write_begin(ow, &k, NULL), ST_OK);
    assert_int_equal(k.update_seq, 7);
    k.update_seq = 8;
    assert_int_equal(st_store_commit(ow, &k, NULL), ST_OK);
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    assert_int_equal(k.update_seq, 8);
    st_store_rollback(f->w);
    st_store_conn_close(ow);
    st_store_close(other);
}

static void test_changed_elsewhere(void **state)
{
    fx *f = *state;
    bool changed = true;
    assert_int_equal(st_store_changed(f->r, &changed, NULL), ST_OK);
    assert_false(changed); /* the first call only sets the baseline */
    assert_int_equal(st_store_changed(f->r, &changed, NULL), ST_OK);
    assert_false(changed);
    st_counters k;
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    k.update_seq++;
    assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);
    assert_int_equal(st_store_changed(f->r, &changed, NULL), ST_OK);
    assert_true(changed);
    assert_int_equal(st_store_changed(f->r, &changed, NULL), ST_OK);
    assert_false(changed);
}

typedef struct seen {
    uint64_t seq[16];
    char id[16][16];
    size_t n;
} seen;

static int on_row(void *ctx, const st_row_view *v)
{
    seen *s = ctx;
    s->seq[s->n] = v->seq;
    snprintf(s->id[s->n], sizeof s->id[0], "%s", v->id);
    s->n++;
    return 0;
}

static void test_docs_and_scans(void **state)
{
    fx *f = *state;
    st_counters k;
    st_error e;
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    const char *ids[] = {"b", "a", "c"};
    for (uint64_t i = 0; i < 3; i++) {
        st_doc_rec r = rec(i + 1, "{\"n\":1}", NULL);
        assert_int_equal(st_store_doc_put(f->w, ids[i], 0, &r, &e), ST_OK);
        st_doc_rec_free(&r);
    }
    /* Inserting an id that exists without naming its old row: conflict. */
    st_doc_rec dup = rec(9, "{}", NULL);
    assert_int_equal(st_store_doc_put(f->w, "a", 0, &dup, &e), ST_E_CONFLICT);
    st_doc_rec_free(&dup);
    /* An update moves the row to its new sequence. */
    st_doc_rec up = rec(4, "{\"n\":2}", "{\"x\":{\"digest\":\"md5-a\"}}");
    up.deleted = true;
    assert_int_equal(st_store_doc_put(f->w, "b", 1, &up, &e), ST_OK);
    st_doc_rec_free(&up);
    k.update_seq = 4;
    assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);

    assert_int_equal(st_store_read_begin(f->r, NULL), ST_OK);
    st_doc_rec got = {0};
    assert_int_equal(st_store_doc_get(f->r, "b", &got, &e), ST_OK);
    assert_int_equal(got.seq, 4);
    assert_true(got.deleted);
    assert_int_equal(got.body.len, 7);
    assert_memory_equal(got.body.data, "{\"n\":2}", 7);
    assert_int_equal(got.atts.len, strlen("{\"x\":{\"digest\":\"md5-a\"}}"));
    assert_int_equal(st_store_doc_get(f->r, "zz", &got, &e), ST_E_NOT_FOUND);
    st_doc_rec_free(&got);
    /* Every document once, at its latest change, in sequence order. */
    seen s = {0};
    assert_int_equal(st_store_scan_seq(f->r, 0, false, true, on_row, &s, &e), ST_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.id[0], "a");
    assert_string_equal(s.id[1], "c");
    assert_string_equal(s.id[2], "b");
    assert_int_equal(s.seq[2], 4);
    memset(&s, 0, sizeof s);
    assert_int_equal(st_store_scan_seq(f->r, 2, false, false, on_row, &s, &e), ST_OK);
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof s);
    assert_int_equal(st_store_scan_seq(f->r, 0, true, false, on_row, &s, &e), ST_OK);
    assert_int_equal(s.seq[0], 4);
    /* Live rows by id, bytewise, bounds and skip. */
    memset(&s, 0, sizeof s);
    assert_int_equal(st_store_scan_ids(f->r, NULL, NULL, true, false, 0, false, on_row, &s, &e),
                     ST_OK);
    assert_int_equal(s.n, 2); /* b is deleted */
    assert_string_equal(s.id[0], "a");
    assert_string_equal(s.id[1], "c");
    memset(&s, 0, sizeof s);
    assert_int_equal(st_store_scan_ids(f->r, "c", "a", true, true, 1, false, on_row, &s, &e),
                     ST_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.id[0], "a");
    uint64_t n = 0;
    assert_int_equal(st_store_count_before(f->r, "c", false, &n, &e), ST_OK);
    assert_int_equal(n, 1);
    assert_int_equal(st_store_count_after_seq(f->r, 1, 100, &n, &e), ST_OK);
    assert_int_equal(n, 3); /* a, c, and b at its new sequence */
    assert_int_equal(st_store_count_after_seq(f->r, 0, 1, &n, &e), ST_OK);
    assert_int_equal(n, 1); /* capped */
    st_store_read_end(f->r);

    /* Trees rewritten in place; rows deleted. */
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    assert_int_equal(st_store_doc_update_tree(f->w, 2, "T2", 2, &e), ST_OK);
    assert_int_equal(st_store_doc_delete(f->w, 3, &e), ST_OK);
    assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);
    assert_int_equal(st_store_read_begin(f->r, NULL), ST_OK);
    assert_int_equal(st_store_doc_get(f->r, "a", &got, &e), ST_OK);
    assert_memory_equal(got.tree.data, "T2", 2);
    assert_int_equal(st_store_doc_get(f->r, "c", &got, &e), ST_E_NOT_FOUND);
    st_doc_rec_free(&got);
    st_store_read_end(f->r);
}

static int on_id(void *ctx, const char *id)
{
    seen *s = ctx;
    snprintf(s->id[s->n++], sizeof s->id[0], "%s", id);
    return 0;
}

static void collect_rev_id(void *ctx, const char *id) { (void)on_id(ctx, id); }

static void on_doc_atts(void *ctx, uint64_t seq, const char *json, size_t n)
{
    seen *s = ctx;
    s->seq[s->n] = seq;
    snprintf(s->id[s->n++], sizeof s->id[0], "%.*s", (int)(n < 15 ? n : 15), json ? json : "");
}

static void on_rev_atts(void *ctx, const char *id, const char *rev, const char *json, size_t n)
{
    (void)rev;
    (void)json;
    (void)n;
    (void)on_id(ctx, id);
}

static void on_digest(void *ctx, const char *d) { (void)on_id(ctx, d); }

static void test_revs_atts_local_meta(void **state)
{
    fx *f = *state;
    st_counters k;
    st_error e;
    st_buf body = ST_BUF_INIT, atts = ST_BUF_INIT;
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    /* A conflicted document shows in the conflicted index. */
    st_doc_rec r = rec(1, "{}", "{\"f\":{\"digest\":\"md5-x\"}}");
    r.conflicted = true;
    assert_int_equal(st_store_doc_put(f->w, "doc", 0, &r, &e), ST_OK);
    st_doc_rec_free(&r);
    assert_int_equal(st_store_rev_put(f->w, "doc", "1-a", "{\"v\":1}", 7, "{\"g\":{}}", 8, &e),
                     ST_OK);
    assert_int_equal(st_store_rev_put(f->w, "doc", "1-b", "{}", 2, NULL, 0, &e), ST_OK);
    assert_int_equal(st_store_att_put(f->w, "md5-x", "abc", 3, &e), ST_OK);
    assert_int_equal(st_store_att_put(f->w, "md5-x", "zzz", 3, &e), ST_OK); /* no-op */
    assert_int_equal(st_store_att_put(f->w, "md5-y", "", 0, &e), ST_OK);
    assert_int_equal(st_store_local_put(f->w, "_local/c", 3, "{\"l\":1}", 7, &e), ST_OK);
    assert_int_equal(st_store_meta_set(f->w, "uuid", "u1", 2, &e), ST_OK);
    k.update_seq = 1;
    assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);

    assert_int_equal(st_store_read_begin(f->r, NULL), ST_OK);
    assert_int_equal(st_store_rev_get(f->r, "doc", "1-a", &body, &atts, &e), ST_OK);
    assert_string_equal(body.data, "{\"v\":1}");
    assert_string_equal(atts.data, "{\"g\":{}}");
    assert_int_equal(st_store_rev_get(f->r, "doc", "9-z", &body, &atts, &e), ST_E_NOT_FOUND);
    st_buf_reset(&body);
    assert_int_equal(st_store_att_get(f->r, "md5-x", &body, &e), ST_OK);
    assert_string_equal(body.data, "abc");
    assert_true(st_store_att_exists(f->r, "md5-y"));
    assert_false(st_store_att_exists(f->r, "md5-q"));
    uint64_t lrev = 0;
    st_buf_reset(&body);
    assert_int_equal(st_store_local_get(f->r, "_local/c", &lrev, &body, &e), ST_OK);
    assert_int_equal(lrev, 3);
    assert_string_equal(body.data, "{\"l\":1}");
    st_buf_reset(&body);
    assert_int_equal(st_store_meta_get(f->r, "uuid", &body, &e), ST_OK);
    assert_string_equal(body.data, "u1");
    assert_int_equal(st_store_meta_get(f->r, "nothing", &body, &e), ST_E_NOT_FOUND);
    seen s = {0};
    assert_int_equal(st_store_scan_conflicted(f->r, NULL, on_id, &s, &e), ST_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.id[0], "doc");
    memset(&s, 0, sizeof s);
    assert_int_equal(st_store_scan_rev_ids(f->r, "", 10, collect_rev_id, &s, &e), ST_OK);
    assert_int_equal(s.n, 1); /* distinct ids */
    memset(&s, 0, sizeof s);
    assert_int_equal(st_store_scan_doc_atts(f->r, 0, 10, on_doc_atts, &s, &e), ST_OK);
    assert_int_equal(s.n, 1);
    memset(&s, 0, sizeof s);
    assert_int_equal(st_store_scan_rev_atts(f->r, "", "", 10, on_rev_atts, &s, &e), ST_OK);
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof s);
    assert_int_equal(st_store_scan_rev_atts(f->r, "doc", "1-a", 10, on_rev_atts, &s, &e), ST_OK);
    assert_int_equal(s.n, 1); /* resumes after (doc, 1-a) */
    memset(&s, 0, sizeof s);
    assert_int_equal(st_store_scan_att_digests(f->r, "", 10, on_digest, &s, &e), ST_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.id[0], "md5-x");
    st_store_read_end(f->r);

    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    assert_int_equal(st_store_rev_delete(f->w, "doc", "1-a", &e), ST_OK);
    assert_int_equal(st_store_att_delete(f->w, "md5-y", &e), ST_OK);
    assert_int_equal(st_store_local_delete(f->w, "_local/c", &e), ST_OK);
    assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);
    assert_int_equal(st_store_read_begin(f->r, NULL), ST_OK);
    assert_int_equal(st_store_rev_get(f->r, "doc", "1-a", &body, &atts, &e), ST_E_NOT_FOUND);
    assert_false(st_store_att_exists(f->r, "md5-y"));
    assert_int_equal(st_store_local_get(f->r, "_local/c", &lrev, NULL, &e), ST_E_NOT_FOUND);
    st_store_read_end(f->r);
    st_buf_free(&body);
    st_buf_free(&atts);
}

static void test_maintenance_and_backup(void **state)
{
    fx *f = *state;
    st_counters k;
    st_error e;
    char big[8192];
    memset(big, 'x', sizeof big);
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    for (int i = 0; i < 200; i++) {
        char d[32];
        snprintf(d, sizeof d, "md5-%d", i);
        assert_int_equal(st_store_att_put(f->w, d, big, sizeof big, &e), ST_OK);
    }
    assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);
    st_store_size before, after;
    assert_int_equal(st_store_size_get(f->r, &before, &e), ST_OK);
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    for (int i = 0; i < 200; i++) {
        char d[32];
        snprintf(d, sizeof d, "md5-%d", i);
        assert_int_equal(st_store_att_delete(f->w, d, &e), ST_OK);
    }
    assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);
    /* Free pages go back in bounded slices, each inside a transaction. */
    uint64_t left = 1;
    int slices = 0;
    while (left && slices < 1000) {
        assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
        assert_int_equal(st_store_vacuum_slice(f->w, 64, &left, &e), ST_OK);
        assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);
        slices++;
    }
    assert_true(slices > 1);
    assert_int_equal(left, 0);
    assert_int_equal(st_store_checkpoint(f->w, &e), ST_OK);
    assert_int_equal(st_store_size_get(f->r, &after, &e), ST_OK);
    assert_true(after.file < before.file);
    /* A backup is a database of its own with the same contents. */
    char path[4200];
    snprintf(path, sizeof path, "%s/copy.settee", f->dir);
    assert_int_equal(st_store_write_begin(f->w, &k, NULL), ST_OK);
    assert_int_equal(st_store_meta_set(f->w, "mark", "kept", 4, &e), ST_OK);
    assert_int_equal(st_store_commit(f->w, &k, NULL), ST_OK);
    assert_int_equal(st_store_backup(f->store, path, &e), ST_OK);
    assert_int_equal(st_store_backup(f->store, path, &e), ST_E_FILE_EXISTS);
    st_store *copy = NULL;
    st_conn *c = NULL;
    assert_int_equal(st_store_open(f->root, "copy", &copy, &e), ST_OK);
    assert_int_equal(st_store_conn_open(copy, &c, &e), ST_OK);
    st_buf b = ST_BUF_INIT;
    assert_int_equal(st_store_read_begin(c, NULL), ST_OK);
    assert_int_equal(st_store_meta_get(c, "mark", &b, &e), ST_OK);
    assert_string_equal(b.data, "kept");
    st_store_read_end(c);
    st_buf_free(&b);
    st_store_conn_close(c);
    st_store_close(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_and_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docs_and_scans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revs_atts_local_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maintenance_and_backup, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
