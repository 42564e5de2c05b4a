/* test_livequery.c — live queries through settee.h.
 *
 * The app's copy of a result is modelled here exactly as the header tells
 * an app to keep it: the initial call's documents, then each change applied
 * in order at its positions, each position checked against the copy (a
 * REMOVED or CHANGED must name the document that is at old_pos).  After
 * every write the copy must become, and stay, what settee_find answers for
 * the same query: same documents, same order, same JSON.
 *
 * Covered: the initial result; added/changed/moved/removed with positions;
 * sort (both directions) and limit windows refilled as members leave;
 * fields and conflicts; a randomized sequence of writes, deletes, bulk
 * commits, new_edits=false conflicting revisions (which change winners and
 * bring deleted documents back) with a fixed seed that is logged
 * (SETTEE_TEST_SEED=n repeats one); a replication from a second database
 * through the real `settee serve`, whose _find then answers each query as
 * settee_find does; bad queries; removal from inside the
 * callback (also during the initial delivery) and from another thread
 * while callbacks run; the database pinned while a live query lives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>

#include "client/client_testutil.h"

#define MAXROWS 512

/* ---- the app's copy of a result -------------------------------------------------- */

typedef struct row {
    char *id;
    char *json;
} row;

typedef struct copy {
    pthread_mutex_t mu;
    row rows[MAXROWS];
    size_t n;
    size_t calls;            /* callback calls */
    size_t changes;          /* changes applied after the initial call */
    bool bad;                /* a change that does not fit the copy */
    char why[256];
    settee_listener *tok;    /* set to remove itself ... */
    size_t remove_at_call;   /* ... in this call (1: the initial one) */
    unsigned sleep_ms;       /* a slow callback */
} copy;

static void copy_init(copy *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

static void copy_free(copy *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->rows[i].id);
        free(c->rows[i].json);
    }
    c->n = 0;
    pthread_mutex_destroy(&c->mu);
}

static void fail_copy(copy *c, const char *what, const settee_live_change *ch)
{
    if (!c->bad)
        snprintf(c->why, sizeof c->why, "%s: op %d id %s old %zu new %zu (n %zu)", what,
                 (int)ch->op, ch->id, ch->old_pos, ch->new_pos, c->n);
    c->bad = true;
}

static void row_insert(copy *c, size_t at, const settee_live_change *ch)
{
    memmove(&c->rows[at + 1], &c->rows[at], (c->n - at) * sizeof c->rows[0]);
    c->rows[at].id = strdup(ch->id);
    c->rows[at].json = strndup(ch->json, ch->json_len);
    c->n++;
}

static void row_delete(copy *c, size_t at)
{
    free(c->rows[at].id);
    free(c->rows[at].json);
    memmove(&c->rows[at], &c->rows[at + 1], (c->n - at - 1) * sizeof c->rows[0]);
    c->n--;
}

static void apply_one(copy *c, const settee_live_change *ch)
{
    bool has_json = ch->json && strlen(ch->json) == ch->json_len;
    switch (ch->op) {
    case SETTEE_LIVE_ADDED:
        if (ch->old_pos != SETTEE_LIVE_NO_POS || ch->new_pos > c->n || c->n == MAXROWS ||
            !has_json)
            return fail_copy(c, "bad ADDED", ch);
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->rows[i].id, ch->id) == 0)
                return fail_copy(c, "ADDED twice", ch);
        row_insert(c, ch->new_pos, ch);
        return;
    case SETTEE_LIVE_CHANGED:
        if (ch->old_pos >= c->n || strcmp(c->rows[ch->old_pos].id, ch->id) != 0 ||
            ch->new_pos >= c->n || !has_json)
            return fail_copy(c, "bad CHANGED", ch);
        row_delete(c, ch->old_pos);
        row_insert(c, ch->new_pos, ch);
        return;
    case SETTEE_LIVE_REMOVED:
        if (ch->old_pos >= c->n || strcmp(c->rows[ch->old_pos].id, ch->id) != 0 ||
            ch->new_pos != SETTEE_LIVE_NO_POS || ch->json)
            return fail_copy(c, "bad REMOVED", ch);
        row_delete(c, ch->old_pos);
        return;
    }
    fail_copy(c, "unknown op", ch);
}

static void on_live(void *ctx, settee_db *db, const settee_live_change *ch, size_t n)
{
    copy *c = ctx;
    (void)db;
    if (c->sleep_ms)
        ct_sleep_ms(c->sleep_ms);
    pthread_mutex_lock(&c->mu);
    c->calls++;
    if (c->calls > 1 && n == 0)
        fail_copy(c, "empty call after the initial one", &(settee_live_change){0});
    for (size_t i = 0; i < n; i++) {
        if (c->calls == 1 && (ch[i].op != SETTEE_LIVE_ADDED || ch[i].new_pos != i))
            fail_copy(c, "initial call not ADDED 0, 1, ...", &ch[i]);
        apply_one(c, &ch[i]);
    }
    if (c->calls > 1)
        c->changes += n;
    bool remove_now = c->tok && c->calls == c->remove_at_call;
    pthread_mutex_unlock(&c->mu);
    if (remove_now) {
        settee_listener_remove(c->tok);
        settee_listener_remove(c->tok); /* twice from inside: harmless */
    }
}

