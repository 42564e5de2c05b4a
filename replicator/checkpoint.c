/* checkpoint.c — comparing and writing replication checkpoints (see
 * checkpoint.h).  The comparison follows CouchDB's
 * couch_replicator_scheduler_job:compare_replication_logs/2 and PouchDB's
 * port of it, including the order in which the two histories are walked, so
 * all three pick the same resume point from the same pair of documents.
 */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_jw.h"

#define COUCH_HISTORY_MAX 50
#define POUCH_HISTORY_MAX 5

char *st_ckpt_json_text(const st_json *v)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (st_jw_init(&w, &b) != ST_OK)
        return NULL;
    st_jw_value(&w, v);
    st_status st = st_jw_status(&w);
    st_jw_free(&w);
    if (st != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    return st_buf_take(&b, NULL);
}

static const st_json *history_of(const st_json *doc)
{
    const st_json *h = doc ? st_json_get(doc, "history") : NULL;
    return h && h->type == ST_JSON_ARRAY ? h : NULL;
}

static bool same_str(const st_json *a, const st_json *b)
{
    return a && b && a->type == ST_JSON_STRING && b->type == ST_JSON_STRING && a->len == b->len &&
           memcmp(a->u.str, b->u.str, a->len) == 0;
}

/* Is session (a string value) the session_id of an entry of h[from..)? */
static bool has_session(const st_json *session, const st_json *h, size_t from)
{
    if (!session || session->type != ST_JSON_STRING)
        return false;
    for (size_t i = from; h && i < h->len; i++)
        if (same_str(session, st_json_get(&h->u.items[i], "session_id")))
            return true;
    return false;
}

static char *seq_or_zero(const st_json *v)
{
    if (!v || v->type == ST_JSON_NULL)
        return strdup("0");
    return st_ckpt_json_text(v);
}

bool st_ckpt_compare(const st_json *src, const st_json *tgt, st_ckpt_format fmt,
                     char **out_seq, const st_json **out_history)
{
    const char *top = fmt == ST_CKPT_COUCH ? "source_last_seq" : "last_seq";
    const char *rec = fmt == ST_CKPT_COUCH ? "recorded_seq" : "last_seq";
    *out_history = NULL;
    *out_seq = NULL;
    if (!src || !tgt || src->type != ST_JSON_OBJECT || tgt->type != ST_JSON_OBJECT)
        return (*out_seq = strdup("0")) != NULL;
    if (fmt == ST_CKPT_POUCH) {
        char *a = seq_or_zero(st_json_get(src, "version"));
        char *b = seq_or_zero(st_json_get(tgt, "version"));
        bool differ = !a || !b || strcmp(a, b) != 0;
        free(a);
        free(b);
        if (differ)
            return (*out_seq = strdup("0")) != NULL;
    }
    const st_json *ss = st_json_get(src, "session_id");
    if (ss && same_str(ss, st_json_get(tgt, "session_id"))) {
        *out_history = history_of(src);
        return (*out_seq = seq_or_zero(st_json_get(src, top))) != NULL;
    }
    /* Walk both histories newest first: the first session the other side
     * also recorded is a point both sides reached. */
    const st_json *sh = history_of(src), *th = history_of(tgt);
    size_t si = 0, ti = 0;
    while (sh && th && si < sh->len && ti < th->len) {
        const st_json *s = &sh->u.items[si], *t = &th->u.items[ti];
        if (has_session(st_json_get(s, "session_id"), th, ti)) {
            *out_history = sh; /* CouchDB keeps SourceRest; the whole list is close enough */
            return (*out_seq = seq_or_zero(st_json_get(s, rec))) != NULL;
        }
        if (has_session(st_json_get(t, "session_id"), sh, si + 1)) {
            *out_history = th;
            return (*out_seq = seq_or_zero(st_json_get(t, rec))) != NULL;
        }
        si++;
        ti++;
    }
    return (*out_seq = strdup("0")) != NULL;
}

