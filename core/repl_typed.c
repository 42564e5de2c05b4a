/* repl_typed.c — the reads replication is built on, as values: which
 * revisions are missing (_revs_diff) and the revisions themselves with
 * their history and attachment bytes (_bulk_get).  A replication between
 * two local databases moves these straight from one core to the other;
 * the JSON forms (repl.c, the server) are written on top of them.
 */
#include "atts.h"
#include "db_int.h"

#include <stdlib.h>
#include <string.h>

/* Growable scratch arrays reused across documents. */
typedef struct scratch {
    const char **strs;
    char (*revs)[ST_REV_STR_MAX];
    size_t cap;
    size_t *idx;
    size_t idx_cap;
} scratch;

static bool grow_strs(scratch *s, size_t n)
{
    if (n <= s->cap)
        return true;
    size_t cap = n < 16 ? 16 : n * 2;
    const char **a = realloc(s->strs, cap * sizeof *a);
    if (a)
        s->strs = a;
    char(*r)[ST_REV_STR_MAX] = realloc(s->revs, cap * sizeof *r);
    if (r)
        s->revs = r;
    if (!a || !r)
        return false;
    s->cap = cap;
    return true;
}

static bool grow_idx(scratch *s, size_t n)
{
    if (n <= s->idx_cap)
        return true;
    size_t *a = realloc(s->idx, n * sizeof *a);
    if (!a)
        return false;
    s->idx = a;
    s->idx_cap = n;
    return true;
}

static void scratch_free(scratch *s)
{
    free(s->strs);
    free(s->revs);
    free(s->idx);
}

/* ------------------------------------------------------------- revs_diff */

/* Missing revisions of one document into s->strs[0..*n_missing), possible
 * ancestors after them. */
static st_status diff_one(st_conn *c, const st_rep_diff *d, db_loaded *l, scratch *s,
                          size_t *n_missing, size_t *n_anc, st_error *err)
{
    *n_missing = *n_anc = 0;
    st_status st = st_db_load(c, d->id, l, err);
    bool exists = st == ST_OK;
    if (st != ST_OK && st != ST_E_NOT_FOUND)
        return st;
    size_t leaves = exists ? st_revtree_count(l->tree) : 0;
    if (!grow_strs(s, d->n_revs + leaves) || !grow_idx(s, leaves + 1))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    uint64_t max_missing = 0;
    for (size_t k = 0; k < d->n_revs; k++) {
        st_rev r;
        bool parsed = st_rev_parse(d->revs[k], strlen(d->revs[k]), &r, NULL) == ST_OK;
        if (parsed && exists && st_revtree_find(l->tree, &r) >= 0)
            continue;
        s->strs[(*n_missing)++] = d->revs[k];
        if (parsed && r.gen > max_missing)
            max_missing = r.gen;
    }
    if (*n_missing == 0 || !exists)
        return ST_OK;
    size_t nl = st_revtree_leaves(l->tree, s->idx);
    for (size_t k = 0; k < nl; k++) {
        if (st_revtree_gen(l->tree, s->idx[k]) >= max_missing)
            continue;
        st_rev r;
        char *slot = s->revs[*n_missing + *n_anc];
        st_revtree_node(l->tree, s->idx[k], &r, NULL, NULL);
        st_rev_format(&r, slot, ST_REV_STR_MAX);
        s->strs[*n_missing + (*n_anc)++] = slot;
    }
    return ST_OK;
}

st_status st_db_revs_missing(st_db *db, const st_rep_diff *diffs, size_t n,
                             st_rep_missing_fn fn, void *ctx, st_error *err)
{
    st_conn *c = st_db_reader(db, err);
    if (!c)
        return err ? err->code : ST_E_IO;
    db_loaded l = {0};
    scratch s = {0};
    st_status st = ST_OK;
    for (size_t i = 0; i < n && st == ST_OK; i++) {
        size_t nm = 0, na = 0;
        st = diff_one(c, &diffs[i], &l, &s, &nm, &na, err);
        if (st == ST_OK && nm && fn(ctx, i, s.strs, nm, s.strs + nm, na))
            break;
    }
    scratch_free(&s);
    st_db_loaded_free(&l);
    st_db_reader_put(db, c);
    return st;
}

/* ------------------------------------------------------------- read_revs */

