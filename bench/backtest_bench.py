"""The Python side of bench/backtest.sh: backtesting.py 0.6.6, vectorbt and TA-Lib on the same
files and the same SMA(10)/SMA(30) cross (long only, commission 0.002, cash 10 000) that
botforge's `engines` bench runs. Prints one JSON line per measurement.

Usage: python backtest_bench.py ENGINE FILE.csv [--no-sweep] [--no-single]
ENGINE: backtesting | vectorbt | talib. Each engine runs in its own process so its peak memory
(ru_maxrss) is its own. vectorbt's first call (numba JIT) runs once, untimed, on a small slice.
"""

import json
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

engine, path, *flags = sys.argv[1:]
name = path.rsplit("/", 1)[-1]
df = pd.read_csv(path, index_col=0, parse_dates=True)
n = len(df)
FAST = list(range(5, 51, 5))
SLOW = list(range(20, 201, 20))


def emit(what, seconds, **extra):
    print(json.dumps({"engine": engine, "file": name, "bars": n, "what": what,
                      "seconds": seconds, **extra}), flush=True)


def best(runs, f):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


if engine == "backtesting":
    import talib
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class SmaCross(Strategy):
        fast = 10
        slow = 30

        def init(self):
            self.a = self.I(talib.SMA, self.data.Close, self.fast)
            self.b = self.I(talib.SMA, self.data.Close, self.slow)

        def next(self):
            if crossover(self.a, self.b):
                self.buy()
            elif crossover(self.b, self.a):
                self.position.close()

    class AtrTrail(Strategy):
        """The orders row: a buy stop at the 10-bar high on an SMA(10)/SMA(30) cross, valid 3
        bars; a 3-ATR trailing stop (as lib.TrailingStrategy); out after 50 bars."""

        def init(self):
            self.a = self.I(talib.SMA, self.data.Close, 10)
            self.b = self.I(talib.SMA, self.data.Close, 30)
            self.hh = self.I(talib.MAX, self.data.High, 10)
            self.atr = self.I(talib.ATR, self.data.High, self.data.Low, self.data.Close, 14)
            self.waiting, self.placed = None, 0

        def next(self):
            i = len(self.data) - 1
            for t in self.trades:
                level = self.data.Close[-1] - 3 * self.atr[-1]
                if level > 0:
                    t.sl = max(t.sl or -np.inf, level)
                if i - t.entry_bar >= 50:
                    t.close()
            if self.waiting is not None and self.waiting in self.orders and i - self.placed >= 3:
                self.waiting.cancel()
            if self.position.is_long and crossover(self.b, self.a):
                self.position.close()
            elif not self.position and crossover(self.a, self.b):
                if self.waiting is not None and self.waiting in self.orders:
                    self.waiting.cancel()
                self.waiting, self.placed = self.buy(stop=self.hh[-1]), i

    class OcaBreakout(Strategy):
        """The OCA row: flat, a buy stop 0.2 % over the close and a sell stop 0.2 % under it
        wait together for a bar, the first to fill cancelling the other (backtesting.py has no
        such group: written with a look at the next bar, so only the stop that fills first is
        placed); half the equity; out after 3 bars."""
        high = low = None

        def init(self):
            pass

        def next(self):
            i = len(self.data) - 1
            for t in self.trades:
                if i - t.entry_bar >= 3:
                    t.close()
            if self.trades or i + 1 >= n:
                return
            c = self.data.Close[-1]
            up, down = c * 1.002, c * 0.998
            if self.high[i + 1] >= up:
                self.buy(size=0.5, stop=up)
            elif self.low[i + 1] <= down:
                self.sell(size=0.5, stop=down)

    OcaBreakout.high = df["High"].to_numpy()
    OcaBreakout.low = df["Low"].to_numpy()

    class RoiCross(SmaCross):
        """The ROI row: the cross with freqtrade's stepping take-profit (4 % at once, 2 % after
        30 bars, break-even after 60), set on each trade at every close."""
        roi = ((0, 4.0), (30, 2.0), (60, 0.0))

        def next(self):
            i = len(self.data) - 1
            for t in self.trades:
                r = [v for k, v in self.roi if k <= i - t.entry_bar][-1]
                t.tp = t.entry_price * (1 + r / 100)
            super().next()

    bt = Backtest(df, SmaCross, cash=10_000, commission=0.002)
    if "--no-single" not in flags:
        emit("single", best(1 if n > 100_000 else 5, bt.run))
        for what, cls in (("orders", AtrTrail), ("oca", OcaBreakout), ("roi", RoiCross)):
            run = Backtest(df, cls, cash=10_000, commission=0.002).run
            emit(what, best(1 if n > 100_000 else 5, run))
    if "--no-sweep" not in flags:
        pairs = [(f, s) for f in FAST for s in SLOW]
        t = time.perf_counter()
        for f, s in pairs:
            bt.run(fast=f, slow=s)
        emit("sweep100", time.perf_counter() - t)

