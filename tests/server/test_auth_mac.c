/* test_auth_mac.c — a prepared HMAC key gives exactly st_hmac's answer for
 * every digest, key length (empty, short, one block, longer than a block)
 * and message length around the block boundaries; an RFC 4231 vector; and
 * one prepared key shared by several threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth_mac.h"

static void test_matches_st_hmac(void **state)
{
    (void)state;
    static const size_t key_lens[] = {0, 5, 32, 63, 64, 65, 127, 128, 129, 300};
    static const size_t msg_lens[] = {0, 1, 22, 55, 56, 63, 64, 65, 111, 112, 128, 1000};
    unsigned char key[300], msg[1000];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 7 + 1);
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 13 + 5);
    for (int d = 0; d < ST_DIGEST_COUNT; d++) {
        for (size_t k = 0; k < sizeof key_lens / sizeof *key_lens; k++) {
            st_auth_mac m;
            assert_true(st_auth_mac_init(&m, (st_digest)d, key, key_lens[k]));
            for (size_t j = 0; j < sizeof msg_lens / sizeof *msg_lens; j++) {
                unsigned char want[ST_DIGEST_MAX_SIZE], got[ST_DIGEST_MAX_SIZE];
                assert_true(st_hmac((st_digest)d, key, key_lens[k], msg, msg_lens[j], want));
                st_auth_mac_run(&m, msg, msg_lens[j], got);
                assert_memory_equal(got, want, st_digest_size((st_digest)d));
            }
            st_auth_mac_wipe(&m);
        }
    }
}

static void test_rfc4231_case2(void **state)
{
    (void)state;
    static const unsigned char want[32] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
        0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
        0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    const char *msg = "what do ya want for nothing?";
    st_auth_mac m;
    unsigned char got[32];
    assert_true(st_auth_mac_init(&m, ST_DIGEST_SHA256, "Jefe", 4));
    st_auth_mac_run(&m, msg, strlen(msg), got);
    assert_memory_equal(got, want, 32);
    /* Running does not change the prepared key. */
    st_auth_mac_run(&m, msg, strlen(msg), got);
    assert_memory_equal(got, want, 32);
    st_auth_mac_wipe(&m);
}

static void test_unknown_digest(void **state)
{
    (void)state;
    st_auth_mac m;
    assert_false(st_auth_mac_init(&m, (st_digest)ST_DIGEST_COUNT, "k", 1));
    st_auth_mac_wipe(NULL);
}

typedef struct {
    const st_auth_mac *m;
    unsigned char want[32];
    int bad;
} shared;

static void *runner(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < 2000; i++) {
        unsigned char got[32];
        st_auth_mac_run(s->m, "alice\0pw", 8, got);
        if (memcmp(got, s->want, 32) != 0)
            __atomic_add_fetch(&s->bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_shared_by_threads(void **state)
{
    (void)state;
    st_auth_mac m;
    assert_true(st_auth_mac_init(&m, ST_DIGEST_SHA256, "per-cache key", 13));
    shared s = {&m, {0}, 0};
    assert_true(st_hmac(ST_DIGEST_SHA256, "per-cache key", 13, "alice\0pw", 8, s.want));
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, runner, &s), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(s.bad, 0);
    st_auth_mac_wipe(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_st_hmac),
        cmocka_unit_test(test_rfc4231_case2),
        cmocka_unit_test(test_unknown_digest),
        cmocka_unit_test(test_shared_by_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
