/* mango_plan.c — which index answers a query, over which range (CouchDB's
 * mango_idx:get_usable_indexes, mango_cursor:create and
 * mango_cursor_view:choose_best_index), and what _explain says about it.
 *
 * The rules, as CouchDB applies them:
 *  - a json index is usable when the selector requires every one of its
 *    columns (sort fields and _id/_rev excepted: the sort itself demands
 *    them) and the sort is a prefix of its columns once the columns the
 *    selector pins to one value ($eq) in front are skipped;
 *  - _all_docs is usable without a sort, or for a sort on _id when the
 *    selector ranges over _id;
 *  - partial indexes are candidates only when use_index names them;
 *  - use_index picks among the usable ones, else it is ignored (with a
 *    warning), unless allow_fallback is false;
 *  - json indexes come before _all_docs; among them the one whose leading
 *    columns cover most of the selector's indexable fields (those under the
 *    top-level $and with $eq/$gt/$gte/$lt/$lte), then the one with fewer
 *    columns, then by ddoc and name.
 * The range: the leading columns pinned to one value give a key prefix,
 * the next column's bounds narrow it; the rest is the selector's job.
 */
#include "mango_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_END 0xFF /* above every sort key's first byte (type tags are 0x10..0x70) */

void st_mango_plan_clear(mango_plan *p)
{
    st_buf_free(&p->lo);
    st_buf_free(&p->hi);
    free(p->start_id);
    free(p->end_id);
    free(p->use_warning);
    free(p->cands);
    memset(p, 0, sizeof *p);
}

static const st_selector_field *field(const st_mango_query *q, const char *path)
{
    return st_selector_field_find(q->sel, path);
}

static bool indexable(const st_mango_query *q, const char *path)
{
    const st_selector_field *f = field(q, path);
    return f && (f->lo.value || f->hi.value);
}

static bool required(const st_mango_query *q, const char *path)
{
    const st_selector_field *f = field(q, path);
    return f && f->exists;
}

static bool constant(const st_mango_query *q, const char *path)
{
    const st_selector_field *f = field(q, path);
    return f && f->eq;
}

static bool in_sort(const st_mango_query *q, const char *path)
{
    for (size_t i = 0; i < q->n_sort; i++)
        if (strcmp(q->sort[i], path) == 0)
            return true;
    return false;
}

/* mango_idx_view:can_use_sort. */
static bool can_use_sort(const st_mango_query *q, char *const *cols, size_t n)
{
    if (q->n_sort == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cols[i], q->sort[0]) == 0) {
            if (q->n_sort > n - i)
                return false;
            for (size_t k = 0; k < q->n_sort; k++)
                if (strcmp(cols[i + k], q->sort[k]) != 0)
                    return false;
            return true;
        }
        if (!constant(q, cols[i]))
            return false;
    }
    return false;
}

static mango_why json_usable(const st_mango_query *q, const mango_idx *x)
{
    for (size_t i = 0; i < x->def.n_fields; i++) {
        const char *c = x->def.fields[i];
        if (in_sort(q, c) || strcmp(c, "_id") == 0 || strcmp(c, "_rev") == 0)
            continue;
        if (!required(q, c))
            return WHY_FIELD_MISMATCH;
    }
    return can_use_sort(q, x->def.fields, x->def.n_fields) ? WHY_CHOSEN
                                                          : WHY_SORT_ORDER_MISMATCH;
}

static bool special_usable(const st_mango_query *q)
{
    if (q->n_sort == 0)
        return true;
    return indexable(q, "_id") && q->n_sort == 1 && strcmp(q->sort[0], "_id") == 0;
}

static bool names_ddoc(const char *want, const char *ddoc)
{
    const char *d = strncmp(want, "_design/", 8) == 0 ? want : NULL;
    if (d)
        return strcmp(d, ddoc) == 0;
    return strncmp(ddoc, "_design/", 8) == 0 && strcmp(ddoc + 8, want) == 0;
}

/* Does use_index name x (NULL: _all_docs, which it never names)? */
static bool named(const st_mango_query *q, const mango_idx *x)
{
    if (q->n_use == 0 || !x || !names_ddoc(q->use[0], x->def.ddoc))
        return false;
    return q->n_use == 1 || strcmp(q->use[1], x->def.name) == 0;
}

