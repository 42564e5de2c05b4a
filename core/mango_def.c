/* mango_def.c — json index definitions: what a design document defines,
 * what POST _index asks for, the design document it leads to, and the
 * compiled form the writer and the planner use.
 *
 * The stored form is CouchDB's (mango_idx_view), so a design document
 * made here works on CouchDB and one replicated from CouchDB works here:
 *   {"language":"query","views":{NAME:{"map":{"fields":{"f":"asc",...},
 *    "partial_filter_selector":{...}},"reduce":"_count",
 *    "options":{"def":<the request's index object>}}}}
 * Generated names: CouchDB hashes its Erlang terms; any stable name will
 * do (PROTOCOL-2.md B.7), so here it is the SHA-1 of the view's map as
 * JSON, 40 hex digits, used for both the design document and the index.
 */
#include "mango_int.h"
#include "st_hex.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E400(err, name, ...) st_fail_name(err, ST_E_BAD_REQUEST, name, __VA_ARGS__)

void st_mango_index_clear(st_mango_index *ix)
{
    for (size_t i = 0; i < ix->n_fields; i++)
        free(ix->fields[i]);
    free(ix->fields);
    free(ix->desc);
    free(ix->ddoc);
    free(ix->name);
    free(ix->partial);
    free(ix->def);
    memset(ix, 0, sizeof *ix);
}

void st_mango_indexes_free(st_mango_index *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        st_mango_index_clear(&v[i]);
    free(v);
}

void st_mango_index_write(const st_mango_index *ix, st_jw *w)
{
    st_jw_obj_open(w);
    st_jw_key(w, "ddoc");
    st_jw_str(w, ix->ddoc);
    st_jw_key(w, "name");
    st_jw_str(w, ix->name);
    st_jw_key(w, "type");
    st_jw_str(w, "json");
    st_jw_key(w, "partitioned");
    st_jw_bool(w, false);
    st_jw_key(w, "def");
    st_jw_raw(w, ix->def, strlen(ix->def));
    st_jw_obj_close(w);
}

void st_mango_all_docs_write(st_jw *w)
{
    st_jw_obj_open(w);
    st_jw_key(w, "ddoc");
    st_jw_null(w);
    st_jw_key(w, "name");
    st_jw_str(w, "_all_docs");
    st_jw_key(w, "type");
    st_jw_str(w, "special");
    st_jw_key(w, "def");
    st_jw_raw(w, "{\"fields\":[{\"_id\":\"asc\"}]}", 26);
    st_jw_obj_close(w);
}

/* ---- from a map object ------------------------------------------------------ */

static char *jw_to_string(st_buf *b, st_jw *w)
{
    st_status st = st_jw_status(w);
    st_jw_free(w);
    if (st != ST_OK) {
        st_buf_free(b);
        return NULL;
    }
    char *s = st_buf_take(b, NULL);
    return s;
}

/* Fill d's fields, partial and def from a view's map object (CouchDB's
 * def_to_json: fields as [{f:dir}], an empty partial filter left out,
 * anything else kept). */
