/* config_qs.c — the query-server and view settings, CouchDB's names:
 *   [query_servers] <language> = <command line>   (javascript = settee-js)
 *   [couchdb] os_process_timeout = 5000           (ms per answer)
 *   [query_server_config] os_process_limit = 4    (processes per language;
 *                         CouchDB's default is 100, sized for one process
 *                         per request; settee pipelines, so a few suffice)
 *   [query_server_config] reduce_limit = true
 *   [settee] view_batch = 500                     (documents per map batch)
 * As in CouchDB, an environment variable COUCHDB_QUERY_SERVER_<LANGUAGE>
 * names a command too (st_qs_settings_env); the ini file wins over it.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

void st_qs_settings_init(st_qs_settings *q)
{
    memset(q, 0, sizeof *q);
    q->timeout_ms = 5000;
    q->max_procs = 4;
    q->reduce_limit = true;
    q->view_batch = 500;
}

void st_qs_settings_free(st_qs_settings *q)
{
    for (size_t i = 0; i < q->n_langs; i++) {
        free(q->langs[i].key);
        free(q->langs[i].value);
    }
    free(q->langs);
    q->langs = NULL;
    q->n_langs = 0;
}

static st_status set_lang(st_qs_settings *q, const char *lang, const char *cmd, bool replace,
                          st_error *err)
{
    for (size_t i = 0; i < q->n_langs; i++) {
        if (strcmp(q->langs[i].key, lang) != 0)
            continue;
        if (!replace)
            return ST_OK;
        char *v = strdup(cmd);
        if (!v)
            return st_fail(err, ST_E_NOMEM, "out of memory");
        free(q->langs[i].value);
        q->langs[i].value = v;
        return ST_OK;
    }
    st_kv *g = realloc(q->langs, (q->n_langs + 1) * sizeof *g);
    if (!g)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    q->langs = g;
    st_kv kv = {strdup(lang), strdup(cmd)};
    if (!kv.key || !kv.value) {
        free(kv.key);
        free(kv.value);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    q->langs[q->n_langs++] = kv;
    return ST_OK;
}

static bool parse_uint(const char *s, unsigned long max, unsigned *out)
{
    char *end = NULL;
    if (!s || !isdigit((unsigned char)*s))
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

st_status st_qs_settings_set(st_qs_settings *q, const char *section, const char *key,
                             const char *value, st_error *err)
{
    unsigned u;
    if (strcmp(section, "query_servers") == 0)
        return set_lang(q, key, value, true, err);
    if (strcmp(section, "couchdb") == 0 && strcmp(key, "os_process_timeout") == 0) {
        if (!parse_uint(value, 3600000, &u) || u == 0)
            goto bad;
        q->timeout_ms = u;
        return ST_OK;
    }
    if (strcmp(section, "query_server_config") == 0 && strcmp(key, "os_process_limit") == 0) {
        if (!parse_uint(value, 256, &u) || u == 0)
            goto bad;
        q->max_procs = u;
        return ST_OK;
    }
    if (strcmp(section, "query_server_config") == 0 && strcmp(key, "reduce_limit") == 0) {
        if (strcasecmp(value, "true") != 0 && strcasecmp(value, "false") != 0 &&
            strcasecmp(value, "log") != 0)
            goto bad;
        q->reduce_limit = strcasecmp(value, "false") != 0;
        return ST_OK;
    }
    if (strcmp(section, "settee") == 0 && strcmp(key, "view_batch") == 0) {
        if (!parse_uint(value, 100000, &u) || u == 0)
            goto bad;
        q->view_batch = u;
        return ST_OK;
    }
    return ST_E_NOT_FOUND;
bad:
    return st_fail(err, ST_E_BAD_REQUEST, "bad value for [%s] %s: '%s'", section, key, value);
}

st_status st_qs_settings_copy(st_qs_settings *dst, const st_qs_settings *src)
{
    *dst = *src;
    dst->langs = NULL;
    dst->n_langs = 0;
    for (size_t i = 0; i < src->n_langs; i++) {
        st_status st = set_lang(dst, src->langs[i].key, src->langs[i].value, true, NULL);
        if (st != ST_OK) {
            st_qs_settings_free(dst);
            return st;
        }
    }
    return ST_OK;
}

st_status st_qs_settings_env(st_qs_settings *q, st_error *err)
{
    static const char prefix[] = "COUCHDB_QUERY_SERVER_";
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, prefix, sizeof prefix - 1) != 0)
            continue;
        const char *name = *e + sizeof prefix - 1, *eq = strchr(name, '=');
        if (!eq || eq == name || (size_t)(eq - name) >= 64)
            continue;
        char lang[64];
        size_t n = (size_t)(eq - name);
        for (size_t i = 0; i < n; i++)
            lang[i] = (char)tolower((unsigned char)name[i]);
        lang[n] = '\0';
        st_status st = set_lang(q, lang, eq + 1, false, err);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}
