/* doc_write.c — writing documents: MVCC edits, replicated revisions
 * (new_edits=false), tombstones, stemming, and where bodies are kept.
 *
 * Every write runs inside the group-commit leader's transaction (db.c).  A
 * refused document leaves nothing behind while its neighbours in the same
 * _bulk_docs still land: see run_write for why no savepoint is needed.
 *
 * Body placement rule: the docs row carries the WINNING revision's body;
 * every other revision that still has a body lives in the revs table.  When
 * a write changes the winner, the old winner's body moves to revs and the
 * new winner's body moves into the row.
 */
#include "atts.h"
#include "db_int.h"
#include "mango_int.h"
#include "st_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CouchDB has no limit on id length; this bound only protects memory and
 * keeps every id inside one SQLite page chain of sane size. */
#define MAX_ID_LEN 65536

/* Underscore members a document may carry and that stay in its body. */
static bool kept_special(const char *k)
{
    return strcmp(k, "_access") == 0 || strcmp(k, "_replication_state") == 0 ||
           strcmp(k, "_replication_state_time") == 0 ||
           strcmp(k, "_replication_state_reason") == 0 ||
           strcmp(k, "_replication_id") == 0 || strcmp(k, "_replication_stats") == 0;
}

/* What a write request says once its special members are read. */
typedef struct parsed {
    const char *id;
    const char *rev;
    bool deleted;
    const st_json *atts;
    const st_json *revisions;
} parsed;

static st_status parse_specials(const st_write_req *req, parsed *p, st_error *err)
{
    memset(p, 0, sizeof *p);
    p->deleted = req->delete_doc;
    const st_json *doc = req->doc;
    if (doc && doc->type != ST_JSON_OBJECT)
        return st_fail(err, ST_E_BAD_REQUEST, "Document must be a JSON object");
    for (size_t i = 0; doc && i < doc->len; i++) {
        const st_json_member *m = &doc->u.members[i];
        const char *k = m->key;
        if (k[0] != '_')
            continue;
        if (strcmp(k, "_id") == 0) {
            if (m->value.type != ST_JSON_STRING)
                return st_fail(err, ST_E_ILLEGAL_DOCID, "Document id must be a string");
            p->id = m->value.u.str;
        } else if (strcmp(k, "_rev") == 0) {
            if (m->value.type != ST_JSON_STRING)
                return st_fail(err, ST_E_BAD_REQUEST, "Invalid rev format");
            p->rev = m->value.u.str;
        } else if (strcmp(k, "_deleted") == 0) {
            if (m->value.type == ST_JSON_TRUE)
                p->deleted = true;
            else if (m->value.type != ST_JSON_FALSE)
                return st_fail(err, ST_E_DOC_VALIDATION, "_deleted must be a boolean");
        } else if (strcmp(k, "_attachments") == 0) {
            p->atts = &m->value;
        } else if (strcmp(k, "_revisions") == 0) {
            p->revisions = &m->value;
        } else if (st_rev_is_stripped_member(k, m->key_len) || kept_special(k)) {
            continue;
        } else {
            return st_fail(err, ST_E_DOC_VALIDATION, "Bad special document member: %s", k);
        }
    }
    if (req->id)
        p->id = req->id;
    if (req->rev)
        p->rev = req->rev;
    return ST_OK;
}

static st_status check_id(const char *id, st_error *err)
{
    size_t n = strlen(id);
    if (n == 0)
        return st_fail(err, ST_E_ILLEGAL_DOCID, "Document id must not be empty");
    if (n > MAX_ID_LEN)
        return st_fail(err, ST_E_ILLEGAL_DOCID, "Document id is too long");
    /* Ids from a JSON body are UTF-8 already; ids from a URL, a header or
     * the embedded API are bytes.  Every id reaches JSON output. */
    if (!st_utf8_valid(id, n))
        return st_fail(err, ST_E_ILLEGAL_DOCID, "Document id must be valid UTF-8");
    if (id[0] == '_' && strncmp(id, "_design/", 8) != 0 && strncmp(id, "_local/", 7) != 0)
        return st_fail(err, ST_E_ILLEGAL_DOCID,
                       "Only reserved document ids may start with underscore.");
    if ((strcmp(id, "_design/") == 0) || strcmp(id, "_local/") == 0)
        return st_fail(err, ST_E_ILLEGAL_DOCID, "Illegal document id `%s`", id);
    return ST_OK;
}

