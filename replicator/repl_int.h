/* repl_int.h — one replication's state and the parts of it that live in
 * separate files (the algorithm is CouchDB's, shared/PROTOCOL.md §6):
 *
 *   repl.c          the public API (st_repl.h): config, thread, stop, wait
 *   repl_status.c   progress and status: what st_repl_get_status reports,
 *                   state changes, errors, the endpoints' retry hooks
 *   repl_setup.c    the start: peers' info (creating a missing target),
 *                   replication ids, checkpoints on both sides, the resume
 *                   sequence; waiting for a missing source (continuous)
 *   repl_changes.c  the changes reader: one read at a time, each answer a
 *                   batch
 *   repl_batch.c    a batch's pipeline: revs_diff(target) → get_revs(source)
 *                   → write_revs(target), then the conflict hook
 *   repl_sched.c    the scheduler: keeps `concurrency` batches in flight,
 *                   advances the checkpoint over the finished prefix of
 *                   batches, writes checkpoints, notices the end
 *
 * Sequences are carried as raw JSON text ("42", "\"3-g1AA…\"") between
 * checkpoints, status and the changes reader, which turns them into the
 * endpoints' typed st_ep_seq.
 *
 * Locking: everything runs on the replication's thread except the public
 * functions of repl.c; they share `pub` (status, ended) under mu.
 */
#ifndef ST_REPL_INT_H
#define ST_REPL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "checkpoint.h"
#include "endpoint.h"
#include "loop.h"
#include "st_qs.h"
#include "st_repl.h"

#define MAX_CANDIDATES 6

typedef enum { PH_SETUP, PH_CKPT_READ, PH_RUN, PH_END } phase;
typedef enum { B_DIFF, B_GET, B_WRITE, B_DONE } batch_stage;

/* The changes of one _changes answer on their way to the target. */
typedef struct batch {
    struct batch *next;        /* in change order */
    struct st_repl *r;
    batch_stage stage;
    char *last_seq;            /* raw JSON: the source seq after this batch */
    st_ep_docs *fetched;       /* revisions to write (owned) */
} batch;

/* A checkpoint id to look for at start, and what each side holds. */
typedef struct cand {
    struct st_repl *r;
    char doc_id[64];           /* "_local/<id>" */
    st_ckpt_format fmt;
    st_json_doc *doc[2];       /* [0] source, [1] target; NULL = missing */
} cand;

typedef struct side_ctx {
    struct st_repl *r;
    int cand;                  /* index into cands, or -1 */
    int side;                  /* 0 source, 1 target */
} side_ctx;

struct st_repl {
    /* ---- immutable after st_repl_start */
    st_repl_config cfg;        /* its strings point at the copies below */
    char *source, *target, *selector, *since_seq, *filter, *query_params;
    char *ca_file, *username, *password, *bearer_token; /* secrets wiped when freed */
    char **doc_ids;
    st_loop *loop;             /* created before the thread, freed after it */
    pthread_t thread;

    /* ---- shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    st_repl_status pub;        /* what st_repl_get_status reports */
    bool ended;                /* the thread finished its work */
    atomic_bool stop;          /* st_repl_stop was called */

    /* ---- replication thread only */
    phase ph;
    st_qs *own_qs;             /* the pool made for a local source's filter, or NULL */
    char *filter_code;         /* a ddoc filter's source as fetched (for the ids) */
    st_ep *src, *tgt;
    unsigned setup_pending;    /* setup calls not answered yet */
    bool target_created;
    st_repl_state state;       /* mirrors pub.state */
    st_repl_state before_offline;
    bool error_transient;      /* pub.last_error came from a retry (under mu) */
    st_timer src_retry;        /* continuous, source missing: ask its info again */
    unsigned src_attempt;      /* consecutive "source missing" answers */
    char rep_id[33];
    char session_id[33];
    char start_time[40];
    char *start_seq;           /* raw JSON */
    cand cands[MAX_CANDIDATES];
    unsigned n_cands;
    side_ctx reads[2 * MAX_CANDIDATES];
    const st_json *couch_history, *pouch_history; /* borrowed from cands */
    int pouch_cand;            /* index of the PouchDB candidate, -1 if none */
    /* reading */
    char *since;               /* raw JSON seq of the next changes read */
    bool reading, caught_up, feed_done;
    batch *head, *tail;        /* batches not yet covered by a checkpoint */
    unsigned n_active;         /* batches not yet done */
    /* checkpointing */
    char *ckpt_next;           /* newest seq all batches up to are written */
    char *ckpt_writing;        /* seq being recorded */
    unsigned ckpt_inflight;
    bool ckpt_target_ok;
    bool src_ckpt_off;         /* the source refused a checkpoint: read-only */
    side_ctx ckpt_ctx[4];
    st_ckpt_stats stats;
};

/* repl_status.c */
void st_repl_publish(st_repl *r, bool notify);
void st_repl_set_state(st_repl *r, st_repl_state s);
void st_repl_set_error(st_repl *r, const st_error *e, int http_status, bool transient);
void st_repl_set_seq(st_repl *r, const char *seq);
void st_repl_count_retry(st_repl *r);
extern const st_ep_hooks st_repl_hooks; /* ctx: the st_repl */

/* repl_setup.c */
void st_repl_setup_start(st_repl *r);           /* both sides' info, then on */
void st_repl_restart(st_repl *r, const st_ep_reply *rep); /* continuous: source gone */
void st_repl_cands_free(st_repl *r);

/* repl_changes.c */
void st_repl_read_changes(st_repl *r);

/* repl_batch.c */
void st_repl_batch_diff(batch *b, const st_ep_changes *c); /* start b's pipeline */
void st_repl_batches_free(st_repl *r);

/* repl_sched.c */
void st_repl_start_run(st_repl *r);             /* from r->start_seq */
void st_repl_pump(st_repl *r);
void st_repl_batch_done(batch *b);
batch *st_repl_batch_new(st_repl *r, char *last_seq); /* takes last_seq; NULL: out of memory */
void st_repl_finish(st_repl *r, st_repl_state s, const st_error *e, int http_status);
void st_repl_fail_reply(st_repl *r, const char *role, const st_ep *ep, const char *what,
                        const st_ep_reply *rep);
void st_repl_fail_msg(st_repl *r, st_status code, const char *msg);

#endif
