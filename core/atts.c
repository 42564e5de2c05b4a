/* atts.c — attachment metadata and bytes (see atts.h for the stored shape).
 *
 * Digests are "md5-<base64 of md5(bytes)>" over the bytes as given: settee
 * stores attachments uncompressed, so its digests differ from CouchDB's for
 * the types CouchDB gzips.  Digests are only ever compared, never recomputed
 * by peers, so this is safe (PROTOCOL.md §1.1).
 */
#include "atts.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void st_atts_out_free(st_atts_out *o)
{
    st_buf_free(&o->json);
    free(o->digests);
    free(o->names);
    o->digests = NULL;
    o->names = NULL;
    o->n = 0;
}

st_status st_base64_encode(st_buf *out, const void *data, size_t n)
{
    size_t need = 4 * ((n + 2) / 3);
    st_status st = st_buf_reserve(out, need + 1);
    if (st != ST_OK)
        return st;
    /* EVP_EncodeBlock takes an int length: encode in slices. */
    const unsigned char *p = data;
    while (n > 0) {
        size_t chunk = n > (size_t)3 * (1u << 28) ? (size_t)3 * (1u << 28) : n;
        int w = EVP_EncodeBlock((unsigned char *)out->data + out->len, p, (int)chunk);
        out->len += (size_t)w;
        p += chunk;
        n -= chunk;
    }
    out->data[out->len] = '\0';
    return ST_OK;
}