/* The stored body: the document's members minus the special ones. */
st_status st_db_body_of(const st_json *doc, st_buf *out, st_error *err)
{
    st_buf_reset(out);
    st_jw w;
    st_status st = st_jw_init(&w, out);
    if (st != ST_OK)
        return st_fail(err, st, "out of memory");
    st_jw_obj_open(&w);
    for (size_t i = 0; doc && i < doc->len; i++) {
        const st_json_member *m = &doc->u.members[i];
        if (m->key[0] == '_' && !kept_special(m->key))
            continue;
        st_jw_keyn(&w, m->key, m->key_len);
        st_jw_value(&w, &m->value);
    }
    st_jw_obj_close(&w);
    st = st_jw_status(&w);
    st_jw_free(&w);
    return st == ST_OK ? ST_OK : st_fail(err, st, "out of memory");
}

/* Build the revision path from _revisions (or just _rev). */
static st_status replicated_path(const parsed *p, st_rev **out, size_t *out_n, st_error *err)
{
    *out = NULL;
    *out_n = 0;
    if (!p->revisions && !p->rev)
        return st_fail(err, ST_E_BAD_REQUEST,
                       "When `new_edits: false`, the document needs `_rev` or `_revisions` "
                       "specified");
    if (!p->revisions) {
        st_rev *r = malloc(sizeof *r);
        if (!r)
            return st_fail(err, ST_E_NOMEM, "out of memory");
        st_status st = st_rev_parse(p->rev, strlen(p->rev), r, err);
        if (st != ST_OK) {
            free(r);
            return st;
        }
        *out = r;
        *out_n = 1;
        return ST_OK;
    }
    const st_json *ids = st_json_get(p->revisions, "ids");
    uint64_t start = 0;
    if (p->revisions->type != ST_JSON_OBJECT || !ids || ids->type != ST_JSON_ARRAY ||
        ids->len == 0 || !st_json_uint64(st_json_get(p->revisions, "start"), &start) ||
        start < ids->len || start > INT64_MAX)
        return st_fail(err, ST_E_BAD_REQUEST, "Invalid _revisions");
    st_rev *path = malloc(ids->len * sizeof *path);
    if (!path)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (size_t k = 0; k < ids->len; k++) {
        const st_json *h = &ids->u.items[k];
        if (h->type != ST_JSON_STRING || h->len == 0 || h->len > ST_REV_HASH_MAX ||
            memchr(h->u.str, '\0', h->len)) {
            free(path);
            return st_fail(err, ST_E_BAD_REQUEST, "Invalid _revisions");
        }
        path[k].gen = start - k;
        path[k].hash_len = (unsigned)h->len;
        memcpy(path[k].hash, h->u.str, h->len + 1);
    }
    /* A _rev that disagrees with _revisions is ignored: CouchDB stores the
     * path _revisions gives (PouchDB's replicator sends such pairs).  It
     * must still be a rev. */
    st_rev r;
    st_status st = p->rev ? st_rev_parse(p->rev, strlen(p->rev), &r, err) : ST_OK;
    if (st != ST_OK) {
        free(path);
        return st;
    }
    *out = path;
    *out_n = ids->len;
    return ST_OK;
}

/* Scratch state for one document write. */
typedef struct wctx {
    st_db *db;
    const char *id;
    db_loaded old;          /* the existing row (old.tree NULL: new document) */
    bool exists;
    st_buf body;            /* the new revision's body */
    st_buf buf_a, buf_b;    /* scratch bodies moved between row and revs */
    st_buf tree;            /* encoded tree, reused */
    st_atts_out atts;
    st_buf edit;            /* an attachment edit's document, as JSON */
    st_json_doc *edit_doc;  /* ... parsed */
    /* The database's validator, read once per job (NULL: none). */
    st_validate_fn validate;
    void *validate_ctx;
    unsigned validate_scope;
    st_security *sec;
    const st_user_ctx *user; /* the request being written */
    uint64_t decode_left;    /* what the job's gzip attachments may still decode to */
} wctx;

static bool is_design(const char *id)
{
    return strncmp(id, "_design/", 8) == 0;
}

/* Does a write of id go to the validator? */
static bool validated(const wctx *w, const char *id)
{
    return w->validate && (w->validate_scope == ST_VALIDATE_ALL || is_design(id));
}