static st_status from_map(const st_json *map, st_mango_index *d, st_error *err)
{
    const st_json *fields = st_json_get(map, "fields");
    const st_json *pfs = st_json_get(map, "partial_filter_selector");
    if (!fields || fields->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "index fields must be an object");
    if (pfs && pfs->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "partial_filter_selector must be an object");
    d->fields = calloc(fields->len ? fields->len : 1, sizeof *d->fields);
    d->desc = calloc(fields->len ? fields->len : 1, sizeof *d->desc);
    if (!d->fields || !d->desc)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; i < fields->len; i++) {
        const st_json_member *m = &fields->u.members[i];
        if (m->value.type != ST_JSON_STRING ||
            (strcmp(m->value.u.str, "asc") != 0 && strcmp(m->value.u.str, "desc") != 0))
            return st_fail(err, ST_E_BAD_REQUEST, "index directions are asc or desc");
        if (!(d->fields[i] = strdup(m->key)))
            return st_fail(err, ST_E_NOMEM, "out of memory");
        d->desc[i] = m->value.u.str[0] == 'd';
        d->n_fields = i + 1;
    }
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (pfs && pfs->len > 0) {
        if (st_jw_init(&w, &b) != ST_OK)
            return st_fail(err, ST_E_NOMEM, "out of memory");
        st_jw_value(&w, pfs);
        if (!(d->partial = jw_to_string(&b, &w)))
            return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    if (st_jw_init(&w, &b) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_jw_obj_open(&w);
    for (size_t i = 0; i < map->len; i++) {
        const st_json_member *m = &map->u.members[i];
        if (strcmp(m->key, "fields") == 0) {
            st_jw_key(&w, "fields");
            st_jw_arr_open(&w);
            for (size_t k = 0; k < fields->len; k++) {
                st_jw_obj_open(&w);
                st_jw_key(&w, fields->u.members[k].key);
                st_jw_str(&w, d->desc[k] ? "desc" : "asc");
                st_jw_obj_close(&w);
            }
            st_jw_arr_close(&w);
        } else if (strcmp(m->key, "partial_filter_selector") != 0 || m->value.len > 0) {
            st_jw_keyn(&w, m->key, m->key_len);
            st_jw_value(&w, &m->value);
        }
    }
    st_jw_obj_close(&w);
    if (!(d->def = jw_to_string(&b, &w)))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    return ST_OK;
}

st_status st_mango_ddoc_indexes(const char *ddoc_id, const st_json *body,
                                st_mango_index **out, size_t *out_n, st_error *err)
{
    *out = NULL;
    *out_n = 0;
    const char *lang = st_json_get_str(body, "language");
    const st_json *views = st_json_get(body, "views");
    if (!lang || strcmp(lang, "query") != 0 || !views || views->type != ST_JSON_OBJECT)
        return ST_OK;
    st_mango_index *v = calloc(views->len ? views->len : 1, sizeof *v);
    if (!v)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < views->len; i++) {
        const st_json_member *m = &views->u.members[i];
        const st_json *map = st_json_get(&m->value, "map");
        const st_json *opts = st_json_get(&m->value, "options");
        if (m->value.type != ST_JSON_OBJECT || !map || map->type != ST_JSON_OBJECT || !opts ||
            opts->type != ST_JSON_OBJECT)
            continue; /* not an index (CouchDB logs and skips it) */
        st_mango_index *d = &v[n];
        st_error e;
        st_status st = from_map(map, d, &e);
        if (st == ST_OK && (!(d->ddoc = strdup(ddoc_id)) || !(d->name = strdup(m->key))))
            st = st_fail(&e, ST_E_NOMEM, "out of memory");
        if (st == ST_E_NOMEM) {
            st_mango_indexes_free(v, n + 1);
            return st_fail(err, st, "out of memory");
        }
        if (st != ST_OK) {
            st_mango_index_clear(d);
            continue;
        }
        n++;
    }
    *out = v;
    *out_n = n;
    return ST_OK;
}

/* ---- compiled ----------------------------------------------------------------- */

void st_mango_idx_clear(mango_idx *x)
{
    for (size_t i = 0; x->paths && i < x->n_paths; i++)
        st_mango_path_free(&x->paths[i]);
    free(x->paths);
    st_selector_free(x->partial);
    st_mango_index_clear(&x->def);
    memset(x, 0, sizeof *x);
}

st_status st_mango_idx_from(st_mango_index *d, mango_idx *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    out->def = *d;
    memset(d, 0, sizeof *d);
    st_status st = ST_OK;
    out->paths = calloc(out->def.n_fields ? out->def.n_fields : 1, sizeof *out->paths);
    if (!out->paths)
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    if (out->paths)
        out->n_paths = out->def.n_fields;
    for (size_t i = 0; st == ST_OK && i < out->def.n_fields; i++)
        st = st_mango_path_parse(out->def.fields[i], &out->paths[i], err);
    if (st == ST_OK && out->def.partial) {
        st_json_doc *p = NULL;
        st = st_json_parse(out->def.partial, strlen(out->def.partial), NULL, &p, err);
        if (st == ST_OK)
            st = st_selector_compile(st_json_doc_root(p), &out->partial, err);
        st_json_doc_free(p);
        out->needs_rev = st == ST_OK && st_mango_uses_rev(out->partial);
    }
    for (size_t i = 0; st == ST_OK && i < out->n_paths; i++)
        out->needs_rev = out->needs_rev || (out->paths[i].segs[0].len == 4 &&
                                            memcmp(out->paths[i].segs[0].key, "_rev", 4) == 0);
    if (st != ST_OK)
        st_mango_idx_clear(out);
    return st;
}

