/* fuzz_config.c — the ini parser and every setting's parser
 * (server/config.c st_config_load, st_config_set), as `settee serve
 * --config FILE` reads a file.  The input is the file; it is handed over
 * through an anonymous in-memory file (memfd), so nothing touches the disk.
 * A loaded configuration is also copied, as the server copies it. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("settee-fuzz-config", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    st_config *c = st_config_new();
    if (c) {
        st_error e;
        st_status st = st_config_load(c, path, &e);
        if (st != ST_OK && st != ST_E_BAD_REQUEST && st != ST_E_NOMEM && st != ST_E_NOT_FOUND &&
            st != ST_E_IO)
            abort();
        st_config *copy = st_config_copy(c);
        st_config_free(copy);
        st_config_free(c);
    }
    close(fd);
    return 0;
}
