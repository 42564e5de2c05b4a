/* dburl.h — a remote database URL taken apart:
 * "http(s)://[user[:pass]@]host[:port][/prefix]/db[/]".
 *
 * Ownership: st_dburl_parse fills caller-provided st_dburl whose strings it
 * allocates; st_dburl_free releases them.  Thread-safety: pure.
 */
#ifndef ST_DBURL_H
#define ST_DBURL_H

#include <stdbool.h>
#include "st_error.h"

typedef struct st_dburl {
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
} st_dburl;

/* ST_E_BAD_REQUEST with a reason for anything that is not a database URL
 * (the reason quotes the URL without its password). */
st_status st_dburl_parse(const char *url, st_dburl *out, st_error *err);
void st_dburl_free(st_dburl *u);

/* Percent-decode s (the credentials) into *out (malloc'd).  The rule is
 * the server's for path segments (server/request.c): '+' stays literal, and
 * a malformed escape or %00 is refused (ST_E_BAD_REQUEST) rather than
 * passed on or cut short. */
st_status st_dburl_decode(const char *s, char **out, st_error *err);

#endif
