/* registry.c — the process-wide list of open settee_db handles (see
 * registry.h).
 *
 * Apps open a handful of databases, so a linear scan of one array under one
 * mutex is cheaper than anything cleverer.  A freed pointer that malloc
 * hands out again for a new db is indistinguishable from it: that case is
 * the app's use-after-free, as with any C API.
 */
#include "registry.h"

#include <pthread.h>
#include <stdlib.h>

#include "errors.h"

typedef struct entry {
    const settee_db *db;
    unsigned inflight;  /* public calls inside db right now */
    unsigned children;  /* listeners + syncs + iterators alive */
} entry;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static entry *reg;      /* open handles */
static size_t reg_n, reg_cap;

/* The entry of db, or NULL (reg_mu held). */
static entry *find(const settee_db *db)
{
    for (size_t i = 0; i < reg_n; i++)
        if (reg[i].db == db)
            return &reg[i];
    return NULL;
}

bool st_client_reg_add(settee_db *db)
{
    bool ok = true;
    pthread_mutex_lock(&reg_mu);
    if (reg_n == reg_cap) {
        size_t cap = reg_cap ? reg_cap * 2 : 8;
        entry *v = realloc(reg, cap * sizeof *v);
        if (v) {
            reg = v;
            reg_cap = cap;
        } else {
            ok = false;
        }
    }
    if (ok)
        reg[reg_n++] = (entry){db, 0, 0};
    pthread_mutex_unlock(&reg_mu);
    return ok;
}

settee_status st_client_reg_remove(settee_db *db)
{
    settee_status rc = SETTEE_OK;
    pthread_mutex_lock(&reg_mu);
    entry *x = find(db);
    if (!x)
        rc = SETTEE_MISUSE;
    else if (x->inflight || x->children)
        rc = SETTEE_BUSY;
    else
        *x = reg[--reg_n];
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

settee_status st_client_enter(settee_db *db, settee_error *e)
{
    if (!db)
        return st_client_fail(e, SETTEE_MISUSE, "NULL database handle");
    pthread_mutex_lock(&reg_mu);
    entry *x = find(db);
    if (x)
        x->inflight++;
    pthread_mutex_unlock(&reg_mu);
    if (!x)
        return st_client_fail(e, SETTEE_MISUSE, "database handle is not open");
    return SETTEE_OK;
}

/* Add delta to one of db's counters.  db is open: its caller entered it or
 * owns a child of it. */
static void count(const settee_db *db, bool children, int delta)
{
    pthread_mutex_lock(&reg_mu);
    entry *x = find(db);
    if (x) {
        unsigned *c = children ? &x->children : &x->inflight;
        *c = (unsigned)((int)*c + delta);
    }
    pthread_mutex_unlock(&reg_mu);
}

void st_client_leave(settee_db *db) { count(db, false, -1); }
void st_client_child_add(settee_db *db) { count(db, true, +1); }
void st_client_child_done(settee_db *db) { count(db, true, -1); }
