/* feed_format.c — the bytes of each _changes feed type (PROTOCOL.md §5):
 *   normal, longpoll  {"results":[\n row,\n row \n],\n"last_seq":S,"pending":N}\n
 *   continuous        one row per line; heartbeat "\n"; final {"last_seq":S,"pending":0}
 *   eventsource       "data: row\nid: S\n\n"; heartbeat "event: heartbeat\ndata: \n\n"
 * A row that came from the follower's ring carries its JSON already
 * formatted (without a doc), and is copied as it is.
 */
#include <inttypes.h>
#include "feed_int.h"

bool st_feed_envelope(const st_feed *f)
{
    return f->type == ST_FEED_NORMAL || f->type == ST_FEED_LONGPOLL;
}

st_status st_feed_row_prefix(const st_feed *f, st_buf *b)
{
    if (st_feed_envelope(f) && f->need_sep)
        return st_buf_adds(b, ",\n");
    if (f->type == ST_FEED_EVENTSOURCE)
        return st_buf_adds(b, "data: ");
    return ST_OK;
}

st_status st_feed_row_suffix(const st_feed *f, st_buf *b, uint64_t seq)
{
    if (f->type == ST_FEED_CONTINUOUS)
        return st_buf_addc(b, '\n');
    if (f->type == ST_FEED_EVENTSOURCE)
        return st_buf_printf(b, "\nid: %" PRIu64 "\n\n", seq);
    return ST_OK;
}

bool st_feed_put_row(st_feed *f, const st_change_row *row)
{
    st_buf *b = &f->out;
    st_status s = st_feed_row_prefix(f, b);
    if (s == ST_OK && row->json && !f->opts.include_docs) {
        s = st_buf_add(b, row->json, row->json_len);
    } else if (s == ST_OK) {
        st_jw w;
        if ((s = st_jw_init(&w, b)) == ST_OK) {
            st_change_row_write(&w, row, f->opts.include_docs);
            s = st_jw_status(&w);
            st_jw_free(&w);
        }
    }
    if (s == ST_OK)
        s = st_feed_row_suffix(f, b, row->seq);
    if (s != ST_OK)
        return false;
    f->need_sep = true;
    f->row_seq = row->seq;
    f->rows++;
    return true;
}

st_status st_feed_finish(st_feed *f)
{
    st_status s = ST_OK;
    if (st_feed_envelope(f))
        s = st_buf_printf(&f->out, "\n],\n\"last_seq\":%" PRIu64 ",\"pending\":%" PRIu64 "}\n",
                          f->last_seq, f->pending);
    else if (f->type == ST_FEED_CONTINUOUS)
        s = st_buf_printf(&f->out, "{\"last_seq\":%" PRIu64 ",\"pending\":%" PRIu64 "}\n",
                          f->last_seq, f->pending);
    f->phase = PH_DONE;
    return s;
}

st_status st_feed_heartbeat(st_feed *f)
{
    f->sent_any = true;
    if (f->type == ST_FEED_EVENTSOURCE)
        return st_buf_adds(&f->out, "event: heartbeat\ndata: \n\n");
    return st_buf_addc(&f->out, '\n');
}
