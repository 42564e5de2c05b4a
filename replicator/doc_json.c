/* doc_json.c — replicated revisions to and from CouchDB's JSON (see
 * doc_json.h).  The body is the document without its special members
 * (st_rev_is_stripped_member: the same list core strips when it stores a
 * body), rendered once; everything else is read field by field.
 */
#include "doc_json.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "st_base64.h"

static st_status bad(st_error *err, const char *id, const char *what)
{
    return st_fail(err, ST_E_BAD_REQUEST, "document %s: %s", id ? id : "(no _id)", what);
}

/* The revision path: _revisions when given, else _rev alone. */
static st_status parse_path(const st_json *doc, const char *id, st_arena *a, st_rep_doc *out,
                            st_error *err)
{
    const st_json *revs = st_json_get(doc, "_revisions");
    const char *rev = st_json_get_str(doc, "_rev");
    if (!revs || revs->type != ST_JSON_OBJECT) {
        st_rev *one = st_arena_alloc(a, sizeof *one);
        if (!one)
            return st_fail(err, ST_E_NOMEM, "out of memory");
        if (!rev || st_rev_parse(rev, strlen(rev), one, NULL) != ST_OK)
            return bad(err, id, "needs _rev or _revisions");
        out->path = one;
        out->n_path = 1;
        return ST_OK;
    }
    uint64_t start = 0;
    const st_json *ids = st_json_get(revs, "ids");
    if (!st_json_uint64(st_json_get(revs, "start"), &start) || !ids ||
        ids->type != ST_JSON_ARRAY || ids->len == 0 || ids->len > start)
        return bad(err, id, "malformed _revisions");
    st_rev *path = st_arena_alloc(a, ids->len * sizeof *path);
    if (!path)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; i < ids->len; i++) {
        const st_json *h = &ids->u.items[i];
        char s[ST_REV_STR_MAX];
        if (h->type != ST_JSON_STRING || h->len > ST_REV_HASH_MAX)
            return bad(err, id, "malformed _revisions");
        int n = snprintf(s, sizeof s, "%llu-%s", (unsigned long long)(start - i), h->u.str);
        if (n < 0 || st_rev_parse(s, (size_t)n, &path[i], NULL) != ST_OK)
            return bad(err, id, "malformed _revisions");
    }
    out->path = path;
    out->n_path = ids->len;
    return ST_OK;
}

static st_status render_body(const st_json *doc, st_arena *a, st_rep_doc *out, st_error *err)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    st_status st = st_jw_init(&w, &b);
    if (st == ST_OK) {
        st_jw_obj_open(&w);
        for (size_t i = 0; i < doc->len; i++) {
            const st_json_member *m = &doc->u.members[i];
            if (st_rev_is_stripped_member(m->key, m->key_len))
                continue;
            st_jw_keyn(&w, m->key, m->key_len);
            st_jw_value(&w, &m->value);
        }
        st_jw_obj_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    if (st == ST_OK && !(out->body = st_arena_memdup(a, b.data, b.len)))
        st = ST_E_NOMEM;
    out->body_len = b.len;
    st_buf_free(&b);
    return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
}

/* The part that carries attachment name: by filename, else the first
 * unnamed one not used yet. */
static const st_dj_part *find_part(const st_dj_part *parts, size_t n, bool *used, const char *name)
{
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (used[i] || (pass == 0 ? !parts[i].name || strcmp(parts[i].name, name) != 0
                                      : parts[i].name != NULL))
                continue;
            used[i] = true;
            return &parts[i];
        }
    }
    return NULL;
}

static const char *encoding_of(const char *e)
{
    return e && *e && strcasecmp(e, "identity") != 0 ? e : NULL;
}

/* One _attachments entry m into *att. */
static st_status parse_att(const st_json_member *m, const st_dj_part *parts, size_t n_parts,
                           bool *used, const char *id, st_arena *a, st_rep_att *att,
                           st_error *err)
{
    const st_json *v = &m->value;
    if (v->type != ST_JSON_OBJECT)
        return bad(err, id, "an attachment is not an object");
    const st_json *stub = st_json_get(v, "stub");
    const st_json *follows = st_json_get(v, "follows");
    const st_json *data = st_json_get(v, "data");
    att->name = m->key;
    att->content_type = st_json_get_str(v, "content_type");
    att->digest = st_json_get_str(v, "digest");
    att->encoding = encoding_of(st_json_get_str(v, "encoding"));
    (void)st_json_uint64(st_json_get(v, "revpos"), &att->revpos);
    (void)st_json_uint64(st_json_get(v, "length"), &att->length);
    if (stub && stub->type == ST_JSON_TRUE)
        return ST_OK; /* data NULL: the target has the bytes */
    if (data && data->type == ST_JSON_STRING) {
        /* Inline data is always the decoded bytes. */
        st_buf dec = ST_BUF_INIT;
        st_status st = st_base64_decode_to(&dec, data->u.str, data->len);
        if (st != ST_OK) {
            st_buf_free(&dec); /* a bad group is found after the buffer is made */
            return st == ST_E_NOMEM ? st_fail(err, st, "out of memory")
                                    : bad(err, id, "attachment data is not base64");
        }
        att->data = st_arena_memdup(a, dec.data ? dec.data : "", dec.len);
        att->len = att->length = dec.len;
        att->encoding = NULL;
        st_buf_free(&dec);
        return att->data ? ST_OK : st_fail(err, ST_E_NOMEM, "out of memory");
    }
    if (follows && follows->type == ST_JSON_TRUE) {
        const st_dj_part *p = find_part(parts, n_parts, used, m->key);
        if (!p)
            return bad(err, id, "an attachment marked follows has no part");
        /* The part's own header says how its bytes are; else the stub. */
        if (encoding_of(p->encoding))
            att->encoding = p->encoding;
        att->data = p->data ? p->data : "";
        att->len = p->len;
        if (!att->encoding)
            att->length = p->len;
        return ST_OK;
    }
    return bad(err, id, "an attachment needs stub, data or follows");
}

