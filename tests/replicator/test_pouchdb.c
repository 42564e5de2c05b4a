/* test_pouchdb.c — interop with PouchDB (node, memory adapter) as the other
 * replicator, around the real `settee serve`:
 *  - settee syncs a local file with a server database while PouchDB edits
 *    the same documents through its own replication: the revision trees
 *    (every leaf, deleted ones too) and the winners that PouchDB ends up
 *    with equal settee's local copy;
 *  - checkpoints: with pouchdb_checkpoints, a PouchDB replication of the
 *    same pair of URLs resumes where settee stopped, and settee resumes where
 *    PouchDB stopped.
 * PouchDB's part is tests/interop/settee_repl_peer.js; skipped when node or
 * the interop node_modules are missing. */
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "repl_server.h"
#include "repl_testutil.h"

static rs_server srv;
static char interop_dir[4096];

static bool have_node(void)
{
    char src[4096];
    snprintf(src, sizeof src, "%s", __FILE__);
    snprintf(interop_dir, sizeof interop_dir, "%s/../interop", dirname(src));
    char p[4200];
    snprintf(p, sizeof p, "%s/node_modules/pouchdb-core", interop_dir);
    return access(p, F_OK) == 0 && system("node --version > /dev/null 2>&1") == 0;
}

/* Run the peer script; its stdout (malloc'd) or NULL on failure. */
static char *peer(const char *cmd, const char *a, const char *b)
{
    char line[8192];
    snprintf(line, sizeof line, "cd '%s' && timeout 120 node settee_repl_peer.js %s '%s' '%s'",
             interop_dir, cmd, a, b ? b : "");
    FILE *f = popen(line, "r");
    if (!f)
        return NULL;
    st_buf out = ST_BUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (st_buf_add(&out, buf, n) != ST_OK)
            break;
    int rc = pclose(f);
    if (rc != 0) {
        fprintf(stderr, "peer %s failed (%d): %s\n", cmd, rc, out.data ? out.data : "");
        st_buf_free(&out);
        return NULL;
    }
    return out.data ? st_buf_take(&out, NULL) : strdup("");
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return rs_start(&srv, "pouch") ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    bool clean = rs_stop(&srv);
    curl_global_cleanup();
    return clean ? 0 : -1; /* the server must exit 0 on SIGTERM */
}

static void url_of(char *out, size_t cap, const char *db)
{
    snprintf(out, cap, "%s/%s", srv.base, db);
}

static st_repl_status run(const char *src, st_db *sdb, const char *tgt, st_db *tdb, bool pouch)
{
    st_repl_config c;
    st_repl_config_init(&c);
    c.source = src;
    c.source_db = sdb;
    c.target = tgt;
    c.target_db = tdb;
    c.create_target = true;
    c.pouchdb_checkpoints = pouch;
    c.max_retries = 3;
    st_repl_status s;
    st_error e;
    st_status st = st_repl_run(&c, &s, &e);
    if (st != ST_OK)
        fprintf(stderr, "replication failed: %s\n", s.last_error.reason);
    assert_int_equal(st, ST_OK);
    return s;
}

/* settee's view in the peer script's format. */
typedef struct tree_lines {
    st_buf *out;
    char **lines;
    size_t n, cap;
} tree_lines;

static int tree_row(void *ctx, const st_change_row *row)
{
    tree_lines *t = ctx;
    const char **sorted = malloc(row->n_revs * sizeof *sorted);
    for (size_t i = 0; i < row->n_revs; i++)
        sorted[i] = row->revs[i];
    qsort(sorted, row->n_revs, sizeof *sorted, rt_cmpstr);
    st_buf l = ST_BUF_INIT;
    (void)!st_buf_printf(&l, "%s winner=%s leaves=", row->id, row->revs[0]);
    for (size_t i = 0; i < row->n_revs; i++)
        (void)!st_buf_printf(&l, "%s%s", i ? "," : "", sorted[i]);
    free(sorted);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->lines = realloc(t->lines, t->cap * sizeof *t->lines);
    }
    t->lines[t->n++] = st_buf_take(&l, NULL);
    return 0;
}

static char *settee_trees(st_db *db)
{
    tree_lines t = {0};
    st_changes_opts o;
    st_changes_opts_init(&o);
    o.all_docs = true;
    st_error e;
    assert_int_equal(st_db_changes(db, &o, tree_row, &t, NULL, NULL, &e), ST_OK);
    qsort(t.lines, t.n, sizeof *t.lines, rt_cmpstr);
    st_buf out = ST_BUF_INIT;
    for (size_t i = 0; i < t.n; i++) {
        (void)!st_buf_printf(&out, "%s\n", t.lines[i]);
        free(t.lines[i]);
    }
    free(t.lines);
    return out.data ? st_buf_take(&out, NULL) : strdup("");
}

