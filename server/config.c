/* config.c — settings: defaults, the ini reader and one setter per name.
 *
 * Why one setter for everything: the ini file, the command-line flags and
 * the tests all go through st_config_set(), so a setting cannot mean one
 * thing in a file and another on the command line.  Names follow CouchDB's
 * default.ini where CouchDB has the setting; settee-only knobs live in a
 * [settee] section.  Unknown names are ignored, as CouchDB ini files carry
 * many settings that mean nothing here.
 *
 * Admin passwords: a value is either one of CouchDB's hashes
 * ("-pbkdf2:sha256-...", "-pbkdf2-...", "-hashed-...") or a plain password.
 * A plain one is kept only until the server starts, which hashes it and,
 * for entries read from the config file, writes the hash back.
 */
#include "config.h"
#include "password.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

st_config *st_config_new(void)
{
    st_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->data_dir = strdup("./data");
    c->bind_address = strdup("127.0.0.1");
    if (!c->data_dir || !c->bind_address) {
        st_config_free(c);
        return NULL;
    }
    c->port = 5984;
    c->max_document_size = 8000000;
    c->max_attachment_size = 256u * 1024 * 1024;
    c->max_http_request_size = UINT64_C(4294967296);
    c->max_read_body_size = UINT64_C(16) << 20;
    c->changes_timeout_ms = 60000;
    c->cors_max_age = 600;
    c->session_timeout_s = 600;
    c->log_level = ST_LOG_INFO;
    c->threads = 0;
    c->max_connections = 20000;
    c->connection_timeout_s = 60;
    c->connection_memory = 32 * 1024;
    c->durability = ST_DURABLE_FULL;
    c->db_readers = 4;
    st_auth_settings_init(&c->auth);
    st_qs_settings_init(&c->qs);
    c->ssl_port = 6984;
    return c;
}

static void admin_clear(st_admin *a)
{
    free(a->name);
    if (a->value) {
        OPENSSL_cleanse(a->value, strlen(a->value));
        free(a->value);
    }
    memset(a, 0, sizeof *a);
}

void st_config_free(st_config *c)
{
    if (!c)
        return;
    free(c->data_dir);
    free(c->bind_address);
    free(c->uuid);
    for (size_t i = 0; i < c->n_admins; i++)
        admin_clear(&c->admins[i]);
    free(c->admins);
    free(c->cors_origins);
    free(c->cors_headers);
    free(c->cors_methods);
    free(c->auth_secret);
    free(c->log_file);
    free(c->config_path);
    st_auth_settings_free(&c->auth);
    st_qs_settings_free(&c->qs);
    free(c->ssl_cert_file);
    free(c->ssl_key_file);
    free(c->ssl_cacert_file);
    free(c->ssl_bind_address);
    free(c);
}

