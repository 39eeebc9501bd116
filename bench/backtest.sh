#!/usr/bin/env bash
# botforge's backtester against backtesting.py 0.6.6, vectorbt 1.2.0 and TA-Lib, in one go, on
# GOOG (daily, 2,148 bars) and a deterministic 1,000,000-bar synthetic series (minute bars):
# one SMA(10)/SMA(30) cross backtest with full statistics, a sweep of 100 (fast, slow) pairs,
# and each indicator per bar. Each engine runs in its own process, so peak memory is its own.
# backtesting.py is left out of the 1M-bar sweep (it would take hours).
#   bench/backtest.sh            (first run builds a venv under ~/.cache/botforge: ~2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
goog="$PWD/crates/backtest/data/GOOG.csv"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for f in "$goog" "$syn"; do
  cargo bench -q -p backtest --bench engines -- "$f" | sed "s/\"what\":\"peak_mib\"/\"file\":\"$(basename "$f")\",\"what\":\"peak_mib\"/" >> "$out"
done
"$py" bench/backtest_bench.py backtesting "$goog" >> "$out"
"$py" bench/backtest_bench.py backtesting "$syn" --no-sweep >> "$out"
"$py" bench/backtest_bench.py vectorbt "$goog" >> "$out"
"$py" bench/backtest_bench.py vectorbt "$syn" >> "$out"
"$py" bench/backtest_bench.py talib "$goog" >> "$out"
"$py" bench/backtest_bench.py talib "$syn" >> "$out"
"$py" bench/backtest_table.py < "$out"
