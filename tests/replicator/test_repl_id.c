/* test_repl_id.c — replication ids stay what they were: golden ids for
 * push, pull, remote → remote, doc_ids and selector replications, in both
 * atom encodings (a changed byte would orphan every stored checkpoint), and
 * the term bytes of one id checked against term_to_binary's encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "repl_id.h"

typedef struct eps {
    st_ep loc, rem, rem2;
} eps;

static void make_eps(eps *e)
{
    memset(e, 0, sizeof *e);
    strcpy(e->loc.uuid, "0123456789abcdef0123456789abcdef");
    e->rem.remote = true;
    strcpy(e->rem.uuid, "fedcba9876543210fedcba9876543210");
    e->rem.user = "admin";
    e->rem.host = "127.0.0.1";
    e->rem.path = "/db/";
    e->rem2.remote = true;
    e->rem2.host = "example.com";
    e->rem2.port = 6984;
    e->rem2.path = "/x/y%2Fz/";
}

static void check(const char *uuid, const st_ep *s, const st_ep *t, const char *const *ids,
                  size_t n, const char *sel, const char *latin1, const char *utf8)
{
    char out[33];
    st_error e;
    assert_int_equal(st_repl_id_couch(uuid, s, t, ids, n, sel, NULL, ST_TERM_ATOM_LATIN1, out, &e), ST_OK);
    assert_string_equal(out, latin1);
    assert_int_equal(st_repl_id_couch(uuid, s, t, ids, n, sel, NULL, ST_TERM_ATOM_UTF8, out, &e), ST_OK);
    assert_string_equal(out, utf8);
}

static void test_golden_ids(void **state)
{
    (void)state;
    eps e;
    make_eps(&e);
    const char *ids[] = {"a", "b c"};
    check(e.rem.uuid, &e.loc, &e.rem, NULL, 0, NULL, "d0b317b194fcb3bd33de3661253015fe",
          "db3b52a8073bbe5675a65c1b8aff87a7");
    check(e.rem.uuid, &e.rem, &e.loc, NULL, 0, NULL, "0b7cfb4b03bab9ac04857795a0f4a53e",
          "a01ab21d8692ceb115888080510dfee2");
    check(e.rem2.uuid, &e.rem, &e.rem2, NULL, 0, NULL, "47a78e9ddd7abcd0de7d6f037eb164df",
          "badd45975d543dccb6f6cc719f890d93");
    check(e.loc.uuid, &e.loc, &e.loc, ids, 2, NULL, "27e50fa001d08e566316ccd5576d8418",
          "e8e8e581ca7644c2e12d1a789c68fa5a");
    /* The selector as CouchDB's replicator keeps it: normalised, keys
     * sorted ({"$and":[{"a":{"$gt":1.5}},{"b":{"$eq":[1,2,300]}},...]}). */
    check(e.rem.uuid, &e.rem2, &e.loc, NULL, 0,
          "{\"a\":{\"$gt\":1.5},\"b\":[1,2,300],\"c\":null,\"d\":true}",
          "fe7d2c723cbba3004962b9a5a8dd2573", "f52b2270690de5ea16fd5de3e7dd02d2");
    /* So the same selector written differently has the same id. */
    check(e.rem.uuid, &e.rem2, &e.loc, NULL, 0,
          "{\"a\":{\"$gt\":1.5},\"b\":{\"$eq\":[1,2,300]},\"c\":{\"$eq\":null},"
          "\"d\":{\"$eq\":true}}",
          "fe7d2c723cbba3004962b9a5a8dd2573", "f52b2270690de5ea16fd5de3e7dd02d2");
    char x[33], y[33];
    assert_int_equal(st_repl_id_couch(e.rem.uuid, &e.rem2, &e.loc, NULL, 0,
                                      "{\"$or\":[{\"k\":{\"$lt\":1,\"$gt\":0}}]}", NULL,
                                      ST_TERM_ATOM_UTF8, x, NULL),
                     ST_OK);
    assert_int_equal(st_repl_id_couch(e.rem.uuid, &e.rem2, &e.loc, NULL, 0,
                                      "{\"$or\":[{\"k\":{\"$gt\":0,\"$lt\":1}}]}", NULL,
                                      ST_TERM_ATOM_UTF8, y, NULL),
                     ST_OK);
    assert_string_not_equal(x, y); /* $and keeps the order conditions were written in */
}

