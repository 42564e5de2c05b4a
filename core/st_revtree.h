/* st_revtree.h — a document's revision tree, as CouchDB keeps it.
 *
 * Why a tree: replicas edit offline, so one document can grow several
 * branches (conflicts).  Every replica keeps every branch and picks the same
 * winner by a fixed rule, so they agree without talking to each other.
 * Stemming bounds the history kept per branch; a branch whose remaining
 * ancestors no longer meet the stored tree becomes a separate root.
 *
 * Nodes live in an array; parent links are indexes (-1 for a root).  Indexes
 * are stable until the next merge/stem/purge.  Leaves are the nodes without
 * children.
 *
 * Ownership: an st_revtree owns its nodes; st_revtree_free() frees it.
 * Thread-safety: none; a tree belongs to one caller at a time.
 */
#ifndef ST_REVTREE_H
#define ST_REVTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_error.h"
#include "st_rev.h"

/* Node flags */
#define ST_REVTREE_DELETED  0x1u  /* the revision is a tombstone */
#define ST_REVTREE_HAS_BODY 0x2u  /* its body is stored (else "missing") */

typedef enum {
    ST_MERGE_INTERNAL_NODE, /* every revision on the path was known: no change */
    ST_MERGE_NEW_LEAF,      /* the path extended an existing leaf */
    ST_MERGE_NEW_BRANCH     /* the path forked from an inner node, or is a new root */
} st_merge_result;

typedef struct st_revtree st_revtree;

st_revtree *st_revtree_new(void);           /* NULL on allocation failure */
void st_revtree_free(st_revtree *t);        /* NULL ok */

/* Compact binary form stored with the document.  decode validates the blob
 * (ST_E_IO "corrupt revision tree" when malformed). */
st_status st_revtree_encode(const st_revtree *t, st_buf *out);
st_status st_revtree_decode(const void *blob, size_t n, st_revtree **out, st_error *err);

size_t st_revtree_count(const st_revtree *t);
/* Node i: its rev (copied into *out_rev if non-NULL), parent index, flags. */
void st_revtree_node(const st_revtree *t, size_t i, st_rev *out_rev, int *out_parent,
                     unsigned *out_flags);
const char *st_revtree_hash(const st_revtree *t, size_t i); /* borrowed, NUL-terminated */
uint64_t st_revtree_gen(const st_revtree *t, size_t i);
unsigned st_revtree_flags(const st_revtree *t, size_t i);
void st_revtree_set_flags(st_revtree *t, size_t i, unsigned flags);
int st_revtree_parent(const st_revtree *t, size_t i);

/* Index of rev r, or -1. */
int st_revtree_find(const st_revtree *t, const st_rev *r);
bool st_revtree_is_leaf(const st_revtree *t, size_t i);

/* Insert a path: path[0] is the newest revision, path[k] its k-th ancestor
 * (gen path[0].gen - k).  leaf_flags are given to path[0] when it is new;
 * added ancestors get no flags (no body, not deleted).  Missing ancestors of a
 * known revision that is a root are prepended, so merging the same paths in
 * any order yields the same tree.  Errors: ST_E_BAD_REQUEST when the gens are
 * not consecutive, ST_E_NOMEM. */
st_status st_revtree_merge_path(st_revtree *t, const st_rev *path, size_t n,
                                unsigned leaf_flags, st_merge_result *out,
                                st_error *err);

/* The winner: among leaves, not deleted beats deleted, then higher gen, then
 * higher hash (bytewise).  -1 for an empty tree. */
int st_revtree_winner(const st_revtree *t);

/* Leaf indexes sorted winner first by the same rule.  out must hold
 * st_revtree_count(t) entries.  Returns the number of leaves. */
size_t st_revtree_leaves(const st_revtree *t, size_t *out);

/* Number of leaves that are not deleted: 2 or more means a conflict. */
size_t st_revtree_live_leaves(const st_revtree *t);

/* Node i and its ancestors, i first, root last.  out must hold
 * st_revtree_count(t) entries.  Returns the path length. */
size_t st_revtree_path(const st_revtree *t, size_t i, size_t *out);

/* Called for each revision a stem or purge removes. */
typedef void (*st_revtree_removed_fn)(void *ctx, const st_rev *rev, unsigned flags);

/* Keep at most limit revisions on every root-to-leaf path, counted from the
 * leaf (limit >= 1).  Nodes farther than limit from every leaf are removed;
 * their children become roots.  removed may be NULL. */
st_status st_revtree_stem(st_revtree *t, unsigned limit, st_revtree_removed_fn removed,
                          void *ctx);

/* Remove leaf rev r and then each ancestor left childless by that removal,
 * as CouchDB's purge does.  Returns ST_E_NOT_FOUND if r is not a leaf. */
st_status st_revtree_purge_leaf(st_revtree *t, const st_rev *r, st_revtree_removed_fn removed,
                                void *ctx);

#endif
