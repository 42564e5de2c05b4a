/* mango_doc.c — documents as Mango sees them: field paths, the document
 * object with its special members, projections, index keys.
 *
 * Why the document object is built here rather than rendered and parsed:
 * the stored body lacks _id and _rev, and rendering a document to parse it
 * again costs twice what it needs; the object made here shares the parsed
 * body's members and adds the three special ones in front.
 */
#include "mango_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- paths ------------------------------------------------------------------ */

static size_t seg_index(const char *s, size_t n)
{
    size_t v = 0;
    if (n == 0)
        return SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SIZE_MAX;
        if (v > (SIZE_MAX / 2 - 9) / 10)
            return SIZE_MAX - 1; /* numeric, but past any array */
        v = v * 10 + (size_t)(s[i] - '0');
    }
    return v;
}

st_status st_mango_path_parse(const char *path, mango_path *out, st_error *err)
{
    size_t len = strlen(path), nsegs = 1, k = 0;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < len; i++)
        nsegs += path[i] == '.' && (i == 0 || path[i - 1] != '\\');
    out->segs = calloc(nsegs, sizeof *out->segs);
    out->buf = malloc(len + 1);
    if (!out->segs || !out->buf) {
        st_mango_path_free(out);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    char *b = out->buf;
    out->segs[0].key = b;
    for (size_t i = 0; i <= len; i++) {
        bool end = i == len || (path[i] == '.' && (i == 0 || path[i - 1] != '\\'));
        if (!end) {
            if (path[i] != '\\')
                *b++ = path[i];
            continue;
        }
        out->segs[k].len = (size_t)(b - out->segs[k].key);
        if (out->segs[k].len == 0) {
            st_mango_path_free(out);
            return st_fail(err, ST_E_BAD_FIELD, "Invalid field name: %s", path);
        }
        out->segs[k].index = seg_index(out->segs[k].key, out->segs[k].len);
        *b++ = '\0';
        if (++k < nsegs)
            out->segs[k].key = b;
    }
    out->n = nsegs;
    out->raw = nsegs == 1 && out->segs[0].len == 3 && memcmp(out->segs[0].key, "_id", 3) == 0;
    return ST_OK;
}

void st_mango_path_free(mango_path *p)
{
    free(p->segs);
    free(p->buf);
    memset(p, 0, sizeof *p);
}

const st_json *st_mango_path_get(const mango_path *p, const st_json *v)
{
    for (size_t i = 0; i < p->n && v; i++) {
        const mango_seg *sg = &p->segs[i];
        const st_json *next = NULL;
        if (v->type == ST_JSON_OBJECT) {
            /* The last of duplicate keys wins, as in st_json_get. */
            for (size_t k = v->len; k > 0 && !next; k--) {
                const st_json_member *m = &v->u.members[k - 1];
                if (m->key_len == sg->len && memcmp(m->key, sg->key, sg->len) == 0)
                    next = &m->value;
            }
        } else if (v->type == ST_JSON_ARRAY && sg->index < v->len) {
            next = &v->u.items[sg->index];
        }
        v = next;
    }
    return v;
}

/* ---- the document object ---------------------------------------------------- */

static st_json str_value(const char *s)
{
    st_json v = {.type = ST_JSON_STRING, .len = strlen(s)};
    v.u.str = s;
    return v;
}

/* Put _id, _rev and _deleted as given into m[0..3), those present first;
 * their count. */
static size_t specials(st_json_member *m, const char *id, const char *rev, bool deleted)
{
    size_t n = 0;
    m[n].key = "_id";
    m[n].key_len = 3;
    m[n++].value = str_value(id);
    if (rev) {
        m[n].key = "_rev";
        m[n].key_len = 4;
        m[n++].value = str_value(rev);
    }
    if (deleted) {
        m[n].key = "_deleted";
        m[n].key_len = 8;
        m[n++].value = (st_json){.type = ST_JSON_TRUE};
    }
    return n;
}

