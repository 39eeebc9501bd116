"""Writes the deterministic 1,000,000-bar synthetic series the backtest benchmark uses.

Usage: python make_data.py OUT.csv [BARS] [--full]
Minute bars from 2020-01-01 (a geometric random walk, seed 42), so the dates stay inside
pandas' range; every engine reads the same file. Prices are rounded to 4 decimals, or with
`--full` written as pandas writes a float64 (up to 17 significant digits: ~99 MB).
"""

import sys

import numpy as np
import pandas as pd

args = [a for a in sys.argv[1:] if a != "--full"]
full = "--full" in sys.argv[1:]
out = args[0]
n = int(args[1]) if len(args) > 1 else 1_000_000
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

def price(x):
    return x if full else x.round(4)


df = pd.DataFrame(
    {"Open": price(open_), "High": price(high), "Low": price(low), "Close": price(close),
     "Volume": volume},
    index=index,
)
df.index.name = "Date"
df.to_csv(out, date_format="%Y-%m-%d %H:%M:%S")
