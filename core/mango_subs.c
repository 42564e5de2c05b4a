/* mango_subs.c — selector subscriptions: which followers a write can
 * matter to, decided by the writer as it writes.
 *
 * Why the writer tests, not the readers: 10,000 feeds each following their
 * own selector would otherwise each read and match every committed row
 * (CouchDB runs every filter for every change and every listener).  The
 * writer has the document in hand, parsed once for all subscriptions, and
 * looks up only the subscriptions that can match it: each is filed under
 * one field its selector pins with $eq (under that value's sort key, in a
 * hash table), or, when it pins none, on a short list tested every time.
 * A write for owner "user42" finds the one subscription filed under
 * ("owner", "user42") and runs one selector.  The matches are kept with
 * the batch and published at commit into each subscription's queue of
 * (seq, removed) rows, which its follower reads (follow_sel.c).
 *
 * Removals (opt-in): a subscription that asked for them is also tested
 * against the document before the write; matched before and not after
 * means a "removed" row.
 *
 * Registration against a running batch: a batch remembers the
 * registration count at its BEGIN and tests only older subscriptions; a
 * younger one is told at that batch's commit that everything up to it
 * must be read from storage (its live_from), so no row is missed nor
 * delivered twice.  A queue that overflows (a reader that does not read)
 * is dropped the same way, and so is everything when another process
 * commits (its rows were never tested here).
 *
 * Locks: subs->mu guards the index, the slots and registration; the
 * writer holds it while it tests one document.  Queues, live_from, the
 * wake chain and upto are under db->fol_mu, taken inside subs->mu.
 */
#include "follow_int.h"
#include "mango_int.h"

#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX 1024          /* rows a subscription keeps for a slow reader */
#define PATH_NEVER (-2)         /* the selector contradicts itself */
#define PATH_NONE (-1)          /* no $eq field: tested against every write */

struct st_sub {
    st_follower *fol;
    const st_selector *sel;
    uint64_t id;                /* unique per database, never reused */
    size_t slot;
    bool removed;               /* reports removals */
    uint64_t reg_gen;
    /* filing (subs->mu) */
    int path;                   /* index into subs->paths, or PATH_* */
    st_buf key;                 /* the $eq value's sort key */
    uint64_t hash;
    st_sub *fnext, *fprev;      /* bucket chain, or the unindexed list */
    st_sub *ynext;              /* young list */
    bool young;
    uint64_t mark;              /* writer: matched the new document of test `mark` */
    /* db->fol_mu */
    sub_entry *q;
    size_t qn, qcap;
    uint64_t live_from;         /* rows up to here come from storage */
    bool chained;               /* on subs->wake */
    st_sub *wnext;
    st_sub *anext, *aprev;      /* subs->all */
};

typedef struct sub_path {
    char *text;
    mango_path p;
    unsigned refs;
} sub_path;

typedef struct sub_hit {
    size_t slot;
    uint64_t id;
    uint64_t seq;
    bool removed;
} sub_hit;

typedef struct st_subs {
    pthread_mutex_t mu;
    atomic_uint n;              /* subscriptions (st_subs_active) */
    _Atomic uint64_t gen;       /* registrations so far */
    unsigned n_removal;
    uint64_t next_id;
    st_sub **slots;
    size_t n_slots, cap_slots;
    st_sub **buckets;
    size_t n_buckets, n_filed;
    sub_path *paths;
    size_t n_paths;
    st_sub *unindexed;
    st_sub *young;
    /* writer thread only */
    uint64_t batch_gen;
    uint64_t mark;
    sub_hit *hits;
    size_t n_hits, cap_hits;
    st_buf key;
    /* db->fol_mu */
    uint64_t upto;              /* commits tested through here */
    st_sub *wake;
    st_sub *all;
} st_subs;

static st_subs *subs_of(st_db *db) { return atomic_load(&db->subs); }

bool st_subs_active(st_db *db)
{
    st_subs *s = subs_of(db);
    return s && atomic_load(&s->n) > 0;
}

static st_subs *subs_make(st_db *db)
{
    st_subs *s = subs_of(db);
    if (s)
        return s;
    if (!(s = calloc(1, sizeof *s)))
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->upto = atomic_load(&db->committed_seq);
    st_subs *none = NULL;
    if (!atomic_compare_exchange_strong(&db->subs, &none, s)) {
        pthread_mutex_destroy(&s->mu); /* another thread made it first */
        free(s);
        return none;
    }
    return s;
}

