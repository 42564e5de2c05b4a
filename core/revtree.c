/* revtree.c — a document's revision tree (CouchDB's couch_key_tree).
 *
 * Why a tree at all: see st_revtree.h.  Why this representation:
 *
 * couch_key_tree keeps a forest of nested {Key, Value, Children} terms and
 * merges a path by walking both structures in step.  We keep the same forest
 * as a flat array of nodes in one canonical order, sorted by (gen, hash), with
 * each node's parent as an index.  A revision id names exactly one node, so
 * the tree is really a set of nodes plus child->parent edges, and merging a
 * path is a set union:
 *
 *   - the newest revisions of the path that are unknown become new nodes
 *     hanging below the first known one (NEW_LEAF when that one was a leaf,
 *     NEW_BRANCH when it was an inner node; a path with nothing known becomes
 *     a new root: NEW_BRANCH, or NEW_LEAF in an empty tree, as CouchDB says);
 *   - older revisions of the path extend the tree upwards: a known root gets
 *     its missing ancestors prepended, and a root whose parent is already
 *     known elsewhere (two pieces left by stemming) is linked back to it;
 *   - a known revision keeps the parent it has: rev ids hash their parent, so
 *     a path claiming another one is forged or corrupt and the rest of it is
 *     ignored (CouchDB would store a duplicate branch instead).
 *
 * Because the result is a union and the array order depends only on the set,
 * merging the same paths in any order yields byte-identical arrays and
 * encodings, which the property test checks.  Parents always precede their
 * children (gen - 1 sorts first), so bottom-up passes are a reverse scan.
 *
 * INTERNAL_NODE means "nothing changed" here.  CouchDB also says
 * internal_node when a merge only prepends ancestors; we say NEW_BRANCH for
 * that (the tree gained a root), so a caller that stores the tree only when
 * it changed does not lose history.
 *
 * Stemming follows couch_key_tree:stem/2 (the current one): a node survives
 * when some leaf below it is fewer than `limit` steps away, and survivors keep
 * their surviving children.  So a short branch may keep a longer sibling's
 * ancestors attached (2-b -> {3-x, 3-c -> 4-d} with limit 2 keeps all four);
 * removed nodes' children become roots.
 *
 * Indexes and the strings st_revtree_hash() returns stay valid until the
 * next merge, stem or purge.
 *
 * Memory: nodes live in one array and hashes in one string pool; small trees
 * (the common one-revision document) use storage inline in the tree struct,
 * so decoding them costs a single allocation.  Merges reserve all memory they
 * need before touching the tree, so a failed merge leaves it unchanged.
 *
 * Blob format (st_revtree_encode), little-endian base-128 varints:
 *   byte 1 (format), varint node count, then per node in canonical order:
 *   varint parent+1 (0 = root), varint gen, varint flags<<1 | packed,
 *   and the hash: 16 raw bytes when packed (a 32-digit lowercase hex hash),
 *   else varint length + bytes.
 */
#include "st_revtree.h"
#include "st_hex.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define RT_FORMAT 1          /* first byte of every blob */
#define RT_INLINE_NODES 2    /* nodes stored inside the struct */
#define RT_INLINE_POOL 80    /* pool bytes stored inside the struct */
#define RT_NO_PARENT UINT32_MAX
#define RT_MAX_NODES ((size_t)INT_MAX) /* parent indexes are ints in the API */

typedef struct rt_node {
    uint64_t gen;      /* generation, >= 1 */
    uint32_t hash_off; /* offset of the NUL-terminated hash in the pool */
    uint32_t flags;    /* ST_REVTREE_* bits (other caller bits are kept) */
    int32_t parent;    /* index of the parent node, -1 for a root */
    uint32_t nchild;   /* number of children; 0 = leaf */
    uint32_t aux;      /* scratch for one operation (marks, distances) */
    uint8_t hash_len;  /* hash length, 1..ST_REV_HASH_MAX */
} rt_node;