static void test_trees_match_pouchdb(void **state)
{
    (void)state;
    char pl[4096], url[256];
    ts_db_path(pl, sizeof pl, "pouch-local.settee");
    st_db *l = rt_open(pl, true);
    for (int i = 1; i <= 5; i++)
        rt_put(l, NULL, "{\"_id\":\"c%d\",\"v\":0}", i);
    for (int i = 0; i < 20; i++)
        rt_put(l, NULL, "{\"_id\":\"p%02d\",\"n\":%d}", i, i);
    rt_put(l, NULL, "{\"_id\":\"del-me\"}");
    rt_put(l, NULL, "{\"_id\":\"att\",\"_attachments\":{\"a.txt\":{\"content_type\":"
                    "\"text/plain\",\"data\":\"aGVsbG8=\"}}}");
    url_of(url, sizeof url, "trees");
    run(NULL, l, url, NULL, false);
    /* PouchDB edits c1..c5, deletes del-me, adds an attachment doc. */
    char *o = peer("edit", url, NULL);
    assert_non_null(o);
    free(o);
    /* settee edits c1..c5 too, on its own copy: conflicts. */
    for (int i = 1; i <= 5; i++) {
        st_buf b = ST_BUF_INIT;
        st_error e;
        char id[8];
        snprintf(id, sizeof id, "c%d", i);
        assert_int_equal(st_db_get(l, id, NULL, &b, &e), ST_OK);
        const char *r = strstr(b.data, "\"_rev\":\"") + 8;
        rt_put(l, NULL, "{\"_id\":\"%s\",\"_rev\":\"%.*s\",\"side\":\"settee\"}", id,
               (int)(strchr(r, '"') - r), r);
        st_buf_free(&b);
    }
    /* settee sync: both directions. */
    run(NULL, l, url, NULL, false);
    run(url, NULL, NULL, l, false);
    char *theirs = peer("dump", url, NULL);
    assert_non_null(theirs);
    char *ours = settee_trees(l);
    if (strcmp(ours, theirs) != 0)
        fprintf(stderr, "--- settee\n%s--- pouchdb\n%s", ours, theirs);
    assert_string_equal(ours, theirs);
    assert_non_null(strstr(ours, "c3 winner="));
    /* c1 has two leaves on both sides */
    const char *c1 = strstr(ours, "c1 winner=");
    assert_non_null(c1);
    const char *nl = strchr(c1, '\n');
    assert_non_null(memchr(c1, ',', (size_t)(nl - c1)));
    free(ours);
    free(theirs);
    st_db_close(l);
    ts_db_unlink(pl);
}

static void fill_remote(const char *db, int from, int n)
{
    st_buf body = ST_BUF_INIT;
    assert_int_equal(st_buf_adds(&body, "{\"docs\":["), ST_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(st_buf_printf(&body, "%s{\"_id\":\"k%04d\"}", i ? "," : "", from + i),
                         ST_OK);
    assert_int_equal(st_buf_adds(&body, "]}"), ST_OK);
    char path[128];
    snprintf(path, sizeof path, "/%s", db);
    rs_http_status(&srv, "PUT", path, NULL);
    snprintf(path, sizeof path, "/%s/_bulk_docs", db);
    assert_int_equal(rs_http_status(&srv, "POST", path, body.data), 201);
    st_buf_free(&body);
}

static void test_checkpoints_shared_with_pouchdb(void **state)
{
    (void)state;
    char a[256], b[256], c[256], d[256];
    url_of(a, sizeof a, "ck_a");
    url_of(b, sizeof b, "ck_b");
    url_of(c, sizeof c, "ck_c");
    url_of(d, sizeof d, "ck_d");

    /* settee first, then PouchDB: PouchDB starts at settee's checkpoint. */
    fill_remote("ck_a", 0, 200);
    st_repl_status s = run(a, NULL, b, NULL, true);
    assert_int_equal(s.docs_written, 200);
    char *o = peer("replicate", a, b);
    assert_non_null(o);
    char want[ST_REPL_SEQ_MAX + 16];
    snprintf(want, sizeof want, "\"since\":[\"%s\"", s.last_seq);
    if (!strstr(o, want))
        fprintf(stderr, "PouchDB: %s (wanted %s)\n", o, want);
    assert_non_null(strstr(o, want));
    assert_non_null(strstr(o, "\"docs_read\":0"));
    free(o);
    /* Without the PouchDB mode, PouchDB would have started from 0. */

    /* PouchDB moves on; settee then resumes from PouchDB's checkpoint. */
    fill_remote("ck_a", 200, 10);
    o = peer("replicate", a, b);
    assert_non_null(o);
    assert_non_null(strstr(o, "\"docs_written\":10"));
    free(o);
    s = run(a, NULL, b, NULL, true);
    assert_int_equal(s.changes_read, 0);
    assert_int_equal(s.docs_read, 0);

    /* A pair PouchDB replicated first: settee honours PouchDB's checkpoint. */
    fill_remote("ck_c", 0, 50);
    rs_http_status(&srv, "PUT", "/ck_d", NULL);
    o = peer("replicate", c, d);
    assert_non_null(o);
    assert_non_null(strstr(o, "\"docs_written\":50"));
    free(o);
    s = run(c, NULL, d, NULL, true);
    assert_int_equal(s.changes_read, 0);
    /* ...and without the mode it rescans (finding nothing to copy). */
    s = run(c, NULL, d, NULL, false);
    assert_int_equal(s.changes_read, 0 + 50);
    assert_int_equal(s.docs_written, 0);
}

int main(void)
{
    if (!ts_settee_bin() || !have_node()) {
        printf("settee binary, node or tests/interop/node_modules missing: skipping PouchDB interop\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trees_match_pouchdb),
        cmocka_unit_test(test_checkpoints_shared_with_pouchdb),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
