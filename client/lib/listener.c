/* listener.c — change listeners: registration, removal, and delivering
 * "changes since my cursor" in batches.
 *
 * A listener is a cursor, not a queue: it remembers the last sequence it was
 * told about and, when a round finds the database ahead of it, reads core's
 * changes feed from there (optionally only its doc ids).  So a listener sees
 * every document that changed, from local writes and from sync alike, at its
 * newest revision; a document changed twice between two rounds is reported
 * once, as CouchDB's _changes does.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define BATCH 256

void st_client_listener_deliver(settee_listener *l);
void st_client_listener_destroy(settee_listener *l);

/* One batch of rows: strings live in arena, and the change structs point
 * into it once the scan is over (the arena may move while it grows). */
typedef struct batch {
    settee_change rows[BATCH];
    size_t id_off[BATCH], rev_off[BATCH];
    size_t n;
    st_buf arena;
    st_status st;
} batch;

static int collect(void *ctx, const st_change_row *row)
{
    batch *b = ctx;
    if (b->n == BATCH)
        return 1;
    size_t i = b->n;
    b->rows[i].seq = row->seq;
    b->rows[i].deleted = row->deleted;
    b->id_off[i] = b->arena.len;
    st_status s = st_buf_add(&b->arena, row->id, strlen(row->id) + 1);
    b->rev_off[i] = b->arena.len;
    if (s == ST_OK) {
        const char *rev = row->n_revs ? row->revs[0] : "";
        s = st_buf_add(&b->arena, rev, strlen(rev) + 1);
    }
    if (s != ST_OK) {
        b->st = s;
        return 1;
    }
    b->n++;
    return 0;
}

static bool removed(settee_listener *l)
{
    pthread_mutex_lock(&l->db->mu);
    bool r = l->removed;
    pthread_mutex_unlock(&l->db->mu);
    return r;
}

void st_client_listener_deliver(settee_listener *l)
{
    settee_db *db = l->db;
    uint64_t upto = atomic_load(&db->seen_seq);
    batch *b = malloc(sizeof *b);
    if (!b)
        return; /* the cursor stays; the next round retries */
    st_buf_init(&b->arena, 0);
    /* Bounded: each pass either advances the cursor or ends the loop. */
    while (l->seq < upto && !removed(l)) {
        st_changes_opts o;
        st_changes_opts_init(&o);
        o.since = l->seq;
        o.limit = BATCH;
        o.doc_ids = (const char *const *)l->ids;
        o.n_doc_ids = l->n_ids;
        b->n = 0;
        b->st = ST_OK;
        st_buf_reset(&b->arena);
        st_status s = st_db_changes(db->core, &o, collect, b, NULL, NULL, NULL);
        if (s != ST_OK || b->st != ST_OK)
            break; /* storage trouble: keep the cursor, retry next round */
        if (b->n == 0) {
            l->seq = upto;
            break;
        }
        for (size_t i = 0; i < b->n; i++) {
            b->rows[i].id = b->arena.data + b->id_off[i];
            b->rows[i].rev = b->arena.data + b->rev_off[i];
        }
        uint64_t last = b->rows[b->n - 1].seq;
        l->fn(l->ctx, db, b->rows, b->n);
        /* A short batch read everything committed before the read began,
         * which includes every commit up to upto. */
        l->seq = b->n < BATCH && last < upto ? upto : last;
    }
    st_buf_free(&b->arena);
    free(b);
}

void st_client_listener_destroy(settee_listener *l)
{
    settee_db *db = l->db;
    for (size_t i = 0; i < l->n_ids; i++)
        free(l->ids[i]);
    free(l->ids);
    free(l);
    st_client_child_done(db);
}

static settee_status add(settee_db *db, const char *const *ids, size_t n, bool filtered,
                         settee_change_fn fn, void *ctx, settee_listener **out_tok,
                         settee_error *e)
{
    if (out_tok)
        *out_tok = NULL;
    if (!fn || !out_tok || (filtered && n && !ids))
        return st_client_fail(e, SETTEE_MISUSE, "NULL fn, ids or out_tok");
    for (size_t i = 0; filtered && i < n; i++)
        if (!ids[i])
            return st_client_fail(e, SETTEE_MISUSE, "NULL document id in ids");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    settee_listener *l = calloc(1, sizeof *l);
    st_db_info info;
    st_error ce;
    st_status s = ST_OK;
    if (!l) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
        goto out;
    }
    l->db = db;
    l->fn = fn;
    l->ctx = ctx;
    if (filtered) {
        /* An empty set still filters (to nothing): calloc(1) keeps it non-NULL. */
        l->ids = calloc(n ? n : 1, sizeof *l->ids);
        if (!l->ids) {
            rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
            goto out;
        }
        for (; l->n_ids < n; l->n_ids++)
            if ((rc = st_client_dup(&l->ids[l->n_ids], ids[l->n_ids], strlen(ids[l->n_ids]),
                                    e)) != SETTEE_OK)
                goto out;
    }
    if ((s = st_db_info_get(db->core, &info, &ce)) != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        goto out;
    }
    l->seq = info.update_seq;
    st_client_child_add(db);
    pthread_mutex_lock(&db->mu);
    l->next = db->listeners;
    db->listeners = l;
    pthread_mutex_unlock(&db->mu);
    *out_tok = l;
    l = NULL;
    st_client_ok(e);
out:
    if (l) {
        for (size_t i = 0; i < l->n_ids; i++)
            free(l->ids[i]);
        free(l->ids);
        free(l);
    }
    st_client_leave(db);
    return rc;
}

settee_status settee_listener_add(settee_db *db, settee_change_fn fn, void *ctx,
                                  settee_listener **out_tok, settee_error *e)
{
    return add(db, NULL, 0, false, fn, ctx, out_tok, e);
}

settee_status settee_listener_add_docs(settee_db *db, const char *const *ids, size_t n,
                                       settee_change_fn fn, void *ctx,
                                       settee_listener **out_tok, settee_error *e)
{
    return add(db, ids, n, true, fn, ctx, out_tok, e);
}

void settee_listener_remove(settee_listener *l)
{
    if (!l)
        return;
    settee_db *db = l->db;
    pthread_mutex_lock(&db->mu);
    if (l->removed) { /* a second remove from inside its callback */
        pthread_mutex_unlock(&db->mu);
        return;
    }
    for (settee_listener **p = &db->listeners; *p; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            break;
        }
    }
    l->removed = true;
    bool defer = st_client_wait_not_busy(db, &l->busy);
    if (defer)
        l->free_in_dispatch = true;
    pthread_mutex_unlock(&db->mu);
    if (!defer)
        st_client_listener_destroy(l);
}
