/* test_selector.c — Mango selectors: normalisation (PROTOCOL-2 B.3), every
 * operator and edge case of B.4/B.5, every error, the planner analysis,
 * bounded regexes, limits, threads, and random selectors on random documents
 * against a separate reference evaluator (Kleene three-valued logic over the
 * raw selector, no normalisation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "st_buf.h"
#include "st_collate.h"
#include "st_json.h"
#include "st_json_pick.h"
#include "st_jw.h"
#include "st_selector.h"

/* ---- helpers ------------------------------------------------------------ */

static st_json_doc *parse(const char *text)
{
    st_json_doc *doc = NULL;
    st_json_limits lim = {0, 100};
    st_error e;

    if (st_json_parse(text, strlen(text), &lim, &doc, &e) != ST_OK)
        fail_msg("parse: %s: %s", e.reason, text);
    return doc;
}

static st_selector *compile(const char *text)
{
    st_json_doc *doc = parse(text);
    st_selector *s = NULL;
    st_error e;

    st_error_clear(&e);
    if (st_selector_compile(st_json_doc_root(doc), &s, &e) != ST_OK)
        fail_msg("compile %s: %s %s", text, st_status_name(e.code), e.reason);
    st_json_doc_free(doc); /* the selector keeps its own copy */
    return s;
}

static bool matches(const st_selector *s, const char *doc_text)
{
    st_json_doc *doc = parse(doc_text);
    bool m = false;

    assert_int_equal(st_selector_match(s, st_json_doc_root(doc), &m), ST_OK);
    st_json_doc_free(doc);
    return m;
}

/* Expect `sel` to match exactly the docs marked 1 in `want`. */
static void expect(const char *sel, const char *const *docs, const char *want)
{
    st_selector *s = compile(sel);

    for (size_t i = 0; docs[i] != NULL; i++) {
        bool m = matches(s, docs[i]);

        if (m != (want[i] == '1'))
            fail_msg("%s on %s: got %s", sel, docs[i], m ? "match" : "no match");
    }
    st_selector_free(s);
}

static void yes(const char *sel, const char *doc)
{
    const char *docs[] = {doc, NULL};

    expect(sel, docs, "1");
}

static void no(const char *sel, const char *doc)
{
    const char *docs[] = {doc, NULL};

    expect(sel, docs, "0");
}

static void normal_form(const char *sel, const char *want)
{
    st_selector *s = compile(sel);
    st_buf b = ST_BUF_INIT;

    assert_int_equal(st_selector_to_json(s, &b), ST_OK);
    if (strcmp(b.data, want) != 0)
        fail_msg("normalise %s:\n  got  %s\n  want %s", sel, b.data, want);
    st_buf_free(&b);
    st_selector_free(s);
}

static void refused(const char *sel, st_status code, const char *reason)
{
    st_json_doc *doc = parse(sel);
    st_selector *s = (st_selector *)&s; /* poison: must be reset */
    st_error e;

    st_error_clear(&e);
    if (st_selector_compile(st_json_doc_root(doc), &s, &e) != code)
        fail_msg("%s: expected %s, got %s %s", sel, st_status_name(code), st_status_name(e.code),
                 e.reason);
    assert_null(s);
    assert_int_equal(e.code, code);
    assert_int_equal(st_status_http(code), 400);
    if (reason != NULL && strstr(e.reason, reason) == NULL)
        fail_msg("%s: reason \"%s\" lacks \"%s\"", sel, e.reason, reason);
    /* Without an st_error the code is still returned. */
    assert_int_equal(st_selector_compile(st_json_doc_root(doc), &s, NULL), code);
    st_json_doc_free(doc);
}

/* ---- B.3 normalisation ------------------------------------------------------ */

static void test_normal_form(void **state)
{
    normal_form("{}", "{}");
    normal_form("{\"name\":\"x\"}", "{\"name\":{\"$eq\":\"x\"}}");
    normal_form("{\"name\":\"x\",\"age\":3}",
                "{\"$and\":[{\"name\":{\"$eq\":\"x\"}},{\"age\":{\"$eq\":3}}]}");
    normal_form("{\"age\":{\"$gt\":20,\"$lt\":30}}",
                "{\"$and\":[{\"age\":{\"$gt\":20}},{\"age\":{\"$lt\":30}}]}");
    normal_form("{\"age\":{\"$or\":[{\"$lt\":23},{\"$gt\":45}]}}",
                "{\"$or\":[{\"age\":{\"$lt\":23}},{\"age\":{\"$gt\":45}}]}");
    normal_form("{\"$not\":{\"name\":\"bob\"}}", "{\"name\":{\"$ne\":\"bob\"}}");
    normal_form("{\"a\":{\"b\":{\"c\":1}}}", "{\"a.b.c\":{\"$eq\":1}}");
    normal_form("{\"a\":{\"$eq\":{\"b\":1}}}", "{\"a\":{\"$eq\":{\"b\":1}}}");
    normal_form("{\"a\":{}}", "{\"a\":{\"$eq\":{}}}");
    normal_form("{\"a\":[1,{\"b\":2}]}", "{\"a\":{\"$eq\":[1,{\"b\":2}]}}");
    normal_form("{\"$nor\":[{\"a\":1},{\"b\":{\"$gt\":2}}]}",
                "{\"$and\":[{\"a\":{\"$ne\":1}},{\"b\":{\"$lte\":2}}]}");
    normal_form("{\"$not\":{\"$or\":[{\"a\":1},{\"b\":{\"$regex\":\"x\"}}]}}",
                "{\"$and\":[{\"a\":{\"$ne\":1}},{\"b\":{\"$not\":{\"$regex\":\"x\"}}}]}");
    normal_form("{\"$not\":{\"$not\":{\"a\":{\"$lt\":1}}}}", "{\"a\":{\"$lt\":1}}");
    normal_form("{\"$not\":{\"$nor\":[{\"a\":1}]}}", "{\"$or\":[{\"a\":{\"$eq\":1}}]}");
    normal_form("{\"$not\":{\"a\":{\"$exists\":true}}}", "{\"a\":{\"$exists\":false}}");
    normal_form("{\"$not\":{\"a\":{\"$in\":[1,2]}}}", "{\"a\":{\"$nin\":[1,2]}}");
    normal_form("{\"a\":{\"$not\":{\"$nin\":[2,1]}}}", "{\"a\":{\"$in\":[2,1]}}");
    normal_form("{\"a\":{\"$not\":{\"$gte\":1,\"$lte\":5}}}",
                "{\"$or\":[{\"a\":{\"$lt\":1}},{\"a\":{\"$gt\":5}}]}");
    normal_form("{\"scores\":{\"$elemMatch\":{\"$gte\":85,\"$lt\":92}}}",
                "{\"scores\":{\"$elemMatch\":{\"$and\":[{\"\":{\"$gte\":85}},{\"\":{\"$lt\":92}}]}}}");
    normal_form("{\"a\":{\"$elemMatch\":{\"b\":1}}}",
                "{\"a\":{\"$elemMatch\":{\"b\":{\"$eq\":1}}}}");
    normal_form("{\"$not\":{\"a\":{\"$elemMatch\":{\"$not\":{\"b\":1}}}}}",
                "{\"a\":{\"$not\":{\"$elemMatch\":{\"b\":{\"$ne\":1}}}}}");
    normal_form("{\"a\":{\"$size\":2,\"$type\":\"array\",\"$mod\":[2,1]}}",
                "{\"$and\":[{\"a\":{\"$size\":2}},{\"a\":{\"$type\":\"array\"}},"
                "{\"a\":{\"$mod\":[2,1]}}]}");
    /* Duplicate keys: the last wins. */
    normal_form("{\"a\":1,\"b\":2,\"a\":3}",
                "{\"$and\":[{\"b\":{\"$eq\":2}},{\"a\":{\"$eq\":3}}]}");
    normal_form("{\"a\":{\"$gt\":1,\"$gt\":2}}", "{\"a\":{\"$gt\":2}}");
    /* Paths keep their escapes as written. */
    normal_form("{\"dot\":{\"a\\\\.b\":1}}", "{\"dot.a\\\\.b\":{\"$eq\":1}}");
    normal_form("{\"\\\\$x\":1}", "{\"\\\\$x\":{\"$eq\":1}}");
    normal_form("{\"$and\":[]}", "{\"$and\":[]}");
    normal_form("{\"$or\":[]}", "{\"$or\":[]}");
    normal_form("{\"$not\":{}}", "{\"$or\":[]}");
    normal_form("{\"$and\":[{},{\"a\":1}]}", "{\"$and\":[{},{\"a\":{\"$eq\":1}}]}");
    normal_form("{\"a\":{\"$and\":[1,{\"$lt\":5}]}}",
                "{\"$and\":[{\"a\":{\"$eq\":1}},{\"a\":{\"$lt\":5}}]}");
    normal_form("{\"k\":{\"$keyMapMatch\":{\"$beginsWith\":\"x\"}}}",
                "{\"k\":{\"$keyMapMatch\":{\"\":{\"$beginsWith\":\"x\"}}}}");
    normal_form("{\"a\":{\"$exists\":true,\"$all\":[1],\"$allMatch\":{\"$gt\":0}}}",
                "{\"$and\":[{\"a\":{\"$exists\":true}},{\"a\":{\"$all\":[1]}},"
                "{\"a\":{\"$allMatch\":{\"\":{\"$gt\":0}}}}]}");
}

