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
#
# BUILD_DIR holds client/settee and tests/bench/bench_bulk (a Release
# build).  Needs wrk.  settee runs with CouchDB's defaults for passwords
# (PBKDF2-SHA256, 600,000 iterations: only the first Basic request pays it,
# then the verified-credentials cache answers) and logs at info level to a
# file, like bench_server.sh.  127.0.0.1 and an ephemeral port only; the
# server is stopped by its PID.
set -euo pipefail

BUILD=${1:?usage: bench_auth_http.sh BUILD_DIR [quick]}
BUILD=$(cd "$BUILD" && pwd)
QUICK=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
SETTEE=$BUILD/client/settee
BULK=$BUILD/tests/bench/bench_bulk
for b in "$SETTEE" "$BULK"; do
  [ -x "$b" ] || { echo "missing $b (build it first)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }

DUR=10; ROUNDS=3; SEED=10000; CONNS=64
if [ "$QUICK" = quick ]; then DUR=2; ROUNDS=1; SEED=2000; fi

ADMIN=admin:bench-admin-pw
READER=reader
READER_PW=bench-reader-pw
RUN=$(mktemp -d "${BENCH_DIR:-$BUILD}/bench_auth_http.XXXXXX")
SPID=""
echo "run directory: $RUN" >&2

stop_pid() { # PID: SIGTERM, wait up to 10 s, then SIGKILL
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap 'stop_pid "$SPID"' EXIT

"$SETTEE" serve --data "$RUN/data" --bind 127.0.0.1 --port 0 --admin "$ADMIN" \
  > /dev/null 2> "$RUN/settee.log" &
SPID=$!
PORT=""
for _ in $(seq 200); do
  PORT=$(grep -o "settee listening on 127.0.0.1:[0-9]*" "$RUN/settee.log" 2>/dev/null | head -1 | sed 's/.*://') || true
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || { echo "settee did not start:" >&2; cat "$RUN/settee.log" >&2; exit 1; }
BASE=http://127.0.0.1:$PORT

req() { # METHOD PATH [BODY] → status; as the admin
  curl -s -o /dev/null -w '%{http_code}' --max-time 30 -u "$ADMIN" -X "$1" \
    -H 'Content-Type: application/json' ${3:+-d "$3"} "$BASE$2"
}
must() { local got; got=$(req "$@"); case $got in 2*) ;; *) echo "$1 $2: $got" >&2; exit 1;; esac; }

echo "seeding $SEED documents into pub and priv..." >&2
timeout 120 "$BULK" "$PORT" pub "$ADMIN" "$SEED" 1000 2 doc- 100 >&2
timeout 120 "$BULK" "$PORT" priv "$ADMIN" "$SEED" 1000 2 doc- 100 >&2
must PUT /pub/_security '{}'
must PUT /priv/_security "{\"members\":{\"names\":[\"$READER\"]}}"
must PUT "/_users/org.couchdb.user:$READER" \
  "{\"name\":\"$READER\",\"password\":\"$READER_PW\",\"roles\":[],\"type\":\"user\"}"
BASIC="Authorization: Basic $(printf '%s:%s' "$READER" "$READER_PW" | base64 -w0)"

# Sanity: each phase's request is answered 200, and anonymous is refused on priv.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/pub/doc-0000000")" = 200 ]
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/priv/doc-0000000")" = 401 ]
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$BASIC" "$BASE/priv/doc-0000000")" = 200 ]

login_cookie() {
  curl -s -D - -o /dev/null --max-time 30 -H 'Content-Type: application/json' \
    -d "{\"name\":\"$READER\",\"password\":\"$READER_PW\"}" "$BASE/_session" |
    sed -n 's/^[Ss]et-[Cc]ookie: \(AuthSession=[^;]*\).*/\1/p' | head -1
}

wrk_rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1"; }
wrk_non2xx() { local n; n=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$1"); echo "${n:-0}"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
fmt0() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SPID/stat"; } # settee's user + system time
wrk_requests() { sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$1"; }

phase() { # NAME ROUND
  local name=$1 round=$2 out=$RUN/$1.$2.txt db=priv hdr=()
  case $name in
    anon) db=pub ;;
    basic) hdr=(-H "$BASIC") ;;
    cookie) hdr=(-H "Cookie: $(login_cookie)") ;;
  esac
  local t0; t0=$(cpu_ticks)
  timeout $((DUR + 30)) wrk -t2 -c$CONNS -d${DUR}s --timeout 5s "${hdr[@]}" -s "$HERE/get.lua" \
    "$BASE" -- "$db" "$SEED" > "$out" 2>&1
  local t1; t1=$(cpu_ticks)
  local bad; bad=$(wrk_non2xx "$out")
  [ "$bad" = 0 ] || { echo "$name round $round: $bad non-2xx answers" >&2; cat "$out" >&2; exit 1; }
  # settee's CPU per request: steadier than the rate on a shared machine.
  local us; us=$(awk -v t=$((t1 - t0)) -v hz="$TICK" -v n="$(wrk_requests "$out")" \
    'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print 0 }')
  echo "$name round $round: $(wrk_rps "$out") req/s, settee CPU $us us/request" >&2
  printf '%s ' "$(wrk_rps "$out")" >> "$RUN/$name.rates"
  printf '%s ' "$us" >> "$RUN/$name.cpu"
}

ORDERS=("anon basic cookie" "basic cookie anon" "cookie anon basic")
for r in $(seq "$ROUNDS"); do
  for p in ${ORDERS[$(( (r - 1) % 3 ))]}; do phase "$p" "$r"; done
done
HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/$SPID/status")
stop_pid "$SPID"; SPID=""

A=$(median < "$RUN/anon.rates"); B=$(median < "$RUN/basic.rates"); C=$(median < "$RUN/cookie.rates")
AC=$(median < "$RUN/anon.cpu"); BC=$(median < "$RUN/basic.cpu"); CC=$(median < "$RUN/cookie.cpu")
met() { ge "$1" 0.9 && echo yes || echo NO; }
echo
echo "| GET random doc, $CONNS conns (medians of $ROUNDS) | req/s | vs anonymous | settee CPU µs/req | anonymous/this | target | met |"
echo "| --- | ---: | ---: | ---: | ---: | --- | --- |"
echo "| no credentials, public database | $(fmt0 "$A") | 1.00 | $AC | 1.00 | | |"
echo "| Basic auth, members-only database | $(fmt0 "$B") | $(ratio "$B" "$A") | $BC | $(ratio "$AC" "$BC") | ≥ 0.90 | $(met "$(ratio "$B" "$A")") / $(met "$(ratio "$AC" "$BC")") |"
echo "| session cookie, members-only database | $(fmt0 "$C") | $(ratio "$C" "$A") | $CC | $(ratio "$AC" "$CC") | ≥ 0.90 | $(met "$(ratio "$C" "$A")") / $(met "$(ratio "$AC" "$CC")") |"
echo
echo "all runs, req/s: anon $(cat "$RUN/anon.rates")/ basic $(cat "$RUN/basic.rates")/ cookie $(cat "$RUN/cookie.rates")"
echo "all runs, settee CPU µs/request: anon $(cat "$RUN/anon.cpu")/ basic $(cat "$RUN/basic.cpu")/ cookie $(cat "$RUN/cookie.cpu")"
echo "settee VmHWM: $(( HWM / 1024 )) MiB; load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$RUN/data"
