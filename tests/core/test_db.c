/* test_db.c — the document store: MVCC, replicated writes, winners,
 * conflicts, stemming, changes, all_docs, _local docs, attachments, revs_diff,
 * bulk_get, purge, compaction, durability across reopen, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>
#include <sys/stat.h>
#include "st_utf8.h"

#include "st_db.h"
#include "st_gzip.h"
#include "st_json.h"
#include "support/tmp.h"

typedef struct fx {
    char path[4096];
    st_db *db;
} fx;

static int setup(void **state)
{
    static int counter;
    fx *f = calloc(1, sizeof *f);
    char name[64];
    snprintf(name, sizeof name, "db%d", counter++);
    ts_db_path(f->path, sizeof f->path, name);
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    o.durability = ST_DURABLE_NORMAL;
    st_error e;
    assert_int_equal(st_db_open(f->path, "test", &o, &f->db, &e), ST_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    assert_int_equal(st_db_close(f->db), ST_OK);
    ts_db_unlink(f->path);
    free(f);
    return 0;
}

/* Put JSON text; returns the status, copies the rev out. */
static st_status put(st_db *db, const char *json, unsigned flags, char *rev_out)
{
    st_write_result r;
    st_error e;
    st_status st = st_db_put_json(db, json, strlen(json), flags, &r, &e);
    if (st == ST_OK && rev_out)
        strcpy(rev_out, r.rev);
    st_write_results_free(&r, 1);
    return st;
}

static char *get(st_db *db, const char *id, const st_get_opts *o, st_status *st_out)
{
    st_buf b = ST_BUF_INIT;
    st_error e;
    st_status st = st_db_get(db, id, o, &b, &e);
    if (st_out)
        *st_out = st;
    if (st != ST_OK) {
        st_buf_free(&b);
        return NULL;
    }
    return st_buf_take(&b, NULL);
}

static void test_put_get_update_conflict(void **state)
{
    fx *f = *state;
    char r1[ST_REV_STR_MAX], r2[ST_REV_STR_MAX], json[256];
    assert_int_equal(put(f->db, "{\"_id\":\"a\",\"x\":1}", 0, r1), ST_OK);
    /* CouchDB's rev for {"x":1} as a new document (PROTOCOL.md 1.1). */
    assert_string_equal(r1, "1-0785e9eb543380151003dc452c3a001a");
    char *doc = get(f->db, "a", NULL, NULL);
    assert_string_equal(doc, "{\"_id\":\"a\",\"_rev\":\"1-0785e9eb543380151003dc452c3a001a\",\"x\":1}");
    free(doc);
    /* No rev on an existing doc: conflict. Stale rev: conflict. */
    assert_int_equal(put(f->db, "{\"_id\":\"a\",\"x\":2}", 0, NULL), ST_E_CONFLICT);
    snprintf(json, sizeof json, "{\"_id\":\"a\",\"_rev\":\"%s\",\"x\":2}", r1);
    assert_int_equal(put(f->db, json, 0, r2), ST_OK);
    assert_true(strncmp(r2, "2-", 2) == 0);
    assert_int_equal(put(f->db, json, 0, NULL), ST_E_CONFLICT);
    /* A rev on a doc that does not exist creates it as CouchDB 3.5 does: the
     * rev becomes a bodiless root and the edit its child. */
    char r3[ST_REV_STR_MAX];
    assert_int_equal(put(f->db, "{\"_id\":\"nope\",\"_rev\":\"1-abc\"}", 0, r3), ST_OK);
    assert_true(strncmp(r3, "2-", 2) == 0);
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.doc_count, 2);
    assert_int_equal(info.update_seq, 3);
    /* The old revision's body is kept until compaction. */
    st_get_opts o = {.rev = r1};
    doc = get(f->db, "a", &o, NULL);
    assert_non_null(strstr(doc, "\"x\":1"));
    free(doc);
    assert_int_equal(st_db_compact(f->db, NULL), ST_OK);
    st_status st;
    assert_null(get(f->db, "a", &o, &st));
    assert_int_equal(st, ST_E_NOT_FOUND);
    doc = get(f->db, "a", NULL, NULL);
    assert_non_null(strstr(doc, "\"x\":2"));
    free(doc);
}

static void test_delete_and_recreate(void **state)
{
    fx *f = *state;
    char r1[ST_REV_STR_MAX], r2[ST_REV_STR_MAX], r3[ST_REV_STR_MAX];
    assert_int_equal(put(f->db, "{\"_id\":\"d\",\"v\":1}", 0, r1), ST_OK);
    st_write_req req = {.id = "d", .rev = r1, .delete_doc = true};
    st_write_result res;
    assert_int_equal(st_db_write(f->db, &req, 1, 0, &res, NULL), ST_OK);
    assert_int_equal(res.err.code, ST_OK);
    strcpy(r2, res.rev);
    st_write_results_free(&res, 1);
    assert_true(strncmp(r2, "2-", 2) == 0);
    st_status st;
    st_error e;
    st_buf b = ST_BUF_INIT;
    assert_int_equal(st_db_get(f->db, "d", NULL, &b, &e), ST_E_NOT_FOUND);
    assert_string_equal(e.reason, "deleted");
    assert_int_equal(st_db_get(f->db, "zz", NULL, &b, &e), ST_E_NOT_FOUND);
    assert_string_equal(e.reason, "missing");
    st_buf_free(&b);
    /* The tombstone can be read by rev. */
    st_get_opts o = {.rev = r2};
    char *doc = get(f->db, "d", &o, &st);
    assert_non_null(strstr(doc, "\"_deleted\":true"));
    free(doc);
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.doc_count, 0);
    assert_int_equal(info.doc_del_count, 1);
    /* Recreate without a rev extends the tombstone. */
    assert_int_equal(put(f->db, "{\"_id\":\"d\",\"v\":3}", 0, r3), ST_OK);
    assert_true(strncmp(r3, "3-", 2) == 0);
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.doc_count, 1);
    assert_int_equal(info.doc_del_count, 0);
}

static void test_same_edit_same_rev(void **state)
{
    fx *f = *state;
    char a[ST_REV_STR_MAX], b[ST_REV_STR_MAX];
    assert_int_equal(put(f->db, "{\"_id\":\"s1\",\"k\":[1,2,{\"z\":null}]}", 0, a), ST_OK);
    assert_int_equal(put(f->db, "{\"_id\":\"s2\",\"k\":[1,2,{\"z\":null}]}", 0, b), ST_OK);
    assert_string_equal(a, b); /* the id is not part of the hash, as in CouchDB */
}

