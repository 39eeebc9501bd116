"""TradingView's ta.supertrend and session ta.vwap, written from Pine's definitions with pandas
(independently of botforge and of its Python export), for botforge's parity test.

Usage: python tradingview_reference.py FILE.csv > reference.json
Prints {"supertrend_N_MULT_line": [...], "supertrend_N_MULT_direction": [...], "vwap": [...]}
with null where missing. Pine's warm-up is kept as Pine computes it (bands at nz() = 0) and the
output is masked before the ATR's first value, as botforge documents.
"""

import json
import math
import sys

import numpy as np
import pandas as pd


def rma(x, n):
    # Pine: sum := na(sum[1]) ? ta.sma(src, length) : alpha * src + (1 - alpha) * nz(sum[1])
    out = np.full(len(x), np.nan)
    alpha = 1.0 / n
    for i in range(len(x)):
        if i < n - 1:
            continue
        if i == n - 1:
            out[i] = np.sum(x[:n]) / n
        else:
            out[i] = alpha * x[i] + (1.0 - alpha) * out[i - 1]
    return out


def supertrend(df, n, factor):
    h, l, c = df.High.to_numpy(), df.Low.to_numpy(), df.Close.to_numpy()
    prev_c = np.concatenate([[np.nan], c[:-1]])
    # ta.tr(true): high - low on the first bar.
    tr = np.where(np.isnan(prev_c), h - l,
                  np.maximum(h - l, np.maximum(np.abs(h - prev_c), np.abs(l - prev_c))))
    atr = rma(tr, n)
    src = (h + l) / 2
    upper_raw, lower_raw = src + factor * atr, src - factor * atr
    upper, lower = np.zeros(len(c)), np.zeros(len(c))
    st, direction = np.full(len(c), np.nan), np.full(len(c), np.nan)
    for i in range(len(c)):
        # nz(lowerBand[1]), nz(upperBand[1]): Pine's warm-up leaves the upper band na.
        prev_lower = np.nan_to_num(lower[i - 1]) if i > 0 else 0.0
        prev_upper = np.nan_to_num(upper[i - 1]) if i > 0 else 0.0
        pc = c[i - 1] if i > 0 else np.nan
        lo, up = lower_raw[i], upper_raw[i]
        lower[i] = lo if (lo > prev_lower or pc < prev_lower) else prev_lower
        upper[i] = up if (up < prev_upper or pc > prev_upper) else prev_upper
        prev_st = st[i - 1] if i > 0 else np.nan
        if i == 0 or np.isnan(atr[i - 1]):
            d = 1
        elif prev_st == prev_upper:
            d = -1 if c[i] > upper[i] else 1
        else:
            d = 1 if c[i] < lower[i] else -1
        direction[i] = d
        st[i] = lower[i] if d == -1 else upper[i]
    st[: n - 1] = np.nan
    direction[: n - 1] = np.nan
    return st, direction


def vwap(df):
    hlc3 = (df.High + df.Low + df.Close) / 3
    day = df.index.normalize()
    pv = (hlc3 * df.Volume).groupby(day).cumsum()
    v = df.Volume.groupby(day).cumsum()
    return (pv / v).to_numpy()


def clean(a):
    return [None if (x is None or math.isnan(x)) else float(x) for x in a]


df = pd.read_csv(sys.argv[1], index_col=0, parse_dates=True)
out = {"vwap": clean(vwap(df))}
for n, factor in ((10, 3.0), (7, 2.0)):
    st, d = supertrend(df, n, factor)
    out[f"supertrend_{n}_{factor}_line"] = clean(st)
    out[f"supertrend_{n}_{factor}_direction"] = clean(d)
json.dump(out, sys.stdout)
