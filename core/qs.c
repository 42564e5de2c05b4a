/* qs.c — the pool of query-server processes: languages, spawning, checkout
 * and checkin, killing and reaping.
 *
 * Why a spawner thread: PR_SET_PDEATHSIG, which lets settee-js die with us,
 * fires when the *thread* that created the child exits, not the process.
 * Callers come from short-lived threads too (an HTTP worker, a view build),
 * and a query server must not be killed under another thread because its
 * creator finished.  So every child is created by one thread that lives as
 * long as the pool, and the signal comes exactly when the pool (or the whole
 * process) goes away.
 *
 * Why a socket pair and not two pipes: a write to a dead child's pipe raises
 * SIGPIPE, which kills the whole settee process unless someone changes the
 * process-wide disposition; send() with MSG_NOSIGNAL on a socket fails with
 * EPIPE instead.  The child sees one bidirectional descriptor as its stdin
 * and stdout; stderr is inherited, so a crashing server's message reaches
 * settee's log.
 *
 * Locking: qs->mu guards the language list and every process's busy flag
 * and list membership; a checked-out process's own fields belong to its
 * caller.  Killing and reaping happen outside the lock.
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np (glibc 2.34) */

#include "qs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef ST_QS_DEFAULT_JS
#define ST_QS_DEFAULT_JS "settee-js"
#endif

extern char **environ;

struct qs_lang {
    qs_lang *next;
    char *name;
    char **argv;           /* NULL-terminated command, or NULL when removed */
    unsigned gen;          /* bumped when argv changes: older processes retire */
    st_qs_proc *procs;     /* live processes, idle or busy */
    unsigned nprocs;       /* live processes plus those being started */
    pthread_cond_t freed;  /* a process became idle or a slot opened */
};

typedef struct spawn_job {
    struct spawn_job *next;
    char **argv;
    pid_t pid;
    int fd;
    int rc;                /* errno of the failure, 0 on success */
    bool done;
} spawn_job;

struct st_qs {
    st_qs_options opt;
    pthread_mutex_t mu;
    qs_lang *langs;
    unsigned busy;         /* processes checked out, all languages */
    pthread_t spawner;
    pthread_mutex_t spawn_mu;
    pthread_cond_t spawn_cv;
    spawn_job *jobs;
    bool stopping;
};

void st_qs_options_init(st_qs_options *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = 5000;
    o->max_procs = 4;
    o->max_line = (size_t)16 << 20;
    o->max_ddocs = 64;
}

const st_qs_options *st_qs_proc_options(const st_qs_proc *p)
{
    return &p->qs->opt;
}

const char *st_qs_proc_language(const st_qs_proc *p)
{
    return p->lang->name;
}

/* ---- command lines ----------------------------------------------------- */

static void argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (char **a = argv; *a != NULL; a++)
        free(*a);
    free(argv);
}

/* Split on blanks, as CouchDB's [query_servers] values are; no quoting. */
static st_status argv_split(const char *cmdline, char ***out, st_error *err)
{
    size_t cap = 4, n = 0;
    char **argv = calloc(cap, sizeof *argv);
    const char *p = cmdline;

    if (argv == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    for (;;) {
        const char *s;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        s = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        if (n + 2 > cap) {
            char **na = realloc(argv, 2 * cap * sizeof *argv);
            if (na == NULL)
                goto nomem;
            argv = na;
            cap *= 2;
        }
        argv[n] = strndup(s, (size_t)(p - s));
        if (argv[n] == NULL)
            goto nomem;
        argv[++n] = NULL;
    }
    if (n == 0) {
        argv_free(argv);
        return st_fail(err, ST_E_BAD_REQUEST, "empty query server command");
    }
    *out = argv;
    return ST_OK;
nomem:
    argv_free(argv);
    return st_fail(err, ST_E_NOMEM, "out of memory");
}

static char **argv_dup(char *const *argv)
{
    size_t n = 0;
    char **copy;

    while (argv[n] != NULL)
        n++;
    copy = calloc(n + 1, sizeof *copy);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        copy[i] = strdup(argv[i]);
        if (copy[i] == NULL) {
            argv_free(copy);
            return NULL;
        }
    }
    return copy;
}

