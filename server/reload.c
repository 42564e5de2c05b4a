/* reload.c — the configuration at start and on SIGHUP.
 *
 * Why swap whole objects: every request reads srv->cfg and srv->auth many
 * times without a lock.  A reload builds a new configuration copy and a new
 * authentication state beside the running ones, then publishes both with
 * one atomic store each; requests in flight finish with what they loaded.
 * The replaced objects are kept until the server stops (a reload is a rare
 * operator action; each costs a few kilobytes), so nothing is freed under a
 * reader.  What cannot change without a restart (the listening address and
 * port, the data directory, the authentication database, core's document
 * and attachment limits) is reported and left as it was.
 */
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "log.h"
#include "st_serve.h"

st_status st_server_auth_setup(st_server *s, const st_config *c, st_auth **out, st_error *err)
{
    *out = NULL;
    st_auth *a = NULL;
    st_status rc = st_auth_new(s, c, &a, err);
    if (rc != ST_OK)
        return rc;
    char **hashes = calloc(c->n_admins ? c->n_admins : 1, sizeof *hashes);
    if (!hashes) {
        st_auth_free(a);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    bool rewrite = false;
    for (size_t i = 0; i < c->n_admins; i++) {
        hashes[i] = (char *)st_users_admin_hash(st_auth_users(a), i);
        rewrite = rewrite || (hashes[i] && c->admins[i].from_file);
    }
    if (rewrite && (rc = st_config_rewrite_admins(c, hashes, err)) == ST_OK)
        st_log(ST_LOG_NOTICE, "hashed the plain admin passwords of %s", c->config_path);
    free(hashes);
    const char *udb = st_users_db_name(st_auth_users(a));
    if (rc == ST_OK && !st_catalog_exists(s->cat, udb)) {
        st_error ce;
        if (st_catalog_create(s->cat, udb, ST_SECURITY_ADMIN_ONLY, &ce) == ST_OK)
            st_log(ST_LOG_NOTICE, "created the authentication database %s", udb);
        else if (ce.code != ST_E_FILE_EXISTS)
            rc = st_fail(err, ce.code, "cannot create %s: %s", udb, ce.reason);
    }
    if (rc != ST_OK) {
        st_auth_free(a);
        return rc;
    }
    *out = a;
    return ST_OK;
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool retire(st_server *s, st_config *c, st_auth *a)
{
    st_config **oc = realloc(s->old_cfg, (s->n_old + 1) * sizeof *oc);
    if (!oc)
        return false;
    s->old_cfg = oc;
    st_auth **oa = realloc(s->old_auth, (s->n_old + 1) * sizeof *oa);
    if (!oa)
        return false;
    s->old_auth = oa;
    s->old_cfg[s->n_old] = c;
    s->old_auth[s->n_old] = a;
    s->n_old++;
    return true;
}

st_status st_server_reload(st_server *s, const st_config *next, st_error *err)
{
    const st_config *cur = s->cfg;
    if (next->n_admins == 0)
        return st_fail(err, ST_E_MISUSE, "no server admin configured");
    st_config *c = st_config_copy(next); /* fills the settings' defaults */
    if (!c)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if (!same(cur->bind_address, c->bind_address) || cur->port != c->port ||
        !same(cur->data_dir, c->data_dir))
        st_log(ST_LOG_WARN, "reload: the address, port and data directory change only with a "
                            "restart");
    if (!same(cur->auth.authentication_db, c->auth.authentication_db) ||
        cur->max_document_size != c->max_document_size ||
        cur->max_attachment_size != c->max_attachment_size)
        st_log(ST_LOG_WARN, "reload: authentication_db and the document and attachment size "
                            "limits change only with a restart");
    /* Keep what cannot change. */
    char *keep[3] = {c->bind_address, c->data_dir, c->auth.authentication_db};
    c->bind_address = strdup(cur->bind_address);
    c->data_dir = strdup(cur->data_dir);
    c->auth.authentication_db = cur->auth.authentication_db ? strdup(cur->auth.authentication_db)
                                                            : NULL;
    c->port = cur->port;
    c->max_document_size = cur->max_document_size;
    c->max_attachment_size = cur->max_attachment_size;
    for (int i = 0; i < 3; i++)
        free(keep[i]);
    if (!c->bind_address || !c->data_dir) {
        st_config_free(c);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    st_auth *a = NULL;
    st_status rc = st_server_auth_setup(s, c, &a, err);
    if (rc != ST_OK) {
        st_config_free(c);
        return rc;
    }
    st_config *old_c = s->cfg;
    st_auth *old_a = s->auth;
    if (!retire(s, old_c, old_a)) {
        st_auth_free(a);
        st_config_free(c);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    s->cfg = c;
    s->auth = a;
    st_log_set_level(c->log_level);
    st_log(ST_LOG_NOTICE, "configuration reloaded (%zu admins)", c->n_admins);
    return ST_OK;
}

void st_server_free_retired(st_server *s)
{
    for (size_t i = 0; i < s->n_old; i++) {
        st_auth_free(s->old_auth[i]);
        st_config_free(s->old_cfg[i]);
    }
    free(s->old_auth);
    free(s->old_cfg);
    s->old_auth = NULL;
    s->old_cfg = NULL;
    s->n_old = 0;
}

char *st_server_admin_hash(st_server *s, const char *name)
{
    const st_config *c = s->cfg;
    for (size_t i = 0; i < c->n_admins; i++) {
        if (strcmp(c->admins[i].name, name) != 0)
            continue;
        const char *h = c->admins[i].plain ? st_users_admin_hash(st_auth_users(s->auth), i)
                                           : c->admins[i].value;
        return h ? strdup(h) : NULL;
    }
    return NULL;
}