static void test_normal_form_writer(void **state)
{
    st_selector *s = compile("{\"a\":1}");
    st_buf b = ST_BUF_INIT;
    st_jw w;

    /* Into an open writer, e.g. _explain's "selector" member. */
    assert_int_equal(st_jw_init(&w, &b), ST_OK);
    st_jw_obj_open(&w);
    st_jw_key(&w, "selector");
    st_selector_write(s, &w);
    st_jw_obj_close(&w);
    assert_int_equal(st_jw_status(&w), ST_OK);
    st_jw_free(&w);
    assert_string_equal(b.data, "{\"selector\":{\"a\":{\"$eq\":1}}}");
    assert_false(st_selector_matches_all(s));
    st_selector_free(s);
    s = compile("{}");
    assert_true(st_selector_matches_all(s));
    assert_true(matches(s, "{}"));
    assert_true(matches(s, "{\"_id\":\"x\",\"_deleted\":true}"));
    st_selector_free(s);
    st_buf_free(&b);
}

static void test_not_and_subfields(void **state)
{
    const char *docs[] = {"{\"name\":\"bob\"}", "{\"name\":\"alice\"}", "{}",
                          "{\"name\":null}", NULL};

    /* $not skips docs lacking the field. */
    expect("{\"$not\":{\"name\":\"bob\"}}", docs, "0101");
    expect("{\"name\":{\"$not\":{\"$eq\":\"bob\"}}}", docs, "0101");
    expect("{\"$not\":{\"name\":{\"$regex\":\"^b\"}}}", docs, "0101"); /* null: no string */
    expect("{\"$nor\":[{\"name\":\"bob\"},{\"name\":\"alice\"}]}", docs, "0001");
    expect("{\"$not\":{\"name\":{\"$exists\":true}}}", docs, "0010");
    expect("{\"$not\":{\"$not\":{\"name\":\"bob\"}}}", docs, "1000");
    /* De Morgan with a missing field: not(a=1 and b=2) is a!=1 or b!=2. */
    {
        const char *d2[] = {"{\"a\":5}", "{\"a\":1}", "{}", "{\"a\":1,\"b\":3}", NULL};

        expect("{\"$not\":{\"a\":1,\"b\":2}}", d2, "1001");
    }
    /* {"f":{"a":1}} is the sub-field f.a, not whole-object equality. */
    {
        const char *d3[] = {"{\"f\":{\"a\":1}}", "{\"f\":{\"a\":1.0,\"b\":2}}",
                            "{\"f\":{\"a\":2}}", "{\"f\":[{\"a\":1}]}", "{\"f\":1}", NULL};

        expect("{\"f\":{\"a\":1}}", d3, "11000");
        expect("{\"f\":{\"$eq\":{\"a\":1}}}", d3, "10000");
        expect("{\"f\":{\"$eq\":{\"a\":1.0}}}", d3, "10000");
    }
}

/* ---- B.4 operators ----------------------------------------------------------- */

static void test_eq_ne(void **state)
{
    const char *docs[] = {"{\"age\":4}", "{\"age\":4.0}", "{\"age\":\"4\"}", "{\"age\":null}",
                          "{}", "{\"age\":[4]}", "{\"age\":40e-1}", NULL};

    expect("{\"age\":4}", docs, "1100001");
    expect("{\"age\":{\"$eq\":4.0}}", docs, "1100001");
    expect("{\"age\":{\"$ne\":4}}", docs, "0011010");
    expect("{\"age\":null}", docs, "0001000");
    expect("{\"age\":{\"$ne\":null}}", docs, "1110011");
    expect("{\"age\":[4]}", docs, "0000010");
    expect("{\"age\":{\"$eq\":[4.0]}}", docs, "0000010");
    /* Objects compare member by member, in member order. */
    yes("{\"o\":{\"$eq\":{\"a\":1,\"b\":2}}}", "{\"o\":{\"a\":1,\"b\":2}}");
    no("{\"o\":{\"$eq\":{\"a\":1,\"b\":2}}}", "{\"o\":{\"b\":2,\"a\":1}}");
    /* Strings by collation: byte-different but equivalent forms are equal. */
    yes("{\"s\":\"\xc3\xa9\"}", "{\"s\":\"e\xcc\x81\"}");
    no("{\"s\":\"a\"}", "{\"s\":\"A\"}");
    /* Exact: the double nearest 12345678901234567890123 is another number. */
    no("{\"n\":12345678901234567890123}", "{\"n\":12345678901234567890123.0}");
    yes("{\"n\":10000000000000000000000}", "{\"n\":1e22}");
    no("{\"n\":9007199254740993}", "{\"n\":9007199254740992}");
}

static void test_ranges(void **state)
{
    const char *docs[] = {"{\"age\":25}", "{\"age\":\"thirty\"}", "{\"age\":null}",
                          "{\"age\":true}", "{\"age\":[1]}", "{\"age\":{}}", "{}",
                          "{\"age\":30}", "{\"age\":30.0}", "{\"age\":false}", NULL};

    expect("{\"age\":{\"$gt\":30}}", docs, "0100110000");
    expect("{\"age\":{\"$gte\":30}}", docs, "0100110110");
    expect("{\"age\":{\"$lt\":30}}", docs, "1011000001");
    expect("{\"age\":{\"$lte\":30}}", docs, "1011000111");
    /* Strings and beyond sort after numbers; arrays and objects after strings. */
    expect("{\"age\":{\"$gt\":\"a\"}}", docs, "0100110000");
    expect("{\"age\":{\"$gt\":null}}", docs, "1101110111");
    expect("{\"age\":{\"$gt\":20,\"$lt\":30}}", docs, "1000000000");
    expect("{\"age\":{\"$or\":[{\"$lt\":23},{\"$gt\":45}]}}", docs, "0111110001");
}

static void test_exists(void **state)
{
    const char *docs[] = {"{\"a\":1}", "{\"a\":null}", "{}", "{\"a\":false}", NULL};

    expect("{\"a\":{\"$exists\":true}}", docs, "1101");
    expect("{\"a\":{\"$exists\":false}}", docs, "0010");
    /* Only $exists:false matches a missing field. */
    expect("{\"a\":{\"$ne\":1}}", docs, "0101");
    expect("{\"a\":{\"$nin\":[1]}}", docs, "0101");
    expect("{\"a\":{\"$not\":{\"$size\":1}}}", docs, "1101");
    expect("{\"a\":{\"$exists\":false,\"$ne\":1}}", docs, "0000");
    expect("{\"$or\":[{\"a\":{\"$exists\":false}},{\"a\":1}]}", docs, "1010");
}

static void test_type(void **state)
{
    const char *docs[] = {"{\"v\":null}", "{\"v\":true}", "{\"v\":false}", "{\"v\":1.5}",
                          "{\"v\":\"s\"}", "{\"v\":[]}", "{\"v\":{}}", "{}", NULL};

    expect("{\"v\":{\"$type\":\"null\"}}", docs, "10000000");
    expect("{\"v\":{\"$type\":\"boolean\"}}", docs, "01100000");
    expect("{\"v\":{\"$type\":\"number\"}}", docs, "00010000");
    expect("{\"v\":{\"$type\":\"string\"}}", docs, "00001000");
    expect("{\"v\":{\"$type\":\"array\"}}", docs, "00000100");
    expect("{\"v\":{\"$type\":\"object\"}}", docs, "00000010");
    expect("{\"v\":{\"$type\":\"integer\"}}", docs, "00000000");
    expect("{\"v\":{\"$type\":\"\"}}", docs, "00000000");
    expect("{\"v\":{\"$not\":{\"$type\":\"null\"}}}", docs, "01111110");
}

static void test_in_nin(void **state)
{
    const char *docs[] = {"{\"tags\":\"a\"}", "{\"tags\":[\"b\",\"a\"]}", "{\"tags\":[\"c\"]}",
                          "{\"tags\":[]}", "{}", "{\"tags\":1}", "{\"tags\":[[\"a\"]]}",
                          "{\"tags\":null}", NULL};

    expect("{\"tags\":{\"$in\":[\"a\"]}}", docs, "11000000");
    expect("{\"tags\":{\"$in\":[\"a\",1.0,null]}}", docs, "11000101");
    expect("{\"tags\":{\"$in\":[]}}", docs, "00000000");
    expect("{\"tags\":{\"$in\":[[\"a\"]]}}", docs, "00000010");  /* elements only */
    expect("{\"tags\":{\"$in\":[[\"c\"]]}}", docs, "00000000");  /* not the whole array */
    expect("{\"tags\":{\"$nin\":[\"a\"]}}", docs, "00110111");
    expect("{\"tags\":{\"$nin\":[]}}", docs, "11110111");
    {
        /* $nin:[] is every doc having the field. */
        const char *d2[] = {"{\"tags\":1}", "{}", "{\"tags\":[]}", NULL};

        expect("{\"tags\":{\"$nin\":[]}}", d2, "101");
        expect("{\"tags\":{\"$nin\":[1,2]}}", d2, "001");
    }
    /* Collation equality, duplicates and mixed types in the list. */
    expect("{\"tags\":{\"$in\":[\"z\",\"A\",\"a\",\"a\",2,{}]}}", docs, "11000000");
    yes("{\"n\":{\"$in\":[1,2,3]}}", "{\"n\":2.0}");
    yes("{\"n\":{\"$in\":[1,2,3]}}", "{\"n\":[5,3e0]}");
    no("{\"n\":{\"$in\":[1,2,3]}}", "{\"n\":[5,\"3\"]}");
}

