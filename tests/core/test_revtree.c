/* test_revtree.c — revision tree: merge, winner, stem, purge, encode/decode.
 *
 * Besides hand-written cases, a property test builds random edit histories
 * (branches, deletions, stemmed pieces), merges all their root-to-leaf paths
 * in many shuffled orders and requires byte-identical encodings and the same
 * winner (couch_key_tree_prop_tests does the same for CouchDB), then checks
 * stemming against a brute-force model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_buf.h"
#include "st_rev.h"
#include "st_revtree.h"

/* ---- helpers ------------------------------------------------------------ */

static st_rev rev(const char *s)
{
    st_rev r;
    st_error err;

    if (st_rev_parse(s, strlen(s), &r, &err) != ST_OK)
        fail_msg("bad rev in test: %s", s);
    return r;
}

/* Merge "3-c 2-b 1-a" (newest first); returns the merge result. */
static st_merge_result merge(st_revtree *t, const char *spec, unsigned flags)
{
    st_rev path[64];
    size_t n = 0;
    char buf[1024], *save = NULL;
    st_merge_result res;
    st_error err;

    assert_true(strlen(spec) < sizeof buf);
    strcpy(buf, spec);
    for (char *tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        assert_true(n < 64);
        path[n++] = rev(tok);
    }
    if (st_revtree_merge_path(t, path, n, flags, &res, &err) != ST_OK)
        fail_msg("merge %s failed: %s", spec, err.reason);
    return res;
}

static int find(const st_revtree *t, const char *s)
{
    st_rev r = rev(s);

    return st_revtree_find(t, &r);
}

/* Parent of rev s as text ("" for a root); fails if s is absent. */
static const char *parent_of(const st_revtree *t, const char *s)
{
    static char out[ST_REV_STR_MAX];
    int i = find(t, s), p;
    st_rev r;

    if (i < 0)
        fail_msg("%s not in tree", s);
    p = st_revtree_parent(t, (size_t)i);
    if (p < 0)
        return "";
    st_revtree_node(t, (size_t)p, &r, NULL, NULL);
    st_rev_format(&r, out, sizeof out);
    return out;
}

static const char *rev_at(const st_revtree *t, int i)
{
    static char out[4][ST_REV_STR_MAX];
    static int slot;
    st_rev r;

    if (i < 0)
        return "(none)";
    slot = (slot + 1) % 4;
    st_revtree_node(t, (size_t)i, &r, NULL, NULL);
    st_rev_format(&r, out[slot], sizeof out[slot]);
    return out[slot];
}

/* Leaves, winner first, as "2-c 1-b ..." */
static const char *leaves_str(const st_revtree *t)
{
    static char out[4096];
    size_t idx[256], n;

    assert_true(st_revtree_count(t) <= 256);
    n = st_revtree_leaves(t, idx);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(out, " ");
        strcat(out, rev_at(t, (int)idx[i]));
    }
    return out;
}

static size_t roots(const st_revtree *t)
{
    size_t n = 0;

    for (size_t i = 0; i < st_revtree_count(t); i++)
        n += st_revtree_parent(t, i) < 0;
    return n;
}

static void encode(const st_revtree *t, st_buf *b)
{
    st_buf_reset(b);
    assert_int_equal(st_revtree_encode(t, b), ST_OK);
}

static void assert_same_encoding(const st_revtree *a, const st_revtree *b)
{
    st_buf x = ST_BUF_INIT, y = ST_BUF_INIT;

    encode(a, &x);
    encode(b, &y);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.data, y.data, x.len);
    st_buf_free(&x);
    st_buf_free(&y);
}

/* Removed-callback recorder: "1-a 2-b " in call order. */
typedef struct removed_log {
    char text[8192];
    unsigned flags_or;
    size_t count;
} removed_log;

static void on_removed(void *ctx, const st_rev *r, unsigned flags)
{
    removed_log *log = ctx;
    char s[ST_REV_STR_MAX];

    st_rev_format(r, s, sizeof s);
    assert_true(strlen(log->text) + strlen(s) + 2 < sizeof log->text);
    strcat(log->text, s);
    strcat(log->text, " ");
    log->flags_or |= flags;
    log->count++;
}

/* ---- merge -------------------------------------------------------------- */

static void test_empty(void **state)
{
    st_revtree *t = st_revtree_new();
    st_revtree *u = NULL;
    st_buf b = ST_BUF_INIT;
    size_t idx[1];
    st_error err;

    (void)state;
    assert_non_null(t);
    assert_int_equal(st_revtree_count(t), 0);
    assert_int_equal(st_revtree_winner(t), -1);
    assert_int_equal(st_revtree_leaves(t, idx), 0);
    assert_int_equal(find(t, "1-a"), -1);
    encode(t, &b);
    assert_int_equal(st_revtree_decode(b.data, b.len, &u, &err), ST_OK);
    assert_int_equal(st_revtree_count(u), 0);
    st_revtree_free(u);
    st_revtree_free(t);
    st_revtree_free(NULL);
    st_buf_free(&b);
}

