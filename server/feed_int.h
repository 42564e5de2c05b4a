/* feed_int.h — the inside of the change feeds, shared by the feed_*.c
 * files (internal to server/):
 *   feed.c         the libmicrohttpd glue: starting a feed, its read
 *                  callback (one bounded batch per call), parking;
 *   feed_format.c  the bytes of each feed type (rows, heartbeats, endings);
 *   feed_reg.c     the registry: per-database entries, parked feeds, the
 *                  follower wake-ups, the timer thread (heartbeats,
 *                  timeouts, releasing freed feeds);
 *   feed_fanout.c  the fan-out thread and its helpers: writing new rows
 *                  straight to parked sockets, draining partial chunks.
 *
 * A waiting feed is a parked MHD connection plus a change follower
 * (core/st_follow.h) that is armed: core calls feed_woken on the
 * committing thread, which moves the feed to its database's woken list and
 * queues the database for the fan-out thread.  See feed.h for the whole
 * picture and feed_fanout.c for why the fan-out writes to sockets itself.
 *
 * Locks: reg->mu guards every entry's lists and every feed's list state
 * (parked, where, the links); it is taken before core's follower lock (by
 * st_follow_arm) and never held while a follower is closed (closing waits
 * for a wake in progress, which takes reg->mu).  MHD's locks come after
 * ours.
 */
#ifndef ST_SERVER_FEED_INT_H
#define ST_SERVER_FEED_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include "feed.h"
#include "st_follow.h"

#define FEED_BATCH 200           /* rows per read from storage or the ring */
#define FEED_BLOCK 16384         /* MHD read-callback block size */
#define TIMER_MAX_SLEEP_MS 200   /* also how late a buffered log line can be */
#define DIRECT_MAX 16384         /* largest chunk payload written by the fan-out thread */
#define DRAIN_TIMEOUT_MS 60000   /* a partial chunk not drained by then: the feed is dropped */
#define FAN_THREADS_MAX 4        /* fan-out writers: one per core, at most this many */
#define FAN_CLAIM 64             /* feeds a writer claims at a time */

typedef struct st_feed_db st_feed_db;

/* Where a parked feed is (reg->mu): a plain feed on its entry's plain
 * list, a selector feed on waiters or woken, or held by the fan-out. */
enum { W_NONE, W_PLAIN, W_WAITING, W_WOKEN, W_FANOUT };