/* ---- spawning (on the spawner thread) ---------------------------------- */

/* Keep descriptors 0-2 free for the child's dup2 targets. */
static int above_stdio(int fd)
{
    int moved;

    if (fd > 2)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

static int spawn_child(char **argv, pid_t *out_pid, int *out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int sv[2], rc;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return errno;
    sv[0] = above_stdio(sv[0]);
    sv[1] = above_stdio(sv[1]);
    if (sv[0] < 0 || sv[1] < 0) {
        rc = errno;
        if (sv[0] >= 0)
            close(sv[0]);
        if (sv[1] >= 0)
            close(sv[1]);
        return rc;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, sv[1], STDOUT_FILENO);
    /* Descriptors other code opened without O_CLOEXEC stay ours. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    /* Its own process group, so that killing it also kills anything it
     * started (a server that forks helpers, a script's children). */
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return rc;
    }
    if (fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) != 0) {
        rc = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(sv[0]);
        return rc;
    }
    *out_pid = pid;
    *out_fd = sv[0];
    return 0;
}

static void *spawner_main(void *arg)
{
    st_qs *qs = arg;

    pthread_mutex_lock(&qs->spawn_mu);
    for (;;) {
        spawn_job *job;
        while (qs->jobs == NULL && !qs->stopping)
            pthread_cond_wait(&qs->spawn_cv, &qs->spawn_mu);
        if (qs->jobs == NULL)
            break;
        job = qs->jobs;
        qs->jobs = job->next;
        pthread_mutex_unlock(&qs->spawn_mu);
        job->rc = spawn_child(job->argv, &job->pid, &job->fd);
        pthread_mutex_lock(&qs->spawn_mu);
        job->done = true;
        pthread_cond_broadcast(&qs->spawn_cv);
    }
    pthread_mutex_unlock(&qs->spawn_mu);
    return NULL;
}

/* Have the spawner start argv; waits for it. */
static int spawn_via_thread(st_qs *qs, char **argv, pid_t *pid, int *fd)
{
    spawn_job job = {NULL, argv, 0, -1, 0, false};

    pthread_mutex_lock(&qs->spawn_mu);
    job.next = qs->jobs;
    qs->jobs = &job;
    pthread_cond_broadcast(&qs->spawn_cv);
    while (!job.done)
        pthread_cond_wait(&qs->spawn_cv, &qs->spawn_mu);
    pthread_mutex_unlock(&qs->spawn_mu);
    *pid = job.pid;
    *fd = job.fd;
    return job.rc;
}

/* ---- processes --------------------------------------------------------- */

static void proc_free(st_qs_proc *p)
{
    if (p == NULL)
        return;
    if (p->fd >= 0)
        close(p->fd);
    st_qs_reader_free(&p->rd);
    st_buf_free(&p->wbuf);
    st_json_pick_free(p->pick);
    free(p->funs_key);
    for (size_t i = 0; i < p->nddocs; i++) {
        free(p->ddocs[i].id);
        free(p->ddocs[i].key);
    }
    free(p->ddocs);
    free(p);
}