/* Ask the validator about the revision rev of w->id whose body is w->body;
 * old: the revision it replaces (NULL for a new document). */
static st_status validate(wctx *w, const st_rev *rev, bool deleted, bool replicated,
                          const char *old_rev, const st_buf *old_body, bool old_deleted,
                          st_error *err)
{
    if (!w->validate || (w->validate_scope == ST_VALIDATE_DESIGN && !is_design(w->id)))
        return ST_OK;
    char rs[ST_REV_STR_MAX];
    st_rev_format(rev, rs, sizeof rs);
    st_update u = {
        .id = w->id,
        .rev = rs,
        .body = w->body.data ? w->body.data : "{}",
        .body_len = w->body.data ? w->body.len : 2,
        .deleted = deleted,
        .replicated = replicated,
        .old_rev = old_rev,
        .old_body = old_rev ? (old_body && old_body->len ? old_body->data : "{}") : NULL,
        .old_len = old_rev ? (old_body && old_body->len ? old_body->len : 2) : 0,
        .old_deleted = old_deleted,
        .user = w->user,
        .sec = w->sec,
    };
    st_status st = w->validate(w->validate_ctx, &u, err);
    if (st != ST_OK && err && err->code == ST_OK)
        st_fail(err, st, "Document update rejected.");
    return st;
}

/* Stemming removes bodies; the first failed delete is kept and ends the
 * write: SQLite may have rolled the transaction back already (out of
 * memory), and what the write did after would then commit piecemeal. */
typedef struct removed_ctx {
    wctx *w;
    st_status st;
    st_error *err;
} removed_ctx;

static void remove_body(void *ctx, const st_rev *rev, unsigned flags)
{
    removed_ctx *r = ctx;
    if (!(flags & ST_REVTREE_HAS_BODY) || r->st != ST_OK)
        return;
    char rs[ST_REV_STR_MAX];
    st_rev_format(rev, rs, sizeof rs);
    /* The row's winner body is replaced anyway; others leave revs. */
    r->st = st_store_rev_delete(r->w->db->writer, r->w->id, rs, r->err);
}

static void rev_str(const st_revtree *t, int i, char out[ST_REV_STR_MAX])
{
    st_rev r;
    st_revtree_node(t, (size_t)i, &r, NULL, NULL);
    st_rev_format(&r, out, ST_REV_STR_MAX);
}

/* The writer stored a document row at seq (inside the batch): remembered
 * for the ring, and for a running compaction's attachment references. */

static void note_row(st_db *db, uint64_t seq, const char *id, const char *rev, bool deleted,
                    const char *atts, size_t atts_len)
{
    if (db->compact && atts_len)
        st_compact_note_atts(db->compact, atts, atts_len);
    if (!db->noting)
        return;
    if (db->n_notes == db->notes_cap) {
        size_t cap = db->notes_cap ? db->notes_cap * 2 : 64;
        db_note *n = realloc(db->notes, cap * sizeof *n);
        if (!n) {
            db->noting = false; /* the ring is reset at commit instead */
            return;
        }
        db->notes = n;
        db->notes_cap = cap;
    }
    db_note *n = &db->notes[db->n_notes];
    n->seq = seq;
    n->deleted = deleted;
    n->id_off = db->notes_arena.len;
    st_status s = st_buf_add(&db->notes_arena, id, strlen(id) + 1);
    n->rev_off = db->notes_arena.len;
    if (s == ST_OK)
        s = st_buf_add(&db->notes_arena, rev, strlen(rev) + 1);
    if (s != ST_OK) {
        db->noting = false;
        return;
    }
    db->n_notes++;
}

/* Attachment metadata stored elsewhere (a revs row), for a running
 * compaction. */
static void note_atts(st_db *db, const char *atts, size_t atts_len)
{
    if (db->compact && atts_len)
        st_compact_note_atts(db->compact, atts, atts_len);
}

