/* mango_query.c — a _find (or _explain) request body, validated as
 * CouchDB's mango_opts:validate_find does: the members in its order
 * (selector first, so a body without one says so whatever else is wrong),
 * then any member it does not know is invalid_key.  Reasons name the
 * offending value as JSON where CouchDB prints an Erlang term.
 */
#include "mango_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E400(err, name, ...) st_fail_name(err, ST_E_BAD_REQUEST, name, __VA_ARGS__)

/* v as JSON text for a reason, cut to fit. */
static const char *show(const st_json *v, char *buf, size_t cap)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    buf[0] = '\0';
    if (st_jw_init(&w, &b) == ST_OK) {
        st_jw_value(&w, v);
        if (st_jw_status(&w) == ST_OK && b.data)
            snprintf(buf, cap, "%s", b.data);
        st_jw_free(&w);
    }
    st_buf_free(&b);
    return buf;
}

void st_mango_query_free(st_mango_query *q)
{
    if (!q)
        return;
    st_selector_free(q->sel);
    free(q->use[0]);
    free(q->use[1]);
    free(q->bookmark);
    for (size_t i = 0; i < q->n_sort; i++) {
        free(q->sort[i]);
        if (q->sort_paths)
            st_mango_path_free(&q->sort_paths[i]);
    }
    free(q->sort);
    free(q->sort_paths);
    for (size_t i = 0; i < q->n_fields; i++) {
        free(q->fields[i]);
        if (q->field_paths)
            st_mango_path_free(&q->field_paths[i]);
    }
    free(q->fields);
    free(q->field_paths);
    free(q);
}

const st_selector *st_mango_query_selector(const st_mango_query *q) { return q->sel; }
bool st_mango_query_stats(const st_mango_query *q) { return q->stats; }

/* Non-negative integers as Erlang has them: any length (saturated here). */
static bool non_neg(const st_json *v, uint64_t *out)
{
    if (v->type != ST_JSON_NUMBER)
        return false;
    if (st_json_uint64(v, out))
        return true;
    for (size_t i = 0; i < v->len; i++)
        if (v->u.str[i] < '0' || v->u.str[i] > '9')
            return false;
    *out = UINT64_MAX;
    return true;
}

