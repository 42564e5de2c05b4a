/* auth_cache.h — verified credentials, so HTTP Basic does not pay PBKDF2 on
 * every request.
 *
 * One entry per user name: a keyed digest of the password that last passed
 * (HMAC-SHA256 under a random per-cache key, never the password), the salt
 * and revision of the credential it was checked against, and the roles the
 * check returned.  A lookup hits only when name, password digest, salt and
 * rev all match and the entry is younger than the TTL, so a password change
 * (new salt) or any edit of the user doc or admin entry (new rev) misses even
 * before anyone calls st_auth_cache_invalidate().  A miss costs the caller one
 * real verification; only successful checks are ever put.
 *
 * Bounds: at most max_entries entries, least recently used evicted first.
 * Clock: calls take `now` (Unix seconds).  Threads: every function may be
 * called from any thread; one mutex guards the cache, held for O(1) work
 * (the HMAC is computed outside it).  Ownership: inputs are copied; roles
 * returned by a hit are the caller's (st_roles_free).
 */
#ifndef ST_SERVER_AUTH_CACHE_H
#define ST_SERVER_AUTH_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "roles.h"
#include "st_error.h"

#define ST_AUTH_CACHE_DEFAULT_MAX 1024u
#define ST_AUTH_CACHE_DEFAULT_TTL 600u /* seconds, as [chttpd_auth_cache] max_lifetime */

typedef struct st_auth_cache st_auth_cache;

/* NULL on allocation or randomness failure.  max_entries 0 → the default. */
st_auth_cache *st_auth_cache_new(size_t max_entries, unsigned ttl_s);
void st_auth_cache_free(st_auth_cache *c); /* NULL ok; wipes digests */

/* Remember that pw checked out for name under (salt, rev) with these roles.
 * salt/rev may be NULL (treated as ""). */
st_status st_auth_cache_put(st_auth_cache *c, const char *name, const void *pw, size_t pw_len,
                            const char *salt, const char *rev, const st_roles *roles,
                            int64_t now);

/* ST_OK and *out_roles (empty on entry; NULL: not wanted) filled on a hit;
 * ST_E_NOT_FOUND on a miss (a mismatching or expired entry is dropped). */
st_status st_auth_cache_get(st_auth_cache *c, const char *name, const void *pw, size_t pw_len,
                            const char *salt, const char *rev, int64_t now, st_roles *out_roles);

void st_auth_cache_invalidate(st_auth_cache *c, const char *name); /* a user doc or admin changed */
void st_auth_cache_clear(st_auth_cache *c);
size_t st_auth_cache_count(st_auth_cache *c);

#endif