static void test_all(void **state)
{
    const char *docs[] = {"{\"t\":[\"a\",\"b\",\"c\"]}", "{\"t\":[\"a\"]}", "{\"t\":\"a\"}",
                          "{\"t\":[\"a\",\"b\"]}", "{\"t\":[[\"a\",\"b\"]]}", "{}",
                          "{\"t\":[\"b\",\"b\",\"a\"]}", NULL};

    expect("{\"t\":{\"$all\":[\"a\",\"b\"]}}", docs, "1001001");
    expect("{\"t\":{\"$all\":[\"b\",\"a\",\"a\"]}}", docs, "1001001");
    expect("{\"t\":{\"$all\":[\"a\"]}}", docs, "1101001");
    expect("{\"t\":{\"$all\":[]}}", docs, "0000000");
    /* A single array argument also matches a field equal to it. */
    expect("{\"t\":{\"$all\":[[\"a\",\"b\"]]}}", docs, "0001100");
    expect("{\"t\":{\"$not\":{\"$all\":[\"a\",\"b\"]}}}", docs, "0110100");
}

static void test_size(void **state)
{
    const char *docs[] = {"{\"t\":[]}", "{\"t\":[1,2]}", "{\"t\":\"ab\"}", "{\"t\":{\"a\":1,\"b\":2}}",
                          "{}", NULL};

    expect("{\"t\":{\"$size\":0}}", docs, "10000");
    expect("{\"t\":{\"$size\":2}}", docs, "01000");
    expect("{\"t\":{\"$size\":3}}", docs, "00000");
}

static void test_mod(void **state)
{
    const char *docs[] = {"{\"n\":4}", "{\"n\":5}", "{\"n\":4.0}", "{\"n\":-3}", "{\"n\":\"4\"}",
                          "{\"n\":-4}", "{\"n\":1e1}", "{}", NULL};

    expect("{\"n\":{\"$mod\":[2,0]}}", docs, "10000100");
    expect("{\"n\":{\"$mod\":[2,1]}}", docs, "01000000");
    expect("{\"n\":{\"$mod\":[2,-1]}}", docs, "00010000"); /* -3 rem 2 = -1 */
    expect("{\"n\":{\"$mod\":[-2,1]}}", docs, "01000000"); /* sign of the dividend */
    expect("{\"n\":{\"$mod\":[-1,0]}}", docs, "11010100");
    /* Integers past int64. */
    yes("{\"n\":{\"$mod\":[7,2]}}", "{\"n\":100000000000000000000}"); /* 10^20 */
    no("{\"n\":{\"$mod\":[7,3]}}", "{\"n\":100000000000000000000}");
    yes("{\"n\":{\"$mod\":[-7,-2]}}", "{\"n\":-100000000000000000000}");
    yes("{\"n\":{\"$mod\":[9223372036854775807,2]}}", "{\"n\":18446744073709551616}");
    yes("{\"n\":{\"$mod\":[-9223372036854775808,0]}}", "{\"n\":-9223372036854775808}");
    yes("{\"n\":{\"$mod\":[3,-2]}}", "{\"n\":-9223372036854775808}");
}

static void test_regex(void **state)
{
    const char *docs[] = {"{\"s\":\"Hello\"}", "{\"s\":\"say hello\"}", "{\"s\":5}",
                          "{\"s\":[\"hello\"]}", "{}", "{\"s\":\"\xc3\xa9t\xc3\xa9\"}", NULL};

    expect("{\"s\":{\"$regex\":\"ello\"}}", docs, "110000");   /* unanchored */
    expect("{\"s\":{\"$regex\":\"^hello\"}}", docs, "000000");
    expect("{\"s\":{\"$regex\":\"(?i)^hello\"}}", docs, "100000");
    expect("{\"s\":{\"$regex\":\"^.t.$\"}}", docs, "000001"); /* characters, not bytes */
    expect("{\"s\":{\"$not\":{\"$regex\":\"ello\"}}}", docs, "001101");
    expect("{\"_id\":{\"$regex\":\"^a\"}}", (const char *[]){"{\"_id\":\"abc\"}",
                                                            "{\"_id\":\"bc\"}", NULL}, "10");
}

static void test_begins_with(void **state)
{
    const char *docs[] = {"{\"s\":\"prefix-1\"}", "{\"s\":\"pre\"}", "{\"s\":\"Prefix\"}",
                          "{\"s\":7}", "{}", "{\"s\":[\"prefix\"]}", NULL};

    expect("{\"s\":{\"$beginsWith\":\"prefix\"}}", docs, "100000");
    expect("{\"s\":{\"$beginsWith\":\"\"}}", docs, "111000");
    expect("{\"s\":{\"$not\":{\"$beginsWith\":\"pre\"}}}", docs, "001101");
}

static void test_elem_all_keymap(void **state)
{
    const char *docs[] = {"{\"scores\":[80,90]}", "{\"scores\":[95,70]}", "{\"scores\":[]}",
                          "{\"scores\":88}", "{}", "{\"scores\":[91,85]}", NULL};

    expect("{\"scores\":{\"$elemMatch\":{\"$gte\":85,\"$lt\":92}}}", docs, "100001");
    expect("{\"scores\":{\"$allMatch\":{\"$gte\":85}}}", docs, "000001");
    expect("{\"scores\":{\"$allMatch\":{\"$gte\":0}}}", docs, "110001"); /* [] → false */
    expect("{\"scores\":{\"$elemMatch\":{}}}", docs, "110001");
    expect("{\"scores\":{\"$not\":{\"$elemMatch\":{\"$gt\":90}}}}", docs, "101100");
    {
        const char *d2[] = {"{\"items\":[{\"n\":\"x\",\"q\":1},{\"n\":\"y\",\"q\":5}]}",
                            "{\"items\":[{\"n\":\"x\",\"q\":5}]}", "{\"items\":[{\"q\":5}]}", NULL};

        expect("{\"items\":{\"$elemMatch\":{\"n\":\"x\",\"q\":{\"$gt\":2}}}}", d2, "010");
        /* Inside $elemMatch $not is per field too: an element without n fails. */
        expect("{\"items\":{\"$elemMatch\":{\"$not\":{\"n\":\"x\"}}}}", d2, "100");
        expect("{\"items\":{\"$allMatch\":{\"q\":{\"$exists\":true}}}}", d2, "111");
        expect("{\"items\":{\"$elemMatch\":{\"_id\":{\"$gt\":\"Z\"}}}}",
               (const char *[]){"{\"items\":[{\"_id\":\"a\"}]}", NULL}, "1"); /* raw */
    }
    {
        const char *d3[] = {"{\"m\":{\"apple\":1,\"kiwi\":2}}", "{\"m\":{\"banana\":1}}",
                            "{\"m\":{}}", "{\"m\":[\"apple\"]}", NULL};

        expect("{\"m\":{\"$keyMapMatch\":{\"$beginsWith\":\"ap\"}}}", d3, "1000");
        expect("{\"m\":{\"$keyMapMatch\":{\"$in\":[\"kiwi\",\"banana\"]}}}", d3, "1100");
        expect("{\"m\":{\"$keyMapMatch\":{\"$gt\":\"\"}}}", d3, "1100");
    }
}

static void test_logic(void **state)
{
    const char *docs[] = {"{\"a\":1,\"b\":2}", "{\"a\":1}", "{\"b\":2}", "{}", NULL};

    expect("{\"$and\":[{\"a\":1},{\"b\":2}]}", docs, "1000");
    expect("{\"$or\":[{\"a\":1},{\"b\":2}]}", docs, "1110");
    expect("{\"$nor\":[{\"a\":1},{\"b\":2}]}", docs, "0000"); /* both need a field */
    expect("{\"$nor\":[{\"a\":2}]}", docs, "1100");
    expect("{\"$and\":[]}", docs, "1111");
    expect("{\"$or\":[]}", docs, "0000");
    expect("{\"$nor\":[]}", docs, "1111");
    expect("{\"$not\":{}}", docs, "0000");
    expect("{\"$and\":[{}]}", docs, "1111");
    expect("{\"$or\":[{\"$and\":[{\"a\":1},{\"b\":{\"$exists\":false}}]},{\"b\":2,\"a\":{\"$exists\":false}}]}",
           docs, "0110");
}

/* ---- B.5 types, collation, fields ------------------------------------------ */

static void test_collation_and_id(void **state)
{
    const char *names[] = {"{\"_id\":\"alpha\",\"name\":\"alice\"}",
                           "{\"_id\":\"beta\",\"name\":\"bob\"}",
                           "{\"_id\":\"Zed\",\"name\":\"Eve\"}", "{\"_id\":\"zz\",\"name\":\"yves\"}",
                           NULL};

    expect("{\"name\":{\"$gt\":\"Z\"}}", names, "0000"); /* ICU: "Z" is after every z */
    expect("{\"name\":{\"$lt\":\"b\"}}", names, "1000");
    expect("{\"name\":{\"$gt\":\"E\"}}", names, "0011");
    /* _id compares by raw bytes. */
    expect("{\"_id\":{\"$gt\":\"Zed\"}}", names, "1101");
    expect("{\"_id\":{\"$lt\":\"b\"}}", names, "1010");
    expect("{\"_id\":{\"$in\":[\"ZED\",\"Zed\"]}}", names, "0010");
    expect("{\"_id\":{\"$gt\":null}}", names, "1111");
    expect("{\"_id\":{\"$lt\":{}}}", names, "0000"); /* raw: strings after objects */
    expect("{\"_id\":{\"$gte\":\"_design/\",\"$lt\":\"_design0\"}}",
           (const char *[]){"{\"_id\":\"_design/x\"}", "{\"_id\":\"a\"}", NULL}, "10");
    /* Only the top-level _id is raw. */
    expect("{\"o._id\":{\"$lt\":\"b\"}}",
           (const char *[]){"{\"o\":{\"_id\":\"Eve\"}}", "{\"o\":{\"_id\":\"alice\"}}", NULL}, "01");
    /* Deleted documents are ordinary members. */
    expect("{\"_deleted\":true}", (const char *[]){"{\"_id\":\"x\",\"_deleted\":true}",
                                                  "{\"_id\":\"y\"}", NULL}, "10");
}