static void test_replicated_conflicts_winner(void **state)
{
    fx *f = *state;
    /* Two branches from 1-a; 2-c wins over 2-b by hash. */
    assert_int_equal(put(f->db, "{\"_id\":\"c\",\"_rev\":\"1-aaaa\",\"v\":1}", ST_WRITE_REPLICATED, NULL), ST_OK);
    assert_int_equal(put(f->db, "{\"_id\":\"c\",\"_revisions\":{\"start\":2,\"ids\":[\"bbbb\",\"aaaa\"]},\"v\":\"b\"}", ST_WRITE_REPLICATED, NULL), ST_OK);
    assert_int_equal(put(f->db, "{\"_id\":\"c\",\"_revisions\":{\"start\":2,\"ids\":[\"cccc\",\"aaaa\"]},\"v\":\"c\"}", ST_WRITE_REPLICATED, NULL), ST_OK);
    /* A deleted leaf 2-dddd does not win although its hash is highest. */
    assert_int_equal(put(f->db, "{\"_id\":\"c\",\"_revisions\":{\"start\":2,\"ids\":[\"dddd\",\"aaaa\"]},\"_deleted\":true}", ST_WRITE_REPLICATED, NULL), ST_OK);
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    uint64_t seq = info.update_seq;
    /* Idempotent: the same revision again changes nothing, takes no seq. */
    assert_int_equal(put(f->db, "{\"_id\":\"c\",\"_revisions\":{\"start\":2,\"ids\":[\"cccc\",\"aaaa\"]},\"v\":\"c\"}", ST_WRITE_REPLICATED, NULL), ST_OK);
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.update_seq, seq);

    st_get_opts o = {.conflicts = true, .deleted_conflicts = true, .revs = true, .revs_info = true};
    char *doc = get(f->db, "c", &o, NULL);
    assert_non_null(strstr(doc, "\"_rev\":\"2-cccc\""));
    assert_non_null(strstr(doc, "\"v\":\"c\""));
    assert_non_null(strstr(doc, "\"_conflicts\":[\"2-bbbb\"]"));
    assert_non_null(strstr(doc, "\"_deleted_conflicts\":[\"2-dddd\"]"));
    assert_non_null(strstr(doc, "\"_revisions\":{\"start\":2,\"ids\":[\"cccc\",\"aaaa\"]}"));
    assert_non_null(strstr(doc, "{\"rev\":\"1-aaaa\",\"status\":\"available\"}"));
    free(doc);

    /* The loser's body is still readable by rev. */
    st_get_opts ob = {.rev = "2-bbbb"};
    doc = get(f->db, "c", &ob, NULL);
    assert_non_null(strstr(doc, "\"v\":\"b\""));
    free(doc);

    /* Deleting the winner makes 2-bbbb win. */
    st_write_req del = {.id = "c", .rev = "2-cccc", .delete_doc = true};
    st_write_result res;
    assert_int_equal(st_db_write(f->db, &del, 1, 0, &res, NULL), ST_OK);
    assert_int_equal(res.err.code, ST_OK);
    st_write_results_free(&res, 1);
    doc = get(f->db, "c", NULL, NULL);
    assert_non_null(strstr(doc, "\"_rev\":\"2-bbbb\""));
    assert_non_null(strstr(doc, "\"v\":\"b\""));
    free(doc);
}

typedef struct rows {
    char buf[4096];
    int n;
} rows;

static int collect_change(void *ctx, const st_change_row *r)
{
    rows *x = ctx;
    size_t len = strlen(x->buf);
    snprintf(x->buf + len, sizeof x->buf - len, "%llu:%s%s", (unsigned long long)r->seq, r->id,
             r->deleted ? "(d)" : "");
    for (size_t i = 0; i < r->n_revs; i++) {
        len = strlen(x->buf);
        snprintf(x->buf + len, sizeof x->buf - len, "%s%s", i ? "," : "=", r->revs[i]);
    }
    len = strlen(x->buf);
    snprintf(x->buf + len, sizeof x->buf - len, " ");
    x->n++;
    return 0;
}

