/* repl_id.c — replication ids (see repl_id.h for the schemes).
 *
 * The Erlang external term format written here covers what the id term
 * holds: lists, tuples, binaries, atoms, small integers and strings.  Erlang
 * "strings" (ibrowse's parsed URL parts) are lists of bytes and encode as
 * STRING_EXT; the empty string is NIL_EXT.  A selector is a JSON value and is
 * encoded as jiffy decodes it, by core's rev-hash encoder.
 */
#include "repl_id.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static st_status put(st_buf *b, const void *p, size_t n) { return st_buf_add(b, p, n); }

static st_status put_u8(st_buf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    return put(b, &c, 1);
}

static st_status put_be16(st_buf *b, uint32_t v)
{
    unsigned char c[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    return put(b, c, 2);
}

static st_status put_be32(st_buf *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    return put(b, c, 4);
}

static st_status put_atom(st_buf *b, const char *name, st_etf_atoms atoms)
{
    size_t n = strlen(name);
    st_status st;
    if (atoms == ST_ETF_ATOM_UTF8) {
        if ((st = put_u8(b, 119)) != ST_OK || (st = put_u8(b, (unsigned)n)) != ST_OK)
            return st;
    } else if ((st = put_u8(b, 100)) != ST_OK || (st = put_be16(b, (uint32_t)n)) != ST_OK) {
        return st;
    }
    return put(b, name, n);
}

static st_status put_binary(st_buf *b, const char *s)
{
    size_t n = strlen(s);
    st_status st;
    if ((st = put_u8(b, 109)) != ST_OK || (st = put_be32(b, (uint32_t)n)) != ST_OK)
        return st;
    return put(b, s, n);
}

/* An Erlang string (list of bytes): STRING_EXT, or NIL_EXT when empty. */
static st_status put_string(st_buf *b, const char *s)
{
    size_t n = strlen(s);
    st_status st;
    if (n == 0)
        return put_u8(b, 106);
    if (n > 65535) {
        /* Too long for STRING_EXT: a proper list of small integers. */
        if ((st = put_u8(b, 108)) != ST_OK || (st = put_be32(b, (uint32_t)n)) != ST_OK)
            return st;
        for (size_t i = 0; i < n; i++)
            if ((st = put_u8(b, 97)) != ST_OK || (st = put_u8(b, (unsigned char)s[i])) != ST_OK)
                return st;
        return put_u8(b, 106);
    }
    if ((st = put_u8(b, 107)) != ST_OK || (st = put_be16(b, (uint32_t)n)) != ST_OK)
        return st;
    return put(b, s, n);
}

static st_status put_int(st_buf *b, int v)
{
    st_status st;
    if (v >= 0 && v <= 255) {
        if ((st = put_u8(b, 97)) != ST_OK)
            return st;
        return put_u8(b, (unsigned)v);
    }
    if ((st = put_u8(b, 98)) != ST_OK)
        return st;
    return put_be32(b, (uint32_t)v);
}

static st_status put_endpoint(st_buf *b, const st_ep *ep, st_etf_atoms atoms)
{
    st_status st;
    if (!ep->remote) {
        /* {local, <<DbUUID>>} */
        if ((st = put_u8(b, 104)) != ST_OK || (st = put_u8(b, 2)) != ST_OK ||
            (st = put_atom(b, "local", atoms)) != ST_OK)
            return st;
        return put_binary(b, ep->uuid);
    }
    /* {remote, User, Host, Port, Path, Headers, OAuth} */
    if ((st = put_u8(b, 104)) != ST_OK || (st = put_u8(b, 7)) != ST_OK ||
        (st = put_atom(b, "remote", atoms)) != ST_OK)
        return st;
    st = ep->user ? put_string(b, ep->user) : put_atom(b, "undefined", atoms);
    if (st != ST_OK || (st = put_string(b, ep->host ? ep->host : "")) != ST_OK)
        return st;
    st = ep->port ? put_int(b, ep->port) : put_atom(b, "default", atoms);
    if (st != ST_OK || (st = put_string(b, ep->path ? ep->path : "/")) != ST_OK ||
        (st = put_u8(b, 106)) != ST_OK)
        return st;
    return put_atom(b, "undefined", atoms);
}

st_status st_repl_id_term(const char *uuid, const st_ep *src, const st_ep *tgt,
                          const char *const *doc_ids, size_t n_doc_ids, const char *selector,
                          st_etf_atoms atoms, st_buf *out, st_error *err)
{
    bool has_filter = n_doc_ids > 0 || selector;
    st_status st;
    if ((st = put_u8(out, 131)) != ST_OK || (st = put_u8(out, 108)) != ST_OK ||
        (st = put_be32(out, has_filter ? 4 : 3)) != ST_OK || (st = put_binary(out, uuid)) != ST_OK ||
        (st = put_endpoint(out, src, atoms)) != ST_OK || (st = put_endpoint(out, tgt, atoms)) != ST_OK)
        return st_fail(err, st, "out of memory");
    if (n_doc_ids > 0) {
        /* [DocIds]: the list of binaries as given. */
        if ((st = put_u8(out, 108)) != ST_OK || (st = put_be32(out, (uint32_t)n_doc_ids)) != ST_OK)
            return st_fail(err, st, "out of memory");
        for (size_t i = 0; i < n_doc_ids; i++)
            if ((st = put_binary(out, doc_ids[i])) != ST_OK)
                return st_fail(err, st, "out of memory");
        if ((st = put_u8(out, 106)) != ST_OK)
            return st_fail(err, st, "out of memory");
    } else if (selector) {
        st_json_doc *doc = NULL;
        st_buf term = ST_BUF_INIT;
        st = st_json_parse(selector, strlen(selector), NULL, &doc, err);
        if (st == ST_OK)
            st = st_json_term(st_json_doc_root(doc), &term, err);
        /* Skip the version byte: the value sits inside our list. */
        if (st == ST_OK && (st = put(out, term.data + 1, term.len - 1)) != ST_OK)
            st_fail(err, st, "out of memory");
        st_buf_free(&term);
        st_json_doc_free(doc);
        if (st != ST_OK)
            return st;
    }
    if ((st = put_u8(out, 106)) != ST_OK)
        return st_fail(err, st, "out of memory");
    return ST_OK;
}

static bool md5(const void *p, size_t n, unsigned char out[16])
{
    unsigned len = 0;
    return EVP_Digest(p, n, out, &len, EVP_md5(), NULL) == 1 && len == 16;
}

st_status st_repl_id_couch(const char *uuid, const st_ep *src, const st_ep *tgt,
                           const char *const *doc_ids, size_t n_doc_ids,
                           const char *selector, st_etf_atoms atoms, char out[33],
                           st_error *err)
{
    st_buf term = ST_BUF_INIT;
    st_status st = st_repl_id_term(uuid, src, tgt, doc_ids, n_doc_ids, selector, atoms, &term, err);
    unsigned char d[16];
    if (st == ST_OK && !md5(term.data, term.len, d))
        st = st_fail(err, ST_E_IO, "md5 failed");
    st_buf_free(&term);
    if (st != ST_OK)
        return st;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[32] = '\0';
    return ST_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

st_status st_repl_id_pouch(const st_ep *src, const st_ep *tgt, const char *const *doc_ids,
                           size_t n_doc_ids, const char *selector, char out[25],
                           st_error *err)
{
    if (!src->pouch_id || !tgt->pouch_id)
        return st_fail(err, ST_E_BAD_REQUEST, "PouchDB ids exist only for remote endpoints");
    st_buf b = ST_BUF_INIT;
    const char **sorted = NULL;
    st_json_doc *sel = NULL;
    st_status st = st_buf_adds(&b, src->pouch_id);
    if (st == ST_OK)
        st = st_buf_adds(&b, tgt->pouch_id);
    if (st == ST_OK && n_doc_ids) {
        /* PouchDB sorts doc_ids (collate: code-unit order) and the array
         * stringifies as "a,b,c". */
        if (!(sorted = malloc(n_doc_ids * sizeof *sorted)))
            st = ST_E_NOMEM;
        for (size_t i = 0; st == ST_OK && i < n_doc_ids; i++)
            sorted[i] = doc_ids[i];
        if (st == ST_OK)
            qsort(sorted, n_doc_ids, sizeof *sorted, cmp_str);
        for (size_t i = 0; st == ST_OK && i < n_doc_ids; i++)
            if ((i && (st = st_buf_addc(&b, ',')) != ST_OK) ||
                (st = st_buf_adds(&b, sorted[i])) != ST_OK)
                break;
    }
    if (st == ST_OK && selector) {
        /* JSON.stringify: compact, members in the order given. */
        if ((st = st_json_parse(selector, strlen(selector), NULL, &sel, err)) != ST_OK)
            goto out;
        st_jw w;
        if ((st = st_jw_init(&w, &b)) == ST_OK) {
            st_jw_value(&w, st_json_doc_root(sel));
            st = st_jw_status(&w);
            st_jw_free(&w);
        }
    }
    if (st != ST_OK) {
        st_fail(err, st, "out of memory");
        goto out;
    }
    unsigned char d[16];
    if (!md5(b.data, b.len, d)) {
        st = st_fail(err, ST_E_IO, "md5 failed");
        goto out;
    }
    unsigned char b64[32];
    int n = EVP_EncodeBlock(b64, d, 16); /* 24 chars, "==" padded */
    for (int i = 0; i < n && i < 24; i++)
        out[i] = b64[i] == '/' ? '.' : b64[i] == '+' ? '_' : (char)b64[i];
    out[24] = '\0';
out:
    st_json_doc_free(sel);
    free(sorted);
    st_buf_free(&b);
    return st;
}
