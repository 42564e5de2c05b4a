/* selector_plan.c — what a compiled selector demands of every match, per
 * field, for index planners and subscription indexes.
 *
 * Why only the top-level $and: a condition there must hold for every
 * matching document, so its field must exist and its value lie in the
 * condition's range; conditions under $or, $elemMatch or $not say nothing
 * of the kind.  The one thing a top-level $or does tell is existence: a
 * field that every branch requires exists in every match (CouchDB's
 * has_required_fields sees through $or the same way).
 */
#include "selector_int.h"

#include <stdlib.h>
#include <string.h>

/* The entry for path, made (at the end, unconstrained) when new. */
static st_selector_field *entry(st_selector *s, const char *path, st_collate_mode mode)
{
    st_selector_field *f;

    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].path, path) == 0)
            return &s->fields[i];
    f = realloc(s->fields, (s->nfields + 1) * sizeof *f);
    if (f == NULL)
        return NULL;
    s->fields = f;
    f = &s->fields[s->nfields++];
    memset(f, 0, sizeof *f);
    f->path = path;
    f->raw = mode == ST_COLLATE_RAW;
    return f;
}

static st_collate_mode mode_of(const st_selector_field *f)
{
    return f->raw ? ST_COLLATE_RAW : ST_COLLATE_ICU;
}

/* Narrow bound b to (v, inclusive) when that is tighter; `dir` is +1 for a
 * lower bound (larger is tighter), -1 for an upper one. */
static void narrow(st_selector_bound *b, const st_json *v, bool inclusive, int dir,
                   st_collate_mode mode)
{
    int c = b->value == NULL ? 1 : st_collate(v, b->value, mode) * dir;

    if (c > 0)
        *b = (st_selector_bound){v, inclusive};
    else if (c == 0)
        b->inclusive = b->inclusive && inclusive;
}

static void raise_lo(st_selector_field *f, const st_json *v, bool inclusive)
{
    narrow(&f->lo, v, inclusive, 1, mode_of(f));
}

static void lower_hi(st_selector_field *f, const st_json *v, bool inclusive)
{
    narrow(&f->hi, v, inclusive, -1, mode_of(f));
}

static bool exists_false(const sel_node *cond)
{
    return cond->op == SEL_EXISTS && !cond->u.exists;
}

/* One FIELD of the top-level $and. */
static st_status apply(st_selector *s, const sel_node *field)
{
    const sel_node *cond = field->u.field.cond;
    st_selector_field *f;

    if (exists_false(cond))
        return ST_OK;
    if ((f = entry(s, field->u.field.path, cond->mode)) == NULL)
        return ST_E_NOMEM;
    f->exists = true;
    switch (cond->op) {
    case SEL_EQ:
        if (f->eq == NULL)
            f->eq = cond->arg;
        else if (st_collate(f->eq, cond->arg, cond->mode) != 0)
            f->empty = true;
        raise_lo(f, cond->arg, true);
        lower_hi(f, cond->arg, true);
        break;
    case SEL_GT:
    case SEL_GTE:
        raise_lo(f, cond->arg, cond->op == SEL_GTE);
        break;
    case SEL_LT:
    case SEL_LTE:
        lower_hi(f, cond->arg, cond->op == SEL_LTE);
        break;
    default: /* other conditions only imply existence */
        break;
    }
    return ST_OK;
}

/* Does every match of n have the field at path? */
static bool requires(const sel_node *n, const char *path)
{
    switch (n->op) {
    case SEL_AND:
        for (size_t i = 0; i < n->u.list.n; i++)
            if (requires(n->u.list.kids[i], path))
                return true;
        return false;
    case SEL_OR: /* no branch: nothing matches, which requires anything */
        for (size_t i = 0; i < n->u.list.n; i++)
            if (!requires(n->u.list.kids[i], path))
                return false;
        return true;
    case SEL_FIELD:
        return strcmp(n->u.field.path, path) == 0 && !exists_false(n->u.field.cond);
    default:
        return false;
    }
}

/* Mark as existing every field of `from` that all of or's branches require. */
static st_status or_fields(st_selector *s, const sel_node *or, const sel_node *from)
{
    st_status rc = ST_OK;
    st_selector_field *f;

    switch (from->op) {
    case SEL_AND:
    case SEL_OR:
        for (size_t i = 0; i < from->u.list.n && rc == ST_OK; i++)
            rc = or_fields(s, or, from->u.list.kids[i]);
        return rc;
    case SEL_FIELD:
        if (!requires(or, from->u.field.path))
            return ST_OK;
        if ((f = entry(s, from->u.field.path, from->u.field.cond->mode)) == NULL)
            return ST_E_NOMEM;
        f->exists = true;
        return ST_OK;
    default:
        return ST_OK;
    }
}

static st_status walk_and(st_selector *s, const sel_node *n)
{
    st_status rc = ST_OK;

    switch (n->op) {
    case SEL_AND:
        for (size_t i = 0; i < n->u.list.n && rc == ST_OK; i++)
            rc = walk_and(s, n->u.list.kids[i]);
        return rc;
    case SEL_FIELD:
        return apply(s, n);
    case SEL_OR:
        return n->u.list.n > 0 ? or_fields(s, n, n->u.list.kids[0]) : ST_OK;
    default:
        return ST_OK;
    }
}

st_status st_sel_plan(st_selector *s)
{
    st_status rc = walk_and(s, s->root);

    for (size_t i = 0; i < s->nfields && rc == ST_OK; i++) {
        st_selector_field *f = &s->fields[i];
        int c;

        if (f->lo.value == NULL || f->hi.value == NULL)
            continue;
        c = st_collate(f->lo.value, f->hi.value, mode_of(f));
        if (c > 0 || (c == 0 && !(f->lo.inclusive && f->hi.inclusive)))
            f->empty = true;
    }
    return rc;
}

const st_selector_field *st_selector_fields(const st_selector *s, size_t *out_n)
{
    *out_n = s->nfields;
    return s->fields;
}

const st_selector_field *st_selector_field_find(const st_selector *s, const char *path)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].path, path) == 0)
            return &s->fields[i];
    return NULL;
}

/* ---- the members a match reads --------------------------------------------- */

/* Add each top-level key under n to keys (distinct); false when there are
 * more than cap or n might read the document some other way. */
static bool top_keys(const sel_node *n, st_json_key *keys, size_t cap, size_t *nk)
{
    switch (n->op) {
    case SEL_TRUE:
        return true;
    case SEL_AND:
    case SEL_OR:
        for (size_t i = 0; i < n->u.list.n; i++)
            if (!top_keys(n->u.list.kids[i], keys, cap, nk))
                return false;
        return true;
    case SEL_FIELD: {
        if (n->u.field.nsegs == 0)
            return false; /* the document itself: only inside $elemMatch & co. */
        const sel_seg *sg = &n->u.field.segs[0];
        for (size_t i = 0; i < *nk; i++)
            if (keys[i].len == sg->len && memcmp(keys[i].key, sg->key, sg->len) == 0)
                return true;
        if (*nk == cap)
            return false;
        keys[(*nk)++] = (st_json_key){sg->key, sg->len};
        return true;
    }
    default:
        return false;
    }
}

bool st_selector_top_keys(const st_selector *s, st_json_key *keys, size_t cap, size_t *out_n)
{
    *out_n = 0;
    return top_keys(s->root, keys, cap, out_n);
}