st_status st_mango_idx_load(int64_t ix, const char *ddoc, const char *name, const char *def,
                            mango_idx *out, st_error *err)
{
    st_mango_index d = {0};
    st_json_doc *j = NULL;
    memset(out, 0, sizeof *out);
    st_status st = st_json_parse(def, strlen(def), NULL, &j, err);
    const st_json *root = st ? NULL : st_json_doc_root(j);
    const st_json *fields = root ? st_json_get(root, "fields") : NULL;
    if (st == ST_OK && (!fields || fields->type != ST_JSON_ARRAY))
        st = st_fail(err, ST_E_IO, "corrupt index definition %s", name);
    /* The stored def has fields as [{f:dir}]: back to the map form. */
    if (st == ST_OK) {
        d.fields = calloc(fields->len ? fields->len : 1, sizeof *d.fields);
        d.desc = calloc(fields->len ? fields->len : 1, sizeof *d.desc);
        if (!d.fields || !d.desc || !(d.ddoc = strdup(ddoc)) || !(d.name = strdup(name)) ||
            !(d.def = strdup(def)))
            st = st_fail(err, ST_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == ST_OK && i < fields->len; i++) {
        const st_json *f = &fields->u.items[i];
        if (f->type != ST_JSON_OBJECT || f->len != 1 || f->u.members[0].value.type != ST_JSON_STRING) {
            st = st_fail(err, ST_E_IO, "corrupt index definition %s", name);
            break;
        }
        if (!(d.fields[i] = strdup(f->u.members[0].key)))
            st = st_fail(err, ST_E_NOMEM, "out of memory");
        d.desc[i] = strcmp(f->u.members[0].value.u.str, "desc") == 0;
        d.n_fields = i + 1;
    }
    const st_json *pfs = root ? st_json_get(root, "partial_filter_selector") : NULL;
    if (st == ST_OK && pfs) {
        st_buf b = ST_BUF_INIT;
        st_jw w;
        if (st_jw_init(&w, &b) != ST_OK) {
            st = st_fail(err, ST_E_NOMEM, "out of memory");
        } else {
            st_jw_value(&w, pfs);
            if (!(d.partial = jw_to_string(&b, &w)))
                st = st_fail(err, ST_E_NOMEM, "out of memory");
        }
    }
    st_json_doc_free(j);
    if (st != ST_OK) {
        st_mango_index_clear(&d);
        return st;
    }
    st = st_mango_idx_from(&d, out, err);
    out->ix = ix;
    return st;
}

st_status st_mango_idx_entry(const mango_idx *x, const st_json *doc, st_buf *key, bool *out_has)
{
    *out_has = false;
    if (x->partial) {
        bool m = false;
        st_status st = st_selector_match(x->partial, doc, &m);
        if (st != ST_OK || !m)
            return st;
    }
    return st_mango_key(doc, x->paths, x->def.n_fields, key, out_has);
}

/* ---- POST _index ------------------------------------------------------------- */

void st_mango_index_req_clear(st_mango_index_req *rq)
{
    free(rq->ddoc);
    free(rq->name);
    st_json_doc_free(rq->view);
    memset(rq, 0, sizeof *rq);
}

static bool is_pos_int(const st_json *v)
{
    uint64_t u;
    if (v->type != ST_JSON_NUMBER)
        return false;
    if (st_json_uint64(v, &u))
        return u > 0;
    /* Past 64 bits but still an integer: Erlang's integers have no end. */
    for (size_t i = 0; i < v->len; i++)
        if (v->u.str[i] < '0' || v->u.str[i] > '9')
            return false;
    return true;
}

/* The sort spec (mango_sort:new) of an index: fields into w as an object
 * {"f":"asc",...}. */
static st_status sort_object(const st_json *fields, st_jw *w, st_error *err)
{
    if (fields->type != ST_JSON_ARRAY)
        return E400(err, "invalid_sort_json", "Sort must be an array of sort specs.");
    int dir = 0; /* 1 asc, 2 desc */
    for (size_t i = 0; i < fields->len; i++) {
        const st_json *f = &fields->u.items[i];
        int d;
        if (f->type == ST_JSON_STRING && f->len > 0)
            d = 1;
        else if (f->type == ST_JSON_OBJECT && f->len == 1 &&
                 f->u.members[0].value.type == ST_JSON_STRING &&
                 (strcmp(f->u.members[0].value.u.str, "asc") == 0 ||
                  strcmp(f->u.members[0].value.u.str, "desc") == 0))
            d = f->u.members[0].value.u.str[0] == 'a' ? 1 : 2;
        else
            return E400(err, "invalid_sort_field", "Invalid sort field.");
        if (dir && d != dir)
            return E400(err, "unsupported_mixed_sort",
                        "Sorts currently only support a single direction for all fields.");
        dir = d;
    }
    st_jw_obj_open(w);
    for (size_t i = 0; i < fields->len; i++) {
        const st_json *f = &fields->u.items[i];
        if (f->type == ST_JSON_STRING) {
            st_jw_key(w, f->u.str);
            st_jw_str(w, "asc");
        } else {
            st_jw_keyn(w, f->u.members[0].key, f->u.members[0].key_len);
            st_jw_str(w, f->u.members[0].value.u.str);
        }
    }
    st_jw_obj_close(w);
    return ST_OK;
}

/* The map object for an index object (mango_idx_view:validate_new). */
static st_status map_of(const st_json *index, st_jw *w, st_error *err)
{
    if (index->type != ST_JSON_OBJECT)
        return st_fail_name(err, ST_E_BAD_REQUEST, "invalid_index",
                            "JSON indexes must be an object.");
    const st_json *fields = NULL, *pfs = NULL;
    for (size_t i = 0; i < index->len; i++) {
        const st_json_member *m = &index->u.members[i];
        if (strcmp(m->key, "fields") == 0)
            fields = &m->value;
        else if (strcmp(m->key, "partial_filter_selector") == 0)
            pfs = &m->value;
    }
    if (!fields)
        return E400(err, "missing_required_key", "Missing required key: fields");
    st_jw_obj_open(w);
    st_jw_key(w, "fields");
    st_status st = sort_object(fields, w, err);
    if (st != ST_OK)
        return st;
    st_jw_key(w, "partial_filter_selector");
    if (pfs) {
        st_selector *s = NULL;
        if (pfs->type != ST_JSON_OBJECT)
            return st_fail(err, ST_E_INVALID_SELECTOR_JSON, "Selector must be a JSON object");
        if ((st = st_selector_compile(pfs, &s, err)) != ST_OK)
            return st;
        st_selector_write(s, w);
        st_selector_free(s);
    } else {
        st_jw_obj_open(w);
        st_jw_obj_close(w);
    }
    st_jw_obj_close(w);
    for (size_t i = 0; i < index->len; i++) {
        const char *k = index->u.members[i].key;
        if (strcmp(k, "fields") != 0 && strcmp(k, "partial_filter_selector") != 0)
            return E400(err, "invalid_key", "Invalid key %s for this request.", k);
    }
    return ST_OK;
}

static st_status gen_name(const char *map, size_t n, char out[41], st_error *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    st_buf b = ST_BUF_INIT;
    st_status st = st_buf_adds(&b, "json:");
    if (st == ST_OK)
        st = st_buf_add(&b, map, n);
    if (st == ST_OK && EVP_Digest(b.data, b.len, md, &len, EVP_sha1(), NULL) != 1)
        st = ST_E_NOMEM;
    st_buf_free(&b);
    if (st != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_hex_encode(md, 20, out);
    return ST_OK;
}

st_status st_mango_index_req_parse(const st_json *body, st_mango_index_req *out, st_error *err)
{
    static const char *const known[] = {"index", "type", "name", "ddoc", "w", "partitioned"};
    memset(out, 0, sizeof *out);
    if (body->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "Request body must be a JSON object");
    const st_json *index = st_json_get(body, "index");
    const st_json *type = st_json_get(body, "type");
    const st_json *name = st_json_get(body, "name");
    const st_json *ddoc = st_json_get(body, "ddoc");
    const st_json *w = st_json_get(body, "w");
    const st_json *part = st_json_get(body, "partitioned");
    /* In CouchDB's order (mango_opts:validate_idx_create, then mango_idx:new). */
    if (!index)
        return E400(err, "missing_required_key", "Missing required key: index");
    if (type && type->type != ST_JSON_STRING)
        return E400(err, "invalid_string", "Invalid string for type.");
    if (name && name->type != ST_JSON_STRING)
        return E400(err, "invalid_string", "Invalid string for name.");
    if (ddoc && ddoc->type != ST_JSON_STRING)
        return E400(err, "invalid_string", "Invalid string for ddoc.");
    if (w && !is_pos_int(w))
        return E400(err, "invalid_pos_integer", "w is not an integer greater than zero");
    if (part && part->type != ST_JSON_TRUE && part->type != ST_JSON_FALSE)
        return E400(err, "invalid_boolean", "Invalid boolean value for partitioned.");
    for (size_t i = 0; i < body->len; i++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok = ok || strcmp(body->u.members[i].key, known[k]) == 0;
        if (!ok)
            return E400(err, "invalid_key", "Invalid key %s for this request.",
                        body->u.members[i].key);
    }
    if (type && (strcmp(type->u.str, "text") == 0 || strcmp(type->u.str, "nouveau") == 0))
        return st_fail_name(err, ST_E_BUSY, "required index service unavailable", "%s",
                            type->u.str);
    if (type && strcmp(type->u.str, "json") != 0)
        return st_fail_name(err, ST_E_BAD_REQUEST, "invalid_index", "Invalid type for index: %s",
                            type->u.str);
    if (part && part->type == ST_JSON_TRUE)
        return st_fail_name(err, ST_E_BAD_REQUEST, "invalid_partitioned_option",
                            "Partitioned indexes need a partitioned database.");
    st_buf vb = ST_BUF_INIT;
    st_jw jw;
    if (st_jw_init(&jw, &vb) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    /* The view: {"map":...,"reduce":"_count","options":{"def":index}}; the
     * map's text names a generated index. */
    st_jw_obj_open(&jw);
    st_jw_key(&jw, "map");
    size_t map_at = vb.len;
    st_status st = map_of(index, &jw, err);
    size_t map_end = vb.len;
    st_jw_key(&jw, "reduce");
    st_jw_str(&jw, "_count");
    st_jw_key(&jw, "options");
    st_jw_obj_open(&jw);
    st_jw_key(&jw, "def");
    st_jw_value(&jw, index);
    st_jw_obj_close(&jw);
    st_jw_obj_close(&jw);
    if (st == ST_OK && st_jw_status(&jw) != ST_OK)
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    st_jw_free(&jw);
    char gen[41] = "";
    if (st == ST_OK && (!name || !ddoc)) {
        /* After the key writer's separator: the map starts at '{'. */
        while (map_at < map_end && vb.data[map_at] != '{')
            map_at++;
        st = gen_name(vb.data + map_at, map_end - map_at, gen, err);
    }
    if (st == ST_OK)
        st = st_json_parse(vb.data, vb.len, NULL, &out->view, err);
    st_buf_free(&vb);
    if (st != ST_OK) {
        st_mango_index_req_clear(out);
        return st;
    }
    const char *d = ddoc ? ddoc->u.str : gen;
    bool prefixed = strncmp(d, "_design/", 8) == 0;
    size_t dl = strlen(d) + (prefixed ? 0 : 8) + 1;
    out->ddoc = malloc(dl);
    out->name = strdup(name ? name->u.str : gen);
    if (!out->ddoc || !out->name) {
        st_mango_index_req_clear(out);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    snprintf(out->ddoc, dl, "%s%s", prefixed ? "" : "_design/", d);
    return ST_OK;
}

/* ---- design documents ---------------------------------------------------------- */

static bool special_key(const char *k)
{
    return strcmp(k, "_id") == 0 || strcmp(k, "_rev") == 0;
}

static bool json_equal(const st_json *a, const st_json *b)
{
    st_buf x = ST_BUF_INIT, y = ST_BUF_INIT;
    st_jw wa, wb;
    bool eq = false;
    if (st_jw_init(&wa, &x) == ST_OK) {
        st_jw_value(&wa, a);
        if (st_jw_init(&wb, &y) == ST_OK) {
            st_jw_value(&wb, b);
            eq = st_jw_status(&wa) == ST_OK && st_jw_status(&wb) == ST_OK && x.len == y.len &&
                 memcmp(x.data, y.data, x.len) == 0;
            st_jw_free(&wb);
        }
        st_jw_free(&wa);
    }
    st_buf_free(&x);
    st_buf_free(&y);
    return eq;
}

static st_status check_lang(const st_json *cur, st_error *err)
{
    const st_json *lang = st_json_get(cur, "language");
    if (lang && lang->type == ST_JSON_STRING && strcmp(lang->u.str, "query") == 0)
        return ST_OK;
    return E400(err, "invalid_ddoc_lang", "Existing design doc has an invalid language: %s",
                lang && lang->type == ST_JSON_STRING ? lang->u.str : "undefined");
}

static st_status finish(st_jw *w, st_buf *out, st_error *err)
{
    st_status st = st_jw_status(w);
    st_jw_free(w);
    if (st != ST_OK) {
        st_buf_free(out);
        return st_fail(err, st, "out of memory");
    }
    return ST_OK;
}

st_status st_mango_ddoc_add(const st_mango_index_req *rq, const st_json *cur, st_buf *out,
                            bool *out_same, st_error *err)
{
    const st_json *view = st_json_doc_root(rq->view);
    *out_same = false;
    st_buf_reset(out);
    if (cur) {
        st_status st = check_lang(cur, err);
        if (st != ST_OK)
            return st;
        const st_json *views = st_json_get(cur, "views");
        const st_json *old = views ? st_json_get(views, rq->name) : NULL;
        if (old && json_equal(old, view)) {
            *out_same = true;
            return ST_OK;
        }
    }
    st_jw w;
    if (st_jw_init(&w, out) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_jw_obj_open(&w);
    bool views_done = false;
    if (!cur) {
        st_jw_key(&w, "language");
        st_jw_str(&w, "query");
    }
    for (size_t i = 0; cur && i < cur->len; i++) {
        const st_json_member *m = &cur->u.members[i];
        if (special_key(m->key))
            continue;
        st_jw_keyn(&w, m->key, m->key_len);
        if (strcmp(m->key, "views") != 0) {
            st_jw_value(&w, &m->value);
            continue;
        }
        /* The index replaces a view of its name in place, else goes last. */
        views_done = true;
        bool placed = false;
        st_jw_obj_open(&w);
        for (size_t k = 0; m->value.type == ST_JSON_OBJECT && k < m->value.len; k++) {
            const st_json_member *v = &m->value.u.members[k];
            st_jw_keyn(&w, v->key, v->key_len);
            if (strcmp(v->key, rq->name) == 0) {
                st_jw_value(&w, view);
                placed = true;
            } else {
                st_jw_value(&w, &v->value);
            }
        }
        if (!placed) {
            st_jw_key(&w, rq->name);
            st_jw_value(&w, view);
        }
        st_jw_obj_close(&w);
    }
    if (!views_done) {
        st_jw_key(&w, "views");
        st_jw_obj_open(&w);
        st_jw_key(&w, rq->name);
        st_jw_value(&w, view);
        st_jw_obj_close(&w);
    }
    st_jw_obj_close(&w);
    return finish(&w, out, err);
}

st_status st_mango_ddoc_remove(const st_json *cur, const char *name, st_buf *out,
                               bool *out_delete, st_error *err)
{
    st_buf_reset(out);
    *out_delete = false;
    const st_json *views = st_json_get(cur, "views");
    size_t left = 0, others = 0;
    for (size_t k = 0; views && views->type == ST_JSON_OBJECT && k < views->len; k++)
        left += strcmp(views->u.members[k].key, name) != 0;
    for (size_t i = 0; i < cur->len; i++) {
        const char *k = cur->u.members[i].key;
        others += !special_key(k) && strcmp(k, "views") != 0 && strcmp(k, "language") != 0;
    }
    const char *lang = st_json_get_str(cur, "language");
    if (left == 0 && others == 0 && lang && strcmp(lang, "query") == 0) {
        *out_delete = true;
        return ST_OK;
    }
    st_jw w;
    if (st_jw_init(&w, out) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_jw_obj_open(&w);
    for (size_t i = 0; i < cur->len; i++) {
        const st_json_member *m = &cur->u.members[i];
        if (special_key(m->key) || (strcmp(m->key, "views") == 0 && left == 0))
            continue;
        st_jw_keyn(&w, m->key, m->key_len);
        if (strcmp(m->key, "views") != 0 || m->value.type != ST_JSON_OBJECT) {
            st_jw_value(&w, &m->value);
            continue;
        }
        st_jw_obj_open(&w);
        for (size_t k = 0; k < m->value.len; k++) {
            const st_json_member *v = &m->value.u.members[k];
            if (strcmp(v->key, name) == 0)
                continue;
            st_jw_keyn(&w, v->key, v->key_len);
            st_jw_value(&w, &v->value);
        }
        st_jw_obj_close(&w);
    }
    st_jw_obj_close(&w);
    return finish(&w, out, err);
}
