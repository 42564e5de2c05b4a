/* atts.c — attachment metadata and bytes (see atts.h for the stored shape).
 *
 * Digests are "md5-<base64 of md5(stored bytes)>", CouchDB's rule: for a
 * gzip-encoded attachment the digest is of the gzip bytes.  New uploads of
 * compressible types are gzipped with CouchDB's zlib parameters, so the
 * same upload gets the same bytes, digest and rev id on settee and CouchDB;
 * replicated attachments keep the bytes and encoding their source sent.
 */
#include "atts.h"
#include "md5.h"
#include "st_utf8.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "st_gzip.h"

#define DEFAULT_COMPRESSIBLE "text/*, application/javascript, application/json, application/xml"

void st_atts_out_free(st_atts_out *o)
{
    st_buf_free(&o->json);
    free(o->digests);
    free(o->names);
    o->digests = NULL;
    o->names = NULL;
    o->n = 0;
}

/* False when libcrypto could not (out of memory: MD5 itself is always
 * there); its error queue is cleared, so the thread's next use of libcrypto
 * does not find this failure. */
static bool md5_digest(const void *p, size_t n, unsigned char md5[16], char digest[64])
{
    unsigned int len = 16;
    const EVP_MD *md = st_md5();
    if (!md || EVP_Digest(p, n, md5, &len, md, NULL) != 1 || len != 16) {
        ERR_clear_error();
        return false;
    }
    memcpy(digest, "md5-", 4);
    EVP_EncodeBlock((unsigned char *)digest + 4, md5, 16);
    return true;
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

/* The media type part of a Content-Type, lowercased, into out. */
static void media_type(const char *ct, char *out, size_t cap)
{
    size_t n = 0;
    while (*ct == ' ')
        ct++;
    for (; *ct && *ct != ';' && *ct != ' ' && n + 1 < cap; ct++)
        out[n++] = (char)tolower((unsigned char)*ct);
    out[n] = '\0';
}

bool st_atts_compressible(const char *content_type, const char *patterns)
{
    char type[256];
    media_type(content_type ? content_type : "", type, sizeof type);
    if (!type[0])
        return false;
    const char *p = patterns ? patterns : DEFAULT_COMPRESSIBLE;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t && p[t - 1] == ' ')
            t--;
        if (t >= 2 && p[t - 1] == '*' && p[t - 2] == '/') {
            if (strncasecmp(type, p, t - 1) == 0)
                return true;
        } else if (t && strlen(type) == t && strncasecmp(type, p, t) == 0) {
            return true;
        }
        p += n;
    }
    return false;
}

/* One prepared entry before it is written out. */
typedef struct entry {
    const char *name;
    size_t name_len;
    const char *type;
    size_t type_len;
    char digest[64];
    unsigned char md5[16];
    uint64_t length;        /* decoded */
    uint64_t revpos;
    bool gzip;              /* stored gzip-encoded */
    uint64_t encoded_length;
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
    e->gzip = st_gzip_is(st_json_get_str(p, "encoding"));
    if (e->gzip)
        (void)st_json_uint64(st_json_get(p, "encoded_length"), &e->encoded_length);
    return ST_OK;
}

/* A stub that names bytes we hold though no parent refers to them (a
 * replicated revision whose ancestor we never had). */
static bool entry_from_digest(st_conn *c, const char *digest, const char *type,
                              uint64_t length, const char *encoding, entry *e)
{
    if (!digest || strlen(digest) >= sizeof e->digest || !digest_md5(digest, e->md5) ||
        !st_store_att_exists(c, digest))
        return false;
    strcpy(e->digest, digest);
    e->type = type ? type : "application/octet-stream";
    e->type_len = strlen(e->type);
    e->length = length;
    e->gzip = st_gzip_is(encoding);
    return true;
}

