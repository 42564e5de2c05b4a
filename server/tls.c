/* tls.c — reading and checking the HTTPS certificate and key (see tls.h).
 *
 * libcrypto (already a dependency) does the parsing, so settee needs no
 * GnuTLS headers: MHD gets the same PEM text afterwards and parses it
 * again with GnuTLS.  A key with a passphrase is refused here rather than
 * letting OpenSSL prompt on the terminal (the callback below answers "no
 * passphrase").
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"

#define PEM_FILE_MAX (1024u * 1024u) /* a certificate chain is a few KiB */

/* The whole file as a NUL-terminated string in *out (malloc'd); *out_len
 * excludes the NUL.  Names the setting and the path, never the content. */
static st_status read_pem(const char *setting, const char *path, char **out, size_t *out_len,
                          st_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (!path || !*path)
        return st_fail(err, ST_E_BAD_REQUEST, "[ssl] enable = true needs [ssl] %s", setting);
    FILE *f = fopen(path, "rb");
    if (!f)
        return st_fail(err, ST_E_BAD_REQUEST, "[ssl] %s %s: cannot read it: %s", setting, path,
                       strerror(errno));
    char *buf = malloc(PEM_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, PEM_FILE_MAX + 1, f) : 0;
    bool failed = ferror(f) != 0;
    fclose(f);
    if (!buf)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (failed || n > PEM_FILE_MAX || n == 0) {
        OPENSSL_cleanse(buf, n);
        free(buf);
        return st_fail(err, ST_E_BAD_REQUEST, "[ssl] %s %s: %s", setting, path,
                       failed ? "read error" : n ? "larger than 1 MiB" : "empty");
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return ST_OK;
}

/* The first certificate in pem, or NULL. */
static X509 *first_cert(const char *pem, size_t n)
{
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static EVP_PKEY *private_key(const char *pem, size_t n)
{
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    return k;
}

/* cert's text followed by the CA file's, as the chain to send. */
static st_status append_chain(st_tls_creds *t, size_t cert_len, const char *path, st_error *err)
{
    char *ca = NULL;
    size_t ca_len = 0;
    st_status st = read_pem("cacert_file", path, &ca, &ca_len, err);
    if (st != ST_OK)
        return st;
    X509 *x = first_cert(ca, ca_len);
    if (!x) {
        free(ca);
        return st_fail(err, ST_E_BAD_REQUEST, "[ssl] cacert_file %s: no PEM certificate in it",
                       path);
    }
    X509_free(x);
    char *both = malloc(cert_len + 1 + ca_len + 1);
    if (!both) {
        free(ca);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    memcpy(both, t->cert, cert_len);
    both[cert_len] = '\n';
    memcpy(both + cert_len + 1, ca, ca_len + 1);
    free(ca);
    free(t->cert);
    t->cert = both;
    return ST_OK;
}

st_status st_tls_load(const st_config *c, st_tls_creds *t, st_error *err)
{
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    size_t cert_len = 0;
    memset(t, 0, sizeof *t);
    st_status st = read_pem("cert_file", c->ssl_cert_file, &t->cert, &cert_len, err);
    if (st == ST_OK)
        st = read_pem("key_file", c->ssl_key_file, &t->key, &t->key_len, err);
    if (st != ST_OK)
        goto out;
    if (!(x = first_cert(t->cert, cert_len))) {
        st = st_fail(err, ST_E_BAD_REQUEST, "[ssl] cert_file %s: no PEM certificate in it",
                     c->ssl_cert_file);
        goto out;
    }
    if (!(k = private_key(t->key, t->key_len))) {
        st = st_fail(err, ST_E_BAD_REQUEST,
                     "[ssl] key_file %s: no PEM private key in it (a key with a passphrase "
                     "is not supported)",
                     c->ssl_key_file);
        goto out;
    }
    if (X509_check_private_key(x, k) != 1) {
        st = st_fail(err, ST_E_BAD_REQUEST,
                     "[ssl] key_file %s does not belong to the certificate in cert_file %s",
                     c->ssl_key_file, c->ssl_cert_file);
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        st_log(ST_LOG_WARN, "[ssl] cert_file %s: the certificate has expired",
               c->ssl_cert_file);
    if (c->ssl_cacert_file && *c->ssl_cacert_file)
        st = append_chain(t, cert_len, c->ssl_cacert_file, err);
out:
    X509_free(x);
    EVP_PKEY_free(k);
    ERR_clear_error(); /* nothing of ours stays in this thread's queue */
    if (st != ST_OK)
        st_tls_free(t);
    return st;
}

void st_tls_free(st_tls_creds *t)
{
    if (!t)
        return;
    if (t->key)
        OPENSSL_cleanse(t->key, t->key_len);
    free(t->key);
    free(t->cert);
    memset(t, 0, sizeof *t);
}
