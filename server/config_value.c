/* config_value.c — the one reading of a setting's number and boolean,
 * used by every table of settings (config.c, config_auth.c).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool st_config_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-' || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    while (end && isspace((unsigned char)*end))
        end++;
    if (errno || !end || *end || v > max)
        return false;
    *out = v;
    return true;
}

bool st_config_parse_bool(const char *s, bool *out)
{
    if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0) {
        *out = true;
        return true;
    }
    if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcasecmp(s, "no") == 0) {
        *out = false;
        return true;
    }
    return false;
}