void st_subs_db_free(st_db *db)
{
    st_subs *s = subs_of(db);
    if (!s)
        return;
    for (size_t i = 0; i < s->n_paths; i++) {
        free(s->paths[i].text);
        st_mango_path_free(&s->paths[i].p);
    }
    free(s->paths);
    free(s->slots);
    free(s->buckets);
    free(s->hits);
    st_buf_free(&s->key);
    pthread_mutex_destroy(&s->mu);
    free(s);
    atomic_store(&db->subs, NULL);
}

/* ---- the index (subs->mu) ------------------------------------------------------ */

static uint64_t hash_key(int path, const char *k, size_t n)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)(unsigned)path; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211u;
    return h;
}

static void list_push(st_sub **head, st_sub *x)
{
    x->fprev = NULL;
    x->fnext = *head;
    if (*head)
        (*head)->fprev = x;
    *head = x;
}

static void list_cut(st_sub **head, st_sub *x)
{
    if (x->fprev)
        x->fprev->fnext = x->fnext;
    else
        *head = x->fnext;
    if (x->fnext)
        x->fnext->fprev = x->fprev;
    x->fnext = x->fprev = NULL;
}

static st_sub **bucket(st_subs *s, uint64_t h) { return &s->buckets[h & (s->n_buckets - 1)]; }

/* Keep chains short: double the table past two subscriptions a bucket. */
static bool buckets_grow(st_subs *s)
{
    if (s->n_buckets && s->n_filed < s->n_buckets * 2)
        return true;
    size_t n = s->n_buckets ? s->n_buckets * 2 : 256;
    st_sub **b = calloc(n, sizeof *b);
    if (!b)
        return false;
    st_sub **old = s->buckets;
    size_t old_n = s->n_buckets;
    s->buckets = b;
    s->n_buckets = n;
    for (size_t i = 0; i < old_n; i++)
        for (st_sub *x = old[i], *next; x; x = next) {
            next = x->fnext;
            list_push(bucket(s, x->hash), x);
        }
    free(old);
    return true;
}

static int path_ref(st_subs *s, const char *text, st_error *err)
{
    int free_i = -1;
    for (size_t i = 0; i < s->n_paths; i++) {
        if (s->paths[i].refs && strcmp(s->paths[i].text, text) == 0) {
            s->paths[i].refs++;
            return (int)i;
        }
        if (!s->paths[i].refs && free_i < 0)
            free_i = (int)i;
    }
    if (free_i < 0) {
        sub_path *v = realloc(s->paths, (s->n_paths + 1) * sizeof *v);
        if (!v) {
            st_fail(err, ST_E_NOMEM, "out of memory");
            return -1;
        }
        s->paths = v;
        free_i = (int)s->n_paths++;
        memset(&s->paths[free_i], 0, sizeof s->paths[free_i]);
    }
    sub_path *p = &s->paths[free_i];
    free(p->text);
    st_mango_path_free(&p->p);
    if (!(p->text = strdup(text)) || st_mango_path_parse(text, &p->p, err) != ST_OK) {
        free(p->text);
        p->text = NULL;
        st_fail(err, ST_E_NOMEM, "out of memory");
        return -1;
    }
    p->refs = 1;
    return free_i;
}

/* File x: under its first pinned field, else on the unindexed list. */
static st_status file(st_subs *s, st_sub *x, st_error *err)
{
    size_t n = 0;
    const st_selector_field *f = st_selector_fields(x->sel, &n);
    const st_selector_field *pin = NULL;
    for (size_t i = 0; i < n; i++) {
        if (f[i].empty) {
            x->path = PATH_NEVER;
            return ST_OK;
        }
        if (!pin && f[i].eq)
            pin = &f[i];
    }
    if (!pin) {
        x->path = PATH_NONE;
        list_push(&s->unindexed, x);
        return ST_OK;
    }
    st_status st = st_collate_key(pin->eq, pin->raw ? ST_COLLATE_RAW : ST_COLLATE_ICU, &x->key);
    if (st != ST_OK || !buckets_grow(s))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if ((x->path = path_ref(s, pin->path, err)) < 0)
        return ST_E_NOMEM;
    x->hash = hash_key(x->path, x->key.data, x->key.len);
    list_push(bucket(s, x->hash), x);
    s->n_filed++;
    return ST_OK;
}

