#!/bin/sh
# run.sh — a bounded fuzzing session: every libFuzzer target of a
# -DSETTEE_FUZZ=ON build runs for SECONDS (default 60) on a scratch copy of
# its seed corpus (libFuzzer adds what it finds to the directory it is
# given; the seeds in the tree stay as they are), then the number of inputs
# each ran is printed.  Findings (crash-*, leak-*, timeout-*, oom-*) are
# written to the current directory; the exit status is 1 if there are any.
#
#   sh tests/fuzz/run.sh [SECONDS] [BUILD_DIR] [TARGET...]
#   sh tests/fuzz/run.sh 60 build-fuzz json rev
set -eu
secs=${1:-60}
build=${2:-build-fuzz}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

if [ $# -eq 0 ]; then
    set -- $(cd "$src" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi
status=0
for name in "$@"; do
    bin=$build/tests/fuzz/fuzz_$name
    if [ ! -x "$bin" ]; then
        echo "fuzz_$name: not built (cmake --build $build --target fuzz_$name)" >&2
        status=1
        continue
    fi
    mkdir -p "$work/$name"
    cp "$src/corpus/$name"/* "$work/$name/"
    dict=
    [ -f "$src/$name.dict" ] && dict=-dict=$src/$name.dict
    if "$bin" -max_total_time="$secs" -max_len=4096 -timeout=5 -print_final_stats=1 \
        $dict "$work/$name" >"$work/$name.log" 2>&1; then
        result=ok
    else
        result="FAILED (see the crash-*/leak-*/timeout-*/oom-* file here)"
        tail -n 30 "$work/$name.log" >&2
        status=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log")
    printf '%-10s %12s inputs in %s s  %s\n' "$name" "${runs:-?}" "$secs" "$result"
done
exit $status