/* [<<"u">>, {local,<<"L">>}, {remote,undefined,"h",default,"/d/",[],undefined}] */
static void test_term_bytes(void **state)
{
    (void)state;
    st_ep loc, rem;
    memset(&loc, 0, sizeof loc);
    memset(&rem, 0, sizeof rem);
    strcpy(loc.uuid, "L");
    rem.remote = true;
    rem.host = "h";
    rem.path = "/d/";
    static const unsigned char want[] = {
        131, 108, 0, 0, 0, 3,                          /* [ of 3 */
        109, 0, 0, 0, 1, 'u',                          /* <<"u">> */
        104, 2, 100, 0, 5, 'l', 'o', 'c', 'a', 'l',    /* {local, */
        109, 0, 0, 0, 1, 'L',                          /* <<"L">>} */
        104, 7, 100, 0, 6, 'r', 'e', 'm', 'o', 't', 'e', /* {remote, */
        100, 0, 9, 'u', 'n', 'd', 'e', 'f', 'i', 'n', 'e', 'd',
        107, 0, 1, 'h',                                /* "h" */
        100, 0, 7, 'd', 'e', 'f', 'a', 'u', 'l', 't',
        107, 0, 3, '/', 'd', '/',                      /* "/d/" */
        106,                                           /* [] */
        100, 0, 9, 'u', 'n', 'd', 'e', 'f', 'i', 'n', 'e', 'd',
        106};                                          /* ] */
    st_buf b = ST_BUF_INIT;
    st_error e;
    assert_int_equal(st_repl_id_term("u", &loc, &rem, NULL, 0, NULL, NULL, ST_TERM_ATOM_LATIN1, &b, &e),
                     ST_OK);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    st_buf_free(&b);
    /* OTP 26+: the same with SMALL_ATOM_UTF8_EXT (119, one length byte). */
    assert_int_equal(st_repl_id_term("u", &loc, &rem, NULL, 0, NULL, NULL, ST_TERM_ATOM_UTF8, &b, &e),
                     ST_OK);
    assert_int_equal(b.len, sizeof want - 5);
    assert_int_equal((unsigned char)b.data[14], 119);
    assert_int_equal((unsigned char)b.data[15], 5);
    st_buf_free(&b);
}

/* A design-document filter: [UUID, Src, Tgt, Code, QueryParams], the
 * parameters as jiffy decodes an object ({[{K, V}]}); none is {[]}. */
static void test_filter_term(void **state)
{
    (void)state;
    st_ep loc;
    memset(&loc, 0, sizeof loc);
    strcpy(loc.uuid, "L");
    static const unsigned char tail[] = {
        109, 0, 0, 0, 4, 'c', 'o', 'd', 'e',           /* <<"code">> */
        104, 1, 108, 0, 0, 0, 1,                       /* {[ */
        104, 2, 109, 0, 0, 0, 1, 't', 109, 0, 0, 0, 1, 'a', /* {<<"t">>,<<"a">>} */
        106,                                           /* ]} */
        106};                                          /* ] */
    st_repl_id_filter f = {"d/f", "code", "{\"t\":\"a\"}"};
    st_buf b = ST_BUF_INIT;
    st_error e;
    assert_int_equal(st_repl_id_term("u", &loc, &loc, NULL, 0, NULL, &f, ST_TERM_ATOM_LATIN1, &b, &e),
                     ST_OK);
    assert_true(b.len > sizeof tail);
    assert_int_equal((unsigned char)b.data[5], 5); /* a list of 5 */
    assert_memory_equal(b.data + b.len - sizeof tail, tail, sizeof tail);
    st_buf_free(&b);
    /* _view is named, not fetched; no parameters are {[]}. */
    st_repl_id_filter v = {"_view", NULL, NULL};
    static const unsigned char vtail[] = {109, 0, 0, 0, 5, '_', 'v', 'i', 'e', 'w', 104, 1, 106, 106};
    assert_int_equal(st_repl_id_term("u", &loc, &loc, NULL, 0, NULL, &v, ST_TERM_ATOM_LATIN1, &b, &e),
                     ST_OK);
    assert_memory_equal(b.data + b.len - sizeof vtail, vtail, sizeof vtail);
    st_buf_free(&b);
    /* Other code or other parameters: other ids; the same ones: the same. */
    char a1[33], a2[33], a3[33], a4[33];
    st_repl_id_filter g = {"d/f", "code2", "{\"t\":\"a\"}"}, h = {"d/f", "code", "{\"t\":\"b\"}"};
    assert_int_equal(st_repl_id_couch("u", &loc, &loc, NULL, 0, NULL, &f, 0, a1, &e), ST_OK);
    assert_int_equal(st_repl_id_couch("u", &loc, &loc, NULL, 0, NULL, &g, 0, a2, &e), ST_OK);
    assert_int_equal(st_repl_id_couch("u", &loc, &loc, NULL, 0, NULL, &h, 0, a3, &e), ST_OK);
    assert_int_equal(st_repl_id_couch("u", &loc, &loc, NULL, 0, NULL, &f, 0, a4, &e), ST_OK);
    assert_string_not_equal(a1, a2);
    assert_string_not_equal(a1, a3);
    assert_string_equal(a1, a4);
}

/* CouchDB trims a fetched source only when what is left is one line. */
static void test_filter_code_trim(void **state)
{
    (void)state;
    char *c = st_repl_id_filter_code("  \tfunction(doc) { return 1; }\n ");
    assert_string_equal(c, "function(doc) { return 1; }");
    free(c);
    c = st_repl_id_filter_code("\nfunction(doc) {\n  return 1;\n}\n");
    assert_string_equal(c, "\nfunction(doc) {\n  return 1;\n}\n");
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_ids),
        cmocka_unit_test(test_term_bytes),
        cmocka_unit_test(test_filter_term),
        cmocka_unit_test(test_filter_code_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
