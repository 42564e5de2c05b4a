/* test_qs.c — the query-server pool and settee-js: every protocol command
 * against CouchDB's answers (PROTOCOL-2.md C.8), then hostile code and
 * hostile processes: a loop killed at its deadline, a heap bomb, a process
 * killed from outside, garbage and over-long lines, a 10 MB key, many
 * threads on one pool.  SETTEE_JS names the settee-js binary under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "qs_int.h"
#include "st_jw.h"
#include "st_qs.h"
#include "support/tmp.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct logs {
    pthread_mutex_t mu;
    char last[512];
    unsigned count;
} logs;

static logs g_logs = {PTHREAD_MUTEX_INITIALIZER, "", 0};

static void on_log(void *ctx, const char *lang, const char *msg, size_t n)
{
    logs *l = ctx;

    assert_string_equal(lang, "javascript");
    pthread_mutex_lock(&l->mu);
    snprintf(l->last, sizeof l->last, "%.*s", (int)n, msg);
    l->count++;
    pthread_mutex_unlock(&l->mu);
}

static const char *js_path(void)
{
    const char *p = getenv("SETTEE_JS");

    if (p == NULL)
        fail_msg("SETTEE_JS is not set");
    return p;
}

static st_qs *pool_with(unsigned timeout_ms, unsigned max_procs, const char *extra_args)
{
    st_qs_options o;
    st_qs *qs = NULL;
    st_error e;
    char cmd[4200];

    st_qs_options_init(&o);
    o.timeout_ms = timeout_ms;
    o.max_procs = max_procs;
    o.log = on_log;
    o.log_ctx = &g_logs;
    assert_int_equal(st_qs_new(&o, &qs, &e), ST_OK);
    snprintf(cmd, sizeof cmd, "%s %s", js_path(), extra_args ? extra_args : "");
    assert_int_equal(st_qs_set_language(qs, "javascript", cmd, &e), ST_OK);
    return qs;
}

static st_qs *pool(void)
{
    return pool_with(5000, 4, NULL);
}

static st_qs_proc *take(st_qs *qs)
{
    st_qs_proc *p = NULL;
    st_error e;

    if (st_qs_checkout(qs, "javascript", NULL, &p, &e) != ST_OK)
        fail_msg("checkout: %s", e.reason);
    return p;
}

/* The answer line as the process wrote it (an error as ["error",n,r]). */
static char *answer_text(const st_qs_answer *a)
{
    st_buf b = ST_BUF_INIT;
    st_jw w;

    assert_int_equal(st_jw_init(&w, &b), ST_OK);
    if (a->error != NULL) {
        st_jw_arr_open(&w);
        st_jw_str(&w, "error");
        st_jw_str(&w, a->error);
        st_jw_value(&w, a->reason);
        st_jw_arr_close(&w);
    } else {
        assert_non_null(a->value);
        st_jw_value(&w, a->value);
    }
    assert_int_equal(st_jw_status(&w), ST_OK);
    st_jw_free(&w);
    return st_buf_take(&b, NULL);
}

/* Send a raw request line; the answer must be exactly `want`. */
static void says(st_qs_proc *p, const char *req, const char *want)
{
    st_qs_answer a;
    st_error e;
    char *got;

    st_qs_prompt(p, req, strlen(req), &a, &e);
    if (a.doc == NULL)
        fail_msg("no answer to %s: %s", req, e.reason);
    got = answer_text(&a);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n  answered %s\n  expected %s", req, got, want);
    free(got);
    st_qs_answer_free(&a);
}

/* Like says() but only the answer's start must match. */
static void says_prefix(st_qs_proc *p, const char *req, const char *want)
{
    st_qs_answer a;
    st_error e;
    char *got;

    st_qs_prompt(p, req, strlen(req), &a, &e);
    if (a.doc == NULL)
        fail_msg("no answer to %s: %s", req, e.reason);
    got = answer_text(&a);
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("%s\n  answered %s\n  expected %s...", req, got, want);
    free(got);
    st_qs_answer_free(&a);
}

static void map_one(st_qs_proc *p, const char *doc, const char *want)
{
    st_qs_answer a;
    st_error e;
    size_t n = strlen(doc);
    char *got;

    if (st_qs_map_docs(p, &doc, &n, 1, &a, &e) != ST_OK)
        fail_msg("map_docs: %s", e.reason);
    got = answer_text(&a);
    if (strcmp(got, want) != 0)
        fail_msg("map %s\n  answered %s\n  expected %s", doc, got, want);
    free(got);
    st_qs_answer_free(&a);
}

static void add_fun(st_qs_proc *p, const char *src)
{
    st_error e;

    if (st_qs_add_fun(p, src, strlen(src), &e) != ST_OK)
        fail_msg("add_fun %s: %s", src, e.reason);
}

static void reset(st_qs_proc *p)
{
    st_error e;

    if (st_qs_reset(p, NULL, &e) != ST_OK)
        fail_msg("reset: %s", e.reason);
}