/* How many of the selector's indexable fields (in byte order, as CouchDB
 * sorts them) the index's leading columns cover. */
static size_t prefix_len(const st_mango_query *q, const mango_idx *x)
{
    size_t k = 0;
    while (k < x->def.n_fields && indexable(q, x->def.fields[k]))
        k++;
    return k;
}

static size_t n_indexable(const st_mango_query *q)
{
    size_t n = 0, nf = 0;
    const st_selector_field *f = st_selector_fields(q->sel, &nf);
    for (size_t i = 0; i < nf; i++)
        n += f[i].lo.value || f[i].hi.value;
    return n;
}

/* choose_best_index's order: <0 when a is better. */
static int better(const st_mango_query *q, const mango_idx *a, const mango_idx *b)
{
    size_t n = n_indexable(q);
    size_t da = n - prefix_len(q, a), db = n - prefix_len(q, b);
    if (da != db)
        return da < db ? -1 : 1;
    if (a->def.n_fields != b->def.n_fields)
        return a->def.n_fields < b->def.n_fields ? -1 : 1;
    int c = strcmp(a->def.ddoc, b->def.ddoc);
    return c ? c : strcmp(a->def.name, b->def.name);
}

static st_status key_of(const st_json *v, bool raw, st_buf *out, st_error *err)
{
    st_status st = st_collate_key(v, raw ? ST_COLLATE_RAW : ST_COLLATE_ICU, out);
    return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
}

/* The byte range of x's entries that can match. */
static st_status json_range(const st_mango_query *q, const mango_idx *x, mango_plan *p,
                            st_error *err)
{
    st_buf prefix = ST_BUF_INIT;
    st_status st = ST_OK;
    size_t k = prefix_len(q, x);
    const st_selector_field *open = NULL;
    bool raw = false;
    for (size_t i = 0; i < k && st == ST_OK && !open; i++) {
        const st_selector_field *f = field(q, x->def.fields[i]);
        if (f->eq)
            st = key_of(f->eq, x->paths[i].raw, &prefix, err);
        else {
            open = f;
            raw = x->paths[i].raw;
        }
    }
    if (st == ST_OK)
        st = st_buf_add(&p->lo, prefix.data ? prefix.data : "", prefix.len);
    if (st == ST_OK)
        st = st_buf_add(&p->hi, prefix.data ? prefix.data : "", prefix.len);
    st_buf_free(&prefix);
    if (st != ST_OK)
        return st_fail(err, st, "out of memory");
    p->has_lo = p->lo.len > 0;
    p->has_hi = true;
    unsigned char end = KEY_END;
    if (open && open->lo.value) {
        p->has_lo = true;
        st = key_of(open->lo.value, raw, &p->lo, err);
        if (st == ST_OK && !open->lo.inclusive)
            st = st_buf_add(&p->lo, &end, 1);
    }
    if (st == ST_OK && open && open->hi.value) {
        st = key_of(open->hi.value, raw, &p->hi, err);
        if (st == ST_OK && open->hi.inclusive)
            st = st_buf_add(&p->hi, &end, 1);
    } else if (st == ST_OK) {
        if (p->hi.len == 0)
            p->has_hi = false;
        else
            st = st_buf_add(&p->hi, &end, 1);
    }
    return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
}

/* The _id range of a full scan: string bounds only (ids are strings; any
 * other bound is left to the selector). */
static st_status id_range(const st_mango_query *q, mango_plan *p, st_error *err)
{
    const st_selector_field *f = field(q, "_id");
    if (!f)
        return ST_OK;
    if (f->lo.value && f->lo.value->type == ST_JSON_STRING &&
        !(p->start_id = strdup(f->lo.value->u.str)))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (f->hi.value && f->hi.value->type == ST_JSON_STRING &&
        !(p->end_id = strdup(f->hi.value->u.str)))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    return ST_OK;
}

static bool any_empty(const st_mango_query *q)
{
    size_t n = 0;
    const st_selector_field *f = st_selector_fields(q->sel, &n);
    for (size_t i = 0; i < n; i++)
        if (f[i].empty)
            return true;
    return false;
}