/* ---- what settee_find says ---------------------------------------------------------- */

typedef struct answer {
    row rows[MAXROWS];
    size_t n;
} answer;

static int on_found(void *ctx, const char *json, size_t len)
{
    answer *a = ctx;
    assert_true(a->n < MAXROWS);
    a->rows[a->n].json = strndup(json, len);
    a->rows[a->n].id = NULL;
    a->n++;
    return 0;
}

static void answer_free(answer *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->rows[i].json);
    a->n = 0;
}

/* query (a live query's body) as settee_find runs it: limit absent means
 * every match, which _find would cut at 25. */
static void find_all(settee_db *db, const char *query, answer *a)
{
    char q[1024];
    if (strstr(query, "\"limit\""))
        snprintf(q, sizeof q, "%s", query);
    else
        snprintf(q, sizeof q, "%.*s,\"limit\":100000}", (int)strlen(query) - 1, query);
    settee_error e;
    a->n = 0;
    settee_status rc = settee_find(db, q, SETTEE_NUL_TERMINATED, on_found, a, NULL, NULL, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "find %s: %s\n", q, e.message);
    assert_int_equal(rc, SETTEE_OK);
}

static bool copy_equals(copy *c, const answer *a)
{
    pthread_mutex_lock(&c->mu);
    bool eq = !c->bad && c->calls > 0 && c->n == a->n;
    for (size_t i = 0; eq && i < a->n; i++)
        eq = strcmp(c->rows[i].json, a->rows[i].json) == 0;
    pthread_mutex_unlock(&c->mu);
    return eq;
}

static void copy_dump(copy *c, const answer *a, const char *query)
{
    fprintf(stderr, "live query %s\n  calls %zu bad %d %s\n  live (%zu):\n", query, c->calls,
            (int)c->bad, c->why, c->n);
    for (size_t i = 0; i < c->n; i++)
        fprintf(stderr, "    %s\n", c->rows[i].json);
    fprintf(stderr, "  find (%zu):\n", a->n);
    for (size_t i = 0; i < a->n; i++)
        fprintf(stderr, "    %s\n", a->rows[i].json);
}

/* ---- fixture ---------------------------------------------------------------------- */

typedef struct fx {
    char dir[4096];
    char path[4200];
    settee_db *db;
} fx;

static settee_db *open_db(const char *path, settee_dispatch_mode mode)
{
    settee_db_options o;
    settee_db_options_init(&o);
    o.durable = false;
    o.dispatch = mode;
    settee_db *db = NULL;
    settee_error e;
    assert_int_equal(settee_db_open(path, &o, &db, &e), SETTEE_OK);
    return db;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    ct_tmpdir(f->dir, sizeof f->dir, "live");
    snprintf(f->path, sizeof f->path, "%s/live.settee", f->dir);
    f->db = open_db(f->path, SETTEE_DISPATCH_MANUAL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f->db)
        assert_int_equal(settee_db_close(f->db), SETTEE_OK);
    ct_rmdir(f->dir);
    free(f);
    return 0;
}

static void put(settee_db *db, const char *json)
{
    settee_error e;
    settee_status rc = settee_doc_put(db, json, SETTEE_NUL_TERMINATED, NULL, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "put %s: %s\n", json, e.message);
    assert_int_equal(rc, SETTEE_OK);
}

/* The winning rev of id into rev ("" when missing or deleted). */
static void winner_rev(settee_db *db, const char *id, char *rev, size_t cap)
{
    char *json = NULL;
    settee_error e;
    rev[0] = '\0';
    if (settee_doc_get(db, id, NULL, &json, &e) != SETTEE_OK)
        return;
    const char *r = strstr(json, "\"_rev\":\"");
    assert_non_null(r);
    snprintf(rev, cap, "%.*s", (int)strcspn(r + 8, "\""), r + 8);
    settee_free(json);
}

static void update(settee_db *db, const char *id, const char *fields)
{
    char rev[64], j[512];
    winner_rev(db, id, rev, sizeof rev);
    snprintf(j, sizeof j, "{\"_id\":\"%s\"%s%s%s%s}", id, rev[0] ? ",\"_rev\":\"" : "", rev,
             rev[0] ? "\"" : "", fields);
    put(db, j);
}

static void del(settee_db *db, const char *id)
{
    char rev[64];
    winner_rev(db, id, rev, sizeof rev);
    if (!rev[0])
        return;
    settee_error e;
    assert_int_equal(settee_doc_delete(db, id, rev, NULL, &e), SETTEE_OK);
}

static void index_on(settee_db *db, const char *json)
{
    settee_error e;
    settee_status rc = settee_index_create(db, json, SETTEE_NUL_TERMINATED, NULL, NULL, NULL, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "index %s: %s\n", json, e.message);
    assert_int_equal(rc, SETTEE_OK);
}