static void unfile(st_subs *s, st_sub *x)
{
    if (x->path == PATH_NONE) {
        list_cut(&s->unindexed, x);
    } else if (x->path >= 0) {
        list_cut(bucket(s, x->hash), x);
        s->paths[x->path].refs--;
        s->n_filed--;
    }
    x->path = PATH_NEVER;
}

/* ---- registration ------------------------------------------------------------ */

static bool slot_take(st_subs *s, st_sub *x)
{
    for (size_t i = 0; i < s->n_slots; i++)
        if (!s->slots[i]) {
            s->slots[i] = x;
            x->slot = i;
            return true;
        }
    if (s->n_slots == s->cap_slots) {
        size_t cap = s->cap_slots ? s->cap_slots * 2 : 64;
        st_sub **v = realloc(s->slots, cap * sizeof *v);
        if (!v)
            return false;
        s->slots = v;
        s->cap_slots = cap;
    }
    x->slot = s->n_slots;
    s->slots[s->n_slots++] = x;
    return true;
}

st_status st_subs_add(st_follower *f, const st_selector *sel, bool removed, st_error *err)
{
    st_db *db = f->db;
    st_subs *s = subs_make(db);
    st_sub *x = s ? calloc(1, sizeof *x) : NULL;
    if (!x)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    x->fol = f;
    x->sel = sel;
    x->removed = removed;
    st_buf_init(&x->key, 0);
    pthread_mutex_lock(&s->mu);
    st_status st = slot_take(s, x) ? file(s, x, err) : st_fail(err, ST_E_NOMEM, "out of memory");
    if (st != ST_OK) {
        if (s->slots && x->slot < s->n_slots && s->slots[x->slot] == x)
            s->slots[x->slot] = NULL;
        pthread_mutex_unlock(&s->mu);
        st_buf_free(&x->key);
        free(x);
        return st;
    }
    x->id = ++s->next_id;
    x->reg_gen = atomic_fetch_add(&s->gen, 1) + 1;
    x->young = true;
    x->ynext = s->young;
    s->young = x;
    s->n_removal += removed;
    pthread_mutex_lock(&db->fol_mu);
    x->live_from = atomic_load(&db->committed_seq);
    x->anext = s->all;
    if (s->all)
        s->all->aprev = x;
    s->all = x;
    f->sub = x;
    pthread_mutex_unlock(&db->fol_mu);
    atomic_fetch_add(&s->n, 1);
    pthread_mutex_unlock(&s->mu);
    return ST_OK;
}

/* fol_mu held: take x off the wake chain. */
static void unchain(st_subs *s, st_sub *x)
{
    if (!x->chained)
        return;
    for (st_sub **p = &s->wake; *p; p = &(*p)->wnext)
        if (*p == x) {
            *p = x->wnext;
            break;
        }
    x->chained = false;
}

void st_subs_rewind(st_follower *f)
{
    pthread_mutex_lock(&f->db->fol_mu);
    if (f->sub && f->sub->live_from < f->since)
        f->sub->live_from = f->since;
    pthread_mutex_unlock(&f->db->fol_mu);
}

void st_subs_storage_until(st_follower *f, uint64_t seq)
{
    pthread_mutex_lock(&f->db->fol_mu);
    if (f->sub && f->sub->live_from < seq)
        f->sub->live_from = seq;
    pthread_mutex_unlock(&f->db->fol_mu);
}

void st_subs_unarm(st_follower *f)
{
    st_subs *s = subs_of(f->db);
    f->armed = false;
    if (s && f->sub)
        unchain(s, f->sub);
}

void st_subs_remove(st_follower *f)
{
    st_sub *x = f->sub;
    st_db *db = f->db;
    st_subs *s = subs_of(db);
    if (!x || !s)
        return;
    pthread_mutex_lock(&s->mu);
    unfile(s, x);
    s->slots[x->slot] = NULL;
    if (x->young)
        for (st_sub **p = &s->young; *p; p = &(*p)->ynext)
            if (*p == x) {
                *p = x->ynext;
                break;
            }
    s->n_removal -= x->removed;
    atomic_fetch_sub(&s->n, 1);
    pthread_mutex_lock(&db->fol_mu);
    unchain(s, x);
    if (x->aprev)
        x->aprev->anext = x->anext;
    else
        s->all = x->anext;
    if (x->anext)
        x->anext->aprev = x->aprev;
    f->sub = NULL;
    pthread_mutex_unlock(&db->fol_mu);
    pthread_mutex_unlock(&s->mu);
    st_buf_free(&x->key);
    free(x->q);
    free(x);
}

