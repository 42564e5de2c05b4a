/* resolvers.c — the built-in conflict policies a sync can be given.
 *
 * Both pick one leaf by a rule every replica evaluates the same way on the
 * same leaves, and settle with settee_conflict_resolve (tombstones on the
 * others).  So two clients that pull the same conflict and resolve it
 * independently write byte-identical tombstone revisions, which merge
 * without a new conflict.  "Do nothing" needs no function: with no resolver
 * every replica already shows the same deterministic winner.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

settee_status settee_resolve_winner(void *ctx, settee_db *db, const char *id,
                                    const settee_leaf *leaves, size_t n)
{
    if (!id || !leaves || n == 0)
        return SETTEE_MISUSE;
    return settee_conflict_resolve(db, id, leaves[0].rev, NULL, NULL, NULL);
}

/* CouchDB collation order of the types we compare: null < false < true <
 * numbers < strings < arrays < objects; a missing member sorts below all. */
static int type_rank(const st_json *v)
{
    if (!v)
        return -1;
    switch (v->type) {
    case ST_JSON_NULL: return 0;
    case ST_JSON_FALSE: return 1;
    case ST_JSON_TRUE: return 2;
    case ST_JSON_NUMBER: return 3;
    case ST_JSON_STRING: return 4;
    case ST_JSON_ARRAY: return 5;
    case ST_JSON_OBJECT: return 6;
    }
    return -1;
}

/* > 0 when a is newer than b. */
static int cmp_stamp(const st_json *a, const st_json *b)
{
    int ra = type_rank(a), rb = type_rank(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    if (ra == 3) {
        double x = strtod(a->u.str, NULL), y = strtod(b->u.str, NULL);
        return x < y ? -1 : x > y;
    }
    if (ra == 4) {
        size_t n = a->len < b->len ? a->len : b->len;
        int c = memcmp(a->u.str, b->u.str, n);
        return c ? c : (a->len < b->len ? -1 : a->len > b->len);
    }
    return 0; /* same type otherwise: a tie */
}

settee_status settee_resolve_newest(void *ctx, settee_db *db, const char *id,
                                    const settee_leaf *leaves, size_t n)
{
    const char *field = ctx;
    if (!field || !id || !leaves || n == 0)
        return SETTEE_MISUSE;
    st_json_doc **docs = calloc(n, sizeof *docs);
    if (!docs)
        return SETTEE_NOMEM;
    size_t best = 0;
    const st_json *best_v = NULL;
    for (size_t i = 0; i < n; i++) {
        const st_json *v = NULL;
        if (leaves[i].json &&
            st_json_parse(leaves[i].json, leaves[i].json_len, NULL, &docs[i], NULL) == ST_OK)
            v = st_json_get(st_json_doc_root(docs[i]), field);
        /* Strictly greater: a tie keeps the earlier leaf, the winner first. */
        if (i == 0 || cmp_stamp(v, best_v) > 0) {
            best = i;
            best_v = v;
        }
    }
    settee_status rc = settee_conflict_resolve(db, id, leaves[best].rev, NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        st_json_doc_free(docs[i]);
    free(docs);
    return rc;
}