/* A replicated attachment that arrived decoded (inline JSON data, as
 * CouchDB sends it) but whose source digest is of gzip bytes: gzip it the
 * way CouchDB does and keep that when it reproduces the digest, so the
 * replica shows the source's metadata. */
static bool reencode(const st_atts_in *in, const entry *e, const void *bytes, size_t len,
                     const char *want, st_buf *gz)
{
    unsigned char md5[16];
    char digest[64];
    if (!want || !in->replicated || !st_atts_compressible(e->type, in->compressible))
        return false;
    if (!md5_digest(bytes ? bytes : "", len, md5, digest) || strcmp(digest, want) == 0)
        return false;
    int level = in->compress_level > 0 ? in->compress_level : 8;
    if (st_gzip(bytes ? bytes : "", len, level, gz, NULL) != ST_OK)
        return false;
    return md5_digest(gz->data, gz->len, md5, digest) && strcmp(digest, want) == 0;
}

/* Store bytes for e.  encoded: they are gzip (kept as they are, their
 * decoded length counted and bounded); else a compressible type is
 * gzipped when in->compress_level says so (new uploads), or to match the
 * source's digest (replicated ones, see reencode). */
static st_status store_bytes(st_conn *c, const st_atts_in *in, entry *e, const void *bytes,
                             size_t len, bool encoded, const char *want_digest, st_error *err)
{
    st_buf gz = ST_BUF_INIT;
    st_status st = ST_OK;
    if (encoded) {
        /* Counted, not kept, but a small body of gzip parts can still ask
         * for gigabytes of inflating: each part is bounded by the
         * attachment size, all of a request's parts by what is left. */
        size_t decoded = 0, max = in->max_att_size;
        bool total = in->decode_left && *in->decode_left < max;
        if (total)
            max = (size_t)*in->decode_left;
        st = st_gunzip_each(bytes, len, max, NULL, NULL, &decoded, err);
        if (st == ST_E_ATT_TOO_LARGE && total)
            return st_fail(err, ST_E_TOO_LARGE,
                           "The attachments of this request decode to more than the request "
                           "size limit");
        if (st == ST_E_ATT_TOO_LARGE)
            return st_fail(err, st, "Attachment %s is too large", e->name);
        if (st != ST_OK)
            return st;
        if (in->decode_left)
            *in->decode_left -= decoded;
        e->gzip = true;
        e->length = decoded;
        e->encoded_length = len;
    } else {
        if (len > in->max_att_size)
            return st_fail(err, ST_E_ATT_TOO_LARGE, "Attachment %s is too large", e->name);
        e->length = len;
        bool fresh = !in->replicated && in->compress_level > 0 &&
                     st_atts_compressible(e->type, in->compressible);
        if (fresh &&
            (st = st_gzip(bytes ? bytes : "", len, in->compress_level, &gz, err)) != ST_OK) {
            st_buf_free(&gz);
            return st;
        }
        if (fresh || reencode(in, e, bytes, len, want_digest, &gz)) {
            bytes = gz.data;
            len = gz.len;
            e->gzip = true;
            e->encoded_length = len;
        }
    }
    if (md5_digest(bytes ? bytes : "", len, e->md5, e->digest))
        st = st_store_att_put(c, e->digest, bytes, len, err);
    else
        st = st_fail(err, ST_E_NOMEM, "out of memory");
    st_buf_free(&gz);
    return st;
}

static st_status check_name(const char *name, size_t n, st_error *err)
{
    if (n == 0)
        return st_fail(err, ST_E_BAD_REQUEST, "Attachment name can't be empty");
    if (name[0] == '_')
        return st_fail(err, ST_E_BAD_REQUEST,
                       "Attachment name '%s' starts with prohibited character '_'", name);
    if (!st_utf8_valid(name, n)) /* typed revisions carry bytes (CouchDB's words) */
        return st_fail(err, ST_E_BAD_REQUEST, "Attachment name is not UTF-8 encoded");
    return ST_OK;
}

