/* db_security.c — a database's _security object and its write validator.
 *
 * The object is stored in the meta table under "security" and written by a
 * writer job, so it is committed like any write (and a second storage
 * backend carries it the same way).  In memory the database holds one
 * parsed reference (sec_mu guards the pointer swap only); every change bumps
 * sec_gen and wakes the followers, so a live feed re-checks who may still
 * read it.  A database whose meta has no object is public ({}), as CouchDB
 * treats one created before 3.0.
 */
#include "db_int.h"

#include <stdlib.h>
#include <string.h>

#define META_KEY "security"

st_status st_db_security_load(st_db *db, bool created, st_error *err)
{
    st_buf b = ST_BUF_INIT;
    st_security *s = NULL;
    st_status st = st_store_meta_get(db->writer, META_KEY, &b, err);
    if (st == ST_E_NOT_FOUND && created && db->opts.initial_security) {
        const char *j = db->opts.initial_security;
        st = st_security_parse(j, strlen(j), &s, err);
        if (st == ST_OK)
            st = st_store_meta_set(db->writer, META_KEY, j, strlen(j), err);
    } else if (st == ST_E_NOT_FOUND) {
        st = st_security_empty(&s, err);
    } else if (st == ST_OK) {
        st = st_security_parse(b.data ? b.data : "", b.len, &s, err);
        if (st != ST_OK)
            st = st_fail(err, ST_E_IO, "the stored security object is unreadable");
    }
    st_buf_free(&b);
    if (st != ST_OK) {
        st_security_release(s);
        return st;
    }
    st_security_release(db->sec);
    db->sec = s;
    return ST_OK;
}

st_security *st_db_security(st_db *db)
{
    pthread_mutex_lock(&db->sec_mu);
    st_security *s = st_security_ref(db->sec);
    pthread_mutex_unlock(&db->sec_mu);
    return s;
}

uint64_t st_db_security_gen(st_db *db)
{
    return atomic_load(&db->sec_gen);
}

typedef struct sec_job {
    db_job job;
    st_security *sec; /* the new object (one reference) */
    st_done_fn done;
    void *ctx;
} sec_job;

static st_status run_security(st_db *db, void *arg, st_error *err)
{
    sec_job *sj = arg;
    size_t len = 0;
    const char *j = st_security_json(sj->sec, &len);
    return st_store_meta_set(db->writer, META_KEY, j, len, err);
}

/* After the commit: publish the object, then tell the followers. */
static void publish(st_db *db, sec_job *sj)
{
    if (sj->job.status != ST_OK)
        return;
    pthread_mutex_lock(&db->sec_mu);
    st_security *old = db->sec;
    db->sec = st_security_ref(sj->sec);
    pthread_mutex_unlock(&db->sec_mu);
    st_security_release(old);
    atomic_fetch_add(&db->sec_gen, 1);
    st_follow_wake_all(db);
}

static void sec_done(db_job *j)
{
    sec_job *sj = (sec_job *)j;
    publish(sj->job.done_ctx, sj);
    if (sj->done)
        sj->done(sj->ctx, j->status, &j->err);
    st_security_release(sj->sec);
    free(sj);
}

st_status st_db_security_set_async(st_db *db, const char *json, size_t len, st_done_fn done,
                                   void *ctx, st_error *err)
{
    sec_job *sj = calloc(1, sizeof *sj);
    if (!sj)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = st_security_parse(json, len, &sj->sec, err);
    if (st != ST_OK) {
        free(sj);
        return st;
    }
    sj->done = done;
    sj->ctx = ctx;
    sj->job.run = run_security;
    sj->job.arg = sj;
    sj->job.done = sec_done;
    sj->job.done_ctx = db;
    if ((st = st_db_enqueue(db, &sj->job, err)) != ST_OK) {
        st_security_release(sj->sec);
        free(sj);
    }
    return st;
}

st_status st_db_security_set(st_db *db, const char *json, size_t len, st_error *err)
{
    sec_job sj = {.done = NULL};
    st_status st = st_security_parse(json, len, &sj.sec, err);
    if (st != ST_OK)
        return st;
    sj.job.run = run_security;
    sj.job.arg = &sj;
    st = st_db_run_job(db, &sj.job, err);
    publish(db, &sj);
    st_security_release(sj.sec);
    return st;
}

void st_db_set_validator_owned(st_db *db, st_validate_fn fn, void *ctx, unsigned scope,
                               void (*free_ctx)(void *ctx))
{
    pthread_mutex_lock(&db->sec_mu);
    void (*old_free)(void *) = db->validate_free;
    void *old_ctx = db->validate_ctx;
    db->validate = fn;
    db->validate_ctx = ctx;
    db->validate_scope = scope;
    db->validate_free = free_ctx;
    pthread_mutex_unlock(&db->sec_mu);
    /* A write that started before keeps the old pointers: the writer runs
     * this database's jobs one at a time, so replacing from anywhere but
     * the writer while writes run is the caller's to avoid (the server
     * installs validators at open, before any write). */
    if (old_free)
        old_free(old_ctx);
}

void st_db_set_validator(st_db *db, st_validate_fn fn, void *ctx)
{
    st_db_set_validator_owned(db, fn, ctx, ST_VALIDATE_ALL, NULL);
}

void st_db_validator_scope(st_db *db, unsigned scope)
{
    pthread_mutex_lock(&db->sec_mu);
    db->validate_scope = scope;
    pthread_mutex_unlock(&db->sec_mu);
}

typedef struct design_scan {
    st_db *db;
    st_design_fn fn;
    void *ctx;
    st_buf out;
    st_status st;
    st_error *err;
} design_scan;

static int design_row(void *ctx, const st_row_view *row)
{
    design_scan *d = ctx;
    st_revtree *t = NULL;
    if ((d->st = st_revtree_decode(row->tree, row->tree_len, &t, d->err)) != ST_OK)
        return 1;
    size_t w = (size_t)st_revtree_winner(t);
    st_rev r;
    char rev[ST_REV_STR_MAX];
    st_revtree_node(t, w, &r, NULL, NULL);
    st_rev_format(&r, rev, sizeof rev);
    st_buf_reset(&d->out);
    st_jw jw;
    st_get_opts o = {.atts = ST_ATTS_STUB};
    if ((d->st = st_jw_init(&jw, &d->out)) == ST_OK) {
        d->st = st_db_render(d->db->writer, row->id, t, w, row->body, row->body_len, row->atts,
                             row->atts_len, row->seq, &o, &jw, d->err);
        st_jw_free(&jw);
    }
    st_revtree_free(t);
    if (d->st != ST_OK)
        return 1;
    return d->fn(d->ctx, row->id, rev, d->out.data ? d->out.data : "{}", d->out.len);
}

st_status st_db_design_docs(st_db *db, st_design_fn fn, void *ctx, st_error *err)
{
    design_scan d = {db, fn, ctx, ST_BUF_INIT, ST_OK, err};
    st_status st = st_store_scan_ids(db->writer, "_design/", "_design0", false, false, 0, true,
                                     design_row, &d, err);
    st_buf_free(&d.out);
    return st != ST_OK ? st : d.st;
}
