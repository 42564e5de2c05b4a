/* testutil.h — small helpers shared by the core tests. */
#ifndef ST_TESTUTIL_H
#define ST_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh file path under the build's test tmp dir (or /tmp). */
static inline void test_path(char *out, size_t cap, const char *name)
{
    const char *base = getenv("SETTEE_TEST_TMP");
    snprintf(out, cap, "%s/%s-%d-%s", base ? base : "/tmp", "st", (int)getpid(), name);
    char p[4200];
    snprintf(p, sizeof p, "%s", out);
    unlink(p);
    snprintf(p, sizeof p, "%s-wal", out);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", out);
    unlink(p);
}

static inline void test_unlink(const char *path)
{
    char p[4200];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

#endif
