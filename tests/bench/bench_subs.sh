#!/usr/bin/env bash
# bench_subs.sh — selector feeds: LISTENERS continuous feeds on one
# database, each POST _changes?filter=_selector with {"owner":"user<i>"},
# and WRITES documents for random owners (bench_fanout's selector mode).
# Reports p50/p99 from a write's 201 to its one subscriber's row (kernel
# receive times) and the server's CPU per write (utime+stime over the
# write phase, HTTP and commit included).  Targets: p99 ≤ 10 ms, CPU per
# write ≤ 1 ms.  Also runs the same listeners without selectors (every
# feed told of every write), for scale.
#
#   tests/bench/bench_subs.sh BUILD_DIR [LISTENERS] [WRITES]
#
# BUILD_DIR is a Release build (client/settee, tests/bench/bench_fanout).
# The server listens on 127.0.0.1 (ephemeral port) and is stopped by PID.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_subs.sh BUILD_DIR [LISTENERS] [WRITES]}" && pwd)
N=${2:-10000}
W=${3:-300}
SETTEE=$BUILD/client/settee
FANOUT=$BUILD/tests/bench/bench_fanout
for b in "$SETTEE" "$FANOUT"; do
  [ -x "$b" ] || { echo "missing $b (build it first)" >&2; exit 2; }
done
RUN=$(mktemp -d "${BENCH_DIR:-$BUILD}/bench_subs.XXXXXX")
SPID=""
stop() {
  [ -n "$SPID" ] || return 0
  kill -TERM "$SPID" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  SPID=""
}
trap stop EXIT
ulimit -n "$(ulimit -Hn)"
run() { # MODE(0|1) → one line of results
  rm -rf "$RUN/data"
  "$SETTEE" serve --data "$RUN/data" --bind 127.0.0.1 --port 0 --admin admin:benchpw \
    --log-level warning >"$RUN/settee.log" 2>&1 &
  SPID=$!
  local port=""
  for _ in $(seq 200); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$RUN/settee.log" 2>/dev/null |
           head -1 | sed 's/.*://') || true
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "settee did not start" >&2; cat "$RUN/settee.log" >&2; exit 1; }
  for _ in $(seq 200); do # accepting connections
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  BENCH_FANOUT_SELECTOR=$1 nice -n 19 "$FANOUT" "$port" subs admin:benchpw "$N" "$W" "$SPID" 300
  stop
}
echo "selector feeds ($N listeners, $W writes):"
run 1
echo "plain feeds, every listener told of every write ($N listeners, 30 writes):"
W=30 run 0
rm -rf "$RUN"
