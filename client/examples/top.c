/* top.c — a live leaderboard on libsettee: a live query kept on screen.
 *
 *   top FILE                   watch: the ten best scores, kept current
 *   top FILE set NAME SCORE    write one player's score (from anywhere:
 *                              another terminal, another process)
 *
 * The watcher runs one live query, "the ten highest scores", and keeps its
 * own copy of the board by applying each change at its positions, as
 * settee.h tells an app to.  Writes by another process on the same file
 * (the second form, `settee sync`, ...) reach it within about 50 ms.  It
 * polls settee_db_notify_fd() itself (SETTEE_DISPATCH_MANUAL), so the
 * callback runs on the main thread and prints without locks.  The board
 * costs the same to keep current with ten players or a million: a write is
 * placed by the live query without running the query again.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <settee.h>

#define BOARD 10

static char board[BOARD + 1][256]; /* one over while an entry pushes the last out */
static size_t n_board;

static void take_out(size_t at)
{
    memmove(board[at], board[at + 1], (n_board - at - 1) * sizeof board[0]);
    n_board--;
}

static void put_in(size_t at, const char *json, size_t len)
{
    memmove(board[at + 1], board[at], (n_board - at) * sizeof board[0]);
    snprintf(board[at], sizeof board[at], "%.*s", (int)len, json);
    n_board++;
}

static void on_live(void *ctx, settee_db *db, const settee_live_change *ch, size_t n)
{
    (void)ctx;
    (void)db;
    for (size_t i = 0; i < n; i++) {
        switch (ch[i].op) {
        case SETTEE_LIVE_ADDED:
            put_in(ch[i].new_pos, ch[i].json, ch[i].json_len);
            break;
        case SETTEE_LIVE_CHANGED:
            take_out(ch[i].old_pos);
            put_in(ch[i].new_pos, ch[i].json, ch[i].json_len);
            break;
        case SETTEE_LIVE_REMOVED:
            take_out(ch[i].old_pos);
            break;
        }
    }
    printf("\n-- top %d (%zu change%s) --\n", BOARD, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n_board; i++)
        printf("%2zu. %s\n", i + 1, board[i]);
    fflush(stdout);
}

static int fail(const char *what, const settee_error *e)
{
    fprintf(stderr, "top: %s: %s\n", what, e->message);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 5 && strcmp(argv[2], "set") == 0)) {
        fprintf(stderr, "usage: top FILE\n       top FILE set NAME SCORE\n");
        return 2;
    }
    settee_db_options o;
    settee_db_options_init(&o);
    o.dispatch = SETTEE_DISPATCH_MANUAL;
    settee_db *db = NULL;
    settee_error e;
    if (settee_db_open(argv[1], &o, &db, &e) != SETTEE_OK)
        return fail("open", &e);
    /* Sorting needs an index on the sort field (as in CouchDB); creating
     * it again is a no-op. */
    if (settee_index_create(db, "{\"index\":{\"fields\":[\"score\"]},\"ddoc\":\"board\"}",
                            SETTEE_NUL_TERMINATED, NULL, NULL, NULL, &e) != SETTEE_OK)
        return fail("index", &e);
    if (argc == 5) {
        char id[300], *json = NULL, doc[600];
        snprintf(id, sizeof id, "player:%s", argv[3]);
        /* The current revision, if the player has one, to write over it. */
        char rev[64] = "";
        if (settee_doc_get(db, id, NULL, &json, &e) == SETTEE_OK) {
            const char *r = strstr(json, "\"_rev\":\"");
            if (r)
                snprintf(rev, sizeof rev, "%.*s", (int)strcspn(r + 8, "\""), r + 8);
            settee_free(json);
        }
        snprintf(doc, sizeof doc, "{\"_id\":\"%s\"%s%s%s,\"name\":\"%s\",\"score\":%ld}", id,
                 rev[0] ? ",\"_rev\":\"" : "", rev, rev[0] ? "\"" : "", argv[3],
                 strtol(argv[4], NULL, 10));
        settee_status rc = settee_doc_put(db, doc, SETTEE_NUL_TERMINATED, NULL, &e);
        (void)settee_db_close(db);
        return rc == SETTEE_OK ? 0 : fail("put", &e);
    }
    settee_listener *lq = NULL;
    if (settee_live_query_start(db,
                                "{\"selector\":{\"score\":{\"$gt\":null}},"
                                "\"sort\":[{\"score\":\"desc\"}],\"limit\":10,"
                                "\"fields\":[\"name\",\"score\"]}",
                                SETTEE_NUL_TERMINATED, on_live, NULL, &lq, &e) != SETTEE_OK)
        return fail("live query", &e);
    printf("watching %s; in another terminal: top %s set alice 42   (Ctrl-C quits)\n", argv[1],
           argv[1]);
    struct pollfd p = {.fd = settee_db_notify_fd(db), .events = POLLIN};
    for (;;) {
        if (poll(&p, 1, -1) < 0)
            break;
        if (settee_db_dispatch(db) != SETTEE_OK)
            break;
    }
    settee_listener_remove(lq);
    (void)settee_db_close(db);
    return 0;
}
