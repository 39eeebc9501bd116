#!/usr/bin/env bash
# Paper runs (`botforge run`): per live bar, from the feed handing over a parsed closed kline to
# the bar journaled (one write + fsync) and its events printed, p50/p99, with 1,000 and 500,000
# bars of history held; and replay throughput (journal and fsync per bar included) against the
# session alone and the batch backtest of the same bars.
#   bench/paper_run.sh [HISTORY ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/botforge/target}"
cargo bench -q -p paper --bench run -- "$@" | python3 bench/paper_table.py
