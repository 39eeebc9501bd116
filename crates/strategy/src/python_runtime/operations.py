# --- the language's other operations ------------------------------------------------------

def _back(x, n):
    """x[n]: the value n bars ago (missing / false before the first bar)."""
    out = np.full(len(x), False) if x.dtype == bool else _nan(len(x))
    if n == 0:
        return x.copy()
    if n < len(x):
        out[n:] = x[:-n]
    return out


def _ne(a, b):
    """`!=` is false when either side is missing, like every other comparison."""
    return (a != b) & ~np.isnan(a) & ~np.isnan(b)


def _ne_s(a, b):
    """`!=` on one bar's values: false when either side is missing."""
    return a == a and b == b and a != b


def _price_ok(p):
    """A usable order price: present, positive and finite."""
    return p is not None and p == p and 0 < p < math.inf


def _state(trades, i, close):
    """Position state at bar i: position, entry_price, bars_in_trade, open_pnl_pct. With several
    open trades (pyramiding): the size-weighted average entry, bars since the first, and the
    position's profit (backtesting.py's position.pl_pct)."""
    if not trades:
        return np.float64(0.0), np.float64(np.nan), np.float64(np.nan), np.float64(np.nan)
    trade = trades[-1]
    side = np.float64(1.0 if trade.size > 0 else -1.0)
    if len(trades) > 1:
        size = sum(t.size for t in trades)
        cost = sum(t.size * t.entry_price for t in trades)
        invested = sum(abs(t.size) * t.entry_price for t in trades)
        pl = close * size - cost
        return (side, np.float64(cost / size), np.float64(i - trades[0].entry_bar),
                np.float64(pl / invested * 100))
    return (side, np.float64(trade.entry_price),
            np.float64(i - trade.entry_bar), np.float64(trade.pl_pct * 100))


def _crosses_above(a, b):
    out = np.full(len(a), False)
    out[1:] = (a[:-1] < b[:-1]) & (a[1:] > b[1:])
    return out


def _crosses_below(a, b):
    out = np.full(len(a), False)
    out[1:] = (a[:-1] > b[:-1]) & (a[1:] < b[1:])
    return out