struct st_revtree {
    rt_node *nodes;                        /* canonical order; may be inl_nodes */
    size_t n;                              /* nodes in use */
    size_t cap;                            /* nodes allocated */
    char *pool;                            /* hash strings; may be inl_pool */
    size_t pool_len;                       /* pool bytes in use (incl. garbage) */
    size_t pool_cap;                       /* pool bytes allocated */
    rt_node inl_nodes[RT_INLINE_NODES];    /* storage for small trees */
    char inl_pool[RT_INLINE_POOL];         /* storage for their hashes */
};

_Static_assert(ST_REV_HASH_MAX <= UINT8_MAX, "hash_len is a byte");

/* ---------------------------------------------------------------- storage */

st_revtree *st_revtree_new(void)
{
    st_revtree *t = malloc(sizeof *t);

    if (t == NULL)
        return NULL;
    t->nodes = t->inl_nodes;
    t->n = 0;
    t->cap = RT_INLINE_NODES;
    t->pool = t->inl_pool;
    t->pool_len = 0;
    t->pool_cap = RT_INLINE_POOL;
    return t;
}

void st_revtree_free(st_revtree *t)
{
    if (t == NULL)
        return;
    if (t->nodes != t->inl_nodes)
        free(t->nodes);
    if (t->pool != t->inl_pool)
        free(t->pool);
    free(t);
}

/* Make room for `extra` more nodes and `pool_extra` more pool bytes. */
static st_status rt_reserve(st_revtree *t, size_t extra, size_t pool_extra)
{
    if (extra > RT_MAX_NODES - t->n || pool_extra > UINT32_MAX - t->pool_len)
        return ST_E_TOO_LARGE;
    if (t->n + extra > t->cap) {
        size_t cap = t->cap * 2;
        rt_node *p;

        if (cap < t->n + extra)
            cap = t->n + extra;
        if (cap > SIZE_MAX / sizeof *p)
            return ST_E_NOMEM;
        if (t->nodes == t->inl_nodes) {
            p = malloc(cap * sizeof *p);
            if (p != NULL)
                memcpy(p, t->nodes, t->n * sizeof *p);
        } else {
            p = realloc(t->nodes, cap * sizeof *p);
        }
        if (p == NULL)
            return ST_E_NOMEM;
        t->nodes = p;
        t->cap = cap;
    }
    if (t->pool_len + pool_extra > t->pool_cap) {
        size_t cap = t->pool_cap * 2;
        char *p;

        if (cap < t->pool_len + pool_extra)
            cap = t->pool_len + pool_extra;
        if (t->pool == t->inl_pool) {
            p = malloc(cap);
            if (p != NULL)
                memcpy(p, t->pool, t->pool_len);
        } else {
            p = realloc(t->pool, cap);
        }
        if (p == NULL)
            return ST_E_NOMEM;
        t->pool = p;
        t->pool_cap = cap;
    }
    return ST_OK;
}

/* Append a node; room must have been reserved.  Returns its index. */
static size_t rt_push(st_revtree *t, uint64_t gen, const char *hash, size_t len,
                      unsigned flags, int32_t parent)
{
    rt_node *nd = &t->nodes[t->n];

    nd->gen = gen;
    nd->hash_off = (uint32_t)t->pool_len;
    nd->hash_len = (uint8_t)len;
    nd->flags = flags;
    nd->parent = parent;
    nd->nchild = 0;
    nd->aux = 0;
    memcpy(t->pool + t->pool_len, hash, len);
    t->pool[t->pool_len + len] = '\0';
    t->pool_len += len + 1;
    return t->n++;
}

static const char *rt_hash(const st_revtree *t, const rt_node *nd)
{
    return t->pool + nd->hash_off;
}

/* Order of revision ids: gen, then hash bytes, shorter first on a tie. */
static int rt_key_cmp(uint64_t ga, const char *ha, size_t la, uint64_t gb, const char *hb,
                      size_t lb)
{
    int c;

    if (ga != gb)
        return ga < gb ? -1 : 1;
    c = memcmp(ha, hb, la < lb ? la : lb);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return (la > lb) - (la < lb);
}

static int rt_node_cmp(const st_revtree *t, const rt_node *a, const rt_node *b)
{
    return rt_key_cmp(a->gen, rt_hash(t, a), a->hash_len, b->gen, rt_hash(t, b), b->hash_len);
}

