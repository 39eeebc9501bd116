"""backtesting.py 0.6.6's trades and statistics for botforge's parity scenarios.

Usage: python backtesting_reference.py DATA_DIR > reference.json
Each scenario is written the way botforge's engine reads a strategy file: rules on the bar's
close (exits first, then entries, no pyramiding; an opposite entry closes first), TA-Lib
indicators, stop loss / take profit from the signal bar's close. Cash 10 000, commission 0.002,
trades still open at the end left open.
rsi_short runs out of money on GOOG (the run stops there).
"""

import json
import pathlib
import sys
import warnings

import pandas as pd
import talib
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from reference_common import stats_of, trades_of

warnings.filterwarnings("ignore")


def make(kind, sl=None, tp=None):
    class S(Strategy):
        def init(self):
            c = self.data.Close
            if kind in ("sma_long", "sma_reversal"):
                fast, slow = (10, 20) if kind == "sma_long" else (10, 30)
                self.a = self.I(talib.SMA, c, fast)
                self.b = self.I(talib.SMA, c, slow)
            else:
                self.r = self.I(talib.RSI, c, 14)

        def signals(self):
            if kind == "sma_long":
                return crossover(self.a, self.b), crossover(self.b, self.a), False, False
            if kind == "sma_reversal":
                return crossover(self.a, self.b), False, crossover(self.b, self.a), False
            r = self.r[-1]
            if kind == "rsi_short":
                return False, False, r > 70, r < 30
            return r < 30, r > 70, False, False

        def next(self):
            entry_long, exit_long, entry_short, exit_short = self.signals()
            long, short = self.position.is_long, self.position.is_short
            closing = False
            if (long and exit_long) or (short and exit_short):
                self.position.close()
                closing = True
            close = self.data.Close[-1]
            if entry_long and not long:
                if short and not closing:
                    self.position.close()
                self.buy(sl=close * (1 - sl / 100) if sl else None,
                         tp=close * (1 + tp / 100) if tp else None)
            elif entry_short and not short:
                if long and not closing:
                    self.position.close()
                self.sell(sl=close * (1 + sl / 100) if sl else None,
                          tp=close * (1 - tp / 100) if tp else None)
    return S


SCENARIOS = {
    "sma_long": make("sma_long"),
    "sma_reversal": make("sma_reversal"),
    "rsi": make("rsi"),
    "rsi_sl": make("rsi", sl=5.0),
    "rsi_tp": make("rsi", sl=5.0, tp=8.0),
    # Runs out of money on GOOG: backtesting.py closes at that bar's close and stops.
    "rsi_short": make("rsi_short"),
}

out = {}
for name in ("GOOG.csv", "EURUSD.csv"):
    df = pd.read_csv(pathlib.Path(sys.argv[1]) / name, index_col=0, parse_dates=True)
    for scenario, cls in SCENARIOS.items():
        stats = Backtest(df, cls, cash=10_000, commission=0.002).run()
        trades = stats["_trades"]
        out[f"{name}:{scenario}"] = {"stats": stats_of(stats), "trades": trades_of(stats)}
json.dump(out, sys.stdout)