static settee_listener *start(settee_db *db, const char *query, copy *c)
{
    settee_listener *tok = NULL;
    settee_error e;
    settee_status rc = settee_live_query_start(db, query, SETTEE_NUL_TERMINATED, on_live, c,
                                               &tok, &e);
    if (rc != SETTEE_OK)
        fprintf(stderr, "live %s: %s\n", query, e.message);
    assert_int_equal(rc, SETTEE_OK);
    assert_non_null(tok);
    return tok;
}

/* Dispatch (manual db; NULL: thread mode) until every copy equals
 * settee_find's answer, bounded in time; then dump and fail otherwise. */
static void settle(settee_db *db, settee_db *manual, copy *const *cs, const char *const *qs,
                   size_t n, const char *after)
{
    answer *a = calloc(n, sizeof *a);
    for (size_t i = 0; i < n; i++)
        find_all(db, qs[i], &a[i]);
    bool eq = false;
    for (uint64_t t0 = ct_now_ms(); !eq && ct_now_ms() - t0 < 10000;) {
        if (manual)
            assert_int_equal(settee_db_dispatch(manual), SETTEE_OK);
        eq = true;
        for (size_t i = 0; i < n && eq; i++)
            eq = copy_equals(cs[i], &a[i]);
        if (!eq)
            ct_sleep_ms(1);
    }
    if (!eq) {
        fprintf(stderr, "after %s:\n", after);
        for (size_t i = 0; i < n; i++)
            if (!copy_equals(cs[i], &a[i]))
                copy_dump(cs[i], &a[i], qs[i]);
    }
    for (size_t i = 0; i < n; i++)
        answer_free(&a[i]);
    free(a);
    assert_true(eq);
}

/* ---- the tests ------------------------------------------------------------------ */

/* The initial result, then each kind of change with its positions. */
static void test_initial_then_changes(void **state)
{
    fx *f = *state;
    index_on(f->db, "{\"index\":{\"fields\":[\"n\"]}}");
    put(f->db, "{\"_id\":\"a\",\"n\":3}");
    put(f->db, "{\"_id\":\"b\",\"n\":1}");
    put(f->db, "{\"_id\":\"c\",\"n\":2}");
    put(f->db, "{\"_id\":\"x\",\"n\":-1}");
    const char *q = "{\"selector\":{\"n\":{\"$gt\":0}},\"sort\":[\"n\"],\"fields\":[\"_id\",\"n\"]}";
    copy c;
    copy_init(&c);
    settee_listener *tok = start(f->db, q, &c);
    copy *cs[] = {&c};
    settle(f->db, f->db, cs, &q, 1, "start");
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.rows[0].json, "{\"_id\":\"b\",\"n\":1}");
    assert_string_equal(c.rows[2].json, "{\"_id\":\"a\",\"n\":3}");
    /* Nothing changed: no call. */
    assert_int_equal(settee_db_dispatch(f->db), SETTEE_OK);
    assert_int_equal(c.calls, 1);
    /* A document that does not match: no call either. */
    put(f->db, "{\"_id\":\"y\",\"n\":-5}");
    ct_sleep_ms(20);
    assert_int_equal(settee_db_dispatch(f->db), SETTEE_OK);
    assert_int_equal(c.calls, 1);
    /* Added in the middle, moved to the end, removed by an edit, deleted. */
    put(f->db, "{\"_id\":\"d\",\"n\":1.5}");
    settle(f->db, f->db, cs, &q, 1, "add d");
    assert_string_equal(c.rows[1].id, "d");
    update(f->db, "b", ",\"n\":9");
    settle(f->db, f->db, cs, &q, 1, "move b");
    assert_string_equal(c.rows[3].id, "b");
    update(f->db, "c", ",\"n\":0");
    settle(f->db, f->db, cs, &q, 1, "c stops matching");
    del(f->db, "a");
    settle(f->db, f->db, cs, &q, 1, "delete a");
    assert_int_equal(c.n, 2);
    /* A change that leaves the position alone is CHANGED in place. */
    size_t before = c.changes;
    update(f->db, "d", ",\"n\":1.5,\"extra\":true");
    settle(f->db, f->db, cs, &q, 1, "d in place");
    assert_int_equal(c.changes, before + 1);
    settee_listener_remove(tok);
    put(f->db, "{\"_id\":\"e\",\"n\":4}");
    assert_int_equal(settee_db_dispatch(f->db), SETTEE_OK);
    assert_int_equal(c.n, 2); /* removed: told nothing more */
    copy_free(&c);
}

/* A sorted window of 3: members leaving are replaced from the index, in
 * order; a document entering the top pushes the last one out. */