/* Binary search among the first `limit` nodes, which must be sorted. */
static int rt_find_in(const st_revtree *t, size_t limit, uint64_t gen, const char *hash,
                      size_t len)
{
    size_t lo = 0, hi = limit;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const rt_node *nd = &t->nodes[mid];
        int c = rt_key_cmp(nd->gen, rt_hash(t, nd), nd->hash_len, gen, hash, len);

        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int rt_find(const st_revtree *t, uint64_t gen, const char *hash, size_t len)
{
    return rt_find_in(t, t->n, gen, hash, len);
}

static void rt_count_children(st_revtree *t)
{
    for (size_t i = 0; i < t->n; i++)
        t->nodes[i].nchild = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->nodes[i].parent >= 0)
            t->nodes[t->nodes[i].parent].nchild++;
}

/* In-place heapsort of the node array by (gen, hash): no allocation, so a
 * merge cannot fail after it has started changing the tree. */
static void rt_sift(st_revtree *t, size_t root, size_t n)
{
    rt_node *v = t->nodes;

    for (;;) {
        size_t c = 2 * root + 1;
        rt_node tmp;

        if (c >= n)
            return;
        if (c + 1 < n && rt_node_cmp(t, &v[c], &v[c + 1]) < 0)
            c++;
        if (rt_node_cmp(t, &v[root], &v[c]) >= 0)
            return;
        tmp = v[root];
        v[root] = v[c];
        v[c] = tmp;
        root = c;
    }
}

/* Restore the canonical order after nodes were appended.  Parent links are
 * carried across the sort as the parent's pool offset (unique per node) and
 * turned back into indexes by lookup. */
static void rt_canonicalize(st_revtree *t)
{
    bool sorted = true;
    rt_node *v = t->nodes;

    for (size_t i = 1; i < t->n && sorted; i++)
        sorted = rt_node_cmp(t, &v[i - 1], &v[i]) < 0;
    if (!sorted) {
        for (size_t i = 0; i < t->n; i++)
            v[i].aux = v[i].parent >= 0 ? v[v[i].parent].hash_off : RT_NO_PARENT;
        for (size_t i = t->n / 2; i-- > 0;)
            rt_sift(t, i, t->n);
        for (size_t end = t->n; end-- > 1;) {
            rt_node tmp = v[0];

            v[0] = v[end];
            v[end] = tmp;
            rt_sift(t, 0, end);
        }
        for (size_t i = 0; i < t->n; i++) {
            const char *ph;

            if (v[i].aux == RT_NO_PARENT) {
                v[i].parent = -1;
                continue;
            }
            ph = t->pool + v[i].aux;
            v[i].parent = rt_find(t, v[i].gen - 1, ph, strlen(ph));
        }
    }
    rt_count_children(t);
}

/* Drop the nodes whose aux is nonzero; their children become roots.  Three
 * passes, so no slot is read after the compaction overwrote it. */
static void rt_remove_marked(st_revtree *t)
{
    size_t out = 0, live = 0;
    rt_node *v = t->nodes;

    for (size_t i = 0; i < t->n; i++)      /* aux := new index, or gone */
        v[i].aux = v[i].aux != 0 ? RT_NO_PARENT : (uint32_t)out++;
    for (size_t i = 0; i < t->n; i++) {    /* parents as new indexes */
        if (v[i].parent >= 0) {
            uint32_t np = v[v[i].parent].aux;

            v[i].parent = np == RT_NO_PARENT ? -1 : (int32_t)np;
        }
    }
    out = 0;
    for (size_t i = 0; i < t->n; i++) {    /* move the survivors down */
        if (v[i].aux == RT_NO_PARENT)
            continue;
        live += (size_t)v[i].hash_len + 1;
        v[out++] = v[i];
    }
    t->n = out;
    rt_count_children(t);
    /* Compact the pool when it is mostly garbage; skipping is harmless. */
    if (t->pool != t->inl_pool && t->pool_len > 2 * live) {
        char *p = live <= RT_INLINE_POOL ? t->inl_pool : malloc(live);
        size_t off = 0;

        if (p == NULL)
            return;
        for (size_t i = 0; i < t->n; i++) {
            memcpy(p + off, rt_hash(t, &v[i]), (size_t)v[i].hash_len + 1);
            v[i].hash_off = (uint32_t)off;
            off += (size_t)v[i].hash_len + 1;
        }
        free(t->pool);
        t->pool = p;
        t->pool_len = off;
        t->pool_cap = p == t->inl_pool ? RT_INLINE_POOL : live;
    }
}

