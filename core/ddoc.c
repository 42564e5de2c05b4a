/* ddoc.c — design documents: parsing, the index signature, the checks at
 * save (see st_ddoc.h).
 *
 * Why the signature hashes text rather than parsed functions: two sources
 * that differ only in white space are different functions to CouchDB too
 * (it hashes the binaries), and the hash must not depend on anything but
 * the document, so an index file found on disk is the one its design
 * document describes.
 */
#include "st_ddoc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "st_buf.h"
#include "st_hex.h"
#include "st_jw.h"

struct st_ddoc {
    atomic_int refs;
    st_json_doc *doc;           /* owns every string below but the ones in buf */
    char *json;                 /* the text as given, NUL-terminated */
    size_t json_len;
    const char *id, *rev, *language;
    char sig[33];
    st_ddoc_view *views;
    size_t nviews;
    char *lib;                  /* views.lib as JSON, or NULL */
    bool include_design, local_seq;
    const char *vdu;
};

bool st_ddoc_builtin_reduce(const char *src, st_reduce_builtin *out)
{
    static const struct {
        const char *name;
        st_reduce_builtin fn;
    } names[] = {
        {"_approx_count_distinct", ST_REDUCE_APPROX_COUNT_DISTINCT},
        {"_count", ST_REDUCE_COUNT},
        {"_stats", ST_REDUCE_STATS},
        {"_sum", ST_REDUCE_SUM},
    };
    for (size_t i = 0; src && i < sizeof names / sizeof names[0]; i++) {
        if (strncmp(src, names[i].name, strlen(names[i].name)) == 0) {
            if (out)
                *out = names[i].fn;
            return true;
        }
    }
    return false;
}

/* ---- parsing ------------------------------------------------------------ */

static int view_cmp(const void *a, const void *b)
{
    return strcmp(((const st_ddoc_view *)a)->name, ((const st_ddoc_view *)b)->name);
}

static st_status to_json(const st_json *v, char **out, st_error *err)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status st = st_jw_init(&w, &b);
    if (st == ST_OK) {
        st_jw_value(&w, v);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    if (st != ST_OK) {
        st_buf_free(&b);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    *out = st_buf_take(&b, NULL);
    return *out ? ST_OK : st_fail(err, ST_E_NOMEM, "out of memory");
}

static st_status take_views(st_ddoc *d, const st_json *views, st_error *err)
{
    if (!views || views->type != ST_JSON_OBJECT)
        return ST_OK;
    d->views = calloc(views->len ? views->len : 1, sizeof *d->views);
    if (!d->views)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; i < views->len; i++) {
        const st_json_member *m = &views->u.members[i];
        if (strcmp(m->key, "lib") == 0) {
            st_status st = to_json(&m->value, &d->lib, err);
            if (st != ST_OK)
                return st;
            continue;
        }
        const char *map = st_json_get_str(&m->value, "map");
        if (!map)
            continue; /* refused at save; an old stored one is ignored */
        st_ddoc_view *v = &d->views[d->nviews++];
        v->name = m->key;
        v->map = map;
        v->reduce = st_json_get_str(&m->value, "reduce");
        v->builtin = v->reduce && st_ddoc_builtin_reduce(v->reduce, &v->bfn);
        const char *coll = st_json_get_str(st_json_get(&m->value, "options"), "collation");
        v->collation = coll && strcmp(coll, "raw") == 0 ? ST_COLLATE_RAW : ST_COLLATE_ICU;
    }
    qsort(d->views, d->nviews, sizeof *d->views, view_cmp);
    return ST_OK;
}

/* md5 over length-prefixed fields: unambiguous whatever the text holds. */
static void sig_add(EVP_MD_CTX *md, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    unsigned char len[9];
    len[0] = s ? 1 : 0;
    for (int i = 0; i < 8; i++)
        len[1 + i] = (unsigned char)(n >> (8 * (7 - i)));
    EVP_DigestUpdate(md, len, sizeof len);
    if (n)
        EVP_DigestUpdate(md, s, n);
}

static st_status make_sig(st_ddoc *d, st_error *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    if (!md || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return st_fail(err, ST_E_NOMEM, "cannot hash the design document");
    }
    sig_add(md, "settee-view-1");
    sig_add(md, d->language);
    sig_add(md, d->include_design ? "include_design" : "");
    sig_add(md, d->local_seq ? "local_seq" : "");
    sig_add(md, d->lib);
    for (size_t i = 0; i < d->nviews; i++) {
        const st_ddoc_view *v = &d->views[i];
        sig_add(md, v->name);
        sig_add(md, v->map);
        sig_add(md, v->reduce);
        sig_add(md, v->collation == ST_COLLATE_RAW ? "raw" : "");
    }
    EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    st_hex_encode(h, 16, d->sig);
    return ST_OK;
}

static bool opt_true(const st_json *opts, const char *key)
{
    const st_json *v = st_json_get(opts, key);
    return v && v->type == ST_JSON_TRUE;
}