static void test_limit_window(void **state)
{
    fx *f = *state;
    index_on(f->db, "{\"index\":{\"fields\":[\"n\"]}}");
    for (int i = 0; i < 60; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\":\"w%02d\",\"n\":%d}", i, i);
        put(f->db, j);
    }
    const char *qs[] = {
        "{\"selector\":{\"n\":{\"$gte\":0}},\"sort\":[\"n\"],\"limit\":3}",
        "{\"selector\":{\"n\":{\"$gte\":0}},\"sort\":[{\"n\":\"desc\"}],\"limit\":3}",
        "{\"selector\":{\"n\":{\"$gte\":10}},\"limit\":5}",
        "{\"selector\":{\"n\":{\"$gte\":0}},\"sort\":[\"n\"],\"limit\":0}",
    };
    copy c[4];
    copy *cs[4];
    settee_listener *tok[4];
    for (int i = 0; i < 4; i++) {
        copy_init(&c[i]);
        cs[i] = &c[i];
        tok[i] = start(f->db, qs[i], &c[i]);
    }
    settle(f->db, f->db, cs, qs, 4, "start");
    assert_int_equal(c[0].n, 3);
    assert_int_equal(c[3].n, 0);
    /* Delete more than the hidden slack holds, from both ends. */
    for (int i = 0; i < 25; i++) {
        char id[16];
        snprintf(id, sizeof id, "w%02d", i);
        del(f->db, id);
        snprintf(id, sizeof id, "w%02d", 59 - i);
        del(f->db, id);
        settle(f->db, f->db, cs, qs, 4, "delete from both ends");
    }
    /* A new first, a new last, and a member moving out of the window. */
    put(f->db, "{\"_id\":\"new-low\",\"n\":0}");
    put(f->db, "{\"_id\":\"new-high\",\"n\":1000}");
    update(f->db, "w26", ",\"n\":500");
    settle(f->db, f->db, cs, qs, 4, "enter the top");
    /* Down to fewer than the limit, then empty, then back. */
    for (int i = 25; i < 35; i++) {
        char id[16];
        snprintf(id, sizeof id, "w%02d", i);
        del(f->db, id);
    }
    del(f->db, "new-low");
    del(f->db, "new-high");
    settle(f->db, f->db, cs, qs, 4, "emptied");
    assert_int_equal(c[0].n, 0);
    put(f->db, "{\"_id\":\"again\",\"n\":7}");
    settle(f->db, f->db, cs, qs, 4, "again");
    assert_int_equal(c[0].n, 1);
    assert_int_equal(c[3].calls, 1); /* limit 0: the empty initial result only */
    for (int i = 0; i < 4; i++) {
        settee_listener_remove(tok[i]);
        copy_free(&c[i]);
    }
}