/* ---------------------------------------------------------------- queries */

size_t st_revtree_count(const st_revtree *t)
{
    return t != NULL ? t->n : 0;
}

void st_revtree_node(const st_revtree *t, size_t i, st_rev *out_rev, int *out_parent,
                     unsigned *out_flags)
{
    const rt_node *nd = (t != NULL && i < t->n) ? &t->nodes[i] : NULL;

    if (out_rev != NULL) {
        out_rev->gen = nd != NULL ? nd->gen : 0;
        out_rev->hash_len = nd != NULL ? nd->hash_len : 0;
        if (nd != NULL)
            memcpy(out_rev->hash, rt_hash(t, nd), (size_t)nd->hash_len + 1);
        else
            out_rev->hash[0] = '\0';
    }
    if (out_parent != NULL)
        *out_parent = nd != NULL ? nd->parent : -1;
    if (out_flags != NULL)
        *out_flags = nd != NULL ? nd->flags : 0;
}

const char *st_revtree_hash(const st_revtree *t, size_t i)
{
    return (t != NULL && i < t->n) ? rt_hash(t, &t->nodes[i]) : "";
}

uint64_t st_revtree_gen(const st_revtree *t, size_t i)
{
    return (t != NULL && i < t->n) ? t->nodes[i].gen : 0;
}

unsigned st_revtree_flags(const st_revtree *t, size_t i)
{
    return (t != NULL && i < t->n) ? t->nodes[i].flags : 0;
}

void st_revtree_set_flags(st_revtree *t, size_t i, unsigned flags)
{
    if (t != NULL && i < t->n)
        t->nodes[i].flags = flags;
}

int st_revtree_parent(const st_revtree *t, size_t i)
{
    return (t != NULL && i < t->n) ? t->nodes[i].parent : -1;
}

int st_revtree_find(const st_revtree *t, const st_rev *r)
{
    if (t == NULL || r == NULL)
        return -1;
    return rt_find(t, r->gen, r->hash, r->hash_len);
}

bool st_revtree_is_leaf(const st_revtree *t, size_t i)
{
    return t != NULL && i < t->n && t->nodes[i].nchild == 0;
}

/* > 0 when leaf a beats leaf b: live over deleted, higher gen, higher hash. */
static int rt_leaf_cmp(const st_revtree *t, size_t a, size_t b)
{
    const rt_node *x = &t->nodes[a], *y = &t->nodes[b];
    bool dx = (x->flags & ST_REVTREE_DELETED) != 0, dy = (y->flags & ST_REVTREE_DELETED) != 0;

    if (dx != dy)
        return dx ? -1 : 1;
    return rt_node_cmp(t, x, y);
}

int st_revtree_winner(const st_revtree *t)
{
    int best = -1;

    if (t == NULL)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        if (t->nodes[i].nchild == 0 && (best < 0 || rt_leaf_cmp(t, i, (size_t)best) > 0))
            best = (int)i;
    return best;
}

/* Heapsort of leaf indexes, worst first in the heap so the result is best
 * first; the order is total (ids are unique), so stability does not matter. */
static void leaf_sift(const st_revtree *t, size_t *v, size_t root, size_t n)
{
    for (;;) {
        size_t c = 2 * root + 1, tmp;

        if (c >= n)
            return;
        if (c + 1 < n && rt_leaf_cmp(t, v[c], v[c + 1]) > 0)
            c++;
        if (rt_leaf_cmp(t, v[root], v[c]) <= 0)
            return;
        tmp = v[root];
        v[root] = v[c];
        v[c] = tmp;
        root = c;
    }
}

