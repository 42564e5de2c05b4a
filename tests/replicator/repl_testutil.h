/* repl_testutil.h — helpers for the replicator tests: opening scratch
 * databases (paths from support/tmp.h), writing documents, and a canonical
 * dump of a database (every document, every leaf with its body, history and
 * attachments, and the winner) so two replicas can be compared for
 * equality with one strcmp. */
#ifndef ST_REPL_TESTUTIL_H
#define ST_REPL_TESTUTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "st_db.h"
#include "st_repl.h"
#include "support/clock.h"
#include "support/tmp.h"

static inline st_db *rt_open(const char *path, bool create)
{
    st_db_options o;
    st_db_options_init(&o);
    o.create = create;
    o.durability = ST_DURABLE_NORMAL;
    st_db *db = NULL;
    st_error e;
    if (st_db_open(path, "db", &o, &db, &e) != ST_OK) {
        fprintf(stderr, "open %s: %s\n", path, e.reason);
        return NULL;
    }
    return db;
}

/* Put a JSON document (printf-style); returns the new rev in rev_out (may
 * be NULL).  Aborts the test program on failure. */
static inline void rt_put(st_db *db, char *rev_out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void rt_put(st_db *db, char *rev_out, const char *fmt, ...)
{
    char json[65536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    st_write_result res;
    memset(&res, 0, sizeof res);
    st_error e;
    st_status st = st_db_put_json(db, json, strlen(json), 0, &res, &e);
    if (st != ST_OK || res.err.code != ST_OK) {
        fprintf(stderr, "put %s: %s\n", json, st != ST_OK ? e.reason : res.err.reason);
        abort();
    }
    if (rev_out)
        strcpy(rev_out, res.rev);
    st_write_results_free(&res, 1);
}

typedef struct rt_rows {
    char **ids;
    char **winners;
    size_t n, cap;
} rt_rows;

static inline int rt_row(void *ctx, const st_change_row *row)
{
    rt_rows *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->ids = realloc(r->ids, r->cap * sizeof *r->ids);
        r->winners = realloc(r->winners, r->cap * sizeof *r->winners);
    }
    r->ids[r->n] = strdup(row->id);
    r->winners[r->n] = strdup(row->revs[0]);
    r->n++;
    return 0;
}

typedef struct rt_leaves {
    char **json;
    size_t n, cap;
} rt_leaves;

static inline int rt_leaf(void *ctx, const st_doc_view *v)
{
    rt_leaves *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->json = realloc(l->json, l->cap * sizeof *l->json);
    }
    l->json[l->n++] = v->json ? strndup(v->json, v->json_len) : strdup("missing");
    return 0;
}

static inline int rt_cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole database as one canonical string (malloc'd). */
static inline char *rt_dump(st_db *db)
{
    rt_rows rows = {0};
    st_changes_opts co;
    st_changes_opts_init(&co);
    co.all_docs = true;
    st_error e;
    if (st_db_changes(db, &co, rt_row, &rows, NULL, NULL, &e) != ST_OK)
        return NULL;
    /* Sort ids with their winners together. */
    char **pairs = calloc(rows.n ? rows.n : 1, sizeof *pairs);
    for (size_t i = 0; i < rows.n; i++) {
        size_t n = strlen(rows.ids[i]) + strlen(rows.winners[i]) + 2;
        pairs[i] = malloc(n);
        snprintf(pairs[i], n, "%s\t%s", rows.ids[i], rows.winners[i]);
        free(rows.ids[i]);
        free(rows.winners[i]);
    }
    free(rows.ids);
    free(rows.winners);
    qsort(pairs, rows.n, sizeof *pairs, rt_cmpstr);
    st_buf out = ST_BUF_INIT;
    for (size_t i = 0; i < rows.n; i++) {
        char *tab = strchr(pairs[i], '\t');
        *tab = '\0';
        rt_leaves l = {0};
        st_get_opts go = {0};
        go.revs = true;
        go.atts = ST_ATTS_INLINE;
        if (st_db_open_revs(db, pairs[i], NULL, 0, &go, rt_leaf, &l, &e) != ST_OK)
            fprintf(stderr, "open_revs %s: %s\n", pairs[i], e.reason);
        qsort(l.json, l.n, sizeof *l.json, rt_cmpstr);
        (void)!st_buf_printf(&out, "%s winner=%s\n", pairs[i], tab + 1);
        for (size_t k = 0; k < l.n; k++) {
            (void)!st_buf_printf(&out, "  %s\n", l.json[k]);
            free(l.json[k]);
        }
        free(l.json);
        free(pairs[i]);
    }
    free(pairs);
    return out.data ? st_buf_take(&out, NULL) : strdup("");
}

/* Attachment metadata of a document's JSON (as GET ?att_encoding_info=true
 * gives it) as one line per attachment, "name digest revpos length
 * encoding encoded_length" (malloc'd), so replicas compare with strcmp. */
static inline char *rt_att_meta_json(const char *json, size_t len)
{
    st_json_doc *d = NULL;
    st_error e;
    if (st_json_parse(json, len, NULL, &d, &e) != ST_OK)
        return NULL;
    const st_json *atts = st_json_get(st_json_doc_root(d), "_attachments");
    st_buf out = ST_BUF_INIT;
    for (size_t i = 0; atts && atts->type == ST_JSON_OBJECT && i < atts->len; i++) {
        const st_json *a = &atts->u.members[i].value;
        const char *enc = st_json_get_str(a, "encoding");
        uint64_t revpos = 0, length = 0, el = 0;
        (void)st_json_uint64(st_json_get(a, "revpos"), &revpos);
        (void)st_json_uint64(st_json_get(a, "length"), &length);
        (void)st_json_uint64(st_json_get(a, "encoded_length"), &el);
        (void)!st_buf_printf(&out, "%s %s %llu %llu %s %llu\n", atts->u.members[i].key,
                             st_json_get_str(a, "digest"), (unsigned long long)revpos,
                             (unsigned long long)length, enc ? enc : "-", (unsigned long long)el);
    }
    st_json_doc_free(d);
    return out.data ? st_buf_take(&out, NULL) : strdup("");
}

static inline char *rt_att_meta(st_db *db, const char *id)
{
    st_buf b = ST_BUF_INIT;
    st_get_opts go = {.att_encoding_info = true};
    st_error e;
    char *m = st_db_get(db, id, &go, &b, &e) == ST_OK ? rt_att_meta_json(b.data, b.len) : NULL;
    st_buf_free(&b);
    return m;
}

/* Run a one-shot replication between two open dbs; returns the status. */
static inline st_repl_status rt_replicate(st_db *src, st_db *tgt, st_status *out_st)
{
    st_repl_config c;
    st_repl_config_init(&c);
    c.source_db = src;
    c.target_db = tgt;
    st_repl_status s;
    memset(&s, 0, sizeof s);
    st_error e;
    st_status st = st_repl_run(&c, &s, &e);
    if (st != ST_OK)
        fprintf(stderr, "replicate: %s\n", e.reason);
    if (out_st)
        *out_st = st;
    return s;
}

#endif
