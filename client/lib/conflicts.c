/* conflicts.c — conflicted documents: listing their live leaves and settling
 * them with one commit.
 *
 * A conflict is a document with more than one live (non-deleted) leaf in its
 * revision tree; deleted leaves are history, not conflicts (CouchDB's
 * _conflicts vs _deleted_conflicts).  Every replica shows the same winner
 * (live beats deleted, then higher generation, then higher hash), so "do
 * nothing" is already consistent; resolving removes the other leaves by
 * writing tombstones on them, optionally after writing a merged body as a
 * child of the kept leaf.  Those are ordinary interactive writes with
 * CouchDB-exact rev ids, so two replicas that make the same resolution
 * produce the same revisions and converge without a new conflict.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* The live leaves of one document, winner first. */
typedef struct leaves {
    settee_leaf *v;
    st_rev *parsed;
    size_t n, cap;
    st_buf arena;          /* revs and json, NUL-separated; offsets until done */
    size_t *rev_off, *json_off;
    bool want_json;
    bool any;              /* the document has at least one leaf */
    st_status st;
} leaves;

static int on_leaf(void *ctx, const st_doc_view *v)
{
    leaves *L = ctx;
    L->any = true;
    if (v->missing || v->deleted)
        return 0;
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 4;
        settee_leaf *nv = realloc(L->v, cap * sizeof *nv);
        if (nv)
            L->v = nv;
        st_rev *np = nv ? realloc(L->parsed, cap * sizeof *np) : NULL;
        if (np)
            L->parsed = np;
        size_t *ro = np ? realloc(L->rev_off, cap * sizeof *ro) : NULL;
        if (ro)
            L->rev_off = ro;
        size_t *jo = ro ? realloc(L->json_off, cap * sizeof *jo) : NULL;
        if (jo)
            L->json_off = jo;
        if (!jo) {
            L->st = ST_E_NOMEM;
            return 1;
        }
        L->cap = cap;
    }
    size_t i = L->n;
    if (st_rev_parse(v->rev, strlen(v->rev), &L->parsed[i], NULL) != ST_OK) {
        L->st = ST_E_BAD_REQUEST;
        return 1;
    }
    L->rev_off[i] = L->arena.len;
    st_status s = st_buf_add(&L->arena, v->rev, strlen(v->rev) + 1);
    L->json_off[i] = L->arena.len;
    L->v[i].json_len = 0;
    if (s == ST_OK && L->want_json) {
        s = st_buf_add(&L->arena, v->json, v->json_len);
        L->v[i].json_len = v->json_len;
    }
    if (s == ST_OK)
        s = st_buf_addc(&L->arena, '\0');
    if (s != ST_OK) {
        L->st = s;
        return 1;
    }
    L->n++;
    return 0;
}

static void leaves_free(leaves *L)
{
    free(L->v);
    free(L->parsed);
    free(L->rev_off);
    free(L->json_off);
    st_buf_free(&L->arena);
    memset(L, 0, sizeof *L);
}

/* Load the live leaves of id, winner first (CouchDB's order: higher
 * generation, then higher hash).  SETTEE_NOT_FOUND when the document is
 * missing or has no live leaf. */
static settee_status leaves_load(settee_db *db, const char *id, bool want_json, leaves *L,
                                 settee_error *e)
{
    memset(L, 0, sizeof *L);
    L->want_json = want_json;
    st_buf_init(&L->arena, 0);
    st_get_opts o = {0};
    st_error ce;
    st_status s = st_db_open_revs(db->core, id, NULL, 0, &o, on_leaf, L, &ce);
    if (s != ST_OK)
        return st_client_from_core(e, s, &ce);
    if (L->st != ST_OK)
        return st_client_fail(e, st_client_code(L->st), "cannot read the leaves of %s", id);
    if (!L->any)
        return st_client_fail(e, SETTEE_NOT_FOUND, "missing");
    if (L->n == 0)
        return st_client_fail(e, SETTEE_NOT_FOUND, "deleted");
    /* Selection sort, winner first: n is tiny (a handful of leaves). */
    for (size_t i = 0; i < L->n; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < L->n; j++)
            if (st_rev_cmp(&L->parsed[j], &L->parsed[best]) > 0)
                best = j;
        if (best != i) {
            st_rev tr = L->parsed[i];
            L->parsed[i] = L->parsed[best];
            L->parsed[best] = tr;
            size_t t = L->rev_off[i];
            L->rev_off[i] = L->rev_off[best];
            L->rev_off[best] = t;
            t = L->json_off[i];
            L->json_off[i] = L->json_off[best];
            L->json_off[best] = t;
            t = L->v[i].json_len;
            L->v[i].json_len = L->v[best].json_len;
            L->v[best].json_len = t;
        }
    }
    for (size_t i = 0; i < L->n; i++) {
        L->v[i].rev = L->arena.data + L->rev_off[i];
        L->v[i].json = want_json ? L->arena.data + L->json_off[i] : NULL;
    }
    return SETTEE_OK;
}

