#!/usr/bin/env bash
# The gateway's own work per request, counted (not timed): callgrind runs `botforge serve` in
# front of the simulator, oha sends N `generateContent` requests after a warm-up, and the
# instructions the gateway executed for them are divided by N. Deterministic to a percent or
# so, unlike throughput on a shared machine, so it shows what a change costs per request.
#   bench/gateway_cost.sh [N]        (needs valgrind; installs oha like bench/gateway.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
cache="$HOME/.cache/botforge"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
oha="$cache/tools/bin/oha"
[ -x "$oha" ] || cargo install oha --version 1.16.0 --locked --root "$cache/tools"
cargo build -q --release -p botforge
bin="$CARGO_TARGET_DIR/release/botforge"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/keys.json" <<JSON
{"keys": [
  {"key_id": "b1", "project": "p1", "rpm": 100000000, "tpm": 1000000000000, "rpd": 1000000000},
  {"key_id": "b2", "project": "p2", "rpm": 100000000, "tpm": 1000000000000, "rpd": 1000000000}
]}
JSON
"$bin" sim --bind 127.0.0.1:0 2> "$work/sim.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q http:// "$work/sim.log" && break; sleep 0.05; done
sim=$(grep -o 'http://[0-9.:]*' "$work/sim.log" | head -1)
(cd "$work" && exec env -i PATH="$PATH" ENABLE_KEY_ROTATION=true KEYS_FILE="$work/keys.json" \
  GEMINI_KEY_b1=bench-key-1 GEMINI_KEY_b2=bench-key-2 GEMINI_BASE_URL="$sim" BOTFORGE_WORKERS=1 \
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" serve --bind 127.0.0.1:0 \
  --token bench-token 2> "$work/gw.log") &
pids+=($!)
for _ in $(seq 1 300); do grep -q http:// "$work/gw.log" && break; sleep 0.1; done
gw=$(grep -o 'http://[0-9.:]*' "$work/gw.log" | head -1)
load() {
  "$oha" --no-tui --output-format json -n "$1" -c 8 -m POST -H "content-type: application/json" \
    -H "x-goog-api-key: bench-token" -d '{"contents":[{"role":"user","parts":[{"text":"Say hi"}]}]}' \
    "$gw/v1beta/models/gemini-2.5-flash:generateContent" > "$work/oha.json"
}
load 200
vg=$(pgrep -f "callgrind-out-file=$work/cg.out" | tail -1)
callgrind_control -z "$vg" > /dev/null 2>&1
load "$n"
callgrind_control -d "$vg" > /dev/null 2>&1
sleep 1
total=$(grep -h '^summary:' "$work"/cg.out.* | awk '{print $2}' | sort -n | tail -1)
python3 - "$total" "$n" "$work/oha.json" <<'PY'
import json, sys
total, n = int(sys.argv[1]), int(sys.argv[2])
ok = sum(v for k, v in json.load(open(sys.argv[3])).get("statusCodeDistribution", {}).items() if k.startswith("2"))
print(f"{'requests':>9} {'2xx':>6} {'instructions / request':>23}")
print(f"{n:>9} {ok:>6} {total / n:>23,.0f}")
PY
