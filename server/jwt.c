/* jwt.c — JWT verification in the order and words of CouchDB's jwtf.
 *
 * Why jwtf's order (header, then claims and their times, then the key, then
 * the signature): the reasons CouchDB gives depend on which check runs first,
 * and clients and tests match on them.  Nothing a claim says is trusted until
 * the signature is checked; the earlier checks only decide the refusal text.
 */
#include "jwt_int.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/bn.h>
#include "st_base64.h"
#include "digest.h"
#include "st_json.h"

#define MALFORMED "Malformed token"

typedef struct {
    const char *name;
    unsigned bit;
    jwt_kty kty;
    st_digest md;
    int ec_bits; /* the curve an ES alg requires */
} jwt_alg;

static const jwt_alg algs[] = {
    {"HS256", ST_JWT_HS256, JWT_KTY_HMAC, ST_DIGEST_SHA256, 0},
    {"HS384", ST_JWT_HS384, JWT_KTY_HMAC, ST_DIGEST_SHA384, 0},
    {"HS512", ST_JWT_HS512, JWT_KTY_HMAC, ST_DIGEST_SHA512, 0},
    {"RS256", ST_JWT_RS256, JWT_KTY_RSA, ST_DIGEST_SHA256, 0},
    {"RS384", ST_JWT_RS384, JWT_KTY_RSA, ST_DIGEST_SHA384, 0},
    {"RS512", ST_JWT_RS512, JWT_KTY_RSA, ST_DIGEST_SHA512, 0},
    {"ES256", ST_JWT_ES256, JWT_KTY_EC, ST_DIGEST_SHA256, 256},
    {"ES384", ST_JWT_ES384, JWT_KTY_EC, ST_DIGEST_SHA384, 384},
    {"ES512", ST_JWT_ES512, JWT_KTY_EC, ST_DIGEST_SHA512, 521},
};
#define N_ALGS (sizeof algs / sizeof algs[0])

static const jwt_alg *find_alg(const char *name, size_t n)
{
    for (size_t i = 0; i < N_ALGS; i++) {
        if (strlen(algs[i].name) == n && memcmp(algs[i].name, name, n) == 0)
            return &algs[i];
    }
    return NULL;
}

st_status st_jwt_parse_algorithms(const char *list, unsigned *out, st_error *err)
{
    unsigned set = 0;
    for (const char *s = list; *s;) {
        s += strspn(s, ", \t");
        size_t len = strcspn(s, ", \t");
        if (len == 0)
            break;
        const jwt_alg *a = find_alg(s, len);
        if (!a)
            return st_fail(err, ST_E_BAD_REQUEST, "unknown JWT algorithm '%.*s'",
                           (int)(len > 16 ? 16 : len), s);
        set |= a->bit;
        s += len;
    }
    *out = set;
    return ST_OK;
}

/* ---- required_claims ---------------------------------------------------- */

typedef struct {
    char *name;
    char *value; /* NULL: presence only */
} required_claim;

struct st_jwt_required {
    required_claim *v;
    size_t n;
};

void st_jwt_required_free(st_jwt_required *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].name);
        free(r->v[i].value);
    }
    free(r->v);
    free(r);
}

static size_t skip_ws(const char *s, size_t i)
{
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    return i;
}

/* One item at s[*i]: name or {name, "value"}.  false if it is neither. */
static bool parse_required_item(const char *s, size_t *i, required_claim *c)
{
    bool braced = s[*i] == '{';
    size_t p = braced ? skip_ws(s, *i + 1) : *i;
    size_t start = p;
    while ((s[p] >= 'a' && s[p] <= 'z') || s[p] == '_' || (s[p] >= '0' && s[p] <= '9'))
        p++;
    if (p == start)
        return false;
    c->name = strndup(s + start, p - start);
    if (braced) {
        p = skip_ws(s, p);
        if (s[p] != ',')
            return false;
        p = skip_ws(s, p + 1);
        if (s[p] != '"')
            return false;
        const char *close = strchr(s + p + 1, '"');
        if (!close || close == s + p + 1)
            return false;
        c->value = strndup(s + p + 1, (size_t)(close - s - p - 1));
        p = skip_ws(s, (size_t)(close - s) + 1);
        if (s[p] != '}' || !c->value)
            return false;
        p++;
    }
    *i = p;
    return c->name != NULL;
}

