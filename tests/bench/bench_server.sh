#!/usr/bin/env bash
# bench_server.sh — the server benchmark: settee serve next to a minimal
# libmicrohttpd server (ceiling_server, same threading model, no storage),
# in one run, on 127.0.0.1 ephemeral ports.  Builds nothing.
#
#   tests/bench/bench_server.sh BUILD_DIR [quick]
#
# BUILD_DIR holds client/settee and tests/bench/{ceiling_server,bench_bulk,
# bench_fanout} (a Release build: cmake -DCMAKE_BUILD_TYPE=Release).  Needs
# wrk.  "quick" shortens every phase (a smoke run, not for the table).
#
# Phases, each against the ceiling and then settee, each bounded in time:
#   GET       wrk, 2 threads, 64 connections, random ids among 10,000 docs
#   PUT       wrk, 2 threads, 16 connections, unique new ids; then settee is
#             SIGKILLed and restarted, and every 201 must be in doc_count
#   bulk      100,000 new docs through _bulk_docs, batches of 1000, 4 clients
#   fan-out   1,000 and 10,000 continuous listeners (bench_fanout), each
#             against freshly started servers so VmHWM is the feed's own
# settee runs with its defaults: durability full (fsync per commit group),
# request log at info level (to a file in the run directory).
#
# The machine is shared (2 cores): before each phase the script waits (up to
# 60 s) for the CPUs to be at least 80% idle and prints how idle they were.
# The fan-out listener runs at nice 19: it stamps rows with the kernel's
# receive time (SO_TIMESTAMPNS), so reading them late changes nothing
# measured, while competing with the server for the two cores would; its
# user-space read times are reported too.
set -euo pipefail

