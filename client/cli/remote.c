/* remote.c — see remote.h.  Why secrets are read with read(2) into one
 * buffer rather than through stdio: a FILE keeps its own buffer, which
 * nobody wipes; here every byte of the secret lives in memory we wipe. */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "http.h"

#define SECRET_MAX 65536 /* bytes of a password or token file's first line */

/* The order of cli_remote_opts' entries. */
enum { R_CA, R_INSECURE, R_USER, R_PW, R_TOKEN, R_SESSION };

void cli_remote_opts(cli_opt *o)
{
    o[R_CA] = (cli_opt){"--ca-file", true, NULL};
    o[R_INSECURE] = (cli_opt){"--insecure", false, NULL};
    o[R_USER] = (cli_opt){"--user", true, NULL};
    o[R_PW] = (cli_opt){"--password-file", true, NULL};
    o[R_TOKEN] = (cli_opt){"--bearer-token-file", true, NULL};
    o[R_SESSION] = (cli_opt){"--session", false, NULL};
}

void cli_remote_help(FILE *f)
{
    fputs("A URL's server (these apply to every URL of the command):\n"
          "  --ca-file FILE        PEM CA certificates that verify an https server\n"
          "                        (default: the system's)\n"
          "  --insecure            do not verify the server's certificate at all\n"
          "  --user NAME           log in as NAME (replaces the URL's user:password@)\n"
          "  --password-file FILE  NAME's password: the first line of FILE ('-': standard\n"
          "                        input), or else SETTEE_PASSWORD (no option takes a\n"
          "                        password itself)\n"
          "  --bearer-token-file FILE\n"
          "                        send the JWT in FILE as Authorization: Bearer\n"
          "  --session             log in once (POST /_session) and send the cookie\n"
          "                        instead of the password on every request\n",
          f);
}