static void test_paths(void **state)
{
    const char *docs[] = {"{\"a\":{\"b\":{\"c\":1}}}", "{\"a\":{\"b\":{\"c\":2}}}", "{\"a\":5}",
                          "{\"a\":{}}", "{}", "{\"a\":[{\"b\":{\"c\":1}}]}", NULL};

    expect("{\"a.b.c\":1}", docs, "100000");
    expect("{\"a\":{\"b.c\":1}}", docs, "100000");
    expect("{\"a.0.b.c\":1}", docs, "000001");
    /* Missing vs a path through a scalar: only a missing key is "missing". */
    expect("{\"a.b\":{\"$exists\":false}}", docs, "000110");
    expect("{\"a.b.c\":{\"$exists\":false}}", docs, "000110");
    {
        const char *d2[] = {"{\"tags\":[\"x\",\"y\"]}", "{\"tags\":[\"x\"]}",
                            "{\"tags\":{\"1\":\"y\"}}", "{\"tags\":\"xy\"}", NULL};

        expect("{\"tags.1\":\"y\"}", d2, "1010");
        expect("{\"tags.01\":\"y\"}", d2, "1000");
        expect("{\"tags.1\":{\"$exists\":false}}", d2, "0000"); /* past the end: bad path */
        expect("{\"tags.x\":{\"$exists\":false}}", d2, "0010");
        expect("{\"tags.99999999999999999999999\":{\"$exists\":true}}", d2, "0000");
    }
    {
        /* "\." escapes a dot; every backslash is dropped. */
        const char *d3[] = {"{\"dot\":{\"a.b\":1}}", "{\"dot\":{\"a\":{\"b\":1}}}", "{\"a.b\":1}",
                            "{\"$x\":1}", NULL};

        expect("{\"dot.a\\\\.b\":1}", d3, "1000");
        expect("{\"dot.a.b\":1}", d3, "0100");
        expect("{\"a\\\\.b\":1}", d3, "0010");
        expect("{\"\\\\$x\":1}", d3, "0001");
    }
    /* Duplicate keys in a document: the last wins. */
    yes("{\"a\":2}", "{\"a\":1,\"a\":2}");
    no("{\"a\":1}", "{\"a\":1,\"a\":2}");
    /* A key that is a number is a key in objects. */
    yes("{\"o.0\":1}", "{\"o\":{\"0\":1}}");
}

/* ---- errors ------------------------------------------------------------------ */

static void test_errors(void **state)
{
    st_selector *s = NULL;
    st_json_doc *doc = parse("[1]");

    assert_int_equal(st_selector_compile(st_json_doc_root(doc), &s, NULL),
                     ST_E_INVALID_SELECTOR_JSON);
    st_json_doc_free(doc);
    assert_string_equal(st_status_name(ST_E_INVALID_SELECTOR_JSON), "invalid_selector_json");
    assert_string_equal(st_status_name(ST_E_INVALID_OPERATOR), "invalid_operator");
    assert_string_equal(st_status_name(ST_E_BAD_ARG), "bad_arg");
    assert_string_equal(st_status_name(ST_E_NOT_SUPPORTED), "not_supported");
    assert_string_equal(st_status_name(ST_E_INVALID_SELECTOR), "invalid_selector");
    assert_string_equal(st_status_name(ST_E_BAD_FIELD), "bad_field");
    assert_int_equal(st_selector_compile(NULL, &s, NULL), ST_E_MISUSE);

    refused("{\"a\":{\"$foo\":1}}", ST_E_INVALID_OPERATOR, "Invalid operator: $foo");
    refused("{\"$foo\":1}", ST_E_INVALID_OPERATOR, "Invalid operator: $foo");
    refused("{\"a\":{\"$\":1}}", ST_E_INVALID_OPERATOR, "Invalid operator: $");
    refused("{\"a\":{\"$EQ\":1}}", ST_E_INVALID_OPERATOR, "$EQ");
    refused("{\"a\":{\"$regex\":5}}", ST_E_INVALID_OPERATOR, "$regex");
    refused("{\"a\":{\"$beginsWith\":[\"x\"]}}", ST_E_INVALID_OPERATOR, "$beginsWith");
    refused("{\"$where\":\"1\"}", ST_E_NOT_SUPPORTED, "Unsupported operator: $where");
    refused("{\"a\":{\"$geoWithin\":{}}}", ST_E_NOT_SUPPORTED, "$geoWithin");
    refused("{\"a\":{\"$geoIntersects\":{}}}", ST_E_NOT_SUPPORTED, "$geoIntersects");
    refused("{\"a\":{\"$near\":[1,2]}}", ST_E_NOT_SUPPORTED, "$near");
    refused("{\"a\":{\"$nearSphere\":[1,2]}}", ST_E_NOT_SUPPORTED, "$nearSphere");
    refused("{\"$text\":\"x\"}", ST_E_NOT_SUPPORTED, "$text");
    refused("{\"$default\":{\"$text\":\"x\"}}", ST_E_NOT_SUPPORTED, "$default");

    refused("{\"a\":{\"$exists\":1}}", ST_E_BAD_ARG, "$exists");
    refused("{\"a\":{\"$exists\":\"true\"}}", ST_E_BAD_ARG, "$exists");
    refused("{\"a\":{\"$type\":1}}", ST_E_BAD_ARG, "$type");
    refused("{\"a\":{\"$type\":[\"null\"]}}", ST_E_BAD_ARG, "$type");
    refused("{\"a\":{\"$in\":1}}", ST_E_BAD_ARG, "$in");
    refused("{\"a\":{\"$in\":{\"x\":1}}}", ST_E_BAD_ARG, "$in");
    refused("{\"a\":{\"$nin\":\"x\"}}", ST_E_BAD_ARG, "$nin");
    refused("{\"a\":{\"$all\":\"x\"}}", ST_E_BAD_ARG, "$all");
    refused("{\"a\":{\"$size\":-1}}", ST_E_BAD_ARG, "$size");
    refused("{\"a\":{\"$size\":1.5}}", ST_E_BAD_ARG, "$size");
    refused("{\"a\":{\"$size\":2.0}}", ST_E_BAD_ARG, "$size");
    refused("{\"a\":{\"$size\":\"1\"}}", ST_E_BAD_ARG, "$size");
    refused("{\"a\":{\"$mod\":[2]}}", ST_E_BAD_ARG, "$mod");
    refused("{\"a\":{\"$mod\":[2,1,0]}}", ST_E_BAD_ARG, "$mod");
    refused("{\"a\":{\"$mod\":[2.0,1]}}", ST_E_BAD_ARG, "$mod");
    refused("{\"a\":{\"$mod\":[2,\"1\"]}}", ST_E_BAD_ARG, "$mod");
    refused("{\"a\":{\"$mod\":2}}", ST_E_BAD_ARG, "$mod");
    refused("{\"a\":{\"$mod\":[0,1]}}", ST_E_BAD_ARG, "divisor is zero");
    refused("{\"a\":{\"$mod\":[99999999999999999999,1]}}", ST_E_BAD_ARG, "$mod");
    refused("{\"a\":{\"$regex\":\"(\"}}", ST_E_BAD_ARG, "$regex");
    refused("{\"a\":{\"$regex\":\"a\\\\C\"}}", ST_E_BAD_ARG, "$regex");
    refused("{\"a\":{\"$elemMatch\":[1]}}", ST_E_BAD_ARG, "$elemMatch");
    refused("{\"a\":{\"$allMatch\":1}}", ST_E_BAD_ARG, "$allMatch");
    refused("{\"a\":{\"$keyMapMatch\":\"k\"}}", ST_E_BAD_ARG, "$keyMapMatch");
    refused("{\"$and\":{\"a\":1}}", ST_E_BAD_ARG, "$and");
    refused("{\"$or\":1}", ST_E_BAD_ARG, "$or");
    refused("{\"$nor\":null}", ST_E_BAD_ARG, "$nor");
    refused("{\"$not\":[{\"a\":1}]}", ST_E_BAD_ARG, "$not");
    refused("{\"a\":{\"$not\":1}}", ST_E_BAD_ARG, "$not");

    refused("{\"$eq\":1}", ST_E_INVALID_SELECTOR, "missing a field name");
    refused("{\"\":1}", ST_E_INVALID_SELECTOR, "missing a field name");
    refused("{\"$and\":[1]}", ST_E_INVALID_SELECTOR, "missing a field name");
    refused("{\"$or\":[{\"$gt\":1}]}", ST_E_INVALID_SELECTOR, "missing a field name");
    refused("{\"$elemMatch\":{\"a\":1}}", ST_E_INVALID_SELECTOR, "missing a field name");
    refused("{\"a..b\":1}", ST_E_BAD_FIELD, "a..b");
    refused("{\"a.\":1}", ST_E_BAD_FIELD, "a.");
    refused("{\".a\":1}", ST_E_BAD_FIELD, ".a");
    refused("{\"a\":{\"\":1}}", ST_E_BAD_FIELD, "a.");
    refused("{\"a\":{\"$elemMatch\":{\"b..c\":1}}}", ST_E_BAD_FIELD, "b..c");
    refused("{\"a\\u0000b\":1}", ST_E_BAD_FIELD, "u0000");
    /* An error deep inside still fails the whole compile. */
    refused("{\"x\":1,\"$or\":[{\"y\":2},{\"z\":{\"$elemMatch\":{\"w\":{\"$bad\":1}}}}]}",
            ST_E_INVALID_OPERATOR, "$bad");
}

/* ---- limits ----------------------------------------------------------------- */

