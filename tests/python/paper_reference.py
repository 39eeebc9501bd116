"""backtesting.py 0.6.6's trades for the paper-run strategies of crates/paper/tests (a cross,
stops and targets, a stop-entry breakout with a trailing stop, shorts with a time exit), each
written by hand on engine_reference.Base — independently of botforge — and run on the bars a
paper run journaled (`botforge run export`), with no entry decided before the run's
`live_from` (its warm-up bars only feed the indicators).

Usage: python paper_reference.py BARS.csv LIVE_FROM NAME [NAME ...] > reference.json
Output: {"NAME": {"trades": [...], "open": N}}. Cash 10 000, commission 0.002.
"""

import json
import sys
import warnings

import pandas as pd
import talib
from backtesting import Backtest
from backtesting.lib import crossover
from engine_reference import Base
from reference_common import trades_of

warnings.filterwarnings("ignore")


class Gated(Base):
    live_from = None

    def enter(self, long, i):
        if self.data.index[-1] < self.live_from:
            return
        super().enter(long, i)


class Cross(Gated):
    def setup(self):
        self.fast = self.I(talib.SMA, self.data.Close, 5)
        self.slow = self.I(talib.SMA, self.data.Close, 15)

    def signals(self, i):
        return crossover(self.fast, self.slow), crossover(self.slow, self.fast), False, False


class Brackets(Gated):
    sl_pct = 0.3
    tp_pct = 0.4
    fraction = 0.5

    def setup(self):
        self.rsi = self.I(talib.RSI, self.data.Close, 7)

    def signals(self, i):
        r = self.rsi[-1]
        return r < 40, r > 65, False, False


class Breakout(Gated):
    valid_bars = 3
    trail_pct = 0.5

    def setup(self):
        self.hi = self.I(talib.MAX, self.data.High, 10)
        self.lo = self.I(talib.MIN, self.data.Low, 10)
        self.sma = self.I(talib.SMA, self.data.Close, 20)

    def signals(self, i):
        c = self.data.Close[-1]
        return c > self.sma[-1], False, c < self.sma[-1], False

    def levels(self, long, i):
        return None, None, (self.hi[-1] if long else self.lo[-1]), None


class Shorts(Gated):
    sl_pct = 0.5
    max_bars = 20

    def setup(self):
        self.fast = self.I(talib.EMA, self.data.Close, 4)
        self.slow = self.I(talib.EMA, self.data.Close, 12)

    def signals(self, i):
        return False, False, crossover(self.slow, self.fast), crossover(self.fast, self.slow)


STRATEGIES = {"cross": Cross, "brackets": Brackets, "breakout": Breakout, "shorts": Shorts}


def main():
    path, live_from, names = sys.argv[1], pd.Timestamp(sys.argv[2]), sys.argv[3:]
    df = pd.read_csv(path, index_col=0, parse_dates=True)
    df.columns = [c.capitalize() for c in df.columns]
    out = {}
    for name in names:
        bt = Backtest(df, STRATEGIES[name], cash=10_000, commission=0.002)
        stats = bt.run(live_from=live_from)
        out[name] = {"trades": trades_of(stats), "open": len(stats["_strategy"].trades)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
