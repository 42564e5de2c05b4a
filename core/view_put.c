/* view_put.c — a batch's id lists (what each document emitted), gathered
 * and written several to a statement (st_vids_put_many).
 *
 * Why it is safe to hold them back until the end of a batch: a batch holds
 * each document once (the feed gives a document at its latest change), and
 * only that document's own change reads or deletes its list, before its
 * new list is gathered; so nothing in the batch reads a list still held
 * here.  Everything is written before the commit.
 */
#include "view_int.h"

#include <stdlib.h>
#include <string.h>

/* Flushed at this many bytes held, so documents emitting many rows do not
 * gather a whole batch of long lists. */
#define VPUT_MAX_BYTES (4u << 20)

struct pids {
    const char *doc;
    size_t keys, n;           /* offset and length in data */
};

void vput_init(vput *p) { memset(p, 0, sizeof *p); }

void vput_free(vput *p)
{
    st_buf_free(&p->data);
    free(p->ids);
    free(p->items);
    memset(p, 0, sizeof *p);
}

static bool grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 256;
    while (nc < need)
        nc *= 2;
    void *x = realloc(*arr, nc * size);
    if (!x)
        return false;
    *arr = x;
    *cap = nc;
    return true;
}

st_status vput_ids(vput *p, st_vconn *c, const char *doc, const void *keys, size_t n,
                   st_error *err)
{
    if (!grow((void **)&p->ids, &p->ids_cap, p->nids + 1, sizeof *p->ids))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    struct pids *d = &p->ids[p->nids];
    d->doc = doc;
    d->keys = p->data.len;
    d->n = n;
    if (n && st_buf_add(&p->data, keys, n) != ST_OK)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    p->nids++;
    return p->data.len >= VPUT_MAX_BYTES ? vput_flush(p, c, err) : ST_OK;
}

st_status vput_flush(vput *p, st_vconn *c, st_error *err)
{
    /* Pointers into data only now: it may have moved as it grew. */
    const char *d = p->data.data ? p->data.data : "";
    if (!grow((void **)&p->items, &p->items_cap, p->nids, sizeof *p->items))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t i = 0; i < p->nids; i++)
        p->items[i] = (st_vids_item){p->ids[i].doc, d + p->ids[i].keys, p->ids[i].n};
    st_status st = st_vids_put_many(c, p->items, p->nids, err);
    p->nids = 0;
    st_buf_reset(&p->data);
    return st;
}
