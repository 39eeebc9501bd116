"""The bundled samples written the ways other tools write them, for botforge's data-format test.

Usage: python data_variants.py DATA_DIR OUT_DIR
Writes, for GOOG (daily) and EURUSD (hourly): a European spreadsheet export (`;`, decimal
comma, DD.MM.YYYY), a Yahoo-style file (MM/DD/YYYY, Adj Close), a MetaTrader 5 export (tab,
<DATE> <TIME> <OPEN> ... <TICKVOL>), Binance klines (epoch milliseconds, extra columns), ISO with
a Z offset, YYYYMMDD, tab-separated and gzip-compressed copies, and Parquet as pandas/pyarrow
write it (snappy with the index as a microsecond timestamp column; zstd with millisecond timestamps
and a named index; times as text; nanosecond timestamps in small row groups). Prints the file names as JSON.
"""

import json
import pathlib
import sys

import pandas as pd

src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
written = []


def save(df, name, **kw):
    path = out / name
    df.to_csv(path, **kw)
    written.append(name)


for stem in ("GOOG", "EURUSD"):
    df = pd.read_csv(src / f"{stem}.csv", index_col=0, parse_dates=True)
    intraday = stem == "EURUSD"
    ix = df.index

    eu = df.copy()
    eu.index = ix.strftime("%d.%m.%Y %H:%M" if intraday else "%d.%m.%Y")
    eu.index.name = "Datum"
    save(eu, f"{stem}_eu.csv", sep=";", decimal=",")

    yahoo = df.copy()
    yahoo["Adj Close"] = yahoo["Close"] * 0.5
    yahoo.index = ix.strftime("%m/%d/%Y %H:%M:%S" if intraday else "%m/%d/%Y")
    yahoo.index.name = "Date"
    save(yahoo, f"{stem}_yahoo.csv")

    mt5 = df.rename(columns={"Open": "<OPEN>", "High": "<HIGH>", "Low": "<LOW>",
                             "Close": "<CLOSE>", "Volume": "<TICKVOL>"})
    mt5.insert(0, "<TIME>", ix.strftime("%H:%M:%S"))
    mt5.insert(0, "<DATE>", ix.strftime("%Y.%m.%d"))
    save(mt5, f"{stem}_mt5.csv", sep="\t", index=False)

    kl = df.rename(columns=str.lower)
    ms = (ix - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)
    kl.insert(0, "open_time", ms)
    kl["close_time"] = kl["open_time"] + 3_599_999
    kl["number_of_trades"] = 7
    save(kl, f"{stem}_binance.csv", index=False)

    z = df.copy()
    z.index = ix.strftime("%Y-%m-%dT%H:%M:%SZ")
    z.index.name = "timestamp"
    save(z, f"{stem}_iso_z.csv")

    compact = df.copy()
    compact.index = ix.strftime("%Y%m%d %H:%M" if intraday else "%Y%m%d")
    compact.index.name = "time"
    save(compact, f"{stem}_compact.tsv", sep="\t")

    save(df, f"{stem}.csv.gz", compression="gzip")

    def parquet(frame, name, **kw):
        frame.to_parquet(out / name, engine="pyarrow", **kw)
        written.append(name)

    parquet(df, f"{stem}.parquet")
    named = df.copy()
    named.index.name = "Date"
    parquet(named, f"{stem}_zstd.parquet", compression="zstd", coerce_timestamps="ms",
            allow_truncated_timestamps=False)
    text = df.rename(columns=str.lower)
    text.insert(0, "datetime", pd.read_csv(src / f"{stem}.csv", index_col=0).index)
    parquet(text, f"{stem}_text.parquet", index=False)
    ns = df.copy()
    ns.index = ns.index.as_unit("ns")
    parquet(ns, f"{stem}_rowgroups.parquet", row_group_size=500, version="2.6")

# Malformed Parquet, each with the message it must give (checked by the Rust test).
g = pd.read_csv(src / "GOOG.csv", index_col=0, parse_dates=True)
g.index.name = "Date"
g.drop(columns=["Close"]).to_parquet(out / "bad_no_close.parquet")
nulls = g.copy()
nulls["Close"] = pd.array(nulls["Close"], dtype="Float64")
nulls.iloc[700, nulls.columns.get_loc("Close")] = pd.NA
nulls.to_parquet(out / "bad_null_close.parquet", row_group_size=500)
hl = g.copy()
hl.iloc[9, hl.columns.get_loc("High")] = hl["Low"].iloc[9] - 1
hl.to_parquet(out / "bad_high_low.parquet")
order = g.copy()
order.index = pd.DatetimeIndex(list(order.index[:5]) + [order.index[3]] + list(order.index[6:]), name="Date")
order.to_parquet(out / "bad_order.parquet")
booleans = g.copy()
booleans["Close"] = booleans["Close"] > 500
booleans.to_parquet(out / "bad_bool_close.parquet")
written += ["bad_no_close.parquet", "bad_null_close.parquet", "bad_high_low.parquet",
            "bad_order.parquet", "bad_bool_close.parquet"]

json.dump(written, sys.stdout)