/* Inline data that did not decode: malformed (CouchDB's 400), or memory. */
static st_status bad_data(st_status st, const char *name, st_error *err)
{
    if (st == ST_E_BAD_REQUEST)
        return st_fail(err, st, "Invalid attachment data for %s", name);
    return st_fail(err, st, "out of memory");
}

/* One member of _attachments: a valid name, an object, and its stub /
 * follows / data members (NULL when absent). */
static st_status att_member(const st_json_member *m, const st_json **stub,
                            const st_json **follows, const st_json **b64, st_error *err)
{
    st_status st = check_name(m->key, m->key_len, err);
    if (st != ST_OK)
        return st;
    if (m->value.type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "Attachment '%s' must be an object", m->key);
    *stub = st_json_get(&m->value, "stub");
    *follows = st_json_get(&m->value, "follows");
    *b64 = st_json_get(&m->value, "data");
    return ST_OK;
}

st_status st_atts_check(const st_json *obj, st_error *err)
{
    if (!obj || obj->type == ST_JSON_NULL)
        return ST_OK;
    if (obj->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "_attachments must be an object");
    st_buf data = ST_BUF_INIT;
    st_status st = ST_OK;
    for (size_t i = 0; i < obj->len && st == ST_OK; i++) {
        const st_json_member *m = &obj->u.members[i];
        const st_json *stub = NULL, *follows = NULL, *b64 = NULL;
        if ((st = att_member(m, &stub, &follows, &b64, err)) != ST_OK)
            break;
        if (stub && stub->type == ST_JSON_TRUE)
            continue;
        if (follows && follows->type == ST_JSON_TRUE)
            continue;
        st_buf_reset(&data);
        if (!b64 || b64->type != ST_JSON_STRING)
            st = st_fail(err, ST_E_BAD_REQUEST,
                         "Attachment %s needs one of stub, data or follows", m->key);
        else if ((st = st_base64_decode_to(&data, b64->u.str, b64->len)) != ST_OK)
            st = bad_data(st, m->key, err);
    }
    st_buf_free(&data);
    return st;
}

/* Entries from a document's _attachments JSON. */
static st_status entries_from_json(st_conn *c, const st_atts_in *in, const st_json *parent,
                                   entry *ents, st_error *err)
{
    st_buf data = ST_BUF_INIT;
    st_status st = ST_OK;
    for (size_t i = 0; i < in->obj->len && st == ST_OK; i++) {
        const st_json_member *m = &in->obj->u.members[i];
        entry *e = &ents[i];
        const st_json *a = &m->value;
        e->name = m->key;
        e->name_len = m->key_len;
        const st_json *stub = NULL, *follows = NULL, *b64 = NULL;
        if ((st = att_member(m, &stub, &follows, &b64, err)) != ST_OK)
            break;
        const char *type = st_json_get_str(a, "content_type");
        const char *encoding = st_json_get_str(a, "encoding");
        if (stub && stub->type == ST_JSON_TRUE) {
            uint64_t length = 0;
            if (entry_from_parent(parent, m->key, e) == ST_OK)
                continue;
            if (in->replicated && st_json_uint64(st_json_get(a, "length"), &length) &&
                entry_from_digest(c, st_json_get_str(a, "digest"), type, length, encoding, e)) {
                if (!st_json_uint64(st_json_get(a, "revpos"), &e->revpos))
                    e->revpos = in->new_gen;
                (void)st_json_uint64(st_json_get(a, "encoded_length"), &e->encoded_length);
                continue;
            }
            st = st_fail(err, ST_E_MISSING_STUB, "Invalid attachment stub in %s for %s",
                         in->doc_id, m->key);
            break;
        }
        const void *bytes = NULL;
        size_t len = 0;
        bool encoded = false;
        if (b64 && b64->type == ST_JSON_STRING) {
            st_buf_reset(&data);
            if ((st = st_base64_decode_to(&data, b64->u.str, b64->len)) != ST_OK) {
                st = bad_data(st, m->key, err);
                break;
            }
            bytes = data.data;
            len = data.len;
            encoded = in->replicated && st_gzip_is(encoding);
        } else if (follows && follows->type == ST_JSON_TRUE) {
            const st_att_data *f = NULL;
            for (size_t k = 0; k < in->n_follows && !f; k++)
                if (strcmp(in->follows[k].name, m->key) == 0)
                    f = &in->follows[k];
            if (!f) {
                st = st_fail(err, ST_E_BAD_REQUEST, "Attachment %s has no following body",
                             m->key);
                break;
            }
            bytes = f->data;
            len = f->len;
            encoded = st_gzip_is(f->encoding);
            if (!type && f->content_type)
                type = f->content_type;
        } else {
            st = st_fail(err, ST_E_BAD_REQUEST,
                         "Attachment %s needs one of stub, data or follows", m->key);
            break;
        }
        if (type && strlen(type) >= 256) {
            st = st_fail(err, ST_E_BAD_REQUEST, "content_type of %s is too long", m->key);
            break;
        }
        e->type = type ? type : "application/octet-stream";
        e->type_len = strlen(e->type);
        e->revpos = in->new_gen;
        if (in->replicated)
            (void)st_json_uint64(st_json_get(a, "revpos"), &e->revpos);
        st = store_bytes(c, in, e, bytes, len, encoded, st_json_get_str(a, "digest"), err);
    }
    st_buf_free(&data);
    return st;
}