size_t st_revtree_leaves(const st_revtree *t, size_t *out)
{
    size_t n = 0;

    if (t == NULL || out == NULL)
        return 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->nodes[i].nchild == 0)
            out[n++] = i;
    for (size_t i = n / 2; i-- > 0;)
        leaf_sift(t, out, i, n);
    for (size_t end = n; end-- > 1;) {
        size_t tmp = out[0];

        out[0] = out[end];
        out[end] = tmp;
        leaf_sift(t, out, 0, end);
    }
    return n;
}

size_t st_revtree_live_leaves(const st_revtree *t)
{
    size_t n = 0;

    if (t == NULL)
        return 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->nodes[i].nchild == 0 && !(t->nodes[i].flags & ST_REVTREE_DELETED))
            n++;
    return n;
}

size_t st_revtree_path(const st_revtree *t, size_t i, size_t *out)
{
    size_t n = 0;
    int cur;

    if (t == NULL || out == NULL || i >= t->n)
        return 0;
    for (cur = (int)i; cur >= 0; cur = t->nodes[cur].parent)
        out[n++] = (size_t)cur;
    return n;
}

/* ------------------------------------------------------------------ merge */

static st_status merge_check(const st_rev *path, size_t n, st_error *err)
{
    if (path == NULL || n == 0)
        return st_fail(err, ST_E_BAD_REQUEST, "empty revision path");
    if (path[0].gen < n)
        return st_fail(err, ST_E_BAD_REQUEST, "revision path goes below generation 1");
    for (size_t k = 0; k < n; k++) {
        if (path[k].gen != path[0].gen - k)
            return st_fail(err, ST_E_BAD_REQUEST, "revision path generations not consecutive");
        if (path[k].hash_len == 0 || path[k].hash_len > ST_REV_HASH_MAX)
            return st_fail(err, ST_E_BAD_REQUEST, "Invalid rev format");
        for (unsigned b = 0; b < path[k].hash_len; b++) /* as st_rev_parse allows */
            if ((unsigned char)path[k].hash[b] < 0x21 || (unsigned char)path[k].hash[b] > 0x7e)
                return st_fail(err, ST_E_BAD_REQUEST, "Invalid rev format");
    }
    return ST_OK;
}

st_status st_revtree_merge_path(st_revtree *t, const st_rev *path, size_t n,
                                unsigned leaf_flags, st_merge_result *out,
                                st_error *err)
{
    st_merge_result result;
    size_t j, pool_need = 0, k, n_orig;
    int known = -1, cur;
    bool changed = false, was_empty;
    st_status rc;

    if (t == NULL)
        return st_fail(err, ST_E_MISUSE, "no revision tree");
    rc = merge_check(path, n, err);
    if (rc != ST_OK)
        return rc;
    for (k = 0; k < n; k++)
        pool_need += (size_t)path[k].hash_len + 1;
    rc = rt_reserve(t, n, pool_need);
    if (rc != ST_OK)
        return st_fail(err, rc, "revision tree too large");
    was_empty = t->n == 0;
    n_orig = t->n; /* the sorted prefix; appended nodes follow it */

    /* The newest known revision of the path. */
    for (j = 0; j < n; j++) {
        known = st_revtree_find(t, &path[j]);
        if (known >= 0)
            break;
    }

    /* Unknown newer revisions hang below it (or form a new root). */
    if (j == 0) {
        result = ST_MERGE_INTERNAL_NODE;
    } else if (j == n) {
        result = was_empty ? ST_MERGE_NEW_LEAF : ST_MERGE_NEW_BRANCH;
    } else {
        result = t->nodes[known].nchild == 0 ? ST_MERGE_NEW_LEAF : ST_MERGE_NEW_BRANCH;
    }
    cur = j < n ? known : -1;
    for (k = j; k-- > 0;) {
        cur = (int)rt_push(t, path[k].gen, path[k].hash, path[k].hash_len,
                           k == 0 ? leaf_flags : 0, cur);
    }
    if (j == n) {
        j = n - 1; /* the oldest path node is the new root: continue from it */
        cur = (int)(t->n - n);
    } else {
        cur = known;
    }

    /* Older revisions extend the tree upwards from the known one. */
    for (k = j; k + 1 < n; k++) {
        const st_rev *up = &path[k + 1];
        int p = t->nodes[cur].parent;

        if (p >= 0) {
            const rt_node *pn = &t->nodes[p];

            if (pn->gen != up->gen || pn->hash_len != up->hash_len ||
                memcmp(rt_hash(t, pn), up->hash, up->hash_len) != 0)
                break; /* contradicting ancestry: keep what we have */
            cur = p;
            continue;
        }
        p = rt_find_in(t, n_orig, up->gen, up->hash, up->hash_len);
        if (p < 0)
            p = (int)rt_push(t, up->gen, up->hash, up->hash_len, 0, -1);
        t->nodes[cur].parent = p;
        changed = true;
        cur = p;
    }
    if (result == ST_MERGE_INTERNAL_NODE && changed)
        result = ST_MERGE_NEW_BRANCH;
    rt_canonicalize(t);
    if (out != NULL)
        *out = result;
    return ST_OK;
}

