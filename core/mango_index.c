/* mango_index.c — the writer keeps json indexes current.
 *
 * Every document row the writer stores (doc_write.c's apply, purges) comes
 * through st_mango_changed inside the batch's transaction: each index gets
 * the old document's entry deleted and the new one's put, unless the key
 * is the same; so an index commits, or rolls back, with the write that
 * changed it.  A write of a design document compares the indexes it now
 * defines with those stored for it: an index that is gone (or whose
 * definition changed) is dropped with its entries, a new one is built over
 * every document there and then, in the same transaction.
 *
 * The index set is cached per database for the writer thread.  The cache
 * is tagged with the generation it was read at (st_counters.index_gen,
 * read at every BEGIN); any change of the indexes, by this process or
 * another, stores a new random generation, so a writer whose tag differs
 * reloads before it writes anything.  A rolled-back batch leaves a cache
 * tagged with a generation that was never committed: it differs from the
 * stored one and is reloaded too.
 *
 * Keys depend on ICU's collator: the version that built the entries is
 * kept in meta ("mango_collator"); after an ICU upgrade the first batch
 * rebuilds every index.
 *
 * Cost for a database without indexes or subscriptions: st_mango_wants,
 * a pointer test and a prefix compare per write.
 */
#include "follow_int.h"
#include "mango_int.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

typedef struct mango_state {
    uint64_t gen;           /* index_gen the set was read at */
    mango_idx *v;
    size_t n, cap;
    st_buf old_key, new_key;
} mango_state;

static bool is_ddoc(const char *id) { return strncmp(id, "_design/", 8) == 0; }

bool st_mango_wants(st_db *db, const char *id)
{
    return (db->mango && db->mango->n > 0) || st_subs_active(db) || is_ddoc(id);
}

static void set_clear(mango_state *m)
{
    for (size_t i = 0; i < m->n; i++)
        st_mango_idx_clear(&m->v[i]);
    m->n = 0;
}

void st_mango_db_free(st_db *db)
{
    mango_state *m = db->mango;
    st_subs_db_free(db);
    if (!m)
        return;
    set_clear(m);
    free(m->v);
    st_buf_free(&m->old_key);
    st_buf_free(&m->new_key);
    free(m);
    db->mango = NULL;
}

static mango_state *state(st_db *db, st_error *err)
{
    if (!db->mango && !(db->mango = calloc(1, sizeof *db->mango)))
        st_fail(err, ST_E_NOMEM, "out of memory");
    return db->mango;
}

static st_status set_add(mango_state *m, mango_idx *x, st_error *err)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        mango_idx *v = realloc(m->v, cap * sizeof *v);
        if (!v) {
            st_mango_idx_clear(x);
            return st_fail(err, ST_E_NOMEM, "out of memory");
        }
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = *x;
    memset(x, 0, sizeof *x);
    return ST_OK;
}

static uint64_t new_gen(void)
{
    uint64_t g = 0;
    while (g == 0 && RAND_bytes((unsigned char *)&g, sizeof g) == 1)
        ;
    return g ? g : (uint64_t)st_db_now_ms() | 1;
}

/* ---- building ------------------------------------------------------------- */

/* Entries are collected a run at a time, sorted, and inserted in key
 * order: b-tree inserts in order touch each page once, where the same
 * inserts in document order land all over the index (three times slower
 * at 100,000 documents). */
#define BUILD_RUN 65536

typedef struct entry {
    char *key;              /* into the run's arena */
    size_t len;
    const char *id;         /* likewise */
} entry;

typedef struct build {
    st_conn *c;
    const mango_idx *x;
    st_buf key;
    entry *run;
    size_t n;
    st_buf arena;           /* keys and ids of the run */
    st_status st;
    st_error *err;
} build;

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return strcmp(x->id, y->id);
}

static st_status flush(build *b)
{
    /* The arena may have moved while it grew: entries hold offsets until now. */
    for (size_t i = 0; i < b->n; i++) {
        b->run[i].key = b->arena.data + (size_t)(uintptr_t)b->run[i].key;
        b->run[i].id = b->arena.data + (size_t)(uintptr_t)b->run[i].id;
    }
    qsort(b->run, b->n, sizeof *b->run, cmp_entry);
    st_status st = ST_OK;
    for (size_t i = 0; i < b->n && st == ST_OK; i++)
        st = st_store_index_put(b->c, b->x->ix, b->run[i].key, b->run[i].len, b->run[i].id,
                                b->err);
    b->n = 0;
    st_buf_reset(&b->arena);
    return st;
}

