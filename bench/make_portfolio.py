"""Writes the synthetic daily portfolio the portfolio benchmark uses: N symbols (default 100) of
YEARS (default 10) years of business days each, geometric random walks from seed 7, one CSV per
symbol (DIR/S000.csv, ...), as pandas writes them.

Usage: python make_portfolio.py DIR [N] [YEARS]
"""

import os
import sys

import numpy as np
import pandas as pd

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
years = int(sys.argv[3]) if len(sys.argv) > 3 else 10
os.makedirs(out, exist_ok=True)
index = pd.bdate_range("2015-01-01", periods=years * 261, name="Date")
rng = np.random.default_rng(7)
for k in range(n):
    m = len(index)
    close = 50 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, m)))
    open_ = np.empty(m)
    open_[0] = close[0]
    open_[1:] = close[:-1] * (1 + rng.normal(0, 0.003, m - 1))
    spread = np.abs(rng.normal(0, 0.006, m)) * close
    df = pd.DataFrame(
        {"Open": open_, "High": np.maximum(open_, close) + spread,
         "Low": np.minimum(open_, close) - spread, "Close": close,
         "Volume": rng.integers(1_000, 100_000, m)},
        index=index,
    )
    df.to_csv(os.path.join(out, f"S{k:03d}.csv"))
