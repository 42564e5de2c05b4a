/* feed.h — streaming _changes feeds that cost no thread while they wait.
 *
 * A feed is an MHD callback response.  When it has nothing to send it
 * suspends its connection (MHD_suspend_connection) and parks in the
 * per-database registry; the registry subscribes to the database once
 * (a change follower, core/st_follow.h).  On commit the follower's wake queues the database for the
 * fan-out thread, which reads the new rows once into the database's cache
 * of recent rows and writes them straight to the sockets of parked
 * continuous/eventsource feeds (one chunk each, never blocking); every
 * other parked feed is resumed.  A timer thread resumes those whose
 * heartbeat or timeout is due.  A resumed feed reads from its own position
 * (the row cache, or st_db_changes), one bounded batch per callback, so a
 * slow listener costs its socket buffer and one batch (or one unfinished
 * chunk).
 *
 * Ownership: st_feed_start takes the database reference and the doc_ids in
 * every case.  The feed belongs to its MHD response and is freed (via the
 * timer thread, outside MHD's locks) when MHD destroys the response.
 * Threading: the registry lock orders before MHD's internal locks; the
 * follower wake only takes the registry lock and pokes an eventfd.
 * Caveat: the direct writes rely on MHD leaving a suspended connection's
 * socket alone and calling the read callback only once its previous chunk
 * went out completely.  They are used with libmicrohttpd 0.9.50 to 0.9.75
 * (checked with 0.9.75; the feed tests check the streams stay valid); with
 * any other version every feed is resumed the MHD way.
 */
#ifndef ST_SERVER_FEED_H
#define ST_SERVER_FEED_H

#include "http.h"
#include "st_db.h"

typedef enum {
    ST_FEED_NORMAL,
    ST_FEED_LONGPOLL,
    ST_FEED_CONTINUOUS,
    ST_FEED_EVENTSOURCE
} st_feed_type;

typedef struct st_feed_params {
    st_feed_type type;
    st_changes_opts opts;     /* doc_ids/filter fields are set by the feed */
    bool since_now;           /* since=now */
    bool limit_set;
    char **doc_ids;           /* taken (malloc'd array of malloc'd ids) */
    size_t n_doc_ids;
    uint64_t heartbeat_ms;    /* 0 = none */
    uint64_t timeout_ms;
    struct st_selector *selector; /* filter=_selector (compiled), taken; NULL: none */
    bool removed;             /* settee_removed=true: rows for documents that
                                 stopped matching the selector */
    /* A filter context the feed owns (opts.filter_ctx), freed with the
     * feed; filter_failed true ends the feed with an error (a filter
     * function that threw).  Both NULL for filters owning nothing. */
    void (*filter_free)(void *ctx);
    bool (*filter_failed)(void *ctx);
} st_feed_params;

st_status st_feeds_new(st_server *srv, st_feeds **out, st_error *err);
/* Resume every waiting feed so that it ends; no feed waits afterwards. */
void st_feeds_shutdown(st_feeds *f);
/* Stop the timer thread and release every database (after MHD stopped). */
void st_feeds_free(st_feeds *f);

/* The document of user name changed: that user's open feeds check their
 * access again (and end if it is gone).  Any thread. */
void st_feeds_user_changed(st_feeds *f, const char *name);

/* Answer r with a feed over db.  Always consumes db, p->doc_ids,
 * p->selector and the filter context (p->filter_free). */
void st_feed_start(st_req *r, st_db *db, st_feed_params *p);
/* The request is being freed: the feed must not touch it any more.  Drops
 * the request's reference to f (MHD's response holds the other). */
void st_feed_detach_req(st_feed *f);

#endif
