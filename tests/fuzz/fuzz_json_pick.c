/* fuzz_json_pick.c — the scan's partial parse (core/json_pick.c) against the
 * full one (core/json.c).
 *
 * st_json_pick_parse may decline anything, but what it accepts st_json_parse
 * must accept too, and the picked object must hold exactly the full tree's
 * members under the named keys, in the same order, value for value.  The
 * keys are every other top-level key of the full parse (which ones from the
 * input's first byte) plus "a" and ""; each input is parsed twice with the
 * same scratch, so that its reuse is exercised, the second time with three
 * members left free in front (which must come zeroed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "st_json.h"
#include "st_json_pick.h"

#define MAX_KEYS 64

static bool same(const st_json *a, const st_json *b)
{
    if (a->type != b->type || a->len != b->len)
        return false;
    switch (a->type) {
    case ST_JSON_NUMBER:
    case ST_JSON_STRING:
        return memcmp(a->u.str, b->u.str, a->len) == 0 && b->u.str[b->len] == '\0';
    case ST_JSON_ARRAY:
        for (size_t i = 0; i < a->len; i++)
            if (!same(&a->u.items[i], &b->u.items[i]))
                return false;
        return true;
    case ST_JSON_OBJECT:
        for (size_t i = 0; i < a->len; i++) {
            const st_json_member *x = &a->u.members[i], *y = &b->u.members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0 ||
                y->key[y->key_len] != '\0' || !same(&x->value, &y->value))
                return false;
        }
        return true;
    default:
        return true;
    }
}

static bool named(const st_json_key *keys, size_t n, const st_json_member *m)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i].len == m->key_len && memcmp(keys[i].key, m->key, m->key_len) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_json_doc *doc = NULL;
    st_json_key keys[MAX_KEYS] = {{"a", 1}, {"", 0}};
    size_t nkeys = 2;
    bool full = st_json_parse((const char *)data, size, NULL, &doc, NULL) == ST_OK;
    const st_json *root = full ? st_json_doc_root(doc) : NULL;
    unsigned parity = size ? data[0] & 1 : 0;
    if (root && root->type == ST_JSON_OBJECT)
        for (size_t i = 0; i < root->len && nkeys < MAX_KEYS; i++)
            if ((i & 1) == parity)
                keys[nkeys++] = (st_json_key){root->u.members[i].key, root->u.members[i].key_len};
    st_json_pick *p = st_json_pick_new();
    if (!p)
        abort();
    for (size_t lead = 0; lead < 4; lead += 3) {
        st_json got;
        if (!st_json_pick_parse(p, (const char *)data, size, keys, nkeys, lead, &got))
            continue;
        if (!root || root->type != ST_JSON_OBJECT || got.type != ST_JSON_OBJECT ||
            got.len < lead)
            abort();
        for (size_t i = 0; i < lead; i++)
            if (got.u.members[i].key || got.u.members[i].key_len ||
                got.u.members[i].value.type != ST_JSON_NULL)
                abort();
        size_t k = lead;
        for (size_t i = 0; i < root->len; i++) {
            const st_json_member *m = &root->u.members[i];
            if (!named(keys, nkeys, m))
                continue;
            if (k >= got.len)
                abort();
            st_json one = {.type = ST_JSON_OBJECT, .len = 1, .u.members = (st_json_member *)m};
            st_json mine = {.type = ST_JSON_OBJECT, .len = 1, .u.members = &got.u.members[k++]};
            if (!same(&one, &mine))
                abort();
        }
        if (k != got.len)
            abort();
    }
    /* Any value: accepted only where json.c accepts, with the same tree,
     * and a copy of it is the same tree again. */
    st_json any;
    if (st_json_pick_value(p, (const char *)data, size, &any)) {
        if (!root || !same(root, &any))
            abort();
        st_json_doc *copy = st_json_doc_copy(&any, size);
        if (!copy || !same(root, st_json_doc_root(copy)))
            abort();
        st_json_doc_free(copy);
    }
    st_json_pick_free(p);
    st_json_doc_free(doc);
    return 0;
}
