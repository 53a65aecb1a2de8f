#!/usr/bin/env bash
# Cost of one outbound call per language (Rust with wstd, Python with durable.http, JavaScript
# with fetch): a fan-out of N check_site activities (each a GET to a local server) against a
# fan-out of N no-op activities, through `durable serve`.
#
#   cargo build --release -p durable-host
#   cargo build --release --target wasm32-wasip2 --target-dir target/wasm -p check-sites -p fan-out-fan-in
#   scripts/bench-outbound.sh          # N=500 by default
#
# Prints, per language, the wall time of the fan-out, the client-side latency of one
# orchestration of one activity at a time (p50, p90 of 50), and the engine's mean activity run
# time (from /metrics; under the fan-out it includes waiting for the local server).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
D=$root/${DURABLE:-target/release/durable}
N=${N:-500}
W=$root/target/wasm/wasm32-wasip2/release
work=$(mktemp -d)
cd "$work"
python3 - <<'PY' &
import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        # One write: headers and body apart would meet Nagle and delayed ACKs (40 ms).
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nhello world\n")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", 8911), H).serve_forever()
PY
server=$!
trap 'kill $server 2>/dev/null' EXIT
"$D" build $root/examples/python/check_sites -o cs_py.wasm >/dev/null 2>&1
"$D" build $root/examples/python/fan_out_fan_in -o fo_py.wasm >/dev/null 2>&1
"$D" build $root/examples/js/check_sites -o cs_js.wasm >/dev/null 2>&1
"$D" build $root/examples/js/fan_out_fan_in -o fo_js.wasm >/dev/null 2>&1
run() { # name component orchestrator input
  local port=$((7100 + RANDOM % 500))
  "$D" --db "$1.db" serve --component "$2" --allow-http 127.0.0.1 --http-addr 127.0.0.1:$port >/dev/null 2>serve.log &
  local pid=$!
  until curl -s -o /dev/null http://127.0.0.1:$port/runtime/webhooks/durabletask/instances; do sleep 0.1; done
  # Warm up: compile, instances.
  curl -s -X POST -H 'content-type: application/json' -d "$4" "http://127.0.0.1:$port/runtime/webhooks/durabletask/orchestrators/$3?timeout=300" -o /dev/null
  local start=$(date +%s.%N)
  curl -s -X POST -H 'content-type: application/json' -d "$4" "http://127.0.0.1:$port/runtime/webhooks/durabletask/orchestrators/$3?timeout=300" -o out.json
  local end=$(date +%s.%N)
  # One at a time: 50 orchestrations of a single activity each, client-side latency.
  local lat=""
  for i in $(seq 50); do
    local t0=$(date +%s%N)
    curl -s -X POST -H 'content-type: application/json' -d "$5" "http://127.0.0.1:$port/runtime/webhooks/durabletask/orchestrators/$3?timeout=60" -o /dev/null
    lat="$lat $(( ($(date +%s%N) - t0) / 1000 ))"
  done
  local m=$(curl -s http://127.0.0.1:$port/metrics | grep -E '^durable_activity_duration_seconds_(sum|count) ' | awk '{print $2}' | tr '\n' ' ')
  kill $pid; wait $pid 2>/dev/null || true
  python3 -c "import statistics as st; l=sorted(int(x) for x in '$lat'.split()); s,c='$m'.split(); print(f'$1: fan-out of $N in {float($end)-float($start):.2f} s; one at a time p50 {st.median(l)/1000:.2f} ms p90 {l[44]/1000:.2f} ms; mean activity run {1e3*float(s)/float(c):.2f} ms')"
}
urls=$(python3 -c "import json; print(json.dumps(['http://127.0.0.1:8911/x']*$N))")
one='["http://127.0.0.1:8911/x"]'
run rust-fetch "$W/check_sites.wasm" check_sites "$urls" "$one"
head -c 120 out.json; echo
run rust-noop "$W/fan_out_fan_in.wasm" fan_out_fan_in "$N" 1
run py-fetch cs_py.wasm check_sites "$urls" "$one"
head -c 120 out.json; echo
run py-noop fo_py.wasm fan_out_fan_in "$N" 1
run js-fetch cs_js.wasm check_sites "$urls" "$one"
head -c 120 out.json; echo
run js-noop fo_js.wasm fan_out_fan_in "$N" 1
