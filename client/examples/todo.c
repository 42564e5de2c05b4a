/* todo.c — a terminal to-do list on libsettee that syncs live.
 *
 *   todo FILE URL [USER PASSWORD]
 *
 * Everything is stored in the local database FILE, so the list works with
 * or without the server; a continuous two-way sync with URL runs in the
 * background.  Changes arriving from other devices are printed as they land
 * (a change listener), and conflicting offline edits of the same item are
 * settled by the newest "updated_at" (a resolver that wraps the built-in
 * settee_resolve_newest to say what it did).
 *
 * It shows the "own run loop" style: the db is opened with
 * SETTEE_DISPATCH_MANUAL, and one poll() waits on the keyboard and on
 * settee_db_notify_fd(); when the latter is readable, settee_db_dispatch()
 * runs the callbacks right here, on the main thread, so they can print
 * without locks.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <settee.h>

static settee_db *db;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ the list */

#define MAX_ITEMS 256

typedef struct item {
    char id[64];
    char rev[64];
    char title[256];
    int done;
} item;

static item items[MAX_ITEMS];
static size_t n_items;

/* Crude field extraction from the document JSON via settee_doc_get_field. */
static void field_string(const char *id, const char *field, char *out, size_t cap)
{
    char *json = NULL;
    out[0] = '\0';
    if (settee_doc_get_field(db, id, field, &json, NULL) == SETTEE_OK && json[0] == '"') {
        size_t len = strlen(json);
        snprintf(out, cap, "%.*s", (int)(len >= 2 ? len - 2 : 0), json + 1);
    }
    settee_free(json);
}

static int collect(void *ctx, const settee_doc_row *row)
{
    if (n_items == MAX_ITEMS)
        return 1;
    item *it = &items[n_items++];
    snprintf(it->id, sizeof it->id, "%s", row->id);
    snprintf(it->rev, sizeof it->rev, "%s", row->rev);
    field_string(row->id, "title", it->title, sizeof it->title);
    char *done = NULL;
    it->done = settee_doc_get_field(db, row->id, "done", &done, NULL) == SETTEE_OK &&
               strcmp(done, "true") == 0;
    settee_free(done);
    return 0;
}

static void list(void)
{
    n_items = 0;
    settee_error e;
    if (settee_all_docs(db, NULL, collect, NULL, &e) != SETTEE_OK) {
        printf("cannot list: %s\n", e.message);
        return;
    }
    if (n_items == 0)
        printf("  (nothing to do)\n");
    for (size_t i = 0; i < n_items; i++)
        printf("  %2zu. [%c] %s\n", i + 1, items[i].done ? 'x' : ' ', items[i].title);
}

/* Write title/done for item (or a new one when it is NULL). */
static void save(const item *it, const char *title, int done)
{
    char *t = NULL;
    /* JSON-escape the title the lazy way: only quotes and backslashes. */
    size_t len = strlen(title);
    t = malloc(2 * len + 1);
    if (!t)
        return;
    char *p = t;
    for (size_t i = 0; i < len; i++) {
        if (title[i] == '"' || title[i] == '\\')
            *p++ = '\\';
        *p++ = (char)((unsigned char)title[i] < 0x20 ? ' ' : title[i]);
    }
    *p = '\0';
    char json[1024];
    settee_error e;
    settee_status rc;
    if (it) {
        snprintf(json, sizeof json,
                 "{\"_id\":\"%s\",\"_rev\":\"%s\",\"title\":\"%s\",\"done\":%s,\"updated_at\":%lld}",
                 it->id, it->rev, t, done ? "true" : "false", now_ms());
        rc = settee_doc_put(db, json, SETTEE_NUL_TERMINATED, NULL, &e);
    } else {
        snprintf(json, sizeof json, "{\"title\":\"%s\",\"done\":false,\"updated_at\":%lld}", t,
                 now_ms());
        rc = settee_doc_post(db, json, SETTEE_NUL_TERMINATED, NULL, NULL, &e);
    }
    free(t);
    if (rc != SETTEE_OK)
        printf("not saved: %s (%s)\n", e.message, settee_status_name(rc));
}

static item *nth(const char *arg)
{
    long k = arg ? strtol(arg, NULL, 10) : 0;
    if (k < 1 || (size_t)k > n_items) {
        printf("no item %s (try `ls`)\n", arg ? arg : "");
        return NULL;
    }
    return &items[k - 1];
}

/* ------------------------------------------------------------ callbacks */

static void on_change(void *ctx, settee_db *d, const settee_change *ch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char title[256];
        field_string(ch[i].id, "title", title, sizeof title);
        printf("\n  * %s: %s\n", ch[i].deleted ? "removed" : "changed",
               ch[i].deleted ? ch[i].id : title);
    }
    list();
    printf("> ");
    fflush(stdout);
}

static void on_status(void *ctx, settee_sync *s, const settee_sync_status *st)
{
    static settee_sync_state last = (settee_sync_state)-1;
    if (st->state == last)
        return;
    last = st->state;
    /* last keeps the most recent error even after recovery: show it only
     * while it matters. */
    int show = st->last.code != SETTEE_OK &&
               (st->state == SETTEE_SYNC_OFFLINE || st->state == SETTEE_SYNC_STOPPED);
    printf("\n  [sync %s; pushed %llu, pulled %llu%s%s]\n> ", settee_sync_state_name(st->state),
           (unsigned long long)st->docs_pushed, (unsigned long long)st->docs_pulled,
           show ? "; " : "", show ? st->last.message : "");
    fflush(stdout);
}