static void test_merge_new_leaf(void **state)
{
    st_revtree *t = st_revtree_new();
    unsigned fl;
    int p;

    (void)state;
    assert_int_equal(merge(t, "1-a", ST_REVTREE_HAS_BODY), ST_MERGE_NEW_LEAF);
    assert_int_equal(merge(t, "2-b 1-a", ST_REVTREE_HAS_BODY), ST_MERGE_NEW_LEAF);
    assert_int_equal(merge(t, "4-d 3-c 2-b", ST_REVTREE_HAS_BODY | ST_REVTREE_DELETED),
                     ST_MERGE_NEW_LEAF);
    assert_int_equal(st_revtree_count(t), 4);
    assert_string_equal(parent_of(t, "2-b"), "1-a");
    assert_string_equal(parent_of(t, "3-c"), "2-b");
    assert_string_equal(parent_of(t, "1-a"), "");
    /* leaf flags go to the new leaf only; added ancestors get none */
    assert_int_equal(st_revtree_flags(t, (size_t)find(t, "4-d")),
                     ST_REVTREE_HAS_BODY | ST_REVTREE_DELETED);
    assert_int_equal(st_revtree_flags(t, (size_t)find(t, "3-c")), 0);
    assert_int_equal(st_revtree_flags(t, (size_t)find(t, "1-a")), ST_REVTREE_HAS_BODY);
    assert_true(st_revtree_is_leaf(t, (size_t)find(t, "4-d")));
    assert_false(st_revtree_is_leaf(t, (size_t)find(t, "2-b")));
    st_revtree_node(t, (size_t)find(t, "4-d"), NULL, &p, &fl);
    assert_int_equal(p, find(t, "3-c"));
    assert_int_equal(fl, ST_REVTREE_HAS_BODY | ST_REVTREE_DELETED);
    assert_string_equal(st_revtree_hash(t, (size_t)find(t, "3-c")), "c");
    assert_int_equal(st_revtree_gen(t, (size_t)find(t, "3-c")), 3);
    st_revtree_free(t);
}

static void test_merge_new_branch(void **state)
{
    st_revtree *t = st_revtree_new();

    (void)state;
    merge(t, "3-c 2-b 1-a", 0);
    assert_int_equal(merge(t, "2-x 1-a", 0), ST_MERGE_NEW_BRANCH);
    assert_int_equal(merge(t, "3-y 2-b", 0), ST_MERGE_NEW_BRANCH);
    assert_string_equal(parent_of(t, "2-x"), "1-a");
    assert_string_equal(parent_of(t, "3-y"), "2-b");
    assert_string_equal(leaves_str(t), "3-y 3-c 2-x");
    assert_int_equal(roots(t), 1);
    st_revtree_free(t);
}

static void test_merge_new_root(void **state)
{
    st_revtree *t = st_revtree_new();

    (void)state;
    assert_int_equal(merge(t, "5-q 4-p", 0), ST_MERGE_NEW_LEAF); /* empty tree */
    assert_int_equal(merge(t, "2-b 1-a", 0), ST_MERGE_NEW_BRANCH);
    assert_int_equal(st_revtree_count(t), 4);
    assert_int_equal(roots(t), 2);
    assert_string_equal(parent_of(t, "4-p"), "");
    assert_string_equal(parent_of(t, "1-a"), "");
    assert_string_equal(leaves_str(t), "5-q 2-b");
    st_revtree_free(t);
}

static void test_merge_idempotent(void **state)
{
    st_revtree *t = st_revtree_new();
    st_revtree *u = st_revtree_new();

    (void)state;
    merge(t, "3-c 2-b 1-a", 0);
    merge(t, "2-x 1-a", 0);
    merge(u, "3-c 2-b 1-a", 0);
    merge(u, "2-x 1-a", 0);
    assert_int_equal(merge(t, "3-c 2-b 1-a", ST_REVTREE_DELETED), ST_MERGE_INTERNAL_NODE);
    assert_int_equal(merge(t, "2-x 1-a", 0), ST_MERGE_INTERNAL_NODE);
    assert_int_equal(merge(t, "2-b 1-a", 0), ST_MERGE_INTERNAL_NODE); /* inner node */
    assert_int_equal(merge(t, "1-a", 0), ST_MERGE_INTERNAL_NODE);
    assert_int_equal(merge(t, "3-c", 0), ST_MERGE_INTERNAL_NODE);
    assert_int_equal(st_revtree_flags(t, (size_t)find(t, "3-c")), 0); /* unchanged */
    assert_same_encoding(t, u);
    st_revtree_free(t);
    st_revtree_free(u);
}

static void test_merge_prepend_ancestors(void **state)
{
    st_revtree *t = st_revtree_new();
    st_revtree *u = st_revtree_new();
    st_revtree *v = st_revtree_new();

    (void)state;
    /* a stemmed tree learns its missing ancestors */
    merge(t, "3-c 2-b", ST_REVTREE_HAS_BODY);
    assert_int_equal(merge(t, "3-c 2-b 1-a", ST_REVTREE_HAS_BODY), ST_MERGE_NEW_BRANCH);
    assert_string_equal(parent_of(t, "2-b"), "1-a");
    assert_int_equal(roots(t), 1);
    merge(u, "3-c 2-b 1-a", ST_REVTREE_HAS_BODY);
    assert_same_encoding(t, u);

    /* prepend and extend at once */
    merge(v, "3-c 2-b", ST_REVTREE_HAS_BODY);
    assert_int_equal(merge(v, "4-d 3-c 2-b 1-a", 0), ST_MERGE_NEW_LEAF);
    assert_string_equal(parent_of(v, "2-b"), "1-a");
    assert_string_equal(parent_of(v, "4-d"), "3-c");
    st_revtree_free(v);

    /* two pieces left by stemming are linked back together */
    v = st_revtree_new();
    merge(v, "4-d 3-c", 0);
    merge(v, "1-a", 0);
    assert_int_equal(roots(v), 2);
    assert_int_equal(merge(v, "4-d 3-c 2-b 1-a", 0), ST_MERGE_NEW_BRANCH);
    assert_int_equal(roots(v), 1);
    assert_string_equal(parent_of(v, "3-c"), "2-b");
    assert_string_equal(parent_of(v, "2-b"), "1-a");
    assert_string_equal(leaves_str(v), "4-d");
    st_revtree_free(v);
    st_revtree_free(t);
    st_revtree_free(u);
}