typedef struct reader_ctx {
    st_conn *c;
    db_loaded l;
    scratch s;
    st_rev *path;
    size_t path_cap;
    st_buf body, atts;
    st_buf data;           /* attachment bytes of the revision, back to back */
    st_rep_att *ratts;
    size_t ratts_cap;
} reader_ctx;

/* Highest generation among atts_since that lies on node i's path (or that
 * is older than the path's tip: CouchDB trusts stemmed generations too). */
static uint64_t since_gen(const st_revtree *t, const size_t *path, size_t np,
                          const st_rep_want *w)
{
    uint64_t best = 0;
    for (size_t k = 0; k < w->n_atts_since; k++) {
        st_rev r;
        if (st_rev_parse(w->atts_since[k], strlen(w->atts_since[k]), &r, NULL) != ST_OK)
            continue;
        for (size_t p = 0; p < np; p++)
            if (st_revtree_gen(t, path[p]) == r.gen &&
                strcmp(st_revtree_hash(t, path[p]), r.hash) == 0 && r.gen > best)
                best = r.gen;
        if (r.gen > best && np && r.gen < st_revtree_gen(t, path[0]))
            best = r.gen;
    }
    return best;
}

/* Attachments of the revision as typed values; bytes of those newer than
 * min_revpos when with_data. */
static st_status typed_atts(reader_ctx *r, bool with_data, uint64_t min_revpos,
                            st_json_doc **arena, size_t *out_n, st_error *err)
{
    st_att *list = NULL;
    size_t n = 0;
    st_status st = st_atts_list(r->atts.data, r->atts.len, &list, &n, arena, err);
    if (st != ST_OK)
        return st;
    if (n > r->ratts_cap) {
        st_rep_att *a = realloc(r->ratts, n * sizeof *a);
        if (!a) {
            free(list);
            return st_fail(err, ST_E_NOMEM, "out of memory");
        }
        r->ratts = a;
        r->ratts_cap = n;
    }
    st_buf_reset(&r->data);
    size_t *offs = n ? calloc(n, sizeof *offs) : NULL;
    if (n && !offs) {
        free(list);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && st == ST_OK; i++) {
        const st_att *a = &list[i];
        r->ratts[i] = (st_rep_att){.name = a->name, .content_type = a->content_type,
                                   .digest = a->digest, .revpos = a->revpos,
                                   .length = a->length, .encoding = a->encoding};
        if (!with_data || a->revpos <= min_revpos)
            continue;
        size_t before = r->data.len;
        st_buf one = ST_BUF_INIT;
        st = st_store_att_get(r->c, a->digest, &one, err);
        if (st == ST_OK && one.len && (st = st_buf_add(&r->data, one.data, one.len)) != ST_OK)
            st_fail(err, st, "out of memory");
        st_buf_free(&one);
        offs[i] = before;
        r->ratts[i].len = r->data.len - before;
        r->ratts[i].data = ""; /* set below: data may move while it grows */
    }
    for (size_t i = 0; i < n && st == ST_OK; i++)
        if (r->ratts[i].data)
            r->ratts[i].data = r->data.data ? r->data.data + offs[i] : "";
    free(offs);
    free(list);
    *out_n = n;
    return st;
}

/* One revision (node i) as an st_rep_doc handed to fn. */
static st_status emit_rev(reader_ctx *r, const st_rep_want *w, size_t i, bool with_data,
                          st_rep_doc_fn fn, void *ctx, int *stop, st_error *err)
{
    const st_revtree *t = r->l.tree;
    size_t count = st_revtree_count(t);
    if (!grow_idx(&r->s, count))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    size_t np = st_revtree_path(t, i, r->s.idx);
    if (np > r->path_cap) {
        st_rev *p = realloc(r->path, np * sizeof *p);
        if (!p)
            return st_fail(err, ST_E_NOMEM, "out of memory");
        r->path = p;
        r->path_cap = np;
    }
    for (size_t k = 0; k < np; k++)
        st_revtree_node(t, r->s.idx[k], &r->path[k], NULL, NULL);
    uint64_t min_revpos = since_gen(t, r->s.idx, np, w);
    st_status st = st_db_rev_body(r->c, w->id, &r->l, i, &r->body, &r->atts, err);
    if (st == ST_E_NOT_FOUND) { /* compacted away: missing, as CouchDB says */
        char rs[ST_REV_STR_MAX];
        st_rev_format(&r->path[0], rs, sizeof rs);
        *stop = fn(ctx, w, NULL, rs);
        return ST_OK;
    }
    if (st != ST_OK)
        return st;
    st_json_doc *arena = NULL;
    size_t n_atts = 0;
    st = typed_atts(r, with_data, min_revpos, &arena, &n_atts, err);
    if (st == ST_OK) {
        st_rep_doc d = {
            .id = w->id,
            .path = r->path,
            .n_path = np,
            .deleted = (st_revtree_flags(t, i) & ST_REVTREE_DELETED) != 0,
            .body = r->body.data ? r->body.data : "{}",
            .body_len = r->body.data ? r->body.len : 2,
            .atts = r->ratts,
            .n_atts = n_atts,
        };
        *stop = fn(ctx, w, &d, NULL);
    }
    st_json_doc_free(arena);
    return st;
}

