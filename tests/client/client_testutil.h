/* client_testutil.h — helpers for libsettee's tests, which use nothing of
 * settee but settee.h: the real `settee serve` binary (support/serve.h)
 * with the admin CT_ADMIN:CT_PASS, optionally with more configuration and
 * HTTPS with the test certificate of tests/data/tls on a second port; a
 * port nobody listens on; and a bounded wait that dispatches a database's
 * listeners.  Scratch directories and clocks: support/tmp.h, support/clock.h.
 */
#ifndef CLIENT_TESTUTIL_H
#define CLIENT_TESTUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "settee.h"
#include "support/clock.h"
#include "support/serve.h"
#include "support/tmp.h"

#define CT_ADMIN TS_ADMIN
#define CT_PASS "client-pw"

/* ------------------------------------------------------------ the server */

typedef ts_server ct_server;

/* A port nobody listens on now (bind 0, read it back, close). */
static inline int ct_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Start with ini (more configuration text; NULL for none) and, when tls,
 * HTTPS beside HTTP on a port of its own (needs ST_TEST_DATA_DIR). */
static inline bool ct_server_start_cfg(ct_server *s, const char *tag, const char *ini, bool tls)
{
    /* A cheap admin hash: these tests are about sync, not password cost. */
    char text[8192];
    int n = snprintf(text, sizeof text, "[chttpd_auth]\niterations = 1000\n");
#ifdef ST_TEST_DATA_DIR
    if (tls)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "[ssl]\nenable = true\ncert_file = %s/tls/server.pem\n"
                      "key_file = %s/tls/server.key\nport = 0\n",
                      ST_TEST_DATA_DIR, ST_TEST_DATA_DIR);
#else
    if (tls)
        return false;
#endif
    if (ini)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s", ini);
    if (n < 0 || (size_t)n >= sizeof text)
        return false;
    return ts_server_start(s, tag, CT_PASS, text);
}

static inline bool ct_server_start(ct_server *s, const char *tag)
{
    return ct_server_start_cfg(s, tag, NULL, false);
}

/* Stop by PID and keep the data (ts_server_halt): true when the server
 * exited by itself with status 0 (callers assert this). */
static inline bool ct_server_stop(ct_server *s) { return ts_server_halt(s); }

/* Restart on the same HTTP port and data (the clients keep their URL). */
static inline bool ct_server_restart(ct_server *s) { return ts_server_restart(s, NULL, NULL); }

/* ------------------------------------------------------------- settee */

/* Wait (bounded) until cond(arg) holds, dispatching db when non-NULL. */
static inline bool ct_wait(bool (*cond)(void *), void *arg, settee_db *manual_db,
                           unsigned timeout_ms)
{
    for (uint64_t t0 = ts_now_ms(); ts_now_ms() - t0 < timeout_ms;) {
        if (manual_db)
            (void)settee_db_dispatch(manual_db);
        if (cond(arg))
            return true;
        ts_sleep_ms(5);
    }
    return cond(arg);
}

#endif