elif engine == "vectorbt":
    import vectorbt as vbt

    def single(close, open_):
        fast = vbt.MA.run(close, 10)
        slow = vbt.MA.run(close, 30)
        entries = fast.ma_crossed_above(slow)
        exits = fast.ma_crossed_below(slow)
        # Signals on the close, filled at the next open, as botforge and backtesting.py do.
        pf = vbt.Portfolio.from_signals(close, entries.vbt.fshift(1), exits.vbt.fshift(1),
                                        price=open_, fees=0.002, init_cash=10_000, freq="1min")
        return pf

    def single_core(close, open_):
        pf = single(close, open_)
        return pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown()

    def single_stats(close, open_):
        return single(close, open_).stats()

    def sweep(close, open_):
        # The 100 (fast, slow) pairs as 100 columns, as vectorbt's docs sweep parameters.
        pairs = [(f, s) for f in FAST for s in SLOW]
        fast = vbt.MA.run(close, [f for f, _ in pairs], short_name="fast")
        slow = vbt.MA.run(close, [s for _, s in pairs], short_name="slow")
        entries = fast.ma_crossed_above(slow)
        exits = fast.ma_crossed_below(slow)
        pf = vbt.Portfolio.from_signals(close, entries.vbt.fshift(1), exits.vbt.fshift(1),
                                        price=open_, fees=0.002, init_cash=10_000, freq="1min")
        return pf.sharpe_ratio()

    # numba compiles on first use (1-D and 2-D versions apart): warm both up on a slice, untimed.
    small = df.iloc[:1000]
    single_stats(small["Close"], small["Open"])
    sweep(small["Close"], small["Open"])
    close, open_ = df["Close"], df["Open"]
    if "--no-single" not in flags:
        emit("single", best(3, lambda: single_core(close, open_)))
        emit("single+stats", best(3, lambda: single_stats(close, open_)))
    if "--no-sweep" not in flags:
        emit("sweep100", best(1 if n > 100_000 else 3, lambda: sweep(close, open_)))

elif engine == "talib":
    import talib

    o, c, h, l, v = (df[k].to_numpy(dtype=float) for k in ("Open", "Close", "High", "Low", "Volume"))
    runs = 5 if n > 100_000 else 50
    for what, f in [
        ("SMA", lambda: talib.SMA(c, 30)), ("EMA", lambda: talib.EMA(c, 30)),
        ("WMA", lambda: talib.WMA(c, 30)), ("RSI", lambda: talib.RSI(c, 14)),
        ("MACD", lambda: talib.MACD(c, 12, 26, 9)), ("BBANDS", lambda: talib.BBANDS(c, 20, 2, 2)),
        ("ATR", lambda: talib.ATR(h, l, c, 14)), ("STOCH", lambda: talib.STOCH(h, l, c, 14, 3, 0, 3, 0)),
        ("ADX", lambda: talib.ADX(h, l, c, 14)), ("MAX", lambda: talib.MAX(c, 20)),
        ("SUM", lambda: talib.SUM(c, 30)), ("STDDEV", lambda: talib.STDDEV(c, 20, 1)),
        ("ROC", lambda: talib.ROC(c, 10)), ("MOM", lambda: talib.MOM(c, 10)),
        ("CMO", lambda: talib.CMO(c, 14)), ("LINEARREG", lambda: talib.LINEARREG(c, 14)),
        ("CCI", lambda: talib.CCI(h, l, c, 20)), ("WILLR", lambda: talib.WILLR(h, l, c, 14)),
        ("MFI", lambda: talib.MFI(h, l, c, v, 14)), ("OBV", lambda: talib.OBV(c, v)),
        ("AD", lambda: talib.AD(h, l, c, v)), ("ADOSC", lambda: talib.ADOSC(h, l, c, v, 3, 10)),
        ("NATR", lambda: talib.NATR(h, l, c, 14)), ("TRANGE", lambda: talib.TRANGE(h, l, c)),
        ("PLUS_DI", lambda: talib.PLUS_DI(h, l, c, 14)),
        ("MINUS_DI", lambda: talib.MINUS_DI(h, l, c, 14)),
        ("SAR", lambda: talib.SAR(h, l, 0.02, 0.2)), ("AROON", lambda: talib.AROON(h, l, 25)),
        ("CDLENGULFING", lambda: talib.CDLENGULFING(o, h, l, c)),
        ("CDLHAMMER", lambda: talib.CDLHAMMER(o, h, l, c)), ("CDLDOJI", lambda: talib.CDLDOJI(o, h, l, c)),
        ("CDLMORNINGSTAR", lambda: talib.CDLMORNINGSTAR(o, h, l, c)),
        ("CDL3WHITESOLDIERS", lambda: talib.CDL3WHITESOLDIERS(o, h, l, c)),
    ]:
        emit(f"ind:{what}", best(runs, f))

print(json.dumps({"engine": engine, "file": name, "what": "peak_mib",
                  "value": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
