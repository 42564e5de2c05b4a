/* st_rev.h — revision ids "<gen>-<hash>" and how new ones are made.
 *
 * A rev id's hash part is opaque to every peer: replication copies it and
 * nobody recomputes it, so any printable string after "N-" is accepted and
 * kept verbatim (PouchDB sends md5 or uuid hex, CouchDB md5 hex).
 *
 * New revisions are hashed exactly as CouchDB 3.x does it (couch_db.erl
 * new_revid/1): lowercase hex md5 of the Erlang external term format of
 * [Deleted, OldGen, OldRevId, Body, AttDigests].  So the same edit made on
 * two settee replicas -- or on settee and CouchDB, for documents without
 * attachments -- yields the same rev id, and concurrent identical edits do not
 * conflict.  The encoding rules are in rev.c.
 *
 * Thread-safety: pure functions, any thread.
 */
#ifndef ST_REV_H
#define ST_REV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "st_buf.h"
#include "st_error.h"
#include "st_json.h"

#define ST_REV_HASH_MAX 128                 /* longest hash part accepted */
#define ST_REV_STR_MAX (20 + 1 + ST_REV_HASH_MAX + 1) /* "gen-hash" + NUL */

typedef struct st_rev {
    uint64_t gen;                    /* >= 1 for document revs */
    unsigned hash_len;
    char hash[ST_REV_HASH_MAX + 1];  /* NUL-terminated */
} st_rev;

/* Parse "N-hash" from s[0..n).  N must be a decimal >= 1 without sign or
 * leading zeros' ambiguity (leading zeros are accepted, as CouchDB does);
 * hash must be 1..ST_REV_HASH_MAX printable ASCII bytes with no spaces.
 * Failure: ST_E_BAD_REQUEST "Invalid rev format". */
st_status st_rev_parse(const char *s, size_t n, st_rev *out, st_error *err);

/* Write "N-hash" and a NUL into out (cap >= ST_REV_STR_MAX always suffices).
 * Returns the length written, excluding the NUL. */
size_t st_rev_format(const st_rev *r, char *out, size_t cap);

/* Order by generation, then hash bytewise (memcmp, shorter first on a tie). */
int st_rev_cmp(const st_rev *a, const st_rev *b);
bool st_rev_eq(const st_rev *a, const st_rev *b);

/* One attachment as it enters the rev hash: name, content type and the raw
 * 16-byte md5 of the stored bytes. */
typedef struct st_rev_att {
    const char *name;
    size_t name_len;
    const char *content_type;
    size_t content_type_len;
    unsigned char md5[16];
} st_rev_att;

/* Compute the next revision.  parent NULL for a new document (OldGen 0,
 * OldRevId 0).  doc is the document object as received; its special members
 * (_id _rev _attachments _deleted _revisions _revs_info _conflicts
 * _deleted_conflicts _local_seq) are left out of the hashed Body and every
 * other member is hashed in input order, duplicates kept.  atts are given in
 * _attachments order (the function reverses them as CouchDB does).
 * out->gen = parent gen + 1.  Errors: ST_E_NOMEM, ST_E_BAD_REQUEST for a
 * number that cannot be encoded. */
st_status st_rev_compute(const st_rev *parent, bool deleted, const st_json *doc,
                         const st_rev_att *atts, size_t n_atts, st_rev *out,
                         st_error *err);

/* Append the Erlang external term (version byte 131 first) of one JSON value
 * as CouchDB's jiffy decodes it: what CouchDB hashes, for rev ids and for
 * replication ids (a selector's term, for example).  Errors as for
 * st_rev_compute, plus ST_E_TOO_LARGE from the buffer. */
st_status st_json_term(const st_json *v, st_buf *out, st_error *err);

/* Building a term by hand, for terms that are not one JSON value (the
 * replication id hashes [UUID, {remote, User, Host, Port, Path, [], undefined},
 * ...]).  Each call appends one term or the head of a compound one: a tuple
 * of arity n is followed by its n elements, a list of n by its n elements
 * and then st_term_nil.  Errors are sticky, as st_jw's: check
 * st_term_status once at the end.  out belongs to the caller. */
typedef enum {
    ST_TERM_ATOM_LATIN1 = 0,  /* ATOM_EXT: OTP < 26's default, and minor_version 1 */
    ST_TERM_ATOM_UTF8 = 1     /* SMALL_ATOM_UTF8_EXT: OTP 26+'s default */
} st_term_atoms;

typedef struct st_term {
    st_buf *out;
    st_term_atoms atoms;      /* how st_term_atom writes atoms */
    st_status status;         /* first failure, sticky */
    st_error err;             /* its description */
} st_term;

/* Start a term in out (appends the version byte 131). */
void st_term_begin(st_term *t, st_buf *out, st_term_atoms atoms);
void st_term_tuple(st_term *t, unsigned arity);             /* arity <= 255 */
void st_term_list(st_term *t, size_t n);                    /* n >= 1; then n terms, then nil */
void st_term_nil(st_term *t);                               /* [] */
void st_term_atom(st_term *t, const char *name);            /* < 256 bytes */
void st_term_binary(st_term *t, const char *s, size_t n);   /* <<"...">> */
void st_term_string(st_term *t, const char *s, size_t n);   /* "..." (a list of bytes) */
void st_term_int(st_term *t, int64_t v);
/* A JSON value as jiffy decodes it (true/false/null as ATOM_EXT always, as
 * st_json_term writes them). */
void st_term_json(st_term *t, const st_json *v);
st_status st_term_status(const st_term *t);

/* True when member key k (k_len bytes) is one of the special members above
 * that is stripped from stored bodies. */
bool st_rev_is_stripped_member(const char *k, size_t k_len);

#endif
