/* st_qs.h — query-server processes: the pool and the conversations with them.
 *
 * Design documents hold JavaScript (views, filters, validate_doc_update,
 * update handlers).  It runs in separate processes that speak CouchDB's
 * query-server protocol: one JSON request per line on their stdin, zero or
 * more ["log", msg] lines and exactly one answer line per request on their
 * stdout, in order.  The default JavaScript server is settee-js; like
 * CouchDB's [query_servers] section, any language name can be mapped to any
 * command line (split on blanks, run without a shell), couchjs included.
 *
 * Promises:
 * - User code cannot hang or crash the caller.  Every request has a deadline
 *   (os_process_timeout): an answer must arrive within timeout_ms of the
 *   request or of the previous answer.  A process that misses it is SIGKILLed
 *   and reaped and the call fails with ST_E_OS_PROCESS "OS process timed
 *   out." (CouchDB's os_process_error).  A process that exits, writes a line
 *   that is not JSON, a line longer than max_line, an answer of the wrong
 *   shape, or anything unasked for, is replaced the same way.  The next
 *   checkout gets a fresh process.
 * - Processes never outlive the pool: st_qs_free SIGKILLs and reaps them all.
 *   settee-js also asks the kernel to SIGKILL it when the pool's spawning
 *   thread ends (PR_SET_PDEATHSIG); any server gets EOF on stdin when the
 *   settee process dies.
 * - Processes keep state between checkouts (functions added since the last
 *   reset, cached design docs).  A caller may label the state it loaded with
 *   a key (st_qs_proc_set_key) and ask for a process with that key at
 *   checkout to skip re-sending it; design docs are tracked by the pool
 *   itself (st_qs_ddoc_prepare).  Correctness never depends on it: a caller
 *   checks st_qs_proc_key and loads what is missing.
 * - ["log", msg] lines go to options.log on the calling thread, before the
 *   call returns.
 *
 * Errors: ST_E_OS_PROCESS (500 os_process_error) for a process that failed;
 * an ["error", name, reason] answer fails the call with the code for name
 * (st_qs_answer keeps name and reason for CouchDB's exact error body):
 * ST_E_COMPILATION for compilation_error, ST_E_NOT_FOUND for not_found,
 * ST_E_TOO_LARGE for too_large, ST_E_QUERY_SERVER for any other name;
 * ST_E_UNKNOWN_LANGUAGE for a language without a command; ST_E_TIMEOUT when
 * no process became free within timeout_ms.
 *
 * Memory: JSON arguments are borrowed for the call (text is copied into the
 * request, newlines in it become blanks so a line stays a line).  Answers
 * are parsed into an st_qs_answer the caller frees with st_qs_answer_free.
 *
 * Threads: st_qs_new/st_qs_free, st_qs_set_language, st_qs_checkout and
 * st_qs_checkin may be called from any thread at once.  A checked-out
 * process belongs to its caller until checked in: the other functions take
 * it and must not be called on one process from two threads at once (it may
 * move between threads between calls).
 */
#ifndef ST_QS_H
#define ST_QS_H

#include <stdbool.h>
#include <stddef.h>
#include "st_error.h"
#include "st_json.h"

typedef struct st_qs st_qs;
typedef struct st_qs_proc st_qs_proc;

/* A log line: lang is the process's language, msg[0..n) its message. */
typedef void (*st_qs_log_fn)(void *ctx, const char *lang, const char *msg, size_t n);

typedef struct st_qs_options {
    unsigned timeout_ms;  /* os_process_timeout; default 5000 */
    unsigned max_procs;   /* processes per language; default 4 */
    size_t max_line;      /* longest line taken from a process; default 16 MiB
                             (settee-js refuses longer answers itself, with
                             too_large, and stays usable) */
    unsigned max_ddocs;   /* design docs one process caches before it is
                             replaced at checkin; default 64 */
    st_qs_log_fn log;     /* NULL: log lines are dropped */
    void *log_ctx;
} st_qs_options;

/* A parsed answer line.  value is the answer, or NULL when the process
 * answered ["error", name, reason]; then error/reason are set. */
typedef struct st_qs_answer {
    st_json_doc *doc;       /* owns value, error and reason */
    const st_json *value;
    const char *error;
    const st_json *reason;
} st_qs_answer;

void st_qs_options_init(st_qs_options *o);

/* ---- the pool ---------------------------------------------------------- */

/* A pool with "javascript" mapped to the installed settee-js.  o may be NULL. */
st_status st_qs_new(const st_qs_options *o, st_qs **out_qs, st_error *err);
/* SIGKILLs and reaps every process.  ST_E_BUSY (nothing freed) while a
 * process is checked out.  NULL ok. */
st_status st_qs_free(st_qs *qs);

/* Map a language to a command line ("/usr/bin/couchjs /path/main.js");
 * NULL removes it.  Processes started with the old command are retired as
 * they become idle. */
st_status st_qs_set_language(st_qs *qs, const char *lang, const char *cmdline, st_error *err);

/* Map every language COUCHDB_QUERY_SERVER_<LANGUAGE> names in the
 * environment (lower-cased) to its command, as CouchDB does.  Not
 * thread-safe against setenv. */
