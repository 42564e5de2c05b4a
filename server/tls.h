/* tls.h — the HTTPS listener's credentials: the PEM files named in [ssl],
 * read and checked before libmicrohttpd is given them (internal to server/).
 *
 * Why settee reads the files itself: MHD takes the certificate and key as
 * text in memory (MHD_OPTION_HTTPS_MEM_CERT / _KEY), and when GnuTLS
 * refuses them MHD only says so in its log.  Checking them first with
 * libcrypto (parse both, X509_check_private_key) turns each problem into
 * one clear start-up error that names the file — never its contents.
 *
 * Promises: st_tls_load succeeds only when the certificate parses, the key
 * parses without a passphrase and belongs to the certificate, and the CA
 * file (if named) holds at least one certificate.  Nothing read from the
 * key file is ever logged or put in an error.
 *
 * Ownership: st_tls_load fills the caller's st_tls_creds with malloc'd
 * text; st_tls_free wipes the key and frees both (NULL-safe, and safe on a
 * zeroed struct).  The server keeps them until its HTTPS daemon has
 * stopped, because MHD's documentation does not promise it copies them.
 *
 * Threads: called while the server starts and after it stopped, on the
 * thread doing that; no shared state.
 */
#ifndef ST_SERVER_TLS_H
#define ST_SERVER_TLS_H

#include <stddef.h>
#include "config.h"
#include "st_error.h"

typedef struct st_tls_creds {
    char *cert;     /* PEM: the server certificate, then cacert_file's CAs (the chain sent) */
    char *key;      /* PEM private key; wiped by st_tls_free */
    size_t key_len; /* bytes of key to wipe */
} st_tls_creds;

/* Read and check c's [ssl] cert_file, key_file and cacert_file.
 * ST_E_BAD_REQUEST when a file is not named, unreadable, not PEM, an
 * encrypted key, or the key and certificate do not match; ST_E_NOMEM. */
st_status st_tls_load(const st_config *c, st_tls_creds *out, st_error *err);

void st_tls_free(st_tls_creds *t);

#endif
