/* config.h — the server's settings (internal to server/).
 *
 * One struct filled from defaults, an ini file and command-line flags, all
 * through st_config_set() so every setting has exactly one parser.  The
 * running server copies the struct (st_config_copy) at start, so nothing
 * here is shared between threads after that.
 */
#ifndef ST_SERVER_CONFIG_H
#define ST_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_db.h"
#include "st_serve.h"

#define ST_ADMIN_DK_MAX 64

typedef enum {
    ST_PBKDF2_SHA1 = 0,   /* CouchDB's "-pbkdf2-" hashes */
    ST_PBKDF2_SHA256 = 1  /* "-pbkdf2:sha256-" and our own in-memory hashes */
} st_pbkdf2_kind;

typedef struct st_admin {
    char *name;                          /* malloc'd */
    st_pbkdf2_kind kind;
    char *salt;                          /* malloc'd, used as given (text) */
    unsigned iterations;
    unsigned char dk[ST_ADMIN_DK_MAX];   /* derived key */
    size_t dk_len;
} st_admin;

typedef enum { ST_LOG_DEBUG = 0, ST_LOG_INFO, ST_LOG_NOTICE, ST_LOG_WARN, ST_LOG_ERROR,
               ST_LOG_NONE } st_log_level;

struct st_config {
    char *data_dir;                /* [couchdb] database_dir; --data */
    char *bind_address;            /* [chttpd] bind_address; --bind */
    unsigned port;                 /* [chttpd] port; --port (0 = ephemeral) */
    char *uuid;                    /* [couchdb] uuid; NULL = persisted in data_dir */
    size_t max_document_size;      /* [couchdb] max_document_size */
    size_t max_attachment_size;    /* [couchdb] max_attachment_size */
    uint64_t max_http_request_size;/* [chttpd] max_http_request_size */
    unsigned changes_timeout_ms;   /* [chttpd] changes_timeout */
    st_admin *admins;              /* [admins] */
    size_t n_admins;
    bool require_valid_user;       /* [chttpd] require_valid_user: reads need auth too */
    /* CORS ([httpd]/[chttpd] enable_cors, [cors] ...) */
    bool cors_enabled;
    bool cors_credentials;
    char *cors_origins;            /* comma list or "*"; NULL = none */
    char *cors_headers;            /* extra allowed request headers, comma list */
    char *cors_methods;            /* NULL = the CouchDB default list */
    unsigned cors_max_age;
    /* Sessions ([chttpd_auth]) */
    char *auth_secret;             /* [chttpd_auth] secret; NULL = random per start */
    unsigned session_timeout_s;    /* [chttpd_auth] timeout */
    /* Logging ([log]) */
    st_log_level log_level;        /* [log] level; --log-level */
    char *log_file;                /* [log] file; NULL = stderr */
    bool log_json;                 /* [log] format = json (one JSON object a line) */
    /* settee-only tuning ([settee]) */
    unsigned threads;              /* HTTP worker threads; 0 = from the core count */
    unsigned max_connections;      /* open sockets, feeds included */
    unsigned connection_timeout_s; /* idle/slow client cutoff */
    size_t connection_memory;      /* per-connection buffer (headers + write buffer) */
    st_durability durability;      /* [settee] durability = full | normal */
    unsigned db_readers;           /* pooled read connections per database */
    /* HTTPS ([ssl]): a second listener beside the plain one (tls.h) */
    bool ssl_enabled;              /* [ssl] enable */
    char *ssl_cert_file;           /* [ssl] cert_file: PEM certificate (chain may follow) */
    char *ssl_key_file;            /* [ssl] key_file: PEM private key, unencrypted */
    char *ssl_cacert_file;         /* [ssl] cacert_file: PEM CAs sent after the certificate */
    char *ssl_bind_address;        /* [ssl] bind_address; NULL = [chttpd] bind_address */
    unsigned ssl_port;             /* [ssl] port (0 = ephemeral) */
};

st_config *st_config_copy(const st_config *c);

/* PBKDF2 derive (libcrypto).  Returns false on failure. */
bool st_pbkdf2(st_pbkdf2_kind kind, const char *pw, size_t pw_len, const char *salt,
               unsigned iterations, unsigned char *out, size_t out_len);

const char *st_log_level_name(st_log_level l);
bool st_log_level_parse(const char *s, st_log_level *out);

#endif
