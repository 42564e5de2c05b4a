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

/* One [admins] entry as configured: a CouchDB password hash, or a plain
 * password that the server hashes when it starts (and, when it came from
 * the config file, writes back hashed, as CouchDB does). */
typedef struct st_admin {
    char *name;       /* malloc'd */
    char *value;      /* malloc'd; a plain password is wiped when freed */
    bool plain;       /* value is not a hash yet */
    bool from_file;   /* read from config_path's [admins] */
} st_admin;

/* A name = value pair kept in order ([jwt_keys]). */
typedef struct st_kv {
    char *key, *value;
} st_kv;

/* Authentication and authorization settings, CouchDB's names. */
typedef struct st_auth_settings {
    /* [chttpd_auth] */
    uint64_t iterations;           /* iterations (600000) */
    char *pbkdf2_prf;              /* pbkdf2_prf ("sha256") */
    uint64_t min_iterations, max_iterations;
    char *hash_algorithms;         /* "sha256, sha" */
    bool allow_persistent_cookies; /* true */
    char *cookie_domain;           /* NULL */
    char *same_site;               /* NULL: unset */
    bool proxy_use_secret;         /* false, as CouchDB */
    char *authentication_db;       /* "_users" */
    char *x_auth_username, *x_auth_roles, *x_auth_token; /* proxy header names */
    unsigned cache_max;            /* [chttpd_auth_cache] max_objects-like bound (1024) */
    unsigned cache_ttl_s;          /* [chttpd_auth_cache] max_lifetime (600) */
    /* [chttpd] */
    char *handlers;                /* authentication_handlers */
    bool require_valid_user_except_for_up;
    /* [couchdb] */
    bool default_admin_only;       /* default_security = admin_only (true) */
    bool users_db_security_editable; /* false */
    /* [chttpd_auth_lockout] */
    char *lockout_mode;            /* "enforce" */
    unsigned lockout_threshold;    /* 5 */
    unsigned lockout_lift_s;       /* 300 */
    unsigned lockout_max;          /* 10000 */
    /* [jwt_auth], [jwt_keys] */
    char *jwt_required_claims;
    char *jwt_allowed_algorithms;
    char *jwt_roles_claim_name;
    char *jwt_roles_claim_path;
    st_kv *jwt_keys;
    size_t n_jwt_keys;
    /* [couch_peruser] */
    bool peruser_enable, peruser_delete_dbs;
    char *peruser_prefix;          /* "userdb-" */
} st_auth_settings;

/* Query servers and views (config_qs.c), CouchDB's names. */
typedef struct st_qs_settings {
    st_kv *langs;                  /* [query_servers] language = command line */
    size_t n_langs;
    unsigned timeout_ms;           /* [couchdb] os_process_timeout (5000) */
    unsigned max_procs;            /* [query_server_config] os_process_limit (4) */
    bool reduce_limit;             /* [query_server_config] reduce_limit (true) */
    unsigned view_batch;           /* [settee] view_batch (500) */
} st_qs_settings;

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
    uint64_t max_read_body_size;   /* [settee] max_read_body_size: bodies of everything
                                      but document writes (router.h) */
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
    char *config_path;             /* the file st_config_load read last (NULL: none) */
    /* Sessions and passwords ([chttpd_auth]); more in auth below */
    char *auth_secret;             /* [chttpd_auth] secret; NULL = random per start */
    unsigned session_timeout_s;    /* [chttpd_auth] timeout */
    st_auth_settings auth;         /* config_auth.c */
    /* Logging ([log]) */
    st_log_level log_level;        /* [log] level; --log-level */
    char *log_file;                /* [log] file; NULL = stderr */
    bool log_json;                 /* [log] format = json (one JSON object a line) */
    /* settee-only tuning ([settee]) */
    unsigned threads;              /* HTTP worker threads; 0 = from the core count */
    unsigned max_connections;      /* open sockets, feeds included (lowered at start
                                      to what the open-file limit allows, daemon.c) */
    unsigned fd_reserve;           /* [settee] fd_reserve: descriptors kept for databases
                                      and query servers; 0 = a quarter of the limit, >= 64 */
    unsigned connection_timeout_s; /* idle/slow client cutoff */
    size_t connection_memory;      /* per-connection buffer (headers + write buffer) */
    st_durability durability;      /* [settee] durability = full | normal */
    unsigned db_readers;           /* pooled read connections per database */
    st_qs_settings qs;             /* config_qs.c */
    /* HTTPS ([ssl]): a second listener beside the plain one (tls.h) */
    bool ssl_enabled;              /* [ssl] enable */
    char *ssl_cert_file;           /* [ssl] cert_file: PEM certificate (chain may follow) */
    char *ssl_key_file;            /* [ssl] key_file: PEM private key, unencrypted */
    char *ssl_cacert_file;         /* [ssl] cacert_file: PEM CAs sent after the certificate */
    char *ssl_bind_address;        /* [ssl] bind_address; NULL = [chttpd] bind_address */
    unsigned ssl_port;             /* [ssl] port (0 = ephemeral) */
};

st_config *st_config_copy(const st_config *c);

/* Write the hashes of the plain [admins] passwords read from config_path
 * back into that file (same lines, values replaced; written to a temporary
 * file with mode 0600 and renamed over it).  hashes[i] is admins[i]'s
 * (NULL: leave that entry). */
st_status st_config_rewrite_admins(const st_config *c, char *const *hashes, st_error *err);

/* config_value.c: the one reading of a setting's number (decimal, at most max) and boolean
 * (true/false, 1/0, yes/no, any case): false when the text is not one. */
bool st_config_parse_u64(const char *s, uint64_t max, uint64_t *out);
bool st_config_parse_bool(const char *s, bool *out);

/* config_auth.c: the auth settings' defaults, setter, copy and free. */
void st_auth_settings_init(st_auth_settings *a);
/* ST_E_NOT_FOUND when section/key is not an auth setting. */
st_status st_auth_settings_set(st_auth_settings *a, const char *section, const char *key,
                               const char *value, st_error *err);
st_status st_auth_settings_copy(st_auth_settings *dst, const st_auth_settings *src);
void st_auth_settings_free(st_auth_settings *a);

/* config_qs.c: the query-server settings' defaults, setter, copy, free;
 * _env adds COUCHDB_QUERY_SERVER_<LANG> variables for languages the
 * settings do not name. */
void st_qs_settings_init(st_qs_settings *q);
/* ST_E_NOT_FOUND when section/key is not one of them. */
st_status st_qs_settings_set(st_qs_settings *q, const char *section, const char *key,
                             const char *value, st_error *err);
st_status st_qs_settings_copy(st_qs_settings *dst, const st_qs_settings *src);
void st_qs_settings_free(st_qs_settings *q);
st_status st_qs_settings_env(st_qs_settings *q, st_error *err);

const char *st_log_level_name(st_log_level l);
bool st_log_level_parse(const char *s, st_log_level *out);

#endif