st_config *st_config_copy(const st_config *src)
{
    st_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    *c = *src;
    c->data_dir = dup_or_null(src->data_dir);
    c->bind_address = dup_or_null(src->bind_address);
    c->uuid = dup_or_null(src->uuid);
    c->cors_origins = dup_or_null(src->cors_origins);
    c->cors_headers = dup_or_null(src->cors_headers);
    c->cors_methods = dup_or_null(src->cors_methods);
    c->auth_secret = dup_or_null(src->auth_secret);
    c->log_file = dup_or_null(src->log_file);
    c->config_path = dup_or_null(src->config_path);
    c->admins = NULL;
    c->n_admins = 0;
    bool auth_ok = st_auth_settings_copy(&c->auth, &src->auth) == ST_OK;
    if (!auth_ok)
        st_auth_settings_init(&c->auth);
    if (st_qs_settings_copy(&c->qs, &src->qs) != ST_OK) {
        st_qs_settings_init(&c->qs);
        auth_ok = false;
    }
    bool ok = auth_ok && (!src->data_dir || c->data_dir) &&
              (!src->bind_address || c->bind_address) && (!src->uuid || c->uuid) &&
              (!src->cors_origins || c->cors_origins) &&
              (!src->cors_headers || c->cors_headers) && (!src->cors_methods || c->cors_methods) &&
              (!src->auth_secret || c->auth_secret) && (!src->log_file || c->log_file) &&
              (!src->config_path || c->config_path);
    c->ssl_cert_file = dup_or_null(src->ssl_cert_file);
    c->ssl_key_file = dup_or_null(src->ssl_key_file);
    c->ssl_cacert_file = dup_or_null(src->ssl_cacert_file);
    c->ssl_bind_address = dup_or_null(src->ssl_bind_address);
    ok = ok && (!src->ssl_cert_file || c->ssl_cert_file) &&
         (!src->ssl_key_file || c->ssl_key_file) &&
         (!src->ssl_cacert_file || c->ssl_cacert_file) &&
         (!src->ssl_bind_address || c->ssl_bind_address);
    if (ok && src->n_admins) {
        c->admins = calloc(src->n_admins, sizeof *c->admins);
        ok = c->admins != NULL;
        for (size_t i = 0; ok && i < src->n_admins; i++) {
            c->admins[i] = src->admins[i];
            c->admins[i].name = strdup(src->admins[i].name);
            c->admins[i].value = strdup(src->admins[i].value);
            c->n_admins = i + 1;
            ok = c->admins[i].name && c->admins[i].value;
        }
    }
    if (!ok) {
        st_config_free(c);
        return NULL;
    }
    return c;
}

static const char *const level_names[] = {"debug", "info", "notice", "warning", "error", "none"};

const char *st_log_level_name(st_log_level l)
{
    return (unsigned)l <= ST_LOG_NONE ? level_names[l] : "?";
}

bool st_log_level_parse(const char *s, st_log_level *out)
{
    for (unsigned i = 0; i <= ST_LOG_NONE; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (st_log_level)i;
            return true;
        }
    }
    if (strcasecmp(s, "warn") == 0) {
        *out = ST_LOG_WARN;
        return true;
    }
    if (strcasecmp(s, "err") == 0 || strcasecmp(s, "critical") == 0 ||
        strcasecmp(s, "alert") == 0 || strcasecmp(s, "emergency") == 0) {
        *out = ST_LOG_ERROR;
        return true;
    }
    return false;
}

/* from_file: read from the config file, so the server knows which plain
 * passwords to write back hashed. */