static void test_merge_contradicting_ancestry(void **state)
{
    st_revtree *t = st_revtree_new();

    (void)state;
    merge(t, "2-b 1-a", 0);
    /* 2-b's parent is 1-a; a path saying 1-z is ignored above 2-b */
    assert_int_equal(merge(t, "3-c 2-b 1-z", 0), ST_MERGE_NEW_LEAF);
    assert_int_equal(find(t, "1-z"), -1);
    assert_string_equal(parent_of(t, "2-b"), "1-a");
    assert_int_equal(merge(t, "2-b 1-z", 0), ST_MERGE_INTERNAL_NODE);
    st_revtree_free(t);
}

static void test_merge_bad_paths(void **state)
{
    st_revtree *t = st_revtree_new();
    st_rev p[3];
    st_error err;
    st_merge_result res;
    st_buf before = ST_BUF_INIT, after = ST_BUF_INIT;

    (void)state;
    merge(t, "2-b 1-a", 0);
    encode(t, &before);
    p[0] = rev("3-c");
    p[1] = rev("1-a");
    assert_int_equal(st_revtree_merge_path(t, p, 2, 0, &res, &err), ST_E_BAD_REQUEST);
    p[0] = rev("1-a");
    p[1] = rev("1-b");
    assert_int_equal(st_revtree_merge_path(t, p, 2, 0, &res, &err), ST_E_BAD_REQUEST);
    p[0] = rev("2-a");
    p[1] = rev("1-b");
    p[2] = rev("1-c"); /* would reach generation 0 */
    p[2].gen = 0;
    assert_int_equal(st_revtree_merge_path(t, p, 3, 0, &res, &err), ST_E_BAD_REQUEST);
    assert_int_equal(st_revtree_merge_path(t, p, 0, 0, &res, &err), ST_E_BAD_REQUEST);
    assert_int_equal(st_revtree_merge_path(t, NULL, 1, 0, &res, &err), ST_E_BAD_REQUEST);
    p[0] = rev("1-a");
    p[0].hash_len = 0;
    assert_int_equal(st_revtree_merge_path(t, p, 1, 0, &res, &err), ST_E_BAD_REQUEST);
    p[0] = rev("3-ab");
    p[0].hash[1] = '\0'; /* hand-made rev with a NUL inside */
    assert_int_equal(st_revtree_merge_path(t, p, 1, 0, &res, &err), ST_E_BAD_REQUEST);
    encode(t, &after);
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.data, after.data, before.len);
    st_buf_free(&before);
    st_buf_free(&after);
    st_revtree_free(t);
}

/* ---- winner ------------------------------------------------------------- */

static void test_winner(void **state)
{
    st_revtree *t = st_revtree_new();

    (void)state;
    /* live beats deleted, even at a lower generation */
    merge(t, "1-b", 0);
    merge(t, "3-z 2-y", ST_REVTREE_DELETED);
    assert_string_equal(rev_at(t, st_revtree_winner(t)), "1-b");
    assert_string_equal(leaves_str(t), "1-b 3-z");
    st_revtree_free(t);

    /* then higher generation */
    t = st_revtree_new();
    merge(t, "2-a 1-a", 0);
    merge(t, "3-a 2-b 1-a", 0);
    assert_string_equal(rev_at(t, st_revtree_winner(t)), "3-a");
    st_revtree_free(t);

    /* then higher hash, bytewise; a longer hash wins a prefix tie */
    t = st_revtree_new();
    merge(t, "2-aaa 1-r", 0);
    merge(t, "2-bbb 1-r", 0);
    merge(t, "2-Zzz 1-r", 0);
    merge(t, "2-bb 1-r", 0);
    assert_string_equal(leaves_str(t), "2-bbb 2-bb 2-aaa 2-Zzz");
    st_revtree_free(t);

    /* everything deleted: the best deleted leaf wins */
    t = st_revtree_new();
    merge(t, "2-a 1-r", ST_REVTREE_DELETED);
    merge(t, "2-c 1-r", ST_REVTREE_DELETED);
    merge(t, "3-b 2-x 1-r", ST_REVTREE_DELETED);
    merge(t, "2-0 1-r", 0);
    assert_string_equal(leaves_str(t), "2-0 3-b 2-c 2-a");
    st_revtree_set_flags(t, (size_t)find(t, "2-0"), ST_REVTREE_DELETED);
    assert_string_equal(rev_at(t, st_revtree_winner(t)), "3-b");
    assert_string_equal(leaves_str(t), "3-b 2-c 2-a 2-0");
    st_revtree_free(t);
}