/* ---- the randomized sequence ------------------------------------------------------ */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13; /* xorshift64 */
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static uint64_t test_seed(void)
{
    const char *s = getenv("SETTEE_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    if (seed == 0)
        seed = 1;
    print_message("live query random sequence: seed %llu (SETTEE_TEST_SEED=%llu repeats it)\n",
                  (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

#define N_IDS 40

/* Random fields for a document: group among a/b/c or none, score a number
 * (often tied), a string or missing. */
static void random_fields(char *out, size_t cap)
{
    static const char *const groups[] = {"a", "b", "c"};
    size_t at = 0;
    if (rnd(5))
        at += (size_t)snprintf(out + at, cap - at, ",\"group\":\"%s\"", groups[rnd(3)]);
    uint32_t k = rnd(10);
    if (k < 7)
        at += (size_t)snprintf(out + at, cap - at, ",\"score\":%d", (int)rnd(30) - 5);
    else if (k < 8)
        at += (size_t)snprintf(out + at, cap - at, ",\"score\":\"s%u\"", rnd(5));
    snprintf(out + at, cap - at, ",\"pad\":%u", rnd(1000));
}

/* A random revision of id written with new_edits=false: a new branch from
 * the root, or a new leaf on top of the winner; deleted sometimes. */
static void random_conflict(settee_db *db, const char *id)
{
    char rev[64], fields[256], j[1024];
    winner_rev(db, id, rev, sizeof rev);
    random_fields(fields, sizeof fields);
    unsigned gen = rev[0] && rnd(2) ? (unsigned)strtoul(rev, NULL, 10) + 1 : 1 + rnd(3);
    char hash[33];
    for (int i = 0; i < 32; i++)
        hash[i] = "0123456789abcdef"[rnd(16)];
    hash[32] = '\0';
    char hist[512] = "";
    if (gen > 1 && rev[0] && (unsigned)strtoul(rev, NULL, 10) == gen - 1)
        snprintf(hist, sizeof hist, ",\"_revisions\":{\"start\":%u,\"ids\":[\"%s\",\"%s\"]}", gen,
                 hash, strchr(rev, '-') + 1);
    snprintf(j, sizeof j,
             "{\"new_edits\":false,\"docs\":[{\"_id\":\"%s\",\"_rev\":\"%u-%s\"%s%s%s}]}", id, gen,
             hash, hist, rnd(6) ? "" : ",\"_deleted\":true", fields);
    char *res = NULL;
    settee_error e;
    assert_int_equal(settee_bulk_docs(db, j, SETTEE_NUL_TERMINATED, &res, &e), SETTEE_OK);
    settee_free(res);
}

/* One random write; its description into what. */
static void random_write(settee_db *db, char *what, size_t cap)
{
    char id[16], fields[256];
    snprintf(id, sizeof id, "d%02u", rnd(N_IDS));
    uint32_t k = rnd(20);
    if (k < 10) {
        random_fields(fields, sizeof fields);
        update(db, id, fields);
        snprintf(what, cap, "put %s%s", id, fields);
    } else if (k < 14) {
        del(db, id);
        snprintf(what, cap, "delete %s", id);
    } else if (k < 17) {
        random_conflict(db, id);
        snprintf(what, cap, "conflict %s", id);
    } else {
        /* Several documents in one commit. */
        char j[4096] = "{\"docs\":[";
        size_t at = strlen(j);
        unsigned n = 2 + rnd(5);
        bool used[N_IDS] = {false};
        for (unsigned i = 0; i < n; i++) {
            unsigned d = rnd(N_IDS);
            if (used[d])
                continue;
            used[d] = true;
            char did[16], rev[64];
            snprintf(did, sizeof did, "d%02u", d);
            winner_rev(db, did, rev, sizeof rev);
            random_fields(fields, sizeof fields);
            at += (size_t)snprintf(j + at, sizeof j - at, "%s{\"_id\":\"%s\"%s%s%s%s%s}",
                                   at > 9 ? "," : "", did, rev[0] ? ",\"_rev\":\"" : "", rev,
                                   rev[0] ? "\"" : "", rnd(5) ? "" : ",\"_deleted\":true",
                                   fields);
        }
        snprintf(j + at, sizeof j - at, "]}");
        char *res = NULL;
        settee_error e;
        assert_int_equal(settee_bulk_docs(db, j, SETTEE_NUL_TERMINATED, &res, &e), SETTEE_OK);
        settee_free(res);
        snprintf(what, cap, "bulk of %u", n);
    }
}

static const char *const random_queries[] = {
    /* a full scan of _all_docs, in _id order */
    "{\"selector\":{\"group\":\"a\"}}",
    /* sorted by an index, ties by _id, both directions, with and without limit */
    "{\"selector\":{\"score\":{\"$gte\":3}},\"sort\":[\"score\"]}",
    "{\"selector\":{\"score\":{\"$gte\":0}},\"sort\":[{\"score\":\"desc\"}],\"limit\":5}",
    "{\"selector\":{\"score\":{\"$lt\":20},\"group\":{\"$in\":[\"a\",\"b\"]}},"
    "\"sort\":[\"score\"],\"limit\":4,\"fields\":[\"_id\",\"score\",\"group\"]}",
    /* a two-field index picked by the selector, unsorted, limited */
    "{\"selector\":{\"group\":\"b\",\"score\":{\"$gt\":-10}},\"limit\":3}",
    /* conflicts in the JSON: a new losing revision is a change */
    "{\"selector\":{\"group\":\"c\"},\"conflicts\":true,\"fields\":[\"_id\",\"_conflicts\","
    "\"group\",\"score\"]}",
    /* everything, strings included */
    "{\"selector\":{\"score\":{\"$exists\":true}},\"sort\":[\"score\"],\"limit\":7}",
};
#define N_QUERIES (sizeof random_queries / sizeof random_queries[0])

static void random_indexes(settee_db *db)
{
    index_on(db, "{\"index\":{\"fields\":[\"score\"]},\"ddoc\":\"by-score\"}");
    index_on(db, "{\"index\":{\"fields\":[\"group\",\"score\"]},\"ddoc\":\"by-group\"}");
}

static void start_all(settee_db *db, copy *c, copy **cs, settee_listener **tok)
{
    for (size_t i = 0; i < N_QUERIES; i++) {
        copy_init(&c[i]);
        cs[i] = &c[i];
        tok[i] = start(db, random_queries[i], &c[i]);
    }
}

static void stop_all(copy *c, settee_listener **tok)
{
    for (size_t i = 0; i < N_QUERIES; i++) {
        settee_listener_remove(tok[i]);
        copy_free(&c[i]);
    }
}

/* After every write of a random sequence, each live query equals
 * settee_find. */
static void test_random_sequence(void **state)
{
    fx *f = *state;
    rng_state = test_seed();
    random_indexes(f->db);
    char what[256];
    for (int i = 0; i < 30; i++)
        random_write(f->db, what, sizeof what); /* an initial result to start from */
    copy c[N_QUERIES];
    copy *cs[N_QUERIES];
    settee_listener *tok[N_QUERIES];
    start_all(f->db, c, cs, tok);
    settle(f->db, f->db, cs, random_queries, N_QUERIES, "start");
    for (int step = 0; step < 500; step++) {
        /* One write per check, then (the last 100 steps) a few between
         * checks: the same document changed twice before the live query
         * reads. */
        unsigned n = step < 400 ? 1 : 1 + rnd(4);
        for (unsigned i = 0; i < n; i++)
            random_write(f->db, what, sizeof what);
        char after[300];
        snprintf(after, sizeof after, "step %d: %s (of %u writes)", step, what, n);
        settle(f->db, f->db, cs, random_queries, N_QUERIES, after);
    }
    size_t changes = 0;
    for (size_t i = 0; i < N_QUERIES; i++)
        changes += c[i].changes;
    assert_true(changes > 100); /* the sequence did touch the results */
    stop_all(c, tok);
}

/* The same on the settee thread, with writes coming faster than the
 * callbacks: several writes per call, and the copies still converge. */
static void test_random_thread_mode(void **state)
{
    fx *f = *state;
    assert_int_equal(settee_db_close(f->db), SETTEE_OK);
    f->db = open_db(f->path, SETTEE_DISPATCH_THREAD);
    rng_state = test_seed() + 1;
    random_indexes(f->db);
    copy c[N_QUERIES];
    copy *cs[N_QUERIES];
    settee_listener *tok[N_QUERIES];
    start_all(f->db, c, cs, tok);
    char what[256];
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 30; i++)
            random_write(f->db, what, sizeof what);
        settle(f->db, NULL, cs, random_queries, N_QUERIES, "a round of 30 writes");
    }
    stop_all(c, tok);
}

/* ---- the server's _find on the same data -------------------------------------------- */

typedef struct body {
    char *p;
    size_t n;
} body;

static size_t on_body(char *d, size_t sz, size_t nm, void *ctx)
{
    body *b = ctx;
    size_t k = sz * nm;
    char *p = realloc(b->p, b->n + k + 1);
    assert_non_null(p);
    memcpy(p + b->n, d, k);
    b->n += k;
    p[b->n] = '\0';
    b->p = p;
    return k;
}

/* POST db_url/_find with query; the "docs" array of the answer (malloc'd). */
static char *server_find(const char *db_url, const char *query)
{
    char url[512];
    snprintf(url, sizeof url, "%s/_find", db_url);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    body b = {0};
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_USERPWD, CT_ADMIN ":" CT_PASS);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, query);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    if (code != 200)
        fprintf(stderr, "_find %s: %ld %s\n", query, code, b.p);
    assert_int_equal(code, 200);
    /* {"docs":[\r\n...\r\n],\r\n"bookmark":...}, as CouchDB lays it out:
     * without the line breaks (JSON text holds none of its own), docs come
     * first and hold no "],\"bookmark\"" of their own here. */
    size_t w = 0;
    for (size_t r = 0; r < b.n; r++)
        if (!(b.p[r] == '\r' && b.p[r + 1] == '\n') && !(r > 0 && b.p[r - 1] == '\r' && b.p[r] == '\n'))
            b.p[w++] = b.p[r];
    b.p[w] = '\0';
    assert_true(strncmp(b.p, "{\"docs\":", 8) == 0);
    char *end = strstr(b.p, "],\"bookmark\"");
    assert_non_null(end);
    char *docs = strndup(b.p + 8, (size_t)(end + 1 - (b.p + 8)));
    free(b.p);
    return docs;
}

