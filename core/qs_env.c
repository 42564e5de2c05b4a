/* qs_env.c — languages named by the environment, as CouchDB reads them:
 * COUCHDB_QUERY_SERVER_<LANGUAGE>=<command line>, the language in lower
 * case.  For pools made outside the server (the replicator filtering a
 * local database), which has no ini file; the server reads the same
 * variables into its settings (server/config_qs.c), where the ini wins. */
#include "st_qs.h"

#include <ctype.h>
#include <string.h>

extern char **environ;

st_status st_qs_languages_from_env(st_qs *qs, st_error *err)
{
    static const char prefix[] = "COUCHDB_QUERY_SERVER_";
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, prefix, sizeof prefix - 1) != 0)
            continue;
        const char *name = *e + sizeof prefix - 1, *eq = strchr(name, '=');
        if (!eq || eq == name || (size_t)(eq - name) >= 64 || !eq[1])
            continue;
        char lang[64];
        size_t n = (size_t)(eq - name);
        for (size_t i = 0; i < n; i++)
            lang[i] = (char)tolower((unsigned char)name[i]);
        lang[n] = '\0';
        st_status st = st_qs_set_language(qs, lang, eq + 1, err);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}