/* Merge path into the tree and store the result (rows, bodies, counters). */
static st_status apply(wctx *w, st_revtree *t, const st_rev *path, size_t n, bool deleted,
                       bool replicated, st_write_result *res, st_error *err)
{
    st_db *db = w->db;
    st_conn *c = db->writer;
    st_merge_result mr;
    int old_winner = w->exists ? st_revtree_winner(t) : -1;
    char old_winner_rev[ST_REV_STR_MAX] = "";
    if (old_winner >= 0)
        rev_str(t, old_winner, old_winner_rev);
    unsigned leaf_flags = ST_REVTREE_HAS_BODY | (deleted ? ST_REVTREE_DELETED : 0);
    st_status st = st_revtree_merge_path(t, path, n, leaf_flags, &mr, err);
    if (st != ST_OK)
        return st;
    st_rev_format(&path[0], res->rev, sizeof res->rev);
    if (mr == ST_MERGE_INTERNAL_NODE) {
        if (!replicated)
            return st_fail(err, ST_E_CONFLICT, "Document update conflict.");
        return ST_OK; /* already known: nothing changes, no new sequence */
    }
    removed_ctx removed = {w, ST_OK, err};
    if ((st = st_revtree_stem(t, db->ctr.revs_limit, remove_body, &removed)) != ST_OK)
        return st;
    if (removed.st != ST_OK)
        return removed.st;
    int winner = st_revtree_winner(t);
    int leaf = st_revtree_find(t, &path[0]);
    char winner_rev[ST_REV_STR_MAX];
    rev_str(t, winner, winner_rev);

    st_doc_rec row = {0};
    row.deleted = (st_revtree_flags(t, (size_t)winner) & ST_REVTREE_DELETED) != 0;
    row.conflicted = st_revtree_live_leaves(t) > 1;
    const st_buf *row_body, *row_atts;
    /* Old winner still in the tree but no longer winning: its body moves out. */
    st_rev ow;
    int ow_idx = -1;
    if (old_winner_rev[0] && st_rev_parse(old_winner_rev, strlen(old_winner_rev), &ow, NULL) == ST_OK)
        ow_idx = st_revtree_find(t, &ow);
    bool old_moves = ow_idx >= 0 && ow_idx != winner &&
                     (st_revtree_flags(t, (size_t)ow_idx) & ST_REVTREE_HAS_BODY);
    if (old_moves &&
        (st = st_store_rev_put(c, w->id, old_winner_rev, w->old.rec.body.data,
                               w->old.rec.body.len, w->old.rec.atts.data, w->old.rec.atts.len,
                               err)) != ST_OK)
        return st;
    if (old_moves)
        note_atts(db, w->old.rec.atts.data, w->old.rec.atts.len);
    if (winner == leaf) {
        row_body = &w->body;
        row_atts = &w->atts.json;
    } else {
        if (leaf >= 0 && (st = st_store_rev_put(c, w->id, res->rev, w->body.data, w->body.len,
                                                w->atts.json.data, w->atts.json.len, err)) != ST_OK)
            return st;
        if (leaf >= 0)
            note_atts(db, w->atts.json.data, w->atts.json.len);
        if (winner == ow_idx) {
            row_body = &w->old.rec.body;
            row_atts = &w->old.rec.atts;
        } else {
            /* Another stored leaf now wins: bring its body into the row. */
            st = st_store_rev_get(c, w->id, winner_rev, &w->buf_a, &w->buf_b, err);
            if (st == ST_E_NOT_FOUND) {
                st_buf_reset(&w->buf_a);
                st_buf_reset(&w->buf_b);
                st = st_buf_adds(&w->buf_a, "{}");
            }
            if (st == ST_OK)
                st = st_store_rev_delete(c, w->id, winner_rev, err);
            if (st != ST_OK)
                return st;
            row_body = &w->buf_a;
            row_atts = &w->buf_b;
        }
    }
    row.body = *row_body;
    row.atts = *row_atts;

    /* Counters: take the old row out, put the new one in. */
    if (w->exists) {
        if (w->old.rec.deleted)
            db->ctr.del_count--;
        else
            db->ctr.doc_count--;
        db->ctr.external -= (int64_t)w->old.rec.body.len;
    }
    if (row.deleted)
        db->ctr.del_count++;
    else
        db->ctr.doc_count++;
    db->ctr.external += (int64_t)row.body.len;
    row.seq = ++db->ctr.update_seq;

    st_buf_reset(&w->tree);
    st = st_revtree_encode(t, &w->tree);
    if (st == ST_OK) {
        row.tree = w->tree;
        st = st_store_doc_put(c, w->id, w->exists ? w->old.rec.seq : 0, &row, err);
        if (st == ST_OK)
            note_row(db, row.seq, w->id, winner_rev, row.deleted, row.atts.data,
                           row.atts.len);
        if (st == ST_OK && st_mango_wants(db, w->id)) {
            /* json indexes and subscriptions see the winner before and after */
            mango_change mc = {
                .id = w->id,
                .old_exists = w->exists,
                .old_deleted = w->exists && w->old.rec.deleted,
                .old_rev = old_winner_rev,
                .old_body = w->old.rec.body.data,
                .old_len = w->old.rec.body.len,
                .new_exists = true,
                .new_deleted = row.deleted,
                .new_rev = winner_rev,
                .new_body = row.body.data,
                .new_len = row.body.len,
                .seq = row.seq,
            };
            st = st_mango_changed(db, &mc, err);
        }
    } else {
        st_fail(err, st, "out of memory");
    }
    return st;
}