void st_ckpt_time(char out[40])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    /* By hand rather than strftime: day and month names must not follow
     * the host application's locale. */
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             mons[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void put_stat(st_jw *w, const char *k, uint64_t v)
{
    st_jw_key(w, k);
    st_jw_uint(w, v);
}

static void render_couch(st_jw *w, const st_ckpt_session *s, const st_ckpt_stats *x,
                         const char *seq, const char *now)
{
    st_jw_key(w, "source_last_seq");
    st_jw_raw(w, seq, strlen(seq));
    st_jw_key(w, "replication_id_version");
    st_jw_int(w, 4);
    if (s->doc_ids_filter) {
        st_jw_key(w, "start_time");
        st_jw_str(w, s->start_time);
        st_jw_key(w, "end_time");
        st_jw_str(w, now);
        put_stat(w, "docs_read", x->docs_read);
        put_stat(w, "docs_written", x->docs_written);
        put_stat(w, "doc_write_failures", x->doc_write_failures);
    }
    st_jw_key(w, "history");
    st_jw_arr_open(w);
    st_jw_obj_open(w);
    st_jw_key(w, "session_id");
    st_jw_str(w, s->session_id);
    st_jw_key(w, "start_time");
    st_jw_str(w, s->start_time);
    st_jw_key(w, "end_time");
    st_jw_str(w, now);
    st_jw_key(w, "start_last_seq");
    st_jw_raw(w, s->start_seq, strlen(s->start_seq));
    st_jw_key(w, "end_last_seq");
    st_jw_raw(w, seq, strlen(seq));
    st_jw_key(w, "recorded_seq");
    st_jw_raw(w, seq, strlen(seq));
    put_stat(w, "missing_checked", x->missing_checked);
    put_stat(w, "missing_found", x->missing_found);
    put_stat(w, "docs_read", x->docs_read);
    put_stat(w, "docs_written", x->docs_written);
    put_stat(w, "doc_write_failures", x->doc_write_failures);
    put_stat(w, "bulk_get_docs", x->bulk_get_docs);
    put_stat(w, "bulk_get_attempts", x->bulk_get_attempts);
    st_jw_obj_close(w);
    const st_json *h = s->old_history;
    size_t kept = 1;
    for (size_t i = 0; h && i < h->len && kept < COUCH_HISTORY_MAX; i++) {
        const st_json *e = &h->u.items[i];
        const char *sid = st_json_get_str(e, "session_id");
        if (sid && strcmp(sid, s->session_id) == 0)
            continue; /* our own earlier entries: the new one replaces them */
        st_jw_value(w, e);
        kept++;
    }
    st_jw_arr_close(w);
}

static void render_pouch(st_jw *w, const st_ckpt_session *s, const char *seq)
{
    st_jw_key(w, "last_seq");
    st_jw_raw(w, seq, strlen(seq));
    st_jw_key(w, "history");
    st_jw_arr_open(w);
    st_jw_obj_open(w);
    st_jw_key(w, "last_seq");
    st_jw_raw(w, seq, strlen(seq));
    st_jw_key(w, "session_id");
    st_jw_str(w, s->session_id);
    st_jw_obj_close(w);
    const st_json *h = s->old_history;
    size_t kept = 1;
    for (size_t i = 0; h && i < h->len && kept < POUCH_HISTORY_MAX; i++) {
        const st_json *e = &h->u.items[i];
        const char *sid = st_json_get_str(e, "session_id");
        if (sid && strcmp(sid, s->session_id) == 0)
            continue;
        st_jw_value(w, e);
        kept++;
    }
    st_jw_arr_close(w);
    st_jw_key(w, "replicator");
    st_jw_str(w, "pouchdb");
    st_jw_key(w, "version");
    st_jw_int(w, 1);
}

bool st_ckpt_render(const st_ckpt_session *s, const st_ckpt_stats *stats, const char *seq,
                    st_ckpt_format fmt, st_buf *out)
{
    char now[40];
    st_ckpt_time(now);
    st_jw w;
    if (st_jw_init(&w, out) != ST_OK)
        return false;
    st_jw_obj_open(&w);
    st_jw_key(&w, "_id");
    st_jw_str(&w, s->doc_id);
    st_jw_key(&w, "session_id");
    st_jw_str(&w, s->session_id);
    if (fmt == ST_CKPT_COUCH)
        render_couch(&w, s, stats, seq, now);
    else
        render_pouch(&w, s, seq);
    st_jw_obj_close(&w);
    bool ok = st_jw_status(&w) == ST_OK;
    st_jw_free(&w);
    return ok;
}