def _tf(index, o, h, l, c, v, rule, f):  # noqa: E741
    """f on OHLCV resampled to `rule` as backtesting.py's lib.resample_apply does (label="right",
    pandas' default closed, empty bins dropped), forward-filled onto the bars; a bar sees a
    resampled bar only once every bar in it has closed (for W and ME on intraday data pandas
    labels a period by its last day, which would otherwise show that day's bars its close)."""
    frame = pd.DataFrame({"Open": o, "High": h, "Low": l, "Close": c, "Volume": v}, index=index)
    agg = frame.resample(rule, label="right").agg(
        {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"})
    last = pd.Series(np.arange(len(index)), index=index).resample(rule, label="right").max()
    keep = agg["Open"].notna().to_numpy()
    agg, last = agg[keep], last.to_numpy()[keep]
    n = len(agg)

    def col(name):
        return agg[name].to_numpy(dtype=float)

    with np.errstate(all="ignore"):
        values = np.asarray(f(col("Open"), col("High"), col("Low"), col("Close"), col("Volume"),
                              lambda x: np.full(n, float(x))), dtype=float)
    out = np.full(len(index), np.nan)
    at = np.searchsorted(agg.index.to_numpy(), index.to_numpy(), side="right") - 1
    for i in range(len(index)):
        j = at[i]
        while j >= 0 and last[j] > i:
            j -= 1
        if j >= 0:
            out[i] = values[j]
    return out


def _load(path):
    """A CSV as botforge reads it: a date column first, then Open/High/Low/Close[/Volume]."""
    df = pd.read_csv(path, index_col=0, parse_dates=True)
    df.columns = [str(c).strip().capitalize() for c in df.columns]
    return df


def _no_portfolio(symbol):
    """on(): another symbol's bars, which a backtesting.py Backtest (one symbol) does not have."""
    raise NotImplementedError(
        f"on({symbol!r}, ...) reads another symbol: a portfolio strategy has no backtesting.py form"
    )


# ---- Entry orders decided at their fill: [orders] reverse = "on_fill" and oca (DESIGN.md §5.4),
# which backtesting.py lacks. backtesting.py reads a stand-alone order's size once the bar has
# reached its price, before sizing and filling it; this order answers then: a reversing entry as
# the opposite trades plus the units it buys after closing them at the fill price (backtesting.py
# then closes them FIFO at that price and opens the rest), and a filling one-cancels-all entry
# cancels its waiting mates first, so backtesting.py skips them.
from backtesting.backtesting import Order as _Order  # noqa: E402


class _FillOrder(_Order):
    __qualname__ = "Order"  # Order._replace names its private fields after the class

    @property
    def size(self):
        broker = self._bf_broker
        if self._bf_bar != broker._i:
            self._bf_bar = broker._i
            self._bf_size = self._bf_decide(broker)
        return self._bf_size

    def _bf_price(self, broker):
        # The fill price this bar, by backtesting.py's rules for a stand-alone order; the stop
        # is the one the bar started with.
        data, long, stop = broker._data, self.is_long, self._bf_stop
        if self.limit:
            return min(stop or data.Open[-1], self.limit) if long else max(stop or data.Open[-1], self.limit)
        price = data.Close[-2] if broker._trade_on_close else data.Open[-1]
        if stop:
            price = max(price, stop) if long else min(price, stop)
        return price

    def _bf_decide(self, broker):
        placed = self._Order__size
        long, price = self.is_long, self._bf_price(broker)
        sign = 1 if long else -1
        fee = broker._commission
        last = broker.last_price

        def after(need):
            # What closing opposite trades FIFO for `need` units leaves: the units still to
            # open, the equity and the margin available (backtesting.py's arithmetic, in order).
            cash, kept = broker._cash, []
            for t in broker.trades:
                if t.is_long == long or not need:
                    kept.append((t.size, t.entry_price))
                elif abs(need) >= abs(t.size):
                    cash += (t.size * (price - t.entry_price) - t._commissions) - fee(t.size, price)
                    need += t.size
                else:
                    cash += (-need * (price - t.entry_price) - t._commissions) - fee(-need, price)
                    kept.append((t.size + need, t.entry_price))
                    need = 0
            equity = cash
            if kept:
                equity = cash + (last * sum(s for s, _ in kept) - sum(s * e for s, e in kept))
            return need, equity, max(0, equity - sum(abs(s) * last for s, _ in kept))

        at_fill = self._bf_at_fill
        if at_fill is None:
            answer = size = placed
            if -1 < size < 1:
                per = price + fee(placed, price) / abs(placed)
                size = sign * int(broker.margin_available * abs(placed) // per)
        else:
            held = sum(t.size for t in broker.trades if t.is_long != long)
            _, equity, margin = after(-held)
            if at_fill[0] == "units":
                n = at_fill[1]
            elif at_fill[0] == "fraction":
                n = int(margin * at_fill[1] // (price + fee(placed, price) / abs(placed)))
            else:
                _, pct, dist, cap, close = at_fill
                n = int(equity * pct / 100 // dist)
                if cap is not None:
                    n = min(n, int(cap * equity // close))
            # Nothing to open: the closes alone, or (nothing held) an order the broker drops.
            answer = size = sign * (abs(held) + n) if n >= 1 else (-held if held else sign * 1e-12)
        if self._bf_oca and abs(size) >= 1:
            need, _, margin = after(size)
            per = price + fee(answer, price) / abs(answer)
            if need and not abs(need) * per > margin:
                for o in list(broker.orders):
                    if o is not self and getattr(o, "_bf_oca", False) and not o.is_contingent:
                        o.cancel()
        return answer


def _decide_at_fill(strategy, order, at_fill, oca):
    """Makes `order` (just placed) decide at its fill: reversing (`at_fill`: ("units", n),
    ("fraction", f) or ("risk", pct, stop distance, max_size, signal close)) and / or
    one-cancels-all."""
    order.__class__ = _FillOrder
    order._bf_broker = strategy._broker
    order._bf_at_fill = at_fill
    order._bf_oca = oca
    order._bf_stop = order.stop
    order._bf_bar = None
    order._bf_size = None
    return order


_FULL_EQUITY = 1 - sys.float_info.epsilon  # backtesting.py's default size: all of the equity
