"""Writes the deterministic 1,000,000-bar synthetic series the backtest benchmark uses.

Usage: python make_data.py OUT.csv [BARS]
Minute bars from 2020-01-01 (a geometric random walk, seed 42), so the dates stay inside
pandas' range; every engine reads the same file.
"""

import sys

import numpy as np
import pandas as pd

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
rng = np.random.default_rng(42)
close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
open_ = np.empty(n)
open_[0] = 100.0
open_[1:] = close[:-1] * (1 + rng.normal(0, 0.0002, n - 1))
spread = np.abs(rng.normal(0, 0.0008, n)) * close
high = np.maximum(open_, close) + spread
low = np.minimum(open_, close) - spread
volume = rng.integers(100, 10_000, n)
index = pd.date_range("2020-01-01", periods=n, freq="min")
df = pd.DataFrame(
    {"Open": open_.round(4), "High": high.round(4), "Low": low.round(4), "Close": close.round(4),
     "Volume": volume},
    index=index,
)
df.index.name = "Date"
df.to_csv(out, date_format="%Y-%m-%d %H:%M:%S")
