/* view_key.c — row positions, query bounds and group prefixes, as bytes.
 *
 * A view row is ordered by (key in the view's collation, doc id by bytes,
 * emit number).  Its position is the concatenation of the key's sort key
 * (st_collate_key: memcmp order = collation, self-delimiting), the doc id
 * escaped like a raw string (0x00 -> 01 01, 0x01 -> 01 02, then 0x00) and
 * the emit number in four big-endian bytes, so SQLite's BLOB order is the
 * row order and every bound of a query is a byte string:
 *   startkey K               pos >= sk(K)
 *   startkey K, docid D      pos >= sk(K) esc(D) 00
 *   endkey K (inclusive)     pos <  sk(K) FF
 *   endkey K, docid D        pos <  sk(K) esc(D) 00 FF
 * (FF is above any byte that can follow a sort key inside a position.)
 *
 * Group prefixes rely on the key layout st_collate.h documents: a type tag
 * (0x10 * (rank + 1)), then per type: numbers a class byte and, for finite
 * non-zero ones, 4 exponent bytes and digits up to a terminator (0x00, or
 * 0xFF for negatives); strings up to 0x00; arrays their elements then
 * 0x00; objects (0x01, key string, value)* then 0x00.
 */
#include "view_int.h"

#include <string.h>

#include "st_jw.h"

static st_status esc_docid(st_buf *out, const char *docid)
{
    size_t n = strlen(docid);
    st_status st = st_buf_reserve(out, 2 * n + 1);
    for (size_t i = 0; st == ST_OK && i < n; i++) {
        unsigned char c = (unsigned char)docid[i];
        if (c <= 0x01) {
            st = st_buf_addc(out, 0x01);
            c = (unsigned char)(c + 1);
        }
        if (st == ST_OK)
            st = st_buf_addc(out, (char)c);
    }
    return st == ST_OK ? st_buf_addc(out, 0x00) : st;
}

st_status st_vkey_pos(st_buf *out, const st_json *key, st_collate_mode m, const char *docid,
                      uint32_t dup)
{
    st_status st = st_collate_key(key, m, out);
    if (st == ST_OK)
        st = esc_docid(out, docid);
    unsigned char d[4] = {(unsigned char)(dup >> 24), (unsigned char)(dup >> 16),
                          (unsigned char)(dup >> 8), (unsigned char)dup};
    return st == ST_OK ? st_buf_add(out, d, sizeof d) : st;
}

st_status st_vkey_bound(st_buf *out, const st_json *key, st_collate_mode m, const char *docid)
{
    st_status st = st_collate_key(key, m, out);
    return st == ST_OK && docid ? esc_docid(out, docid) : st;
}

/* ---- walking sort keys ---------------------------------------------------- */

enum { K_NUM, K_STR, K_ARR, K_OBJ, K_ATOM, K_BAD };

static int kind_of(unsigned char tag, st_collate_mode m)
{
    int rank = tag / 0x10 - 1;
    static const int icu[] = {K_ATOM, K_ATOM, K_ATOM, K_NUM, K_STR, K_ARR, K_OBJ};
    static const int raw[] = {K_NUM, K_ATOM, K_ATOM, K_ATOM, K_OBJ, K_ARR, K_STR};
    if (tag % 0x10 != 0 || rank < 0 || rank > 6)
        return K_BAD;
    return m == ST_COLLATE_RAW ? raw[rank] : icu[rank];
}

/* Index just past the zero-terminated run at i, or 0. */
static size_t past_zero(const unsigned char *p, size_t n, size_t i)
{
    const unsigned char *z = i < n ? memchr(p + i, 0, n - i) : NULL;
    return z ? (size_t)(z - p) + 1 : 0;
}

/* Index just past the value starting at i, or 0 when malformed.  depth
 * bounds the recursion (st_json bounds nesting when values are parsed). */
