/* qs_int.h — internals shared by qs.c (the pool), qs_call.c (conversations
 * with one process) and qs_proto.c (reading what a process writes), and
 * exposed to the tests and the fuzz target.  Not part of st_qs.h's promise.
 */
#ifndef ST_QS_INT_H
#define ST_QS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "st_buf.h"
#include "st_error.h"
#include "st_json.h"
#include "st_json_pick.h"
#include "st_qs.h"

/* ---- reading a process's output (qs_proto.c) ---------------------------- */

/* Splits bytes into lines of at most max_line bytes (newline excluded). */
typedef struct st_qs_reader {
    char *buf;
    size_t pos, len, cap;  /* unread bytes are buf[pos..len) */
    size_t scanned;        /* buf[pos..pos+scanned) holds no newline */
    size_t max_line;
} st_qs_reader;

typedef enum {
    ST_QS_NEED_MORE,     /* no complete line buffered */
    ST_QS_GOT_LINE,      /* *line, *n: one line, valid until the next call */
    ST_QS_LINE_TOO_LONG  /* max_line bytes without a newline: the stream is unusable */
} st_qs_read_status;

void st_qs_reader_init(st_qs_reader *r, size_t max_line);
void st_qs_reader_free(st_qs_reader *r);
/* Room for at least `want` more bytes at *out_p; ST_E_NOMEM on failure. */
st_status st_qs_reader_space(st_qs_reader *r, size_t want, char **out_p, size_t *out_avail);
void st_qs_reader_commit(st_qs_reader *r, size_t n);   /* n bytes were written at space */
st_status st_qs_reader_append(st_qs_reader *r, const void *p, size_t n); /* space + commit */
st_qs_read_status st_qs_reader_next(st_qs_reader *r, const char **line, size_t *n);
bool st_qs_reader_empty(const st_qs_reader *r);

typedef enum {
    ST_QS_LINE_ANSWER,   /* an answer: ans->value */
    ST_QS_LINE_LOG,      /* ["log", message]: log/log_len (a non-string message as JSON) */
    ST_QS_LINE_ERROR     /* ["error"|"fatal", name, reason]: ans->error, ans->reason */
} st_qs_line_kind;

/* Classify one line.  On success the line's parsed form is in *ans (free it
 * with st_qs_answer_free); for a LOG line *log points into ans->doc.  A line
 * that is not one JSON value is ST_E_OS_PROCESS.  pick (NULL ok) is scratch
 * for the fast path a small answer takes (st_json_pick_value). */
st_status st_qs_line_parse(st_json_pick *pick, const char *line, size_t n, st_qs_answer *ans,
                           st_qs_line_kind *kind, const char **log, size_t *log_len, bool *fatal,
                           st_error *err);

/* The st_status for a query-server error name ("not_found" -> ST_E_NOT_FOUND,
 * "compilation_error" -> ST_E_COMPILATION, ...; others ST_E_QUERY_SERVER). */
st_status st_qs_error_status(const char *name);

/* ---- one process (qs.c owns them, qs_call.c talks through them) -------- */

#define ST_QS_NFUNS_UNKNOWN SIZE_MAX

typedef struct qs_ddoc_entry {
    char *id;              /* design doc id as sent in ["ddoc","new",id,...] */
    char *key;             /* the caller's key for that version (e.g. its rev) */
} qs_ddoc_entry;

typedef struct qs_lang qs_lang;

struct st_qs_proc {
    st_qs *qs;
    qs_lang *lang;
    struct st_qs_proc *next;   /* in lang->procs */
    pid_t pid;                 /* 0 once reaped */
    int fd;                    /* our end of the socket pair, non-blocking */
    unsigned gen;              /* lang->gen when spawned: a new command retires it */
    bool busy;                 /* checked out */
    bool broken;               /* out of step or dead: never reused */
    char *funs_key;            /* caller's key for the add_fun'd set, or NULL */
    size_t nfuns;              /* functions since the last reset, or ST_QS_NFUNS_UNKNOWN */
    qs_ddoc_entry *ddocs;      /* design docs this process has cached */
    size_t nddocs, ddocs_cap;
    st_qs_reader rd;
    st_buf wbuf;               /* request bytes not yet written */
    st_json_pick *pick;        /* scratch for parsing answers (NULL: none) */
    int exit_status;           /* from waitpid once reaped, else -1 */
};

/* Mark p broken and SIGKILL it now (the caller still checks it in). */
void st_qs_proc_kill(st_qs_proc *p);
/* Reap p if it has exited (or after `wait_ms`, kill and reap it); the
 * description of how it ended goes into why[0..n). */
void st_qs_proc_reap(st_qs_proc *p, unsigned wait_ms, char *why, size_t n);

/* Options of the pool p belongs to. */
const st_qs_options *st_qs_proc_options(const st_qs_proc *p);
const char *st_qs_proc_language(const st_qs_proc *p);

#endif
