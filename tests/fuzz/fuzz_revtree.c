/* fuzz_revtree.c — the revision tree's stored form (st_revtree_decode,
 * core/revtree.c): what the database reads back from every document row.
 *
 * A blob that decodes must encode to a blob that decodes to the same
 * encoding; its winner, leaves and paths must be in range; merging a path,
 * stemming and purging its winner must leave a tree that still encodes and
 * decodes.  A blob that does not decode is refused as corrupt, never more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "st_revtree.h"

static void roundtrip(const st_revtree *t)
{
    st_buf a = ST_BUF_INIT, b = ST_BUF_INIT;
    st_revtree *u = NULL;
    if (st_revtree_encode(t, &a) != ST_OK || st_revtree_decode(a.data, a.len, &u, NULL) != ST_OK ||
        st_revtree_encode(u, &b) != ST_OK || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    st_revtree_free(u);
    st_buf_free(&a);
    st_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_revtree *t = NULL;
    st_error e;
    st_status st = st_revtree_decode(data, size, &t, &e);
    if (st != ST_OK) {
        if (t || (st != ST_E_IO && st != ST_E_NOMEM))
            abort();
        return 0;
    }
    size_t n = st_revtree_count(t);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx)
        abort();
    int w = st_revtree_winner(t);
    if ((n == 0) != (w < 0) || (w >= 0 && (size_t)w >= n))
        abort();
    size_t leaves = st_revtree_leaves(t, idx);
    if (leaves > n || (n && leaves == 0) || (leaves && (int)idx[0] != w))
        abort();
    for (size_t i = 0; i < n; i++) {
        int p = st_revtree_parent(t, i);
        if (p >= (int)n || st_revtree_path(t, i, idx) > n || !st_revtree_hash(t, i))
            abort();
    }
    roundtrip(t);
    /* edits on what was read */
    st_rev path[2];
    memset(path, 0, sizeof path);
    path[0].gen = n ? st_revtree_gen(t, (size_t)w) + 1 : 2;
    path[1].gen = path[0].gen - 1;
    memcpy(path[0].hash, "fuzzfuzz", 9);
    path[0].hash_len = 8;
    if (n)
        st_revtree_node(t, (size_t)w, &path[1], NULL, NULL);
    else {
        memcpy(path[1].hash, "root", 5);
        path[1].hash_len = 4;
    }
    st_merge_result mr;
    if (st_revtree_merge_path(t, path, 2, 0, &mr, &e) == ST_OK)
        roundtrip(t);
    if (st_revtree_stem(t, 1 + (size ? data[0] % 4 : 0), NULL, NULL) == ST_OK)
        roundtrip(t);
    w = st_revtree_winner(t);
    if (w >= 0) {
        st_rev r;
        st_revtree_node(t, (size_t)w, &r, NULL, NULL);
        if (st_revtree_purge_leaf(t, &r, NULL, NULL) == ST_OK)
            roundtrip(t);
    }
    free(idx);
    st_revtree_free(t);
    return 0;
}