const st_selector *st_subs_selector(const st_follower *f) { return f->sub->sel; }
bool st_subs_removals(const st_follower *f) { return f->sub->removed; }

/* ---- the writer -------------------------------------------------------------- */

void st_subs_batch_begin(st_db *db)
{
    st_subs *s = subs_of(db);
    if (!s)
        return;
    s->batch_gen = atomic_load(&s->gen);
    s->n_hits = 0;
}

static st_status hit(st_subs *s, st_sub *x, uint64_t seq, bool removed)
{
    if (s->n_hits == s->cap_hits) {
        size_t cap = s->cap_hits ? s->cap_hits * 2 : 64;
        sub_hit *v = realloc(s->hits, cap * sizeof *v);
        if (!v)
            return ST_E_NOMEM;
        s->hits = v;
        s->cap_hits = cap;
    }
    s->hits[s->n_hits++] = (sub_hit){x->slot, x->id, seq, removed};
    return ST_OK;
}

typedef struct tester {
    st_subs *s;
    const st_json *doc;
    uint64_t seq;
    bool old;               /* testing the document before the write */
    st_status st;
} tester;

static void test_one(tester *t, st_sub *x)
{
    bool m = false;
    if (t->st != ST_OK || x->reg_gen > t->s->batch_gen)
        return; /* registered during this batch: told at its commit */
    if (t->old && (!x->removed || x->mark == t->s->mark))
        return; /* removals only, and only for what the new one did not match */
    if ((t->st = st_selector_match(x->sel, t->doc, &m)) != ST_OK || !m)
        return;
    if (!t->old)
        x->mark = t->s->mark;
    t->st = hit(t->s, x, t->seq, t->old);
}

/* Every subscription that can match t->doc: the ones filed under a value
 * it has, and the unindexed ones. */
static void candidates(tester *t)
{
    st_subs *s = t->s;
    for (size_t i = 0; i < s->n_paths && t->st == ST_OK; i++) {
        if (!s->paths[i].refs)
            continue;
        const st_json *v = st_mango_path_get(&s->paths[i].p, t->doc);
        if (!v)
            continue;
        st_buf_reset(&s->key);
        mango_path *p = &s->paths[i].p;
        if ((t->st = st_collate_key(v, p->raw ? ST_COLLATE_RAW : ST_COLLATE_ICU, &s->key)) !=
            ST_OK)
            return;
        uint64_t h = hash_key((int)i, s->key.data, s->key.len);
        for (st_sub *x = *bucket(s, h); x && t->st == ST_OK; x = x->fnext)
            if (x->path == (int)i && x->hash == h && x->key.len == s->key.len &&
                memcmp(x->key.data, s->key.data, s->key.len) == 0)
                test_one(t, x);
    }
    for (st_sub *x = s->unindexed; x && t->st == ST_OK; x = x->fnext)
        test_one(t, x);
}