BUILD=${1:?usage: bench_server.sh BUILD_DIR [quick]}
BUILD=$(cd "$BUILD" && pwd)
QUICK=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
SETTEE=$BUILD/client/settee
CEILING=$BUILD/tests/bench/ceiling_server
BULK=$BUILD/tests/bench/bench_bulk
FANOUT=$BUILD/tests/bench/bench_fanout
for b in "$SETTEE" "$CEILING" "$BULK" "$FANOUT"; do
  [ -x "$b" ] || { echo "missing $b (build it first)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }

DUR=10; BULK_N=100000; FAN_BIG=10000; FAN_SMALL=1000; FAN_WRITES=30; SEED=10000
if [ "$QUICK" = quick ]; then DUR=2; BULK_N=10000; FAN_BIG=1000; FAN_SMALL=100; FAN_WRITES=5; fi

ADMIN=admin:benchpw
AUTH=$(printf '%s' "$ADMIN" | base64)
RUN=$(mktemp -d "${BENCH_DIR:-$BUILD}/bench_server.XXXXXX")
DATA=$RUN/data
SPID=""; CPID=""; SPORT=""; CPORT=""
echo "run directory: $RUN" >&2

stop_pid() { # PID: SIGTERM, wait up to 10 s, then SIGKILL
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { stop_pid "$SPID"; stop_pid "$CPID"; }
trap cleanup EXIT

wait_port() { # LOGFILE PATTERN → prints the port
  local log=$1 pat=$2
  for _ in $(seq 200); do
    if grep -q "$pat" "$log" 2>/dev/null; then
      grep -o "$pat[0-9]*" "$log" | head -1 | sed "s/.*://"
      return 0
    fi
    sleep 0.05
  done
  echo "server did not start; log:" >&2; cat "$log" >&2; return 1
}

SETTEE_STARTS=0
start_settee() { # each start logs to its own file: settee.N.log
  SETTEE_STARTS=$((SETTEE_STARTS + 1))
  SLOG=$RUN/settee.$SETTEE_STARTS.log
  "$SETTEE" serve --data "$DATA" --bind 127.0.0.1 --port 0 --admin "$ADMIN" \
    > /dev/null 2> "$SLOG" &
  SPID=$!
  SPORT=$(wait_port "$SLOG" "settee listening on 127.0.0.1:")
}
restart_settee() {
  stop_pid "$SPID"; SPID=""
  start_settee
}
restart_ceiling() {
  stop_pid "$CPID"; CPID=""
  "$CEILING" 0 > "$RUN/ceiling.log" 2>&1 &
  CPID=$!
  CPORT=$(wait_port "$RUN/ceiling.log" "listening on 127.0.0.1:")
}
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
doc_count() { # PORT DB
  curl -s --max-time 10 "http://127.0.0.1:$1/$2" | sed -n 's/.*"doc_count":\([0-9]*\).*/\1/p'
}
kv() { # LINE KEY → value
  printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
wrk_rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1"; }
wrk_non2xx() { local n; n=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$1"); echo "${n:-0}"; }
wrk_errors() { local n; n=$(sed -n 's/.*Socket errors:.*timeout \([0-9]*\).*/\1/p' "$1"); echo "${n:-0}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
fmt0() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }
verdict() { if "$@"; then echo yes; else echo NO; fi; }
cpu_idle_pct() { # idle share of all CPUs over 1 s
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local busy=$(( (b[1]+b[2]+b[3]+b[6]+b[7]+b[8]) - (a[1]+a[2]+a[3]+a[6]+a[7]+a[8]) ))
  local idle=$(( (b[4]+b[5]) - (a[4]+a[5]) ))
  echo $(( 100 * idle / (busy + idle > 0 ? busy + idle : 1) ))
}
QUIET=""
wait_quiet() { # PHASE: wait for a quiet machine, note how quiet it was
  local idle=0
  for _ in $(seq 60); do
    idle=$(cpu_idle_pct)
    [ "$idle" -ge 80 ] && break
  done
  QUIET="$QUIET $1:${idle}%"
  echo "$1: CPUs ${idle}% idle before the phase" >&2
}

restart_ceiling
restart_settee
echo "ceiling on :$CPORT (pid $CPID), settee on :$SPORT (pid $SPID)" >&2

# ---- GET
echo "seeding $SEED documents for GET..." >&2
wait_quiet get
timeout 120 "$BULK" "$SPORT" bench "$ADMIN" "$SEED" 1000 2 doc- 100 >&2
# The GETs are anonymous: make the database public (new databases are
# admin-only, as in CouchDB 3; a build without _security ignores this).
curl -s --max-time 10 -X PUT -u "$ADMIN" -H 'Content-Type: application/json' -d '{}' \
  "http://127.0.0.1:$SPORT/bench/_security" > /dev/null || true
for side in ceiling settee; do
  port=$CPORT; [ $side = settee ] && port=$SPORT
  timeout $((DUR + 30)) wrk -t2 -c64 -d${DUR}s --timeout 5s -s "$HERE/get.lua" \
    "http://127.0.0.1:$port" -- bench "$SEED" > "$RUN/get.$side.txt" 2>&1
done
GET_C=$(wrk_rps "$RUN/get.ceiling.txt"); GET_S=$(wrk_rps "$RUN/get.settee.txt")
GET_BAD=$(wrk_non2xx "$RUN/get.settee.txt")
echo "GET: ceiling $GET_C/s, settee $GET_S/s (non-2xx $GET_BAD)" >&2

# ---- PUT (16 connections), then kill -9 and count what survived
TAG=$RANDOM$RANDOM
curl -s --max-time 10 -X PUT -u "$ADMIN" "http://127.0.0.1:$SPORT/puts" > /dev/null
wait_quiet put
PERF_PID=""
if command -v perf >/dev/null; then # count the syncs settee makes while it answers PUTs
  perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync -p "$SPID" \
    -o "$RUN/put.syncs.txt" -- sleep $((DUR + 1)) 2>/dev/null &
  PERF_PID=$!
fi
for side in settee ceiling; do
  port=$CPORT; [ $side = settee ] && port=$SPORT
  timeout $((DUR + 30)) wrk -t2 -c16 -d${DUR}s --timeout 5s -s "$HERE/put.lua" \
    "http://127.0.0.1:$port" -- puts "$AUTH" "$TAG" > "$RUN/put.$side.txt" 2>&1
done
PUT_C=$(wrk_rps "$RUN/put.ceiling.txt"); PUT_S=$(wrk_rps "$RUN/put.settee.txt")
PUT_CREATED=$(sed -n 's/^created=\([0-9]*\).*/\1/p' "$RUN/put.settee.txt")
PUT_OTHER=$(sed -n 's/.*other=\([0-9]*\).*/\1/p' "$RUN/put.settee.txt")
[ -n "$PERF_PID" ] && { wait "$PERF_PID" 2>/dev/null || true; }
PUT_SYNCS=$(awk -F, '/sys_enter_f(data)?sync/ {s += $1} END {print s + 0}' "$RUN/put.syncs.txt" 2>/dev/null || echo "")
HWM_THROUGHPUT=$(hwm_kb "$SPID")
kill -KILL "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""
start_settee
PUT_SURVIVED=$(doc_count "$SPORT" puts)
echo "PUT: ceiling $PUT_C/s, settee $PUT_S/s; 201s $PUT_CREATED, other $PUT_OTHER," \
     "docs after SIGKILL+restart $PUT_SURVIVED" >&2

# ---- _bulk_docs
wait_quiet bulk
BULK_C=$(timeout 200 "$BULK" "$CPORT" bulk "$ADMIN" "$BULK_N" 1000 4 bulk- 150 || true)
BULK_S=$(timeout 200 "$BULK" "$SPORT" bulk "$ADMIN" "$BULK_N" 1000 4 bulk- 150 || true)
BULK_SURVIVED=$(doc_count "$SPORT" bulk)
echo "bulk: ceiling [$BULK_C] settee [$BULK_S] doc_count $BULK_SURVIVED" >&2
BULK_CR=$(kv "$BULK_C" docs_per_s); BULK_SR=$(kv "$BULK_S" docs_per_s)
HWM_THROUGHPUT=$(( HWM_THROUGHPUT > $(hwm_kb "$SPID") ? HWM_THROUGHPUT : $(hwm_kb "$SPID") ))

# ---- fan-out, fresh servers per size
declare -A FAN
for n in $FAN_SMALL $FAN_BIG; do
  restart_ceiling
  restart_settee
  wait_quiet "fanout$n"
  FAN[c$n]=$(timeout 300 nice -n 19 "$FANOUT" "$CPORT" feeds "$ADMIN" "$n" "$FAN_WRITES" "$CPID" 240 || true)
  FAN[s$n]=$(timeout 300 nice -n 19 "$FANOUT" "$SPORT" feeds "$ADMIN" "$n" "$FAN_WRITES" "$SPID" 240 || true)
  echo "fan-out $n: ceiling [${FAN[c$n]}]" >&2
  echo "fan-out $n: settee  [${FAN[s$n]}]" >&2
done
stop_pid "$SPID"; SPID=""
stop_pid "$CPID"; CPID=""

# ---- the table
MB() { awk -v k="$1" 'BEGIN { if (k == "" || k < 0) print "-"; else printf "%.0f MiB", k / 1024 }'; }
PUT_DURABLE=no
if [ -n "$PUT_SURVIVED" ] && [ -n "$PUT_CREATED" ] && [ "$PUT_SURVIVED" -ge "$PUT_CREATED" ] \
   && [ "${PUT_OTHER:-1}" = 0 ]; then PUT_DURABLE=yes; fi
echo
echo "| workload | ceiling | settee | settee/ceiling | target | met |"
echo "| --- | ---: | ---: | ---: | --- | --- |"
GET_MET=$(verdict ge "$(ratio "$GET_S" "$GET_C")" 0.5)
[ "$GET_BAD" = 0 ] || GET_MET="NO ($GET_BAD answers not 2xx)"
echo "| GET random doc (64 conns), req/s | $(fmt0 "$GET_C") | $(fmt0 "$GET_S") | $(ratio "$GET_S" "$GET_C") | ≥ 0.50 of ceiling | $GET_MET |"
echo "| PUT new doc (16 conns), req/s | $(fmt0 "$PUT_C") | $(fmt0 "$PUT_S") | $(ratio "$PUT_S" "$PUT_C") | ≥ 10,000/s, every 201 durable | $( [ $PUT_DURABLE = yes ] && ge "$PUT_S" 10000 && echo yes || echo NO) |"
echo "| _bulk_docs $BULK_N docs (4 clients), docs/s | $(fmt0 "${BULK_CR:-0}") | $(fmt0 "${BULK_SR:-0}") | $(ratio "${BULK_SR:-0}" "${BULK_CR:-0}") | ≥ 100,000/s | $(verdict ge "${BULK_SR:-0}" 100000) |"
for n in $FAN_SMALL $FAN_BIG; do
  c=${FAN[c$n]}; s=${FAN[s$n]}
  echo "| fan-out $n listeners, p50 / p99 ms | $(kv "$c" p50_ms) / $(kv "$c" p99_ms) | $(kv "$s" p50_ms) / $(kv "$s" p99_ms) | $(ratio "$(kv "$s" p99_ms)" "$(kv "$c" p99_ms)") (p99) | p99 ≤ 50 ms at 10,000 | $( [ "$n" = 10000 ] && verdict le "$(kv "$s" p99_ms)" 50 || echo -) |"
  echo "| fan-out $n: last listener p50 / max ms | $(kv "$c" all_p50_ms) / $(kv "$c" all_max_ms) | $(kv "$s" all_p50_ms) / $(kv "$s" all_max_ms) | | | |"
  echo "| fan-out $n: server CPU per write, ms | $(kv "$c" server_cpu_ms_per_write) | $(kv "$s" server_cpu_ms_per_write) | | | |"
  echo "| fan-out $n: server VmHWM | $(MB "$(kv "$c" hwm_kb)") | $(MB "$(kv "$s" hwm_kb)") | | < 1 GiB | $( [ "$n" = 10000 ] && verdict le "$(kv "$s" hwm_kb)" 1048576 || echo -) |"
done
echo
echo "CPU idle before each phase:$QUIET"
if [ -n "${PUT_SYNCS:-}" ] && [ "${PUT_SYNCS:-0}" -gt 0 ]; then
  echo "PUT syncs: settee called fsync/fdatasync $PUT_SYNCS times while answering $PUT_CREATED PUTs ($(awk -v a="$PUT_CREATED" -v b="$PUT_SYNCS" 'BEGIN { printf "%.1f", a / b }') documents per sync)"
fi
echo "PUT durability: $PUT_CREATED answered 201 (other statuses: ${PUT_OTHER:-?}); after SIGKILL and restart the database holds $PUT_SURVIVED documents → $PUT_DURABLE"
echo "_bulk_docs: settee [$BULK_S]; documents in the database afterwards: $BULK_SURVIVED"
echo "settee VmHWM over GET+PUT: $(MB "$HWM_THROUGHPUT"); GET non-2xx: $GET_BAD"
for n in $FAN_SMALL $FAN_BIG; do
  echo "fan-out $n settee: ${FAN[s$n]}"
  echo "fan-out $n ceiling: ${FAN[c$n]}"
done
rm -rf "$DATA"
