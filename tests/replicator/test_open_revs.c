/* test_open_revs.c — CouchDB's multipart open_revs answer, replayed from a
 * fixed byte string laid out as CouchDB 3.5 writes it (send_docs_multipart
 * and doc_to_multi_part_stream: "--outer", a nested multipart/related part
 * per revision with bodies, the gzip part with Content-Encoding, a missing
 * revision as an error="true" JSON part):
 *  - the streaming MIME parser splits it the same whichever way it is cut
 *    (every cut in two, and byte by byte), and refuses a truncated body;
 *  - the open_revs parser turns it into one typed revision whose gzip
 *    attachment keeps its encoding, bytes and digest;
 *  - a pull from a canned server that answers with these bytes (chunked,
 *    with opaque string sequences) leaves the same metadata in the local
 *    replica as the source had: digest, revpos, length, encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "canned_http.h"
#include "doc_json.h"
#include "mime.h"
#include "open_revs.h"
#include "repl_testutil.h"

#define OUTER "8d5eb5b1e2b24bfa9dd2d1a2c7b1d0a3"
#define INNER "f3b6a1c2d4e5f60718293a4b5c6d7e8f"
#define REV "1-967a00dff5e02add41819138abb3284d"
#define GZ_HELLO                                                                                \
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\x57\x28\xcf\x2f\xca\x49\x01" \
    "\x00\x85\x11\x4a\x0d\x0b\x00\x00\x00"
#define BIN10 "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"

static const char doc_json[] =
    "{\"_id\":\"doc1\",\"_rev\":\"" REV "\",\"_revisions\":{\"start\":1,\"ids\":"
    "[\"967a00dff5e02add41819138abb3284d\"]},\"v\":1,\"_attachments\":{\"b.bin\":"
    "{\"content_type\":\"application/octet-stream\",\"revpos\":1,\"digest\":"
    "\"md5-xWvVSA9uVBPLYqCtlmZhOg==\",\"length\":10,\"follows\":true},\"hello.txt\":"
    "{\"content_type\":\"text/plain\",\"revpos\":1,\"digest\":\"md5-7mkg+nM0HN26sZkLN8KVSA==\","
    "\"length\":11,\"follows\":true,\"encoding\":\"gzip\",\"encoded_length\":31}}}";

static const char answer[] =
    "--" OUTER "\r\nContent-Type: multipart/related; boundary=\"" INNER "\"\r\n\r\n"
    "--" INNER "\r\nContent-Type: application/json\r\n\r\n"
    "@JSON@"
    "\r\n--" INNER "\r\nContent-Disposition: attachment; filename=\"b.bin\"\r\n"
    "Content-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n" BIN10
    "\r\n--" INNER "\r\nContent-Disposition: attachment; filename=\"hello.txt\"\r\n"
    "Content-Type: text/plain\r\nContent-Length: 31\r\nContent-Encoding: gzip\r\n\r\n" GZ_HELLO
    "\r\n--" INNER "--"
    "\r\n--" OUTER "\r\nContent-Type: application/json; error=\"true\"\r\n\r\n"
    "{\"missing\":\"2-0000\"}"
    "\r\n--" OUTER "--";

/* The answer with the document spliced in (sizeof - 1 would stop at the
 * NULs of the binary part, so lengths are counted by hand). */
static st_buf body;

static void build_body(void)
{
    st_buf_free(&body);
    const char *at = strstr(answer, "@JSON@");
    size_t total = sizeof answer - 1;
    assert_int_equal(st_buf_add(&body, answer, (size_t)(at - answer)), ST_OK);
    assert_int_equal(st_buf_adds(&body, doc_json), ST_OK);
    assert_int_equal(st_buf_add(&body, at + 6, total - (size_t)(at + 6 - answer)), ST_OK);
}

/* ------------------------------------------------------------ MIME parts */

typedef struct rec {
    st_buf log;  /* "B<ctype>|" at each begin, the bytes, "E|" at each end */
} rec;

static int r_begin(void *ctx, const st_mime_part *p)
{
    rec *r = ctx;
    return st_buf_printf(&r->log, "B%s;%s;%s|", p->content_type, p->encoding,
                         p->filename ? p->filename : "-") != ST_OK;
}

static int r_data(void *ctx, const char *p, size_t n)
{
    return st_buf_add(&((rec *)ctx)->log, p, n) != ST_OK;
}

static int r_end(void *ctx) { return st_buf_adds(&((rec *)ctx)->log, "E|") != ST_OK; }

