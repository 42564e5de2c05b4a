/* follow_int.h — the inside of a change follower, shared by follow.c
 * (plain followers, waking, the poller), follow_sel.c (reading for
 * selector followers) and mango_subs.c (their subscriptions).  Internal
 * to core.
 *
 * A selector follower is a plain follower plus a subscription (st_sub):
 * it is never on db->armed, so a commit that matches nobody wakes nobody;
 * the subscription index tells it, through its queue of matched rows.
 */
#ifndef ST_FOLLOW_INT_H
#define ST_FOLLOW_INT_H

#include "db_int.h"
#include "st_follow.h"
#include "st_selector.h"

typedef struct st_sub st_sub;

struct st_follower {
    st_db *db;
    uint64_t since;
    st_follow_fn wake;
    void *ctx;
    bool armed;                 /* fol_mu */
    bool waking;                /* in the current wake round */
    st_follower *prev, *next;   /* db->armed (plain followers only) */
    st_follower *wnext;         /* the wake round's chain (wake_mu) */
    st_sub *sub;                /* a selector follower's subscription, else NULL */
    st_buf scratch;             /* selector followers: a row with "removed" added */
};

/* One matched row waiting in a subscription's queue. */
typedef struct sub_entry {
    uint64_t seq;
    bool removed;               /* the document stopped matching at seq */
} sub_entry;

/* What a selector follower reads next (follow_sel.c takes it from
 * mango_subs.c under fol_mu). */
typedef struct sub_take {
    bool storage;               /* read storage from the cursor (catching up) */
    sub_entry *v;               /* else these rows, seq > cursor, ascending */
    size_t n;
    uint64_t upto;              /* the cursor after them, when all were taken */
} sub_take;

/* mango_subs.c, for follow.c and follow_sel.c. */
st_status st_subs_add(st_follower *f, const st_selector *sel, bool removed, st_error *err);
void st_subs_remove(st_follower *f);
/* fol_mu held: does f have something to read?  (arming) */
bool st_subs_pending(const st_follower *f);
/* Take up to max queued rows after the cursor (v malloc'd: free it). */
st_status st_subs_take(st_follower *f, size_t max, sub_take *out);
const st_selector *st_subs_selector(const st_follower *f);
bool st_subs_removals(const st_follower *f);
/* Writer, seq_mu held, after a commit up to seq. */
void st_subs_publish(st_db *db, uint64_t seq);
/* Poller, seq_mu held: another process committed up to seq. */
void st_subs_external(st_db *db, uint64_t seq);
/* wake_all: move the selector followers to wake onto chain (wake_mu and
 * fol_mu held); with all, every armed one (the database was deleted). */
st_follower *st_subs_wake_chain(st_db *db, st_follower *chain, bool all);
void st_subs_db_free(st_db *db);
/* f's cursor goes back: rows up to where it is now come from storage. */
void st_subs_rewind(st_follower *f);
/* Rows up to seq come from storage (a queued removal could not be
 * delivered, follow_sel.c). */
void st_subs_storage_until(st_follower *f, uint64_t seq);
/* fol_mu held: f no longer wants a wake. */
void st_subs_unarm(st_follower *f);

/* follow_sel.c: st_follow_read for a selector follower. */
st_status st_follow_sel_read(st_follower *f, const st_changes_opts *o, st_change_fn fn,
                             void *ctx, st_follow_batch *out, st_error *err);

#endif