static st_status parse_atts(const st_json *atts, const st_dj_part *parts, size_t n_parts,
                            st_arena *a, st_rep_doc *out, st_error *err)
{
    if (!atts || atts->type == ST_JSON_NULL || (atts->type == ST_JSON_OBJECT && atts->len == 0))
        return ST_OK;
    if (atts->type != ST_JSON_OBJECT)
        return bad(err, out->id, "_attachments is not an object");
    st_rep_att *v = st_arena_alloc(a, atts->len * sizeof *v);
    bool *used = st_arena_alloc(a, n_parts + 1);
    if (!v || !used)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; i < atts->len; i++) {
        st_status st = parse_att(&atts->u.members[i], parts, n_parts, used, out->id, a, &v[i], err);
        if (st != ST_OK)
            return st;
    }
    out->atts = v;
    out->n_atts = atts->len;
    return ST_OK;
}

st_status st_dj_parse(const st_json *doc, const st_dj_part *parts, size_t n_parts, st_arena *a,
                      st_rep_doc *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    if (!doc || doc->type != ST_JSON_OBJECT)
        return bad(err, NULL, "not a JSON object");
    if (!(out->id = st_json_get_str(doc, "_id")))
        return bad(err, NULL, "no _id");
    const st_json *del = st_json_get(doc, "_deleted");
    out->deleted = del && del->type == ST_JSON_TRUE;
    st_status st = parse_path(doc, out->id, a, out, err);
    if (st == ST_OK)
        st = render_body(doc, a, out, err);
    if (st == ST_OK)
        st = parse_atts(st_json_get(doc, "_attachments"), parts, n_parts, a, out, err);
    return st;
}

bool st_dj_has_data(const st_rep_doc *d)
{
    for (size_t i = 0; i < d->n_atts; i++)
        if (d->atts[i].data)
            return true;
    return false;
}

static void write_att(st_jw *w, const st_rep_att *a)
{
    st_jw_key(w, a->name);
    st_jw_obj_open(w);
    st_jw_key(w, "content_type");
    st_jw_str(w, a->content_type ? a->content_type : "application/octet-stream");
    st_jw_key(w, "revpos");
    st_jw_uint(w, a->revpos);
    if (a->digest) {
        st_jw_key(w, "digest");
        st_jw_str(w, a->digest);
    }
    st_jw_key(w, "length");
    st_jw_uint(w, a->data && !a->encoding ? a->len : a->length);
    if (a->encoding) {
        st_jw_key(w, "encoding");
        st_jw_str(w, a->encoding);
        if (a->data) {
            st_jw_key(w, "encoded_length");
            st_jw_uint(w, a->len);
        }
    }
    st_jw_key(w, a->data ? "follows" : "stub");
    st_jw_bool(w, true);
    st_jw_obj_close(w);
}

void st_dj_write(st_jw *w, const st_rep_doc *d)
{
    char rev[ST_REV_STR_MAX];
    st_rev_format(&d->path[0], rev, sizeof rev);
    st_jw_obj_open(w);
    st_jw_key(w, "_id");
    st_jw_str(w, d->id);
    st_jw_key(w, "_rev");
    st_jw_str(w, rev);
    st_jw_key(w, "_revisions");
    st_jw_obj_open(w);
    st_jw_key(w, "start");
    st_jw_uint(w, d->path[0].gen);
    st_jw_key(w, "ids");
    st_jw_arr_open(w);
    for (size_t i = 0; i < d->n_path; i++)
        st_jw_strn(w, d->path[i].hash, d->path[i].hash_len);
    st_jw_arr_close(w);
    st_jw_obj_close(w);
    if (d->deleted) {
        st_jw_key(w, "_deleted");
        st_jw_bool(w, true);
    }
    if (d->body && d->body_len > 2)
        st_jw_members(w, d->body, d->body_len);
    if (d->n_atts) {
        st_jw_key(w, "_attachments");
        st_jw_obj_open(w);
        for (size_t i = 0; i < d->n_atts; i++)
            write_att(w, &d->atts[i]);
        st_jw_obj_close(w);
    }
    st_jw_obj_close(w);
}
