"""What botforge's backtesting.py reference scripts share: backtesting.py's statistic names as
botforge's --json keys, and the stats and trade list as JSON-ready values."""

import math

import pandas as pd

KEYS = {
    "Exposure Time [%]": "exposure_time_pct",
    "Equity Final [$]": "equity_final",
    "Equity Peak [$]": "equity_peak",
    "Return [%]": "return_pct",
    "Buy & Hold Return [%]": "buy_hold_return_pct",
    "Return (Ann.) [%]": "return_ann_pct",
    "Volatility (Ann.) [%]": "volatility_ann_pct",
    "CAGR [%]": "cagr_pct",
    "Sharpe Ratio": "sharpe_ratio",
    "Sortino Ratio": "sortino_ratio",
    "Calmar Ratio": "calmar_ratio",
    "Alpha [%]": "alpha_pct",
    "Beta": "beta",
    "Max. Drawdown [%]": "max_drawdown_pct",
    "Avg. Drawdown [%]": "avg_drawdown_pct",
    "Max. Drawdown Duration": "max_drawdown_duration_days",
    "Avg. Drawdown Duration": "avg_drawdown_duration_days",
    "# Trades": "trades",
    "Win Rate [%]": "win_rate_pct",
    "Best Trade [%]": "best_trade_pct",
    "Worst Trade [%]": "worst_trade_pct",
    "Avg. Trade [%]": "avg_trade_pct",
    "Max. Trade Duration": "max_trade_duration_days",
    "Avg. Trade Duration": "avg_trade_duration_days",
    "Profit Factor": "profit_factor",
    "Expectancy [%]": "expectancy_pct",
    "SQN": "sqn",
    "Kelly Criterion": "kelly_criterion",
    "Commissions [$]": "commissions",
    "Duration": "duration_days",
}


def number(v):
    """A statistic as a JSON number (days for durations), None where undefined."""
    if isinstance(v, pd.Timedelta):
        return None if pd.isna(v) else v / pd.Timedelta(days=1)
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def stats_of(stats):
    """Every statistic botforge reports, by its --json key."""
    return {k: number(stats[b]) for b, k in KEYS.items() if b in stats}


def trades_of(stats):
    """The closed trades: bars, prices, size, profit, return in percent and commission."""
    return [
        {
            "entry_bar": int(t.EntryBar), "exit_bar": int(t.ExitBar),
            "entry_price": float(t.EntryPrice), "exit_price": float(t.ExitPrice),
            "size": float(t.Size), "pnl": float(t.PnL),
            "return_pct": float(t.ReturnPct) * 100, "commission": float(t.Commission),
        }
        for t in stats["_trades"].itertuples()
    ]
