#!/usr/bin/env bash
# bench_auth_http.sh — what authentication costs a GET, over HTTP: one
# settee serve, side by side in one run, wrk GETs of random documents
#   anon     no credentials, on a public database ({} security)
#   basic    HTTP Basic as a member, on a members-only database
#   cookie   an AuthSession cookie (POST /_session first), same database
# Both databases hold the same 10,000 documents.  The three phases are
# interleaved over ROUNDS rounds, the order rotating each round, so machine
# noise falls on all of them alike; medians are reported, with the ratios to
# the anonymous rate (target: authenticated ≥ 0.90), and settee's own CPU
# time per request (user + system, from /proc), which a shared machine
# disturbs much less than the rate.
#
#   tests/bench/bench_auth_http.sh BUILD_DIR [quick]
#   tests/bench/bench_auth_http.sh OLD_BUILD_DIR NEW_BUILD_DIR [quick]
#
# With two build directories, one server runs from each (seeded alike) and
# every round runs the three phases against both, the build that goes first
# alternating each round, so an old-versus-new comparison shares the
# machine's noise too; each build gets its own table.
#
# BUILD_DIR holds client/settee and tests/bench/bench_bulk (a Release
# build).  Needs wrk.  settee runs with CouchDB's defaults for passwords
# (PBKDF2-SHA256, 600,000 iterations: only the first Basic request pays it,
# then the verified-credentials cache answers) and logs at info level to a
# file, like bench_server.sh.  127.0.0.1 and an ephemeral port only; the
# servers are stopped by their PIDs.  BENCH_ROUNDS and BENCH_DUR (seconds
# per phase) override the 3 rounds of 10 s: on a busy machine, more and
# shorter rounds spread the noise more evenly.
set -euo pipefail

USAGE="usage: bench_auth_http.sh BUILD_DIR [NEW_BUILD_DIR] [quick]"
BUILDS=(); QUICK=""
for a in "$@"; do
  if [ "$a" = quick ]; then QUICK=quick; else BUILDS+=("$(cd "$a" && pwd)"); fi
done
[ "${#BUILDS[@]}" = 1 ] || [ "${#BUILDS[@]}" = 2 ] || { echo "$USAGE" >&2; exit 2; }
LABELS=(this); [ "${#BUILDS[@]}" = 2 ] && LABELS=(old new)
HERE=$(cd "$(dirname "$0")" && pwd)
for B in "${BUILDS[@]}"; do
  for b in "$B/client/settee" "$B/tests/bench/bench_bulk"; do
    [ -x "$b" ] || { echo "missing $b (build it first)" >&2; exit 2; }
  done
done
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }

DUR=${BENCH_DUR:-10}; ROUNDS=${BENCH_ROUNDS:-3}; SEED=10000; CONNS=64
if [ "$QUICK" = quick ]; then DUR=2; ROUNDS=1; SEED=2000; fi

ADMIN=admin:bench-admin-pw
READER=reader
READER_PW=bench-reader-pw
RUN=$(mktemp -d "${BENCH_DIR:-${BUILDS[0]}}/bench_auth_http.XXXXXX")
SPIDS=(); PORTS=()
echo "run directory: $RUN" >&2

stop_pid() { # PID: SIGTERM, wait up to 10 s, then SIGKILL
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_all() { for p in "${SPIDS[@]}"; do stop_pid "$p"; done; SPIDS=(); }
trap stop_all EXIT

BASIC="Authorization: Basic $(printf '%s:%s' "$READER" "$READER_PW" | base64 -w0)"

start_server() { # INDEX: settee from BUILDS[INDEX], seeded; sets SPIDS/PORTS[INDEX]
  local i=$1 B=${BUILDS[$1]} dir=$RUN/${LABELS[$1]} port=""
  mkdir -p "$dir"
  "$B/client/settee" serve --data "$dir/data" --bind 127.0.0.1 --port 0 --admin "$ADMIN" \
    > /dev/null 2> "$dir/settee.log" &
  SPIDS[$i]=$!
  for _ in $(seq 200); do
    port=$(grep -o "settee listening on 127.0.0.1:[0-9]*" "$dir/settee.log" 2>/dev/null | head -1 | sed 's/.*://') || true
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "settee did not start:" >&2; cat "$dir/settee.log" >&2; exit 1; }
  PORTS[$i]=$port
  local base=http://127.0.0.1:$port
  req() { # METHOD PATH [BODY] → status; as the admin
    curl -s -o /dev/null -w '%{http_code}' --max-time 30 -u "$ADMIN" -X "$1" \
      -H 'Content-Type: application/json' ${3:+-d "$3"} "$base$2"
  }
  must() { local got; got=$(req "$@"); case $got in 2*) ;; *) echo "$1 $2: $got" >&2; exit 1;; esac; }
  echo "seeding $SEED documents into pub and priv (${LABELS[$i]})..." >&2
  timeout 120 "$B/tests/bench/bench_bulk" "$port" pub "$ADMIN" "$SEED" 1000 2 doc- 100 >&2
  timeout 120 "$B/tests/bench/bench_bulk" "$port" priv "$ADMIN" "$SEED" 1000 2 doc- 100 >&2
  must PUT /pub/_security '{}'
  must PUT /priv/_security "{\"members\":{\"names\":[\"$READER\"]}}"
  must PUT "/_users/org.couchdb.user:$READER" \
    "{\"name\":\"$READER\",\"password\":\"$READER_PW\",\"roles\":[],\"type\":\"user\"}"
  # Sanity: each phase's request is answered 200, and anonymous is refused on priv.
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/pub/doc-0000000")" = 200 ]
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/priv/doc-0000000")" = 401 ]
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$BASIC" "$base/priv/doc-0000000")" = 200 ]
}
for i in "${!BUILDS[@]}"; do start_server "$i"; done