st_status st_ddoc_parse(const char *json, size_t n, st_ddoc **out, st_error *err)
{
    *out = NULL;
    st_ddoc *d = calloc(1, sizeof *d);
    if (!d)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    atomic_init(&d->refs, 1);
    st_status st = ST_OK;
    if (!(d->json = malloc(n + 1))) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(d->json, json, n);
    d->json[n] = '\0';
    d->json_len = n;
    if ((st = st_json_parse(json, n, NULL, &d->doc, err)) != ST_OK)
        goto fail;
    const st_json *root = st_json_doc_root(d->doc);
    if (root->type != ST_JSON_OBJECT) {
        st = st_fail(err, ST_E_BAD_REQUEST, "a design document must be an object");
        goto fail;
    }
    d->id = st_json_get_str(root, "_id");
    d->rev = st_json_get_str(root, "_rev");
    d->language = st_json_get_str(root, "language");
    if (!d->id)
        d->id = "";
    if (!d->rev)
        d->rev = "";
    if (!d->language)
        d->language = "javascript";
    const st_json *opts = st_json_get(root, "options");
    d->include_design = opt_true(opts, "include_design");
    d->local_seq = opt_true(opts, "local_seq");
    d->vdu = st_json_get_str(root, "validate_doc_update");
    if ((st = take_views(d, st_json_get(root, "views"), err)) != ST_OK ||
        (st = make_sig(d, err)) != ST_OK)
        goto fail;
    *out = d;
    return ST_OK;
fail:
    st_ddoc_release(d);
    return st;
}

st_ddoc *st_ddoc_ref(st_ddoc *d)
{
    if (d)
        atomic_fetch_add(&d->refs, 1);
    return d;
}

void st_ddoc_release(st_ddoc *d)
{
    if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
        return;
    st_json_doc_free(d->doc);
    free(d->json);
    free(d->views);
    free(d->lib);
    free(d);
}

const char *st_ddoc_id(const st_ddoc *d) { return d->id; }
const char *st_ddoc_rev(const st_ddoc *d) { return d->rev; }
const char *st_ddoc_language(const st_ddoc *d) { return d->language; }
const char *st_ddoc_sig(const st_ddoc *d) { return d->sig; }
const st_json *st_ddoc_root(const st_ddoc *d) { return st_json_doc_root(d->doc); }
size_t st_ddoc_nviews(const st_ddoc *d) { return d->nviews; }
const char *st_ddoc_lib(const st_ddoc *d) { return d->lib; }
bool st_ddoc_include_design(const st_ddoc *d) { return d->include_design; }
bool st_ddoc_local_seq(const st_ddoc *d) { return d->local_seq; }
const char *st_ddoc_vdu(const st_ddoc *d) { return d->vdu; }

const char *st_ddoc_json(const st_ddoc *d, size_t *len)
{
    if (len)
        *len = d->json_len;
    return d->json;
}

const st_ddoc_view *st_ddoc_view_at(const st_ddoc *d, size_t i)
{
    return i < d->nviews ? &d->views[i] : NULL;
}

int st_ddoc_view_find(const st_ddoc *d, const char *name)
{
    for (size_t i = 0; i < d->nviews; i++)
        if (strcmp(d->views[i].name, name) == 0)
            return (int)i;
    return -1;
}

const st_json *st_ddoc_path(const st_ddoc *d, const char *const *path, size_t n, st_error *err)
{
    const st_json *v = st_ddoc_root(d);
    for (size_t i = 0; i < n; i++) {
        v = v->type == ST_JSON_OBJECT ? st_json_get(v, path[i]) : NULL;
        if (!v) {
            st_fail(err, ST_E_NOT_FOUND, "missing json key: %s", path[i]);
            return NULL;
        }
    }
    return v;
}

/* ---- the checks at save ------------------------------------------------- */

/* CouchDB's error name for these (a 400; st_error.name carries it). */
#define INVALID "invalid_design_doc"

enum { T_OBJECT = 1, T_STRING = 2, T_BOOLEAN = 4, T_ARRAY = 8 };

static bool has_type(const st_json *v, unsigned types)
{
    switch (v->type) {
    case ST_JSON_OBJECT:
        return types & T_OBJECT;
    case ST_JSON_STRING:
        return types & T_STRING;
    case ST_JSON_TRUE:
    case ST_JSON_FALSE:
        return types & T_BOOLEAN;
    case ST_JSON_ARRAY:
        return types & T_ARRAY;
    default:
        return false;
    }
}

static const char *type_names(unsigned types)
{
    switch (types) {
    case T_OBJECT:
        return "object";
    case T_STRING:
        return "string";
    case T_BOOLEAN:
        return "boolean";
    case T_OBJECT | T_STRING:
        return "object or string";
    case T_STRING | T_ARRAY:
        return "string or array";
    default:
        return "?";
    }
}

static st_status bad_type(const char *path, unsigned types, st_error *err)
{
    return st_fail_name(err, ST_E_BAD_REQUEST, INVALID, "`%s` field must have %s type", path,
                   type_names(types));
}