/* --------------------------------------------------------- stem and purge */

static void report_removed(const st_revtree *t, st_revtree_removed_fn removed, void *ctx)
{
    st_rev r;

    if (removed == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        if (t->nodes[i].aux == 0)
            continue;
        st_revtree_node(t, i, &r, NULL, NULL);
        removed(ctx, &r, t->nodes[i].flags);
    }
}

st_status st_revtree_stem(st_revtree *t, unsigned limit, st_revtree_removed_fn removed,
                          void *ctx)
{
    rt_node *v;
    bool any = false;

    if (t == NULL)
        return ST_E_MISUSE;
    if (limit == 0)
        return ST_E_BAD_REQUEST;
    v = t->nodes;
    /* aux = distance to the nearest leaf below; children come after parents,
     * so a reverse scan finishes every child before its parent. */
    for (size_t i = 0; i < t->n; i++)
        v[i].aux = UINT32_MAX;
    for (size_t i = t->n; i-- > 0;) {
        if (v[i].nchild == 0)
            v[i].aux = 0;
        if (v[i].parent >= 0 && v[i].aux != UINT32_MAX && v[i].aux + 1 < v[v[i].parent].aux)
            v[v[i].parent].aux = v[i].aux + 1;
    }
    for (size_t i = 0; i < t->n; i++) {
        v[i].aux = v[i].aux >= limit ? 1 : 0;
        any = any || v[i].aux != 0;
    }
    if (!any)
        return ST_OK;
    report_removed(t, removed, ctx);
    rt_remove_marked(t);
    return ST_OK;
}

st_status st_revtree_purge_leaf(st_revtree *t, const st_rev *r, st_revtree_removed_fn removed,
                                void *ctx)
{
    int i, p;

    if (t == NULL || r == NULL)
        return ST_E_MISUSE;
    i = st_revtree_find(t, r);
    if (i < 0 || t->nodes[i].nchild != 0)
        return ST_E_NOT_FOUND;
    for (size_t k = 0; k < t->n; k++)
        t->nodes[k].aux = 0;
    t->nodes[i].aux = 1;
    /* Ancestors whose only child was on this branch go too. */
    for (p = t->nodes[i].parent; p >= 0 && t->nodes[p].nchild == 1; p = t->nodes[p].parent)
        t->nodes[p].aux = 1;
    report_removed(t, removed, ctx);
    rt_remove_marked(t);
    return ST_OK;
}

/* --------------------------------------------------------- encode, decode */

static bool is_lower_hex32(const char *h, size_t len)
{
    if (len != 32)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    return true;
}

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

st_status st_revtree_encode(const st_revtree *t, st_buf *out)
{
    /* Worst node: 5 (parent) + 10 (gen) + 6 (flags) + 2 + 128 (hash). */
    unsigned char stage[512];
    size_t n = 0;
    st_status rc;

    if (t == NULL || out == NULL)
        return ST_E_MISUSE;
    stage[n++] = RT_FORMAT;
    n += put_varint(stage + n, t->n);
    for (size_t i = 0; i < t->n; i++) {
        const rt_node *nd = &t->nodes[i];
        const char *h = rt_hash(t, nd);
        bool packed = is_lower_hex32(h, nd->hash_len);

        if (n > sizeof stage - 160) {
            rc = st_buf_add(out, stage, n);
            if (rc != ST_OK)
                return rc;
            n = 0;
        }
        n += put_varint(stage + n, (uint64_t)(nd->parent + 1));
        n += put_varint(stage + n, nd->gen);
        n += put_varint(stage + n, (uint64_t)nd->flags << 1 | (packed ? 1u : 0u));
        if (packed) {
            st_hex_decode(h, 16, stage + n); /* packed: 32 lowercase hex digits */
            n += 16;
        } else {
            n += put_varint(stage + n, nd->hash_len);
            memcpy(stage + n, h, nd->hash_len);
            n += nd->hash_len;
        }
    }
    return st_buf_add(out, stage, n);
}

