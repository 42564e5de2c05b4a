/* tmp.c — see tmp.h. */
#include "support/tmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ts_tmp_base(void)
{
    const char *base = getenv("SETTEE_TEST_TMP");
    return base && base[0] ? base : "/tmp";
}

void ts_db_unlink(const char *path)
{
    char p[4200];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

void ts_db_name(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/db-%d-%s", ts_tmp_base(), (int)getpid(), name);
}

void ts_db_path(char *out, size_t cap, const char *name)
{
    ts_db_name(out, cap, name);
    ts_db_unlink(out);
}

void ts_tmp_dir(char *out, size_t cap, const char *tag)
{
    snprintf(out, cap, "%s/%s-XXXXXX", ts_tmp_base(), tag);
    if (!mkdtemp(out)) {
        fprintf(stderr, "mkdtemp %s: %s\n", out, strerror(errno));
        abort();
    }
}

void ts_rm_rf(const char *dir)
{
    const char *base = ts_tmp_base();
    size_t n = strlen(base);
    /* A guard against a bad path wiping something that is not ours. */
    if (strncmp(dir, base, n) != 0 || dir[n] != '/' || !dir[n + 1] || strstr(dir, "..") ||
        strchr(dir, '\'')) {
        fprintf(stderr, "not removing %s: not a scratch directory\n", dir);
        return;
    }
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}