struct st_feed {
    /* Fields the fan-out threads touch for every parked feed come first
     * (about two cache lines: 10,000 feeds per commit), down to
     * users_tracked. */
    st_feed *prev, *next;       /* an entry's plain/waiters/woken list, a fan-out chain, or draining */
    int fd;                     /* the connection's socket (fast path), -1 if unknown */
    bool fast_path;             /* the fan-out thread may write rows to fd itself */
    bool parked;                /* suspended by us: belongs to the registry */
    unsigned char where;        /* W_* */
    bool rewake;                /* woken while the fan-out held it */
    bool broken;                /* the stream cannot continue: end it with an error */
    bool sent_any;              /* continuous/eventsource sent something */
    st_feed_type type;
    st_follower *fol;           /* waiting feeds: the cursor; NULL for normal feeds */
    uint64_t since;             /* the cursor (fol catches up when the feed reads) */
    uint64_t heartbeat_ms;
    uint64_t next_beat;         /* monotonic ms; heartbeat due */
    uint64_t end_at;            /* monotonic ms; timeout (0 = never) */
    uint64_t deadline;          /* while parked: when the timer resumes us */
    uint64_t direct_bytes;      /* body bytes the fan-out thread wrote (for the log) */
    st_db *db;                  /* borrowed from fdb, or our own ref for normal */
    struct st_selector *selector; /* filter=_selector (owned); the follower, when
                                 there is one, is a selector follower */
    /* Who reads it (see who, below), compared for every feed of a fan-out. */
    uint64_t sec_gen;
    uint64_t users_seq;         /* _users update_seq when who was last refreshed */
    atomic_bool recheck;
    bool users_tracked;         /* who's roles are read from _users (Basic, cookie) */
    struct MHD_Connection *conn;
    st_feed_db *fdb;            /* registry entry (waiting feeds); NULL for normal */
    st_feeds *reg;
    st_req *req;                /* valid only inside the read callback */
    st_changes_opts opts;
    void (*filter_free)(void *ctx);     /* frees opts.filter_ctx */
    bool (*filter_failed)(void *ctx);   /* the filter broke: end the feed */
    char **doc_ids;
    size_t n_doc_ids;
    uint64_t remaining;         /* limit left (normal/longpoll) */
    bool limit_set;
    uint64_t timeout_ms;
    uint64_t last_seq, pending; /* from the latest batch */
    uint64_t row_seq;           /* seq of the last row written */
    size_t rows;                /* rows written by the current batch */
    st_buf out;                 /* bytes produced, not yet handed to MHD */
    size_t off;
    enum { PH_START, PH_RUN, PH_DONE } phase;
    bool need_sep;              /* envelope: the next row needs ",\n" */
    bool row_failed;
    /* A chunk the fan-out thread could only partly send (draining). */
    char *tail;
    size_t tail_len, tail_off;
    uint64_t drain_until;       /* monotonic ms */
    st_feed *dead_next;         /* reg->dead stack link */
    atomic_int refs;            /* MHD's response + the request: the feed is
                                   released when both are done with it, in
                                   whichever order MHD finishes them */
    /* Who reads it: checked again whenever the database's _security
     * changed (sec_gen) or the user's document did (recheck), so a reader
     * who lost access gets the feed's end instead of more rows.  recheck
     * is set by the _users watcher, which runs behind the commit; so a
     * reader whose roles come from _users also compares the users
     * database's sequence (users_seq) before every batch: a row written
     * after a role change was acknowledged is never sent. */
    st_identity who;
    bool lister;                /* _changes of the users database: server admins only */
};

struct st_feed_db {
    st_feeds *reg;
    st_feed_db *prev, *next;    /* reg->dbs links */
    st_db *db;                  /* one catalog reference, held by the entry */
    unsigned refs;              /* feeds attached (+1 while the fan-out works on it) */
    bool dying;                 /* refs reached 0: the group's wake is ignored */
    /* Plain feeds (no selector) park on one follower for the database, the
     * group: a commit wakes it once, not each feed, and the fan-out then
     * takes every plain feed (a feed already at the top costs a compare).
     * Each feed's own follower is its cursor only, never armed. */
    st_follower *group;
    st_feed *plain;             /* parked plain feeds */
    bool fired;                 /* the group woke since the fan-out took plain */
    /* Selector feeds each arm their own follower (only a matching commit
     * wakes one). */
    st_feed *waiters;           /* parked, armed selector feeds */
    st_feed *woken;             /* parked selector feeds whose follower fired */
    bool fan_queued;            /* on reg->fan_q */
    st_feed_db *fan_next;
};

/* What one fan-out writer works on, and the chunk it built last: feeds at
 * the same position get the same bytes, so those are built once. */
typedef struct fan_slice {
    st_feed *keep;              /* out: selector feeds written, to park again */
    st_feed *keep_plain, *keep_plain_tail; /* out: plain ones (linked both ways) */
    uint64_t keep_wake;         /* out: earliest deadline among them (0 = none) */
    uint64_t keep_min;          /* out: lowest position of a kept plain feed */
    st_feed *drain;             /* out: part of a chunk is still to go */
    uint64_t now;
    uint64_t users_seq;         /* the _users update_seq when this fan-out began */
    st_buf chunk;               /* "%X\r\n" payload "\r\n", from chunk.data + start */
    bool valid;                 /* the fields below describe chunk */
    uint64_t since;             /* built for feeds at this position... */
    st_feed_type type;          /* ...of this type */
    uint64_t upto;              /* the position after it */
    size_t start, payload;
    bool resume;                /* the rows cannot go this way: hand to MHD */
} fan_slice;

typedef struct fan_helper {
    st_feeds *reg;
    pthread_t t;
    fan_slice slice;
    bool busy;                  /* slice assigned, not finished (reg->fh_mu) */
} fan_helper;

