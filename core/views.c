/* views.c — the registry of view indexes and the calls of st_view.h that
 * are about whole indexes: opening a view, _info, cleanup, compaction.
 *
 * An index is known by its database's uuid and its signature, never by an
 * st_db pointer: handles come and go, a database deleted and created again
 * gets a new uuid, and the index file remembers the uuid it was built from
 * (a file left by an earlier database of the same name is emptied, not
 * served).  Idle indexes beyond max_open are closed, least recently used
 * first.  Design documents are cached by (uuid, id, rev), so a query on an
 * unchanged design document does not parse it again.
 */
#include "view_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DDOC_CACHE 64

typedef struct ddoc_slot {
    char key[300];          /* uuid "/" ddoc id (longer ids are not cached) */
    st_ddoc *ddoc;
    uint64_t used;
} ddoc_slot;

struct st_views {
    st_qs *qs;
    st_views_options o;
    pthread_mutex_t mu;
    vindex *list;
    unsigned n_open;
    uint64_t tick;
    ddoc_slot ddocs[DDOC_CACHE];
};

struct st_view {
    st_views *vs;
    vindex *ix;
    st_db *db;
    st_ddoc *ddoc;
    const st_ddoc_view *def;
    unsigned vi;
};

void st_views_options_init(st_views_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_open = 64;
    o->batch = 500;
    st_reduce_limits_init(&o->limits);
    o->js_reduce_limit = true;
}

st_status st_views_new(st_qs *qs, const st_views_options *o, st_views **out, st_error *err)
{
    *out = NULL;
    st_views *vs = calloc(1, sizeof *vs);
    if (!vs)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    vs->qs = qs;
    if (o)
        vs->o = *o;
    else
        st_views_options_init(&vs->o);
    if (vs->o.max_open == 0)
        vs->o.max_open = 64;
    if (vs->o.batch == 0)
        vs->o.batch = 500;
    pthread_mutex_init(&vs->mu, NULL);
    *out = vs;
    return ST_OK;
}

static void vindex_free(vindex *ix)
{
    for (int i = 0; i < VIEW_READERS; i++)
        st_vconn_close(ix->rd[i]);
    st_vconn_close(ix->writer);
    st_vfile_close(ix->file);
    st_ddoc_release(ix->ddoc);
    pthread_mutex_destroy(&ix->upd_mu);
    pthread_mutex_destroy(&ix->rd_mu);
    pthread_cond_destroy(&ix->rd_cond);
    free(ix);
}

void st_views_free(st_views *vs)
{
    if (!vs)
        return;
    for (vindex *ix = vs->list, *next; ix; ix = next) {
        next = ix->next;
        vindex_free(ix);
    }
    for (int i = 0; i < DDOC_CACHE; i++)
        st_ddoc_release(vs->ddocs[i].ddoc);
    pthread_mutex_destroy(&vs->mu);
    free(vs);
}

/* ---- readers -------------------------------------------------------------- */

st_vconn *vindex_reader(vindex *ix, st_error *err)
{
    pthread_mutex_lock(&ix->rd_mu);
    int slot = -1;
    for (;;) {
        for (int i = 0; i < VIEW_READERS && slot < 0; i++)
            if (!ix->rd_busy[i] && ix->rd[i])
                slot = i;
        for (int i = 0; i < VIEW_READERS && slot < 0; i++)
            if (!ix->rd_busy[i])
                slot = i;
        if (slot >= 0)
            break;
        pthread_cond_wait(&ix->rd_cond, &ix->rd_mu);
    }
    ix->rd_busy[slot] = true;
    st_vconn *c = ix->rd[slot];
    pthread_mutex_unlock(&ix->rd_mu);
    st_status st = ST_OK;
    if (!c && (st = st_vconn_open(ix->file, &c, err)) == ST_OK) {
        pthread_mutex_lock(&ix->rd_mu);
        ix->rd[slot] = c;
        pthread_mutex_unlock(&ix->rd_mu);
    }
    if (st == ST_OK)
        st = st_vconn_read_begin(c, err);
    if (st != ST_OK) {
        pthread_mutex_lock(&ix->rd_mu);
        ix->rd_busy[slot] = false;
        pthread_cond_signal(&ix->rd_cond);
        pthread_mutex_unlock(&ix->rd_mu);
        return NULL;
    }
    return c;
}

void vindex_reader_put(vindex *ix, st_vconn *c)
{
    if (!c)
        return;
    st_vconn_read_end(c);
    pthread_mutex_lock(&ix->rd_mu);
    for (int i = 0; i < VIEW_READERS; i++)
        if (ix->rd[i] == c)
            ix->rd_busy[i] = false;
    pthread_cond_signal(&ix->rd_cond);
    pthread_mutex_unlock(&ix->rd_mu);
}

