/* view_reduce.c — a view's reduce function applied to rows and to stored
 * reductions: CouchDB's built-ins in C (st_reduce.h), anything else in the
 * view's language through a query-server process.
 *
 * Why JSON text in and out: rows and reductions live in the index as JSON
 * text, and a query server speaks JSON; the built-ins parse one array of
 * all the keys and one of all the values (one parse per call, not per
 * row).  _count never looks at values at all.
 */
#include "view_int.h"

#include <stdlib.h>
#include <string.h>

#include "st_jw.h"

void vred_init(vred *r, const st_ddoc_view *def, st_qs *qs, const char *lang,
               const st_reduce_limits *lim, st_qs_proc *proc)
{
    memset(r, 0, sizeof *r);
    r->def = def;
    r->qs = qs;
    r->lang = lang;
    r->lim = lim;
    r->proc = proc;
}

void vred_done(vred *r)
{
    if (r->own_proc)
        st_qs_checkin(r->proc);
    r->proc = NULL;
    r->own_proc = false;
}

static st_status need_proc(vred *r, st_error *err)
{
    if (r->proc)
        return ST_OK;
    st_status st = st_qs_checkout(r->qs, r->lang, NULL, &r->proc, err);
    if (st == ST_OK)
        r->own_proc = true;
    return st;
}

/* "[a,b,...]" of n JSON texts, parsed. */
static st_status parse_list(const char *const *items, const size_t *lens, size_t n,
                            st_json_doc **out, st_error *err)
{
    st_buf b = ST_BUF_INIT;
    st_status st = st_buf_addc(&b, '[');
    for (size_t i = 0; st == ST_OK && i < n; i++) {
        if (i)
            st = st_buf_addc(&b, ',');
        if (st == ST_OK)
            st = st_buf_add(&b, items[i], lens[i]);
    }
    if (st == ST_OK)
        st = st_buf_addc(&b, ']');
    if (st != ST_OK) {
        st_buf_free(&b);
        return st_fail(err, st, "out of memory");
    }
    st_json_limits lim = {0, 256};
    st = st_json_parse(b.data, b.len, &lim, out, err);
    st_buf_free(&b);
    return st;
}

static st_status builtin(vred *r, bool rereduce, const st_json *keys, const st_json *vals,
                         size_t n, st_buf *out, st_error *err)
{
    const st_json **kp = keys ? malloc((n ? n : 1) * sizeof *kp) : NULL;
    const st_json **vp = malloc((n ? n : 1) * sizeof *vp);
    st_status st = ST_OK;
    if ((keys && !kp) || !vp) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (kp)
            kp[i] = &keys->u.items[i];
        vp[i] = &vals->u.items[i];
    }
    st = st_reduce_run(r->def->bfn, rereduce, kp, vp, n, r->lim, out, err);
out:
    free(kp);
    free(vp);
    return st;
}

