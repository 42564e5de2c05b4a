/* cmd_backup.c — `settee backup SOURCE DEST` and `settee restore BACKUP DEST`.
 *
 * A backup is a database file.  From a file, it is SQLite's online backup of
 * the live database (st_db_backup): a consistent copy taken while a server
 * or an app keeps writing.  From a URL, it is a replication of every
 * document into a new file (what a server gives through its API).
 *
 * Restore is more than a copy.  Into a file: the file must not be open (a
 * server or an app holding it would go on with the old one, or worse), the
 * old database's write-ahead log and shared-memory files must go with it (a
 * stale log applied to the new file corrupts it), and the new file appears
 * by rename, whole or not at all.  Into a URL: a replication into a new or
 * empty database (replicating into one that has documents would merge, not
 * restore).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "http.h"
#include "remote.h"
#include "st_db.h"
#include "st_json.h"
#include "sync.h"

/* backup takes every option but the last, --replace. */
enum { O_TIMEOUT, O_RETRY, O_QUIET, O_JSON, O_REMOTE,
       O_REPLACE = O_REMOTE + CLI_REMOTE_N_OPTS, O_N };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: settee backup SOURCE DEST [--timeout N] [--retry] [--quiet] [--json]\n"
            "       settee restore BACKUP DEST [--replace] [--timeout N] [--retry] [--quiet]\n\n"
            "backup: SOURCE is a database file (copied consistently while it is in use)\n"
            "or a database URL (every document replicated); DEST is a new file.\n"
            "restore: BACKUP is a backup file; DEST is a database file that no process has\n"
            "open (stop the server first; --replace to overwrite it) or the URL of a new or\n"
            "empty database.\n\n");
    cli_remote_help(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* path and its -wal and -shm files removed. */
static void remove_db_files(const char *path)
{
    char p[4200];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* Whether another process has the SQLite database at path open: every
 * connection to a WAL database holds a shared lock on the "dead man switch"
 * byte of its -shm file (byte 128 in SQLite's unix VFS) while open. */
static bool in_use(const char *path)
{
    char shm[4200];
    snprintf(shm, sizeof shm, "%s-shm", path);
    int fd = open(shm, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        fd = open(shm, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 128, .l_len = 1};
    bool busy = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    close(fd);
    return busy;
}

static st_db *open_existing(const char *cmd, const char *path)
{
    st_db_options o;
    st_db_options_init(&o);
    st_db *db = NULL;
    st_error e;
    if (st_db_open(path, "backup", &o, &db, &e) != ST_OK) {
        fprintf(stderr, "settee %s: %s: %s\n", cmd, path, e.reason);
        return NULL;
    }
    return db;
}

static void said_done(bool quiet, const char *verb, const char *from, const char *to,
                      const char *path)
{
    if (quiet)
        return;
    st_db *db = open_existing(verb, path);
    st_db_info i;
    st_error e;
    if (db && st_db_info_get(db, &i, &e) == ST_OK)
        printf("%s %s to %s: %llu documents (%llu deleted), update_seq %llu\n", verb, from, to,
               (unsigned long long)i.doc_count, (unsigned long long)i.doc_del_count,
               (unsigned long long)i.update_seq);
    st_db_close(db);
}

/* A consistent copy of the database file src into the new file dst. */
static int copy_file(const char *cmd, const char *src, const char *dst)
{
    st_db *db = open_existing(cmd, src);
    if (!db)
        return 1;
    st_error e;
    int rc = 0;
    if (st_db_backup(db, dst, &e) != ST_OK) {
        fprintf(stderr, "settee %s: %s: %s\n", cmd, dst, e.reason);
        rc = 1;
    }
    st_db_close(db);
    return rc;
}

static int replicate(const char *cmd, const char *src, const char *dst, const cli_opt *o,
                     const cli_remote *remote)
{
    cli_sync_opts so = {.cmd = cmd, .source = src, .target = dst, .create_target = true,
                        .retry = o[O_RETRY].value != NULL,
                        .quiet = o[O_QUIET].value != NULL, .json = o[O_JSON].value != NULL,
                        .remote = remote};
    uint64_t v;
    if (o[O_TIMEOUT].value) {
        if (!cli_parse_u64(cmd, "--timeout", o[O_TIMEOUT].value, 1, 86400, &v))
            return 2;
        so.timeout_s = (unsigned)v;
    }
    return cli_sync_run(&so);
}

/* -1 to go on; else the exit status (help shown, or a usage error). */
static int parse(int argc, char **argv, cli_opt *o, size_t n, cli_args *a)
{
    int prc = cli_args_parse(argc, argv, o, n, 2, a);
    if (prc == 1) {
        usage(stdout);
        return 0;
    }
    if (prc == 0 && a->n_pos < 2) {
        fprintf(stderr, "settee %s: two arguments are needed (see --help)\n", argv[0]);
        prc = 2;
    }
    return prc ? 2 : -1;
}

/* o[0..n) with the remote options in place; -1 to go on (*remote read),
 * else the exit status. */
static int parse_all(int argc, char **argv, cli_opt *o, size_t n, cli_args *a,
                     cli_remote *remote)
{
    cli_remote_opts(o + O_REMOTE);
    memset(remote, 0, sizeof *remote);
    int prc = parse(argc, argv, o, n, a);
    if (prc >= 0)
        return prc;
    prc = cli_remote_read(argv[0], o + O_REMOTE, false, remote);
    return prc ? prc : -1;
}

static int backup(const cli_opt *o, const cli_args *a, const cli_remote *remote)
{
    const char *src = a->pos[0], *dst = a->pos[1];
    if (cli_is_url(dst)) {
        fprintf(stderr, "settee backup: DEST is a file (to copy into a server, replicate)\n");
        return 2;
    }
    if (exists(dst)) {
        fprintf(stderr, "settee backup: %s exists; a backup goes to a new file\n", dst);
        return 1;
    }
    int rc = cli_is_url(src) ? replicate("backup", src, dst, o, remote)
                             : copy_file("backup", src, dst);
    if (rc != 0) {
        remove_db_files(dst); /* no half backup that looks like one */
        return rc;
    }
    char *shown = cli_is_url(src) ? cli_url_display(src) : NULL;
    if (!o[O_JSON].value)
        said_done(o[O_QUIET].value != NULL, "backed up", shown ? shown : src, dst, dst);
    free(shown);
    return 0;
}

int st_cli_backup(int argc, char **argv)
{
    cli_opt o[O_N] = {
        [O_TIMEOUT] = {"--timeout", true, NULL}, [O_RETRY] = {"--retry", false, NULL},
        [O_QUIET] = {"--quiet", false, NULL},    [O_JSON] = {"--json", false, NULL},
    };
    cli_args a;
    cli_remote remote;
    int rc = parse_all(argc, argv, o, O_REPLACE, &a, &remote);
    if (rc < 0)
        rc = backup(o, &a, &remote);
    cli_remote_free(&remote);
    return rc;
}

/* Number of documents (live and deleted) in the database at url; -1 when it
 * does not exist; -2 on error (printed). */
static long long remote_docs(const char *url, const cli_remote *remote)
{
    cli_http_init();
    cli_http_client c;
    cli_http_client_init(&c, remote, url, CLI_TIMEOUT_S);
    char *u = cli_url_join(url, "", true);
    cli_http_resp r;
    long long n = -2;
    if (!u || cli_http(&c, "GET", u, NULL, 0, &r) != 0) {
        fprintf(stderr, "settee restore: %s\n", u ? r.error : "out of memory");
        if (u)
            cli_remote_hint("restore", remote, r.tls_refused, false, NULL, 0);
    } else if (r.status == 404) {
        n = -1;
    } else if (r.status != 200) {
        fprintf(stderr, "settee restore: %s%sthe server answered HTTP %ld: %s\n",
                r.step ? r.step : "", r.step ? ": " : "", r.status, r.body.data);
        cli_remote_hint("restore", remote, false, r.status == 401, &url, 1);
    } else {
        st_json_doc *doc = NULL;
        if (st_json_parse(r.body.data, r.body.len, NULL, &doc, NULL) == ST_OK) {
            const st_json *a = st_json_get(st_json_doc_root(doc), "doc_count");
            const st_json *b = st_json_get(st_json_doc_root(doc), "doc_del_count");
            if (a && b && a->type == ST_JSON_NUMBER && b->type == ST_JSON_NUMBER)
                n = strtoll(a->u.str, NULL, 10) + strtoll(b->u.str, NULL, 10);
        }
        st_json_doc_free(doc);
        if (n == -2)
            fprintf(stderr, "settee restore: the database's info is not CouchDB's\n");
    }
    if (u)
        cli_http_resp_free(&r);
    free(u);
    cli_http_client_free(&c);
    return n;
}

static int restore_file(const char *backup, const char *dst, bool replace, bool quiet)
{
    if (exists(dst) && !replace) {
        fprintf(stderr, "settee restore: %s exists (--replace overwrites it)\n", dst);
        return 1;
    }
    if (in_use(dst)) {
        fprintf(stderr,
                "settee restore: %s is open in another process (a server or an app): "
                "stop it first\n", dst);
        return 1;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.restoring", dst);
    remove_db_files(tmp);
    if (copy_file("restore", backup, tmp) != 0)
        return 1;
    /* The old database's log and shared memory go before the new file
     * takes its name: a stale log would be applied to it. */
    char side[4200];
    snprintf(side, sizeof side, "%s-wal", dst);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", dst);
    unlink(side);
    if (rename(tmp, dst) != 0) {
        perror("settee restore: rename");
        remove_db_files(tmp);
        return 1;
    }
    said_done(quiet, "restored", backup, dst, dst);
    return 0;
}

static int restore(const cli_opt *o, const cli_args *a, const cli_remote *remote)
{
    const char *backup = a->pos[0], *dst = a->pos[1];
    if (cli_is_url(backup)) {
        fprintf(stderr, "settee restore: BACKUP is a file (to copy from a server, back it up)\n");
        return 2;
    }
    if (!exists(backup)) {
        fprintf(stderr, "settee restore: %s is not a backup file\n", backup);
        return 1;
    }
    if (!cli_is_url(dst))
        return restore_file(backup, dst, o[O_REPLACE].value != NULL, o[O_QUIET].value != NULL);
    long long n = remote_docs(dst, remote);
    if (n == -2)
        return 1;
    if (n > 0) {
        fprintf(stderr,
                "settee restore: the database already holds %lld documents: restore into a new "
                "database, or stop the server and restore its file\n", n);
        return 1;
    }
    return replicate("restore", backup, dst, o, remote);
}

int st_cli_restore(int argc, char **argv)
{
    cli_opt o[O_N] = {
        [O_TIMEOUT] = {"--timeout", true, NULL}, [O_RETRY] = {"--retry", false, NULL},
        [O_QUIET] = {"--quiet", false, NULL},    [O_JSON] = {"--json", false, NULL},
        [O_REPLACE] = {"--replace", false, NULL},
    };
    cli_args a;
    cli_remote remote;
    int rc = parse_all(argc, argv, o, O_N, &a, &remote);
    if (rc < 0)
        rc = restore(o, &a, &remote);
    cli_remote_free(&remote);
    return rc;
}
