/* serve.c — `settee serve`: flags, the pid file, signals, the main wait.
 *
 * Why sigwait instead of signal handlers: SIGTERM/SIGINT/SIGHUP are blocked
 * in every thread (MHD's threads inherit the mask from here) and the main
 * thread takes them synchronously, so stopping and reopening the log run
 * as ordinary code, not in async-signal context.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "st_serve.h"
#ifdef SETTEE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#define NOTIFY(s) sd_notify(0, s)
#else
#define NOTIFY(s) ((void)0)
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: settee serve [options]\n"
            "\n"
            "Run the CouchDB-compatible HTTP server in the foreground until SIGTERM/SIGINT.\n"
            "\n"
            "  --data DIR            database directory (default ./data)\n"
            "  --bind ADDR           address to listen on (default 127.0.0.1)\n"
            "  --port N              TCP port (default 5984; 0 = any free port)\n"
            "  --config FILE         ini file with CouchDB-style settings\n"
            "  --admin NAME:PASSWORD server admin (repeatable); required unless the config\n"
            "                        file has an [admins] section.  The password is blanked\n"
            "                        in the process's arguments at once; prefer:\n"
            "  --admin-file FILE     NAME:PASSWORD lines (\"-\" reads them from stdin)\n"
            "  (environment)         SETTEE_ADMIN=NAME:PASSWORD, read and removed at start\n"
            "  --pid-file FILE       write the process id here\n"
            "  --log-level LEVEL     debug, info, notice, warning, error, none\n"
            "  --help                this text\n"
            "\n"
            "Settings are applied in order: defaults, --config file, then the other flags.\n"
            "HTTPS beside HTTP is set up in the config file ([ssl] enable, cert_file, key_file).\n"
            "SIGHUP reloads the configuration and reopens the log file. See docs/operations.md.\n");
}

typedef struct flag_set {
    const char *section, *key, *value;
} flag_set;

/* A server admin given outside the config file, kept (not the argv text)
 * so a reload can apply it again; after the start its value is the hash. */
typedef struct admin_arg {
    char *name, *value;
} admin_arg;

typedef struct serve_args {
    const char *config_file, *pid_file;
    flag_set sets[64];
    size_t n_sets;
    admin_arg admins[64];
    size_t n_admins;
} serve_args;

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

static void args_free(serve_args *a)
{
    for (size_t i = 0; i < a->n_admins; i++) {
        free(a->admins[i].name);
        wipe_free(a->admins[i].value);
    }
    a->n_admins = 0;
}

/* "NAME:PASSWORD" (the password may hold ':'), copied. */
static bool add_admin(serve_args *a, const char *spec, size_t n, const char *from)
{
    const char *colon = memchr(spec, ':', n);
    if (!colon || colon == spec || a->n_admins == sizeof a->admins / sizeof a->admins[0]) {
        fprintf(stderr, "settee serve: %s wants NAME:PASSWORD\n", from);
        return false;
    }
    admin_arg *x = &a->admins[a->n_admins];
    x->name = strndup(spec, (size_t)(colon - spec));
    x->value = strndup(colon + 1, n - (size_t)(colon - spec) - 1);
    if (!x->name || !x->value) {
        free(x->name);
        wipe_free(x->value);
        fprintf(stderr, "settee serve: out of memory\n");
        return false;
    }
    a->n_admins++;
    return true;
}

static bool admins_from_file(serve_args *a, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "settee serve: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    char line[4096];
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        if (n > 0 && line[0] != '#')
            ok = add_admin(a, line, n, "--admin-file");
        memset(line, 0, sizeof line);
    }
    if (f != stdin)
        fclose(f);
    return ok;
}

