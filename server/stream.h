/* stream.h — answers produced piece by piece as the client reads them
 * (internal to server/).
 *
 * Why: a large answer built in memory costs its whole size per request for
 * as long as a slow client takes to read it (80,000 documents with
 * include_docs is 133 MB).  A streamed answer holds one piece: next() is
 * asked for about ST_STREAM_PIECE bytes whenever the previous piece has
 * gone to the socket, so memory per request is bounded whatever the
 * result's size or the reader's speed.  Each piece is read with its own
 * snapshot, so a long answer is not one consistent snapshot (CouchDB's
 * clustered reads are not either); what a piece shows is committed data.
 *
 * Ownership: st_resp_stream takes ctx in every case; ops->free(ctx) runs
 * when MHD is done with the response (or at once when it cannot start).
 * Threading: next() runs on the MHD worker serving the connection.
 */
#ifndef ST_SERVER_STREAM_H
#define ST_SERVER_STREAM_H

#include "http.h"

#define ST_STREAM_PIECE 65536

typedef struct st_stream_ops {
    /* Append the next part of the body to out (about want bytes; one
     * element may pass it) and set *done after the last.  A non-OK status
     * cuts the body short, as a chunked answer can only be. */
    st_status (*next)(void *ctx, st_buf *out, size_t want, bool *done);
    void (*free)(void *ctx);
} st_stream_ops;

/* Answer r with a streamed body.  false when the response could not be
 * made (ctx is freed and an error answer set). */
bool st_resp_stream(st_req *r, unsigned status, const char *ctype, const st_stream_ops *ops,
                    void *ctx);

#endif
