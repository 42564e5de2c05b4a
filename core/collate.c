/* collate.c — CouchDB view collation of st_json values, and sort keys.
 *
 * Why sort keys at all: SQLite indexes compare BLOBs with memcmp, so a Mango
 * json index or a view stores each key as bytes whose memcmp order is the
 * collation order; ICU's own sort keys give that for strings, the rest is the
 * type tag and number encoding below.
 *
 * Why numbers go through a decimal normal form: CouchDB keeps integers exact
 * (Erlang bignums) and compares them exactly against doubles, so neither
 * "everything is a double" nor "compare the text" is right.  The normal form
 * (sign, exponent, significant digits of 0.d1d2... x 10^exp) is exact for
 * integer text and for doubles from 2^53 up, and is the shortest round-trip
 * decimal for smaller doubles, which orders like the doubles themselves.
 * Keys and comparisons both use it.  Integer text and short decimals (up to
 * 15 significant digits) get it straight from their digits; other decimals
 * go through strtod, and two doubles, or a double and an integer below 2^53,
 * are compared as doubles, which gives the same answers.
 *
 * Numbers are read with strtod/snprintf: the process keeps the C numeric
 * locale (settee never calls setlocale), and st_json leaves a NUL after every
 * number's text, which strtod relies on.
 */
#include "st_collate.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucol.h>
#include <unicode/ustring.h>

/* ---- ICU collators -------------------------------------------------------
 * One root collator, opened once; each thread clones it on first use and
 * keeps the clone in a thread-specific slot whose destructor closes it.  A
 * thread that cannot get a clone uses the root under root_lock. */

static pthread_once_t icu_once = PTHREAD_ONCE_INIT;
static UCollator *icu_root;     /* NULL when ICU could not open it */
static UErrorCode icu_root_err; /* why, for st_collate_init */
static pthread_mutex_t root_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t clone_key;
static bool clone_key_ok;

static void clone_free(void *p)
{
    ucol_close(p);
}

static void icu_open_root(void)
{
    UErrorCode st = U_ZERO_ERROR;
    UCollator *c = ucol_open("", &st);

    if (U_FAILURE(st)) {
        ucol_close(c);
        c = NULL;
    }
    icu_root = c;
    icu_root_err = st;
    clone_key_ok = pthread_key_create(&clone_key, clone_free) == 0;
}

typedef struct coll_ref {
    UCollator *coll; /* NULL: ICU unusable, order strings by bytes */
    bool locked;     /* coll is the shared root and root_lock is held */
} coll_ref;

static UCollator *thread_clone(void)
{
    UCollator *c;
    UErrorCode st = U_ZERO_ERROR;

    if (!clone_key_ok)
        return NULL;
    c = pthread_getspecific(clone_key);
    if (c != NULL)
        return c;
    pthread_mutex_lock(&root_lock);
    c = ucol_clone(icu_root, &st);
    pthread_mutex_unlock(&root_lock);
    if (U_FAILURE(st) || pthread_setspecific(clone_key, c) != 0) {
        ucol_close(c);
        return NULL;
    }
    return c;
}

static coll_ref coll_get(void)
{
    coll_ref r = {NULL, false};

    pthread_once(&icu_once, icu_open_root);
    if (icu_root == NULL)
        return r;
    r.coll = thread_clone();
    if (r.coll == NULL) {
        pthread_mutex_lock(&root_lock);
        r.coll = icu_root;
        r.locked = true;
    }
    return r;
}

static void coll_put(coll_ref r)
{
    if (r.locked)
        pthread_mutex_unlock(&root_lock);
}

st_status st_collate_init(st_error *err)
{
    pthread_once(&icu_once, icu_open_root);
    if (icu_root == NULL)
        return st_fail(err, ST_E_IO, "ICU cannot open its root collator: %s",
                       u_errorName(icu_root_err));
    return ST_OK;
}

void st_collate_version(char *out, size_t cap)
{
    UVersionInfo v;
    char s[U_MAX_VERSION_STRING_LENGTH];
    coll_ref r = coll_get();

    if (cap == 0)
        return;
    if (r.coll == NULL) {
        snprintf(out, cap, "bytes");
        return;
    }
    ucol_getVersion(r.coll, v);
    coll_put(r);
    u_versionToString(v, s);
    snprintf(out, cap, "%s", s);
}