st_status st_db_write_check(const st_write_req *req, unsigned flags, st_error *err)
{
    parsed p;
    st_status st = parse_specials(req, &p, err);
    if (st != ST_OK)
        return st;
    if (p.id && (st = check_id(p.id, err)) != ST_OK)
        return st;
    bool replicated = (flags & ST_WRITE_REPLICATED) != 0;
    if (replicated && !p.id)
        return st_fail(err, ST_E_BAD_REQUEST, "Document id is missing");
    st_rev r;
    bool local = st_db_id_is_local(p.id ? p.id : "");
    if (p.rev && local && !st_db_local_rev_ok(p.rev))
        return st_fail(err, ST_E_BAD_REQUEST, "Invalid rev format");
    if (p.rev && !local && (st = st_rev_parse(p.rev, strlen(p.rev), &r, err)) != ST_OK)
        return st;
    if (replicated) {
        st_rev *path = NULL;
        size_t n = 0;
        if ((st = replicated_path(&p, &path, &n, err)) != ST_OK)
            return st;
        free(path);
    }
    return st_atts_check(p.atts, err);
}

/* A replicated revision (new_edits=false): merge its path; a revision
 * already known changes nothing and takes no sequence. */
static st_status merge_replicated(st_db *db, const char *id, st_revtree *t, const st_rev *path,
                                  size_t n, bool deleted, st_atts_in *ain, wctx *w,
                                  st_write_result *res, st_error *err)
{
    ain->new_gen = path[0].gen;
    /* Stubs refer to the nearest stored ancestor's attachments. */
    for (size_t k = 1; k < n && !ain->parent_json; k++) {
        int i = st_revtree_find(t, &path[k]);
        if (i >= 0 && st_db_rev_body(db->writer, id, &w->old, (size_t)i, &w->buf_a, &w->buf_b,
                                     NULL) == ST_OK && w->buf_b.len) {
            ain->parent_json = w->buf_b.data;
            ain->parent_len = w->buf_b.len;
        }
    }
    if (st_revtree_find(t, &path[0]) >= 0) {
        st_rev_format(&path[0], res->rev, sizeof res->rev);
        return ST_OK;
    }
    st_status st = st_atts_prepare(db->writer, ain, &w->atts, err);
    if (st == ST_OK && validated(w, id)) {
        char old_rev[ST_REV_STR_MAX] = "";
        if (w->exists)
            rev_str(t, st_revtree_winner(t), old_rev);
        st = validate(w, &path[0], deleted, true, w->exists ? old_rev : NULL, &w->old.rec.body,
                      w->exists && w->old.rec.deleted, err);
    }
    if (st == ST_OK)
        st = apply(w, t, path, n, deleted, true, res, err);
    return st;
}

