/* stream.c — see stream.h. */
#include "stream.h"

#include <stdlib.h>
#include <string.h>
#include "log.h"

typedef struct stream {
    const st_stream_ops *ops;
    void *ctx;
    st_buf out;
    size_t off;
    bool done;
    bool failed;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *s = cls;
    (void)pos;
    /* Bounded: a producer that appends nothing without finishing is cut. */
    for (unsigned round = 0; round < 1000; round++) {
        if (s->off < s->out.len) {
            size_t n = s->out.len - s->off;
            if (n > max)
                n = max;
            memcpy(buf, s->out.data + s->off, n);
            s->off += n;
            return (ssize_t)n;
        }
        st_buf_reset(&s->out);
        s->off = 0;
        if (s->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (s->failed)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        st_status st = s->ops->next(s->ctx, &s->out, ST_STREAM_PIECE, &s->done);
        if (st != ST_OK) {
            st_log(ST_LOG_ERROR, "streamed answer cut short: %s", st_status_name(st));
            s->failed = true; /* what was produced still goes out first */
        }
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
    stream *s = cls;
    s->ops->free(s->ctx);
    st_buf_free(&s->out);
    free(s);
}

bool st_resp_stream(st_req *r, unsigned status, const char *ctype, const st_stream_ops *ops,
                    void *ctx)
{
    stream *s = calloc(1, sizeof *s);
    struct MHD_Response *resp = NULL;
    if (s) {
        s->ops = ops;
        s->ctx = ctx;
        st_buf_init(&s->out, 0);
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s,
                                                 stream_free);
    }
    if (!resp) {
        free(s);
        ops->free(ctx);
        st_resp_fail(r, ST_E_NOMEM, "out of memory");
        return false;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "must-revalidate");
    if (r->resp)
        MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = status;
    return true;
}