/* Everything the flags say; argv passwords are blanked as they are read. */
static int parse_args(int argc, char **argv, serve_args *a)
{
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        char *val = NULL;
        char name[32];
        char *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) == 0 && eq && (size_t)(eq - arg) < sizeof name) {
            memcpy(name, arg, (size_t)(eq - arg));
            name[eq - arg] = '\0';
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", arg);
            if (i + 1 < argc)
                val = argv[i + 1], i++;
        }
        if (!val) {
            fprintf(stderr, "settee serve: %s needs a value\n", name);
            usage(stderr);
            return 2;
        }
        if (a->n_sets == sizeof a->sets / sizeof a->sets[0]) {
            fprintf(stderr, "settee serve: too many options\n");
            return 2;
        }
        if (strcmp(name, "--config") == 0)
            a->config_file = val;
        else if (strcmp(name, "--pid-file") == 0)
            a->pid_file = val;
        else if (strcmp(name, "--data") == 0)
            a->sets[a->n_sets++] = (flag_set){"couchdb", "database_dir", val};
        else if (strcmp(name, "--bind") == 0)
            a->sets[a->n_sets++] = (flag_set){"chttpd", "bind_address", val};
        else if (strcmp(name, "--port") == 0)
            a->sets[a->n_sets++] = (flag_set){"chttpd", "port", val};
        else if (strcmp(name, "--log-level") == 0)
            a->sets[a->n_sets++] = (flag_set){"log", "level", val};
        else if (strcmp(name, "--admin") == 0) {
            bool ok = add_admin(a, val, strlen(val), "--admin");
            char *colon = strchr(val, ':');
            if (colon) /* out of /proc/PID/cmdline */
                memset(colon + 1, 'x', strlen(colon + 1));
            if (!ok)
                return 2;
        } else if (strcmp(name, "--admin-file") == 0) {
            if (!admins_from_file(a, val))
                return 2;
        } else {
            fprintf(stderr, "settee serve: unknown option %s\n", name);
            usage(stderr);
            return 2;
        }
    }
    const char *env = getenv("SETTEE_ADMIN");
    if (env && *env) {
        bool ok = add_admin(a, env, strlen(env), "SETTEE_ADMIN");
        memset((char *)env, 0, strlen(env));
        unsetenv("SETTEE_ADMIN");
        if (!ok)
            return 2;
    }
    return -1;
}

/* Defaults, the config file, then the flags: at start and on SIGHUP. */
static st_config *build_config(const serve_args *a)
{
    st_error e;
    st_config *c = st_config_new();
    if (!c) {
        fprintf(stderr, "settee serve: out of memory\n");
        return NULL;
    }
    if (a->config_file && st_config_load(c, a->config_file, &e) != ST_OK)
        goto bad;
    for (size_t i = 0; i < a->n_sets; i++)
        if (st_config_set(c, a->sets[i].section, a->sets[i].key, a->sets[i].value, &e) != ST_OK)
            goto bad;
    for (size_t i = 0; i < a->n_admins; i++)
        if (st_config_set(c, "admins", a->admins[i].name, a->admins[i].value, &e) != ST_OK)
            goto bad;
    return c;
bad:
    fprintf(stderr, "settee serve: %s\n", e.reason);
    st_log(ST_LOG_ERROR, "configuration: %s", e.reason);
    st_config_free(c);
    return NULL;
}

int st_serve_main(int argc, char **argv)
{
    serve_args args;
    memset(&args, 0, sizeof args);
    int rc = parse_args(argc, argv, &args);
    if (rc >= 0) {
        args_free(&args);
        return rc;
    }
    rc = 1;
    st_server *srv = NULL;
    st_error e;
    bool pid_written = false;
    const char *pid_file = args.pid_file;
    st_config *c = build_config(&args);
    if (!c)
        goto out;

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
        fprintf(stderr, "settee serve: cannot block signals\n");
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);

    if (st_server_start(c, &srv, &e) != ST_OK) {
        fprintf(stderr, "settee serve: %s\n", e.reason);
        goto out;
    }
    /* From now on only the hashes are kept (a reload applies them again). */
    for (size_t i = 0; i < args.n_admins; i++) {
        char *h = st_server_admin_hash(srv, args.admins[i].name);
        if (h) {
            wipe_free(args.admins[i].value);
            args.admins[i].value = h;
        }
    }
    if (pid_file) {
        FILE *f = fopen(pid_file, "w");
        if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
            fprintf(stderr, "settee serve: cannot write pid file %s: %s\n", pid_file,
                    strerror(errno));
            goto out;
        }
        pid_written = true;
    }
    /* Tests and scripts read this line to learn an ephemeral port. */
    printf("settee listening on http://%s:%u/\n", c->bind_address, st_server_port(srv));
    if (st_server_tls_port(srv))
        printf("settee listening on https://%s:%u/\n",
               c->ssl_bind_address ? c->ssl_bind_address : c->bind_address,
               st_server_tls_port(srv));
    fflush(stdout);
    NOTIFY("READY=1");

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            st_log(ST_LOG_NOTICE, "SIGHUP: reloading the configuration, reopening the log");
            st_server_reopen_log();
            st_config *next = build_config(&args);
            if (next && st_server_reload(srv, next, &e) != ST_OK)
                st_log(ST_LOG_ERROR, "reload refused, the old configuration stays: %s", e.reason);
            st_config_free(next);
            continue;
        }
        st_log(ST_LOG_NOTICE, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        NOTIFY("STOPPING=1");
        break;
    }
    rc = 0;
out:
    st_server_stop(srv);
    if (pid_written)
        unlink(pid_file);
    args_free(&args);
    st_config_free(c);
    st_log_close();
    return rc;
}