struct st_feeds {
    st_server *srv;
    pthread_mutex_t mu;         /* see the file comment */
    st_feed_db *dbs;
    bool stopping;
    int efd;                    /* wakes the timer thread */
    pthread_t timer;
    bool timer_started;
    atomic_bool timer_stop;
    _Atomic uint64_t timer_wake;/* earliest deadline of a parked feed (monotonic ms; UINT64_MAX: none) */
    _Atomic(st_feed *) dead;    /* freed by MHD, released by the timer */
    /* fan-out thread */
    st_feed_db *fan_q, *fan_q_tail;
    int fan_efd;                /* wakes the fan-out thread */
    int fan_ep;                 /* its epoll: fan_efd and draining sockets */
    pthread_t fan;
    bool fan_started;
    atomic_bool fan_stop;
    st_feed *draining;          /* feeds finishing a partial chunk (fan-out thread only) */
    bool direct_ok;             /* direct writes allowed (checked MHD version, not disabled) */
    fan_slice main_slice;       /* the fan-out thread's own share */
    /* The feeds of one fan-out, claimed FAN_CLAIM at a time by the writers
     * (so a writer that gets no CPU holds nothing up). */
    st_feed **fan_arr;
    size_t fan_cap, fan_n;
    atomic_size_t fan_claim;
    /* helper writers (one fewer than the fan-out threads) */
    pthread_mutex_t fh_mu;
    pthread_cond_t fh_go, fh_done;
    bool fh_stop;
    unsigned n_helpers;
    fan_helper helpers[FAN_THREADS_MAX - 1];
};

uint64_t st_feed_now_ms(void);
void st_feed_poke_fd(int fd);
/* A feed was parked with this deadline (after reg->mu was released): bring
 * the timer thread's next walk forward to it when it is earlier. */
void st_feed_timer_want(st_feeds *reg, uint64_t deadline);

/* feed_format.c: the bytes around one row, per feed type. */
bool st_feed_envelope(const st_feed *f);
st_status st_feed_row_prefix(const st_feed *f, st_buf *b);
st_status st_feed_row_suffix(const st_feed *f, st_buf *b, uint64_t seq);
/* A whole row (prefix, JSON, suffix) into f->out; false on memory. */
bool st_feed_put_row(st_feed *f, const st_change_row *row);
st_status st_feed_finish(st_feed *f);
st_status st_feed_heartbeat(st_feed *f);

/* feed.c: may f's reader still read it?  (its own thread; the
 * fan-out thread tests st_feed_stale_at first). */
bool st_feed_allowed(st_feed *f);
/* The cheap test against a _users sequence read beforehand (the fan-out reads it
 * once per wake-up: the commit that woke it came after any user change it
 * must honour). */
static inline bool st_feed_stale_at(st_feed *f, uint64_t users_seq)
{
    return f->sec_gen != st_db_security_gen(f->db) || atomic_load(&f->recheck) ||
           (f->users_tracked && f->users_seq != users_seq);
}

/* feed_reg.c */
st_feed_db *st_feed_attach(st_feeds *reg, st_db *db, st_error *err); /* takes db */
void st_feed_release(st_feed *f);           /* timer thread / teardown */
void st_feed_unref(st_feed *f);             /* the last one defers the release */
void st_feed_woken(void *ctx);              /* follower wake (core thread) */
/* Park f (reg->mu held) unless something committed after its position
 * (false: read again).  The caller suspends the connection when true. */
bool st_feed_park(st_feed *f);
/* Hand a parked feed back to MHD (reg->mu held). */
void st_feed_unpark(st_feed *f);
bool st_feed_queue_db(st_feeds *reg, st_feed_db *d);   /* reg->mu held */
bool st_feed_entry_unref_locked(st_feeds *reg, st_feed_db *d);
void st_feed_entry_destroy(st_feeds *reg, st_feed_db *d);
st_status st_feed_timer_start(st_feeds *reg, st_error *err);
void st_feed_timer_stop(st_feeds *reg);

/* feed_fanout.c */
bool st_feed_fast_ok(const st_feed *f);
st_status st_feed_fanout_start(st_feeds *reg, st_error *err);
void st_feed_fanout_stop(st_feeds *reg);

#endif