static st_status use_failed(const st_mango_query *q, st_error *err)
{
    const char *d = q->use[0];
    if (strncmp(d, "_design/", 8) == 0)
        d += 8;
    if (q->n_use == 2)
        return st_fail_name(err, ST_E_BAD_REQUEST, "invalid_index",
                            "_design/%s, %s specified by `use_index` could not be found or it "
                            "is not suitable.", d, q->use[1]);
    return st_fail_name(err, ST_E_BAD_REQUEST, "invalid_index",
                        "_design/%s specified by `use_index` could not be found or it is not "
                        "suitable.", d);
}

static st_status use_warning(const st_mango_query *q, mango_plan *p, st_error *err)
{
    const char *d = q->use[0];
    char buf[512];
    if (strncmp(d, "_design/", 8) == 0)
        d += 8;
    if (q->n_use == 2)
        snprintf(buf, sizeof buf,
                 "_design/%s, %s was not used because it is not a valid index for this query.",
                 d, q->use[1]);
    else
        snprintf(buf, sizeof buf,
                 "_design/%s was not used because it does not contain a valid index for this "
                 "query.", d);
    p->use_warning = strdup(buf);
    return p->use_warning ? ST_OK : st_fail(err, ST_E_NOMEM, "out of memory");
}

/* The other candidates and why they lost (mango_cursor:extract_candidate_indexes). */
static st_status candidates(const st_mango_query *q, const mango_idx *v, size_t n,
                            const bool *usable, const bool *picked, mango_plan *p, st_error *err)
{
    p->cands = calloc(n + 1, sizeof *p->cands);
    if (!p->cands)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    const mango_idx *win = p->idx;
    unsigned json_rank = 0;
    for (size_t i = 0; i < n; i++) {
        const mango_idx *x = &v[i];
        mango_cand *c = &p->cands[p->n_cands];
        if (x == win)
            continue;
        c->idx = x;
        c->usable = usable[i];
        if (x->partial && !named(q, x)) {
            c->why = WHY_IS_PARTIAL;
            c->ranking = 4;
        } else if (!usable[i]) {
            c->why = json_usable(q, x);
            c->ranking = 3;
        } else if (!picked[i]) {
            c->why = WHY_EXCLUDED_BY_USER;
            c->ranking = 2;
        } else {
            size_t ni = n_indexable(q);
            c->ranking = ++json_rank;
            if (win && ni - prefix_len(q, x) > ni - prefix_len(q, win))
                c->why = WHY_LESS_OVERLAP;
            else if (win && x->def.n_fields > win->def.n_fields)
                c->why = WHY_TOO_MANY_FIELDS;
            else
                c->why = WHY_ALPHABETICALLY_COMES_AFTER;
        }
        p->n_cands++;
    }
    if (win) { /* _all_docs lost to a json index */
        mango_cand *c = &p->cands[p->n_cands++];
        c->idx = NULL;
        c->usable = special_usable(q);
        c->why = c->usable ? WHY_UNFAVORED_TYPE : WHY_SORT_ORDER_MISMATCH;
        c->ranking = 1;
    }
    return ST_OK;
}

st_status st_mango_plan(const st_mango_query *q, const mango_idx *v, size_t n, mango_plan *out,
                        st_error *err)
{
    memset(out, 0, sizeof *out);
    st_buf_init(&out->lo, 0);
    st_buf_init(&out->hi, 0);
    bool *usable = calloc(n + 1, sizeof *usable), *picked = calloc(n + 1, sizeof *picked);
    st_status st = ST_OK;
    if (!usable || !picked) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    bool special = special_usable(q), any = special, any_named = false;
    for (size_t i = 0; i < n; i++) {
        const mango_idx *x = &v[i];
        usable[i] = (!x->partial || named(q, x)) && json_usable(q, &v[i]) == WHY_CHOSEN;
        any = any || usable[i];
        any_named = any_named || (usable[i] && named(q, x));
    }
    if (!any) {
        st = st_fail_name(err, ST_E_BAD_REQUEST, "no_usable_index",
                          "No index exists for this sort, try indexing by the sort fields.");
        goto out;
    }
    if (q->n_use > 0 && !any_named) {
        if (!q->allow_fallback) {
            st = use_failed(q, err);
            goto out;
        }
        if ((st = use_warning(q, out, err)) != ST_OK)
            goto out;
    }
    /* The best json index among those use_index picked (or all usable). */
    for (size_t i = 0; i < n; i++) {
        picked[i] = usable[i] && (!any_named || named(q, &v[i]));
        if (picked[i] && (!out->idx || better(q, &v[i], out->idx) < 0))
            out->idx = &v[i];
    }
    if (!out->idx && !q->allow_fallback && q->n_use == 0) {
        st = st_fail_name(err, ST_E_BAD_REQUEST, "invalid_index",
                          "You must specify an index with the `use_index` parameter.");
        goto out;
    }
    out->descending = q->sort_desc;
    out->empty = any_empty(q);
    if (!out->empty)
        st = out->idx ? json_range(q, out->idx, out, err) : id_range(q, out, err);
    if (st == ST_OK)
        st = candidates(q, v, n, usable, picked, out, err);
out:
    free(usable);
    free(picked);
    if (st != ST_OK)
        st_mango_plan_clear(out);
    return st;
}

