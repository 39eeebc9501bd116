"""TA-Lib's values for the indicators botforge computes, on the sample data.

Usage: python talib_reference.py DATA_DIR > reference.json
Prints {file: {name: [value or null, ...]}} for each CSV in DATA_DIR.
"""

import csv
import json
import math
import pathlib
import sys

import numpy as np
import talib


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = [h.strip().lower() for h in rows[0]]
    cols = {name: head.index(name) for name in ("open", "high", "low", "close", "volume")}
    data = {k: np.array([float(r[i]) for r in rows[1:]]) for k, i in cols.items()}
    return data


def clean(a):
    return [None if math.isnan(v) else float(v) for v in a]


def compute(d):
    c, h, l = d["close"], d["high"], d["low"]
    out = {
        "sma_20": talib.SMA(c, 20),
        "sma_2": talib.SMA(c, 2),
        "ema_12": talib.EMA(c, 12),
        "ema_50": talib.EMA(c, 50),
        "wma_10": talib.WMA(c, 10),
        "rsi_14": talib.RSI(c, 14),
        "rsi_2": talib.RSI(c, 2),
        "highest_20": talib.MAX(h, 20),
        "lowest_20": talib.MIN(l, 20),
        "atr_14": talib.ATR(h, l, c, 14),
        "atr_1": talib.ATR(h, l, c, 1),
        "adx_14": talib.ADX(h, l, c, 14),
        "adx_5": talib.ADX(h, l, c, 5),
        "sma_5_of_rsi_14": talib.SMA(talib.RSI(c, 14), 5),
        "ema_10_of_atr_14": talib.EMA(talib.ATR(h, l, c, 14), 10),
    }
    for (f, s, g) in ((12, 26, 9), (5, 35, 5)):
        line, sig, hist = talib.MACD(c, f, s, g)
        out[f"macd_{f}_{s}_{g}_line"] = line
        out[f"macd_{f}_{s}_{g}_signal"] = sig
        out[f"macd_{f}_{s}_{g}_hist"] = hist
    for (n, k) in ((20, 2.0), (10, 1.5)):
        up, mid, lo = talib.BBANDS(c, n, k, k, 0)
        out[f"bb_{n}_{k}_upper"] = up
        out[f"bb_{n}_{k}_middle"] = mid
        out[f"bb_{n}_{k}_lower"] = lo
    for (k, sk, sd) in ((5, 3, 3), (14, 3, 3)):
        slowk, slowd = talib.STOCH(h, l, c, k, sk, 0, sd, 0)
        out[f"stoch_{k}_{sk}_{sd}_k"] = slowk
        out[f"stoch_{k}_{sk}_{sd}_d"] = slowd
    v = d["volume"]
    for n in (5, 14):
        out[f"sum_{n}"] = talib.SUM(c, n)
        out[f"stddev_{n}"] = talib.STDDEV(c, n, 1)
        out[f"roc_{n}"] = talib.ROC(c, n)
        out[f"mom_{n}"] = talib.MOM(c, n)
        out[f"cmo_{n}"] = talib.CMO(c, n)
        out[f"linearreg_{n}"] = talib.LINEARREG(c, n)
        out[f"cci_{n}"] = talib.CCI(h, l, c, n)
        out[f"willr_{n}"] = talib.WILLR(h, l, c, n)
        out[f"mfi_{n}"] = talib.MFI(h, l, c, v, n)
        out[f"natr_{n}"] = talib.NATR(h, l, c, n)
        out[f"plus_di_{n}"] = talib.PLUS_DI(h, l, c, n)
        out[f"minus_di_{n}"] = talib.MINUS_DI(h, l, c, n)
        down, up = talib.AROON(h, l, n)
        out[f"aroon_{n}_up"] = up
        out[f"aroon_{n}_down"] = down
    out["stddev_20_of_rsi_14"] = talib.STDDEV(talib.RSI(c, 14), 20, 1)
    out["obv"] = talib.OBV(c, v)
    out["ad"] = talib.AD(h, l, c, v)
    out["trange"] = talib.TRANGE(h, l, c)
    for (f, s) in ((3, 10), (5, 20)):
        out[f"adosc_{f}_{s}"] = talib.ADOSC(h, l, c, v, f, s)
    for (a, m) in ((0.02, 0.2), (0.01, 0.1)):
        out[f"sar_{a}_{m}"] = talib.SAR(h, l, a, m)
    o = d["open"]
    for name, f in (("engulfing", talib.CDLENGULFING), ("hammer", talib.CDLHAMMER),
                    ("shooting_star", talib.CDLSHOOTINGSTAR), ("doji", talib.CDLDOJI),
                    ("harami", talib.CDLHARAMI), ("morning_star", talib.CDLMORNINGSTAR),
                    ("evening_star", talib.CDLEVENINGSTAR),
                    ("three_white_soldiers", talib.CDL3WHITESOLDIERS),
                    ("three_black_crows", talib.CDL3BLACKCROWS)):
        out[f"cdl_{name}"] = f(o, h, l, c).astype(float)
    return {name: clean(v) for name, v in out.items()}


result = {}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.csv")):
    result[path.name] = compute(load(path))
json.dump(result, sys.stdout)
