"""An independent reference for DESIGN.md §5.3 (several symbols, one cash account), written from
§5.3 and from backtesting.py 0.6.6's broker as reference/backtesting-semantics.md describes it,
not from botforge's code.

The strategy: an SMA(fast)/SMA(slow) cross per symbol (TA-Lib's SMA), long only: a cross above
places a market buy of `size` (a fraction of the shared margin available), a cross below closes
the position; optional stop loss and take profit in percent of the signal bar's close. The
[portfolio] section: `rank` = ROC(rank) (TA-Lib's), entries at one time filling highest first
(a missing rank last, ties in file order; a symbol waits for its rank's warm-up too);
`max_positions`, an entry skipped when that many positions are open; `trade`, the symbols whose
rules run (the others are data only). `on`: {"symbol": S, "period": N} adds to the entry
`on("S", close > sma(close, N))` (with "negate": the entry is instead the cross `or not on(…)`):
at each bar, S's latest bar at or before its time, false before S's first; the symbol waits
until that SMA has a value there. `rotation`: {"rule": "ME" | "W" | "W-FRI" | "QE" | "YE",
"top": N, "filter": F}: the cross rules give way to a rotation on the last union time of each
period (pandas' periods): among the symbols with a bar then whose close is above their SMA(F)
and whose rank has a value, the N highest are the target; held ones outside it close, each
one entering it is bought with floor(equity / N / (open * (1 + c))) whole units at the next
open (fewer if the margin cannot pay them).

Usage: python portfolio_reference.py SPEC.json
SPEC: {"files": [[name, path], ...], "fast": 10, "slow": 30, "size": 0.5, "sl_pct": null,
       "tp_pct": null, "cash": 10000, "commission": 0.002, "rank": null | ROC period,
       "max_positions": null | N, "trade": null | [names], "on": null | {"symbol", "period"}}
Prints {"trades": [...], "equity": [...], "times": [...]}: trades ordered by entry time, then by
file order; bars counted on the union of the files' times.
"""

import bisect
import csv
import json
import math
import sys

import numpy as np
import pandas as pd
import talib

FULL_EQUITY = 1 - sys.float_info.epsilon


def read(path):
    rows = []
    with open(path, newline="") as f:
        r = csv.reader(f)
        next(r)
        for line in r:
            if not line or not line[0].strip():
                continue
            rows.append((line[0].strip(), *(float(x) for x in line[1:5])))
    return rows


def floordiv(a, b):
    return a // b  # Python's float floor division, as backtesting.py's sizing uses


class Sym:
    def __init__(self, name, rows, fast, slow, rank):
        self.name = name
        self.time = [r[0] for r in rows]
        self.open = [r[1] for r in rows]
        self.high = [r[2] for r in rows]
        self.low = [r[3] for r in rows]
        self.close = [r[4] for r in rows]
        c = np.array(self.close, dtype=float)
        f = talib.SMA(c, fast)
        s = talib.SMA(c, slow)
        self.rank = talib.ROC(c, rank) if rank else None
        # backtesting.py starts next() at 1 + the largest first-valid index of its indicators.
        first = max(int(np.argmax(~np.isnan(f))), int(np.argmax(~np.isnan(s))))
        if self.rank is not None:
            first = max(first, int(np.argmax(~np.isnan(self.rank))))
        self.start = first + 1
        self.up = [False] * len(c)
        self.down = [False] * len(c)
        for i in range(1, len(c)):
            self.up[i] = bool(f[i - 1] < s[i - 1] and f[i] > s[i])
            self.down[i] = bool(s[i - 1] < f[i - 1] and s[i] > f[i])
        self.latest = None  # local index of the latest bar at or before the current time
        self.trade = None  # open trade: dict
        self.orders = []  # queue: dicts with kind 'close' | 'entry'


