/* reduce_hll.c — _approx_count_distinct: exact up to a small set of keys,
 * then a HyperLogLog sketch (see reduce_int.h).
 */
#include "reduce_int.h"
#include "st_base64.h"
#include "st_reduce.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- _approx_count_distinct ----------------------------------------------------- */

#define HLL_P 11
#define HLL_M (1u << HLL_P)

/* Exact while small: the distinct 64-bit hashes of the keys; past
 * ST_REDUCE_HLL_EXACT_MAX, HyperLogLog registers. */
typedef struct hll {
    bool dense;
    size_t n;
    uint64_t hashes[ST_REDUCE_HLL_EXACT_MAX];
    uint8_t regs[HLL_M];
} hll;

/* FNV-1a, then splitmix64's finalizer so that every bit is usable. */
static uint64_t hash64(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static void hll_dense_add(hll *h, uint64_t x)
{
    uint64_t rest = x << HLL_P;
    unsigned idx = (unsigned)(x >> (64 - HLL_P));
    uint8_t rho = rest == 0 ? (uint8_t)(64 - HLL_P + 1) : (uint8_t)(__builtin_clzll(rest) + 1);

    if (rho > h->regs[idx])
        h->regs[idx] = rho;
}

static void hll_add(hll *h, uint64_t x)
{
    if (h->dense) {
        hll_dense_add(h, x);
        return;
    }
    for (size_t i = 0; i < h->n; i++)
        if (h->hashes[i] == x)
            return;
    if (h->n < ST_REDUCE_HLL_EXACT_MAX) {
        h->hashes[h->n++] = x;
        return;
    }
    h->dense = true;
    for (size_t i = 0; i < h->n; i++)
        hll_dense_add(h, h->hashes[i]);
    h->n = 0;
    hll_dense_add(h, x);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* {"hll":"exact","hashes":base64(big-endian sorted hashes)} or
 * {"hll":"p11","registers":base64(2048 bytes)}. */
static st_status hll_write(hll *h, st_jw *w)
{
    unsigned char bytes[ST_REDUCE_HLL_EXACT_MAX * 8];
    st_buf b64 = ST_BUF_INIT;
    st_status rc;

    if (!h->dense) {
        qsort(h->hashes, h->n, sizeof h->hashes[0], cmp_u64);
        for (size_t i = 0; i < h->n; i++)
            for (int k = 0; k < 8; k++)
                bytes[i * 8 + k] = (unsigned char)(h->hashes[i] >> (56 - 8 * k));
    }
    rc = h->dense ? st_base64_encode(&b64, h->regs, HLL_M) : st_base64_encode(&b64, bytes, h->n * 8);
    if (rc == ST_OK) {
        st_jw_obj_open(w);
        st_jw_key(w, "hll");
        st_jw_str(w, h->dense ? "p11" : "exact");
        st_jw_key(w, h->dense ? "registers" : "hashes");
        st_jw_strn(w, b64.len ? b64.data : "", b64.len);
        st_jw_obj_close(w);
    }
    st_buf_free(&b64);
    return rc;
}

/* Merge a stored sketch into h. */
static st_status hll_merge(hll *h, const st_json *v, st_error *err)
{
    const char *kind = v->type == ST_JSON_OBJECT ? st_json_get_str(v, "hll") : NULL;
    bool dense = kind != NULL && strcmp(kind, "p11") == 0;
    const char *data = kind ? st_json_get_str(v, dense ? "registers" : "hashes") : NULL;
    st_buf raw = ST_BUF_INIT;
    st_status rc = ST_OK;

    if (kind == NULL || data == NULL || (!dense && strcmp(kind, "exact") != 0) ||
        st_base64_decode_to(&raw, data, strlen(data)) != ST_OK ||
        (dense ? raw.len != HLL_M : raw.len % 8 != 0 || raw.len > sizeof h->hashes)) {
        rc = st_fail(err, ST_E_INVALID_VALUE, "not an _approx_count_distinct reduction");
    } else if (dense) {
        if (!h->dense) {
            h->dense = true;
            for (size_t i = 0; i < h->n; i++)
                hll_dense_add(h, h->hashes[i]);
            h->n = 0;
        }
        for (unsigned i = 0; i < HLL_M; i++)
            if ((uint8_t)raw.data[i] > h->regs[i])
                h->regs[i] = (uint8_t)raw.data[i];
    } else {
        for (size_t i = 0; i < raw.len; i += 8) {
            uint64_t x = 0;
            for (int k = 0; k < 8; k++)
                x = x << 8 | (unsigned char)raw.data[i + k];
            hll_add(h, x);
        }
    }
    st_buf_free(&raw);
    return rc;
}

static uint64_t hll_count(const hll *h)
{
    double sum = 0, m = HLL_M, e;
    unsigned zeros = 0;

    if (!h->dense)
        return h->n;
    for (unsigned i = 0; i < HLL_M; i++) {
        sum += ldexp(1.0, -(int)h->regs[i]);
        zeros += h->regs[i] == 0;
    }
    e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
    if (e <= 2.5 * m && zeros > 0)
        e = m * log(m / zeros); /* linear counting while most registers are empty */
    return (uint64_t)llround(e);
}

st_status st_reduce_hll(bool rereduce, const st_json *const keys[], const st_json *const values[],
                         size_t n, st_jw *w, st_error *err)
{
    hll *h = calloc(1, sizeof *h);
    st_buf key = ST_BUF_INIT;
    st_status rc = ST_OK;

    if (h == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory in _approx_count_distinct");
    for (size_t i = 0; i < n && rc == ST_OK; i++) {
        st_jw kw;
        if (rereduce) {
            rc = hll_merge(h, values[i], err);
            continue;
        }
        /* Keys are counted by their JSON text: 1 and 1.0 differ, as the
         * Erlang terms CouchDB hashes do. */
        st_buf_reset(&key);
        if ((rc = st_jw_init(&kw, &key)) != ST_OK)
            break;
        st_jw_value(&kw, keys[i]);
        rc = st_jw_status(&kw);
        st_jw_free(&kw);
        if (rc == ST_OK)
            hll_add(h, hash64(key.data, key.len));
    }
    if (rc == ST_OK)
        rc = hll_write(h, w);
    st_buf_free(&key);
    free(h);
    return rc;
}

st_status st_reduce_hll_count(const st_json *reduction, uint64_t *out, st_error *err)
{
    hll *h = calloc(1, sizeof *h);
    st_status rc = h == NULL ? st_fail(err, ST_E_NOMEM, "out of memory") : hll_merge(h, reduction, err);
    if (rc == ST_OK)
        *out = hll_count(h);
    free(h);
    return rc;
}