static void test_changes(void **state)
{
    fx *f = *state;
    char r[ST_REV_STR_MAX], json[256];
    assert_int_equal(put(f->db, "{\"_id\":\"a\"}", 0, r), ST_OK);      /* 1 */
    assert_int_equal(put(f->db, "{\"_id\":\"b\"}", 0, NULL), ST_OK);   /* 2 */
    snprintf(json, sizeof json, "{\"_id\":\"a\",\"_rev\":\"%s\",\"_deleted\":true}", r);
    assert_int_equal(put(f->db, json, 0, NULL), ST_OK);                /* 3: a moves */
    assert_int_equal(put(f->db, "{\"_id\":\"c\"}", 0, NULL), ST_OK);   /* 4 */

    rows x = {0};
    uint64_t last = 0, pending = 0;
    st_changes_opts o;
    st_changes_opts_init(&o);
    assert_int_equal(st_db_changes(f->db, &o, collect_change, &x, &last, &pending, NULL), ST_OK);
    assert_int_equal(x.n, 3);
    assert_true(strncmp(x.buf, "2:b=", 4) == 0);
    assert_non_null(strstr(x.buf, "3:a(d)=2-"));
    assert_int_equal(last, 4);
    assert_int_equal(pending, 0);

    /* since + limit: pending counts what is left. */
    memset(&x, 0, sizeof x);
    o.since = 1;
    o.limit = 1;
    assert_int_equal(st_db_changes(f->db, &o, collect_change, &x, &last, &pending, NULL), ST_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(last, 2);
    assert_int_equal(pending, 2);

    /* descending */
    memset(&x, 0, sizeof x);
    st_changes_opts_init(&o);
    o.descending = true;
    assert_int_equal(st_db_changes(f->db, &o, collect_change, &x, &last, NULL, NULL), ST_OK);
    assert_true(strncmp(x.buf, "4:c", 3) == 0);

    /* doc_ids filter */
    memset(&x, 0, sizeof x);
    st_changes_opts_init(&o);
    const char *ids[] = {"c", "b", "nope"};
    o.doc_ids = ids;
    o.n_doc_ids = 3;
    assert_int_equal(st_db_changes(f->db, &o, collect_change, &x, &last, NULL, NULL), ST_OK);
    assert_int_equal(x.n, 2);
    assert_true(strncmp(x.buf, "2:b", 3) == 0);

    /* all_docs style lists every leaf, winner first. */
    put(f->db, "{\"_id\":\"k\",\"_rev\":\"1-aaaa\"}", ST_WRITE_REPLICATED, NULL);
    put(f->db, "{\"_id\":\"k\",\"_revisions\":{\"start\":2,\"ids\":[\"bbbb\",\"aaaa\"]}}", ST_WRITE_REPLICATED, NULL);
    put(f->db, "{\"_id\":\"k\",\"_revisions\":{\"start\":2,\"ids\":[\"cccc\",\"aaaa\"]}}", ST_WRITE_REPLICATED, NULL);
    memset(&x, 0, sizeof x);
    st_changes_opts_init(&o);
    o.since = 4;
    o.all_docs = true;
    assert_int_equal(st_db_changes(f->db, &o, collect_change, &x, &last, NULL, NULL), ST_OK);
    assert_int_equal(x.n, 1);
    assert_non_null(strstr(x.buf, "k=2-cccc,2-bbbb"));
}

typedef struct adrows {
    char buf[4096];
    uint64_t total, offset;
} adrows;

static void ad_head(void *ctx, uint64_t total, uint64_t offset)
{
    adrows *a = ctx;
    a->total = total;
    a->offset = offset;
}

static int ad_row(void *ctx, const st_alldocs_row *r)
{
    adrows *a = ctx;
    size_t len = strlen(a->buf);
    snprintf(a->buf + len, sizeof a->buf - len, "%s%s%s ", r->key,
             r->not_found ? "!" : (r->deleted ? "(d)" : ""), r->doc_json ? "+" : "");
    return 0;
}

static void test_all_docs(void **state)
{
    fx *f = *state;
    const char *ids[] = {"b", "a", "d", "c", "e"};
    for (int i = 0; i < 5; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"_id\":\"%s\"}", ids[i]);
        assert_int_equal(put(f->db, json, 0, NULL), ST_OK);
    }
    char r[ST_REV_STR_MAX], json[512];
    assert_int_equal(put(f->db, "{\"_id\":\"x\"}", 0, r), ST_OK);
    snprintf(json, sizeof json, "{\"_id\":\"x\",\"_rev\":\"%s\",\"_deleted\":true}", r);
    assert_int_equal(put(f->db, json, 0, NULL), ST_OK);
    assert_int_equal(put(f->db, "{\"_id\":\"_local/l\"}", 0, NULL), ST_OK);

    adrows a = {0};
    st_alldocs_opts o;
    st_alldocs_opts_init(&o);
    assert_int_equal(st_db_all_docs(f->db, &o, ad_head, ad_row, &a, NULL), ST_OK);
    assert_string_equal(a.buf, "a b c d e ");
    assert_int_equal(a.total, 5);

    memset(&a, 0, sizeof a);
    o.startkey = "b";
    o.endkey = "d";
    o.inclusive_end = false;
    o.include_docs = true;
    assert_int_equal(st_db_all_docs(f->db, &o, ad_head, ad_row, &a, NULL), ST_OK);
    assert_string_equal(a.buf, "b+ c+ ");
    assert_int_equal(a.offset, 1);

    memset(&a, 0, sizeof a);
    st_alldocs_opts_init(&o);
    o.descending = true;
    o.skip = 1;
    o.limit = 2;
    assert_int_equal(st_db_all_docs(f->db, &o, ad_head, ad_row, &a, NULL), ST_OK);
    assert_string_equal(a.buf, "d c ");

    memset(&a, 0, sizeof a);
    st_alldocs_opts_init(&o);
    const char *keys[] = {"e", "zz", "x", "a"};
    o.keys = keys;
    o.n_keys = 4;
    assert_int_equal(st_db_all_docs(f->db, &o, ad_head, ad_row, &a, NULL), ST_OK);
    assert_string_equal(a.buf, "e zz! x(d) a ");
}

static void test_local_docs(void **state)
{
    fx *f = *state;
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse("{\"seq\":5}", 9, NULL, &d, NULL), ST_OK);
    char rev[ST_REV_STR_MAX];
    assert_int_equal(st_db_local_put(f->db, "_local/ck", st_json_doc_root(d), NULL, rev, NULL), ST_OK);
    assert_string_equal(rev, "0-1");
    assert_int_equal(st_db_local_put(f->db, "_local/ck", st_json_doc_root(d), "0-1", rev, NULL), ST_OK);
    assert_string_equal(rev, "0-2");
    assert_int_equal(st_db_local_put(f->db, "_local/ck", st_json_doc_root(d), "0-1", rev, NULL), ST_E_CONFLICT);
    st_json_doc_free(d);
    st_buf b = ST_BUF_INIT;
    assert_int_equal(st_db_local_get(f->db, "_local/ck", &b, NULL), ST_OK);
    assert_string_equal(b.data, "{\"_id\":\"_local/ck\",\"_rev\":\"0-2\",\"seq\":5}");
    st_buf_free(&b);
    /* Local docs take no sequence and are not in changes. */
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.update_seq, 0);
    assert_int_equal(info.doc_count, 0);
    assert_int_equal(st_db_local_delete(f->db, "_local/ck", "0-2", NULL), ST_OK);
    st_error e;
    assert_int_equal(st_db_local_get(f->db, "_local/ck", &b, &e), ST_E_NOT_FOUND);
    st_buf_free(&b);
}

