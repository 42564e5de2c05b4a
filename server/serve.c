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
            "                        file has an [admins] section\n"
            "  --pid-file FILE       write the process id here\n"
            "  --log-level LEVEL     debug, info, notice, warning, error, none\n"
            "  --help                this text\n"
            "\n"
            "Settings are applied in order: defaults, --config file, then the other flags.\n"
            "HTTPS beside HTTP is set up in the config file ([ssl] enable, cert_file, key_file).\n"
            "SIGHUP reopens the log file ([log] file). See docs/operations.md.\n");
}

typedef struct flag_set {
    const char *section, *key, *value;
} flag_set;

int st_serve_main(int argc, char **argv)
{
    const char *config_file = NULL, *pid_file = NULL;
    flag_set sets[64];
    size_t n_sets = 0;
    int rc = 1;
    st_config *c = NULL;
    st_server *srv = NULL;
    st_error e;
    bool pid_written = false;
    char *admin_copy = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        const char *val = NULL;
        char name[32];
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 < argc)
                val = argv[i + 1], i++;
        }
        if (!val) {
            fprintf(stderr, "settee serve: %s needs a value\n", name);
            usage(stderr);
            return 2;
        }
        if (n_sets == sizeof sets / sizeof sets[0]) {
            fprintf(stderr, "settee serve: too many options\n");
            return 2;
        }
        if (strcmp(name, "--config") == 0)
            config_file = val;
        else if (strcmp(name, "--pid-file") == 0)
            pid_file = val;
        else if (strcmp(name, "--data") == 0)
            sets[n_sets++] = (flag_set){"couchdb", "database_dir", val};
        else if (strcmp(name, "--bind") == 0)
            sets[n_sets++] = (flag_set){"chttpd", "bind_address", val};
        else if (strcmp(name, "--port") == 0)
            sets[n_sets++] = (flag_set){"chttpd", "port", val};
        else if (strcmp(name, "--log-level") == 0)
            sets[n_sets++] = (flag_set){"log", "level", val};
        else if (strcmp(name, "--admin") == 0)
            sets[n_sets++] = (flag_set){"admins", NULL, val};
        else {
            fprintf(stderr, "settee serve: unknown option %s\n", name);
            usage(stderr);
            return 2;
        }
    }

    c = st_config_new();
    if (!c) {
        fprintf(stderr, "settee serve: out of memory\n");
        return 1;
    }
    if (config_file && st_config_load(c, config_file, &e) != ST_OK) {
        fprintf(stderr, "settee serve: %s\n", e.reason);
        goto out;
    }
    for (size_t i = 0; i < n_sets; i++) {
        st_status s;
        if (!sets[i].key) { /* --admin NAME:PASSWORD */
            free(admin_copy);
            admin_copy = strdup(sets[i].value);
            char *colon = admin_copy ? strchr(admin_copy, ':') : NULL;
            if (!colon || colon == admin_copy) {
                fprintf(stderr, "settee serve: --admin wants NAME:PASSWORD\n");
                goto out;
            }
            *colon = '\0';
            s = st_config_set(c, "admins", admin_copy, colon + 1, &e);
            memset(colon + 1, 0, strlen(colon + 1));
        } else {
            s = st_config_set(c, sets[i].section, sets[i].key, sets[i].value, &e);
        }
        if (s != ST_OK) {
            fprintf(stderr, "settee serve: %s\n", e.reason);
            goto out;
        }
    }

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
            st_log(ST_LOG_NOTICE, "SIGHUP: reopening the log");
            st_server_reopen_log();
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
    free(admin_copy);
    st_config_free(c);
    st_log_close();
    return rc;
}
