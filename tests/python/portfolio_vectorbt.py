"""vectorbt's account for a portfolio's orders: given the fills a botforge portfolio run made
(symbol, time, step, signed size, price), replays them with vectorbt's
`Portfolio.from_orders(..., cash_sharing=True, group_by=True, call_seq="auto")` (one cash
account; sells before buys at a time) on the symbols' closes (each carried forward over its
holes, as a symbol without a bar is marked at its last close) and prints the account's value at
every time, for the test to compare with botforge's equity.

Where the two engines coincide: the same fills and commission (`fees`, a fraction of each
fill's value, both legs), positions marked at the close. Where they do not (so the test does not
ask vectorbt to decide them): sizing (backtesting.py's margin and whole units against vectorbt's
size types), fill prices (next open, stops and gaps), warm-up.

Usage: python portfolio_vectorbt.py SPEC.json
SPEC: {"files": [[name, path], ...], "orders": [[name, time, step, size, price], ...],
       "cash": 10000, "commission": 0.002}
A time is three rows for vectorbt, one per step of botforge's fills at a time: 0 the exits of
trades opened earlier, 1 the entries, 2 the stops and targets of trades that entered then; so a
symbol may exit and enter at one time, or enter and be stopped out. Prints {"times": [...],
"value": [...]}: the value after each time's last step.
"""

import json
import sys
import warnings

warnings.simplefilter("ignore")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import vectorbt as vbt  # noqa: E402

spec = json.load(open(sys.argv[1]))
closes = {}
for name, path in spec["files"]:
    df = pd.read_csv(path, index_col=0)
    df.index = df.index.astype(str).str.strip()
    closes[name] = df["Close"].astype(float)
close = pd.DataFrame(closes).sort_index().ffill()
times = list(close.index)
row = {t: 3 * u for u, t in enumerate(times)}
steps = close.loc[close.index.repeat(3)].reset_index(drop=True).fillna(0.0)
size = pd.DataFrame(np.nan, index=steps.index, columns=steps.columns)
price = pd.DataFrame(np.nan, index=steps.index, columns=steps.columns)
for name, time, step, qty, px in spec["orders"]:
    r = row[time] + step
    if not np.isnan(size.at[r, name]):
        raise SystemExit(f"two fills of {name} at {time}, step {step}")
    size.at[r, name] = qty
    price.at[r, name] = px
pf = vbt.Portfolio.from_orders(
    steps, size, price=price, fees=spec["commission"], init_cash=spec["cash"],
    cash_sharing=True, group_by=True, call_seq="auto", freq="1D",
)
value = pf.value().values[2::3]
print(json.dumps({"times": times, "value": [float(v) for v in value]}))
