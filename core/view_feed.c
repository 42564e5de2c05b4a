/* view_feed.c — the updater's reader: batches of changed documents read
 * from the feed, in order, and handed to the mappers in turn.
 *
 * Why a thread of its own in a build: the updater's own thread writes
 * every row, and reading the feed (a scan of the documents, each rendered
 * as JSON) is a fifth of what it did besides; read on another thread, the
 * feed runs ahead while the rows are written, and the mappers are given
 * work as soon as a slot is free instead of when the writer gets round to
 * it.  A small update reads on the caller's thread: a thread would cost
 * more than it saves.
 *
 * Slots: nb = k * VMAP_DEPTH batches; batch j (counted from the run's
 * start) lives in slot j % nb and goes to mapper (j % nb) % k, so each
 * mapper has at most VMAP_DEPTH batches out and gives them back in order.
 * A slot is read again only after the writer released the batch in it.
 */
#include "view_int.h"

#include <stdlib.h>
#include <string.h>

#include "st_follow.h"

struct vfeed {
    vindex *ix;
    st_follower *f;
    st_changes_opts o;
    uint64_t target;
    vmapper **m;
    unsigned k, nb;
    vbatch b[2 * VMAP_DEPTH];
    bool threaded;
    pthread_t t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t read;            /* batches read and submitted (mu) */
    uint64_t next;            /* batches handed to the writer (mu) */
    uint64_t released;        /* batches the writer is done with (mu) */
    bool eof, stop;           /* (mu) */
    /* The reader's own (the reader thread's while it runs). */
    vbatch *fill;
    st_status st;
    st_error err;
};

static int take_change(void *ctx, const st_change_row *row)
{
    vfeed *fd = ctx;
    bool design = strncmp(row->id, "_design/", 8) == 0;
    bool map = !row->deleted && row->doc_json &&
               (!design || st_ddoc_include_design(fd->ix->ddoc));
    if (vbatch_add(fd->fill, row->id, row->seq, row->doc_json, row->doc_len, map) != ST_OK) {
        fd->st = st_fail(&fd->err, ST_E_NOMEM, "out of memory");
        return 1;
    }
    return 0;
}

/* Read the next batch into b; false at the end of the run or on an error
 * (fd->st says which). */
static bool read_one(vfeed *fd, vbatch *b)
{
    st_follow_batch fb;
    uint64_t before = st_follow_since(fd->f);
    vbatch_reset(b);
    if (before >= fd->target)
        return false;
    fd->fill = b;
    st_status st = st_follow_read(fd->f, &fd->o, take_change, fd, &fb, &fd->err);
    if (st != ST_OK && fd->st == ST_OK)
        fd->st = st;
    if (fd->st != ST_OK)
        return false;
    b->rows = fb.rows;
    b->last_seq = fb.last_seq;
    return fb.rows > 0 || fb.last_seq > before;
}

static void *read_ahead(void *arg)
{
    vfeed *fd = arg;
    pthread_mutex_lock(&fd->mu);
    for (;;) {
        while (!fd->stop && fd->read - fd->released == fd->nb)
            pthread_cond_wait(&fd->cv, &fd->mu);
        if (fd->stop)
            break;
        unsigned s = (unsigned)(fd->read % fd->nb);
        pthread_mutex_unlock(&fd->mu);
        bool got = read_one(fd, &fd->b[s]);
        if (got)
            vmapper_submit(fd->m[s % fd->k], &fd->b[s]);
        pthread_mutex_lock(&fd->mu);
        if (!got) {
            fd->eof = true;
            pthread_cond_broadcast(&fd->cv);
            break;
        }
        fd->read++;
        pthread_cond_broadcast(&fd->cv);
    }
    pthread_mutex_unlock(&fd->mu);
    return NULL;
}

st_status vfeed_start(vindex *ix, st_follower *f, uint64_t target, vmapper **m, unsigned k,
                      bool threaded, vfeed **out, st_error *err)
{
    *out = NULL;
    vfeed *fd = calloc(1, sizeof *fd);
    if (!fd)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    fd->ix = ix;
    fd->f = f;
    fd->target = target;
    fd->m = m;
    fd->k = k;
    fd->nb = k * VMAP_DEPTH;
    st_changes_opts_init(&fd->o);
    fd->o.include_docs = true;
    fd->o.conflicts = true;
    fd->o.limit = ix->opts->batch;
    fd->o.no_pending = true;
    if (threaded) {
        pthread_mutex_init(&fd->mu, NULL);
        pthread_cond_init(&fd->cv, NULL);
        if (pthread_create(&fd->t, NULL, read_ahead, fd) != 0) {
            pthread_mutex_destroy(&fd->mu);
            pthread_cond_destroy(&fd->cv);
            free(fd);
            return st_fail(err, ST_E_NOMEM, "cannot start the view's feed reader");
        }
        fd->threaded = true;
    }
    *out = fd;
    return ST_OK;
}

vbatch *vfeed_next(vfeed *fd, vmapper **mapper)
{
    unsigned s;
    if (!fd->threaded) {
        s = (unsigned)(fd->read % fd->nb);
        if (fd->eof || !read_one(fd, &fd->b[s])) {
            fd->eof = true;
            return NULL;
        }
        vmapper_submit(fd->m[s % fd->k], &fd->b[s]);
        fd->read++;
        fd->next++;
        *mapper = fd->m[s % fd->k];
        return &fd->b[s];
    }
    pthread_mutex_lock(&fd->mu);
    while (fd->next == fd->read && !fd->eof)
        pthread_cond_wait(&fd->cv, &fd->mu);
    vbatch *b = NULL;
    if (fd->next < fd->read) {
        s = (unsigned)(fd->next % fd->nb);
        fd->next++;
        *mapper = fd->m[s % fd->k];
        b = &fd->b[s];
    }
    pthread_mutex_unlock(&fd->mu);
    return b;
}

void vfeed_release(vfeed *fd)
{
    if (!fd->threaded) {
        fd->released++;
        return;
    }
    pthread_mutex_lock(&fd->mu);
    fd->released++;
    pthread_cond_broadcast(&fd->cv);
    pthread_mutex_unlock(&fd->mu);
}

st_status vfeed_stop(vfeed *fd, st_error *err)
{
    if (!fd)
        return ST_OK;
    if (fd->threaded) {
        pthread_mutex_lock(&fd->mu);
        fd->stop = true;
        pthread_cond_broadcast(&fd->cv);
        pthread_mutex_unlock(&fd->mu);
        pthread_join(fd->t, NULL);
        pthread_mutex_destroy(&fd->mu);
        pthread_cond_destroy(&fd->cv);
    }
    /* A mapper still busy with a batch finishes before the batch goes. */
    for (uint64_t j = fd->released; j < fd->read; j++) {
        unsigned s = (unsigned)(j % fd->nb);
        vmapper_wait(fd->m[s % fd->k], &fd->b[s]);
    }
    st_status st = fd->st;
    if (st != ST_OK && err)
        *err = fd->err;
    for (unsigned i = 0; i < 2 * VMAP_DEPTH; i++)
        vbatch_free(&fd->b[i]);
    free(fd);
    return st;
}