def main():
    spec = json.load(open(sys.argv[1]))
    c = spec["commission"]
    rank = spec.get("rank")
    syms = [Sym(n, read(p), spec["fast"], spec["slow"], rank) for n, p in spec["files"]]
    trading = set(spec.get("trade") or [n for n, _ in spec["files"]])
    on = spec.get("on")
    if on:
        other = next(s for s in syms if s.name == on["symbol"])
        o_sma = talib.SMA(np.array(other.close, dtype=float), on["period"])
        o_up = [bool(c > m) for c, m in zip(other.close, o_sma)]  # NaN compares false
        o_first = on["period"] - 1
        for s in syms:
            at_other = [bisect.bisect_right(other.time, t) - 1 for t in s.time]
            s.filter = [j >= 0 and o_up[j] for j in at_other]
            # The warm-up counts what is inside on(), mapped onto this symbol's bars.
            valid = [i for i, j in enumerate(at_other) if j >= o_first]
            first = valid[0] if valid else len(s.time)
            s.start = max(s.start, first + 1)
    else:
        for s in syms:
            s.filter = [True] * len(s.time)
    cap = spec.get("max_positions")
    rot = spec.get("rotation")
    if rot:
        for s in syms:
            f = talib.SMA(np.array(s.close, dtype=float), rot["filter"])
            s.want = [bool(c > m) for c, m in zip(s.close, f)]
            s.start = max(s.start, rot["filter"])  # SMA(F) first valid at F-1: next() at F

    times = sorted({t for s in syms for t in s.time})
    freq = {"W": "W-SUN", "W-FRI": "W-FRI", "ME": "M", "QE": "Q", "YE": "Y"}
    periods = ([pd.Timestamp(t).to_period(freq[rot["rule"]]) for t in times] if rot else [])
    index = {t: u for u, t in enumerate(times)}
    at = [{index[t]: i for i, t in enumerate(s.time)} for s in syms]
    cash = spec["cash"]
    closed = []
    equity = []

    def unrealized(s):
        if s.trade is None or s.latest is None:
            return 0.0
        return s.trade["size"] * (s.close[s.latest] - s.trade["entry_price"])

    def used(s):
        if s.trade is None or s.latest is None:
            return 0.0
        return abs(s.trade["size"]) * s.close[s.latest]

    def close_trade(k, s, price, u, reason):
        nonlocal cash
        t = s.trade
        fee = abs(t["size"]) * price * c
        cash += t["size"] * (price - t["entry_price"]) - fee
        t.update(exit_bar=u, exit_price=price, exit_reason=reason,
                 commission=t["commission"] + fee)
        t["pnl"] = t["size"] * (price - t["entry_price"]) - t["commission"]
        closed.append((k, t))
        s.trade = None

    def brackets(k, s, i, u):
        """A long's stop loss (first: the front of the queue), then its take profit."""
        t = s.trade
        if t is None:
            return
        if t["sl"] is not None and s.low[i] <= t["sl"]:
            close_trade(k, s, min(s.open[i], t["sl"]), u, "stop")
        elif t["tp"] is not None and s.high[i] >= t["tp"]:
            close_trade(k, s, max(s.open[i], t["tp"]), u, "target")

    for u in range(len(times)):
        here = []
        for k, s in enumerate(syms):
            i = at[k].get(u)
            if i is not None:
                s.latest = i
                if i >= s.start and s.name in trading:
                    here.append((k, s, i))
        # (1) exits, stops and targets of every symbol, in file order
        for k, s, i in here:
            if any(o["kind"] == "close" for o in s.orders) and s.trade is not None:
                close_trade(k, s, s.open[i], u, "signal")
            s.orders = [o for o in s.orders if o["kind"] != "close"]
            brackets(k, s, i, u)
        # ... then entries by rank at the bar before (highest first, missing last, ties in file
        # order), sized on the shared account marked at t's closes
        def key(entry):
            k, s, i = entry
            r = s.rank[i - 1] if s.rank is not None and i >= 1 else float("nan")
            return (0, -r, k) if not math.isnan(r) else (1, 0.0, k)

        fresh = []
        for k, s, i in sorted(here, key=key):
            for o in [o for o in s.orders if o["kind"] == "entry"]:
                s.orders.remove(o)
                if cap is not None and sum(x.trade is not None for x in syms) >= cap:
                    continue
                price = s.open[i]
                eq = cash + sum(unrealized(x) for x in syms)
                margin = max(0.0, eq - sum(used(x) for x in syms))
                # backtesting.py: price + commission(size, price) / |size|, with its
                # commission |size| * price * c.
                plus_fee = price + abs(o["size"]) * price * c / abs(o["size"])
                if "budget" in o:
                    per = price * (1 + c)
                    units = int(floordiv(o["budget"], per))
                    if units * per > margin:
                        units = int(floordiv(margin, per))
                    if units < 1:
                        continue
                else:
                    units = int(floordiv(margin * o["size"], plus_fee))
                if units == 0 or units * plus_fee > margin:
                    continue
                cash -= units * price * c
                s.trade = dict(symbol=s.name, entry_bar=u, entry_price=price, size=units,
                               sl=o["sl"], tp=o["tp"], commission=units * price * c)
                fresh.append((k, s, i))
        # backtesting.py's second pass: the brackets of trades that entered now
        for k, s, i in fresh:
            brackets(k, s, i, u)
        # (2) equity at each symbol's latest close
        eq = cash + sum(unrealized(s) for s in syms)
        equity.append(eq)
        if eq <= 0:
            raise SystemExit("out of money: not a case this reference covers")
        # (3) the rules on each symbol's close: a rotation on the last time of a period
        if rot:
            if u + 1 == len(times) or periods[u] != periods[u + 1]:
                ranked = [(s.rank[i], k, s, i) for k, s, i in here
                          if s.want[i] and not math.isnan(s.rank[i])]
                ranked.sort(key=lambda x: (-x[0], x[1]))
                target = {k for _, k, _, _ in ranked[:rot["top"]]}
                for k, s, i in here:
                    if s.trade is not None and k not in target:
                        s.orders.insert(0, {"kind": "close"})
                for _, k, s, i in ranked[:rot["top"]]:
                    if s.trade is None:
                        close = s.close[i]
                        sl = close * (1 - spec["sl_pct"] / 100) if spec["sl_pct"] else None
                        tp = close * (1 + spec["tp_pct"] / 100) if spec["tp_pct"] else None
                        s.orders = [o for o in s.orders if o["kind"] != "entry"]
                        s.orders.append({"kind": "entry", "size": 1.0, "sl": sl, "tp": tp,
                                         "budget": eq / rot["top"]})
            continue
        for k, s, i in here:
            if s.trade is not None and s.down[i]:
                s.orders.insert(0, {"kind": "close"})
            elif s.trade is None and (
                    (s.up[i] or not s.filter[i]) if on and on.get("negate")
                    else (s.up[i] and s.filter[i])):
                close = s.close[i]
                sl = close * (1 - spec["sl_pct"] / 100) if spec["sl_pct"] else None
                tp = close * (1 + spec["tp_pct"] / 100) if spec["tp_pct"] else None
                s.orders = [o for o in s.orders if o["kind"] != "entry"]
                size = spec["size"] if spec["size"] is not None else FULL_EQUITY
                s.orders.append({"kind": "entry", "size": size, "sl": sl, "tp": tp})
    closed.sort(key=lambda kt: (kt[1]["entry_bar"], kt[0]))
    trades = [t for _, t in closed]
    for t in trades:
        t["return_pct"] = (t["exit_price"] / t["entry_price"] - 1
                           - t["commission"] / (abs(t["size"]) * t["entry_price"])) * 100
    print(json.dumps({"trades": trades, "equity": equity, "times": times,
                      "equity_final": equity[-1] if equity else spec["cash"],
                      "finite": all(math.isfinite(e) for e in equity)}))


main()
