/* endpoint.c — what both endpoint implementations share: replies and their
 * typed answers, freeing, and telling a URL from a path. */
#include "endpoint.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool st_ep_is_url(const char *s)
{
    return s && (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0);
}

void st_ep_answer_free(st_arena *arena) { st_arena_free(arena); }

void *st_ep_answer_alloc(size_t size, size_t arena_offset)
{
    st_arena *a = st_arena_new();
    char *p = a ? st_arena_alloc(a, size) : NULL;
    if (!p) {
        st_arena_free(a);
        return NULL;
    }
    memcpy(p + arena_offset, &a, sizeof a);
    return p;
}

void st_ep_reply_clear(st_ep_reply *r)
{
    st_json_doc_free(r->json);
    r->json = NULL;
    if (r->changes)
        st_arena_free(r->changes->arena);
    if (r->missing)
        st_arena_free(r->missing->arena);
    if (r->docs)
        st_arena_free(r->docs->arena);
    if (r->written)
        st_arena_free(r->written->arena);
    r->changes = NULL;
    r->missing = NULL;
    r->docs = NULL;
    r->written = NULL;
}

void st_ep_reply_fail(st_ep_reply *r, const st_error *err)
{
    r->st = err->code != ST_OK ? err->code : ST_E_IO;
    r->err = *err;
    r->http_status = st_status_http(r->st);
}

void st_ep_free(st_ep *ep)
{
    if (!ep)
        return;
    ep->ops->cancel_all(ep);
    ep->ops->free(ep);
}
