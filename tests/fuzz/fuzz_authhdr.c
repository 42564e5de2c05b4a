/* fuzz_authhdr.c — the Basic and AuthSession decoders on arbitrary bytes.
 * The first byte picks: even → Authorization header, odd → cookie value
 * (decoded, then checked against a fixed secret and salt). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] % 2 == 0) {
        st_basic_creds c;
        if (st_basic_decode(text, n, &c, NULL) == ST_OK && c.kind == ST_BASIC_CREDS) {
            if (strlen(c.name) != c.name_len)
                abort(); /* the promise: no NUL inside the name */
        }
        st_basic_creds_wipe(&c);
        return 0;
    }
    st_session_config cfg;
    st_session_config_init(&cfg);
    cfg.secret = "fuzzsecret";
    cfg.secret_len = 10;
    st_session_token t;
    if (st_session_decode(text, n, &t, NULL) == ST_OK) {
        (void)st_session_check(&cfg, &t, "salt", 4, 1700000000);
        st_session_token_free(&t);
    }
    return 0;
}