/* ---- design documents ----------------------------------------------------- */

typedef struct got_ddoc {
    char rev[ST_REV_STR_MAX];
    st_buf json;
    bool deleted;
} got_ddoc;

static int take_ddoc(void *ctx, const st_doc_view *d)
{
    got_ddoc *g = ctx;
    snprintf(g->rev, sizeof g->rev, "%s", d->rev ? d->rev : "");
    g->deleted = d->deleted;
    if (d->json && st_buf_add(&g->json, d->json, d->json_len) != ST_OK)
        return 1;
    return 0;
}

/* The current design document ddoc_id of db (one reference). */
static st_status get_ddoc(st_views *vs, st_db *db, const char *ddoc_id, st_ddoc **out,
                          st_error *err)
{
    *out = NULL;
    got_ddoc g = {.json = ST_BUF_INIT};
    st_status st = st_db_get_view(db, ddoc_id, NULL, take_ddoc, &g, err);
    if (st != ST_OK) {
        st_buf_free(&g.json);
        return st;
    }
    if (g.json.len == 0) {
        st_buf_free(&g.json);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    char key[sizeof vs->ddocs[0].key];
    int kn = snprintf(key, sizeof key, "%s/%s", db->uuid, ddoc_id);
    bool cacheable = kn > 0 && (size_t)kn < sizeof key;
    pthread_mutex_lock(&vs->mu);
    for (int i = 0; cacheable && i < DDOC_CACHE; i++) {
        ddoc_slot *s = &vs->ddocs[i];
        if (s->ddoc && strcmp(s->key, key) == 0 && strcmp(st_ddoc_rev(s->ddoc), g.rev) == 0) {
            *out = st_ddoc_ref(s->ddoc);
            s->used = ++vs->tick;
            break;
        }
    }
    pthread_mutex_unlock(&vs->mu);
    if (*out) {
        st_buf_free(&g.json);
        return ST_OK;
    }
    st = st_ddoc_parse(g.json.data, g.json.len, out, err);
    st_buf_free(&g.json);
    if (st != ST_OK || !cacheable)
        return st;
    pthread_mutex_lock(&vs->mu);
    int victim = 0;
    for (int i = 0; i < DDOC_CACHE; i++) {
        if (!vs->ddocs[i].ddoc || strcmp(vs->ddocs[i].key, key) == 0) {
            victim = i;
            break;
        }
        if (vs->ddocs[i].used < vs->ddocs[victim].used)
            victim = i;
    }
    ddoc_slot *s = &vs->ddocs[victim];
    st_ddoc_release(s->ddoc);
    snprintf(s->key, sizeof s->key, "%s", key);
    s->ddoc = st_ddoc_ref(*out);
    s->used = ++vs->tick;
    pthread_mutex_unlock(&vs->mu);
    return ST_OK;
}

/* ---- indexes ---------------------------------------------------------------- */

/* Close idle indexes beyond max_open (mu held; returns those to free). */
static vindex *evict(st_views *vs)
{
    vindex *gone = NULL;
    while (vs->n_open > vs->o.max_open) {
        vindex **victim = NULL;
        for (vindex **p = &vs->list; *p; p = &(*p)->next)
            if ((*p)->refs == 0 && (!victim || (*p)->used < (*victim)->used))
                victim = p;
        if (!victim)
            break;
        vindex *ix = *victim;
        *victim = ix->next;
        ix->next = gone;
        gone = ix;
        vs->n_open--;
    }
    return gone;
}

static void free_list(vindex *ix)
{
    while (ix) {
        vindex *next = ix->next;
        vindex_free(ix);
        ix = next;
    }
}

/* The index of ddoc's signature for db, referenced (vindex_put). */
static st_status vindex_get(st_views *vs, st_db *db, st_ddoc *ddoc, vindex **out, st_error *err)
{
    char key[sizeof ((vindex *)0)->key];
    snprintf(key, sizeof key, "%s/%s", db->uuid, st_ddoc_sig(ddoc));
    pthread_mutex_lock(&vs->mu);
    for (vindex *ix = vs->list; ix; ix = ix->next) {
        if (strcmp(ix->key, key) == 0) {
            ix->refs++;
            ix->used = ++vs->tick;
            *out = ix;
            pthread_mutex_unlock(&vs->mu);
            return ST_OK;
        }
    }
    pthread_mutex_unlock(&vs->mu);
    /* Open outside the lock (file I/O); a racing opener's copy is dropped. */
    vindex *ix = calloc(1, sizeof *ix);
    if (!ix)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    ix->vs = vs;
    ix->qs = vs->qs;
    ix->opts = &vs->o;
    snprintf(ix->key, sizeof ix->key, "%s", key);
    snprintf(ix->sig, sizeof ix->sig, "%s", st_ddoc_sig(ddoc));
    snprintf(ix->db_uuid, sizeof ix->db_uuid, "%s", db->uuid);
    ix->ddoc = st_ddoc_ref(ddoc);
    pthread_mutex_init(&ix->upd_mu, NULL);
    pthread_mutex_init(&ix->rd_mu, NULL);
    pthread_cond_init(&ix->rd_cond, NULL);
    st_status st = st_vfile_open(db->store, ix->sig, &ix->file, err);
    if (st == ST_OK)
        st = vindex_load(ix, db, err);
    if (st == ST_OK && (st_db_is_deleted(db)))
        st = st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
    if (st != ST_OK) {
        vindex_free(ix);
        return st;
    }
    pthread_mutex_lock(&vs->mu);
    for (vindex *o = vs->list; o; o = o->next) {
        if (strcmp(o->key, key) == 0) {
            o->refs++;
            o->used = ++vs->tick;
            *out = o;
            pthread_mutex_unlock(&vs->mu);
            vindex_free(ix);
            return ST_OK;
        }
    }
    ix->refs = 1;
    ix->used = ++vs->tick;
    ix->next = vs->list;
    vs->list = ix;
    vs->n_open++;
    vindex *gone = evict(vs);
    pthread_mutex_unlock(&vs->mu);
    free_list(gone);
    *out = ix;
    return ST_OK;
}

static void vindex_put(vindex *ix)
{
    if (!ix)
        return;
    st_views *vs = ix->vs;
    pthread_mutex_lock(&vs->mu);
    ix->refs--;
    vindex *gone = evict(vs);
    pthread_mutex_unlock(&vs->mu);
    free_list(gone);
}

/* ---- views ------------------------------------------------------------------- */

st_status st_view_open(st_views *vs, st_db *db, const char *ddoc_id, const char *name,
                       st_view **out, st_error *err)
{
    *out = NULL;
    st_ddoc *ddoc = NULL;
    st_status st = get_ddoc(vs, db, ddoc_id, &ddoc, err);
    if (st != ST_OK)
        return st;
    int vi = st_ddoc_view_find(ddoc, name);
    if (vi < 0) {
        st_ddoc_release(ddoc);
        return st_fail(err, ST_E_NOT_FOUND, "missing_named_view");
    }
    st_view *v = calloc(1, sizeof *v);
    if (!v) {
        st_ddoc_release(ddoc);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    v->vs = vs;
    v->db = db;
    v->ddoc = ddoc;
    v->vi = (unsigned)vi;
    v->def = st_ddoc_view_at(ddoc, (size_t)vi);
    if ((st = vindex_get(vs, db, ddoc, &v->ix, err)) != ST_OK) {
        st_view_close(v);
        return st;
    }
    *out = v;
    return ST_OK;
}

void st_view_close(st_view *v)
{
    if (!v)
        return;
    vindex_put(v->ix);
    st_ddoc_release(v->ddoc);
    free(v);
}

bool st_view_has_reduce(const st_view *v) { return v->def->reduce != NULL; }
const char *st_view_sig(const st_view *v) { return v->ix->sig; }
uint64_t st_view_seq(const st_view *v) { return atomic_load(&v->ix->seq); }

st_status st_view_update(st_view *v, st_error *err)
{
    return vindex_update(v->ix, v->db, st_db_update_seq(v->db), err);
}

/* view_query.c reaches the parts of a view it needs through these. */
vindex *st_view_index(const st_view *v) { return v->ix; }
const st_ddoc_view *st_view_def(const st_view *v) { return v->def; }
unsigned st_view_number(const st_view *v) { return v->vi; }
st_db *st_view_db(const st_view *v) { return v->db; }
st_ddoc *st_view_ddoc(const st_view *v) { return v->ddoc; }

/* ---- whole indexes --------------------------------------------------------- */

st_status st_view_info_get(st_views *vs, st_db *db, const char *ddoc_id, st_view_info *out,
                           st_error *err)
{
    memset(out, 0, sizeof *out);
    st_ddoc *ddoc = NULL;
    vindex *ix = NULL;
    st_status st = get_ddoc(vs, db, ddoc_id, &ddoc, err);
    if (st == ST_OK)
        st = vindex_get(vs, db, ddoc, &ix, err);
    if (st != ST_OK) {
        st_ddoc_release(ddoc);
        return st;
    }
    snprintf(out->sig, sizeof out->sig, "%s", ix->sig);
    snprintf(out->language, sizeof out->language, "%s", st_ddoc_language(ddoc));
    st_collate_version(out->collator, sizeof out->collator);
    out->update_seq = atomic_load(&ix->seq);
    uint64_t dbseq = st_db_update_seq(db);
    out->pending = dbseq > out->update_seq ? dbseq - out->update_seq : 0;
    out->updater_running = atomic_load(&ix->updating);
    out->compact_running = atomic_load(&ix->compacting);
    out->waiting_clients = atomic_load(&ix->waiting);
    st_vconn *c = vindex_reader(ix, err);
    if (!c) {
        st = err ? err->code : ST_E_IO;
    } else {
        st = st_vconn_size(c, &out->size_file, &out->size_active, err);
        st_buf b = ST_BUF_INIT;
        if (st == ST_OK && st_vmeta_get(c, "external", &b, NULL) == ST_OK && b.data)
            out->size_external = strtoull(b.data, NULL, 10);
        st_buf_free(&b);
        vindex_reader_put(ix, c);
    }
    vindex_put(ix);
    st_ddoc_release(ddoc);
    return st;
}

typedef struct sig_list {
    st_views *vs;
    char **sigs;
    size_t n, cap;
    st_status st;
} sig_list;

static int collect_sig(void *ctx, const st_alldocs_row *r)
{
    sig_list *l = ctx;
    if (!r->doc_json || r->deleted)
        return 0;
    st_ddoc *d = NULL;
    if (st_ddoc_parse(r->doc_json, r->doc_len, &d, NULL) != ST_OK)
        return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **g = realloc(l->sigs, nc * sizeof *g);
        if (!g) {
            st_ddoc_release(d);
            l->st = ST_E_NOMEM;
            return 1;
        }
        l->sigs = g;
        l->cap = nc;
    }
    if (!(l->sigs[l->n] = strdup(st_ddoc_sig(d))))
        l->st = ST_E_NOMEM;
    else
        l->n++;
    st_ddoc_release(d);
    return l->st != ST_OK;
}

st_status st_views_cleanup(st_views *vs, st_db *db, st_error *err)
{
    st_alldocs_opts o;
    st_alldocs_opts_init(&o);
    o.startkey = "_design/";
    o.endkey = "_design0";
    o.inclusive_end = false;
    o.include_docs = true;
    sig_list l = {.vs = vs};
    char **files = NULL;
    size_t nfiles = 0;
    st_status st = st_db_all_docs(db, &o, NULL, collect_sig, &l, err);
    if (st == ST_OK && l.st != ST_OK)
        st = st_fail(err, l.st, "out of memory");
    if (st == ST_OK)
        st = st_vfile_list(db->store, &files, &nfiles, err);
    for (size_t i = 0; st == ST_OK && i < nfiles; i++) {
        bool keep = false;
        for (size_t j = 0; j < l.n && !keep; j++)
            keep = strcmp(files[i], l.sigs[j]) == 0;
        if (keep)
            continue;
        /* Forget an idle open copy first; one in use keeps its unlinked
         * file until it is closed. */
        char key[sizeof ((vindex *)0)->key];
        snprintf(key, sizeof key, "%s/%s", db->uuid, files[i]);
        vindex *gone = NULL;
        pthread_mutex_lock(&vs->mu);
        for (vindex **p = &vs->list; *p; p = &(*p)->next) {
            if (strcmp((*p)->key, key) == 0 && (*p)->refs == 0) {
                gone = *p;
                *p = gone->next;
                gone->next = NULL;
                vs->n_open--;
                break;
            }
        }
        pthread_mutex_unlock(&vs->mu);
        free_list(gone);
        st = st_vfile_remove(db->store, files[i], err);
    }
    st_store_names_free(files, nfiles);
    st_store_names_free(l.sigs, l.n);
    return st;
}

st_status st_view_compact(st_views *vs, st_db *db, const char *ddoc_id, st_error *err)
{
    st_ddoc *ddoc = NULL;
    vindex *ix = NULL;
    st_status st = get_ddoc(vs, db, ddoc_id, &ddoc, err);
    if (st == ST_OK)
        st = vindex_get(vs, db, ddoc, &ix, err);
    st_ddoc_release(ddoc);
    if (st != ST_OK)
        return st;
    pthread_mutex_lock(&ix->upd_mu);
    atomic_store(&ix->compacting, true);
    if (!ix->writer)
        st = st_vconn_open(ix->file, &ix->writer, err);
    if (st == ST_OK)
        st = st_vconn_vacuum(ix->writer, err);
    atomic_store(&ix->compacting, false);
    pthread_mutex_unlock(&ix->upd_mu);
    vindex_put(ix);
    return st;
}