/* settee_find's answer as a JSON array of its documents. */
static char *local_find(settee_db *db, const char *query)
{
    answer a;
    find_all(db, query, &a);
    size_t len = 3;
    for (size_t i = 0; i < a.n; i++)
        len += strlen(a.rows[i].json) + 1;
    char *out = malloc(len);
    size_t at = 0;
    out[at++] = '[';
    for (size_t i = 0; i < a.n; i++)
        at += (size_t)sprintf(out + at, "%s%s", i ? "," : "", a.rows[i].json);
    out[at++] = ']';
    out[at] = '\0';
    answer_free(&a);
    return out;
}

/* A one-shot sync of db with url, to its end (dispatching manual, a
 * manual-mode db, meanwhile). */
static void sync_once(settee_db *db, const char *url, settee_sync_direction dir,
                      settee_db *manual)
{
    settee_sync_config cfg;
    settee_sync_config_init(&cfg);
    cfg.url = url;
    cfg.user = CT_ADMIN;
    cfg.password = CT_PASS;
    cfg.continuous = false;
    cfg.direction = dir;
    settee_sync *sy = NULL;
    settee_error e;
    assert_int_equal(settee_sync_start(db, &cfg, &sy, &e), SETTEE_OK);
    settee_sync_status st;
    uint64_t t0 = ct_now_ms();
    do { /* STOPPED is also the state before the sync began */
        if (manual)
            assert_int_equal(settee_db_dispatch(manual), SETTEE_OK);
        ct_sleep_ms(5);
        assert_int_equal(settee_sync_get_status(sy, &st), SETTEE_OK);
    } while (st.state != SETTEE_SYNC_STOPPED && ct_now_ms() - t0 < 30000);
    assert_int_equal(st.state, SETTEE_SYNC_STOPPED);
    if (st.last.code != SETTEE_OK)
        fprintf(stderr, "sync: %s\n", st.last.message);
    assert_int_equal(st.last.code, SETTEE_OK);
    settee_sync_free(sy);
}

/* Writes that arrive by replication: a second database writes (and makes
 * conflicts of its own), pushes to a server, this one pulls. */
typedef struct fx_srv {
    fx f;                    /* first: the tests take it as an fx */
    ct_server srv;
} fx_srv;

static int setup_srv(void **state)
{
    fx_srv *x = calloc(1, sizeof *x);
    if (!ct_server_start(&x->srv, "live")) {
        fprintf(stderr, "cannot start settee serve\n");
        free(x);
        return -1;
    }
    ct_tmpdir(x->f.dir, sizeof x->f.dir, "live");
    snprintf(x->f.path, sizeof x->f.path, "%s/live.settee", x->f.dir);
    x->f.db = open_db(x->f.path, SETTEE_DISPATCH_MANUAL);
    *state = x;
    return 0;
}

