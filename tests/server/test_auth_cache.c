/* test_auth_cache.c — the verified-credentials cache (hits, every way to
 * miss, invalidation, LRU eviction, TTL) and the lockout table (threshold,
 * lift, modes, bounded memory under a spray), both under a few threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth_cache.h"
#include "lockout.h"

#define T 1700000000

static st_roles roles_of(const char *a, const char *b)
{
    st_roles r = ST_ROLES_INIT;
    if (a)
        assert_int_equal(st_roles_add(&r, a, strlen(a)), ST_OK);
    if (b)
        assert_int_equal(st_roles_add(&r, b, strlen(b)), ST_OK);
    return r;
}

static st_status get(st_auth_cache *c, const char *name, const char *pw, const char *salt,
                     const char *rev, int64_t now, st_roles *out)
{
    return st_auth_cache_get(c, name, pw, strlen(pw), salt, rev, now, out);
}

static void test_cache_hit_and_misses(void **state)
{
    (void)state;
    st_auth_cache *c = st_auth_cache_new(8, 600);
    st_roles r = roles_of("writer", "_admin"), got = ST_ROLES_INIT;
    assert_int_equal(st_auth_cache_put(c, "alice", "apass", 5, "s1", "1-a", &r, T), ST_OK);
    assert_int_equal(get(c, "alice", "apass", "s1", "1-a", T + 10, &got), ST_OK);
    assert_true(st_roles_equal(&got, &r));
    st_roles_free(&got);
    /* wrong password: a miss that keeps the entry */
    assert_int_equal(get(c, "alice", "apasS", "s1", "1-a", T, &got), ST_E_NOT_FOUND);
    assert_int_equal(get(c, "alice", "apas", "s1", "1-a", T, &got), ST_E_NOT_FOUND);
    assert_int_equal(get(c, "bob", "apass", "s1", "1-a", T, &got), ST_E_NOT_FOUND);
    assert_int_equal(st_auth_cache_count(c), 1);
    assert_int_equal(get(c, "alice", "apass", "s1", "1-a", T, &got), ST_OK);
    st_roles_free(&got);
    /* a new rev (roles edited) misses and drops the entry */
    assert_int_equal(get(c, "alice", "apass", "s1", "2-b", T, &got), ST_E_NOT_FOUND);
    assert_int_equal(st_auth_cache_count(c), 0);
    /* a new salt (password changed) too */
    assert_int_equal(st_auth_cache_put(c, "alice", "apass", 5, "s1", "1-a", &r, T), ST_OK);
    assert_int_equal(get(c, "alice", "apass", "s2", "1-a", T, &got), ST_E_NOT_FOUND);
    assert_int_equal(st_auth_cache_count(c), 0);
    /* TTL */
    assert_int_equal(st_auth_cache_put(c, "alice", "apass", 5, NULL, NULL, NULL, T), ST_OK);
    assert_int_equal(get(c, "alice", "apass", "", NULL, T + 599, &got), ST_OK);
    assert_int_equal(got.n, 0);
    assert_int_equal(get(c, "alice", "apass", NULL, "", T + 600, &got), ST_E_NOT_FOUND);
    assert_int_equal(st_auth_cache_count(c), 0);
    /* passwords are bytes: embedded NULs count */
    assert_int_equal(st_auth_cache_put(c, "n", "a\0b", 3, "s", "r", &r, T), ST_OK);
    assert_int_equal(st_auth_cache_get(c, "n", "a\0c", 3, "s", "r", T, &got), ST_E_NOT_FOUND);
    assert_int_equal(st_auth_cache_get(c, "n", "a", 1, "s", "r", T, &got), ST_E_NOT_FOUND);
    assert_int_equal(st_auth_cache_get(c, "n", "a\0b", 3, "s", "r", T, &got), ST_OK);
    st_roles_free(&got);
    st_roles_free(&r);
    st_auth_cache_free(c);
}

