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
#include "tls.h"

typedef struct st_feeds st_feeds;
typedef struct st_auth st_auth;
typedef struct st_watch st_watch;
typedef struct st_qs st_qs;
typedef struct st_views st_views;
typedef struct st_vjobs st_vjobs;

/* One libmicrohttpd daemon: the plain listener, or the HTTPS one.  Both
 * run the same callbacks (daemon.c), which get this as their cls. */
typedef struct st_listener {
    st_server *srv;
    struct MHD_Daemon *mhd;      /* NULL: not started */
    bool tls;                    /* HTTPS: its requests are marked r->tls */
    uint16_t port;               /* bound port */
    int fd;                      /* listening socket, -1 when none (accept.c accepts on it) */
    atomic_uint open;            /* connections handed to mhd and not yet closed */
} st_listener;

struct st_server {
    /* The configuration and what is built from it: replaced as a whole by
     * a reload (reload.c), the old ones kept until the server stops, so a
     * request that loaded the old pointer can go on using it. */
    st_config *_Atomic cfg;      /* private copy; read-only while running */
    st_catalog *cat;             /* every database under cfg->data_dir */
    st_listener http;            /* [chttpd] bind_address:port */
    st_listener https;           /* [ssl] bind_address:port; mhd NULL unless [ssl] enable */
    st_tls_creds tls;            /* the PEM text the HTTPS daemon was given, kept until it stops */
    char uuid[33];               /* server uuid (GET /), persisted in data_dir */
    st_auth *_Atomic auth;       /* authentication handlers, users, sessions (auth.c) */
    st_config **old_cfg;         /* replaced by reloads (main thread only) */
    st_auth **old_auth;
    size_t n_old;
    st_watch *watch;             /* follows _users: feeds, couch_peruser (watch.c) */
    st_feeds *feeds;             /* change-feed registry (feed.c) */
    st_qs *qs;                   /* query-server processes (design-doc JavaScript) */
    st_views *views;             /* view indexes */
    st_vjobs *vjobs;             /* view work after the answer (view_jobs.c) */
    unsigned threads;            /* MHD workers per listener, fixed at start: a reload's
                                    [settee] threads cannot resize running daemons */
    unsigned max_connections;    /* per listener, fixed at start (fitted to the open-file
                                    limit; a reload's cfg has the unfitted value) */
    atomic_uint async_calls;     /* writes handed to core, connection suspended */
    atomic_int suspended;        /* connections we suspended and have not resumed
                                    (MHD must not stop with one: see st_server_stop) */
    atomic_uint live_requests;   /* requests between URI callback and completion */
    atomic_bool stopping;        /* set once st_server_stop begins */
    atomic_bool limit_logged;    /* the connection limit was reached and said so */
    /* The accepting thread (accept.c). */
    pthread_t acceptor;
    bool acceptor_running;
    int accept_efd;              /* wakes it: stop, or a connection closed at the limit */
    atomic_bool accept_stop;
};

/* reload.c: the authentication state for cfg (plain admin passwords hashed
 * and written back to the config file they came from; the authentication
 * database created admin-only if missing). */
st_status st_server_auth_setup(st_server *s, const st_config *cfg, st_auth **out, st_error *err);
/* Free what reloads replaced (at stop). */
void st_server_free_retired(st_server *s);

#endif