static void test_attachments(void **state)
{
    fx *f = *state;
    char r1[ST_REV_STR_MAX], r2[ST_REV_STR_MAX], json[512];
    /* "hello world" */
    assert_int_equal(put(f->db, "{\"_id\":\"at\",\"_attachments\":{\"h.txt\":{\"content_type\":\"text/plain\",\"data\":\"aGVsbG8gd29ybGQ=\"}}}", 0, r1), ST_OK);
    char *doc = get(f->db, "at", NULL, NULL);
    /* Stored gzip-encoded as CouchDB stores text: CouchDB's digest (PROTOCOL.md 1.1). */
    assert_non_null(strstr(doc, "\"h.txt\":{\"content_type\":\"text/plain\",\"revpos\":1,\"digest\":\"md5-7mkg+nM0HN26sZkLN8KVSA==\",\"length\":11,\"stub\":true}"));
    free(doc);
    /* Carried across an update as a stub. */
    snprintf(json, sizeof json, "{\"_id\":\"at\",\"_rev\":\"%s\",\"n\":2,\"_attachments\":{\"h.txt\":{\"stub\":true}}}", r1);
    assert_int_equal(put(f->db, json, 0, r2), ST_OK);
    st_get_opts o = {.atts = ST_ATTS_INLINE};
    doc = get(f->db, "at", &o, NULL);
    assert_non_null(strstr(doc, "\"data\":\"aGVsbG8gd29ybGQ=\""));
    assert_non_null(strstr(doc, "\"revpos\":1"));
    free(doc);
    st_buf data = ST_BUF_INIT;
    st_att_info meta;
    assert_int_equal(st_db_get_attachment(f->db, "at", NULL, "h.txt", &data, &meta, NULL), ST_OK);
    assert_string_equal(meta.encoding, "gzip");
    assert_int_equal(meta.length, 11);
    assert_int_equal(meta.encoded_length, data.len);
    st_buf plain = ST_BUF_INIT;
    assert_int_equal(st_gunzip(data.data, data.len, 1000, &plain, NULL), ST_OK);
    assert_int_equal(plain.len, 11);
    assert_memory_equal(plain.data, "hello world", 11);
    assert_string_equal(meta.content_type, "text/plain");
    st_buf_free(&plain);
    st_buf_free(&data);
    /* A stub for an attachment the parent lacks is refused. */
    snprintf(json, sizeof json, "{\"_id\":\"at\",\"_rev\":\"%s\",\"_attachments\":{\"nope\":{\"stub\":true}}}", r2);
    assert_int_equal(put(f->db, json, 0, NULL), ST_E_MISSING_STUB);
    /* Bad base64 */
    assert_int_equal(put(f->db, "{\"_id\":\"bad\",\"_attachments\":{\"x\":{\"data\":\"!!\"}}}", 0, NULL), ST_E_BAD_REQUEST);
    /* Standalone attachment put, then delete. */
    st_att_data ad = {.name = "b.bin", .content_type = "application/octet-stream", .data = "\x00\x01\x02", .len = 3};
    st_write_result res;
    assert_int_equal(st_db_put_attachment(f->db, "at", r2, &ad, &res, NULL), ST_OK);
    assert_int_equal(res.err.code, ST_OK);
    char r3[ST_REV_STR_MAX];
    strcpy(r3, res.rev);
    st_write_results_free(&res, 1);
    assert_int_equal(st_db_get_attachment(f->db, "at", NULL, "b.bin", &data, &meta, NULL), ST_OK);
    assert_int_equal(data.len, 3);
    st_buf_free(&data);
    assert_int_equal(st_db_get_attachment(f->db, "at", NULL, "h.txt", &data, &meta, NULL), ST_OK);
    st_buf_free(&data);
    st_att_data del = {.name = "h.txt"};
    assert_int_equal(st_db_put_attachment(f->db, "at", r3, &del, &res, NULL), ST_OK);
    st_write_results_free(&res, 1);
    assert_int_equal(st_db_get_attachment(f->db, "at", NULL, "h.txt", &data, &meta, NULL), ST_E_NOT_FOUND);
    st_buf_free(&data);
}

static void test_revs_diff_and_bulk_get(void **state)
{
    fx *f = *state;
    put(f->db, "{\"_id\":\"r\",\"_revisions\":{\"start\":2,\"ids\":[\"bbbb\",\"aaaa\"]},\"v\":2}", ST_WRITE_REPLICATED, NULL);
    const char *q = "{\"r\":[\"2-bbbb\",\"3-cccc\",\"1-aaaa\"],\"new\":[\"1-x\"]}";
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse(q, strlen(q), NULL, &d, NULL), ST_OK);
    st_buf out = ST_BUF_INIT;
    st_jw w;
    assert_int_equal(st_jw_init(&w, &out), ST_OK);
    assert_int_equal(st_db_revs_diff(f->db, st_json_doc_root(d), &w, NULL), ST_OK);
    st_jw_free(&w);
    assert_string_equal(out.data, "{\"r\":{\"missing\":[\"3-cccc\"],\"possible_ancestors\":[\"2-bbbb\"]},\"new\":{\"missing\":[\"1-x\"]}}");
    st_json_doc_free(d);
    st_buf_free(&out);

    const char *bq = "{\"docs\":[{\"id\":\"r\",\"rev\":\"2-bbbb\"},{\"id\":\"r\",\"rev\":\"9-zz\"},{\"id\":\"none\"}]}";
    assert_int_equal(st_json_parse(bq, strlen(bq), NULL, &d, NULL), ST_OK);
    assert_int_equal(st_jw_init(&w, &out), ST_OK);
    st_get_opts o = {.revs = true};
    assert_int_equal(st_db_bulk_get(f->db, st_json_doc_root(d), &o, &w, NULL), ST_OK);
    st_jw_free(&w);
    assert_non_null(strstr(out.data, "{\"ok\":{\"_id\":\"r\",\"_rev\":\"2-bbbb\",\"v\":2,\"_revisions\":{\"start\":2,\"ids\":[\"bbbb\",\"aaaa\"]}}}"));
    assert_non_null(strstr(out.data, "{\"error\":{\"id\":\"r\",\"rev\":\"9-zz\",\"error\":\"not_found\",\"reason\":\"missing\"}}"));
    assert_non_null(strstr(out.data, "{\"id\":\"none\",\"docs\":[{\"error\":{\"id\":\"none\""));
    st_json_doc_free(d);
    st_buf_free(&out);
}

static void test_open_revs_latest(void **state)
{
    fx *f = *state;
    put(f->db, "{\"_id\":\"o\",\"_revisions\":{\"start\":2,\"ids\":[\"cccc\",\"aaaa\"]}}", ST_WRITE_REPLICATED, NULL);
    put(f->db, "{\"_id\":\"o\",\"_revisions\":{\"start\":2,\"ids\":[\"dddd\",\"aaaa\"]},\"_deleted\":true}", ST_WRITE_REPLICATED, NULL);
    rows x = {0};
    (void)x;
    st_buf out = ST_BUF_INIT;
    st_get_opts o = {.latest = true};
    const char *revs[] = {"1-aaaa", "9-zzzz"};
    /* collect JSON of each view */
    struct c { char s[2048]; } acc = {{0}};
    int cb(void *ctx, const st_doc_view *v);
    assert_int_equal(st_db_open_revs(f->db, "o", revs, 2, &o, cb, &acc, NULL), ST_OK);
    assert_non_null(strstr(acc.s, "2-cccc"));
    assert_non_null(strstr(acc.s, "2-dddd"));
    assert_non_null(strstr(acc.s, "missing:9-zzzz"));
    memset(&acc, 0, sizeof acc);
    assert_int_equal(st_db_open_revs(f->db, "o", NULL, 0, NULL, cb, &acc, NULL), ST_OK);
    assert_true(strncmp(acc.s, "ok:2-cccc", 9) == 0); /* winner first */
    st_buf_free(&out);
}

int cb(void *ctx, const st_doc_view *v)
{
    char *s = ctx;
    size_t n = strlen(s);
    snprintf(s + n, 2048 - n, "%s:%s ", v->missing ? "missing" : "ok", v->rev);
    return 0;
}