static void test_cache_invalidate_and_replace(void **state)
{
    (void)state;
    st_auth_cache *c = st_auth_cache_new(8, 600);
    st_roles got = ST_ROLES_INIT;
    assert_int_equal(st_auth_cache_put(c, "a", "p", 1, "s", "r", NULL, T), ST_OK);
    assert_int_equal(st_auth_cache_put(c, "b", "p", 1, "s", "r", NULL, T), ST_OK);
    st_auth_cache_invalidate(c, "a");
    st_auth_cache_invalidate(c, "nobody");
    assert_int_equal(get(c, "a", "p", "s", "r", T, &got), ST_E_NOT_FOUND);
    assert_int_equal(get(c, "b", "p", "s", "r", T, &got), ST_OK);
    /* one entry per name: a later put replaces */
    assert_int_equal(st_auth_cache_put(c, "b", "q", 1, "s2", "r2", NULL, T), ST_OK);
    assert_int_equal(st_auth_cache_count(c), 1);
    assert_int_equal(get(c, "b", "p", "s2", "r2", T, &got), ST_E_NOT_FOUND); /* old password */
    assert_int_equal(get(c, "b", "q", "s2", "r2", T, &got), ST_OK);
    /* the caller's salt/rev are the truth: an entry under others is dropped */
    assert_int_equal(get(c, "b", "q", "s", "r", T, &got), ST_E_NOT_FOUND);
    assert_int_equal(st_auth_cache_count(c), 0);
    st_auth_cache_clear(c);
    assert_int_equal(st_auth_cache_count(c), 0);
    st_auth_cache_free(c);
}

static void test_cache_lru_eviction(void **state)
{
    (void)state;
    st_auth_cache *c = st_auth_cache_new(3, 600);
    st_roles got = ST_ROLES_INIT;
    assert_int_equal(st_auth_cache_put(c, "a", "p", 1, "s", "r", NULL, T), ST_OK);
    assert_int_equal(st_auth_cache_put(c, "b", "p", 1, "s", "r", NULL, T), ST_OK);
    assert_int_equal(st_auth_cache_put(c, "c", "p", 1, "s", "r", NULL, T), ST_OK);
    assert_int_equal(get(c, "a", "p", "s", "r", T, &got), ST_OK); /* a is now the freshest */
    assert_int_equal(st_auth_cache_put(c, "d", "p", 1, "s", "r", NULL, T), ST_OK);
    assert_int_equal(st_auth_cache_count(c), 3);
    assert_int_equal(get(c, "b", "p", "s", "r", T, &got), ST_E_NOT_FOUND); /* evicted */
    assert_int_equal(get(c, "a", "p", "s", "r", T, &got), ST_OK);
    assert_int_equal(get(c, "c", "p", "s", "r", T, &got), ST_OK);
    assert_int_equal(get(c, "d", "p", "s", "r", T, &got), ST_OK);
    for (int i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", i);
        assert_int_equal(st_auth_cache_put(c, name, "p", 1, "s", "r", NULL, T), ST_OK);
    }
    assert_int_equal(st_auth_cache_count(c), 3);
    st_auth_cache_free(c);
}

typedef struct {
    st_auth_cache *cache;
    st_lockout *lock;
    int id;
} worker_arg;

static void *cache_worker(void *p)
{
    worker_arg *a = p;
    char name[32];
    st_roles r = roles_of("r", NULL), got = ST_ROLES_INIT;
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "u%d", (a->id * 7 + i) % 40);
        if (i % 3 == 0)
            (void)st_auth_cache_put(a->cache, name, "pw", 2, "s", "r", &r, T);
        else if (i % 17 == 0)
            st_auth_cache_invalidate(a->cache, name);
        else if (st_auth_cache_get(a->cache, name, "pw", 2, "s", "r", T, &got) == ST_OK)
            st_roles_free(&got);
    }
    st_roles_free(&r);
    return NULL;
}