static void test_path(void **state)
{
    st_revtree *t = st_revtree_new();
    size_t out[8], n;

    (void)state;
    merge(t, "4-d 3-c 2-b 1-a", 0);
    merge(t, "3-x 2-b", 0);
    n = st_revtree_path(t, (size_t)find(t, "4-d"), out);
    assert_int_equal(n, 4);
    assert_string_equal(rev_at(t, (int)out[0]), "4-d");
    assert_string_equal(rev_at(t, (int)out[3]), "1-a");
    n = st_revtree_path(t, (size_t)find(t, "3-x"), out);
    assert_int_equal(n, 3);
    assert_string_equal(rev_at(t, (int)out[1]), "2-b");
    assert_int_equal(st_revtree_path(t, 99, out), 0);
    st_revtree_free(t);
}

/* ---- stem and purge ----------------------------------------------------- */

static void test_stem_linear(void **state)
{
    st_revtree *t = st_revtree_new();
    removed_log log = {{0}, 0, 0};

    (void)state;
    merge(t, "5-e 4-d 3-c 2-b 1-a", ST_REVTREE_HAS_BODY);
    st_revtree_set_flags(t, (size_t)find(t, "1-a"), ST_REVTREE_HAS_BODY);
    assert_int_equal(st_revtree_stem(t, 3, on_removed, &log), ST_OK);
    assert_string_equal(log.text, "1-a 2-b ");
    assert_int_equal(log.flags_or, ST_REVTREE_HAS_BODY);
    assert_int_equal(st_revtree_count(t), 3);
    assert_string_equal(parent_of(t, "3-c"), "");
    assert_string_equal(parent_of(t, "4-d"), "3-c");
    /* stemming again changes nothing */
    memset(&log, 0, sizeof log);
    assert_int_equal(st_revtree_stem(t, 3, on_removed, &log), ST_OK);
    assert_int_equal(log.count, 0);
    assert_int_equal(st_revtree_stem(t, 1, NULL, NULL), ST_OK);
    assert_int_equal(st_revtree_count(t), 1);
    assert_string_equal(leaves_str(t), "5-e");
    assert_int_equal(st_revtree_stem(t, 0, NULL, NULL), ST_E_BAD_REQUEST);
    st_revtree_free(t);
}

static void test_stem_branches(void **state)
{
    st_revtree *t = st_revtree_new();
    st_revtree *u = st_revtree_new();
    removed_log log = {{0}, 0, 0};

    (void)state;
    /* 1-a - 2-b - 3-c - 4-d - 5-e - 6-f
     *          \- 3-x                      limit 2 keeps 5-e 6-f, 2-b 3-x */
    merge(t, "6-f 5-e 4-d 3-c 2-b 1-a", 0);
    merge(t, "3-x 2-b", 0);
    assert_int_equal(st_revtree_stem(t, 2, on_removed, &log), ST_OK);
    assert_string_equal(log.text, "1-a 3-c 4-d ");
    assert_int_equal(st_revtree_count(t), 4);
    assert_int_equal(roots(t), 2); /* the pieces became separate roots */
    assert_string_equal(parent_of(t, "5-e"), "");
    assert_string_equal(parent_of(t, "3-x"), "2-b");
    assert_string_equal(parent_of(t, "2-b"), "");
    assert_string_equal(leaves_str(t), "6-f 3-x");
    /* the same as merging the stemmed paths */
    merge(u, "3-x 2-b", 0);
    merge(u, "6-f 5-e", 0);
    assert_same_encoding(t, u);
    st_revtree_free(t);
    st_revtree_free(u);

    /* As couch_key_tree:stem does, a kept node keeps its kept children, so a
     * short branch can keep a longer sibling's ancestors attached:
     * 2-b is within 2 of leaf 3-x, 3-c within 2 of 4-d, so both survive and
     * 2-b - 3-c - 4-d stays one path of 3 revisions. */
    t = st_revtree_new();
    memset(&log, 0, sizeof log);
    merge(t, "4-d 3-c 2-b 1-a", 0);
    merge(t, "3-x 2-b", 0);
    assert_int_equal(st_revtree_stem(t, 2, on_removed, &log), ST_OK);
    assert_string_equal(log.text, "1-a ");
    assert_string_equal(parent_of(t, "3-c"), "2-b");
    assert_int_equal(roots(t), 1);
    st_revtree_free(t);
}

static void test_purge_leaf(void **state)
{
    st_revtree *t = st_revtree_new();
    removed_log log = {{0}, 0, 0};
    st_rev r;

    (void)state;
    merge(t, "3-c 2-b 1-a", 0);
    merge(t, "3-d 2-b", ST_REVTREE_DELETED);
    merge(t, "2-x 1-a", 0);
    r = rev("2-b");
    assert_int_equal(st_revtree_purge_leaf(t, &r, on_removed, &log), ST_E_NOT_FOUND);
    r = rev("9-zz");
    assert_int_equal(st_revtree_purge_leaf(t, &r, on_removed, &log), ST_E_NOT_FOUND);
    assert_int_equal(log.count, 0);

    r = rev("3-c");
    assert_int_equal(st_revtree_purge_leaf(t, &r, on_removed, &log), ST_OK);
    assert_string_equal(log.text, "3-c ");
    assert_string_equal(leaves_str(t), "2-x 3-d");

    memset(&log, 0, sizeof log);
    r = rev("3-d");
    assert_int_equal(st_revtree_purge_leaf(t, &r, on_removed, &log), ST_OK);
    assert_string_equal(log.text, "2-b 3-d "); /* 2-b had no other child */
    assert_int_equal(log.flags_or, ST_REVTREE_DELETED);
    assert_string_equal(leaves_str(t), "2-x");

    memset(&log, 0, sizeof log);
    r = rev("2-x");
    assert_int_equal(st_revtree_purge_leaf(t, &r, on_removed, &log), ST_OK);
    assert_string_equal(log.text, "1-a 2-x ");
    assert_int_equal(st_revtree_count(t), 0);
    assert_int_equal(st_revtree_winner(t), -1);
    /* the tree is usable again */
    assert_int_equal(merge(t, "1-q", 0), ST_MERGE_NEW_LEAF);
    st_revtree_free(t);
}