static void test_stemming(void **state)
{
    fx *f = *state;
    assert_int_equal(st_db_revs_limit_set(f->db, 3, NULL), ST_OK);
    char rev[ST_REV_STR_MAX] = "", json[256];
    assert_int_equal(put(f->db, "{\"_id\":\"s\",\"n\":0}", 0, rev), ST_OK);
    for (int i = 1; i < 10; i++) {
        snprintf(json, sizeof json, "{\"_id\":\"s\",\"_rev\":\"%s\",\"n\":%d}", rev, i);
        assert_int_equal(put(f->db, json, 0, rev), ST_OK);
    }
    st_get_opts o = {.revs = true};
    char *doc = get(f->db, "s", &o, NULL);
    assert_non_null(strstr(doc, "\"_revisions\":{\"start\":10,\"ids\":["));
    /* exactly three ids kept */
    const char *ids = strstr(doc, "\"ids\":[");
    int commas = 0;
    for (const char *p = ids; *p && *p != ']'; p++)
        commas += *p == ',';
    assert_int_equal(commas, 2);
    free(doc);
    unsigned lim = 0;
    assert_int_equal(st_db_revs_limit_get(f->db, &lim, NULL), ST_OK);
    assert_int_equal(lim, 3);
}

static void test_purge(void **state)
{
    fx *f = *state;
    char r[ST_REV_STR_MAX];
    assert_int_equal(put(f->db, "{\"_id\":\"p\"}", 0, r), ST_OK);
    char q[512];
    snprintf(q, sizeof q, "{\"p\":[\"%s\"],\"nope\":[\"1-x\"]}", r);
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse(q, strlen(q), NULL, &d, NULL), ST_OK);
    st_buf out = ST_BUF_INIT;
    st_jw w;
    assert_int_equal(st_jw_init(&w, &out), ST_OK);
    assert_int_equal(st_db_purge(f->db, st_json_doc_root(d), &w, NULL), ST_OK);
    st_jw_free(&w);
    char expect[256];
    snprintf(expect, sizeof expect, "{\"purge_seq\":null,\"purged\":{\"p\":[\"%s\"],\"nope\":[]}}", r);
    assert_string_equal(out.data, expect);
    st_buf_free(&out);
    st_json_doc_free(d);
    st_status st;
    assert_null(get(f->db, "p", NULL, &st));
    assert_int_equal(st, ST_E_NOT_FOUND);
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.doc_count, 0);
    assert_int_equal(info.purge_seq, 1);
}

/* {"_id":"deepN","a":[[...]]}: a document nested n levels (itself one). */
static char *deep_doc(unsigned n)
{
    size_t cap = 2 * (size_t)n + 64;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t len = (size_t)snprintf(s, cap, "{\"_id\":\"deep%u\",\"a\":", n);
    for (unsigned i = 1; i < n; i++)
        s[len++] = '[';
    for (unsigned i = 1; i < n; i++)
        s[len++] = ']';
    memcpy(s + len, "}", 2);
    return s;
}

static void test_bad_input(void **state)
{
    fx *f = *state;
    assert_int_equal(put(f->db, "{\"_id\":\"x\",", 0, NULL), ST_E_BAD_REQUEST);
    assert_int_equal(put(f->db, "[1,2]", 0, NULL), ST_E_BAD_REQUEST);
    assert_int_equal(put(f->db, "{\"_id\":\"_bad\"}", 0, NULL), ST_E_ILLEGAL_DOCID);
    assert_int_equal(put(f->db, "{\"_id\":\"\"}", 0, NULL), ST_E_ILLEGAL_DOCID);
    assert_int_equal(put(f->db, "{\"_id\":5}", 0, NULL), ST_E_ILLEGAL_DOCID);
    assert_int_equal(put(f->db, "{\"_id\":\"x\",\"_foo\":1}", 0, NULL), ST_E_DOC_VALIDATION);
    assert_int_equal(put(f->db, "{\"_id\":\"x\",\"_rev\":\"garbage\"}", 0, NULL), ST_E_BAD_REQUEST);
    assert_int_equal(put(f->db, "{\"_id\":\"x\"}", ST_WRITE_REPLICATED, NULL), ST_E_BAD_REQUEST);
    assert_int_equal(put(f->db, "{\"_id\":\"x\",\"_revisions\":{\"start\":1,\"ids\":[\"a\",\"b\"]}}", ST_WRITE_REPLICATED, NULL), ST_E_BAD_REQUEST);
    /* deep nesting: 100 and ST_JSON_DEFAULT_DEPTH levels are stored (CouchDB
     * stores 1,000), one level more is refused with the parser's reason */
    static const unsigned levels[] = {100, ST_JSON_DEFAULT_DEPTH, ST_JSON_DEFAULT_DEPTH + 1};
    for (size_t k = 0; k < 3; k++) {
        char *deep = deep_doc(levels[k]);
        st_write_result r;
        st_error e;
        st_status st = st_db_put_json(f->db, deep, strlen(deep), 0, &r, &e);
        st_write_results_free(&r, 1);
        if (k < 2) {
            assert_int_equal(st, ST_OK);
        } else {
            assert_int_equal(st, ST_E_BAD_REQUEST);
            assert_string_equal(e.reason, "nesting too deep");
        }
        free(deep);
    }
    /* _design is allowed, and the special members _access etc. are kept */
    assert_int_equal(put(f->db, "{\"_id\":\"_design/x\",\"views\":{}}", 0, NULL), ST_OK);
    /* nothing half-written */
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.doc_count, 3); /* _design/x, deep100, deep4096 */
    assert_int_equal(info.update_seq, 3);
}

static void test_oversize(void **state)
{
    char path[4096];
    ts_db_path(path, sizeof path, "small");
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    o.max_doc_size = 100;
    st_db *db = NULL;
    assert_int_equal(st_db_open(path, "small", &o, &db, NULL), ST_OK);
    char big[300];
    snprintf(big, sizeof big, "{\"_id\":\"big\",\"s\":\"%0200d\"}", 0);
    assert_int_equal(put(db, big, 0, NULL), ST_E_DOC_TOO_LARGE);
    assert_int_equal(st_db_close(db), ST_OK);
    ts_db_unlink(path);
}

