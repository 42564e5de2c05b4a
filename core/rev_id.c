/* rev_id.c — revision ids ("N-hash"): parse, format, compare; the
 * members a rev hash leaves out.  New ids are computed in rev.c.
 */
#include "st_rev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static st_status bad_rev(st_error *err)
{
    return st_fail(err, ST_E_BAD_REQUEST, "Invalid rev format");
}

st_status st_rev_parse(const char *s, size_t n, st_rev *out, st_error *err)
{
    uint64_t gen = 0;
    size_t i = 0, hlen;

    if (s == NULL || out == NULL)
        return bad_rev(err);
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');

        if (gen > (UINT64_MAX - d) / 10)
            return bad_rev(err); /* generation does not fit 64 bits */
        gen = gen * 10 + d;
    }
    /* Generations stay below 2^63, so every revision can still be edited
     * (a child is gen + 1) and fits a signed 64-bit integer anywhere. */
    if (i == 0 || gen == 0 || gen > INT64_MAX || i >= n || s[i] != '-')
        return bad_rev(err);
    i++;
    hlen = n - i;
    if (hlen == 0 || hlen > ST_REV_HASH_MAX)
        return bad_rev(err);
    for (size_t k = i; k < n; k++) {
        unsigned char c = (unsigned char)s[k];

        if (c < 0x21 || c > 0x7e) /* printable ASCII, no space */
            return bad_rev(err);
    }
    out->gen = gen;
    out->hash_len = (unsigned)hlen;
    memcpy(out->hash, s + i, hlen);
    out->hash[hlen] = '\0';
    return ST_OK;
}

size_t st_rev_format(const st_rev *r, char *out, size_t cap)
{
    char tmp[ST_REV_STR_MAX];
    char digits[24];
    size_t nd = 0, len = 0, hlen;
    uint64_t g = r->gen;

    do {
        digits[nd++] = (char)('0' + g % 10);
        g /= 10;
    } while (g != 0);
    while (nd > 0)
        tmp[len++] = digits[--nd];
    tmp[len++] = '-';
    hlen = r->hash_len <= ST_REV_HASH_MAX ? r->hash_len : ST_REV_HASH_MAX;
    memcpy(tmp + len, r->hash, hlen);
    len += hlen;
    if (cap == 0)
        return 0;
    if (len >= cap)
        len = cap - 1; /* truncated; cap >= ST_REV_STR_MAX never is */
    memcpy(out, tmp, len);
    out[len] = '\0';
    return len;
}

int st_rev_cmp(const st_rev *a, const st_rev *b)
{
    unsigned m = a->hash_len < b->hash_len ? a->hash_len : b->hash_len;
    int c;

    if (a->gen != b->gen)
        return a->gen < b->gen ? -1 : 1;
    c = memcmp(a->hash, b->hash, m);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return (a->hash_len > b->hash_len) - (a->hash_len < b->hash_len);
}

bool st_rev_eq(const st_rev *a, const st_rev *b)
{
    return a->gen == b->gen && a->hash_len == b->hash_len &&
           memcmp(a->hash, b->hash, a->hash_len) == 0;
}

bool st_rev_is_stripped_member(const char *k, size_t k_len)
{
    static const struct {
        const char *name;
        size_t len;
    } stripped[] = {
#define M(s) {s, sizeof s - 1}
        M("_id"), M("_rev"), M("_attachments"), M("_deleted"), M("_revisions"),
        M("_revs_info"), M("_conflicts"), M("_deleted_conflicts"), M("_local_seq"),
#undef M
    };

    if (k_len < 3 || k[0] != '_')
        return false;
    for (size_t i = 0; i < sizeof stripped / sizeof stripped[0]; i++)
        if (stripped[i].len == k_len && memcmp(stripped[i].name, k, k_len) == 0)
            return true;
    return false;
}
