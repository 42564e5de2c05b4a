/* view_params.c — see st_view_params.h.  The parameters of couch_mrview's
 * HTTP layer, read the same way whether a value came as text or as JSON
 * (apply), so the two forms cannot drift apart. */
#include "st_view_params.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool fail(st_error *err, st_status code, const char *fmt, const char *arg)
{
    st_fail(err, code, fmt, arg ? arg : "");
    return false;
}

/* A JSON value as CouchDB prints it in its messages (~p of a binary). */
static void shown(const char *text, const st_json *json, char *out, size_t cap)
{
    if (text) {
        snprintf(out, cap, "\"%.100s\"", text);
        return;
    }
    switch (json->type) {
    case ST_JSON_STRING:
        snprintf(out, cap, "\"%.100s\"", json->u.str);
        break;
    case ST_JSON_NUMBER:
        snprintf(out, cap, "%.100s", json->u.str);
        break;
    case ST_JSON_NULL:
        snprintf(out, cap, "null");
        break;
    default:
        snprintf(out, cap, "%s", json->type == ST_JSON_TRUE ? "true" : json->type == ST_JSON_FALSE
                                                                   ? "false" : "(value)");
    }
}

static bool boolean(st_error *err, const char *text, const st_json *json, bool *out)
{
    if (text && strcasecmp(text, "true") == 0)
        *out = true;
    else if (text && strcasecmp(text, "false") == 0)
        *out = false;
    else if (!text && (json->type == ST_JSON_TRUE || json->type == ST_JSON_FALSE))
        *out = json->type == ST_JSON_TRUE;
    else {
        char v[128];
        shown(text, json, v, sizeof v);
        return fail(err, ST_E_QUERY_PARSE, "Invalid boolean parameter: %s", v);
    }
    return true;
}

static bool pos_int(st_error *err, const char *text, const st_json *json, uint64_t *out)
{
    char v[128];
    const char *s = text ? text : json->type == ST_JSON_NUMBER ? json->u.str : NULL;
    shown(text, json, v, sizeof v);
    if (!s || !*s || (!isdigit((unsigned char)s[0]) && s[0] != '-'))
        return fail(err, ST_E_QUERY_PARSE, "Invalid value for integer: %s", v);
    char *end = NULL;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno || *end)
        return fail(err, ST_E_QUERY_PARSE, "Invalid value for integer: %s", v);
    if (n < 0)
        return fail(err, ST_E_QUERY_PARSE, "Invalid value for positive integer: %s", v);
    *out = (uint64_t)n;
    return true;
}

/* A JSON parameter: parsed from text, or the body's value itself. */
static bool json_param(st_error *err, const char *text, const st_json *json, st_vp_store *s,
                       const st_json **out)
{
    if (!text) {
        *out = json;
        return true;
    }
    if (s->n == sizeof s->docs / sizeof s->docs[0])
        return fail(err, ST_E_QUERY_PARSE, "too many key parameters%s", NULL);
    if (st_json_parse(text, strlen(text), NULL, &s->docs[s->n], NULL) != ST_OK)
        return fail(err, ST_E_BAD_REQUEST, "invalid UTF-8 JSON%s", NULL);
    *out = st_json_doc_root(s->docs[s->n++]);
    return true;
}

static bool docid(st_error *err, const char *name, const char *text, const st_json *json,
                  const char **out)
{
    if (text) {
        *out = text;
        return true;
    }
    if (json->type != ST_JSON_STRING)
        return fail(err, ST_E_QUERY_PARSE, "`%s` must be a string.",
                    strncmp(name, "start", 5) == 0 ? "start_key_docid" : "end_key_docid");
    *out = json->u.str;
    return true;
}