/* strs[0..n) packed into one allocation: the pointer array, then the text. */
static char **pack_strings(const char *const *strs, size_t n)
{
    size_t bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(strs[i]) + 1;
    char **out = malloc(bytes);
    if (!out)
        return NULL;
    char *p = (char *)(out + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(strs[i]) + 1;
        memcpy(p, strs[i], len);
        out[i] = p;
        p += len;
    }
    out[n] = NULL;
    return out;
}

settee_status settee_conflicts(settee_db *db, const char *id, char ***out_revs, size_t *out_n,
                               settee_error *e)
{
    if (out_revs)
        *out_revs = NULL;
    if (out_n)
        *out_n = 0;
    if (!id || !out_revs || !out_n)
        return st_client_fail(e, SETTEE_MISUSE, "NULL id, out_revs or out_n");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    leaves L;
    if ((rc = leaves_load(db, id, false, &L, e)) == SETTEE_OK) {
        const char **revs = malloc(L.n * sizeof *revs);
        char **packed = NULL;
        for (size_t i = 0; revs && i < L.n; i++)
            revs[i] = L.v[i].rev;
        if (revs)
            packed = pack_strings(revs, L.n);
        free(revs);
        if (!packed) {
            rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        } else {
            *out_revs = packed;
            *out_n = L.n;
            st_client_ok(e);
        }
    }
    leaves_free(&L);
    st_client_leave(db);
    return rc;
}

/* ----------------------------------------------------------- listing all */

typedef struct cand {
    char **ids;
    size_t n, cap;
    st_status st;
} cand;

/* Core's index of conflicted documents (two or more live leaves), in id
 * order.  Only the ids are collected here: loading leaves needs a read
 * connection of its own, and this callback holds one. */
static int on_conflicted(void *ctx, const char *id)
{
    cand *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        char **v = realloc(c->ids, cap * sizeof *v);
        if (!v) {
            c->st = ST_E_NOMEM;
            return 1;
        }
        c->ids = v;
        c->cap = cap;
    }
    if (!(c->ids[c->n] = strdup(id))) {
        c->st = ST_E_NOMEM;
        return 1;
    }
    c->n++;
    return 0;
}

typedef struct found {
    char *id;
    char **revs;   /* packed */
    size_t n;
} found;

settee_status settee_conflicts_list(settee_db *db, settee_conflict **out, size_t *out_n,
                                    settee_error *e)
{
    if (out)
        *out = NULL;
    if (out_n)
        *out_n = 0;
    if (!out || !out_n)
        return st_client_fail(e, SETTEE_MISUSE, "NULL out or out_n");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    cand c = {0};
    found *f = NULL;
    size_t nf = 0;
    st_error ce;
    st_error_clear(&ce);
    st_status s = st_db_conflicted(db->core, NULL, on_conflicted, &c, &ce);
    if (s == ST_OK && c.st != ST_OK)
        s = st_fail(&ce, c.st, "out of memory");
    if (s != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    if (c.n && !(f = calloc(c.n, sizeof *f))) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < c.n; i++) {
        leaves L;
        settee_status r = leaves_load(db, c.ids[i], false, &L, e);
        if (r == SETTEE_OK && L.n >= 2) {
            const char **revs = malloc(L.n * sizeof *revs);
            for (size_t k = 0; revs && k < L.n; k++)
                revs[k] = L.v[k].rev;
            f[nf].revs = revs ? pack_strings(revs, L.n) : NULL;
            free(revs);
            if (!f[nf].revs)
                r = st_client_fail(e, SETTEE_NOMEM, "out of memory");
            else {
                f[nf].id = c.ids[i];
                c.ids[i] = NULL;
                f[nf].n = L.n;
                bytes += sizeof(settee_conflict) + strlen(f[nf].id) + 1 +
                         (L.n + 1) * sizeof(char *);
                for (size_t k = 0; k < L.n; k++)
                    bytes += strlen(f[nf].revs[k]) + 1;
                nf++;
            }
        } else if (r == SETTEE_NOT_FOUND) {
            r = SETTEE_OK; /* deleted or purged meanwhile */
        }
        /* r == SETTEE_OK with fewer than two leaves: settled meanwhile. */
        leaves_free(&L);
        if (r != SETTEE_OK) {
            rc = r;
            goto out;
        }
    }
    /* One block: the conflict array, then each rev pointer array, then text. */
    settee_conflict *res = malloc(bytes ? bytes : 1);
    if (!res) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    const char **ptrs = (const char **)(res + nf);
    size_t n_ptrs = 0;
    for (size_t i = 0; i < nf; i++)
        n_ptrs += f[i].n + 1;
    char *text = (char *)(ptrs + n_ptrs);
    for (size_t i = 0; i < nf; i++) {
        size_t len = strlen(f[i].id) + 1;
        memcpy(text, f[i].id, len);
        res[i].id = text;
        text += len;
        res[i].revs = ptrs;
        res[i].n_revs = f[i].n;
        for (size_t k = 0; k < f[i].n; k++) {
            len = strlen(f[i].revs[k]) + 1;
            memcpy(text, f[i].revs[k], len);
            *ptrs++ = text;
            text += len;
        }
        *ptrs++ = NULL;
    }
    *out = res;
    *out_n = nf;
    st_client_ok(e);
out:
    for (size_t i = 0; i < c.n; i++)
        free(c.ids[i]);
    free(c.ids);
    for (size_t i = 0; i < nf; i++) {
        free(f[i].id);
        free(f[i].revs);
    }
    free(f);
    st_client_leave(db);
    return rc;
}