static void test_cache_threads(void **state)
{
    (void)state;
    st_auth_cache *c = st_auth_cache_new(16, 600);
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){c, NULL, i};
        assert_int_equal(pthread_create(&th[i], NULL, cache_worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_true(st_auth_cache_count(c) <= 16);
    st_auth_cache_free(c);
}

/* ---- lockout ---- */

static st_lockout *lockout(st_lockout_mode mode, size_t max)
{
    st_lockout_config cfg;
    st_lockout_config_init(&cfg);
    cfg.mode = mode;
    cfg.max_entries = max;
    return st_lockout_new(&cfg);
}

static void test_lockout_threshold_and_lift(void **state)
{
    (void)state;
    st_lockout *l = lockout(ST_LOCKOUT_ENFORCE, 100);
    for (int i = 0; i < 4; i++) {
        st_lockout_failed(l, "10.0.0.1", "alice", "s", T + i);
        assert_int_equal(st_lockout_check(l, "10.0.0.1", "alice", "s", T + i), ST_LOCKOUT_PASS);
    }
    st_lockout_failed(l, "10.0.0.1", "alice", "s", T + 4);
    assert_int_equal(st_lockout_check(l, "10.0.0.1", "alice", "s", T + 4), ST_LOCKOUT_LOCKED);
    /* other address, other user, other salt: not locked */
    assert_int_equal(st_lockout_check(l, "10.0.0.2", "alice", "s", T + 4), ST_LOCKOUT_PASS);
    assert_int_equal(st_lockout_check(l, "10.0.0.1", "bob", "s", T + 4), ST_LOCKOUT_PASS);
    assert_int_equal(st_lockout_check(l, "10.0.0.1", "alice", "s2", T + 4), ST_LOCKOUT_PASS);
    /* no ambiguity between ("a", "bc") and ("ab", "c") */
    assert_int_equal(st_lockout_check(l, "10.0.0.1a", "lice", "s", T + 4), ST_LOCKOUT_PASS);
    /* lifted 300 s after the first failure, not the last */
    assert_int_equal(st_lockout_check(l, "10.0.0.1", "alice", "s", T + 299), ST_LOCKOUT_LOCKED);
    assert_int_equal(st_lockout_check(l, "10.0.0.1", "alice", "s", T + 300), ST_LOCKOUT_PASS);
    /* and a new failure then starts from one */
    st_lockout_failed(l, "10.0.0.1", "alice", "s", T + 300);
    assert_int_equal(st_lockout_check(l, "10.0.0.1", "alice", "s", T + 300), ST_LOCKOUT_PASS);
    st_lockout_free(l);
}

static void test_lockout_modes(void **state)
{
    (void)state;
    st_lockout *w = lockout(ST_LOCKOUT_WARN, 100), *o = lockout(ST_LOCKOUT_OFF, 100);
    for (int i = 0; i < 5; i++) {
        st_lockout_failed(w, "a", "u", NULL, T);
        st_lockout_failed(o, "a", "u", NULL, T);
    }
    assert_int_equal(st_lockout_check(w, "a", "u", NULL, T), ST_LOCKOUT_WARNED);
    assert_int_equal(st_lockout_check(o, "a", "u", NULL, T), ST_LOCKOUT_PASS);
    assert_int_equal(st_lockout_count(o, T), 0);
    st_lockout_mode m;
    assert_true(st_lockout_parse_mode("Enforce", &m));
    assert_int_equal(m, ST_LOCKOUT_ENFORCE);
    assert_true(st_lockout_parse_mode("off", &m));
    assert_false(st_lockout_parse_mode("maybe", &m));
    st_lockout_free(w);
    st_lockout_free(o);
}

/* A spray of a million names from a million addresses: memory stays the
 * table allocated at creation, and a real lock survives. */
static void test_lockout_bounded_under_spray(void **state)
{
    (void)state;
    st_lockout *l = lockout(ST_LOCKOUT_ENFORCE, 64);
    size_t cap = st_lockout_capacity(l);
    assert_true(cap >= 64 && cap <= 128);
    for (int i = 0; i < 5; i++)
        st_lockout_failed(l, "victim-ip", "admin", "s", T);
    char addr[32], name[32];
    for (int i = 0; i < 1000000; i++) {
        snprintf(addr, sizeof addr, "192.0.%d.%d", i / 256 % 256, i % 256);
        snprintf(name, sizeof name, "spray%d", i);
        st_lockout_failed(l, addr, name, NULL, T + 1);
    }
    assert_true(st_lockout_count(l, T + 1) <= cap);
    assert_int_equal(st_lockout_capacity(l), cap);
    assert_int_equal(st_lockout_check(l, "victim-ip", "admin", "s", T + 1), ST_LOCKOUT_LOCKED);
    st_lockout_free(l);
}

static void *lockout_worker(void *p)
{
    worker_arg *a = p;
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "u%d", i % 50);
        st_lockout_failed(a->lock, "shared", name, NULL, T);
        (void)st_lockout_check(a->lock, "shared", name, NULL, T);
    }
    return NULL;
}

static void test_lockout_threads(void **state)
{
    (void)state;
    st_lockout *l = lockout(ST_LOCKOUT_ENFORCE, 1000);
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){NULL, l, i};
        assert_int_equal(pthread_create(&th[i], NULL, lockout_worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    /* 4 threads x 100 failures per name, no lost updates matter past 5 */
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof name, "u%d", i);
        assert_int_equal(st_lockout_check(l, "shared", name, NULL, T), ST_LOCKOUT_LOCKED);
    }
    assert_int_equal(st_lockout_count(l, T), 50);
    st_lockout_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_hit_and_misses),
        cmocka_unit_test(test_cache_invalidate_and_replace),
        cmocka_unit_test(test_cache_lru_eviction),
        cmocka_unit_test(test_cache_threads),
        cmocka_unit_test(test_lockout_threshold_and_lift),
        cmocka_unit_test(test_lockout_modes),
        cmocka_unit_test(test_lockout_bounded_under_spray),
        cmocka_unit_test(test_lockout_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
