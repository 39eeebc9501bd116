#!/usr/bin/env bash
# A 100-symbol daily portfolio (10 years each, synthetic, seeded; bench/make_portfolio.py):
# whole-process `botforge backtest --data 'DIR/*.csv' --json` (best of 5, with its peak RSS)
# against vectorbt's import + read_csv + Portfolio.from_signals(cash_sharing=True,
# group_by=True) + stats on the same SMA(10)/SMA(30) signals (bench/portfolio_vbt.py, best of 3).
# The two engines' fills differ (botforge: next open, whole units, backtesting.py's margin;
# vectorbt: this close, fractional sizes), so the trade counts are shown, not compared.
#   bench/portfolio.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
dir="$cache/bench-data/portfolio100"
if [ ! -s "$dir/S099.csv" ]; then
  "$py" bench/make_portfolio.py "$dir"
fi
cargo build -q --release -p botforge
bin="$CARGO_TARGET_DIR/release/botforge"
strategy=$(mktemp --suffix=.toml)
trap 'rm -f "$strategy"' EXIT
cat > "$strategy" <<'TOML'
name = "PortfolioCross"
[indicators]
fast = "sma(close, 10)"
slow = "sma(close, 30)"
[rules]
entry_long = "crosses_above(fast, slow)"
exit_long = "crosses_below(fast, slow)"
[risk]
size = 0.1
TOML
best=""
peak=0
for _ in 1 2 3 4 5; do
  line=$( { /usr/bin/time -f '%e %M' "$bin" backtest "$strategy" --data "$dir/*.csv" --json >"$strategy.json"; } 2>&1 | tail -1)
  s=${line% *}
  kb=${line#* }
  if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; peak=$kb; fi
done
trades=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["trades"])' "$strategy.json")
rm -f "$strategy.json"
ref=""
vtrades=0
for _ in 1 2 3; do
  out=$("$py" bench/portfolio_vbt.py "$dir")
  s=$(echo "$out" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
  vtrades=$(echo "$out" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["trades"])')
  if [ -z "$ref" ] || awk "BEGIN{exit !($s < $ref)}"; then ref=$s; fi
done
printf '%-22s %12s %12s %8s %14s %16s\n' portfolio botforge_s vectorbt_s ratio botforge_trades vectorbt_trades
awk -v b="$best" -v r="$ref" -v t="$trades" -v v="$vtrades" -v k="$peak" \
  'BEGIN{printf "%-22s %12.3f %12.2f %7.0fx %14d %16d\n", "100 symbols x 10 y", b, r, r/b, t, v; printf "botforge peak RSS: %.0f MB\n", k/1024}'