/* ----------------------------------------------------------- resolving */

settee_status settee_conflict_resolve(settee_db *db, const char *id, const char *keep_rev,
                                      const char *merged_json, char **out_rev, settee_error *e)
{
    if (out_rev)
        *out_rev = NULL;
    if (!id || !keep_rev)
        return st_client_fail(e, SETTEE_MISUSE, "NULL id or keep_rev");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    leaves L;
    st_json_doc *merged = NULL;
    st_write_req *reqs = NULL;
    st_write_result *res = NULL;
    size_t n = 0;
    st_error ce;
    st_status s;
    if ((rc = leaves_load(db, id, false, &L, e)) != SETTEE_OK)
        goto out;
    size_t keep = L.n;
    for (size_t i = 0; i < L.n; i++)
        if (strcmp(L.v[i].rev, keep_rev) == 0)
            keep = i;
    if (keep == L.n) {
        rc = st_client_fail(e, SETTEE_CONFLICT, "%s is not a live leaf of %s", keep_rev, id);
        goto out;
    }
    if (merged_json) {
        st_json_limits lim = {db->max_doc_size, 0};
        if ((s = st_json_parse(merged_json, strlen(merged_json), &lim, &merged, &ce)) != ST_OK) {
            rc = st_client_from_core(e, s, &ce);
            goto out;
        }
        if (st_json_doc_root(merged)->type != ST_JSON_OBJECT) {
            rc = st_client_fail(e, SETTEE_BAD_REQUEST, "merged document must be a JSON object");
            goto out;
        }
    }
    reqs = calloc(L.n + 1, sizeof *reqs);
    res = calloc(L.n + 1, sizeof *res);
    if (!reqs || !res) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    if (merged)
        reqs[n++] = (st_write_req){.doc = st_json_doc_root(merged), .id = id, .rev = keep_rev};
    for (size_t i = 0; i < L.n; i++)
        if (i != keep)
            reqs[n++] = (st_write_req){.id = id, .rev = L.v[i].rev, .delete_doc = true};
    if (n == 0) { /* a single leaf and nothing to merge: already settled */
        rc = out_rev ? st_client_dup(out_rev, keep_rev, strlen(keep_rev), e) : SETTEE_OK;
        goto out;
    }
    /* One core write, all or nothing: the merge and every tombstone land in
     * the same commit, or -- when any of them is refused (a leaf moved on
     * since it was read, a merged body core rejects) -- nothing is written
     * and that refusal is the answer.  So a resolution never half-lands. */
    if ((s = st_db_write(db->core, reqs, n, ST_WRITE_ALL_OR_NOTHING, res, &ce)) != ST_OK) {
        if (s == ST_E_CONFLICT)
            rc = st_client_fail(e, SETTEE_CONFLICT,
                                "the leaves of %s changed meanwhile; nothing was written", id);
        else
            rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (res[i].err.code != ST_OK) { /* not expected with ALL_OR_NOTHING */
            rc = st_client_from_core(e, res[i].err.code, &res[i].err);
            goto out;
        }
    }
    const char *surviving = merged ? res[0].rev : keep_rev;
    if (out_rev && (rc = st_client_dup(out_rev, surviving, strlen(surviving), e)) != SETTEE_OK)
        goto out;
    st_client_ok(e);
out:
    st_write_results_free(res, res ? n : 0);
    free(res);
    free(reqs);
    st_json_doc_free(merged);
    leaves_free(&L);
    st_client_leave(db);
    return rc;
}

settee_status st_client_resolve_one(settee_db *db, const char *id, settee_resolver_fn fn,
                                    void *ctx, bool *out_called, settee_error *e)
{
    *out_called = false;
    leaves L;
    settee_status rc = leaves_load(db, id, true, &L, e);
    if (rc == SETTEE_NOT_FOUND) /* deleted or purged since: nothing to settle */
        rc = SETTEE_OK;
    else if (rc == SETTEE_OK && L.n >= 2) {
        *out_called = true;
        rc = fn(ctx, db, id, L.v, L.n);
    }
    leaves_free(&L);
    return rc;
}