static size_t skip_value(const unsigned char *p, size_t n, size_t i, st_collate_mode m,
                         unsigned depth)
{
    if (i >= n || depth > 256)
        return 0;
    switch (kind_of(p[i++], m)) {
    case K_ATOM:
        return i;
    case K_NUM: {
        if (i >= n)
            return 0;
        unsigned char cls = p[i++];
        if (cls != 1 && cls != 3)
            return i;
        i += 4;
        unsigned char term = cls == 1 ? 0xFF : 0x00;
        while (i < n && p[i] != term)
            i++;
        return i < n ? i + 1 : 0;
    }
    case K_STR:
        return past_zero(p, n, i);
    case K_ARR:
        while (i < n && p[i] != 0x00)
            if ((i = skip_value(p, n, i, m, depth + 1)) == 0)
                return 0;
        return i < n ? i + 1 : 0;
    case K_OBJ:
        while (i < n && p[i] == 0x01) {
            if ((i = past_zero(p, n, i + 1)) == 0 || (i = skip_value(p, n, i, m, depth + 1)) == 0)
                return 0;
        }
        return i < n && p[i] == 0x00 ? i + 1 : 0;
    default:
        return 0;
    }
}

size_t st_vkey_len(const unsigned char *p, size_t n, st_collate_mode m)
{
    return skip_value(p, n, 0, m, 0);
}

size_t st_vkey_group_len(const unsigned char *k, size_t n, int level, st_collate_mode m)
{
    if (level == 0)
        return 0;
    size_t whole = skip_value(k, n, 0, m, 0);
    if (level < 0 || whole == 0 || kind_of(k[0], m) != K_ARR)
        return whole;
    size_t i = 1;
    for (int e = 0; e < level && i < n && k[i] != 0x00; e++)
        if ((i = skip_value(k, n, i, m, 1)) == 0)
            return whole;
    return i; /* the tag and the elements, without the array's end */
}

size_t st_vkey_group_end(const unsigned char *k, size_t n, int level, st_collate_mode m)
{
    size_t g = st_vkey_group_len(k, n, level, m);
    if (level <= 0 || g == 0 || kind_of(k[0], m) != K_ARR)
        return g;
    /* Fewer elements than the level: the group is this key alone. */
    size_t e = 0;
    for (size_t i = 1; i < g; e++)
        if ((i = skip_value(k, g, i, m, 1)) == 0)
            break;
    return e < (size_t)level ? st_vkey_len(k, n, m) : g;
}

st_status st_vkey_group_json(st_buf *out, const char *key_json, size_t n, int level)
{
    if (level == 0)
        return st_buf_adds(out, "null");
    if (level < 0 || n == 0 || key_json[0] != '[')
        return st_buf_add(out, key_json, n);
    st_json_doc *d = NULL;
    st_status st = st_json_parse(key_json, n, NULL, &d, NULL);
    if (st != ST_OK)
        return st_buf_add(out, key_json, n);
    const st_json *a = st_json_doc_root(d);
    st_jw w;
    if ((st = st_jw_init(&w, out)) == ST_OK) {
        st_jw_arr_open(&w);
        for (size_t i = 0; i < a->len && i < (size_t)level; i++)
            st_jw_value(&w, &a->u.items[i]);
        st_jw_arr_close(&w);
        st = st_jw_status(&w);
        st_jw_free(&w);
    }
    st_json_doc_free(d);
    return st;
}

/* ---- the ids value -------------------------------------------------------- */

static st_status put_varint(st_buf *out, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;
    do {
        unsigned char c = v & 0x7F;
        v >>= 7;
        b[n++] = (unsigned char)(c | (v ? 0x80 : 0));
    } while (v);
    return st_buf_add(out, b, n);
}

static bool get_varint(vid_iter *it, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; it->p < it->end && shift < 64; shift += 7) {
        unsigned char c = *it->p++;
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

st_status st_vkey_ids_add(st_buf *out, unsigned view, const void *pos, size_t n)
{
    st_status st = put_varint(out, view);
    if (st == ST_OK)
        st = put_varint(out, n);
    return st == ST_OK ? st_buf_add(out, pos, n) : st;
}

bool st_vkey_ids_next(vid_iter *it, unsigned *view, const unsigned char **pos, size_t *n)
{
    uint64_t v, len;
    if (it->p >= it->end || !get_varint(it, &v) || !get_varint(it, &len) ||
        len > (uint64_t)(it->end - it->p) || v > 0xFFFF)
        return false;
    *view = (unsigned)v;
    *pos = it->p;
    *n = (size_t)len;
    it->p += len;
    return true;
}
