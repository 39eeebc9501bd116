#!/usr/bin/env bash
# The Redis backend on a real Redis Cluster: three masters (no replicas) on free ports, made by
# `redis-cli --cluster create`, then `cargo bench -p keypool --bench redis` against one of its
# nodes (the cluster is found from it); round trips are counted on every master. The nodes are
# stopped at the end. Prints the same table as `bench/run.sh redis`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap stop EXIT
free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports=()
p=23000
while [ "${#ports[@]}" -lt 3 ]; do
  if free "$p" && free $((p + 10000)); then ports+=("$p"); fi
  p=$((p + 1))
done
for port in "${ports[@]}"; do
  redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "nodes-$port.conf" --dir "$dir" --save "" --appendonly no \
    >"$dir/$port.log" 2>&1 &
  pids+=("$!")
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 0 --cluster-yes >/dev/null
for port in "${ports[@]}"; do
  for _ in $(seq 1 200); do
    redis-cli -p "$port" cluster info | grep -q 'cluster_state:ok' && break
    sleep 0.05
  done
done
nodes=$(printf 'redis://127.0.0.1:%s/,' "${ports[@]}")
BOTFORGE_TEST_REDIS_URL="redis://127.0.0.1:${ports[0]}/" BOTFORGE_BENCH_NODES="${nodes%,}" \
  cargo bench -p keypool --features redis --bench redis 2>&1 | grep -vE '^\s*(Compiling|Finished|Running)'