static st_status write_one(st_db *db, const st_write_req *req, unsigned flags,
                           st_write_result *res, wctx *w, st_error *err)
{
    bool replicated = (flags & ST_WRITE_REPLICATED) != 0;
    parsed p;
    st_write_req edited;
    if (req->att_edit) {
        if (!req->id || req->doc || replicated)
            return st_fail(err, ST_E_MISUSE, "an attachment edit names an id and no document");
        free(res->id);
        if (!(res->id = strdup(req->id)))
            return st_fail(err, ST_E_NOMEM, "out of memory");
        st_status st = st_db_att_edit_req(db, req, &w->old, &w->buf_a, &w->buf_b, &w->edit,
                                          &w->edit_doc, &edited, err);
        if (st != ST_OK)
            return st;
        req = &edited;
    }
    st_status st = parse_specials(req, &p, err);
    if (st != ST_OK)
        return st;
    char gen_id[33];
    if (!p.id) {
        if (replicated)
            return st_fail(err, ST_E_BAD_REQUEST, "Document id is missing");
        st_uuid(gen_id);
        p.id = gen_id;
    }
    free(res->id);
    if (!(res->id = strdup(p.id)))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    if ((st = check_id(p.id, err)) != ST_OK)
        return st;
    if ((st = st_db_body_of(req->doc, &w->body, err)) != ST_OK)
        return st;
    if (st_db_id_is_local(p.id))
        return st_db_write_local(db, p.id, p.rev, p.deleted, &w->body, res, err);
    w->id = p.id;
    if (w->body.len > db->opts.max_doc_size)
        return st_fail(err, ST_E_DOC_TOO_LARGE, "Document exceeds the maximum size of %zu bytes",
                       db->opts.max_doc_size);

    /* Creating a new document (no _rev, no attachments) is the common case
     * of a bulk load: try the insert first and look the id up only if it
     * turns out to exist, saving one index search per new document. */
    bool bare_delete = req->delete_doc && !req->doc;
    if (!replicated && !p.rev && !p.atts && !bare_delete && !validated(w, p.id)) {
        st_revtree *fresh = st_revtree_new();
        if (!fresh)
            return st_fail(err, ST_E_NOMEM, "out of memory");
        st_revtree_free(w->old.tree);
        w->old.tree = fresh;
        w->exists = false;
        st_rev first;
        st_counters before = db->ctr;
        st = st_rev_compute(NULL, p.deleted, req->doc, NULL, 0, &first, err);
        if (st == ST_OK)
            st = apply(w, fresh, &first, 1, p.deleted, false, res, err);
        if (st != ST_E_CONFLICT)
            return st;
        db->ctr = before; /* the id exists: take the general path */
        st_revtree_free(w->old.tree);
        w->old.tree = NULL;
    }
    st = st_db_load(db->writer, p.id, &w->old, err);
    w->exists = st == ST_OK;
    if (st != ST_OK && st != ST_E_NOT_FOUND)
        return st;
    st_revtree *t = w->exists ? w->old.tree : st_revtree_new();
    if (!t)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    w->old.tree = t;

    st_rev *path = NULL;
    size_t n = 0;
    st_rev two[2];
    st_atts_in ain = {
        .obj = p.atts,
        .max_att_size = db->opts.max_att_size,
        .decode_left = &w->decode_left,
        .follows = req->atts,
        .n_follows = req->n_atts,
        .replicated = replicated,
        .doc_id = p.id,
        .compress_level = db->opts.att_compress_level,
        .compressible = db->opts.att_compressible,
    };
    if (replicated) {
        if ((st = replicated_path(&p, &path, &n, err)) != ST_OK)
            return st;
        st = merge_replicated(db, p.id, t, path, n, p.deleted, &ain, w, res, err);
        free(path);
        return st;
    }

    /* Interactive edit: the parent must be a current leaf. */
    int parent = -1;
    bool unknown_parent = false;
    if (bare_delete && !w->exists && !p.rev)
        return st_fail(err, ST_E_NOT_FOUND, "missing"); /* DELETE of nothing */
    if (p.rev) {
        if ((st = st_rev_parse(p.rev, strlen(p.rev), &two[1], err)) != ST_OK)
            return st;
        parent = w->exists ? st_revtree_find(t, &two[1]) : -1;
        /* CouchDB 3.5 creates a missing document edited "from" a rev it
         * never had: that rev becomes a bodiless root, the edit its child. */
        unknown_parent = !w->exists && !bare_delete;
        if (!unknown_parent && (parent < 0 || !st_revtree_is_leaf(t, (size_t)parent)))
            return st_fail(err, ST_E_CONFLICT, "Document update conflict.");
    } else if (w->exists) {
        parent = st_revtree_winner(t);
        if (!w->old.rec.deleted)
            return st_fail(err, ST_E_CONFLICT, "Document update conflict.");
        st_revtree_node(t, (size_t)parent, &two[1], NULL, NULL);
    }
    st_buf_reset(&w->buf_a);
    if (parent >= 0) {
        if ((st = st_db_rev_body(db->writer, p.id, &w->old, (size_t)parent, &w->buf_a, &w->buf_b,
                                 err)) != ST_OK &&
            st != ST_E_NOT_FOUND)
            return st;
        if (st == ST_OK && w->buf_b.len) {
            ain.parent_json = w->buf_b.data;
            ain.parent_len = w->buf_b.len;
        }
    }
    ain.new_gen = parent >= 0 || unknown_parent ? two[1].gen + 1 : 1;
    if ((st = st_atts_prepare(db->writer, &ain, &w->atts, err)) != ST_OK)
        return st;
    bool has_parent = parent >= 0 || unknown_parent;
    if ((st = st_rev_compute(has_parent ? &two[1] : NULL, p.deleted, req->doc, w->atts.digests,
                             w->atts.n, &two[0], err)) != ST_OK)
        return st;
    if (validated(w, p.id)) {
        char old_rev[ST_REV_STR_MAX] = "";
        if (parent >= 0)
            rev_str(t, parent, old_rev);
        bool old_deleted =
            parent >= 0 && (st_revtree_flags(t, (size_t)parent) & ST_REVTREE_DELETED) != 0;
        if ((st = validate(w, &two[0], p.deleted, false, parent >= 0 ? old_rev : NULL, &w->buf_a,
                           old_deleted, err)) != ST_OK)
            return st;
    }
    return apply(w, t, two, has_parent ? 2 : 1, p.deleted, false, res, err);
}