/* ---- encode / decode ---------------------------------------------------- */

static void test_encode_decode(void **state)
{
    st_revtree *t = st_revtree_new();
    st_revtree *u = NULL;
    st_buf b = ST_BUF_INIT, c = ST_BUF_INIT;
    st_error err;

    (void)state;
    merge(t, "2-0785e9eb543380151003dc452c3a001a 1-0785E9EB543380151003DC452C3A001A",
          ST_REVTREE_HAS_BODY);
    merge(t, "2-x 1-0785E9EB543380151003DC452C3A001A", ST_REVTREE_DELETED);
    merge(t, "7-~!@#$%^&*()_+{}|:<>?", 0x80u | ST_REVTREE_HAS_BODY);
    encode(t, &b);
    assert_int_equal(st_revtree_decode(b.data, b.len, &u, &err), ST_OK);
    assert_int_equal(st_revtree_count(u), st_revtree_count(t));
    for (size_t i = 0; i < st_revtree_count(t); i++) {
        st_rev r1, r2;
        int p1, p2;
        unsigned f1, f2;

        st_revtree_node(t, i, &r1, &p1, &f1);
        st_revtree_node(u, i, &r2, &p2, &f2);
        assert_true(st_rev_eq(&r1, &r2));
        assert_int_equal(p1, p2);
        assert_int_equal(f1, f2);
        assert_int_equal(st_revtree_is_leaf(t, i), st_revtree_is_leaf(u, i));
    }
    /* upper-case hex is kept verbatim, lower-case is packed */
    assert_string_equal(st_revtree_hash(u, (size_t)find(u, "1-0785E9EB543380151003DC452C3A001A")),
                        "0785E9EB543380151003DC452C3A001A");
    assert_string_equal(st_revtree_hash(u, (size_t)find(u, "2-0785e9eb543380151003dc452c3a001a")),
                        "0785e9eb543380151003dc452c3a001a");
    encode(u, &c);
    assert_int_equal(b.len, c.len);
    assert_memory_equal(b.data, c.data, b.len);
    /* a decoded tree merges like the original */
    assert_int_equal(merge(u, "3-y 2-x", 0), ST_MERGE_NEW_LEAF);
    st_revtree_free(u);

    /* one packed node: format, count, parent+1, gen, flags<<1|1, 16 bytes */
    st_revtree_free(t);
    t = st_revtree_new();
    merge(t, "1-0785e9eb543380151003dc452c3a001a", ST_REVTREE_HAS_BODY);
    encode(t, &b);
    assert_int_equal(b.len, 5 + 16);
    assert_memory_equal(b.data, "\x01\x01\x00\x01\x05\x07\x85\xe9\xeb", 9);

    st_buf_free(&b);
    st_buf_free(&c);
    st_revtree_free(t);
}

static void expect_corrupt(const void *blob, size_t n)
{
    st_revtree *u = (st_revtree *)1;
    st_error err;

    assert_int_equal(st_revtree_decode(blob, n, &u, &err), ST_E_IO);
    assert_null(u);
    assert_int_equal(err.code, ST_E_IO);
    assert_string_equal(err.reason, "corrupt revision tree");
}

static void expect_valid(const void *blob, size_t n)
{
    st_revtree *u = NULL;
    st_error err;

    assert_int_equal(st_revtree_decode(blob, n, &u, &err), ST_OK);
    st_revtree_free(u);
}

