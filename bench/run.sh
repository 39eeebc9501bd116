#!/usr/bin/env bash
# Runs botforge's benchmarks and prints their tables. Machines are shared and noisy: compare
# ratios within one run, not absolute times across runs.
#   bench/run.sh            all
#   bench/run.sh keypool    select + report, 10/100/1,000 keys, 1 and 2 threads (criterion)
#   bench/run.sh redis      the Redis backend vs in-process: latency, round trips, throughput,
#                           on one Redis and on a 3-master Redis Cluster
#   bench/run.sh gemini     quota goodput and rotation overhead against the simulator
#   bench/run.sh paper      paper runs: per-bar latency at 1,000 and 500,000 bars of history,
#                           replay throughput (bench/paper_run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
if [ "$what" = all ] || [ "$what" = keypool ]; then
  cargo bench -p keypool --bench pool 2>&1 | grep -E '^select_report|time:|thrpt:'
fi
if [ "$what" = all ] || [ "$what" = redis ]; then
  cargo bench -p keypool --features redis --bench redis 2>&1 | grep -vE '^\s*(Compiling|Finished|Running)'
  bench/redis_cluster.sh
fi
if [ "$what" = all ] || [ "$what" = gemini ]; then
  cargo bench -p gemini --bench goodput 2>&1 | grep -vE '^\s*(Compiling|Finished|Running)'
fi
if [ "$what" = all ] || [ "$what" = paper ]; then
  bench/paper_run.sh
fi
