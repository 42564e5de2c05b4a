/* test_http_gzip.c — gzip-encoded attachment parts, as CouchDB's replicator
 * sends them (multipart/related, `Content-Encoding: gzip` on the part and
 * "encoding":"gzip" in the stub): the decoder on its own (st_gunzip:
 * round trips, concatenated members, truncation, garbage, the size cap),
 * then over HTTP against an in-process server whose attachments are
 * capped at 64 KiB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <zlib.h>

#include "st_gzip.h"
#include "httpc.h"

#define MAX_ATT 65536

/* gzip in[0..n) into a malloc'd buffer; *out_n its length. */
static unsigned char *gz(const void *in, size_t n, size_t *out_n)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void test_gunzip_unit(void **state)
{
    (void)state;
    st_error e;
    st_buf out = ST_BUF_INIT;
    const char text[] = "hello, gzip world; hello, gzip world; hello, gzip world";
    size_t zn = 0;
    unsigned char *z = gz(text, sizeof text - 1, &zn);

    assert_int_equal(st_gunzip(z, zn, 1000, &out, &e), ST_OK);
    assert_int_equal(out.len, sizeof text - 1);
    assert_memory_equal(out.data, text, out.len);

    /* Two concatenated members decode to the two texts. */
    unsigned char *two = malloc(2 * zn);
    assert_non_null(two);
    memcpy(two, z, zn);
    memcpy(two + zn, z, zn);
    st_buf_reset(&out);
    assert_int_equal(st_gunzip(two, 2 * zn, 1000, &out, &e), ST_OK);
    assert_int_equal(out.len, 2 * (sizeof text - 1));

    /* Exactly at the cap is fine; one byte under it is not. */
    st_buf_reset(&out);
    assert_int_equal(st_gunzip(z, zn, sizeof text - 1, &out, &e), ST_OK);
    st_buf_reset(&out);
    assert_int_equal(st_gunzip(z, zn, sizeof text - 2, &out, &e), ST_E_ATT_TOO_LARGE);
    assert_int_equal(out.len, 0);

    /* Truncated, garbage, empty. */
    st_buf_reset(&out);
    assert_int_equal(st_gunzip(z, zn - 4, 1000, &out, &e), ST_E_BAD_REQUEST);
    assert_int_equal(st_gunzip(text, sizeof text - 1, 1000, &out, &e), ST_E_BAD_REQUEST);
    assert_int_equal(st_gunzip("", 0, 1000, &out, &e), ST_E_BAD_REQUEST);
    /* A member followed by garbage. */
    memcpy(two + zn, "garbage!", 8);
    assert_int_equal(st_gunzip(two, zn + 8, 1000, &out, &e), ST_E_BAD_REQUEST);

    /* A bomb: 16 MiB of zeros compress to ~16 KiB; the cap stops it. */
    size_t big = 16u << 20;
    char *zeros = calloc(1, big);
    assert_non_null(zeros);
    size_t bn = 0;
    unsigned char *bomb = gz(zeros, big, &bn);
    assert_true(bn < 100000);
    st_buf_reset(&out);
    assert_int_equal(st_gunzip(bomb, bn, 1u << 20, &out, &e), ST_E_ATT_TOO_LARGE);
    assert_true(out.cap <= (2u << 20) + 1); /* bounded: at most one doubling past the cap */

    assert_true(st_gzip_is("gzip") && st_gzip_is("X-GZIP") && !st_gzip_is("br") &&
                !st_gzip_is(NULL));
    free(bomb);
    free(zeros);
    free(two);
    free(z);
    st_buf_free(&out);
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char max[32];
    snprintf(max, sizeof max, "%d", MAX_ATT);
    return t_start_with("couchdb", "max_attachment_size", max, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    t_stop();
    curl_global_cleanup();
    return 0;
}

/* A multipart/related body: the doc JSON, then one part per given body
 * with the given part headers. */
static char *related(const char *json, const char *hdrs1, const void *b1, size_t n1,
                     const char *hdrs2, const void *b2, size_t n2, size_t *out_n)
{
    size_t cap = strlen(json) + n1 + n2 + 1024;
    char *p = malloc(cap);
    assert_non_null(p);
    size_t len = (size_t)snprintf(p, cap, "--xyz\r\nContent-Type: application/json\r\n\r\n%s\r\n"
                                          "--xyz\r\n%s\r\n", json, hdrs1);
    memcpy(p + len, b1, n1);
    len += n1;
    if (b2) {
        len += (size_t)snprintf(p + len, cap - len, "\r\n--xyz\r\n%s\r\n", hdrs2);
        memcpy(p + len, b2, n2);
        len += n2;
    }
    len += (size_t)snprintf(p + len, cap - len, "\r\n--xyz--");
    *out_n = len;
    return p;
}

static tresp put_related(const char *path, const char *body, size_t n)
{
    return t_req_full("PUT", path, body, n, "multipart/related; boundary=\"xyz\"", true, NULL);
}

static void test_gzip_parts_over_http(void **state)
{
    (void)state;
    tresp r = t_req("PUT", "/gz", NULL, true);
    T_EXPECT(r, 201);
    t_free(&r);

    /* What CouchDB's replicator sends: new_edits=false, a gzip part with its
     * Content-Encoding, a stub with encoding/encoded_length, and a plain
     * part next to it. */
    char text[2000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + i % 26);
    size_t zn = 0;
    unsigned char *z = gz(text, sizeof text, &zn);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"_id\":\"d1\",\"_rev\":\"1-0123456789abcdef0123456789abcdef\","
             "\"_revisions\":{\"start\":1,\"ids\":[\"0123456789abcdef0123456789abcdef\"]},"
             "\"_attachments\":{\"a.txt\":{\"content_type\":\"text/plain\",\"revpos\":1,"
             "\"digest\":\"md5-AAAAAAAAAAAAAAAAAAAAAA==\",\"length\":%zu,\"follows\":true,"
             "\"encoding\":\"gzip\",\"encoded_length\":%zu},"
             "\"b.bin\":{\"content_type\":\"application/octet-stream\",\"revpos\":1,"
             "\"length\":3,\"follows\":true}}}",
             sizeof text, zn);
    size_t n = 0;
    char *body = related(json,
                         "Content-Disposition: attachment; filename=\"a.txt\"\r\n"
                         "Content-Type: text/plain\r\nContent-Encoding: gzip\r\n",
                         z, zn,
                         "Content-Disposition: attachment; filename=\"b.bin\"\r\n", "xyz", 3, &n);
    r = put_related("/gz/d1?new_edits=false", body, n);
    T_EXPECT(r, 201);
    t_free(&r);
    free(body);
    r = t_req("GET", "/gz/d1/a.txt", NULL, false);
    T_EXPECT(r, 200);
    assert_int_equal(r.len, sizeof text);
    assert_memory_equal(r.body, text, sizeof text);
    t_free(&r);
    r = t_req("GET", "/gz/d1/b.bin", NULL, false);
    T_EXPECT(r, 200);
    assert_string_equal(r.body, "xyz");
    t_free(&r);
    /* The stored stub describes the plain bytes. */
    r = t_req("GET", "/gz/d1", NULL, false);
    T_EXPECT(r, 200);
    char want[64];
    snprintf(want, sizeof want, "\"length\":%zu", sizeof text);
    assert_true(t_has(&r, want));
    assert_false(t_has(&r, "\"encoding\""));
    t_free(&r);

    /* The stub alone says gzip (no part header): decoded too. */
    snprintf(json, sizeof json,
             "{\"_id\":\"d2\",\"_attachments\":{\"a.txt\":{\"content_type\":\"text/plain\","
             "\"follows\":true,\"encoding\":\"gzip\",\"length\":%zu}}}",
             sizeof text);
    body = related(json, "", z, zn, NULL, NULL, 0, &n);
    r = put_related("/gz/d2", body, n);
    T_EXPECT(r, 201);
    t_free(&r);
    free(body);
    r = t_req("GET", "/gz/d2/a.txt", NULL, false);
    T_EXPECT(r, 200);
    assert_int_equal(r.len, sizeof text);
    t_free(&r);

    /* An encoding settee cannot decode: 415. */
    body = related("{\"_id\":\"d3\",\"_attachments\":{\"a\":{\"follows\":true}}}",
                   "Content-Encoding: br\r\n", "xx", 2, NULL, NULL, 0, &n);
    r = put_related("/gz/d3", body, n);
    T_EXPECT(r, 415);
    t_free(&r);
    free(body);

    /* Not gzip at all, and truncated gzip: 400, nothing written. */
    body = related("{\"_id\":\"d4\",\"_attachments\":{\"a\":{\"follows\":true}}}",
                   "Content-Encoding: gzip\r\n", "plain text", 10, NULL, NULL, 0, &n);
    r = put_related("/gz/d4", body, n);
    T_EXPECT(r, 400);
    t_free(&r);
    free(body);
    body = related("{\"_id\":\"d4\",\"_attachments\":{\"a\":{\"follows\":true}}}",
                   "Content-Encoding: gzip\r\n", z, zn / 2, NULL, NULL, 0, &n);
    r = put_related("/gz/d4", body, n);
    T_EXPECT(r, 400);
    t_free(&r);
    free(body);
    r = t_req("GET", "/gz/d4", NULL, false);
    T_EXPECT(r, 404);
    t_free(&r);

    /* A small body that decodes past max_attachment_size: 413. */
    size_t big = 4u << 20;
    char *zeros = calloc(1, big);
    assert_non_null(zeros);
    size_t bn = 0;
    unsigned char *bomb = gz(zeros, big, &bn);
    body = related("{\"_id\":\"d5\",\"_attachments\":{\"a\":{\"follows\":true,\"encoding\":\"gzip\"}}}",
                   "Content-Encoding: gzip\r\n", bomb, bn, NULL, NULL, 0, &n);
    r = put_related("/gz/d5", body, n);
    T_EXPECT(r, 413);
    t_free(&r);
    free(body);
    free(bomb);
    free(zeros);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gunzip_unit),
        cmocka_unit_test(test_gzip_parts_over_http),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