static int teardown_srv(void **state)
{
    fx_srv *x = *state;
    bool clean = ct_server_stop(&x->srv);
    ct_rmdir(x->srv.data_dir);
    *state = &x->f;
    teardown(state); /* frees x, whose first member f is */
    assert_true(clean);
    return 0;
}

static void test_replicated_writes(void **state)
{
    fx_srv *x = *state;
    fx *f = &x->f;
    ct_server srv = x->srv;
    rng_state = test_seed() + 2;
    random_indexes(f->db);
    char what[256], path_b[4300], url[256];
    for (int i = 0; i < 20; i++)
        random_write(f->db, what, sizeof what);
    snprintf(path_b, sizeof path_b, "%s/second.settee", f->dir);
    snprintf(url, sizeof url, "%s/shared", srv.url);
    settee_db *b = open_db(path_b, SETTEE_DISPATCH_THREAD);
    random_indexes(b); /* its pushes carry them to the server */
    copy c[N_QUERIES];
    copy *cs[N_QUERIES];
    settee_listener *tok[N_QUERIES];
    start_all(f->db, c, cs, tok);
    settle(f->db, f->db, cs, random_queries, N_QUERIES, "start");
    for (int round = 0; round < 6; round++) {
        /* Both sides write the same ids: the pull brings conflicts. */
        for (int i = 0; i < 15; i++)
            random_write(b, what, sizeof what);
        for (int i = 0; i < 3; i++)
            random_write(f->db, what, sizeof what);
        sync_once(b, url, SETTEE_SYNC_PUSH, NULL);
        sync_once(f->db, url, SETTEE_SYNC_PULL, f->db);
        settle(f->db, f->db, cs, random_queries, N_QUERIES, "a pull");
    }
    stop_all(c, tok);
    /* A third database pulls everything: it then holds what the server
     * holds (the same revision trees, and the indexes, which replicate from
     * the second database), and settee_find on it answers what the
     * server's _find answers. */
    char path_c[4300];
    snprintf(path_c, sizeof path_c, "%s/third.settee", f->dir);
    settee_db *third = open_db(path_c, SETTEE_DISPATCH_THREAD);
    sync_once(third, url, SETTEE_SYNC_PULL, NULL);
    for (size_t i = 0; i < N_QUERIES; i++) {
        char q[1024];
        if (strstr(random_queries[i], "\"limit\""))
            snprintf(q, sizeof q, "%s", random_queries[i]);
        else
            snprintf(q, sizeof q, "%.*s,\"limit\":100000}", (int)strlen(random_queries[i]) - 1,
                     random_queries[i]);
        char *remote = server_find(url, q), *local = local_find(third, q);
        if (strcmp(remote, local) != 0)
            fprintf(stderr, "%s\n  server %s\n  local  %s\n", q, remote, local);
        assert_string_equal(remote, local);
        assert_true(strlen(local) > 2); /* the data answers every query */
        free(remote);
        free(local);
    }
    assert_int_equal(settee_db_close(third), SETTEE_OK);
    assert_int_equal(settee_db_close(b), SETTEE_OK);
}

/* Bad queries: a clear error, nothing started, fn never called. */
static void test_bad_queries(void **state)
{
    fx *f = *state;
    put(f->db, "{\"_id\":\"a\",\"n\":1}");
    static const struct {
        const char *q;
        settee_status code;
        const char *prefix;
    } bad[] = {
        {"{\"limit\":1}", SETTEE_BAD_REQUEST, "missing_required_key:"},
        {"{\"selector\":{\"n\":{\"$foo\":1}}}", SETTEE_BAD_REQUEST, "invalid_operator:"},
        {"{\"selector\":{},\"sort\":[\"n\"]}", SETTEE_BAD_REQUEST, "no_usable_index:"},
        {"{\"selector\":{},\"skip\":2}", SETTEE_BAD_REQUEST,
         "invalid_key: skip is not supported by a live query"},
        {"{\"selector\":{},\"bookmark\":\"g1AAAA\"}", SETTEE_BAD_REQUEST,
         "invalid_key: bookmark is not supported by a live query"},
        {"{\"selector\":{},\"limit\":-3}", SETTEE_BAD_REQUEST, "invalid_non_neg_integer:"},
        {"{\"selector\":{},\"bogus\":true}", SETTEE_BAD_REQUEST, "invalid_key:"},
        {"[1]", SETTEE_BAD_REQUEST, "Request body must be a JSON object"},
        {"{\"selector\":", SETTEE_BAD_REQUEST, ""},
    };
    copy c;
    copy_init(&c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        settee_listener *tok = (settee_listener *)&c; /* must be reset */
        settee_error e;
        settee_status rc = settee_live_query_start(f->db, bad[i].q, SETTEE_NUL_TERMINATED,
                                                   on_live, &c, &tok, &e);
        if (rc != bad[i].code || strncmp(e.message, bad[i].prefix, strlen(bad[i].prefix)) != 0)
            fprintf(stderr, "%s: %d %s\n", bad[i].q, (int)rc, e.message);
        assert_int_equal(rc, bad[i].code);
        assert_true(strncmp(e.message, bad[i].prefix, strlen(bad[i].prefix)) == 0);
        assert_null(tok);
    }
    settee_listener *tok = NULL;
    settee_error e;
    assert_int_equal(settee_live_query_start(f->db, NULL, 0, on_live, &c, &tok, &e),
                     SETTEE_MISUSE);
    assert_int_equal(settee_live_query_start(f->db, "{\"selector\":{}}", SETTEE_NUL_TERMINATED,
                                             NULL, &c, &tok, &e),
                     SETTEE_MISUSE);
    assert_int_equal(settee_live_query_start(f->db, "{\"selector\":{}}", SETTEE_NUL_TERMINATED,
                                             on_live, &c, NULL, &e),
                     SETTEE_MISUSE);
    assert_int_equal(settee_live_query_start(NULL, "{\"selector\":{}}", SETTEE_NUL_TERMINATED,
                                             on_live, &c, &tok, &e),
                     SETTEE_MISUSE);
    put(f->db, "{\"_id\":\"b\",\"n\":2}");
    ct_sleep_ms(20);
    assert_int_equal(settee_db_dispatch(f->db), SETTEE_OK);
    assert_int_equal(c.calls, 0);
    copy_free(&c);
}

