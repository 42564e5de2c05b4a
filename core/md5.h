/* md5.h — libcrypto's MD5, fetched once for the whole process.
 *
 * Why: with OpenSSL 3, passing EVP_md5() to every digest costs an implicit
 * provider fetch (a lock and a lookup) per rev id or attachment.  A fetch
 * that fails (out of memory) is tried again on the next call, so a
 * moment's shortage does not disable digests for the life of the process.
 * Any thread may call; the result is shared, never freed, and not to be
 * freed by the caller.  NULL when libcrypto could not (its error queue is
 * then cleared).
 */
#ifndef ST_MD5_H
#define ST_MD5_H

#include <openssl/evp.h>

const EVP_MD *st_md5(void);

#endif
