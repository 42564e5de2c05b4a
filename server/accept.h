/* accept.h — the listening sockets and the one thread that accepts on them
 * (accept.c), handing each connection to a libmicrohttpd worker.
 *
 * Threads: st_accept_listen and st_acceptor_start/stop are called by the
 * thread that starts and stops the server; the acceptor's own thread only
 * calls MHD_add_connection and the server's limit log.
 */
#ifndef ST_ACCEPT_H
#define ST_ACCEPT_H

#include <sys/socket.h>
#include "server_int.h"

/* A non-blocking listening socket bound to sa (IPv6 sockets only take
 * IPv6, as libmicrohttpd's did), with its bound port. */
st_status st_accept_listen(const struct sockaddr *sa, socklen_t len, int *out_fd,
                           uint16_t *out_port, st_error *err);

/* Start accepting on s->http and s->https (those with a socket and a
 * daemon).  Nothing is accepted before this.  s->accept_efd is the
 * caller's to close, after the daemons have stopped (their close
 * notifications write to it). */
st_status st_acceptor_start(st_server *s, st_error *err);

/* Stop accepting and close the listening sockets (new clients are refused
 * by the kernel from then on); connections already handed over go on.
 * Safe when never started, and more than once. */
void st_acceptor_stop(st_server *s);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION: a connection handed over
 * has closed (cls is its st_listener). */
void st_accept_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);

/* Say once that the connection limit was reached (any thread). */
void st_server_limit_reached(st_server *srv);

#endif