/* Removal from inside the callback, in the initial call and in a later
 * one; the database stays pinned until the live query is gone. */
static void test_remove_from_callback(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 50; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\":\"r%02d\",\"n\":%d}", i, i);
        put(f->db, j);
    }
    const char *q = "{\"selector\":{\"n\":{\"$gte\":0}}}";
    copy first, later;
    copy_init(&first);
    copy_init(&later);
    first.remove_at_call = 1;
    first.tok = start(f->db, q, &first);
    later.remove_at_call = 2;
    later.tok = start(f->db, q, &later);
    assert_int_equal(settee_db_close(f->db), SETTEE_BUSY);
    assert_int_equal(settee_db_dispatch(f->db), SETTEE_OK);
    assert_int_equal(first.calls, 1);
    assert_int_equal(first.n, 50);
    put(f->db, "{\"_id\":\"r50\",\"n\":50}");
    copy *cs[] = {&later};
    settle(f->db, f->db, cs, &q, 1, "r50");
    put(f->db, "{\"_id\":\"r51\",\"n\":51}");
    ct_sleep_ms(20);
    assert_int_equal(settee_db_dispatch(f->db), SETTEE_OK);
    assert_int_equal(first.calls, 1);
    assert_int_equal(later.calls, 2);
    assert_int_equal(later.n, 51);
    /* Both removed themselves: the database closes. */
    assert_int_equal(settee_db_close(f->db), SETTEE_OK);
    f->db = NULL;
    copy_free(&first);
    copy_free(&later);
}

typedef struct remover {
    settee_listener *tok;
    copy *c;
    uint64_t took_ms;
} remover;

static bool called(void *arg)
{
    copy *c = arg;
    pthread_mutex_lock(&c->mu);
    bool yes = c->calls > 0;
    pthread_mutex_unlock(&c->mu);
    return yes;
}

/* Thread mode: removed from another thread while its slow callback runs;
 * once remove returns the callback is not running and never runs again. */
static void test_remove_during_delivery(void **state)
{
    fx *f = *state;
    assert_int_equal(settee_db_close(f->db), SETTEE_OK);
    f->db = open_db(f->path, SETTEE_DISPATCH_THREAD);
    for (int i = 0; i < 20; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\":\"s%02d\",\"n\":%d}", i, i);
        put(f->db, j);
    }
    copy c;
    copy_init(&c);
    c.sleep_ms = 200;
    settee_listener *tok = start(f->db, "{\"selector\":{\"n\":{\"$gte\":0}}}", &c);
    assert_true(ct_wait(called, &c, NULL, 5000)); /* the initial call (counted after its sleep) */
    put(f->db, "{\"_id\":\"s20\",\"n\":20}");      /* a second call starts sleeping */
    ct_sleep_ms(50);
    uint64_t t0 = ct_now_ms();
    settee_listener_remove(tok);
    uint64_t took = ct_now_ms() - t0;
    pthread_mutex_lock(&c.mu);
    size_t calls = c.calls;
    pthread_mutex_unlock(&c.mu);
    assert_true(calls >= 1 && calls <= 2);
    assert_true(took < 5000);
    for (int i = 21; i < 30; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\":\"s%02d\",\"n\":%d}", i, i);
        put(f->db, j);
    }
    ct_sleep_ms(300);
    pthread_mutex_lock(&c.mu);
    assert_int_equal(c.calls, calls);
    assert_false(c.bad);
    pthread_mutex_unlock(&c.mu);
    copy_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_initial_then_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_thread_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replicated_writes, setup_srv, teardown_srv),
        cmocka_unit_test_setup_teardown(test_bad_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_during_delivery, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