static void test_bulk_partial_failure(void **state)
{
    fx *f = *state;
    const char *body = "[{\"_id\":\"ok1\"},{\"_id\":\"_bad\"},{\"_id\":\"ok2\"},{\"_id\":\"ok1\"}]";
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse(body, strlen(body), NULL, &d, NULL), ST_OK);
    const st_json *arr = st_json_doc_root(d);
    st_write_req reqs[4];
    memset(reqs, 0, sizeof reqs);
    for (int i = 0; i < 4; i++)
        reqs[i].doc = &arr->u.items[i];
    st_write_result res[4];
    assert_int_equal(st_db_write(f->db, reqs, 4, 0, res, NULL), ST_OK);
    assert_int_equal(res[0].err.code, ST_OK);
    assert_int_equal(res[1].err.code, ST_E_ILLEGAL_DOCID);
    assert_int_equal(res[2].err.code, ST_OK);
    assert_int_equal(res[3].err.code, ST_E_CONFLICT);
    assert_string_equal(res[3].id, "ok1");
    st_write_results_free(res, 4);
    st_json_doc_free(d);
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.doc_count, 2);
    assert_int_equal(info.update_seq, 2);
}

static void test_generated_id_and_reopen(void **state)
{
    fx *f = *state;
    st_write_result r;
    assert_int_equal(st_db_put_json(f->db, "{\"v\":1}", 7, 0, &r, NULL), ST_OK);
    assert_int_equal(strlen(r.id), 32);
    char id[64];
    strcpy(id, r.id);
    st_write_results_free(&r, 1);
    assert_int_equal(st_db_close(f->db), ST_OK);
    st_db_options o;
    st_db_options_init(&o);
    assert_int_equal(st_db_open(f->path, "test", &o, &f->db, NULL), ST_OK);
    char *doc = get(f->db, id, NULL, NULL);
    assert_non_null(doc);
    free(doc);
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.update_seq, 1);
    assert_int_equal(info.doc_count, 1);
}

/* Compaction drops old bodies and gives the space back to the file system. */
static void test_compaction_reclaims_space(void **state)
{
    fx *f = *state;
    static char json[70000];
    char rev[ST_REV_STR_MAX] = "";
    for (int i = 0; i < 20; i++) {
        int n = snprintf(json, sizeof json, "{\"_id\":\"big\"%s%s%s,\"i\":%d,\"pad\":\"",
                         rev[0] ? ",\"_rev\":\"" : "", rev, rev[0] ? "\"" : "", i);
        memset(json + n, 'a' + i, 60000);
        strcpy(json + n + 60000, "\"}");
        assert_int_equal(put(f->db, json, 0, rev), ST_OK);
    }
    st_db_info before, after;
    assert_int_equal(st_db_info_get(f->db, &before, NULL), ST_OK);
    assert_int_equal(st_db_compact(f->db, NULL), ST_OK);
    assert_int_equal(st_db_info_get(f->db, &after, NULL), ST_OK);
    assert_true(after.size_file < before.size_file / 4);
    char *doc = get(f->db, "big", NULL, NULL);
    assert_non_null(strstr(doc, "\"i\":19"));
    free(doc);
}

/* Two replicas receiving the same revisions in different orders agree. */
static int leaves_row(void *ctx, const st_change_row *r)
{
    char *out = ctx;
    for (size_t i = 0; i < r->n_revs; i++) {
        strcat(out, r->revs[i]);
        strcat(out, r->deleted ? "D " : " ");
    }
    return 0;
}

static void test_replicas_converge_in_any_order(void **state)
{
    const char *revs[] = {
        "{\"_id\":\"x\",\"_revisions\":{\"start\":3,\"ids\":[\"c3\",\"b2\",\"a1\"]},\"v\":1}",
        "{\"_id\":\"x\",\"_revisions\":{\"start\":2,\"ids\":[\"z2\",\"a1\"]},\"v\":2}",
        "{\"_id\":\"x\",\"_revisions\":{\"start\":4,\"ids\":[\"d4\",\"c3\",\"b2\"]},\"_deleted\":true}",
        "{\"_id\":\"x\",\"_revisions\":{\"start\":3,\"ids\":[\"y3\",\"z2\",\"a1\"]},\"v\":3}",
        "{\"_id\":\"x\",\"_revisions\":{\"start\":1,\"ids\":[\"a1\"]},\"v\":0}",
    };
    const int orders[3][5] = {{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 4, 0, 3, 1}};
    char seen[3][512];
    for (int o = 0; o < 3; o++) {
        char path[4096], name[32];
        snprintf(name, sizeof name, "conv%d", o);
        ts_db_path(path, sizeof path, name);
        st_db_options opts;
        st_db_options_init(&opts);
        opts.create = true;
        opts.durability = ST_DURABLE_NORMAL;
        st_db *db;
        assert_int_equal(st_db_open(path, name, &opts, &db, NULL), ST_OK);
        for (int k = 0; k < 5; k++)
            assert_int_equal(put(db, revs[orders[o][k]], ST_WRITE_REPLICATED, NULL), ST_OK);
        st_changes_opts co;
        st_changes_opts_init(&co);
        co.all_docs = true;
        seen[o][0] = '\0';
        assert_int_equal(st_db_changes(db, &co, leaves_row, seen[o], NULL, NULL, NULL), ST_OK);
        st_get_opts g = {.revs = true};
        char *doc = get(db, "x", &g, NULL);
        strcat(seen[o], doc);
        free(doc);
        assert_int_equal(st_db_close(db), ST_OK);
        ts_db_unlink(path);
    }
    assert_string_equal(seen[0], seen[1]);
    assert_string_equal(seen[0], seen[2]);
    assert_true(strncmp(seen[0], "3-y3 ", 5) == 0); /* live beats the deleted 4-d4 */
}

static int collect_id(void *ctx, const char *id)
{
    strcat(ctx, id);
    strcat(ctx, " ");
    return 0;
}