st_status st_subs_test(st_db *db, mango_lazy *l, st_error *err)
{
    st_subs *s = subs_of(db);
    const mango_change *ch = l->ch;
    if (!s || !ch->new_exists)
        return ST_OK; /* a document purged away has no row to tell about */
    const st_json *nd = st_mango_lazy_new(l, err);
    if (!nd)
        return l->st ? l->st : ST_E_NOMEM;
    pthread_mutex_lock(&s->mu);
    s->mark++;
    tester t = {s, nd, ch->seq, false, ST_OK};
    candidates(&t);
    if (t.st == ST_OK && s->n_removal > 0 && ch->old_exists) {
        const st_json *od = st_mango_lazy_old(l, err);
        if (!od) {
            t.st = l->st ? l->st : ST_E_NOMEM;
        } else {
            t.doc = od;
            t.old = true;
            candidates(&t);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return t.st == ST_OK ? ST_OK : st_fail(err, t.st, "out of memory");
}

/* ---- publishing (fol_mu held) ---------------------------------------------------- */

static void wake_one(st_subs *s, st_sub *x)
{
    if (!x->fol->armed || x->chained)
        return;
    x->fol->armed = false;
    x->chained = true;
    x->wnext = s->wake;
    s->wake = x;
}

static void push(st_subs *s, st_sub *x, uint64_t seq, bool removed)
{
    if (x->qn == x->qcap && x->qcap < QUEUE_MAX) {
        size_t cap = x->qcap ? x->qcap * 2 : 8;
        sub_entry *v = realloc(x->q, cap * sizeof *v);
        if (v) {
            x->q = v;
            x->qcap = cap;
        }
    }
    if (x->qn == x->qcap) {
        /* A reader this far behind reads storage instead. */
        x->qn = 0;
        x->live_from = seq;
    } else {
        x->q[x->qn++] = (sub_entry){seq, removed};
    }
    wake_one(s, x);
}

void st_subs_publish(st_db *db, uint64_t seq)
{
    st_subs *s = subs_of(db);
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    pthread_mutex_lock(&db->fol_mu);
    for (st_sub *x = s->young; x; x = x->ynext) {
        x->young = false;
        if (x->reg_gen > s->batch_gen && x->live_from < seq) {
            x->live_from = seq;
            wake_one(s, x);
        }
    }
    s->young = NULL;
    for (size_t i = 0; i < s->n_hits; i++) {
        const sub_hit *h = &s->hits[i];
        st_sub *x = h->slot < s->n_slots ? s->slots[h->slot] : NULL;
        if (x && x->id == h->id)
            push(s, x, h->seq, h->removed);
    }
    s->n_hits = 0;
    if (seq > s->upto)
        s->upto = seq;
    pthread_mutex_unlock(&db->fol_mu);
    pthread_mutex_unlock(&s->mu);
}

void st_subs_external(st_db *db, uint64_t seq)
{
    st_subs *s = subs_of(db);
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    pthread_mutex_lock(&db->fol_mu);
    for (st_sub *x = s->all; x; x = x->anext) {
        x->qn = 0;
        if (x->live_from < seq)
            x->live_from = seq;
        wake_one(s, x);
    }
    if (seq > s->upto)
        s->upto = seq;
    pthread_mutex_unlock(&db->fol_mu);
    pthread_mutex_unlock(&s->mu);
}

st_follower *st_subs_wake_chain(st_db *db, st_follower *chain, bool all)
{
    st_subs *s = subs_of(db);
    if (!s)
        return chain;
    if (all)
        for (st_sub *x = s->all; x; x = x->anext)
            wake_one(s, x);
    for (st_sub *x = s->wake, *next; x; x = next) {
        next = x->wnext;
        x->chained = false;
        x->fol->waking = true;
        x->fol->wnext = chain;
        chain = x->fol;
    }
    s->wake = NULL;
    return chain;
}

/* ---- reading (fol_mu) ----------------------------------------------------------- */

bool st_subs_pending(const st_follower *f)
{
    const st_sub *x = f->sub;
    return f->since < x->live_from || (x->qn > 0 && x->q[x->qn - 1].seq > f->since);
}

st_status st_subs_take(st_follower *f, size_t max, sub_take *out)
{
    st_db *db = f->db;
    st_subs *s = subs_of(db);
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&db->fol_mu);
    st_sub *x = f->sub;
    if (f->since < x->live_from) {
        out->storage = true;
        pthread_mutex_unlock(&db->fol_mu);
        return ST_OK;
    }
    size_t drop = 0;
    while (drop < x->qn && x->q[drop].seq <= f->since)
        drop++;
    if (drop) {
        memmove(x->q, x->q + drop, (x->qn - drop) * sizeof *x->q);
        x->qn -= drop;
    }
    size_t n = x->qn < max ? x->qn : max;
    st_status st = ST_OK;
    if (n && !(out->v = malloc(n * sizeof *out->v)))
        st = ST_E_NOMEM;
    if (st == ST_OK) {
        if (n)
            memcpy(out->v, x->q, n * sizeof *out->v);
        out->n = n;
        out->upto = n < x->qn ? out->v[n - 1].seq : s->upto;
        if (out->upto < f->since)
            out->upto = f->since;
    }
    pthread_mutex_unlock(&db->fol_mu);
    return st;
}