static st_status use_index(st_mango_query *q, const st_json *v, st_error *err)
{
    char shown[160];
    const char *parts[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    size_t n = 0;
    if (v->type == ST_JSON_NULL || (v->type == ST_JSON_ARRAY && v->len == 0))
        return ST_OK;
    if (v->type == ST_JSON_STRING) {
        /* One split at the first '/' (binary:split), "_design/" dropped. */
        const char *s = v->u.str, *slash = strchr(s, '/');
        parts[0] = s;
        lens[0] = slash ? (size_t)(slash - s) : v->len;
        n = 1;
        if (slash) {
            parts[1] = slash + 1;
            lens[1] = v->len - lens[0] - 1;
            n = 2;
            if (lens[0] == 7 && memcmp(s, "_design", 7) == 0) {
                parts[0] = parts[1];
                lens[0] = lens[1];
                n = 1;
            }
        }
    } else if (v->type == ST_JSON_ARRAY && v->len <= 2 &&
               v->u.items[0].type == ST_JSON_STRING &&
               (v->len == 1 || v->u.items[1].type == ST_JSON_STRING)) {
        for (size_t i = 0; i < v->len; i++) {
            parts[i] = v->u.items[i].u.str;
            lens[i] = v->u.items[i].len;
        }
        n = v->len;
    } else {
        return E400(err, "invalid_index_name", "Invalid index name: %s",
                    show(v, shown, sizeof shown));
    }
    for (size_t i = 0; i < n; i++)
        if (!(q->use[i] = strndup(parts[i], lens[i])))
            return st_fail(err, ST_E_NOMEM, "out of memory");
    q->n_use = n;
    return ST_OK;
}

/* mango_sort:new. */
static st_status sort_of(st_mango_query *q, const st_json *v, st_error *err)
{
    char shown[160];
    if (v->type != ST_JSON_ARRAY)
        return E400(err, "invalid_sort_json", "Sort must be an array of sort specs, not: %s",
                    show(v, shown, sizeof shown));
    q->sort = calloc(v->len ? v->len : 1, sizeof *q->sort);
    q->sort_paths = calloc(v->len ? v->len : 1, sizeof *q->sort_paths);
    if (!q->sort || !q->sort_paths)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    int dir = 0;
    for (size_t i = 0; i < v->len; i++) {
        const st_json *f = &v->u.items[i];
        const char *name = NULL;
        int d = 1;
        if (f->type == ST_JSON_STRING && f->len > 0) {
            name = f->u.str;
        } else if (f->type == ST_JSON_OBJECT && f->len == 1 &&
                   f->u.members[0].value.type == ST_JSON_STRING &&
                   (strcmp(f->u.members[0].value.u.str, "asc") == 0 ||
                    strcmp(f->u.members[0].value.u.str, "desc") == 0)) {
            name = f->u.members[0].key;
            d = f->u.members[0].value.u.str[0] == 'd' ? 2 : 1;
        } else {
            return E400(err, "invalid_sort_field", "Invalid sort field: %s",
                        show(f, shown, sizeof shown));
        }
        if (dir && d != dir)
            return E400(err, "unsupported_mixed_sort",
                        "Sorts currently only support a single direction for all fields.");
        dir = d;
        if (!(q->sort[i] = strdup(name)))
            return st_fail(err, ST_E_NOMEM, "out of memory");
        q->n_sort = i + 1;
        st_status st = st_mango_path_parse(name, &q->sort_paths[i], err);
        if (st != ST_OK)
            return st == ST_E_BAD_FIELD ? E400(err, "invalid_sort_field", "Invalid sort field: %s",
                                               show(f, shown, sizeof shown))
                                        : st;
    }
    q->sort_desc = dir == 2;
    return ST_OK;
}

/* mango_fields:new. */
static st_status fields_of(st_mango_query *q, const st_json *v, st_error *err)
{
    char shown[160];
    if (v->type != ST_JSON_ARRAY)
        return E400(err, "invalid_fields", "Fields must be an array of strings, not: %s",
                    show(v, shown, sizeof shown));
    if (v->len == 0)
        return ST_OK;
    q->fields = calloc(v->len, sizeof *q->fields);
    q->field_paths = calloc(v->len, sizeof *q->field_paths);
    if (!q->fields || !q->field_paths)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; i < v->len; i++) {
        const st_json *f = &v->u.items[i];
        if (f->type != ST_JSON_STRING)
            return E400(err, "invalid_field", "Invalid JSON for field spec: %s",
                        show(f, shown, sizeof shown));
        if (!(q->fields[i] = strdup(f->u.str)))
            return st_fail(err, ST_E_NOMEM, "out of memory");
        q->n_fields = i + 1;
        st_status st = st_mango_path_parse(f->u.str, &q->field_paths[i], err);
        if (st != ST_OK)
            return st == ST_E_BAD_FIELD ? E400(err, "invalid_field",
                                               "Invalid JSON for field spec: %s",
                                               show(f, shown, sizeof shown))
                                        : st;
    }
    return ST_OK;
}

static st_status boolean(const st_json *v, bool *out, st_error *err)
{
    char shown[160];
    if (v->type != ST_JSON_TRUE && v->type != ST_JSON_FALSE)
        return E400(err, "invalid_boolean", "Invalid boolean value: %s",
                    show(v, shown, sizeof shown));
    *out = v->type == ST_JSON_TRUE;
    return ST_OK;
}