st_status st_jwt_required_parse(const char *text, st_jwt_required **out, st_error *err)
{
    st_jwt_required *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (!text)
        text = "";
    size_t i = skip_ws(text, 0);
    while (text[i]) {
        required_claim c = {NULL, NULL};
        required_claim *grown = r->n < 64 ? realloc(r->v, (r->n + 1) * sizeof *grown) : NULL;
        if (!grown)
            goto bad;
        r->v = grown;
        bool ok = parse_required_item(text, &i, &c);
        r->v[r->n++] = c; /* freed with r, parsed or not */
        if (!ok)
            goto bad;
        i = skip_ws(text, i);
        if (text[i] == ',') {
            i = skip_ws(text, i + 1);
            if (!text[i])
                goto bad; /* trailing comma */
        } else if (text[i]) {
            goto bad;
        }
    }
    *out = r;
    return ST_OK;
bad:
    st_jwt_required_free(r);
    return st_fail(err, ST_E_BAD_REQUEST, "JWT is not configured correctly");
}

static const required_claim *required(const st_jwt_config *c, const char *name)
{
    for (size_t i = 0; c->required && i < c->required->n; i++) {
        if (strcmp(c->required->v[i].name, name) == 0)
            return &c->required->v[i];
    }
    return NULL;
}

/* ---- decoding --------------------------------------------------------- */

typedef struct {
    const char *part[3]; /* header, claims, signature (base64url) */
    size_t len[3];
    st_json_doc *header;
    st_json_doc *claims;
} jwt_parts;

/* base64url JSON object → doc.  Refusal text in err. */
static st_status decode_object(const char *b64, size_t n, st_json_doc **out, st_error *err)
{
    unsigned char *raw = malloc(ST_B64_DECODED_MAX(n) + 1);
    size_t len = 0;
    st_status rc = ST_OK;
    st_json_limits lim = {ST_JWT_MAX_JSON, ST_JWT_MAX_DEPTH};
    *out = NULL;
    if (!raw)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (!st_b64_decode(ST_B64_URL, b64, n, raw, ST_B64_DECODED_MAX(n) + 1, &len) ||
        st_json_parse((const char *)raw, len, &lim, out, NULL) != ST_OK) {
        rc = st_fail(err, ST_E_BAD_REQUEST, MALFORMED);
        goto out;
    }
    const st_json *root = st_json_doc_root(*out);
    if (root->type != ST_JSON_OBJECT)
        rc = st_fail(err, ST_E_BAD_REQUEST, "Not an object");
out:
    if (rc != ST_OK) {
        st_json_doc_free(*out);
        *out = NULL;
    }
    free(raw);
    return rc;
}

static st_status split(const char *token, size_t n, jwt_parts *p, st_error *err)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && token[i] != '.')
            continue;
        if (k == 3)
            return st_fail(err, ST_E_BAD_REQUEST, MALFORMED);
        p->part[k] = token + start;
        p->len[k++] = i - start;
        start = i + 1;
    }
    if (k != 3)
        return st_fail(err, ST_E_BAD_REQUEST, MALFORMED);
    return ST_OK;
}

/* ---- header and claim checks ------------------------------------------- */

static st_status check_header(const st_jwt_config *c, const st_json *h, const jwt_alg **alg,
                              st_error *err)
{
    const st_json *typ = st_json_get(h, "typ");
    if (!typ && required(c, "typ"))
        return st_fail(err, ST_E_BAD_REQUEST, "Missing typ header parameter");
    if (typ && !(typ->type == ST_JSON_STRING && strcmp(typ->u.str, "JWT") == 0))
        return st_fail(err, ST_E_BAD_REQUEST, "Invalid typ header parameter");
    const st_json *a = st_json_get(h, "alg");
    if (!a)
        return st_fail(err, ST_E_BAD_REQUEST, "Missing alg header parameter");
    unsigned allowed = c->allowed_algs ? c->allowed_algs : ST_JWT_ALL;
    *alg = a->type == ST_JSON_STRING ? find_alg(a->u.str, a->len) : NULL;
    if (!*alg || !((*alg)->bit & allowed))
        return st_fail(err, ST_E_BAD_REQUEST, "Invalid alg header parameter");
    return ST_OK;
}

/* A JSON number as a double (exp and nbf may carry fractions). */
static bool number(const st_json *v, double *out)
{
    char buf[64];
    if (!v || v->type != ST_JSON_NUMBER || v->len >= sizeof buf)
        return false;
    memcpy(buf, v->u.str, v->len);
    buf[v->len] = '\0';
    char *end = NULL;
    *out = strtod(buf, &end);
    return end && *end == '\0';
}