static int build_row(void *ctx, const st_row_view *row)
{
    build *b = ctx;
    if (row->deleted || is_ddoc(row->id))
        return 0;
    char rev[ST_REV_STR_MAX];
    mango_doc d;
    bool has = false;
    b->st = b->x->needs_rev ? st_mango_winner_rev(row->tree, row->tree_len, rev, b->err) : ST_OK;
    if (b->st == ST_OK)
        b->st = st_mango_doc_make(&d, row->id, b->x->needs_rev ? rev : NULL, false, row->body,
                                  row->body_len, b->err);
    if (b->st != ST_OK)
        return 1;
    b->st = st_mango_idx_entry(b->x, &d.root, &b->key, &has);
    st_mango_doc_free(&d);
    if (b->st != ST_OK) {
        st_fail(b->err, b->st, "cannot index %s", row->id);
        return 1;
    }
    if (!has)
        return 0;
    size_t at = b->arena.len;
    if ((b->st = st_buf_add(&b->arena, b->key.data, b->key.len)) != ST_OK ||
        (b->st = st_buf_add(&b->arena, row->id, strlen(row->id) + 1)) != ST_OK) {
        st_fail(b->err, b->st, "out of memory");
        return 1;
    }
    b->run[b->n++] = (entry){(char *)(uintptr_t)at, b->key.len,
                             (const char *)(uintptr_t)(at + b->key.len)};
    if (b->n == BUILD_RUN && (b->st = flush(b)) != ST_OK)
        return 1;
    return 0;
}

/* Store x's definition and an entry for every document that belongs. */
static st_status build_index(st_db *db, mango_idx *x, st_error *err)
{
    st_conn *c = db->writer;
    st_status st = st_store_index_def_add(c, x->def.ddoc, x->def.name, x->def.def, &x->ix, err);
    if (st != ST_OK)
        return st;
    build b = {c, x, ST_BUF_INIT, NULL, 0, ST_BUF_INIT, ST_OK, err};
    if (!(b.run = malloc(BUILD_RUN * sizeof *b.run)))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st = st_store_scan_seq(c, 0, false, true, build_row, &b, err);
    if (st == ST_OK && b.st == ST_OK)
        b.st = flush(&b);
    free(b.run);
    st_buf_free(&b.key);
    st_buf_free(&b.arena);
    return st != ST_OK ? st : b.st;
}

static st_status note_collator(st_db *db, st_error *err)
{
    char ver[64];
    st_collate_version(ver, sizeof ver);
    return st_store_meta_set(db->writer, "mango_collator", ver, strlen(ver), err);
}

/* ---- loading -------------------------------------------------------------- */

typedef struct loading {
    mango_state *m;
    st_status st;
    st_error *err;
} loading;

static int load_def(void *ctx, int64_t ix, const char *ddoc, const char *name, const char *def)
{
    loading *l = ctx;
    mango_idx x;
    l->st = st_mango_idx_load(ix, ddoc, name, def, &x, l->err);
    if (l->st == ST_OK)
        l->st = set_add(l->m, &x, l->err);
    return l->st != ST_OK;
}

/* Every index again, its entries made with the collator of today. */
static st_status rebuild_all(st_db *db, mango_state *m, st_error *err)
{
    st_status st = ST_OK;
    for (size_t i = 0; i < m->n && st == ST_OK; i++) {
        st = st_store_index_def_drop(db->writer, m->v[i].ix, err);
        if (st == ST_OK)
            st = build_index(db, &m->v[i], err);
    }
    if (st == ST_OK)
        st = note_collator(db, err);
    if (st == ST_OK) {
        db->ctr.index_gen = new_gen();
        m->gen = db->ctr.index_gen;
    }
    return st;
}

static st_status reload(st_db *db, st_error *err)
{
    mango_state *m = state(db, err);
    if (!m)
        return ST_E_NOMEM;
    set_clear(m);
    m->gen = 0;
    loading l = {m, ST_OK, err};
    st_status st = st_store_index_defs(db->writer, load_def, &l, err);
    if (st == ST_OK)
        st = l.st;
    if (st != ST_OK) {
        set_clear(m);
        return st;
    }
    m->gen = db->ctr.index_gen;
    if (m->n == 0)
        return ST_OK;
    char ver[64];
    st_buf stored = ST_BUF_INIT;
    st_collate_version(ver, sizeof ver);
    st = st_store_meta_get(db->writer, "mango_collator", &stored, err);
    bool same = st == ST_OK && strcmp(stored.data ? stored.data : "", ver) == 0;
    st_buf_free(&stored);
    if (st != ST_OK && st != ST_E_NOT_FOUND)
        return st;
    return same ? ST_OK : rebuild_all(db, m, err);
}

st_status st_mango_batch_begin(st_db *db, st_error *err)
{
    st_subs_batch_begin(db);
    uint64_t have = db->mango ? db->mango->gen : 0;
    if (db->ctr.index_gen == have)
        return ST_OK;
    st_status st = reload(db, err);
    if (st != ST_OK && db->mango)
        db->mango->gen = 0; /* try again at the next batch */
    return st;
}

/* ---- design documents ------------------------------------------------------- */