static void wipe_free(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

/* ------------------------------------------------------------- at start */

static char *env_password;  /* SETTEE_PASSWORD, until cli_remote_read takes it */
static char **url_copies;   /* the URL arguments whose password was blanked */
static int n_url_copies;

void cli_remote_begin(int argc, char **argv)
{
    const char *env = getenv("SETTEE_PASSWORD");
    if (env) {
        env_password = strdup(env);
        /* In place, so /proc/PID/environ no longer shows it either. */
        OPENSSL_cleanse((char *)env, strlen(env));
        unsetenv("SETTEE_PASSWORD");
    }
    url_copies = calloc((size_t)argc, sizeof *url_copies);
    for (int i = 1; url_copies && i < argc; i++) {
        size_t at, len;
        if (!cli_is_url(argv[i]) || !cli_url_password(argv[i], &at, &len) || len == 0)
            continue;
        char *copy = strdup(argv[i]);
        if (!copy)
            continue; /* left as it was: the command still works */
        memset(argv[i] + at, 'x', len);
        argv[i] = copy;
        url_copies[n_url_copies++] = copy;
    }
}

void cli_remote_end(void)
{
    wipe_free(env_password);
    env_password = NULL;
    for (int i = 0; i < n_url_copies; i++)
        wipe_free(url_copies[i]);
    free(url_copies);
    url_copies = NULL;
    n_url_copies = 0;
}

/* --------------------------------------------------------- the secrets */

/* Read fd up to its first newline (or end), at most SECRET_MAX + 1 bytes,
 * into buf; the bytes read, or -1 (errno set). */
static ssize_t read_line(int fd, char *buf)
{
    size_t n = 0;
    while (n < SECRET_MAX + 1) {
        ssize_t got = read(fd, buf + n, SECRET_MAX + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        bool nl = memchr(buf + n, '\n', (size_t)got) != NULL;
        n += (size_t)got;
        if (nl)
            break;
    }
    return (ssize_t)n;
}

/* The first line of path ("-": standard input, echo off on a terminal)
 * into *out (malloc'd, NUL-terminated).  0, or 1 after a message. */
static int read_secret(const char *cmd, const char *opt, const char *path, char **out)
{
    *out = NULL;
    bool from_stdin = strcmp(path, "-") == 0;
    int fd = from_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "settee %s: %s %s: %s\n", cmd, opt, path, strerror(errno));
        return 1;
    }
    char *buf = malloc(SECRET_MAX + 2);
    struct termios saved;
    bool echo_off = false;
    if (buf && from_stdin && isatty(0) && tcgetattr(0, &saved) == 0) {
        struct termios t = saved;
        t.c_lflag &= ~(tcflag_t)ECHO;
        echo_off = tcsetattr(0, TCSAFLUSH, &t) == 0;
        fprintf(stderr, "%s: ", strcmp(opt, "--password-file") == 0 ? "password" : "token");
    }
    ssize_t n = buf ? read_line(fd, buf) : -1;
    int read_errno = errno;
    if (echo_off) {
        tcsetattr(0, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (!from_stdin)
        close(fd);
    const char *why = NULL;
    size_t len = 0;
    if (!buf) {
        why = "out of memory";
    } else if (n < 0) {
        why = strerror(read_errno);
    } else {
        const char *nl = memchr(buf, '\n', (size_t)n);
        len = nl ? (size_t)(nl - buf) : (size_t)n;
        if (len && buf[len - 1] == '\r')
            len--;
        if (len > SECRET_MAX)
            why = "its first line is longer than 64 KiB";
        else if (len == 0)
            why = "it is empty";
        else if (memchr(buf, '\0', len))
            why = "it holds a NUL byte";
    }
    if (why) {
        fprintf(stderr, "settee %s: %s %s: %s\n", cmd, opt, path, why);
        if (buf)
            OPENSSL_cleanse(buf, SECRET_MAX + 2);
        free(buf);
        return 1;
    }
    OPENSSL_cleanse(buf + len, (size_t)n - len); /* the rest of what was read */
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static int usage_error(const char *cmd, const char *what)
{
    fprintf(stderr, "settee %s: %s (see --help)\n", cmd, what);
    return 2;
}

int cli_remote_read(const char *cmd, const cli_opt *o, bool stdin_busy, cli_remote *out)
{
    memset(out, 0, sizeof *out);
    out->ca_file = o[R_CA].value;
    out->insecure = o[R_INSECURE].value != NULL;
    out->user = o[R_USER].value;
    out->session = o[R_SESSION].value != NULL;
    const char *pw_file = o[R_PW].value, *token_file = o[R_TOKEN].value;
    if (out->insecure && out->ca_file)
        return usage_error(cmd, "--ca-file and --insecure contradict each other");
    if (out->user && !out->user[0])
        return usage_error(cmd, "--user needs a name");
    if (pw_file && !out->user)
        return usage_error(cmd, "--password-file is the password of --user NAME");
    if (token_file && out->user)
        return usage_error(cmd, "--bearer-token-file and --user are mutually exclusive");
    if (token_file && out->session)
        return usage_error(cmd, "--session logs in with a name and password, not a token");
    if (out->user && !pw_file && !env_password)
        return usage_error(cmd, "--user needs a password: --password-file FILE ('-': standard "
                                "input) or SETTEE_PASSWORD");
    bool pw_stdin = pw_file && strcmp(pw_file, "-") == 0;
    bool token_stdin = token_file && strcmp(token_file, "-") == 0;
    if (stdin_busy && (pw_stdin || token_stdin))
        return usage_error(cmd, "standard input cannot give both the document and a secret");
    if (out->ca_file && access(out->ca_file, R_OK) != 0) {
        fprintf(stderr, "settee %s: --ca-file %s: %s\n", cmd, out->ca_file, strerror(errno));
        return 1;
    }
    if (pw_file) {
        if (read_secret(cmd, "--password-file", pw_file, &out->password) != 0)
            return 1;
    } else if (out->user) {
        out->password = env_password; /* taken: wiped by cli_remote_free */
        env_password = NULL;
    }
    if (token_file && read_secret(cmd, "--bearer-token-file", token_file, &out->bearer_token))
        return 1;
    return 0;
}

void cli_remote_free(cli_remote *r)
{
    wipe_free(r->password);
    wipe_free(r->bearer_token);
    r->password = r->bearer_token = NULL;
}

void cli_remote_hint(const char *cmd, const cli_remote *r, bool tls, bool unauthorized,
                     const char *const *urls, size_t n_urls)
{
    size_t at, len;
    for (size_t i = 0; i < n_urls; i++)
        if (cli_url_password(urls[i], &at, &len))
            unauthorized = false; /* credentials were given: the reason says what is wrong */
    const char *sp = cmd ? " " : "";
    if (!cmd)
        cmd = "";
    if (tls)
        fprintf(stderr,
                "settee%s%s: TLS: --ca-file FILE names the CA (PEM) that signed the server's "
                "certificate; --insecure skips the check\n", sp, cmd);
    else if (unauthorized && !r->user && !r->bearer_token && !r->session)
        fprintf(stderr,
                "settee%s%s: to log in: --user NAME with --password-file FILE (or "
                "SETTEE_PASSWORD), or --bearer-token-file FILE\n", sp, cmd);
}
