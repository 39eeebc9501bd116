#!/usr/bin/env bash
# The gateway's overhead: load from oha straight at the simulator, then through `botforge
# serve` in front of it, at fixed rates (1,000 and 5,000 requests/s) and at maximum throughput.
# Prints added latency (p50, p99) and the throughput ratio, for two layouts (plus one row of
# `embedContent` at maximum throughput):
#   shared  everything (oha, gateway, simulator) on all CPUs, as the scheduler places it;
#   pinned  oha and the simulator on CPU 0, the gateway alone on CPU 1: the direct run gets
#           CPU 0 only, so the ratio says whether one core of gateway keeps up with what one
#           core of client + upstream produces (a gateway deployed on cores of its own).
#   bench/gateway.sh [SECONDS]     (first run installs oha under ~/.cache/botforge/tools)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
cache="$HOME/.cache/botforge"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
oha="$cache/tools/bin/oha"
if [ ! -x "$oha" ]; then
  cargo install oha --version 1.16.0 --locked --root "$cache/tools"
fi
cargo build -q --release -p botforge
bin="$CARGO_TARGET_DIR/release/botforge"
work=$(mktemp -d)
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pids=(); }
cleanup() { stop_all; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/keys.json" <<JSON
{"keys": [
  {"key_id": "b1", "project": "p1", "rpm": 100000000, "tpm": 1000000000000, "rpd": 1000000000},
  {"key_id": "b2", "project": "p2", "rpm": 100000000, "tpm": 1000000000000, "rpd": 1000000000},
  {"key_id": "b3", "project": "p3", "rpm": 100000000, "tpm": 1000000000000, "rpd": 1000000000},
  {"key_id": "b4", "project": "p4", "rpm": 100000000, "tpm": 1000000000000, "rpd": 1000000000}
]}
JSON
body='{"contents":[{"role":"user","parts":[{"text":"Say hi"}]}]}'
path="/v1beta/models/gemini-2.5-flash:generateContent"
embed_body='{"content":{"parts":[{"text":"Say hi"}]},"outputDimensionality":8}'
embed_path="/v1beta/models/gemini-embedding-001:embedContent"

wait_addr() { # log file -> prints the first http:// address written to it
  for _ in $(seq 1 100); do grep -q http:// "$1" && break; sleep 0.05; done
  grep -o 'http://[0-9.:]*' "$1" | head -1
}

# layout NAME UPSTREAM_CPUS GATEWAY_CPUS: starts both servers, runs every load, stops them.
# A CPU list of "" leaves placement to the scheduler.
layout() {
  local name=$1 up=() gwc=()
  [ -n "$2" ] && up=(taskset -c "$2")
  [ -n "$3" ] && gwc=(taskset -c "$3")
  # The simulator without a config: any key is valid and unlimited.
  "${up[@]}" "$bin" sim --bind 127.0.0.1:0 2> "$work/sim.log" &
  pids+=($!)
  local sim gw
  sim=$(wait_addr "$work/sim.log")
  (cd "$work" && exec env -i PATH="$PATH" ENABLE_KEY_ROTATION=true KEYS_FILE="$work/keys.json" \
    GEMINI_KEY_b1=bench-key-1 GEMINI_KEY_b2=bench-key-2 GEMINI_KEY_b3=bench-key-3 GEMINI_KEY_b4=bench-key-4 \
    GEMINI_BASE_URL="$sim" "${gwc[@]}" "$bin" serve --bind 127.0.0.1:0 --token bench-token 2> "$work/gw.log") &
  pids+=($!)
  gw=$(wait_addr "$work/gw.log")
  run() { # kind base key rate [row body path]
    local rate=() row=${5:-$4} data=${6:-$body} target=${7:-$path}
    [ "$4" != max ] && rate=(-q "$4")
    "${up[@]}" "$oha" --no-tui --output-format json -z "${secs}s" -c 64 "${rate[@]}" -m POST \
      -H "content-type: application/json" -H "x-goog-api-key: $3" -d "$data" "$2$target" \
      > "$work/$name-$1-$row.json"
  }
  for rate in 1000 5000 max; do
    run direct "$sim" bench-key-1 "$rate"
    run gateway "$gw" bench-token "$rate"
  done
  run direct "$sim" bench-key-1 max embed "$embed_body" "$embed_path"
  run gateway "$gw" bench-token max embed "$embed_body" "$embed_path"
  stop_all
  sleep 0.5
}

layouts=(shared)
layout shared "" ""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  layouts+=(pinned)
  layout pinned 0 1
fi

python3 - "$work" "${layouts[@]}" <<'PY'
import json, sys, pathlib
w = pathlib.Path(sys.argv[1])
def load(n):
    d = json.loads((w / f"{n}.json").read_text())
    lat = d["latencyPercentiles"]
    codes = d.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    total = sum(codes.values()) or 1
    return d["summary"]["requestsPerSec"], lat["p50"] * 1000, lat["p99"] * 1000, ok / total
for layout in sys.argv[2:]:
    print(f"\n{layout}")
    print(f"{'rate':>6} {'direct rps':>11} {'gateway rps':>12} {'ratio':>6} {'p50 direct':>11} {'p50 gw':>8} {'added p50':>10} {'p99 direct':>11} {'p99 gw':>8} {'added p99':>10} {'gw 2xx':>7}")
    for rate in ("1000", "5000", "max", "embed"):
        d, g = load(f"{layout}-direct-{rate}"), load(f"{layout}-gateway-{rate}")
        print(f"{rate:>6} {d[0]:>11,.0f} {g[0]:>12,.0f} {g[0] / d[0]:>6.2f} {d[1]:>9.3f}ms {g[1]:>6.3f}ms {g[1] - d[1]:>8.3f}ms {d[2]:>9.3f}ms {g[2]:>6.3f}ms {g[2] - d[2]:>8.3f}ms {g[3]:>7.1%}")
PY
