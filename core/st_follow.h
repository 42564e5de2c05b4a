/* st_follow.h — the change follower: a cursor on a database's sequence that
 * is woken when something commits after it.
 *
 * Everything that watches a database is built on this: the server's
 * _changes feeds, the replicator's local endpoint, libsettee's listeners,
 * and the coming view indexers and live queries.  The rules live here once:
 *
 *   - Reading: st_follow_read returns the rows after the cursor (each
 *     changed document once, at its latest change, as st_db_changes) and
 *     moves the cursor past them.  Recent rows come from a ring the
 *     database keeps while it has followers (each row's JSON formatted once,
 *     at commit, by the writer); a follower behind the ring, or one that
 *     asks for more than the ring holds (bodies, all leaves, a filter, doc
 *     ids, descending), reads storage.  Either way it sees what storage
 *     would give: the ring marks a row gone when its document changes again.
 *   - Waking: a reader that found nothing calls st_follow_arm.  It returns
 *     false when something already committed after the cursor (read again);
 *     true when armed: wake(ctx) is then called exactly once, after the next
 *     commit past the cursor, or when the database is deleted.  Arming is
 *     checked and set under one lock against the commit path, so no wake-up
 *     is lost between a read that found nothing and the arm.
 *   - Other processes: commits made by another process to the same database
 *     (an app and `settee sync --continuous` on one file) wake followers too,
 *     within ST_FOLLOW_POLL_MS: a core thread asks the store whether anyone
 *     else committed (SQLite's data_version; LISTEN/NOTIFY elsewhere).
 *
 * Threading: a follower is used by one thread at a time (its owner); wake
 * runs on a core thread (the writer, or the poller) with no core lock held,
 * and must be quick: signal something, don't read or write the database
 * from inside it.  st_follow_close waits for a wake in progress, so after
 * it returns wake is never called again.  ctx must outlive the follower.
 */
#ifndef ST_FOLLOW_H
#define ST_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>
#include "st_db.h"

#define ST_FOLLOW_POLL_MS 50

typedef struct st_follower st_follower;
typedef void (*st_follow_fn)(void *ctx);

/* A follower of db whose cursor starts at since (every row with a higher
 * sequence is yet to come).  The caller keeps db open until close. */
st_status st_follow_open(st_db *db, uint64_t since, st_follow_fn wake, void *ctx,
                         st_follower **out, st_error *err);
void st_follow_close(st_follower *f); /* NULL ok */

uint64_t st_follow_since(const st_follower *f);
void st_follow_seek(st_follower *f, uint64_t since);
st_db *st_follow_db(const st_follower *f);

typedef struct st_follow_batch {
    size_t rows;        /* rows handed to fn */
    uint64_t last_seq;  /* where the cursor is now (CouchDB's last_seq) */
    uint64_t pending;   /* changes after it (as st_db_changes reports) */
} st_follow_batch;

/* Up to o->limit rows after the cursor through fn, as st_db_changes with
 * since = the cursor (o->since and o->descending are ignored; o may be
 * NULL).  The cursor moves to out->last_seq.  A row from the ring carries
 * its JSON (row->json) for callers that send it as it is. */
st_status st_follow_read(st_follower *f, const st_changes_opts *o, st_change_fn fn, void *ctx,
                         st_follow_batch *out, st_error *err);

/* See the file comment.  Arming an armed follower is a no-op (true). */
bool st_follow_arm(st_follower *f);
/* Arm f for a group of waiters whose positions are since or later (the
 * server parks thousands of feeds on one such follower per database):
 * false when something already committed after since (or the database is
 * gone), leaving f as it was; else f is armed (already, or now at since)
 * and its next wake comes with the next commit.  Unlike st_follow_arm, an
 * armed f still answers for since, so every waiter parked on it can ask. */
bool st_follow_arm_at(st_follower *f, uint64_t since);
/* No wake for this follower until it is armed again. */
void st_follow_disarm(st_follower *f);

/* Rows after since from the ring only, without a follower's cursor (the
 * server's fan-out builds one chunk for all feeds at one position).  The
 * caller holds an open follower of db (the ring lives as long as one).
 * ST_E_NOT_FOUND (err untouched) when the ring does not reach back to
 * since or db has no followers; *out_upto is the sequence the rows reach
 * (the ring's top when every row was read). */
st_status st_follow_cached(st_db *db, uint64_t since, uint64_t limit, st_change_fn fn,
                           void *ctx, uint64_t *out_upto, st_error *err);

/* ---- selector followers ----------------------------------------------------
 * A follower that wants only the documents matching sel (borrowed: it must
 * outlive the follower), as st_db_changes with o->selector would give
 * them, but told only about commits that matter to it: the writer tests
 * each written document against the database's subscriptions, looked up
 * by the fields their selectors pin with $eq, and queues what matched for
 * each follower (core/mango_subs.c).  With removed, a document that
 * matched before a write and not after comes as a row with removed set
 * (settee's opt-in, beyond CouchDB's filter=_selector).  Reading,
 * arming and closing are as for any follower; the options given to
 * st_follow_read are obeyed except selector/removed (the follower's own)
 * and doc_ids/filter (not combined with a selector). */
st_status st_follow_open_selector(st_db *db, uint64_t since, const struct st_selector *sel,
                                  bool removed, st_follow_fn wake, void *ctx, st_follower **out,
                                  st_error *err);
bool st_follow_is_selective(const st_follower *f);
/* The rows a selector follower would read next, from the ring only, and
 * the cursor after them (*out_upto): for the server's fan-out, which sends
 * them and then seeks the follower there.  ST_E_NOT_FOUND when some row
 * must come from storage (or fn stopped): read the usual way instead.
 * The cursor does not move. */
st_status st_follow_sel_cached(st_follower *f, st_change_fn fn, void *ctx, uint64_t *out_upto,
                               st_error *err);

#endif