/* Entries from a replicated revision's typed attachments. */
static st_status entries_from_typed(st_conn *c, const st_atts_in *in, const st_json *parent,
                                    entry *ents, st_error *err)
{
    for (size_t i = 0; i < in->n_typed; i++) {
        const st_rep_att *a = &in->typed[i];
        entry *e = &ents[i];
        e->name = a->name;
        e->name_len = strlen(a->name);
        st_status cn = check_name(a->name, e->name_len, err);
        if (cn != ST_OK)
            return cn;
        if (!a->data) {
            if (entry_from_parent(parent, a->name, e) == ST_OK)
                continue;
            if (entry_from_digest(c, a->digest, a->content_type, a->length, a->encoding, e)) {
                e->revpos = a->revpos ? a->revpos : in->new_gen;
                e->encoded_length = 0;
                continue;
            }
            return st_fail(err, ST_E_MISSING_STUB, "Invalid attachment stub in %s for %s",
                           in->doc_id, a->name);
        }
        e->type = a->content_type ? a->content_type : "application/octet-stream";
        e->type_len = strlen(e->type);
        if (e->type_len >= 256)
            return st_fail(err, ST_E_BAD_REQUEST, "content_type of %s is too long", a->name);
        e->revpos = a->revpos ? a->revpos : in->new_gen;
        st_status st = store_bytes(c, in, e, a->data, a->len, st_gzip_is(a->encoding), a->digest,
                                   err);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

/* Render the entries as stored metadata and hand out digests for the rev
 * hash. */
static st_status entries_out(const entry *ents, size_t n, st_atts_out *out, st_error *err)
{
    size_t names_len = 0;
    for (size_t i = 0; i < n; i++)
        names_len += ents[i].name_len + 1 + ents[i].type_len + 1;
    out->digests = calloc(n, sizeof *out->digests);
    out->names = malloc(names_len ? names_len : 1);
    if (!out->digests || !out->names)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_jw w;
    st_status st = st_jw_init(&w, &out->json);
    if (st != ST_OK)
        return st_fail(err, st, "out of memory");
    char *p = out->names;
    st_jw_obj_open(&w);
    for (size_t i = 0; i < n; i++) {
        const entry *e = &ents[i];
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
        if (e->gzip) {
            st_jw_key(&w, "encoding");
            st_jw_str(&w, "gzip");
            st_jw_key(&w, "encoded_length");
            st_jw_uint(&w, e->encoded_length);
        }
        st_jw_obj_close(&w);
    }
    st_jw_obj_close(&w);
    out->n = n;
    if ((st = st_jw_status(&w)) != ST_OK)
        st_fail(err, st, "out of memory");
    st_jw_free(&w);
    return st;
}

st_status st_atts_prepare(st_conn *c, const st_atts_in *in, st_atts_out *out, st_error *err)
{
    memset(out, 0, sizeof *out);
    st_buf_init(&out->json, 0);
    size_t n = in->typed ? in->n_typed : in->obj && in->obj->type == ST_JSON_OBJECT ? in->obj->len : 0;
    if (!in->typed && in->obj && in->obj->type != ST_JSON_OBJECT && in->obj->type != ST_JSON_NULL)
        return st_fail(err, ST_E_BAD_REQUEST, "_attachments must be an object");
    if (n == 0)
        return ST_OK;
    st_status st = ST_OK;
    st_json_doc *parent_doc = NULL;
    const st_json *parent = NULL;
    entry *ents = calloc(n, sizeof *ents);
    if (!ents)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (in->parent_len > 0) {
        st = st_json_parse(in->parent_json, in->parent_len, NULL, &parent_doc, err);
        if (st == ST_OK)
            parent = st_json_doc_root(parent_doc);
    }
    if (st == ST_OK)
        st = in->typed ? entries_from_typed(c, in, parent, ents, err)
                       : entries_from_json(c, in, parent, ents, err);
    if (st == ST_OK)
        st = entries_out(ents, n, out, err);
    if (st != ST_OK)
        st_atts_out_free(out);
    st_json_doc_free(parent_doc);
    free(ents);
    return st;
}

/* ----------------------------------------------------------------- reading */

static void att_of(const st_json_member *m, st_att *a)
{
    const char *type = st_json_get_str(&m->value, "content_type");
    const char *digest = st_json_get_str(&m->value, "digest");
    const char *enc = st_json_get_str(&m->value, "encoding");
    memset(a, 0, sizeof *a);
    a->name = m->key;
    a->content_type = type ? type : "application/octet-stream";
    a->digest = digest ? digest : "";
    (void)st_json_uint64(st_json_get(&m->value, "length"), &a->length);
    (void)st_json_uint64(st_json_get(&m->value, "revpos"), &a->revpos);
    if (st_gzip_is(enc)) {
        a->encoding = "gzip";
        (void)st_json_uint64(st_json_get(&m->value, "encoded_length"), &a->encoded_length);
    }
}

st_status st_atts_list(const char *json, size_t len, st_att **out_list, size_t *out_n,
                       st_json_doc **arena, st_error *err)
{
    *out_list = NULL;
    *out_n = 0;
    *arena = NULL;
    if (len == 0)
        return ST_OK;
    st_json_doc *doc = NULL;
    st_status st = st_json_parse(json, len, NULL, &doc, err);
    if (st != ST_OK)
        return st;
    const st_json *root = st_json_doc_root(doc);
    if (root->type != ST_JSON_OBJECT) {
        st_json_doc_free(doc);
        return st_fail(err, ST_E_IO, "corrupt attachment metadata");
    }
    st_att *list = calloc(root->len ? root->len : 1, sizeof *list);
    if (!list) {
        st_json_doc_free(doc);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < root->len; i++)
        att_of(&root->u.members[i], &list[i]);
    *out_list = list;
    *out_n = root->len;
    *arena = doc;
    return ST_OK;
}

/* "data": base64 of the decoded bytes. */
static st_status write_data(st_conn *c, const st_att *a, size_t max, st_jw *w, st_error *err)
{
    st_buf data = ST_BUF_INIT, plain = ST_BUF_INIT, b64 = ST_BUF_INIT;
    st_status st = st_store_att_get(c, a->digest, &data, err);
    const st_buf *bytes = &data;
    if (st == ST_OK && a->encoding) {
        st = st_gunzip(data.data ? data.data : "", data.len, max, &plain, err);
        bytes = &plain;
    }
    if (st == ST_OK &&
        (st = st_base64_encode(&b64, bytes->data ? bytes->data : "", bytes->len)) != ST_OK)
        st_fail(err, st, "out of memory");
    if (st == ST_OK) {
        st_jw_key(w, "data");
        st_jw_strn(w, b64.data, b64.len);
    }
    st_buf_free(&data);
    st_buf_free(&plain);
    st_buf_free(&b64);
    return st;
}

/* CouchDB's shapes: a stub has length and stub:true; inline data has no
 * length; follows has length and follows:true; encoding info on stubs and
 * inline data only when asked, always on follows (those bytes go out
 * encoded). */
st_status st_atts_render(st_conn *c, const char *json, size_t len, st_atts_mode mode,
                         bool encoding_info, uint64_t min_revpos, st_jw *w,
                         st_att **out_list, size_t *out_n, st_json_doc **arena, st_error *err)
{
    if (out_list) {
        *out_list = NULL;
        *out_n = 0;
    }
    if (arena)
        *arena = NULL;
    st_att *list = NULL;
    size_t n = 0;
    st_json_doc *doc = NULL;
    st_status st = st_atts_list(json, len, &list, &n, &doc, err);
    if (st != ST_OK)
        return st;
    st_jw_key(w, "_attachments");
    st_jw_obj_open(w);
    for (size_t i = 0; i < n && st == ST_OK; i++) {
        st_att *a = &list[i];
        a->body_sent = mode != ST_ATTS_STUB && a->revpos > min_revpos;
        bool inline_data = a->body_sent && mode == ST_ATTS_INLINE;
        st_jw_key(w, a->name);
        st_jw_obj_open(w);
        st_jw_key(w, "content_type");
        st_jw_str(w, a->content_type);
        st_jw_key(w, "revpos");
        st_jw_uint(w, a->revpos);
        st_jw_key(w, "digest");
        st_jw_str(w, a->digest);
        if (!inline_data) {
            st_jw_key(w, "length");
            st_jw_uint(w, a->length);
        }
        if (a->encoding && (encoding_info || (a->body_sent && mode == ST_ATTS_FOLLOWS))) {
            st_jw_key(w, "encoding");
            st_jw_str(w, a->encoding);
            st_jw_key(w, "encoded_length");
            st_jw_uint(w, a->encoded_length);
        }
        if (!a->body_sent) {
            st_jw_key(w, "stub");
            st_jw_bool(w, true);
        } else if (mode == ST_ATTS_FOLLOWS) {
            st_jw_key(w, "follows");
            st_jw_bool(w, true);
        } else {
            st = write_data(c, a, (size_t)-1, w, err);
        }
        st_jw_obj_close(w);
    }
    st_jw_obj_close(w);
    if (st == ST_OK && out_list) {
        *out_list = list;
        *out_n = n;
        list = NULL;
        *arena = doc;
        doc = NULL;
    }
    free(list);
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
    const st_json *root = st_json_doc_root(doc);
    st = ST_E_NOT_FOUND;
    for (size_t i = root->type == ST_JSON_OBJECT ? root->len : 0; i-- > 0;) {
        const st_json_member *m = &root->u.members[i];
        if (strcmp(m->key, name) != 0 || !st_json_get_str(&m->value, "digest"))
            continue;
        st_att a;
        att_of(m, &a);
        snprintf(out->content_type, sizeof out->content_type, "%s", a.content_type);
        snprintf(out->digest, sizeof out->digest, "%s", a.digest);
        snprintf(out->encoding, sizeof out->encoding, "%s", a.encoding ? a.encoding : "");
        out->length = a.length;
        out->revpos = a.revpos;
        out->encoded_length = a.encoded_length;
        st = ST_OK;
        break;
    }
    st_json_doc_free(doc);
    return st;
}