static st_status set_admin(st_config *c, const char *name, const char *value, bool from_file,
                           st_error *err)
{
    if (!*name || strchr(name, ':'))
        return st_fail(err, ST_E_BAD_REQUEST, "admin name must be non-empty and without ':'");
    if (!*value)
        return st_fail(err, ST_E_BAD_REQUEST, "admin %s: the password must not be empty", name);
    st_pw_hash h;
    st_error pe;
    st_status ps = st_pw_parse_admin(value, strlen(value), &h, &pe);
    if (ps != ST_OK && ps != ST_E_NOT_FOUND)
        return st_fail(err, ST_E_BAD_REQUEST, "admin %s: %s", name, pe.reason);
    st_admin a = {strdup(name), strdup(value), ps == ST_E_NOT_FOUND, from_file};
    if (!a.name || !a.value) {
        admin_clear(&a);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    /* Replace an existing admin of the same name (later settings win). */
    for (size_t i = 0; i < c->n_admins; i++) {
        if (strcmp(c->admins[i].name, name) == 0) {
            admin_clear(&c->admins[i]);
            c->admins[i] = a;
            return ST_OK;
        }
    }
    st_admin *grown = realloc(c->admins, (c->n_admins + 1) * sizeof *grown);
    if (!grown) {
        admin_clear(&a);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    c->admins = grown;
    c->admins[c->n_admins++] = a;
    return ST_OK;
}

static st_status set_str(char **slot, const char *value, st_error *err)
{
    char *v = strdup(value);
    if (!v)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    free(*slot);
    *slot = v;
    return ST_OK;
}

/* [ssl]: CouchDB's names.  The files are only named here; the server
 * reads and checks them when it starts (tls.c). */
static st_status set_ssl(st_config *c, const char *key, const char *value, st_error *err)
{
    uint64_t u;
    bool b;
    if (strcmp(key, "enable") == 0) {
        if (!st_config_parse_bool(value, &b))
            return st_fail(err, ST_E_BAD_REQUEST, "bad value for [ssl] enable: '%s'", value);
        c->ssl_enabled = b;
    } else if (strcmp(key, "port") == 0) {
        if (!st_config_parse_u64(value, 65535, &u))
            return st_fail(err, ST_E_BAD_REQUEST, "bad value for [ssl] port: '%s'", value);
        c->ssl_port = (unsigned)u;
    } else if (strcmp(key, "cert_file") == 0) {
        return set_str(&c->ssl_cert_file, value, err);
    } else if (strcmp(key, "key_file") == 0) {
        return set_str(&c->ssl_key_file, value, err);
    } else if (strcmp(key, "cacert_file") == 0) {
        return set_str(&c->ssl_cacert_file, value, err);
    } else if (strcmp(key, "bind_address") == 0) {
        return set_str(&c->ssl_bind_address, value, err);
    }
    return ST_OK;
}

#define KEY(s, k) (strcmp(section, s) == 0 && strcmp(key, k) == 0)

static st_status config_set(st_config *c, const char *section, const char *key,
                            const char *value, bool from_file, st_error *err)
{
    uint64_t u;
    bool b;
    if (!c || !section || !key || !value)
        return st_fail(err, ST_E_MISUSE, "st_config_set: NULL argument");
    if (strcmp(section, "couch_httpd_auth") == 0)
        section = "chttpd_auth"; /* the pre-3.0 name */
    if (strcmp(section, "admins") == 0)
        return set_admin(c, key, value, from_file, err);
    st_status as = st_auth_settings_set(&c->auth, section, key, value, err);
    if (as != ST_E_NOT_FOUND)
        return as;
    if ((as = st_qs_settings_set(&c->qs, section, key, value, err)) != ST_E_NOT_FOUND)
        return as;
    if (KEY("chttpd", "port") || KEY("httpd", "port")) {
        if (!st_config_parse_u64(value, 65535, &u))
            goto bad;
        c->port = (unsigned)u;
    } else if (KEY("chttpd", "bind_address") || KEY("httpd", "bind_address")) {
        return set_str(&c->bind_address, value, err);
    } else if (KEY("couchdb", "database_dir") || KEY("settee", "data")) {
        return set_str(&c->data_dir, value, err);
    } else if (KEY("couchdb", "uuid")) {
        return set_str(&c->uuid, value, err);
    } else if (KEY("couchdb", "max_document_size")) {
        if (!st_config_parse_u64(value, SIZE_MAX / 4, &u) || u == 0)
            goto bad;
        c->max_document_size = (size_t)u;
    } else if (KEY("couchdb", "max_attachment_size")) {
        if (strcasecmp(value, "infinity") == 0)
            u = SIZE_MAX / 4;
        else if (!st_config_parse_u64(value, SIZE_MAX / 4, &u) || u == 0)
            goto bad;
        c->max_attachment_size = (size_t)u;
    } else if (KEY("chttpd", "max_http_request_size") || KEY("httpd", "max_http_request_size")) {
        if (!st_config_parse_u64(value, UINT64_MAX / 2, &u) || u == 0)
            goto bad;
        c->max_http_request_size = u;
    } else if (KEY("chttpd", "changes_timeout")) {
        if (!st_config_parse_u64(value, 86400000, &u))
            goto bad;
        c->changes_timeout_ms = (unsigned)u;
    } else if (KEY("chttpd", "require_valid_user") || KEY("chttpd_auth", "require_valid_user")) {
        if (!st_config_parse_bool(value, &b))
            goto bad;
        c->require_valid_user = b;
    } else if (KEY("httpd", "enable_cors") || KEY("chttpd", "enable_cors")) {
        if (!st_config_parse_bool(value, &b))
            goto bad;
        c->cors_enabled = b;
    } else if (KEY("cors", "origins")) {
        return set_str(&c->cors_origins, value, err);
    } else if (KEY("cors", "headers")) {
        return set_str(&c->cors_headers, value, err);
    } else if (KEY("cors", "methods")) {
        return set_str(&c->cors_methods, value, err);
    } else if (KEY("cors", "credentials")) {
        if (!st_config_parse_bool(value, &b))
            goto bad;
        c->cors_credentials = b;
    } else if (KEY("cors", "max_age")) {
        if (!st_config_parse_u64(value, 86400 * 365, &u))
            goto bad;
        c->cors_max_age = (unsigned)u;
    } else if (KEY("chttpd_auth", "secret")) {
        return set_str(&c->auth_secret, value, err);
    } else if (KEY("chttpd_auth", "timeout")) {
        if (!st_config_parse_u64(value, 86400 * 365, &u) || u == 0)
            goto bad;
        c->session_timeout_s = (unsigned)u;
    } else if (KEY("log", "level")) {
        st_log_level l;
        if (!st_log_level_parse(value, &l))
            goto bad;
        c->log_level = l;
    } else if (KEY("log", "file")) {
        return set_str(&c->log_file, value, err);
    } else if (KEY("log", "format")) {
        if (strcmp(value, "json") != 0 && strcmp(value, "text") != 0)
            return st_fail(err, ST_E_BAD_REQUEST, "[log] format must be text or json");
        c->log_json = strcmp(value, "json") == 0;
    } else if (KEY("settee", "threads")) {
        if (!st_config_parse_u64(value, 1024, &u))
            goto bad;
        c->threads = (unsigned)u;
    } else if (KEY("settee", "max_read_body_size")) {
        if (!st_config_parse_u64(value, UINT64_MAX, &u) || u == 0)
            goto bad;
        c->max_read_body_size = u;
    } else if (KEY("settee", "max_connections")) {
        if (!st_config_parse_u64(value, 1000000, &u) || u == 0)
            goto bad;
        c->max_connections = (unsigned)u;
    } else if (KEY("settee", "fd_reserve")) {
        if (!st_config_parse_u64(value, 1000000, &u))
            goto bad;
        c->fd_reserve = (unsigned)u;
    } else if (KEY("settee", "connection_timeout")) {
        if (!st_config_parse_u64(value, 86400, &u))
            goto bad;
        c->connection_timeout_s = (unsigned)u;
    } else if (KEY("settee", "connection_memory")) {
        if (!st_config_parse_u64(value, 64u * 1024 * 1024, &u) || u < 8192)
            goto bad;
        c->connection_memory = (size_t)u;
    } else if (KEY("settee", "durability")) {
        if (strcasecmp(value, "full") == 0)
            c->durability = ST_DURABLE_FULL;
        else if (strcasecmp(value, "normal") == 0)
            c->durability = ST_DURABLE_NORMAL;
        else
            goto bad;
    } else if (KEY("settee", "db_readers")) {
        if (!st_config_parse_u64(value, 256, &u) || u == 0)
            goto bad;
        c->db_readers = (unsigned)u;
    } else if (strcmp(section, "ssl") == 0) {
        return set_ssl(c, key, value, err);
    }
    return ST_OK;
bad:
    return st_fail(err, ST_E_BAD_REQUEST, "bad value for [%s] %s: '%s'", section, key, value);
}

st_status st_config_set(st_config *c, const char *section, const char *key, const char *value,
                        st_error *err)
{
    return config_set(c, section, key, value, false, err);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

st_status st_config_load(st_config *c, const char *path, st_error *err)
{
    char line[4096];
    char section[128] = "";
    unsigned lineno = 0;
    st_status rc = ST_OK;
    FILE *f = fopen(path, "r");
    if (!f)
        return st_fail(err, ST_E_NOT_FOUND, "cannot read config file %s: %s", path,
                       strerror(errno));
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            rc = st_fail(err, ST_E_BAD_REQUEST, "%s:%u: line too long", path, lineno);
            goto out;
        }
        char *s = trim(line);
        if (!*s || *s == ';' || *s == '#')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || (size_t)(close - s - 1) >= sizeof section) {
                rc = st_fail(err, ST_E_BAD_REQUEST, "%s:%u: bad section header", path, lineno);
                goto out;
            }
            *close = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq || !*section) {
            rc = st_fail(err, ST_E_BAD_REQUEST, "%s:%u: expected key = value in a section",
                         path, lineno);
            goto out;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        /* CouchDB ini: " ; comment" after a value. */
        char *semi = strstr(value, " ;");
        if (semi)
            *semi = '\0';
        value = trim(value);
        rc = config_set(c, section, key, value, true, err);
        OPENSSL_cleanse(line, sizeof line); /* it may have held a password */
        if (rc != ST_OK)
            goto out;
    }
    if (ferror(f))
        rc = st_fail(err, ST_E_IO, "error reading %s", path);
    if (rc == ST_OK) {
        char *p = strdup(path);
        if (!p)
            rc = st_fail(err, ST_E_NOMEM, "out of memory");
        free(c->config_path);
        c->config_path = p;
    }
out:
    fclose(f);
    return rc;
}

