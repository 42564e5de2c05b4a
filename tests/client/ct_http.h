/* ct_http.h — one blocking HTTP request to a test's `settee serve` as its
 * admin (ts_server_http), for what libsettee does not do: making users,
 * databases and _security objects.  Call curl_global_init first.  Every
 * request gives up after 30 s.
 */
#ifndef CLIENT_CT_HTTP_H
#define CLIENT_CT_HTTP_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_testutil.h"

typedef ts_resp ct_resp; /* status 0: no answer; free(body) */

/* method s->url + path, with body as JSON when non-NULL. */
static inline ct_resp ct_http(const ct_server *s, const char *method, const char *path,
                              const char *body)
{
    return ts_server_http(s, method, path, body);
}

static inline long ct_http_status(const ct_server *s, const char *method, const char *path,
                                  const char *body)
{
    return ts_server_http_status(s, method, path, body);
}

#endif