/* ---- strings ------------------------------------------------------------ */

static int sign_of(int v)
{
    return (v > 0) - (v < 0);
}

int st_collate_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);

    if (c != 0)
        return sign_of(c);
    return (an > bn) - (an < bn);
}

int st_collate_str(const char *a, size_t an, const char *b, size_t bn)
{
    UErrorCode st = U_ZERO_ERROR;
    UCollationResult res;
    coll_ref r;

    /* Byte-equal strings collate equal; equality tests are the common case. */
    if (an == bn && memcmp(a, b, an) == 0)
        return 0;
    if (an > INT32_MAX || bn > INT32_MAX)
        return st_collate_bytes(a, an, b, bn);
    r = coll_get();
    if (r.coll == NULL)
        return st_collate_bytes(a, an, b, bn);
    res = ucol_strcollUTF8(r.coll, a, (int32_t)an, b, (int32_t)bn, &st);
    coll_put(r);
    if (U_FAILURE(st))
        return st_collate_bytes(a, an, b, bn);
    return (int)res;
}

static int str_cmp(const char *a, size_t an, const char *b, size_t bn, st_collate_mode m)
{
    return m == ST_COLLATE_RAW ? st_collate_bytes(a, an, b, bn) : st_collate_str(a, an, b, bn);
}

/* ---- numbers ------------------------------------------------------------ */

#define TWO_POW_53 9007199254740992.0

/* Decimal normal form: value = sign * 0.dig[0..ndig) * 10^exp, with
 * dig[0] != '0' and dig[ndig-1] != '0'; zero has sign 0; inf is +-infinity. */
typedef struct num {
    int sign;
    bool inf;
    int32_t exp;
    const char *dig;
    size_t ndig;
    char buf[400]; /* digits made here for doubles ("%.0f" of up to 1.8e308) */
} num;

static bool is_int_text(const st_json *v)
{
    for (size_t i = 0; i < v->len; i++) {
        char c = v->u.str[i];

        if (c == '.' || c == 'e' || c == 'E')
            return false;
    }
    return true;
}

/* Integer text "[-]digits" into the normal form, digits borrowed from s. */
static void num_from_digits(num *n, const char *s, size_t len, int sign)
{
    while (len > 0 && *s == '0') {
        s++;
        len--;
    }
    n->inf = false;
    n->exp = (int32_t)len;
    n->dig = s;
    while (len > 0 && s[len - 1] == '0')
        len--;
    n->ndig = len;
    n->sign = len == 0 ? 0 : sign;
}

static void num_from_double(num *n, double d)
{
    double a = fabs(d);
    char *e;
    size_t k = 0;

    n->sign = d > 0 ? 1 : d < 0 ? -1 : 0;
    n->inf = isinf(d);
    n->exp = 0;
    n->dig = n->buf;
    n->ndig = 0;
    if (n->inf || n->sign == 0)
        return;
    if (a >= TWO_POW_53) { /* an integer: print it exactly */
        int len = snprintf(n->buf, sizeof n->buf, "%.0f", a);

        num_from_digits(n, n->buf, (size_t)len, n->sign);
        return;
    }
    /* Shortest of 15..17 significant digits that reads back as a. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(n->buf, sizeof n->buf, "%.*e", prec - 1, a);
        if (strtod(n->buf, NULL) == a)
            break;
    }
    /* n->buf is "D.DDDDe[+-]XX": gather the digits, exponent after 'e'. */
    e = strchr(n->buf, 'e');
    for (char *p = n->buf; p < e; p++)
        if (*p != '.')
            n->buf[k++] = *p;
    n->exp = (int32_t)strtol(e + 1, NULL, 10) + 1;
    while (k > 0 && n->buf[k - 1] == '0')
        k--;
    n->ndig = k;
}

/* The normal form straight from decimal text with at most 15 significant
 * digits and a value in [1e-300, 1e15): exactly what num_from_double() would
 * make of its double (15 digits survive text -> double -> text, DBL_DIG),
 * without strtod and snprintf.  False for any other text. */