static char *nested_selector(int levels)
{
    st_buf b = ST_BUF_INIT;

    /* {"a":{"a":...{"a":1}...}}: `levels` objects deep. */
    for (int i = 0; i < levels; i++)
        assert_int_equal(st_buf_adds(&b, "{\"a\":"), ST_OK);
    assert_int_equal(st_buf_addc(&b, '1'), ST_OK);
    for (int i = 0; i < levels; i++)
        assert_int_equal(st_buf_addc(&b, '}'), ST_OK);
    return st_buf_take(&b, NULL);
}

static void test_depth_limit(void **state)
{
    char *ok = nested_selector(ST_SELECTOR_MAX_DEPTH);
    char *deep = nested_selector(ST_SELECTOR_MAX_DEPTH + 1);
    st_selector *s = compile(ok);
    st_buf b = ST_BUF_INIT;

    assert_true(matches(s, ok));
    st_selector_free(s);
    refused(deep, ST_E_INVALID_SELECTOR, "deeper than 32");
    /* Depth counts arguments too, and $and arrays. */
    assert_int_equal(st_buf_adds(&b, "{\"a\":{\"$eq\":"), ST_OK);
    for (int i = 0; i < ST_SELECTOR_MAX_DEPTH; i++)
        assert_int_equal(st_buf_addc(&b, '['), ST_OK);
    for (int i = 0; i < ST_SELECTOR_MAX_DEPTH; i++)
        assert_int_equal(st_buf_addc(&b, ']'), ST_OK);
    assert_int_equal(st_buf_adds(&b, "}}"), ST_OK);
    refused(b.data, ST_E_INVALID_SELECTOR, "deeper");
    st_buf_reset(&b);
    for (int i = 0; i < 20; i++)
        assert_int_equal(st_buf_adds(&b, "{\"$and\":["), ST_OK);
    assert_int_equal(st_buf_adds(&b, "{\"a\":1}"), ST_OK);
    for (int i = 0; i < 20; i++)
        assert_int_equal(st_buf_adds(&b, "]}"), ST_OK);
    refused(b.data, ST_E_INVALID_SELECTOR, "deeper");
    st_buf_free(&b);
    free(ok);
    free(deep);
}