st_status st_qs_languages_from_env(st_qs *qs, st_error *err);

/* Take a process of lang for exclusive use, waiting up to timeout_ms while
 * all max_procs are busy.  Prefers an idle process whose key (or one of whose
 * design docs' keys) equals key; key may be NULL. */
st_status st_qs_checkout(st_qs *qs, const char *lang, const char *key, st_qs_proc **out_proc,
                         st_error *err);
/* The same without waiting: ST_E_BUSY at once when all max_procs are busy
 * (for work that can go on with fewer processes). */
st_status st_qs_try_checkout(st_qs *qs, const char *lang, const char *key,
                             st_qs_proc **out_proc, st_error *err);
/* Give it back.  A broken process is killed and reaped here.  NULL ok. */
void st_qs_checkin(st_qs_proc *p);

/* The caller's key for what was loaded since the last st_qs_reset (NULL if
 * none).  Borrowed until the next call on p. */
const char *st_qs_proc_key(const st_qs_proc *p);
st_status st_qs_proc_set_key(st_qs_proc *p, const char *key, st_error *err);

/* ---- conversations ----------------------------------------------------- */

void st_qs_answer_free(st_qs_answer *a); /* frees a->doc, zeroes a; NULL ok */

/* Any single request line (one JSON value, no newline) and its answer. */
st_status st_qs_prompt(st_qs_proc *p, const char *line, size_t n, st_qs_answer *out,
                       st_error *err);

/* ["reset"] or ["reset", config] (config_json NULL or an object: CouchDB
 * sends {"reduce_limit":true,"timeout":5000}).  Clears the key and the
 * function count; cached design docs stay, as in CouchDB. */
st_status st_qs_reset(st_qs_proc *p, const char *config_json, st_error *err);
/* ["add_lib", lib]: lib_json is the views.lib object (for require()). */
st_status st_qs_add_lib(st_qs_proc *p, const char *lib_json, size_t n, st_error *err);
/* ["add_fun", source]: a map function; ST_E_COMPILATION if it does not compile. */
st_status st_qs_add_fun(st_qs_proc *p, const char *src, size_t n, st_error *err);

/* Map n documents (JSON objects docs[i][0..lens[i])) through the functions
 * added since the last reset, pipelined: requests are written while answers
 * are read, so any n is fine.  out[i] gets document i's answer: value is an
 * array with, per function, an array of [key, value] rows; or error/reason
 * for a document the server refused (e.g. too_large).  Returns ST_OK when
 * every answer arrived (check out[i].error); otherwise fails as a whole and
 * out[] holds nothing.  Free each with st_qs_answer_free. */
st_status st_qs_map_docs(st_qs_proc *p, const char *const docs[], const size_t lens[], size_t n,
                         st_qs_answer out[], st_error *err);

/* ["reduce", srcs, kvs]: kvs_json is [[[key, docid], value], ...].
 * ["rereduce", srcs, values]: values_json is [reduction, ...].
 * On success out->value is the array of nsrcs reductions. */
st_status st_qs_reduce(st_qs_proc *p, const char *const srcs[], size_t nsrcs, const char *kvs_json,
                       size_t n, st_qs_answer *out, st_error *err);
st_status st_qs_rereduce(st_qs_proc *p, const char *const srcs[], size_t nsrcs,
                         const char *values_json, size_t n, st_qs_answer *out, st_error *err);

/* Make sure p has design doc id cached at version key (sends ["ddoc","new",
 * id, ddoc] only when it has not).  Call before the ddoc functions below. */
st_status st_qs_ddoc_prepare(st_qs_proc *p, const char *id, const char *key, const char *ddoc_json,
                             size_t n, st_error *err);

/* filters.<name>(doc, req) over docs_json (an array of n documents): out[i]
 * is whether doc i passes. */
st_status st_qs_filter_docs(st_qs_proc *p, const char *ddoc_id, const char *name,
                            const char *docs_json, const char *req_json, bool out[], size_t n,
                            st_error *err);
/* The _view filter: out[i] is whether views.<view>.map emits for doc i. */
st_status st_qs_filter_view(st_qs_proc *p, const char *ddoc_id, const char *view,
                            const char *docs_json, bool out[], size_t n, st_error *err);

/* validate_doc_update(newDoc, oldDoc, userCtx, secObj) (old_json NULL: null).
 * ST_OK when it passes; ST_E_FORBIDDEN / ST_E_UNAUTHORIZED for a thrown
 * {forbidden: m} / {unauthorized: m}, ST_E_UNKNOWN_ERROR for any other
 * thrown value (err->reason is m, or the value, as text; out->value is the
 * thrown value itself); an error answer (a runtime error) as described
 * above.  out may be NULL. */
st_status st_qs_validate(st_qs_proc *p, const char *ddoc_id, const char *new_json,
                         const char *old_json, const char *user_ctx_json, const char *sec_obj_json,
                         st_qs_answer *out, st_error *err);

/* updates.<name>(doc, req) (doc_json NULL: null).  On success out->value is
 * ["up", doc_or_null, response_object]. */
st_status st_qs_update(st_qs_proc *p, const char *ddoc_id, const char *name, const char *doc_json,
                       const char *req_json, st_qs_answer *out, st_error *err);

#endif