static void test_decode_corrupt(void **state)
{
    st_revtree *t = st_revtree_new();
    st_buf b = ST_BUF_INIT;
    unsigned char *copy;
    uint64_t x = 0x9e3779b97f4a7c15u;

    (void)state;
    /* the hand-made blobs first: one node "1-a", then broken variants */
    expect_valid("\x01\x01\x00\x01\x00\x01" "a", 7);
    expect_valid("\x01\x02\x00\x01\x00\x01" "a\x01\x02\x00\x01" "b", 12);
    expect_corrupt("\x01\x01\x00\x01\x00\x01" "a", 6);           /* truncated */
    expect_corrupt("\x01\x01\x00\x01\x00\x01" "ab", 8);          /* trailing byte */
    expect_corrupt("\x02\x01\x00\x01\x00\x01" "a", 7);           /* format */
    expect_corrupt("\x01\x02\x00\x01\x00\x01" "a", 7);           /* count */
    expect_corrupt("\x01\x01\x01\x01\x00\x01" "a", 7);           /* parent = self */
    expect_corrupt("\x01\x01\x00\x00\x00\x01" "a", 7);           /* gen 0 */
    expect_corrupt("\x01\x01\x00\x01\x00\x00" "a", 7);           /* empty hash */
    expect_corrupt("\x01\x01\x00\x01\x00\x01" " ", 7);           /* space in hash */
    expect_corrupt("\x01\x01\x00\x01\x00\x81\x01" "a", 8);       /* length 129 */
    expect_corrupt("\x01\x02\x00\x01\x00\x01" "a\x01\x03\x00\x01" "b", 12); /* gen gap */
    expect_corrupt("\x01\x02\x00\x01\x00\x01" "a\x02\x02\x00\x01" "b", 12); /* parent fwd */
    expect_corrupt("\x01\x02\x00\x01\x00\x01" "b\x00\x01\x00\x01" "a", 12); /* unsorted */
    expect_corrupt("\x01\x02\x00\x01\x00\x01" "a\x00\x01\x00\x01" "a", 12); /* duplicate */
    expect_corrupt("\x01\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x01" "a", 17);
    expect_corrupt("\x01\x01\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x01" "a", 16);
    expect_corrupt("\x01\xff\xff\xff\xff\x0f", 6);                 /* huge count */
    expect_corrupt("", 0);
    expect_corrupt("\x01", 1);
    expect_corrupt(NULL, 5);

    /* every strict prefix of a real blob is corrupt */
    merge(t, "4-d 3-c 2-0785e9eb543380151003dc452c3a001a 1-a", ST_REVTREE_HAS_BODY);
    merge(t, "3-x 2-0785e9eb543380151003dc452c3a001a", ST_REVTREE_DELETED);
    encode(t, &b);
    for (size_t n = 0; n < b.len; n++)
        expect_corrupt(b.data, n);
    expect_valid(b.data, b.len);

    /* flipped bytes and garbage: never a crash, ST_OK or ST_E_IO only */
    copy = malloc(b.len);
    assert_non_null(copy);
    for (int round = 0; round < 20000; round++) {
        st_revtree *u = NULL;
        st_error err;
        st_status rc;

        memcpy(copy, b.data, b.len);
        for (int k = 0; k < 1 + round % 3; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            copy[x % b.len] = (unsigned char)(x >> 32);
        }
        rc = st_revtree_decode(copy, b.len - (round % 7 == 0 ? x % 3 : 0), &u, &err);
        assert_true(rc == ST_OK || rc == ST_E_IO);
        if (rc == ST_OK) {
            /* whatever decodes must satisfy the tree invariants */
            for (size_t i = 0; i < st_revtree_count(u); i++) {
                int p = st_revtree_parent(u, i);

                assert_true(p < (int)i);
                if (p >= 0)
                    assert_true(st_revtree_gen(u, (size_t)p) + 1 == st_revtree_gen(u, i));
            }
        }
        st_revtree_free(u);
    }
    free(copy);
    st_buf_free(&b);
    st_revtree_free(t);
}

/* ---- property test ------------------------------------------------------ */

typedef struct rng {
    uint64_t s; /* xorshift64* state, never 0 */
} rng;