/* The leaves reached from node i (itself if it is one), each once across
 * one want: seen[] marks leaves already sent. */
static st_status emit_latest(reader_ctx *r, const st_rep_want *w, int i, bool *seen,
                             const size_t *leaves, size_t nl, bool with_data, st_rep_doc_fn fn,
                             void *ctx, int *stop, st_error *err)
{
    st_status st = ST_OK;
    size_t *path = malloc(st_revtree_count(r->l.tree) * sizeof *path);
    if (!path)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t q = 0; q < nl && !*stop && st == ST_OK; q++) {
        if (seen[q])
            continue;
        size_t np = st_revtree_path(r->l.tree, leaves[q], path);
        bool below = false;
        for (size_t p = 0; p < np && !below; p++)
            below = path[p] == (size_t)i;
        if (!below)
            continue;
        seen[q] = true;
        st = emit_rev(r, w, leaves[q], with_data, fn, ctx, stop, err);
    }
    free(path);
    return st;
}

static st_status read_one(reader_ctx *r, const st_rep_want *w, bool with_data,
                          st_rep_doc_fn fn, void *ctx, int *stop, st_error *err)
{
    st_status st = st_db_load(r->c, w->id, &r->l, err);
    if (st == ST_E_NOT_FOUND) {
        for (size_t k = 0; k < w->n_revs && !*stop; k++)
            *stop = fn(ctx, w, NULL, w->revs[k]);
        return ST_OK;
    }
    if (st != ST_OK)
        return st;
    size_t count = st_revtree_count(r->l.tree);
    size_t *leaves = malloc(count * sizeof *leaves);
    bool *seen = calloc(count, sizeof *seen);
    if (!leaves || !seen) {
        free(leaves);
        free(seen);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    size_t nl = st_revtree_leaves(r->l.tree, leaves);
    if (!w->revs) {
        for (size_t q = 0; q < nl && !*stop && st == ST_OK; q++)
            st = emit_rev(r, w, leaves[q], with_data, fn, ctx, stop, err);
    }
    for (size_t k = 0; w->revs && k < w->n_revs && !*stop && st == ST_OK; k++) {
        st_rev rev;
        int i = -1;
        if (st_rev_parse(w->revs[k], strlen(w->revs[k]), &rev, NULL) == ST_OK)
            i = st_revtree_find(r->l.tree, &rev);
        if (i < 0)
            *stop = fn(ctx, w, NULL, w->revs[k]);
        else
            st = emit_latest(r, w, i, seen, leaves, nl, with_data, fn, ctx, stop, err);
    }
    free(leaves);
    free(seen);
    return st;
}

st_status st_db_read_revs(st_db *db, const st_rep_want *wants, size_t n, bool with_data,
                          st_rep_doc_fn fn, void *ctx, st_error *err)
{
    reader_ctx r = {0};
    r.c = st_db_reader(db, err);
    if (!r.c)
        return err ? err->code : ST_E_IO;
    st_status st = ST_OK;
    int stop = 0;
    for (size_t i = 0; i < n && !stop && st == ST_OK; i++)
        st = read_one(&r, &wants[i], with_data, fn, ctx, &stop, err);
    st_db_reader_put(db, r.c);
    st_db_loaded_free(&r.l);
    scratch_free(&r.s);
    free(r.path);
    free(r.ratts);
    st_buf_free(&r.body);
    st_buf_free(&r.atts);
    st_buf_free(&r.data);
    return st;
}
