"""The bundled samples written the ways other tools write them, for botforge's data-format test.

Usage: python data_variants.py DATA_DIR OUT_DIR
Writes, for GOOG (daily) and EURUSD (hourly): a European spreadsheet export (`;`, decimal
comma, DD.MM.YYYY), a Yahoo-style file (MM/DD/YYYY, Adj Close), a MetaTrader 5 export (tab,
<DATE> <TIME> <OPEN> ... <TICKVOL>), Binance klines (epoch milliseconds, extra columns), ISO with
a Z offset, YYYYMMDD, tab-separated and gzip-compressed copies. Prints the file names as JSON.
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

json.dump(written, sys.stdout)
