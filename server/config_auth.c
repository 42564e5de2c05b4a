/* config_auth.c — the authentication and authorization settings: CouchDB's
 * [chttpd_auth], [chttpd] authentication_handlers, [couchdb]
 * default_security, [chttpd_auth_lockout], [jwt_auth], [jwt_keys] and
 * [couch_peruser].
 *
 * Why a table: every string setting is a (section, key, field) row, so
 * setting, copying and freeing cannot drift apart as settings are added.
 * Values are checked here only for their shape; what they mean (an unknown
 * hash algorithm, a bad JWT key) is checked when the server starts, by the
 * module that uses them, so a bad value stops the start with its reason.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_HANDLERS                                                                       \
    "{chttpd_auth, cookie_authentication_handler}, {chttpd_auth, default_authentication_handler}"

typedef struct str_key {
    const char *section, *key;
    size_t off;
    const char *def;
} str_key;

#define F(field) offsetof(st_auth_settings, field)

static const str_key strs[] = {
    {"chttpd_auth", "pbkdf2_prf", F(pbkdf2_prf), "sha256"},
    {"chttpd_auth", "hash_algorithms", F(hash_algorithms), "sha256, sha"},
    {"chttpd_auth", "cookie_domain", F(cookie_domain), NULL},
    {"chttpd_auth", "same_site", F(same_site), NULL},
    {"chttpd_auth", "authentication_db", F(authentication_db), "_users"},
    {"chttpd_auth", "x_auth_username", F(x_auth_username), "X-Auth-CouchDB-UserName"},
    {"chttpd_auth", "x_auth_roles", F(x_auth_roles), "X-Auth-CouchDB-Roles"},
    {"chttpd_auth", "x_auth_token", F(x_auth_token), "X-Auth-CouchDB-Token"},
    {"chttpd", "authentication_handlers", F(handlers), DEFAULT_HANDLERS},
    {"chttpd_auth_lockout", "mode", F(lockout_mode), "enforce"},
    {"jwt_auth", "required_claims", F(jwt_required_claims), NULL},
    {"jwt_auth", "allowed_algorithms", F(jwt_allowed_algorithms), NULL},
    {"jwt_auth", "roles_claim_name", F(jwt_roles_claim_name), NULL},
    {"jwt_auth", "roles_claim_path", F(jwt_roles_claim_path), NULL},
    {"couch_peruser", "database_prefix", F(peruser_prefix), "userdb-"},
};

typedef struct bool_key {
    const char *section, *key;
    size_t off;
} bool_key;

static const bool_key bools[] = {
    {"chttpd_auth", "allow_persistent_cookies", F(allow_persistent_cookies)},
    {"chttpd_auth", "proxy_use_secret", F(proxy_use_secret)},
    {"chttpd", "require_valid_user_except_for_up", F(require_valid_user_except_for_up)},
    {"chttpd_auth", "require_valid_user_except_for_up", F(require_valid_user_except_for_up)},
    {"couchdb", "users_db_security_editable", F(users_db_security_editable)},
    {"couch_peruser", "enable", F(peruser_enable)},
    {"couch_peruser", "delete_dbs", F(peruser_delete_dbs)},
};

typedef struct num_key {
    const char *section, *key;
    size_t off;
    bool wide;       /* uint64_t field (else unsigned) */
    uint64_t min, max;
} num_key;

static const num_key nums[] = {
    {"chttpd_auth", "iterations", F(iterations), true, 1, 1000000000},
    {"chttpd_auth", "min_iterations", F(min_iterations), true, 1, 1000000000},
    {"chttpd_auth", "max_iterations", F(max_iterations), true, 1, 1000000000},
    {"chttpd_auth_cache", "max_objects", F(cache_max), false, 1, 10000000},
    {"chttpd_auth_cache", "max_lifetime", F(cache_ttl_s), false, 1, 86400 * 365},
    {"chttpd_auth_lockout", "threshold", F(lockout_threshold), false, 1, 1000000},
    {"chttpd_auth_lockout", "max_lifetime", F(lockout_lift_s), false, 1, 86400 * 365},
    {"chttpd_auth_lockout", "max_objects", F(lockout_max), false, 8, 10000000},
};

#define N(a) (sizeof a / sizeof a[0])

static char **str_slot(st_auth_settings *a, const str_key *k)
{
    return (char **)((char *)a + k->off);
}

void st_auth_settings_init(st_auth_settings *a)
{
    memset(a, 0, sizeof *a);
    a->iterations = 600000;
    a->min_iterations = 1;
    a->max_iterations = 1000000000;
    a->allow_persistent_cookies = true;
    a->cache_max = 1024;
    a->cache_ttl_s = 600;
    a->default_admin_only = true;
    a->lockout_threshold = 5;
    a->lockout_lift_s = 300;
    a->lockout_max = 10000;
    /* String defaults are applied lazily (NULL field = default): see
     * st_auth_settings_copy, which the server's start always runs. */
}