static uint64_t rng_next(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

static size_t rng_below(rng *r, size_t n)
{
    return (size_t)(rng_next(r) % n);
}

#define H_MAX 96  /* nodes in one generated history */

/* A generated history: node i has parent hp[i] (-1 root), rev hr[i]. */
typedef struct history {
    st_rev rev[H_MAX];     /* revision of each node */
    int parent[H_MAX];     /* parent index, -1 for the root */
    bool deleted[H_MAX];   /* leaf is a tombstone */
    size_t n;              /* nodes used */
} history;

static void random_hash(rng *r, st_rev *out, uint64_t gen)
{
    static const char hex[] = "0123456789abcdef";

    out->gen = gen;
    if (rng_below(r, 4) == 0) {
        /* a PouchDB-style or arbitrary id, not packed */
        int len = 1 + (int)rng_below(r, 40);

        for (int i = 0; i < len; i++)
            out->hash[i] = (char)('!' + rng_below(r, 94));
        out->hash_len = (unsigned)len;
        out->hash[len] = '\0';
    } else {
        for (int i = 0; i < 32; i++)
            out->hash[i] = hex[rng_below(r, 16)];
        out->hash_len = 32;
        out->hash[32] = '\0';
    }
}

static bool has_child(const history *h, size_t i)
{
    for (size_t k = 0; k < h->n; k++)
        if (h->parent[k] == (int)i)
            return true;
    return false;
}

static bool rev_used(const history *h, const st_rev *rv)
{
    for (size_t k = 0; k < h->n; k++)
        if (st_rev_eq(&h->rev[k], rv))
            return true;
    return false;
}

static void make_history(rng *r, history *h)
{
    size_t steps = 1 + rng_below(r, H_MAX - 1);
    size_t del_pct = rng_below(r, 4) == 0 ? 85 : 20; /* some mostly-deleted docs */

    h->n = 0;
    random_hash(r, &h->rev[0], 1 + rng_below(r, 3)); /* may start stemmed */
    h->parent[0] = -1;
    h->deleted[0] = false;
    h->n = 1;
    for (size_t s = 0; s < steps && h->n < H_MAX; s++) {
        size_t at = rng_below(r, h->n);
        size_t i = h->n;

        /* mostly extend a leaf, sometimes fork from anywhere */
        if (rng_below(r, 10) < 7)
            for (size_t k = h->n; k-- > 0;)
                if (!has_child(h, k)) {
                    at = k;
                    if (rng_below(r, 2) == 0)
                        break;
                }
        do
            random_hash(r, &h->rev[i], h->rev[at].gen + 1);
        while (rev_used(h, &h->rev[i]));
        h->parent[i] = (int)at;
        h->deleted[i] = rng_below(r, 100) < del_pct;
        h->n++;
    }
}

/* Root-to-leaf paths of h, newest first, each possibly cut to a suffix
 * (as stemmed replicas send them). */
typedef struct path_set {
    st_rev revs[H_MAX][H_MAX];  /* revs[p][0] is the leaf */
    size_t len[H_MAX];          /* path lengths */
    unsigned flags[H_MAX];      /* leaf flags */
    size_t n;                   /* number of paths */
} path_set;

static void make_paths(rng *r, const history *h, path_set *ps, bool cut)
{
    ps->n = 0;
    for (size_t i = 0; i < h->n; i++) {
        size_t len = 0;

        if (has_child(h, i))
            continue;
        for (int k = (int)i; k >= 0; k = h->parent[k])
            ps->revs[ps->n][len++] = h->rev[k];
        if (cut && rng_below(r, 3) == 0)
            len = 1 + rng_below(r, len);
        ps->len[ps->n] = len;
        ps->flags[ps->n] = ST_REVTREE_HAS_BODY | (h->deleted[i] ? ST_REVTREE_DELETED : 0);
        ps->n++;
    }
}

static st_revtree *merge_all(const path_set *ps, const size_t *order)
{
    st_revtree *t = st_revtree_new();
    st_error err;
    st_merge_result res;

    assert_non_null(t);
    for (size_t k = 0; k < ps->n; k++) {
        size_t p = order[k];

        assert_int_equal(st_revtree_merge_path(t, ps->revs[p], ps->len[p], ps->flags[p], &res,
                                               &err),
                         ST_OK);
    }
    return t;
}

/* The tree holds exactly the paths' revisions with the paths' edges. */
static void check_against_paths(const st_revtree *t, const path_set *ps)
{
    size_t distinct = 0;

    for (size_t p = 0; p < ps->n; p++) {
        for (size_t k = 0; k < ps->len[p]; k++) {
            int i = st_revtree_find(t, &ps->revs[p][k]);
            int par;

            assert_true(i >= 0);
            par = st_revtree_parent(t, (size_t)i);
            if (k + 1 < ps->len[p]) {
                assert_true(par >= 0);
                assert_int_equal(par, st_revtree_find(t, &ps->revs[p][k + 1]));
            }
            if (k == 0)
                assert_true(st_revtree_is_leaf(t, (size_t)i));
        }
    }
    /* count distinct revisions */
    for (size_t p = 0; p < ps->n; p++)
        for (size_t k = 0; k < ps->len[p]; k++) {
            bool seen = false;

            for (size_t q = 0; q <= p && !seen; q++)
                for (size_t m = 0; m < (q == p ? k : ps->len[q]) && !seen; m++)
                    seen = st_rev_eq(&ps->revs[q][m], &ps->revs[p][k]);
            distinct += !seen;
        }
    assert_int_equal(st_revtree_count(t), distinct);
}

static void shuffle(rng *r, size_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(r, i), tmp = v[i - 1];

        v[i - 1] = v[j];
        v[j] = tmp;
    }
}

/* Brute-force stem model: keep the first `limit` nodes of every leaf's path. */
static void check_stem(const st_revtree *before, unsigned limit)
{
    st_revtree *t = NULL;
    st_buf b = ST_BUF_INIT;
    st_error err;
    size_t n = st_revtree_count(before), kept = 0;
    bool *keep = calloc(n ? n : 1, sizeof *keep);
    size_t *path = malloc((n ? n : 1) * sizeof *path);
    removed_log *log = calloc(1, sizeof *log);
    char want_removed[8192] = "";

    assert_non_null(keep);
    assert_non_null(path);
    assert_non_null(log);
    for (size_t i = 0; i < n; i++) {
        size_t len;

        if (!st_revtree_is_leaf(before, i))
            continue;
        len = st_revtree_path(before, i, path);
        for (size_t k = 0; k < len && k < limit; k++)
            keep[path[k]] = true;
    }
    for (size_t i = 0; i < n; i++) {
        kept += keep[i];
        if (!keep[i]) {
            strcat(want_removed, rev_at(before, (int)i));
            strcat(want_removed, " ");
        }
    }
    /* stem a copy */
    encode(before, &b);
    assert_int_equal(st_revtree_decode(b.data, b.len, &t, &err), ST_OK);
    assert_int_equal(st_revtree_stem(t, limit, on_removed, log), ST_OK);
    assert_int_equal(st_revtree_count(t), kept);
    assert_string_equal(log->text, want_removed);
    for (size_t i = 0; i < n; i++) {
        st_rev r;
        int j, p;

        if (!keep[i])
            continue;
        st_revtree_node(before, i, &r, &p, NULL);
        j = st_revtree_find(t, &r);
        assert_true(j >= 0);
        if (p >= 0 && keep[p]) {
            st_rev pr;

            st_revtree_node(before, (size_t)p, &pr, NULL, NULL);
            assert_int_equal(st_revtree_parent(t, (size_t)j), st_revtree_find(t, &pr));
        } else {
            assert_int_equal(st_revtree_parent(t, (size_t)j), -1);
        }
        assert_int_equal(st_revtree_is_leaf(t, (size_t)j), st_revtree_is_leaf(before, i));
    }
    /* the winner is never stemmed away */
    {
        st_rev w1, w2;

        st_revtree_node(before, (size_t)st_revtree_winner(before), &w1, NULL, NULL);
        st_revtree_node(t, (size_t)st_revtree_winner(t), &w2, NULL, NULL);
        assert_true(st_rev_eq(&w1, &w2));
    }
    st_buf_free(&b);
    st_revtree_free(t);
    free(keep);
    free(path);
    free(log);
}