/* One member, by name; unknown is a false return (not an error here). */
static st_status member(st_mango_query *q, const char *k, const st_json *v, st_error *err)
{
    char shown[160];
    if (strcmp(k, "selector") == 0) {
        if (v->type != ST_JSON_OBJECT)
            return st_fail(err, ST_E_INVALID_SELECTOR_JSON,
                           "Selector must be a JSON object, not: %s", show(v, shown, sizeof shown));
        return st_selector_compile(v, &q->sel, err);
    }
    if (strcmp(k, "use_index") == 0)
        return use_index(q, v, err);
    if (strcmp(k, "bookmark") == 0) {
        if (v->type == ST_JSON_NULL || (v->type == ST_JSON_STRING && v->len == 0))
            return ST_OK;
        if (v->type != ST_JSON_STRING)
            return E400(err, "invalid_bookmark", "Invalid bookmark value: %s",
                        show(v, shown, sizeof shown));
        q->bookmark = strdup(v->u.str);
        return q->bookmark ? ST_OK : st_fail(err, ST_E_NOMEM, "out of memory");
    }
    if (strcmp(k, "limit") == 0 || strcmp(k, "skip") == 0) {
        if (!non_neg(v, k[0] == 'l' ? &q->limit : &q->skip))
            return E400(err, "invalid_non_neg_integer",
                        "%s is not an integer greater than or equal to zero",
                        show(v, shown, sizeof shown));
        return ST_OK;
    }
    if (strcmp(k, "sort") == 0)
        return sort_of(q, v, err);
    if (strcmp(k, "fields") == 0)
        return fields_of(q, v, err);
    if (strcmp(k, "partition") == 0) {
        if (v->type == ST_JSON_STRING && v->len == 0)
            return ST_OK;
        return st_fail(err, ST_E_BAD_REQUEST, "`partition` parameter is not supported on this "
                                              "database");
    }
    if (strcmp(k, "r") == 0) {
        if (!non_neg(v, &q->r) || q->r == 0)
            return E400(err, "invalid_pos_integer", "%s is not an integer greater than zero",
                        show(v, shown, sizeof shown));
        return ST_OK;
    }
    if (strcmp(k, "conflicts") == 0)
        return boolean(v, &q->conflicts, err);
    if (strcmp(k, "stale") == 0) {
        if (v->type == ST_JSON_FALSE || (v->type == ST_JSON_STRING && strcmp(v->u.str, "false") == 0))
            return ST_OK;
        if (v->type == ST_JSON_STRING && strcmp(v->u.str, "ok") == 0) {
            q->stale_ok = true;
            return ST_OK;
        }
        return E400(err, "invalid_ok_or_false_value", "Invalid value for stale: %s",
                    show(v, shown, sizeof shown));
    }
    if (strcmp(k, "update") == 0)
        return boolean(v, &q->update, err);
    if (strcmp(k, "stable") == 0)
        return boolean(v, &q->stable, err);
    if (strcmp(k, "execution_stats") == 0)
        return boolean(v, &q->stats, err);
    if (strcmp(k, "allow_fallback") == 0)
        return boolean(v, &q->allow_fallback, err);
    return ST_E_NOT_FOUND;
}

st_status st_mango_query_parse(const st_json *body, st_mango_query **out, st_error *err)
{
    static const char *const order[] = {
        "selector", "use_index", "bookmark", "limit",  "skip",   "sort",            "fields",
        "partition", "r",        "conflicts", "stale", "update", "stable", "execution_stats",
        "allow_fallback"};
    *out = NULL;
    if (!body || body->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "Request body must be a JSON object");
    st_mango_query *q = calloc(1, sizeof *q);
    if (!q)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    q->limit = 25;
    q->r = 1;
    q->update = true;
    q->allow_fallback = true;
    st_status st = ST_OK;
    for (size_t i = 0; i < sizeof order / sizeof order[0] && st == ST_OK; i++) {
        const st_json *v = st_json_get(body, order[i]);
        if (!v && i == 0)
            st = E400(err, "missing_required_key", "Missing required key: selector");
        else if (v)
            st = member(q, order[i], v, err);
    }
    for (size_t i = 0; i < body->len && st == ST_OK; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
            known = known || strcmp(body->u.members[i].key, order[k]) == 0;
        if (!known)
            st = E400(err, "invalid_key", "Invalid key %s for this request.",
                      body->u.members[i].key);
    }
    if (st != ST_OK) {
        st_mango_query_free(q);
        return st;
    }
    q->needs_rev = st_mango_uses_rev(q->sel);
    *out = q;
    return ST_OK;
}
