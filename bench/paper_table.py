"""Prints bench/paper_run.sh's table from the JSON lines of `cargo bench -p paper --bench run`."""
import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
print(f"{'history':>10} {'live bars':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'1st bar + warm-up ms':>21}")
for r in rows:
    if r["what"] == "latency":
        print(f"{r['history']:>10,} {r['live']:>9} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
              f"{r['max_ms']:>8.3f} {r['first_with_warmup_ms']:>21.1f}")
print()
print(f"{'bars':>8} {'replay bars/s':>14} {'session bars/s':>15} {'batch bars/s':>13} {'batch / replay':>15}")
for r in rows:
    if r["what"] == "throughput":
        ratio = r["batch_bars_per_s"] / r["replay_bars_per_s"]
        print(f"{r['bars']:>8,} {r['replay_bars_per_s']:>14,.0f} {r['session_bars_per_s']:>15,.0f} "
              f"{r['batch_bars_per_s']:>13,.0f} {ratio:>14,.0f}x")
