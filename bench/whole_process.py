"""backtesting.py's whole process on a data file, as a user runs it: import, read the file with
pandas (read_csv or read_parquet), one SMA(10)/SMA(30) cross backtest with full statistics.

Usage: python whole_process.py DATA.csv|DATA.parquet [COMMISSION]
Prints one JSON line: {"engine": "backtesting.py", "file": ..., "seconds": ..., "trades": ...}.
"""

import json
import warnings
import sys
import time

warnings.simplefilter("ignore")
t0 = time.perf_counter()
import pandas as pd  # noqa: E402
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402


def sma(x, n):
    return pd.Series(x).rolling(n).mean()


class SmaCross(Strategy):
    def init(self):
        self.fast = self.I(sma, self.data.Close, 10)
        self.slow = self.I(sma, self.data.Close, 30)

    def next(self):
        if crossover(self.fast, self.slow):
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()


path = sys.argv[1]
if path.endswith(".parquet"):
    df = pd.read_parquet(path)
else:
    df = pd.read_csv(path, index_col=0, parse_dates=True)
commission = float(sys.argv[2]) if len(sys.argv) > 2 else 0.002
stats = Backtest(df, SmaCross, cash=10_000, commission=commission).run()
print(json.dumps({"engine": "backtesting.py", "file": path.rsplit("/", 1)[-1],
                  "seconds": time.perf_counter() - t0, "trades": int(stats["# Trades"])}))
