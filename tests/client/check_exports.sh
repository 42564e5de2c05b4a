#!/bin/sh
# Every dynamic symbol libsettee.so defines must be settee_* (the shipped
# interface); core's st_*, yajl/sqlite wrappers and the client internals stay
# hidden.  Also: the library must define the functions settee.h declares.
set -eu
lib="$1"
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' | sort -u)
bad=$(printf '%s\n' "$syms" | grep -v '^settee_' || true)
if [ -n "$bad" ]; then
    echo "non-settee symbols exported from $lib:"
    printf '%s\n' "$bad"
    exit 1
fi
for f in settee_db_open settee_db_close settee_doc_put settee_doc_get settee_changes_next \
         settee_listener_add settee_db_dispatch settee_sync_start settee_conflict_resolve \
         settee_free settee_version_number; do
    printf '%s\n' "$syms" | grep -qx "$f" || { echo "missing export $f"; exit 1; }
done
echo "$(printf '%s\n' "$syms" | wc -l) exports, all settee_*"
