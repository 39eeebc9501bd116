#!/usr/bin/env bash
# Whole-process backtests on the 1,000,000-bar synthetic file as CSV (57 MB), as CSV with the
# full-precision floats pandas writes by default (17 significant digits, 97 MB), and as Parquet:
# `botforge backtest --json` (best of 5, with its peak RSS) against backtesting.py's
# `pd.read_csv` / `pd.read_parquet` + `Backtest.run` (one run: ~10 s each), each in its own
# process, the same SMA(10)/SMA(30) cross on both sides.
#   bench/load.sh            (first run builds a venv under ~/.cache/botforge: ~2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
pq="${syn%.csv}.parquet"
full="${syn%.csv}-full.csv"
if [ ! -s "$full" ]; then
  "$py" bench/make_data.py "$full.tmp" 1000000 --full && mv "$full.tmp" "$full"
fi
if [ ! -s "$pq" ]; then
  "$py" -c "import pandas as pd, sys; pd.read_csv(sys.argv[1], index_col=0, parse_dates=True).to_parquet(sys.argv[2])" "$syn" "$pq"
fi
cargo build -q --release -p botforge
bin="$CARGO_TARGET_DIR/release/botforge"
strategy=$(mktemp --suffix=.toml)
trap 'rm -f "$strategy"' EXIT
cat > "$strategy" <<'TOML'
name = "SmaCross"
[indicators]
fast = "sma(close, 10)"
slow = "sma(close, 30)"
[rules]
entry_long = "crosses_above(fast, slow)"
exit_long = "crosses_below(fast, slow)"
TOML
printf '%-13s %14s %14s %8s %16s %10s\n' file botforge_s backtesting_s ratio botforge_peak_MB file_MB
for f in "$syn" "$full" "$pq"; do
  best=""
  peak=0
  for _ in 1 2 3 4 5; do
    line=$( { /usr/bin/time -f '%e %M' "$bin" backtest "$strategy" --data "$f" --json >/dev/null; } 2>&1 | tail -1)
    s=${line% *}
    kb=${line#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; peak=$kb; fi
  done
  ref=$("$py" bench/whole_process.py "$f" 2>/dev/null | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
  size=$(stat -c %s "$f")
  awk -v f="$(basename "$f")" -v b="$best" -v r="$ref" -v k="$peak" -v z="$size" \
    'BEGIN{printf "%-13s %14.3f %14.2f %7.0fx %16.0f %10.0f\n", f, b, r, r/b, k/1024, z/1048576}'
done