static st_status proc_start(st_qs *qs, qs_lang *lang, char **argv, unsigned gen,
                            st_qs_proc **out, st_error *err)
{
    st_qs_proc *p = calloc(1, sizeof *p);
    int rc;

    if (p == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    p->qs = qs;
    p->lang = lang;
    p->gen = gen;
    p->fd = -1;
    p->exit_status = -1;
    st_qs_reader_init(&p->rd, qs->opt.max_line);
    st_buf_init(&p->wbuf, 0);
    p->pick = st_json_pick_new(); /* NULL is fine: answers take json.c's parser */
    rc = spawn_via_thread(qs, argv, &p->pid, &p->fd);
    if (rc != 0) {
        proc_free(p);
        return st_fail(err, ST_E_OS_PROCESS, "cannot start query server %s: %s", argv[0],
                       strerror(rc));
    }
    *out = p;
    return ST_OK;
}

/* Only while the leader is unreaped: until then its pid cannot name
 * another process group. */
void st_qs_proc_kill(st_qs_proc *p)
{
    p->broken = true;
    if (p->pid > 0)
        kill(-p->pid, SIGKILL);
}

static void describe_exit(int status, char *why, size_t n)
{
    if (WIFEXITED(status))
        snprintf(why, n, "OS process exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(why, n, "OS process was killed by signal %d", WTERMSIG(status));
    else
        snprintf(why, n, "OS process ended");
}

void st_qs_proc_reap(st_qs_proc *p, unsigned wait_ms, char *why, size_t n)
{
    struct timespec step = {0, 1000000};
    siginfo_t info;
    int status = 0;
    pid_t got;

    if (p->pid <= 0) {
        if (p->exit_status >= 0)
            describe_exit(p->exit_status, why, n);
        else
            snprintf(why, n, "OS process ended");
        return;
    }
    /* Give a process that is exiting on its own the chance to say how;
     * WNOWAIT leaves it a zombie, so its pid still names its group. */
    for (unsigned waited = 0; waited < wait_ms; waited++) {
        memset(&info, 0, sizeof info);
        if (waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            info.si_pid == p->pid)
            break;
        nanosleep(&step, NULL);
    }
    /* Whatever it started goes too. */
    kill(-p->pid, SIGKILL);
    do
        got = waitpid(p->pid, &status, 0);
    while (got < 0 && errno == EINTR);
    if (got == p->pid) {
        p->exit_status = status;
        describe_exit(status, why, n);
    } else {
        /* ECHILD: someone else reaped it (a SIGCHLD handler elsewhere). */
        p->exit_status = 0;
        snprintf(why, n, "OS process ended");
    }
    p->pid = 0;
}

/* Nothing unasked for waiting and the process still there. */
static bool proc_idle_ok(st_qs_proc *p)
{
    struct pollfd pfd = {p->fd, POLLIN, 0};

    if (p->broken || !st_qs_reader_empty(&p->rd))
        return false;
    return poll(&pfd, 1, 0) == 0;
}

const char *st_qs_proc_key(const st_qs_proc *p)
{
    return p->funs_key;
}

st_status st_qs_proc_set_key(st_qs_proc *p, const char *key, st_error *err)
{
    char *copy = NULL;

    if (key != NULL && (copy = strdup(key)) == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    free(p->funs_key);
    p->funs_key = copy;
    return ST_OK;
}

static bool proc_has_key(const st_qs_proc *p, const char *key)
{
    if (key == NULL)
        return false;
    if (p->funs_key != NULL && strcmp(p->funs_key, key) == 0)
        return true;
    for (size_t i = 0; i < p->nddocs; i++)
        if (strcmp(p->ddocs[i].key, key) == 0)
            return true;
    return false;
}

/* ---- the pool ----------------------------------------------------------- */

/* Condition variables wait on CLOCK_MONOTONIC: a clock step must not cut
 * a caller's wait short or stretch it. */
static void init_cond(pthread_cond_t *c)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

static qs_lang *find_lang(st_qs *qs, const char *name)
{
    for (qs_lang *l = qs->langs; l != NULL; l = l->next)
        if (strcmp(l->name, name) == 0)
            return l;
    return NULL;
}

static void unlink_proc(qs_lang *lang, st_qs_proc *p)
{
    for (st_qs_proc **pp = &lang->procs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    lang->nprocs--;
}

/* Kill, reap and free a process already unlinked from its language. */
static void proc_end(st_qs_proc *p)
{
    char why[96];

    st_qs_proc_kill(p);
    st_qs_proc_reap(p, 0, why, sizeof why);
    proc_free(p);
}

st_status st_qs_set_language(st_qs *qs, const char *lang, const char *cmdline, st_error *err)
{
    char **argv = NULL;
    st_qs_proc *idle = NULL;
    qs_lang *l;
    st_status rc;

    if (qs == NULL || lang == NULL)
        return st_fail(err, ST_E_MISUSE, "NULL pool or language");
    if (cmdline != NULL && (rc = argv_split(cmdline, &argv, err)) != ST_OK)
        return rc;
    pthread_mutex_lock(&qs->mu);
    l = find_lang(qs, lang);
    if (l == NULL && argv != NULL) {
        l = calloc(1, sizeof *l);
        if (l == NULL || (l->name = strdup(lang)) == NULL) {
            free(l);
            pthread_mutex_unlock(&qs->mu);
            argv_free(argv);
            return st_fail(err, ST_E_NOMEM, "out of memory");
        }
        init_cond(&l->freed);
        l->next = qs->langs;
        qs->langs = l;
    }
    if (l != NULL) {
        argv_free(l->argv);
        l->argv = argv;
        l->gen++;
        /* Idle processes of the old command go now, busy ones at checkin. */
        for (st_qs_proc **pp = &l->procs; *pp != NULL;) {
            st_qs_proc *p = *pp;
            if (p->busy) {
                pp = &p->next;
                continue;
            }
            *pp = p->next;
            l->nprocs--;
            p->next = idle;
            idle = p;
        }
        pthread_cond_broadcast(&l->freed);
    }
    pthread_mutex_unlock(&qs->mu);
    while (idle != NULL) {
        st_qs_proc *next = idle->next;
        proc_end(idle);
        idle = next;
    }
    return ST_OK;
}

st_status st_qs_new(const st_qs_options *o, st_qs **out_qs, st_error *err)
{
    st_qs *qs = calloc(1, sizeof *qs);
    st_status rc;

    if (qs == NULL)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_qs_options_init(&qs->opt);
    if (o != NULL) {
        qs->opt.log = o->log;
        qs->opt.log_ctx = o->log_ctx;
        if (o->timeout_ms)
            qs->opt.timeout_ms = o->timeout_ms;
        if (o->max_procs)
            qs->opt.max_procs = o->max_procs;
        if (o->max_line)
            qs->opt.max_line = o->max_line;
        if (o->max_ddocs)
            qs->opt.max_ddocs = o->max_ddocs;
    }
    pthread_mutex_init(&qs->mu, NULL);
    pthread_mutex_init(&qs->spawn_mu, NULL);
    pthread_cond_init(&qs->spawn_cv, NULL);
    if (pthread_create(&qs->spawner, NULL, spawner_main, qs) != 0) {
        pthread_cond_destroy(&qs->spawn_cv);
        pthread_mutex_destroy(&qs->spawn_mu);
        pthread_mutex_destroy(&qs->mu);
        free(qs);
        return st_fail(err, ST_E_NOMEM, "cannot start the spawner thread");
    }
    rc = st_qs_set_language(qs, "javascript", ST_QS_DEFAULT_JS, err);
    if (rc != ST_OK) {
        st_qs_free(qs);
        return rc;
    }
    *out_qs = qs;
    return ST_OK;
}

st_status st_qs_free(st_qs *qs)
{
    if (qs == NULL)
        return ST_OK;
    pthread_mutex_lock(&qs->mu);
    if (qs->busy > 0) {
        pthread_mutex_unlock(&qs->mu);
        return ST_E_BUSY;
    }
    pthread_mutex_unlock(&qs->mu);
    while (qs->langs != NULL) {
        qs_lang *l = qs->langs;
        qs->langs = l->next;
        while (l->procs != NULL) {
            st_qs_proc *p = l->procs;
            l->procs = p->next;
            proc_end(p);
        }
        argv_free(l->argv);
        pthread_cond_destroy(&l->freed);
        free(l->name);
        free(l);
    }
    pthread_mutex_lock(&qs->spawn_mu);
    qs->stopping = true;
    pthread_cond_broadcast(&qs->spawn_cv);
    pthread_mutex_unlock(&qs->spawn_mu);
    pthread_join(qs->spawner, NULL);
    pthread_cond_destroy(&qs->spawn_cv);
    pthread_mutex_destroy(&qs->spawn_mu);
    pthread_mutex_destroy(&qs->mu);
    free(qs);
    return ST_OK;
}

/* An idle, current process of l; one with `key` loaded if there is one. */
static st_qs_proc *pick_idle(qs_lang *l, const char *key)
{
    st_qs_proc *any = NULL;

    for (st_qs_proc *p = l->procs; p != NULL; p = p->next) {
        if (p->busy || p->broken || p->gen != l->gen)
            continue;
        if (proc_has_key(p, key))
            return p;
        if (any == NULL)
            any = p;
    }
    return any;
}

static struct timespec deadline_in(unsigned ms)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Start a process for l in the slot the caller reserved (qs->mu held on
 * entry and on return, released while spawning). */
static st_status start_in_slot(st_qs *qs, qs_lang *l, st_qs_proc **out, st_error *err)
{
    char **argv = argv_dup(l->argv);
    unsigned gen = l->gen;
    st_qs_proc *p = NULL;
    st_status rc;

    pthread_mutex_unlock(&qs->mu);
    rc = argv == NULL ? st_fail(err, ST_E_NOMEM, "out of memory")
                      : proc_start(qs, l, argv, gen, &p, err);
    argv_free(argv);
    pthread_mutex_lock(&qs->mu);
    if (rc != ST_OK) {
        l->nprocs--;
        pthread_cond_broadcast(&l->freed);
        return rc;
    }
    p->busy = true;
    p->next = l->procs;
    l->procs = p;
    qs->busy++;
    *out = p;
    return ST_OK;
}

static st_status checkout(st_qs *qs, const char *lang, const char *key, st_qs_proc **out_proc,
                          bool wait, st_error *err);

st_status st_qs_checkout(st_qs *qs, const char *lang, const char *key, st_qs_proc **out_proc,
                         st_error *err)
{
    return checkout(qs, lang, key, out_proc, true, err);
}

st_status st_qs_try_checkout(st_qs *qs, const char *lang, const char *key,
                             st_qs_proc **out_proc, st_error *err)
{
    return checkout(qs, lang, key, out_proc, false, err);
}

static st_status checkout(st_qs *qs, const char *lang, const char *key, st_qs_proc **out_proc,
                          bool wait, st_error *err)
{
    struct timespec until;
    st_status rc;

    if (qs == NULL || lang == NULL || out_proc == NULL)
        return st_fail(err, ST_E_MISUSE, "NULL pool, language or result");
    until = deadline_in(qs->opt.timeout_ms);
    pthread_mutex_lock(&qs->mu);
    for (;;) {
        qs_lang *l = find_lang(qs, lang);
        st_qs_proc *p;

        if (l == NULL || l->argv == NULL) {
            pthread_mutex_unlock(&qs->mu);
            return st_fail(err, ST_E_UNKNOWN_LANGUAGE, "%s", lang);
        }
        p = pick_idle(l, key);
        if (p != NULL) {
            p->busy = true;
            qs->busy++;
            pthread_mutex_unlock(&qs->mu);
            if (proc_idle_ok(p)) {
                *out_proc = p;
                return ST_OK;
            }
            /* It died or spoke out of turn while idle: replace it. */
            p->broken = true;
            st_qs_checkin(p);
            pthread_mutex_lock(&qs->mu);
            continue;
        }
        if (l->nprocs < qs->opt.max_procs) {
            l->nprocs++;
            rc = start_in_slot(qs, l, out_proc, err);
            pthread_mutex_unlock(&qs->mu);
            return rc;
        }
        if (!wait) {
            pthread_mutex_unlock(&qs->mu);
            return st_fail(err, ST_E_BUSY, "every %s query server is busy", lang);
        }
        if (pthread_cond_timedwait(&l->freed, &qs->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&qs->mu);
            return st_fail(err, ST_E_TIMEOUT,
                           "no %s query server became free within %u ms", lang,
                           qs->opt.timeout_ms);
        }
    }
}

void st_qs_checkin(st_qs_proc *p)
{
    st_qs *qs;
    qs_lang *l;
    bool retire;

    if (p == NULL)
        return;
    qs = p->qs;
    l = p->lang;
    pthread_mutex_lock(&qs->mu);
    retire = p->broken || p->gen != l->gen || l->argv == NULL || p->nddocs > qs->opt.max_ddocs;
    qs->busy--;
    if (retire)
        unlink_proc(l, p);
    else
        p->busy = false;
    pthread_cond_broadcast(&l->freed);
    pthread_mutex_unlock(&qs->mu);
    if (retire)
        proc_end(p);
}
