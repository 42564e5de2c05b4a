/* changes.c — the changes iterator: settee_changes_open/next/close.
 *
 * Reads core's changes feed in pages of PAGE rows and hands them out one by
 * one.  The upper end is fixed when the iterator opens (the update_seq
 * then), so iterating is bounded even while writers keep going; a document
 * that changes during the iteration moves past that end and shows up in the
 * next iteration from the last seq seen.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define PAGE 128

struct settee_changes {
    settee_db *db;
    uint64_t cursor;                 /* last seq read from core */
    uint64_t end;                    /* update_seq at open: stop after it */
    settee_change rows[PAGE];
    size_t id_off[PAGE], rev_off[PAGE];
    size_t n, next;                  /* rows in the page, next to hand out */
    st_buf arena;                    /* the page's strings */
    st_status st;                    /* first failure while collecting */
    bool done;
};

static int collect(void *ctx, const st_change_row *row)
{
    settee_changes *it = ctx;
    if (it->n == PAGE || row->seq > it->end)
        return 1;
    size_t i = it->n;
    it->rows[i].seq = row->seq;
    it->rows[i].deleted = row->deleted;
    it->id_off[i] = it->arena.len;
    st_status s = st_buf_add(&it->arena, row->id, strlen(row->id) + 1);
    it->rev_off[i] = it->arena.len;
    if (s == ST_OK) {
        const char *rev = row->n_revs ? row->revs[0] : "";
        s = st_buf_add(&it->arena, rev, strlen(rev) + 1);
    }
    if (s != ST_OK) {
        it->st = s;
        return 1;
    }
    it->n++;
    return 0;
}

settee_status settee_changes_open(settee_db *db, uint64_t since, settee_changes **out_it,
                                  settee_error *e)
{
    if (out_it)
        *out_it = NULL;
    if (!out_it)
        return st_client_fail(e, SETTEE_MISUSE, "NULL out_it");
    settee_status rc = st_client_enter(db, e);
    if (rc != SETTEE_OK)
        return rc;
    settee_changes *it = calloc(1, sizeof *it);
    st_db_info info;
    st_error ce;
    st_status s;
    if (!it) {
        rc = st_client_fail(e, SETTEE_NOMEM, "out of memory");
    } else if ((s = st_db_info_get(db->core, &info, &ce)) != ST_OK) {
        rc = st_client_from_core(e, s, &ce);
        free(it);
    } else {
        it->db = db;
        it->cursor = since;
        it->end = info.update_seq;
        it->done = since >= info.update_seq;
        st_buf_init(&it->arena, 0);
        st_client_child_add(db);
        *out_it = it;
        st_client_ok(e);
    }
    st_client_leave(db);
    return rc;
}

/* Read the next page into it; SETTEE_DONE when there is none. */
static settee_status fill(settee_changes *it)
{
    st_changes_opts o;
    st_changes_opts_init(&o);
    o.since = it->cursor;
    o.limit = PAGE;
    it->n = it->next = 0;
    it->st = ST_OK;
    st_buf_reset(&it->arena);
    st_status s = st_db_changes(it->db->core, &o, collect, it, NULL, NULL, NULL);
    if (s == ST_OK)
        s = it->st;
    if (s != ST_OK) {
        it->n = 0;
        return st_client_code(s);
    }
    for (size_t i = 0; i < it->n; i++) {
        it->rows[i].id = it->arena.data + it->id_off[i];
        it->rows[i].rev = it->arena.data + it->rev_off[i];
    }
    if (it->n < PAGE)
        it->done = true; /* read to the end (or past it.end) */
    if (it->n == 0)
        return SETTEE_DONE;
    it->cursor = it->rows[it->n - 1].seq;
    if (it->cursor >= it->end)
        it->done = true;
    return SETTEE_OK;
}

settee_status settee_changes_next(settee_changes *it, const settee_change **out_ch)
{
    if (out_ch)
        *out_ch = NULL;
    if (!it || !out_ch)
        return SETTEE_MISUSE;
    if (it->next == it->n) {
        if (it->done)
            return SETTEE_DONE;
        settee_status rc = fill(it);
        if (rc != SETTEE_OK)
            return rc;
    }
    *out_ch = &it->rows[it->next++];
    return SETTEE_OK;
}

void settee_changes_close(settee_changes *it)
{
    if (!it)
        return;
    settee_db *db = it->db;
    st_buf_free(&it->arena);
    free(it);
    st_client_child_done(db);
}