static void test_property_merge_order(void **state)
{
    rng r = {0x5e77ee5eedULL};
    path_set *ps = malloc(sizeof *ps);
    history *h = malloc(sizeof *h);
    size_t order[H_MAX];
    st_buf ref = ST_BUF_INIT, cur = ST_BUF_INIT;
    int multi_root = 0, conflicted = 0, deleted_winner = 0, merged_pieces = 0;

    (void)state;
    assert_non_null(ps);
    assert_non_null(h);
    for (int trial = 0; trial < 300; trial++) {
        st_revtree *first;
        int winner_ref;
        st_rev wref;

        make_history(&r, h);
        make_paths(&r, h, ps, trial % 2 == 1);
        for (size_t i = 0; i < ps->n; i++)
            order[i] = i;
        first = merge_all(ps, order);
        check_against_paths(first, ps);
        encode(first, &ref);
        winner_ref = st_revtree_winner(first);
        assert_true(winner_ref >= 0);
        st_revtree_node(first, (size_t)winner_ref, &wref, NULL, NULL);
        multi_root += roots(first) > 1;
        conflicted += ps->n > 1;
        deleted_winner += (st_revtree_flags(first, (size_t)winner_ref) & ST_REVTREE_DELETED) != 0;
        merged_pieces += roots(first) == 1 && trial % 2 == 1 && ps->n > 2;

        for (int round = 0; round < 25; round++) {
            st_revtree *t;
            st_rev w;

            shuffle(&r, order, ps->n);
            t = merge_all(ps, order);
            /* merging everything a second time changes nothing */
            if (round == 0)
                for (size_t k = 0; k < ps->n; k++) {
                    st_merge_result res;
                    st_error err;

                    assert_int_equal(st_revtree_merge_path(t, ps->revs[k], ps->len[k], 0, &res,
                                                           &err),
                                     ST_OK);
                    assert_int_equal(res, ST_MERGE_INTERNAL_NODE);
                }
            encode(t, &cur);
            assert_int_equal(cur.len, ref.len);
            assert_memory_equal(cur.data, ref.data, ref.len);
            st_revtree_node(t, (size_t)st_revtree_winner(t), &w, NULL, NULL);
            assert_true(st_rev_eq(&w, &wref));
            st_revtree_free(t);
        }
        check_stem(first, 1 + (unsigned)rng_below(&r, 6));
        st_revtree_free(first);
    }
    /* the generator really produced the interesting shapes */
    print_message("trials: %d multi-root, %d conflicted, %d deleted winner, %d cut+joined\n",
                  multi_root, conflicted, deleted_winner, merged_pieces);
    assert_true(multi_root > 10);
    assert_true(conflicted > 100);
    assert_true(deleted_winner > 3);
    assert_true(merged_pieces > 10);
    st_buf_free(&ref);
    st_buf_free(&cur);
    free(ps);
    free(h);
}

/* ---- speed -------------------------------------------------------------- */

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void test_speed_one_node(void **state)
{
    st_revtree *t = st_revtree_new();
    st_buf b = ST_BUF_INIT;
    st_error err;
    const int iters = 200000;
    double t0, t1, t2;

    (void)state;
    merge(t, "1-0785e9eb543380151003dc452c3a001a", ST_REVTREE_HAS_BODY);
    t0 = now_ns();
    for (int i = 0; i < iters; i++) {
        st_buf_reset(&b);
        assert_int_equal(st_revtree_encode(t, &b), ST_OK);
    }
    t1 = now_ns();
    for (int i = 0; i < iters; i++) {
        st_revtree *u = NULL;

        assert_int_equal(st_revtree_decode(b.data, b.len, &u, &err), ST_OK);
        st_revtree_free(u);
    }
    t2 = now_ns();
    print_message("one-node revtree: encode %.0f ns, decode+free %.0f ns\n",
                  (t1 - t0) / iters, (t2 - t1) / iters);
    st_buf_free(&b);
    st_revtree_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_merge_new_leaf),
        cmocka_unit_test(test_merge_new_branch),
        cmocka_unit_test(test_merge_new_root),
        cmocka_unit_test(test_merge_idempotent),
        cmocka_unit_test(test_merge_prepend_ancestors),
        cmocka_unit_test(test_merge_contradicting_ancestry),
        cmocka_unit_test(test_merge_bad_paths),
        cmocka_unit_test(test_winner),
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_stem_linear),
        cmocka_unit_test(test_stem_branches),
        cmocka_unit_test(test_purge_leaf),
        cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_decode_corrupt),
        cmocka_unit_test(test_property_merge_order),
        cmocka_unit_test(test_speed_one_node),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
