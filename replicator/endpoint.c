/* endpoint.c — what both endpoint implementations share: freeing, replies,
 * and telling a URL from a path. */
#include "endpoint.h"

#include <stdlib.h>
#include <strings.h>

bool st_ep_is_url(const char *s)
{
    return s && (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0);
}

void st_ep_reply_clear(st_ep_reply *r)
{
    st_json_doc_free(r->json);
    r->json = NULL;
}

void st_ep_free(st_ep *ep)
{
    if (!ep)
        return;
    ep->ops->cancel_all(ep);
    ep->ops->free(ep);
}