/* A typed replicated revision (st_db_write_revs): no JSON to parse, the
 * body is stored as given. */
static st_status write_rep_one(st_db *db, const st_rep_doc *d, st_write_result *res, wctx *w,
                               st_error *err)
{
    free(res->id);
    if (!(res->id = strdup(d->id ? d->id : "")))
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = check_id(res->id, err);
    if (st != ST_OK)
        return st;
    if (st_db_id_is_local(d->id))
        return st_fail(err, ST_E_BAD_REQUEST, "_local documents are not replicated");
    if (!d->path || d->n_path == 0)
        return st_fail(err, ST_E_BAD_REQUEST,
                       "When `new_edits: false`, the document needs `_rev` or `_revisions` "
                       "specified");
    if (d->body_len > db->opts.max_doc_size)
        return st_fail(err, ST_E_DOC_TOO_LARGE, "Document exceeds the maximum size of %zu bytes",
                       db->opts.max_doc_size);
    w->id = d->id;
    st_buf_reset(&w->body);
    if ((st = st_buf_add(&w->body, d->body ? d->body : "{}", d->body ? d->body_len : 2)) != ST_OK)
        return st_fail(err, st, "out of memory");
    st = st_db_load(db->writer, d->id, &w->old, err);
    w->exists = st == ST_OK;
    if (st != ST_OK && st != ST_E_NOT_FOUND)
        return st;
    st_revtree *t = w->exists ? w->old.tree : st_revtree_new();
    if (!t)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    w->old.tree = t;
    st_atts_in ain = {
        .typed = d->atts,
        .n_typed = d->n_atts,
        .max_att_size = db->opts.max_att_size,
        .decode_left = &w->decode_left,
        .replicated = true,
        .doc_id = d->id,
    };
    return merge_replicated(db, d->id, t, d->path, d->n_path, d->deleted, &ain, w, res, err);
}

typedef struct write_job {
    db_job job;
    const st_write_req *reqs;
    const st_rep_doc *reps; /* or typed replicated revisions */
    size_t n;
    unsigned flags;
    st_write_result *results;
    st_done_fn done;        /* async: the caller's completion */
    void *ctx;
} write_job;

/* Failures that refuse the whole request, not just the document: I/O and
 * memory, and a stub for an attachment the parent lacks (CouchDB answers
 * 412 missing_stub for the request and saves nothing). */
static bool fatal(st_status st)
{
    return st == ST_E_IO || st == ST_E_NOMEM || st == ST_E_DISK_FULL || st == ST_E_BUSY ||
           st == ST_E_MISSING_STUB;
}

/* No savepoint per document: every check that can refuse a document runs
 * before its first row is written (an attachment blob stored for a refused
 * document is harmless: nothing refers to it and compaction drops it), and
 * the failures that can strike after that (I/O, memory) fail the whole job,
 * which the batch's rollback undoes. */