static st_status check_time(const st_jwt_config *c, const st_json *claims, const char *name,
                            bool past, int64_t now, st_error *err)
{
    const st_json *v = st_json_get(claims, name);
    double t;
    if (!v) {
        if (required(c, name))
            return st_fail(err, ST_E_BAD_REQUEST, "Missing %s claim", name);
        return ST_OK;
    }
    if (!number(v, &t))
        return st_fail(err, ST_E_BAD_REQUEST, "Invalid %s claim", name);
    double slack = (double)c->leeway_s;
    if (past && !(t - slack < (double)now))
        return st_fail(err, ST_E_UNAUTHORIZED, "%s not in past", name);
    if (!past && !(t + slack > (double)now))
        return st_fail(err, ST_E_UNAUTHORIZED, "%s not in future", name);
    return ST_OK;
}

/* iss, iat, then any claim jwtf does not know, as required_claims asks. */
static st_status check_required(const st_jwt_config *c, const st_json *claims, st_error *err)
{
    const st_json *iat = st_json_get(claims, "iat");
    int64_t ignored;
    for (size_t i = 0; c->required && i < c->required->n; i++) {
        const required_claim *r = &c->required->v[i];
        const st_json *v = st_json_get(claims, r->name);
        if (strcmp(r->name, "alg") == 0 || strcmp(r->name, "kid") == 0 ||
            strcmp(r->name, "typ") == 0 || strcmp(r->name, "exp") == 0 ||
            strcmp(r->name, "nbf") == 0)
            continue; /* checked where jwtf checks them */
        if (!v)
            return st_fail(err, ST_E_BAD_REQUEST, "Missing %.64s claim", r->name);
        if (r->value && !(v->type == ST_JSON_STRING && strcmp(v->u.str, r->value) == 0))
            return st_fail(err, ST_E_BAD_REQUEST, "Invalid %.64s claim", r->name);
    }
    if (iat && !st_json_int64(iat, &ignored))
        return st_fail(err, ST_E_BAD_REQUEST, "Invalid iat claim");
    return ST_OK;
}

/* ---- signatures ------------------------------------------------------- */

/* JWS ECDSA signature (r || s, each the curve's byte size) → DER. */
static unsigned char *ecdsa_der(const unsigned char *sig, size_t n, size_t *der_len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(n / 2), NULL);
    BIGNUM *s = BN_bin2bn(sig + n / 2, (int)(n / 2), NULL);
    unsigned char *der = NULL;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        int len = i2d_ECDSA_SIG(es, &der);
        *der_len = len > 0 ? (size_t)len : 0;
        if (len <= 0)
            der = NULL;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

