"""Runs strategies exported by `botforge generate --python` under backtesting.py 0.6.6.

Usage: python run_exported.py DATA.csv [--finalize] FILE.py:Class [FILE.py:Class ...] > out.json
Each file is imported as written (nothing but numpy, pandas and backtesting may be needed) and run
through its own `run()` (which builds the Backtest the strategy needs: fractional units, fills at
the close) with cash 10 000 and commission 0.002; the output maps FILE.py to its trades and a few
statistics.
"""

import importlib.util
import json
import math
import pathlib
import sys
import warnings

warnings.filterwarnings("ignore")

STATS = {
    "Return [%]": "return_pct",
    "Buy & Hold Return [%]": "buy_hold_return_pct",
    "Equity Final [$]": "equity_final",
    "Exposure Time [%]": "exposure_time_pct",
    "Commissions [$]": "commissions",
    "# Trades": "trades",
}


def number(v):
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


def main():
    data, *rest = sys.argv[1:]
    finalize = "--finalize" in rest
    out = {}
    for spec in (s for s in rest if s != "--finalize"):
        path, cls_name = spec.rsplit(":", 1)
        mod_spec = importlib.util.spec_from_file_location(pathlib.Path(path).stem, path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        assert getattr(module, cls_name) is module.STRATEGY
        stats = module.run(data, cash=10_000, commission=0.002, finalize=finalize)
        out[pathlib.Path(path).name] = {
            "stats": {k: number(stats[b]) for b, k in STATS.items() if b in stats},
            "trades": [
                {
                    "entry_bar": int(t.EntryBar), "exit_bar": int(t.ExitBar),
                    "entry_price": float(t.EntryPrice), "exit_price": float(t.ExitPrice),
                    "size": float(t.Size), "pnl": float(t.PnL), "commission": float(t.Commission),
                }
                for t in stats["_trades"].itertuples()
            ],
        }
    json.dump(out, sys.stdout)


main()