login_cookie() { # BASE
  curl -s -D - -o /dev/null --max-time 30 -H 'Content-Type: application/json' \
    -d "{\"name\":\"$READER\",\"password\":\"$READER_PW\"}" "$1/_session" |
    sed -n 's/^[Ss]et-[Cc]ookie: \(AuthSession=[^;]*\).*/\1/p' | head -1
}

wrk_rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1"; }
wrk_non2xx() { local n; n=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$1"); echo "${n:-0}"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
fmt0() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # PID's user + system time
wrk_requests() { sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$1"; }

phase() { # INDEX NAME ROUND
  local i=$1 name=$2 round=$3 L=${LABELS[$1]} db=priv hdr=()
  local out=$RUN/$L.$name.$round.txt base=http://127.0.0.1:${PORTS[$1]} pid=${SPIDS[$1]}
  case $name in
    anon) db=pub ;;
    basic) hdr=(-H "$BASIC") ;;
    cookie) hdr=(-H "Cookie: $(login_cookie "$base")") ;;
  esac
  local t0; t0=$(cpu_ticks "$pid")
  timeout $((DUR + 30)) wrk -t2 -c$CONNS -d${DUR}s --timeout 5s "${hdr[@]}" -s "$HERE/get.lua" \
    "$base" -- "$db" "$SEED" > "$out" 2>&1
  local t1; t1=$(cpu_ticks "$pid")
  local bad; bad=$(wrk_non2xx "$out")
  [ "$bad" = 0 ] || { echo "$L $name round $round: $bad non-2xx answers" >&2; cat "$out" >&2; exit 1; }
  # settee's CPU per request: steadier than the rate on a shared machine.
  local us; us=$(awk -v t=$((t1 - t0)) -v hz="$TICK" -v n="$(wrk_requests "$out")" \
    'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print 0 }')
  echo "$L $name round $round: $(wrk_rps "$out") req/s, settee CPU $us us/request, load $(cut -d' ' -f1 /proc/loadavg)" >&2
  printf '%s ' "$(wrk_rps "$out")" >> "$RUN/$L.$name.rates"
  printf '%s ' "$us" >> "$RUN/$L.$name.cpu"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
ORDERS=("anon basic cookie" "basic cookie anon" "cookie anon basic")
for r in $(seq "$ROUNDS"); do
  builds="0"
  if [ "${#BUILDS[@]}" = 2 ]; then builds="0 1"; [ $((r % 2)) = 0 ] && builds="1 0"; fi
  for i in $builds; do
    for p in ${ORDERS[$(( (r - 1) % 3 ))]}; do phase "$i" "$p" "$r"; done
  done
done
HWMS=""
for i in "${!BUILDS[@]}"; do
  HWMS="$HWMS ${LABELS[$i]} $(( $(awk '/^VmHWM:/ {print $2}' "/proc/${SPIDS[$i]}/status") / 1024 )) MiB"
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
stop_all

met() { ge "$1" 0.9 && echo yes || echo NO; }
for L in "${LABELS[@]}"; do
  A=$(median < "$RUN/$L.anon.rates"); B=$(median < "$RUN/$L.basic.rates"); C=$(median < "$RUN/$L.cookie.rates")
  AC=$(median < "$RUN/$L.anon.cpu"); BC=$(median < "$RUN/$L.basic.cpu"); CC=$(median < "$RUN/$L.cookie.cpu")
  echo
  [ "$L" = this ] || echo "build: $L (${BUILDS[$([ "$L" = old ] && echo 0 || echo 1)]})"
  echo "| GET random doc, $CONNS conns (medians of $ROUNDS) | req/s | vs anonymous | settee CPU µs/req | anonymous/this | target | met |"
  echo "| --- | ---: | ---: | ---: | ---: | --- | --- |"
  echo "| no credentials, public database | $(fmt0 "$A") | 1.00 | $AC | 1.00 | | |"
  echo "| Basic auth, members-only database | $(fmt0 "$B") | $(ratio "$B" "$A") | $BC | $(ratio "$AC" "$BC") | ≥ 0.90 | $(met "$(ratio "$B" "$A")") / $(met "$(ratio "$AC" "$BC")") |"
  echo "| session cookie, members-only database | $(fmt0 "$C") | $(ratio "$C" "$A") | $CC | $(ratio "$AC" "$CC") | ≥ 0.90 | $(met "$(ratio "$C" "$A")") / $(met "$(ratio "$AC" "$CC")") |"
  echo
  echo "all runs, req/s: anon $(cat "$RUN/$L.anon.rates")/ basic $(cat "$RUN/$L.basic.rates")/ cookie $(cat "$RUN/$L.cookie.rates")"
  echo "ranges, req/s: anon $(range < "$RUN/$L.anon.rates") / basic $(range < "$RUN/$L.basic.rates") / cookie $(range < "$RUN/$L.cookie.rates")"
  echo "all runs, settee CPU µs/request: anon $(cat "$RUN/$L.anon.cpu")/ basic $(cat "$RUN/$L.basic.cpu")/ cookie $(cat "$RUN/$L.cookie.cpu")"
done
echo
echo "settee VmHWM:$HWMS; load average before the run: $LOAD0, after: $LOAD1"
for L in "${LABELS[@]}"; do rm -rf "$RUN/$L/data"; done
