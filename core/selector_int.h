/* selector_int.h — the compiled form of a Mango selector, shared by
 * selector.c (compile, render), selector_match.c (evaluate) and
 * selector_plan.c (analysis).  Not for use outside these files.
 *
 * A selector compiles to a tree of nodes in CouchDB's normal form:
 *   logic:      TRUE, AND(kids), OR(kids)       -- applied to a value
 *   FIELD(path, cond)                           -- look path up in the value
 *   conditions: EQ..BEGINS, ELEM/ALLMATCH/KEYMAP(sub), NOT(cond)
 *                                               -- applied to a present value
 * Negations were pushed down at compile time, so NOT only wraps a condition
 * that has no negated twin ($regex, $size, $type, $mod, $all, $beginsWith,
 * $elemMatch, $allMatch, $keyMapMatch).  Every node and string lives in the
 * selector's arena; values point into the selector's own copy of its JSON.
 */
#ifndef ST_SELECTOR_INT_H
#define ST_SELECTOR_INT_H

#include <stdint.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "st_collate.h"
#include "st_selector.h"

typedef enum {
    SEL_TRUE,     /* the empty selector: matches */
    SEL_AND,      /* every kid (none: matches) */
    SEL_OR,       /* some kid (none: does not match) */
    SEL_FIELD,    /* u.field: cond on the value at path */
    SEL_NOT,      /* !u.sub on a present value */
    SEL_EQ, SEL_NE, SEL_LT, SEL_LTE, SEL_GT, SEL_GTE, /* arg */
    SEL_IN, SEL_NIN, SEL_ALL,                           /* u.set */
    SEL_EXISTS,   /* u.exists */
    SEL_TYPE,     /* u.type */
    SEL_MOD,      /* u.mod */
    SEL_REGEX,    /* u.re */
    SEL_SIZE,     /* u.size */
    SEL_BEGINS,   /* arg (a string) */
    SEL_ELEM, SEL_ALLMATCH, SEL_KEYMAP /* u.sub, a selector for elements/keys */
} sel_op;

/* $type names; TYPE_NONE (an unknown name) matches nothing. */
typedef enum { TYPE_NONE, TYPE_NULL, TYPE_BOOLEAN, TYPE_NUMBER, TYPE_STRING,
               TYPE_ARRAY, TYPE_OBJECT } sel_type;

/* One path segment: a key, which is also an array index when all digits. */
typedef struct sel_seg {
    const char *key;
    size_t len;
    size_t index; /* SIZE_MAX: not an array index */
} sel_seg;

typedef struct sel_node sel_node;

struct sel_node {
    sel_op op;
    st_collate_mode mode; /* comparisons: RAW under _id, else ICU */
    const st_json *arg;   /* the operator's argument as written (rendering) */
    union {
        struct {
            sel_node **kids;
            size_t n;
        } list; /* AND, OR */
        struct {
            const char *path; /* normal-form path, NUL-terminated */
            const sel_seg *segs;
            size_t nsegs;     /* 0: the value itself (inside $elemMatch & co.) */
            sel_node *cond;
        } field;
        sel_node *sub; /* NOT, ELEM, ALLMATCH, KEYMAP */
        struct {
            const st_json **v; /* sorted by collation in mode, distinct */
            size_t n;
        } set;
        bool exists;
        sel_type type;
        struct {
            int64_t div, rem;
        } mod;
        pcre2_code *re;
        uint64_t size;
    } u;
};

/* An arena chunk; nodes, paths and sets are carved from these. */
typedef struct sel_chunk sel_chunk;

/* A compiled regex, kept on a list so free() can release it. */
typedef struct sel_regex {
    pcre2_code *code;
    struct sel_regex *next;
} sel_regex;

struct st_selector {
    st_json_doc *copy;         /* the selector's own copy of its JSON */
    sel_node *root;
    sel_chunk *chunks;         /* arena, newest first */
    sel_regex *regexes;
    pcre2_match_context *mctx; /* shared, process-wide, read-only */
    st_selector_field *fields; /* analysis (selector_plan.c) */
    size_t nfields;
};

/* Arena allocation, zeroed; NULL when out of memory. */
void *st_sel_alloc(st_selector *s, size_t n);

/* Fill s->fields from s->root (selector_plan.c). */
st_status st_sel_plan(st_selector *s);

/* The shared match context with settee's PCRE2 limits, made on first use;
 * NULL when out of memory (selector_match.c). */
pcre2_match_context *st_sel_match_context(void);

/* $in/$nin/$all: is v in the sorted set?  Its index, or -1. */
long st_sel_set_find(const sel_node *n, const st_json *v);

#endif