/* The built-in "newest updated_at wins", plus a line saying what happened. */
static settee_status resolve(void *ctx, settee_db *d, const char *id, const settee_leaf *leaves,
                             size_t n)
{
    settee_status rc = settee_resolve_newest(ctx, d, id, leaves, n);
    char title[256];
    field_string(id, "title", title, sizeof title);
    printf("\n  ! conflict on \"%s\" (%zu versions): kept the newest -> %s\n> ", title, n,
           rc == SETTEE_OK ? "resolved" : settee_status_name(rc));
    fflush(stdout);
    return rc;
}

/* ------------------------------------------------------------ commands */

static void help(void)
{
    printf("commands: ls | add TEXT | done N | undo N | edit N TEXT | rm N | conflicts | quit\n");
}

static int command(char *line)
{
    char *cmd = strtok(line, " \t");
    char *arg = strtok(NULL, "");
    item *it;
    if (!cmd)
        return 0;
    if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "q") == 0)
        return 1;
    if (strcmp(cmd, "ls") == 0) {
        list();
    } else if (strcmp(cmd, "add") == 0 && arg) {
        save(NULL, arg, 0);
    } else if ((strcmp(cmd, "done") == 0 || strcmp(cmd, "undo") == 0) && (it = nth(arg))) {
        save(it, it->title, cmd[0] == 'd');
    } else if (strcmp(cmd, "edit") == 0 && arg) {
        char *text = strchr(arg, ' ');
        if (text && (it = nth(arg)))
            save(it, text + 1, it->done);
    } else if (strcmp(cmd, "rm") == 0 && (it = nth(arg))) {
        settee_error e;
        if (settee_doc_delete(db, it->id, it->rev, NULL, &e) != SETTEE_OK)
            printf("not removed: %s\n", e.message);
    } else if (strcmp(cmd, "conflicts") == 0) {
        settee_conflict *c = NULL;
        size_t n = 0;
        if (settee_conflicts_list(db, &c, &n, NULL) == SETTEE_OK) {
            printf("  %zu conflicted item(s)\n", n);
            for (size_t i = 0; i < n; i++)
                printf("  %s: %zu versions, winner %s\n", c[i].id, c[i].n_revs, c[i].revs[0]);
        }
        settee_free(c);
    } else {
        help();
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s FILE URL [USER PASSWORD]\n"
                        "  e.g. %s alice.settee http://127.0.0.1:5984/todos admin secret\n",
                argv[0], argv[0]);
        return 2;
    }
    if (settee_version_number() != SETTEE_VERSION_NUMBER)
        fprintf(stderr, "warning: built with settee %s, running %s\n", SETTEE_VERSION_STRING,
                settee_version());
    settee_db_options o;
    settee_db_options_init(&o);
    o.dispatch = SETTEE_DISPATCH_MANUAL; /* our poll() loop runs the callbacks */
    settee_error e;
    if (settee_db_open(argv[1], &o, &db, &e) != SETTEE_OK) {
        fprintf(stderr, "cannot open %s: %s\n", argv[1], e.message);
        return 1;
    }
    settee_listener *l = NULL;
    settee_sync *s = NULL;
    settee_sync_config c;
    settee_sync_config_init(&c); /* continuous, push and pull */
    c.url = argv[2];
    c.user = argc == 5 ? argv[3] : NULL;
    c.password = argc == 5 ? argv[4] : NULL;
    c.on_status = on_status;
    c.resolver = resolve;
    c.resolver_ctx = (void *)"updated_at";
    c.retry_max_ms = 2000; /* notice a returning server within ~2 s */
    int rc = 1;
    if (settee_listener_add(db, on_change, NULL, &l, &e) != SETTEE_OK ||
        settee_sync_start(db, &c, &s, &e) != SETTEE_OK) {
        fprintf(stderr, "cannot start: %s\n", e.message);
        goto out;
    }
    help();
    list();
    printf("> ");
    fflush(stdout);

    char buf[1024];
    size_t used = 0;
    struct pollfd p[2] = {{.fd = 0, .events = POLLIN},
                          {.fd = settee_db_notify_fd(db), .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents & POLLIN)
            (void)settee_db_dispatch(db);
        if (!(p[0].revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t r = read(0, buf + used, sizeof buf - 1 - used);
        if (r <= 0)
            break; /* end of input */
        used += (size_t)r;
        buf[used] = '\0';
        char *nl;
        int quit = 0;
        while (!quit && (nl = strchr(buf, '\n'))) {
            *nl = '\0';
            quit = command(buf);
            memmove(buf, nl + 1, used - (size_t)(nl + 1 - buf) + 1);
            used -= (size_t)(nl + 1 - buf);
            if (!quit) { /* local writes come back through the listener, which lists */
                printf("> ");
                fflush(stdout);
            }
        }
        if (quit)
            break;
        if (used == sizeof buf - 1)
            used = 0; /* an absurdly long line: drop it */
    }
    rc = 0;
out:
    settee_sync_free(s);
    settee_listener_remove(l);
    if (settee_db_close(db) != SETTEE_OK)
        rc = 1;
    return rc;
}
