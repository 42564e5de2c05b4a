/* qs_proto.c — reading what a query-server process writes.
 *
 * Everything a process sends is untrusted: lines are capped before they are
 * parsed, parsed with st_json's strict checks, and sorted into answers, log
 * lines and error lines the way CouchDB's couch_os_process:readjson does
 * (only an array whose first element is "log", "error" or "fatal" is a
 * command; anything else is an answer).  This is the code the fuzz target
 * tests/fuzz/fuzz_qs_proto.c exercises.
 */
#include "qs_int.h"

#include <stdlib.h>
#include <string.h>

/* Deep enough for anything settee-js can write (Duktape's JSON.stringify
 * stops at 1000 levels) plus the protocol's own wrapping. */
#define ANSWER_MAX_DEPTH 1024
#define READER_KEEP (1u << 20)

void st_qs_reader_init(st_qs_reader *r, size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->max_line = max_line;
}

void st_qs_reader_free(st_qs_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->pos = r->len = r->cap = r->scanned = 0;
}

bool st_qs_reader_empty(const st_qs_reader *r)
{
    return r->pos == r->len;
}

st_status st_qs_reader_space(st_qs_reader *r, size_t want, char **out_p, size_t *out_avail)
{
    size_t unread = r->len - r->pos;

    /* After one huge line, give the memory back rather than keep it. */
    if (unread == 0 && r->cap > READER_KEEP && want <= READER_KEEP) {
        free(r->buf);
        r->buf = NULL;
        r->pos = r->len = r->cap = r->scanned = 0;
    }
    if (r->pos > 0 && (r->pos == r->len || r->cap - r->len < want)) {
        memmove(r->buf, r->buf + r->pos, unread);
        r->pos = 0;
        r->len = unread;
    }
    if (r->cap - r->len < want) {
        size_t cap = r->len + want;
        char *nb;
        if (cap < 2 * r->cap)
            cap = 2 * r->cap;
        nb = realloc(r->buf, cap);
        if (nb == NULL)
            return ST_E_NOMEM;
        r->buf = nb;
        r->cap = cap;
    }
    *out_p = r->buf + r->len;
    *out_avail = r->cap - r->len;
    return ST_OK;
}

void st_qs_reader_commit(st_qs_reader *r, size_t n)
{
    r->len += n;
}

st_status st_qs_reader_append(st_qs_reader *r, const void *p, size_t n)
{
    char *dst;
    size_t avail;
    st_status rc = st_qs_reader_space(r, n, &dst, &avail);

    if (rc != ST_OK)
        return rc;
    memcpy(dst, p, n);
    st_qs_reader_commit(r, n);
    return ST_OK;
}

st_qs_read_status st_qs_reader_next(st_qs_reader *r, const char **line, size_t *n)
{
    const char *start = r->buf + r->pos;
    size_t avail = r->len - r->pos;
    size_t scan = avail < r->max_line + 1 ? avail : r->max_line + 1;
    const char *nl = NULL;

    /* Bytes already scanned are not scanned again: a long line arriving in
     * many reads costs one pass, not one per read. */
    if (scan > r->scanned)
        nl = memchr(start + r->scanned, '\n', scan - r->scanned);
    if (nl == NULL) {
        r->scanned = scan;
        return avail > r->max_line ? ST_QS_LINE_TOO_LONG : ST_QS_NEED_MORE;
    }
    r->scanned = 0;
    *line = start;
    *n = (size_t)(nl - start);
    r->pos += *n + 1;
    return ST_QS_GOT_LINE;
}

static bool str_is(const st_json *v, const char *s)
{
    return v->type == ST_JSON_STRING && v->len == strlen(s) && memcmp(v->u.str, s, v->len) == 0;
}

/* Answers this short go through the pick parser first: a map_doc answer
 * is a few bytes, and setting up json.c's parser for each was most of
 * reading it. */
#define ANSWER_FAST_MAX 4096

st_status st_qs_line_parse(st_json_pick *pick, const char *line, size_t n, st_qs_answer *ans,
                           st_qs_line_kind *kind, const char **log, size_t *log_len, bool *fatal,
                           st_error *err)
{
    st_json_limits lim = {0, ANSWER_MAX_DEPTH};
    st_json_doc *doc = NULL;
    const st_json *root;
    st_error perr;
    st_json v;

    memset(ans, 0, sizeof *ans);
    *fatal = false;
    if (n > 0 && line[n - 1] == '\r')
        n--; /* a server on a CRLF platform: tolerated */
    /* Declined (or out of memory copying): json.c decides, as always. */
    if (pick && n <= ANSWER_FAST_MAX && st_json_pick_value(pick, line, n, &v))
        doc = st_json_doc_copy(&v, n);
    if (!doc && st_json_parse(line, n, &lim, &doc, &perr) != ST_OK)
        return st_fail(err, ST_E_OS_PROCESS, "OS process wrote invalid JSON: %s", perr.reason);
    ans->doc = doc;
    root = st_json_doc_root(doc);
    *kind = ST_QS_LINE_ANSWER;
    if (root->type == ST_JSON_ARRAY && root->len == 2 && str_is(&root->u.items[0], "log")) {
        const st_json *msg = &root->u.items[1];
        *kind = ST_QS_LINE_LOG;
        /* A non-string message is logged as the line itself. */
        *log = msg->type == ST_JSON_STRING ? msg->u.str : line;
        *log_len = msg->type == ST_JSON_STRING ? msg->len : n;
        return ST_OK;
    }
    if (root->type == ST_JSON_ARRAY && root->len == 3 &&
        (str_is(&root->u.items[0], "error") || str_is(&root->u.items[0], "fatal")) &&
        root->u.items[1].type == ST_JSON_STRING) {
        *kind = ST_QS_LINE_ERROR;
        *fatal = str_is(&root->u.items[0], "fatal");
        ans->error = root->u.items[1].u.str;
        ans->reason = &root->u.items[2];
        return ST_OK;
    }
    ans->value = root;
    return ST_OK;
}

st_status st_qs_error_status(const char *name)
{
    static const struct {
        const char *name;
        st_status code;
    } known[] = {
        {"compilation_error", ST_E_COMPILATION},
        {"not_found", ST_E_NOT_FOUND},
        {"too_large", ST_E_TOO_LARGE},
        {"bad_request", ST_E_BAD_REQUEST},
        {"os_process_error", ST_E_OS_PROCESS},
    };

    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(name, known[i].name) == 0)
            return known[i].code;
    return ST_E_QUERY_SERVER;
}

void st_qs_answer_free(st_qs_answer *a)
{
    if (a == NULL)
        return;
    st_json_doc_free(a->doc);
    memset(a, 0, sizeof *a);
}
