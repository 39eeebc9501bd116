"""vectorbt's whole process on the synthetic portfolio, as a user runs it: import, read every
CSV, an SMA(10)/SMA(30) cross per symbol, `Portfolio.from_signals(..., cash_sharing=True,
group_by=True)` and its stats.

Usage: python portfolio_vbt.py DIR
Prints one JSON line: {"engine": "vectorbt", "seconds": ..., "trades": ...}.
"""

import glob
import json
import sys
import time
import warnings

warnings.simplefilter("ignore")
t0 = time.perf_counter()
import pandas as pd  # noqa: E402
import vectorbt as vbt  # noqa: E402

files = sorted(glob.glob(f"{sys.argv[1]}/*.csv"))
close = pd.concat(
    {f.rsplit("/", 1)[-1][:-4]: pd.read_csv(f, index_col=0, parse_dates=True)["Close"] for f in files},
    axis=1,
)
fast = vbt.MA.run(close, 10)
slow = vbt.MA.run(close, 30)
entries = fast.ma_crossed_above(slow)
exits = fast.ma_crossed_below(slow)
pf = vbt.Portfolio.from_signals(
    close, entries, exits, size=0.1, size_type="percent", init_cash=10_000, fees=0.002,
    cash_sharing=True, group_by=True, freq="1D",
)
stats = pf.stats()
print(json.dumps({"engine": "vectorbt", "seconds": time.perf_counter() - t0,
                  "trades": int(stats["Total Trades"])}))