/* ---- _explain ------------------------------------------------------------------ */

static const char *why_name(mango_why w)
{
    switch (w) {
    case WHY_IS_PARTIAL: return "is_partial";
    case WHY_FIELD_MISMATCH: return "field_mismatch";
    case WHY_SORT_ORDER_MISMATCH: return "sort_order_mismatch";
    case WHY_EXCLUDED_BY_USER: return "excluded_by_user";
    case WHY_UNFAVORED_TYPE: return "unfavored_type";
    case WHY_LESS_OVERLAP: return "less_overlap";
    case WHY_TOO_MANY_FIELDS: return "too_many_fields";
    case WHY_ALPHABETICALLY_COMES_AFTER: return "alphabetically_comes_after";
    case WHY_CHOSEN: break;
    }
    return "chosen";
}

static void index_json(const mango_idx *x, st_jw *w)
{
    if (x)
        st_mango_index_write(&x->def, w);
    else
        st_mango_all_docs_write(w);
}

static void opts_json(const st_mango_query *q, st_jw *w)
{
    st_jw_obj_open(w);
    st_jw_key(w, "use_index");
    st_jw_arr_open(w);
    for (size_t i = 0; i < q->n_use; i++)
        st_jw_str(w, q->use[i]);
    st_jw_arr_close(w);
    st_jw_key(w, "bookmark");
    st_jw_str(w, q->bookmark ? q->bookmark : "nil");
    st_jw_key(w, "limit");
    st_jw_uint(w, q->limit);
    st_jw_key(w, "skip");
    st_jw_uint(w, q->skip);
    st_jw_key(w, "sort");
    st_jw_obj_open(w);
    for (size_t i = 0; i < q->n_sort; i++) {
        st_jw_key(w, q->sort[i]);
        st_jw_str(w, q->sort_desc ? "desc" : "asc");
    }
    st_jw_obj_close(w);
    st_jw_key(w, "fields");
    st_jw_arr_open(w);
    for (size_t i = 0; i < q->n_fields; i++)
        st_jw_str(w, q->fields[i]);
    st_jw_arr_close(w);
    st_jw_key(w, "partition");
    st_jw_str(w, "");
    st_jw_key(w, "r");
    st_jw_uint(w, q->r);
    st_jw_key(w, "conflicts");
    st_jw_bool(w, q->conflicts);
    st_jw_key(w, "stale");
    if (q->stale_ok)
        st_jw_str(w, "ok");
    else
        st_jw_bool(w, false);
    st_jw_key(w, "update");
    st_jw_bool(w, q->update);
    st_jw_key(w, "stable");
    st_jw_bool(w, q->stable);
    st_jw_key(w, "execution_stats");
    st_jw_bool(w, q->stats);
    st_jw_key(w, "allow_fallback");
    st_jw_bool(w, q->allow_fallback);
    st_jw_obj_close(w);
}

/* mrargs' start_key/end_key: the bounds of the leading columns. */
static void keys_json(const mango_plan *p, const st_mango_query *q, bool start, st_jw *w)
{
    if (!p->idx) {
        const st_selector_field *f = field(q, "_id");
        const st_json *b = f ? (start ? f->lo.value : f->hi.value) : NULL;
        if (b)
            st_jw_value(w, b);
        else if (start)
            st_jw_null(w);
        else
            st_jw_str(w, "<MAX>");
        return;
    }
    st_jw_arr_open(w);
    size_t k = prefix_len(q, p->idx);
    bool open = false;
    for (size_t i = 0; i < k && !open; i++) {
        const st_selector_field *f = field(q, p->idx->def.fields[i]);
        const st_json *b = start ? f->lo.value : f->hi.value;
        if (b)
            st_jw_value(w, b);
        open = !b || !f->eq;
    }
    if (!start && (open || k == 0))
        st_jw_str(w, "<MAX>");
    st_jw_arr_close(w);
}