static void test_conflict_index_and_atomic_writes(void **state)
{
    fx *f = *state;
    put(f->db, "{\"_id\":\"k1\",\"_revisions\":{\"start\":2,\"ids\":[\"bb\",\"aa\"]}}", ST_WRITE_REPLICATED, NULL);
    put(f->db, "{\"_id\":\"k1\",\"_revisions\":{\"start\":2,\"ids\":[\"cc\",\"aa\"]}}", ST_WRITE_REPLICATED, NULL);
    put(f->db, "{\"_id\":\"k0\",\"_revisions\":{\"start\":2,\"ids\":[\"bb\",\"aa\"]}}", ST_WRITE_REPLICATED, NULL);
    put(f->db, "{\"_id\":\"k0\",\"_revisions\":{\"start\":2,\"ids\":[\"cc\",\"aa\"]},\"_deleted\":true}", ST_WRITE_REPLICATED, NULL);
    put(f->db, "{\"_id\":\"plain\"}", 0, NULL);
    char ids[256] = "";
    assert_int_equal(st_db_conflicted(f->db, NULL, collect_id, ids, NULL), ST_OK);
    assert_string_equal(ids, "k1 "); /* a deleted second leaf is no conflict */
    size_t n = 9;
    assert_int_equal(st_db_live_leaves(f->db, "k1", &n, NULL), ST_OK);
    assert_int_equal(n, 2);
    assert_int_equal(st_db_live_leaves(f->db, "k0", &n, NULL), ST_OK);
    assert_int_equal(n, 1);
    assert_int_equal(st_db_live_leaves(f->db, "none", &n, NULL), ST_OK);
    assert_int_equal(n, 0);

    /* Resolve all-or-nothing: delete the loser and update the winner; a
     * stale rev in the set refuses the whole set. */
    const char *bad = "[{\"_id\":\"k1\",\"_rev\":\"2-bb\",\"_deleted\":true},"
                      "{\"_id\":\"k1\",\"_rev\":\"1-aa\",\"v\":1}]";
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse(bad, strlen(bad), NULL, &d, NULL), ST_OK);
    const st_json *arr = st_json_doc_root(d);
    st_write_req reqs[2] = {{.doc = &arr->u.items[0]}, {.doc = &arr->u.items[1]}};
    st_write_result res[2];
    st_error e;
    assert_int_equal(st_db_write(f->db, reqs, 2, ST_WRITE_ALL_OR_NOTHING, res, &e), ST_E_CONFLICT);
    st_write_results_free(res, 2);
    st_json_doc_free(d);
    assert_int_equal(st_db_live_leaves(f->db, "k1", &n, NULL), ST_OK);
    assert_int_equal(n, 2); /* the deletion did not land */
    const char *good = "[{\"_id\":\"k1\",\"_rev\":\"2-bb\",\"_deleted\":true},"
                       "{\"_id\":\"k1\",\"_rev\":\"2-cc\",\"v\":1}]";
    assert_int_equal(st_json_parse(good, strlen(good), NULL, &d, NULL), ST_OK);
    arr = st_json_doc_root(d);
    st_write_req ok[2] = {{.doc = &arr->u.items[0]}, {.doc = &arr->u.items[1]}};
    assert_int_equal(st_db_write(f->db, ok, 2, ST_WRITE_ALL_OR_NOTHING, res, &e), ST_OK);
    assert_int_equal(res[0].err.code, ST_OK);
    assert_int_equal(res[1].err.code, ST_OK);
    st_write_results_free(res, 2);
    st_json_doc_free(d);
    ids[0] = '\0';
    assert_int_equal(st_db_conflicted(f->db, NULL, collect_id, ids, NULL), ST_OK);
    assert_string_equal(ids, "");
}

static void test_memory_options(void **state)
{
    char path[4096];
    ts_db_path(path, sizeof path, "lowmem");
    st_db_options o;
    st_db_options_init(&o);
    o.create = true;
    o.cache_kib = 256;
    o.mmap_kib = -1;
    o.readers = 100; /* capped, not refused */
    st_db *db;
    assert_int_equal(st_db_open(path, "lowmem", &o, &db, NULL), ST_OK);
    assert_int_equal(put(db, "{\"_id\":\"a\"}", 0, NULL), ST_OK);
    char *doc = get(db, "a", NULL, NULL);
    assert_non_null(doc);
    free(doc);
    assert_int_equal(st_db_close(db), ST_OK);
    ts_db_unlink(path);
}

/* Files that are not settee's, or come from a newer settee, are refused. */
/* A write of one document whose id (or attachment name) comes as bytes. */
static st_status put_raw(st_db *db, const char *id, const char *att, st_error *e)
{
    st_write_result r;
    st_status st;
    if (att) {
        st_att_data a = {att, "text/plain", "hi", 2, NULL};
        st = st_db_put_attachment(db, id, NULL, &a, &r, e);
    } else {
        st_json_doc *d = NULL;
        assert_int_equal(st_json_parse("{\"x\":1}", 7, NULL, &d, NULL), ST_OK);
        st_write_req req = {.doc = st_json_doc_root(d), .id = id};
        st = st_db_write(db, &req, 1, 0, &r, e);
        if (st == ST_OK && r.err.code != ST_OK) {
            st = r.err.code;
            *e = r.err;
        }
        st_json_doc_free(d);
    }
    st_write_results_free(&r, 1);
    return st;
}

/* Issue 10 #1: PUT /db/%ff%fe was stored.  Every id and attachment name
 * is checked in core's write path, with CouchDB's words. */
static void test_utf8_ids_refused(void **state)
{
    fx *f = *state;
    st_error e;
    static const char *const bad[] = {"\xff\xfe", "a\x80", "\xc0\xaf", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80", "ok\xe2\x82", "_design/\xff",
                                      "_local/\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(put_raw(f->db, bad[i], NULL, &e), ST_E_ILLEGAL_DOCID);
        assert_string_equal(e.reason, "Document id must be valid UTF-8");
    }
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse("{}", 2, NULL, &d, NULL), ST_OK);
    assert_int_equal(st_db_local_put(f->db, "_local/\xff", st_json_doc_root(d), NULL, NULL, &e),
                     ST_E_ILLEGAL_DOCID);
    st_json_doc_free(d);
    assert_int_equal(put_raw(f->db, "doc", "\xff.txt", &e), ST_E_BAD_REQUEST);
    assert_string_equal(e.reason, "Attachment name is not UTF-8 encoded");
    /* valid multi-byte ids and names are fine */
    assert_int_equal(put_raw(f->db, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", NULL, &e), ST_OK);
    assert_int_equal(put_raw(f->db, "doc", "\xc3\xa9.txt", &e), ST_OK);
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.doc_count, 2);
}