/* The admin whose plain value line `key` in [admins] holds, if it is to be
 * replaced. */
static const char *hash_for(const st_config *c, char *const *hashes, const char *key)
{
    for (size_t i = 0; i < c->n_admins; i++)
        if (hashes[i] && c->admins[i].from_file && strcmp(c->admins[i].name, key) == 0)
            return hashes[i];
    return NULL;
}

st_status st_config_rewrite_admins(const st_config *c, char *const *hashes, st_error *err)
{
    if (!c->config_path)
        return ST_OK;
    char tmp[4200];
    int tn = snprintf(tmp, sizeof tmp, "%s.tmp", c->config_path);
    if (tn < 0 || (size_t)tn >= sizeof tmp)
        return st_fail(err, ST_E_BAD_REQUEST, "config file path too long");
    FILE *in = fopen(c->config_path, "r");
    if (!in)
        return st_fail(err, ST_E_IO, "cannot read %s: %s", c->config_path, strerror(errno));
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        if (fd >= 0)
            close(fd);
        fclose(in);
        return st_fail(err, ST_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    }
    char line[4096], copy[4096];
    char section[128] = "";
    bool ok = true;
    while (ok && fgets(line, sizeof line, in)) {
        memcpy(copy, line, sizeof line);
        char *s = trim(copy);
        const char *hash = NULL;
        char *eq = strchr(s, '=');
        if (*s == '[' && strchr(s, ']')) {
            *strchr(s, ']') = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
        } else if (eq && strcmp(section, "admins") == 0) {
            *eq = '\0';
            hash = hash_for(c, hashes, trim(s));
        }
        if (hash)
            ok = fprintf(out, "%s = %s\n", trim(s), hash) > 0;
        else
            ok = fputs(line, out) >= 0;
        OPENSSL_cleanse(line, sizeof line);
        OPENSSL_cleanse(copy, sizeof copy);
    }
    ok = ok && !ferror(in) && fflush(out) == 0 && fsync(fileno(out)) == 0;
    fclose(in);
    ok = fclose(out) == 0 && ok;
    if (!ok || rename(tmp, c->config_path) != 0) {
        int e = errno;
        unlink(tmp);
        return st_fail(err, ST_E_IO, "cannot rewrite %s: %s", c->config_path, strerror(e));
    }
    return ST_OK;
}