static bool pkey_verify(const jwt_alg *a, EVP_PKEY *pkey, const unsigned char *sig, size_t n,
                        const char *msg, size_t msg_len)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    if (a->kty == JWT_KTY_EC) {
        size_t coord = ((size_t)a->ec_bits + 7) / 8;
        if (EVP_PKEY_get_bits(pkey) != a->ec_bits || n != 2 * coord)
            return false;
        der = ecdsa_der(sig, n, &der_len);
        if (!der)
            return false;
        sig = der;
        n = der_len;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, st_digest_md(a->md), NULL, pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, n, (const unsigned char *)msg, msg_len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

static st_status check_signature(const jwt_alg *a, const jwt_key *k, const jwt_parts *p,
                                 st_error *err)
{
    size_t cap = ST_B64_DECODED_MAX(p->len[2]) + 1, n = 0;
    unsigned char *sig = malloc(cap);
    unsigned char mac[ST_DIGEST_MAX_SIZE];
    const char *msg = p->part[0];
    size_t msg_len = p->len[0] + 1 + p->len[1]; /* "<header>.<claims>" as sent */
    st_status rc = ST_OK;
    if (!sig)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    bool decoded = st_b64_decode(ST_B64_URL, p->part[2], p->len[2], sig, cap, &n);
    if (a->kty == JWT_KTY_HMAC) {
        bool ok = decoded && st_hmac(a->md, k->secret, k->secret_len, msg, msg_len, mac) &&
                  st_ct_equal(mac, st_digest_size(a->md), sig, n);
        OPENSSL_cleanse(mac, sizeof mac);
        if (!ok)
            rc = st_fail(err, ST_E_BAD_REQUEST, "Bad HMAC");
    } else if (!decoded || !pkey_verify(a, k->pkey, sig, n, msg, msg_len)) {
        rc = st_fail(err, ST_E_BAD_REQUEST, "Bad signature");
    }
    free(sig);
    return rc;
}

static st_status find_key(const st_jwt_config *c, const st_json *h, const jwt_alg *a,
                          const jwt_key **out, st_error *err)
{
    const st_json *kid = st_json_get(h, "kid");
    if (!kid && required(c, "kid"))
        return st_fail(err, ST_E_BAD_REQUEST, "Missing kid claim");
    if (kid && kid->type != ST_JSON_STRING)
        return st_fail(err, ST_E_BAD_REQUEST, "Unknown kid");
    *out = kid ? st_jwt_keys_find(c->keys, a->kty, kid->u.str, kid->len)
               : st_jwt_keys_find(c->keys, a->kty, "_default", 8);
    if (!*out)
        return st_fail(err, ST_E_BAD_REQUEST, "Unknown kid");
    return ST_OK;
}

/* ---- identity --------------------------------------------------------- */

/* roles_claim_path: split at '.' not escaped as "\."; walk nested objects. */
static const st_json *walk_path(const st_json *obj, const char *path)
{
    char seg[256];
    size_t n = 0;
    for (const char *p = path;; p++) {
        char ch = *p;
        if (ch == '\\' && p[1] == '.')
            ch = *++p; /* an escaped dot is part of the name */
        else if (ch == '.')
            ch = '\0';
        if (ch) {
            if (n == sizeof seg - 1)
                return NULL; /* no claim name is this long: never truncate into another */
            seg[n++] = ch;
            continue;
        }
        seg[n] = '\0';
        if (!obj || obj->type != ST_JSON_OBJECT)
            return NULL;
        obj = st_json_get(obj, seg);
        if (!*p)
            return obj;
        n = 0;
    }
}

static st_status identity(const st_jwt_config *c, const st_json *claims, st_jwt_identity *out,
                          st_error *err)
{
    const st_json *sub = st_json_get(claims, "sub");
    if (!sub || sub->type != ST_JSON_STRING || memchr(sub->u.str, '\0', sub->len))
        return st_fail(err, ST_E_UNAUTHORIZED, "Token missing sub claim.");
    const st_json *roles = c->roles_claim_path
                               ? walk_path(claims, c->roles_claim_path)
                               : st_json_get(claims, c->roles_claim_name ? c->roles_claim_name
                                                                         : ST_JWT_DEFAULT_ROLES_CLAIM);
    st_status rc = roles ? st_roles_from_json(&out->roles, roles) : ST_OK;
    if (rc == ST_E_NOMEM)
        return st_fail(err, rc, "out of memory");
    if (rc != ST_OK)
        return st_fail(err, ST_E_BAD_REQUEST, MALFORMED);
    out->name = strndup(sub->u.str, sub->len);
    if (!out->name) {
        st_roles_free(&out->roles);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    return ST_OK;
}

void st_jwt_identity_free(st_jwt_identity *id)
{
    if (!id)
        return;
    free(id->name);
    st_roles_free(&id->roles);
    id->name = NULL;
}

st_status st_jwt_verify(const st_jwt_config *c, const char *token, size_t n, int64_t now,
                        st_jwt_identity *out, st_error *err)
{
    jwt_parts p;
    const jwt_alg *alg = NULL;
    const jwt_key *key = NULL;
    st_status rc;
    memset(&p, 0, sizeof p);
    memset(out, 0, sizeof *out);
    if (!c || !c->keys)
        return st_fail(err, ST_E_MISUSE, "st_jwt_verify: no keys");
    if (n > ST_JWT_MAX_TOKEN)
        return st_fail(err, ST_E_BAD_REQUEST, "Token too large");
    if ((rc = split(token, n, &p, err)) != ST_OK ||
        (rc = decode_object(p.part[0], p.len[0], &p.header, err)) != ST_OK)
        goto out;
    const st_json *h = st_json_doc_root(p.header);
    if ((rc = check_header(c, h, &alg, err)) != ST_OK ||
        (rc = decode_object(p.part[1], p.len[1], &p.claims, err)) != ST_OK)
        goto out;
    const st_json *claims = st_json_doc_root(p.claims);
    if ((rc = check_required(c, claims, err)) != ST_OK ||
        (rc = check_time(c, claims, "nbf", true, now, err)) != ST_OK ||
        (rc = check_time(c, claims, "exp", false, now, err)) != ST_OK ||
        (rc = find_key(c, h, alg, &key, err)) != ST_OK ||
        (rc = check_signature(alg, key, &p, err)) != ST_OK)
        goto out;
    rc = identity(c, claims, out, err);
out:
    st_json_doc_free(p.header);
    st_json_doc_free(p.claims);
    return rc;
}