static bool same_def(const mango_idx *x, const st_mango_index *d)
{
    return strcmp(x->def.name, d->name) == 0 && strcmp(x->def.def, d->def) == 0;
}

/* A design document changed: make the stored indexes of it what it now
 * defines. */
static st_status ddoc_changed(st_db *db, mango_lazy *l, st_error *err)
{
    const mango_change *ch = l->ch;
    mango_state *m = state(db, err);
    if (!m)
        return ST_E_NOMEM;
    st_mango_index *defs = NULL;
    size_t nd = 0;
    st_status st = ST_OK;
    if (ch->new_exists && !ch->new_deleted) {
        const st_json *doc = st_mango_lazy_new(l, err);
        if (!doc)
            return l->st ? l->st : ST_E_NOMEM;
        st = st_mango_ddoc_indexes(ch->id, doc, &defs, &nd, err);
        if (st != ST_OK)
            return st;
    }
    bool changed = false;
    for (size_t i = 0; i < m->n && st == ST_OK;) {
        mango_idx *x = &m->v[i];
        bool keep = strcmp(x->def.ddoc, ch->id) != 0;
        for (size_t k = 0; !keep && k < nd; k++)
            keep = same_def(x, &defs[k]);
        if (keep) {
            i++;
            continue;
        }
        st = st_store_index_def_drop(db->writer, x->ix, err);
        st_mango_idx_clear(x);
        m->v[i] = m->v[--m->n];
        changed = true;
    }
    for (size_t k = 0; k < nd && st == ST_OK; k++) {
        bool have = false;
        for (size_t i = 0; i < m->n && !have; i++)
            have = strcmp(m->v[i].def.ddoc, ch->id) == 0 && same_def(&m->v[i], &defs[k]);
        if (have)
            continue;
        mango_idx x;
        if ((st = st_mango_idx_from(&defs[k], &x, err)) != ST_OK)
            break;
        if ((st = build_index(db, &x, err)) == ST_OK)
            st = set_add(m, &x, err);
        else
            st_mango_idx_clear(&x);
        changed = true;
    }
    st_mango_indexes_free(defs, nd);
    if (st == ST_OK && changed) {
        if (m->n > 0)
            st = note_collator(db, err);
        db->ctr.index_gen = new_gen();
        m->gen = db->ctr.index_gen;
    }
    return st;
}

/* ---- document changes --------------------------------------------------------- */

static st_status update_entries(st_db *db, mango_lazy *l, st_error *err)
{
    const mango_change *ch = l->ch;
    mango_state *m = db->mango;
    bool old_live = ch->old_exists && !ch->old_deleted;
    bool new_live = ch->new_exists && !ch->new_deleted;
    const st_json *od = old_live ? st_mango_lazy_old(l, err) : NULL;
    const st_json *nd = new_live ? st_mango_lazy_new(l, err) : NULL;
    if (l->st != ST_OK)
        return l->st;
    st_status st = ST_OK;
    for (size_t i = 0; i < m->n && st == ST_OK; i++) {
        const mango_idx *x = &m->v[i];
        bool had = false, has = false;
        if (od && (st = st_mango_idx_entry(x, od, &m->old_key, &had)) != ST_OK)
            break;
        if (nd && (st = st_mango_idx_entry(x, nd, &m->new_key, &has)) != ST_OK)
            break;
        if (had && has && m->old_key.len == m->new_key.len &&
            memcmp(m->old_key.data, m->new_key.data, m->old_key.len) == 0)
            continue; /* the indexed fields did not change */
        if (had)
            st = st_store_index_del(db->writer, x->ix, m->old_key.data, m->old_key.len, ch->id,
                                    err);
        if (st == ST_OK && has)
            st = st_store_index_put(db->writer, x->ix, m->new_key.data, m->new_key.len, ch->id,
                                    err);
    }
    if (st != ST_OK && err && err->code == ST_OK)
        st_fail(err, st, "cannot index %s", ch->id);
    return st;
}

st_status st_mango_changed(st_db *db, const mango_change *ch, st_error *err)
{
    mango_lazy l = {.ch = ch};
    st_status st = ST_OK;
    if (is_ddoc(ch->id))
        st = ddoc_changed(db, &l, err);
    else if (db->mango && db->mango->n > 0)
        st = update_entries(db, &l, err);
    if (st == ST_OK && st_subs_active(db))
        st = st_subs_test(db, &l, err);
    st_mango_lazy_free(&l);
    /* The row is written already: any failure here must fail the whole
     * job (whose batch then rolls back), never just this document. */
    if (st != ST_OK && st != ST_E_NOMEM && st != ST_E_IO && st != ST_E_DISK_FULL &&
        st != ST_E_BUSY)
        st = st_fail(err, ST_E_IO, "indexing %s failed: %s", ch->id, err ? err->reason : "");
    return st;
}
