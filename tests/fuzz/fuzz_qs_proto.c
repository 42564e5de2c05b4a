/* fuzz_qs_proto.c — what the query-server pool accepts from a process:
 * the line splitter with its length cap, and the classification of each
 * line into answer, log or error.  The first input byte picks the size of
 * the reads the bytes arrive in, so lines split across reads are covered. */
#include <stdint.h>
#include <string.h>

#include "qs_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_qs_reader r;
    size_t chunk, off = 1;

    if (size == 0)
        return 0;
    chunk = (size_t)data[0] % 64 + 1;
    st_qs_reader_init(&r, 1024);
    st_json_pick *pick = st_json_pick_new();
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        const char *line;
        size_t len;
        st_qs_read_status rs;

        if (st_qs_reader_append(&r, data + off, n) != ST_OK)
            break;
        off += n;
        while ((rs = st_qs_reader_next(&r, &line, &len)) == ST_QS_GOT_LINE) {
            st_qs_answer a;
            st_qs_line_kind kind;
            const char *log = NULL;
            size_t log_len = 0;
            bool fatal;
            st_error e;

            /* With and without the pick parser's fast path: the same kind. */
            st_qs_answer b;
            st_qs_line_kind kind_b;
            const char *log_b = NULL;
            size_t log_b_len = 0;
            bool fatal_b;
            st_status sb = st_qs_line_parse(NULL, line, len, &b, &kind_b, &log_b, &log_b_len,
                                            &fatal_b, &e);
            st_status sa = st_qs_line_parse(pick, line, len, &a, &kind, &log, &log_len, &fatal, &e);
            if (sa != sb || (sa == ST_OK && (kind != kind_b || fatal != fatal_b ||
                                             log_len != log_b_len)))
                __builtin_trap();
            if (sb == ST_OK)
                st_qs_answer_free(&b);
            if (sa == ST_OK) {
                if (kind == ST_QS_LINE_LOG && log_len > 0 && log[log_len - 1] == '\0')
                    __builtin_trap(); /* a log message never includes its terminator */
                if (kind == ST_QS_LINE_ERROR)
                    (void)st_qs_error_status(a.error);
                st_qs_answer_free(&a);
            }
        }
        if (rs == ST_QS_LINE_TOO_LONG)
            break; /* the pool kills such a process */
    }
    st_qs_reader_free(&r);
    st_json_pick_free(pick);
    return 0;
}
