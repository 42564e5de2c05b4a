/* checkpoint.h — replication checkpoints: where a replication may resume.
 *
 * A checkpoint is a _local document stored under the same id on both the
 * source and the target.  A resume point is trusted only when both sides
 * agree: the same session_id on both (the last run wrote both), or else a
 * session both histories share (CouchDB's compare_replication_logs, which
 * PouchDB ported).  Anything else starts from 0, which is always safe:
 * _revs_diff skips what the target has.
 *
 * Two formats (shared/PROTOCOL.md §6.3):
 *   CouchDB: {"session_id","source_last_seq","replication_id_version":4,
 *             "history":[{"session_id","start_time","end_time","start_last_seq",
 *             "end_last_seq","recorded_seq","missing_checked","missing_found",
 *             "docs_read","docs_written","doc_write_failures",...}] (≤ 50)}
 *   PouchDB: {"session_id","last_seq","history":[{"last_seq","session_id"}] (≤ 5),
 *             "replicator":"pouchdb","version":1}
 * Sequences are raw JSON text throughout (integers or opaque strings).
 *
 * Thread-safety: pure functions on caller-owned data.
 */
#ifndef ST_CHECKPOINT_H
#define ST_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_json.h"

typedef enum { ST_CKPT_COUCH = 0, ST_CKPT_POUCH = 1 } st_ckpt_format;

/* Compare the two sides' checkpoint docs (either may be NULL: missing).
 * *out_seq: a malloc'd raw JSON seq ("0" when nothing matches); *out_history:
 * the history to carry forward (borrowed from src or tgt; NULL for none).
 * For ST_CKPT_POUCH, differing "version" members give "0" as PouchDB does.
 * Returns false only when out of memory. */
bool st_ckpt_compare(const st_json *src, const st_json *tgt, st_ckpt_format fmt,
                     char **out_seq, const st_json **out_history);

/* Statistics of the running session, written into the history entry. */
typedef struct st_ckpt_stats {
    uint64_t missing_checked, missing_found;
    uint64_t docs_read, docs_written, doc_write_failures;
    uint64_t bulk_get_docs, bulk_get_attempts;
} st_ckpt_stats;

typedef struct st_ckpt_session {
    const char *doc_id;        /* "_local/<id>" */
    const char *session_id;
    const char *start_time;    /* RFC 1123 */
    const char *start_seq;     /* raw JSON: where this session began */
    const st_json *old_history;/* carried history (may be NULL) */
    bool doc_ids_filter;       /* doc_ids replications repeat stats at top level */
} st_ckpt_session;

/* Render the checkpoint body for seq (raw JSON) into out (appended). */
bool st_ckpt_render(const st_ckpt_session *s, const st_ckpt_stats *stats, const char *seq,
                    st_ckpt_format fmt, st_buf *out);

/* Now as an RFC 1123 date ("Sun, 06 Nov 1994 08:49:37 GMT"). */
void st_ckpt_time(char out[40]);

/* A JSON value rendered back to compact text (malloc'd; NULL on OOM). */
char *st_ckpt_json_text(const st_json *v);

#endif