static bool num_from_short_decimal(num *n, const st_json *v)
{
    const char *p = v->u.str, *end = p + v->len;
    long point = 0, e = 0;
    size_t k = 0;
    bool frac = false, esign = false;

    n->sign = 1;
    if (p < end && *p == '-') {
        n->sign = -1;
        p++;
    }
    for (; p < end && *p != 'e' && *p != 'E'; p++) {
        if (*p == '.') {
            frac = true;
        } else if (k == 0 && *p == '0') {
            point -= frac; /* a leading zero after the point */
        } else {
            if (k == 15)
                return false;
            n->buf[k++] = *p;
            point += !frac;
        }
    }
    if (p < end) { /* exponent */
        p++;
        esign = p < end && *p == '-';
        p += p < end && (*p == '-' || *p == '+');
        for (; p < end; p++)
            if ((e = e * 10 + (*p - '0')) > 100000)
                return false;
    }
    while (k > 0 && n->buf[k - 1] == '0')
        k--;
    n->inf = false;
    n->dig = n->buf;
    n->ndig = k;
    n->exp = (int32_t)(point + (esign ? -e : e));
    if (k == 0) {
        n->sign = 0;
        return true;
    }
    return n->exp >= -300 && n->exp <= 15;
}

/* Integer text and short decimals: a normal form without a double. */
static bool num_exact(num *n, const st_json *v)
{
    const char *s = v->u.str;

    if (is_int_text(v)) {
        bool neg = v->len > 0 && s[0] == '-';

        num_from_digits(n, s + neg, v->len - neg, neg ? -1 : 1);
        return true;
    }
    return num_from_short_decimal(n, v);
}

static void num_from_json(num *n, const st_json *v)
{
    if (!num_exact(n, v))
        num_from_double(n, strtod(v->u.str, NULL));
}

/* The normal forms' order; also what the key encoding memcmp-orders. */
static int num_class(const num *n)
{
    if (n->inf)
        return n->sign < 0 ? 0 : 4;
    return n->sign + 2;
}

static int num_cmp_norm(const num *a, const num *b)
{
    int ca = num_class(a), cb = num_class(b), c;

    if (ca != cb)
        return ca < cb ? -1 : 1;
    if (ca != 1 && ca != 3)
        return 0;
    if (a->exp != b->exp)
        c = a->exp < b->exp ? -1 : 1;
    else
        c = st_collate_bytes(a->dig, a->ndig, b->dig, b->ndig);
    return ca == 1 ? -c : c;
}

/* Integer text small enough to be a double exactly (|v| <= 2^53). */
static bool small_int(const st_json *v, double *out)
{
    int64_t i;

    if (!st_json_int64(v, &i) || i > (1LL << 53) || i < -(1LL << 53))
        return false;
    *out = (double)i;
    return true;
}

static int dbl_cmp(double a, double b)
{
    return (a > b) - (a < b);
}

static int num_cmp(const st_json *a, const st_json *b)
{
    bool ia, ib;
    double da, db;
    num x, y;

    /* Integers and short decimals compare by their digits, no conversion. */
    if (num_exact(&x, a) && num_exact(&y, b))
        return num_cmp_norm(&x, &y);
    ia = is_int_text(a);
    ib = is_int_text(b);
    if (!ia && !ib)
        return dbl_cmp(strtod(a->u.str, NULL), strtod(b->u.str, NULL));
    if (ia && small_int(a, &da))
        return dbl_cmp(da, strtod(b->u.str, NULL));
    if (ib && small_int(b, &db))
        return dbl_cmp(strtod(a->u.str, NULL), db);
    num_from_json(&x, a);
    num_from_json(&y, b);
    return num_cmp_norm(&x, &y);
}

/* ---- values ------------------------------------------------------------- */