st_status st_mango_doc_make(mango_doc *d, const char *id, const char *rev, bool deleted,
                            const char *body, size_t len, st_error *err)
{
    memset(d, 0, sizeof *d);
    st_status st = st_json_parse(body && len ? body : "{}", body && len ? len : 2, NULL,
                                 &d->body, err);
    if (st != ST_OK)
        return st;
    const st_json *b = st_json_doc_root(d->body);
    size_t nb = b->type == ST_JSON_OBJECT ? b->len : 0;
    d->members = calloc(nb + 3, sizeof *d->members);
    if (!d->members) {
        st_mango_doc_free(d);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    size_t n = specials(d->members, id, rev, deleted);
    /* Body members after the special ones: a lookup takes the last of equal
     * keys, so a body can never shadow _id or _rev (it has neither). */
    if (nb)
        memcpy(d->members + n, b->u.members, nb * sizeof *d->members);
    d->root.type = ST_JSON_OBJECT;
    d->root.len = n + nb;
    d->root.u.members = d->members;
    return ST_OK;
}

st_status st_mango_doc_pick(mango_doc *d, st_json_pick *p, const st_json_key *keys,
                            size_t nkeys, const char *id, const char *rev, bool deleted,
                            const char *body, size_t len, st_error *err)
{
    st_json b;
    memset(d, 0, sizeof *d);
    if (!p || !st_json_pick_parse(p, body && len ? body : "{}", body && len ? len : 2, keys,
                                  nkeys, 3, &b))
        return st_mango_doc_make(d, id, rev, deleted, body, len, err);
    /* The picked object has three free members in front for the special
     * ones; those absent close up. */
    size_t n = specials(b.u.members, id, rev, deleted);
    if (n < 3)
        memmove(b.u.members + n, b.u.members + 3, (b.len - 3) * sizeof *b.u.members);
    d->root = b;
    d->root.len = b.len - (3 - n);
    return ST_OK;
}

void st_mango_doc_free(mango_doc *d)
{
    st_json_doc_free(d->body);
    free(d->members);
    memset(d, 0, sizeof *d);
}

bool st_mango_uses_rev(const st_selector *s)
{
    /* Any path through _rev names it in the normal form (escapes only add
     * backslashes around it): when in doubt, yes. */
    st_buf b = ST_BUF_INIT;
    bool uses = st_selector_to_json(s, &b) != ST_OK || strstr(b.data, "_rev") != NULL;
    st_buf_free(&b);
    return uses;
}

st_status st_mango_winner_rev(const void *tree, size_t len, char out[ST_REV_STR_MAX],
                              st_error *err)
{
    st_revtree *t = NULL;
    st_status st = st_revtree_decode(tree, len, &t, err);
    if (st != ST_OK)
        return st;
    st_rev r;
    st_revtree_node(t, (size_t)st_revtree_winner(t), &r, NULL, NULL);
    st_rev_format(&r, out, ST_REV_STR_MAX);
    st_revtree_free(t);
    return ST_OK;
}

/* ---- projection -------------------------------------------------------------- */

/* The projection as a tree: a node is either a whole value from the
 * document or an object of child nodes, kept in first-named order. */
typedef struct pnode {
    const char *key;
    size_t len;
    const st_json *value;   /* non-NULL: the whole value */
    struct pnode *kids;
    size_t n, cap;
} pnode;

static void pnode_free(pnode *p)
{
    for (size_t i = 0; i < p->n; i++)
        pnode_free(&p->kids[i]);
    free(p->kids);
}

static pnode *child(pnode *p, const mango_seg *sg)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->kids[i].len == sg->len && memcmp(p->kids[i].key, sg->key, sg->len) == 0)
            return &p->kids[i];
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        pnode *k = realloc(p->kids, cap * sizeof *k);
        if (!k)
            return NULL;
        p->kids = k;
        p->cap = cap;
    }
    pnode *c = &p->kids[p->n++];
    memset(c, 0, sizeof *c);
    c->key = sg->key;
    c->len = sg->len;
    return c;
}

static void pnode_write(const pnode *p, st_jw *w)
{
    if (p->value) {
        st_jw_value(w, p->value);
        return;
    }
    st_jw_obj_open(w);
    for (size_t i = 0; i < p->n; i++) {
        st_jw_keyn(w, p->kids[i].key, p->kids[i].len);
        pnode_write(&p->kids[i], w);
    }
    st_jw_obj_close(w);
}

st_status st_mango_project(const st_json *doc, const mango_path *fields, size_t n, st_jw *w)
{
    pnode root = {0};
    st_status st = ST_OK;
    for (size_t i = 0; i < n && st == ST_OK; i++) {
        const st_json *v = st_mango_path_get(&fields[i], doc);
        if (!v)
            continue;
        pnode *p = &root;
        for (size_t k = 0; k < fields[i].n && p && !p->value; k++)
            p = child(p, &fields[i].segs[k]);
        if (!p) {
            st = ST_E_NOMEM;
        } else if (!p->value) {
            /* A whole value replaces what finer fields put there: the same
             * document's value includes them. */
            pnode_free(p);
            p->kids = NULL;
            p->n = p->cap = 0;
            p->value = v;
        }
    }
    if (st == ST_OK)
        pnode_write(&root, w);
    pnode_free(&root);
    return st;
}

/* ---- index keys ------------------------------------------------------------- */

st_status st_mango_key(const st_json *doc, const mango_path *fields, size_t n, st_buf *out,
                       bool *out_has)
{
    st_buf_reset(out);
    *out_has = false;
    for (size_t i = 0; i < n; i++) {
        const st_json *v = st_mango_path_get(&fields[i], doc);
        if (!v)
            return ST_OK;
        st_status st = st_collate_key(v, fields[i].raw ? ST_COLLATE_RAW : ST_COLLATE_ICU, out);
        if (st != ST_OK)
            return st;
    }
    *out_has = true;
    return ST_OK;
}

/* ---- lazily parsed documents ---------------------------------------------- */

const st_json *st_mango_lazy_old(mango_lazy *l, st_error *err)
{
    const mango_change *ch = l->ch;
    if (!ch->old_exists)
        return NULL;
    if (!l->old_tried) {
        l->old_tried = true;
        st_status st = st_mango_doc_make(&l->old, ch->id, ch->old_rev, ch->old_deleted,
                                         ch->old_body, ch->old_len, err);
        if (st != ST_OK && l->st == ST_OK)
            l->st = st;
    }
    return l->old.body ? &l->old.root : NULL;
}

const st_json *st_mango_lazy_new(mango_lazy *l, st_error *err)
{
    const mango_change *ch = l->ch;
    if (!ch->new_exists)
        return NULL;
    if (!l->new_tried) {
        l->new_tried = true;
        st_status st = st_mango_doc_make(&l->neu, ch->id, ch->new_rev, ch->new_deleted,
                                         ch->new_body, ch->new_len, err);
        if (st != ST_OK && l->st == ST_OK)
            l->st = st;
    }
    return l->neu.body ? &l->neu.root : NULL;
}

void st_mango_lazy_free(mango_lazy *l)
{
    st_mango_doc_free(&l->old);
    st_mango_doc_free(&l->neu);
}