static st_status run_write(st_db *db, void *arg, st_error *err)
{
    write_job *job = arg;
    wctx w;
    memset(&w, 0, sizeof w);
    w.db = db;
    w.decode_left = db->opts.max_decoded_size; /* per job: a job is one request */
    pthread_mutex_lock(&db->sec_mu);
    w.validate = db->validate;
    w.validate_ctx = db->validate_ctx;
    w.validate_scope = db->validate_scope;
    w.sec = w.validate ? st_security_ref(db->sec) : NULL;
    pthread_mutex_unlock(&db->sec_mu);
    st_status st = ST_OK;
    for (size_t i = 0; i < job->n; i++) {
        st_write_result *res = &job->results[i];
        w.user = job->reqs ? job->reqs[i].user : NULL;
        st_counters before = db->ctr;
        size_t notes = db->n_notes;
        st_error_clear(&res->err);
        st_status s = job->reps ? write_rep_one(db, &job->reps[i], res, &w, &res->err)
                                : write_one(db, &job->reqs[i], job->flags, res, &w, &res->err);
        st_atts_out_free(&w.atts);
        st_revtree_free(w.old.tree);
        w.old.tree = NULL;
        w.exists = false;
        st_json_doc_free(w.edit_doc);
        w.edit_doc = NULL;
        if (s == ST_OK)
            continue;
        res->err.code = s;
        db->ctr = before;
        db->n_notes = notes;
        if (fatal(s) || (job->flags & ST_WRITE_ALL_OR_NOTHING)) {
            st = s;
            if (err)
                *err = res->err;
            break;
        }
    }
    st_security_release(w.sec);
    st_buf_free(&w.body);
    st_buf_free(&w.buf_a);
    st_buf_free(&w.buf_b);
    st_buf_free(&w.tree);
    st_buf_free(&w.edit);
    st_atts_out_free(&w.atts);
    st_db_loaded_free(&w.old);
    return st;
}

static void write_done(db_job *j)
{
    write_job *job = (write_job *)j;
    job->done(job->ctx, j->status, &j->err);
    free(job);
}

/* Run w: waiting for it (w->done NULL), or queued with w->done as its
 * completion (a heap copy, freed once done ran). */
static st_status submit(st_db *db, const write_job *w, st_error *err)
{
    if (w->results)
        memset(w->results, 0, w->n * sizeof *w->results);
    if (!db || (w->n && ((!w->reqs && !w->reps) || !w->results)))
        return st_fail(err, ST_E_MISUSE, "NULL argument");
    if (!w->done) {
        write_job job = *w;
        job.job.run = run_write;
        job.job.arg = &job;
        return st_db_run_job(db, &job.job, err);
    }
    write_job *job = malloc(sizeof *job);
    if (!job)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    *job = *w;
    job->job.run = run_write;
    job->job.arg = job;
    job->job.done = write_done;
    st_status st = st_db_enqueue(db, &job->job, err);
    if (st != ST_OK)
        free(job);
    return st;
}

st_status st_db_write(st_db *db, const st_write_req *reqs, size_t n, unsigned flags,
                      st_write_result *results, st_error *err)
{
    write_job w = {.reqs = reqs, .n = n, .flags = flags, .results = results};
    return submit(db, &w, err);
}

st_status st_db_write_async(st_db *db, const st_write_req *reqs, size_t n, unsigned flags,
                            st_write_result *results, st_done_fn done, void *ctx,
                            st_error *err)
{
    if (!done)
        return st_fail(err, ST_E_MISUSE, "NULL completion");
    write_job w = {.reqs = reqs, .n = n, .flags = flags, .results = results, .done = done,
                   .ctx = ctx};
    return submit(db, &w, err);
}

st_status st_db_write_revs(st_db *db, const st_rep_doc *docs, size_t n,
                           st_write_result *results, st_error *err)
{
    write_job w = {.reps = docs, .n = n, .flags = ST_WRITE_REPLICATED, .results = results};
    return submit(db, &w, err);
}

st_status st_db_write_revs_async(st_db *db, const st_rep_doc *docs, size_t n,
                                 st_write_result *results, st_done_fn done, void *ctx,
                                 st_error *err)
{
    if (!done)
        return st_fail(err, ST_E_MISUSE, "NULL completion");
    write_job w = {.reps = docs, .n = n, .flags = ST_WRITE_REPLICATED, .results = results,
                   .done = done, .ctx = ctx};
    return submit(db, &w, err);
}

void st_write_results_free(st_write_result *results, size_t n)
{
    for (size_t i = 0; results && i < n; i++) {
        free(results[i].id);
        results[i].id = NULL;
    }
}