/* Rank of a type in a mode; key tags are 0x10 * (rank + 1). */
static int type_rank(st_json_type t, st_collate_mode m)
{
    static const int icu[] = {
        [ST_JSON_NULL] = 0, [ST_JSON_FALSE] = 1, [ST_JSON_TRUE] = 2, [ST_JSON_NUMBER] = 3,
        [ST_JSON_STRING] = 4, [ST_JSON_ARRAY] = 5, [ST_JSON_OBJECT] = 6,
    };
    static const int raw[] = {
        [ST_JSON_NUMBER] = 0, [ST_JSON_FALSE] = 1, [ST_JSON_NULL] = 2, [ST_JSON_TRUE] = 3,
        [ST_JSON_OBJECT] = 4, [ST_JSON_ARRAY] = 5, [ST_JSON_STRING] = 6,
    };

    if ((unsigned)t > ST_JSON_OBJECT)
        return 7;
    return m == ST_COLLATE_RAW ? raw[t] : icu[t];
}

int st_collate(const st_json *a, const st_json *b, st_collate_mode m)
{
    int ra = type_rank(a->type, m), rb = type_rank(b->type, m), c;

    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (a->type) {
    case ST_JSON_NUMBER:
        return num_cmp(a, b);
    case ST_JSON_STRING:
        return str_cmp(a->u.str, a->len, b->u.str, b->len, m);
    case ST_JSON_ARRAY:
        for (size_t i = 0; i < a->len && i < b->len; i++)
            if ((c = st_collate(&a->u.items[i], &b->u.items[i], m)) != 0)
                return c;
        return (a->len > b->len) - (a->len < b->len);
    case ST_JSON_OBJECT:
        for (size_t i = 0; i < a->len && i < b->len; i++) {
            const st_json_member *x = &a->u.members[i], *y = &b->u.members[i];

            if ((c = str_cmp(x->key, x->key_len, y->key, y->key_len, m)) != 0)
                return c;
            if ((c = st_collate(&x->value, &y->value, m)) != 0)
                return c;
        }
        return (a->len > b->len) - (a->len < b->len);
    default: /* null, false, true: equal to themselves */
        return 0;
    }
}

/* ---- sort keys ---------------------------------------------------------- */

#define KEY_END 0x00    /* ends a string, an array, an object */
#define KEY_MEMBER 0x01 /* another object member follows */

static st_status key_byte(st_buf *out, unsigned char c)
{
    return st_buf_addc(out, (char)c);
}

/* Bytes with 0x00 -> 01 01 and 0x01 -> 01 02, then 0x00: order-preserving
 * and self-delimiting. */
static st_status bytes_key(const char *s, size_t n, st_buf *out)
{
    unsigned char *p;
    st_status rc;

    if (n > SIZE_MAX / 4)
        return ST_E_TOO_LARGE;
    if ((rc = st_buf_reserve(out, 2 * n + 1)) != ST_OK)
        return rc;
    p = (unsigned char *)out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x01) {
            *p++ = 0x01;
            c = (unsigned char)(c + 1);
        }
        *p++ = c;
    }
    *p++ = KEY_END;
    out->len = (size_t)((char *)p - out->data);
    out->data[out->len] = '\0';
    return ST_OK;
}

/* ICU's sort key of UTF-16 text, appended with its 0x00 terminator (ICU
 * keys hold no other 0x00 byte). */
static st_status icu_key16(UCollator *coll, const UChar *u, int32_t ulen, st_buf *out)
{
    int32_t avail, need;
    st_status rc;

    if ((rc = st_buf_reserve(out, (size_t)ulen * 4 + 16)) != ST_OK)
        return rc;
    for (;;) {
        size_t room = out->cap - out->len - 1;

        avail = room > INT32_MAX ? INT32_MAX : (int32_t)room;
        need = ucol_getSortKey(coll, u, ulen, (uint8_t *)out->data + out->len, avail);
        if (need <= 0)
            return ST_E_IO;
        if (need <= avail)
            break;
        if ((rc = st_buf_reserve(out, (size_t)need)) != ST_OK)
            return rc;
    }
    out->len += (size_t)need;
    out->data[out->len] = '\0';
    return ST_OK;
}