static void raw_sql(const char *path, const char *sql)
{
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(raw, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(raw);
}

static int collect_alldocs_id(void *ctx, const st_alldocs_row *r)
{
    st_buf *b = ctx;
    assert_int_equal(st_buf_adds(b, r->id), ST_OK);
    assert_int_equal(st_buf_addc(b, '|'), ST_OK);
    return 0;
}

/* A file of format 2 holding ids and attachment names that are not UTF-8
 * (what an older settee stored) is repaired at open: each bad byte is
 * U+FFFD, a clash gets "-<seq>", and everything reads and lists as valid
 * UTF-8 under the new names. */
static void test_utf8_repaired_at_open(void **state)
{
    fx *f = *state;
    st_error e;
    assert_int_equal(put_raw(f->db, "good", NULL, &e), ST_OK);
    assert_int_equal(put_raw(f->db, "badX", NULL, &e), ST_OK);           /* seq 2 */
    assert_int_equal(put_raw(f->db, "c\xef\xbf\xbd", NULL, &e), ST_OK); /* seq 3 */
    assert_int_equal(put_raw(f->db, "cX", NULL, &e), ST_OK);             /* seq 4 */
    assert_int_equal(put_raw(f->db, "attX", "nameX.txt", &e), ST_OK);
    st_json_doc *d = NULL;
    assert_int_equal(st_json_parse("{\"n\":1}", 7, NULL, &d, NULL), ST_OK);
    assert_int_equal(st_db_local_put(f->db, "_local/X", st_json_doc_root(d), NULL, NULL, &e), ST_OK);
    st_json_doc_free(d);
    assert_int_equal(st_db_close(f->db), ST_OK);
    f->db = NULL;
    /* What the old format allowed: the X bytes become 0xFF. */
    raw_sql(f->path,
            "UPDATE docs SET id = CAST(X'626164FF' AS TEXT) WHERE id = 'badX';"
            "UPDATE revs SET id = CAST(X'626164FF' AS TEXT) WHERE id = 'badX';"
            "UPDATE docs SET id = CAST(X'63FF' AS TEXT) WHERE id = 'cX';"
            "UPDATE docs SET id = CAST(X'617474FF' AS TEXT) WHERE id = 'attX';"
            "UPDATE docs SET atts = replace(atts, 'nameX', CAST(X'6E616D65FF' AS TEXT))"
            "  WHERE atts LIKE '%nameX%';"
            "UPDATE local SET id = CAST(X'5F6C6F63616C2FFF' AS TEXT) WHERE id = '_local/X';"
            "PRAGMA user_version = 2;");
    st_db_options o;
    st_db_options_init(&o);
    o.durability = ST_DURABLE_NORMAL;
    assert_int_equal(st_db_open(f->path, "test", &o, &f->db, &e), ST_OK);
    st_buf ids = ST_BUF_INIT;
    st_alldocs_opts ao;
    st_alldocs_opts_init(&ao);
    assert_int_equal(st_db_all_docs(f->db, &ao, NULL, collect_alldocs_id, &ids, &e), ST_OK);
    assert_string_equal(ids.data, "att\xef\xbf\xbd|bad\xef\xbf\xbd|c\xef\xbf\xbd|c\xef\xbf\xbd-4|good|");
    assert_true(st_utf8_valid(ids.data, ids.len));
    st_buf_free(&ids);
    /* read, and the attachment under its repaired name */
    st_buf b = ST_BUF_INIT;
    st_get_opts go;
    memset(&go, 0, sizeof go);
    assert_int_equal(st_db_get(f->db, "bad\xef\xbf\xbd", &go, &b, &e), ST_OK);
    st_buf_reset(&b);
    assert_int_equal(st_db_get(f->db, "att\xef\xbf\xbd", &go, &b, &e), ST_OK);
    assert_non_null(strstr(b.data, "\"name\xef\xbf\xbd.txt\""));
    assert_true(st_utf8_valid(b.data, b.len));
    st_buf_free(&b);
    assert_int_equal(st_db_local_get(f->db, "_local/\xef\xbf\xbd", &b, &e), ST_OK);
    st_buf_free(&b);
    /* and it can be edited and deleted there */
    assert_int_equal(put_raw(f->db, "bad\xef\xbf\xbd", "more.txt", &e), ST_E_CONFLICT);
    st_db_info info;
    assert_int_equal(st_db_info_get(f->db, &info, NULL), ST_OK);
    assert_int_equal(info.doc_count, 5);
    /* the file is format 4 now: a second open repairs nothing */
    assert_int_equal(st_db_close(f->db), ST_OK);
    assert_int_equal(st_db_open(f->path, "test", &o, &f->db, &e), ST_OK);
}

static void test_foreign_and_newer_files(void **state)
{
    char path[4096];
    ts_db_path(path, sizeof path, "foreign");
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    st_db_options o;
    st_db_options_init(&o);
    st_db *db = NULL;
    st_error e;
    assert_int_equal(st_db_open(path, "x", &o, &db, &e), ST_E_IO);
    assert_non_null(strstr(e.reason, "not a settee database"));
    ts_db_unlink(path);

    o.create = true;
    assert_int_equal(st_db_open(path, "x", &o, &db, &e), ST_OK);
    assert_int_equal(st_db_close(db), ST_OK);
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(st_db_open(path, "x", &o, &db, &e), ST_E_IO);
    assert_non_null(strstr(e.reason, "newer settee"));
    ts_db_unlink(path);
}

/* A read between every two writes (what a live query or an app reading back
 * its writes does) must not keep the WAL from starting over: the pooled
 * readers' snapshots are let go before each commit, whose checkpoint then
 * reaches the end.  Without that the WAL grew by every write (tens of MB
 * here) and every commit retried a checkpoint. */
static void test_reads_between_writes_keep_the_wal_small(void **state)
{
    fx *f = *state;
    char json[512], rev[ST_REV_STR_MAX] = "";
    static const char pad[] = "a body of about two hundred bytes, like the documents of the "
                              "benchmarks, so that two thousand writes fill several WALs of "
                              "SQLite's default checkpoint size of a thousand pages";
    for (int i = 0; i < 2000; i++) {
        snprintf(json, sizeof json, "{\"_id\":\"w%d\",\"text\":\"%s\"}", i % 50, pad);
        char id[16];
        snprintf(id, sizeof id, "w%d", i % 50);
        char *cur = get(f->db, id, NULL, NULL);
        if (cur) {
            const char *r = strstr(cur, "\"_rev\":\"");
            assert_non_null(r);
            snprintf(rev, sizeof rev, "%.*s", (int)strcspn(r + 8, "\""), r + 8);
            snprintf(json, sizeof json, "{\"_id\":\"%s\",\"_rev\":\"%s\",\"text\":\"%s\"}", id,
                     rev, pad);
            free(cur);
        }
        assert_int_equal(put(f->db, json, 0, NULL), ST_OK);
    }
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0);
    /* SQLite checkpoints at 1000 pages (4 MiB); a WAL that starts over
     * stays near that. */
    assert_true(sb.st_size < 8 * 1024 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_update_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_recreate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_edit_same_rev, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replicated_conflicts_winner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_docs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_docs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attachments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revs_diff_and_bulk_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_revs_latest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stemming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test_setup_teardown(test_bulk_partial_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generated_id_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_reclaims_space, setup, teardown),
        cmocka_unit_test(test_replicas_converge_in_any_order),
        cmocka_unit_test_setup_teardown(test_conflict_index_and_atomic_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_between_writes_keep_the_wal_small, setup,
                                        teardown),
        cmocka_unit_test(test_memory_options),
        cmocka_unit_test_setup_teardown(test_utf8_ids_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8_repaired_at_open, setup, teardown),
        cmocka_unit_test(test_foreign_and_newer_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
