#!/bin/bash
# bench_repl.sh — replication throughput of two builds side by side, in one
# run: remote → local (pull from `settee serve` into a new file), local →
# local (that file into a new file) and local → remote (that file pushed
# into an empty remote database), for three data sets:
#
#   small  N documents of ~150 bytes
#   text   A documents, each with a 100 KB compressible text attachment
#   bin    A documents, each with a 100 KB incompressible (random) one
#
#   tests/bench/bench_repl.sh NEW_BIN [OLD_BIN] [N] [A] [RUNS]
#
# Each measure runs RUNS times (default 3), the two builds interleaved
# (new, old, then old, new, ...) so that a noisy machine hurts both alike,
# after one untimed pull that warms the server's cache; every run is
# printed.  The serving side is one `settee serve` of NEW_BIN for
# both builds, so the rows compare the replicators.  Each build reads local
# sources it wrote itself (file formats may differ between builds).  Build
# both with -DCMAKE_BUILD_TYPE=Release (sanitizer builds are several times
# slower).  With PouchDB in tests/interop/node_modules (npm ci there), one
# PouchDB pull of the small set is timed too.  The server runs on an
# ephemeral 127.0.0.1 port with a scratch directory and is stopped by its
# PID.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
new=${1:?usage: bench_repl.sh NEW_BIN [OLD_BIN] [N] [A] [RUNS]}
old=${2:-}
n=${3:-100000}
a=${4:-1000}
runs=${5:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-repl.XXXXXX")
pw=bench-pw
"$new" serve --data "$work/data" --port 0 --admin "admin:$pw" --log-level error > "$work/serve.out" 2>&1 &
spid=$!
cleanup() { kill "$spid" 2> /dev/null || true; wait "$spid" 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" && break; sleep 0.1; done
port=$(grep -o "127.0.0.1:[0-9]*" "$work/serve.out" | head -1 | cut -d: -f2)
url="http://admin:$pw@127.0.0.1:$port"

# The data sets, written with _bulk_docs.
python3 - "http://127.0.0.1:$port" "admin:$pw" "$n" "$a" << 'PY'
import base64, json, os, random, sys, urllib.request
root, cred, n, a = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
auth = "Basic " + base64.b64encode(cred.encode()).decode()
def call(method, path, body=None):
    req = urllib.request.Request(root + path, method=method, data=body,
                                 headers={"Content-Type": "application/json", "Authorization": auth})
    urllib.request.urlopen(req).read()
def bulk(db, docs):
    call("POST", "/%s/_bulk_docs" % db, json.dumps({"docs": docs}).encode())
for db in ("small", "text", "bin"):
    call("PUT", "/" + db)
for start in range(0, n, 1000):
    bulk("small", [{"_id": "doc%07d" % i, "n": i, "name": "document number %d" % i,
                    "tags": ["a", "b", "c"], "nested": {"x": 1.5, "y": True}}
                   for i in range(start, min(n, start + 1000))])
rnd = random.Random(7)
words = "replica sequence revision attachment checkpoint document database".split()
for start in range(0, a, 50):
    text, binary = [], []
    for i in range(start, min(a, start + 50)):
        t = " ".join(rnd.choice(words) for _ in range(15000)).encode()[:102400]
        b = os.urandom(102400)
        text.append({"_id": "t%05d" % i, "n": i, "_attachments": {"notes.txt": {
            "content_type": "text/plain", "data": base64.b64encode(t).decode()}}})
        binary.append({"_id": "b%05d" % i, "n": i, "_attachments": {"blob.bin": {
            "content_type": "application/octet-stream", "data": base64.b64encode(b).decode()}}})
    bulk("text", text)
    bulk("bin", binary)
PY

count() { case "$1" in small) echo "$n" ;; *) echo "$a" ;; esac; }
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > /dev/null
  t1=$(date +%s.%N)
  python3 -c "print('%.3f' % ($t1 - $t0))"
}
rate() { python3 -c "import sys; print('%d' % (int(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
drop_remote() { curl -sf -X DELETE "$url/$1" > /dev/null || true; }

sides="new"
[ -n "$old" ] && sides="new old"
bin_of() { if [ "$1" = new ]; then echo "$new"; else echo "$old"; fi; }
results="$work/results"
: > "$results"
record() { # side set direction run seconds
  local r
  r=$(rate "$(count "$2")" "$5")
  echo "$1 $2 $3 $4 $5 $r" >> "$results"
  printf '%-4s %-5s %-14s run %s: %7ss %8s docs/s\n' "$1" "$2" "$3" "$4" "$5" "$r"
}

for set in small text bin; do
  # Untimed: the server reads the set once, so no side pays for a cold cache.
  "$new" replicate "$url/$set" "$work/warm.settee" --create-target --quiet > /dev/null
  rm -f "$work/warm.settee"*
  for run in $(seq "$runs"); do
    # Who goes first alternates from run to run.
    order=$sides
    [ $((run % 2)) = 0 ] && [ -n "$old" ] && order="old new"
    for side in $order; do
      b=$(bin_of "$side")
      src="$work/$side-$set.settee"
      # remote -> local; the first run's file is the local source below.
      out="$work/$side-$set-pull$run.settee"
      t=$(seconds "$b" replicate "$url/$set" "$out" --create-target --quiet)
      record "$side" "$set" "remote->local" "$run" "$t"
      if [ "$run" = 1 ]; then mv "$out" "$src"; else rm -f "$out"*; fi
      t=$(seconds "$b" replicate "$src" "$work/$side-$set-l2l.settee" --create-target --quiet)
      record "$side" "$set" "local->local" "$run" "$t"
      rm -f "$work/$side-$set-l2l.settee"*
      t=$(seconds "$b" replicate "$src" "$url/push-$side-$set" --create-target --quiet)
      record "$side" "$set" "local->remote" "$run" "$t"
      drop_remote "push-$side-$set"
    done
  done
done

if [ -d "$here/tests/interop/node_modules/pouchdb-core" ]; then
  t=$(seconds env NODE_PATH="$here/tests/interop/node_modules" node -e '
    const P = require("pouchdb-core").plugin(require("pouchdb-adapter-memory"))
      .plugin(require("pouchdb-adapter-http")).plugin(require("pouchdb-replication"));
    const db = new P("bench", { adapter: "memory" });
    P.replicate(new P(process.argv[1]), db).then((r) => { if (r.docs_written != process.argv[2]) process.exit(1); });
  ' "$url/small" "$n")
  echo "PouchDB pull small: ${t}s $(rate "$n" "$t") docs/s"
fi

# Summary: every run per side, then the medians and new/old.
python3 - "$results" << 'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    side, s, d, _, _, r = line.split()
    runs[(s, d, side)].append(int(r))
print()
print("| set | direction | new docs/s (runs) | old docs/s (runs) | new/old (medians) |")
print("|---|---|---:|---:|---:|")
for s in ("small", "text", "bin"):
    for d in ("remote->local", "local->local", "local->remote"):
        nw, od = runs.get((s, d, "new"), []), runs.get((s, d, "old"), [])
        if not nw:
            continue
        ratio = "%.2fx" % (statistics.median(nw) / statistics.median(od)) if od else ""
        fmt = lambda v: " / ".join(str(x) for x in v)
        print("| %s | %s | %s | %s | %s |" % (s, d.replace("->", " → "), fmt(nw), fmt(od), ratio))
PY