void st_mango_plan_explain(const mango_plan *p, const st_mango_query *q, const char *dbname,
                           st_jw *w)
{
    st_jw_obj_open(w);
    st_jw_key(w, "dbname");
    st_jw_str(w, dbname);
    st_jw_key(w, "index");
    index_json(p->idx, w);
    st_jw_key(w, "partitioned");
    st_jw_bool(w, false);
    st_jw_key(w, "selector");
    st_selector_write(q->sel, w);
    st_jw_key(w, "opts");
    opts_json(q, w);
    st_jw_key(w, "limit");
    st_jw_uint(w, q->limit);
    st_jw_key(w, "skip");
    st_jw_uint(w, q->skip);
    st_jw_key(w, "fields");
    st_jw_arr_open(w);
    for (size_t i = 0; i < q->n_fields; i++)
        st_jw_str(w, q->fields[i]);
    st_jw_arr_close(w);
    st_jw_key(w, "index_candidates");
    st_jw_arr_open(w);
    for (size_t i = 0; i < p->n_cands; i++) {
        const mango_cand *c = &p->cands[i];
        st_jw_obj_open(w);
        st_jw_key(w, "index");
        index_json(c->idx, w);
        st_jw_key(w, "analysis");
        st_jw_obj_open(w);
        st_jw_key(w, "usable");
        st_jw_bool(w, c->usable);
        st_jw_key(w, "reasons");
        st_jw_arr_open(w);
        st_jw_obj_open(w);
        st_jw_key(w, "name");
        st_jw_str(w, why_name(c->why));
        st_jw_obj_close(w);
        st_jw_arr_close(w);
        st_jw_key(w, "ranking");
        st_jw_uint(w, c->ranking);
        st_jw_key(w, "covering");
        if (c->idx)
            st_jw_bool(w, false);
        else
            st_jw_null(w);
        st_jw_obj_close(w);
        st_jw_obj_close(w);
    }
    st_jw_arr_close(w);
    st_jw_key(w, "selector_hints");
    st_jw_arr_open(w);
    st_jw_obj_open(w);
    st_jw_key(w, "type");
    st_jw_str(w, "json");
    size_t nf = 0;
    const st_selector_field *f = st_selector_fields(q->sel, &nf);
    for (int pass = 0; pass < 2; pass++) {
        st_jw_key(w, pass ? "unindexable_fields" : "indexable_fields");
        st_jw_arr_open(w);
        for (size_t i = 0; i < nf; i++)
            if ((f[i].lo.value || f[i].hi.value) == !pass)
                st_jw_str(w, f[i].path);
        st_jw_arr_close(w);
    }
    st_jw_obj_close(w);
    st_jw_arr_close(w);
    st_jw_key(w, "mrargs");
    st_jw_obj_open(w);
    st_jw_key(w, "include_docs");
    st_jw_bool(w, true);
    st_jw_key(w, "view_type");
    st_jw_str(w, "map");
    st_jw_key(w, "reduce");
    st_jw_bool(w, false);
    st_jw_key(w, "partition");
    st_jw_null(w);
    st_jw_key(w, "start_key");
    keys_json(p, q, !p->descending, w);
    st_jw_key(w, "end_key");
    keys_json(p, q, p->descending, w);
    st_jw_key(w, "direction");
    st_jw_str(w, p->descending ? "rev" : "fwd");
    st_jw_key(w, "stable");
    st_jw_bool(w, q->stable);
    st_jw_key(w, "update");
    st_jw_bool(w, q->update);
    st_jw_key(w, "conflicts");
    if (q->conflicts)
        st_jw_bool(w, true);
    else
        st_jw_str(w, "undefined");
    st_jw_obj_close(w);
    st_jw_key(w, "covering");
    st_jw_bool(w, false);
    st_jw_obj_close(w);
}
