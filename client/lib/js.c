/* js.c — see js.h.
 *
 * Why one pool per settee_db rather than one per process: its limits are
 * the db's options, and closing the db must leave no process behind; an
 * idle pool is a thread and no process (they start on the first function
 * run), so a database that never meets JavaScript costs nothing more.
 *
 * Why "no JavaScript" is a pool without the language rather than no pool:
 * every path (saving a design document, validating, mapping) then meets
 * core's own unknown_query_language case, which already does what CouchDB
 * does without a query server, and none of them needs a branch of its own.
 */
#define _GNU_SOURCE /* dladdr */
#include "js.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "st_vdu.h"

#ifndef ST_CLIENT_JS_INSTALLED
#define ST_CLIENT_JS_INSTALLED "/usr/local/libexec/settee/settee-js"
#endif
#ifndef ST_CLIENT_JS_FROM_LIB
#define ST_CLIENT_JS_FROM_LIB "../libexec/settee/settee-js"
#endif

#define DEFAULT_PROCS 2u
#define PATH_CAP 4096

struct st_client_js {
    st_qs *qs;
    st_views *views;
    st_vdu *vdu;            /* owned by the database once installed */
    bool available;
    char hint[512];         /* where it was looked for (messages are 256 bytes anyway) */
};

/* settee-js relative to the file this code was loaded from (libsettee.so,
 * or the program it is linked into), when it is there. */
static bool beside_library(char *out, size_t cap)
{
    Dl_info info;
    if (!dladdr((void *)st_client_js_open, &info) || !info.dli_fname)
        return false;
    const char *slash = strrchr(info.dli_fname, '/');
    if (!slash)
        return false;
    int n = snprintf(out, cap, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname,
                     ST_CLIENT_JS_FROM_LIB);
    return n > 0 && (size_t)n < cap && access(out, X_OK) == 0;
}

/* The command line to run; "" for none. */
static void resolve(const char *query_server, char *out, size_t cap)
{
    const char *env = getenv("SETTEE_JS");
    if (query_server)
        snprintf(out, cap, "%s", query_server);
    else if (env && env[0])
        snprintf(out, cap, "%s", env);
    else if (!beside_library(out, cap))
        snprintf(out, cap, "%s", ST_CLIENT_JS_INSTALLED);
}

/* Is the command's first word an executable (a bare name: one in $PATH,
 * which the pool's posix_spawnp finds)? */
static bool runnable(const char *cmd)
{
    char prog[PATH_CAP];
    size_t n = strcspn(cmd, " \t");
    if (n == 0 || n >= sizeof prog)
        return false;
    memcpy(prog, cmd, n);
    prog[n] = '\0';
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t len = strcspn(path, ":");
        char full[PATH_CAP];
        int w = snprintf(full, sizeof full, "%.*s/%s", (int)len, path, prog);
        if (w > 0 && (size_t)w < sizeof full && access(full, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

settee_status st_client_js_open(st_db *db, const char *query_server, unsigned timeout_ms,
                                unsigned procs, st_client_js **out, settee_error *e)
{
    *out = NULL;
    st_client_js *js = calloc(1, sizeof *js);
    if (!js)
        return st_client_fail(e, SETTEE_NOMEM, "out of memory");
    char cmd[PATH_CAP];
    resolve(query_server, cmd, sizeof cmd);
    js->available = cmd[0] && runnable(cmd);
    if (!cmd[0])
        snprintf(js->hint, sizeof js->hint, "JavaScript is switched off (query_server \"\")");
    else if (!js->available)
        snprintf(js->hint, sizeof js->hint,
                 "settee-js not found at '%.300s' (settee_db_options.query_server, SETTEE_JS)",
                 cmd);

    st_error ce;
    st_qs_options qo;
    st_qs_options_init(&qo);
    if (timeout_ms)
        qo.timeout_ms = timeout_ms;
    qo.max_procs = procs ? procs : DEFAULT_PROCS;
    st_status s = st_qs_new(&qo, &js->qs, &ce);
    if (s == ST_OK)
        s = st_qs_set_language(js->qs, "javascript", js->available ? cmd : NULL, &ce);
    if (s == ST_OK)
        s = st_views_new(js->qs, NULL, &js->views, &ce);
    st_vdu_options vo = {.qs = js->qs, .keep_scope = false,
                         .qs_hint = js->available ? NULL : js->hint};
    if (s == ST_OK)
        s = st_vdu_new(db, &vo, &js->vdu, &ce);
    if (s != ST_OK) {
        settee_status rc = st_client_from_core(e, s, &ce);
        st_client_js_close(js);
        return rc;
    }
    st_vdu_install(db, js->vdu);
    *out = js;
    return SETTEE_OK;
}

void st_client_js_close(st_client_js *js)
{
    if (!js)
        return;
    st_views_free(js->views);
    /* Nothing is checked out once the database is closed: this reaps every
     * process. */
    (void)st_qs_free(js->qs);
    free(js);
}

st_views *st_client_js_views(st_client_js *js) { return js->views; }
bool st_client_js_available(const st_client_js *js) { return js->available; }
const char *st_client_js_hint(const st_client_js *js) { return js->hint; }

settee_status st_client_js_set_user(st_client_js *js, const char *name,
                                    const char *const *roles, size_t n, settee_error *e)
{
    st_error ce;
    st_status s = st_vdu_set_local_user(js->vdu, name, roles, n, &ce);
    return st_client_from_core(e, s, &ce);
}
