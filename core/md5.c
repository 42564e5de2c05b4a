/* md5.c — see md5.h. */
#include "md5.h"

#include <openssl/err.h>
#include <pthread.h>
#include <stdatomic.h>

static pthread_mutex_t md5_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(EVP_MD *) md5_md; /* set once, then read without the lock */

const EVP_MD *st_md5(void)
{
    EVP_MD *md = atomic_load_explicit(&md5_md, memory_order_acquire);
    if (md)
        return md;
    pthread_mutex_lock(&md5_mu);
    md = atomic_load_explicit(&md5_md, memory_order_relaxed);
    if (!md) {
        md = EVP_MD_fetch(NULL, "MD5", NULL);
        if (md)
            atomic_store_explicit(&md5_md, md, memory_order_release);
        else
            ERR_clear_error();
    }
    pthread_mutex_unlock(&md5_mu);
    return md;
}
