/* url.h — a remote database URL taken apart:
 * "http(s)://[user[:pass]@]host[:port][/prefix]/db[/]".
 *
 * Ownership: st_url_parse fills caller-provided st_url whose strings it
 * allocates; st_url_free releases them.  Thread-safety: pure.
 */
#ifndef ST_URL_H
#define ST_URL_H

#include <stdbool.h>
#include "st_error.h"

typedef struct st_url {
    bool https;
    char *user;       /* as written in the URL (NULL: none) */
    char *password;   /* as written (NULL: none) */
    char *host;       /* without brackets for IPv6 */
    int port;         /* explicit port, or the scheme's (80/443) */
    bool port_given;
    char *path;       /* "/prefix/db" — no trailing slash, never empty */
    char *db;         /* last path segment, as written */
    char *root;       /* "scheme://host:port/prefix" — the server's root, no slash */
    char *db_url;     /* root + "/" + db */
    char *display;    /* the URL without the password, for messages */
} st_url;

/* ST_E_BAD_REQUEST with a reason for anything that is not a database URL. */
st_status st_url_parse(const char *url, st_url *out, st_error *err);
void st_url_free(st_url *u);

/* Percent-decode s (for credentials); malloc'd, NULL on OOM. */
char *st_url_decode(const char *s);

#endif