bool st_base64_decode(const char *in, size_t n, st_buf *out)
{
    if (n % 4 != 0)
        return false;
    if (n == 0)
        return st_buf_reserve(out, 1) == ST_OK;
    size_t pad = 0;
    if (in[n - 1] == '=')
        pad++;
    if (n > 1 && in[n - 2] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++) {
        char ch = in[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return false;
    }
    if (n > INT32_MAX || st_buf_reserve(out, n / 4 * 3 + 1) != ST_OK)
        return false;
    int w = EVP_DecodeBlock((unsigned char *)out->data + out->len, (const unsigned char *)in,
                            (int)n);
    if (w < 0)
        return false;
    out->len += (size_t)w - pad;
    out->data[out->len] = '\0';
    return true;
}

static void md5_digest(const void *p, size_t n, unsigned char md5[16], char digest[64])
{
    unsigned int len = 16;
    EVP_Digest(p, n, md5, &len, EVP_md5(), NULL);
    memcpy(digest, "md5-", 4);
    EVP_EncodeBlock((unsigned char *)digest + 4, md5, 16);
}

static bool digest_md5(const char *digest, unsigned char md5[16])
{
    if (strncmp(digest, "md5-", 4) != 0 || strlen(digest) != 28)
        return false;
    unsigned char tmp[20];
    if (EVP_DecodeBlock(tmp, (const unsigned char *)digest + 4, 24) != 18)
        return false;
    memcpy(md5, tmp, 16);
    return true;
}

/* One prepared entry before it is written out. */
typedef struct entry {
    const char *name;
    size_t name_len;
    const char *type;
    size_t type_len;
    char digest[64];
    unsigned char md5[16];
    uint64_t length;
    uint64_t revpos;
} entry;

static st_status entry_from_parent(const st_json *parent, const char *name, entry *e)
{
    const st_json *p = parent ? st_json_get(parent, name) : NULL;
    const char *digest = p ? st_json_get_str(p, "digest") : NULL;
    const char *type = p ? st_json_get_str(p, "content_type") : NULL;
    uint64_t length = 0, revpos = 0;
    if (!digest || !type || !st_json_uint64(st_json_get(p, "length"), &length) ||
        !st_json_uint64(st_json_get(p, "revpos"), &revpos) || !digest_md5(digest, e->md5) ||
        strlen(digest) >= sizeof e->digest)
        return ST_E_NOT_FOUND;
    strcpy(e->digest, digest);
    e->type = type;
    e->type_len = strlen(type);
    e->length = length;
    e->revpos = revpos;
    return ST_OK;
}

st_status st_atts_prepare(st_conn *c, const st_atts_in *in, st_atts_out *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    st_buf_init(&out->json, 0);
    if (!in->obj || in->obj->type == ST_JSON_NULL || in->obj->len == 0)
        return ST_OK;
    if (in->obj->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "_attachments must be an object");

    st_status st = ST_OK;
    st_json_doc *parent_doc = NULL;
    const st_json *parent = NULL;
    size_t n = in->obj->len;
    entry *ents = calloc(n, sizeof *ents);
    st_buf data = ST_BUF_INIT;
    st_jw w;
    bool w_open = false;
    if (!ents) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    if (in->parent_len > 0) {
        st = st_json_parse(in->parent_json, in->parent_len, NULL, &parent_doc, err);
        if (st != ST_OK)
            goto out;
        parent = st_json_doc_root(parent_doc);
    }
    for (size_t i = 0; i < n; i++) {
        const st_json_member *m = &in->obj->u.members[i];
        entry *e = &ents[i];
        const st_json *a = &m->value;
        e->name = m->key;
        e->name_len = m->key_len;
        if (m->key_len == 0 || m->key[0] == '_') {
            st = st_fail(err, ST_E_BAD_REQUEST, "Attachment name '%s' can't start with '_'",
                         m->key);
            goto out;
        }
        if (a->type != ST_JSON_OBJECT) {
            st = st_fail(err, ST_E_BAD_REQUEST, "Attachment '%s' must be an object", m->key);
            goto out;
        }
        const st_json *stub = st_json_get(a, "stub");
        const st_json *follows = st_json_get(a, "follows");
        const st_json *b64 = st_json_get(a, "data");
        const char *type = st_json_get_str(a, "content_type");
        if (stub && stub->type == ST_JSON_TRUE) {
            if (entry_from_parent(parent, m->key, e) == ST_OK)
                continue;
            /* A replicated revision may name bytes we already hold. */
            const char *digest = st_json_get_str(a, "digest");
            uint64_t length = 0;
            if (in->replicated && digest && strlen(digest) < sizeof e->digest &&
                digest_md5(digest, e->md5) && st_store_att_exists(c, digest) &&
                st_json_uint64(st_json_get(a, "length"), &length)) {
                strcpy(e->digest, digest);
                e->type = type ? type : "application/octet-stream";
                e->type_len = strlen(e->type);
                e->length = length;
                if (!st_json_uint64(st_json_get(a, "revpos"), &e->revpos))
                    e->revpos = in->new_gen;
                continue;
            }
            st = st_fail(err, ST_E_MISSING_STUB, "Invalid attachment stub in %s for %s",
                         in->doc_id, m->key);
            goto out;
        }
        const void *bytes = NULL;
        size_t len = 0;
        if (b64 && b64->type == ST_JSON_STRING) {
            st_buf_reset(&data);
            if (!st_base64_decode(b64->u.str, b64->len, &data)) {
                st = st_fail(err, ST_E_BAD_REQUEST, "Invalid attachment data for %s", m->key);
                goto out;
            }
            bytes = data.data;
            len = data.len;
        } else if (follows && follows->type == ST_JSON_TRUE) {
            const st_att_data *f = NULL;
            for (size_t k = 0; k < in->n_follows; k++)
                if (strcmp(in->follows[k].name, m->key) == 0)
                    f = &in->follows[k];
            if (!f) {
                st = st_fail(err, ST_E_BAD_REQUEST, "Attachment %s has no following body",
                             m->key);
                goto out;
            }
            bytes = f->data;
            len = f->len;
            if (!type && f->content_type)
                type = f->content_type;
        } else {
            st = st_fail(err, ST_E_BAD_REQUEST,
                         "Attachment %s needs one of stub, data or follows", m->key);
            goto out;
        }
        if (len > in->max_att_size) {
            st = st_fail(err, ST_E_ATT_TOO_LARGE, "Attachment %s is too large", m->key);
            goto out;
        }
        if (type && strlen(type) >= 256) {
            st = st_fail(err, ST_E_BAD_REQUEST, "content_type of %s is too long", m->key);
            goto out;
        }
        md5_digest(bytes ? bytes : "", len, e->md5, e->digest);
        if ((st = st_store_att_put(c, e->digest, bytes, len, err)) != ST_OK)
            goto out;
        e->type = type ? type : "application/octet-stream";
        e->type_len = strlen(e->type);
        e->length = len;
        e->revpos = in->new_gen;
        if (in->replicated)
            (void)st_json_uint64(st_json_get(a, "revpos"), &e->revpos);
    }

    /* Render metadata and hand out digests for the rev hash. */
    size_t names_len = 0;
    for (size_t i = 0; i < n; i++)
        names_len += ents[i].name_len + 1 + ents[i].type_len + 1;
    out->digests = calloc(n, sizeof *out->digests);
    out->names = malloc(names_len ? names_len : 1);
    if (!out->digests || !out->names) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    if ((st = st_jw_init(&w, &out->json)) != ST_OK) {
        st_fail(err, st, "out of memory");
        goto out;
    }
    w_open = true;
    char *p = out->names;
    st_jw_obj_open(&w);
    for (size_t i = 0; i < n; i++) {
        entry *e = &ents[i];
        st_rev_att *d = &out->digests[i];
        memcpy(p, e->name, e->name_len);
        p[e->name_len] = '\0';
        d->name = p;
        d->name_len = e->name_len;
        p += e->name_len + 1;
        memcpy(p, e->type, e->type_len);
        p[e->type_len] = '\0';
        d->content_type = p;
        d->content_type_len = e->type_len;
        p += e->type_len + 1;
        memcpy(d->md5, e->md5, 16);
        out->bytes += e->length;

        st_jw_keyn(&w, e->name, e->name_len);
        st_jw_obj_open(&w);
        st_jw_key(&w, "content_type");
        st_jw_strn(&w, e->type, e->type_len);
        st_jw_key(&w, "digest");
        st_jw_str(&w, e->digest);
        st_jw_key(&w, "length");
        st_jw_uint(&w, e->length);
        st_jw_key(&w, "revpos");
        st_jw_uint(&w, e->revpos);
        st_jw_obj_close(&w);
    }
    st_jw_obj_close(&w);
    out->n = n;
    if ((st = st_jw_status(&w)) != ST_OK)
        st_fail(err, st, "out of memory");
out:
    if (w_open)
        st_jw_free(&w);
    if (st != ST_OK)
        st_atts_out_free(out);
    st_buf_free(&data);
    st_json_doc_free(parent_doc);
    free(ents);
    return st;
}

st_status st_atts_render(st_conn *c, const char *json, size_t len, st_atts_mode mode,
                         bool encoding_info, uint64_t min_revpos, st_jw *w,
                         st_att **out_list, size_t *out_n, st_json_doc **arena, st_error *err)
{
    (void)encoding_info; /* settee never stores encoded bodies */
    if (out_list) {
        *out_list = NULL;
        *out_n = 0;
    }
    if (arena)
        *arena = NULL;
    st_json_doc *doc = NULL;
    st_status st = st_json_parse(json, len, NULL, &doc, err);
    if (st != ST_OK)
        return st;
    const st_json *root = st_json_doc_root(doc);
    st_att *list = NULL;
    st_buf data = ST_BUF_INIT;
    if (root->type != ST_JSON_OBJECT) {
        st = st_fail(err, ST_E_IO, "corrupt attachment metadata");
        goto out;
    }
    if (out_list && root->len && !(list = calloc(root->len, sizeof *list))) {
        st = st_fail(err, ST_E_NOMEM, "out of memory");
        goto out;
    }
    st_jw_key(w, "_attachments");
    st_jw_obj_open(w);
    for (size_t i = 0; i < root->len; i++) {
        const st_json_member *m = &root->u.members[i];
        const char *type = st_json_get_str(&m->value, "content_type");
        const char *digest = st_json_get_str(&m->value, "digest");
        uint64_t length = 0, revpos = 0;
        (void)st_json_uint64(st_json_get(&m->value, "length"), &length);
        (void)st_json_uint64(st_json_get(&m->value, "revpos"), &revpos);
        bool body = mode != ST_ATTS_STUB && revpos > min_revpos;
        st_jw_keyn(w, m->key, m->key_len);
        st_jw_obj_open(w);
        st_jw_key(w, "content_type");
        st_jw_str(w, type ? type : "application/octet-stream");
        st_jw_key(w, "revpos");
        st_jw_uint(w, revpos);
        st_jw_key(w, "digest");
        st_jw_str(w, digest ? digest : "");
        st_jw_key(w, "length");
        st_jw_uint(w, length);
        if (!body) {
            st_jw_key(w, "stub");
            st_jw_bool(w, true);
        } else if (mode == ST_ATTS_FOLLOWS) {
            st_jw_key(w, "follows");
            st_jw_bool(w, true);
        } else {
            st_buf_reset(&data);
            if ((st = st_store_att_get(c, digest ? digest : "", &data, err)) != ST_OK)
                goto out;
            st_buf b64 = ST_BUF_INIT;
            if ((st = st_base64_encode(&b64, data.data ? data.data : "", data.len)) != ST_OK) {
                st_buf_free(&b64);
                st_fail(err, st, "out of memory");
                goto out;
            }
            st_jw_key(w, "data");
            st_jw_strn(w, b64.data, b64.len);
            st_buf_free(&b64);
        }
        st_jw_obj_close(w);
        if (list) {
            list[i].name = m->key;
            list[i].content_type = type ? type : "application/octet-stream";
            list[i].digest = digest ? digest : "";
            list[i].length = length;
            list[i].revpos = revpos;
            list[i].body_sent = body;
        }
    }
    st_jw_obj_close(w);
    if (out_list) {
        *out_list = list;
        *out_n = root->len;
        list = NULL;
        *arena = doc;
        doc = NULL;
    }
out:
    free(list);
    st_buf_free(&data);
    st_json_doc_free(doc);
    return st;
}

st_status st_atts_find(const char *json, size_t len, const char *name, st_att_info *out,
                       st_error *err)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return ST_E_NOT_FOUND;
    st_json_doc *doc = NULL;
    st_status st = st_json_parse(json, len, NULL, &doc, err);
    if (st != ST_OK)
        return st;
    const st_json *e = st_json_get(st_json_doc_root(doc), name);
    const char *type = e ? st_json_get_str(e, "content_type") : NULL;
    const char *digest = e ? st_json_get_str(e, "digest") : NULL;
    if (!e || !digest) {
        st = ST_E_NOT_FOUND;
    } else {
        snprintf(out->content_type, sizeof out->content_type, "%s",
                 type ? type : "application/octet-stream");
        snprintf(out->digest, sizeof out->digest, "%s", digest);
        (void)st_json_uint64(st_json_get(e, "length"), &out->length);
        (void)st_json_uint64(st_json_get(e, "revpos"), &out->revpos);
    }
    st_json_doc_free(doc);
    return st;
}
