/* dburl.c — taking a database URL apart (see dburl.h).  Hand-written rather than
 * curl_url(): we need the pieces as the user wrote them (CouchDB's
 * replication id hashes the raw user name, host and path), and the last
 * path segment on its own (the database name). */
#include "st_buf.h"
#include "dburl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "st_pct.h"

/* url for a message: "scheme://user:pass@rest" loses ":pass", so a
 * rejected URL can be quoted without its password. */
static void scrub(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    const char *at = NULL, *colon = NULL;
    if (p) {
        p += 3;
        const char *auth_end = p + strcspn(p, "/");
        for (const char *q = p; q < auth_end; q++)
            if (*q == '@')
                at = q;
        colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    }
    if (colon)
        snprintf(out, cap, "%.*s%s", (int)(colon - url), url, at);
    else
        snprintf(out, cap, "%s", url);
}

st_status st_dburl_decode(const char *s, char **out, st_error *err)
{
    *out = st_pct_decode(s, strlen(s), false);
    if (!*out)
        return st_fail(err, ST_E_BAD_REQUEST, "bad percent-escape in the URL's credentials");
    return ST_OK;
}

void st_dburl_free(st_dburl *u)
{
    free(u->user);
    free(u->password);
    free(u->host);
    free(u->path);
    free(u->db);
    free(u->root);
    free(u->db_url);
    free(u->display);
    memset(u, 0, sizeof *u);
}

st_status st_dburl_parse(const char *url, st_dburl *u, st_error *err)
{
    memset(u, 0, sizeof *u);
    char shown[ST_REASON_MAX];
    scrub(url, shown, sizeof shown);
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        u->https = true;
        p = url + 8;
    } else {
        return st_fail(err, ST_E_BAD_REQUEST, "not an http(s) URL: %s", shown);
    }
    const char *slash = strchr(p, '/');
    const char *auth_end = slash ? slash : p + strlen(p);
    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    const char *hp = p;
    bool oom = false;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            u->user = st_memdup0(p, (size_t)(colon - p));
            u->password = st_memdup0(colon + 1, (size_t)(at - colon - 1));
            oom = !u->user || !u->password;
        } else {
            oom = !(u->user = st_memdup0(p, (size_t)(at - p)));
        }
        hp = at + 1;
    }
    const char *host_end = auth_end;
    const char *port_colon = NULL;
    if (*hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(auth_end - hp));
        if (!rb)
            goto bad;
        u->host = st_memdup0(hp + 1, (size_t)(rb - hp - 1));
        if (rb + 1 < auth_end && rb[1] == ':')
            port_colon = rb + 1;
        else if (rb + 1 != auth_end)
            goto bad;
    } else {
        port_colon = memchr(hp, ':', (size_t)(auth_end - hp));
        host_end = port_colon ? port_colon : auth_end;
        u->host = st_memdup0(hp, (size_t)(host_end - hp));
    }
    if (!u->host) {
        oom = true;
    } else if (!u->host[0]) {
        goto bad;
    }
    u->port = u->https ? 443 : 80;
    if (port_colon) {
        char *end = NULL;
        long port = strtol(port_colon + 1, &end, 10);
        if (end != auth_end || port <= 0 || port > 65535)
            goto bad;
        u->port = (int)port;
        u->port_given = true;
    }
    /* Path: strip trailing slashes; the last segment is the database. */
    size_t plen = slash ? strlen(slash) : 0;
    while (plen > 1 && slash[plen - 1] == '/')
        plen--;
    if (!slash || plen <= 1)
        return st_dburl_free(u), st_fail(err, ST_E_BAD_REQUEST, "no database name in URL %s", shown);
    if (memchr(slash, '?', plen) || memchr(slash, '#', plen))
        return st_dburl_free(u), st_fail(err, ST_E_BAD_REQUEST, "query strings are not supported in %s", shown);
    u->path = st_memdup0(slash, plen);
    const char *last = u->path ? strrchr(u->path, '/') : NULL;
    u->db = last ? strdup(last + 1) : NULL;
    size_t prefix = last ? (size_t)(last - u->path) : 0;
    char hostport[600];
    bool v6 = u->host && strchr(u->host, ':');
    snprintf(hostport, sizeof hostport, "%s%s%s:%d", v6 ? "[" : "", u->host ? u->host : "",
             v6 ? "]" : "", u->port);
    size_t rl = strlen(hostport) + prefix + 16;
    u->root = malloc(rl);
    u->db_url = malloc(rl + plen);
    size_t dl = strlen(url) + 1;
    u->display = malloc(dl);
    if (oom || !u->path || !u->db || !u->root || !u->db_url || !u->display) {
        st_dburl_free(u);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    snprintf(u->root, rl, "%s://%s%.*s", u->https ? "https" : "http", hostport, (int)prefix, u->path);
    snprintf(u->db_url, rl + plen, "%s/%s", u->root, u->db);
    if (u->user)
        snprintf(u->display, dl, "%s://%s@%s", u->https ? "https" : "http", u->user, hp);
    else
        snprintf(u->display, dl, "%s", url);
    return ST_OK;
bad:
    st_dburl_free(u);
    return st_fail(err, ST_E_BAD_REQUEST, "bad host or port in URL %s", shown);
}
