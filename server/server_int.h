/* server_int.h — the running server's shared state (internal to server/).
 *
 * One st_server per st_server_start().  Everything here is either set
 * before the MHD daemon starts and read-only afterwards (config, catalog,
 * uuid, secret), or guarded as each field says.
 */
#ifndef ST_SERVER_INT_H
#define ST_SERVER_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "st_catalog.h"
#include "st_serve.h"

typedef struct st_feeds st_feeds;
typedef struct st_auth st_auth;
typedef struct st_watch st_watch;

struct st_server {
    st_config *cfg;              /* private copy; read-only while running */
    st_catalog *cat;             /* every database under cfg->data_dir */
    struct MHD_Daemon *mhd;
    uint16_t port;               /* bound port */
    char uuid[33];               /* server uuid (GET /), persisted in data_dir */
    st_auth *auth;               /* authentication handlers, users, sessions (auth.c) */
    st_watch *watch;             /* follows _users: feeds, couch_peruser (watch.c) */
    st_feeds *feeds;             /* change-feed registry (feed.c) */
    atomic_uint async_calls;     /* writes handed to core, connection suspended */
    atomic_uint live_requests;   /* requests between URI callback and completion */
    atomic_bool stopping;        /* set once st_server_stop begins */
    atomic_bool limit_logged;    /* the connection limit was reached and said so */
};

#endif