static st_status set_jwt_key(st_auth_settings *a, const char *key, const char *value,
                             st_error *err)
{
    for (size_t i = 0; i < a->n_jwt_keys; i++) {
        if (strcmp(a->jwt_keys[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v)
                return st_fail(err, ST_E_NOMEM, "out of memory");
            free(a->jwt_keys[i].value);
            a->jwt_keys[i].value = v;
            return ST_OK;
        }
    }
    st_kv *grown = realloc(a->jwt_keys, (a->n_jwt_keys + 1) * sizeof *grown);
    if (!grown)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    a->jwt_keys = grown;
    st_kv kv = {strdup(key), strdup(value)};
    if (!kv.key || !kv.value) {
        free(kv.key);
        free(kv.value);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    a->jwt_keys[a->n_jwt_keys++] = kv;
    return ST_OK;
}

st_status st_auth_settings_set(st_auth_settings *a, const char *section, const char *key,
                               const char *value, st_error *err)
{
    /* couch_httpd_auth is the pre-3.0 name of chttpd_auth. */
    if (strcmp(section, "couch_httpd_auth") == 0)
        section = "chttpd_auth";
    if (strcmp(section, "jwt_keys") == 0)
        return set_jwt_key(a, key, value, err);
    if (strcmp(section, "couchdb") == 0 && strcmp(key, "default_security") == 0) {
        if (strcmp(value, "admin_only") == 0)
            a->default_admin_only = true;
        else if (strcmp(value, "everyone") == 0)
            a->default_admin_only = false;
        else
            return st_fail(err, ST_E_BAD_REQUEST,
                           "[couchdb] default_security must be admin_only or everyone");
        return ST_OK;
    }
    for (size_t i = 0; i < N(strs); i++) {
        if (strcmp(strs[i].section, section) != 0 || strcmp(strs[i].key, key) != 0)
            continue;
        char *v = strdup(value);
        if (!v)
            return st_fail(err, ST_E_NOMEM, "out of memory");
        char **slot = str_slot(a, &strs[i]);
        free(*slot);
        *slot = v;
        return ST_OK;
    }
    for (size_t i = 0; i < N(bools); i++) {
        if (strcmp(bools[i].section, section) != 0 || strcmp(bools[i].key, key) != 0)
            continue;
        if (!st_config_parse_bool(value, (bool *)((char *)a + bools[i].off)))
            return st_fail(err, ST_E_BAD_REQUEST, "bad value for [%s] %s: '%.64s'", section,
                           key, value);
        return ST_OK;
    }
    for (size_t i = 0; i < N(nums); i++) {
        const num_key *k = &nums[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->key, key) != 0)
            continue;
        uint64_t v;
        if (!st_config_parse_u64(value, k->max, &v) || v < k->min)
            return st_fail(err, ST_E_BAD_REQUEST, "bad value for [%s] %s: '%.64s'", section,
                           key, value);
        if (k->wide)
            *(uint64_t *)((char *)a + k->off) = v;
        else
            *(unsigned *)((char *)a + k->off) = (unsigned)v;
        return ST_OK;
    }
    return ST_E_NOT_FOUND;
}

st_status st_auth_settings_copy(st_auth_settings *dst, const st_auth_settings *src)
{
    *dst = *src;
    dst->jwt_keys = NULL;
    dst->n_jwt_keys = 0;
    bool ok = true;
    for (size_t i = 0; i < N(strs); i++) {
        char **d = str_slot(dst, &strs[i]);
        const char *s = *str_slot((st_auth_settings *)src, &strs[i]);
        if (!s)
            s = strs[i].def;
        *d = s ? strdup(s) : NULL;
        ok = ok && (!s || *d);
    }
    for (size_t i = 0; ok && i < src->n_jwt_keys; i++)
        ok = set_jwt_key(dst, src->jwt_keys[i].key, src->jwt_keys[i].value, NULL) == ST_OK;
    if (!ok) {
        st_auth_settings_free(dst);
        return ST_E_NOMEM;
    }
    return ST_OK;
}

void st_auth_settings_free(st_auth_settings *a)
{
    for (size_t i = 0; i < N(strs); i++) {
        char **slot = str_slot(a, &strs[i]);
        free(*slot);
        *slot = NULL;
    }
    for (size_t i = 0; i < a->n_jwt_keys; i++) {
        free(a->jwt_keys[i].key);
        free(a->jwt_keys[i].value);
    }
    free(a->jwt_keys);
    a->jwt_keys = NULL;
    a->n_jwt_keys = 0;
}