static const st_mime_fns rec_fns = {r_begin, r_data, r_end};

/* Parse body cut at the given places; what the parser saw. */
static st_buf parse_cut(const char *ctype, const char *b, size_t n, size_t step, size_t cut)
{
    rec r = {ST_BUF_INIT};
    st_mime *m = NULL;
    st_error e;
    assert_int_equal(st_mime_new(ctype, &rec_fns, &r, &m, &e), ST_OK);
    for (size_t off = 0; off < n;) {
        size_t k = step ? step : off < cut ? cut - off : n - off;
        if (k > n - off)
            k = n - off;
        assert_int_equal(st_mime_feed(m, b + off, k, &e), ST_OK);
        off += k;
    }
    assert_int_equal(st_mime_finish(m, &e), ST_OK);
    st_mime_free(m);
    return r.log;
}

/* Whether needle[0..n) occurs in b (binary-safe). */
static bool contains(const st_buf *b, const char *needle, size_t n)
{
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, needle, n) == 0)
            return true;
    return false;
}

static bool same(const st_buf *a, const st_buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static void test_mime_any_cut(void **state)
{
    (void)state;
    build_body();
    const char *ct = "multipart/mixed; boundary=\"" OUTER "\"";
    st_buf whole = parse_cut(ct, body.data, body.len, 0, body.len);
    /* Two outer parts: the related revision (its body intact, the inner
     * delimiters inside it) and the missing one. */
    static const char head[] = "Bmultipart/related; boundary=\"" INNER "\";;-|--" INNER;
    static const char tail[] = BIN10 "\r\n--" INNER;
    static const char gz[] = GZ_HELLO "\r\n--" INNER "--E|";
    static const char miss[] = "Bapplication/json; error=\"true\";;-|{\"missing\":\"2-0000\"}E|";
    assert_true(contains(&whole, head, sizeof head - 1));
    assert_true(contains(&whole, tail, sizeof tail - 1));
    assert_true(contains(&whole, gz, sizeof gz - 1));
    assert_true(contains(&whole, miss, sizeof miss - 1));
    for (size_t cut = 1; cut < body.len; cut++) {
        st_buf split = parse_cut(ct, body.data, body.len, 0, cut);
        if (!same(&split, &whole))
            fail_msg("cut at %zu parses differently", cut);
        st_buf_free(&split);
    }
    st_buf bytes = parse_cut(ct, body.data, body.len, 1, 0);
    assert_true(same(&bytes, &whole));
    st_buf_free(&bytes);
    st_buf_free(&whole);
}

static void test_mime_refuses_bad(void **state)
{
    (void)state;
    build_body();
    rec r = {ST_BUF_INIT};
    st_mime *m = NULL;
    st_error e;
    assert_int_equal(st_mime_new("multipart/mixed", &rec_fns, &r, &m, &e), ST_E_BAD_REQUEST);
    assert_int_equal(st_mime_new("application/json; boundary=x", &rec_fns, &r, &m, &e),
                     ST_E_BAD_REQUEST);
    /* Cut short: the closing delimiter never came. */
    assert_int_equal(st_mime_new("multipart/mixed; boundary=" OUTER, &rec_fns, &r, &m, &e), ST_OK);
    assert_int_equal(st_mime_feed(m, body.data, body.len - 10, &e), ST_OK);
    assert_int_equal(st_mime_finish(m, &e), ST_E_BAD_REQUEST);
    st_mime_free(m);
    st_buf_free(&r.log);
    /* Bytes that start like a delimiter and break off stay body. */
    static const char tricky[] = "--b\r\n\r\nx\r\n-y\r\r\n-\r\n--b--";
    st_buf log = parse_cut("multipart/related; boundary=b", tricky, sizeof tricky - 1, 1, 0);
    static const char want[] = "B;;-|x\r\n-y\r\r\n-E|";
    assert_int_equal(log.len, sizeof want - 1);
    assert_memory_equal(log.data, want, log.len);
    st_buf_free(&log);
}

/* ------------------------------------------------------ typed revisions */

typedef struct got {
    st_rep_doc docs[4];
    size_t n;
} got;

static int on_doc(void *ctx, const st_rep_doc *d)
{
    got *g = ctx;
    if (g->n < 4)
        g->docs[g->n++] = *d;
    return 0;
}

static void check_doc(const st_rep_doc *d)
{
    assert_string_equal(d->id, "doc1");
    assert_int_equal(d->n_path, 1);
    assert_int_equal(d->path[0].gen, 1);
    assert_string_equal(d->path[0].hash, "967a00dff5e02add41819138abb3284d");
    assert_false(d->deleted);
    assert_memory_equal(d->body, "{\"v\":1}", d->body_len);
    assert_int_equal(d->n_atts, 2);
    const st_rep_att *b = &d->atts[0], *h = &d->atts[1];
    assert_string_equal(b->name, "b.bin");
    assert_null(b->encoding);
    assert_int_equal(b->len, 10);
    assert_memory_equal(b->data, BIN10, 10);
    assert_string_equal(h->name, "hello.txt");
    assert_string_equal(h->encoding, "gzip");
    assert_string_equal(h->digest, "md5-7mkg+nM0HN26sZkLN8KVSA==");
    assert_int_equal(h->length, 11);
    assert_int_equal(h->revpos, 1);
    assert_int_equal(h->len, 31);
    assert_memory_equal(h->data, GZ_HELLO, 31);
}

static void test_open_revs_typed(void **state)
{
    (void)state;
    build_body();
    for (size_t step = 1; step <= body.len; step = step < 64 ? step + 1 : step * 2) {
        st_arena *a = st_arena_new();
        got g = {.n = 0};
        st_orp *p = NULL;
        st_error e;
        assert_int_equal(st_orp_new("multipart/mixed; boundary=\"" OUTER "\"", a, on_doc, &g, &p, &e),
                         ST_OK);
        for (size_t off = 0; off < body.len; off += step)
            assert_int_equal(
                st_orp_feed(p, body.data + off, off + step > body.len ? body.len - off : step, &e),
                ST_OK);
        assert_int_equal(st_orp_finish(p, &e), ST_OK);
        assert_int_equal(g.n, 1); /* the missing revision is skipped */
        check_doc(&g.docs[0]);
        st_orp_free(p);
        st_arena_free(a);
    }
}

/* Inline attachment data that is not base64 (a character outside the
 * alphabet, found after the decode buffer was made) is refused, and the
 * buffer freed (the leak check of the sanitizer build sees it otherwise). */
static void test_inline_data_not_base64(void **state)
{
    (void)state;
    static const char text[] =
        "{\"_id\":\"d\",\"_rev\":\"1-abc\",\"_attachments\":{\"a\":{\"content_type\":"
        "\"text/plain\",\"data\":\"aGVsbG8*\"}}}";
    st_json_doc *doc = NULL;
    assert_int_equal(st_json_parse(text, sizeof text - 1, NULL, &doc, NULL), ST_OK);
    st_arena *a = st_arena_new();
    st_rep_doc d;
    st_error e;
    assert_int_equal(st_dj_parse(st_json_doc_root(doc), NULL, 0, a, &d, &e), ST_E_BAD_REQUEST);
    assert_non_null(strstr(e.reason, "not base64"));
    st_arena_free(a);
    st_json_doc_free(doc);
}

/* ----------------------------------------------------------- a real pull */

static ch_route routes[] = {
    {.method = "GET", .path = "/", .status = 200, .ctype = "application/json",
     .body = "{\"couchdb\":\"Welcome\",\"version\":\"3.5.0\",\"uuid\":\"c0ffee00c0ffee00c0ffee00c0ffee00\"}"},
    {.method = "GET", .path = "/db", .status = 200, .ctype = "application/json",
     .body = "{\"db_name\":\"db\",\"update_seq\":\"1-g1AAAABteJzLYWBgYMpgTmHgz8tPSTV0\","
             "\"instance_start_time\":\"0\"}"},
    {.method = "GET", .path = "/db/_local/*", .status = 404, .ctype = "application/json",
     .body = "{\"error\":\"not_found\",\"reason\":\"missing\"}"},
    {.method = "PUT", .path = "/db/_local/*", .status = 201, .ctype = "application/json",
     .body = "{\"ok\":true,\"id\":\"_local/x\",\"rev\":\"0-1\"}"},
    {.method = "GET", .path = "/db/_changes*", .status = 200, .ctype = "application/json",
     .body = "{\"results\":[{\"seq\":\"1-g1AAAABteJzLYWBgYMpgTmHgz8tPSTV0\",\"id\":\"doc1\","
             "\"changes\":[{\"rev\":\"" REV "\"}]}],\n\"last_seq\":"
             "\"1-g1AAAABteJzLYWBgYMpgTmHgz8tPSTV0\",\"pending\":0}\n",
     .chunk = 40},
    /* attachments=false: stubs, so the replicator must ask again. */
    {.method = "POST", .path = "/db/_bulk_get*", .status = 200, .ctype = "application/json",
     .body = "{\"results\":[{\"id\":\"doc1\",\"docs\":[{\"ok\":{\"_id\":\"doc1\",\"_rev\":\"" REV
             "\",\"_revisions\":{\"start\":1,\"ids\":[\"967a00dff5e02add41819138abb3284d\"]},"
             "\"v\":1,\"_attachments\":{\"b.bin\":{\"content_type\":\"application/octet-stream\","
             "\"revpos\":1,\"digest\":\"md5-xWvVSA9uVBPLYqCtlmZhOg==\",\"length\":10,\"stub\":true},"
             "\"hello.txt\":{\"content_type\":\"text/plain\",\"revpos\":1,\"digest\":"
             "\"md5-7mkg+nM0HN26sZkLN8KVSA==\",\"length\":11,\"stub\":true}}}}]}]}"},
    {.method = "GET", .path = "/db/doc1?*", .status = 200,
     .ctype = "multipart/mixed; boundary=\"" OUTER "\"", .chunk = 13},
};

static void check_att(st_db *db, const char *name, const char *digest, uint64_t length,
                      const char *encoding, uint64_t encoded_length)
{
    st_buf data = ST_BUF_INIT;
    st_att_info meta;
    st_error e;
    assert_int_equal(st_db_get_attachment(db, "doc1", NULL, name, &data, &meta, &e), ST_OK);
    assert_string_equal(meta.digest, digest);
    assert_int_equal(meta.length, length);
    assert_int_equal(meta.revpos, 1);
    assert_string_equal(meta.encoding, encoding);
    if (encoded_length)
        assert_int_equal(meta.encoded_length, encoded_length);
    assert_int_equal(st_att_decode(&meta, &data, 1 << 20, &e), ST_OK);
    assert_int_equal(data.len, length);
    st_buf_free(&data);
}

static void test_pull_replayed_couchdb(void **state)
{
    (void)state;
    build_body();
    routes[6].body = body.data;
    routes[6].len = body.len;
    ch_server s;
    assert_true(ch_start(&s, routes, sizeof routes / sizeof routes[0]));
    char path[4096], url[128];
    ts_db_path(path, sizeof path, "replayed.settee");
    st_db *db = rt_open(path, true);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/db", s.port);
    st_repl_config c;
    st_repl_config_init(&c);
    c.source = url;
    c.target_db = db;
    c.max_retries = 2;
    c.retry_base_ms = 20;
    st_repl_status st;
    st_error e;
    if (st_repl_run(&c, &st, &e) != ST_OK)
        fprintf(stderr, "pull: %s\n", st.last_error.reason);
    assert_int_equal(st.state, ST_REPL_STOPPED);
    assert_int_equal(st.docs_written, 1);
    /* The opaque sequence came back verbatim into the checkpoint. */
    assert_string_equal(st.last_seq, "\"1-g1AAAABteJzLYWBgYMpgTmHgz8tPSTV0\"");
    assert_int_equal(atomic_load(&routes[6].hits), 1);
    assert_non_null(strstr(routes[6].last_headers, "Accept: multipart/mixed"));
    assert_non_null(strstr(routes[6].last_headers, "open_revs=%5B%22" REV "%22%5D"));
    check_att(db, "hello.txt", "md5-7mkg+nM0HN26sZkLN8KVSA==", 11, "gzip", 31);
    check_att(db, "b.bin", "md5-xWvVSA9uVBPLYqCtlmZhOg==", 10, "", 0);
    st_buf b = ST_BUF_INIT;
    assert_int_equal(st_db_get(db, "doc1", NULL, &b, &e), ST_OK);
    assert_non_null(strstr(b.data, "\"_rev\":\"" REV "\""));
    assert_non_null(strstr(b.data, "\"v\":1"));
    st_buf_free(&b);
    ch_stop(&s);
    st_db_close(db);
    ts_db_unlink(path);
}

static int teardown_all(void **state)
{
    (void)state;
    st_buf_free(&body);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mime_any_cut),
        cmocka_unit_test(test_mime_refuses_bad),
        cmocka_unit_test(test_open_revs_typed),
        cmocka_unit_test(test_inline_data_not_base64),
        cmocka_unit_test(test_pull_replayed_couchdb),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