typedef struct blob_reader {
    const unsigned char *p;   /* next byte */
    const unsigned char *end; /* one past the last byte */
} blob_reader;

static bool get_varint(blob_reader *r, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        unsigned b;

        if (r->p == r->end)
            return false;
        b = *r->p++;
        if (shift == 63 && b > 1)
            return false; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Read one node: ST_OK, ST_E_IO when the bytes are not a valid next node,
 * ST_E_NOMEM. */
static st_status decode_node(st_revtree *t, blob_reader *r)
{
    uint64_t parent1, gen, fl, len;
    char hash[ST_REV_HASH_MAX];
    size_t i = t->n;
    rt_node *nd;

    if (!get_varint(r, &parent1) || !get_varint(r, &gen) || !get_varint(r, &fl))
        return ST_E_IO;
    if (parent1 > i || gen == 0 || (fl >> 1) > UINT32_MAX)
        return ST_E_IO;
    if (fl & 1) {
        len = 32;
        if (r->end - r->p < 16)
            return ST_E_IO;
        st_hex_encode(r->p, 16, hash);
        r->p += 16;
    } else {
        if (!get_varint(r, &len) || len == 0 || len > ST_REV_HASH_MAX ||
            (uint64_t)(r->end - r->p) < len)
            return ST_E_IO;
        for (size_t b = 0; b < len; b++)
            if (r->p[b] < 0x21 || r->p[b] > 0x7e)
                return ST_E_IO;
        memcpy(hash, r->p, len);
        r->p += len;
    }
    if (parent1 > 0 && t->nodes[parent1 - 1].gen != gen - 1)
        return ST_E_IO;
    if (i > 0) {
        nd = &t->nodes[i - 1];
        if (rt_key_cmp(nd->gen, rt_hash(t, nd), nd->hash_len, gen, hash, len) >= 0)
            return ST_E_IO; /* not canonical: duplicate or out of order */
    }
    if (rt_reserve(t, 1, len + 1) != ST_OK)
        return ST_E_NOMEM;
    (void)rt_push(t, gen, hash, len, (unsigned)(fl >> 1), (int32_t)parent1 - 1);
    return ST_OK;
}

st_status st_revtree_decode(const void *blob, size_t n, st_revtree **out, st_error *err)
{
    blob_reader r;
    st_revtree *t = NULL;
    uint64_t count;
    st_status rc = ST_OK;

    if (out == NULL)
        return st_fail(err, ST_E_MISUSE, "no output tree");
    *out = NULL;
    if (blob == NULL || n < 2)
        return st_fail(err, ST_E_IO, "corrupt revision tree");
    r.p = blob;
    r.end = r.p + n;
    if (*r.p++ != RT_FORMAT || !get_varint(&r, &count) ||
        count > (uint64_t)(r.end - r.p) / 5) /* a node takes >= 5 bytes */
        return st_fail(err, ST_E_IO, "corrupt revision tree");
    t = st_revtree_new();
    if (t == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (rt_reserve(t, (size_t)count, 0) != ST_OK) {
        rc = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < count; i++) {
        rc = decode_node(t, &r);
        if (rc != ST_OK) {
            rc = rc == ST_E_IO ? st_fail(err, rc, "corrupt revision tree")
                               : st_fail(err, rc, "out of memory");
            goto out;
        }
    }
    if (r.p != r.end) {
        rc = st_fail(err, ST_E_IO, "corrupt revision tree");
        goto out;
    }
    rt_count_children(t);
    *out = t;
    t = NULL;
out:
    st_revtree_free(t);
    return rc;
}