static char *big_list(const char *op, size_t n)
{
    st_buf b = ST_BUF_INIT;

    assert_int_equal(st_buf_printf(&b, "{\"n\":{\"%s\":[", op), ST_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(st_buf_printf(&b, "%s%zu", i ? "," : "", i * 7), ST_OK);
    assert_int_equal(st_buf_adds(&b, "]}}"), ST_OK);
    return st_buf_take(&b, NULL);
}

static void test_list_limit(void **state)
{
    char *ok = big_list("$in", ST_SELECTOR_MAX_LIST);
    char *big = big_list("$in", ST_SELECTOR_MAX_LIST + 1);
    char *nin = big_list("$nin", ST_SELECTOR_MAX_LIST + 1);
    char *all = big_list("$all", ST_SELECTOR_MAX_LIST + 1);
    char *all_ok = big_list("$all", ST_SELECTOR_MAX_LIST);
    st_selector *s = compile(ok);

    yes(ok, "{\"n\":70}");
    assert_true(matches(s, "{\"n\":458745}")); /* the last: 65535 * 7 */
    assert_false(matches(s, "{\"n\":71}"));
    assert_true(matches(s, "{\"n\":[1,2,3,14]}"));
    st_selector_free(s);
    s = compile(all_ok);
    assert_false(matches(s, "{\"n\":[0,7,14]}"));
    st_selector_free(s);
    refused(big, ST_E_BAD_ARG, "limit is 65536");
    refused(nin, ST_E_BAD_ARG, "$nin");
    refused(all, ST_E_BAD_ARG, "$all");
    free(ok);
    free(big);
    free(nin);
    free(all);
    free(all_ok);
}

static void test_regex_limits(void **state)
{
    st_buf b = ST_BUF_INIT;
    st_selector *s;
    char *doc;
    struct timespec t0, t1;
    const size_t lens[] = {30, 1000, 100000};

    /* The pattern length limit. */
    assert_int_equal(st_buf_adds(&b, "{\"s\":{\"$regex\":\""), ST_OK);
    for (int i = 0; i < ST_SELECTOR_MAX_REGEX; i++)
        assert_int_equal(st_buf_addc(&b, 'a'), ST_OK);
    assert_int_equal(st_buf_adds(&b, "\"}}"), ST_OK);
    s = compile(b.data);
    st_selector_free(s);
    b.len -= 3;
    assert_int_equal(st_buf_adds(&b, "a\"}}"), ST_OK);
    refused(b.data, ST_E_BAD_ARG, "limit is 4096");
    st_buf_free(&b);

    /* Catastrophic backtracking costs bounded time and simply does not match:
     * one run of a's, and runs of 15 a's each costing just under PCRE2's
     * per-start limit (its limit alone would let this run for seconds). */
    for (int pat = 0; pat < 2; pat++) {
        s = compile(pat == 0 ? "{\"s\":{\"$regex\":\"(a+)+$\"}}" : "{\"s\":{\"$regex\":\"(a|aa)+$\"}}");
        for (size_t k = 0; k < 2 * sizeof lens / sizeof lens[0]; k++) {
            size_t len = lens[k / 2], run = k % 2 ? 15 : len;
            double ms;

            st_buf_init(&b, 0);
            assert_int_equal(st_buf_adds(&b, "{\"s\":\""), ST_OK);
            for (size_t i = 0; i < len; i++)
                assert_int_equal(st_buf_addc(&b, (i + 1) % (run + 1) == 0 ? '!' : 'a'), ST_OK);
            assert_int_equal(st_buf_adds(&b, "!\"}"), ST_OK);
            doc = st_buf_take(&b, NULL);
            clock_gettime(CLOCK_MONOTONIC, &t0);
            assert_false(matches(s, doc));
            clock_gettime(CLOCK_MONOTONIC, &t1);
            ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            print_message("%s on %zu chars (runs of %zu a's): %.1f ms, no match\n",
                          pat == 0 ? "(a+)+$" : "(a|aa)+$", len, run, ms);
            assert_true(ms < 2000);
            free(doc);
        }
        st_selector_free(s);
    }
    /* A sane pattern on a long string still matches. */
    st_buf_init(&b, 0);
    assert_int_equal(st_buf_adds(&b, "{\"s\":\""), ST_OK);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(st_buf_addc(&b, 'a'), ST_OK);
    assert_int_equal(st_buf_adds(&b, "b\"}"), ST_OK);
    yes("{\"s\":{\"$regex\":\"^a+b$\"}}", b.data);
    yes("{\"s\":{\"$regex\":\"ab\"}}", b.data);
    st_buf_free(&b);
}

/* ---- analysis ----------------------------------------------------------------- */

#define check_bound(b, value, inclusive) check_bound_at(b, value, inclusive, __LINE__)

static void check_bound_at(const st_selector_bound *b, const char *value, bool inclusive, int line)
{
    st_buf out = ST_BUF_INIT;
    st_jw w;

    if ((value == NULL) != (b->value == NULL))
        fail_msg("line %d: bound %s, expected %s", line, b->value ? "set" : "unset",
                 value ? value : "none");
    if (value == NULL)
        return;
    assert_int_equal(st_jw_init(&w, &out), ST_OK);
    st_jw_value(&w, b->value);
    st_jw_free(&w);
    assert_string_equal(out.data, value);
    assert_int_equal(b->inclusive, inclusive);
    st_buf_free(&out);
}

static void test_analysis(void **state)
{
    st_selector *s = compile("{\"name\":\"x\",\"age\":{\"$gt\":20,\"$lte\":30},"
                             "\"gone\":{\"$exists\":false},\"t\":{\"$size\":1}}");
    const st_selector_field *f;
    size_t n;

    f = st_selector_fields(s, &n);
    assert_int_equal(n, 3);
    assert_string_equal(f[0].path, "name");
    assert_string_equal(f[1].path, "age");
    assert_string_equal(f[2].path, "t");
    assert_true(f[0].exists && f[1].exists && f[2].exists);
    assert_non_null(f[0].eq);
    assert_string_equal(f[0].eq->u.str, "x");
    check_bound(&f[0].lo, "\"x\"", true);
    check_bound(&f[0].hi, "\"x\"", true);
    assert_null(f[1].eq);
    check_bound(&f[1].lo, "20", false);
    check_bound(&f[1].hi, "30", true);
    assert_null(f[2].eq);
    check_bound(&f[2].lo, NULL, false);
    check_bound(&f[2].hi, NULL, false);
    assert_false(f[1].empty);
    assert_null(st_selector_field_find(s, "gone"));
    assert_ptr_equal(st_selector_field_find(s, "age"), &f[1]);
    st_selector_free(s);

    /* Tightest bounds win; equal bounds keep the stricter inclusivity. */
    s = compile("{\"a\":{\"$gt\":1,\"$gte\":1,\"$lt\":9},\"$and\":[{\"a\":{\"$gt\":0,\"$lt\":7}}]}");
    f = st_selector_field_find(s, "a");
    check_bound(&f->lo, "1", false);
    check_bound(&f->hi, "7", false);
    assert_false(f->empty);
    st_selector_free(s);

    /* Contradictions. */
    s = compile("{\"a\":{\"$gt\":5,\"$lt\":3}}");
    assert_true(st_selector_field_find(s, "a")->empty);
    st_selector_free(s);
    s = compile("{\"a\":1,\"$and\":[{\"a\":2}]}");
    assert_true(st_selector_field_find(s, "a")->empty);
    st_selector_free(s);
    s = compile("{\"a\":{\"$gte\":3,\"$lt\":3}}");
    assert_true(st_selector_field_find(s, "a")->empty);
    st_selector_free(s);
    s = compile("{\"a\":{\"$gte\":3,\"$lte\":3.0}}");
    assert_false(st_selector_field_find(s, "a")->empty);
    st_selector_free(s);
    s = compile("{\"a\":1,\"$and\":[{\"a\":1.0}]}");
    assert_false(st_selector_field_find(s, "a")->empty);
    st_selector_free(s);

    /* Through $or: existence only, and only when every branch requires it. */
    s = compile("{\"age\":{\"$gte\":20},\"$or\":[{\"name\":\"a\"},{\"name\":\"b\",\"x\":1},"
                "{\"$and\":[{\"name\":{\"$gt\":\"c\"}},{\"x\":2}]}]}");
    f = st_selector_fields(s, &n);
    assert_int_equal(n, 2);
    assert_string_equal(f[1].path, "name");
    assert_true(f[1].exists);
    assert_null(f[1].eq);
    assert_null(f[1].lo.value);
    assert_null(st_selector_field_find(s, "x"));
    st_selector_free(s);
    s = compile("{\"$or\":[{\"a\":1},{\"b\":1}]}");
    st_selector_fields(s, &n);
    assert_int_equal(n, 0);
    st_selector_free(s);
    s = compile("{\"$or\":[{\"a\":1},{\"a\":{\"$exists\":false}}]}");
    assert_null(st_selector_field_find(s, "a"));
    st_selector_free(s);

    /* Negations become conditions with ranges. */
    s = compile("{\"$not\":{\"a\":{\"$lt\":5}}}");
    f = st_selector_field_find(s, "a");
    check_bound(&f->lo, "5", true);
    st_selector_free(s);

    /* _id: raw order, and the bounds are compared raw. */
    s = compile("{\"_id\":{\"$gt\":\"a\",\"$lt\":\"B\"}}");
    f = st_selector_field_find(s, "_id");
    assert_true(f->raw);
    assert_true(f->empty); /* "B" < "a" in bytes */
    st_selector_free(s);
    s = compile("{\"n\":{\"$gt\":\"a\",\"$lt\":\"B\"}}");
    f = st_selector_field_find(s, "n");
    assert_false(f->raw);
    assert_false(f->empty); /* "a" < "B" by ICU */
    st_selector_free(s);

    /* $elemMatch, $in, $regex: existence only; nothing for {}. */
    s = compile("{\"a\":{\"$elemMatch\":{\"b\":1}},\"c\":{\"$in\":[1]},\"d\":{\"$regex\":\"x\"}}");
    f = st_selector_fields(s, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(f[i].exists && f[i].eq == NULL && f[i].lo.value == NULL);
    assert_null(st_selector_field_find(s, "b"));
    st_selector_free(s);
    s = compile("{}");
    st_selector_fields(s, &n);
    assert_int_equal(n, 0);
    st_selector_free(s);
}

/* ---- the reference evaluator ----------------------------------------------------
 * Written from the semantics, not from the implementation: it walks the raw
 * selector with Kleene's three-valued logic.  A condition on a missing field
 * is UNKNOWN (except $exists, which knows), a path through a scalar is
 * UNKNOWN for everything, NOT UNKNOWN is UNKNOWN, and a document matches
 * when the whole selector is TRUE.  That equals pushing negations down to
 * the fields (CouchDB's normalisation) and calling such conditions false. */

typedef enum { KF = 0, KU = 1, KT = 2 } kleene;

static kleene k_not(kleene a)
{
    return (kleene)(2 - a);
}

static kleene k_and(kleene a, kleene b)
{
    return a < b ? a : b;
}

static kleene k_or(kleene a, kleene b)
{
    return a > b ? a : b;
}

static kleene k_of(bool b)
{
    return b ? KT : KF;
}

static kleene ref_value(const st_json *x, const st_json *ctx, const char *path, bool elem);

/* 0 found, 1 missing, 2 bad path; splits path like CouchDB does. */
static int ref_lookup(const st_json *v, const char *path, const st_json **out, bool *is_id)
{
    char seg[512];
    size_t k = 0, nsegs = 0;
    bool only_id = true;

    for (size_t i = 0;; i++) {
        char ch = path[i];

        if (ch == '\\')
            continue;
        if (ch != '\0' && !(ch == '.' && (i == 0 || path[i - 1] != '\\'))) {
            seg[k++] = ch;
            continue;
        }
        seg[k] = '\0';
        nsegs++;
        only_id = only_id && nsegs == 1 && strcmp(seg, "_id") == 0;
        if (v->type == ST_JSON_OBJECT) {
            const st_json *next = st_json_get(v, seg);

            if (next == NULL)
                return 1;
            v = next;
        } else if (v->type == ST_JSON_ARRAY) {
            char *end;
            unsigned long idx = strtoul(seg, &end, 10);

            if (k == 0 || *end != '\0' || seg[0] < '0' || seg[0] > '9' || idx >= v->len)
                return 2;
            v = &v->u.items[idx];
        } else {
            return 2;
        }
        k = 0;
        if (ch == '\0')
            break;
    }
    *out = v;
    *is_id = only_id;
    return 0;
}

static bool ref_member_of(const st_json *list, const st_json *v, st_collate_mode m)
{
    for (size_t i = 0; i < list->len; i++)
        if (st_collate(&list->u.items[i], v, m) == 0)
            return true;
    return false;
}

static bool ref_in(const st_json *list, const st_json *v, st_collate_mode m)
{
    if (v->type != ST_JSON_ARRAY)
        return ref_member_of(list, v, m);
    for (size_t i = 0; i < v->len; i++)
        if (ref_member_of(list, &v->u.items[i], m))
            return true;
    return false;
}

static bool ref_all(const st_json *list, const st_json *v, st_collate_mode m)
{
    if (v->type != ST_JSON_ARRAY || list->len == 0)
        return false;
    if (list->len == 1 && list->u.items[0].type == ST_JSON_ARRAY &&
        st_collate(&list->u.items[0], v, m) == 0)
        return true;
    for (size_t i = 0; i < list->len; i++) {
        bool found = false;

        for (size_t j = 0; j < v->len && !found; j++)
            found = st_collate(&list->u.items[i], &v->u.items[j], m) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool ref_regex(const st_json *pat, const st_json *v)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *re;
    pcre2_match_data *md;
    int rc;

    if (v->type != ST_JSON_STRING)
        return false;
    re = pcre2_compile((PCRE2_SPTR)pat->u.str, pat->len, PCRE2_UTF, &err, &off, NULL);
    assert_non_null(re);
    md = pcre2_match_data_create_from_pattern(re, NULL);
    rc = pcre2_match(re, (PCRE2_SPTR)v->u.str, v->len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

static const char *ref_type(const st_json *v)
{
    switch (v->type) {
    case ST_JSON_NULL: return "null";
    case ST_JSON_TRUE:
    case ST_JSON_FALSE: return "boolean";
    case ST_JSON_NUMBER: return "number";
    case ST_JSON_STRING: return "string";
    case ST_JSON_ARRAY: return "array";
    default: return "object";
    }
}

/* A whole sub-selector over an element: TRUE or not. */
static bool ref_sub(const st_json *sel, const st_json *elem)
{
    return ref_value(sel, elem, "", true) == KT;
}

/* Operator op with argument a, on the present value v. */
static bool ref_present(const char *op, const st_json *a, const st_json *v, st_collate_mode m)
{
    if (strcmp(op, "$eq") == 0) return st_collate(v, a, m) == 0;
    if (strcmp(op, "$ne") == 0) return st_collate(v, a, m) != 0;
    if (strcmp(op, "$lt") == 0) return st_collate(v, a, m) < 0;
    if (strcmp(op, "$lte") == 0) return st_collate(v, a, m) <= 0;
    if (strcmp(op, "$gt") == 0) return st_collate(v, a, m) > 0;
    if (strcmp(op, "$gte") == 0) return st_collate(v, a, m) >= 0;
    if (strcmp(op, "$in") == 0) return ref_in(a, v, m);
    if (strcmp(op, "$nin") == 0) return !ref_in(a, v, m);
    if (strcmp(op, "$all") == 0) return ref_all(a, v, m);
    if (strcmp(op, "$exists") == 0) return a->type == ST_JSON_TRUE;
    if (strcmp(op, "$type") == 0) return strcmp(a->u.str, ref_type(v)) == 0;
    if (strcmp(op, "$size") == 0) return v->type == ST_JSON_ARRAY && (int64_t)v->len == atoll(a->u.str);
    if (strcmp(op, "$mod") == 0) {
        int64_t d = llabs(atoll(a->u.items[0].u.str)), r = atoll(a->u.items[1].u.str), rem = 0;
        const char *t = v->u.str;

        if (v->type != ST_JSON_NUMBER || strpbrk(t, ".eE") != NULL)
            return false;
        for (size_t k = t[0] == '-'; k < v->len; k++) /* small divisors: no overflow */
            rem = (rem * 10 + (t[k] - '0')) % d;
        return (t[0] == '-' ? -rem : rem) == r;
    }
    if (strcmp(op, "$regex") == 0) return ref_regex(a, v);
    if (strcmp(op, "$beginsWith") == 0)
        return v->type == ST_JSON_STRING && v->len >= a->len && strncmp(v->u.str, a->u.str, a->len) == 0;
    if (strcmp(op, "$elemMatch") == 0 || strcmp(op, "$allMatch") == 0) {
        bool all = op[1] == 'a';

        if (v->type != ST_JSON_ARRAY || v->len == 0)
            return false;
        for (size_t k = 0; k < v->len; k++)
            if (ref_sub(a, &v->u.items[k]) != all)
                return !all;
        return all;
    }
    if (strcmp(op, "$keyMapMatch") == 0) {
        if (v->type != ST_JSON_OBJECT)
            return false;
        for (size_t k = 0; k < v->len; k++) {
            st_json key = {.type = ST_JSON_STRING, .len = v->u.members[k].key_len,
                           .u.str = v->u.members[k].key};

            if (ref_sub(a, &key))
                return true;
        }
        return false;
    }
    fail_msg("reference: unknown operator %s", op);
    return false;
}

static kleene ref_cond(const char *op, const st_json *a, const st_json *ctx, const char *path)
{
    const st_json *v = ctx;
    bool is_id = false;
    int where = path[0] == '\0' ? 0 : ref_lookup(ctx, path, &v, &is_id);

    if (where == 1 && strcmp(op, "$exists") == 0)
        return k_of(a->type == ST_JSON_FALSE);
    if (where != 0)
        return KU;
    return k_of(ref_present(op, a, v, is_id ? ST_COLLATE_RAW : ST_COLLATE_ICU));
}

static kleene ref_object(const st_json *x, const st_json *ctx, const char *path, bool elem)
{
    kleene r = KT;

    if (x->len == 0)
        return path[0] == '\0' ? KT : ref_cond("$eq", x, ctx, path);
    for (size_t i = 0; i < x->len; i++) {
        const st_json_member *m = &x->u.members[i];
        const st_json *a = &m->value;
        kleene k;

        if (strcmp(m->key, "$and") == 0 || strcmp(m->key, "$or") == 0 || strcmp(m->key, "$nor") == 0) {
            bool is_or = m->key[1] == 'o';

            k = is_or ? KF : KT;
            for (size_t j = 0; j < a->len; j++) {
                kleene kid = ref_value(&a->u.items[j], ctx, path, elem);

                k = is_or ? k_or(k, kid) : k_and(k, m->key[1] == 'n' ? k_not(kid) : kid);
            }
        } else if (strcmp(m->key, "$not") == 0) {
            k = k_not(ref_object(a, ctx, path, elem));
        } else if (m->key[0] == '$') {
            k = ref_cond(m->key, a, ctx, path);
        } else {
            char sub[512];

            snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", m->key);
            k = ref_value(a, ctx, sub, elem);
        }
        r = k_and(r, k);
    }
    return r;
}

static kleene ref_value(const st_json *x, const st_json *ctx, const char *path, bool elem)
{
    if (x->type == ST_JSON_OBJECT)
        return ref_object(x, ctx, path, elem);
    return ref_cond("$eq", x, ctx, path);
}

/* ---- random selectors on random documents ------------------------------------ */

static unsigned rnd(unsigned n)
{
    return (unsigned)rand() % n;
}

static const char *const FIELDS[] = {"a", "b", "c", "o.x", "arr", "arr.0", "arr.1", "_id", "o"};
static const char *const SCALARS[] = {
    "null", "true", "false", "0", "1", "1.0", "-1", "2", "2.5", "10", "1e1", "-0",
    "12345678901234567890", "\"\"", "\"a\"", "\"A\"", "\"b\"", "\"ab\"", "\"B\"",
    "\"\xc3\xa9\"", "\"1\"", "\"~\"",
};

static void add(st_buf *b, const char *s)
{
    assert_int_equal(st_buf_adds(b, s), ST_OK);
}

static void gen_value(st_buf *b, int depth)
{
    unsigned k = rnd(depth > 1 ? 8 : 10);

    if (k < 8) {
        add(b, SCALARS[rnd(sizeof SCALARS / sizeof *SCALARS)]);
    } else if (k == 8) {
        unsigned n = rnd(4);

        add(b, "[");
        for (unsigned i = 0; i < n; i++) {
            add(b, i ? "," : "");
            gen_value(b, depth + 1);
        }
        add(b, "]");
    } else {
        add(b, rnd(2) ? "{\"x\":" : "{\"y\":1,\"x\":");
        gen_value(b, depth + 1);
        add(b, "}");
    }
}

static void gen_doc(st_buf *b)
{
    static const char *const top[] = {"a", "b", "c", "o", "arr"};
    bool first = true;

    add(b, "{");
    if (rnd(4) != 0) {
        add(b, rnd(2) ? "\"_id\":\"Zed\"" : rnd(2) ? "\"_id\":\"alpha\"" : "\"_id\":\"beta\"");
        first = false;
    }
    for (size_t i = 0; i < sizeof top / sizeof *top; i++) {
        if (rnd(3) == 0)
            continue;
        assert_int_equal(st_buf_printf(b, "%s\"%s\":", first ? "" : ",", top[i]), ST_OK);
        first = false;
        if (strcmp(top[i], "arr") == 0 && rnd(3) != 0) {
            unsigned n = rnd(4);

            add(b, "[");
            for (unsigned j = 0; j < n; j++) {
                add(b, j ? "," : "");
                gen_value(b, 1);
            }
            add(b, "]");
        } else if (strcmp(top[i], "o") == 0 && rnd(3) != 0) {
            add(b, "{\"x\":");
            gen_value(b, 1);
            add(b, "}");
        } else {
            gen_value(b, 0);
        }
    }
    add(b, "}");
}

static void gen_list(st_buf *b)
{
    unsigned n = rnd(4);

    add(b, "[");
    for (unsigned i = 0; i < n; i++) {
        add(b, i ? "," : "");
        gen_value(b, 1);
    }
    add(b, "]");
}

static void gen_selector(st_buf *b, int depth, bool elem);

/* One condition object for a field: {"$op": arg, ...} or a bare value. */
static void gen_cond(st_buf *b, int depth, bool elem)
{
    static const char *const cmp[] = {"$eq", "$ne", "$lt", "$lte", "$gt", "$gte"};
    static const char *const types[] = {"null", "boolean", "number", "string", "array", "object",
                                        "integer"};
    static const char *const regexes[] = {"^a", "b$", "(?i)^A", "\xc3\xa9", "^$", "."};
    unsigned k = rnd(depth > 2 ? 14 : 18);

    switch (k) {
    case 0: case 1:
        gen_value(b, 1);
        return;
    case 2: case 3: case 4:
        assert_int_equal(st_buf_printf(b, "{\"%s\":", cmp[rnd(6)]), ST_OK);
        gen_value(b, 1);
        add(b, "}");
        return;
    case 5:
        add(b, rnd(2) ? "{\"$in\":" : "{\"$nin\":");
        gen_list(b);
        add(b, "}");
        return;
    case 6:
        add(b, "{\"$all\":");
        gen_list(b);
        add(b, "}");
        return;
    case 7:
        add(b, rnd(2) ? "{\"$exists\":true}" : "{\"$exists\":false}");
        return;
    case 8:
        assert_int_equal(st_buf_printf(b, "{\"$type\":\"%s\"}", types[rnd(7)]), ST_OK);
        return;
    case 9:
        assert_int_equal(st_buf_printf(b, "{\"$size\":%u}", rnd(3)), ST_OK);
        return;
    case 10:
        assert_int_equal(st_buf_printf(b, "{\"$mod\":[%d,%d]}", (int)rnd(3) + 1 - (rnd(2) ? 0 : 4),
                                       (int)rnd(3) - 1), ST_OK);
        return;
    case 11:
        assert_int_equal(st_buf_printf(b, "{\"$regex\":\"%s\"}", regexes[rnd(6)]), ST_OK);
        return;
    case 12:
        add(b, rnd(2) ? "{\"$beginsWith\":\"a\"}" : "{\"$beginsWith\":\"\"}");
        return;
    case 13: /* two operators: an implicit $and on the field */
        add(b, "{\"$gte\":");
        gen_value(b, 1);
        add(b, ",\"$lt\":");
        gen_value(b, 1);
        add(b, "}");
        return;
    case 14:
        add(b, "{\"$not\":"); /* a bare value here is refused: bad_arg */
        gen_cond(b, depth + 1, elem);
        add(b, "}");
        return;
    case 15:
        add(b, rnd(2) ? "{\"$or\":[" : "{\"$and\":[");
        gen_cond(b, depth + 1, elem);
        add(b, ",");
        gen_cond(b, depth + 1, elem);
        add(b, "]}");
        return;
    case 16: {
        static const char *const subs[] = {"$elemMatch", "$allMatch", "$keyMapMatch"};

        assert_int_equal(st_buf_printf(b, "{\"%s\":", subs[rnd(3)]), ST_OK);
        if (rnd(2)) { /* conditions on the element itself */
            add(b, "{\"\":");
            gen_cond(b, depth + 1, true);
            add(b, "}");
        } else {
            gen_selector(b, depth + 1, true);
        }
        add(b, "}");
        return;
    }
    default: /* a sub-field */
        add(b, rnd(2) ? "{\"x\":" : "{\"0\":");
        gen_cond(b, depth + 1, elem);
        add(b, "}");
        return;
    }
}

static void gen_selector(st_buf *b, int depth, bool elem)
{
    unsigned k = rnd(depth > 2 ? 3 : 6);

    if (k == 3 || k == 4) {
        static const char *const ops[] = {"$and", "$or", "$nor"};
        unsigned n = rnd(3);

        assert_int_equal(st_buf_printf(b, "{\"%s\":[", ops[rnd(3)]), ST_OK);
        for (unsigned i = 0; i < n; i++) {
            add(b, i ? "," : "");
            gen_selector(b, depth + 1, elem);
        }
        add(b, "]}");
        return;
    }
    if (k == 5) {
        add(b, "{\"$not\":");
        gen_selector(b, depth + 1, elem);
        add(b, "}");
        return;
    }
    /* 1-2 distinct fields. */
    {
        unsigned f1 = rnd(sizeof FIELDS / sizeof *FIELDS), f2 = rnd(sizeof FIELDS / sizeof *FIELDS);

        assert_int_equal(st_buf_printf(b, "{\"%s\":", FIELDS[f1]), ST_OK);
        gen_cond(b, depth + 1, elem);
        if (k == 1 && f2 != f1) {
            assert_int_equal(st_buf_printf(b, ",\"%s\":", FIELDS[f2]), ST_OK);
            gen_cond(b, depth + 1, elem);
        }
        add(b, "}");
    }
}

#define RANDOM_SELECTORS 400
#define RANDOM_DOCS 300

static void test_random_against_reference(void **state)
{
    st_json_doc *docs[RANDOM_DOCS];
    size_t compiled = 0, matched = 0, total = 0;

    srand(7);
    for (int i = 0; i < RANDOM_DOCS; i++) {
        st_buf b = ST_BUF_INIT;

        gen_doc(&b);
        docs[i] = parse(b.data);
        st_buf_free(&b);
    }
    for (int i = 0; i < RANDOM_SELECTORS; i++) {
        st_buf b = ST_BUF_INIT;
        st_json_doc *sd;
        st_selector *s = NULL;
        st_error e;

        gen_selector(&b, 0, false);
        sd = parse(b.data);
        if (st_selector_compile(st_json_doc_root(sd), &s, &e) != ST_OK) {
            /* Only the documented refusals: $mod by zero, a missing field name. */
            if (e.code != ST_E_BAD_ARG && e.code != ST_E_INVALID_SELECTOR)
                fail_msg("%s: %s %s", b.data, st_status_name(e.code), e.reason);
            st_json_doc_free(sd);
            st_buf_free(&b);
            continue;
        }
        compiled++;
        for (int d = 0; d < RANDOM_DOCS; d++) {
            bool got;
            bool want = ref_value(st_json_doc_root(sd), st_json_doc_root(docs[d]), "", false) == KT;

            assert_int_equal(st_selector_match(s, st_json_doc_root(docs[d]), &got), ST_OK);
            if (got != want) {
                st_buf nb = ST_BUF_INIT, db = ST_BUF_INIT;
                st_jw w;

                assert_int_equal(st_selector_to_json(s, &nb), ST_OK);
                assert_int_equal(st_jw_init(&w, &db), ST_OK);
                st_jw_value(&w, st_json_doc_root(docs[d]));
                st_jw_free(&w);
                fail_msg("selector %s\n  normal %s\n  doc %s\n  got %d, reference %d", b.data,
                         nb.data, db.data, got, want);
            }
            matched += got;
            total++;
        }
        st_selector_free(s);
        st_json_doc_free(sd);
        st_buf_free(&b);
    }
    print_message("%zu selectors compiled, %zu of %zu evaluations matched\n", compiled, matched,
                  total);
    assert_true(compiled > RANDOM_SELECTORS / 2);
    assert_true(matched > total / 20 && matched < total - total / 20);
    for (int i = 0; i < RANDOM_DOCS; i++)
        st_json_doc_free(docs[i]);
}

/* The scan's partial parse (st_json_pick.h): a document holding only the
 * selector's top-level members (st_selector_top_keys) matches exactly when
 * the whole one does.  Each random document is also tried with a duplicate
 * key at the end (the last value wins) and with spaces around its tokens. */
static void variants(const char *text, st_buf out[3])
{
    size_t n = strlen(text);

    add(&out[0], text);
    assert_int_equal(st_buf_add(&out[1], text, n - 1), ST_OK);
    add(&out[1], n > 2 ? ",\"a\":[1,{\"x\":2,\"x\":\"b\"}]}" : "\"a\":-1}");
    for (size_t i = 0; i < n; i++) {
        bool tok = strchr("{}[],:", text[i]) != NULL;

        if (tok)
            add(&out[2], " \n");
        assert_int_equal(st_buf_addc(&out[2], text[i]), ST_OK);
        if (tok)
            add(&out[2], "\t\r");
    }
}

static void test_random_pick(void **state)
{
    char *texts[RANDOM_DOCS];
    st_json_pick *p = st_json_pick_new();
    size_t picked = 0, total = 0;

    assert_non_null(p);
    srand(11);
    for (int i = 0; i < RANDOM_DOCS; i++) {
        st_buf b = ST_BUF_INIT;

        gen_doc(&b);
        texts[i] = st_buf_take(&b, NULL);
    }
    for (int i = 0; i < RANDOM_SELECTORS; i++) {
        st_buf b = ST_BUF_INIT;
        st_json_doc *sd;
        st_selector *s = NULL;
        st_json_key keys[16];
        size_t nkeys = 0;
        st_error e;

        gen_selector(&b, 0, false);
        sd = parse(b.data);
        if (st_selector_compile(st_json_doc_root(sd), &s, &e) != ST_OK) {
            st_json_doc_free(sd);
            st_buf_free(&b);
            continue;
        }
        assert_true(st_selector_top_keys(s, keys, 16, &nkeys));
        for (int d = 0; d < RANDOM_DOCS; d++) {
            st_buf v[3] = {ST_BUF_INIT, ST_BUF_INIT, ST_BUF_INIT};

            variants(texts[d], v);
            for (int k = 0; k < 3; k++) {
                st_json_doc *full = parse(v[k].data);
                st_json part;
                bool want, got;

                assert_int_equal(st_selector_match(s, st_json_doc_root(full), &want), ST_OK);
                total++;
                if (st_json_pick_parse(p, v[k].data, v[k].len, keys, nkeys, 0, &part)) {
                    picked++;
                    assert_int_equal(st_selector_match(s, &part, &got), ST_OK);
                    if (got != want)
                        fail_msg("selector %s\n  doc %s\n  picked %d, whole %d", b.data,
                                 v[k].data, got, want);
                }
                st_json_doc_free(full);
                st_buf_free(&v[k]);
            }
        }
        st_selector_free(s);
        st_json_doc_free(sd);
        st_buf_free(&b);
    }
    print_message("%zu of %zu documents picked\n", picked, total);
    assert_true(picked > total * 9 / 10); /* declines are for the unusual only */
    for (int i = 0; i < RANDOM_DOCS; i++)
        free(texts[i]);
    st_json_pick_free(p);
    (void)state;
}

/* The members a selector reads; none past the cap, none for $elemMatch's
 * inner fields (relative to the elements). */
static void test_top_keys(void **state)
{
    st_selector *s = compile("{\"a.b\":1,\"$or\":[{\"c\":{\"$elemMatch\":{\"d\":1}}},"
                             "{\"a\\\\.x\":2}],\"_id\":{\"$gt\":\"k\"}}");
    st_json_key keys[4];
    size_t n = 0;
    bool dotted = false;

    assert_false(st_selector_top_keys(s, keys, 3, &n));
    assert_true(st_selector_top_keys(s, keys, 4, &n));
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        dotted |= keys[i].len == 3 && memcmp(keys[i].key, "a.x", 3) == 0;
    assert_true(dotted);
    st_selector_free(s);
    s = compile("{\"a.b\":1,\"c\":{\"$elemMatch\":{\"d\":1}},\"a.c\":{\"$exists\":false}}");
    assert_true(st_selector_top_keys(s, keys, 3, &n));
    assert_int_equal(n, 2);
    assert_true(keys[0].len == 1 && keys[0].key[0] == 'a');
    assert_true(keys[1].len == 1 && keys[1].key[0] == 'c');
    assert_false(st_selector_top_keys(s, keys, 1, &n));
    st_selector_free(s);
    s = compile("{}");
    assert_true(st_selector_top_keys(s, keys, 3, &n));
    assert_int_equal(n, 0);
    st_selector_free(s);
    (void)state;
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct worker {
    const st_selector *s;
    const st_json *docs[4];
    int failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    static const bool want[4] = {true, false, true, false};

    for (int i = 0; i < 2000; i++) {
        bool m;

        if (st_selector_match(w->s, w->docs[i % 4], &m) != ST_OK || m != want[i % 4])
            w->failures++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    st_selector *s = compile("{\"name\":{\"$regex\":\"^(?i)b\"},\"tags\":{\"$in\":[\"x\",\"y\"]},"
                             "\"n\":{\"$gt\":\"A\"}}");
    st_json_doc *d[4] = {
        parse("{\"name\":\"Bob\",\"tags\":[\"q\",\"y\"],\"n\":\"b\"}"),
        parse("{\"name\":\"alice\",\"tags\":[\"x\"],\"n\":\"b\"}"),
        parse("{\"name\":\"bea\",\"tags\":\"x\",\"n\":\"\xc3\xa9\"}"),
        parse("{\"name\":\"bea\",\"tags\":\"x\",\"n\":\"a\"}"),
    };
    pthread_t t[8];
    worker w[8];

    for (int i = 0; i < 8; i++) {
        w[i].s = s;
        for (int k = 0; k < 4; k++)
            w[i].docs[k] = st_json_doc_root(d[k]);
        w[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    for (int k = 0; k < 4; k++)
        st_json_doc_free(d[k]);
    st_selector_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_form),
        cmocka_unit_test(test_normal_form_writer),
        cmocka_unit_test(test_not_and_subfields),
        cmocka_unit_test(test_eq_ne),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_exists),
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_in_nin),
        cmocka_unit_test(test_all),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_mod),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_begins_with),
        cmocka_unit_test(test_elem_all_keymap),
        cmocka_unit_test(test_logic),
        cmocka_unit_test(test_collation_and_id),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_list_limit),
        cmocka_unit_test(test_regex_limits),
        cmocka_unit_test(test_analysis),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_random_pick),
        cmocka_unit_test(test_top_keys),
        cmocka_unit_test(test_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