static void free_pool(st_qs *qs)
{
    assert_int_equal(st_qs_free(qs), ST_OK);
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *DDOC_T =
    "{\"_id\":\"_design/t\","
    "\"filters\":{\"odd\":\"function(doc, req){ return doc.n % 2; }\","
    "\"q\":\"function(doc, req){ return doc.t == req.query.t; }\","
    "\"throws\":\"function(doc, req){ throw 'no'; }\"},"
    "\"views\":{\"v\":{\"map\":\"function(doc){ if (doc.n > 1) emit(doc.n, null); }\"},"
    "\"lib\":{\"util\":\"exports.twice = function(x){ return 2 * x; };\"}},"
    "\"validate_doc_update\":\"function(newDoc, oldDoc, userCtx, secObj){"
    " if (newDoc.forbid) throw({forbidden: 'bad doc'});"
    " if (newDoc.auth) throw({unauthorized: 'who are you'});"
    " if (newDoc.str) throw('just a string');"
    " if (newDoc.other) throw({other: 'x'});"
    " if (newDoc.num) throw({forbidden: 42});"
    " if (newDoc.crash) return newDoc.no.such;"
    " if (oldDoc && oldDoc.locked) throw({forbidden: 'locked by ' + userCtx.name}); }\","
    "\"updates\":{\"bump\":\"function(doc, req){ if (!doc) return [{_id: req.id, n: 1},"
    " 'created']; doc.n += 1; return [doc, {code: 201, json: {n: doc.n}}]; }\","
    "\"noresp\":\"function(doc, req){ return [null]; }\"},"
    "\"lib\":{\"a\":\"var b = require('./b'); exports.v = 'a' + b.v;\","
    "\"b\":\"exports.v = 'b' + require('../top').v;\"},"
    "\"top\":\"exports.v = 'top';\"}";

static void prepare_t(st_qs_proc *p)
{
    st_error e;

    if (st_qs_ddoc_prepare(p, "_design/t", "1-a", DDOC_T, strlen(DDOC_T), &e) != ST_OK)
        fail_msg("ddoc new: %s", e.reason);
}

/* ---- the protocol, as CouchDB 3.5 answers ----------------------------- */

static void test_reset_and_add_fun(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    st_error e;

    says(p, "[\"reset\"]", "true");
    says(p, "[\"reset\",{\"reduce_limit\":true,\"timeout\":5000}]", "true");
    says(p, "[\"add_lib\",{\"utils\":\"exports.x = 1;\"}]", "true");
    says(p, "[\"add_fun\",\"function(doc){ emit(doc.a,1); if (doc.b) emit([doc.b],null); }\"]",
         "true");
    says(p, "[\"map_doc\",{\"_id\":\"x\",\"a\":1,\"b\":\"z\"}]", "[[[1,1],[[\"z\"],null]]]");
    /* The typed calls say the same. */
    reset(p);
    assert_int_equal(st_qs_reset(p, "{\"reduce_limit\":true,\"timeout\":5000}", &e), ST_OK);
    add_fun(p, "function(doc){ emit(doc.a,1); if (doc.b) emit([doc.b],null); }");
    map_one(p, "{\"_id\":\"x\",\"a\":1,\"b\":\"z\"}", "[[[1,1],[[\"z\"],null]]]");
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_map_emits(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);

    reset(p);
    add_fun(p, "function(doc){ for (var i = 0; i < doc.n; i++) emit([doc._id, i], i * i); }");
    add_fun(p, "function(doc){ emit(undefined, undefined); emit(doc.missing); }");
    add_fun(p, "function(doc){ if (doc.n > 5) emit(doc.n); }");
    map_one(p, "{\"_id\":\"d\",\"n\":3}",
            "[[[[\"d\",0],0],[[\"d\",1],1],[[\"d\",2],4]],[[null,null],[null,null]],[]]");
    /* The document is sealed: a map function cannot change it for the next. */
    reset(p);
    add_fun(p, "function(doc){ doc.n = 99; doc.added = true; emit(doc.n, doc.added); }");
    add_fun(p, "function(doc){ emit(doc.n, Object.isFrozen(doc.sub)); }");
    map_one(p, "{\"_id\":\"s\",\"n\":1,\"sub\":{\"a\":[1]}}", "[[[1,null]],[[1,true]]]");
    /* Numbers, strings and unicode come back as they went in. */
    reset(p);
    add_fun(p, "function(doc){ emit(doc.s, [doc.f, doc.big, doc.neg]); }");
    map_one(p, "{\"_id\":\"u\",\"s\":\"\\u00e9\\ud83d\\ude00 \\\"q\\\"\",\"f\":1.5e3,"
               "\"big\":12345678901234,\"neg\":-0.25}",
            "[[[\"\xc3\xa9\xf0\x9f\x98\x80 \\\"q\\\"\",[1500,12345678901234,-0.25]]]]");
    st_qs_checkin(p);
    free_pool(qs);
}

/* Rows are written as JSON.stringify wrote them when the loop was in
 * qs.js: values as they are when the function returns, toJSON with the
 * row index as key, undefined and functions as null, integers exactly to
 * 2^53, strings escaped; a function whose rows cannot be written (a cycle)
 * or that throws after emitting has none. */
static void test_map_rows_written(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    unsigned before;
    st_qs_answer a;
    st_error e;
    const char *doc = "{\"n\":5000}";
    size_t n = strlen(doc);

    reset(p);
    add_fun(p, "function(doc){ var o = {a: 1}; emit('k', o); o.a = 2; emit(o, null); }");
    add_fun(p, "function(doc){ emit(new Date(0), 1); emit({toJSON: function(k){ return 'at ' + k; }}, [undefined, function(){}]); }");
    add_fun(p, "function(doc){ emit(9007199254740991, 9007199254740992); emit(-5, 0.1); emit(NaN, 1/0); emit(-1/0, -0); emit(1e21, 123e-20); }");
    add_fun(p, "function(doc){ emit('a\"b\\\\c\\n', 'tab\\t\\u0001\\u007f'); emit(doc.s, doc._id); }");
    add_fun(p, "function(doc){ var c = {}; c.c = c; emit(1, 1); emit(1, c); }");
    add_fun(p, "function(doc){ emit(1, 1); throw 'x'; }");
    add_fun(p, "function(doc){ emit(); emit(null); emit(true, false); }");
    before = g_logs.count;
    map_one(p, "{\"_id\":\"d\\u00e9\",\"s\":\"\\u00e9\\ud83d\\ude00 \\\"q\\\"\"}",
            "[[[\"k\",{\"a\":2}],[{\"a\":2},null]],[[\"1970-01-01T00:00:00.000Z\",1],[\"at 0\",[null,null]]],[[9007199254740991,9007199254740992],[-5,0.1],[null,null],[null,0],[1e+21,1.23e-18]],[[\"a\\\"b\\\\c\\n\",\"tab\\t\\u0001\x7f""\"],[\"\xc3""\xa9""\xf0""\x9f""\x98""\x80"" \\\"q\\\"\",\"d\xc3""\xa9""\"]],[],[],[[null,null],[null,null],[true,false]]]");
    assert_int_equal(g_logs.count, before + 2);
    /* map_doc lines written otherwise than the pool writes them. */
    reset(p);
    add_fun(p, "function(doc){ emit(doc.a, 1); }");
    says(p, "[ \"map_doc\" , {\"a\":[1]} ]", "[[[[1],1]]]");
    says(p, "[\"map_doc\",{\"a\":2},3]", "[[[2,1]]]");
    says(p, "[\"map_doc\"]", "[[]]");
    says(p, "[\"map_doc\",{\"a\":3}]  ", "[[[3,1]]]");
    says_prefix(p, "[\"map_doc\",{\"a\":4}", "[\"error\",\"bad_request\"");
    /* Many rows: the answer grows past its first buffer. */
    reset(p);
    add_fun(p, "function(doc){ for (var i = 0; i < doc.n; i++) emit('key-' + i, i); }");
    assert_int_equal(st_qs_map_docs(p, &doc, &n, 1, &a, &e), ST_OK);
    assert_int_equal(a.value->u.items[0].len, 5000);
    assert_string_equal(a.value->u.items[0].u.items[4999].u.items[0].u.str, "key-4999");
    st_qs_answer_free(&a);
    st_qs_checkin(p);
    free_pool(qs);
}

/* Random documents: a map_doc line as the pool writes it (parsed as the
 * document alone) and the same document in a line written otherwise (parsed
 * as a command) give the same answer, the document frozen and an ordinary
 * object either way. */
static unsigned rj_state = 2026;
static unsigned rj(unsigned n)
{
    rj_state = rj_state * 1103515245u + 12345u;
    return ((rj_state >> 8) & 0xFFFFFF) % n;
}

static void rj_value(st_buf *b, int depth)
{
    static const char *const scalars[] = {
        "0", "-0", "7", "-12", "1.5e3", "0.1", "12345678901234", "9007199254740993", "true",
        "false", "null", "\"\"", "\"abc\"", "\"q\\\"b\\\\s\\n\\t\"", "\"\\u00e9\\ud83d\\ude00\"",
        "\"\xc3\xa9t\xc3\xa9\"", "\"\\u0001\\u001f\"", "\"__proto__\""};
    static const char *const keys[] = {"\"a\"", "\"b\"", "\"__proto__\"", "\"_id\"",
                                       "\"n\"", "\"\\u00e9\"", "\"constructor\""};
    unsigned kind = depth > 3 ? 0 : rj(4);

    if (kind < 2) {
        assert_int_equal(st_buf_adds(b, scalars[rj(sizeof scalars / sizeof *scalars)]), ST_OK);
        return;
    }
    assert_int_equal(st_buf_addc(b, kind == 2 ? '{' : '['), ST_OK);
    for (unsigned i = 0, n = rj(5); i < n; i++) {
        if (i > 0)
            assert_int_equal(st_buf_adds(b, rj(2) ? "," : " , "), ST_OK);
        if (kind == 2) {
            assert_int_equal(st_buf_adds(b, keys[rj(sizeof keys / sizeof *keys)]), ST_OK);
            assert_int_equal(st_buf_addc(b, ':'), ST_OK);
        }
        rj_value(b, depth + 1);
    }
    assert_int_equal(st_buf_addc(b, kind == 2 ? '}' : ']'), ST_OK);
}

static void test_map_doc_lines_random(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);

    reset(p);
    add_fun(p, "function(doc){ emit(toJSON(doc), [Object.isFrozen(doc),"
               " Object.getPrototypeOf(doc) === Object.prototype, doc.__proto__ === undefined]); }");
    for (int i = 0; i < 300; i++) {
        st_buf doc = ST_BUF_INIT, l1 = ST_BUF_INIT, l2 = ST_BUF_INIT;
        st_qs_answer a1, a2;
        st_error e;
        char *t1, *t2;

        assert_int_equal(st_buf_addc(&doc, '{'), ST_OK);
        assert_int_equal(st_buf_adds(&doc, "\"_id\":\"r\""), ST_OK);
        for (unsigned k = 0, n = rj(4); k < n; k++) {
            assert_int_equal(st_buf_adds(&doc, k % 2 ? ",\"x\":" : ",\"__proto__\":"), ST_OK);
            rj_value(&doc, 1);
        }
        assert_int_equal(st_buf_addc(&doc, '}'), ST_OK);
        assert_int_equal(st_buf_printf(&l1, "[\"map_doc\",%s]", doc.data), ST_OK);
        assert_int_equal(st_buf_printf(&l2, "[ \"map_doc\", %s ]", doc.data), ST_OK);
        assert_int_equal(st_qs_prompt(p, l1.data, l1.len, &a1, &e), ST_OK);
        assert_int_equal(st_qs_prompt(p, l2.data, l2.len, &a2, &e), ST_OK);
        t1 = answer_text(&a1);
        t2 = answer_text(&a2);
        if (strcmp(t1, t2) != 0 || strstr(t1, "[true,true,") == NULL)
            fail_msg("%s\n  answered %s\n  and %s", doc.data, t1, t2);
        free(t1);
        free(t2);
        st_qs_answer_free(&a1);
        st_qs_answer_free(&a2);
        st_buf_free(&doc);
        st_buf_free(&l1);
        st_buf_free(&l2);
    }
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_map_throws_logs(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    unsigned before;

    reset(p);
    add_fun(p, "function(doc){ if (doc._id == 'q') throw new Error('boom'); emit(doc._id, 1); }");
    add_fun(p, "function(doc){ emit(1, 2); }");
    before = g_logs.count;
    map_one(p, "{\"_id\":\"q\"}", "[[],[[1,2]]]");
    assert_int_equal(g_logs.count, before + 1);
    assert_string_equal(g_logs.last, "function raised exception Error: boom with doc._id q");
    map_one(p, "{\"_id\":\"r\"}", "[[[\"r\",1]],[[1,2]]]");
    /* log() from a map function */
    reset(p);
    add_fun(p, "function(doc){ log('saw ' + doc._id); log({n: 1}); emit(null, null); }");
    before = g_logs.count;
    map_one(p, "{\"_id\":\"l\"}", "[[[null,null]]]");
    assert_int_equal(g_logs.count, before + 2);
    assert_string_equal(g_logs.last, "{\"n\":1}");
    /* fatal_error fails the request but keeps the process */
    reset(p);
    add_fun(p, "function(doc){ throw 'fatal_error'; }");
    map_one(p, "{\"_id\":\"f\"}", "[\"error\",\"map_runtime_error\",\"function raised 'fatal_error'\"]");
    reset(p);
    add_fun(p, "function(doc){ emit(1, 1); }");
    map_one(p, "{\"_id\":\"g\"}", "[[[1,1]]]");
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_compile_errors(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    st_error e;
    const char *bad = "function(doc{";
    const char *notfn = "42";

    reset(p);
    says_prefix(p, "[\"add_fun\",\"function(doc{\"]", "[\"error\",\"compilation_error\",\"SyntaxError: ");
    assert_int_equal(st_qs_add_fun(p, bad, strlen(bad), &e), ST_E_COMPILATION);
    assert_non_null(strstr(e.reason, "compilation_error: SyntaxError"));
    says(p, "[\"add_fun\",\"42\"]",
         "[\"error\",\"compilation_error\",\"Expression does not eval to a function. (42)\"]");
    assert_int_equal(st_qs_add_fun(p, notfn, strlen(notfn), &e), ST_E_COMPILATION);
    /* Other spellings CouchDB users write compile too. */
    reset(p);
    add_fun(p, "(function(doc){ emit(1, 1); })");
    add_fun(p, "  // a comment\nfunction (doc) { emit(2, 2); };\n");
    map_one(p, "{\"_id\":\"c\"}", "[[[1,1]],[[2,2]]]");
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_reduce_rereduce(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    const char *srcs[2] = {"function(k,v,r){ return sum(v); }",
                           "function(k,v,r){ return [k === null, r, v.length]; }"};
    const char *kvs = "[[[1,\"x\"],1],[[2,\"y\"],2]]";
    st_qs_answer a;
    st_error e;
    char *got;

    says(p, "[\"reduce\",[\"function(k,v,r){ return sum(v); }\"],[[[1,\"x\"],1],[[2,\"y\"],2]]]",
         "[true,[3]]");
    says(p, "[\"rereduce\",[\"function(k,v,r){ return sum(v); }\"],[3,4]]", "[true,[7]]");
    assert_int_equal(st_qs_reduce(p, srcs, 2, kvs, strlen(kvs), &a, &e), ST_OK);
    got = answer_text(&a);
    assert_string_equal(got, "[3,[false,false,2]]");
    free(got);
    st_qs_answer_free(&a);
    assert_int_equal(st_qs_rereduce(p, srcs, 2, "[3,4,5]", 7, &a, &e), ST_OK);
    got = answer_text(&a);
    assert_string_equal(got, "[12,[true,true,3]]");
    free(got);
    st_qs_answer_free(&a);
    /* A throwing reduce gives null after a log line. */
    says(p, "[\"reduce\",[\"function(k,v,r){ throw 'no'; }\"],[[[1,\"x\"],1]]]", "[true,[null]]");
    /* reduce_limit: output that does not shrink is an error. */
    says(p, "[\"reset\",{\"reduce_limit\":true}]", "true");
    says_prefix(p, "[\"reduce\",[\"function(k,v,r){ return new Array(300).join('x'); }\"],"
                   "[[[1,\"x\"],1]]]",
                "[\"error\",\"reduce_overflow_error\",\"Reduce output must shrink more rapidly: ");
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_ddoc_filters(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    bool out[3];
    st_error e;

    prepare_t(p);
    says(p, "[\"ddoc\",\"_design/t\",[\"filters\",\"odd\"],[[{\"n\":1},{\"n\":2},{\"n\":3}],{}]]",
         "[true,[true,false,true]]");
    assert_int_equal(st_qs_filter_docs(p, "_design/t", "odd", "[{\"n\":1},{\"n\":2},{\"n\":3}]",
                                       "{}", out, 3, &e),
                     ST_OK);
    assert_true(out[0] && !out[1] && out[2]);
    assert_int_equal(st_qs_filter_docs(p, "_design/t", "q", "[{\"t\":\"a\"},{\"t\":\"b\"},{}]",
                                       "{\"query\":{\"t\":\"a\"}}", out, 3, &e),
                     ST_OK);
    assert_true(out[0] && !out[1] && !out[2]);
    /* The _view filter. */
    says(p, "[\"ddoc\",\"_design/t\",[\"views\",\"v\",\"map\"],[[{\"n\":1},{\"n\":2}]]]",
         "[true,[false,true]]");
    assert_int_equal(st_qs_filter_view(p, "_design/t", "v", "[{\"n\":5},{\"n\":0}]", out, 2, &e),
                     ST_OK);
    assert_true(out[0] && !out[1]);
    /* Missing function, throwing filter. */
    says(p, "[\"ddoc\",\"_design/t\",[\"filters\",\"nope\"],[[{}],{}]]",
         "[\"error\",\"not_found\",\"missing filters function nope on design doc _design/t\"]");
    assert_int_equal(st_qs_filter_docs(p, "_design/t", "nope", "[{}]", "{}", out, 1, &e),
                     ST_E_NOT_FOUND);
    assert_int_equal(st_qs_filter_docs(p, "_design/t", "throws", "[{}]", "{}", out, 1, &e),
                     ST_E_QUERY_SERVER);
    /* Preparing the same version again sends nothing; the process is fine. */
    prepare_t(p);
    assert_int_equal(st_qs_filter_docs(p, "_design/t", "odd", "[{\"n\":7}]", NULL, out, 1, &e),
                     ST_OK);
    assert_true(out[0]);
    st_qs_checkin(p);
    free_pool(qs);
}

static void validate_is(st_qs_proc *p, const char *newdoc, const char *olddoc, st_status want,
                        const char *reason, const char *answer)
{
    st_qs_answer a;
    st_error e;
    char *got;

    st_error_clear(&e);
    assert_int_equal(st_qs_validate(p, "_design/t", newdoc, olddoc,
                                    "{\"db\":\"d\",\"name\":\"bob\",\"roles\":[]}", "{}", &a, &e),
                     want);
    if (reason != NULL)
        assert_string_equal(e.reason, reason);
    got = answer_text(&a);
    assert_string_equal(got, answer);
    free(got);
    st_qs_answer_free(&a);
}

static void test_validate(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);

    prepare_t(p);
    says(p, "[\"ddoc\",\"_design/t\",[\"validate_doc_update\"],[{\"_id\":\"a\"},null,{},{}]]", "1");
    validate_is(p, "{\"_id\":\"a\"}", NULL, ST_OK, NULL, "1");
    validate_is(p, "{\"forbid\":1}", NULL, ST_E_FORBIDDEN, "bad doc", "{\"forbidden\":\"bad doc\"}");
    validate_is(p, "{\"auth\":1}", NULL, ST_E_UNAUTHORIZED, "who are you",
                "{\"unauthorized\":\"who are you\"}");
    validate_is(p, "{\"str\":1}", NULL, ST_E_UNKNOWN_ERROR, "just a string", "\"just a string\"");
    validate_is(p, "{\"other\":1}", NULL, ST_E_UNKNOWN_ERROR, "x", "{\"other\":\"x\"}");
    validate_is(p, "{\"num\":1}", NULL, ST_E_FORBIDDEN, "42", "{\"forbidden\":42}");
    validate_is(p, "{\"_id\":\"b\"}", "{\"_id\":\"b\",\"locked\":true}", ST_E_FORBIDDEN,
                "locked by bob", "{\"forbidden\":\"locked by bob\"}");
    /* A runtime error is an error answer named after the error. */
    validate_is(p, "{\"crash\":1}", NULL, ST_E_QUERY_SERVER, NULL,
                "[\"error\",\"TypeError\",\"cannot read property 'such' of undefined\"]");
    validate_is(p, "{\"_id\":\"c\"}", NULL, ST_OK, NULL, "1");
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_updates(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    st_qs_answer a;
    st_error e;
    char *got;

    prepare_t(p);
    assert_int_equal(st_qs_update(p, "_design/t", "bump", NULL,
                                  "{\"method\":\"POST\",\"id\":\"new1\"}", &a, &e),
                     ST_OK);
    got = answer_text(&a);
    assert_string_equal(got, "[\"up\",{\"_id\":\"new1\",\"n\":1},{\"body\":\"created\"}]");
    free(got);
    st_qs_answer_free(&a);
    assert_int_equal(st_qs_update(p, "_design/t", "bump", "{\"_id\":\"d\",\"n\":4}",
                                  "{\"method\":\"PUT\"}", &a, &e),
                     ST_OK);
    got = answer_text(&a);
    assert_string_equal(got, "[\"up\",{\"_id\":\"d\",\"n\":5},{\"code\":201,\"json\":{\"n\":5}}]");
    free(got);
    st_qs_answer_free(&a);
    says(p, "[\"ddoc\",\"_design/t\",[\"updates\",\"bump\"],[null,{\"method\":\"GET\"}]]",
         "[\"error\",\"method_not_allowed\",\"Update functions do not allow GET\"]");
    says(p, "[\"ddoc\",\"_design/t\",[\"updates\",\"noresp\"],[null,{\"method\":\"POST\"}]]",
         "[\"error\",\"render_error\",\"undefined response from update function\"]");
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_require(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    const char *lib = "{\"util\":\"exports.twice = function(x){ return 2 * x; };\","
                      "\"deep\":{\"m\":\"exports.k = require('../util').twice(21);\"}}";
    const char *vddoc = "{\"_id\":\"_design/r\",\"filters\":{\"f\":\"function(doc){"
                        " return require('lib/a').v === 'abtop'; }\","
                        "\"bad\":\"function(doc){ return require('lib/nope'); }\"},"
                        "\"lib\":{\"a\":\"var b = require('./b'); exports.v = 'a' + b.v;\","
                        "\"b\":\"exports.v = 'b' + require('../top').v;\"},"
                        "\"top\":\"exports.v = 'top';\"}";
    bool out[1];
    st_error e;

    reset(p);
    assert_int_equal(st_qs_add_lib(p, lib, strlen(lib), &e), ST_OK);
    add_fun(p, "function(doc){ emit(require('views/lib/util').twice(doc.n),"
               " require('views/lib/deep/m').k); }");
    map_one(p, "{\"_id\":\"m\",\"n\":4}", "[[[8,42]]]");
    assert_int_equal(st_qs_ddoc_prepare(p, "_design/r", "1-r", vddoc, strlen(vddoc), &e), ST_OK);
    assert_int_equal(st_qs_filter_docs(p, "_design/r", "f", "[{}]", "{}", out, 1, &e), ST_OK);
    assert_true(out[0]);
    assert_int_equal(st_qs_filter_docs(p, "_design/r", "bad", "[{}]", "{}", out, 1, &e),
                     ST_E_QUERY_SERVER);
    assert_non_null(strstr(e.reason, "invalid_require_path"));
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_uncached_ddoc_exits(void **state)
{
    st_qs *qs = pool_with(5000, 1, NULL);
    st_qs_proc *p = take(qs);
    pid_t first = p->pid;

    says(p, "[\"ddoc\",\"_design/nope\",[\"filters\",\"x\"],[[],{}]]",
         "[\"error\",\"query_protocol_error\",\"uncached design doc: _design/nope\"]");
    st_qs_checkin(p);
    /* That process exits; the pool hands out a fresh one. */
    p = take(qs);
    assert_int_not_equal(p->pid, first);
    reset(p);
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_bad_requests_keep_the_process(void **state)
{
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    pid_t pid = p->pid;

    says_prefix(p, "not json", "[\"error\",\"bad_request\",\"invalid JSON request: SyntaxError");
    reset(p);
    assert_int_equal(p->pid, pid);
    st_qs_checkin(p);
    free_pool(qs);
}

/* ---- the pool ----------------------------------------------------------- */

static void test_pipelined_map(void **state)
{
    enum { N = 2000 };
    st_qs *qs = pool();
    st_qs_proc *p = take(qs);
    char **docs = calloc(N, sizeof *docs);
    size_t *lens = calloc(N, sizeof *lens);
    st_qs_answer *out = calloc(N, sizeof *out);
    st_error e;

    reset(p);
    add_fun(p, "function(doc){ emit(doc.n % 100, doc.pad.length); }");
    for (int i = 0; i < N; i++) {
        docs[i] = malloc(2100);
        /* Large enough that requests and answers fill the socket buffers. */
        lens[i] = (size_t)snprintf(docs[i], 2100, "{\"_id\":\"d%d\",\"n\":%d,\"pad\":\"%0*d\"}", i,
                                   i, 1900, i);
    }
    assert_int_equal(st_qs_map_docs(p, (const char *const *)docs, lens, N, out, &e), ST_OK);
    for (int i = 0; i < N; i++) {
        const st_json *row = &out[i].value->u.items[0].u.items[0];
        int64_t k, v;
        assert_true(st_json_int64(&row->u.items[0], &k) && st_json_int64(&row->u.items[1], &v));
        assert_int_equal(k, i % 100);
        assert_int_equal(v, 1900);
        st_qs_answer_free(&out[i]);
        free(docs[i]);
    }
    free(docs);
    free(lens);
    free(out);
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_keys_and_reuse(void **state)
{
    st_qs *qs = pool_with(5000, 2, NULL);
    st_qs_proc *a = take(qs), *b = take(qs), *p;
    st_error e;

    reset(a);
    add_fun(a, "function(doc){ emit('a', 1); }");
    assert_int_equal(st_qs_proc_set_key(a, "view-a", &e), ST_OK);
    reset(b);
    add_fun(b, "function(doc){ emit('b', 1); }");
    assert_int_equal(st_qs_proc_set_key(b, "view-b", &e), ST_OK);
    st_qs_checkin(a);
    st_qs_checkin(b);
    assert_int_equal(st_qs_checkout(qs, "javascript", "view-b", &p, &e), ST_OK);
    assert_ptr_equal(p, b);
    assert_string_equal(st_qs_proc_key(p), "view-b");
    map_one(p, "{\"_id\":\"x\"}", "[[[\"b\",1]]]");
    st_qs_checkin(p);
    assert_int_equal(st_qs_checkout(qs, "javascript", "view-a", &p, &e), ST_OK);
    assert_ptr_equal(p, a);
    map_one(p, "{\"_id\":\"x\"}", "[[[\"a\",1]]]");
    reset(p);
    assert_null(st_qs_proc_key(p));
    st_qs_checkin(p);
    /* A ddoc's key finds the process that cached it. */
    p = take(qs);
    assert_int_equal(st_qs_ddoc_prepare(p, "_design/t", "rev-7", DDOC_T, strlen(DDOC_T), &e), ST_OK);
    st_qs_proc *cached = p;
    st_qs_checkin(p);
    assert_int_equal(st_qs_checkout(qs, "javascript", "rev-7", &p, &e), ST_OK);
    assert_ptr_equal(p, cached);
    st_qs_checkin(p);
    free_pool(qs);
}

/* Processes retire: one that cached too many design docs, and those of a
 * command that was replaced (the busy one at checkin, idle ones at once). */
static void test_retirement(void **state)
{
    st_qs_options o;
    st_qs *qs = NULL;
    st_qs_proc *p;
    st_error e;
    pid_t pid;
    char id[32];

    st_qs_options_init(&o);
    o.max_procs = 1;
    o.max_ddocs = 2;
    assert_int_equal(st_qs_new(&o, &qs, &e), ST_OK);
    assert_int_equal(st_qs_set_language(qs, "javascript", js_path(), &e), ST_OK);
    p = take(qs);
    pid = p->pid;
    for (int i = 0; i < 2; i++) {
        snprintf(id, sizeof id, "_design/d%d", i);
        assert_int_equal(st_qs_ddoc_prepare(p, id, "1", "{}", 2, &e), ST_OK);
    }
    st_qs_checkin(p);
    p = take(qs);
    assert_int_equal(p->pid, pid); /* two is allowed */
    assert_int_equal(st_qs_ddoc_prepare(p, "_design/d2", "1", "{}", 2, &e), ST_OK);
    st_qs_checkin(p);
    p = take(qs);
    assert_int_not_equal(p->pid, pid); /* the third retired it */
    pid = p->pid;
    assert_int_equal(st_qs_set_language(qs, "javascript", js_path(), &e), ST_OK);
    reset(p); /* still usable until checked in */
    st_qs_checkin(p);
    p = take(qs);
    assert_int_not_equal(p->pid, pid);
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_limits_and_errors(void **state)
{
    st_qs_options o;
    st_qs *qs = NULL;
    st_qs_proc *p, *q;
    st_error e;
    double t0;

    st_qs_options_init(&o);
    o.timeout_ms = 300;
    o.max_procs = 1;
    assert_int_equal(st_qs_new(&o, &qs, &e), ST_OK);
    assert_int_equal(st_qs_set_language(qs, "javascript", js_path(), &e), ST_OK);
    assert_int_equal(st_qs_checkout(qs, "coffeescript", NULL, &p, &e), ST_E_UNKNOWN_LANGUAGE);
    assert_int_equal(st_qs_checkout(qs, "javascript", NULL, &p, &e), ST_OK);
    /* All busy: the next caller waits its deadline out. */
    t0 = now_s();
    assert_int_equal(st_qs_checkout(qs, "javascript", NULL, &q, &e), ST_E_TIMEOUT);
    assert_true(now_s() - t0 >= 0.25);
    assert_int_equal(st_qs_free(qs), ST_E_BUSY);
    st_qs_checkin(p);
    /* A command that cannot start. */
    assert_int_equal(st_qs_set_language(qs, "broken", "/nonexistent/qs --x", &e), ST_OK);
    assert_int_equal(st_qs_checkout(qs, "broken", NULL, &p, &e), ST_E_OS_PROCESS);
    assert_int_equal(st_qs_set_language(qs, "empty", "   ", &e), ST_E_BAD_REQUEST);
    free_pool(qs);
}

/* ---- hostile code --------------------------------------------------------- */

static void test_infinite_loop_is_killed(void **state)
{
    st_qs *qs = pool_with(700, 2, NULL);
    st_qs_proc *p = take(qs);
    pid_t pid = p->pid;
    st_qs_answer a;
    st_error e;
    const char *doc = "{\"_id\":\"x\"}";
    size_t n = strlen(doc);
    double t0;

    reset(p);
    add_fun(p, "function(doc){ while (true) {} }");
    t0 = now_s();
    assert_int_equal(st_qs_map_docs(p, &doc, &n, 1, &a, &e), ST_E_OS_PROCESS);
    assert_string_equal(e.reason, "OS process timed out.");
    assert_true(now_s() - t0 < 3.0);
    st_qs_checkin(p);
    assert_int_equal(kill(pid, 0), -1); /* killed and reaped */
    p = take(qs);
    assert_int_not_equal(p->pid, pid);
    reset(p);
    add_fun(p, "function(doc){ emit(doc._id, 1); }");
    map_one(p, doc, "[[[\"x\",1]]]");
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_heap_bomb_fails_cleanly(void **state)
{
    st_qs *qs = pool_with(20000, 2, "--heap-max=67108864");
    st_qs_proc *p = take(qs);
    pid_t pid = p->pid;
    unsigned before = g_logs.count;

    reset(p);
    add_fun(p, "function(doc){ var a = []; while (true) a.push('x'.repeat(100000) + a.length); }");
    add_fun(p, "function(doc){ emit(doc._id, 2); }");
    map_one(p, "{\"_id\":\"bomb\"}", "[[],[[\"bomb\",2]]]");
    assert_true(g_logs.count > before);
    assert_non_null(strstr(g_logs.last, "with doc._id bomb"));
    /* Same process, still working. */
    assert_int_equal(p->pid, pid);
    map_one(p, "{\"_id\":\"after\"}", "[[],[[\"after\",2]]]");
    /* Emitting until the heap is full: the rows go, the heap is whole again
     * for the next document (which needs most of it). */
    reset(p);
    add_fun(p, "function(doc){ if (doc.bomb) while (true) emit(1, 1);"
               " var a = []; for (var i = 0; i < 300; i++) a.push('x'.repeat(100000) + i);"
               " emit(doc._id, a.length); }");
    map_one(p, "{\"_id\":\"e\",\"bomb\":true}", "[[]]");
    assert_int_equal(p->pid, pid);
    map_one(p, "{\"_id\":\"f\"}", "[[[\"f\",300]]]");
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_killed_process_is_replaced(void **state)
{
    st_qs *qs = pool_with(5000, 1, NULL);
    st_qs_proc *p = take(qs);
    pid_t pid = p->pid;
    st_qs_answer a;
    st_error e;
    const char *doc = "{\"_id\":\"k\"}";
    size_t n = strlen(doc);

    reset(p);
    add_fun(p, "function(doc){ emit(1, 1); }");
    /* Killed while checked out: the request fails, the next one works. */
    kill(pid, SIGKILL);
    assert_int_equal(st_qs_map_docs(p, &doc, &n, 1, &a, &e), ST_E_OS_PROCESS);
    assert_string_equal(e.reason, "OS process was killed by signal 9");
    st_qs_checkin(p);
    p = take(qs);
    pid = p->pid;
    reset(p);
    st_qs_checkin(p);
    /* Killed while idle: checkout notices and starts another. */
    kill(pid, SIGKILL);
    usleep(50000);
    p = take(qs);
    assert_int_not_equal(p->pid, pid);
    reset(p);
    add_fun(p, "function(doc){ emit(2, 2); }");
    map_one(p, doc, "[[[2,2]]]");
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_huge_keys(void **state)
{
    st_qs *qs = pool_with(20000, 1, NULL);
    st_qs_proc *p = take(qs);
    st_qs_answer a;
    st_error e;
    const char *docs[2] = {"{\"_id\":\"ten\",\"mb\":10}", "{\"_id\":\"twenty\",\"mb\":20}"};
    size_t lens[2] = {strlen(docs[0]), strlen(docs[1])};
    st_qs_answer out[2];

    /* Bounded: an answer line may be 16 MiB (max_line, settee-js's
     * --max-output).  A 10 MB key fits, a 20 MB one is refused by settee-js
     * itself and the process carries on. */
    reset(p);
    add_fun(p, "function(doc){ emit('k'.repeat(doc.mb * 1000000), 1); }");
    assert_int_equal(st_qs_map_docs(p, docs, lens, 2, out, &e), ST_OK);
    assert_null(out[0].error);
    assert_int_equal(out[0].value->u.items[0].u.items[0].u.items[0].len, 10000000);
    assert_string_equal(out[1].error, "too_large");
    st_qs_answer_free(&out[0]);
    st_qs_answer_free(&out[1]);
    assert_int_equal(st_qs_map_docs(p, docs, lens, 1, &a, &e), ST_OK);
    st_qs_answer_free(&a);
    st_qs_checkin(p);
    free_pool(qs);
}

/* A fake query server: a shell script (started by path, not by a shell
 * command line) that misbehaves in one way. */
static void script_pool(st_qs **qs, const char *name, const char *body, size_t max_line)
{
    st_qs_options o;
    st_error e;
    char path[4200];
    FILE *f;

    ts_db_path(path, sizeof path, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(path, 0755);
    st_qs_options_init(&o);
    o.timeout_ms = 2000;
    o.max_line = max_line;
    assert_int_equal(st_qs_new(&o, qs, &e), ST_OK);
    assert_int_equal(st_qs_set_language(*qs, "fake", path, &e), ST_OK);
}

static void fake_fails(const char *name, const char *body, size_t max_line, const char *reason)
{
    st_qs *qs = NULL;
    st_qs_proc *p = NULL;
    st_error e;
    st_status rc;

    script_pool(&qs, name, body, max_line);
    assert_int_equal(st_qs_checkout(qs, "fake", NULL, &p, &e), ST_OK);
    st_error_clear(&e);
    rc = st_qs_reset(p, NULL, &e);
    if (rc != ST_E_OS_PROCESS || strncmp(e.reason, reason, strlen(reason)) != 0)
        fail_msg("%s: got %d '%s', want '%s'", name, (int)rc, e.reason, reason);
    st_qs_checkin(p);
    free_pool(qs);
}

static void test_misbehaving_servers(void **state)
{
    fake_fails("garbage.sh", "read l; echo 'this is not json'; read l", 0,
               "OS process wrote invalid JSON");
    fake_fails("exits.sh", "read l; exit 3", 0, "OS process exited with status 3");
    fake_fails("long.sh", "read l; head -c 300000 /dev/zero | tr '\\0' 'x'; read l", 100000,
               "OS process wrote a line longer than max_line");
    fake_fails("silent.sh", "read l; sleep 30", 0, "OS process timed out.");
    fake_fails("twice.sh", "read l; echo 'true\ntrue'; read l", 0,
               "OS process answered a request never sent");
    fake_fails("shape.sh", "read l; echo 42; read l", 0,
               "OS process gave a malformed answer to reset");
}

/* Gone or a zombie (an orphan's zombie waits for whoever is pid 1). */
static bool is_dead(pid_t pid)
{
    char path[64], state = '?';
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return true;
    if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
        state = '?';
    fclose(f);
    return state == 'Z' || state == 'X';
}

/* What a server started dies with it. */
static void test_server_children_die(void **state)
{
    st_qs *qs = NULL;
    st_qs_proc *p = NULL;
    st_error e;
    char pidfile[4200], body[4400];
    long child = 0;
    FILE *f;

    ts_db_path(pidfile, sizeof pidfile, "orphan.pid");
    snprintf(body, sizeof body, "sleep 30 </dev/null >/dev/null 2>&1 & echo $! > %s; read l; exit 3",
             pidfile);
    script_pool(&qs, "orphan.sh", body, 0);
    assert_int_equal(st_qs_checkout(qs, "fake", NULL, &p, &e), ST_OK);
    assert_int_equal(st_qs_reset(p, NULL, &e), ST_E_OS_PROCESS);
    assert_string_equal(e.reason, "OS process exited with status 3");
    st_qs_checkin(p);
    f = fopen(pidfile, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld", &child), 1);
    fclose(f);
    usleep(20000);
    assert_true(is_dead((pid_t)child));
    unlink(pidfile);
    free_pool(qs);
}

/* An answer nobody asked for that arrives after the call returned is
 * caught at the next checkout: that process is not handed out again. */
static void test_late_extra_answer(void **state)
{
    st_qs *qs = NULL;
    st_qs_proc *p = NULL;
    st_qs_answer a;
    st_error e;
    pid_t pid;

    script_pool(&qs, "late.sh", "while read l; do echo true; sleep 0.2; echo true; done", 0);
    assert_int_equal(st_qs_checkout(qs, "fake", NULL, &p, &e), ST_OK);
    pid = p->pid;
    assert_int_equal(st_qs_prompt(p, "[\"reset\"]", 9, &a, &e), ST_OK);
    st_qs_answer_free(&a);
    st_qs_checkin(p);
    usleep(400000);
    assert_int_equal(st_qs_checkout(qs, "fake", NULL, &p, &e), ST_OK);
    assert_int_not_equal(p->pid, pid);
    st_qs_checkin(p);
    free_pool(qs);
}

typedef struct worker {
    st_qs *qs;
    int id;
    int ok;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;

    for (int round = 0; round < 20; round++) {
        st_qs_proc *p = NULL;
        st_qs_answer out[10];
        const char *docs[10];
        size_t lens[10];
        char text[10][64];
        char src[128];
        st_error e;

        if (st_qs_checkout(w->qs, "javascript", NULL, &p, &e) != ST_OK)
            return NULL;
        snprintf(src, sizeof src, "function(doc){ emit(doc.n, %d); }", w->id);
        if (st_qs_reset(p, NULL, &e) != ST_OK || st_qs_add_fun(p, src, strlen(src), &e) != ST_OK) {
            st_qs_checkin(p);
            return NULL;
        }
        for (int i = 0; i < 10; i++) {
            lens[i] = (size_t)snprintf(text[i], sizeof text[i], "{\"_id\":\"%d\",\"n\":%d}", i, i);
            docs[i] = text[i];
        }
        if (st_qs_map_docs(p, docs, lens, 10, out, &e) == ST_OK) {
            int good = 1;
            for (int i = 0; i < 10; i++) {
                const st_json *row = &out[i].value->u.items[0].u.items[0];
                int64_t k, v;
                good &= st_json_int64(&row->u.items[0], &k) && k == i &&
                        st_json_int64(&row->u.items[1], &v) && v == w->id;
                st_qs_answer_free(&out[i]);
            }
            w->ok += good;
        }
        st_qs_checkin(p);
    }
    return NULL;
}

static void test_many_threads(void **state)
{
    enum { T = 8 };
    st_qs *qs = pool_with(10000, 3, NULL);
    pthread_t th[T];
    worker w[T];

    for (int i = 0; i < T; i++) {
        w[i] = (worker){qs, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 20);
    }
    free_pool(qs);
}

static void test_free_kills_children(void **state)
{
    st_qs *qs = pool_with(5000, 2, NULL);
    st_qs_proc *a = take(qs), *b = take(qs);
    pid_t pa = a->pid, pb = b->pid;

    reset(a);
    st_qs_checkin(a);
    st_qs_checkin(b);
    assert_int_equal(kill(pa, 0), 0);
    free_pool(qs);
    assert_int_equal(kill(pa, 0), -1);
    assert_int_equal(kill(pb, 0), -1);
}

/* A process spawned for a thread that has since ended must live on. */
static void *checkout_and_leave(void *arg)
{
    st_qs *qs = arg;
    st_qs_proc *p = take(qs);

    reset(p);
    st_qs_checkin(p);
    return NULL;
}

static void test_spawning_thread_may_end(void **state)
{
    st_qs *qs = pool_with(5000, 1, NULL);
    pthread_t th;
    st_qs_proc *p;
    pid_t pid;

    assert_int_equal(pthread_create(&th, NULL, checkout_and_leave, qs), 0);
    pthread_join(th, NULL);
    usleep(50000);
    p = take(qs);
    pid = p->pid;
    reset(p);
    st_qs_checkin(p);
    p = take(qs);
    assert_int_equal(p->pid, pid);
    st_qs_checkin(p);
    free_pool(qs);
}

/* ---- the protocol reader ------------------------------------------------ */

static void test_reader_and_lines(void **state)
{
    st_qs_reader r;
    const char *line;
    size_t n, log_len;
    const char *log;
    st_qs_answer a;
    st_qs_line_kind kind;
    bool fatal;
    st_error e;
    st_json_pick *pick = st_json_pick_new(); /* the fast path for half of them */

    assert_non_null(pick);
    st_qs_reader_init(&r, 16);
    assert_int_equal(st_qs_reader_append(&r, "[\"log\",\"hi\"]\ntr", 15), ST_OK);
    assert_int_equal(st_qs_reader_next(&r, &line, &n), ST_QS_GOT_LINE);
    assert_int_equal(st_qs_line_parse(pick, line, n, &a, &kind, &log, &log_len, &fatal, &e), ST_OK);
    assert_int_equal(kind, ST_QS_LINE_LOG);
    assert_int_equal(log_len, 2);
    assert_memory_equal(log, "hi", 2);
    st_qs_answer_free(&a);
    assert_int_equal(st_qs_reader_next(&r, &line, &n), ST_QS_NEED_MORE);
    assert_int_equal(st_qs_reader_append(&r, "ue\n", 3), ST_OK);
    assert_int_equal(st_qs_reader_next(&r, &line, &n), ST_QS_GOT_LINE);
    assert_int_equal(st_qs_line_parse(NULL, line, n, &a, &kind, &log, &log_len, &fatal, &e), ST_OK);
    assert_int_equal(kind, ST_QS_LINE_ANSWER);
    assert_int_equal(a.value->type, ST_JSON_TRUE);
    st_qs_answer_free(&a);
    assert_int_equal(st_qs_reader_append(&r, "[\"fatal\",\"x\",{}]\n", 17), ST_OK);
    assert_int_equal(st_qs_reader_next(&r, &line, &n), ST_QS_GOT_LINE);
    assert_int_equal(n, 16); /* exactly max_line: fine */
    assert_int_equal(st_qs_reader_append(&r, "[\"fatal\",\"xy\",{}]\n", 18), ST_OK);
    assert_int_equal(st_qs_reader_next(&r, &line, &n), ST_QS_LINE_TOO_LONG);
    st_qs_reader_free(&r);
    assert_int_equal(st_qs_line_parse(pick, "[\"fatal\",\"x\",{}]", 16, &a, &kind, &log, &log_len,
                                      &fatal, &e),
                     ST_OK);
    assert_int_equal(kind, ST_QS_LINE_ERROR);
    assert_true(fatal);
    assert_string_equal(a.error, "x");
    st_qs_answer_free(&a);
    assert_int_equal(st_qs_line_parse(NULL, "[\"error\",1,2]", 13, &a, &kind, &log, &log_len, &fatal, &e),
                     ST_OK);
    assert_int_equal(kind, ST_QS_LINE_ANSWER); /* a non-string name is no error line */
    st_qs_answer_free(&a);
    assert_int_equal(st_qs_line_parse(NULL, "[1,", 3, &a, &kind, &log, &log_len, &fatal, &e),
                     ST_E_OS_PROCESS);
    assert_int_equal(st_qs_line_parse(pick, "[1,", 3, &a, &kind, &log, &log_len, &fatal, &e),
                     ST_E_OS_PROCESS);
    /* Declined by the fast path (an escape), answered by json.c the same. */
    assert_int_equal(st_qs_line_parse(pick, "[\"log\",\"\\u0041\"]", 16, &a, &kind, &log,
                                      &log_len, &fatal, &e),
                     ST_OK);
    assert_int_equal(kind, ST_QS_LINE_LOG);
    assert_memory_equal(log, "A", 1);
    st_qs_answer_free(&a);
    st_json_pick_free(pick);
    assert_int_equal(st_qs_error_status("compilation_error"), ST_E_COMPILATION);
    assert_int_equal(st_qs_error_status("not_found"), ST_E_NOT_FOUND);
    assert_int_equal(st_qs_error_status("TypeError"), ST_E_QUERY_SERVER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_and_lines),
        cmocka_unit_test(test_reset_and_add_fun),
        cmocka_unit_test(test_map_emits),
        cmocka_unit_test(test_map_throws_logs),
        cmocka_unit_test(test_map_rows_written),
        cmocka_unit_test(test_map_doc_lines_random),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_reduce_rereduce),
        cmocka_unit_test(test_ddoc_filters),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_updates),
        cmocka_unit_test(test_require),
        cmocka_unit_test(test_uncached_ddoc_exits),
        cmocka_unit_test(test_bad_requests_keep_the_process),
        cmocka_unit_test(test_pipelined_map),
        cmocka_unit_test(test_keys_and_reuse),
        cmocka_unit_test(test_retirement),
        cmocka_unit_test(test_limits_and_errors),
        cmocka_unit_test(test_infinite_loop_is_killed),
        cmocka_unit_test(test_heap_bomb_fails_cleanly),
        cmocka_unit_test(test_killed_process_is_replaced),
        cmocka_unit_test(test_huge_keys),
        cmocka_unit_test(test_misbehaving_servers),
        cmocka_unit_test(test_late_extra_answer),
        cmocka_unit_test(test_server_children_die),
        cmocka_unit_test(test_many_threads),
        cmocka_unit_test(test_free_kills_children),
        cmocka_unit_test(test_spawning_thread_may_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
