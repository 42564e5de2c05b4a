/* bench_bulk.c — _bulk_docs load for the server benchmark.
 *
 *   bench_bulk PORT DB USER:PASS TOTAL BATCH CLIENTS PREFIX [TIMEOUT_S]
 *
 * Creates DB (201 or 412 both fine), then CLIENTS threads, each on its own
 * keep-alive connection to 127.0.0.1:PORT, POST /DB/_bulk_docs batches of
 * BATCH new ~200-byte documents with ids PREFIX%07u until TOTAL were sent.
 * Bodies are built before the clock starts.  Bounded: TOTAL documents and
 * TIMEOUT_S seconds (default 120), whichever comes first.
 *
 * Prints one line: docs=N seconds=S docs_per_s=X http_errors=H doc_errors=E
 * (doc_errors counts "error" members in the responses).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "bench_http.h"

static int port;
static const char *db;
static char auth[256];
static unsigned total, batch, n_batches;
static char **bodies;
static size_t *body_lens;
static atomic_uint next_batch;
static atomic_uint docs_done, http_errors, doc_errors;
static double deadline;

static int make_doc(char *out, size_t cap, const char *prefix, unsigned i)
{
    return snprintf(out, cap,
                    "{\"_id\":\"%s%07u\",\"type\":\"order\",\"customer\":\"customer-%u\","
                    "\"total\":%u.%02u,\"items\":[{\"sku\":\"sku-%u\",\"qty\":%u},{\"sku\":"
                    "\"sku-%u\",\"qty\":%u}],\"status\":\"open\",\"note\":\"deliver between "
                    "nine and five\"}",
                    prefix, i, i % 9973, i % 1000, i % 100, i % 541, i % 7 + 1, i % 877, i % 3 + 1);
}

static unsigned count_substr(const char *s, size_t n, const char *needle)
{
    unsigned c = 0;
    size_t k = strlen(needle);
    for (const char *p = s; (p = memmem(p, (size_t)(s + n - p), needle, k)) != NULL; p += k)
        c++;
    return c;
}

static void *client(void *arg)
{
    (void)arg;
    bh_resp r = {0};
    int fd = bh_connect("127.0.0.1", port, 60);
    char head[512];
    if (fd < 0) {
        fprintf(stderr, "bench_bulk: cannot connect\n");
        atomic_fetch_add(&http_errors, 1);
        return NULL;
    }
    for (;;) {
        unsigned b = atomic_fetch_add(&next_batch, 1);
        if (b >= n_batches || bh_now() > deadline)
            break;
        int hn = snprintf(head, sizeof head,
                          "POST /%s/_bulk_docs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Authorization: Basic %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          db, auth, body_lens[b]);
        if (bh_send_all(fd, head, (size_t)hn) != 0 ||
            bh_send_all(fd, bodies[b], body_lens[b]) != 0 || bh_read_response(fd, &r) != 0) {
            atomic_fetch_add(&http_errors, 1);
            break;
        }
        if (r.status != 201) {
            atomic_fetch_add(&http_errors, 1);
            continue;
        }
        unsigned in_batch = b + 1 == n_batches ? total - b * batch : batch;
        unsigned errs = count_substr(r.buf + r.body_off, r.body_len, "\"error\"");
        atomic_fetch_add(&doc_errors, errs);
        atomic_fetch_add(&docs_done, in_batch - (errs < in_batch ? errs : in_batch));
    }
    close(fd);
    free(r.buf);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: bench_bulk PORT DB USER:PASS TOTAL BATCH CLIENTS PREFIX [TIMEOUT_S]\n");
        return 2;
    }
    port = atoi(argv[1]);
    db = argv[2];
    bh_base64(argv[3], auth);
    total = (unsigned)strtoul(argv[4], NULL, 10);
    batch = (unsigned)strtoul(argv[5], NULL, 10);
    unsigned clients = (unsigned)strtoul(argv[6], NULL, 10);
    const char *prefix = argv[7];
    double timeout = argc > 8 ? atof(argv[8]) : 120;
    if (!total || !batch || !clients || clients > 256 || strlen(db) > 100 || strlen(prefix) > 40) {
        fprintf(stderr, "bench_bulk: bad arguments\n");
        return 2;
    }
    /* Create the database. */
    int fd = bh_connect("127.0.0.1", port, 30);
    bh_resp r = {0};
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "PUT /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
                      "Content-Length: 0\r\n\r\n", db, auth);
    if (fd < 0 || bh_send_all(fd, head, (size_t)hn) != 0 || bh_read_response(fd, &r) != 0 ||
        (r.status != 201 && r.status != 412)) {
        fprintf(stderr, "bench_bulk: cannot create %s (status %d)\n", db, r.status);
        return 1;
    }
    close(fd);
    free(r.buf);
    /* Bodies. */
    n_batches = (total + batch - 1) / batch;
    bodies = calloc(n_batches, sizeof *bodies);
    body_lens = calloc(n_batches, sizeof *body_lens);
    if (!bodies || !body_lens)
        return 1;
    for (unsigned b = 0; b < n_batches; b++) {
        unsigned first = b * batch, n = first + batch > total ? total - first : batch;
        size_t cap = 64 + (size_t)n * 320, len = 0;
        char *p = malloc(cap);
        if (!p)
            return 1;
        len += (size_t)snprintf(p, cap, "{\"docs\":[");
        for (unsigned i = 0; i < n; i++) {
            if (i)
                p[len++] = ',';
            len += (size_t)make_doc(p + len, cap - len, prefix, first + i);
        }
        len += (size_t)snprintf(p + len, cap - len, "]}");
        bodies[b] = p;
        body_lens[b] = len;
    }
    pthread_t t[256];
    double t0 = bh_now();
    deadline = t0 + timeout;
    for (unsigned i = 0; i < clients; i++)
        pthread_create(&t[i], NULL, client, NULL);
    for (unsigned i = 0; i < clients; i++)
        pthread_join(t[i], NULL);
    double secs = bh_now() - t0;
    unsigned done = atomic_load(&docs_done);
    printf("docs=%u seconds=%.3f docs_per_s=%.0f http_errors=%u doc_errors=%u\n", done, secs,
           done / secs, atomic_load(&http_errors), atomic_load(&doc_errors));
    for (unsigned b = 0; b < n_batches; b++)
        free(bodies[b]);
    free(bodies);
    free(body_lens);
    return atomic_load(&http_errors) || done < total ? 1 : 0;
}