static bool is(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* One parameter, from text (the query string) or a JSON value. */
static bool apply(st_error *err, const char *k, const char *text, const st_json *json,
                  st_view_params *p, st_vp_store *s)
{
    bool b = false;
    uint64_t u = 0;
    const st_json *j = NULL;
    const char *v = text ? text : json->type == ST_JSON_STRING ? json->u.str : NULL;
    if (is(k, "key")) {
        if (!json_param(err, text, json, s, &j))
            return false;
        p->start_key = p->end_key = j;
        s->from_key = true;
    } else if (is(k, "keys")) {
        if (!json_param(err, text, json, s, &p->keys))
            return false;
    } else if (is(k, "startkey") || is(k, "start_key")) {
        if (!json_param(err, text, json, s, &p->start_key))
            return false;
        s->from_key = false;
    } else if (is(k, "endkey") || is(k, "end_key")) {
        if (!json_param(err, text, json, s, &p->end_key))
            return false;
        s->from_key = false;
    } else if (is(k, "startkey_docid") || is(k, "start_key_doc_id")) {
        return docid(err, k, text, json, &p->start_docid);
    } else if (is(k, "endkey_docid") || is(k, "end_key_doc_id")) {
        return docid(err, k, text, json, &p->end_docid);
    } else if (is(k, "limit")) {
        return pos_int(err, text, json, &p->limit);
    } else if (is(k, "skip")) {
        return pos_int(err, text, json, &p->skip);
    } else if (is(k, "group_level")) {
        if (!pos_int(err, text, json, &u))
            return false;
        p->group_level = u > INT64_MAX ? INT64_MAX : (int64_t)u;
    } else if (is(k, "stale")) {
        if (v && is(v, "ok")) {
            p->update = ST_VIEW_UPDATE_FALSE;
            p->stable = true;
        } else if (v && is(v, "update_after")) {
            p->update = ST_VIEW_UPDATE_LAZY;
            p->stable = true;
        } else {
            return fail(err, ST_E_QUERY_PARSE, "Invalid value for `stale`.%s", NULL);
        }
    } else if (is(k, "update")) {
        if (json && json->type == ST_JSON_TRUE)
            v = "true";
        else if (json && json->type == ST_JSON_FALSE)
            v = "false";
        if (v && is(v, "true"))
            p->update = ST_VIEW_UPDATE_TRUE;
        else if (v && is(v, "false"))
            p->update = ST_VIEW_UPDATE_FALSE;
        else if (v && is(v, "lazy"))
            p->update = ST_VIEW_UPDATE_LAZY;
        else
            return fail(err, ST_E_QUERY_PARSE, "Invalid value for `update`.%s", NULL);
    } else if (is(k, "stable")) {
        if (text && !is(text, "true") && !is(text, "false"))
            return fail(err, ST_E_QUERY_PARSE, "Invalid value for `stable`.%s", NULL);
        if (!boolean(err, text, json, &p->stable))
            return false;
    } else if (is(k, "descending") || is(k, "inclusive_end") || is(k, "include_docs") ||
               is(k, "update_seq") || is(k, "sorted") || is(k, "attachments") ||
               is(k, "att_encoding_info") || is(k, "reduce") || is(k, "group") ||
               is(k, "conflicts")) {
        if (!boolean(err, text, json, &b))
            return false;
        if (is(k, "descending"))
            p->descending = b;
        else if (is(k, "inclusive_end"))
            p->inclusive_end = b;
        else if (is(k, "include_docs"))
            p->include_docs = b;
        else if (is(k, "update_seq"))
            p->update_seq = b;
        else if (is(k, "sorted"))
            p->sorted = b;
        else if (is(k, "attachments"))
            p->atts = b ? ST_ATTS_INLINE : ST_ATTS_STUB;
        else if (is(k, "att_encoding_info"))
            p->att_encoding_info = b;
        else if (is(k, "reduce"))
            p->reduce = b;
        else if (is(k, "group"))
            p->group = b;
        else
            p->conflicts = b;
    }
    return true;
}

st_status st_view_param_set(const char *key, const char *text, const st_json *json,
                            st_view_params *p, st_vp_store *s, st_error *err)
{
    st_error e;
    if (!key || (!text && !json))
        return st_fail(err, ST_E_MISUSE, "a parameter without a name or value");
    if (apply(&e, key, text, json, p, s))
        return ST_OK;
    if (err)
        *err = e;
    return e.code;
}

st_status st_view_params_object(const st_json *obj, st_view_params *p, st_vp_store *s,
                                st_error *err)
{
    if (!obj || obj->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "view parameters must be a JSON object");
    for (size_t i = 0; i < obj->len; i++) {
        const st_json_member *m = &obj->u.members[i];
        if (strcmp(m->key, "queries") == 0)
            continue;
        st_status st = st_view_param_set(m->key, NULL, &m->value, p, s, err);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

void st_view_params_finish(st_view_params *p, st_vp_store *s)
{
    if (p->keys && s->from_key)
        p->start_key = p->end_key = NULL;
}

void st_view_params_store_free(st_vp_store *s)
{
    for (size_t i = 0; i < s->n; i++)
        st_json_doc_free(s->docs[i]);
    s->n = 0;
}