/* doc.<top> has types (when present). */
static st_status check_top(const st_json *doc, const char *top, unsigned types, st_error *err)
{
    const st_json *v = st_json_get(doc, top);
    return v && !has_type(v, types) ? bad_type(top, types, err) : ST_OK;
}

/* doc.<top> is an object whose members all have types. */
static st_status check_members(const st_json *doc, const char *top, unsigned types, st_error *err)
{
    const st_json *v = st_json_get(doc, top);
    if (!v)
        return ST_OK;
    if (!has_type(v, T_OBJECT))
        return bad_type(top, T_OBJECT, err);
    for (size_t i = 0; i < v->len; i++) {
        if (!has_type(&v->u.members[i].value, types)) {
            char path[ST_REASON_MAX];
            snprintf(path, sizeof path, "%s.%s", top, v->u.members[i].key);
            return bad_type(path, types, err);
        }
    }
    return ST_OK;
}

static st_status check_options(const st_json *doc, st_error *err)
{
    static const char *const bools[] = {"include_design", "local_seq", "partitioned"};
    st_status st = check_top(doc, "options", T_OBJECT, err);
    const st_json *o = st_json_get(doc, "options");
    for (size_t i = 0; st == ST_OK && o && i < sizeof bools / sizeof bools[0]; i++) {
        const st_json *v = st_json_get(o, bools[i]);
        if (v && !has_type(v, T_BOOLEAN)) {
            char path[64];
            snprintf(path, sizeof path, "options.%s", bools[i]);
            st = bad_type(path, T_BOOLEAN, err);
        }
    }
    return st;
}

/* views: an object; lib an object; every view an object with a string
 * map and reduce (in CouchDB's order: all types first, then the maps).
 * Mango's design documents (language "query") hold their index
 * definitions as an object map, which CouchDB's check expects there. */
static st_status check_views(const st_json *doc, st_error *err)
{
    const st_json *views = st_json_get(doc, "views");
    const char *lang = st_json_get_str(doc, "language");
    const unsigned map_type = lang && strcmp(lang, "query") == 0 ? T_OBJECT : T_STRING;
    char path[ST_REASON_MAX];
    if (!views)
        return ST_OK;
    if (!has_type(views, T_OBJECT))
        return bad_type("views", T_OBJECT, err);
    const st_json *lib = st_json_get(views, "lib");
    if (lib && !has_type(lib, T_OBJECT))
        return bad_type("views.lib", T_OBJECT, err);
    static const char *const fields[] = {"map", "reduce"};
    for (size_t f = 0; f < 2; f++) {
        for (size_t i = 0; i < views->len; i++) {
            const st_json_member *m = &views->u.members[i];
            if (!has_type(&m->value, T_OBJECT)) {
                snprintf(path, sizeof path, "views.%s", m->key);
                return bad_type(path, T_OBJECT, err);
            }
            const st_json *v = st_json_get(&m->value, fields[f]);
            const unsigned type = f == 0 ? map_type : T_STRING;
            if (v && !has_type(v, type)) {
                snprintf(path, sizeof path, "views.%s.%s", m->key, fields[f]);
                return bad_type(path, type, err);
            }
        }
    }
    for (size_t i = 0; i < views->len; i++) {
        const st_json_member *m = &views->u.members[i];
        if (strcmp(m->key, "lib") != 0 && !st_json_get(&m->value, "map"))
            return st_fail_name(err, ST_E_BAD_REQUEST, INVALID, "View `%s` must contain map function",
                                m->key);
    }
    for (size_t i = 0; i < views->len; i++) {
        const char *red = st_json_get_str(&views->u.members[i].value, "reduce");
        if (red && red[0] == '_' && !st_ddoc_builtin_reduce(red, NULL))
            return st_fail_name(err, ST_E_BAD_REQUEST, INVALID,
                                "`%s` is not a supported reduce function.", red);
    }
    return ST_OK;
}

st_status st_ddoc_check(const st_json *doc, st_error *err)
{
    st_status st;
    if (!doc || doc->type != ST_JSON_OBJECT)
        return st_fail_name(err, ST_E_BAD_REQUEST, INVALID, "a design document must be an object");
    if ((st = check_members(doc, "filters", T_OBJECT | T_STRING, err)) != ST_OK ||
        (st = check_top(doc, "language", T_STRING, err)) != ST_OK ||
        (st = check_members(doc, "lists", T_OBJECT | T_STRING, err)) != ST_OK ||
        (st = check_options(doc, err)) != ST_OK ||
        (st = check_top(doc, "rewrites", T_STRING | T_ARRAY, err)) != ST_OK ||
        (st = check_members(doc, "shows", T_OBJECT | T_STRING, err)) != ST_OK ||
        (st = check_members(doc, "updates", T_OBJECT | T_STRING, err)) != ST_OK ||
        (st = check_top(doc, "validate_doc_update", T_STRING, err)) != ST_OK)
        return st;
    return check_views(doc, err);
}
