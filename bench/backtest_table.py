"""Reads the JSON lines of bench/backtest.sh and prints the comparison tables."""

import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
t = {}
peak = {}
for r in rows:
    if r["what"] == "peak_mib":
        peak[(r["engine"], r.get("file", "?"))] = r["value"]
    else:
        t[(r["engine"], r["file"], r["what"])] = r["seconds"]

files = sorted({f for (_, f, _) in t}, key=lambda f: f != "GOOG.csv")


def fmt(s):
    return "-" if s is None else (f"{s * 1000:.2f} ms" if s < 10 else f"{s:.1f} s")


def ratio(a, b):
    return "-" if a is None or b is None else f"{b / a:,.0f}x" if b / a >= 10 else f"{b / a:.1f}x"


print("Backtest: SMA(10)/SMA(30) cross with full statistics; orders: the same cross entering by a\n"
      "stop order at the 10-bar high, with a 3-ATR trailing stop and a 50-bar time exit;\n"
      "oca: flat, stops 0.2 % either side of the close, the first fill cancelling the other, out\n"
      "after 3 bars; roi: the cross with a stepping take-profit (4 %, 2 % after 30 bars, 0 after\n"
      "60); sweep: 100 (fast, slow) pairs\n")
print(f"{'data':<12}{'what':<10}{'botforge':>12}{'backtesting.py':>16}{'vectorbt':>12}"
      f"{'vs bt.py':>10}{'vs vbt':>9}")
for f in files:
    for what in ("single", "orders", "oca", "roi", "sweep100"):
        ours = t.get(("botforge", f, what))
        bt = t.get(("backtesting", f, what))
        vbt = t.get(("vectorbt", f, what))
        print(f"{f:<12}{what:<10}{fmt(ours):>12}{fmt(bt):>16}{fmt(vbt):>12}"
              f"{ratio(ours, bt):>10}{ratio(ours, vbt):>9}")
for f in files:
    s = t.get(("vectorbt", f, "single+stats"))
    if s is not None:
        print(f"{f:<12}vectorbt single with pf.stats() (its full statistics): {fmt(s)} "
              f"({ratio(t.get(('botforge', f, 'single')), s)} botforge)")
print("\nPeak memory (MiB, whole process: data, single run, sweep)")
for f in files:
    print(f"{f:<12}" + "".join(f"{e}: {peak.get((e, f), float('nan')):,.0f}   "
                               for e in ("botforge", "backtesting", "vectorbt", "talib")))
print("\nIndicators, ns per bar (botforge / TA-Lib)")
for f in files:
    names = sorted({w[4:] for (e, ff, w) in t if ff == f and w.startswith("ind:")})
    bars = next(r["bars"] for r in rows if r.get("file") == f and "bars" in r)
    cells = []
    for name in names:
        ours = t.get(("botforge", f, "ind:" + name))
        ref = t.get(("talib", f, "ind:" + name))
        if ours and ref:
            cells.append(f"{name} {ours / bars * 1e9:.1f}/{ref / bars * 1e9:.1f}")
    print(f"{f:<12}" + "  ".join(cells))
