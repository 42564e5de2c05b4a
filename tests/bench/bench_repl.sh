#!/bin/bash
# bench_repl.sh — replication throughput: the initial pull of N documents
# from `settee serve` into a local file with `settee replicate`, PouchDB
# (node, in-memory adapter) pulling the same database, and the push of N
# local documents into an empty remote database.
#
#   tests/bench/bench_repl.sh [SETTEE_BIN] [N]
#
# SETTEE_BIN defaults to build-release/client/settee (build it with
# -DCMAKE_BUILD_TYPE=Release: sanitizer builds are several times slower).
# PouchDB comes from tests/interop/node_modules (npm ci there); without it
# that row is skipped.  The server runs on an ephemeral 127.0.0.1 port with a
# scratch directory and is stopped by its PID.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$here/build-release/client/settee}
n=${2:-100000}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-repl.XXXXXX")
pw=bench-pw
"$bin" serve --data "$work/data" --port 0 --admin "admin:$pw" --log-level error > "$work/serve.out" 2>&1 &
spid=$!
cleanup() { kill "$spid" 2> /dev/null || true; wait "$spid" 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" && break; sleep 0.1; done
port=$(grep -o "127.0.0.1:[0-9]*" "$work/serve.out" | head -1 | cut -d: -f2)
url="http://admin:$pw@127.0.0.1:$port"

# N documents of ~150 bytes, written with _bulk_docs in batches of 1000.
curl -sf -X PUT "$url/src" > /dev/null
python3 - "$url" "$n" << 'PY'
import base64, json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
plain = url.split('@')[0].split('//')[0] + '//' + url.split('@')[1]
auth = base64.b64encode(url.split('//')[1].split('@')[0].encode()).decode()
for start in range(0, n, 1000):
    docs = [{"_id": "doc%07d" % i, "n": i, "name": "document number %d" % i,
             "tags": ["a", "b", "c"], "nested": {"x": 1.5, "y": True}}
            for i in range(start, min(n, start + 1000))]
    req = urllib.request.Request(plain + "/src/_bulk_docs", data=json.dumps({"docs": docs}).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": "Basic " + auth})
    urllib.request.urlopen(req).read()
PY

rate() { python3 -c "import sys; print('%d docs/s' % ($n / float(sys.argv[1])))" "$1"; }
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N); python3 -c "print('%.3f' % ($t1 - $t0))"; }

t=$(seconds "$bin" replicate "$url/src" "$work/pulled.settee" --create-target --quiet)
echo "settee pull  $n docs: ${t}s  $(rate "$t")"

if [ -d "$here/tests/interop/node_modules/pouchdb-core" ]; then
  t=$(seconds env NODE_PATH="$here/tests/interop/node_modules" node -e '
    const P = require("pouchdb-core").plugin(require("pouchdb-adapter-memory"))
      .plugin(require("pouchdb-adapter-http")).plugin(require("pouchdb-replication"));
    const db = new P("bench", { adapter: "memory" });
    P.replicate(new P(process.argv[1]), db).then((r) => { if (r.docs_written != process.argv[2]) process.exit(1); });
  ' "$url/src" "$n")
  echo "PouchDB pull $n docs: ${t}s  $(rate "$t")"
else
  echo "PouchDB pull: skipped (no tests/interop/node_modules)"
fi

t=$(seconds "$bin" replicate "$work/pulled.settee" "$url/pushed" --create-target --quiet)
echo "settee push  $n docs: ${t}s  $(rate "$t")"
