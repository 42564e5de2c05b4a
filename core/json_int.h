/* json_int.h — what json.c shares with json_pick.c.  Not for use outside
 * these files. */
#ifndef ST_JSON_INT_H
#define ST_JSON_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "st_json.h"

/* Copy kids[0..count) into out (room for count), keeping only the last of
 * duplicate keys where it stands; *out_n is the count kept.  False when out
 * of memory (large objects use a temporary hash set). */
bool st_json_dedupe_members(const st_json_member *kids, size_t count, st_json_member *out,
                            size_t *out_n);

#endif