st_status vred_rows(vred *r, const vred_row *rows, size_t n, st_buf *out, st_error *err)
{
    if (!r->def || !r->def->reduce)
        return st_fail(err, ST_E_MISUSE, "not a reduce view");
    if (r->def->builtin && r->def->bfn == ST_REDUCE_COUNT)
        return st_buf_printf(out, "%zu", n) == ST_OK ? ST_OK
                                                     : st_fail(err, ST_E_NOMEM, "out of memory");
    const char **k = malloc((n ? n : 1) * sizeof *k), **v = malloc((n ? n : 1) * sizeof *v);
    size_t *kl = malloc((n ? n : 1) * sizeof *kl), *vl = malloc((n ? n : 1) * sizeof *vl);
    st_json_doc *kd = NULL, *vd = NULL;
    st_buf kvs = ST_BUF_INIT;
    st_status st = ST_OK;
    if (!k || !v || !kl || !vl) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        k[i] = rows[i].key;
        kl[i] = rows[i].key_len;
        v[i] = rows[i].value;
        vl[i] = rows[i].value_len;
    }
    if (r->def->builtin) {
        if ((st = parse_list(k, kl, n, &kd, err)) == ST_OK &&
            (st = parse_list(v, vl, n, &vd, err)) == ST_OK)
            st = builtin(r, false, st_json_doc_root(kd), st_json_doc_root(vd), n, out, err);
        goto out;
    }
    /* [[[key, docid], value], ...] for the query server */
    st = st_buf_addc(&kvs, '[');
    for (size_t i = 0; st == ST_OK && i < n; i++) {
        st = st_buf_adds(&kvs, i ? ",[[" : "[[");
        if (st == ST_OK)
            st = st_buf_add(&kvs, k[i], kl[i]);
        if (st == ST_OK)
            st = st_buf_addc(&kvs, ',');
        if (st == ST_OK)
            st = st_json_quote(&kvs, rows[i].doc, strlen(rows[i].doc));
        if (st == ST_OK)
            st = st_buf_adds(&kvs, "],");
        if (st == ST_OK)
            st = st_buf_add(&kvs, v[i], vl[i]);
        if (st == ST_OK)
            st = st_buf_addc(&kvs, ']');
    }
    if (st == ST_OK)
        st = st_buf_addc(&kvs, ']');
    if (st != ST_OK) {
        st = st_fail(err, st, "out of memory");
        goto out;
    }
    if ((st = need_proc(r, err)) == ST_OK) {
        st_qs_answer a;
        const char *src = r->def->reduce;
        st = st_qs_reduce(r->proc, &src, 1, kvs.data, kvs.len, &a, err);
        if (st == ST_OK) {
            st_jw w;
            if ((st = st_jw_init(&w, out)) == ST_OK) {
                st_jw_value(&w, &a.value->u.items[0]);
                st = st_jw_status(&w);
                st_jw_free(&w);
            }
        }
        st_qs_answer_free(&a);
    }
out:
    free(k);
    free(v);
    free(kl);
    free(vl);
    st_json_doc_free(kd);
    st_json_doc_free(vd);
    st_buf_free(&kvs);
    return st;
}

st_status vred_rereduce(vred *r, const char *const *reds, const size_t *lens, size_t n,
                        st_buf *out, st_error *err)
{
    if (!r->def || !r->def->reduce)
        return st_fail(err, ST_E_MISUSE, "not a reduce view");
    if (n == 1) /* nothing to combine: the reduction stands */
        return st_buf_add(out, reds[0], lens[0]) == ST_OK ? ST_OK
                                                          : st_fail(err, ST_E_NOMEM, "out of memory");
    st_json_doc *vd = NULL;
    st_status st;
    if (r->def->builtin) {
        if ((st = parse_list(reds, lens, n, &vd, err)) == ST_OK)
            st = builtin(r, true, NULL, st_json_doc_root(vd), n, out, err);
        st_json_doc_free(vd);
        return st;
    }
    st_buf vals = ST_BUF_INIT;
    st = st_buf_addc(&vals, '[');
    for (size_t i = 0; st == ST_OK && i < n; i++) {
        if (i)
            st = st_buf_addc(&vals, ',');
        if (st == ST_OK)
            st = st_buf_add(&vals, reds[i], lens[i]);
    }
    if (st == ST_OK)
        st = st_buf_addc(&vals, ']');
    if (st != ST_OK) {
        st_buf_free(&vals);
        return st_fail(err, st, "out of memory");
    }
    if ((st = need_proc(r, err)) == ST_OK) {
        st_qs_answer a;
        const char *src = r->def->reduce;
        st = st_qs_rereduce(r->proc, &src, 1, vals.data, vals.len, &a, err);
        if (st == ST_OK) {
            st_jw w;
            if ((st = st_jw_init(&w, out)) == ST_OK) {
                st_jw_value(&w, &a.value->u.items[0]);
                st = st_jw_status(&w);
                st_jw_free(&w);
            }
        }
        st_qs_answer_free(&a);
    }
    st_buf_free(&vals);
    return st;
}

st_status vred_finalize(vred *r, const char *red, size_t n, st_buf *out, st_error *err)
{
    if (!r->def || !r->def->builtin || r->def->bfn != ST_REDUCE_APPROX_COUNT_DISTINCT)
        return st_buf_add(out, red, n) == ST_OK ? ST_OK : st_fail(err, ST_E_NOMEM, "out of memory");
    st_json_doc *d = NULL;
    st_status st = st_json_parse(red, n, NULL, &d, err);
    if (st == ST_OK)
        st = st_reduce_finalize(ST_REDUCE_APPROX_COUNT_DISTINCT, st_json_doc_root(d), out, err);
    st_json_doc_free(d);
    return st;
}