static st_status icu_key(const char *s, size_t n, st_buf *out)
{
    UChar stack[256], *u = stack;
    int32_t ulen = 0;
    UErrorCode st = U_ZERO_ERROR;
    st_status rc;
    coll_ref r;

    pthread_once(&icu_once, icu_open_root);
    if (icu_root == NULL)
        return bytes_key(s, n, out); /* consistent with the compare fallback */
    if (n > INT32_MAX / 2)
        return ST_E_TOO_LARGE;
    u_strFromUTF8(u, 256, &ulen, s, (int32_t)n, &st);
    if (st == U_BUFFER_OVERFLOW_ERROR) {
        u = malloc(((size_t)ulen + 1) * sizeof *u);
        if (u == NULL)
            return ST_E_NOMEM;
        st = U_ZERO_ERROR;
        u_strFromUTF8(u, ulen + 1, &ulen, s, (int32_t)n, &st);
    }
    if (U_FAILURE(st)) {
        rc = ST_E_IO;
        goto out;
    }
    r = coll_get();
    rc = icu_key16(r.coll, u, ulen, out);
    coll_put(r);
out:
    if (u != stack)
        free(u);
    return rc;
}

static st_status str_key(const char *s, size_t n, st_collate_mode m, st_buf *out)
{
    return m == ST_COLLATE_RAW ? bytes_key(s, n, out) : icu_key(s, n, out);
}

/* Class byte, then for finite non-zero numbers the biased exponent (4 bytes,
 * big-endian) and the digits, with exponent and digits complemented for
 * negatives so that larger magnitudes sort lower. */
static st_status num_key(const st_json *v, st_buf *out)
{
    num n;
    unsigned char hdr[5];
    uint32_t e;
    unsigned char flip;
    st_status rc;

    num_from_json(&n, v);
    hdr[0] = (unsigned char)num_class(&n);
    if (hdr[0] != 1 && hdr[0] != 3)
        return key_byte(out, hdr[0]);
    flip = hdr[0] == 1 ? 0xFF : 0x00;
    e = (uint32_t)n.exp + 0x80000000u;
    for (int i = 0; i < 4; i++)
        hdr[1 + i] = (unsigned char)((e >> (24 - 8 * i)) ^ flip);
    if ((rc = st_buf_reserve(out, sizeof hdr + n.ndig + 1)) != ST_OK)
        return rc;
    memcpy(out->data + out->len, hdr, sizeof hdr);
    for (size_t i = 0; i < n.ndig; i++)
        out->data[out->len + sizeof hdr + i] = (char)((unsigned char)n.dig[i] ^ flip);
    out->data[out->len + sizeof hdr + n.ndig] = (char)(KEY_END ^ flip);
    out->len += sizeof hdr + n.ndig + 1;
    out->data[out->len] = '\0';
    return ST_OK;
}

static st_status value_key(const st_json *v, st_collate_mode m, st_buf *out)
{
    st_status rc = key_byte(out, (unsigned char)(0x10 * (type_rank(v->type, m) + 1)));

    if (rc != ST_OK)
        return rc;
    switch (v->type) {
    case ST_JSON_NUMBER:
        return num_key(v, out);
    case ST_JSON_STRING:
        return str_key(v->u.str, v->len, m, out);
    case ST_JSON_ARRAY:
        for (size_t i = 0; i < v->len && rc == ST_OK; i++)
            rc = value_key(&v->u.items[i], m, out);
        return rc != ST_OK ? rc : key_byte(out, KEY_END);
    case ST_JSON_OBJECT:
        for (size_t i = 0; i < v->len && rc == ST_OK; i++) {
            const st_json_member *mb = &v->u.members[i];

            if ((rc = key_byte(out, KEY_MEMBER)) == ST_OK &&
                (rc = str_key(mb->key, mb->key_len, m, out)) == ST_OK)
                rc = value_key(&mb->value, m, out);
        }
        return rc != ST_OK ? rc : key_byte(out, KEY_END);
    default:
        return ST_OK;
    }
}

st_status st_collate_key(const st_json *v, st_collate_mode m, st_buf *out)
{
    size_t start = out->len;
    st_status rc = value_key(v, m, out);

    if (rc != ST_OK) { /* leave the buffer as it was */
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
    }
    return rc;
}
